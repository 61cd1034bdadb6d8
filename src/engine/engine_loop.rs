//! The engine thread's loop, as named steps.
//!
//! [`EngineLoop::run`]: [`load`](EngineLoop::load) a model (again, after a request), then
//! [`play`](EngineLoop::play) it until stopped or asked to reload. Each pass of play:
//! [`wait_for_block`](EngineLoop::wait_for_block) (in lockstep only),
//! [`drain_messages`](EngineLoop::drain_messages), [`duties`](EngineLoop::duties) (the chord track,
//! Learn chords, the song shown, a capture), [`plan`](EngineLoop::plan) within the pass's budget of
//! tokens, [`finish_pass`](EngineLoop::finish_pass). A failure, at load or after repeated inference
//! errors, [`idle`](EngineLoop::idle)s until a reload or a stop. At the end,
//! [`report`](EngineLoop::report) writes the session's figures to the log.
//!
//! The engine's state is set in one place, [`EngineLoop::enter`]: the status the editor shows and the
//! phase the audio side waits on in lockstep move together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    learn_chords, refresh_chords, refresh_prompt, send, Backend, EngineState, EngineStatus,
    Generator, LoadError, Slots, Step,
};
use crate::bridge::{self, EngineSide, Phase, PlayClock, ToEngine};
use crate::prompt::{self, Prompt};
use crate::requests::{Request, Requests, Seen};
use crate::settings::Settings;

/// Consecutive inference errors after which the engine gives up until a reload or the next activation.
const MAX_CONSECUTIVE_ERRORS: u32 = 3;
/// How long the loop sleeps when there is nothing to do.
const IDLE_SLEEP: Duration = Duration::from_micros(500);
/// In lockstep, how long the loop waits for the audio side's next block before it looks at its
/// other duties (stop, reload) again.
const LOCKSTEP_POLL: Duration = Duration::from_millis(2);
/// How often the engine shows the editor what the song knows.
const SONG_VIEW_EVERY: Duration = Duration::from_millis(50);
/// In lockstep, the most tokens one block's plan may take (a plan reaches its lookahead in far
/// fewer; this only bounds a model that never moves time on).
const MAX_TOKENS_PER_BLOCK: usize = 4096;

/// The engine's state, for the editor (the status) and the audio side (the bridge's phase) at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage<'a> {
    /// Loading ONNX Runtime and the model: a bounce's first block waits for it.
    Loading,
    /// Generating, answering blocks.
    Ready,
    /// Failed, with why: MIDI passes through, nobody waits for the engine.
    Failed(&'a str),
    /// Stopped: nobody waits for it. (The status keeps what it said last.)
    Stopped,
}

/// Whether a pass goes on: in lockstep only when the audio side asked for a block (which it names).
enum Pass {
    Wait,
    Go(Option<u64>),
}

/// What ends a session, or an idle wait.
enum Wake {
    Stop,
    Reload,
}

/// A loaded model's session: the generator and what the loop keeps beside it.
struct Session<B: Backend> {
    gen: Generator<B>,
    chord_seen: Seen,
    learn_seen: Seen,
    captures: Seen,
    song_shown: Instant,
    prompt: Prompt,
    messages: Vec<ToEngine>,
    errors: u32,
}

/// What the loop shares with the plugin: the requests and the slots it reads, the status it writes,
/// and the flag that stops it.
pub(super) struct Shared {
    pub requests: Arc<Requests>,
    pub slots: Slots,
    pub status: Arc<EngineStatus>,
    pub stop: Arc<AtomicBool>,
}

/// The engine thread's loop over its model sessions (see the module's docs).
pub(super) struct EngineLoop<B: Backend, F> {
    /// Builds a generator over a loaded model (again at every reload).
    make: F,
    /// The engine's ends of the bridge.
    side: EngineSide,
    requests: Arc<Requests>,
    slots: Slots,
    status: Arc<EngineStatus>,
    stop: Arc<AtomicBool>,
    /// The audio timeline as the engine last heard of it: (playing, epoch) of the last resync.
    timeline: Option<(bool, u32)>,
    loads: Seen,
    steps: StepTimes,
    /// Offline rendering: answer the audio side's blocks one by one (see `bridge::Lockstep`).
    lockstep: bool,
    answered: u64,
    _backend: std::marker::PhantomData<fn() -> B>,
}

impl<B, F> EngineLoop<B, F>
where
    B: Backend,
    F: FnMut(&EngineStatus) -> Result<Generator<B>, LoadError>,
{
    /// A loop that builds its generators with `make` and talks to the audio side through `side`.
    pub fn new(make: F, side: EngineSide, shared: Shared) -> Self {
        let Shared {
            requests,
            slots,
            status,
            stop,
        } = shared;
        let loads = Seen::from_now(&requests, Request::Model);
        let lockstep = side.in_lockstep();
        Self {
            make,
            side,
            requests,
            slots,
            status,
            stop,
            timeline: None,
            loads,
            steps: StepTimes::default(),
            lockstep,
            answered: 0,
            _backend: std::marker::PhantomData,
        }
    }

    /// Load and play until stopped; each pass loads a model (again, after a request).
    pub fn run(mut self) {
        while !self.stopped() {
            let wake = match self.load() {
                Some(gen) => self.play(gen),
                None => self.idle(),
            };
            if let Wake::Stop = wake {
                break;
            }
        }
        self.enter(Stage::Stopped);
        self.report();
    }

    /// Set the engine's state: the status and the bridge's phase together.
    fn enter(&mut self, stage: Stage) {
        match stage {
            Stage::Loading => {
                self.status.set_state(EngineState::Loading);
                self.side.set_phase(Phase::Loading);
            }
            Stage::Ready => {
                self.status.set_state(EngineState::Ready);
                self.side.set_phase(Phase::Live);
            }
            Stage::Failed(why) => {
                self.status.fail(why);
                self.side.set_phase(Phase::Down);
            }
            Stage::Stopped => self.side.set_phase(Phase::Down),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Load a model (`make`); a failure is a state with its message.
    fn load(&mut self) -> Option<Generator<B>> {
        self.enter(Stage::Loading);
        match (self.make)(&self.status) {
            Ok(gen) => Some(gen),
            Err(e) => {
                self.enter(Stage::Failed(&e.to_string()));
                None
            }
        }
    }

    /// After a failure: stay alive but idle, draining the queue so the audio side never finds it
    /// full (it keeps passing MIDI through meanwhile), until stopped or asked to load a model again.
    fn idle(&mut self) -> Wake {
        while !self.stopped() {
            if self.loads.take(&self.requests) {
                return Wake::Reload;
            }
            while let Some(msg) = self.side.receive() {
                if let ToEngine::Resync { playing, epoch, .. } = msg {
                    self.timeline = Some((playing, epoch));
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Wake::Stop
    }

    /// Play a loaded model until stopped, asked to reload, or failing for good.
    fn play(&mut self, gen: Generator<B>) -> Wake {
        self.enter(Stage::Ready);
        let mut session = Session {
            gen,
            chord_seen: Seen::from_now(&self.requests, Request::Chords),
            learn_seen: Seen::from_now(&self.requests, Request::LearnChords),
            captures: Seen::from_now(&self.requests, Request::Capture),
            song_shown: Instant::now(),
            prompt: Prompt::default(),
            messages: Vec::with_capacity(bridge::TO_ENGINE_CAPACITY),
            errors: 0,
        };
        refresh_chords(&mut session.gen, &self.slots.chords, &self.status);
        self.resume(&mut session);
        session.captures = Seen::from_now(&self.requests, Request::Capture);
        while !self.stopped() {
            if self.loads.take(&self.requests) {
                tracing::info!("Cadenza engine: loading the chosen model");
                return Wake::Reload;
            }
            let block = match self.wait_for_block() {
                Pass::Wait => continue,
                Pass::Go(block) => block,
            };
            let clock = self.drain_messages(&mut session);
            let s = self.side.settings();
            self.duties(&mut session, &s);
            if self.plan(&mut session, block, clock, &s).is_err() {
                return self.idle();
            }
            self.finish_pass(&mut session, block);
        }
        Wake::Stop
    }

    /// A reload mid-session: pick the timeline up where the audio side is.
    fn resume(&mut self, session: &mut Session<B>) {
        let Some((playing, epoch)) = self.timeline else {
            return;
        };
        let clock = self.side.clock();
        let beat = clock.playhead;
        let msg = ToEngine::Resync {
            beat,
            playing,
            epoch,
            heard_until: beat,
            jumped: true,
        };
        self.deliver(session, msg, clock);
    }

    /// One message to the generator, with the settings as they are now (the audio thread publishes
    /// them before it sends). A resync also moves the timeline the engine knows of, and gives the
    /// generator the prompt clip (Continue Clip) if it changed.
    fn deliver(&mut self, session: &mut Session<B>, msg: ToEngine, clock: PlayClock) {
        let s = self.side.settings();
        if let ToEngine::Resync { playing, epoch, .. } = msg {
            self.timeline = Some((playing, epoch));
            refresh_prompt(
                &mut session.gen,
                &s,
                &self.slots.prompt,
                &mut session.prompt,
            );
        }
        let (side, status) = (&mut self.side, &self.status);
        session
            .gen
            .on_message(msg, clock, &s, &mut |g| send(side, status, g));
    }

    /// In lockstep, act only when the audio side asks: its messages up to the block are all queued
    /// then, and it waits (its playhead holds still) until the block is answered.
    fn wait_for_block(&mut self) -> Pass {
        if !self.lockstep {
            return Pass::Go(None);
        }
        let asked = self.side.asked();
        if asked == self.answered {
            let (side, stop, answered) = (&self.side, &self.stop, self.answered);
            bridge::wait_until(LOCKSTEP_POLL, || {
                side.asked() != answered || stop.load(Ordering::Relaxed)
            });
            return Pass::Wait;
        }
        Pass::Go(Some(asked))
    }

    /// The messages first, then the clock: the audio side publishes a block's clock before it sends
    /// the block's messages, so the clock is never older than a message it meets. Returns that clock,
    /// which the pass plans by.
    fn drain_messages(&mut self, session: &mut Session<B>) -> PlayClock {
        session.messages.clear();
        while let Some(msg) = self.side.receive() {
            session.messages.push(msg);
        }
        let clock = self.side.clock();
        for i in 0..session.messages.len() {
            let msg = session.messages[i];
            if let ToEngine::Resync {
                beat,
                playing,
                epoch,
                ..
            } = msg
            {
                tracing::debug!(
                    "Cadenza engine: resync to beat {beat:.3} (playing: {playing}, epoch {epoch})"
                );
            }
            self.deliver(session, msg, clock);
        }
        clock
    }

    /// What the musician asked for between passes: a new chord track, Learn chords, a capture; and
    /// the song shown to the editor now and then.
    fn duties(&mut self, session: &mut Session<B>, s: &Settings) {
        if session.chord_seen.take(&self.requests) {
            refresh_chords(&mut session.gen, &self.slots.chords, &self.status);
        }
        if session.learn_seen.take(&self.requests) {
            learn_chords(&mut session.gen, &self.slots.chords, &self.status);
        }
        if session.song_shown.elapsed() >= SONG_VIEW_EVERY {
            session.song_shown = Instant::now();
            self.status.set_song(session.gen.song_view());
        }
        if session.captures.take(&self.requests) {
            self.take_capture(session, s.capture_bars.max(1));
        }
    }

    /// Capture the player's last `bars` bars as the prompt clip.
    fn take_capture(&mut self, session: &mut Session<B>, bars: u32) {
        let notes = session.gen.capture_bars(bars);
        tracing::info!(
            "Cadenza engine: captured {} notes from the last {bars} bars as the prompt",
            notes.len()
        );
        if !notes.is_empty() {
            prompt::write(
                &self.slots.prompt,
                Prompt {
                    name: format!("captured {bars} bars"),
                    notes,
                },
            );
        }
    }

    /// Plan within the pass's budget: in real time one token, so new messages are taken between
    /// tokens; in lockstep the whole block's plan (bounded, should a model never move time on).
    /// `Err`: inference keeps failing (the state says so).
    fn plan(
        &mut self,
        session: &mut Session<B>,
        block: Option<u64>,
        clock: PlayClock,
        s: &Settings,
    ) -> Result<(), ()> {
        let budget = if block.is_some() {
            MAX_TOKENS_PER_BLOCK
        } else {
            1
        };
        for _ in 0..budget {
            let t0 = Instant::now();
            let (side, status) = (&mut self.side, &self.status);
            match session.gen.step(clock, s, &mut |g| send(side, status, g)) {
                Ok(Step::Planned) => {
                    session.errors = 0;
                    let micros = t0.elapsed().as_micros() as u64;
                    self.steps.record(micros);
                    self.status
                        .last_step_micros
                        .store(micros, Ordering::Relaxed);
                    self.status.tokens.fetch_add(1, Ordering::Relaxed);
                    self.status
                        .reactions
                        .fetch_add(session.gen.take_reactions(), Ordering::Release);
                }
                Ok(Step::Idle) => {
                    // Nothing to plan: in real time, use the pause to build the next window's cache
                    // (one token a pass, so a played note never waits on more than one); sleep once
                    // that is done. (Offline renders have no answer time to save.)
                    if block.is_none() && !prepare(&mut session.gen) {
                        std::thread::sleep(IDLE_SLEEP);
                    }
                    break;
                }
                Err(e) => {
                    session.errors += 1;
                    self.status.recovered_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "Cadenza engine: inference error ({} in a row): {e}",
                        session.errors
                    );
                    if session.errors >= MAX_CONSECUTIVE_ERRORS {
                        self.enter(Stage::Failed(&format!("inference keeps failing: {e}")));
                        return Err(());
                    }
                    session.gen.reset_cache();
                }
            }
        }
        Ok(())
    }

    /// The pass's figures to the status, and the block answered in lockstep.
    fn finish_pass(&mut self, session: &mut Session<B>, block: Option<u64>) {
        let masked = session.gen.take_mask_stats();
        if masked.steps > 0 {
            self.status.add_masked(&masked);
        }
        if let Some(b) = block {
            self.side.answer(b);
            self.answered = b;
        }
        let dropped = self.side.dropped();
        self.status
            .dropped_in_queues
            .store(dropped.to_audio + dropped.to_engine, Ordering::Relaxed);
    }

    /// The session's figures, in the log.
    fn report(&self) {
        let (median, p99, max) = self.steps.summary();
        let m = self.status.masked();
        let dropped = self.side.dropped();
        // The musicianship benchmark reads this line (`cadenza-musicianship`): keep its words.
        tracing::info!(
            "Cadenza engine mask: {} steps, refused per step mean {:.4} max {:.3}; steps over a fifth {} (player's keys {}, leads {})",
            m.steps,
            m.mean(),
            m.max,
            m.over_fifth,
            m.over_fifth_player_key,
            m.over_fifth_floor,
        );
        tracing::info!(
            "Cadenza engine stopped: {} tokens, step median {median} µs, p99 {p99} µs, max {max} µs; dropped {} to audio, {} from audio, {} refused by the host",
            self.status.tokens.load(Ordering::Relaxed),
            dropped.to_audio,
            dropped.to_engine,
            self.status.dropped_to_host.load(Ordering::Relaxed),
        );
        if self.lockstep {
            let late = self.side.lockstep_timeouts();
            if late > 0 {
                tracing::warn!(
                    "Cadenza engine: offline render: {late} blocks went on without the engine's plan (it took longer than {} s)",
                    bridge::LOCKSTEP_STEP_TIMEOUT.as_secs()
                );
            } else {
                tracing::info!("Cadenza engine: offline render: every block had its plan");
            }
        }
    }
}

/// One token of idle work ([`Generator::prepare`]); whether there may be more. A failure here costs
/// only the spare cache (the next re-anchor feeds from scratch), so it is logged, not counted.
fn prepare<B: Backend>(gen: &mut Generator<B>) -> bool {
    gen.prepare().unwrap_or_else(|e| {
        tracing::debug!("Cadenza engine: building the next window's cache failed: {e}");
        false
    })
}

/// The last step durations (µs), for the summary in the log at stop. Fixed size: no growth.
struct StepTimes {
    ring: Box<[u64; 4096]>,
    count: usize,
}

impl Default for StepTimes {
    fn default() -> Self {
        Self {
            ring: Box::new([0; 4096]),
            count: 0,
        }
    }
}

impl StepTimes {
    fn record(&mut self, micros: u64) {
        self.ring[self.count % self.ring.len()] = micros;
        self.count += 1;
    }

    /// (median, p99, max) of the recorded window.
    fn summary(&self) -> (u64, u64, u64) {
        let n = self.count.min(self.ring.len());
        if n == 0 {
            return (0, 0, 0);
        }
        let mut v = self.ring[..n].to_vec();
        v.sort_unstable();
        (v[n / 2], v[(n * 99 / 100).min(n - 1)], v[n - 1])
    }
}
