//! A value one thread publishes and another reads whole: a triple buffer.
//!
//! Contract:
//! - One writer ([`Publisher`]) and one reader ([`Reader`]), each on its own thread; [`latest`] hands
//!   out the pair. The value is `Copy` and holds no heap data.
//! - [`Publisher::publish`] and [`Reader::read`] never allocate, lock or wait: each is a copy and one
//!   atomic swap. The reader always gets a whole value that was published (never a mix of two), the
//!   newest one as of its read.
//! - Three slots: the writer owns one, the reader owns one, and the third ("back") is passed between
//!   them by swapping its index with an atomic. A flag beside that index says whether the back slot
//!   holds a value the reader has not taken.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The bits of the back slot's index; [`FRESH`] is set beside them.
const INDEX: u8 = 0b011;
/// The back slot holds a value the reader has not taken.
const FRESH: u8 = 0b100;

struct Slots<T> {
    slots: [UnsafeCell<T>; 3],
    /// The back slot's index, with [`FRESH`].
    back: AtomicU8,
}

// SAFETY: a slot is only touched by the side that owns it (its index is held by the writer or the
// reader, and the back slot by neither), and ownership moves only through `back`'s atomic swap, whose
// acquire/release orders each side's accesses of a slot before the other side's.
unsafe impl<T: Copy + Send> Sync for Slots<T> {}

/// The writer's end.
pub struct Publisher<T> {
    shared: Arc<Slots<T>>,
    /// The slot this end owns.
    own: u8,
}

/// The reader's end.
pub struct Reader<T> {
    shared: Arc<Slots<T>>,
    /// The slot this end owns.
    own: u8,
}

/// A publisher and its reader, both starting at `initial`. Allocates: call off the audio thread.
pub fn latest<T: Copy + Send>(initial: T) -> (Publisher<T>, Reader<T>) {
    let shared = Arc::new(Slots {
        slots: [
            UnsafeCell::new(initial),
            UnsafeCell::new(initial),
            UnsafeCell::new(initial),
        ],
        back: AtomicU8::new(1),
    });
    (
        Publisher {
            shared: shared.clone(),
            own: 0,
        },
        Reader { shared, own: 2 },
    )
}

impl<T: Copy + Send> Publisher<T> {
    /// Make `value` the newest: the reader's next read returns it (or a newer one).
    pub fn publish(&mut self, value: T) {
        // SAFETY: `own` is this end's slot: the reader holds another, and the back index names the
        // third (see `Slots`' Sync).
        unsafe { *self.shared.slots[usize::from(self.own)].get() = value };
        // Release: the write above is seen by whoever takes this slot; acquire: the reader's last
        // read of the slot we get back happened before we write it.
        let back = self.shared.back.swap(self.own | FRESH, Ordering::AcqRel);
        self.own = back & INDEX;
    }
}

impl<T: Copy + Send> Reader<T> {
    /// The newest value published (the initial one before any).
    pub fn read(&mut self) -> T {
        if self.shared.back.load(Ordering::Relaxed) & FRESH != 0 {
            // Take the fresh slot, hand ours back as not fresh. Acquire: the writer's write of the
            // slot we take happened before we read it.
            let back = self.shared.back.swap(self.own, Ordering::AcqRel);
            self.own = back & INDEX;
        }
        // SAFETY: `own` is this end's slot (see `Slots`' Sync).
        unsafe { *self.shared.slots[usize::from(self.own)].get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_gets_the_newest_value_and_keeps_it() {
        let (mut w, mut r) = latest(0u64);
        assert_eq!(r.read(), 0);
        w.publish(1);
        w.publish(2);
        assert_eq!(r.read(), 2);
        assert_eq!(r.read(), 2);
        for v in 3..10 {
            w.publish(v);
            assert_eq!(r.read(), v);
        }
    }

    /// Two threads hammer it: every value read is whole (its halves agree) and never older than the
    /// last one read.
    #[test]
    fn a_read_is_never_torn_nor_older_than_the_last() {
        let (mut w, mut r) = latest([0u64; 8]);
        let writer = std::thread::spawn(move || {
            for v in 1..=200_000u64 {
                w.publish([v; 8]);
            }
        });
        let mut last = 0;
        loop {
            let v = r.read();
            assert!(v.iter().all(|&x| x == v[0]), "torn: {v:?}");
            assert!(v[0] >= last, "{} after {last}", v[0]);
            last = v[0];
            if last == 200_000 {
                break;
            }
        }
        writer.join().unwrap();
    }
}
