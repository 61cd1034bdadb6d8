//! The audio-side scheduler: beat stamps → sample offsets, and the book of sounding notes.
//!
//! Runs on the audio thread: fixed-size arrays only, no allocation, no locks. It knows the bridge's
//! message types and nothing of the plugin framework, so it is tested without a host.
//!
//! Per block the plugin calls [`Scheduler::begin_block`] (which decides the block's beat position from
//! the host transport or, with the transport stopped, from its own clock, and cuts every sounding note
//! when the timeline jumps), then [`Scheduler::render`] (which takes generated notes from the engine and
//! places those that fall inside the block on their exact sample).
//!
//! An event at beat `b` sounds on the first sample `n` of the block whose beat position
//! `start + n * beats_per_sample` is at or after `b` (see [`BlockClock::offset_of`]).

use crate::bridge::Generated;

/// Tempo used when the host gives none, in BPM.
pub const DEFAULT_TEMPO: f64 = 120.0;
/// Generated notes waiting for their block. More than the engine ever plans ahead.
pub const PENDING_CAPACITY: usize = 512;
/// Output events one block can hold (generated and passed-through together).
pub const SINK_CAPACITY: usize = 1024;
/// Tolerance, in samples, when mapping a beat onto a sample: CLAP reports positions in fixed point
/// (2^31 per beat), which alone is off by up to ~1e-5 samples; a thousandth of a sample absorbs that
/// and float noise without ever moving a note that truly belongs to the next sample.
const SAMPLE_EPSILON: f64 = 1e-3;
/// A jump of the host's position larger than this many beats from where the last block ended is a seek.
/// Hosts report positions with limited precision (Ardour's VST3 position is on its 1/1920-beat tick
/// grid, ~12 samples at 120 BPM), so consecutive blocks rarely line up exactly; a real seek or loop is
/// far larger than 1/256 beat (~2 ms at 120 BPM).
pub const JUMP_TOLERANCE_BEATS: f64 = 1.0 / 256.0;

/// What the host says about time for one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransportIn {
    /// The host's transport is rolling.
    pub playing: bool,
    /// Position of the block's first sample in beats, when the host reports one.
    pub pos_beats: Option<f64>,
    /// BPM, when the host reports one.
    pub tempo: Option<f64>,
    /// The host's sample rate, in Hz.
    pub sample_rate: f64,
    /// Samples in the block.
    pub frames: u32,
}

/// The beat grid of one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockClock {
    /// The beat at the block's first sample.
    pub start_beat: f64,
    /// Beats a sample lasts at the block's tempo.
    pub beats_per_sample: f64,
    /// Samples in the block.
    pub frames: u32,
    /// BPM.
    pub tempo: f64,
    /// The host's transport is rolling (else the scheduler's own clock drives the block).
    pub playing: bool,
}

impl BlockClock {
    /// The grid of a block of `frames` samples from `start_beat` at `tempo` BPM.
    pub fn new(start_beat: f64, tempo: f64, sample_rate: f64, frames: u32, playing: bool) -> Self {
        Self {
            start_beat,
            beats_per_sample: tempo / 60.0 / sample_rate,
            frames,
            tempo,
            playing,
        }
    }

    /// The beat just after the block's last sample.
    pub fn end_beat(&self) -> f64 {
        self.start_beat + f64::from(self.frames) * self.beats_per_sample
    }

    /// The beat position of sample `n` of this block.
    pub fn beat_at(&self, n: u32) -> f64 {
        self.start_beat + f64::from(n) * self.beats_per_sample
    }

    /// The sample of this block on which an event at `beat` sounds: `Some(0)` for a late event,
    /// `None` when it belongs to a later block.
    pub fn offset_of(&self, beat: f64) -> Option<u32> {
        let x = (beat - self.start_beat) / self.beats_per_sample;
        if x <= 0.0 {
            return Some(0);
        }
        let n = (x - SAMPLE_EPSILON).ceil();
        if n < f64::from(self.frames) {
            Some(n as u32)
        } else {
            None
        }
    }
}

/// An event for the host, sample-stamped inside the current block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutEvent<T> {
    /// A generated note-on (velocity 0..=1) on MIDI channel `channel` (0-based).
    On {
        /// The sample in the block.
        timing: u32,
        /// The MIDI key.
        pitch: u8,
        /// 0..=1.
        velocity: f32,
        /// The MIDI channel, 0-based.
        channel: u8,
    },
    /// A generated note-off, on the channel its note-on went out on.
    Off {
        /// The sample in the block.
        timing: u32,
        /// The MIDI key.
        pitch: u8,
        /// The MIDI channel, 0-based.
        channel: u8,
    },
    /// Anything else to forward as it is (the player's own events).
    Pass(T),
}

/// Output events of one block, sorted by time before they go to the host. Fixed capacity: when it is
/// full an event is dropped and counted (a note-off is never dropped for a note-on: see [`Self::push`]).
pub struct EventSink<T: Copy> {
    events: [(u32, OutEvent<T>); SINK_CAPACITY],
    len: usize,
    /// Events dropped because the sink was full.
    pub dropped: u64,
}

impl<T: Copy> EventSink<T> {
    /// `filler` is any value of `T`; it only fills unused slots.
    pub fn new(filler: OutEvent<T>) -> Box<Self> {
        Box::new(Self {
            events: [(0, filler); SINK_CAPACITY],
            len: 0,
            dropped: 0,
        })
    }

    /// Add an event at `timing`. Note-offs may use the last 64 slots, kept free for them, so a flood
    /// of note-ons can never cost a note its end.
    pub fn push(&mut self, timing: u32, ev: OutEvent<T>) -> bool {
        let limit = if matches!(ev, OutEvent::Off { .. }) {
            SINK_CAPACITY
        } else {
            SINK_CAPACITY - 64
        };
        if self.len >= limit {
            self.dropped += 1;
            return false;
        }
        self.events[self.len] = (timing, ev);
        self.len += 1;
        true
    }

    /// Stable sort by timing (insertion sort: in place, and blocks hold few events).
    pub fn sort(&mut self) {
        let ev = &mut self.events[..self.len];
        for i in 1..ev.len() {
            let mut j = i;
            while j > 0 && ev[j - 1].0 > ev[j].0 {
                ev.swap(j - 1, j);
                j -= 1;
            }
        }
    }

    /// The events queued, in the order pushed.
    pub fn as_slice(&self) -> &[(u32, OutEvent<T>)] {
        &self.events[..self.len]
    }

    /// Empty it for the next block.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// How many events are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A generated note that is sounding.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sounding {
    /// Beat of its note-on.
    since: f64,
    /// The channel its note-on went out on: the note-off follows it, whatever the setting is now.
    channel: u8,
}

/// Why every sounding note is being ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    /// The host's transport started.
    TransportStarted,
    /// The host's transport stopped.
    TransportStopped,
    /// The playhead moved (a seek or a loop).
    Jump,
    /// The plugin asked (style change, bypass, panic).
    Requested,
}

/// What [`Scheduler::begin_block`] decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockStart {
    /// The block's beat grid.
    pub clock: BlockClock,
    /// Set when the timeline jumped: the plugin must resync the engine with this new epoch.
    pub cut: Option<(CutReason, u32)>,
    /// How far the timeline before this block was played (where it ended; this block's start when
    /// there was none): generated notes after it on the old timeline never sounded.
    pub heard_until: f64,
}

/// Counters for the status display and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Generated note-ons sent.
    pub notes_on: u64,
    /// Generated note-offs sent.
    pub notes_off: u64,
    /// Generated notes that arrived after their beat had passed (played at the block's first sample).
    pub late: u64,
    /// Notes ended by the maximum note length.
    pub forced_off: u64,
    /// Generated notes dropped: pending list full, or stale (old epoch or withdrawn plan).
    pub dropped_pending: u64,
    /// Of those dropped, the stale ones (an old epoch or a withdrawn plan).
    pub stale: u64,
}

/// See the module documentation.
pub struct Scheduler {
    /// Waiting generated notes, sorted by beat. Fixed capacity.
    pending: [Generated; PENDING_CAPACITY],
    pending_len: usize,
    /// Generated notes sounding, by pitch (one channel).
    sounding: [Option<Sounding>; 128],
    epoch: u32,
    plan: u32,
    /// The beat where the last block ended (host or own clock), `None` before the first block.
    expected_beat: Option<f64>,
    was_playing: bool,
    /// Longest a generated note may sound, in beats.
    pub max_note_beats: f64,
    /// MIDI channel (0-based) new generated notes go out on.
    pub channel: u8,
    /// What it did, for the status display and the tests.
    pub stats: SchedulerStats,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

const EMPTY: Generated = Generated {
    epoch: 0,
    plan: 0,
    beat: 0.0,
    pitch: 0,
    velocity: 0.0,
    on: false,
};

impl Scheduler {
    /// An empty scheduler: nothing pending, nothing sounding, epoch 1.
    pub fn new() -> Self {
        Self {
            pending: [EMPTY; PENDING_CAPACITY],
            pending_len: 0,
            sounding: [None; 128],
            epoch: 0,
            plan: 0,
            expected_beat: None,
            was_playing: false,
            max_note_beats: 8.0,
            channel: 0,
            stats: SchedulerStats::default(),
        }
    }

    /// The audio timeline's epoch: bumped by every cut, stamped on the engine's notes.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Generated notes sounding now.
    pub fn sounding_count(&self) -> usize {
        self.sounding.iter().filter(|s| s.is_some()).count()
    }

    /// Generated notes waiting for their sample.
    pub fn pending_count(&self) -> usize {
        self.pending_len
    }

    /// Decide this block's position, and cut all sounding notes (at sample 0) if the timeline jumped.
    pub fn begin_block<T: Copy>(&mut self, t: TransportIn, sink: &mut EventSink<T>) -> BlockStart {
        let tempo = t
            .tempo
            .filter(|x| x.is_finite() && *x > 0.0)
            .unwrap_or(DEFAULT_TEMPO);
        let sample_rate = if t.sample_rate > 0.0 {
            t.sample_rate
        } else {
            48_000.0
        };
        let host_beat = t.pos_beats.filter(|b| b.is_finite());
        let playing = t.playing && host_beat.is_some();
        let start = match (playing, host_beat, self.expected_beat) {
            (true, Some(b), _) => b,
            // Stopped: the own clock goes on from where the last block ended.
            (false, _, Some(e)) => e,
            (false, Some(b), None) => b,
            _ => 0.0,
        };
        let clock = BlockClock::new(start, tempo, sample_rate, t.frames, playing);
        let reason = if self.expected_beat.is_none() {
            None
        } else if playing && !self.was_playing {
            Some(CutReason::TransportStarted)
        } else if !playing && self.was_playing {
            Some(CutReason::TransportStopped)
        } else if self
            .expected_beat
            .is_some_and(|e| (e - start).abs() > JUMP_TOLERANCE_BEATS)
        {
            Some(CutReason::Jump)
        } else {
            None
        };
        let first_block = self.expected_beat.is_none();
        let heard_until = self.expected_beat.unwrap_or(start);
        self.was_playing = playing;
        let cut = match reason {
            Some(r) => Some((r, self.cut(sink))),
            // The first block also opens an epoch, so the engine learns where the timeline starts.
            None if first_block => Some((CutReason::Requested, self.cut(sink))),
            None => None,
        };
        self.expected_beat = Some(clock.end_beat());
        BlockStart {
            clock,
            cut,
            heard_until,
        }
    }

    /// End every sounding generated note at sample 0 of this block, forget everything pending, and
    /// open a new epoch (returned) so notes planned before this moment are refused.
    pub fn cut<T: Copy>(&mut self, sink: &mut EventSink<T>) -> u32 {
        self.all_off(0, sink);
        self.pending_len = 0;
        self.epoch = self.epoch.wrapping_add(1);
        self.plan = 0;
        self.epoch
    }

    /// Make the next block a cut (host reset, deactivation): it ends every sounding note at its first
    /// sample and opens a new epoch. Allocation-free, so callable on the audio thread.
    pub fn request_cut(&mut self) {
        self.expected_beat = None;
    }

    /// The player interrupts (a new call in call and response): end every sounding note at `timing`
    /// and drop the pending notes from `beat` on, at once, without waiting for the engine's new plan.
    pub fn silence_from<T: Copy>(&mut self, beat: f64, timing: u32, sink: &mut EventSink<T>) {
        self.all_off(timing, sink);
        let before = self.pending_len;
        let mut kept = 0;
        for i in 0..self.pending_len {
            if self.pending[i].beat < beat - 1e-9 {
                self.pending[kept] = self.pending[i];
                kept += 1;
            }
        }
        self.pending_len = kept;
        self.stats.stale += (before - kept) as u64;
    }

    /// Note-offs for every sounding generated note at `timing`.
    pub fn all_off<T: Copy>(&mut self, timing: u32, sink: &mut EventSink<T>) {
        for pitch in 0..128u8 {
            if let Some(s) = self.sounding[pitch as usize].take() {
                sink.push(
                    timing,
                    OutEvent::Off {
                        timing,
                        pitch,
                        channel: s.channel,
                    },
                );
                self.stats.notes_off += 1;
            }
        }
    }

    /// Take what the engine sent, and place every note-on/off (and forced note-off) of this block.
    pub fn render<T: Copy>(
        &mut self,
        clock: &BlockClock,
        mut next: impl FnMut() -> Option<Generated>,
        sink: &mut EventSink<T>,
    ) {
        while let Some(g) = next() {
            self.accept(g);
        }
        // Pending notes due in this block, in beat order.
        let mut taken = 0;
        while taken < self.pending_len {
            let g = self.pending[taken];
            let Some(n) = clock.offset_of(g.beat) else {
                break;
            };
            taken += 1;
            if g.beat < clock.start_beat {
                self.stats.late += 1;
            }
            // Notes whose maximum length runs out first end first: events go out in time order.
            self.end_overlong(clock, g.beat, sink);
            let p = g.pitch as usize;
            if g.on {
                if let Some(s) = self.sounding[p].take() {
                    sink.push(
                        n,
                        OutEvent::Off {
                            timing: n,
                            pitch: g.pitch,
                            channel: s.channel,
                        },
                    );
                    self.stats.notes_off += 1;
                }
                let channel = self.channel;
                if sink.push(
                    n,
                    OutEvent::On {
                        timing: n,
                        pitch: g.pitch,
                        velocity: g.velocity,
                        channel,
                    },
                ) {
                    // The maximum length counts from the planned beat, so its note-off is on the grid.
                    self.sounding[p] = Some(Sounding {
                        since: g.beat,
                        channel,
                    });
                    self.stats.notes_on += 1;
                }
            } else if let Some(s) = self.sounding[p].take() {
                sink.push(
                    n,
                    OutEvent::Off {
                        timing: n,
                        pitch: g.pitch,
                        channel: s.channel,
                    },
                );
                self.stats.notes_off += 1;
            }
        }
        self.pending.copy_within(taken..self.pending_len, 0);
        self.pending_len -= taken;
        self.end_overlong(clock, clock.end_beat() - 1e-12, sink);
    }

    /// Maximum note length: end every sounding note whose deadline is at or before `upto` (a beat
    /// inside this block), on the deadline's own sample.
    fn end_overlong<T: Copy>(&mut self, clock: &BlockClock, upto: f64, sink: &mut EventSink<T>) {
        for pitch in 0..128u8 {
            let Some(s) = self.sounding[pitch as usize] else {
                continue;
            };
            let deadline = s.since + self.max_note_beats;
            if deadline > upto + 1e-12 {
                continue;
            }
            if let Some(n) = clock.offset_of(deadline) {
                self.sounding[pitch as usize] = None;
                sink.push(
                    n,
                    OutEvent::Off {
                        timing: n,
                        pitch,
                        channel: s.channel,
                    },
                );
                self.stats.notes_off += 1;
                self.stats.forced_off += 1;
            }
        }
    }

    /// File one generated note: refuse stale ones, let a newer plan replace pending notes.
    fn accept(&mut self, g: Generated) {
        if g.epoch != self.epoch || g.plan < self.plan {
            self.stats.stale += 1;
            return;
        }
        if g.plan > self.plan {
            self.plan = g.plan;
            self.stats.stale += self.pending_len as u64;
            self.pending_len = 0;
        }
        if g.is_plan_mark() {
            return;
        }
        if self.pending_len == PENDING_CAPACITY {
            self.stats.dropped_pending += 1;
            return;
        }
        // Sorted insert, stable for equal beats (the engine's order is the musical order).
        let mut i = self.pending_len;
        while i > 0 && self.pending[i - 1].beat > g.beat {
            self.pending[i] = self.pending[i - 1];
            i -= 1;
        }
        self.pending[i] = g;
        self.pending_len += 1;
    }
}

#[cfg(test)]
mod tests;
