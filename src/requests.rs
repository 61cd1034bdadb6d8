//! Requests that are events, not values: end every note now, capture the player's last bars, load the
//! model again. All in one place, free of any plugin framework.
//!
//! Contract:
//! - Each kind is a counter: whoever asks (the editor's buttons, the audio thread's switches) adds
//!   one; whoever acts (the audio thread, the engine) remembers the count it last acted on
//!   ([`Seen`]) and acts once when it differs. A request is never lost to a missed block and never
//!   taken twice, however many come between two looks.
//! - Asking and looking are single atomic operations: no allocation, no lock, no wait, from any
//!   thread.

use std::sync::atomic::{AtomicU32, Ordering};

/// What can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// End every note on Cadenza's channel (the editor's panic button; taken by the audio thread).
    Panic,
    /// Take the player's last bars as the prompt (the capture switch or button; taken by the engine).
    Capture,
    /// Load the model named in the plugin's model slot (the editor's Load, Built-in, Retry; taken by
    /// the engine, and the audio thread ends the old model's notes).
    Model,
    /// The chord track's text changed (the editor's Chords field; taken by the engine).
    Chords,
    /// Write the progression heard into the chord track (the editor's Learn Chords; taken by the
    /// engine).
    LearnChords,
}

/// The counters, one per kind.
#[derive(Debug, Default)]
pub struct Requests {
    panic: AtomicU32,
    capture: AtomicU32,
    model: AtomicU32,
    chords: AtomicU32,
    learn_chords: AtomicU32,
}

impl Requests {
    fn counter(&self, kind: Request) -> &AtomicU32 {
        match kind {
            Request::Panic => &self.panic,
            Request::Capture => &self.capture,
            Request::Model => &self.model,
            Request::Chords => &self.chords,
            Request::LearnChords => &self.learn_chords,
        }
    }

    /// Ask once more. Release: what the asker wrote before (the model slot's path) is seen by the
    /// taker that sees the new count.
    pub fn ask(&self, kind: Request) {
        self.counter(kind).fetch_add(1, Ordering::Release);
    }

    /// How many times it has been asked (wrapping).
    pub fn count(&self, kind: Request) -> u32 {
        self.counter(kind).load(Ordering::Acquire)
    }
}

/// A taker's memory of one kind: the count it last acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    kind: Request,
    count: u32,
}

impl Seen {
    /// What is asked from now on (earlier requests are not this taker's).
    pub fn from_now(requests: &Requests, kind: Request) -> Self {
        Self {
            kind,
            count: requests.count(kind),
        }
    }

    /// Whether it was asked since the last look (any number of times count as one).
    pub fn take(&mut self, requests: &Requests) -> bool {
        let count = requests.count(self.kind);
        let asked = count != self.count;
        self.count = count;
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_taken_once_however_often_it_was_asked_and_kinds_are_apart() {
        let r = Requests::default();
        r.ask(Request::Panic);
        let mut panic = Seen::from_now(&r, Request::Panic);
        let mut model = Seen::from_now(&r, Request::Model);
        assert!(!panic.take(&r), "asked before the taker looked");
        r.ask(Request::Panic);
        r.ask(Request::Panic);
        assert!(panic.take(&r));
        assert!(!panic.take(&r));
        assert!(!model.take(&r));
        r.ask(Request::Model);
        assert!(model.take(&r) && !panic.take(&r));
        assert_eq!(r.count(Request::Capture), 0);
    }
}
