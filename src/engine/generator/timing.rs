//! Where the plan stands in time: the timing a resync sets anew ([`Timing`]), and the limits on the
//! next token's time that the mask enforces ([`limits`]), a pure function of beats and ticks.

/// Where the generator stands on the audio side's timeline: the fields a resync sets anew, and a
/// played note or a transport start moves on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Timing {
    /// The audio side's timeline (bumped by every jump) and the plan on it (bumped by every
    /// withdrawal): stamped on every generated event, so the audio side drops stale ones.
    pub epoch: u32,
    pub plan: u32,
    /// A resync has come: the generator knows where the playhead is.
    pub synced: bool,
    /// The transport rolls.
    pub playing: bool,
    /// Last note-on of the player (beats), for listening while stopped.
    pub last_played: f64,
    /// Last note-on or note-off of the player: a call ends a gap after it.
    pub last_activity: f64,
    /// The playhead as of the last step: how far the audio side has played on the current timeline.
    pub heard_until: f64,
    /// What the next plan reacts to (a resync's beat, a played note's beat)...
    pub reaction_from: f64,
    /// ...and how long after it the plan may start, in seconds.
    pub reaction_seconds: f64,
    /// A played note awaits the new plan's first note: plan past the lookahead for it (up to
    /// `reaction_from + ANSWER_REACH_BEATS`).
    pub answer_due: bool,
    /// A played note awaits Cadenza's decision at the first tick it may play on: a note there, or
    /// its rest past it (the engine's response; what the model plays later is its own choice).
    pub reacting: bool,
}

impl Timing {
    /// Before the first resync: nothing heard, nothing to plan.
    pub fn unsynced() -> Self {
        Self {
            epoch: 0,
            plan: 0,
            synced: false,
            playing: false,
            last_played: f64::NEG_INFINITY,
            last_activity: f64::NEG_INFINITY,
            heard_until: 0.0,
            reaction_from: 0.0,
            reaction_seconds: super::REACTION_SECONDS,
            answer_due: false,
            reacting: false,
        }
    }

    /// The timing after a resync to timeline `epoch` at beat `start`, the context moved by `shift`
    /// beats onto it: a new plan that reacts to `reaction_from` after the start's lead
    /// (`resync_seconds`). The player's last notes move with the context; a stop forgets them
    /// (while stopped, Cadenza only answers notes played after it).
    pub fn resynced(
        &self,
        epoch: u32,
        playing: bool,
        start: f64,
        shift: f64,
        reaction_from: f64,
        resync_seconds: f64,
    ) -> Self {
        let moved = |b: f64| {
            if playing {
                b + shift
            } else {
                f64::NEG_INFINITY
            }
        };
        Self {
            epoch,
            plan: 0,
            synced: true,
            playing,
            last_played: moved(self.last_played),
            last_activity: moved(self.last_activity),
            heard_until: start,
            reaction_from,
            reaction_seconds: resync_seconds,
            answer_due: false,
            reacting: false,
        }
    }
}

/// The first beat a plan may place anything at: a fixed `lead` after what it reacts to (so the
/// result does not depend on when the engine thread got to run), or after the playhead when the
/// engine is so late that this beat has been played; never inside what the audio side has already
/// played (`open_from`: in real time a whole block is played at once, and a block can be longer than
/// the lead).
pub(super) fn earliest(reaction_from: f64, lead: f64, playhead: f64, open_from: f64) -> f64 {
    let floor = reaction_from + lead;
    if floor < playhead {
        playhead + lead
    } else {
        floor
    }
    .max(open_from)
}

/// What the limits on the next token are computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LimitsIn {
    /// The plan's end (beats), where the next token goes.
    pub cursor: f64,
    /// The first beat anything may be placed at ([`earliest`], or an answer's start).
    pub earliest: f64,
    /// An answer's bar line, which no rest runs past (infinite: none).
    pub bar_line: f64,
    /// Where a silence must end by: its start plus its longest rest (none: no longest rest).
    pub silence_end: Option<f64>,
    /// Call and response: its silences are the player's turn, so no longest rest.
    pub call_response: bool,
    pub ticks_per_beat: f64,
}

/// The limits on the next token, in ticks from the cursor, that the mask enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Limits {
    /// Ticks to the first tick anything may be placed at (0: now).
    pub floor_ticks: u32,
    /// Ticks to the answer's bar line (`u32::MAX`: none).
    pub ceiling_ticks: u32,
    /// Ticks a rest may run at most (`u32::MAX`: no limit).
    pub rest_ceiling_ticks: u32,
    /// The floor's beat.
    pub floor_at: f64,
}

/// The limits on the next token's time (see [`Limits`]).
pub(super) fn limits(i: &LimitsIn) -> Limits {
    let tpb = i.ticks_per_beat;
    let floor_ticks = ((i.earliest - i.cursor) * tpb - 1e-6).ceil().max(0.0) as u32;
    // An answer ends on its bar line: no rest runs past it.
    let ceiling_ticks = if i.bar_line.is_finite() {
        ((i.bar_line - i.cursor) * tpb)
            .round()
            .max(f64::from(floor_ticks.max(1))) as u32
    } else {
        u32::MAX
    };
    let floor_at = i.cursor + f64::from(floor_ticks) / tpb;
    let rest_ceiling_ticks = match i.silence_end {
        Some(end) if !i.call_response => {
            // A silence already past its longest rest (a transport start after a prompt clip, a
            // seek) ends on the first beat Cadenza may play on, not at the floor itself: the
            // start's lead is off the grid, and every later shift would keep the offset.
            let deadline = (end.max(floor_at) - 1e-6).ceil();
            ((deadline - i.cursor) * tpb)
                .round()
                .max(f64::from(floor_ticks)) as u32
        }
        _ => u32::MAX,
    };
    Limits {
        floor_ticks,
        ceiling_ticks,
        rest_ceiling_ticks,
        floor_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cursor: f64, earliest: f64) -> LimitsIn {
        LimitsIn {
            cursor,
            earliest,
            bar_line: f64::INFINITY,
            silence_end: None,
            call_response: false,
            ticks_per_beat: 24.0,
        }
    }

    #[test]
    fn the_floor_is_the_first_whole_tick_at_or_after_the_earliest_beat() {
        assert_eq!(limits(&at(4.0, 3.0)).floor_ticks, 0, "past: now");
        let l = limits(&at(4.0, 4.1));
        assert_eq!(l.floor_ticks, 3, "0.1 beat is 2.4 ticks: the third");
        assert!((l.floor_at - 4.125).abs() < 1e-12);
        assert_eq!(
            limits(&at(4.0, 4.5)).floor_ticks,
            12,
            "exactly on a tick: that tick"
        );
        let free = limits(&at(4.0, 4.0));
        assert_eq!(
            (free.ceiling_ticks, free.rest_ceiling_ticks),
            (u32::MAX, u32::MAX)
        );
    }

    #[test]
    fn an_answer_ends_on_its_bar_line_and_the_ceiling_never_falls_below_the_floor() {
        let mut i = at(6.0, 6.0);
        i.bar_line = 8.0;
        assert_eq!(limits(&i).ceiling_ticks, 48);
        i.earliest = 9.0;
        let l = limits(&i);
        assert_eq!((l.floor_ticks, l.ceiling_ticks), (72, 72));
        i.earliest = 6.0;
        i.bar_line = 6.0;
        assert_eq!(limits(&i).ceiling_ticks, 1, "at least a tick");
    }

    #[test]
    fn a_silence_ends_by_its_longest_rest_on_a_beat_and_never_in_call_and_response() {
        let mut i = at(10.25, 10.25);
        i.silence_end = Some(11.5);
        assert_eq!(
            limits(&i).rest_ceiling_ticks,
            42,
            "to beat 12, the next beat after 11.5"
        );
        i.silence_end = Some(9.0);
        i.earliest = 10.4;
        let l = limits(&i);
        assert_eq!(l.floor_ticks, 4);
        assert_eq!(
            l.rest_ceiling_ticks, 18,
            "already past it: the first beat Cadenza may play on (11), not the floor"
        );
        i.call_response = true;
        assert_eq!(limits(&i).rest_ceiling_ticks, u32::MAX);
    }

    #[test]
    fn the_earliest_beat_is_a_lead_after_the_reaction_unless_the_engine_is_late() {
        assert_eq!(earliest(4.0, 0.5, 3.0, 0.0), 4.5);
        assert_eq!(
            earliest(4.0, 0.5, 5.0, 0.0),
            5.5,
            "late: a lead after the playhead"
        );
        assert_eq!(
            earliest(4.0, 0.5, 3.0, 6.0),
            6.0,
            "never in a block already played"
        );
    }

    #[test]
    fn a_resync_moves_the_players_last_notes_with_the_context_and_a_stop_forgets_them() {
        let mut t = Timing::unsynced();
        t.last_played = 3.0;
        t.last_activity = 3.5;
        t.plan = 7;
        t.answer_due = true;
        let r = t.resynced(2, true, 16.0, 12.0, 16.0, 0.1);
        assert_eq!((r.epoch, r.plan, r.synced, r.playing), (2, 0, true, true));
        assert_eq!(
            (r.last_played, r.last_activity, r.heard_until),
            (15.0, 15.5, 16.0)
        );
        assert_eq!(
            (r.reaction_from, r.reaction_seconds, r.answer_due),
            (16.0, 0.1, false)
        );
        let stopped = t.resynced(3, false, 16.0, 12.0, 16.0, 0.1);
        assert_eq!(stopped.last_played, f64::NEG_INFINITY);
        assert_eq!(stopped.last_activity, f64::NEG_INFINITY);
    }
}
