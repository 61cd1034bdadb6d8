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

use crate::model::ModelSpec;
use crate::tokenizer::{Event, Vocab};

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
}

impl Features {
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
    OneStream { ticks_per_beat: u32 },
    /// Format 4: Cadenza's keys, the player's keys, the phase one-hot, the player flag, the role
    /// slots (`models/cadenza_model/export.py`, `feature_layout`).
    TwoStreams {
        ticks_per_beat: u32,
        role_slots: u32,
    },
}

impl Layout {
    pub fn of(spec: &ModelSpec) -> Self {
        let ticks_per_beat = spec.ticks_per_beat;
        if spec.two_streams() {
            Layout::TwoStreams {
                ticks_per_beat,
                role_slots: spec.role_slots,
            }
        } else if spec.has_features() {
            Layout::OneStream { ticks_per_beat }
        } else {
            Layout::None
        }
    }

    /// Floats per row.
    pub fn width(&self) -> usize {
        match *self {
            Layout::None => 0,
            Layout::OneStream { ticks_per_beat } => 128 + ticks_per_beat as usize,
            Layout::TwoStreams {
                ticks_per_beat,
                role_slots,
            } => 257 + (ticks_per_beat + role_slots) as usize,
        }
    }

    /// Format 4's `feature_layout` block, as model.json must have it.
    pub fn ranges(&self) -> std::collections::BTreeMap<String, [u32; 2]> {
        let mut out = std::collections::BTreeMap::new();
        if let Layout::TwoStreams {
            ticks_per_beat: t,
            role_slots: r,
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
    fn the_phase_of_a_beat_is_its_nearest_tick_even_before_zero() {
        assert_eq!(phase_of(0.0, 24), 0);
        assert_eq!(phase_of(2.5, 24), 12);
        assert_eq!(phase_of(3.999, 24), 0);
        assert_eq!(phase_of(-0.25, 24), 18);
    }
}
