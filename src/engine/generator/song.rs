//! The song: which chord sounds at each beat, known before it is heard. A partner decides a beat's
//! note before it hears the player's chord on that beat (CHANGELOG.md, "The chord's lead");
//! a musician gets the change right by knowing the song. This is the one place the engine knows it,
//! filled from:
//! - the **chord track** the musician typed (`crate::chords`): bars from the host's bar 1, looping;
//! - **what was heard on an earlier pass at the same place**: the chords the player played, a beat
//!   at a time, by the host's beat position while the transport rolls. When the host loops
//!   (`PlayClock::loop_start`..`loop_end`), a beat past the loop's end is the loop's start again;
//! - **the progression the player repeats** without a host loop: the heard beats matched against
//!   those a whole number of bars earlier; the period that matches best (a mismatch costs
//!   [`MISMATCH_COST`] matches) once it has matched a bar less a beat more than it missed.
//!
//! What is heard always wins: where the keys the player holds now contradict what was expected of
//! the chord sounding now, the heard chord stands until that chord's expected end, and it replaces
//! the memory at its place as the beat completes.
//!
//! Read by the policy's leads (which chord the bass and the harmony aim at, on a strong beat or a
//! change) and by a format 5 model's features (the chord now, the next, the beats until it). A
//! chord of the player's part is a beat's pitch classes (how long each sounds in it) covered best by
//! a major or minor triad, when two or more pitch classes sound in it: a single line names no chord.
//!
//! Engine thread only.

use std::collections::{BTreeMap, VecDeque};

use super::follow::Follow;
use crate::bridge::PlayClock;
use crate::chords::{ChordTrack, Harmony};
use crate::features::ChordFeature;

/// Beats of heard chords kept in order for the repetition (16 bars of 4/4, twice).
const RECENT_BEATS: usize = 128;
/// Beats of heard chords kept by position (a loop, or the song heard before a jump back).
const POSITION_BEATS: i64 = 4096;
/// The longest period a repetition is looked for at, in bars.
const MAX_PERIOD_BARS: usize = 16;
/// What one beat that differs from the period's earlier one costs, in beats that match.
const MISMATCH_COST: i32 = 4;
/// A period is taken once it has matched a bar less a beat more than it missed (at least this
/// many beats): in time for the second bar of the second time round, which Cadenza plans a beat or
/// two ahead.
const PERIOD_EVIDENCE: i32 = 2;
/// How far ahead the next chord is looked for, in beats (a format 5 model's feature counts to 7).
const NEXT_HORIZON_BEATS: f64 = 8.0;
/// A beat's chord is heard from at least this much sounding time (in beats, summed over keys).
const MIN_HEARD_WEIGHT: f64 = 0.25;

/// Where a chord known ahead comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The chord track.
    Typed,
    /// Heard at this place on an earlier pass (a host loop, or the song heard before).
    Place,
    /// The progression the player repeats.
    Repeat,
    /// What the player holds now, against what was expected.
    Heard,
}

/// A chord known at a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The chord.
    pub harmony: Harmony,
    /// How it is known (typed, heard before, repeated).
    pub source: Source,
}

/// The player contradicting what was expected: what they hold, and the beat to which it stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contradiction {
    pub heard: Harmony,
    pub expected: Known,
    pub until: f64,
}

pub(super) struct Song {
    track: Option<ChordTrack>,
    /// Chords heard while the transport rolled, by beat index on the host's timeline.
    by_place: BTreeMap<i64, Harmony>,
    /// Chords heard beat by beat since the last jump: `recent[i]` is beat `first + i`.
    recent: VecDeque<Option<Harmony>>,
    first: i64,
    /// Beats before this one have been heard (completed).
    heard_to: i64,
    /// Per candidate period (in beats), its score: matches minus mismatches' cost.
    scores: Vec<(i64, i32)>,
    period: Option<i64>,
    contradiction: Option<Contradiction>,
    /// The clock as of the last hearing (bars, loop, whether the transport rolls).
    clock: PlayClock,
    /// Expect what was heard (a host loop's last pass, a repeated progression); else the chord
    /// track alone.
    remember: bool,
    /// Bumped whenever what is expected ahead may have changed (a track set, a period found or
    /// lost, the player contradicting): the generator replans what it planned on the old knowledge.
    generation: u64,
}

impl Song {
    pub(super) fn new() -> Self {
        Self {
            track: None,
            by_place: BTreeMap::new(),
            recent: VecDeque::with_capacity(RECENT_BEATS),
            first: 0,
            heard_to: i64::MIN,
            scores: Vec::new(),
            period: None,
            contradiction: None,
            clock: PlayClock::at(0.0, 120.0),
            generation: 0,
            remember: true,
        }
    }

    /// Whether what was heard is expected ahead (the Remember Chords switch).
    pub(super) fn set_remember(&mut self, remember: bool) {
        if remember != self.remember {
            self.remember = remember;
            self.generation += 1;
        }
    }

    /// The typed chord track (`None` or an empty one: none).
    pub(super) fn set_track(&mut self, track: Option<ChordTrack>) {
        self.track = track.filter(|t| !t.is_empty());
        self.generation += 1;
    }

    /// Which knowledge the song is at (see `generation`).
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// The timeline jumped (a seek, a loop, a start or stop) to `beat`: the repetition starts
    /// afresh from there; what was heard by place stays.
    pub(super) fn jumped(&mut self, beat: f64) {
        self.recent.clear();
        self.first = beat.floor() as i64;
        self.heard_to = self.first;
        self.scores.clear();
        self.period = None;
        self.contradiction = None;
    }

    /// Hear the beats the audio side has played up to `clock.playhead` (each a chord of the keys
    /// that sounded in it), and what the player holds now against what was expected.
    pub(super) fn hear(&mut self, clock: &PlayClock, follow: &Follow) {
        self.clock = *clock;
        let now = clock.playhead.floor() as i64;
        if self.heard_to == i64::MIN || now < self.heard_to || now - self.heard_to > 64 {
            // A fresh start, or a jump the engine was not told of (time went back, or far on).
            self.jumped(clock.playhead);
        }
        while self.heard_to < now {
            let b = self.heard_to;
            let heard = heard_chord(follow, b as f64);
            self.remember(b, heard);
            self.heard_to += 1;
        }
        let contradiction = self.contradicted(clock.playhead, follow);
        let what = |c: Option<Contradiction>| c.map(|c| c.heard);
        if what(contradiction) != what(self.contradiction) {
            self.generation += 1;
        }
        self.contradiction = contradiction;
    }

    /// A completed beat `b` and its chord.
    fn remember(&mut self, b: i64, heard: Option<Harmony>) {
        if let Some(h) = heard {
            if self.clock.playing {
                self.by_place.insert(b, h);
                if self.by_place.len() as i64 > POSITION_BEATS {
                    let far = (self.by_place.keys().next().copied())
                        .zip(self.by_place.keys().next_back().copied())
                        .map(|(lo, hi)| if b - lo > hi - b { lo } else { hi });
                    if let Some(k) = far {
                        self.by_place.remove(&k);
                    }
                }
            }
        }
        if self.recent.len() == RECENT_BEATS {
            self.recent.pop_front();
            self.first += 1;
        }
        self.recent.push_back(heard);
        self.score(b);
    }

    /// Update the periods' scores with beat `b` (just pushed), and pick the period.
    fn score(&mut self, b: i64) {
        let bar = self.clock.beats_per_bar.max(1.0);
        let periods = (1..=MAX_PERIOD_BARS)
            .map(|k| k as f64 * bar)
            .filter(|p| (p - p.round()).abs() < 1e-6)
            .map(|p| p.round() as i64);
        if self.scores.is_empty() || self.scores.len() != periods.clone().count() {
            self.scores = periods.map(|p| (p, 0)).collect();
        }
        let now = self.recent_at(b);
        for (p, score) in &mut self.scores {
            let then = b - *p;
            let earlier = if then >= self.first {
                self.recent
                    .get((then - self.first) as usize)
                    .copied()
                    .flatten()
            } else {
                None
            };
            if let (Some(a), Some(e)) = (now, earlier) {
                *score = if a.triad == e.triad {
                    (*score + 1).min(4 * *p as i32)
                } else {
                    *score - MISMATCH_COST
                };
            }
        }
        let period = (self.scores.iter())
            .filter(|(_, s)| *s >= PERIOD_EVIDENCE.max(bar.round() as i32 - 1))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(p, _)| *p);
        if period != self.period {
            self.period = period;
            self.generation += 1;
        }
    }

    fn recent_at(&self, b: i64) -> Option<Harmony> {
        if b < self.first {
            return None;
        }
        self.recent
            .get((b - self.first) as usize)
            .copied()
            .flatten()
    }

    /// The player holds keys whose chord is not the one expected now: it stands until the expected
    /// chord's end.
    /// A chord held over from before (a late release) is no contradiction: the keys must have been
    /// struck within this beat (or a quarter of a beat before it).
    fn contradicted(&self, now: f64, follow: &Follow) -> Option<Contradiction> {
        let keep = self.contradiction.filter(|c| now < c.until);
        let Some(held) = follow.held_chord() else {
            return keep;
        };
        let expected = self.expected_at(now)?;
        let outside = follow.held_classes() & !expected.harmony.tones != 0;
        if !outside || held.triad == expected.harmony.triad {
            return None;
        }
        if let Some(c) = keep.filter(|c| c.heard.triad == held.triad) {
            return Some(c);
        }
        let fresh = follow
            .held_struck_at()
            .is_some_and(|at| at >= now.floor() - 0.25);
        fresh.then(|| Contradiction {
            heard: held,
            expected,
            until: self.segment_end(now, expected),
        })
    }

    /// The chord at `beat`, as far as the song knows it: what the player contradicts it with now,
    /// else the chord track, else what was heard here before, else the repeated progression.
    pub(super) fn chord_at(&self, beat: f64) -> Option<Known> {
        if let Some(c) = self.contradiction.filter(|c| beat < c.until) {
            return Some(Known {
                harmony: c.heard,
                source: Source::Heard,
            });
        }
        self.expected_at(beat)
    }

    /// Whether a chord known at `beat` begins there (a change, or the first known chord).
    pub(super) fn changes_at(&self, beat: f64) -> bool {
        let tick = 1.0 / 24.0;
        match (self.chord_at(beat), self.chord_at(beat - tick)) {
            (Some(now), Some(before)) => now.harmony != before.harmony,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The chord expected at `beat`, the player's contradiction aside.
    fn expected_at(&self, beat: f64) -> Option<Known> {
        if let Some(track) = &self.track {
            let (bar, at) = self.bar_of(beat);
            return track
                .at(bar, at)
                .and_then(|(c, _, _)| c.harmony)
                .map(|harmony| Known {
                    harmony,
                    source: Source::Typed,
                });
        }
        if !self.remember {
            return None;
        }
        if let Some(&harmony) = self.by_place.get(&self.place_of(beat)) {
            return Some(Known {
                harmony,
                source: Source::Place,
            });
        }
        let period = self.period?;
        let mut then = beat.floor() as i64 - period;
        while then >= self.heard_to {
            then -= period;
        }
        self.recent_at(then).map(|harmony| Known {
            harmony,
            source: Source::Repeat,
        })
    }

    /// The beat index `beat` stands for on the host's timeline: past a host loop's end, its start.
    fn place_of(&self, beat: f64) -> i64 {
        let c = &self.clock;
        let t = match c.loop_range() {
            Some((start, end)) if beat >= end => start + (beat - end).rem_euclid(end - start),
            _ => beat,
        };
        (t + 1e-9).floor() as i64
    }

    /// The song's bar (0: the host's bar 1) at `beat`, and the share of it gone.
    fn bar_of(&self, beat: f64) -> (i64, f64) {
        let c = &self.clock;
        let len = c.beats_per_bar.max(1e-6);
        let beat = match c.loop_range() {
            Some((start, end)) if beat >= end => start + (beat - end).rem_euclid(end - start),
            _ => beat,
        };
        let since = (beat - c.bar_origin) / len;
        let bars = (since + 1e-9).floor();
        let origin = if c.bar_number.is_finite() {
            c.bar_number
        } else {
            (c.bar_origin / len).round()
        };
        (origin as i64 + bars as i64, (since - bars).clamp(0.0, 1.0))
    }

    /// Where the known chord `k` sounding at `beat` ends: the chord track's next chord, or the beat's
    /// end (heard chords are known a beat at a time), however far the same chord goes on.
    fn segment_end(&self, beat: f64, k: Known) -> f64 {
        let mut t = beat;
        for _ in 0..64 {
            let next = self.boundary_after(t);
            match self.expected_at(next) {
                Some(n) if n.harmony == k.harmony => t = next,
                _ => return next,
            }
        }
        t
    }

    /// The next place after `beat` where the expected chord may change.
    fn boundary_after(&self, beat: f64) -> f64 {
        let whole = (beat + 1e-9).floor() + 1.0;
        if let Some(track) = &self.track {
            let (bar, at) = self.bar_of(beat);
            if let Some((_, _, to)) = track.at(bar, at) {
                let len = self.clock.beats_per_bar.max(1e-6);
                let end = beat + (to - at) * len;
                return end.max(beat + 1e-6);
            }
        }
        whole
    }

    /// What a format 5 model is told at `beat`: the chord now, and the next different chord known
    /// within [`NEXT_HORIZON_BEATS`], with the whole beats until it.
    pub(super) fn feature_at(&self, beat: f64) -> ChordFeature {
        let now = self.chord_at(beat).map(|k| k.harmony);
        let mut t = beat;
        let mut next = None;
        while t < beat + NEXT_HORIZON_BEATS {
            t = self.boundary_after(t);
            if let Some(k) = self.chord_at(t) {
                if Some(k.harmony) != now {
                    next = Some((k.harmony, ((t - beat) + 1e-6).floor().max(0.0) as u8));
                    break;
                }
            }
        }
        ChordFeature { now, next }
    }

    /// The chords heard beat by beat over `beats` beats from `from` (by place while the transport
    /// rolls, else in order), for Learn Chords and the editor's lane.
    pub(super) fn heard(&self, from: i64, beats: i64) -> Vec<Option<Harmony>> {
        (from..from + beats)
            .map(|b| self.by_place.get(&b).copied().or_else(|| self.recent_at(b)))
            .collect()
    }

    /// The progression heard, as chord-track text a musician can edit: the repeated period (or the
    /// host's loop, else the last `fallback_bars` bars heard), a bar between bar lines, each bar's
    /// chords by the beats they hold. `None` when no chord was heard.
    pub(super) fn learned_text(&self, fallback_bars: i64) -> Option<String> {
        let c = &self.clock;
        let bar = c.beats_per_bar.max(1.0).round() as i64;
        let (from, beats) = match (c.loop_range(), self.period) {
            (Some((start, end)), _) => (start.round() as i64, (end - start).round() as i64),
            (None, Some(p)) => {
                // The period as the player began it: from their first chord, whole periods on.
                let began = (self.recent.iter().position(Option::is_some))
                    .map_or(self.heard_to - p, |i| self.first + i as i64);
                let periods = (self.heard_to - p - began).div_euclid(p).max(0);
                (began + periods * p, p)
            }
            (None, None) => {
                let beats = fallback_bars * bar;
                (self.heard_to - beats, beats)
            }
        };
        // Start on a bar line.
        let origin = c.bar_origin.round() as i64;
        let from = from - (from - origin).rem_euclid(bar);
        let heard = self.heard(from, beats.max(bar));
        if heard.iter().all(Option::is_none) {
            return None;
        }
        let mut text = String::from("|");
        let mut last: Option<Harmony> = None;
        for chunk in heard.chunks(bar as usize) {
            // Each beat takes the last chord heard when nothing sounded in it; a bar's chords are
            // written once per change, and only where they change on a half bar (or a whole one).
            let mut beats: Vec<Option<Harmony>> = Vec::with_capacity(chunk.len());
            for h in chunk {
                last = h.or(last);
                beats.push(last);
            }
            let halves = if chunk.len() % 2 == 0 && chunk.len() >= 4 {
                vec![beats[0], beats[chunk.len() / 2]]
            } else {
                vec![beats[0]]
            };
            let names: Vec<String> = if halves.len() == 2 && halves[0] != halves[1] {
                halves.iter().map(|h| name_of(*h)).collect()
            } else {
                vec![name_of(halves[0])]
            };
            text.push(' ');
            text.push_str(&names.join(" "));
            text.push_str(" |");
        }
        Some(text)
    }
}

/// What the song knows around the playhead, for the editor's chord lane (engine thread makes it,
/// the editor reads a copy).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SongView {
    /// The playhead, and the bar grid the beats below sit on.
    pub playhead: f64,
    /// The beat of a bar line.
    pub bar_origin: f64,
    /// Bar length in beats.
    pub beats_per_bar: f64,
    /// The chord track's chords that start in the view (from [`VIEW_BARS_BACK`] bars back to
    /// [`VIEW_BARS_AHEAD`] ahead): (beat, symbol).
    pub typed: Vec<(f64, String)>,
    /// The chords heard there, where they changed: (beat, name).
    pub heard: Vec<(f64, String)>,
    /// The next chord Cadenza expects: (beat, name, where it knows it from).
    pub next: Option<(f64, String, Source)>,
    /// One line on what leads: the chord track, a learned progression, or the player against it.
    pub note: String,
}

/// How far back and ahead the editor's chord lane looks, in bars.
pub const VIEW_BARS_BACK: f64 = 4.0;
pub const VIEW_BARS_AHEAD: f64 = 1.0;

impl Song {
    /// The editor's view at `playhead`.
    pub(super) fn view(&self, playhead: f64) -> SongView {
        let c = &self.clock;
        let bar = c.beats_per_bar.max(1.0);
        let from = c.next_grid(playhead - VIEW_BARS_BACK * bar, true) - bar;
        let to = playhead + VIEW_BARS_AHEAD * bar;
        let mut typed = Vec::new();
        if let Some(track) = &self.track {
            let mut t = from;
            while t < to && typed.len() < 256 {
                let (b, at) = self.bar_of(t);
                if let Some((chord, _, _)) = track.at(b, at) {
                    typed.push((t, chord.symbol.clone()));
                }
                t = self.boundary_after(t);
            }
        }
        let mut heard = Vec::new();
        let mut last = None;
        let start = from.floor() as i64;
        for (i, h) in self
            .heard(start, (playhead.floor() as i64 - start).max(0))
            .into_iter()
            .enumerate()
        {
            if h.is_some() && h != last {
                heard.push(((start + i as i64) as f64, name_of(h)));
            }
            last = h.or(last);
        }
        let next = self
            .next_change(playhead)
            .map(|(t, k)| (t, k.harmony.name(), k.source));
        let note = match (self.contradiction, self.track.is_some(), self.period) {
            (Some(c), _, _) => format!(
                "you play {} where {} {}: following you",
                c.heard.name(),
                match c.expected.source {
                    Source::Typed => "the chord track says",
                    _ => "it expected",
                },
                c.expected.harmony.name()
            ),
            (None, true, _) => "following the chord track".into(),
            (None, false, _) if c.loop_active() && next.is_some() => {
                "knows the loop from its last pass".into()
            }
            (None, false, Some(p)) => format!(
                "heard a {}-bar progression repeat",
                (p as f64 / bar).round()
            ),
            _ => "no chord known ahead: it follows the last chord heard".into(),
        };
        SongView {
            playhead,
            bar_origin: c.bar_origin,
            beats_per_bar: bar,
            typed,
            heard,
            next,
            note,
        }
    }

    /// The next place after `beat` (within 2 bars) where the song knows a chord different from the
    /// one there, and that chord.
    fn next_change(&self, beat: f64) -> Option<(f64, Known)> {
        let now = self.chord_at(beat).map(|k| k.harmony);
        let mut t = beat;
        while t < beat + 2.0 * self.clock.beats_per_bar.max(1.0) {
            t = self.boundary_after(t);
            if let Some(k) = self.chord_at(t).filter(|k| Some(k.harmony) != now) {
                return Some((t, k));
            }
        }
        None
    }
}

fn name_of(h: Option<Harmony>) -> String {
    h.map_or_else(|| "N.C.".to_string(), Harmony::name)
}

/// The chord of the player's keys sounding in beat `b` (how long each pitch class sounds in it),
/// when two or more pitch classes do.
fn heard_chord(follow: &Follow, b: f64) -> Option<Harmony> {
    let mut weight = [0.0f64; 12];
    for n in follow.played_around(b, b + 1.0) {
        let end = if n.length < 0.0 {
            f64::INFINITY
        } else {
            n.beat + n.length
        };
        let overlap = end.min(b + 1.0) - n.beat.max(b);
        if overlap > 0.0 {
            weight[usize::from(n.pitch % 12)] += overlap;
        }
    }
    let classes = weight.iter().filter(|&&w| w > 1e-6).count();
    if classes < 2 || weight.iter().sum::<f64>() < MIN_HEARD_WEIGHT {
        return None;
    }
    best_triad(&weight)
}

/// The major or minor triad covering the most of `weight` (per pitch class); on a tie the lower
/// root, major before minor (as `Follow::chord` and the Python side's `roles.triad`).
pub(super) fn best_triad(weight: &[f64; 12]) -> Option<Harmony> {
    let mut best: Option<(f64, Harmony)> = None;
    for root in 0..12u8 {
        for minor in [false, true] {
            let t = Harmony::triad(root, minor);
            let covered: f64 = (0..12)
                .filter(|pc| t.triad >> pc & 1 == 1)
                .map(|pc| weight[pc])
                .sum();
            if best.is_none_or(|(b, _)| covered > b + 1e-9) {
                best = Some((covered, t));
            }
        }
    }
    best.filter(|(w, _)| *w > 0.0).map(|(_, t)| t)
}

#[cfg(test)]
mod tests;
