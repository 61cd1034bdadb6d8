//! Hearing the player: a played note withdraws the plan the audio side has not played and joins the
//! context where the [`Listener`](crate::engine::listener) hears it, ahead of Cadenza's tokens after
//! it; releases are heard on the next onset or, once overdue, on the grid.

use super::timeline::Ctx;
use super::{Backend, Generator, REACTION_SECONDS};
use crate::bridge::{Generated, PlayClock};
use crate::midi_file::BeatNote;
use crate::settings::{Mode, Settings};
use crate::tokenizer::Event;

impl<B: Backend> Generator<B> {
    /// The player pressed (`on`) or released key `p` at `beat`. In a duet the plan after what the
    /// audio side has played is withdrawn and the note joins the context where it is heard; in call
    /// and response the answer ends at the call's beat; a soloist (Improvise) only remembers it.
    pub(super) fn played(
        &mut self,
        beat: f64,
        p: u8,
        velocity: f32,
        on: bool,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) {
        let clock = self.clock;
        self.follow.remember(beat, p, velocity, on);
        self.timing.last_activity = beat;
        if on {
            self.timing.last_played = beat;
        }
        if s.mode == Mode::Improvise {
            // A soloist: the player's notes neither enter its context, nor move its plan, nor
            // limit its keys (only "follow player" scale and dynamics listen to them).
            return;
        }
        self.follow.hold(p, on);
        self.timing.heard_until = self.timing.heard_until.max(beat);
        if !on {
            // Heard on the player's next onset when it comes soon (legato), else on the
            // grid once overdue (`hear_overdue`). Nothing to withdraw: Cadenza's plan did
            // not depend on when the key goes up.
            self.listener.release(p, beat);
            return;
        }
        let heard = self.listener.onset(p, beat, clock.tempo);
        if s.mode == Mode::CallResponse {
            // A new call withdraws the answer from its very beat (the audio side silenced
            // it there) and ends what is still sounding, now.
            self.truncate_after(beat - 1e-6);
            self.new_plan(out);
            self.advance_to(beat);
            self.end_our_notes(out);
        } else {
            // Withdraw what the audio side has not played yet (in real time it played the
            // whole block the note came in, in a bounce everything before the block it waits
            // on), except Cadenza's notes up to the beat the note is heard on: planned
            // before it could hear the player, they stay, as a note played on time keeps
            // them.
            let unplayed = clock.open_from.max(beat);
            self.withdraw_after(unplayed, (unplayed - 1e-6).max(heard), s, out);
        }
        self.heard_buf.clear();
        let buf = &mut self.heard_buf;
        self.listener
            .at_onset(beat, heard, clock.tempo, |q, at| buf.push((at, q, false)));
        self.heard_buf.push((heard, p, true));
        self.hear_buffered();
        self.timing.reaction_from = beat;
        self.timing.reaction_seconds = REACTION_SECONDS;
        self.timing.answer_due = true;
        // A call is answered after its gap, not at once: its response is the withdrawal.
        self.timing.reacting = s.mode != Mode::CallResponse;
    }

    /// Put the player's events of `heard_buf` into the context at their heard beats, releases
    /// before onsets at one beat.
    fn hear_buffered(&mut self) {
        let mut events = std::mem::take(&mut self.heard_buf);
        events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
        for &(at, p, on) in &events {
            let open = self.timeline.open_notes().theirs(p);
            if on {
                if open {
                    self.insert_player(at, self.vocab.note_off_base + u32::from(p));
                }
                self.insert_player(at, self.vocab.note_on_base + u32::from(p));
            } else if open {
                self.insert_player(at, self.vocab.note_off_base + u32::from(p));
            }
        }
        events.clear();
        self.heard_buf = events;
    }

    /// Releases whose wait for a legato next note is over by the audio side's position: heard now,
    /// on their grid point. What Cadenza planned without hearing them is withdrawn from a reaction
    /// lead after the audio side's position (the notes inside that lead stay, sent again under the
    /// new plan), so what follows depends on the context, not on how far the engine had planned.
    pub(super) fn hear_overdue(
        &mut self,
        clock: &PlayClock,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) {
        self.hear_releases(clock, clock.open_from, s, out);
    }

    /// [`Self::hear_overdue`] with the wait over for every release played before beat `now`.
    pub(super) fn hear_releases(
        &mut self,
        clock: &PlayClock,
        now: f64,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) {
        if !self.listener.waiting() {
            return;
        }
        self.heard_buf.clear();
        let buf = &mut self.heard_buf;
        self.listener
            .overdue(now, clock.tempo, |q, at| buf.push((at, q, false)));
        if self.heard_buf.is_empty() {
            return;
        }
        self.hear_buffered();
        let lead = REACTION_SECONDS * clock.tempo.max(1.0) / 60.0;
        self.withdraw_after(clock.open_from, clock.open_from + lead - 1e-6, s, out);
        self.timing.reaction_from = clock.open_from;
        self.timing.reaction_seconds = REACTION_SECONDS;
    }

    /// Withdraw Cadenza's plan after beat `keep_until` (a new plan). The notes it keeps from
    /// `unplayed` (what the audio side has not played) on are sent again under the new plan: the
    /// audio side drops an old plan's pending notes when a newer plan arrives.
    pub(super) fn withdraw_after(
        &mut self,
        unplayed: f64,
        keep_until: f64,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) {
        if !self.truncate_after(keep_until) {
            return;
        }
        self.new_plan(out);
        for c in &self.timeline.ctx {
            if c.player || c.beat < unplayed - 1e-9 {
                continue;
            }
            let (pitch, on) = match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => (p, true),
                Some(Event::NoteOff(p)) => (p, false),
                _ => continue,
            };
            let v = if on { self.velocity_at(c.beat, s) } else { 0.0 };
            out(self.note_at(c.beat, pitch, on, v));
        }
    }

    /// Put one of the player's tokens into the context at `beat` (on the tick grid): after
    /// everything of Cadenza's on that beat (Cadenza planned it before it could hear the player),
    /// before whatever comes later, which moves after it. The cache keeps what comes before.
    fn insert_player(&mut self, beat: f64, token: u32) {
        let tl = &mut self.timeline;
        if tl.is_empty() {
            // An empty timeline starts where the player does.
            tl.cursor = tl.cursor.min(beat);
        }
        let end = tl.cursor;
        let keep = tl.count_until(beat);
        let mut tail = std::mem::take(&mut self.tail_buf);
        tail.clear();
        let shift = |c: &&Ctx| matches!(self.vocab.decode(c.token), Some(Event::Shift(_)));
        tail.extend(tl.ctx[keep..].iter().filter(|c| !shift(c)));
        self.cut_to(keep);
        let tl = &mut self.timeline;
        tl.advance_to(beat, false);
        tl.push(token, true);
        tl.replay(&tail);
        tl.advance_to(end, false);
        self.bound();
        self.tail_buf = tail;
    }

    /// The notes the player played from `from` (beats) on, shifted to start at 0: a prompt.
    pub fn capture(&self, from: f64) -> Vec<BeatNote> {
        self.follow.capture(from, self.timing.heard_until)
    }

    /// The last `bars` bars the player played (up to the playhead), as a prompt.
    pub fn capture_bars(&self, bars: u32) -> Vec<BeatNote> {
        self.follow
            .capture_bars(bars, self.timing.heard_until, &self.clock)
    }
}
