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
//! Engine thread only; no allocation.

use crate::tokenizer::{Event, Vocab};

/// One token's features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// Bit p set: key p sounds after the token.
    pub held: u128,
    /// Tick within the beat after the token, 0..ticks_per_beat.
    pub phase: u32,
}

impl Features {
    pub fn is_held(&self, pitch: u32) -> bool {
        pitch < 128 && self.held >> pitch & 1 == 1
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

/// The tick within the beat of a time in beats (the nearest tick).
pub fn phase_of(beat: f64, ticks_per_beat: u32) -> u32 {
    let tpb = i64::from(ticks_per_beat.max(1));
    ((beat * tpb as f64).round() as i64).rem_euclid(tpb) as u32
}

/// Features from the tokens alone: keys from none, time from `start_tick` on, moved by the shifts.
/// For a token stream without beats of its own (benchmarks, warm-up, fixtures).
#[derive(Debug, Clone, Copy)]
pub struct Tracker {
    vocab: Vocab,
    ticks_per_beat: u32,
    held: u128,
    tick: u64,
}

impl Tracker {
    pub fn new(vocab: Vocab, ticks_per_beat: u32, start_tick: u64) -> Self {
        Self {
            vocab,
            ticks_per_beat: ticks_per_beat.max(1),
            held: 0,
            tick: start_tick,
        }
    }

    /// The features after `token`, which follows those taken before.
    pub fn take(&mut self, token: u32) -> Features {
        self.held = held_after(self.held, &self.vocab, token);
        if let Some(Event::Shift(k)) = self.vocab.decode(token) {
            self.tick += u64::from(k);
        }
        Features {
            held: self.held,
            phase: (self.tick % u64::from(self.ticks_per_beat)) as u32,
        }
    }

    /// Features of a whole token list from a fresh start at tick 0.
    pub fn of(vocab: Vocab, ticks_per_beat: u32, tokens: &[u32]) -> Vec<Features> {
        let mut t = Self::new(vocab, ticks_per_beat, 0);
        tokens.iter().map(|&x| t.take(x)).collect()
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
