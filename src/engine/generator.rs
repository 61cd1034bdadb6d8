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

use crate::settings::{AnswerStart, Dynamics, Mode, Scale, Settings, DENSITY_NATS};
use super::listener::Listener;
use crate::bridge::{Generated, PlayClock, ToEngine};
use crate::features::{held_after_owned, phase_of, Features};
use crate::midi_file::BeatNote;
pub use crate::model::SPARE_CACHES;
use crate::sampler::Sampler;
use crate::tokenizer::{Event, Note, Vocab};

/// Where the logits come from. `OnnxModel` in the plugin; a fake in tests.
///
/// A backend holds the cache every call acts on and [`SPARE_CACHES`] spares that
/// [`Backend::swap_caches`] exchanges it with (the generator builds the next window's cache in one
/// while idle, and keeps the previous window's in another).
pub trait Backend {
    /// Feed tokens after the cache, each with its features ([`crate::features`]; a model without
    /// them ignores them); return the logits following the last one.
    fn feed(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], String>;
    /// Empty the cache.
    fn reset(&mut self);
    /// Keep only the first `len` cache entries (exact: a causal cache does not depend on what
    /// came later).
    fn truncate(&mut self, len: usize);
    /// The attention window, in tokens (the cache holds at most `window - 1`).
    fn window(&self) -> usize;
    /// Exchange the cache with spare number `spare` (< [`SPARE_CACHES`]; empty at first), without
    /// copying either.
    fn swap_caches(&mut self, spare: usize);
}

impl Backend for crate::model::OnnxModel {
    fn feed(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], String> {
        crate::model::OnnxModel::feed(self, tokens, feats).map_err(|e| e.to_string())
    }
    fn reset(&mut self) {
        crate::model::OnnxModel::reset(self)
    }
    fn truncate(&mut self, len: usize) {
        crate::model::OnnxModel::truncate(self, len)
    }
    fn window(&self) -> usize {
        self.spec.window as usize
    }
    fn swap_caches(&mut self, spare: usize) {
        crate::model::OnnxModel::swap_caches(self, spare)
    }
}

/// After a played note, the engine plans on past its lookahead until the new plan's first note, up to
/// this many beats after the note: the answer is in the audio side's queue, stamped with its beat,
/// as soon as it is computed, whatever rest the model chose before it. It sounds on the same beat as
/// when planned later; the audio side just has it sooner (and a late engine cannot make it late).
pub const ANSWER_REACH_BEATS: f64 = 8.0;
/// With the transport stopped, the engine plays while the player played within this many beats.
pub const LISTEN_BEATS_WHEN_STOPPED: f64 = 16.0;
/// A silence longer than this enters the context as this long (the model needs no exact long rests).
pub const MAX_REST_BEATS: f64 = 4.0;
/// The engine never plans a note sooner than this after what it reacts to (a transport start, a
/// played note): it needs a moment, and a note that reaches the audio thread after its sample is late.
pub const REACTION_SECONDS: f64 = 0.03;
/// The lead after a transport start, seek or loop: the engine may have a whole context to rebuild
/// (a prompt clip, a new style) before its first note, and a late first note would start the take
/// off the grid.
pub const RESYNC_SECONDS: f64 = 0.1;
/// How many of the player's recent notes "follow the player" (scale and dynamics) looks at.
pub const FOLLOW_NOTES: usize = 12;
/// Played notes kept for "capture".
const PLAYED_LOG: usize = 2048;

/// A spare cache: [STYLE] + ctx[anchor..fed], exactly what a re-anchor at `anchor` would feed
/// (the same tokens with the same features), so it can stand in for one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spare {
    anchor: usize,
    fed: usize,
}

/// One token of context, the beat at which it happens, and whose it is (shifts are nobody's: false).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ctx {
    token: u32,
    beat: f64,
    player: bool,
}

/// Keys with a note sounding in the context, by owner (bit p: key p).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Open {
    ours: u128,
    theirs: u128,
}

impl Open {
    fn ours(&self, p: u8) -> bool {
        self.ours >> p & 1 == 1
    }
    fn theirs(&self, p: u8) -> bool {
        self.theirs >> p & 1 == 1
    }
}

/// The probability the sampler's mask took away from the model, over the steps since the last
/// [`Generator::take_mask_stats`] (at temperature 1, before the density bias).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MaskStats {
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
    pub fn mean(&self) -> f64 {
        self.refused / self.steps.max(1) as f64
    }

    pub fn add(&mut self, o: &MaskStats) {
        self.steps += o.steps;
        self.refused += o.refused;
        self.over_fifth += o.over_fifth;
        self.over_fifth_player_key += o.over_fifth_player_key;
        self.over_fifth_floor += o.over_fifth_floor;
        self.max = self.max.max(o.max);
    }
}

pub struct Generator<B: Backend> {
    pub backend: B,
    vocab: Vocab,
    ticks_per_beat: f64,
    n_styles: u32,
    sampler: Sampler,
    /// Mask and biased logits for the next token (reused).
    allowed: Vec<bool>,
    biased: Vec<f32>,
    ctx: Vec<Ctx>,
    /// Context positions dropped from the front of `ctx` (position of ctx[i] = base + i).
    base: u64,
    /// ctx index where the cache begins (the cache holds [STYLE] + ctx[anchor..fed]).
    anchor: usize,
    /// ctx tokens already in the cache.
    fed: usize,
    /// Style the cache was started with.
    style: u32,
    /// Beat of the end of the context.
    cursor: f64,
    epoch: u32,
    plan: u32,
    synced: bool,
    playing: bool,
    /// Last note-on of the player (beats), for listening while stopped.
    last_played: f64,
    /// Last note-on or note-off of the player: a call ends a gap after it.
    last_activity: f64,
    /// What the next plan reacts to (a resync's beat, a played note's beat).
    reaction_from: f64,
    /// How long after `reaction_from` the plan may start, in seconds.
    reaction_seconds: f64,
    /// A played note awaits the new plan's first note: plan past the lookahead for it (up to
    /// `reaction_from + ANSWER_REACH_BEATS`).
    answer_due: bool,
    /// A played note awaits Cadenza's decision at the first tick it may play on: a note there, or
    /// its rest past it (the engine's response; what the model plays later is its own choice).
    reacting: bool,
    /// Played notes Cadenza has decided its response to, since the last report.
    reactions: u64,
    /// The playhead as of the last step: how far the audio side has played on the current timeline.
    heard_until: f64,
    /// The audio side's bar grid and tempo as of the last step.
    clock: PlayClock,
    /// Keys the player holds.
    held: [bool; 128],
    /// The player's recent velocities (0..=1) and pitches, newest last, for "follow".
    recent_velocity: Option<f32>,
    recent_pitches: [u8; FOLLOW_NOTES],
    recent_len: usize,
    /// The player's notes (beats), for capture; `length` < 0 while held.
    played: Vec<BeatNote>,
    /// The prompt as tokens with beats relative to its end (≤ 0).
    prompt: Vec<Ctx>,
    /// `last_logits` follow the whole context (the cache is up to date).
    logits_ready: bool,
    /// The cache no longer matches ctx[anchor..fed] (a style change, a reset): rebuild it.
    cache_dirty: bool,
    /// What each of the backend's spare caches holds, if anything usable (see [`Self::prepare`]).
    spares: [Option<Spare>; SPARE_CACHES],
    /// Building the spare failed while the cache started at this context position: no retry until
    /// the window moves (a failing backend would fail every idle pass).
    spare_failed_at: Option<u64>,
    /// Logits after the last token fed.
    last_logits: Vec<f32>,
    /// The context position (`base` + ctx index) whose tokens before it `last_logits` follow, in the
    /// cache as it is; `u64::MAX` when they follow no token of it (a new cache).
    logits_at: u64,
    /// Tokens for the next feed (reused).
    feed_buf: Vec<u32>,
    /// Their features (reused): keys counted from the cache's start, the phase of each token's beat.
    feat_buf: Vec<Features>,
    /// How the player is heard.
    listener: Listener,
    /// Context tokens lifted out while a player's token goes in before them (reused).
    tail_buf: Vec<Ctx>,
    /// Player's events heard at once, (beat, pitch, on) (reused).
    heard_buf: Vec<(f64, u8, bool)>,
    /// What the mask took away since the last report.
    mask_stats: MaskStats,
}

impl<B: Backend> Generator<B> {
    pub fn new(backend: B, vocab: Vocab, ticks_per_beat: u32, n_styles: u32) -> Self {
        let size = vocab.size as usize;
        Self {
            backend,
            vocab,
            ticks_per_beat: f64::from(ticks_per_beat),
            n_styles: n_styles.max(1),
            sampler: Sampler::new(size, 0),
            allowed: vec![false; size],
            biased: vec![0.0; size],
            ctx: Vec::with_capacity(4096),
            base: 0,
            anchor: 0,
            fed: 0,
            style: u32::MAX,
            cursor: 0.0,
            epoch: 0,
            plan: 0,
            synced: false,
            playing: false,
            last_played: f64::NEG_INFINITY,
            last_activity: f64::NEG_INFINITY,
            reaction_from: 0.0,
            reaction_seconds: REACTION_SECONDS,
            answer_due: false,
            reacting: false,
            reactions: 0,
            heard_until: 0.0,
            clock: PlayClock::at(0.0, 120.0),
            held: [false; 128],
            recent_velocity: None,
            recent_pitches: [0; FOLLOW_NOTES],
            recent_len: 0,
            played: Vec::with_capacity(PLAYED_LOG),
            prompt: Vec::new(),
            logits_ready: false,
            cache_dirty: true,
            spares: [None; SPARE_CACHES],
            spare_failed_at: None,
            last_logits: Vec::with_capacity(size),
            logits_at: u64::MAX,
            feed_buf: Vec::with_capacity(4096),
            feat_buf: Vec::with_capacity(4096),
            listener: Listener::new(ticks_per_beat),
            tail_buf: Vec::with_capacity(4096),
            heard_buf: Vec::with_capacity(256),
            mask_stats: MaskStats::default(),
        }
    }

    /// What the mask took away since the last call (then starts counting afresh).
    pub fn take_mask_stats(&mut self) -> MaskStats {
        std::mem::take(&mut self.mask_stats)
    }

    /// Set the prompt clip (beats from its start). It primes the model at every transport start in
    /// Continue mode: as the player's (`players`: the plugin's clip is the bars you captured, and
    /// Cadenza plays on with you or after you), or as Cadenza's own line to continue (a sketch's
    /// prompt on the command line).
    pub fn set_prompt(&mut self, notes: &[BeatNote], players: bool) {
        let tpb = self.ticks_per_beat;
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
                self.spares = [None; SPARE_CACHES];
                let start = (beat * self.ticks_per_beat - 1e-9).ceil() / self.ticks_per_beat;
                let shift = start - self.cursor;
                for c in &mut self.ctx {
                    c.beat += shift;
                }
                self.cursor = start;
                if jumped && s.reset_on_jump {
                    self.clear_context();
                }
                if playing && s.mode == Mode::Continue {
                    self.load_prompt(start);
                }
                let mut reaction_from = start;
                if playing && self.ctx.is_empty() {
                    // Nothing heard yet: the timeline begins on the first tick Cadenza may play on
                    // (the lead after a start). Its first token is then its own choice, never a
                    // rest the lead forced on it, which a model reads as waiting for the player.
                    let lead = RESYNC_SECONDS * clock.tempo.max(1.0) / 60.0;
                    self.cursor =
                        ((beat + lead) * self.ticks_per_beat - 1e-9).ceil() / self.ticks_per_beat;
                    reaction_from = beat;
                }
                // A stop means stop: while stopped, Cadenza only answers notes played after it.
                let moved = |b: f64| {
                    if playing {
                        b + shift
                    } else {
                        f64::NEG_INFINITY
                    }
                };
                self.last_played = moved(self.last_played);
                self.last_activity = moved(self.last_activity);
                self.epoch = epoch;
                self.plan = 0;
                self.synced = true;
                self.playing = playing;
                self.heard_until = start;
                self.reaction_from = reaction_from;
                self.reaction_seconds = RESYNC_SECONDS;
                self.answer_due = false;
                self.reacting = false;
            }
            ToEngine::Played {
                beat,
                pitch,
                velocity,
                on,
            } => {
                let p = pitch.min(127);
                self.remember_played(beat, p, velocity, on);
                self.last_activity = beat;
                if on {
                    self.last_played = beat;
                }
                if s.mode == Mode::Improvise {
                    // A soloist: the player's notes neither enter its context, nor move its plan, nor
                    // limit its keys (only "follow player" scale and dynamics listen to them).
                    return;
                }
                self.held[p as usize] = on;
                self.heard_until = self.heard_until.max(beat);
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
                    self.advance_to(beat, false);
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
                self.reaction_from = beat;
                self.reaction_seconds = REACTION_SECONDS;
                self.answer_due = true;
                // A call is answered after its gap, not at once: its response is the withdrawal.
                self.reacting = s.mode != Mode::CallResponse;
            }
        }
    }

    /// Put the player's events of `heard_buf` into the context at their heard beats, releases
    /// before onsets at one beat.
    fn hear_buffered(&mut self) {
        let mut events = std::mem::take(&mut self.heard_buf);
        events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
        for &(at, p, on) in &events {
            let open = self.open_notes().theirs(p);
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
    fn hear_overdue(&mut self, clock: &PlayClock, s: &Settings, out: &mut impl FnMut(Generated)) {
        self.hear_releases(clock, clock.open_from, s, out);
    }

    /// [`Self::hear_overdue`] with the wait over for every release played before beat `now`.
    fn hear_releases(
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
        self.reaction_from = clock.open_from;
        self.reaction_seconds = REACTION_SECONDS;
    }

    /// Start a new plan (what was planned after the context's end is withdrawn) and tell the audio
    /// side at once, so the withdrawn notes go even when the new plan opens with a rest.
    fn new_plan(&mut self, out: &mut impl FnMut(Generated)) {
        self.plan += 1;
        out(Generated::plan_mark(self.epoch, self.plan, self.cursor));
    }

    /// Withdraw Cadenza's plan after beat `keep_until` (a new plan). The notes it keeps from
    /// `unplayed` (what the audio side has not played) on are sent again under the new plan: the
    /// audio side drops an old plan's pending notes when a newer plan arrives.
    fn withdraw_after(
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
        let end = self.cursor;
        for i in 0..self.ctx.len() {
            let c = self.ctx[i];
            if c.player || c.beat < unplayed - 1e-9 {
                continue;
            }
            let (pitch, on) = match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => (p, true),
                Some(Event::NoteOff(p)) => (p, false),
                _ => continue,
            };
            self.cursor = c.beat;
            let v = if on { self.velocity_at(c.beat, s) } else { 0.0 };
            out(self.note(pitch, on, v));
        }
        self.cursor = end;
    }

    /// Put one of the player's tokens into the context at `beat` (on the tick grid): after
    /// everything of Cadenza's on that beat (Cadenza planned it before it could hear the player),
    /// before whatever comes later, which moves after it. The cache keeps what comes before.
    fn insert_player(&mut self, beat: f64, token: u32) {
        if self.ctx.is_empty() {
            // An empty timeline starts where the player does.
            self.cursor = self.cursor.min(beat);
        }
        let end = self.cursor;
        let keep = self
            .ctx
            .iter()
            .rposition(|c| c.beat <= beat + 1e-9)
            .map_or(0, |i| i + 1);
        let mut tail = std::mem::take(&mut self.tail_buf);
        tail.clear();
        let shift = |c: &&Ctx| matches!(self.vocab.decode(c.token), Some(Event::Shift(_)));
        tail.extend(self.ctx[keep..].iter().filter(|c| !shift(c)));
        self.cut_to(keep);
        self.advance_to(beat, false);
        self.push_owned(token, true);
        self.replay(&tail);
        self.advance_to(end, false);
        self.tail_buf = tail;
    }

    /// Should the engine be planning now?
    pub fn active(&self, playhead: f64, s: &Settings) -> bool {
        let listen = match s.mode {
            Mode::CallResponse => LISTEN_BEATS_WHEN_STOPPED.max(
                s.listen_gap_beats + f64::from(s.answer_bars) * self.clock.beats_per_bar + 1.0,
            ),
            _ => LISTEN_BEATS_WHEN_STOPPED,
        };
        self.synced && (self.playing || playhead - self.last_played < listen)
    }

    /// Call and response: the beats of the answer to the player's last phrase, once no key is held.
    pub fn answer_window(&self, s: &Settings) -> Option<(f64, f64)> {
        if self.held.iter().any(|h| *h) || !self.last_activity.is_finite() {
            return None;
        }
        let start = self.clock.next_grid(
            self.last_activity + s.listen_gap_beats,
            s.answer_start == AnswerStart::NextBar,
        );
        Some((
            start,
            start + f64::from(s.answer_bars) * self.clock.beats_per_bar,
        ))
    }

    /// Generate one token if the plan is short of the lookahead. Returns whether it did.
    pub fn step(
        &mut self,
        clock: PlayClock,
        s: &Settings,
        out: &mut impl FnMut(Generated),
    ) -> Result<bool, String> {
        self.clock = clock;
        let playhead = clock.playhead;
        self.heard_until = playhead;
        self.hear_overdue(&clock, s, out);
        if !self.active(playhead, s) {
            return Ok(false);
        }
        let style = if s.style < self.n_styles { s.style } else { 0 };
        if style != self.style {
            // A new style: withdraw what was planned and restart the cache on the new style token.
            if self.truncate_after(playhead) {
                self.new_plan(out);
            }
            self.style = style;
            self.cache_dirty = true;
            self.spares = [None; SPARE_CACHES];
            self.logits_ready = false;
        }
        let lead = self.reaction_seconds * clock.tempo.max(1.0) / 60.0;
        // Plan from what we react to, a fixed lead after it (so the result does not depend on when
        // this thread got to run); only an engine so late that this beat has already been played
        // starts from the playhead instead. Never inside what the audio side has already played: in
        // real time a whole block is played at once, and a block can be longer than the lead.
        let floor = self.reaction_from + lead;
        let mut earliest = if floor < playhead {
            playhead + lead
        } else {
            floor
        }
        .max(clock.open_from);
        let mut answer_end = f64::INFINITY;
        let mut bar_line = f64::INFINITY;
        if s.mode == Mode::CallResponse {
            let Some((start, end)) = self.answer_window(s) else {
                return Ok(false);
            };
            // No key held for the listening gap: the call is over, its last releases are heard
            // now (no legato next note can come), before the answer is planned.
            self.hear_releases(&clock, f64::INFINITY, s, out);
            earliest = earliest.max(start);
            bar_line = end;
            // The cursor sums shifts of 1/24 beat in floating point and may land a hair short of
            // the bar line: a note half a tick from the end starts on it, after the answer.
            answer_end = end - 0.5 / self.ticks_per_beat;
        }
        if self.cursor >= answer_end {
            // The answer is over: end what still sounds, then listen.
            return Ok(self.end_our_notes(out));
        }
        let mut reach = playhead + s.lookahead_beats;
        if self.answer_due {
            reach = reach.max(self.reaction_from + ANSWER_REACH_BEATS);
        }
        if self.cursor >= reach || self.cursor >= answer_end {
            return Ok(false);
        }
        self.end_notes_leaving_window(out);
        self.sync_cache()?;
        // Ticks from the cursor to the first tick anything may be placed at (0: now).
        let floor_ticks = ((earliest - self.cursor) * self.ticks_per_beat - 1e-6)
            .ceil()
            .max(0.0) as u32;
        // An answer ends on its bar line: no rest runs past it.
        let ceiling_ticks = if bar_line.is_finite() {
            ((bar_line - self.cursor) * self.ticks_per_beat)
                .round()
                .max(f64::from(floor_ticks.max(1))) as u32
        } else {
            u32::MAX
        };
        self.build_mask(s, floor_ticks, ceiling_ticks);
        let floor_at = self.cursor + f64::from(floor_ticks) / self.ticks_per_beat;
        self.sampler
            .reseed(mix(u64::from(s.seed), self.base + self.ctx.len() as u64));
        let token = self
            .sampler
            .sample(&self.biased, &self.allowed, s.temperature, s.top_p)
            .ok_or("no token allowed")?;
        let emit = match self.vocab.decode(token) {
            Some(Event::NoteOn(p)) => Some((p, true)),
            Some(Event::NoteOff(p)) => Some((p, false)),
            _ => None,
        };
        self.push(token);
        if let Some((p, on)) = emit {
            let v = self.velocity_at(self.cursor, s);
            out(self.note(p, on, v));
            self.answer_due &= !on;
        }
        // Decided at the floor: a note struck on or after its tick, or the plan's time past it.
        let decided =
            matches!(emit, Some((_, true))) || self.cursor > floor_at + 0.5 / self.ticks_per_beat;
        if self.reacting && decided {
            self.reacting = false;
            self.reactions += 1;
        }
        Ok(true)
    }

    /// The notes the player played from `from` (beats) on, shifted to start at 0: a prompt.
    pub fn capture(&self, from: f64) -> Vec<BeatNote> {
        let now = self.heard_until;
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

    /// The last `bars` bars the player played (up to the playhead), as a prompt.
    pub fn capture_bars(&self, bars: u32) -> Vec<BeatNote> {
        let from = self.heard_until - f64::from(bars) * self.clock.beats_per_bar;
        let first = self
            .played
            .iter()
            .map(|n| n.beat)
            .filter(|b| *b >= from)
            .fold(f64::INFINITY, f64::min);
        if !first.is_finite() {
            return Vec::new();
        }
        // Start the clip on the bar line before the first note, so it keeps its place in the bar.
        let start = self.clock.next_grid(first, true);
        let start = if start > first {
            start - self.clock.beats_per_bar
        } else {
            start
        };
        self.capture(start.max(from))
    }

    fn note(&self, pitch: u8, on: bool, velocity: f32) -> Generated {
        Generated {
            epoch: self.epoch,
            plan: self.plan,
            beat: self.cursor,
            pitch,
            velocity,
            on,
        }
    }

    /// The velocity of a note at `beat`: the player's or the fixed level, with the beat's accent.
    fn velocity_at(&self, beat: f64, s: &Settings) -> f32 {
        let level = match s.dynamics {
            Dynamics::FollowPlayer => self.recent_velocity.unwrap_or(s.velocity),
            Dynamics::Fixed => s.velocity,
        };
        let pos = self.clock.in_bar(beat);
        let on = |x: f64| !(1e-6..=1.0 - 1e-6).contains(&x);
        let weight = if on(pos / self.clock.beats_per_bar.max(1e-6) % 1.0) {
            0.3
        } else if on(pos.fract()) {
            0.1
        } else {
            -0.1
        };
        (level * (1.0 + s.accent * weight)).clamp(0.05, 1.0)
    }

    fn remember_played(&mut self, beat: f64, pitch: u8, velocity: f32, on: bool) {
        if on {
            let v = velocity.clamp(0.05, 1.0);
            self.recent_velocity = Some(self.recent_velocity.map_or(v, |r| 0.7 * r + 0.3 * v));
            if self.recent_len == FOLLOW_NOTES {
                self.recent_pitches.copy_within(1.., 0);
                self.recent_len -= 1;
            }
            self.recent_pitches[self.recent_len] = pitch;
            self.recent_len += 1;
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

    /// Append one of Cadenza's tokens (or a shift) at the cursor.
    fn push(&mut self, token: u32) {
        self.push_owned(token, false);
    }

    /// Append a token at the cursor, the player's (`player`) or Cadenza's.
    fn push_owned(&mut self, token: u32, player: bool) {
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
        });
        self.logits_ready = false;
        self.bound_context();
    }

    /// Move the context's time to `beat` with shift tokens, to the nearest tick (or the next one, with
    /// `ceil`); long rests are capped in the context but the time stays true. Only for time that is
    /// the player's or the timeline's (a played note, a prompt), never for Cadenza's own rests: the
    /// model chooses those.
    fn advance_to(&mut self, beat: f64, ceil: bool) {
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
            self.push(self.vocab.shift_base + k as u32 - 1);
            left -= k;
        }
        // A capped rest still puts the context at the true beat.
        self.cursor = target;
        if let Some(last) = self.ctx.last_mut() {
            last.beat = target;
        }
    }

    /// Withdraw Cadenza's plan after `beat`: drop its tokens that happen after it, and the cache
    /// entries that saw them. The player's tokens stay (they are what was heard, not a plan: a
    /// chord's notes heard on one beat must not cut each other out). Returns whether any was dropped.
    fn truncate_after(&mut self, beat: f64) -> bool {
        let keep = self
            .ctx
            .iter()
            .rposition(|c| c.beat <= beat + 1e-9)
            .map_or(0, |i| i + 1);
        if keep == self.ctx.len() {
            return false;
        }
        let mut tail = std::mem::take(&mut self.tail_buf);
        tail.clear();
        tail.extend(self.ctx[keep..].iter().filter(|c| c.player));
        self.cut_to(keep);
        self.replay(&tail);
        self.tail_buf = tail;
        true
    }

    /// Put tokens lifted out of the context back at their beats, in order, with their owners.
    fn replay(&mut self, tokens: &[Ctx]) {
        for c in tokens {
            self.advance_to(c.beat, false);
            self.push_owned(c.token, c.player);
        }
    }

    /// Keep the first `keep` context tokens (the cursor goes back to the beat before the first one
    /// dropped, on the tick grid), and the cache entries that saw only them.
    fn cut_to(&mut self, keep: usize) {
        if keep >= self.ctx.len() {
            return;
        }
        self.cursor = self.beat_before(keep);
        self.ctx.truncate(keep);
        if self.fed > keep {
            if keep > self.anchor && !self.cache_dirty {
                // Keep the cache up to the cut (exact: a causal cache does not depend on what came
                // later), far cheaper than a new prefill. The logits there are gone: whatever is
                // fed next gives new ones (see `sync_cache`).
                self.backend.truncate(1 + keep - self.anchor);
                self.fed = keep;
            } else {
                self.cache_dirty = true;
            }
        }
        self.anchor = self.anchor.min(keep);
        self.fed = self.fed.min(keep);
        for i in 0..SPARE_CACHES {
            let Some(sp) = self.spares[i].filter(|sp| sp.fed > keep) else {
                continue;
            };
            self.spares[i] = if keep > sp.anchor {
                self.in_spare(i, |b| b.truncate(1 + keep - sp.anchor));
                Some(Spare { fed: keep, ..sp })
            } else {
                None
            };
        }
        self.logits_ready = false;
    }

    /// Forget the whole context (a jump with "reset context", a prompt about to load).
    fn clear_context(&mut self) {
        self.base += self.ctx.len() as u64;
        self.ctx.clear();
        self.anchor = 0;
        self.fed = 0;
        self.cache_dirty = true;
        self.spares = [None; SPARE_CACHES];
        self.logits_ready = false;
    }

    /// Replace the context with the prompt, ending at `start`.
    fn load_prompt(&mut self, start: f64) {
        if self.prompt.is_empty() {
            return;
        }
        self.clear_context();
        let window = self.backend.window().max(16);
        let skip = self.prompt.len().saturating_sub(4 * window);
        for i in skip..self.prompt.len() {
            let c = self.prompt[i];
            self.ctx.push(Ctx {
                beat: start + c.beat,
                ..c
            });
        }
        self.cursor = start;
        // Notes still open at the clip's end are the clip's, not ours to end on the audio side.
        self.close_open_notes();
    }

    /// Keys with a note-on in the context and no note-off after it, by owner. The whole context
    /// counts, not just the cache: what is open must not depend on where the cache happens to start.
    fn open_notes(&self) -> Open {
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

    /// Note-offs in the context for every open note of Cadenza's, and of the player's keys no longer
    /// held (after a cut).
    fn close_open_notes(&mut self) {
        let open = self.open_notes();
        for p in 0..128u8 {
            if open.ours(p) {
                self.push(self.vocab.note_off_base + u32::from(p));
            }
        }
        for p in 0..128u8 {
            if open.theirs(p) && !self.held[p as usize] {
                self.push_owned(self.vocab.note_off_base + u32::from(p), true);
            }
        }
    }

    /// End Cadenza's sounding notes at the cursor, in the context and on the audio side. Returns
    /// whether there were any.
    fn end_our_notes(&mut self, out: &mut impl FnMut(Generated)) -> bool {
        let open = self.open_notes();
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

    /// What the model may write next, and the logits it is drawn from. Nothing before the floor
    /// (`floor_ticks` from the cursor): no note event, and only a shift that reaches it (or the
    /// longest shift, when the floor is further); no shift past the ceiling (`ceiling_ticks`: the
    /// end of a call and response answer). Note-ons: not on a key Cadenza or the player
    /// sounds, inside the range, in the scale, below the polyphony limit. Note-offs: only Cadenza's
    /// open notes (the player's are theirs to end), and not a note that began at this very tick (no
    /// note lasts no time: the corpus has none, and a model stuck writing such pairs filled a window
    /// with them in one instant, notes nobody hears). Counts what the mask takes away.
    fn build_mask(&mut self, s: &Settings, floor_ticks: u32, ceiling_ticks: u32) {
        let v = self.vocab;
        let open = self.open_notes();
        // Cadenza's keys with a note-on since the last rest.
        let mut begun_now = 0u128;
        for c in self.ctx.iter().rev() {
            match v.decode(c.token) {
                Some(Event::Shift(_)) => break,
                Some(Event::NoteOn(p)) if !c.player => begun_now |= 1 << p,
                _ => {}
            }
        }
        let classes = match s.scale {
            Scale::FollowPlayer if self.recent_len > 0 => self.recent_pitches[..self.recent_len]
                .iter()
                .fold(0u16, |m, p| m | 1 << (p % 12)),
            other => other.pitch_classes(s.key),
        };
        let now = floor_ticks == 0;
        let room = open.ours.count_ones() < s.max_polyphony;
        let bias = s.density * DENSITY_NATS;
        for (i, a) in self.allowed.iter_mut().enumerate() {
            let logit = self
                .last_logits
                .get(i)
                .copied()
                .unwrap_or(f32::NEG_INFINITY);
            self.biased[i] = logit;
            *a = match v.decode(i as u32) {
                Some(Event::NoteOn(p)) => {
                    self.biased[i] = logit + bias;
                    now && room
                        && !open.ours(p)
                        && !open.theirs(p)
                        && !self.held[p as usize]
                        && (s.low..=s.high).contains(&p)
                        && classes & (1 << (p % 12)) != 0
                }
                Some(Event::NoteOff(p)) => now && open.ours(p) && begun_now & (1 << p) == 0,
                Some(Event::Shift(k)) => {
                    (now || k >= floor_ticks || (k == v.max_shift && floor_ticks > v.max_shift))
                        && k <= ceiling_ticks
                }
                _ => false,
            };
        }
        self.count_refused(&open, floor_ticks);
    }

    /// Add this step's refused probability to the mask statistics.
    fn count_refused(&mut self, open: &Open, floor_ticks: u32) {
        let logits = &self.last_logits;
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
        let st = &mut self.mask_stats;
        st.steps += 1;
        st.refused += share;
        st.max = st.max.max(share);
        if share > 0.2 {
            st.over_fifth += 1;
            let players_key = match top.and_then(|(i, _)| self.vocab.decode(i as u32)) {
                Some(Event::NoteOff(p)) | Some(Event::NoteOn(p)) => {
                    open.theirs(p) || self.held[p as usize]
                }
                _ => false,
            };
            if players_key {
                st.over_fifth_player_key += 1;
            } else if floor_ticks > 0 {
                st.over_fifth_floor += 1;
            }
        }
    }

    /// Cache start (ctx index) for a cache that must reach the end of the context: the smallest
    /// multiple of half a window, in context positions, that leaves room for [STYLE] + the rest.
    fn lattice_anchor(&self) -> usize {
        let w = self.backend.window().max(4) as u64;
        let q = w / 2;
        let end = self.base + self.ctx.len() as u64;
        let need = (end + 2).saturating_sub(w); // cache = 1 + end - anchor <= w - 1
        let pos = need.div_ceil(q) * q;
        (pos.saturating_sub(self.base) as usize).min(self.ctx.len())
    }

    /// Will the next cache sync restart the cache (a rebuild, or the window moving on)?
    fn needs_reanchor(&self) -> bool {
        !self.logits_ready && (self.cache_dirty || self.lattice_anchor() != self.anchor)
    }

    /// End Cadenza's notes whose note-on falls before the cache's start. The model could never end
    /// them (it no longer sees them start), so without this only the maximum note length would. The
    /// player's notes are theirs to end. Checked before every token (not only when the cache
    /// moves), so it depends on the context alone.
    fn end_notes_leaving_window(&mut self, out: &mut impl FnMut(Generated)) {
        let start = self.lattice_anchor();
        let mut opened_at: [Option<usize>; 128] = [None; 128];
        for (i, c) in self.ctx.iter().enumerate().filter(|(_, c)| !c.player) {
            match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => opened_at[p as usize] = Some(i),
                Some(Event::NoteOff(p)) => opened_at[p as usize] = None,
                _ => {}
            }
        }
        for p in 0..128u8 {
            if opened_at[p as usize].is_some_and(|i| i < start) {
                self.push(self.vocab.note_off_base + u32::from(p));
                out(self.note(p, false, 0.0));
            }
        }
    }

    /// Feed the backend whatever context it has not seen, moving the cache's start when due.
    fn sync_cache(&mut self) -> Result<(), String> {
        if self.logits_ready {
            return Ok(());
        }
        self.feed_buf.clear();
        self.feat_buf.clear();
        let tpb = self.ticks_per_beat as u32;
        let start = self.lattice_anchor();
        if self.needs_reanchor() && !self.promote_spare(start) {
            if !self.cache_dirty {
                // Keep the cache the window leaves as a spare: moving back swaps it in again.
                let q = self.backend.window().max(4) / 2;
                let i = self.spare_slot(&[start.checked_sub(q), Some(start + q)]);
                self.backend.swap_caches(i);
                self.spares[i] = Some(Spare {
                    anchor: self.anchor,
                    fed: self.fed,
                });
            }
            self.backend.reset();
            self.anchor = start;
            self.fed = start;
            self.logits_at = u64::MAX;
            let (style, feat) = self.cache_head(start);
            self.feed_buf.push(style);
            self.feat_buf.push(feat);
        }
        if self.feed_buf.is_empty()
            && self.fed == self.ctx.len()
            && self.logits_at != self.base + self.fed as u64
        {
            // Nothing new, and the last logits are not those after the cache's end (a cut, a swap):
            // feed its last token again (exact). (A fresh cache with an empty context feeds [STYLE]
            // alone: its logits are the first token's.)
            debug_assert!(
                self.fed > self.anchor,
                "a cache of [STYLE] alone is always fed afresh"
            );
            self.backend.truncate(self.fed - self.anchor);
            self.fed -= 1;
        }
        // Keys sounding as of the cache's end, counted from its start (as training crops count).
        let mut held = (0u128, 0u128);
        for c in &self.ctx[self.anchor..self.fed] {
            held = held_by_owner(held, &self.vocab, c);
        }
        for c in &self.ctx[self.fed..] {
            held = held_by_owner(held, &self.vocab, c);
            self.feed_buf.push(c.token);
            self.feat_buf.push(features_of(held, c, tpb));
        }
        if self.feed_buf.is_empty() {
            // A cut that removed only tokens not yet fed: the logits of the last feed still hold.
            self.logits_ready = true;
            return Ok(());
        }
        let logits = self.backend.feed(&self.feed_buf, &self.feat_buf)?;
        self.last_logits.clear();
        self.last_logits.extend_from_slice(logits);
        self.fed = self.ctx.len();
        self.logits_at = self.base + self.fed as u64;
        self.cache_dirty = false;
        self.logits_ready = true;
        Ok(())
    }

    /// The beat just before context token `i` happens (its features' phase for a style token).
    fn beat_before(&self, i: usize) -> f64 {
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

    /// Keep the context bounded: drop the oldest tokens, far outside the window.
    fn bound_context(&mut self) {
        let window = self.backend.window().max(16);
        if self.ctx.len() > 8 * window && self.anchor > 2 * window {
            let cut = self.anchor - window;
            self.ctx.drain(..cut);
            self.base += cut as u64;
            self.anchor -= cut;
            self.fed -= cut;
            for sp in &mut self.spares {
                *sp = sp.filter(|sp| sp.anchor >= cut).map(|sp| Spare {
                    anchor: sp.anchor - cut,
                    fed: sp.fed - cut,
                });
            }
        }
    }

    /// Forget the cache (after an inference error): the next step rebuilds it from the context.
    pub fn reset_cache(&mut self) {
        self.backend.reset();
        self.cache_dirty = true;
        self.spares = [None; SPARE_CACHES];
        self.logits_ready = false;
        self.logits_at = u64::MAX;
    }

    /// Idle work, for when [`Self::step`] has nothing to do: feed one token into a spare cache
    /// (about one decode step), so that it holds what the window's next move would feed. Returns
    /// whether it fed one (call again while it does; anything else the engine has to do comes first).
    ///
    /// The other spare keeps the previous anchor's cache: a played note that withdraws a plan
    /// across a fresh anchor moves the window back, and that swaps it in again. A spare holds the
    /// same tokens with the same features a re-anchor would feed, one token per run; a re-anchor's
    /// prefill groups them into runs, so the two differ by float rounding (fp32) or by int8's
    /// per-run activation scales (KL ~1e-4, see `model::INT8_RUN_TOKENS`), as a rollback's re-feed
    /// does.
    pub fn prepare(&mut self) -> Result<bool, String> {
        let here = self.base + self.anchor as u64;
        if self.cache_dirty || self.spare_failed_at == Some(here) {
            return Ok(false);
        }
        let q = (self.backend.window().max(4) / 2) as u64;
        let lattice = here / q * q;
        let next = (lattice + q).saturating_sub(self.base) as usize;
        if next >= self.ctx.len() {
            return Ok(false);
        }
        let tpb = self.ticks_per_beat as u32;
        let building = self.spare_at(next);
        let (i, token, feat, spare) = match building {
            Some((i, sp)) => {
                if sp.fed >= self.ctx.len() {
                    return Ok(false);
                }
                let held = self.ctx[sp.anchor..=sp.fed]
                    .iter()
                    .fold((0, 0), |h, c| held_by_owner(h, &self.vocab, c));
                let c = self.ctx[sp.fed];
                let feat = features_of(held, &c, tpb);
                let fed = Spare {
                    fed: sp.fed + 1,
                    ..sp
                };
                (i, c.token, feat, fed)
            }
            None => {
                // Start it in a spare that holds neither the previous window nor anything.
                let previous = (lattice
                    .checked_sub(q)
                    .and_then(|p| p.checked_sub(self.base)))
                .map(|p| p as usize);
                let i = self.spare_slot(&[previous]);
                let (style, feat) = self.cache_head(next);
                let fresh = Spare {
                    anchor: next,
                    fed: next,
                };
                (i, style, feat, fresh)
            }
        };
        let restart = building.is_none();
        let fed = self.in_spare(i, |b| {
            if restart {
                b.reset();
            }
            b.feed(&[token], &[feat]).map(|_| ())
        });
        self.spares[i] = fed.is_ok().then_some(spare);
        if fed.is_err() {
            self.spare_failed_at = Some(here);
        }
        fed.map(|()| true)
    }

    /// Act on spare cache `i` (swapped in for `f`, then back).
    fn in_spare<R>(&mut self, i: usize, f: impl FnOnce(&mut B) -> R) -> R {
        self.backend.swap_caches(i);
        let r = f(&mut self.backend);
        self.backend.swap_caches(i);
        r
    }

    /// The style token that starts a cache at ctx index `anchor`, and its features.
    fn cache_head(&self, anchor: usize) -> (u32, Features) {
        let style = self
            .vocab
            .encode(Event::Style(self.style))
            .unwrap_or(self.vocab.style_base);
        let phase = phase_of(self.beat_before(anchor), self.ticks_per_beat as u32);
        // The role Cadenza plays rides on the style token (format 4): slot 0, free.
        let head = Features {
            phase,
            role: Some(0),
            ..Features::default()
        };
        (style, head)
    }

    /// The spare whose cache starts at ctx index `anchor`, if one does.
    fn spare_at(&self, anchor: usize) -> Option<(usize, Spare)> {
        (self.spares.iter().enumerate())
            .find_map(|(i, sp)| sp.filter(|sp| sp.anchor == anchor).map(|sp| (i, sp)))
    }

    /// The spare to fill next: an empty one, else one whose anchor is not in `keep`, else the first.
    fn spare_slot(&self, keep: &[Option<usize>]) -> usize {
        let free = |sp: &Option<Spare>| sp.is_none_or(|sp| !keep.contains(&Some(sp.anchor)));
        (self.spares.iter().position(Option::is_none))
            .or_else(|| self.spares.iter().position(free))
            .unwrap_or(0)
    }

    /// At a re-anchor to `start`: take a spare cache built from there, keeping the current one as
    /// a spare in its place (when it is sound). Returns whether it did.
    fn promote_spare(&mut self, start: usize) -> bool {
        let len = self.ctx.len();
        // Usable: not past the context, and not [STYLE] alone with nothing to feed (no logits).
        let Some((i, sp)) = self
            .spare_at(start)
            .filter(|(_, sp)| sp.fed <= len && (sp.fed > sp.anchor || sp.fed < len))
        else {
            return false;
        };
        self.backend.swap_caches(i);
        self.spares[i] = (!self.cache_dirty).then_some(Spare {
            anchor: self.anchor,
            fed: self.fed,
        });
        self.anchor = sp.anchor;
        self.fed = sp.fed;
        self.cache_dirty = false;
        self.logits_at = u64::MAX;
        true
    }

    /// Played notes Cadenza has decided its response to since the last call: a note on the first
    /// tick it may play on after the reaction lead (or later, once the model's rest reached it), or
    /// its rest past that tick. The engine's response time is the time to this decision.
    pub fn take_reactions(&mut self) -> u64 {
        std::mem::take(&mut self.reactions)
    }

    /// Beat at the end of the context.
    pub fn cursor(&self) -> f64 {
        self.cursor
    }

    pub fn context_len(&self) -> usize {
        self.ctx.len()
    }
}

/// (Cadenza's keys, the player's keys) sounding after context token `c`, given those before it.
fn held_by_owner(held: (u128, u128), vocab: &Vocab, c: &Ctx) -> (u128, u128) {
    held_after_owned(held, vocab, c.token, c.player)
}

/// The features of context token `c` with the keys sounding after it.
fn features_of(held: (u128, u128), c: &Ctx, ticks_per_beat: u32) -> Features {
    Features {
        held: held.0,
        player_held: held.1,
        phase: phase_of(c.beat, ticks_per_beat),
        player: c.player,
        role: None,
    }
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
mod tests {
    use super::*;
    use crate::features::held_after;

    /// Uniform logits; records what it was fed and checks the window is never exceeded.
    struct Fake {
        window: usize,
        /// The cache's tokens since the last reset, and their features.
        since_reset: Vec<u32>,
        feats: Vec<Features>,
        /// The spare caches' tokens and features.
        spares: [(Vec<u32>, Vec<Features>); SPARE_CACHES],
        /// Feeds of more than one token into an empty cache (a cache built from scratch at once).
        prefills: usize,
        logits: Vec<f32>,
        resets: usize,
        truncations: usize,
        style_base: u32,
        style_slots: u32,
        /// A token the fake strongly prefers (to script what the "model" plays)...
        favor: Option<u32>,
        /// ...while its cache holds fewer tokens than this.
        favor_until: usize,
    }

    impl Fake {
        fn new(vocab: Vocab, window: usize) -> Self {
            Self {
                window,
                since_reset: Vec::new(),
                feats: Vec::new(),
                spares: Default::default(),
                prefills: 0,
                logits: vec![0.0; vocab.size as usize],
                resets: 0,
                truncations: 0,
                style_base: vocab.style_base,
                style_slots: vocab.style_slots,
                favor: None,
                favor_until: usize::MAX,
            }
        }
    }

    impl Fake {
        /// Logits that depend on the whole cache, like a model's: a determinism check must see it.
        fn logits_of(&self, cache: &[u32]) -> Vec<f32> {
            let h = cache
                .iter()
                .fold(7u64, |h, &t| h.wrapping_mul(31).wrapping_add(u64::from(t)));
            let mut logits: Vec<f32> = (0..self.logits.len())
                .map(|i| ((h.wrapping_add(i as u64 * 2_654_435_761) >> 7) % 100) as f32 / 100.0)
                .collect();
            if let Some(t) = self.favor.filter(|_| cache.len() < self.favor_until) {
                logits[t as usize] = 30.0;
            }
            logits
        }
    }

    impl Backend for Fake {
        fn feed(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], String> {
            assert!(!tokens.is_empty());
            assert_eq!(tokens.len(), feats.len(), "one set of features per token");
            self.feats.extend_from_slice(feats);
            if self.since_reset.is_empty() {
                self.prefills += usize::from(tokens.len() > 1);
                let first = tokens[0];
                assert!(
                    (self.style_base..self.style_base + self.style_slots).contains(&first),
                    "a fresh cache starts with a style token, got {first}"
                );
            }
            let len = self.since_reset.len() + tokens.len();
            assert!(len < self.window, "cache would exceed the window: {len}");
            self.since_reset.extend_from_slice(tokens);
            self.logits = self.logits_of(&self.since_reset);
            Ok(&self.logits)
        }
        fn reset(&mut self) {
            self.since_reset.clear();
            self.feats.clear();
            self.resets += 1;
        }
        fn truncate(&mut self, len: usize) {
            assert!(
                len >= 1 && len <= self.since_reset.len(),
                "truncate to {len} of {}",
                self.since_reset.len()
            );
            self.since_reset.truncate(len);
            self.feats.truncate(len);
            self.truncations += 1;
        }
        fn window(&self) -> usize {
            self.window
        }
        fn swap_caches(&mut self, spare: usize) {
            std::mem::swap(&mut self.since_reset, &mut self.spares[spare].0);
            std::mem::swap(&mut self.feats, &mut self.spares[spare].1);
        }
    }

    const S: Settings = Settings {
        mode: Mode::Duet,
        style: 2,
        temperature: 1.0,
        top_p: 1.0,
        lookahead_beats: 2.0,
        scale: Scale::Off,
        key: 0,
        low: 0,
        high: 127,
        density: 0.0,
        dynamics: Dynamics::FollowPlayer,
        velocity: 0.75,
        accent: 0.0,
        max_polyphony: 128,
        answer_bars: 1,
        listen_gap_beats: 1.0,
        answer_start: AnswerStart::NextBeat,
        seed: 1,
        reset_on_jump: false,
        capture_bars: 4,
    };

    fn gen(window: usize) -> Generator<Fake> {
        let v = Vocab::DEFAULT;
        Generator::new(Fake::new(v, window), v, 24, 5)
    }

    fn at(beat: f64) -> PlayClock {
        PlayClock::at(beat, 120.0)
    }

    fn resync(beat: f64, playing: bool, epoch: u32) -> ToEngine {
        ToEngine::Resync {
            beat,
            playing,
            epoch,
            heard_until: beat,
            jumped: false,
        }
    }

    fn play(beat: f64, pitch: u8, on: bool) -> ToEngine {
        ToEngine::Played {
            beat,
            pitch,
            velocity: if on { 0.9 } else { 0.0 },
            on,
        }
    }

    /// Handle a message, collecting what it sends at once. The audio side's block starts on the
    /// message's beat (as in a bounce: nothing after it has been played).
    fn msg(g: &mut Generator<Fake>, m: ToEngine, s: &Settings) -> Vec<Generated> {
        let beat = match m {
            ToEngine::Played { beat, .. } | ToEngine::Resync { beat, .. } => beat,
        };
        msg_at(g, m, at(beat), s)
    }

    /// Handle a message with the audio side at `clock`.
    fn msg_at(
        g: &mut Generator<Fake>,
        m: ToEngine,
        clock: PlayClock,
        s: &Settings,
    ) -> Vec<Generated> {
        let mut out = Vec::new();
        g.on_message(m, clock, s, &mut |x| out.push(x));
        out
    }

    /// Step until the plan reaches the lookahead; collect the notes. After every token: it was
    /// drawn from the logits of the cache as it is (never those of a cache since cut or swapped).
    fn fill(g: &mut Generator<Fake>, playhead: f64, s: &Settings) -> Vec<Generated> {
        let mut out = Vec::new();
        let mut n = 0;
        while g.step(at(playhead), s, &mut |x| out.push(x)).unwrap() {
            assert_eq!(
                g.last_logits,
                g.backend.logits_of(&g.backend.since_reset),
                "token {n}: drawn from the logits of the cache as it is"
            );
            n += 1;
            assert!(n < 10_000, "the plan never reached the lookahead");
        }
        out
    }

    /// Walk the playhead from `from` to `to` in quarter beats, filling the plan each time.
    fn roll(g: &mut Generator<Fake>, from: f64, to: f64, s: &Settings) -> Vec<Generated> {
        let mut out = Vec::new();
        let mut b = from;
        while b < to {
            out.extend(fill(g, b, s));
            b += 0.25;
        }
        out
    }

    #[test]
    fn nothing_happens_before_the_first_resync_or_while_stopped_and_idle() {
        let mut g = gen(64);
        assert!(!g
            .step(at(0.0), &S, &mut |_| panic!("no notes before a resync"))
            .unwrap());
        msg(&mut g, resync(0.0, false, 1), &S);
        assert!(!g
            .step(at(0.0), &S, &mut |_| panic!("stopped and nobody played"))
            .unwrap());
        msg(&mut g, play(0.1, 60, true), &S);
        assert!(
            g.step(at(0.1), &S, &mut |_| {}).unwrap(),
            "the player played: answer even while stopped"
        );
    }

    #[test]
    fn a_transport_stop_silences_until_the_player_plays_again() {
        let mut g = gen(64);
        msg(&mut g, resync(0.0, true, 1), &S);
        msg(&mut g, play(0.5, 60, true), &S);
        fill(&mut g, 1.0, &S);
        msg(&mut g, resync(1.0, false, 2), &S);
        assert!(!g
            .step(at(1.0), &S, &mut |_| panic!("nothing after a stop"))
            .unwrap());
        msg(&mut g, play(1.5, 62, true), &S);
        assert!(
            g.step(at(1.5), &S, &mut |_| {}).unwrap(),
            "a note played while stopped starts a jam"
        );
    }

    #[test]
    fn plans_ahead_on_the_tick_grid_with_the_resync_epoch_up_to_the_lookahead() {
        for look in [0.5, 2.0, 6.0] {
            let s = Settings {
                lookahead_beats: look,
                ..S
            };
            let mut g = gen(64);
            msg(&mut g, resync(3.01, true, 7), &s);
            let notes = fill(&mut g, 3.01, &s);
            assert!(
                g.cursor() >= 3.01 + look && g.cursor() < 3.01 + look + 2.1,
                "lookahead {look}: cursor {}",
                g.cursor()
            );
            for n in &notes {
                assert_eq!((n.epoch, n.plan), (7, 0));
                assert!(
                    n.beat >= 3.01 + RESYNC_SECONDS * 2.0 - 1e-9,
                    "never sooner than the reaction lead: {n:?}"
                );
                let ticks = n.beat * 24.0;
                assert!((ticks - ticks.round()).abs() < 1e-6, "on the grid: {n:?}");
            }
        }
    }

    #[test]
    fn a_played_note_withdraws_the_plan_after_it_and_the_cache_is_cut_not_rebuilt() {
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &S);
        fill(
            &mut g,
            0.0,
            &Settings {
                lookahead_beats: 4.0,
                ..S
            },
        );
        assert!(g.cursor() >= 4.0);
        assert!(
            g.ctx[0].beat < 1.5,
            "a plan with something before the note to keep"
        );
        let resets = g.backend.resets;
        msg(&mut g, play(1.5, 64, true), &S);
        assert!(
            (g.cursor() - 1.5).abs() < 1e-9,
            "context ends at the played note"
        );
        assert!(g.ctx.last().unwrap().player);
        let notes = fill(&mut g, 1.5, &S);
        assert_eq!(
            g.backend.resets, resets,
            "no prefill: the cache was truncated"
        );
        assert!(g.backend.truncations >= 1);
        assert!(!notes.is_empty());
        for n in &notes {
            assert_eq!(n.plan, 1, "a new plan");
            assert!(
                n.beat >= 1.5 + REACTION_SECONDS * 2.0 - 1e-9,
                "after the lead: {n:?}"
            );
            if n.on {
                assert!(
                    (n.velocity - 0.9).abs() < 1e-6,
                    "dynamics follow the player"
                );
                assert_ne!(n.pitch, 64, "never a note-on on a key the player holds");
            }
        }
    }

    #[test]
    fn a_cut_keeps_the_cache_to_the_cut_and_the_next_feed_brings_fresh_logits() {
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &S);
        fill(
            &mut g,
            0.0,
            &Settings {
                lookahead_beats: 8.0,
                ..S
            },
        );
        g.sync_cache().unwrap();
        let len = g.context_len();
        assert!(len > 8, "a plan to cut: {len}");
        let (resets, fed) = (g.backend.resets, g.backend.since_reset.len());
        // A cut that leaves nothing new to feed: the cache ends on a token whose logits were
        // overwritten since, so that token is fed again.
        let beat = g.ctx[len / 2].beat;
        assert!(g.truncate_after(beat));
        let kept = g.context_len();
        g.sync_cache().unwrap();
        assert_eq!(g.backend.resets, resets, "cut, not rebuilt");
        assert_eq!(
            g.backend.since_reset.len(),
            1 + kept,
            "[STYLE] + the context up to the cut"
        );
        assert!(g.backend.since_reset.len() < fed);
        assert_eq!(g.last_logits, g.backend.logits_of(&g.backend.since_reset));
        // A cut followed by new tokens feeds only those.
        let beat = g.ctx[kept / 2].beat;
        g.truncate_after(beat);
        let kept = g.context_len();
        g.push(Vocab::DEFAULT.note_on_base + 70);
        let truncations = g.backend.truncations;
        g.sync_cache().unwrap();
        assert_eq!(
            g.backend.truncations, truncations,
            "no second cut for the logits"
        );
        assert_eq!(g.backend.since_reset.len(), 2 + kept);
        assert_eq!(g.last_logits, g.backend.logits_of(&g.backend.since_reset));
    }

    /// The audio side as the scheduler keeps it: notes wait until the audio passes them, and a
    /// newer plan drops the older plans' waiting notes.
    #[derive(Default)]
    struct Audio {
        plan: u32,
        pending: Vec<Generated>,
        sounded: Vec<Generated>,
    }

    impl Audio {
        fn take(&mut self, notes: impl IntoIterator<Item = Generated>) {
            for n in notes {
                if n.plan < self.plan {
                    continue;
                }
                if n.plan > self.plan {
                    self.plan = n.plan;
                    self.pending.clear();
                }
                if !n.is_plan_mark() {
                    self.pending.push(n);
                }
            }
        }

        /// The audio plays everything before `beat`.
        fn play_to(&mut self, beat: f64) {
            let (now, later): (Vec<Generated>, Vec<Generated>) =
                self.pending.iter().partition(|n| n.beat < beat - 1e-9);
            self.sounded.extend(now);
            self.pending = later;
        }

        fn finish(mut self) -> Vec<Generated> {
            self.sounded.append(&mut self.pending);
            self.sounded
        }
    }

    #[test]
    fn same_seed_and_input_give_the_same_notes_however_far_the_engine_had_planned() {
        // Two runs with the same seed and the same played notes; in one the engine has planned four
        // beats ahead when each played note arrives, in the other half a beat. The audio side
        // plays blocks of an eighth of a beat and hears the player's notes in them, as in a bounce.
        let played = [(1.0, 60u8), (2.25, 64), (4.5, 67), (7.0, 62), (9.75, 65)];
        let mut events: Vec<(f64, u8, bool)> = played
            .iter()
            .flat_map(|&(b, p)| [(b, p, true), (b + 0.1, p, false)])
            .collect();
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let run = |lookahead: f64, seed: u32| {
            let s = Settings {
                seed,
                lookahead_beats: lookahead,
                ..S
            };
            let mut g = gen(48);
            let mut audio = Audio::default();
            msg(&mut g, resync(0.0, true, 1), &s);
            let mut b = 0.0;
            let mut next = 0;
            while b < 12.0 {
                audio.take(fill(&mut g, b, &s));
                b += 0.125;
                audio.play_to(b);
                while next < events.len() && events[next].0 < b {
                    let (beat, p, on) = events[next];
                    audio.take(msg_at(&mut g, play(beat, p, on), at(b), &s));
                    next += 1;
                }
            }
            audio.take(fill(&mut g, b, &s));
            audio
                .finish()
                .iter()
                .filter(|n| n.beat < 11.0)
                .map(|n| (n.beat.to_bits(), n.pitch, n.on))
                .collect::<Vec<_>>()
        };
        let a = run(4.0, 5);
        // Every played note and every release heard late withdraws the plan: what sounds is what
        // was planned between them.
        assert!(a.len() > 5, "enough notes to compare: {}", a.len());
        assert_eq!(a, run(0.5, 5), "same seed, same input, same notes");
        assert_ne!(a, run(4.0, 6), "another seed, another take");
    }

    /// The player's tokens in the context: (tick, token).
    fn heard(g: &Generator<Fake>) -> Vec<(i64, u32)> {
        g.ctx
            .iter()
            .filter(|c| c.player)
            .map(|c| ((c.beat * 24.0).round() as i64, c.token))
            .collect()
    }

    #[test]
    fn the_lead_is_a_mask_the_models_own_rest_reaches_it_and_nothing_is_written_for_it() {
        let v = Vocab::DEFAULT;
        // A model that wants a note at once, else a rest.
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &S);
        msg(&mut g, play(1.0, 64, true), &S);
        g.backend.favor = Some(v.note_on_base + 60);
        g.take_mask_stats();
        let before = g.context_len();
        let mut out = Vec::new();
        g.step(at(1.0), &S, &mut |n| out.push(n)).unwrap();
        // The lead after a played note is 30 ms (0.06 beat, 1.44 ticks at 120 BPM): the note is
        // refused, and the one token written is a shift the model drew, reaching past the lead.
        assert_eq!(
            g.context_len(),
            before + 1,
            "one token: the model's own rest"
        );
        match v.decode(g.ctx[before].token) {
            Some(Event::Shift(k)) => assert!(k >= 2, "a shift of {k} ticks lands before the lead"),
            e => panic!("the first token is {e:?}"),
        }
        let m = g.take_mask_stats();
        assert_eq!((m.steps, m.over_fifth_floor), (1, 1), "{m:?}");
        // The response is decided once the rest passes the floor's tick (2 ticks), or a note is
        // struck: here the next step's note.
        let past = g.cursor() > 1.0 + 2.5 / 24.0;
        let mut reactions = g.take_reactions();
        assert_eq!(reactions, u64::from(past), "at {}", g.cursor());
        g.step(at(1.0), &S, &mut |n| out.push(n)).unwrap();
        assert!(
            out.iter().any(|n| n.on && n.pitch == 60 && n.beat >= 1.06),
            "{out:?}"
        );
        reactions += g.take_reactions();
        assert_eq!(reactions, 1, "decided once, by the rest or the note");
        for _ in 0..8 {
            g.step(at(1.0), &S, &mut |_| {}).unwrap();
        }
        assert_eq!(
            g.take_reactions(),
            0,
            "what comes after is planning, not a response"
        );
        // A call is answered after its gap: its response is the withdrawal, not a decision.
        let cr = Settings {
            mode: Mode::CallResponse,
            ..S
        };
        msg(&mut g, play(2.0, 62, true), &cr);
        msg(&mut g, play(2.5, 62, false), &cr);
        fill(&mut g, 8.0, &cr);
        assert_eq!(g.take_reactions(), 0);
    }

    #[test]
    fn a_start_with_nothing_heard_begins_the_timeline_where_cadenza_may_first_play() {
        let v = Vocab::DEFAULT;
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &S);
        g.backend.favor = Some(v.note_on_base + 60);
        g.take_mask_stats();
        let mut out = Vec::new();
        g.step(at(0.0), &S, &mut |n| out.push(n)).unwrap();
        // The start's lead is 0.1 s (4.8 ticks at 120 BPM): the timeline begins on tick 5, and
        // the model's first token is its own note there, nothing refused, no rest written.
        assert_eq!(g.ctx[0].token, v.note_on_base + 60);
        assert_eq!(out[0].beat, 5.0 / 24.0);
        assert_eq!(g.take_mask_stats().over_fifth, 0);
        // A player's note before that tick starts the timeline where it is heard.
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &S);
        msg(&mut g, play(0.0, 62, true), &S);
        assert_eq!((g.ctx[0].beat, g.ctx[0].player), (0.0, true));
    }

    #[test]
    fn nothing_is_planned_into_a_block_the_host_already_played() {
        // Real time with long blocks: the note comes in a block that ends 0.4 beat after it, longer
        // than the lead; the answer starts at the block's end at the soonest, and what Cadenza
        // planned in the block stays (it was played).
        let s = Settings {
            lookahead_beats: 4.0,
            ..S
        };
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &s);
        fill(&mut g, 0.0, &s);
        let block = PlayClock {
            open_from: 1.4,
            ..at(1.0)
        };
        let kept: Vec<Ctx> = g
            .ctx
            .iter()
            .filter(|c| c.beat < 1.4 - 1e-9)
            .copied()
            .collect();
        msg_at(&mut g, play(1.0, 64, true), block, &s);
        let ours: Vec<Ctx> = g.ctx.iter().filter(|c| !c.player).copied().collect();
        let shift = |c: &Ctx| matches!(Vocab::DEFAULT.decode(c.token), Some(Event::Shift(_)));
        let notes = |cs: &[Ctx]| {
            cs.iter()
                .filter(|c| !shift(c))
                .map(|c| (c.token, c.beat.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            notes(&ours),
            notes(&kept),
            "Cadenza's played notes stay, in order, around the player's"
        );
        let mut out = Vec::new();
        while g.step(block, &s, &mut |n| out.push(n)).unwrap() {}
        let new: Vec<&Generated> = out.iter().filter(|n| !n.is_plan_mark()).collect();
        assert!(!new.is_empty());
        for n in new {
            assert!(n.beat >= 1.4 - 1e-9, "planned into the played block: {n:?}");
        }
    }

    #[test]
    fn a_release_is_heard_on_the_next_onset_when_it_comes_soon_and_on_the_grid_when_not() {
        let v = Vocab::DEFAULT;
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &S);
        // A quarter note played at 55% of its length, then the next on the beat, 20 ms late.
        msg(&mut g, play(0.0, 60, true), &S);
        msg(&mut g, play(0.55, 60, false), &S);
        msg(&mut g, play(1.04, 62, true), &S);
        assert_eq!(
            heard(&g),
            [
                (0, v.note_on_base + 60),
                (24, v.note_off_base + 60),
                (24, v.note_on_base + 62)
            ],
            "legato, on the grid"
        );
        // Released into a rest: heard on its grid point once the next onset is overdue.
        msg(&mut g, play(1.52, 62, false), &S);
        fill(&mut g, 2.5, &S);
        assert_eq!(heard(&g)[3], (36, v.note_off_base + 62));
    }

    #[test]
    fn a_note_played_early_keeps_cadenzas_note_on_the_beat_it_is_heard_on() {
        let v = Vocab::DEFAULT;
        // Cadenza planned a note on beat 1 and on; the player plays 30 ms early (at 120 BPM, 0.06
        // beat), in a block that ends before beat 1.
        let context = |played: f64, block_end: f64| {
            let mut g = gen(128);
            msg(&mut g, resync(0.0, true, 1), &S);
            // A context built by hand from beat 0.
            g.cursor = 0.0;
            for t in [
                v.shift_base + 23,
                v.note_on_base + 72,
                v.shift_base + 11,
                v.note_off_base + 72,
            ] {
                g.push(t);
            }
            let clock = PlayClock {
                open_from: block_end,
                ..at(played)
            };
            let out = msg_at(&mut g, play(played, 60, true), clock, &S);
            let ctx: Vec<(u32, bool)> = g.ctx.iter().map(|c| (c.token, c.player)).collect();
            (ctx, out)
        };
        let (on_time, _) = context(1.0, 1.01);
        let (early, sent) = context(0.94, 0.96);
        assert_eq!(
            &on_time[..3],
            &[
                (v.shift_base + 23, false),
                (v.note_on_base + 72, false),
                (v.note_on_base + 60, true)
            ]
        );
        assert_eq!(
            early[..3],
            on_time[..3],
            "the early note is heard on the beat, after Cadenza's"
        );
        assert!(
            sent.iter().any(|n| n.on && n.pitch == 72 && n.beat == 1.0 && n.plan == 1),
            "Cadenza's note, not yet played, goes to the audio side again under the new plan: {sent:?}"
        );
    }

    #[test]
    fn humanized_playing_is_heard_as_the_quantized_line() {
        // The same line quantized and legato, and humanized: onsets up to 30 ms off (0.06 beat at
        // 120 BPM), lengths 50-100%. The context hears the same notes at the same ticks.
        let line = [
            (0.0, 1.0, 60u8),
            (1.0, 1.0, 62),
            (2.0, 0.5, 64),
            (2.5, 0.5, 65),
            (3.0, 2.0, 67),
        ];
        let jitter: [f64; 5] = [0.05, -0.04, 0.03, -0.06, 0.02];
        let length: [f64; 5] = [0.5, 0.9, 0.6, 1.0, 0.7];
        let context = |human: bool| {
            let mut g = gen(256);
            msg(&mut g, resync(0.0, true, 1), &S);
            let mut events = Vec::new();
            for (i, &(b, l, p)) in line.iter().enumerate() {
                let (on, len) = if human {
                    (b + jitter[i], l * length[i])
                } else {
                    (b, l)
                };
                events.push((on.max(0.0), p, true));
                events.push((on.max(0.0) + len, p, false));
            }
            events.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (b, p, on) in events {
                fill(&mut g, b, &S);
                msg(&mut g, play(b, p, on), &S);
            }
            fill(&mut g, 7.0, &S);
            heard(&g)
        };
        let (quantized, human) = (context(false), context(true));
        assert_eq!(quantized.len(), 10);
        assert_eq!(human[..9], quantized[..9]);
        // The last release goes into silence: no next note says the half note was meant whole, so
        // it is heard where it was let go, on the grid (4.42 -> 4.5).
        assert_eq!(human[9], (108, Vocab::DEFAULT.note_off_base + 67));
    }

    #[test]
    fn a_jump_back_keeps_the_played_music_and_drops_the_unplayed_plan() {
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &S);
        roll(&mut g, 0.0, 10.0, &S);
        assert!(g.cursor() > 11.0);
        let m = ToEngine::Resync {
            beat: 0.0,
            playing: true,
            epoch: 2,
            heard_until: 10.0,
            jumped: true,
        };
        msg(&mut g, m, &S);
        assert_eq!(g.cursor(), 0.0, "time restarts at the loop start");
        assert!(
            g.context_len() > 10,
            "the music played so far is still context"
        );
        assert!(
            g.ctx.iter().all(|c| c.beat <= 1e-9),
            "context beats rebased onto the new timeline"
        );
        let notes = fill(
            &mut g,
            0.0,
            &Settings {
                lookahead_beats: 8.0,
                ..S
            },
        );
        assert!(notes.iter().all(|n| n.epoch == 2 && n.beat >= 0.0));
        assert!(notes.iter().any(|n| n.on));
        // With "reset on jump" the context goes.
        msg(
            &mut g,
            ToEngine::Resync {
                beat: 0.0,
                playing: true,
                epoch: 3,
                heard_until: 0.5,
                jumped: true,
            },
            &Settings {
                reset_on_jump: true,
                ..S
            },
        );
        assert_eq!(g.context_len(), 0);
    }

    #[test]
    fn after_a_played_note_the_first_answer_note_is_planned_at_once_even_past_the_lookahead() {
        let v = Vocab::DEFAULT;
        let s = Settings {
            lookahead_beats: 1.0,
            ..S
        };
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &s);
        fill(&mut g, 0.0, &s);
        msg(&mut g, play(0.5, 64, true), &s);
        // The "model" rests two 2-beat shifts after the played note, then plays freely.
        g.backend.favor = Some(v.shift_base + v.max_shift - 1);
        let mut notes = Vec::new();
        assert!(g.step(at(0.5), &s, &mut |n| notes.push(n)).unwrap());
        g.backend.favor_until = g.backend.since_reset.len() + 2;
        notes.extend(fill(&mut g, 0.5, &s));
        let first = notes
            .iter()
            .find(|n| n.on)
            .expect("the answer's first note, planned at once");
        assert_eq!(first.plan, 1);
        assert!(
            first.beat > 0.5 + 4.0 - 1e-9,
            "past the 1-beat lookahead, after the rest: {first:?}"
        );
        assert!(
            (g.cursor() - first.beat).abs() < 1e-9,
            "and no further: the plan stops at its first note ({} vs {first:?})",
            g.cursor()
        );
        assert!(notes.iter().all(|n| n.on || n.beat <= first.beat));

        // A model that keeps resting is followed only up to the reach, then waits for the playhead.
        msg(&mut g, play(first.beat - 0.5, 65, true), &s);
        g.backend.favor_until = usize::MAX;
        let notes = fill(&mut g, first.beat - 0.5, &s);
        assert!(notes.iter().all(|n| !n.on), "{notes:?}");
        let reach = first.beat - 0.5 + ANSWER_REACH_BEATS;
        assert!(
            g.cursor() >= reach && g.cursor() < reach + 2.0 + 1e-9,
            "cursor {} for a reach of {reach}",
            g.cursor()
        );
        assert!(
            fill(&mut g, first.beat, &s).is_empty(),
            "nothing more until the playhead nears"
        );
        assert!(!g.step(at(first.beat), &s, &mut |_| {}).unwrap());
    }

    #[test]
    fn a_reanchor_ends_our_notes_whose_start_leaves_the_window_but_not_the_players() {
        let v = Vocab::DEFAULT;
        let mut g = gen(32);
        msg(&mut g, resync(0.0, true, 1), &S);
        msg(&mut g, play(0.1, 50, true), &S); // held on
        g.backend.favor = Some(v.note_on_base + 60);
        let mut out = Vec::new();
        // The lead after the played note is a mask: the model's own rest reaches it, then the note.
        for _ in 0..4 {
            g.step(at(0.1), &S, &mut |n| out.push(n)).unwrap();
        }
        assert!(out.iter().any(|n| n.on && n.pitch == 60), "{out:?}");
        g.backend.favor = Some(v.shift_base); // then only one-tick rests
        for i in 0..400 {
            g.step(at(0.1 + f64::from(i) * 0.01), &S, &mut |n| out.push(n))
                .unwrap();
        }
        assert!(g.backend.resets > 1, "re-anchored");
        let off = out
            .iter()
            .find(|n| !n.on && n.pitch == 60)
            .expect("Cadenza ended its own note");
        assert!(off.beat < 4.0, "well before the 8-beat safety net: {off:?}");
        assert!(
            !out.iter().any(|n| !n.on && n.pitch == 50),
            "never ends the player's held note"
        );
    }

    #[test]
    fn note_offs_only_for_open_notes_and_never_more_voices_than_allowed() {
        let s = Settings {
            max_polyphony: 3,
            density: 1.0,
            ..S
        };
        let mut g = gen(512);
        msg(&mut g, resync(0.0, true, 1), &s);
        let mut open = [false; 128];
        let mut ons = 0;
        for n in roll(&mut g, 0.0, 50.0, &s) {
            if n.on {
                assert!(
                    !open[n.pitch as usize],
                    "note-on on an open key {}",
                    n.pitch
                );
                ons += 1;
            } else {
                assert!(
                    open[n.pitch as usize],
                    "note-off for a key that is not sounding {}",
                    n.pitch
                );
            }
            open[n.pitch as usize] = n.on;
            assert!(open.iter().filter(|o| **o).count() <= 3, "polyphony limit");
        }
        assert!(ons >= 3, "reached the limit: {ons}");
    }

    #[test]
    fn no_generated_note_ends_on_the_tick_it_began() {
        let s = Settings { density: 1.0, ..S };
        for seed in 1..4 {
            let s = Settings { seed, ..s };
            let mut g = gen(256);
            msg(&mut g, resync(0.0, true, 1), &s);
            let mut began = [f64::NAN; 128];
            let mut notes = 0;
            for n in roll(&mut g, 0.0, 40.0, &s) {
                if n.on {
                    began[n.pitch as usize] = n.beat;
                } else {
                    let b = began[n.pitch as usize];
                    assert!(
                        n.beat > b + 1e-9,
                        "seed {seed}: key {} ended at {} where it began",
                        n.pitch,
                        n.beat
                    );
                    notes += 1;
                }
            }
            assert!(notes > 20, "seed {seed}: enough notes ended: {notes}");
        }
    }

    #[test]
    fn scale_lock_and_range_hold_for_every_generated_note() {
        let s = Settings {
            scale: Scale::Dorian,
            key: 2,
            low: 55,
            high: 72,
            density: 1.0,
            ..S
        };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &s);
        let ons: Vec<u8> = roll(&mut g, 0.0, 40.0, &s)
            .iter()
            .filter(|n| n.on)
            .map(|n| n.pitch)
            .collect();
        assert!(ons.len() > 8, "{ons:?}");
        let classes = Scale::Dorian.pitch_classes(2);
        for p in &ons {
            assert!(
                classes & (1 << (p % 12)) != 0 && (55..=72).contains(p),
                "{p} outside D dorian 55..72"
            );
        }
        // Follow the player: only the pitch classes they used.
        let f = Settings {
            scale: Scale::FollowPlayer,
            ..s
        };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &f);
        for (i, p) in [60u8, 62, 67].iter().enumerate() {
            msg(&mut g, play(i as f64 * 0.25, *p, true), &f);
            msg(&mut g, play(i as f64 * 0.25 + 0.2, *p, false), &f);
        }
        let ons: Vec<u8> = roll(&mut g, 1.0, 30.0, &f)
            .iter()
            .filter(|n| n.on)
            .map(|n| n.pitch)
            .collect();
        assert!(ons.len() >= 4, "{ons:?}");
        assert!(ons.iter().all(|p| [0, 2, 7].contains(&(p % 12))), "{ons:?}");
    }

    #[test]
    fn density_changes_how_many_notes_start() {
        let count = |density: f32| {
            let s = Settings { density, ..S };
            let mut g = gen(256);
            msg(&mut g, resync(0.0, true, 1), &s);
            roll(&mut g, 0.0, 30.0, &s).iter().filter(|n| n.on).count()
        };
        let (sparse, dense) = (count(-1.0), count(1.0));
        assert!(
            dense > 2 * sparse.max(1),
            "dense {dense} vs sparse {sparse}"
        );
    }

    #[test]
    fn accents_make_the_downbeat_loudest_and_fixed_dynamics_ignore_the_player() {
        let s = Settings {
            dynamics: Dynamics::Fixed,
            velocity: 0.5,
            accent: 1.0,
            ..S
        };
        let g = gen(64);
        assert!((g.velocity_at(4.0, &s) - 0.65).abs() < 1e-6);
        assert!((g.velocity_at(5.0, &s) - 0.55).abs() < 1e-6);
        assert!((g.velocity_at(5.5, &s) - 0.45).abs() < 1e-6);
    }

    #[test]
    fn a_chord_call_is_heard_whole_and_every_key_of_it_let_go() {
        // Each note of a call withdraws the answer from its beat; the chord's other notes, heard on
        // that beat, are the player's and stay (they once cut each other out of the context, so the
        // model heard one note of every chord and no release of the others).
        let v = Vocab::DEFAULT;
        let s = Settings {
            mode: Mode::CallResponse,
            listen_gap_beats: 0.5,
            answer_bars: 1,
            ..S
        };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &s);
        for (beat, p) in [(0.0, 60), (0.0, 64), (0.0, 67), (0.02, 72)] {
            msg(&mut g, play(beat, p, true), &s);
        }
        for (beat, p) in [(1.9, 60), (1.95, 64), (2.0, 67), (2.0, 72)] {
            msg(&mut g, play(beat, p, false), &s);
        }
        roll(&mut g, 2.0, 8.0, &s);
        let theirs = heard(&g);
        for p in [60u32, 64, 67, 72] {
            assert!(
                theirs.contains(&(0, v.note_on_base + p)),
                "{p} not heard: {theirs:?}"
            );
            assert!(
                theirs
                    .iter()
                    .any(|&(t, k)| k == v.note_off_base + p && t == 48),
                "{p} not let go on beat 2: {theirs:?}"
            );
        }
        assert_eq!(
            g.open_notes().theirs,
            0,
            "a key the player let go of is open"
        );
    }

    #[test]
    fn call_and_response_answers_after_the_gap_for_its_bars_and_a_new_call_cuts_it() {
        let s = Settings {
            mode: Mode::CallResponse,
            listen_gap_beats: 1.0,
            answer_bars: 1,
            density: 1.0,
            ..S
        };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &s);
        // Held key: nothing.
        msg(&mut g, play(0.0, 60, true), &s);
        assert!(
            fill(&mut g, 0.0, &s).is_empty(),
            "no answer while the player holds a key"
        );
        msg(&mut g, play(1.3, 60, false), &s);
        // Released at 1.3: the answer waits 1 beat (2.3) and starts on the next beat (3.0), one bar.
        let notes: Vec<Generated> = roll(&mut g, 1.3, 8.0, &s)
            .into_iter()
            .filter(|n| !n.is_plan_mark())
            .collect();
        assert!(notes.iter().any(|n| n.on));
        for n in &notes {
            assert!(
                n.beat >= 3.0 - 1e-9,
                "answer before the gap and the grid: {n:?}"
            );
            assert!(n.beat <= 7.0 + 0.5, "answer longer than one bar: {n:?}");
        }
        let mut open = [false; 128];
        for n in &notes {
            open[n.pitch as usize] = n.on;
        }
        assert!(open.iter().all(|o| !o), "every answer note ended");
        // A new call in the middle of the next answer ends what sounds at once.
        let mut audio = Audio::default();
        audio.take(msg(&mut g, play(8.0, 62, true), &s));
        audio.take(msg(&mut g, play(8.2, 62, false), &s));
        audio.take(roll(&mut g, 8.2, 10.5, &s));
        audio.play_to(10.5);
        let sounding: Vec<u8> = {
            let mut o = [false; 128];
            for n in &audio.sounded {
                o[n.pitch as usize] = n.on;
            }
            (0..128u8).filter(|p| o[*p as usize]).collect()
        };
        assert!(!sounding.is_empty(), "an answer sounds when the call comes");
        let cut = msg(&mut g, play(10.5, 64, true), &s);
        for p in &sounding {
            assert!(
                cut.iter()
                    .any(|n| !n.on && n.pitch == *p && (n.beat - 10.5).abs() < 1e-9),
                "{p} not cut at the call"
            );
        }
        assert!(
            fill(&mut g, 10.5, &s).is_empty(),
            "silent while the player holds the new call"
        );
    }

    #[test]
    fn no_answer_note_starts_on_the_bar_line_that_ends_the_answer() {
        // The cursor sums 1/24-beat shifts in floating point; with some seeds it reaches the end of
        // the answer a hair early, and a note-on there would sound in the bar after the answer
        // (seed 688 lands at 6.999999999999999 and plays a note there without the half-tick rule).
        let mut ons = 0;
        for seed in 640..=720 {
            let s = Settings {
                mode: Mode::CallResponse,
                answer_bars: 1,
                density: 1.0,
                seed,
                ..S
            };
            let mut g = gen(256);
            msg(&mut g, resync(0.0, true, 1), &s);
            msg(&mut g, play(0.0, 60, true), &s);
            msg(&mut g, play(1.3, 60, false), &s);
            // Answer: beats 3..7.
            for n in roll(&mut g, 1.3, 9.0, &s).iter().filter(|n| n.on) {
                assert!(
                    n.beat < 7.0 - 1e-6,
                    "seed {seed}: a note-on at the answer's end: {n:?}"
                );
                ons += 1;
            }
        }
        assert!(ons > 60, "the answers played notes: {ons}");
    }

    #[test]
    fn answers_start_on_the_hosts_bar_lines_in_three_four() {
        let s = Settings {
            mode: Mode::CallResponse,
            listen_gap_beats: 0.5,
            answer_bars: 1,
            answer_start: AnswerStart::NextBar,
            density: 1.0,
            ..S
        };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &s);
        msg(&mut g, play(0.0, 60, true), &s);
        msg(&mut g, play(1.0, 60, false), &s);
        // 3/4 with bars starting at beat 0.5 (as a host reports after a meter change): the gap ends
        // at 1.5, the next bar line is 3.5, the answer lasts until 6.5.
        let clock = |b: f64| PlayClock {
            playhead: b,
            open_from: b,
            tempo: 120.0,
            bar_origin: 0.5,
            beats_per_bar: 3.0,
            playing: true,
        };
        let mut out = Vec::new();
        let mut b = 1.0;
        g.step(clock(b), &s, &mut |x| out.push(x)).unwrap();
        assert_eq!(g.answer_window(&s), Some((3.5, 6.5)));
        while b < 9.0 {
            while g.step(clock(b), &s, &mut |x| out.push(x)).unwrap() {}
            b += 0.25;
        }
        let ons: Vec<f64> = out.iter().filter(|n| n.on).map(|n| n.beat).collect();
        assert!(!ons.is_empty());
        assert!(
            ons.iter().all(|&x| (3.5 - 1e-9..6.5).contains(&x)),
            "{ons:?}"
        );
    }

    #[test]
    fn improvise_ignores_the_players_timing_and_continue_starts_from_the_prompt() {
        let s = Settings {
            mode: Mode::Improvise,
            ..S
        };
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &s);
        fill(&mut g, 0.0, &s);
        let len = g.context_len();
        msg(&mut g, play(0.5, 60, true), &s);
        assert_eq!(
            g.context_len(),
            len,
            "the player's note stays out of a soloist's context"
        );
        assert!(
            fill(&mut g, 0.5, &s).iter().all(|n| n.plan == 0),
            "nothing withdrawn"
        );

        let c = Settings {
            mode: Mode::Continue,
            ..S
        };
        let mut g = gen(128);
        let clip = [
            BeatNote {
                beat: 0.0,
                length: 1.0,
                pitch: 60,
                velocity: 90,
            },
            BeatNote {
                beat: 1.0,
                length: 1.0,
                pitch: 64,
                velocity: 90,
            },
        ];
        g.set_prompt(&clip, false);
        assert_eq!(g.prompt_len(), 6, "on, shift, off, on, shift, off");
        msg(&mut g, resync(8.0, true, 1), &c);
        fill(&mut g, 8.0, &c);
        let v = Vocab::DEFAULT;
        let fed = &g.backend.since_reset;
        assert_eq!(fed[0], v.style_base + 2);
        assert_eq!(
            fed[1..7],
            [
                v.note_on_base + 60,
                v.shift_base + 23,
                v.note_off_base + 60,
                v.note_on_base + 64,
                v.shift_base + 23,
                v.note_off_base + 64
            ]
        );
    }

    #[test]
    fn capture_takes_the_players_last_bars_from_a_bar_line() {
        let mut g = gen(64);
        msg(&mut g, resync(0.0, true, 1), &S);
        for (b, p) in [(1.0, 60u8), (5.5, 62), (9.0, 64)] {
            msg(&mut g, play(b, p, true), &S);
            msg(&mut g, play(b + 0.5, p, false), &S);
        }
        fill(&mut g, 10.0, &S);
        let clip = g.capture_bars(2);
        assert_eq!(clip.len(), 2);
        assert_eq!(
            (clip[0].beat, clip[0].pitch, clip[0].length),
            (1.5, 62, 0.5)
        );
        assert_eq!((clip[1].beat, clip[1].pitch), (5.0, 64));
    }

    #[test]
    fn cadenza_ends_only_its_own_open_notes_never_the_players_and_the_refusal_is_counted() {
        let v = Vocab::DEFAULT;
        let mut g = gen(64);
        msg(&mut g, resync(0.0, true, 1), &S);
        msg(&mut g, play(0.0, 50, true), &S);
        g.take_mask_stats();
        // A model that wants to end a key nobody holds, then the player's key: never written.
        let mut out = Vec::new();
        let mut playhead = 0.0;
        for favor in [55, 50] {
            g.backend.favor = Some(v.note_off_base + favor);
            for _ in 0..50 {
                playhead += 0.05;
                g.step(at(playhead), &S, &mut |n| out.push(n)).unwrap();
            }
        }
        assert!(
            !out.iter().any(|n| n.pitch == 50 || n.pitch == 55),
            "{out:?}"
        );
        assert!(!g.ctx.iter().any(
            |c| c.token == v.note_off_base + 55 || c.token == v.note_off_base + 50 && !c.player
        ));
        let m = g.take_mask_stats();
        assert!(
            m.steps > 0 && m.mean() > 0.9,
            "the refused wish is counted: {m:?}"
        );
        assert!(m.over_fifth_player_key > 0, "{m:?}");
    }

    #[test]
    fn features_count_keys_from_the_cache_start_and_take_the_phase_from_the_host_beat() {
        let v = Vocab::DEFAULT;
        let mut g = gen(32);
        // The transport starts a third of a beat in: the phase is the host's, not a count from zero.
        msg(&mut g, resync(1.0 / 3.0, true, 1), &S);
        let mut checked = 0;
        let mut seen_keys = false;
        let mut phases = std::collections::BTreeSet::new();
        for i in 0..160 {
            let beat = 1.0 / 3.0 + f64::from(i) * 0.25;
            if i % 7 == 3 {
                msg(&mut g, play(beat, 48 + (i % 12) as u8, i % 2 == 1), &S);
            }
            fill(&mut g, beat, &S);
            let (toks, feats) = (&g.backend.since_reset, &g.backend.feats);
            assert_eq!(
                feats[0].held | feats[0].player_held,
                0,
                "the style token holds no keys"
            );
            assert_eq!(feats[0].role, Some(0), "the style token carries the role");
            let (mut held, mut theirs) = (0u128, 0u128);
            let mut tick = u64::from(feats[0].phase);
            for (j, (t, f)) in toks.iter().zip(feats).enumerate().skip(1) {
                let c = g.ctx[g.anchor + j - 1];
                assert_eq!(c.token, *t);
                assert_eq!(
                    f.phase,
                    phase_of(c.beat, 24),
                    "the phase of the token's host beat"
                );
                if c.player {
                    theirs = held_after(theirs, &v, *t);
                } else {
                    held = held_after(held, &v, *t);
                }
                if let Some(Event::Shift(k)) = v.decode(*t) {
                    tick += u64::from(k);
                }
                assert_eq!(
                    f.held, held,
                    "Cadenza's keys counted from the cache's start"
                );
                assert_eq!(f.player_held, theirs, "the player's keys, apart");
                assert_eq!(f.player, c.player);
                assert_eq!(f.role, None);
                assert_eq!(f.phase as u64, tick % 24, "the phase moves with the shifts");
                seen_keys |= theirs != 0;
                phases.insert(f.phase);
                checked += 1;
            }
        }
        assert!(g.backend.resets > 2 && g.backend.truncations > 0);
        assert!(
            checked > 1000 && seen_keys && phases.len() > 4,
            "{checked} {phases:?}"
        );
    }

    #[test]
    fn idle_work_builds_the_next_window_so_a_reanchor_feeds_a_token_not_half_a_window() {
        // Two engines hear the same notes; one does the idle work between passes. Played notes
        // every 1.3 beats withdraw plans, some across a fresh anchor. (The plan stays shorter than
        // half the window, as with the shipped model: a burst of planning that crosses a whole
        // half window at once leaves no idle time between to build in.)
        let window = 128;
        let s = Settings {
            lookahead_beats: 1.0,
            ..S
        };
        let (mut lazy, mut busy) = (gen(window), gen(window));
        let mut outs = (Vec::new(), Vec::new());
        let mut idle_tokens = 0;
        for g in [&mut lazy, &mut busy] {
            msg(g, resync(0.0, true, 1), &s);
        }
        let mut b = 0.0;
        let mut next_played = 1.0;
        while b < 400.0 {
            for (g, out, idle) in [
                (&mut lazy, &mut outs.0, false),
                (&mut busy, &mut outs.1, true),
            ] {
                out.extend(fill(g, b, &s));
                if b >= next_played {
                    let p = 60 + (b as u8 % 12);
                    out.extend(msg(g, play(next_played, p, true), &s));
                    out.extend(msg(g, play(next_played + 0.2, p, false), &s));
                    out.extend(fill(g, b, &s));
                }
                while idle && g.prepare().unwrap() {
                    idle_tokens += 1;
                }
            }
            assert_eq!(
                (&busy.backend.since_reset, &busy.backend.feats),
                (&lazy.backend.since_reset, &lazy.backend.feats),
                "at beat {b}: the same cache, token for token and feature for feature"
            );
            if b >= next_played {
                next_played += 1.3;
            }
            b += 0.25;
        }
        assert_eq!(outs.0, outs.1, "the same notes, idle work or not");
        assert!(
            outs.0.len() > 200,
            "enough notes to compare: {}",
            outs.0.len()
        );
        // The lazy engine rebuilt the cache from scratch (a prefill of half a window or more) at
        // every move of the window, and after rollbacks across one; the busy one only at the start.
        assert!(
            lazy.backend.prefills > 30,
            "{} prefills",
            lazy.backend.prefills
        );
        assert!(
            busy.backend.prefills <= 1,
            "only the first cache is built at once: {}",
            busy.backend.prefills
        );
        assert!(
            idle_tokens > 64 * lazy.backend.prefills / 2,
            "idle work fed {idle_tokens} tokens"
        );
    }

    #[test]
    fn a_long_session_reanchors_and_keeps_the_style_token_in_the_window() {
        let mut g = gen(32);
        msg(&mut g, resync(0.0, true, 1), &S);
        for i in 0..400 {
            fill(&mut g, f64::from(i) * 0.5, &S);
        }
        assert!(
            g.backend.resets > 5,
            "re-anchored {} times",
            g.backend.resets
        );
        assert_eq!(g.backend.since_reset[0], Vocab::DEFAULT.style_base + 2);
        assert!(
            g.context_len() < 8 * 32 + 64,
            "context stays bounded: {}",
            g.context_len()
        );
    }

    #[test]
    fn a_style_change_withdraws_the_plan_and_restarts_on_the_new_style() {
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &S);
        fill(&mut g, 0.0, &S);
        let other = Settings { style: 4, ..S };
        let notes = fill(&mut g, 0.25, &other);
        assert_eq!(g.backend.since_reset[0], Vocab::DEFAULT.style_base + 4);
        assert!(notes.iter().all(|n| n.plan == 1));
        fill(&mut g, 0.5, &Settings { style: 15, ..S });
        assert_eq!(g.backend.since_reset[0], Vocab::DEFAULT.style_base);
    }
}
