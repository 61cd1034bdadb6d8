use super::*;
use crate::chords::ChordTrack;

/// The playhead at `beat`, 4/4 from beat 0 (the host's first bar), rolling.
fn at(beat: f64) -> PlayClock {
    PlayClock {
        bar_number: 0.0,
        ..PlayClock::at(beat, 120.0)
    }
}

/// The player strikes `keys` at `beat` and lets go just before `beats` later.
fn chord(f: &mut Follow, beat: f64, beats: f64, keys: &[u8]) {
    for &p in keys {
        f.remember(beat, p, 0.8, true);
        f.hold(p, true);
    }
    for &p in keys {
        f.remember(beat + beats * 0.95, p, 0.0, false);
        f.hold(p, false);
    }
}

const C: [u8; 3] = [60, 64, 67];
const AM: [u8; 3] = [57, 60, 64];
const F: [u8; 3] = [53, 57, 60];
const G: [u8; 3] = [55, 59, 62];

fn name(k: Option<Known>) -> Option<(String, Source)> {
    k.map(|k| (k.harmony.name(), k.source))
}

fn named(k: Option<Known>) -> Option<String> {
    k.map(|k| k.harmony.name())
}

#[test]
fn the_chord_track_fills_bars_from_the_hosts_first_bar_and_loops_over_its_length() {
    let mut song = Song::new();
    song.set_track(ChordTrack::parse("| C | Am | F G |").ok());
    song.hear(&at(0.0), &Follow::new());
    assert_eq!(name(song.chord_at(0.0)), Some(("C".into(), Source::Typed)));
    assert_eq!(named(song.chord_at(5.5)), Some("Am".into()));
    assert_eq!(named(song.chord_at(9.9)), Some("F".into()));
    assert_eq!(named(song.chord_at(10.0)), Some("G".into()));
    // Three bars, then again from the first.
    assert_eq!(named(song.chord_at(12.0)), Some("C".into()));
    assert!(song.changes_at(4.0) && song.changes_at(10.0) && !song.changes_at(5.0));
    // The host numbers its bars: beat 0 of a playback from its bar 2 is the track's second bar.
    let later = PlayClock {
        bar_number: 1.0,
        ..at(0.0)
    };
    song.hear(&later, &Follow::new());
    assert_eq!(named(song.chord_at(0.0)), Some("Am".into()));
    // 3/4: bars of three beats.
    let waltz = PlayClock {
        beats_per_bar: 3.0,
        ..at(0.0)
    };
    song.hear(&waltz, &Follow::new());
    assert_eq!(named(song.chord_at(3.0)), Some("Am".into()));
    assert_eq!(named(song.chord_at(7.5)), Some("G".into()));
}

#[test]
fn a_format_5_model_is_told_the_chord_now_the_next_and_the_beats_until_it() {
    let mut song = Song::new();
    song.set_track(ChordTrack::parse("| C | Am | F G |").ok());
    song.hear(&at(0.0), &Follow::new());
    let f = song.feature_at(1.0);
    assert_eq!(f.now.map(Harmony::name), Some("C".into()));
    assert_eq!(
        f.next.map(|(h, until)| (h.name(), until)),
        Some(("Am".into(), 3))
    );
    let f = song.feature_at(9.5);
    assert_eq!(
        f.next.map(|(h, until)| (h.name(), until)),
        Some(("G".into(), 0))
    );
    // Nothing typed, nothing heard: nothing known.
    let empty = Song::new();
    assert_eq!(empty.feature_at(3.0), ChordFeature::default());
}

#[test]
fn with_the_host_looping_the_next_pass_is_known_from_the_last() {
    let mut song = Song::new();
    let mut f = Follow::new();
    let looping = |beat: f64| PlayClock {
        loop_start: 0.0,
        loop_end: 16.0,
        ..at(beat)
    };
    let bars = [C, AM, F, G];
    // Before anything is heard, nothing is known ahead.
    song.hear(&looping(0.0), &f);
    assert_eq!(song.chord_at(4.0), None);
    for (i, keys) in bars.iter().enumerate() {
        let b = 4.0 * i as f64;
        chord(&mut f, b, 4.0, keys);
        for k in 0..4 {
            song.hear(&looping(b + f64::from(k) + 0.5), &f);
        }
    }
    // At the loop's end the first bar's chord is known to come again (beat 16 is beat 0).
    song.hear(&looping(15.9), &f);
    assert_eq!(name(song.chord_at(16.0)), Some(("C".into(), Source::Place)));
    assert!(song.changes_at(16.0));
    // The host jumps back: the second pass is known before it is played.
    song.hear(&looping(0.1), &f);
    assert_eq!(name(song.chord_at(4.0)), Some(("Am".into(), Source::Place)));
    assert_eq!(named(song.chord_at(12.0)), Some("G".into()));
    let next = song.view(0.1).next.map(|(b, n, _)| (b, n));
    assert_eq!(next, Some((4.0, "Am".into())));
}

#[test]
fn a_progression_repeated_without_a_loop_is_known_from_its_second_time_round() {
    let mut song = Song::new();
    let mut f = Follow::new();
    let bars = [C, AM, F, G];
    let mut expected_at_bar = Vec::new();
    for pass in 0..3 {
        for (i, keys) in bars.iter().enumerate() {
            let b = 16.0 * f64::from(pass) + 4.0 * i as f64;
            // What was expected of this bar just before it was played.
            song.hear(&at((b - 0.5).max(0.0)), &f);
            expected_at_bar.push(named(song.chord_at(b)));
            chord(&mut f, b, 4.0, keys);
            for k in 0..4 {
                song.hear(&at(b + f64::from(k) + 0.5), &f);
            }
        }
    }
    let names = ["C", "Am", "F", "G"];
    // The first time round: nothing repeated yet.
    assert!(
        expected_at_bar[..4].iter().all(Option::is_none),
        "{expected_at_bar:?}"
    );
    // From the second bar of the second time round, each bar is expected right.
    for (i, got) in expected_at_bar.iter().enumerate().skip(5) {
        assert_eq!(
            got.as_deref(),
            Some(names[i % 4]),
            "bar {i}: {expected_at_bar:?}"
        );
    }
    assert_eq!(song.period, Some(16));
    // Learn Chords writes it as a chord track that reads back.
    let text = song.learned_text(4).unwrap();
    let track = ChordTrack::parse(&text).unwrap();
    let learned: Vec<String> = (0..4)
        .map(|b| track.bar(b)[0].harmony.unwrap().name())
        .collect();
    assert_eq!(track.len(), 4, "{text}");
    assert_eq!(learned, names, "{text}");
}

#[test]
fn what_is_heard_wins_over_what_was_expected_but_a_chord_let_go_late_does_not() {
    let mut song = Song::new();
    song.set_track(ChordTrack::parse("C Am").ok());
    let mut f = Follow::new();
    // The player strikes F at bar 1 where the track says C: Cadenza follows F to the end of the
    // bar, and says so.
    for &p in &F {
        f.remember(0.0, p, 0.8, true);
        f.hold(p, true);
    }
    song.hear(&at(0.2), &f);
    assert_eq!(name(song.chord_at(1.0)), Some(("F".into(), Source::Heard)));
    assert_eq!(
        named(song.chord_at(4.0)),
        Some("Am".into()),
        "the next bar is the track's"
    );
    let note = song.view(0.2).note;
    assert!(
        note.contains("you play F where the chord track says C"),
        "{note}"
    );
    // Held into bar 2 (let go late, not struck there): the track's Am stands.
    song.hear(&at(4.1), &f);
    assert_eq!(name(song.chord_at(4.5)), Some(("Am".into(), Source::Typed)));
    // Struck again in bar 2: followed.
    for &p in &F {
        f.remember(4.5, p, 0.0, false);
        f.remember(4.5, p, 0.8, true);
    }
    song.hear(&at(4.6), &f);
    assert_eq!(name(song.chord_at(5.0)), Some(("F".into(), Source::Heard)));
    // A melody note outside the chord is no contradiction (one key names no chord).
    let mut line = Follow::new();
    line.remember(8.0, 62, 0.8, true);
    line.hold(62, true);
    song.hear(&at(8.2), &line);
    assert_eq!(name(song.chord_at(8.5)), Some(("C".into(), Source::Typed)));
}

#[test]
fn a_single_line_names_no_chord_and_teaches_no_progression() {
    let mut song = Song::new();
    let mut f = Follow::new();
    for beat in 0..48 {
        let b = f64::from(beat);
        let p = [60, 62, 64, 65][beat as usize % 4];
        f.remember(b, p, 0.8, true);
        f.remember(b + 0.9, p, 0.0, false);
        song.hear(&at(b + 0.95), &f);
    }
    assert_eq!(song.chord_at(49.0), None);
    assert_eq!(song.learned_text(4), None);
}

#[test]
fn after_a_change_of_meter_the_chord_track_keeps_to_the_hosts_bars() {
    let mut song = Song::new();
    song.set_track(ChordTrack::parse("C Am F G").ok());
    // Two bars of 4/4, then 3/4 from beat 8: the host says bar 3 starts there.
    let waltz = |beat: f64| PlayClock {
        beats_per_bar: 3.0,
        bar_origin: 8.0,
        bar_number: 2.0,
        ..at(beat)
    };
    song.hear(&waltz(8.5), &Follow::new());
    assert_eq!(named(song.chord_at(9.0)), Some("F".into()));
    assert_eq!(named(song.chord_at(11.0)), Some("G".into()));
    assert_eq!(
        named(song.chord_at(14.0)),
        Some("C".into()),
        "the track loops"
    );
    assert!(song.changes_at(11.0) && !song.changes_at(12.0));
    // A host loop shorter than a bar (half a beat): no place repeats a whole beat, nothing breaks.
    let mut short = Song::new();
    let mut f = Follow::new();
    chord(&mut f, 0.0, 8.0, &C);
    for k in 0..40 {
        let tiny = PlayClock {
            loop_start: 2.0,
            loop_end: 2.5,
            ..at(2.0 + f64::from(k % 5) * 0.1)
        };
        short.hear(&tiny, &f);
        let _ = (short.chord_at(2.4), short.feature_at(2.4), short.view(2.4));
    }
}
