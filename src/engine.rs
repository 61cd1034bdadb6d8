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

pub(crate) mod backend;
mod engine_loop;
mod generator;
mod listener;
mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::bridge::{EngineSide, Generated};
use crate::chords::{self, ChordSlot, ChordTrack};
use crate::model::{ModelSource, OnnxModel, ProviderChoice, ProviderSetting};
use crate::monitor::{Mark, Who};
use crate::prompt::{self, Prompt, PromptSlot};
use crate::requests::Requests;
pub use crate::settings::{Mode, Settings};
pub use backend::{Backend, BackendError};
use engine_loop::{EngineLoop, Shared};
pub use generator::{
    progression_of, GenerateError, Generator, Known, MaskStats, SongView, Source, Step,
    REACTION_SECONDS,
};
pub use status::{EngineState, EngineStatus, StatusTexts};

/// What the musician set beside the parameters that the engine plays by, shared with the editor and
/// saved with the project: the prompt clip and the chord track.
#[derive(Debug, Clone, Default)]
pub struct Slots {
    /// The prompt clip (Continue Clip).
    pub prompt: PromptSlot,
    /// The chord track, as typed.
    pub chords: ChordSlot,
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The model could not be read, loaded or warmed up (`model`: where it came from).
    #[error("{source} (model: {model})")]
    Model {
        /// Why.
        source: crate::model::ModelError,
        /// Where the model came from ("built-in", or its path).
        model: String,
    },
    /// A backend a test scripts could not be built.
    #[cfg(test)]
    #[error("{0}")]
    Scripted(&'static str),
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
                .map_err(|source_error| LoadError::Model {
                    source: source_error,
                    model: source.describe(),
                })?;
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
        F: FnMut(&EngineStatus) -> Result<Generator<B>, LoadError> + Send + 'static,
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
                        let shared = Shared {
                            requests,
                            slots,
                            status,
                            stop,
                        };
                        EngineLoop::new(make, side, shared).run()
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

#[cfg(test)]
mod tests;
