//! What Cadenza remembers of the player's playing, apart from the context: the keys held now, the
//! recent velocities and pitches ("follow the player": dynamics and scale), and the notes played
//! (capture takes the last bars of them as a prompt).

use crate::bridge::PlayClock;
use crate::chords::Harmony;
use crate::midi_file::BeatNote;

/// How many of the player's recent notes "follow the player" (scale and dynamics) looks at.
const FOLLOW_NOTES: usize = 12;
/// Played notes kept for "capture".
const PLAYED_LOG: usize = 2048;

pub(super) struct Follow {
    /// Keys the player holds.
    held: [bool; 128],
    /// The player's recent velocities (0..=1, smoothed) and pitches, newest last.
    velocity: Option<f32>,
    pitches: [u8; FOLLOW_NOTES],
    pitches_len: usize,
    /// How many of the player's next notes (as heard) still count as playing parts together: set to
    /// [`FOLLOW_NOTES`] by a key struck while another is held, one less for each key struck alone.
    together: usize,
    /// The player's notes (beats), for capture; `length` < 0 while held.
    played: Vec<BeatNote>,
}

impl Follow {
    pub(super) fn new() -> Self {
        Self {
            held: [false; 128],
            velocity: None,
            pitches: [0; FOLLOW_NOTES],
            pitches_len: 0,
            together: 0,
            played: Vec::with_capacity(PLAYED_LOG),
        }
    }

    /// A key pressed (`on`) or released at `beat`: for follow and capture.
    pub(super) fn remember(&mut self, beat: f64, pitch: u8, velocity: f32, on: bool) {
        if on {
            let v = velocity.clamp(0.05, 1.0);
            self.velocity = Some(self.velocity.map_or(v, |r| 0.7 * r + 0.3 * v));
            if self.pitches_len == FOLLOW_NOTES {
                self.pitches.copy_within(1.., 0);
                self.pitches_len -= 1;
            }
            self.pitches[self.pitches_len] = pitch;
            self.pitches_len += 1;
            if self.played.len() == PLAYED_LOG {
                self.played.drain(..PLAYED_LOG / 2);
            }
            self.played.push(BeatNote {
                beat,
                length: -1.0,
                pitch,
                velocity: crate::midi_file::midi_velocity(f64::from(velocity)),
            });
        } else if let Some(n) = self
            .played
            .iter_mut()
            .rev()
            .find(|n| n.pitch == pitch && n.length < 0.0)
        {
            n.length = (beat - n.beat).max(1e-3);
        }
    }

    /// The key is held (or not) as the context hears it.
    pub(super) fn hold(&mut self, pitch: u8, on: bool) {
        if on {
            self.together = if self.holds_any() {
                FOLLOW_NOTES
            } else {
                self.together.saturating_sub(1)
            };
        }
        self.held[pitch as usize] = on;
    }

    /// The lowest and highest of the keys the player holds now, when they hold two or more.
    pub(super) fn held_span(&self) -> Option<(u8, u8)> {
        let lo = (0..128u8).find(|&p| self.held[p as usize])?;
        let hi = (0..128u8).rev().find(|&p| self.held[p as usize])?;
        (hi > lo).then_some((lo, hi))
    }

    /// Whether the player plays parts together (two keys at once within their recent notes), not one
    /// line: a bass and a melody, or chords.
    pub(super) fn plays_parts(&self) -> bool {
        self.together > 0
    }

    pub(super) fn holds(&self, pitch: u8) -> bool {
        self.held[pitch as usize]
    }

    pub(super) fn holds_any(&self) -> bool {
        self.held.iter().any(|h| *h)
    }

    /// The player's recent level (0..=1), once they played.
    pub(super) fn velocity(&self) -> Option<f32> {
        self.velocity
    }

    /// The pitch classes of the player's recent notes (bit `pc`), once they played.
    pub(super) fn pitch_classes(&self) -> Option<u16> {
        (self.pitches_len > 0)
            .then(|| (self.pitches[..self.pitches_len].iter()).fold(0u16, |m, p| m | 1 << (p % 12)))
    }

    /// The chord the player's part implies, once they played: the major or minor triad covering the
    /// most of the keys they hold (counted twice: what sounds now) and their recent notes, as
    /// its pitch classes (bit `pc`) and its root; on a tie, the lower root, major before minor. Nothing is known of the chord on the
    /// beat not yet played: this is the last one heard (see `policy`: the bass's lead).
    pub(super) fn chord(&self) -> Option<Harmony> {
        let mut weight = [0.0f64; 12];
        for &p in &self.pitches[..self.pitches_len] {
            weight[usize::from(p % 12)] += 1.0;
        }
        for p in (0..128u8).filter(|&p| self.held[p as usize]) {
            weight[usize::from(p % 12)] += 2.0;
        }
        super::song::best_triad(&weight)
    }

    /// The pitch classes of the keys the player holds now (bit `pc`).
    pub(super) fn held_classes(&self) -> u16 {
        (0..128u8)
            .filter(|&p| self.held[p as usize])
            .fold(0, |m, p| m | 1 << (p % 12))
    }

    /// The triad of the keys the player holds now, when they hold two pitch classes or more.
    pub(super) fn held_chord(&self) -> Option<Harmony> {
        let classes = self.held_classes();
        if classes.count_ones() < 2 {
            return None;
        }
        let mut weight = [0.0f64; 12];
        for (pc, w) in weight.iter_mut().enumerate() {
            *w = f64::from(classes >> pc & 1);
        }
        super::song::best_triad(&weight)
    }

    /// When the newest of the keys the player holds now was struck (beats), if they hold any.
    pub(super) fn held_struck_at(&self) -> Option<f64> {
        (self.played.iter().rev())
            .filter(|n| n.length < 0.0 && self.held[n.pitch as usize])
            .map(|n| n.beat)
            .next()
    }

    /// The player's notes that may sound between `from` and `to` (beats): begun before `to`, and
    /// held or ended after `from` (looks back over the last 64 beats of onsets).
    pub(super) fn played_around(&self, from: f64, to: f64) -> impl Iterator<Item = &BeatNote> {
        (self.played.iter().rev())
            .take_while(move |n| n.beat > from - 64.0)
            .filter(move |n| n.beat < to && (n.length < 0.0 || n.beat + n.length > from))
    }

    /// The player's outer parts now: the lowest and highest key they hold, else their last note
    /// (both), once they played.
    pub(super) fn outer_now(&self) -> Option<(u8, u8)> {
        let lo = (0..128u8).find(|&p| self.held[p as usize]);
        let hi = (0..128u8).rev().find(|&p| self.held[p as usize]);
        lo.zip(hi).or_else(|| {
            (self.pitches_len > 0).then(|| {
                let p = self.pitches[self.pitches_len - 1];
                (p, p)
            })
        })
    }

    /// The lowest and highest of the keys the player holds and their recent notes, once they played:
    /// the register of their part.
    pub(super) fn register(&self) -> Option<(u8, u8)> {
        let held = (0..128u8).filter(|&p| self.held[p as usize]);
        let keys = self.pitches[..self.pitches_len].iter().copied().chain(held);
        keys.fold(None, |r, p| {
            Some(r.map_or((p, p), |(lo, hi): (u8, u8)| (lo.min(p), hi.max(p))))
        })
    }

    /// The notes the player played from `from` (beats) up to `now`, shifted to start at 0: a prompt.
    pub(super) fn capture(&self, from: f64, now: f64) -> Vec<BeatNote> {
        let mut notes: Vec<BeatNote> = self
            .played
            .iter()
            .filter(|n| n.beat >= from && n.beat < now)
            .map(|n| BeatNote {
                beat: n.beat - from,
                length: if n.length < 0.0 {
                    now - n.beat
                } else {
                    n.length
                },
                ..*n
            })
            .collect();
        notes.sort_by(|a, b| a.beat.total_cmp(&b.beat));
        notes
    }

    /// The last `bars` bars the player played up to `now`, from the bar line before their first
    /// note (so the clip keeps its place in the bar), as a prompt.
    pub(super) fn capture_bars(&self, bars: u32, now: f64, clock: &PlayClock) -> Vec<BeatNote> {
        let from = now - f64::from(bars) * clock.beats_per_bar;
        let first = self
            .played
            .iter()
            .map(|n| n.beat)
            .filter(|b| *b >= from)
            .fold(f64::INFINITY, f64::min);
        if !first.is_finite() {
            return Vec::new();
        }
        let start = clock.next_grid(first, true);
        let start = if start > first {
            start - clock.beats_per_bar
        } else {
            start
        };
        self.capture(start.max(from), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_hears_the_last_notes_pitch_classes_and_a_smoothed_level() {
        let mut f = Follow::new();
        assert_eq!((f.velocity(), f.pitch_classes()), (None, None));
        f.remember(0.0, 60, 1.0, true);
        f.remember(0.5, 60, 0.0, false);
        f.remember(1.0, 64, 0.0, true);
        assert_eq!(f.pitch_classes(), Some(1 << 0 | 1 << 4));
        assert!((f.velocity().unwrap() - (0.7 + 0.3 * 0.05)).abs() < 1e-6);
        // Only the last FOLLOW_NOTES count.
        for i in 0..FOLLOW_NOTES {
            f.remember(2.0 + i as f64, 62, 0.5, true);
        }
        assert_eq!(f.pitch_classes(), Some(1 << 2));
        f.hold(62, true);
        assert!(f.holds(62) && f.holds_any() && !f.holds(60));
    }

    #[test]
    fn capture_starts_on_the_bar_line_before_the_first_note_and_holds_notes_to_now() {
        let mut f = Follow::new();
        f.remember(5.5, 60, 0.8, true);
        f.remember(6.0, 60, 0.0, false);
        f.remember(7.0, 62, 0.8, true);
        let clock = PlayClock::at(8.0, 120.0);
        let clip = f.capture_bars(1, 8.0, &clock);
        // One bar back from 8 is 4: the first note at 5.5, its bar line 4.
        let got: Vec<(f64, f64, u8)> = clip.iter().map(|n| (n.beat, n.length, n.pitch)).collect();
        assert_eq!(got, [(1.5, 0.5, 60), (3.0, 1.0, 62)]);
        assert!(f.capture_bars(1, 20.0, &clock).is_empty());
    }
}
