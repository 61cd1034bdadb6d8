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

/// Where the audio side is, as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayClock {
    /// Beat at the start of the block being played.
    pub playhead: f64,
    /// BPM.
    pub tempo: f64,
    /// A beat on which a bar starts.
    pub bar_origin: f64,
    /// Bar length in beats (quarter notes).
    pub beats_per_bar: f64,
}

impl PlayClock {
    /// 4/4 at `tempo`, bars from beat 0.
    pub fn at(playhead: f64, tempo: f64) -> Self {
        Self {
            playhead,
            tempo,
            bar_origin: 0.0,
            beats_per_bar: 4.0,
        }
    }

    /// Where `beat` sits in its bar, in beats from the bar's start.
    pub fn in_bar(&self, beat: f64) -> f64 {
        (beat - self.bar_origin).rem_euclid(self.beats_per_bar.max(1e-6))
    }

    /// The first beat (`bar`: first bar start) at or after `beat`.
    pub fn next_grid(&self, beat: f64, bar: bool) -> f64 {
        let unit = if bar {
            self.beats_per_bar.max(1e-6)
        } else {
            1.0
        };
        self.bar_origin + ((beat - self.bar_origin) / unit - 1e-9).ceil() * unit
    }
}

/// Audio → engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToEngine {
    /// The player pressed (`on`) or released a key at `beat`. Velocity in 0..=1.
    Played {
        beat: f64,
        pitch: u8,
        velocity: f32,
        on: bool,
    },
    /// The timeline jumped, or the transport started/stopped, or a setting ended every note: everything
    /// planned is void. Plan again from `beat`, stamping new notes with `epoch`. `heard_until` is how far
    /// the old timeline was played (its notes after that never sounded); `jumped` says the host moved
    /// the playhead (a seek or a loop), as opposed to a start, a stop or a setting.
    Resync {
        beat: f64,
        playing: bool,
        epoch: u32,
        heard_until: f64,
        jumped: bool,
    },
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
    /// A beat on which a bar starts, from the host's bar position (audio thread writes).
    pub bar_origin: AtomicF64,
    /// Bar length in beats (quarter notes) from the host's time signature (audio thread writes).
    pub beats_per_bar: AtomicF64,
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
        let shared = Arc::new(Shared {
            tempo: AtomicF64::new(120.0),
            beats_per_bar: AtomicF64::new(4.0),
            ..Default::default()
        });
        (
            AudioSide {
                to_engine,
                from_engine,
                shared: shared.clone(),
            },
            EngineSide {
                from_audio,
                to_audio,
                shared,
            },
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
    pub fn publish(&self, clock: PlayClock) {
        self.shared.tempo.store(clock.tempo, Ordering::Relaxed);
        self.shared
            .bar_origin
            .store(clock.bar_origin, Ordering::Relaxed);
        self.shared
            .beats_per_bar
            .store(clock.beats_per_bar, Ordering::Relaxed);
        self.shared
            .playhead_beat
            .store(clock.playhead, Ordering::Release);
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

    pub fn clock(&self) -> PlayClock {
        let playhead = self.shared.playhead_beat.load(Ordering::Acquire);
        PlayClock {
            playhead,
            tempo: self.shared.tempo.load(Ordering::Relaxed),
            bar_origin: self.shared.bar_origin.load(Ordering::Relaxed),
            beats_per_bar: self.shared.beats_per_bar.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts_instead_of_waiting() {
        let (mut audio, mut engine) = Bridge::new();
        let note = Generated {
            epoch: 0,
            plan: 0,
            beat: 1.0,
            pitch: 60,
            velocity: 0.5,
            on: true,
        };
        for _ in 0..TO_AUDIO_CAPACITY {
            assert!(engine.send(note));
        }
        assert!(!engine.send(note));
        assert!(!engine.send(note));
        assert_eq!(engine.shared.dropped_to_audio.load(Ordering::Relaxed), 2);
        assert_eq!(audio.receive(), Some(note));
        assert!(engine.send(note), "space again after one pop");

        let msg = ToEngine::Played {
            beat: 0.0,
            pitch: 60,
            velocity: 1.0,
            on: true,
        };
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
        let clock = PlayClock {
            playhead: 12.5,
            tempo: 90.0,
            bar_origin: 0.5,
            beats_per_bar: 3.0,
        };
        audio.publish(clock);
        assert_eq!(engine.clock(), clock);
        assert_eq!(clock.next_grid(12.6, false), 13.5);
        assert_eq!(clock.next_grid(12.6, true), 15.5);
        assert_eq!(clock.next_grid(15.5, true), 15.5);
        assert!((clock.in_bar(16.0) - 0.5).abs() < 1e-12);
    }
}
