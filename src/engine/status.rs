//! What the engine tells the rest of the plugin (editor, log, tests): state, error text, provider,
//! step latency. The engine thread writes; any non-audio thread reads. The audio thread never touches
//! the text fields (they sit behind mutexes).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
/// What the engine is doing, as the editor shows it.
pub enum EngineState {
    /// Not started (plugin not active).
    Idle = 0,
    /// Loading ONNX Runtime and the model, warming up. MIDI passes through.
    Loading = 1,
    /// Generating.
    Ready = 2,
    /// Could not start, or failed for good; see the message. MIDI passes through.
    Failed = 3,
}

#[derive(Debug, Default)]
/// What the engine says of itself: its state and texts (written on its thread, read by the editor without waiting), its figures (atomics), and what the song knows.
pub struct EngineStatus {
    state: AtomicU8,
    message: Mutex<String>,
    provider: Mutex<String>,
    model: Mutex<String>,
    /// Where the model came from ("built-in", or its path).
    origin: Mutex<String>,
    /// Size of the loaded model's graph, in bytes.
    pub model_bytes: AtomicU64,
    /// Messages the bridge's queues dropped since activation (either way; the engine copies them).
    pub dropped_in_queues: AtomicU64,
    /// The notes the engine planned, newest last (the engine thread writes; the editor draws them).
    pub planned: crate::monitor::MarkRing,
    /// Duration of the last model step, in microseconds.
    pub last_step_micros: AtomicU64,
    /// Tokens generated since activation.
    pub tokens: AtomicU64,
    /// Played notes the engine has decided its response to since activation: a note on the first
    /// tick Cadenza may play on after the reaction lead, or its rest past that tick (the benchmark
    /// times a played note to this).
    pub reactions: AtomicU64,
    /// Time from activation to ready (library + model load + warm-up), in milliseconds.
    pub load_millis: AtomicU64,
    /// Inference errors recovered from (cache reset and continued).
    pub recovered_errors: AtomicU64,
    /// Events the host's output buffer refused (written by the audio thread: an atomic add only).
    pub dropped_to_host: AtomicU64,
    /// What the sampler's mask took away from the model since activation (engine thread writes).
    masked: Mutex<super::generator::MaskStats>,
    /// The loaded model's style names (engine thread writes at load; the style parameter's text
    /// shows them). Shared with the parameter: see `CadenzaParams::new`.
    pub styles: std::sync::Arc<std::sync::RwLock<Vec<String>>>,
    /// The roles the loaded model plays in each style slot (model.json; engine thread writes at load).
    roles: Mutex<Vec<Vec<String>>>,
    /// What the song knows around the playhead (engine thread writes a few times a second).
    song: Mutex<super::SongView>,
    /// Why the chord track (or Learn Chords) was not taken; empty when it was.
    chord_error: Mutex<String>,
    /// The loaded model is told the chords (format 5); else a chord track leads through the mask.
    pub hears_chords: std::sync::atomic::AtomicBool,
}

/// Copies of the status texts, for the editor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusTexts {
    /// The last message (an error's, or the chord track's).
    pub message: String,
    /// Where the model runs and why.
    pub provider: String,
    /// The model's name.
    pub model: String,
    /// Where the model came from.
    pub origin: String,
}

fn lock(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EngineStatus {
    /// A status whose style names are `styles` (the parameter's shared list).
    pub fn with_styles(styles: std::sync::Arc<std::sync::RwLock<Vec<String>>>) -> Self {
        Self {
            styles,
            ..Self::default()
        }
    }

    /// Add a pass's mask statistics.
    pub fn add_masked(&self, m: &super::generator::MaskStats) {
        self.masked.lock().unwrap_or_else(|p| p.into_inner()).add(m);
    }

    /// What the mask took away since activation.
    pub fn masked(&self) -> super::generator::MaskStats {
        *self.masked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loaded model's style names.
    pub fn set_styles(&self, names: &[String]) {
        *self.styles.write().unwrap_or_else(|p| p.into_inner()) = names.to_vec();
    }

    /// The roles the loaded model plays, per style slot.
    pub fn set_roles(&self, by_style: Vec<Vec<String>>) {
        *self.roles.lock().unwrap_or_else(|p| p.into_inner()) = by_style;
    }

    /// The roles the loaded model plays in style slot `style` (empty before a model loaded).
    pub fn roles(&self, style: usize) -> Vec<String> {
        let by_style = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        by_style.get(style).cloned().unwrap_or_default()
    }

    /// The engine's state now.
    pub fn state(&self) -> EngineState {
        match self.state.load(Ordering::Acquire) {
            1 => EngineState::Loading,
            2 => EngineState::Ready,
            3 => EngineState::Failed,
            _ => EngineState::Idle,
        }
    }

    /// Set the state (the engine loop's `enter` does, with the bridge's phase).
    pub fn set_state(&self, s: EngineState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Record a failure: state, message and the log.
    pub fn fail(&self, message: &str) {
        *lock(&self.message) = message.to_string();
        self.set_state(EngineState::Failed);
        tracing::error!("Cadenza engine: {message}");
    }

    /// Set the message without changing the state.
    pub fn set_message(&self, message: &str) {
        *lock(&self.message) = message.to_string();
    }

    /// The message (waits for the engine if it is writing it).
    pub fn message(&self) -> String {
        lock(&self.message).clone()
    }

    /// Say where the model runs and why.
    pub fn set_provider(&self, p: &str) {
        *lock(&self.provider) = p.to_string();
    }

    /// Where the model runs and why.
    pub fn provider(&self) -> String {
        lock(&self.provider).clone()
    }

    /// Say the model's name.
    pub fn set_model(&self, m: &str) {
        *lock(&self.model) = m.to_string();
    }

    /// The model's name.
    pub fn model(&self) -> String {
        lock(&self.model).clone()
    }

    /// Say where the model came from.
    pub fn set_origin(&self, o: &str) {
        *lock(&self.origin) = o.to_string();
    }

    /// Where the model came from.
    pub fn origin(&self) -> String {
        lock(&self.origin).clone()
    }

    /// The text fields without waiting: `None` when the engine is writing one right now (the editor
    /// draws its last copy instead of blocking the engine).
    pub fn try_texts(&self) -> Option<StatusTexts> {
        let t = |m: &Mutex<String>| match m.try_lock() {
            Ok(g) => Some(g.clone()),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        Some(StatusTexts {
            message: t(&self.message)?,
            provider: t(&self.provider)?,
            model: t(&self.model)?,
            origin: t(&self.origin)?,
        })
    }

    /// Show the editor what the song knows now.
    pub fn set_song(&self, view: super::SongView) {
        *self.song.lock().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// What the song knows, without waiting: `None` while the engine writes it.
    pub fn try_song(&self) -> Option<super::SongView> {
        match self.song.try_lock() {
            Ok(g) => Some(g.clone()),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Say why the chord track was not taken (empty: it was).
    pub fn set_chord_error(&self, e: &str) {
        *lock(&self.chord_error) = e.to_string();
    }

    /// Why the chord track was not taken (empty: it was).
    pub fn chord_error(&self) -> String {
        lock(&self.chord_error).clone()
    }

    /// One line for a status strip or a log.
    pub fn summary(&self) -> String {
        match self.state() {
            EngineState::Idle => "idle".into(),
            EngineState::Loading => "loading…".into(),
            EngineState::Ready => format!(
                "ready: {} on {}, last step {} µs",
                self.model(),
                self.provider(),
                self.last_step_micros.load(Ordering::Relaxed)
            ),
            EngineState::Failed => format!("error: {}", self.message()),
        }
    }
}
