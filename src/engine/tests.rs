//! The engine thread with a scripted backend: loading, failing, reloading, recovering from inference
//! errors, and the offline lockstep.

use super::*;
use crate::bridge::{Bridge, PlayClock, ToEngine};
use crate::requests::Request;
use crate::tokenizer::Vocab;
use std::time::Duration;

use crate::engine::backend::fake::FakeBackend;

/// A uniform model that fails on the feeds numbered in `fail_on` (1-based), or on every feed.
fn flaky(fail_on: Vec<usize>, always: bool) -> Generator<FakeBackend> {
    let v = Vocab::DEFAULT;
    Generator::new(FakeBackend::new(v, 64).failing(fail_on, always), v, 24, 5)
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn session(make: Generator<FakeBackend>) -> (Engine, crate::bridge::AudioSide, Arc<EngineStatus>) {
    let mut once = Some(make);
    start(move |_: &EngineStatus| once.take().ok_or(LoadError::Scripted("loaded twice")))
}

fn start(
    make: impl FnMut(&EngineStatus) -> Result<Generator<FakeBackend>, LoadError> + Send + 'static,
) -> (Engine, crate::bridge::AudioSide, Arc<EngineStatus>) {
    let (mut audio, side) = Bridge::new();
    let status = Arc::new(EngineStatus::default());
    let engine = Engine::start_with(side, Arc::default(), Slots::default(), status.clone(), make);
    audio.publish(PlayClock::at(0.0, 120.0), &Settings::default());
    (engine, audio, status)
}

#[test]
fn an_inference_error_mid_session_resets_the_cache_and_playing_goes_on() {
    let (engine, mut audio, status) = session(flaky(vec![4], false));
    audio.send(ToEngine::start_at_zero());
    let mut beat = 0.0;
    wait_for("20 tokens", || {
        beat += 0.05; // the transport rolls on
        audio.publish(PlayClock::at(beat, 120.0), &Settings::default());
        status.tokens.load(Ordering::Relaxed) >= 20
    });
    assert_eq!(status.recovered_errors.load(Ordering::Relaxed), 1);
    assert_eq!(status.state(), EngineState::Ready);
    let mut notes = 0;
    while audio.receive().is_some() {
        notes += 1;
    }
    assert!(notes > 0, "no notes after the recovery");
    engine.stop();
}

#[test]
fn errors_that_keep_coming_stop_generation_with_the_reason_and_the_queue_keeps_draining() {
    let (engine, mut audio, status) = session(flaky(vec![], true));
    audio.send(ToEngine::start_at_zero());
    wait_for("the failure", || status.state() == EngineState::Failed);
    assert!(
        status
            .message()
            .contains("inference keeps failing: injected failure"),
        "{}",
        status.message()
    );
    // The audio side keeps talking to a failed engine; its queue never fills.
    for i in 0..(3 * crate::bridge::TO_ENGINE_CAPACITY) {
        audio.send(ToEngine::Played {
            beat: 0.0,
            pitch: 60,
            velocity: 0.5,
            on: i % 2 == 0,
        });
        if i % 256 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(audio.dropped().to_engine, 0);
    engine.stop();
}

#[test]
fn a_failed_load_says_why() {
    let (engine, audio, status) = start(|_: &EngineStatus| {
        Err(LoadError::Scripted(
            "model.onnx could not be loaded (corrupt or not an ONNX model?): test",
        ))
    });
    wait_for("the failure", || status.state() == EngineState::Failed);
    assert!(status.message().contains("corrupt or not an ONNX model"));
    drop(audio);
    engine.stop();
}

#[test]
fn a_model_request_reloads_a_failed_engine_which_plays_on_from_where_the_audio_side_is() {
    let (mut audio, side) = Bridge::new();
    let status = Arc::new(EngineStatus::default());
    let requests = Arc::new(Requests::default());
    let mut loads = 0;
    let engine = Engine::start_with(
        side,
        requests.clone(),
        Slots::default(),
        status.clone(),
        move |_: &EngineStatus| {
            loads += 1;
            if loads == 1 {
                Err(LoadError::Scripted("model.json: missing field `styles`"))
            } else {
                Ok(flaky(vec![], false))
            }
        },
    );
    audio.publish(PlayClock::at(8.0, 120.0), &Settings::default());
    wait_for("the failure", || status.state() == EngineState::Failed);
    // The failed engine still hears the timeline (it drains the queue) ...
    audio.send(ToEngine::Resync {
        beat: 8.0,
        playing: true,
        epoch: 7,
        heard_until: 8.0,
        jumped: false,
    });
    std::thread::sleep(Duration::from_millis(50));
    // ... and after a reload plays in it, without another resync.
    requests.ask(Request::Model);
    let mut beat = 8.0;
    let mut first = None;
    wait_for("a note after the reload", || {
        beat += 0.05;
        audio.publish(PlayClock::at(beat, 120.0), &Settings::default());
        first = audio.receive();
        first.is_some()
    });
    let g = first.unwrap();
    assert_eq!(status.state(), EngineState::Ready);
    assert_eq!(g.epoch, 7, "the note belongs to the audio side's timeline");
    assert!(g.beat >= 8.0);
    // The editor sees what was planned.
    let mut planned = Vec::new();
    status.planned.read(&mut planned);
    assert!(planned
        .iter()
        .any(|m| m.pitch == g.pitch && (m.beat - g.beat).abs() < 1e-9));
    engine.stop();
}

/// A lockstep (offline-render) session: the engine answers each block the audio side asks for.
fn lockstep_session(
    make: impl FnMut(&EngineStatus) -> Result<Generator<FakeBackend>, LoadError> + Send + 'static,
) -> (Engine, crate::bridge::AudioSide, Arc<EngineStatus>) {
    let (audio, side) = Bridge::new();
    audio.set_offline(true);
    let status = Arc::new(EngineStatus::default());
    let engine = Engine::start_with(side, Arc::default(), Slots::default(), status.clone(), make);
    (engine, audio, status)
}

/// Bounce `blocks` blocks of a quarter beat each; the generated notes, in order.
fn bounce(audio: &mut crate::bridge::AudioSide, blocks: u32) -> Vec<(u32, u64, u8, bool)> {
    let mut notes = Vec::new();
    for b in 0..blocks {
        let beat = f64::from(b) * 0.25;
        audio.publish(PlayClock::at(beat, 120.0), &Settings::default());
        if b == 0 {
            audio.send(ToEngine::start_at_zero());
        }
        if b == 8 {
            // The player plays in block 7, as the audio side sends it during the block.
            audio.send(ToEngine::Played {
                beat: 1.9,
                pitch: 64,
                velocity: 0.7,
                on: true,
            });
        }
        assert_eq!(audio.lockstep(), crate::bridge::Answer::Answered);
        while let Some(g) = audio.receive() {
            notes.push((g.plan, g.beat.to_bits(), g.pitch, g.on));
        }
    }
    notes
}

#[test]
fn in_lockstep_the_engine_plans_only_when_asked_and_two_bounces_are_the_same() {
    let (engine, mut audio, status) = lockstep_session(|_: &EngineStatus| Ok(flaky(vec![], false)));
    let first = bounce(&mut audio, 1);
    let tokens = status.tokens.load(Ordering::Relaxed);
    assert!(
        tokens > 0,
        "the first block was planned before it was answered"
    );
    // Nobody asks: the engine waits, however long the host takes.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(status.tokens.load(Ordering::Relaxed), tokens);
    let rest = bounce(&mut audio, 40);
    assert!(status.tokens.load(Ordering::Relaxed) > tokens);
    engine.stop();
    let a = [first, rest].concat();
    assert!(a.len() > 4, "too few notes: {a:?}");

    // The same asks from a fresh engine: the same notes, whatever the threads' timing.
    let (engine, mut audio, _) = lockstep_session(|_: &EngineStatus| Ok(flaky(vec![], false)));
    let b = [bounce(&mut audio, 1), bounce(&mut audio, 40)].concat();
    engine.stop();
    assert_eq!(a, b);
}

#[test]
fn in_lockstep_an_engine_that_failed_to_load_is_not_waited_for() {
    let (engine, mut audio, status) =
        lockstep_session(|_: &EngineStatus| Err(LoadError::Scripted("model.onnx is missing")));
    wait_for("the failure", || status.state() == EngineState::Failed);
    for _ in 0..100 {
        assert_eq!(audio.lockstep(), crate::bridge::Answer::Down);
    }
    assert_eq!(audio.lockstep_timeouts(), 0);
    engine.stop();
}

#[test]
fn the_chord_track_is_taken_on_request_a_bad_one_refused_and_learn_chords_writes_what_was_heard() {
    let (mut audio, side) = Bridge::new();
    let status = Arc::new(EngineStatus::default());
    let requests = Arc::new(Requests::default());
    let slots = Slots::default();
    let engine = Engine::start_with(
        side,
        requests.clone(),
        slots.clone(),
        status.clone(),
        move |_: &EngineStatus| Ok(flaky(vec![], false)),
    );
    audio.publish(PlayClock::at(0.0, 120.0), &Settings::default());
    wait_for("ready", || status.state() == EngineState::Ready);
    let note = |status: &EngineStatus| status.try_song().map(|v| v.note).unwrap_or_default();
    // A track typed (the editor writes only text that parses; a project may hold any).
    *slots.chords.write().unwrap() = "Eb Bb Cm Ab".into();
    requests.ask(Request::Chords);
    wait_for("the track followed", || {
        note(&status) == "following the chord track"
    });
    *slots.chords.write().unwrap() = "| C | Hm7 |".into();
    requests.ask(Request::Chords);
    wait_for("the bad track refused", || {
        status.chord_error().contains("bar 2, chord 1: `Hm7`")
    });
    wait_for("no track followed", || {
        note(&status).starts_with("no chord known ahead")
    });
    // Learn Chords with nothing heard says so and leaves the slot alone.
    requests.ask(Request::LearnChords);
    wait_for("nothing to learn", || {
        status.chord_error().contains("no chords heard yet")
    });
    assert_eq!(*slots.chords.read().unwrap(), "| C | Hm7 |");
    // The player plays C and F a bar each, twice: learned, written as text, and followed.
    audio.send(ToEngine::start_at_zero());
    let mut beat = 0.0;
    for bar in 0..4 {
        let keys: [u8; 3] = if bar % 2 == 0 {
            [60, 64, 67]
        } else {
            [53, 57, 60]
        };
        for &p in &keys {
            audio.send(ToEngine::Played {
                beat: 4.0 * f64::from(bar),
                pitch: p,
                velocity: 0.8,
                on: true,
            });
        }
        while beat < 4.0 * f64::from(bar) + 3.8 {
            beat += 0.1;
            audio.publish(PlayClock::at(beat, 120.0), &Settings::default());
            std::thread::sleep(Duration::from_millis(2));
        }
        for &p in &keys {
            audio.send(ToEngine::Played {
                beat,
                pitch: p,
                velocity: 0.0,
                on: false,
            });
        }
    }
    audio.publish(PlayClock::at(16.5, 120.0), &Settings::default());
    std::thread::sleep(Duration::from_millis(100));
    requests.ask(Request::LearnChords);
    wait_for("the chords learned", || {
        crate::chords::read_slot(&slots.chords).contains('F')
    });
    let learned =
        crate::chords::ChordTrack::parse(&crate::chords::read_slot(&slots.chords)).unwrap();
    let names: Vec<String> = (0..learned.len() as i64)
        .map(|b| learned.bar(b)[0].harmony.unwrap().name())
        .collect();
    assert!(
        names.windows(2).all(|w| w[0] != w[1]) && names.iter().all(|n| n == "C" || n == "F"),
        "{names:?}"
    );
    assert_eq!(status.chord_error(), "");
    engine.stop();
}
