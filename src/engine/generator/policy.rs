//! Musical policy: what the model may write next (the mask; constraints are masks, never tokens),
//! how much of the model's probability the mask takes away ([`MaskStats`]), and how loud a note is.

use super::follow::Follow;
use super::song::Known;
use super::timeline::Open;
use crate::bridge::PlayClock;
use crate::chords::Harmony;
use crate::settings::{Dynamics, Role, Scale, Settings, DENSITY_NATS};
use crate::tokenizer::{Event, Vocab};

/// Harmony plays between the player's outer parts only where they are more than this many
/// semitones apart (an octave): closer, there is no room for an inner voice, and it comps under them.
const INNER_ROOM: u8 = 12;
/// Free's *Follow Chords* at its top: the chord tones' note-ons gain this many nats on a strong beat
/// or a change where a chord is known (below it, that share of it; at it, chord tones only there).
pub(super) const FOLLOW_CHORDS_NATS: f32 = 4.0;

/// The probability the sampler's mask took away from the model, over the steps since the last
/// [`super::Generator::take_mask_stats`] (at temperature 1, before the density bias).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MaskStats {
    /// Steps counted.
    pub steps: u64,
    /// Sum over steps of the probability refused.
    pub refused: f64,
    /// Steps that lost more than a fifth of the probability.
    pub over_fifth: u64,
    /// Of those, steps whose likeliest refused token was a note-off or note-on of a key the player
    /// holds (the model and the engine disagreeing about whose notes are whose).
    pub over_fifth_player_key: u64,
    /// Of those, steps inside a lead or an answer's wait (nothing may be placed yet).
    pub over_fifth_floor: u64,
    /// The most refused in one step.
    pub max: f64,
}

impl MaskStats {
    /// The probability refused per step, on average.
    pub fn mean(&self) -> f64 {
        self.refused / self.steps.max(1) as f64
    }

    /// Add another count to this one.
    pub fn add(&mut self, o: &MaskStats) {
        self.steps += o.steps;
        self.refused += o.refused;
        self.over_fifth += o.over_fifth;
        self.over_fifth_player_key += o.over_fifth_player_key;
        self.over_fifth_floor += o.over_fifth_floor;
        self.max = self.max.max(o.max);
    }
}

/// What the context says about the next token, for the mask.
pub(super) struct Situation<'a> {
    /// Keys sounding in the context, by owner.
    pub(super) open: Open,
    /// Cadenza's keys struck at the cursor's tick.
    pub(super) begun_now: u128,
    /// The player's keys, recent notes and level.
    pub(super) follow: &'a Follow,
    /// Ticks from the cursor to the first tick anything may be placed at (0: now).
    pub(super) floor_ticks: u32,
    /// The longest shift allowed (the end of a call and response answer; `u32::MAX`: none).
    pub(super) ceiling_ticks: u32,
    /// The role Cadenza plays (the one its model plays: one it lacks is Free): Bass begins no note
    /// at or above the player's register, Melody none at or below it, Harmony none outside the
    /// player's outer parts (or, against one line, none at or above it); Bass begins only the
    /// chord's root or fifth on a strong beat, Harmony only the chord's tones.
    pub(super) role: Role,
    /// Whether the cursor is on a strong beat (a bar's first beat, or its middle in a bar of an even
    /// number of beats): where the bass lays down the chord's root or fifth.
    pub(super) strong_beat: bool,
    /// The chord the song knows at the cursor (typed, heard there before, repeated, or what the
    /// player holds against it): the leads aim at it rather than at the last chord heard.
    pub(super) known: Option<Known>,
    /// A known chord begins at the cursor: a change, which the bass grounds as a strong beat.
    pub(super) change: bool,
    /// Cadenza's lowest key sounding, else the lowest it struck last: where its lowest line moves
    /// on from (the guard against parallel fifths and octaves with the player's outer part).
    pub(super) ours_lowest: Option<u8>,
    /// The cursor's tick within the beat, and whether a rest must end on the grid (a sixteenth or
    /// a triplet eighth): in a call and response answer.
    pub(super) phase_ticks: u32,
    pub(super) rest_on_grid: bool,
    /// Alone, the longest shift that keeps a silence within [`ALONE_REST_BEATS`](super::ALONE_REST_BEATS);
    /// beside a player, Cadenza's part's silence within [`ROLE_REST_BEATS`](super::ROLE_REST_BEATS)
    /// in a role or [`FREE_REST_BARS`](super::FREE_REST_BARS) as Free (`u32::MAX`: none; never before
    /// the first beat anything may be placed on). Lifted when nothing else is allowed (no key in the
    /// range and scale).
    pub(super) rest_ceiling_ticks: u32,
}

/// The mask and the logits the next token is drawn from (reused), and what the mask took away.
pub(super) struct Mask {
    vocab: Vocab,
    ticks_per_beat: u32,
    pub(super) allowed: Vec<bool>,
    pub(super) biased: Vec<f32>,
    pub(super) stats: MaskStats,
}

impl Mask {
    pub(super) fn new(vocab: Vocab, ticks_per_beat: u32) -> Self {
        let size = vocab.size as usize;
        Self {
            vocab,
            ticks_per_beat: ticks_per_beat.max(1),
            allowed: vec![false; size],
            biased: vec![0.0; size],
            stats: MaskStats::default(),
        }
    }

    /// What the model may write next, and the logits it is drawn from. Nothing before the floor:
    /// no note event, and only a shift that reaches it (or the longest shift, when the floor is
    /// further); no shift past the ceiling. Note-ons: not on a key Cadenza or the player sounds,
    /// inside the range, in the scale, below the polyphony limit. Note-offs: only Cadenza's open
    /// notes (the player's are theirs to end), and not a note that began at this very tick (no note
    /// lasts no time: the corpus has none, and a model stuck writing such pairs filled a window with
    /// them in one instant, notes nobody hears). No rest past the rest ceiling, unless no
    /// note may be begun (then the rest goes on). Counts what the mask takes away.
    /// A rest that must end on the grid (`Situation::rest_on_grid`) ends anywhere when no grid point
    /// is in reach.
    pub(super) fn build(&mut self, logits: &[f32], at: &Situation, s: &Settings) {
        let rest = at.ceiling_ticks.min(at.rest_ceiling_ticks);
        let grid = at.rest_on_grid;
        let _ = self.fill(logits, at, s, rest, grid)
            || (rest < at.ceiling_ticks && self.fill(logits, at, s, at.ceiling_ticks, grid))
            || (grid && self.fill(logits, at, s, at.ceiling_ticks, false));
        self.count_refused(logits, at);
    }

    /// The mask with shifts up to `ceiling` (and, with `grid`, only shifts that end on a sixteenth
    /// or a triplet eighth); whether it allows anything.
    fn fill(
        &mut self,
        logits: &[f32],
        at: &Situation,
        s: &Settings,
        ceiling: u32,
        grid: bool,
    ) -> bool {
        let tpb = self.ticks_per_beat;
        let on_grid = |k: u32| {
            let phase = (at.phase_ticks + k) % tpb;
            phase.is_multiple_of((tpb / 4).max(1)) || phase.is_multiple_of((tpb / 3).max(1))
        };
        let v = self.vocab;
        let open = at.open;
        let classes = match (s.scale, at.follow.pitch_classes()) {
            (Scale::FollowPlayer, Some(classes)) => classes,
            (other, _) => other.pitch_classes(s.key),
        };
        let floor = at.floor_ticks;
        let now = floor == 0;
        let (lowest, highest) = register(at);
        let strong = at.strong_beat || at.change;
        let led = led_tones(at, s, strong);
        let scale = classes;
        let classes = match led.map(|tones| classes & tones) {
            Some(tones) if tones != 0 => tones,
            _ => classes,
        };
        // Where the lines stand now: read once, not for each key.
        let outer = at.ours_lowest.zip(at.follow.outer_now());
        let parallel = |p: u8| makes_parallel(at, outer, p);
        // Below the top of Follow Chords, a bias toward the known chord's tones.
        let toward = match (at.role, at.known) {
            (Role::Free, Some(k)) if strong && s.follow_chords > 0.0 && s.follow_chords < 1.0 => {
                k.harmony.tones
            }
            _ => 0,
        };
        // Free leaning to the chord moves the model's note-on probability to the chord's tones and
        // leaves how likely a note is at all as it was: Follow Chords is no density knob.
        let keep_mass = at.role == Role::Free && (toward != 0 || led.is_some());
        let toward_nats = s.follow_chords * FOLLOW_CHORDS_NATS;
        let room = open.ours.count_ones() < s.max_polyphony;
        let bias = s.density * DENSITY_NATS;
        // Log-sum-exp of the note-ons' logits before the lean (over those the rest of the mask
        // allows) and after it (over those allowed).
        let (mut before, mut after) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
        for (i, a) in self.allowed.iter_mut().enumerate() {
            let logit = logits.get(i).copied().unwrap_or(f32::NEG_INFINITY);
            self.biased[i] = logit;
            *a = match v.decode(i as u32) {
                Some(Event::NoteOn(p)) => {
                    let chord_tone = toward >> (p % 12) & 1 == 1;
                    self.biased[i] = logit + bias + if chord_tone { toward_nats } else { 0.0 };
                    let playable = now
                        && room
                        && !open.ours(p)
                        && !open.theirs(p)
                        && !at.follow.holds(p)
                        && (s.low..=s.high).contains(&p)
                        && (lowest..=highest).contains(&p)
                        && !parallel(p);
                    let ok = playable && classes & (1 << (p % 12)) != 0;
                    if keep_mass && playable && scale & (1 << (p % 12)) != 0 {
                        before = log_add(before, logit + bias);
                    }
                    if keep_mass && ok {
                        after = log_add(after, self.biased[i]);
                    }
                    ok
                }
                Some(Event::NoteOff(p)) => now && open.ours(p) && at.begun_now & (1 << p) == 0,
                Some(Event::Shift(k)) => {
                    (now || k >= floor || (k == v.max_shift && floor > v.max_shift))
                        && k <= ceiling
                        && (!grid || on_grid(k) || (k == v.max_shift && floor > v.max_shift))
                }
                _ => false,
            };
        }
        if keep_mass && before.is_finite() && after.is_finite() {
            let shift = before - after;
            for p in 0..128u32 {
                self.biased[(v.note_on_base + p) as usize] += shift;
            }
        }
        self.allowed.iter().any(|&a| a)
    }

    /// Add this step's refused probability to the statistics.
    fn count_refused(&mut self, logits: &[f32], at: &Situation) {
        if logits.len() != self.allowed.len() {
            return;
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return;
        }
        let (mut total, mut refused) = (0.0f64, 0.0f64);
        let mut top: Option<(usize, f32)> = None;
        for (i, (&l, &ok)) in logits.iter().zip(&self.allowed).enumerate() {
            let e = f64::from((l - max).exp());
            total += e;
            if !ok {
                refused += e;
                if top.is_none_or(|(_, t)| l > t) {
                    top = Some((i, l));
                }
            }
        }
        let share = refused / total.max(f64::MIN_POSITIVE);
        let st = &mut self.stats;
        st.steps += 1;
        st.refused += share;
        st.max = st.max.max(share);
        if share > 0.2 {
            st.over_fifth += 1;
            let players_key = match top.and_then(|(i, _)| self.vocab.decode(i as u32)) {
                Some(Event::NoteOff(p)) | Some(Event::NoteOn(p)) => {
                    at.open.theirs(p) || at.follow.holds(p)
                }
                _ => false,
            };
            if players_key {
                st.over_fifth_player_key += 1;
            } else if at.floor_ticks > 0 {
                st.over_fifth_floor += 1;
            }
        }
    }
}

/// ln(e^a + e^b), for the note-ons' mass.
fn log_add(a: f32, b: f32) -> f32 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f32::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// The velocity of a note at `beat`: the player's level (`follow`, when dynamics follow them) or the
/// fixed one, with the beat's accent in the host's bar.
pub(super) fn velocity_at(beat: f64, clock: &PlayClock, follow: Option<f32>, s: &Settings) -> f32 {
    let level = match s.dynamics {
        Dynamics::FollowPlayer => follow.unwrap_or(s.velocity),
        Dynamics::Fixed => s.velocity,
    };
    let pos = clock.in_bar(beat);
    let on = |x: f64| !(1e-6..=1.0 - 1e-6).contains(&x);
    let weight = if on(pos / clock.beats_per_bar.max(1e-6) % 1.0) {
        0.3
    } else if on(pos.fract()) {
        0.1
    } else {
        -0.1
    };
    (level * (1.0 + s.accent * weight)).clamp(0.05, 1.0)
}

/// The role's register, a lead (lowest and highest key it may begin): the bass under the lowest
/// of the player's part, the melody over its highest; the harmony between them where the player
/// plays two parts more than an octave apart (the inner voices), else under the player's line
/// (comping under a melody).
fn register(at: &Situation) -> (u8, u8) {
    match (at.role, at.follow.register()) {
        (Role::Bass, Some((lo, _))) => (0, lo.saturating_sub(1)),
        (Role::Melody, Some((_, hi))) => (hi.saturating_add(1), 127),
        (Role::Harmony, Some((lo, hi))) if at.follow.plays_parts() && hi - lo > INNER_ROOM => {
            match at.follow.held_span() {
                Some((l, h)) if h - l > INNER_ROOM => (l + 1, h - 1),
                _ => (lo + 1, hi - 1),
            }
        }
        (Role::Harmony, Some((lo, _))) => (0, lo.saturating_sub(1)),
        _ => (0, 127),
    }
}

/// The chord's lead, in a role (the pitch classes it keeps to; `None`: no lead): the bass lays
/// down the root or the fifth on a strong beat or a change (`strong`), the harmony plays the
/// chord's tones. The chord is the one the song knows at the cursor (song.rs: typed, heard there on
/// an earlier pass, repeated); else the one the player's part implies, the last one heard (a beat's
/// own chord is heard after Cadenza decides what it plays on it: CHANGELOG.md "The chord's lead").
/// Free follows a known chord as far as *Follow Chords* asks, on a strong beat or a change. Where
/// the scale lock leaves none of the chord's tones, the scale alone (the caller's).
fn led_tones(at: &Situation, s: &Settings, strong: bool) -> Option<u16> {
    let chord: Option<Harmony> = match at.role {
        Role::Bass | Role::Harmony => at.known.map(|k| k.harmony).or_else(|| at.follow.chord()),
        _ => None,
    };
    match at.role {
        Role::Bass if strong => chord.map(Harmony::bass_tones),
        // On the other beats, a chord known ahead's tones (off the beat it passes freely).
        Role::Bass if at.phase_ticks == 0 => at.known.map(|k| k.harmony.tones),
        Role::Harmony => chord.map(|c| c.tones),
        Role::Free if strong && s.follow_chords >= 1.0 => at.known.map(|k| k.harmony.tones),
        _ => None,
    }
}

/// Whether beginning key `p` makes parallel fifths or octaves with the player's outer part (a
/// role's voice leading), as far as Cadenza can tell before it hears the player's next note
/// (`outer`: Cadenza's lowest key sounding, and the player's lowest and highest): from a fifth or
/// an octave with the player's top note, the bass does not move by step (the melody it doubles
/// moves by step, and did so with it in half the moves measured); from one with the player's
/// lowest note, at a change of a known chord, the harmony does not move as the bass will to the new
/// chord's bass note (the nearest), into the same fifth or octave, nor by step (the bass stepping
/// to an inversion).
fn makes_parallel(at: &Situation, outer: Option<(u8, (u8, u8))>, p: u8) -> bool {
    let perfect = |a: u8, b: u8| matches!((i16::from(b) - i16::from(a)).rem_euclid(12), 0 | 7);
    let Some((c0, (b0, t0))) = outer else {
        return false;
    };
    let step = (i16::from(p) - i16::from(c0)).abs();
    match (at.role, at.known) {
        (Role::Bass, _) => perfect(c0, t0) && (1..=2).contains(&step),
        (Role::Harmony, Some(k)) if at.change && perfect(b0, c0) => {
            let pc = i16::from(k.harmony.bass);
            let up = (pc - i16::from(b0)).rem_euclid(12);
            let nb = if up <= 6 {
                i16::from(b0) + up
            } else {
                i16::from(b0) + up - 12
            };
            let moves = (nb - i16::from(b0)).signum();
            let as_predicted = moves != 0
                && (i16::from(p) - i16::from(c0)).signum() == moves
                && (i16::from(p) - nb).rem_euclid(12)
                    == (i16::from(c0) - i16::from(b0)).rem_euclid(12);
            // Or the bass steps to an inversion: no step with it either.
            as_predicted || (1..=2).contains(&step)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Vocab = Vocab::DEFAULT;

    fn allowed(m: &Mask, e: Event) -> bool {
        m.allowed[V.encode(e).unwrap() as usize]
    }

    /// The player strikes `keys` together at `beat` and holds them.
    fn strike(f: &mut Follow, beat: f64, keys: &[u8]) {
        for &p in keys {
            f.remember(beat, p, 0.8, true);
            f.hold(p, true);
        }
    }

    /// The player plays `notes` (beat, key) one at a time, each released before the next.
    fn play_line(f: &mut Follow, notes: impl IntoIterator<Item = (f64, u8)>) {
        for (b, p) in notes {
            f.remember(b, p, 0.8, true);
            f.hold(p, true);
            f.hold(p, false);
        }
    }

    /// Nothing sounding, nothing placed ahead, no ceiling, free: each test changes what it tests.
    fn nothing_yet(follow: &Follow) -> Situation<'_> {
        Situation {
            open: Open::default(),
            begun_now: 0,
            follow,
            floor_ticks: 0,
            ceiling_ticks: u32::MAX,
            role: Role::Free,
            strong_beat: false,
            known: None,
            change: false,
            ours_lowest: None,
            phase_ticks: 0,
            rest_on_grid: false,
            rest_ceiling_ticks: u32::MAX,
        }
    }

    #[test]
    fn the_mask_keeps_the_players_keys_the_range_the_scale_and_the_floor() {
        let mut follow = Follow::new();
        follow.hold(62, true);
        let logits = vec![0.0; V.size as usize];
        let s = Settings {
            scale: Scale::Major,
            low: 40,
            high: 90,
            ..Settings::default()
        };
        let mut m = Mask::new(V, 24);
        let mut at = Situation {
            open: Open {
                ours: 1 << 60,
                theirs: 1 << 64,
            },
            begun_now: 0,
            follow: &follow,
            floor_ticks: 0,
            ceiling_ticks: u32::MAX,
            role: Role::Free,
            strong_beat: false,
            known: None,
            change: false,
            ours_lowest: None,
            phase_ticks: 0,
            rest_on_grid: false,
            rest_ceiling_ticks: u32::MAX,
        };
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(65)) && allowed(&m, Event::NoteOff(60)));
        for refused in [
            Event::NoteOn(60),  // ours, sounding
            Event::NoteOn(64),  // the player's, in the context
            Event::NoteOn(62),  // the player holds it
            Event::NoteOn(61),  // not in C major
            Event::NoteOn(91),  // above the range
            Event::NoteOff(64), // the player's to end
        ] {
            assert!(!allowed(&m, refused), "{refused:?}");
        }
        assert!(m.stats.steps == 1 && m.stats.refused > 0.5);
        // Struck at this tick: not ended at it. Before the floor: only a shift that reaches it.
        at.begun_now = 1 << 60;
        at.floor_ticks = 6;
        m.build(&logits, &at, &s);
        assert!(!allowed(&m, Event::NoteOff(60)) && !allowed(&m, Event::NoteOn(65)));
        assert!(allowed(&m, Event::Shift(6)) && !allowed(&m, Event::Shift(5)));
        at.ceiling_ticks = 8;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::Shift(8)) && !allowed(&m, Event::Shift(9)));
    }

    #[test]
    fn the_bass_begins_under_the_players_part_and_the_melody_over_it() {
        let nobody = Follow::new();
        let mut follow = Follow::new();
        follow.remember(0.0, 60, 0.8, true);
        follow.remember(0.5, 72, 0.8, true);
        follow.hold(55, true);
        let logits = vec![0.0; V.size as usize];
        let s = Settings::default();
        let mut m = Mask::new(V, 24);
        let mut at = Situation {
            role: Role::Bass,
            ..nothing_yet(&nobody)
        };
        // Nobody has played: no register to keep to.
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(30)) && allowed(&m, Event::NoteOn(90)));
        // Held 55, played 60 and 72: the bass below 55, the melody above 72.
        at.follow = &follow;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(54)) && !allowed(&m, Event::NoteOn(56)));
        at.role = Role::Melody;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(73)) && !allowed(&m, Event::NoteOn(71)));
        at.role = Role::Free;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(56)) && allowed(&m, Event::NoteOn(71)));
    }

    #[test]
    fn the_harmony_plays_between_the_players_outer_parts_or_under_one_line() {
        let logits = vec![0.0; V.size as usize];
        let s = Settings::default();
        let mut m = Mask::new(V, 24);
        // One line (each key struck alone), 60 to 72: the harmony comps under it.
        let mut line = Follow::new();
        play_line(&mut line, [(0.0, 60), (1.0, 72)]);
        let build = |m: &mut Mask, follow: &Follow| {
            let at = Situation {
                role: Role::Harmony,
                ..nothing_yet(follow)
            };
            m.build(&logits, &at, &s);
        };
        // (The pitches below are the chord's tones, C E G, which the harmony keeps to: what refuses
        // a key here is the register.)
        build(&mut m, &line);
        assert!(allowed(&m, Event::NoteOn(55)) && !allowed(&m, Event::NoteOn(64)));
        // A bass and a soprano together (48 and 72 held): the inner voices, between them.
        let mut parts = Follow::new();
        strike(&mut parts, 0.0, &[48, 72]);
        build(&mut m, &parts);
        for (p, ok) in [(52, true), (64, true), (67, true), (43, false), (76, false)] {
            assert_eq!(allowed(&m, Event::NoteOn(p)), ok, "{p}");
        }
        // The bass moves up to 55 while the soprano holds: between what sounds now, not the
        // register of the last notes (48 is still among them).
        parts.hold(48, false);
        strike(&mut parts, 1.0, &[55]);
        build(&mut m, &parts);
        assert!(!allowed(&m, Event::NoteOn(52)) && allowed(&m, Event::NoteOn(60)));
        // Both parts resting: between the register of their last notes.
        parts.hold(55, false);
        parts.hold(72, false);
        build(&mut m, &parts);
        assert!(allowed(&m, Event::NoteOn(52)) && !allowed(&m, Event::NoteOn(48)));
        // Parts closer than an octave (a chord, 60 to 67): no room inside, it comps under them.
        let mut chord = Follow::new();
        strike(&mut chord, 0.0, &[60, 64, 67]);
        build(&mut m, &chord);
        assert!(allowed(&m, Event::NoteOn(55)) && !allowed(&m, Event::NoteOn(72)));
        // A line again (60 and 76 in turn) for twelve notes: the parts are forgotten, it comps
        // under the line rather than between its lowest and highest.
        let mut was_parts = parts;
        play_line(
            &mut was_parts,
            (0..12).map(|k| (2.0 + f64::from(k), if k % 2 == 0 { 60 } else { 76 })),
        );
        build(&mut m, &was_parts);
        assert!(allowed(&m, Event::NoteOn(55)) && !allowed(&m, Event::NoteOn(64)));
    }

    #[test]
    fn in_a_role_cadenza_keeps_to_the_chord_last_heard_the_bass_its_root_or_fifth_on_strong_beats()
    {
        let logits = vec![0.0; V.size as usize];
        let mut m = Mask::new(V, 24);
        let holding = |keys: &[u8]| {
            let mut f = Follow::new();
            strike(&mut f, 0.0, keys);
            f
        };
        let c_major = holding(&[60, 64, 67]);
        let a_minor = holding(&[57, 60, 64]);
        let check = |m: &mut Mask, at: &Situation, s: &Settings, keys: &[(u8, bool)]| {
            m.build(&logits, at, s);
            for &(p, ok) in keys {
                assert_eq!(allowed(m, Event::NoteOn(p)), ok, "{:?} {p}", at.role);
            }
        };
        let s = Settings::default();
        let mut at = Situation {
            role: Role::Bass,
            strong_beat: true,
            ..nothing_yet(&c_major)
        };
        // The bass on a strong beat: C or G, in any octave under the chord; not E, D or F.
        check(
            &mut m,
            &at,
            &s,
            &[
                (48, true),
                (43, true),
                (36, true),
                (52, false),
                (50, false),
                (53, false),
            ],
        );
        // Between the strong beats, any key under the chord (the scale is off).
        at.strong_beat = false;
        check(
            &mut m,
            &at,
            &s,
            &[(48, true), (52, true), (50, true), (53, true)],
        );
        // The harmony, on any beat: the chord's tones (here under the chord: no room inside it).
        at.role = Role::Harmony;
        check(
            &mut m,
            &at,
            &s,
            &[(55, true), (52, true), (48, true), (53, false), (57, false)],
        );
        // A minor chord is heard as one: A C E, not C E G.
        at.follow = &a_minor;
        check(
            &mut m,
            &at,
            &s,
            &[(45, true), (52, true), (55, false), (49, false)],
        );
        // Free keeps to no chord.
        at.role = Role::Free;
        check(&mut m, &at, &s, &[(53, true), (49, true)]);
        // A scale lock that holds none of the chord's tones (F# major against C major): the scale.
        let f_sharp = Settings {
            scale: Scale::Major,
            key: 6,
            ..Settings::default()
        };
        at.role = Role::Harmony;
        at.follow = &c_major;
        check(
            &mut m,
            &at,
            &f_sharp,
            &[(54, true), (55, false), (48, false)],
        );
        // Nobody has played: no chord, no lead.
        let nobody = Follow::new();
        at.follow = &nobody;
        at.role = Role::Bass;
        at.strong_beat = true;
        check(&mut m, &at, &s, &[(50, true), (53, true)]);
    }

    #[test]
    fn a_chord_known_ahead_leads_instead_of_the_last_heard_and_free_follows_it_as_asked() {
        use crate::chords::Harmony;
        use crate::engine::{Known, Source};
        let logits = vec![0.0; V.size as usize];
        let mut m = Mask::new(V, 24);
        // The player held C major; the song knows A minor begins here (a change on a weak beat).
        let mut c_major = Follow::new();
        strike(&mut c_major, 0.0, &[60, 64, 67]);
        let a_minor = Known {
            harmony: Harmony::triad(9, true),
            source: Source::Typed,
        };
        let s = Settings::default();
        let mut at = Situation {
            role: Role::Bass,
            known: Some(a_minor),
            change: true,
            ..nothing_yet(&c_major)
        };
        m.build(&logits, &at, &s);
        for (p, ok) in [(45, true), (52, true), (48, false), (43, false)] {
            assert_eq!(allowed(&m, Event::NoteOn(p)), ok, "bass {p}");
        }
        // Not a change and not a strong beat: on the beat, any of the chord's tones; off it, the
        // bass is free (under the player's register).
        at.change = false;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(48)) && !allowed(&m, Event::NoteOn(50)));
        at.phase_ticks = 12;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(50)));
        at.phase_ticks = 0;
        // The harmony keeps to A minor's tones, not C major's G.
        at.role = Role::Harmony;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(57)) && !allowed(&m, Event::NoteOn(55)));
        // Free: Follow Chords 0 leaves the model's choice alone, up to 1 only chord tones on a
        // strong beat or a change; between, a bias toward them.
        at.role = Role::Free;
        at.change = true;
        let follow = |f: f32| Settings {
            follow_chords: f,
            ..Settings::default()
        };
        let on = |p: u8| V.encode(Event::NoteOn(p)).unwrap() as usize;
        m.build(&logits, &at, &follow(0.0));
        assert!(allowed(&m, Event::NoteOn(62)) && m.biased[on(69)] == m.biased[on(62)]);
        m.build(&logits, &at, &follow(0.5));
        assert!(allowed(&m, Event::NoteOn(62)));
        assert!((m.biased[on(69)] - m.biased[on(62)] - 0.5 * FOLLOW_CHORDS_NATS).abs() < 1e-6);
        m.build(&logits, &at, &follow(1.0));
        assert!(allowed(&m, Event::NoteOn(69)) && !allowed(&m, Event::NoteOn(62)));
        // However far it leans, a note is as likely as the model made it: the note-ons' share of
        // the probability the mask leaves stays the same.
        let note_share = |m: &Mask| {
            let (mut ons, mut all) = (0.0f64, 0.0f64);
            for (i, (&b, &ok)) in m.biased.iter().zip(&m.allowed).enumerate() {
                if ok {
                    let e = f64::from(b).exp();
                    all += e;
                    if matches!(V.decode(i as u32), Some(Event::NoteOn(_))) {
                        ons += e;
                    }
                }
            }
            ons / all
        };
        let mut shares = Vec::new();
        for f in [0.0, 0.5, 1.0] {
            m.build(&logits, &at, &follow(f));
            shares.push(note_share(&m));
        }
        assert!(
            shares.iter().all(|x| (x - shares[0]).abs() < 1e-4),
            "{shares:?}"
        );
        // Nothing known: Free follows no chord, however high the knob.
        at.known = None;
        m.build(&logits, &at, &follow(1.0));
        assert!(allowed(&m, Event::NoteOn(62)));
    }

    #[test]
    fn the_chord_heard_is_the_triad_covering_most_of_the_held_keys_and_the_recent_notes() {
        // A line alone: C E G A C, its notes alone (nothing held): C major.
        let mut line = Follow::new();
        play_line(
            &mut line,
            [(0.0, 60), (1.0, 64), (2.0, 67), (3.0, 69), (4.0, 72)],
        );
        let c = line.chord().unwrap();
        assert_eq!((c.root, c.tones), (0, 1 << 0 | 1 << 4 | 1 << 7));
        // Then D F A held: what sounds counts twice, D minor outweighs the line's C major.
        strike(&mut line, 5.0, &[62, 65, 69]);
        let d = line.chord().unwrap();
        assert_eq!((d.root, d.tones), (2, 1 << 2 | 1 << 5 | 1 << 9));
        assert_eq!(d.bass_tones(), 1 << 2 | 1 << 9);
        assert_eq!(Follow::new().chord(), None);
    }

    #[test]
    fn alone_a_rest_ends_at_the_rest_ceiling_unless_no_note_may_begin() {
        let follow = Follow::new();
        let logits = vec![0.0; V.size as usize];
        let s = Settings::default();
        let mut m = Mask::new(V, 24);
        let mut at = Situation {
            rest_ceiling_ticks: 12,
            ..nothing_yet(&follow)
        };
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::Shift(12)) && !allowed(&m, Event::Shift(13)));
        // At the ceiling: a note now, no rest at all.
        at.rest_ceiling_ticks = 0;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(60)) && !allowed(&m, Event::Shift(1)));
        // No key may be begun (a range in which every key is in the scale's gaps): the rest goes on.
        let narrow = Settings {
            scale: Scale::Major,
            low: 61,
            high: 61,
            ..Settings::default()
        };
        m.build(&logits, &at, &narrow);
        assert!(allowed(&m, Event::Shift(V.max_shift)) && !allowed(&m, Event::NoteOn(61)));
        // A lead's floor still comes first: only the shift that reaches it.
        at.floor_ticks = 6;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::Shift(6)) && !allowed(&m, Event::NoteOn(60)));
    }

    #[test]
    fn a_role_does_not_move_into_parallel_fifths_or_octaves_with_the_players_outer_part() {
        use crate::chords::Harmony;
        use crate::engine::{Known, Source};
        let logits = vec![0.0; V.size as usize];
        let s = Settings::default();
        let mut m = Mask::new(V, 24);
        // The player holds C5 at the top; Cadenza's bass sounded C3 last: an octave. A step (the
        // melody it doubles moving by step with it) is refused, staying or leaping is not.
        let mut soprano = Follow::new();
        strike(&mut soprano, 0.0, &[72]);
        let at = Situation {
            role: Role::Bass,
            ours_lowest: Some(48),
            ..nothing_yet(&soprano)
        };
        m.build(&logits, &at, &s);
        for (p, ok) in [
            (50, false),
            (46, false),
            (47, false),
            (48, true),
            (53, true),
            (43, true),
        ] {
            assert_eq!(allowed(&m, Event::NoteOn(p)), ok, "bass {p}");
        }
        // A third under the soprano: any step.
        let at = Situation {
            ours_lowest: Some(45),
            ..at
        };
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(47)));
        // The harmony a fifth over the player's bass (G3 over C3, under their C5) at a change to F:
        // the bass will likely go to F3; G3 up to C4 would be a fifth over it again.
        let mut bass = Follow::new();
        strike(&mut bass, 0.0, &[48, 72]);
        let to_f = Known {
            harmony: Harmony::triad(5, false),
            source: Source::Typed,
        };
        let at = Situation {
            role: Role::Harmony,
            ours_lowest: Some(55),
            known: Some(to_f),
            change: true,
            ..nothing_yet(&bass)
        };
        m.build(&logits, &at, &s);
        assert!(!allowed(&m, Event::NoteOn(60)) && allowed(&m, Event::NoteOn(65)));
        assert!(
            !allowed(&m, Event::NoteOn(57)),
            "nor a step (the bass to an inversion)"
        );
        // Not at a change: the bass is not expected to move.
        let at = Situation {
            change: false,
            ..at
        };
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::NoteOn(60)));
    }

    #[test]
    fn an_answers_rest_ends_on_a_sixteenth_or_a_triplet_eighth() {
        let follow = Follow::new();
        let logits = vec![0.0; V.size as usize];
        let s = Settings::default();
        let mut m = Mask::new(V, 24);
        // Five ticks into a beat: a rest of 1 reaches the sixteenth (6), 3 the triplet eighth (8).
        let mut at = Situation {
            phase_ticks: 5,
            rest_on_grid: true,
            ..nothing_yet(&follow)
        };
        m.build(&logits, &at, &s);
        for (k, ok) in [
            (1, true),
            (3, true),
            (2, false),
            (6, false),
            (7, true),
            (11, true),
        ] {
            assert_eq!(allowed(&m, Event::Shift(k)), ok, "shift {k}");
        }
        assert!(
            allowed(&m, Event::NoteOn(60)),
            "the rest is not forced: a note may come now"
        );
        // No grid point in reach under the ceiling: any rest that is allowed.
        at.ceiling_ticks = 0;
        at.floor_ticks = 0;
        at.phase_ticks = 1;
        at.ceiling_ticks = 2;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::Shift(2)) || allowed(&m, Event::NoteOn(60)));
        // Not asked: any rest.
        at.rest_on_grid = false;
        at.ceiling_ticks = u32::MAX;
        m.build(&logits, &at, &s);
        assert!(allowed(&m, Event::Shift(2)));
    }

    #[test]
    fn the_downbeat_is_loudest_and_fixed_dynamics_ignore_the_player() {
        let clock = PlayClock::at(0.0, 120.0);
        let s = Settings {
            accent: 1.0,
            velocity: 0.5,
            ..Settings::default()
        };
        let v = |beat, follow| velocity_at(beat, &clock, follow, &s);
        assert!(v(4.0, None) > v(5.0, None) && v(5.0, None) > v(5.5, None));
        assert!((v(4.0, Some(0.6)) - 0.6 * 1.3).abs() < 1e-6);
        assert_eq!(v(4.0, Some(0.9)), 1.0, "never past full");
        let fixed = Settings {
            dynamics: Dynamics::Fixed,
            ..s
        };
        assert_eq!(velocity_at(4.0, &clock, Some(0.6), &fixed), 0.5 * 1.3);
    }
}
