//! The engine thread: it owns ONNX Runtime's session, the context and the KV cache, and plans notes.
//!
//! Life: [`Engine::start`] spawns the thread, which loads ONNX Runtime and the model and warms up
//! (state `Loading`), then generates (`Ready`) until [`Engine::stop`] (or drop) joins it. Any failure is
//! a state (`Failed`) with a message, never a panic across the host; the audio side keeps passing MIDI
//! through meanwhile. An inference error mid-session resets the cache and goes on; several in a row stop
//! generation until the model is loaded again. A [`Request::Model`] (the editor's Load,
//! Built-in or Retry) loads the chosen model again, from a failure too, without a new activation.
//!
//! When the host renders offline (a bounce) the engine runs in lockstep with the audio side
//! ([`crate::bridge::Lockstep`]): it plans each block when asked, and the audio side waits for it, so
//! a bounce renders exactly what the engine plans, however fast the host goes.
//!
//! The thread may block, allocate and sleep. It never touches plugin-framework objects: parameters
//! reach it as the bridge's settings snapshot and [`Requests`] (atomic counters), notes through the
//! bridge.

pub mod generator;
mod listener;
pub mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::bridge::{self, EngineSide, Generated, Phase, ToEngine};
use crate::model::{ModelSource, OnnxModel, ProviderChoice, ProviderSetting};
use crate::monitor::{Mark, Who};
use crate::prompt::{self, Prompt, PromptSlot};
use crate::requests::{Request, Requests, Seen};
pub use crate::settings::{Mode, Settings};
pub use generator::{Backend, Generator};
pub use status::{EngineState, EngineStatus};

/// Consecutive inference errors after which the engine gives up until a reload or the next activation.
const MAX_CONSECUTIVE_ERRORS: u32 = 3;
/// How long the loop sleeps when there is nothing to do.
const IDLE_SLEEP: Duration = Duration::from_micros(500);
/// In lockstep, how long the loop waits for the audio side's next block before it looks at its
/// other duties (stop, reload) again.
const LOCKSTEP_POLL: Duration = Duration::from_millis(2);
/// In lockstep, the most tokens one block's plan may take (a plan reaches its lookahead in far
/// fewer; this only bounds a model that never moves time on).
const MAX_TOKENS_PER_BLOCK: usize = 4096;

/// The ONNX model gives the generator its logits.
impl Backend for OnnxModel {
    fn feed(
        &mut self,
        tokens: &[u32],
        feats: &[crate::features::Features],
    ) -> Result<&[f32], String> {
        OnnxModel::feed(self, tokens, feats).map_err(|e| e.to_string())
    }
    fn reset(&mut self) {
        OnnxModel::reset(self)
    }
    fn truncate(&mut self, len: usize) {
        OnnxModel::truncate(self, len)
    }
    fn window(&self) -> usize {
        self.spec.window as usize
    }
    fn swap_caches(&mut self, spare: usize) {
        OnnxModel::swap_caches(self, spare)
    }
}

/// How to start the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The model to load when `choice` names none.
    pub source: ModelSource,
    /// Where the model runs (Auto, CPU, CUDA; see [`crate::model::provider`]), read at every load:
    /// the plugin shares its saved setting here, so a change takes effect at the next (re)load.
    pub runs_on: ProviderSetting,
    /// The musician's choice of model (the editor's; saved with the project), read at every load:
    /// a non-empty path wins over `source`.
    pub choice: Option<crate::model::ModelChoice>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            source: ModelSource::Embedded,
            runs_on: ProviderChoice::Auto.shared(),
            choice: None,
        }
    }
}

impl EngineConfig {
    /// `source` on the CPU, no saved choice: the command-line tools, the benchmarks and the tests.
    pub fn on_cpu(source: ModelSource) -> Self {
        Self {
            source,
            runs_on: ProviderChoice::Cpu.shared(),
            choice: None,
        }
    }

    /// The model a load reads now: the choice when it names one, else `source`.
    pub fn resolved_source(&self) -> ModelSource {
        let chosen = self
            .choice
            .as_ref()
            .map(|c| c.read().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default();
        if chosen.trim().is_empty() {
            self.source.clone()
        } else {
            ModelSource::chosen(&chosen)
        }
    }
}

/// The running engine thread. Dropping it stops and joins the thread.
pub struct Engine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Spawn the engine thread. Cheap: ONNX Runtime and the model load on the new thread.
    pub fn start(
        config: EngineConfig,
        side: EngineSide,
        requests: Arc<Requests>,
        prompt: PromptSlot,
        status: Arc<EngineStatus>,
    ) -> Self {
        Self::start_with(
            side,
            requests,
            prompt,
            status,
            move |status: &EngineStatus| {
                let started = Instant::now();
                let source = config.resolved_source();
                status.set_origin(&source.describe());
                let model = load_model(&EngineConfig {
                    source: source.clone(),
                    choice: None,
                    ..config.clone()
                })
                .map_err(|e| format!("{e} (model: {})", source.describe()))?;
                let bytes = match &source {
                    ModelSource::Embedded => crate::model::DEFAULT_MODEL_ONNX.len() as u64,
                    ModelSource::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                };
                status.model_bytes.store(bytes, Ordering::Relaxed);
                let spec = model.spec.clone();
                status.set_provider(&model.provider.to_string());
                status.set_model(&spec.name);
                status.set_styles(&spec.styles);
                status
                    .load_millis
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                tracing::info!(
                    "Cadenza engine ready in {} ms: model {} on {}",
                    started.elapsed().as_millis(),
                    spec.name,
                    model.provider
                );
                Ok(Generator::new(
                    model,
                    spec.vocab(),
                    spec.ticks_per_beat,
                    spec.styles.len() as u32,
                ))
            },
        )
    }

    /// Spawn the engine thread on whatever `make` builds there (the ONNX model in the plugin; a
    /// scripted backend in tests). An `Err` from `make` is a failed load: the state says why.
    /// `make` runs again whenever a [`Request::Model`] comes (the editor loaded a model, or asks
    /// to retry after a failure).
    pub fn start_with<B, F>(
        side: EngineSide,
        requests: Arc<Requests>,
        prompt: PromptSlot,
        status: Arc<EngineStatus>,
        make: F,
    ) -> Self
    where
        B: Backend,
        F: FnMut(&EngineStatus) -> Result<Generator<B>, String> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        status.set_state(EngineState::Loading);
        status.tokens.store(0, Ordering::Relaxed);
        status.reactions.store(0, Ordering::Relaxed);
        status.last_step_micros.store(0, Ordering::Relaxed);
        let thread = {
            let stop = stop.clone();
            let status_on_error = status.clone();
            std::thread::Builder::new()
                .name("cadenza-engine".into())
                .spawn(move || {
                    // A panic must not cross into the host: catch it and report it as a failure.
                    let st = status.clone();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run(make, side, requests, prompt, status, stop)
                    }));
                    if let Err(p) = result {
                        let msg = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".into());
                        st.fail(&format!("engine thread panicked: {msg}"));
                    }
                })
                .map_err(|e| {
                    status_on_error.fail(&format!("could not start the engine thread: {e}"))
                })
                .ok()
        };
        Self { stop, thread }
    }

    /// Stop and join the thread (drops the ORT session on it).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Load the model and warm it up: one prefill and one step, then an empty cache.
pub fn load_model(config: &EngineConfig) -> Result<OnnxModel, crate::model::ModelError> {
    let (bytes, spec) = config.resolved_source().read()?;
    let choice = ProviderChoice::read(&config.runs_on);
    let mut model = OnnxModel::load(&bytes, spec, choice)?;
    let vocab = model.spec.vocab();
    let warm = [
        vocab.style_base,
        vocab.note_on_base + 60,
        vocab.shift_base + 11,
    ];
    let tpb = model.spec.ticks_per_beat;
    let feats = crate::features::Tracker::of(vocab, tpb, &warm);
    model.feed(&warm, &feats)?;
    let off = [vocab.note_off_base + 60];
    model.feed(&off, &crate::features::Tracker::of(vocab, tpb, &off))?;
    model.reset();
    Ok(model)
}

fn run<B: Backend>(
    mut make: impl FnMut(&EngineStatus) -> Result<Generator<B>, String>,
    mut side: EngineSide,
    requests: Arc<Requests>,
    slot: PromptSlot,
    status: Arc<EngineStatus>,
    stop: Arc<AtomicBool>,
) {
    let mut timeline = Timeline::default();
    let mut loads = Seen::from_now(&requests, Request::Model);
    let mut steps = StepTimes::default();
    // Offline rendering: answer the audio side's blocks one by one (see `bridge::Lockstep`).
    let lockstep = side.in_lockstep();
    let mut answered = 0u64;
    // Each pass loads a model (again, after a request) and plays until stopped or asked to reload.
    'load: while !stop.load(Ordering::Acquire) {
        status.set_state(EngineState::Loading);
        side.set_phase(Phase::Loading);
        let mut gen = match make(&status) {
            Ok(g) => g,
            Err(e) => {
                status.fail(&e);
                side.set_phase(Phase::Down);
                match idle_until(&mut side, &stop, &requests, &mut loads, &mut timeline) {
                    Wake::Reload => continue 'load,
                    Wake::Stop => break 'load,
                }
            }
        };
        status.set_state(EngineState::Ready);
        side.set_phase(Phase::Live);
        let mut prompt = Prompt::default();
        // A reload mid-session: pick the timeline up where the audio side is.
        if let Some((playing, epoch)) = timeline.last {
            let clock = side.clock();
            let beat = clock.playhead;
            let s = side.settings();
            let msg = ToEngine::Resync {
                beat,
                playing,
                epoch,
                heard_until: beat,
                jumped: true,
            };
            refresh_prompt(&mut gen, &s, &slot, &mut prompt);
            gen.on_message(msg, clock, &s, &mut |g| send(&mut side, &status, g));
        }
        let mut messages: Vec<ToEngine> = Vec::with_capacity(bridge::TO_ENGINE_CAPACITY);
        let mut captures = Seen::from_now(&requests, Request::Capture);
        let mut errors = 0u32;
        while !stop.load(Ordering::Acquire) {
            if loads.take(&requests) {
                tracing::info!("Cadenza engine: loading the chosen model");
                continue 'load;
            }
            // In lockstep, act only when the audio side asks: its messages up to the block are all
            // queued then, and it waits (its playhead holds still) until the block is answered.
            let block = if lockstep {
                let asked = side.asked();
                if asked == answered {
                    bridge::wait_until(LOCKSTEP_POLL, || {
                        side.asked() != answered || stop.load(Ordering::Relaxed)
                    });
                    continue;
                }
                Some(asked)
            } else {
                None
            };
            // The messages first, then the clock: the audio side publishes a block's clock before it
            // sends the block's messages, so the clock is never older than a message it meets.
            messages.clear();
            while let Some(msg) = side.receive() {
                messages.push(msg);
            }
            let clock = side.clock();
            for &msg in &messages {
                // Settings read after the message: the audio thread publishes them before it sends.
                let s = side.settings();
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
                    timeline.last = Some((playing, epoch));
                    refresh_prompt(&mut gen, &s, &slot, &mut prompt);
                }
                gen.on_message(msg, clock, &s, &mut |g| send(&mut side, &status, g));
            }
            let s = side.settings();
            if captures.take(&requests) {
                let bars = s.capture_bars.max(1);
                let notes = gen.capture_bars(bars);
                tracing::info!(
                    "Cadenza engine: captured {} notes from the last {bars} bars as the prompt",
                    notes.len()
                );
                if !notes.is_empty() {
                    prompt::write(
                        &slot,
                        Prompt {
                            name: format!("captured {bars} bars"),
                            notes,
                        },
                    );
                }
            }
            // In real time one token per pass, so new messages are taken between tokens; in
            // lockstep the whole block's plan (bounded, should a model never move time on).
            let budget = if block.is_some() {
                MAX_TOKENS_PER_BLOCK
            } else {
                1
            };
            for _ in 0..budget {
                let t0 = Instant::now();
                match gen.step(clock, &s, &mut |g| send(&mut side, &status, g)) {
                    Ok(true) => {
                        errors = 0;
                        let micros = t0.elapsed().as_micros() as u64;
                        steps.record(micros);
                        status.last_step_micros.store(micros, Ordering::Relaxed);
                        status.tokens.fetch_add(1, Ordering::Relaxed);
                        status
                            .reactions
                            .fetch_add(gen.take_reactions(), Ordering::Release);
                    }
                    Ok(false) => {
                        // Nothing to plan: in real time, use the pause to build the next window's
                        // cache (one token a pass, so a played note never waits on more than one);
                        // sleep once that is done. (Offline renders have no answer time to save.)
                        if block.is_none() && !prepare(&mut gen) {
                            std::thread::sleep(IDLE_SLEEP);
                        }
                        break;
                    }
                    Err(e) => {
                        errors += 1;
                        status.recovered_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("Cadenza engine: inference error ({errors} in a row): {e}");
                        if errors >= MAX_CONSECUTIVE_ERRORS {
                            status.fail(&format!("inference keeps failing: {e}"));
                            side.set_phase(Phase::Down);
                            match idle_until(&mut side, &stop, &requests, &mut loads, &mut timeline)
                            {
                                Wake::Reload => continue 'load,
                                Wake::Stop => break 'load,
                            }
                        }
                        gen.reset_cache();
                    }
                }
            }
            let masked = gen.take_mask_stats();
            if masked.steps > 0 {
                status.add_masked(&masked);
            }
            if let Some(b) = block {
                side.answer(b);
                answered = b;
            }
            let dropped = side.dropped();
            status
                .dropped_in_queues
                .store(dropped.to_audio + dropped.to_engine, Ordering::Relaxed);
        }
    }
    side.set_phase(Phase::Down);
    let (median, p99, max) = steps.summary();
    let m = status.masked();
    let dropped = side.dropped();
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
        status.tokens.load(Ordering::Relaxed),
        dropped.to_audio,
        dropped.to_engine,
        status.dropped_to_host.load(Ordering::Relaxed),
    );
    if lockstep {
        let late = side.lockstep_timeouts();
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

/// One token of idle work ([`Generator::prepare`]); whether there may be more. A failure here costs
/// only the spare cache (the next re-anchor feeds from scratch), so it is logged, not counted.
fn prepare<B: Backend>(gen: &mut Generator<B>) -> bool {
    gen.prepare().unwrap_or_else(|e| {
        tracing::debug!("Cadenza engine: building the next window's cache failed: {e}");
        false
    })
}

/// Queue a generated note for the audio side and show it to the editor as planned.
fn send(side: &mut EngineSide, status: &EngineStatus, g: Generated) {
    if g.is_plan_mark() {
        side.send(g);
        return;
    }
    status.planned.push(Mark {
        beat: g.beat,
        pitch: g.pitch,
        velocity: if g.on {
            crate::midi_file::midi_velocity(f64::from(g.velocity))
        } else {
            0
        },
        on: g.on,
        who: Who::Planned,
        tag: (g.epoch & 0xffff) << 16 | (g.plan & 0xffff),
    });
    side.send(g);
}

/// In Continue Clip mode, give the generator the prompt clip if it changed.
fn refresh_prompt<B: Backend>(
    gen: &mut Generator<B>,
    s: &Settings,
    slot: &PromptSlot,
    prompt: &mut Prompt,
) {
    if s.mode != Mode::Continue {
        return;
    }
    let current = prompt::read(slot);
    if current != *prompt {
        // The clip is what the musician played (captured, or a file they chose): theirs.
        gen.set_prompt(&current.notes, true);
        tracing::info!(
            "Cadenza engine: prompt \"{}\" ({} notes)",
            current.name,
            current.notes.len()
        );
        *prompt = current;
    }
}

/// The audio timeline as the engine last heard of it: (playing, epoch) of the last resync.
#[derive(Debug, Default)]
struct Timeline {
    last: Option<(bool, u32)>,
}

enum Wake {
    Stop,
    Reload,
}

/// After a failure: stay alive but idle, draining the queue so the audio side never finds it full
/// (it keeps passing MIDI through meanwhile), until stopped or asked to load a model again.
fn idle_until(
    side: &mut EngineSide,
    stop: &AtomicBool,
    requests: &Requests,
    loads: &mut Seen,
    timeline: &mut Timeline,
) -> Wake {
    while !stop.load(Ordering::Acquire) {
        if loads.take(requests) {
            return Wake::Reload;
        }
        while let Some(msg) = side.receive() {
            if let ToEngine::Resync { playing, epoch, .. } = msg {
                timeline.last = Some((playing, epoch));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Wake::Stop
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{Bridge, PlayClock};
    use crate::tokenizer::Vocab;
    use std::time::Duration;

    /// A backend that fails on the feeds numbered in `fail_on` (1-based), or on every feed.
    struct Flaky {
        fail_on: Vec<usize>,
        always: bool,
        feeds: usize,
        cached: usize,
        spares: [usize; crate::engine::generator::SPARE_CACHES],
        logits: Vec<f32>,
    }

    impl Backend for Flaky {
        fn feed(
            &mut self,
            tokens: &[u32],
            _: &[crate::features::Features],
        ) -> Result<&[f32], String> {
            self.feeds += 1;
            if self.always || self.fail_on.contains(&self.feeds) {
                return Err("injected failure".into());
            }
            self.cached += tokens.len();
            Ok(&self.logits)
        }
        fn reset(&mut self) {
            self.cached = 0;
        }
        fn truncate(&mut self, len: usize) {
            self.cached = len;
        }
        fn window(&self) -> usize {
            64
        }
        fn swap_caches(&mut self, spare: usize) {
            std::mem::swap(&mut self.cached, &mut self.spares[spare]);
        }
    }

    fn flaky(fail_on: Vec<usize>, always: bool) -> Generator<Flaky> {
        let v = Vocab::DEFAULT;
        let backend = Flaky {
            fail_on,
            always,
            feeds: 0,
            cached: 0,
            spares: Default::default(),
            logits: vec![0.0; v.size as usize],
        };
        Generator::new(backend, v, 24, 5)
    }

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn session(make: Generator<Flaky>) -> (Engine, crate::bridge::AudioSide, Arc<EngineStatus>) {
        let mut once = Some(make);
        start(move |_: &EngineStatus| once.take().ok_or_else(|| "loaded twice".to_string()))
    }

    fn start(
        make: impl FnMut(&EngineStatus) -> Result<Generator<Flaky>, String> + Send + 'static,
    ) -> (Engine, crate::bridge::AudioSide, Arc<EngineStatus>) {
        let (mut audio, side) = Bridge::new();
        let status = Arc::new(EngineStatus::default());
        let engine = Engine::start_with(
            side,
            Arc::default(),
            PromptSlot::default(),
            status.clone(),
            make,
        );
        audio.publish(PlayClock::at(0.0, 120.0), &Settings::default());
        (engine, audio, status)
    }

    #[test]
    fn an_inference_error_mid_session_resets_the_cache_and_playing_goes_on() {
        let (engine, mut audio, status) = session(flaky(vec![4], false));
        audio.send(ToEngine::start_at_zero());
        let mut beat = 0.0;
        wait_for("20 tokens", || {
            beat += 0.05; // the transport rolls on
            audio.publish(PlayClock::at(beat, 120.0), &Settings::default());
            status.tokens.load(Ordering::Relaxed) >= 20
        });
        assert_eq!(status.recovered_errors.load(Ordering::Relaxed), 1);
        assert_eq!(status.state(), EngineState::Ready);
        let mut notes = 0;
        while audio.receive().is_some() {
            notes += 1;
        }
        assert!(notes > 0, "no notes after the recovery");
        engine.stop();
    }

    #[test]
    fn errors_that_keep_coming_stop_generation_with_the_reason_and_the_queue_keeps_draining() {
        let (engine, mut audio, status) = session(flaky(vec![], true));
        audio.send(ToEngine::start_at_zero());
        wait_for("the failure", || status.state() == EngineState::Failed);
        assert!(
            status
                .message()
                .contains("inference keeps failing: injected failure"),
            "{}",
            status.message()
        );
        // The audio side keeps talking to a failed engine; its queue never fills.
        for i in 0..(3 * crate::bridge::TO_ENGINE_CAPACITY) {
            audio.send(ToEngine::Played {
                beat: 0.0,
                pitch: 60,
                velocity: 0.5,
                on: i % 2 == 0,
            });
            if i % 256 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        assert_eq!(audio.dropped().to_engine, 0);
        engine.stop();
    }

    #[test]
    fn a_failed_load_says_why() {
        let (engine, audio, status) = start(|_: &EngineStatus| {
            Err("model.onnx could not be loaded (corrupt or not an ONNX model?): test".to_string())
        });
        wait_for("the failure", || status.state() == EngineState::Failed);
        assert!(status.message().contains("corrupt or not an ONNX model"));
        drop(audio);
        engine.stop();
    }

    #[test]
    fn a_model_request_reloads_a_failed_engine_which_plays_on_from_where_the_audio_side_is() {
        let (mut audio, side) = Bridge::new();
        let status = Arc::new(EngineStatus::default());
        let requests = Arc::new(Requests::default());
        let mut loads = 0;
        let engine = Engine::start_with(
            side,
            requests.clone(),
            PromptSlot::default(),
            status.clone(),
            move |_: &EngineStatus| {
                loads += 1;
                if loads == 1 {
                    Err("model.json: missing field `styles`".to_string())
                } else {
                    Ok(flaky(vec![], false))
                }
            },
        );
        audio.publish(PlayClock::at(8.0, 120.0), &Settings::default());
        wait_for("the failure", || status.state() == EngineState::Failed);
        // The failed engine still hears the timeline (it drains the queue) ...
        audio.send(ToEngine::Resync {
            beat: 8.0,
            playing: true,
            epoch: 7,
            heard_until: 8.0,
            jumped: false,
        });
        std::thread::sleep(Duration::from_millis(50));
        // ... and after a reload plays in it, without another resync.
        requests.ask(Request::Model);
        let mut beat = 8.0;
        let mut first = None;
        wait_for("a note after the reload", || {
            beat += 0.05;
            audio.publish(PlayClock::at(beat, 120.0), &Settings::default());
            first = audio.receive();
            first.is_some()
        });
        let g = first.unwrap();
        assert_eq!(status.state(), EngineState::Ready);
        assert_eq!(g.epoch, 7, "the note belongs to the audio side's timeline");
        assert!(g.beat >= 8.0);
        // The editor sees what was planned.
        let mut planned = Vec::new();
        status.planned.read(&mut planned);
        assert!(planned
            .iter()
            .any(|m| m.pitch == g.pitch && (m.beat - g.beat).abs() < 1e-9));
        engine.stop();
    }

    /// A lockstep (offline-render) session: the engine answers each block the audio side asks for.
    fn lockstep_session(
        make: impl FnMut(&EngineStatus) -> Result<Generator<Flaky>, String> + Send + 'static,
    ) -> (Engine, crate::bridge::AudioSide, Arc<EngineStatus>) {
        let (audio, side) = Bridge::new();
        audio.set_offline(true);
        let status = Arc::new(EngineStatus::default());
        let engine = Engine::start_with(
            side,
            Arc::default(),
            PromptSlot::default(),
            status.clone(),
            make,
        );
        (engine, audio, status)
    }

    /// Bounce `blocks` blocks of a quarter beat each; the generated notes, in order.
    fn bounce(audio: &mut crate::bridge::AudioSide, blocks: u32) -> Vec<(u32, u64, u8, bool)> {
        let mut notes = Vec::new();
        for b in 0..blocks {
            let beat = f64::from(b) * 0.25;
            audio.publish(PlayClock::at(beat, 120.0), &Settings::default());
            if b == 0 {
                audio.send(ToEngine::start_at_zero());
            }
            if b == 8 {
                // The player plays in block 7, as the audio side sends it during the block.
                audio.send(ToEngine::Played {
                    beat: 1.9,
                    pitch: 64,
                    velocity: 0.7,
                    on: true,
                });
            }
            assert_eq!(audio.lockstep(), crate::bridge::Answer::Answered);
            while let Some(g) = audio.receive() {
                notes.push((g.plan, g.beat.to_bits(), g.pitch, g.on));
            }
        }
        notes
    }

    #[test]
    fn in_lockstep_the_engine_plans_only_when_asked_and_two_bounces_are_the_same() {
        let (engine, mut audio, status) =
            lockstep_session(|_: &EngineStatus| Ok(flaky(vec![], false)));
        let first = bounce(&mut audio, 1);
        let tokens = status.tokens.load(Ordering::Relaxed);
        assert!(
            tokens > 0,
            "the first block was planned before it was answered"
        );
        // Nobody asks: the engine waits, however long the host takes.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(status.tokens.load(Ordering::Relaxed), tokens);
        let rest = bounce(&mut audio, 40);
        assert!(status.tokens.load(Ordering::Relaxed) > tokens);
        engine.stop();
        let a = [first, rest].concat();
        assert!(a.len() > 4, "too few notes: {a:?}");

        // The same asks from a fresh engine: the same notes, whatever the threads' timing.
        let (engine, mut audio, _) = lockstep_session(|_: &EngineStatus| Ok(flaky(vec![], false)));
        let b = [bounce(&mut audio, 1), bounce(&mut audio, 40)].concat();
        engine.stop();
        assert_eq!(a, b);
    }

    #[test]
    fn in_lockstep_an_engine_that_failed_to_load_is_not_waited_for() {
        let (engine, mut audio, status) =
            lockstep_session(|_: &EngineStatus| Err("model.onnx is missing".to_string()));
        wait_for("the failure", || status.state() == EngineState::Failed);
        for _ in 0..100 {
            assert_eq!(audio.lockstep(), crate::bridge::Answer::Down);
        }
        assert_eq!(audio.lockstep_timeouts(), 0);
        engine.stop();
    }
}
