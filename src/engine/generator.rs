//! The generation loop's logic, free of threads and of ONNX Runtime (a [`Backend`] gives logits).
//!
//! It keeps the musical context (played and generated tokens, each stamped with its beat), keeps the
//! backend's KV cache in step with it, and plans generated notes ahead of the playhead:
//! - the context holds two streams (model format 4): every token is the player's or Cadenza's. The
//!   player's notes are context the model never predicts, and never Cadenza's to end or to strike
//!   again;
//! - a played note withdraws every generated token the audio side has not played yet (a new *plan*),
//!   then joins the context where it is *heard* ([`listener`](super::listener): on the grid the model
//!   learned, releases legato as a score writes them), ahead of Cadenza's tokens after it (not in
//!   Improvise mode, which plays on its own); the new plan runs on past the lookahead to its first
//!   note (up to [`ANSWER_REACH_BEATS`]), so the answer is queued as soon as computed;
//! - constraints are masks, never tokens: what cannot be placed in time (before the reaction lead
//!   after a played note or a transport start, before the end of a block the host already
//!   processed, before a call and response answer may start) is refused in the sampler's mask, and
//!   the model's own shifts reach it. The probability the mask takes away is counted
//!   ([`MaskStats`]): a mask that keeps overruling the model is a design fault;
//! - a silence has a longest rest, refused in the mask like any lead: alone, nobody's
//!   ([`ALONE_REST_BEATS`]); beside a player, Cadenza's part's ([`ROLE_REST_BEATS`] in a role,
//!   [`FREE_REST_BARS`] as Free); none in call and response;
//! - a resync (the audio timeline jumped) voids all planned notes and restarts time at the new beat;
//! - call and response plans only inside the answer window that follows the player's last phrase;
//! - the cache holds [STYLE] + the context from an *anchor* on a fixed lattice of context positions, so
//!   what the model sees before each token depends only on the context, never on how far the engine
//!   had planned when the player played: with the per-position sampling seed, the same seed and the
//!   same input give the same output;
//! - while idle, [`Generator::prepare`] builds the cache of the *next* anchor in one of the backend's
//!   spare caches, a token at a time, and the window's previous cache stays in the other: moving
//!   the window on, or back after a rollback across a fresh anchor, costs a swap and a step
//!   instead of re-feeding half a window.
//!
//! Generated notes are stamped on the tick grid of the host's beats.
//!
//! The parts, each in its own file: [`timeline`] (the context's tokens on their beats, by owner),
//! [`window`] (the KV cache over it, and the [`Backend`] contract), [`follow`] (what is remembered of
//! the player: keys held, recent notes, capture), [`policy`] (the mask, its statistics, velocities),
//! and [`super::listener`] (when the player's notes are heard). This file is the plan: messages in,
//! one token per step out.

use super::backend::{Backend, BackendError};
use super::listener::Listener;
use crate::bridge::{Generated, PlayClock, ToEngine};
use crate::chords::ChordTrack;
use crate::midi_file::BeatNote;
use crate::sampler::Sampler;
use crate::settings::{AnswerStart, Mode, Role, Settings};
use crate::tokenizer::{Event, Note, Vocab};
use follow::Follow;
pub use policy::MaskStats;
use policy::{Mask, Situation};
use song::Song;
pub use song::{Known, SongView, Source};
use timeline::{Ctx, Open, Timeline};
use timing::{limits, Limits, LimitsIn, Timing};
use window::Window;

mod follow;
mod hearing;
mod policy;
mod song;
mod timeline;
mod timing;
mod window;

/// After a played note, the engine plans on past its lookahead until the new plan's first note, up to
/// this many beats after the note: the answer is in the audio side's queue, stamped with its beat,
/// as soon as it is computed, whatever rest the model chose before it. It sounds on the same beat as
/// when planned later; the audio side just has it sooner (and a late engine cannot make it late).
pub const ANSWER_REACH_BEATS: f64 = 8.0;
/// With the transport stopped, the engine plays while the player played within this many beats.
pub const LISTEN_BEATS_WHEN_STOPPED: f64 = 16.0;
/// A silence longer than this enters the context as this long (the model needs no exact long rests).
pub const MAX_REST_BEATS: f64 = 4.0;
/// Alone (nobody else's note in the context), Cadenza rests at most this long, to the next beat:
/// the corpus's 16-bar excerpts rest 0.2-0.6 beats at their longest (style_check.py), a phrase's end
/// two. The model was never taught a longer silence with nobody playing, and in one 16-bar sketch
/// in five it fell into one and never came out (folk: 39-51 silent beats; 12 seeds).
pub const ALONE_REST_BEATS: f64 = 2.0;
/// Beside a player, in a role (the musician asked for a part: a bass, a melody), Cadenza's part rests
/// at most this long, to the next beat: the part asked for keeps playing. The model learned that a
/// silent partner beside a player is trading phrases or waiting to join a canon, so its chance of
/// beginning its part is a fifth to a third per note the player plays, and every played note
/// withdraws the plan and asks again; a chorale's soprano or bass rests a beat at most in nine
/// pieces of ten. (Measured: CHANGELOG.md, "Why the melody fell silent".)
pub const ROLE_REST_BEATS: f64 = 2.0;
/// Beside a player, as Free, Cadenza rests at most this many bars, to the next beat: a duet's
/// partner may leave the player a bar, not the take (the cause of [`ROLE_REST_BEATS`]; two beats
/// measured no better: CHANGELOG.md, "Free's longest rest beside a player"). Call and response rests
/// are the player's.
pub const FREE_REST_BARS: f64 = 1.0;
/// The engine never plans a note sooner than this after what it reacts to (a transport start, a
/// played note): it needs a moment, and a note that reaches the audio thread after its sample is late.
pub const REACTION_SECONDS: f64 = 0.03;
/// The lead after a transport start, seek or loop: the engine may have a whole context to rebuild
/// (a prompt clip, a new style) before its first note, and a late first note would start the take
/// off the grid.
pub const RESYNC_SECONDS: f64 = 0.1;

/// Where the next token may go (see [`Generator::step`]).
struct Bounds {
    /// The first beat anything may be placed at.
    earliest: f64,
    /// An answer's bar line, which no rest runs past (infinite: none).
    bar_line: f64,
    /// Where an answer ends (a hair before its bar line; infinite: none).
    answer_end: f64,
}

/// What a [`Generator::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It planned a token (or ended an answer's notes): call again.
    Planned,
    /// Nothing to plan now (the plan reaches its lookahead, or the engine is not active).
    Idle,
}

impl Step {
    /// Whether it planned (call again).
    pub fn planned(self) -> bool {
        self == Step::Planned
    }
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The backend gave no logits; the cache is rebuilt from the context at the next step.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The mask refused every token (a contract fault between the mask and the vocabulary).
    #[error("the mask allowed no token")]
    NoTokenAllowed,
}

/// The plan: the musical context, the model's cache over it, and the notes planned ahead.
pub struct Generator<B: Backend> {
    vocab: Vocab,
    ticks_per_beat: f64,
    n_styles: u32,
    /// The roles the model lists (model.json, slot order), and those each style slot plays (none
    /// listed: all); a role not among them plays as Free.
    roles: Vec<String>,
    style_roles: Vec<Vec<String>>,
    /// The model reads no role slot as Cadenza alone (model.json's `alone`).
    knows_alone: bool,
    /// The prompt clip is Cadenza's own line (a sketch's), not the player's.
    prompt_ours: bool,
    /// The context: every token on its beat, by owner.
    timeline: Timeline,
    /// The model's cache over the timeline (and the backend itself).
    window: Window<B>,
    /// The player's keys, recent notes and level, and what they played.
    follow: Follow,
    /// The chords known ahead: typed, heard on an earlier pass, repeated.
    song: Song,
    /// The model is told the chords (format 5): each context token is labelled with the song's.
    hears_chords: bool,
    /// The song's knowledge the plan was made with (`Song::generation`).
    song_seen: u64,
    /// How the player is heard (when their notes join the context).
    listener: Listener,
    sampler: Sampler,
    /// What the model may write next.
    mask: Mask,
    /// Where the plan stands on the audio side's timeline: what a resync sets anew.
    timing: Timing,
    /// The lead after a transport start, seek or loop ([`RESYNC_SECONDS`]; none offline).
    resync_seconds: f64,
    /// Played notes Cadenza has decided its response to, since the last report.
    reactions: u64,
    /// The audio side's bar grid and tempo as of the last step.
    clock: PlayClock,
    /// The prompt as tokens with beats relative to its end (≤ 0).
    prompt: Vec<Ctx>,
    /// Context tokens lifted out while a player's token goes in before them (reused).
    tail_buf: Vec<Ctx>,
    /// Player's events heard at once, (beat, pitch, on) (reused).
    heard_buf: Vec<(f64, u8, bool)>,
}

impl<B: Backend> Generator<B> {
    /// A generator over `backend` for a model of `vocab`, `ticks_per_beat` and `n_styles` styles; it plans nothing before the first resync.
    pub fn new(backend: B, vocab: Vocab, ticks_per_beat: u32, n_styles: u32) -> Self {
        let tpb = f64::from(ticks_per_beat);
        Self {
            vocab,
            ticks_per_beat: tpb,
            n_styles: n_styles.max(1),
            roles: vec![Role::Free.key().to_string()],
            style_roles: Vec::new(),
            knows_alone: false,
            prompt_ours: false,
            timeline: Timeline::new(vocab, tpb),
            window: Window::new(backend, vocab, tpb),
            follow: Follow::new(),
            song: Song::new(),
            hears_chords: false,
            song_seen: 0,
            listener: Listener::new(ticks_per_beat),
            sampler: Sampler::new(vocab.size as usize, 0),
            mask: Mask::new(vocab, ticks_per_beat),
            timing: Timing::unsynced(),
            resync_seconds: RESYNC_SECONDS,
            reactions: 0,
            clock: PlayClock::at(0.0, 120.0),
            prompt: Vec::new(),
            tail_buf: Vec::with_capacity(4096),
            heard_buf: Vec::with_capacity(256),
        }
    }

    /// The roles the model plays, in its role slots' order (model.json's `roles`; Free alone before),
    /// and those each style slot plays (`ModelSpec::roles_by_slot`; empty: every style all of them).
    pub fn set_roles(&mut self, roles: &[String], by_style: Vec<Vec<String>>) {
        self.roles = roles.to_vec();
        self.style_roles = by_style;
    }

    /// Whether the model reads no role slot as Cadenza alone (model.json's `alone`).
    pub fn set_knows_alone(&mut self, knows: bool) {
        self.knows_alone = knows;
    }

    /// Whether the model is told the chords (model.json format 5): the context's tokens are
    /// labelled with what the song knows of them.
    pub fn set_hears_chords(&mut self, hears: bool) {
        self.hears_chords = hears;
    }

    /// The chord track the musician typed (`None`: none). The bass's and the harmony's leads aim at
    /// its chords, and a format 5 model is told them.
    pub fn set_chord_track(&mut self, track: Option<ChordTrack>) {
        self.song.set_track(track);
    }

    /// What the song knows around the playhead, for the editor's chord lane.
    pub fn song_view(&self) -> SongView {
        self.song.view(self.timing.heard_until)
    }

    /// The progression heard, as chord-track text (Learn Chords): the repeated period, the host's
    /// loop, else the last four bars. `None` when no chord was heard.
    pub fn learned_chords(&self) -> Option<String> {
        self.song.learned_text(4)
    }

    /// Label the context's new tokens with the song's chords (format 5).
    fn label_chords(&mut self) {
        if self.hears_chords {
            let song = &self.song;
            self.timeline.label(|beat| song.feature_at(beat));
        }
    }

    /// Offline (a sketch written as fast as it goes, no audio thread to reach in time): no lead
    /// after the start, so a timeline with nothing heard begins on the start's own beat.
    pub fn set_offline(&mut self) {
        self.resync_seconds = 0.0;
    }

    /// Whether Cadenza plays Free with nobody else to play, told to a model that knows it (no role
    /// slot on the style token): in Improvise, whose context never holds the player's notes, and
    /// in a sketch continuing its own prompt (Continue with Cadenza's clip: the command line, with
    /// no part to play against). Beside a player who has not come in yet it is not alone; a role
    /// asked for alone (a bass line to play over in Improvise) stays that role.
    fn alone(&self, s: &Settings, style: u32) -> bool {
        self.knows_alone
            && self.played_role(s.role, style) == Role::Free
            && (s.mode == Mode::Improvise || (s.mode == Mode::Continue && self.prompt_ours))
    }

    /// The role slot `role` plays in with style slot `style`: its own when the model plays it in that
    /// style, else Free's.
    pub fn role_slot(&self, role: Role, style: u32) -> u8 {
        let played = self.played_role(role, style);
        (played.slot_in(&self.roles))
            .or_else(|| Role::Free.slot_in(&self.roles))
            .unwrap_or(0)
    }

    /// The role Cadenza plays when asked for `role` in style slot `style`: Free when the model does
    /// not play it there.
    fn played_role(&self, role: Role, style: u32) -> Role {
        let in_style = (self.style_roles.get(style as usize))
            .is_none_or(|roles| roles.iter().any(|r| r == role.key()));
        if in_style && role.slot_in(&self.roles).is_some() {
            role
        } else {
            Role::Free
        }
    }

    /// What the mask took away since the last call (then starts counting afresh).
    pub fn take_mask_stats(&mut self) -> MaskStats {
        std::mem::take(&mut self.mask.stats)
    }

    /// Set the prompt clip (beats from its start). It primes the model at every transport start in
    /// Continue mode: as the player's (`players`: the plugin's clip is the bars you captured, and
    /// Cadenza plays on with you or after you), or as Cadenza's own line to continue (a sketch's
    /// prompt on the command line).
    pub fn set_prompt(&mut self, notes: &[BeatNote], players: bool) {
        let tpb = self.ticks_per_beat;
        self.prompt_ours = !players;
        let notes: Vec<Note> = notes
            .iter()
            .filter(|n| n.length > 0.0 && n.beat >= 0.0)
            .map(|n| Note {
                onset: (n.beat * tpb).round() as u64,
                duration: ((n.length * tpb).round() as u64).max(1),
                pitch: n.pitch.min(127),
            })
            .collect();
        let tokens = self.vocab.notes_to_tokens(&notes);
        let mut beat = 0.0;
        self.prompt.clear();
        for t in tokens {
            // A shift is nobody's; the clip's notes are the player's when `players`.
            let mut ours = !players;
            if let Some(Event::Shift(k)) = self.vocab.decode(t) {
                beat += f64::from(k) / tpb;
                ours = true;
            }
            self.prompt.push(Ctx {
                token: t,
                beat,
                player: !ours,
                chord: Default::default(),
            });
        }
        let end = beat;
        for c in &mut self.prompt {
            c.beat -= end;
        }
    }

    /// Prompt tokens (for tests and the status).
    pub fn prompt_len(&self) -> usize {
        self.prompt.len()
    }

    /// Handle one message from the audio side; `out` takes note-offs it must send at once (a call
    /// cutting an answer short). `clock`: where the audio side is, read after the message arrived (it
    /// publishes the clock of a block before it sends the block's messages).
    pub fn on_message(
        &mut self,
        msg: ToEngine,
        clock: PlayClock,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) {
        self.clock = clock;
        match msg {
            ToEngine::Resync {
                beat,
                playing,
                epoch,
                heard_until,
                jumped,
            } => {
                // What was planned but not played on the old timeline is void, and the audio side
                // ended every sounding note. The music played so far stays as context (unless the
                // settings say otherwise), moved onto the new timeline so that it ends where the
                // new one starts.
                self.truncate_after(heard_until);
                self.listener.clear();
                self.close_open_notes();
                // The context's beats move (and their phases with them): a spare built on the old
                // ones is not what a re-anchor would build now.
                self.window.drop_spares();
                let start = (beat * self.ticks_per_beat - 1e-9).ceil() / self.ticks_per_beat;
                let shift = self.timeline.move_to(start);
                if jumped && s.reset_on_jump {
                    self.clear_context();
                }
                if playing && s.mode == Mode::Continue {
                    self.load_prompt(start);
                }
                let mut reaction_from = start;
                if playing && self.timeline.is_empty() {
                    // Nothing heard yet: the timeline begins on the first beat Cadenza may play on
                    // (the first after the start's lead). Its first token is then its own choice,
                    // never a rest the lead forced on it, which a model reads as waiting for the
                    // player; and it is chosen on the beat, where every piece it learned from has
                    // its tokens. Begun on the lead's own tick (5 of 24 at 120 BPM), a phase no
                    // piece starts on, the model's shifts kept that offset for whole takes
                    // (classical, nobody playing: 3 seeds of 8 off the sixteenth grid).
                    let lead = self.resync_seconds * clock.tempo.max(1.0) / 60.0;
                    self.timeline.cursor = (beat + lead - 1e-9).ceil();
                    reaction_from = beat;
                }
                self.timing = self.timing.resynced(
                    epoch,
                    playing,
                    start,
                    shift,
                    reaction_from,
                    self.resync_seconds,
                );
            }
            ToEngine::Played {
                beat,
                pitch,
                velocity,
                on,
            } => self.played(beat, pitch.min(127), velocity, on, s, out),
        }
    }

    /// Start a new plan (what was planned after the context's end is withdrawn) and tell the audio
    /// side at once, so the withdrawn notes go even when the new plan opens with a rest.
    fn new_plan(&mut self, out: &mut impl FnMut(Generated)) {
        self.timing.plan += 1;
        out(Generated::plan_mark(
            self.timing.epoch,
            self.timing.plan,
            self.timeline.cursor,
        ));
    }

    /// Should the engine be planning now?
    pub fn active(&self, playhead: f64, s: &Settings) -> bool {
        let listen = match s.mode {
            Mode::CallResponse => LISTEN_BEATS_WHEN_STOPPED.max(
                s.listen_gap_beats + f64::from(s.answer_bars) * self.clock.beats_per_bar + 1.0,
            ),
            _ => LISTEN_BEATS_WHEN_STOPPED,
        };
        self.timing.synced && (self.timing.playing || playhead - self.timing.last_played < listen)
    }

    /// Call and response: the beats of the answer to the player's last phrase, once no key is held.
    pub fn answer_window(&self, s: &Settings) -> Option<(f64, f64)> {
        if self.follow.holds_any() || !self.timing.last_activity.is_finite() {
            return None;
        }
        let start = self.clock.next_grid(
            self.timing.last_activity + s.listen_gap_beats,
            s.answer_start == AnswerStart::NextBar,
        );
        Some((
            start,
            start + f64::from(s.answer_bars) * self.clock.beats_per_bar,
        ))
    }

    /// Generate one token if the plan is short of the lookahead, or end an answer that is over.
    pub fn step(
        &mut self,
        clock: PlayClock,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) -> Result<Step, GenerateError> {
        self.clock = clock;
        let playhead = clock.playhead;
        self.timing.heard_until = playhead;
        self.listen(&clock, s, out);
        if !self.active(playhead, s) {
            return Ok(Step::Idle);
        }
        self.follow_style_and_role(s, playhead, out);
        let Some(bounds) = self.bounds(&clock, s, out) else {
            return Ok(Step::Idle);
        };
        let cursor = self.timeline.cursor;
        if cursor >= bounds.answer_end {
            // The answer is over: end what still sounds, then listen.
            return Ok(if self.end_our_notes(out) {
                Step::Planned
            } else {
                Step::Idle
            });
        }
        let mut reach = playhead + s.lookahead_beats;
        if self.timing.answer_due {
            reach = reach.max(self.timing.reaction_from + ANSWER_REACH_BEATS);
        }
        if cursor >= reach {
            return Ok(Step::Idle);
        }
        self.end_notes_leaving_window(out);
        self.label_chords();
        self.window.sync(&self.timeline)?;
        self.next_token(&clock, s, &bounds, out)
    }

    /// Before planning: hear what is due, and let the song's knowledge move on; what was planned
    /// on the old knowledge and not yet played is planned again.
    fn listen(&mut self, clock: &PlayClock, s: &Settings, out: &mut impl FnMut(Generated)) {
        self.hear_overdue(clock, s, out);
        self.song.set_remember(s.remember_chords);
        self.song.hear(clock, &self.follow);
        if self.song.generation() != self.song_seen {
            // What is expected ahead changed (a period found, the player against the chord
            // track, a new track): not an answer in call and response, which is planned in its
            // window.
            self.song_seen = self.song.generation();
            if s.mode != Mode::CallResponse && self.timeline.cursor > clock.open_from {
                self.withdraw_after(clock.open_from, clock.open_from - 1e-6, s, out);
            }
        }
    }

    /// A new style or role: withdraw what was planned and restart the cache on the new style token
    /// (which carries the role).
    fn follow_style_and_role(
        &mut self,
        s: &Settings,
        playhead: f64,
        out: &mut impl FnMut(Generated),
    ) {
        let style = if s.style < self.n_styles { s.style } else { 0 };
        let role = (!self.alone(s, style)).then(|| self.role_slot(s.role, style));
        if (style, role) != (self.window.style, self.window.role) {
            if self.truncate_after(playhead) {
                self.new_plan(out);
            }
            self.window.set_head(style, role);
        }
    }

    /// Where the next token may go: from the reaction's lead, and in call and response inside the
    /// answer's window (`None`: no answer is due).
    fn bounds(
        &mut self,
        clock: &PlayClock,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) -> Option<Bounds> {
        let lead = self.timing.reaction_seconds * clock.tempo.max(1.0) / 60.0;
        let earliest = timing::earliest(
            self.timing.reaction_from,
            lead,
            clock.playhead,
            clock.open_from,
        );
        if s.mode != Mode::CallResponse {
            return Some(Bounds {
                earliest,
                bar_line: f64::INFINITY,
                answer_end: f64::INFINITY,
            });
        }
        let (start, end) = self.answer_window(s)?;
        // No key held for the listening gap: the call is over, its last releases are heard now (no
        // legato next note can come), before the answer is planned.
        self.hear_releases(clock, f64::INFINITY, s, out);
        Some(Bounds {
            earliest: earliest.max(start),
            bar_line: end,
            // The cursor sums shifts of 1/24 beat in floating point and may land a hair short of
            // the bar line: a note half a tick from the end starts on it, after the answer.
            answer_end: end - 0.5 / self.ticks_per_beat,
        })
    }

    /// The limits on the next token's time at the cursor: its lead, an answer's bar line, and a
    /// silence's longest rest. Alone and silent, or Cadenza's part silent beside a player, it rests
    /// no longer than ALONE_REST_BEATS, ROLE_REST_BEATS in a role or FREE_REST_BARS as Free, to the
    /// next beat after it (on the grid). Not in call and response, whose silences are the player's
    /// turn.
    fn limits_at(
        &self,
        clock: &PlayClock,
        s: &Settings,
        bounds: &Bounds,
        open: Open,
        role: Role,
    ) -> Limits {
        let longest_rest = if role == Role::Free {
            FREE_REST_BARS * clock.beats_per_bar.max(1.0)
        } else {
            ROLE_REST_BEATS
        };
        let silence_end = match self.timeline.alone_silent_since(open) {
            Some(since) => Some(since + ALONE_REST_BEATS),
            None => self
                .timeline
                .ours_silent_since(open)
                .map(|since| since + longest_rest),
        };
        limits(&LimitsIn {
            cursor: self.timeline.cursor,
            earliest: bounds.earliest,
            bar_line: bounds.bar_line,
            silence_end,
            call_response: s.mode == Mode::CallResponse,
            ticks_per_beat: self.ticks_per_beat,
        })
    }

    /// Sample the next token under the mask, play it, and count a response decided.
    fn next_token(
        &mut self,
        clock: &PlayClock,
        s: &Settings,
        bounds: &Bounds,
        out: &mut impl FnMut(Generated),
    ) -> Result<Step, GenerateError> {
        let cursor = self.timeline.cursor;
        let open = self.timeline.open_notes();
        let role = self.played_role(s.role, self.window.style);
        let limits = self.limits_at(clock, s, bounds, open, role);
        let situation = Situation {
            open,
            begun_now: self.timeline.begun_now(),
            follow: &self.follow,
            floor_ticks: limits.floor_ticks,
            ceiling_ticks: limits.ceiling_ticks,
            role,
            strong_beat: clock.is_strong_beat(cursor),
            known: self.song.chord_at(cursor),
            change: self.song.changes_at(cursor),
            ours_lowest: self.timeline.ours_lowest(open),
            phase_ticks: crate::features::phase_of(cursor, self.ticks_per_beat as u32),
            // An answer keeps to the grid: every rest in it ends on a sixteenth or a triplet
            // eighth. A rest the model ends a tick or five off it (as it does beside a humanized
            // call, taking up the call's offsets) would keep the answer on that offset
            // (MUSICIANSHIP.md, "Call & Response").
            rest_on_grid: s.mode == Mode::CallResponse,
            rest_ceiling_ticks: limits.rest_ceiling_ticks,
        };
        self.mask.build(&self.window.logits, &situation, s);
        self.sampler
            .reseed(mix(u64::from(s.seed), self.timeline.end()));
        let token = self
            .sampler
            .sample(
                &self.mask.biased,
                &self.mask.allowed,
                s.temperature,
                s.top_p,
            )
            .ok_or(GenerateError::NoTokenAllowed)?;
        self.play_token(token, s, limits.floor_at, out);
        Ok(Step::Planned)
    }

    /// Push a sampled token into the plan and send its note; a note struck on or after the floor's
    /// tick, or the plan's time past it, decides the response to a played note.
    fn play_token(
        &mut self,
        token: u32,
        s: &Settings,
        floor_at: f64,
        out: &mut impl FnMut(Generated),
    ) {
        let emit = match self.vocab.decode(token) {
            Some(Event::NoteOn(p)) => Some((p, true)),
            Some(Event::NoteOff(p)) => Some((p, false)),
            _ => None,
        };
        self.push(token);
        if let Some((p, on)) = emit {
            let v = self.velocity_at(self.timeline.cursor, s);
            out(self.note(p, on, v));
            self.timing.answer_due &= !on;
        }
        let decided = matches!(emit, Some((_, true)))
            || self.timeline.cursor > floor_at + 0.5 / self.ticks_per_beat;
        if self.timing.reacting && decided {
            self.timing.reacting = false;
            self.reactions += 1;
        }
    }

    /// A note of Cadenza's at the cursor.
    fn note(&self, pitch: u8, on: bool, velocity: f32) -> Generated {
        self.note_at(self.timeline.cursor, pitch, on, velocity)
    }

    fn note_at(&self, beat: f64, pitch: u8, on: bool, velocity: f32) -> Generated {
        Generated {
            epoch: self.timing.epoch,
            plan: self.timing.plan,
            beat,
            pitch,
            velocity,
            on,
        }
    }

    /// The velocity of a note at `beat`: the player's or the fixed level, with the beat's accent.
    fn velocity_at(&self, beat: f64, s: &Settings) -> f32 {
        policy::velocity_at(beat, &self.clock, self.follow.velocity(), s)
    }

    /// Append one of Cadenza's tokens (or a shift) at the cursor.
    fn push(&mut self, token: u32) {
        self.timeline.push(token, false);
        self.bound();
    }

    /// Move the context's time to `beat` (the player's time: a played note), to the nearest tick.
    fn advance_to(&mut self, beat: f64) {
        self.timeline.advance_to(beat, false);
        self.bound();
    }

    /// Withdraw Cadenza's plan after `beat`: drop its tokens that happen after it, and the cache
    /// entries that saw them. The player's tokens stay (they are what was heard, not a plan: a
    /// chord's notes heard on one beat must not cut each other out). Returns whether any was dropped.
    fn truncate_after(&mut self, beat: f64) -> bool {
        let keep = self.timeline.count_until(beat);
        if keep == self.timeline.len() {
            return false;
        }
        let mut tail = std::mem::take(&mut self.tail_buf);
        tail.clear();
        tail.extend(self.timeline.ctx[keep..].iter().filter(|c| c.player));
        self.cut_to(keep);
        self.timeline.replay(&tail);
        self.bound();
        self.tail_buf = tail;
        true
    }

    /// Keep the first `keep` context tokens, and the cache entries that saw only them.
    fn cut_to(&mut self, keep: usize) {
        if self.timeline.cut_to(keep) {
            self.window.cut_to(keep);
        }
    }

    /// Forget the whole context (a jump with "reset context", a prompt about to load).
    fn clear_context(&mut self) {
        self.timeline.clear();
        self.window.clear();
    }

    /// Replace the context with the prompt, ending at `start`.
    fn load_prompt(&mut self, start: f64) {
        if self.prompt.is_empty() {
            return;
        }
        self.clear_context();
        let window = self.window.size().max(16);
        let skip = self.prompt.len().saturating_sub(4 * window);
        self.timeline.load(&self.prompt[skip..], start);
        // Notes still open at the clip's end are the clip's, not ours to end on the audio side.
        self.close_open_notes();
    }

    /// Keep the context bounded: drop the oldest tokens, far outside the window.
    fn bound(&mut self) {
        let window = self.window.size().max(16);
        if self.timeline.len() > 8 * window && self.window.anchor > 2 * window {
            let cut = self.window.anchor - window;
            self.timeline.drop_front(cut);
            self.window.dropped_front(cut);
        }
    }

    /// Note-offs in the context for every open note of Cadenza's, and of the player's keys no longer
    /// held (after a cut).
    fn close_open_notes(&mut self) {
        let open = self.timeline.open_notes();
        for p in 0..128u8 {
            if open.ours(p) {
                self.push(self.vocab.note_off_base + u32::from(p));
            }
        }
        for p in 0..128u8 {
            if open.theirs(p) && !self.follow.holds(p) {
                let off = self.vocab.note_off_base + u32::from(p);
                self.timeline.push(off, true);
                self.bound();
            }
        }
    }

    /// End Cadenza's sounding notes at the cursor, in the context and on the audio side. Returns
    /// whether there were any.
    fn end_our_notes(&mut self, out: &mut impl FnMut(Generated)) -> bool {
        let open = self.timeline.open_notes();
        let mut any = false;
        for p in 0..128u8 {
            if open.ours(p) {
                self.push(self.vocab.note_off_base + u32::from(p));
                out(self.note(p, false, 0.0));
                any = true;
            }
        }
        any
    }

    /// End Cadenza's notes whose note-on falls before the cache's start. The model could never end
    /// them (it no longer sees them start), so without this only the maximum note length would. The
    /// player's notes are theirs to end. Checked before every token (not only when the cache
    /// moves), so it depends on the context alone.
    fn end_notes_leaving_window(&mut self, out: &mut impl FnMut(Generated)) {
        let start = self.window.lattice_anchor(&self.timeline);
        let leaving = self.timeline.ours_open_before(start);
        for p in (0..128u8).filter(|p| leaving >> p & 1 == 1) {
            self.push(self.vocab.note_off_base + u32::from(p));
            out(self.note(p, false, 0.0));
        }
    }

    /// Forget the cache (after an inference error): the next step rebuilds it from the context.
    pub fn reset_cache(&mut self) {
        self.window.reset();
    }

    /// Idle work, for when [`Self::step`] has nothing to do: build the window's next cache in a
    /// spare, one token a call (see [`Window::prepare`]). Returns whether it fed one.
    pub fn prepare(&mut self) -> Result<bool, BackendError> {
        self.label_chords();
        self.window.prepare(&self.timeline)
    }

    /// Played notes Cadenza has decided its response to since the last call: a note on the first
    /// tick it may play on after the reaction lead (or later, once the model's rest reached it), or
    /// its rest past that tick. The engine's response time is the time to this decision.
    pub fn take_reactions(&mut self) -> u64 {
        std::mem::take(&mut self.reactions)
    }

    /// Beat at the end of the context.
    pub fn cursor(&self) -> f64 {
        self.timeline.cursor
    }

    /// Tokens in the context.
    pub fn context_len(&self) -> usize {
        self.timeline.len()
    }
}

/// The chords a player's part names, as Learn Chords writes them (chord-track text): the part heard
/// as the engine hears it, a beat at a time, in bars of `beats_per_bar` from beat 0, the progression
/// it repeats (else its last `fallback_bars` bars). `None` when it names no chord (a single line).
pub fn progression_of(
    notes: &[BeatNote],
    beats_per_bar: f64,
    fallback_bars: i64,
) -> Option<String> {
    let mut follow = Follow::new();
    let mut song = Song::new();
    let keys = crate::midi_file::key_events(notes);
    let end = keys.last().map_or(0.0, |k| k.0);
    let clock = |playhead: f64| PlayClock {
        beats_per_bar,
        bar_number: 0.0,
        ..PlayClock::at(playhead, 120.0)
    };
    let mut keys = keys.into_iter().peekable();
    let mut beat = 0.0;
    while beat <= end + 1.0 {
        while let Some((at, on, pitch, velocity)) = keys.next_if(|k| k.0 < beat) {
            follow.remember(at, pitch, velocity, on);
            follow.hold(pitch, on);
        }
        song.hear(&clock(beat), &follow);
        beat += 0.25;
    }
    song.learned_text(fallback_bars)
}

/// The sampling seed of one context position: a stateless mix (SplitMix64's finalizer), so a token's
/// draw depends on the seed and its position only, never on withdrawn plans.
fn mix(seed: u64, position: u64) -> u64 {
    let mut z =
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ position.wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
