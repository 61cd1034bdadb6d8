//! How the engine hears the player. What is *played* keeps its exact beats (pass-through, capture,
//! the editor); what is *heard* goes into the model's context, and must look like the scores the
//! model learned from: a note 7 ms early, or a legato line played at 60% of its length, is not what
//! a score says.
//!
//! - **Onsets** snap to the grid of sixteenths (a straight feel) or of triplet eighths, whichever the
//!   player's recent onsets sit closer to, when they are within [`TOLERANCE_SECONDS`] of it (and
//!   never more than a third of a grid step); an onset further off keeps its nearest tick.
//! - **Releases** wait to be heard. If the player's next note starts within the released note's
//!   own length after the release (an articulation of 50% and up: a line played legato, as a score
//!   writes it), the release is heard on that next onset. Otherwise it is heard on the grid point
//!   nearest to it, once the next onset is overdue ([`Listener::overdue`]), and at least a grid step
//!   after its onset: a key tapped for 20 ms is a sixteenth in a score, not a note of 1/24 beat that
//!   moves every note after it off the grid.
//!
//! Fixed arrays, no allocation; no threads, no model: tested alone.

/// How far from the grid a played onset may be and still be heard on it.
pub const TOLERANCE_SECONDS: f64 = 0.04;
/// Ticks per grid step: sixteenths and triplet eighths, at 24 ticks per beat.
const STRAIGHT_TICKS: i64 = 6;
const TRIPLET_TICKS: i64 = 8;
/// The shortest and longest wait for a next onset that makes a release legato, in beats.
const LEGATO_MIN_BEATS: f64 = 0.125;
const LEGATO_MAX_BEATS: f64 = 1.0;

/// A key the player let go of, not yet heard.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Release {
    /// Played beat of the release.
    at: f64,
    /// How long the next onset may take for the release to be heard on it (beats after `at`).
    legato: f64,
    /// Heard beat of the note's onset: the release is heard at least a tick after it.
    heard_on: f64,
}

/// See the module documentation. `ticks_per_beat` is the model's.
#[derive(Debug, Clone)]
pub struct Listener {
    ticks_per_beat: f64,
    /// Recent onsets' mean distance (ticks) to each grid: the feel.
    off_straight: f64,
    off_triplet: f64,
    /// Per key: (played onset, heard onset) of the note the player holds.
    sounding: [Option<(f64, f64)>; 128],
    releases: [Option<Release>; 128],
}

impl Listener {
    pub fn new(ticks_per_beat: u32) -> Self {
        Self {
            ticks_per_beat: f64::from(ticks_per_beat.max(1)),
            off_straight: 0.0,
            off_triplet: 0.0,
            sounding: [None; 128],
            releases: [None; 128],
        }
    }

    /// Forget every held and released key (a resync: the context closes them itself).
    pub fn clear(&mut self) {
        self.sounding = [None; 128];
        self.releases = [None; 128];
    }

    /// Whether the feel is triplets (else straight sixteenths).
    pub fn triplet_feel(&self) -> bool {
        self.off_triplet < 0.7 * self.off_straight
    }

    /// The player pressed `pitch` at played `beat` (tempo in BPM): the beat it is heard at.
    pub fn onset(&mut self, pitch: u8, beat: f64, tempo: f64) -> f64 {
        let tpb = self.ticks_per_beat;
        let x = beat * tpb;
        let dist = |step: i64| {
            let s = step as f64 * tpb / 24.0;
            (x - (x / s).round() * s).abs()
        };
        // The feel follows onsets that sit on one grid and not the other.
        let (ds, dt) = (dist(STRAIGHT_TICKS), dist(TRIPLET_TICKS));
        self.off_straight = 0.7 * self.off_straight + 0.3 * ds;
        self.off_triplet = 0.7 * self.off_triplet + 0.3 * dt;
        let step = self.step_ticks();
        let tolerance = (TOLERANCE_SECONDS * tempo.max(1.0) / 60.0 * tpb).min(step / 3.0);
        let on_grid = (x / step).round() * step;
        let mut ticks = if (x - on_grid).abs() <= tolerance {
            on_grid
        } else {
            x.round()
        };
        // A key struck again is heard after its last onset, however the grid rounds.
        if let Some((_, before)) = self.sounding[pitch as usize] {
            ticks = ticks.max((before * tpb).round() + 1.0);
        }
        if let Some(r) = self.releases[pitch as usize] {
            ticks = ticks.max((r.heard_on * tpb).round() + 1.0);
        }
        let heard = ticks / tpb;
        self.sounding[pitch as usize] = Some((beat, heard));
        heard
    }

    /// The player let go of `pitch` at played `beat`. Heard later: see [`Self::at_onset`] and
    /// [`Self::overdue`].
    pub fn release(&mut self, pitch: u8, beat: f64) {
        let Some((played_on, heard_on)) = self.sounding[pitch as usize].take() else {
            return;
        };
        let length = (beat - played_on).max(0.0);
        self.releases[pitch as usize] = Some(Release {
            at: beat,
            legato: length.clamp(LEGATO_MIN_BEATS, LEGATO_MAX_BEATS),
            heard_on,
        });
    }

    /// A new onset is heard at `heard` (played at `played`, tempo in BPM): every waiting release is
    /// heard now, those within their legato wait on this onset, the others on their own grid point
    /// (not after it). Calls `out(pitch, heard beat)` for each.
    pub fn at_onset(&mut self, played: f64, heard: f64, tempo: f64, mut out: impl FnMut(u8, f64)) {
        let slack = TOLERANCE_SECONDS * tempo.max(1.0) / 60.0;
        for p in 0..128u8 {
            let Some(r) = self.releases[p as usize].take() else {
                continue;
            };
            let at = if played - r.at <= r.legato + slack {
                heard
            } else {
                self.release_on_grid(&r).min(heard)
            };
            out(p, self.after_onset(at, r.heard_on));
        }
    }

    /// Releases whose legato wait ended before played beat `now`, heard on their grid point once
    /// `now` has reached it (never ahead of the music heard so far). Calls `out(pitch, heard beat)`
    /// for each.
    pub fn overdue(&mut self, now: f64, tempo: f64, mut out: impl FnMut(u8, f64)) {
        let slack = TOLERANCE_SECONDS * tempo.max(1.0) / 60.0;
        for p in 0..128u8 {
            let Some(r) = self.releases[p as usize].filter(|r| now > r.at + r.legato + slack)
            else {
                continue;
            };
            let at = self.after_onset(self.release_on_grid(&r), r.heard_on);
            if at > now {
                continue;
            }
            self.releases[p as usize] = None;
            out(p, at);
        }
    }

    /// Whether a release waits to be heard.
    pub fn waiting(&self) -> bool {
        self.releases.iter().any(Option::is_some)
    }

    /// The feel's grid step, in ticks.
    fn step_ticks(&self) -> f64 {
        let step = if self.triplet_feel() {
            TRIPLET_TICKS
        } else {
            STRAIGHT_TICKS
        };
        step as f64 * self.ticks_per_beat / 24.0
    }

    /// A release not heard on a next onset: on the feel's grid point nearest to it, and at least a
    /// grid step after the note's heard onset.
    fn release_on_grid(&self, r: &Release) -> f64 {
        let (tpb, step) = (self.ticks_per_beat, self.step_ticks());
        let nearest = (r.at * tpb / step).round() * step;
        nearest.max((r.heard_on * tpb).round() + step) / tpb
    }

    /// `at`, or a tick after the note's heard onset if that is later: no heard note lasts no time.
    fn after_onset(&self, at: f64, heard_on: f64) -> f64 {
        let tpb = self.ticks_per_beat;
        (at * tpb).round().max((heard_on * tpb).round() + 1.0) / tpb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard_onsets(l: &mut Listener, beats: &[f64], tempo: f64) -> Vec<f64> {
        beats
            .iter()
            .enumerate()
            .map(|(i, &b)| l.onset(40 + i as u8, b, tempo))
            .collect()
    }

    #[test]
    fn onsets_within_the_tolerance_are_heard_on_the_grid_and_others_on_their_tick() {
        let mut l = Listener::new(24);
        // At 120 BPM 40 ms is 0.08 beat: 0.06 early or late snaps, 0.11 does not.
        let got = heard_onsets(&mut l, &[0.97, 1.06, 2.25, 2.61], 120.0);
        assert_eq!(got, [1.0, 1.0, 2.25, 15.0 / 24.0 + 2.0]);
    }

    #[test]
    fn a_triplet_feel_is_heard_on_triplets_and_a_straight_one_on_sixteenths() {
        let mut l = Listener::new(24);
        let triplets: Vec<f64> = (0..12).map(|i| f64::from(i) / 3.0 + 0.01).collect();
        let got = heard_onsets(&mut l, &triplets, 100.0);
        assert!(l.triplet_feel());
        for (g, t) in got.iter().zip(&triplets).skip(3) {
            assert!((g - (t - 0.01)).abs() < 1e-9, "{g} for {t}");
        }
        let mut l = Listener::new(24);
        let sixteenths: Vec<f64> = (0..12).map(|i| f64::from(i) / 4.0 - 0.02).collect();
        let got = heard_onsets(&mut l, &sixteenths, 100.0);
        assert!(!l.triplet_feel());
        for (g, t) in got.iter().zip(&sixteenths) {
            assert!((g - (t + 0.02)).abs() < 1e-9, "{g} for {t}");
        }
    }

    #[test]
    fn a_release_followed_soon_by_the_next_note_is_heard_on_that_onset() {
        let mut l = Listener::new(24);
        // A quarter note played at 55% of its length, the next note on the next beat.
        l.onset(60, 0.0, 120.0);
        l.release(60, 0.55);
        let mut heard = Vec::new();
        l.overdue(0.9, 120.0, |p, b| heard.push((p, b)));
        assert!(heard.is_empty(), "the next onset may still come");
        let next = l.onset(62, 1.02, 120.0);
        l.at_onset(1.02, next, 120.0, |p, b| heard.push((p, b)));
        assert_eq!(heard, [(60, 1.0)]);
    }

    #[test]
    fn a_release_into_a_rest_is_heard_on_its_own_grid_point_once_overdue() {
        let mut l = Listener::new(24);
        l.onset(60, 0.0, 120.0);
        l.release(60, 0.48);
        let mut heard = Vec::new();
        l.overdue(0.95, 120.0, |p, b| heard.push((p, b)));
        assert!(heard.is_empty());
        l.overdue(1.1, 120.0, |p, b| heard.push((p, b)));
        assert_eq!(heard, [(60, 0.5)]);
        assert!(!l.waiting());
        // Released long before the next onset: heard on its own grid point, not on the onset.
        l.onset(62, 4.0, 120.0);
        l.release(62, 4.26);
        let next = l.onset(64, 6.0, 120.0);
        l.at_onset(6.0, next, 120.0, |p, b| heard.push((p, b)));
        assert_eq!(heard[1], (62, 4.25));
    }

    #[test]
    fn a_key_tapped_into_a_rest_is_heard_as_a_grid_step_long() {
        let mut l = Listener::new(24);
        // Tapped for 20 ms (0.04 beat at 120 BPM) a little before beat 7, then a rest.
        let on = l.onset(67, 6.954, 120.0);
        l.release(67, 7.0);
        let mut heard = Vec::new();
        // Its wait for a legato next note is over at 7.21, but a sixteenth after 7.0 is still to come.
        l.overdue(7.22, 120.0, |p, b| heard.push((p, b)));
        assert!(heard.is_empty(), "heard ahead of the music: {heard:?}");
        l.overdue(7.25, 120.0, |p, b| heard.push((p, b)));
        assert_eq!(on, 7.0);
        assert_eq!(heard, [(67, 7.25)], "a sixteenth, not a tick");
        // The same before a next onset that is not legato: a sixteenth too, never past that onset.
        l.onset(69, 8.0, 120.0);
        l.release(69, 8.02);
        let next = l.onset(71, 8.5, 120.0);
        l.at_onset(8.5, next, 120.0, |p, b| heard.push((p, b)));
        assert_eq!(heard[1], (69, 8.25));
    }

    #[test]
    fn no_heard_note_is_shorter_than_a_tick_and_a_restruck_key_comes_after_its_last_onset() {
        let mut l = Listener::new(24);
        let a = l.onset(60, 1.01, 120.0);
        l.release(60, 1.02);
        let b = l.onset(60, 1.03, 120.0);
        assert_eq!(a, 1.0);
        assert!(b > a, "{b}");
        let mut heard = Vec::new();
        l.at_onset(1.03, b, 120.0, |p, x| heard.push((p, x)));
        assert_eq!(heard, [(60, 1.0 + 1.0 / 24.0)]);
    }
}
