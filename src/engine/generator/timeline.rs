//! The context as a timeline: every token stamped with its beat and its owner (the player's or
//! Cadenza's; shifts are nobody's), a cursor at its end, and the edits the generator makes to it
//! (append, move time on, cut back, replay what was lifted out). It knows nothing of the model's
//! cache: each edit bumps a version, and the cache window compares versions to know whether its
//! logits still follow the context.

use super::MAX_REST_BEATS;
use crate::features::ChordFeature;
use crate::tokenizer::{Event, Vocab};

/// One token of context, the beat at which it happens, whose it is (shifts are nobody's: false),
/// and what the song said of its chords when it was labelled (format 5; see `Timeline::labelled`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ctx {
    pub(super) token: u32,
    pub(super) beat: f64,
    pub(super) player: bool,
    pub(super) chord: ChordFeature,
}

/// Keys with a note sounding in the context, by owner (bit p: key p).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Open {
    pub(super) ours: u128,
    pub(super) theirs: u128,
}

impl Open {
    pub(super) fn ours(&self, p: u8) -> bool {
        self.ours >> p & 1 == 1
    }
    pub(super) fn theirs(&self, p: u8) -> bool {
        self.theirs >> p & 1 == 1
    }
}

pub(super) struct Timeline {
    vocab: Vocab,
    ticks_per_beat: f64,
    pub(super) ctx: Vec<Ctx>,
    /// Context positions dropped from the front of `ctx` (position of ctx[i] = base + i).
    pub(super) base: u64,
    /// Beat of the end of the context.
    pub(super) cursor: f64,
    /// Bumped by every edit of the tokens (not by moving them all in time, nor by dropping the front).
    version: u64,
    /// Tokens before this index carry their chord label (`Ctx::chord`): a token is labelled once,
    /// with what the song knew then, so that a cache rebuilt later feeds it as it was fed first.
    pub(super) labelled: usize,
}

impl Timeline {
    pub(super) fn new(vocab: Vocab, ticks_per_beat: f64) -> Self {
        Self {
            vocab,
            ticks_per_beat,
            ctx: Vec::with_capacity(4096),
            base: 0,
            cursor: 0.0,
            version: 0,
            labelled: 0,
        }
    }

    /// Label each token not yet labelled with `label(beat)`.
    pub(super) fn label(&mut self, mut label: impl FnMut(f64) -> ChordFeature) {
        let from = self.labelled.min(self.ctx.len());
        for c in &mut self.ctx[from..] {
            c.chord = label(c.beat);
        }
        self.labelled = self.ctx.len();
    }

    pub(super) fn len(&self) -> usize {
        self.ctx.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ctx.is_empty()
    }

    /// The context position after the last token.
    pub(super) fn end(&self) -> u64 {
        self.base + self.ctx.len() as u64
    }

    /// Which edit the tokens are at.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// Append a token at the cursor, the player's (`player`) or Cadenza's; a shift moves the cursor.
    pub(super) fn push(&mut self, token: u32, player: bool) {
        let mut beat = self.cursor;
        let shift = if let Some(Event::Shift(k)) = self.vocab.decode(token) {
            beat += f64::from(k) / self.ticks_per_beat;
            self.cursor = beat;
            true
        } else {
            false
        };
        self.ctx.push(Ctx {
            token,
            beat,
            player: player && !shift,
            chord: ChordFeature::default(),
        });
        self.version += 1;
    }

    /// Move the context's time to `beat` with shift tokens, to the nearest tick (or the next one, with
    /// `ceil`); long rests are capped in the context but the time stays true. Only for time that is
    /// the player's or the timeline's (a played note, a prompt), never for Cadenza's own rests: the
    /// model chooses those.
    pub(super) fn advance_to(&mut self, beat: f64, ceil: bool) {
        let x = (beat - self.cursor) * self.ticks_per_beat;
        let ticks = if ceil { (x - 1e-9).ceil() } else { x.round() };
        if ticks <= 0.0 {
            return;
        }
        let cap = MAX_REST_BEATS * self.ticks_per_beat;
        let mut left = ticks.min(cap) as u64;
        let target = self.cursor + ticks / self.ticks_per_beat;
        while left > 0 {
            let k = left.min(u64::from(self.vocab.max_shift));
            self.push(self.vocab.shift_base + k as u32 - 1, false);
            left -= k;
        }
        // A capped rest still puts the context at the true beat.
        self.cursor = target;
        if let Some(last) = self.ctx.last_mut() {
            last.beat = target;
        }
    }

    /// How many tokens happen on or before `beat`.
    pub(super) fn count_until(&self, beat: f64) -> usize {
        self.ctx
            .iter()
            .rposition(|c| c.beat <= beat + 1e-9)
            .map_or(0, |i| i + 1)
    }

    /// Keep the first `keep` tokens; the cursor goes back to the beat before the first one dropped
    /// (on the tick grid). Returns whether any was dropped.
    pub(super) fn cut_to(&mut self, keep: usize) -> bool {
        if keep >= self.ctx.len() {
            return false;
        }
        self.cursor = self.beat_before(keep);
        self.ctx.truncate(keep);
        self.labelled = self.labelled.min(keep);
        self.version += 1;
        true
    }

    /// Put tokens lifted out of the context back at their beats, in order, with their owners.
    pub(super) fn replay(&mut self, tokens: &[Ctx]) {
        for c in tokens {
            self.advance_to(c.beat, false);
            self.push(c.token, c.player);
        }
    }

    /// Forget every token (their positions stay counted).
    pub(super) fn clear(&mut self) {
        self.base += self.ctx.len() as u64;
        self.ctx.clear();
        self.labelled = 0;
        self.version += 1;
    }

    /// Replace the tokens with `tokens` (beats relative to their end, ≤ 0), ending at `start`.
    pub(super) fn load(&mut self, tokens: &[Ctx], start: f64) {
        self.clear();
        self.ctx.extend(tokens.iter().map(|c| Ctx {
            beat: start + c.beat,
            chord: ChordFeature::default(),
            ..*c
        }));
        self.labelled = 0;
        self.cursor = start;
    }

    /// Drop the first `n` tokens, far behind anything that still looks at them.
    pub(super) fn drop_front(&mut self, n: usize) {
        self.ctx.drain(..n);
        self.labelled = self.labelled.saturating_sub(n);
        self.base += n as u64;
    }

    /// Move every token, and the cursor, to start the timeline at `start` (a resync). Returns the
    /// beats they moved by.
    pub(super) fn move_to(&mut self, start: f64) -> f64 {
        let shift = start - self.cursor;
        for c in &mut self.ctx {
            c.beat += shift;
        }
        self.cursor = start;
        shift
    }

    /// The beat just before token `i` happens (its features' phase for a style token).
    pub(super) fn beat_before(&self, i: usize) -> f64 {
        match (
            i.checked_sub(1).and_then(|j| self.ctx.get(j)),
            self.ctx.get(i),
        ) {
            (Some(prev), _) => prev.beat,
            (None, Some(c)) => match self.vocab.decode(c.token) {
                Some(Event::Shift(k)) => c.beat - f64::from(k) / self.ticks_per_beat,
                _ => c.beat,
            },
            (None, None) => self.cursor,
        }
    }

    /// Keys with a note-on in the context and no note-off after it, by owner. The whole context
    /// counts, not just the cache: what is open must not depend on where the cache happens to start.
    pub(super) fn open_notes(&self) -> Open {
        let mut open = Open::default();
        for c in &self.ctx {
            let bits = if c.player {
                &mut open.theirs
            } else {
                &mut open.ours
            };
            match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => *bits |= 1 << p,
                Some(Event::NoteOff(p)) => *bits &= !(1 << p),
                _ => {}
            }
        }
        open
    }

    /// Alone (no token of the player's in the context) and nothing sounding (`open`, from
    /// [`open_notes`](Self::open_notes)): the beat the silence began (the last note's end, or the
    /// context's start when it has no note yet). None otherwise.
    pub(super) fn alone_silent_since(&self, open: Open) -> Option<f64> {
        if open.ours | open.theirs != 0 || self.ctx.iter().any(|c| c.player) {
            return None;
        }
        Some(self.last_note_event(|_| true))
    }

    /// Cadenza's own part silent (none of its keys in `open`): the beat its silence began (its last
    /// note's end, or the context's start when it has played nothing in it), whoever else plays.
    /// None while one of its notes sounds.
    pub(super) fn ours_silent_since(&self, open: Open) -> Option<f64> {
        (open.ours == 0).then(|| self.last_note_event(|c| !c.player))
    }

    /// The beat of the context's last note event that `whose` accepts, or the context's start.
    fn last_note_event(&self, whose: impl Fn(&Ctx) -> bool) -> f64 {
        let last_note = self.ctx.iter().rev().find(|c| {
            whose(c)
                && matches!(
                    self.vocab.decode(c.token),
                    Some(Event::NoteOn(_)) | Some(Event::NoteOff(_))
                )
        });
        last_note.map_or_else(|| self.beat_before(0), |c| c.beat)
    }

    /// Cadenza's lowest key sounding (`open`), else the lowest of the last it struck: the note its
    /// lowest line moves on from.
    pub(super) fn ours_lowest(&self, open: Open) -> Option<u8> {
        if open.ours != 0 {
            return Some(open.ours.trailing_zeros() as u8);
        }
        let last =
            self.ctx.iter().rev().find(|c| {
                !c.player && matches!(self.vocab.decode(c.token), Some(Event::NoteOn(_)))
            })?;
        let at = last.beat;
        (self.ctx.iter().rev())
            .take_while(|c| c.beat >= at - 1e-9)
            .filter(|c| !c.player)
            .filter_map(|c| match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => Some(p),
                _ => None,
            })
            .min()
    }

    /// Cadenza's keys struck since the last rest (at the cursor's tick).
    pub(super) fn begun_now(&self) -> u128 {
        let mut begun = 0u128;
        for c in self.ctx.iter().rev() {
            match self.vocab.decode(c.token) {
                Some(Event::Shift(_)) => break,
                Some(Event::NoteOn(p)) if !c.player => begun |= 1 << p,
                _ => {}
            }
        }
        begun
    }

    /// Cadenza's keys whose open note began before token `start` (by owner: the player's are
    /// theirs to end).
    pub(super) fn ours_open_before(&self, start: usize) -> u128 {
        let mut opened_at: [Option<usize>; 128] = [None; 128];
        for (i, c) in self.ctx.iter().enumerate().filter(|(_, c)| !c.player) {
            match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => opened_at[p as usize] = Some(i),
                Some(Event::NoteOff(p)) => opened_at[p as usize] = None,
                _ => {}
            }
        }
        (0..128u8)
            .filter(|&p| opened_at[p as usize].is_some_and(|i| i < start))
            .fold(0, |m, p| m | 1 << p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Vocab = Vocab::DEFAULT;

    fn on(p: u8) -> u32 {
        V.note_on_base + u32::from(p)
    }
    fn off(p: u8) -> u32 {
        V.note_off_base + u32::from(p)
    }

    #[test]
    fn tokens_get_the_cursors_beat_and_owners_and_time_moves_on_the_tick_grid() {
        let mut t = Timeline::new(V, 24.0);
        t.push(on(60), true);
        t.advance_to(0.51, false);
        assert_eq!(t.cursor, 0.5);
        t.push(on(64), false);
        // A long rest is capped in tokens but the time stays true.
        t.advance_to(20.0, true);
        assert_eq!(t.cursor, 20.0);
        let shifts: u32 = (t.ctx.iter())
            .filter_map(|c| match V.decode(c.token) {
                Some(Event::Shift(k)) => Some(k),
                _ => None,
            })
            .sum();
        assert_eq!(f64::from(shifts), 12.0 + 4.0 * 24.0);
        assert!(t.ctx[0].player && !t.ctx[1].player && !t.ctx[2].player);
        let open = t.open_notes();
        assert!(open.theirs(60) && open.ours(64) && !open.ours(60));
    }

    #[test]
    fn cadenzas_silence_begins_at_its_last_notes_end_whoever_else_plays() {
        let mut t = Timeline::new(V, 24.0);
        t.advance_to(1.0, false);
        t.push(on(48), true);
        // Nothing of Cadenza's yet: silent since the context's start; the player's note does not
        // count, and Cadenza is not alone.
        assert_eq!(t.ours_silent_since(t.open_notes()), Some(0.0));
        assert_eq!(t.alone_silent_since(t.open_notes()), None);
        t.push(on(67), false);
        t.advance_to(2.5, false);
        assert_eq!(t.ours_silent_since(t.open_notes()), None, "its note sounds");
        t.push(off(67), false);
        t.advance_to(3.0, false);
        t.push(off(48), true);
        t.push(on(50), true);
        assert_eq!(t.ours_silent_since(t.open_notes()), Some(2.5));
    }

    #[test]
    fn a_cut_goes_back_to_the_beat_before_and_a_replay_puts_tokens_back_with_their_owners() {
        let mut t = Timeline::new(V, 24.0);
        t.push(on(60), false);
        t.advance_to(1.0, false);
        t.push(on(62), true);
        t.advance_to(2.0, false);
        t.push(off(60), false);
        let v = t.version();
        let keep = t.count_until(1.0);
        // What the generator replays: the tokens, never the shifts (time is the replay's own).
        let tail: Vec<Ctx> = (t.ctx[keep..].iter())
            .filter(|c| !matches!(V.decode(c.token), Some(Event::Shift(_))))
            .copied()
            .collect();
        assert!(t.cut_to(keep));
        assert!(t.version() > v);
        assert_eq!(t.cursor, 1.0);
        assert!(!t.cut_to(keep), "nothing left to cut");
        t.replay(&tail);
        assert_eq!(t.cursor, 2.0);
        assert_eq!(
            t.ctx.last().map(|c| (c.token, c.player)),
            Some((off(60), false))
        );
        assert_eq!(t.begun_now(), 0);
        t.push(on(67), false);
        assert_eq!(t.begun_now(), 1 << 67);
    }

    #[test]
    fn positions_survive_dropping_the_front_and_clearing() {
        let mut t = Timeline::new(V, 24.0);
        for p in 60..70 {
            t.push(on(p), false);
            t.advance_to(t.cursor + 1.0, false);
        }
        let end = t.end();
        let v = t.version();
        t.drop_front(4);
        assert_eq!((t.end(), t.version()), (end, v));
        assert_eq!(t.ours_open_before(1), 1 << 62);
        assert_eq!(t.ours_open_before(t.len()).count_ones(), 8);
        t.clear();
        assert_eq!((t.end(), t.len()), (end, 0));
        assert!(t.version() > v);
        assert_eq!(t.move_to(3.0), 3.0 - 10.0);
    }
}
