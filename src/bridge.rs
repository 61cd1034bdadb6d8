//! The two lock-free queues between the audio thread and the engine thread.
//!
//! Contract:
//! - Every message is `Copy` and holds no heap data; pushing and popping never allocate, lock or wait.
//! - Each queue has exactly one producer and one consumer thread ([`Bridge::new`] hands out the two
//!   ends by role). Capacities are fixed at construction ([`TO_ENGINE_CAPACITY`], [`TO_AUDIO_CAPACITY`]).
//! - A full queue drops the message and counts it ([`AudioSide::dropped`]); nobody ever waits for space.
//! - Each block the audio side publishes its clock and its [`Settings`] whole ([`AudioSide::publish`]),
//!   before that block's messages; the engine reads the newest of each. Neither side waits.
//! - Time is in beats on the audio side's timeline. The audio side owns that timeline: whenever it jumps
//!   (transport start/stop, seek, loop, style change, bypass) it starts a new *epoch* and tells the
//!   engine with [`ToEngine::Resync`]. Generated notes carry the epoch they were planned in plus the
//!   engine's *plan* counter; the audio side drops notes of an old epoch, and pending notes of an older
//!   plan once a newer plan arrives (the engine withdrew them, e.g. because the player played). The
//!   engine sends a [`Generated::plan_mark`] the moment it withdraws a plan, so the withdrawn notes
//!   go at once, even when the new plan opens with a rest.
//! - Offline rendering (a host's bounce or export) adds a handshake, [`Lockstep`]: the audio side may
//!   then wait (the host is not running in real time, and waiting is what makes a bounce exact), never
//!   longer than a timeout, and never when the engine is down. In real time nobody waits, ever.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atomic_float::AtomicF64;

use crate::settings::Settings;
use latest::{latest, Publisher, Reader};

mod latest;

/// Audio → engine capacity: a block rarely holds more than a few played notes.
pub const TO_ENGINE_CAPACITY: usize = 1024;
/// Engine → audio capacity: the engine plans a few beats ahead, far below this many notes.
pub const TO_AUDIO_CAPACITY: usize = 1024;

/// Where the audio side is, as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayClock {
    /// Beat at the start of the block being played.
    pub playhead: f64,
    /// The first beat a generated note may still be placed at: in real time the end of the block
    /// being played (the host processes a block at once, so its rest is gone), in an offline render
    /// its start (the audio side waits for the plan before it processes the block).
    pub open_from: f64,
    /// BPM.
    pub tempo: f64,
    /// A beat on which a bar starts.
    pub bar_origin: f64,
    /// Bar length in beats (quarter notes).
    pub beats_per_bar: f64,
    /// The host's transport is rolling.
    pub playing: bool,
    /// The host's number of the bar that starts at `bar_origin` (0: its first bar); NaN when the
    /// host does not say (-inf: then `bar_origin` / `beats_per_bar`).
    pub bar_number: f64,
    /// The host's loop, in beats, while it loops: from `loop_start` up to `loop_end`, then back
    /// (-inf: not looping).
    pub loop_start: f64,
    /// The end of the host's loop (see `loop_start`).
    pub loop_end: f64,
}

impl PlayClock {
    /// 4/4 at `tempo`, bars from beat 0, no loop.
    pub fn at(playhead: f64, tempo: f64) -> Self {
        Self {
            playhead,
            open_from: playhead,
            tempo,
            bar_origin: 0.0,
            beats_per_bar: 4.0,
            playing: true,
            bar_number: f64::NEG_INFINITY,
            loop_start: f64::NEG_INFINITY,
            loop_end: f64::NEG_INFINITY,
        }
    }

    /// The host's loop while the transport rolls and loops over at least a tick: (start, end).
    pub fn loop_range(&self) -> Option<(f64, f64)> {
        (self.playing && self.loop_start.is_finite() && self.loop_end.is_finite())
            .then_some((self.loop_start, self.loop_end))
            .filter(|(a, b)| b - a >= 1.0 / 24.0)
    }

    /// Whether the host loops now.
    pub fn loop_active(&self) -> bool {
        self.loop_range().is_some()
    }

    /// Where `beat` sits in its bar, in beats from the bar's start.
    pub fn in_bar(&self, beat: f64) -> f64 {
        (beat - self.bar_origin).rem_euclid(self.beats_per_bar.max(1e-6))
    }

    /// Whether `beat` is a strong beat of the bar: its first beat, or its middle where the bar has
    /// an even number of beats (beats 1 and 3 of 4/4). On the grid to a hair (the engine's cursor
    /// sums shifts in floating point).
    pub fn is_strong_beat(&self, beat: f64) -> bool {
        let bar = self.beats_per_bar.max(1.0);
        let half = if (bar.round() as u64).is_multiple_of(2) {
            bar / 2.0
        } else {
            bar
        };
        let pos = self.in_bar(beat) % half;
        pos < 1e-6 || half - pos < 1e-6
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
        /// Where, in beats on the audio timeline.
        beat: f64,
        /// The MIDI key.
        pitch: u8,
        /// 0..=1 (0 for a release).
        velocity: f32,
        /// A press (else a release).
        on: bool,
    },
    /// The timeline jumped, or the transport started/stopped, or a setting ended every note: everything
    /// planned is void. Plan again from `beat`, stamping new notes with `epoch`. `heard_until` is how far
    /// the old timeline was played (its notes after that never sounded); `jumped` says the host moved
    /// the playhead (a seek or a loop), as opposed to a start, a stop or a setting.
    Resync {
        /// The beat the new timeline starts at.
        beat: f64,
        /// The transport rolls.
        playing: bool,
        /// The new timeline's epoch.
        epoch: u32,
        /// How far the old timeline was played.
        heard_until: f64,
        /// The host moved the playhead (a seek or a loop).
        jumped: bool,
    },
}

impl ToEngine {
    /// The transport starting at beat 0 in the first epoch, with nothing heard yet: how a fresh
    /// timeline begins (an offline sketch, the engine's tests).
    pub fn start_at_zero() -> Self {
        ToEngine::Resync {
            beat: 0.0,
            playing: true,
            epoch: 1,
            heard_until: 0.0,
            jumped: false,
        }
    }
}

/// The pitch of a [`Generated::plan_mark`]: no note.
pub const PLAN_MARK: u8 = u8::MAX;

/// Engine → audio: one generated note-on or note-off, or a plan mark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Generated {
    /// The audio timeline epoch this was planned in (from the last [`ToEngine::Resync`]).
    pub epoch: u32,
    /// The engine's plan counter inside that epoch; a higher plan replaces the pending notes of lower ones.
    pub plan: u32,
    /// When, in beats on the audio timeline.
    pub beat: f64,
    /// The MIDI key ([`PLAN_MARK`] for a plan mark).
    pub pitch: u8,
    /// 0..=1; unused for note-offs.
    pub velocity: f32,
    /// A note-on (else a note-off).
    pub on: bool,
}

impl Generated {
    /// "Plan `plan` starts at `beat`": the audio side drops the older plans' pending notes and plays
    /// nothing for it ([`PLAN_MARK`] pitch).
    pub fn plan_mark(epoch: u32, plan: u32, beat: f64) -> Self {
        Self {
            epoch,
            plan,
            beat,
            pitch: PLAN_MARK,
            velocity: 0.0,
            on: false,
        }
    }

    /// Whether this is a plan mark, not a note.
    pub fn is_plan_mark(&self) -> bool {
        self.pitch == PLAN_MARK
    }
}

/// The audio side's clock as of its last block: written once a block (audio thread), read by the
/// engine and by the editor (through the monitor, which holds the same `Arc`). Atomics only; the
/// playhead is stored last (release) and loaded first (acquire).
#[derive(Debug)]
pub struct Clock {
    playhead: AtomicF64,
    open_from: AtomicF64,
    tempo: AtomicF64,
    bar_origin: AtomicF64,
    beats_per_bar: AtomicF64,
    playing: AtomicBool,
    bar_number: AtomicF64,
    loop_start: AtomicF64,
    loop_end: AtomicF64,
}

impl Default for Clock {
    /// Beat 0 of 4/4 at 120 BPM, stopped.
    fn default() -> Self {
        Self {
            playhead: AtomicF64::new(0.0),
            open_from: AtomicF64::new(0.0),
            tempo: AtomicF64::new(120.0),
            bar_origin: AtomicF64::new(0.0),
            beats_per_bar: AtomicF64::new(4.0),
            playing: AtomicBool::new(false),
            bar_number: AtomicF64::new(f64::NEG_INFINITY),
            loop_start: AtomicF64::new(f64::NEG_INFINITY),
            loop_end: AtomicF64::new(f64::NEG_INFINITY),
        }
    }
}

impl Clock {
    fn store(&self, clock: &PlayClock) {
        let r = Ordering::Relaxed;
        self.tempo.store(clock.tempo, r);
        self.bar_origin.store(clock.bar_origin, r);
        self.beats_per_bar.store(clock.beats_per_bar, r);
        self.open_from.store(clock.open_from, r);
        self.playing.store(clock.playing, r);
        self.bar_number.store(clock.bar_number, r);
        self.loop_start.store(clock.loop_start, r);
        self.loop_end.store(clock.loop_end, r);
        self.playhead.store(clock.playhead, Ordering::Release);
    }

    /// The clock as of the audio side's last block.
    pub fn load(&self) -> PlayClock {
        let r = Ordering::Relaxed;
        let playhead = self.playhead.load(Ordering::Acquire);
        PlayClock {
            playhead,
            open_from: self.open_from.load(r).max(playhead),
            tempo: self.tempo.load(r),
            bar_origin: self.bar_origin.load(r),
            beats_per_bar: self.beats_per_bar.load(r),
            playing: self.playing.load(r),
            bar_number: self.bar_number.load(r),
            loop_start: self.loop_start.load(r),
            loop_end: self.loop_end.load(r),
        }
    }
}

/// State both sides can see. Atomics only.
#[derive(Debug, Default)]
struct Shared {
    /// The audio side's clock (its own `Arc`: the editor reads it too, across activations).
    clock: Arc<Clock>,
    /// Messages the audio side could not queue to the engine.
    dropped_to_engine: AtomicU64,
    /// Notes the engine could not queue to the audio side.
    dropped_to_audio: AtomicU64,
    /// The offline-rendering handshake (idle in real time).
    lockstep: Lockstep,
}

/// The offline-rendering handshake. In a bounce the host calls `process` as fast as it can, far faster
/// than the engine plans in real time; so each block the audio side asks the engine to catch up and
/// waits until it has: it has taken every message sent before the block, and planned from the
/// block's playhead to the lookahead (which the audio side stretches over the whole block). What the
/// engine sees then depends on the host's blocks only, never on thread timing: the same seed and the
/// same input render the same notes.
///
/// The engine, in lockstep, takes messages and plans only when asked, so it never acts on half a
/// block's messages.
#[derive(Debug, Default)]
pub struct Lockstep {
    /// The host renders offline (main thread writes at activation, before the engine starts).
    pub on: AtomicBool,
    /// Blocks the audio side has asked the engine to answer (audio thread writes).
    pub asked: AtomicU64,
    /// The last block the engine answered (engine writes).
    pub answered: AtomicU64,
    /// [`Phase`] as a `u8` (engine writes): the audio side waits only for a live or loading engine.
    pub phase: AtomicU8,
    /// Blocks the audio side stopped waiting for: the engine took longer than the timeout.
    pub timeouts: AtomicU64,
}

/// What the engine thread is doing, for the audio side's wait in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Loading ONNX Runtime and the model: a bounce's first block waits for it.
    Loading = 0,
    /// Answering blocks.
    Live = 1,
    /// Failed or stopped: nobody waits for it.
    Down = 2,
}

/// How long a bounce's block waits for a live engine (one step is milliseconds; a prompt's prefill
/// tens of milliseconds).
pub const LOCKSTEP_STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a bounce's block waits for the engine to load (ONNX Runtime and the model).
pub const LOCKSTEP_LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How a block's wait in lockstep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The engine answered this block.
    Answered,
    /// The engine is down (failed, or stopped): the block goes on without it.
    Down,
    /// The engine took longer than the timeout (counted in [`Lockstep::timeouts`]).
    TimedOut,
}

impl Lockstep {
    /// What the engine is doing (see [`Phase`]).
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Loading,
            1 => Phase::Live,
            _ => Phase::Down,
        }
    }

    /// The engine says what it is doing now.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }
}

/// Wait, cheaply and without allocating, until `done` says so: spin a little, then yield, then
/// sleep in short naps. Returns false if `limit` passed first.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut round = 0u32;
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        match round {
            0..=63 => std::hint::spin_loop(),
            64..=127 => std::thread::yield_now(),
            _ => std::thread::sleep(Duration::from_micros(20)),
        }
        round = round.saturating_add(1);
    }
}

/// The audio thread's end.
pub struct AudioSide {
    to_engine: rtrb::Producer<ToEngine>,
    from_engine: rtrb::Consumer<Generated>,
    settings: Publisher<Settings>,
    shared: Arc<Shared>,
    /// Blocks asked in lockstep (mirrors `shared.lockstep.asked`; audio thread only).
    asked: u64,
}

/// The engine thread's end.
pub struct EngineSide {
    from_audio: rtrb::Consumer<ToEngine>,
    to_audio: rtrb::Producer<Generated>,
    settings: Reader<Settings>,
    shared: Arc<Shared>,
}

/// Messages the queues dropped since the pair was made, each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Played notes and resyncs the audio side could not queue to the engine.
    pub to_engine: u64,
    /// Notes the engine could not queue to the audio side.
    pub to_audio: u64,
}

impl Shared {
    fn dropped(&self) -> Dropped {
        Dropped {
            to_engine: self.dropped_to_engine.load(Ordering::Relaxed),
            to_audio: self.dropped_to_audio.load(Ordering::Relaxed),
        }
    }
}

/// Constructor of the pair.
pub struct Bridge;

impl Bridge {
    /// Allocates both queues (call off the audio thread) and returns the two ends, with a clock of
    /// their own.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (AudioSide, EngineSide) {
        Self::with_clock(Arc::default())
    }

    /// The pair, publishing the audio side's clock into `clock` (which the editor reads too).
    pub fn with_clock(clock: Arc<Clock>) -> (AudioSide, EngineSide) {
        let (to_engine, from_audio) = rtrb::RingBuffer::new(TO_ENGINE_CAPACITY);
        let (to_audio, from_engine) = rtrb::RingBuffer::new(TO_AUDIO_CAPACITY);
        let (publisher, reader) = latest(Settings::default());
        let shared = Arc::new(Shared {
            clock,
            ..Default::default()
        });
        (
            AudioSide {
                to_engine,
                from_engine,
                settings: publisher,
                shared: shared.clone(),
                asked: 0,
            },
            EngineSide {
                from_audio,
                to_audio,
                settings: reader,
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
    /// Render offline: each block waits for the engine in [`Lockstep`] (set at activation, before
    /// the engine starts).
    pub fn set_offline(&self, offline: bool) {
        self.shared.lockstep.on.store(offline, Ordering::Relaxed);
    }

    /// Messages the queues dropped, each way.
    pub fn dropped(&self) -> Dropped {
        self.shared.dropped()
    }

    /// Blocks this side stopped waiting for in lockstep (the engine took too long).
    pub fn lockstep_timeouts(&self) -> u64 {
        self.shared.lockstep.timeouts.load(Ordering::Relaxed)
    }

    /// Queue a message for the engine; on a full queue drop it, count it and return false.
    pub fn send(&mut self, msg: ToEngine) -> bool {
        push_or_count(&mut self.to_engine, msg, &self.shared.dropped_to_engine)
    }

    /// The next generated note, if any.
    pub fn receive(&mut self) -> Option<Generated> {
        self.from_engine.pop().ok()
    }

    /// Publish this block's clock and settings, before this block's messages: the engine reads
    /// both after it takes a message, so they are never older than the message.
    pub fn publish(&mut self, clock: PlayClock, settings: &Settings) {
        self.settings.publish(*settings);
        self.shared.clock.store(&clock);
    }

    /// Offline rendering only (see [`Lockstep`]): after [`Self::publish`] and this block's resync,
    /// ask the engine to answer the block and wait until it has, it is down, or the timeout passed.
    /// The only call on the audio side that waits; the plugin makes it only when the host renders
    /// offline.
    pub fn lockstep(&mut self) -> Answer {
        let ls = &self.shared.lockstep;
        self.asked += 1;
        let block = self.asked;
        ls.asked.store(block, Ordering::Release);
        // A live engine gets the step timeout from when it is seen live; a loading one the load's.
        let mut live_since: Option<Instant> = None;
        let settled = wait_until(LOCKSTEP_LOAD_TIMEOUT, || {
            if ls.answered.load(Ordering::Acquire) >= block {
                return true;
            }
            match ls.phase() {
                Phase::Down => true,
                Phase::Loading => false,
                Phase::Live => {
                    let since = *live_since.get_or_insert_with(Instant::now);
                    since.elapsed() > LOCKSTEP_STEP_TIMEOUT
                }
            }
        });
        if ls.answered.load(Ordering::Acquire) >= block {
            Answer::Answered
        } else if settled && ls.phase() == Phase::Down {
            Answer::Down
        } else {
            ls.timeouts.fetch_add(1, Ordering::Relaxed);
            Answer::TimedOut
        }
    }
}

impl EngineSide {
    /// Queue a generated note; on a full queue drop it, count it and return false.
    pub fn send(&mut self, note: Generated) -> bool {
        push_or_count(&mut self.to_audio, note, &self.shared.dropped_to_audio)
    }

    /// The audio side's next message, if any (never waits).
    pub fn receive(&mut self) -> Option<ToEngine> {
        self.from_audio.pop().ok()
    }

    /// Messages the queues dropped, each way.
    pub fn dropped(&self) -> Dropped {
        self.shared.dropped()
    }

    /// Blocks the audio side stopped waiting for in lockstep (the engine took too long).
    pub fn lockstep_timeouts(&self) -> u64 {
        self.shared.lockstep.timeouts.load(Ordering::Relaxed)
    }

    /// The host renders offline: answer blocks in [`Lockstep`].
    pub fn in_lockstep(&self) -> bool {
        self.shared.lockstep.on.load(Ordering::Relaxed)
    }

    /// The last block the audio side asked for in lockstep.
    pub fn asked(&self) -> u64 {
        self.shared.lockstep.asked.load(Ordering::Acquire)
    }

    /// Tell the audio side blocks up to `block` are answered.
    pub fn answer(&self, block: u64) {
        self.shared
            .lockstep
            .answered
            .store(block, Ordering::Release);
    }

    /// Tell the audio side what the engine is doing (whether a bounce should wait for it).
    pub fn set_phase(&self, phase: Phase) {
        self.shared.lockstep.set_phase(phase);
    }

    /// The audio side's clock as of its last block.
    pub fn clock(&self) -> PlayClock {
        self.shared.clock.load()
    }

    /// The settings as of the audio side's last block (the defaults before its first).
    pub fn settings(&mut self) -> Settings {
        self.settings.read()
    }
}

#[cfg(test)]
mod tests;
