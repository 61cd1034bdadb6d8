//! The two lock-free queues between the audio thread and the engine thread.
//!
//! Contract:
//! - Every message is `Copy` and holds no heap data; pushing and popping never allocate, lock or wait.
//! - Each queue has exactly one producer and one consumer thread ([`Bridge::new`] hands out the two
//!   ends by role). Capacities are fixed at construction ([`TO_ENGINE_CAPACITY`], [`TO_AUDIO_CAPACITY`]).
//! - A full queue drops the message and counts it in [`Shared`]; nobody ever waits for space.
//! - Time is in beats on the audio side's timeline. The audio side owns that timeline: whenever it jumps
//!   (transport start/stop, seek, loop, style change, bypass) it starts a new *epoch* and tells the
//!   engine with [`ToEngine::Resync`]. Generated notes carry the epoch they were planned in plus the
//!   engine's *plan* counter; the audio side drops notes of an old epoch, and pending notes of an older
//!   plan once a newer plan arrives (the engine withdrew them, e.g. because the player played).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use atomic_float::AtomicF64;

/// Audio → engine capacity: a block rarely holds more than a few played notes.
pub const TO_ENGINE_CAPACITY: usize = 1024;
/// Engine → audio capacity: the engine plans a few beats ahead, far below this many notes.
pub const TO_AUDIO_CAPACITY: usize = 1024;

/// Audio → engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToEngine {
    /// The player pressed (`on`) or released a key at `beat`. Velocity in 0..=1.
    Played { beat: f64, pitch: u8, velocity: f32, on: bool },
    /// The timeline jumped, or the transport started/stopped: everything planned is void. Plan again
    /// from `beat`, stamping new notes with `epoch`.
    Resync { beat: f64, playing: bool, epoch: u32 },
}

/// Engine → audio: one generated note-on or note-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Generated {
    /// The audio timeline epoch this was planned in (from the last [`ToEngine::Resync`]).
    pub epoch: u32,
    /// The engine's plan counter inside that epoch; a higher plan replaces the pending notes of lower ones.
    pub plan: u32,
    /// When, in beats on the audio timeline.
    pub beat: f64,
    pub pitch: u8,
    /// 0..=1; unused for note-offs.
    pub velocity: f32,
    pub on: bool,
}

/// State both sides can see. Atomics only.
#[derive(Debug, Default)]
pub struct Shared {
    /// The beat at the start of the audio block being played (audio thread writes).
    pub playhead_beat: AtomicF64,
    /// The tempo of that block in BPM (audio thread writes).
    pub tempo: AtomicF64,
    /// Messages the audio side could not queue to the engine.
    pub dropped_to_engine: AtomicU64,
    /// Notes the engine could not queue to the audio side.
    pub dropped_to_audio: AtomicU64,
}

/// The audio thread's end.
pub struct AudioSide {
    to_engine: rtrb::Producer<ToEngine>,
    from_engine: rtrb::Consumer<Generated>,
    pub shared: Arc<Shared>,
}

/// The engine thread's end.
pub struct EngineSide {
    from_audio: rtrb::Consumer<ToEngine>,
    to_audio: rtrb::Producer<Generated>,
    pub shared: Arc<Shared>,
}

/// Constructor of the pair.
pub struct Bridge;

impl Bridge {
    /// Allocates both queues (call off the audio thread) and returns the two ends.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (AudioSide, EngineSide) {
        let (to_engine, from_audio) = rtrb::RingBuffer::new(TO_ENGINE_CAPACITY);
        let (to_audio, from_engine) = rtrb::RingBuffer::new(TO_AUDIO_CAPACITY);
        let shared = Arc::new(Shared { tempo: AtomicF64::new(120.0), ..Default::default() });
        (
            AudioSide { to_engine, from_engine, shared: shared.clone() },
            EngineSide { from_audio, to_audio, shared },
        )
    }
}

/// The one rule for both queues: push, or drop and count. Never waits.
fn push_or_count<T>(queue: &mut rtrb::Producer<T>, item: T, dropped: &AtomicU64) -> bool {
    let pushed = queue.push(item).is_ok();
    if !pushed {
        dropped.fetch_add(1, Ordering::Relaxed);
    }
    pushed
}

impl AudioSide {
    /// Queue a message for the engine; on a full queue drop it, count it and return false.
    pub fn send(&mut self, msg: ToEngine) -> bool {
        push_or_count(&mut self.to_engine, msg, &self.shared.dropped_to_engine)
    }

    /// The next generated note, if any.
    pub fn receive(&mut self) -> Option<Generated> {
        self.from_engine.pop().ok()
    }

    /// Publish the playhead for the engine.
    pub fn publish_playhead(&self, beat: f64, tempo: f64) {
        self.shared.tempo.store(tempo, Ordering::Relaxed);
        self.shared.playhead_beat.store(beat, Ordering::Release);
    }
}

impl EngineSide {
    /// Queue a generated note; on a full queue drop it, count it and return false.
    pub fn send(&mut self, note: Generated) -> bool {
        push_or_count(&mut self.to_audio, note, &self.shared.dropped_to_audio)
    }

    pub fn receive(&mut self) -> Option<ToEngine> {
        self.from_audio.pop().ok()
    }

    pub fn playhead(&self) -> (f64, f64) {
        let beat = self.shared.playhead_beat.load(Ordering::Acquire);
        (beat, self.shared.tempo.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts_instead_of_waiting() {
        let (mut audio, mut engine) = Bridge::new();
        let note = Generated { epoch: 0, plan: 0, beat: 1.0, pitch: 60, velocity: 0.5, on: true };
        for _ in 0..TO_AUDIO_CAPACITY {
            assert!(engine.send(note));
        }
        assert!(!engine.send(note));
        assert!(!engine.send(note));
        assert_eq!(engine.shared.dropped_to_audio.load(Ordering::Relaxed), 2);
        assert_eq!(audio.receive(), Some(note));
        assert!(engine.send(note), "space again after one pop");

        let msg = ToEngine::Played { beat: 0.0, pitch: 60, velocity: 1.0, on: true };
        for _ in 0..TO_ENGINE_CAPACITY {
            assert!(audio.send(msg));
        }
        assert!(!audio.send(msg));
        assert_eq!(audio.shared.dropped_to_engine.load(Ordering::Relaxed), 1);
        assert_eq!(engine.receive(), Some(msg));
    }

    #[test]
    fn playhead_is_shared() {
        let (audio, engine) = Bridge::new();
        audio.publish_playhead(12.5, 90.0);
        assert_eq!(engine.playhead(), (12.5, 90.0));
    }
}
