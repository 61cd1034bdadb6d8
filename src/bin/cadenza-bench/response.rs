//! The response measurement: notes played into a real engine thread, each timed until the engine's
//! decision and until the first note of the plan that answers it.

use std::time::Instant;

use cadenza::engine::EngineConfig;

/// Notes played in the response measurement (one every 0.2 s).
pub const ANSWERS: usize = 600;
/// The transport's tempo in the response measurement, in BPM.
pub const RESPONSE_TEMPO: f64 = 120.0;

/// How the engine answered one played note.
pub struct Answer {
    /// Milliseconds from the played note to the engine's decision at the first tick Cadenza may
    /// play on (a note there, or its rest past it).
    pub decided: Option<f64>,
    /// Milliseconds from the played note to the first note of the plan that answers it, and beats
    /// between them; `None` when a later plan withdrew that one before its first note.
    pub first_note: Option<(f64, f64)>,
}

/// Play notes into a real engine thread (the audio side simulated here, transport rolling at
/// 120 BPM in real time) and time each one until the engine's decision and until the first note
/// of its new plan arrives.
pub fn response_latency(config: &EngineConfig) -> (Vec<Answer>, Result<(), String>) {
    use cadenza::bridge::{Bridge, PlayClock, ToEngine};
    use cadenza::engine::{Engine, EngineState, EngineStatus};
    use cadenza::settings::Settings;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    let (mut audio, side) = Bridge::new();
    let status = Arc::new(EngineStatus::default());
    let engine = Engine::start(
        config.clone(),
        side,
        Arc::default(),
        Default::default(),
        status.clone(),
    );
    while status.state() == EngineState::Loading {
        std::thread::sleep(Duration::from_millis(5));
    }
    if status.state() != EngineState::Ready {
        eprintln!("the engine did not start: {}", status.message());
        std::process::exit(1);
    }
    // This thread plays the host's audio thread, which a host runs at real-time priority: it takes
    // the core from the engine the moment its sleep ends. (Set after the engine thread started, so
    // that one keeps normal priority, as in a host.)
    let priority = audio_priority(true);
    let t0 = Instant::now();
    let beat_now = || t0.elapsed().as_secs_f64() * RESPONSE_TEMPO / 60.0;
    audio.publish(PlayClock::at(0.0, RESPONSE_TEMPO), &Settings::default());
    audio.send(ToEngine::Resync {
        beat: 0.0,
        playing: true,
        epoch: 1,
        heard_until: 0.0,
        jumped: false,
    });
    let mut plan = 0;
    let mut answers = Vec::new();
    let pitches = [60u8, 62, 64, 65, 67, 69, 71, 72];
    for i in 0..ANSWERS {
        // Let the engine plan ahead for a while, as in a real session (0.2 s between notes).
        let until = t0.elapsed() + Duration::from_millis(200);
        while t0.elapsed() < until {
            audio.publish(
                PlayClock::at(beat_now(), RESPONSE_TEMPO),
                &Settings::default(),
            );
            while let Some(g) = audio.receive() {
                plan = plan.max(g.plan);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let beat = beat_now();
        let pitch = pitches[i % pitches.len()];
        let reacted = status.reactions.load(Ordering::Acquire);
        let mut decided = None;
        let sent = Instant::now();
        audio.send(ToEngine::Played {
            beat,
            pitch,
            velocity: 0.8,
            on: true,
        });
        audio.send(ToEngine::Played {
            beat: beat + 0.01,
            pitch,
            velocity: 0.0,
            on: false,
        });
        // Wait for both: the decision (the engine's status counts it) and the first note of the
        // new plan (through the queue, as the audio side gets it).
        let mut first_note = None;
        // The plan that answers this note (its plan mark withdraws the old one at once); a later
        // plan before its first note (the note's release heard, say) withdrew the answer unplayed.
        let mut answer_plan = None;
        // The answer's own notes start at the reaction lead; the plan also sends again the notes
        // before it that it kept (planned before the note, the audio side has them already).
        let floor = beat + cadenza::engine::REACTION_SECONDS * RESPONSE_TEMPO / 60.0;
        let mut withdrawn = false;
        while decided.is_none() || (first_note.is_none() && !withdrawn) {
            if decided.is_none() && status.reactions.load(Ordering::Acquire) > reacted {
                decided = Some(sent.elapsed().as_secs_f64() * 1e3);
            }
            while let Some(g) = audio.receive() {
                if g.is_plan_mark() && g.plan > plan {
                    match answer_plan {
                        None => answer_plan = Some(g.plan),
                        Some(a) if first_note.is_none() && g.plan > a => withdrawn = true,
                        Some(_) => {}
                    }
                    plan = g.plan;
                } else if first_note.is_none()
                    && !withdrawn
                    && !g.is_plan_mark()
                    && Some(g.plan) == answer_plan
                    && g.beat >= floor - 1e-9
                {
                    first_note = Some((sent.elapsed().as_secs_f64() * 1e3, g.beat - beat));
                }
            }
            if sent.elapsed() > Duration::from_secs(2) {
                break; // not within 2 s: not counted, and the counts in the table show it
            }
            // Poll as an audio thread would, between blocks: sleep, never spin. The bench is
            // pinned to one core, and a spinning poll took the engine's CPU in 4 ms time slices
            // (the answers came in steps of 4 ms, up to 184 ms).
            audio.publish(
                PlayClock::at(beat_now(), RESPONSE_TEMPO),
                &Settings::default(),
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        answers.push(Answer {
            decided,
            first_note,
        });
    }
    audio_priority(false).ok();
    engine.stop();
    (answers, priority)
}

/// Give this thread real-time (FIFO) priority, as a host gives its audio thread, or take it back.
/// (Linux only; the benchmark is measured there.)
#[cfg(not(target_os = "linux"))]
fn audio_priority(_realtime: bool) -> Result<(), String> {
    Err("real-time priority is set on Linux only".into())
}

/// Give this thread real-time (FIFO) priority, as a host gives its audio thread, or take it back.
#[cfg(target_os = "linux")]
fn audio_priority(realtime: bool) -> Result<(), String> {
    let (policy, priority) = if realtime {
        (libc::SCHED_FIFO, 40)
    } else {
        (libc::SCHED_OTHER, 0)
    };
    // SAFETY: sched_param is plain data; pthread_setschedparam reads it for the calling thread.
    let rc = unsafe {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        libc::pthread_setschedparam(libc::pthread_self(), policy, &param)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc).to_string())
    }
}
