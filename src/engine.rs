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

mod generator;
mod listener;
mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::bridge::{self, EngineSide, Generated, Phase, ToEngine};
use crate::chords::{self, ChordSlot, ChordTrack};
use crate::model::{ModelSource, OnnxModel, ProviderChoice, ProviderSetting};
use crate::monitor::{Mark, Who};
use crate::prompt::{self, Prompt, PromptSlot};
use crate::requests::{Request, Requests, Seen};
pub use crate::settings::{Mode, Settings};
pub use generator::{
    progression_of, Backend, Generator, Known, MaskStats, SongView, Source, REACTION_SECONDS,
};
pub use status::{EngineState, EngineStatus, StatusTexts};

/// What the musician set beside the parameters that the engine plays by, shared with the editor and
/// saved with the project: the prompt clip and the chord track.
#[derive(Debug, Clone, Default)]
pub struct Slots {
    pub prompt: PromptSlot,
    pub chords: ChordSlot,
}

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
        slots: Slots,
        status: Arc<EngineStatus>,
    ) -> Self {
        Self::start_with(
            side,
            requests,
            slots,
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
                status.set_roles(spec.roles_by_slot());
                (status.hears_chords).store(spec.hears_chords(), Ordering::Relaxed);
                status
                    .load_millis
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                tracing::info!(
                    "Cadenza engine ready in {} ms: model {} on {}",
                    started.elapsed().as_millis(),
                    spec.name,
                    model.provider
                );
                let mut generator = Generator::new(
                    model,
                    spec.vocab(),
                    spec.ticks_per_beat,
                    spec.styles.len() as u32,
                );
                generator.set_roles(&spec.roles_played(), spec.roles_by_slot());
                generator.set_knows_alone(spec.alone);
                generator.set_hears_chords(spec.hears_chords());
                Ok(generator)
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
        slots: Slots,
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
                        run(make, side, requests, slots, status, stop)
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
    slots: Slots,
    status: Arc<EngineStatus>,
    stop: Arc<AtomicBool>,
) {
    let slot = slots.prompt;
    let mut timeline = AudioTimeline::default();
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
        let mut chord_seen = Seen::from_now(&requests, Request::Chords);
        let mut learn_seen = Seen::from_now(&requests, Request::LearnChords);
        refresh_chords(&mut gen, &slots.chords, &status);
        let mut song_shown = Instant::now();
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
            if chord_seen.take(&requests) {
                refresh_chords(&mut gen, &slots.chords, &status);
            }
            if learn_seen.take(&requests) {
                learn_chords(&mut gen, &slots.chords, &status);
            }
            if song_shown.elapsed() >= SONG_VIEW_EVERY {
                song_shown = Instant::now();
                status.set_song(gen.song_view());
            }
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

/// Give the generator the chord track in the slot (an empty or unreadable one: none; the status
/// says why it was not taken).
fn refresh_chords<B: Backend>(gen: &mut Generator<B>, slot: &ChordSlot, status: &EngineStatus) {
    let text = chords::read_slot(slot);
    match ChordTrack::parse(&text) {
        Ok(track) => {
            if !track.is_empty() {
                tracing::info!(
                    "Cadenza engine: chord track {} ({} bars)",
                    track,
                    track.len()
                );
            }
            status.set_chord_error("");
            gen.set_chord_track(Some(track));
        }
        Err(e) => {
            tracing::warn!("Cadenza engine: the chord track is not taken: {e}");
            status.set_chord_error(&format!("the chord track is not taken: {e}"));
            gen.set_chord_track(None);
        }
    }
}

/// Learn Chords: the progression heard into the chord track (the slot, as text), which then leads.
fn learn_chords<B: Backend>(gen: &mut Generator<B>, slot: &ChordSlot, status: &EngineStatus) {
    match gen.learned_chords() {
        Some(text) => match chords::write_slot(slot, &text) {
            Ok(track) => {
                tracing::info!("Cadenza engine: learned the chords {track}");
                status.set_chord_error("");
                gen.set_chord_track(Some(track));
            }
            Err(e) => status.set_chord_error(&format!("could not learn the chords: {e}")),
        },
        None => status.set_chord_error("no chords heard yet to learn: play a progression first"),
    }
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
struct AudioTimeline {
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
    timeline: &mut AudioTimeline,
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
mod tests;
