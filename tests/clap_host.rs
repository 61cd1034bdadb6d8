//! Cadenza in a CLAP host (clack-host), through the bundled .clap: the whole chain, in real time.
#![cfg(feature = "host")]

use cadenza::host::{bundle_dir, ClapHost, PlayedNote, Session, PLAYER_CHANNEL};

const SR: f64 = 48_000.0;
const BLOCK: u32 = 512;
const TEMPO: f64 = 120.0;
/// At 120 BPM and 48 kHz one tick (1/24 beat) is exactly 1000 samples.
const SAMPLES_PER_TICK: u64 = 1000;

#[test]
fn plays_generated_notes_on_the_beat_grid_and_ends_them_all_at_stop() {
    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    host.activate(SR, BLOCK).unwrap();
    let played = vec![
        PlayedNote {
            beat: 0.0,
            length: 0.5,
            key: 60,
            velocity: 0.8,
        },
        PlayedNote {
            beat: 0.5,
            length: 0.5,
            key: 64,
            velocity: 0.8,
        },
        PlayedNote {
            beat: 1.0,
            length: 1.0,
            key: 67,
            velocity: 0.8,
        },
    ];
    let session = Session {
        sample_rate: SR,
        block: BLOCK,
        tempo: TEMPO,
        preroll_seconds: 1.5,
        beats: 12.0,
        postroll_seconds: 0.5,
        played: played.clone(),
        realtime: true,
        loop_beats: None,
    };
    let logs = session.run(&mut host).unwrap();
    host.deactivate();

    let pre = (session.preroll_seconds * SR) as u64;
    let stop_block = logs
        .iter()
        .position(|b| b.sample > pre && !b.playing)
        .expect("the transport stopped");
    let mut open = [false; 128];
    let mut generated_on = 0;
    let mut passed = Vec::new();
    for (i, b) in logs.iter().enumerate() {
        let mut last = 0;
        for e in &b.events {
            assert!(
                e.time < b.frames,
                "event at {} outside a block of {}",
                e.time,
                b.frames
            );
            assert!(e.time >= last, "events out of order in block {i}");
            last = e.time;
            let abs = b.sample + u64::from(e.time);
            if e.channel == PLAYER_CHANNEL {
                passed.push((abs, e.on, e.key));
                continue;
            }
            assert_eq!(e.channel, 0, "generated notes go out on channel 1");
            if e.on {
                assert!(
                    i < stop_block,
                    "nothing new starts in or after the stop block within this test"
                );
                generated_on += 1;
            } else {
                assert!(
                    open[e.key as usize],
                    "a note-off for key {} that Cadenza was not playing",
                    e.key
                );
            }
            open[e.key as usize] = e.on;
            // Sample accuracy: after the player's last note, every generated event sits exactly on
            // the tick grid of the host's beats (a note planned ahead is never late).
            if b.playing && abs >= pre + 4 * 24 * SAMPLES_PER_TICK {
                assert_eq!(
                    (abs - pre) % SAMPLES_PER_TICK,
                    0,
                    "generated event off the grid at sample {abs}: {e:?}"
                );
            }
        }
        if i == stop_block {
            assert!(
                open.iter().all(|o| !o),
                "every generated note ended in the stop block"
            );
        }
    }
    assert!(
        generated_on > 0,
        "Cadenza generated no notes in 6 s of rolling transport"
    );
    // The player's notes pass through on their exact samples.
    let spb = SR * 60.0 / TEMPO;
    let mut want: Vec<(u64, bool, u8)> = played
        .iter()
        .flat_map(|n| {
            let on = pre + (n.beat * spb) as u64;
            [
                (on, true, n.key),
                (pre + ((n.beat + n.length) * spb) as u64, false, n.key),
            ]
        })
        .collect();
    want.sort();
    passed.sort();
    assert_eq!(passed, want);
}

/// A plugin cannot send events from `deactivate`; notes still sounding then end in the first block
/// after the next activation, before anything else.
#[test]
fn notes_sounding_at_deactivation_end_in_the_first_block_after_reactivation() {
    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    host.activate(SR, BLOCK).unwrap();
    let spb = SR * 60.0 / TEMPO;
    let started = std::time::Instant::now();
    let mut open = [false; 128];
    let mut sample = 0u64;
    // Roll (real time) until Cadenza has notes sounding, for at most 10 s.
    while open.iter().all(|o| !o) || sample < 24_000 {
        assert!(
            sample < (10.0 * SR) as u64,
            "no generated note sounded within 10 s"
        );
        let t = cadenza::host::Transport::at(true, sample as f64 / spb, TEMPO);
        for e in host.process(BLOCK, t, &[]).unwrap() {
            if e.channel == 0 {
                open[e.key as usize] = e.on;
            }
        }
        sample += u64::from(BLOCK);
        let due = std::time::Duration::from_secs_f64(sample as f64 / SR);
        if let Some(w) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(w);
        }
    }
    host.deactivate();
    host.activate(SR, BLOCK).unwrap();
    let t = cadenza::host::Transport::at(true, sample as f64 / spb, TEMPO);
    let first = host.process(BLOCK, t, &[]).unwrap();
    for (key, was_open) in open.iter().enumerate() {
        if *was_open {
            assert!(
                first
                    .iter()
                    .any(|e| e.channel == 0 && !e.on && e.key as usize == key && e.time == 0),
                "key {key} was sounding at deactivation and got no note-off: {first:?}"
            );
        }
    }
}

/// The built-in voice: silent before Cadenza's first note, sounding from that note's very sample,
/// every output sample written (the host pre-fills NaN), and silent at once when switched off.
#[test]
fn the_voice_sounds_cadenzas_notes_from_their_sample_and_stops_when_switched_off() {
    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    host.activate(SR, BLOCK).unwrap();
    let spb = SR * 60.0 / TEMPO;
    let started = std::time::Instant::now();
    let mut sample = 0u64;
    let mut first_note = None;
    let mut loud_blocks = 0;
    while sample < (12.0 * SR) as u64 && loud_blocks < 20 {
        let t = cadenza::host::Transport::at(true, sample as f64 / spb, TEMPO);
        let events = host.process(BLOCK, t, &[]).unwrap();
        let [left, right] = &host.audio;
        assert!(
            left.iter()
                .chain(right)
                .all(|x| x.is_finite() && x.abs() < 4.0),
            "unwritten or wild output at sample {sample}"
        );
        let first_on = events.iter().filter(|e| e.on).map(|e| e.time).min();
        if first_note.is_none() {
            // Before Cadenza's first note the voice is silent, up to the note's own sample.
            let until = first_on.unwrap_or(BLOCK) as usize;
            assert!(
                left[..until]
                    .iter()
                    .chain(&right[..until])
                    .all(|&x| x == 0.0),
                "sound before the first note (block at {sample}, note at {first_on:?})"
            );
            if let Some(at) = first_on {
                first_note = Some(sample + u64::from(at));
                let after = &left[at as usize..];
                assert!(
                    after.iter().take(64).any(|&x| x != 0.0) || at + 64 > BLOCK,
                    "the voice did not start on the note's sample"
                );
            }
        } else if left.iter().any(|&x| x.abs() > 1e-3) {
            loud_blocks += 1;
        }
        sample += u64::from(BLOCK);
        let due = std::time::Duration::from_secs_f64(sample as f64 / SR);
        if let Some(w) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(w);
        }
    }
    assert!(first_note.is_some(), "Cadenza played no note within 12 s");
    assert!(
        loud_blocks >= 20,
        "the voice was heard in only {loud_blocks} blocks"
    );

    host.set_param("voice", 0, 0.0);
    let t = cadenza::host::Transport::at(true, sample as f64 / spb, TEMPO);
    host.process(BLOCK, t, &[]).unwrap();
    let [left, right] = &host.audio;
    assert!(
        left.iter().chain(right).all(|&x| x == 0.0),
        "the voice switched off still sounds"
    );
    host.deactivate();
}
