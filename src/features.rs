//! Per-token inputs beside the token id, for models of model.json format 3 (the Python side is
//! `models/cadenza_model/features.py`; the golden ring fixture checks that both agree).
//!
//! A transformer that sees only token ids must work out from the window, at every step, which keys
//! are sounding and where in the beat it is; an LSTM carries both in its state. Measured on held-out
//! chorales, the transformer's gap to the LSTM sat on exactly those tokens, so a format 3 model is told:
//! - `held`: the keys sounding after the token, counted from the window's start (a note begun before
//!   the window is not known: training crops are cut the same way);
//! - `phase`: the tick within the beat after the token, on the host's beat grid. The leading style
//!   token carries the phase of the time before the window's first token, and no keys.
//!
//! A format 4 model hears two streams, the player's and Cadenza's (`models/cadenza_model/duet.py`):
//! `held` is then Cadenza's keys and `player_held` the player's (each counted from the window's
//! start), `player` says the token is the player's, and the style token carries the role Cadenza
//! plays in `role`. The engine always computes the split; [`Layout::write`] merges it for a format 3
//! graph, which knew one stream.
//!
//! Engine thread only; no allocation.

use crate::chords::Harmony;
use crate::tokenizer::{Event, Vocab};

/// What a format 5 model is told of the song at a token: the chord sounding, and the next different
/// chord with the whole beats until it (`models/cadenza_model/chords.py`). `None`: not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChordFeature {
    /// The chord sounding.
    pub now: Option<Harmony>,
    /// The next different chord, and the whole beats until it.
    pub next: Option<(Harmony, u8)>,
}

/// Beats until the next chord, one-hot: 0, 1, ... up to this many less one, the last for more.
pub const UNTIL_BUCKETS: u32 = 8;
/// Floats of a format 5 row's chord block: now root, now triad, next root, next triad, until.
pub const CHORD_WIDTH: u32 = 12 * 4 + UNTIL_BUCKETS;

/// One token's features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// Bit p set: Cadenza's key p sounds after the token.
    pub held: u128,
    /// Bit p set: the player's key p sounds after the token (format 4).
    pub player_held: u128,
    /// Tick within the beat after the token, 0..ticks_per_beat.
    pub phase: u32,
    /// The token is the player's (format 4).
    pub player: bool,
    /// On the style token: the role slot Cadenza plays (format 4; slot 0 is "free").
    pub role: Option<u8>,
    /// The chord now and next (format 5).
    pub chord: ChordFeature,
}

impl Features {
    /// Whether Cadenza's key `pitch` sounds after the token.
    pub fn is_held(&self, pitch: u32) -> bool {
        pitch < 128 && self.held >> pitch & 1 == 1
    }
}

/// How a graph wants one token's features as a row of its `features` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// No features (format 2).
    None,
    /// Format 3: every sounding key (both streams), then the phase one-hot.
    OneStream {
        /// Ticks per beat (the phase one-hot's width).
        ticks_per_beat: u32,
    },
    /// Format 4: Cadenza's keys, the player's keys, the phase one-hot, the player flag, the role
    /// slots (`models/cadenza_model/cli/export.py`, `feature_layout`); format 5 (`chords`) then the
    /// chord block ([`CHORD_WIDTH`]).
    TwoStreams {
        /// Ticks per beat (the phase one-hot's width).
        ticks_per_beat: u32,
        /// Role slots on the style token.
        role_slots: u32,
        /// Format 5: the chord block follows.
        chords: bool,
    },
}

impl Layout {
    /// Floats per row.
    pub fn width(&self) -> usize {
        match *self {
            Layout::None => 0,
            Layout::OneStream { ticks_per_beat } => 128 + ticks_per_beat as usize,
            Layout::TwoStreams {
                ticks_per_beat,
                role_slots,
                chords,
            } => {
                257 + (ticks_per_beat + role_slots + if chords { CHORD_WIDTH } else { 0 }) as usize
            }
        }
    }

    /// Whether the graph is told the chords (format 5).
    pub fn hears_chords(&self) -> bool {
        matches!(self, Layout::TwoStreams { chords: true, .. })
    }

    /// Format 4's `feature_layout` block, as model.json must have it.
    pub fn ranges(&self) -> std::collections::BTreeMap<String, [u32; 2]> {
        let mut out = std::collections::BTreeMap::new();
        if let Layout::TwoStreams {
            ticks_per_beat: t,
            role_slots: r,
            chords,
        } = *self
        {
            for (name, range) in [
                ("held", [0, 128]),
                ("player_held", [128, 256]),
                ("phase", [256, 256 + t]),
                ("player", [256 + t, 257 + t]),
                ("role", [257 + t, 257 + t + r]),
            ] {
                out.insert(name.to_string(), range);
            }
            if chords {
                let c = 257 + t + r;
                for (name, range) in [
                    ("chord_root", [c, c + 12]),
                    ("chord", [c + 12, c + 24]),
                    ("next_chord_root", [c + 24, c + 36]),
                    ("next_chord", [c + 36, c + 48]),
                    ("beats_to_next_chord", [c + 48, c + CHORD_WIDTH]),
                ] {
                    out.insert(name.to_string(), range);
                }
            }
        }
        out
    }

    /// Write `f` as one row (`width()` floats).
    pub fn write(&self, f: &Features, row: &mut [f32]) {
        row.fill(0.0);
        let set = |row: &mut [f32], i: usize| {
            if let Some(x) = row.get_mut(i) {
                *x = 1.0;
            }
        };
        let keys = |row: &mut [f32], bits: u128, at: usize| {
            for p in 0..128 {
                if bits >> p & 1 == 1 {
                    set(row, at + p);
                }
            }
        };
        match *self {
            Layout::None => {}
            Layout::OneStream { .. } => {
                keys(row, f.held | f.player_held, 0);
                set(row, 128 + f.phase as usize);
            }
            Layout::TwoStreams {
                ticks_per_beat,
                role_slots,
                chords,
            } => {
                keys(row, f.held, 0);
                keys(row, f.player_held, 128);
                set(row, 256 + f.phase as usize);
                let flag = 256 + ticks_per_beat as usize;
                if f.player {
                    set(row, flag);
                }
                if let Some(r) = f.role.filter(|r| u32::from(*r) < role_slots) {
                    set(row, flag + 1 + r as usize);
                }
                if chords {
                    let at = flag + 1 + role_slots as usize;
                    let classes = |row: &mut [f32], bits: u16, at: usize| {
                        for pc in (0..12).filter(|pc| bits >> pc & 1 == 1) {
                            set(row, at + pc);
                        }
                    };
                    if let Some(now) = f.chord.now {
                        set(row, at + now.root as usize);
                        classes(row, now.triad, at + 12);
                    }
                    if let Some((next, until)) = f.chord.next {
                        set(row, at + 24 + next.root as usize);
                        classes(row, next.triad, at + 36);
                        set(
                            row,
                            at + 48 + usize::from(until).min(UNTIL_BUCKETS as usize - 1),
                        );
                    }
                }
            }
        }
    }
}

/// The keys sounding after `token`, given those sounding before it.
pub fn held_after(held: u128, vocab: &Vocab, token: u32) -> u128 {
    match vocab.decode(token) {
        Some(Event::NoteOn(p)) => held | 1u128 << p,
        Some(Event::NoteOff(p)) => held & !(1u128 << p),
        _ => held,
    }
}

/// (Cadenza's keys, the player's keys) sounding after `token`, the player's (`player`) or Cadenza's,
/// given those sounding before it.
pub fn held_after_owned(
    held: (u128, u128),
    vocab: &Vocab,
    token: u32,
    player: bool,
) -> (u128, u128) {
    if player {
        (held.0, held_after(held.1, vocab, token))
    } else {
        (held_after(held.0, vocab, token), held.1)
    }
}

/// The tick within the beat of a time in beats (the nearest tick).
pub fn phase_of(beat: f64, ticks_per_beat: u32) -> u32 {
    let tpb = i64::from(ticks_per_beat.max(1));
    ((beat * tpb as f64).round() as i64).rem_euclid(tpb) as u32
}

/// Features from the tokens alone, all Cadenza's: keys from none, time from `start_tick` on, moved by
/// the shifts, the role slot 0 on a style token. For a token stream without beats of its own
/// (benchmarks, warm-up, fixtures).
#[derive(Debug, Clone, Copy)]
pub struct Tracker {
    vocab: Vocab,
    ticks_per_beat: u32,
    /// (Cadenza's keys, the player's keys).
    held: (u128, u128),
    tick: u64,
}

impl Tracker {
    /// A tracker that starts at `start_tick` with no key sounding.
    pub fn new(vocab: Vocab, ticks_per_beat: u32, start_tick: u64) -> Self {
        Self {
            vocab,
            ticks_per_beat: ticks_per_beat.max(1),
            held: (0, 0),
            tick: start_tick,
        }
    }

    /// The features after `token` (Cadenza's), which follows those taken before.
    pub fn take(&mut self, token: u32) -> Features {
        self.take_owned(token, false)
    }

    /// The features after `token`, the player's (`player`) or Cadenza's.
    pub fn take_owned(&mut self, token: u32, player: bool) -> Features {
        let event = self.vocab.decode(token);
        let shift = matches!(event, Some(Event::Shift(_)));
        self.held = held_after_owned(self.held, &self.vocab, token, player && !shift);
        if let Some(Event::Shift(k)) = event {
            self.tick += u64::from(k);
        }
        Features {
            held: self.held.0,
            player_held: self.held.1,
            phase: (self.tick % u64::from(self.ticks_per_beat)) as u32,
            player: player && !shift,
            role: matches!(event, Some(Event::Style(_))).then_some(0),
            chord: ChordFeature::default(),
        }
    }

    /// Features of a whole token list from a fresh start at tick 0, all Cadenza's.
    pub fn of(vocab: Vocab, ticks_per_beat: u32, tokens: &[u32]) -> Vec<Features> {
        let mut t = Self::new(vocab, ticks_per_beat, 0);
        tokens.iter().map(|&x| t.take(x)).collect()
    }

    /// Features of a whole token list from tick 0, `players[i]` saying token i is the player's.
    pub fn of_owned(
        vocab: Vocab,
        ticks_per_beat: u32,
        tokens: &[u32],
        players: &[bool],
    ) -> Vec<Features> {
        let mut t = Self::new(vocab, ticks_per_beat, 0);
        (tokens.iter().zip(players))
            .map(|(&x, &p)| t.take_owned(x, p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Note;

    #[test]
    fn keys_and_phase_follow_the_tokens() {
        let v = Vocab::DEFAULT;
        // C4 for a beat, E4 from half a beat for a beat and a half; the same case as features.py's test.
        let mut toks = vec![v.style_base];
        toks.extend(v.notes_to_tokens(&[
            Note {
                onset: 0,
                duration: 24,
                pitch: 60,
            },
            Note {
                onset: 12,
                duration: 36,
                pitch: 64,
            },
        ]));
        let mut t = Tracker::new(v, 24, 6);
        let f: Vec<Features> = toks.iter().map(|&x| t.take(x)).collect();
        let keys = |f: &Features| (0..128).filter(|&p| f.is_held(p)).collect::<Vec<u32>>();
        let sounding: Vec<Vec<u32>> = f.iter().map(keys).collect();
        assert_eq!(
            sounding,
            vec![
                vec![],
                vec![60],
                vec![60],
                vec![60, 64],
                vec![60, 64],
                vec![64],
                vec![64],
                vec![]
            ]
        );
        let phase: Vec<u32> = f.iter().map(|f| f.phase).collect();
        assert_eq!(phase, vec![6, 6, 18, 18, 6, 6, 6, 6]);
    }

    #[test]
    fn a_format_5_row_tells_the_chord_now_the_next_and_the_beats_until_it_where_python_does() {
        // The same places as models/cadenza_model/chords.py's `row_floats`: [now root 12 | now
        // triad 12 | next root 12 | next triad 12 | until 8], after the role slots.
        let layout = Layout::TwoStreams {
            ticks_per_beat: 24,
            role_slots: 4,
            chords: true,
        };
        let at = 257 + 24 + 4;
        assert_eq!(layout.width(), at + CHORD_WIDTH as usize);
        let f = Features {
            chord: ChordFeature {
                now: Some(Harmony::triad(9, true)),
                next: Some((Harmony::triad(5, false), 11)),
            },
            ..Features::default()
        };
        let mut row = vec![0.0; layout.width()];
        layout.write(&f, &mut row);
        let set: Vec<usize> = (at..row.len())
            .filter(|&i| row[i] == 1.0)
            .map(|i| i - at)
            .collect();
        // A (9), {A C E}, F (5), {F A C}, the last bucket (11 beats is "7 or more").
        assert_eq!(set, [9, 12, 16, 21, 29, 36, 41, 45, 55]);
        // Nothing known: zeros, as a format 4 row with a chord block.
        layout.write(&Features::default(), &mut row);
        assert!(row[at..].iter().all(|&x| x == 0.0));
        assert_eq!(
            layout.ranges()["beats_to_next_chord"],
            [at as u32 + 48, at as u32 + 56]
        );
    }

    #[test]
    fn the_phase_of_a_beat_is_its_nearest_tick_even_before_zero() {
        assert_eq!(phase_of(0.0, 24), 0);
        assert_eq!(phase_of(2.5, 24), 12);
        assert_eq!(phase_of(3.999, 24), 0);
        assert_eq!(phase_of(-0.25, 24), 18);
    }
}
