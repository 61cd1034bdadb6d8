//! The queues' contract: drop and count when full, the lockstep's waits and answers, the settings
//! and the clock published whole.

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
    let (mut audio, engine) = Bridge::new();
    let clock = PlayClock {
        playhead: 12.5,
        open_from: 12.75,
        tempo: 90.0,
        bar_origin: 0.5,
        beats_per_bar: 3.0,
        playing: true,
        bar_number: 7.0,
        loop_start: 8.0,
        loop_end: 16.0,
    };
    audio.publish(clock, &Settings::default());
    assert_eq!(engine.clock(), clock);
    assert_eq!(clock.next_grid(12.6, false), 13.5);
    assert_eq!(clock.next_grid(12.6, true), 15.5);
    assert_eq!(clock.next_grid(15.5, true), 15.5);
    assert!((clock.in_bar(16.0) - 0.5).abs() < 1e-12);
}

#[test]
fn a_bounce_waits_for_the_engine_s_answer_and_gives_up_on_a_stuck_one_counting_it() {
    let (mut audio, engine) = Bridge::new();
    engine.set_phase(Phase::Live);
    // An engine that answers after a while.
    let answerer = std::thread::spawn(move || {
        let asked = loop {
            let a = engine.asked();
            if a > 0 {
                break a;
            }
            std::thread::yield_now();
        };
        std::thread::sleep(Duration::from_millis(30));
        engine.answer(asked);
        engine
    });
    assert_eq!(audio.lockstep(), Answer::Answered);
    let engine = answerer.join().unwrap();
    // A live engine that never answers: the block goes on after the timeout, counted.
    assert_eq!(audio.lockstep(), Answer::TimedOut);
    assert_eq!(audio.shared.lockstep.timeouts.load(Ordering::Relaxed), 1);
    engine.set_phase(Phase::Down);
    assert_eq!(audio.lockstep(), Answer::Down);
    assert_eq!(audio.shared.lockstep.timeouts.load(Ordering::Relaxed), 1);
}

#[test]
fn the_engine_reads_the_last_blocks_clock_and_settings_and_so_does_the_editor() {
    let clock = Arc::new(Clock::default());
    let (mut audio, mut engine) = Bridge::with_clock(clock.clone());
    assert_eq!(engine.settings(), Settings::default());
    assert_eq!(engine.clock().tempo, 120.0);
    let mut played = PlayClock::at(8.0, 90.0);
    played.open_from = 8.5;
    for (style, playhead) in [(1, 4.0), (3, 8.0)] {
        let settings = Settings {
            style,
            ..Settings::default()
        };
        audio.publish(PlayClock { playhead, ..played }, &settings);
    }
    assert_eq!(engine.settings().style, 3);
    assert_eq!(engine.clock(), played);
    // One clock: the editor's is the engine's.
    assert_eq!(clock.load(), played);
}
