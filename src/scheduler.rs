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
    pub playing: bool,
    /// Position of the block's first sample in beats, when the host reports one.
    pub pos_beats: Option<f64>,
    /// BPM, when the host reports one.
    pub tempo: Option<f64>,
    pub sample_rate: f64,
    pub frames: u32,
}

/// The beat grid of one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockClock {
    pub start_beat: f64,
    pub beats_per_sample: f64,
    pub frames: u32,
    pub tempo: f64,
    /// The host's transport is rolling (else the scheduler's own clock drives the block).
    pub playing: bool,
}

impl BlockClock {
    pub fn new(start_beat: f64, tempo: f64, sample_rate: f64, frames: u32, playing: bool) -> Self {
        Self {
            start_beat,
            beats_per_sample: tempo / 60.0 / sample_rate,
            frames,
            tempo,
            playing,
        }
    }

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
        timing: u32,
        pitch: u8,
        velocity: f32,
        channel: u8,
    },
    /// A generated note-off, on the channel its note-on went out on.
    Off { timing: u32, pitch: u8, channel: u8 },
    /// Anything else to forward as it is (the player's own events).
    Pass(T),
}

/// Output events of one block, sorted by time before they go to the host. Fixed capacity: when it is
/// full an event is dropped and counted (a note-off is never dropped for a note-on: see [`Self::push`]).
pub struct EventSink<T: Copy> {
    events: [(u32, OutEvent<T>); SINK_CAPACITY],
    len: usize,
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

    pub fn as_slice(&self) -> &[(u32, OutEvent<T>)] {
        &self.events[..self.len]
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

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
    TransportStarted,
    TransportStopped,
    Jump,
    /// The plugin asked (style change, bypass, panic).
    Requested,
}

/// What [`Scheduler::begin_block`] decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockStart {
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
    pub notes_on: u64,
    pub notes_off: u64,
    /// Generated notes that arrived after their beat had passed (played at the block's first sample).
    pub late: u64,
    /// Notes ended by the maximum note length.
    pub forced_off: u64,
    /// Generated notes dropped: pending list full, or stale (old epoch or withdrawn plan).
    pub dropped_pending: u64,
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

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Generated notes sounding now.
    pub fn sounding_count(&self) -> usize {
        self.sounding.iter().filter(|s| s.is_some()).count()
    }

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
mod tests {
    use super::*;

    type Sink = EventSink<()>;

    fn sink() -> Box<Sink> {
        EventSink::new(OutEvent::Pass(()))
    }

    fn playing(beat: f64, tempo: f64, sr: f64, frames: u32) -> TransportIn {
        TransportIn {
            playing: true,
            pos_beats: Some(beat),
            tempo: Some(tempo),
            sample_rate: sr,
            frames,
        }
    }

    fn gen(epoch: u32, plan: u32, beat: f64, pitch: u8, on: bool) -> Generated {
        Generated {
            epoch,
            plan,
            beat,
            pitch,
            velocity: 0.7,
            on,
        }
    }

    /// The exact beat→sample map from the start of a constant-tempo timeline.
    fn exact_sample(beat: f64, tempo: f64, sr: f64) -> u64 {
        let x = beat * 60.0 * sr / tempo;
        (x - SAMPLE_EPSILON).ceil().max(0.0) as u64
    }

    /// Run a constant-tempo timeline in blocks and return (absolute sample, on, pitch) per event.
    fn run(
        tempo: f64,
        sr: f64,
        block: u32,
        notes: &[Generated],
        blocks: usize,
    ) -> Vec<(u64, bool, u8)> {
        let mut s = Scheduler::new();
        s.max_note_beats = 1e9;
        let mut out = Vec::new();
        let mut snk = sink();
        let mut queue: Vec<Generated> = Vec::new();
        for b in 0..blocks {
            let pos = (b as u64 * u64::from(block)) as f64 * tempo / 60.0 / sr;
            snk.clear();
            let start = s.begin_block(playing(pos, tempo, sr, block), &mut snk);
            if let Some((_, epoch)) = start.cut {
                queue = notes.iter().map(|g| Generated { epoch, ..*g }).collect();
                queue.reverse();
            }
            s.render(&start.clock, || queue.pop(), &mut snk);
            for (t, e) in snk.as_slice() {
                assert!(*t < block, "event time {t} outside the block of {block}");
                let abs = b as u64 * u64::from(block) + u64::from(*t);
                match e {
                    OutEvent::On { pitch, .. } => out.push((abs, true, *pitch)),
                    OutEvent::Off { pitch, .. } => out.push((abs, false, *pitch)),
                    OutEvent::Pass(_) => {}
                }
            }
        }
        out
    }

    #[test]
    fn beats_land_on_exact_samples_at_several_tempos_and_block_sizes() {
        for &(tempo, sr) in &[
            (120.0, 48_000.0),
            (97.0, 44_100.0),
            (173.5, 96_000.0),
            (60.0, 22_050.0),
        ] {
            for &block in &[1u32, 64, 512, 4096] {
                let notes: Vec<Generated> = (0..24)
                    .map(|i| gen(0, 0, f64::from(i) * 0.37 + 0.01, 40 + i as u8, true))
                    .collect();
                let blocks = ((10.0 * 60.0 * sr / tempo) as usize) / block as usize + 2;
                let got = run(tempo, sr, block, &notes, blocks);
                assert_eq!(got.len(), notes.len(), "tempo {tempo} block {block}");
                for (g, (abs, on, pitch)) in notes.iter().zip(&got) {
                    assert!(on);
                    assert_eq!(*pitch, g.pitch);
                    assert_eq!(
                        *abs,
                        exact_sample(g.beat, tempo, sr),
                        "tempo {tempo} sr {sr} block {block} beat {}",
                        g.beat
                    );
                }
            }
        }
    }

    #[test]
    fn a_note_ended_by_its_maximum_length_goes_off_before_the_same_key_starts_again() {
        // 120 BPM, 48 kHz: 24000 samples a beat. Key 60 starts at beat 0 with a maximum length of
        // 0.01 beat (240 samples); the engine strikes 60 again at beat 0.015 (360 samples).
        let mut s = Scheduler::new();
        s.max_note_beats = 0.01;
        let mut snk = sink();
        let start = s.begin_block(playing(0.0, 120.0, 48_000.0, 512), &mut snk);
        let e = start.cut.unwrap().1;
        let mut q = vec![gen(e, 0, 0.015, 60, true), gen(e, 0, 0.0, 60, true)];
        snk.clear();
        s.render(&start.clock, || q.pop(), &mut snk);
        snk.sort();
        let got: Vec<(u32, bool)> = snk
            .as_slice()
            .iter()
            .filter_map(|(t, e)| match e {
                OutEvent::On { .. } => Some((*t, true)),
                OutEvent::Off { .. } => Some((*t, false)),
                OutEvent::Pass(_) => None,
            })
            .collect();
        assert_eq!(got, [(0, true), (240, false), (360, true)]);
    }

    #[test]
    fn silence_from_ends_what_sounds_and_drops_what_was_to_come() {
        let mut s = Scheduler::new();
        let mut snk = sink();
        let start = s.begin_block(playing(0.0, 120.0, 48_000.0, 512), &mut snk);
        let e = start.cut.unwrap().1;
        let mut q = vec![
            gen(e, 0, 0.001, 60, true),
            gen(e, 0, 0.5, 62, true),
            gen(e, 0, 0.004, 64, true),
        ];
        q.reverse();
        snk.clear();
        s.render(&start.clock, || q.pop(), &mut snk);
        assert_eq!(s.sounding_count(), 2);
        snk.clear();
        s.silence_from(0.005, 300, &mut snk);
        assert_eq!(s.sounding_count(), 0);
        assert_eq!(s.pending_count(), 0, "the note at beat 0.5 is withdrawn");
        assert_eq!(snk.len(), 2);
        assert!(snk
            .as_slice()
            .iter()
            .all(|(t, e)| *t == 300 && matches!(e, OutEvent::Off { .. })));
    }

    #[test]
    fn note_on_last_sample_of_a_block_and_first_of_the_next() {
        // 120 BPM at 48 kHz: 24000 samples per beat. Block of 512.
        let (tempo, sr, block) = (120.0, 48_000.0, 512u32);
        let spb = 24_000.0;
        let last = 511.0 / spb; // exactly the last sample of block 0
        let first = 512.0 / spb; // exactly the first sample of block 1
        let got = run(
            tempo,
            sr,
            block,
            &[gen(0, 0, last, 60, true), gen(0, 0, first, 62, true)],
            3,
        );
        assert_eq!(got, vec![(511, true, 60), (512, true, 62)]);
    }

    #[test]
    fn transport_stop_ends_every_sounding_note_in_that_block() {
        let mut s = Scheduler::new();
        let mut snk = sink();
        let st = s.begin_block(playing(0.0, 120.0, 48_000.0, 512), &mut snk);
        let epoch = st.cut.unwrap().1;
        let mut q = vec![gen(epoch, 0, 0.0, 60, true), gen(epoch, 0, 0.001, 64, true)];
        s.render(&st.clock, || q.pop(), &mut snk);
        assert_eq!(s.sounding_count(), 2);
        snk.clear();
        let stopped = TransportIn {
            playing: false,
            ..playing(0.5, 120.0, 48_000.0, 512)
        };
        let st = s.begin_block(stopped, &mut snk);
        assert_eq!(st.cut.map(|c| c.0), Some(CutReason::TransportStopped));
        let offs: Vec<_> = snk
            .as_slice()
            .iter()
            .filter(|(t, e)| *t == 0 && matches!(e, OutEvent::Off { .. }))
            .collect();
        assert_eq!(offs.len(), 2);
        assert_eq!(s.sounding_count(), 0);
        // Notes from the old epoch are refused.
        let mut q = vec![gen(epoch, 0, 0.6, 67, true)];
        s.render(&st.clock, || q.pop(), &mut snk);
        assert_eq!(s.stats.stale, 1);
    }

    #[test]
    fn a_host_that_quantizes_its_position_is_no_seek_but_a_real_seek_is() {
        let mut s = Scheduler::new();
        let mut snk = sink();
        // 1024-sample blocks at 120 BPM / 48 kHz, positions rounded to 1/1920 beat as Ardour does.
        let mut cuts = 0;
        for b in 0..200u32 {
            let exact = f64::from(b) * 1024.0 / 24_000.0;
            let reported = (exact * 1920.0).round() / 1920.0;
            if s.begin_block(playing(reported, 120.0, 48_000.0, 1024), &mut snk)
                .cut
                .is_some()
            {
                cuts += 1;
            }
        }
        assert_eq!(cuts, 1, "only the first block opens an epoch");
        let st = s.begin_block(playing(2.0, 120.0, 48_000.0, 1024), &mut snk);
        assert_eq!(st.cut.map(|c| c.0), Some(CutReason::Jump));
    }

    #[test]
    fn own_clock_runs_while_stopped_at_host_tempo() {
        let mut s = Scheduler::new();
        let mut snk = sink();
        let stopped = |f| TransportIn {
            playing: false,
            pos_beats: Some(3.0),
            tempo: Some(90.0),
            sample_rate: 48_000.0,
            frames: f,
        };
        let a = s.begin_block(stopped(480), &mut snk).clock;
        let b = s.begin_block(stopped(480), &mut snk);
        assert!(b.cut.is_none(), "a stopped transport is no jump");
        assert!((b.clock.start_beat - a.end_beat()).abs() < 1e-12);
        assert!((a.end_beat() - a.start_beat - 480.0 * 90.0 / 60.0 / 48_000.0).abs() < 1e-12);
        let none = TransportIn {
            playing: false,
            pos_beats: None,
            tempo: None,
            sample_rate: 48_000.0,
            frames: 480,
        };
        assert_eq!(s.begin_block(none, &mut snk).clock.tempo, DEFAULT_TEMPO);
    }

    #[test]
    fn a_newer_plan_replaces_pending_notes_and_note_offs_follow() {
        let mut s = Scheduler::new();
        let mut snk = sink();
        let st = s.begin_block(playing(0.0, 120.0, 48_000.0, 64), &mut snk);
        let e = st.cut.unwrap().1;
        let mut q = vec![
            gen(e, 1, 5.0, 62, true),
            gen(e, 0, 4.0, 61, true),
            gen(e, 0, 0.0, 60, true),
        ];
        s.render(&st.clock, || q.pop(), &mut snk);
        // All three arrive before anything is placed: plan 1 withdraws both notes of plan 0.
        assert_eq!(
            s.pending_count(),
            1,
            "plan 1 replaced plan 0's pending notes"
        );
        assert_eq!(s.stats.stale, 2);
        assert_eq!(s.stats.notes_on, 0);
        // An old plan's note arriving late is refused too.
        let mut q = vec![gen(e, 0, 6.0, 63, true)];
        s.render(&st.clock, || q.pop(), &mut snk);
        assert_eq!(s.pending_count(), 1);
    }

    #[test]
    fn maximum_note_length_ends_a_note_the_model_never_ended() {
        let mut s = Scheduler::new();
        s.max_note_beats = 1.0;
        let mut snk = sink();
        let (tempo, sr, frames) = (120.0, 48_000.0, 4800u32); // 0.2 beats per block
        let mut q = Vec::new();
        let mut offs = 0;
        for b in 0..10 {
            snk.clear();
            let st = s.begin_block(playing(f64::from(b) * 0.2, tempo, sr, frames), &mut snk);
            if let Some((_, e)) = st.cut {
                q = vec![gen(e, 0, 0.1, 60, true)];
            }
            s.render(&st.clock, || q.pop(), &mut snk);
            for (t, ev) in snk.as_slice() {
                if let OutEvent::Off { pitch: 60, .. } = ev {
                    offs += 1;
                    // 1.1 beats = 26400 samples: block 5 (24000..28800), offset 2400
                    assert_eq!((b, *t), (5, 2400));
                }
            }
        }
        assert_eq!(offs, 1);
        assert_eq!(s.stats.forced_off, 1);
    }

    #[test]
    fn sink_keeps_room_for_note_offs_and_sorts_stably() {
        let mut snk = sink();
        for i in 0..SINK_CAPACITY {
            snk.push(
                5,
                OutEvent::On {
                    timing: 5,
                    pitch: (i % 128) as u8,
                    velocity: 1.0,
                    channel: 0,
                },
            );
        }
        assert_eq!(snk.len(), SINK_CAPACITY - 64);
        assert!(snk.push(
            1,
            OutEvent::Off {
                timing: 1,
                pitch: 3,
                channel: 0
            }
        ));
        snk.sort();
        assert!(matches!(snk.as_slice()[0], (1, OutEvent::Off { .. })));
        assert!(snk.dropped > 0);
    }
}
