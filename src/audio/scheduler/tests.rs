//! Placing generated notes on samples: exact at any tempo and block size, note-offs always, plans
//! replaced, cuts and silences.

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
