//! The generation loop's logic, free of threads and of ONNX Runtime (a [`Backend`] gives logits).
//!
//! It keeps the musical context (played and generated tokens, each stamped with its beat), keeps the
//! backend's KV cache in step with it, and plans generated notes a few beats ahead of the playhead:
//! - a played note withdraws every generated token after its beat (a new *plan*), then joins the context;
//! - a resync (the audio timeline jumped) voids all planned notes and restarts time at the new beat;
//! - a full attention window re-anchors: the cache restarts from [STYLE] + the recent half window.
//!
//! Generated notes are stamped on the tick grid of the host's beats.

use crate::bridge::{Generated, ToEngine};
use crate::sampler::Sampler;
use crate::scheduler::DEFAULT_TEMPO;
use crate::tokenizer::{Event, Vocab};

/// Where the logits come from. `OnnxModel` in the plugin; a fake in tests.
pub trait Backend {
    /// Feed tokens after the cache; return the logits following the last one.
    fn feed(&mut self, tokens: &[u32]) -> Result<&[f32], String>;
    /// Empty the cache.
    fn reset(&mut self);
    /// Tokens the cache can still take before the attention window is full.
    fn room(&self) -> usize;
    /// The attention window, in tokens.
    fn window(&self) -> usize;
}

impl Backend for crate::model::OnnxModel {
    fn feed(&mut self, tokens: &[u32]) -> Result<&[f32], String> {
        crate::model::OnnxModel::feed(self, tokens).map_err(|e| e.to_string())
    }
    fn reset(&mut self) {
        crate::model::OnnxModel::reset(self)
    }
    fn room(&self) -> usize {
        crate::model::OnnxModel::room(self)
    }
    fn window(&self) -> usize {
        self.spec.window as usize
    }
}

/// How far ahead of the playhead the engine plans, in beats.
pub const LOOKAHEAD_BEATS: f64 = 2.0;
/// With the transport stopped, the engine plays while the player played within this many beats.
pub const LISTEN_BEATS_WHEN_STOPPED: f64 = 16.0;
/// A silence longer than this enters the context as this long (the model needs no exact long rests).
pub const MAX_REST_BEATS: f64 = 4.0;
/// The engine never plans a note sooner than this after the playhead: it needs a moment to react to a
/// transport start or a played note, and a note that arrives after its sample would be late.
pub const REACTION_SECONDS: f64 = 0.03;
/// Default velocity before the player has played anything.
pub const DEFAULT_VELOCITY: f32 = 0.75;

/// What one generation call should use; read from the host parameters each time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub temperature: f32,
    pub top_p: f32,
    /// Style slot; clamped to the model's styles.
    pub style: u32,
}

/// One token of context and the beat at which it happens.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ctx {
    token: u32,
    beat: f64,
}

pub struct Generator<B: Backend> {
    pub backend: B,
    vocab: Vocab,
    ticks_per_beat: f64,
    n_styles: u32,
    sampler: Sampler,
    allowed: Vec<bool>,
    ctx: Vec<Ctx>,
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
    last_played: f64,
    /// The playhead as of the last step: how far the audio side has played on the current timeline.
    heard_until: f64,
    /// Keys the player holds.
    held: [bool; 128],
    velocity: f32,
    /// `last_logits` follow the whole context (the cache is up to date).
    logits_ready: bool,
    /// The cache no longer matches ctx[anchor..fed] (a truncation, a style change): rebuild it.
    cache_dirty: bool,
    /// Logits after the last token fed.
    last_logits: Vec<f32>,
    /// Tokens for the next feed (reused).
    feed_buf: Vec<u32>,
}

impl<B: Backend> Generator<B> {
    pub fn new(backend: B, vocab: Vocab, ticks_per_beat: u32, n_styles: u32, seed: u64) -> Self {
        let size = vocab.size as usize;
        Self {
            backend,
            vocab,
            ticks_per_beat: f64::from(ticks_per_beat),
            n_styles: n_styles.max(1),
            sampler: Sampler::new(size, seed),
            allowed: vec![false; size],
            ctx: Vec::with_capacity(4096),
            anchor: 0,
            fed: 0,
            style: u32::MAX,
            cursor: 0.0,
            epoch: 0,
            plan: 0,
            synced: false,
            playing: false,
            last_played: f64::NEG_INFINITY,
            heard_until: 0.0,
            held: [false; 128],
            velocity: DEFAULT_VELOCITY,
            logits_ready: false,
            cache_dirty: true,
            last_logits: Vec::with_capacity(size),
            feed_buf: Vec::with_capacity(4096),
        }
    }

    /// Handle one message from the audio side.
    pub fn on_message(&mut self, msg: ToEngine) {
        match msg {
            ToEngine::Resync { beat, playing, epoch } => {
                // What was planned but not played on the old timeline is void, and the audio side
                // ended every sounding note. The music played so far stays as context, moved onto
                // the new timeline so that its beats end where the new one starts.
                self.truncate_after(self.heard_until);
                self.close_open_notes();
                let start = (beat * self.ticks_per_beat - 1e-9).ceil() / self.ticks_per_beat;
                let shift = start - self.cursor;
                for c in &mut self.ctx {
                    c.beat += shift;
                }
                // A stop means stop: while stopped, Cadenza only answers notes played after it.
                self.last_played = if playing { self.last_played + shift } else { f64::NEG_INFINITY };
                self.cursor = start;
                self.heard_until = beat;
                self.epoch = epoch;
                self.plan = 0;
                self.playing = playing;
                self.synced = true;
            }
            ToEngine::Played { beat, pitch, velocity, on } => {
                self.heard_until = self.heard_until.max(beat);
                if self.truncate_after(beat) {
                    self.plan += 1;
                }
                self.advance_to(beat, false);
                let p = pitch.min(127);
                if on {
                    if self.open_notes()[p as usize] {
                        self.push(self.vocab.note_off_base + u32::from(p));
                    }
                    self.push(self.vocab.note_on_base + u32::from(p));
                    self.velocity = velocity.clamp(0.05, 1.0);
                    self.last_played = beat;
                } else if self.open_notes()[p as usize] {
                    self.push(self.vocab.note_off_base + u32::from(p));
                }
                self.held[p as usize] = on;
            }
        }
    }

    /// Should the engine be planning now?
    pub fn active(&self, playhead: f64) -> bool {
        self.synced && (self.playing || playhead - self.last_played < LISTEN_BEATS_WHEN_STOPPED)
    }

    /// Generate one token if the plan is short of `playhead + LOOKAHEAD_BEATS`. Returns whether it did.
    pub fn step(&mut self, playhead: f64, s: Settings, out: &mut impl FnMut(Generated)) -> Result<bool, String> {
        self.step_at(playhead, DEFAULT_TEMPO, s, out)
    }

    /// [`Self::step`] with the host's tempo (BPM), which sets how many beats the reaction lead is.
    pub fn step_at(&mut self, playhead: f64, tempo: f64, s: Settings, out: &mut impl FnMut(Generated)) -> Result<bool, String> {
        self.heard_until = playhead;
        if !self.active(playhead) {
            return Ok(false);
        }
        let style = if s.style < self.n_styles { s.style } else { 0 };
        if style != self.style {
            // A new style: withdraw what was planned and restart the cache on the new style token.
            if self.truncate_after(playhead) {
                self.plan += 1;
            }
            self.style = style;
            self.cache_dirty = true;
            self.logits_ready = false;
        }
        let earliest = playhead + REACTION_SECONDS * tempo.max(1.0) / 60.0;
        if self.cursor < earliest {
            // Just resynced, just heard the player, or fell behind: rest until a beat that can still
            // be played on time.
            self.advance_to(earliest, true);
        }
        if self.cursor >= playhead + LOOKAHEAD_BEATS {
            return Ok(false);
        }
        if self.needs_reanchor() {
            self.end_notes_leaving_window(out);
        }
        self.sync_cache()?;
        self.build_mask();
        let token = self
            .sampler
            .sample(&self.last_logits, &self.allowed, s.temperature, s.top_p)
            .ok_or("no token allowed")?;
        let was_open = |p: u8| self.open_notes()[p as usize];
        let emit = match self.vocab.decode(token) {
            Some(Event::NoteOn(p)) => Some((p, true)),
            Some(Event::NoteOff(p)) if was_open(p) => Some((p, false)),
            _ => None,
        };
        self.push(token);
        if let Some((p, on)) = emit {
            out(self.note(p, on));
        }
        Ok(true)
    }

    fn note(&self, pitch: u8, on: bool) -> Generated {
        Generated { epoch: self.epoch, plan: self.plan, beat: self.cursor, pitch, velocity: self.velocity, on }
    }

    fn push(&mut self, token: u32) {
        let mut beat = self.cursor;
        if let Some(Event::Shift(k)) = self.vocab.decode(token) {
            beat += f64::from(k) / self.ticks_per_beat;
            self.cursor = beat;
        }
        self.ctx.push(Ctx { token, beat });
        self.logits_ready = false;
        self.bound_context();
    }

    /// Move the context's time to `beat` with shift tokens, to the nearest tick (or the next one, with
    /// `ceil`); long rests are capped in the context but the time stays true.
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

    /// Drop every context token that happens after `beat`. Returns whether any was dropped.
    fn truncate_after(&mut self, beat: f64) -> bool {
        let keep = self.ctx.iter().rposition(|c| c.beat <= beat + 1e-9).map_or(0, |i| i + 1);
        if keep == self.ctx.len() {
            return false;
        }
        self.ctx.truncate(keep);
        self.cursor = self.ctx.last().map_or(self.cursor.min(beat), |c| c.beat);
        if self.fed > keep {
            // The cache saw tokens that are gone: rebuild it.
            self.cache_dirty = true;
        }
        self.anchor = self.anchor.min(keep);
        self.fed = self.fed.min(keep);
        self.logits_ready = false;
        true
    }

    /// Pitches with a note-on in the context and no note-off after it.
    fn open_notes(&self) -> [bool; 128] {
        let mut open = [false; 128];
        for c in &self.ctx[self.anchor.min(self.ctx.len())..] {
            match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => open[p as usize] = true,
                Some(Event::NoteOff(p)) => open[p as usize] = false,
                _ => {}
            }
        }
        open
    }

    /// Note-offs in the context for every open generated or played note (after a cut).
    fn close_open_notes(&mut self) {
        let open = self.open_notes();
        for (p, o) in open.iter().enumerate() {
            if *o && !self.held[p] {
                self.push(self.vocab.note_off_base + p as u32);
            }
        }
    }

    /// What the model may write next. A note-off for a key that is not open is allowed as a *token*:
    /// training crops start mid-piece, so the model has learned that a context may end notes it never
    /// saw begin, and forbidding that can leave it resting forever (it wants a note-off, finds none
    /// allowed, and writes another rest). Such a note-off goes into the context only; [`Self::step_at`]
    /// sends the audio side note-offs for Cadenza's open notes alone. The player's keys stay untouched.
    fn build_mask(&mut self) {
        let v = self.vocab;
        let open = self.open_notes();
        for (i, a) in self.allowed.iter_mut().enumerate() {
            *a = match v.decode(i as u32) {
                Some(Event::NoteOn(p)) => !open[p as usize] && !self.held[p as usize],
                Some(Event::NoteOff(p)) => !self.held[p as usize],
                Some(Event::Shift(_)) => true,
                _ => false,
            };
        }
    }

    /// Restart the cache at ctx index `from` (the caller feeds the style token first).
    fn reanchor(&mut self, from: usize) {
        self.backend.reset();
        self.anchor = from;
        self.fed = from;
    }

    /// Will the next cache sync restart the cache from the recent half window?
    fn needs_reanchor(&self) -> bool {
        !self.logits_ready && (self.cache_dirty || self.ctx.len() - self.fed > self.backend.room())
    }

    /// Before a re-anchor: end Cadenza's notes whose note-on would fall out of the window. The model
    /// could never end them (it no longer sees them start), so without this only the maximum note
    /// length would. The player's held notes are theirs to end.
    fn end_notes_leaving_window(&mut self, out: &mut impl FnMut(Generated)) {
        let start = self.ctx.len().saturating_sub(self.backend.window() / 2);
        let mut opened_at: [Option<usize>; 128] = [None; 128];
        for (i, c) in self.ctx.iter().enumerate() {
            match self.vocab.decode(c.token) {
                Some(Event::NoteOn(p)) => opened_at[p as usize] = Some(i),
                Some(Event::NoteOff(p)) => opened_at[p as usize] = None,
                _ => {}
            }
        }
        for p in 0..128u8 {
            if opened_at[p as usize].is_some_and(|i| i < start) && !self.held[p as usize] {
                self.push(self.vocab.note_off_base + u32::from(p));
                out(self.note(p, false));
            }
        }
    }

    /// Feed the backend whatever context it has not seen, re-anchoring when the window is full.
    fn sync_cache(&mut self) -> Result<(), String> {
        if self.logits_ready {
            return Ok(());
        }
        let window = self.backend.window();
        if self.needs_reanchor() {
            let start = self.ctx.len().saturating_sub(window / 2);
            self.reanchor(start);
            self.feed_buf.clear();
            let style = self.vocab.encode(Event::Style(self.style)).unwrap_or(self.vocab.style_base);
            self.feed_buf.push(style);
        } else {
            self.feed_buf.clear();
        }
        self.feed_buf.extend(self.ctx[self.fed..].iter().map(|c| c.token));
        if self.feed_buf.is_empty() {
            // Nothing new and logits stale: cannot happen, but recover by re-anchoring.
            self.cache_dirty = true;
            return self.sync_cache();
        }
        let logits = self.backend.feed(&self.feed_buf)?;
        self.last_logits.clear();
        self.last_logits.extend_from_slice(logits);
        self.fed = self.ctx.len();
        self.cache_dirty = false;
        self.logits_ready = true;
        Ok(())
    }

    /// Keep the context bounded: drop the oldest tokens, far outside the window.
    fn bound_context(&mut self) {
        let window = self.backend.window().max(16);
        if self.ctx.len() > 8 * window && self.anchor > 2 * window {
            let cut = self.anchor - window;
            self.ctx.drain(..cut);
            self.anchor -= cut;
            self.fed -= cut;
        }
    }

    /// Forget the cache (after an inference error): the next step rebuilds it from the context.
    pub fn reset_cache(&mut self) {
        self.backend.reset();
        self.cache_dirty = true;
        self.logits_ready = false;
    }

    /// Beat at the end of the context.
    pub fn cursor(&self) -> f64 {
        self.cursor
    }

    pub fn context_len(&self) -> usize {
        self.ctx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform logits; records what it was fed and checks the window is never exceeded.
    struct Fake {
        window: usize,
        cached: usize,
        logits: Vec<f32>,
        /// Every feed since the last reset, flattened.
        since_reset: Vec<u32>,
        resets: usize,
        style_base: u32,
        style_slots: u32,
        /// A token the fake strongly prefers (to script what the "model" plays).
        favor: Option<u32>,
    }

    impl Fake {
        fn new(vocab: Vocab, window: usize) -> Self {
            Self {
                window,
                cached: 0,
                logits: vec![0.0; vocab.size as usize],
                since_reset: Vec::new(),
                resets: 0,
                style_base: vocab.style_base,
                style_slots: vocab.style_slots,
                favor: None,
            }
        }
    }

    impl Backend for Fake {
        fn feed(&mut self, tokens: &[u32]) -> Result<&[f32], String> {
            assert!(!tokens.is_empty());
            if self.cached == 0 {
                let first = tokens[0];
                assert!((self.style_base..self.style_base + self.style_slots).contains(&first), "a fresh cache starts with a style token, got {first}");
            }
            assert!(self.cached + tokens.len() <= self.window - 1, "cache would exceed the window: {} + {}", self.cached, tokens.len());
            self.cached += tokens.len();
            self.since_reset.extend_from_slice(tokens);
            self.logits.iter_mut().for_each(|l| *l = 0.0);
            if let Some(t) = self.favor {
                self.logits[t as usize] = 30.0;
            }
            Ok(&self.logits)
        }
        fn reset(&mut self) {
            self.cached = 0;
            self.since_reset.clear();
            self.resets += 1;
        }
        fn room(&self) -> usize {
            self.window - 1 - self.cached
        }
        fn window(&self) -> usize {
            self.window
        }
    }

    const S: Settings = Settings { temperature: 1.0, top_p: 1.0, style: 2 };

    fn gen(window: usize) -> Generator<Fake> {
        let v = Vocab::DEFAULT;
        Generator::new(Fake::new(v, window), v, 24, 5, 42)
    }

    /// Step until the plan reaches the lookahead; collect the notes.
    fn fill(g: &mut Generator<Fake>, playhead: f64, s: Settings) -> Vec<Generated> {
        let mut out = Vec::new();
        let mut n = 0;
        while g.step(playhead, s, &mut |x| out.push(x)).unwrap() {
            n += 1;
            assert!(n < 10_000, "the plan never reached the lookahead");
        }
        out
    }

    #[test]
    fn nothing_happens_before_the_first_resync_or_while_stopped_and_idle() {
        let mut g = gen(64);
        assert!(!g.step(0.0, S, &mut |_| panic!("no notes before a resync")).unwrap());
        g.on_message(ToEngine::Resync { beat: 0.0, playing: false, epoch: 1 });
        assert!(!g.step(0.0, S, &mut |_| panic!("stopped and nobody played")).unwrap());
        g.on_message(ToEngine::Played { beat: 0.1, pitch: 60, velocity: 0.5, on: true });
        assert!(g.step(0.1, S, &mut |_| {}).unwrap(), "the player played: answer even while stopped");
    }

    #[test]
    fn a_transport_stop_silences_until_the_player_plays_again() {
        let mut g = gen(64);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        g.on_message(ToEngine::Played { beat: 0.5, pitch: 60, velocity: 0.5, on: true });
        fill(&mut g, 1.0, S);
        g.on_message(ToEngine::Resync { beat: 1.0, playing: false, epoch: 2 });
        assert!(!g.step(1.0, S, &mut |_| panic!("nothing after a stop")).unwrap());
        g.on_message(ToEngine::Played { beat: 1.5, pitch: 62, velocity: 0.5, on: true });
        assert!(g.step(1.5, S, &mut |_| {}).unwrap(), "a note played while stopped starts a jam");
    }

    #[test]
    fn plans_ahead_on_the_tick_grid_with_the_resync_epoch() {
        let mut g = gen(64);
        g.on_message(ToEngine::Resync { beat: 3.01, playing: true, epoch: 7 });
        let notes = fill(&mut g, 3.01, S);
        assert!(g.cursor() >= 3.01 + LOOKAHEAD_BEATS);
        for n in &notes {
            assert_eq!((n.epoch, n.plan), (7, 0));
            assert!(n.beat >= 3.01 + REACTION_SECONDS * 2.0 - 1e-9, "never sooner than the reaction lead: {n:?}");
            let ticks = n.beat * 24.0;
            assert!((ticks - ticks.round()).abs() < 1e-6, "on the grid: {n:?}");
        }
    }

    #[test]
    fn a_played_note_withdraws_the_plan_after_it() {
        let mut g = gen(128);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        fill(&mut g, 0.0, S);
        assert!(g.cursor() >= LOOKAHEAD_BEATS);
        g.on_message(ToEngine::Played { beat: 0.5, pitch: 64, velocity: 0.9, on: true });
        assert!((g.cursor() - 0.5).abs() < 1e-9, "context ends at the played note");
        let notes = fill(&mut g, 0.5, S);
        assert!(!notes.is_empty());
        for n in &notes {
            assert_eq!(n.plan, 1, "a new plan");
            assert!(n.beat >= 0.5 - 1e-9);
            assert!((n.velocity - 0.9).abs() < 1e-6, "dynamics follow the player");
            if n.on {
                assert_ne!(n.pitch, 64, "never a note-on on a key the player holds");
            }
        }
    }

    #[test]
    fn a_jump_back_keeps_the_played_music_and_drops_the_unplayed_plan() {
        let mut g = gen(256);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        for i in 0..40 {
            fill(&mut g, f64::from(i) * 0.25, S);
        }
        // Heard up to beat 9.75; the plan reaches past 11.75.
        assert!(g.cursor() > 11.0);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 2 });
        assert_eq!(g.cursor(), 0.0, "time restarts at the loop start");
        assert!(g.context_len() > 10, "the music played so far is still context");
        assert!(g.ctx.iter().all(|c| c.beat <= 1e-9), "context beats rebased onto the new timeline");
        let notes = fill(&mut g, 0.0, S);
        assert!(notes.iter().all(|n| n.epoch == 2 && n.beat >= 0.0));
        assert!(notes.iter().any(|n| n.on));
    }

    #[test]
    fn a_reanchor_ends_our_notes_whose_start_leaves_the_window_but_not_the_players() {
        let v = Vocab::DEFAULT;
        let mut g = gen(32);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        g.on_message(ToEngine::Played { beat: 0.1, pitch: 50, velocity: 0.5, on: true }); // held on
        g.backend.favor = Some(v.note_on_base + 60);
        let mut out = Vec::new();
        g.step(0.1, S, &mut |n| out.push(n)).unwrap();
        assert!(out.iter().any(|n| n.on && n.pitch == 60));
        // Now only rests: the note-on of 60 slides out of the window.
        g.backend.favor = Some(v.shift_base); // one-tick shifts
        for i in 0..400 {
            g.step(0.1 + f64::from(i) * 0.01, S, &mut |n| out.push(n)).unwrap();
        }
        assert!(g.backend.resets > 1, "re-anchored");
        let off = out.iter().find(|n| !n.on && n.pitch == 60).expect("Cadenza ended its own note");
        assert!(off.beat < 4.0, "well before the 8-beat safety net: {off:?}");
        assert!(!out.iter().any(|n| !n.on && n.pitch == 50), "never ends the player's held note");
    }

    #[test]
    fn the_model_may_end_notes_it_never_saw_begin_but_only_our_open_notes_go_out() {
        let v = Vocab::DEFAULT;
        let mut g = gen(64);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        g.on_message(ToEngine::Played { beat: 0.0, pitch: 50, velocity: 0.5, on: true });
        // The model insists on ending key 55, which nobody started (a crop seen mid-piece).
        g.backend.favor = Some(v.note_off_base + 55);
        let before = g.context_len();
        let mut out = Vec::new();
        assert!(g.step(0.0, S, &mut |n| out.push(n)).unwrap());
        assert_eq!(g.context_len(), before + 2, "a catch-up rest, then the note-off, in the context");
        assert!(out.is_empty(), "nothing to end on the audio side: {out:?}");
        // The player's held key stays untouchable, however much the model wants it.
        g.backend.favor = Some(v.note_off_base + 50);
        for _ in 0..50 {
            g.step(0.0, S, &mut |n| out.push(n)).unwrap();
        }
        assert!(!out.iter().any(|n| n.pitch == 50));
    }

    #[test]
    fn note_offs_only_for_open_notes() {
        let mut g = gen(512);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        let mut open = [false; 128];
        let mut ons = 0;
        for i in 0..200 {
            let playhead = f64::from(i) * 0.25;
            for n in fill(&mut g, playhead, S) {
                if n.on {
                    assert!(!open[n.pitch as usize], "note-on on an open key {}", n.pitch);
                    ons += 1;
                } else {
                    assert!(open[n.pitch as usize], "note-off for a key that is not sounding {}", n.pitch);
                }
                open[n.pitch as usize] = n.on;
            }
        }
        assert!(ons > 10);
    }

    #[test]
    fn a_long_session_reanchors_and_keeps_the_style_token_in_the_window() {
        let mut g = gen(32);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        for i in 0..400 {
            fill(&mut g, f64::from(i) * 0.5, S);
        }
        // The fake asserts the window bound and the leading style token on every feed.
        assert!(g.backend.resets > 5, "re-anchored {} times", g.backend.resets);
        assert_eq!(g.backend.since_reset[0], Vocab::DEFAULT.style_base + 2);
        assert!(g.context_len() < 8 * 32 + 64, "context stays bounded: {}", g.context_len());
    }

    #[test]
    fn a_style_change_withdraws_the_plan_and_restarts_on_the_new_style() {
        let mut g = gen(128);
        g.on_message(ToEngine::Resync { beat: 0.0, playing: true, epoch: 1 });
        fill(&mut g, 0.0, S);
        let other = Settings { style: 4, ..S };
        let notes = fill(&mut g, 0.25, other);
        assert_eq!(g.backend.since_reset[0], Vocab::DEFAULT.style_base + 4);
        assert!(notes.iter().all(|n| n.plan == 1));
        // Out-of-range style slots fall back to the first style.
        fill(&mut g, 0.5, Settings { style: 15, ..S });
        assert_eq!(g.backend.since_reset[0], Vocab::DEFAULT.style_base);
    }
}
