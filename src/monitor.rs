//! What the editor shows, handed over without locks: the notes heard (the player's and Cadenza's),
//! the notes the engine has planned but not yet played, and where the playhead is.
//!
//! Contract:
//! - Each [`MarkRing`] has one writer thread at a time: [`Monitor::heard`] the audio thread,
//!   `EngineStatus::planned` the engine thread. A write never allocates, locks or waits: it overwrites the oldest slot.
//! - Readers (the editor, exports, tests) copy the slots out; a slot being written while read is
//!   skipped (a per-slot sequence number, as in a seqlock), so a reader never blocks a writer and never
//!   sees a torn mark. Nobody reading costs the writers nothing but the stores.
//! - Times are beats on the audio side's timeline.
//!
//! No plugin-framework types.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

use crate::bridge::Clock;

/// Marks each ring keeps: at a few notes per beat, the last several minutes.
pub const RING_CAPACITY: usize = 4096;

/// Whose note a mark is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Who {
    /// The player's note, as Cadenza heard it.
    Player = 0,
    /// A note Cadenza played (sent to the host).
    Cadenza = 1,
    /// A note the engine planned (it sounds later, if no newer plan replaces it).
    Planned = 2,
}

/// One note-on or note-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub beat: f64,
    pub pitch: u8,
    /// 1..=127 for a note-on, 0 for a note-off.
    pub velocity: u8,
    pub on: bool,
    pub who: Who,
    /// For planned notes: the plan it belongs to (`epoch << 16 | plan`, low bits of each).
    pub tag: u32,
}

impl Mark {
    fn pack(&self) -> u64 {
        u64::from(self.pitch & 0x7f)
            | u64::from(self.velocity & 0x7f) << 7
            | u64::from(self.on) << 14
            | (self.who as u64) << 15
            | u64::from(self.tag) << 32
    }

    fn unpack(beat: f64, bits: u64) -> Self {
        Self {
            beat,
            pitch: (bits & 0x7f) as u8,
            velocity: (bits >> 7 & 0x7f) as u8,
            on: bits >> 14 & 1 == 1,
            who: match bits >> 15 & 3 {
                0 => Who::Player,
                1 => Who::Cadenza,
                _ => Who::Planned,
            },
            tag: (bits >> 32) as u32,
        }
    }
}

#[cfg(test)]
impl Mark {
    /// A mark for tests: velocity 100 for a note-on, tag 0.
    pub(crate) fn note(beat: f64, pitch: u8, on: bool, who: Who) -> Self {
        Self {
            beat,
            pitch,
            velocity: if on { 100 } else { 0 },
            on,
            who,
            tag: 0,
        }
    }
}

struct Slot {
    /// Even: stable; odd: being written. Counts writes.
    seq: AtomicU64,
    beat: AtomicU64,
    bits: AtomicU64,
}

/// A fixed ring of marks: one writer, any readers. See the module documentation.
pub struct MarkRing {
    slots: Box<[Slot]>,
    /// Marks written so far (the next slot is `head % capacity`).
    head: AtomicU64,
}

impl MarkRing {
    /// Allocates (call off the audio thread).
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.max(1))
                .map(|_| Slot {
                    seq: AtomicU64::new(0),
                    beat: AtomicU64::new(0),
                    bits: AtomicU64::new(0),
                })
                .collect(),
            head: AtomicU64::new(0),
        }
    }

    /// Append a mark, overwriting the oldest. The writer thread only.
    pub fn push(&self, m: Mark) {
        let head = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[(head % self.slots.len() as u64) as usize];
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.beat.store(m.beat.to_bits(), Ordering::Relaxed);
        slot.bits.store(m.pack(), Ordering::Relaxed);
        slot.seq.store(seq + 2, Ordering::Release);
        self.head.store(head + 1, Ordering::Release);
    }

    /// Marks written so far.
    pub fn written(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Copy out the marks still in the ring, oldest first, into `out` (cleared first). Slots being
    /// overwritten during the copy are left out; a slot the writer refilled meanwhile is placed by
    /// its own write number, so the copy stays in write order.
    pub fn read(&self, out: &mut Vec<Mark>) {
        out.clear();
        let head = self.head.load(Ordering::Acquire);
        let cap = self.slots.len() as u64;
        let first = head.saturating_sub(cap);
        let mut found: Vec<(u64, Mark)> = Vec::with_capacity((head - first) as usize);
        for i in first..head {
            let pos = i % cap;
            let slot = &self.slots[pos as usize];
            let s1 = slot.seq.load(Ordering::Acquire);
            if s1 % 2 == 1 || s1 == 0 {
                continue;
            }
            let beat = f64::from_bits(slot.beat.load(Ordering::Relaxed));
            let bits = slot.bits.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != s1 {
                continue;
            }
            // The slot's (s1 / 2)-th write was mark number (s1 / 2 - 1) * cap + pos.
            found.push(((s1 / 2 - 1) * cap + pos, Mark::unpack(beat, bits)));
        }
        found.sort_by_key(|f| f.0);
        out.extend(found.into_iter().map(|f| f.1));
    }
}

impl std::fmt::Debug for MarkRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarkRing")
            .field("capacity", &self.slots.len())
            .field("written", &self.written())
            .finish()
    }
}

impl Default for MarkRing {
    fn default() -> Self {
        Self::new(RING_CAPACITY)
    }
}

/// What the audio thread shows the editor. Shared by `Arc`; lives as long as the plugin instance.
/// (The engine's planned notes are in `EngineStatus::planned`.)
#[derive(Default)]
pub struct Monitor {
    /// Notes heard and played (the audio thread writes).
    pub heard: MarkRing,
    /// The audio side's clock as of its last block: the playhead, tempo, bar, whether it rolls (the
    /// audio thread publishes it through the bridge, once a block; the engine reads the same).
    pub clock: Arc<Clock>,
}

/// A note with a start and (unless still sounding) an end, for drawing and export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: f64,
    /// `None`: still sounding (or, for a planned note, its end not planned yet).
    pub end: Option<f64>,
    pub pitch: u8,
    pub velocity: u8,
    pub who: Who,
}

/// Pair note-ons with note-offs, per player/Cadenza and key, in the order the marks were written.
///
/// Only the current stretch of timeline is kept: reading newest to oldest, a mark more than a beat
/// later than a newer one means the transport jumped back (a loop, a seek, a restart) in between,
/// and everything before the jump is left out. Planned marks keep only the newest plan's notes.
pub fn spans(marks: &[Mark]) -> Vec<Span> {
    // The current timeline: from the newest backwards while beats do not jump forward going back.
    let mut from = 0;
    let mut earliest = f64::INFINITY;
    for (i, m) in marks.iter().enumerate().rev() {
        if m.beat > earliest + 1.0 {
            from = i + 1;
            break;
        }
        earliest = earliest.min(m.beat);
    }
    let marks = &marks[from..];
    let newest_plan = marks
        .iter()
        .rev()
        .find(|m| m.who == Who::Planned)
        .map(|m| m.tag);
    let mut open: Vec<(Who, u8, usize)> = Vec::new();
    let mut out: Vec<Span> = Vec::new();
    for m in marks {
        if m.who == Who::Planned && Some(m.tag) != newest_plan {
            continue;
        }
        if let Some(pos) = open
            .iter()
            .position(|&(w, p, _)| w == m.who && p == m.pitch)
        {
            // A note-off, or the same key struck again: the open note ends here.
            let (_, _, idx) = open.swap_remove(pos);
            out[idx].end = Some(m.beat.max(out[idx].start));
        }
        if m.on {
            open.push((m.who, m.pitch, out.len()));
            out.push(Span {
                start: m.beat,
                end: None,
                pitch: m.pitch,
                velocity: m.velocity,
                who: m.who,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn mark(beat: f64, pitch: u8, on: bool, who: Who) -> Mark {
        Mark::note(beat, pitch, on, who)
    }

    #[test]
    fn marks_round_trip_and_the_ring_keeps_the_newest() {
        let ring = MarkRing::new(8);
        let m = Mark {
            beat: 3.25,
            pitch: 127,
            velocity: 99,
            on: true,
            who: Who::Planned,
            tag: 0xdead_beef,
        };
        ring.push(m);
        let mut out = Vec::new();
        ring.read(&mut out);
        assert_eq!(out, vec![m]);
        for i in 0..20 {
            ring.push(mark(f64::from(i), 60, true, Who::Player));
        }
        ring.read(&mut out);
        assert_eq!(out.len(), 8);
        assert_eq!(out[0].beat, 12.0);
        assert_eq!(out[7].beat, 19.0);
    }

    #[test]
    fn a_reader_racing_the_writer_sees_only_whole_marks_in_order() {
        // The writer stores beat = n and pitch = n % 128: a torn mark would break the relation.
        let ring = Arc::new(MarkRing::new(64));
        let w = ring.clone();
        let writer = std::thread::spawn(move || {
            for n in 0..200_000u32 {
                w.push(Mark {
                    beat: f64::from(n),
                    pitch: (n % 128) as u8,
                    velocity: (n % 127) as u8,
                    on: n % 2 == 0,
                    who: Who::Cadenza,
                    tag: n,
                });
            }
        });
        let mut out = Vec::new();
        let mut reads = 0;
        while !writer.is_finished() || reads == 0 {
            ring.read(&mut out);
            reads += 1;
            for m in &out {
                let n = m.beat as u32;
                assert_eq!(m.tag, n);
                assert_eq!(u32::from(m.pitch), n % 128);
                assert_eq!(u32::from(m.velocity), n % 127);
            }
            assert!(out.windows(2).all(|w| w[0].beat < w[1].beat), "in order");
        }
        writer.join().unwrap();
        ring.read(&mut out);
        assert_eq!(out.len(), 64);
        assert_eq!(out.last().unwrap().beat, 199_999.0);
    }

    #[test]
    fn spans_pair_notes_per_source_and_start_after_a_jump_back() {
        let marks = [
            mark(100.0, 60, true, Who::Player), // before the loop: left out
            mark(101.0, 60, false, Who::Player),
            mark(0.0, 60, true, Who::Player),
            mark(0.5, 60, true, Who::Cadenza),
            mark(1.0, 60, false, Who::Player),
            mark(2.0, 64, true, Who::Cadenza),
            mark(2.5, 64, true, Who::Cadenza), // struck again: the first ends
            mark(3.0, 64, false, Who::Cadenza),
        ];
        let s = spans(&marks);
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!(
            (s[0].who, s[0].start, s[0].end),
            (Who::Player, 0.0, Some(1.0))
        );
        assert_eq!((s[1].who, s[1].start, s[1].end), (Who::Cadenza, 0.5, None));
        assert_eq!((s[2].start, s[2].end), (2.0, Some(2.5)));
        assert_eq!((s[3].start, s[3].end), (2.5, Some(3.0)));
    }

    #[test]
    fn only_the_newest_plan_is_shown() {
        let plan = |beat, on, tag| Mark {
            tag,
            ..mark(beat, 70, on, Who::Planned)
        };
        let s = spans(&[plan(4.0, true, 1), plan(5.0, false, 1), plan(4.5, true, 2)]);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].start, s[0].end), (4.5, None));
    }
}
