//! A fuzzed host session through the bundled .clap (debug build: an allocation on the audio thread
//! aborts). Random block sizes (1..4096, changing every call), sample rates, tempo changes (also inside
//! a block), time signatures, transport starts, stops, jumps and loops, sample-accurate automation of
//! every parameter, random notes (note-offs without note-ons, wildcard keys), host resets,
//! deactivate/activate cycles (switching between real-time and offline rendering, where the audio
//! side waits for the engine), state saved and restored mid-session, host loops (some shorter than
//! a bar) and chord tracks (some that do not parse, as a hand-edited project might hold).
//!
//! After every call: events inside the block and in order; every note-off ends a note Cadenza was
//! playing (except a panic's note-offs); after every transport stop nothing Cadenza started is left
//! sounding; after a deactivation, the first block ends every note; a restored state gives back the
//! saved parameters. Each seed prints itself first; `CADENZA_FUZZ_SEED=N` (and `CADENZA_FUZZ_CALLS`)
//! replays one.
#![cfg(feature = "host")]

use cadenza::host::{bundle_dir, ClapHost, NoteIn, Transport};

/// The session runs this many times faster than real time: slow enough for the engine to plan notes
/// (so note paths are exercised), fast enough for 10,000 calls in well under a minute.
const SPEEDUP: f64 = 8.0;

/// The player's channel: Cadenza's output channel is kept off it, so its notes can be told apart.
const PLAYER: u8 = 15;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// (id, number of steps; 0 = continuous 0..1) of every parameter fuzzed.
const PARAMS: &[(&str, u64)] = &[
    // Mode is not automated: every seed plays Improvise (below), the mode in which the shipped model
    // plays steadily however the player plays. Beside this fuzzed player, who plays all the time while
    // every knob moves, the two-stream models play almost nothing in the other modes (cadenza-base-v7:
    // 0 notes in 10,000 calls with the mode fuzzed too; v6 the same; v5: 51 in 2,500), and the
    // invariants below mean something only where notes are played. Modes are switched under test in
    // playing_together.rs.
    // The trained styles: on an unused slot's untrained token the two-stream models hardly play
    // (cadenza-base-v7: 1 note in 10,000 calls with all 16 slots and every mode), and the invariants
    // below mean something only where notes are played.
    ("style", 4),
    // Every role, whether the loaded model plays it or not (one it lacks plays as Free): a change
    // ends Cadenza's notes and replans, as a style change does.
    ("role", 3),
    ("temperature", 0),
    ("top_p", 0),
    ("lookah", 0),
    ("scale", 9),
    ("key", 11),
    ("low", 127),
    ("high", 127),
    ("dens", 0),
    ("dyn", 1),
    ("vel", 0),
    ("accent", 0),
    ("poly", 15),
    ("ansbar", 15),
    ("gap", 0),
    ("ansst", 1),
    ("chan", 14),
    ("maxlen", 0),
    ("seed", 9999),
    ("jump", 1),
    ("captb", 15),
    ("capt", 1),
    ("panic", 1),
    ("thru", 1),
    ("bypass", 1),
    ("voice", 1),
    ("vlevel", 0),
    ("vplay", 1),
    ("fchord", 0),
    ("rchord", 1),
];

/// Chord tracks a session's state may hold: progressions, one bar of several chords, and text that
/// does not parse (the engine refuses it and plays on as with none).
const CHORD_TRACKS: &[&str] = &[
    "Eb Bb Cm Ab",
    "| Cm7 F7 | Bbmaj7 | Gm7 C7 | Fmaj7 |",
    "| C Am F G C Am F G |",
    "",
    "| C | Hm7 |",
];

fn random_plain(rng: &mut Rng, steps: u64) -> f64 {
    if steps == 0 {
        rng.unit()
    } else {
        rng.below(steps + 1) as f64
    }
}

/// A saved state and the parameter values it was saved with.
type Saved = (Vec<u8>, Vec<(&'static str, f64)>);

struct Checker {
    open: [[bool; 128]; 16],
    generated_ons: u64,
    /// What happened lately (call, what), for the failure message.
    history: std::collections::VecDeque<String>,
}

impl Checker {
    fn sounding(&self) -> usize {
        self.open.iter().flatten().filter(|o| **o).count()
    }
}

fn fuzz(seed: u64, calls: usize) -> u64 {
    eprintln!("fuzz seed {seed} ({calls} calls): replay with CADENZA_FUZZ_SEED={seed}");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    host.player_channel = PLAYER;
    let rates = [22_050.0, 44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0];
    let sigs = [(4u16, 4u16), (3, 4), (2, 4), (6, 8), (7, 8), (5, 4)];
    let mut sr = rates[rng.below(rates.len() as u64) as usize];
    // Even seeds start as a bounce (offline render); every reactivation may switch.
    host.set_render_offline(seed.is_multiple_of(2)).unwrap();
    let track = CHORD_TRACKS[rng.below(CHORD_TRACKS.len() as u64) as usize];
    let state = cadenza::host::state_with_field(&host.save_state().unwrap(), "chords", &track);
    host.load_state(&state).unwrap();
    host.set_param("mode", 0, 2.0); // Improvise
    host.activate(sr, 4096).unwrap();
    let settle = || std::thread::sleep(std::time::Duration::from_millis(300)); // the engine loads
    settle();
    let started = std::time::Instant::now();
    let mut audio_seconds = 0.0;
    let mut c = Checker {
        open: [[false; 128]; 16],
        generated_ons: 0,
        history: Default::default(),
    };
    let note = |c: &mut Checker, what: String| {
        if c.history.len() == 40 {
            c.history.pop_front();
        }
        c.history.push_back(what);
    };
    let (mut playing, mut beat, mut tempo, mut sig) = (false, 0.0f64, 120.0f64, (4u16, 4u16));
    // The host's loop while it loops: (start, end) in beats, from a tick to eight beats long.
    let mut looping: Option<(f64, f64)> = None;
    let mut must_close_all = false;
    // The panic switch's value as the plugin saw it in the last block, and its value now.
    let (mut panic_before, mut panic_on) = (false, false);
    let mut saved: Option<Saved> = None;
    for call in 0..calls {
        // Between calls, now and then: deactivate/reactivate (maybe at another rate), reset, state.
        if rng.chance(0.002) {
            note(&mut c, format!("{call}: deactivate/activate"));
            host.deactivate();
            must_close_all = c.sounding() > 0;
            sr = rates[rng.below(rates.len() as u64) as usize];
            // Now and then the host bounces (renders offline): the audio side waits for the engine.
            let offline = rng.chance(0.4);
            note(&mut c, format!("{call}: render offline: {offline}"));
            host.set_render_offline(offline).unwrap();
            host.activate(sr, 4096).unwrap();
            settle();
            audio_seconds += 0.3 * SPEEDUP;
        }
        if rng.chance(0.003) {
            note(&mut c, format!("{call}: reset"));
            host.reset();
            must_close_all = c.sounding() > 0;
        }
        if rng.chance(0.002) {
            let state = host.save_state().unwrap();
            let values: Vec<(&str, f64)> = PARAMS
                .iter()
                .map(|(id, _)| (*id, host.param_value(id).unwrap()))
                .collect();
            saved = Some((state, values));
        }
        if let Some((state, values)) = saved.as_ref().filter(|_| rng.chance(0.002)) {
            note(&mut c, format!("{call}: load state"));
            // A project saved with another chord track (or one that does not parse).
            let track = CHORD_TRACKS[rng.below(CHORD_TRACKS.len() as u64) as usize];
            let state = cadenza::host::state_with_field(state, "chords", &track);
            host.load_state(&state).unwrap();
            for (id, v) in values {
                let now = host.param_value(id).unwrap();
                assert!(
                    (now - v).abs() < 1e-3,
                    "seed {seed} call {call}: {id} restored as {now}, saved {v}"
                );
            }
            panic_on = values.iter().any(|(id, v)| *id == "panic" && *v > 0.5);
        }

        let frames = if rng.chance(0.1) {
            1 + rng.below(16) as u32
        } else {
            1 + rng.below(4096) as u32
        };
        // The transport: mostly rolling on, sometimes a start, stop, jump, loop, tempo or meter change.
        let was_playing = playing;
        if rng.chance(0.02) {
            playing = !playing;
        }
        if rng.chance(0.01) {
            beat = rng.unit() * 64.0; // a seek or a loop back
        }
        if rng.chance(0.005) {
            looping = match looping {
                Some(_) => None,
                None => {
                    let start = (beat - rng.unit() * 4.0).max(0.0);
                    Some((start, start + 1.0 / 24.0 + rng.unit() * 8.0))
                }
            };
            note(&mut c, format!("{call}: loop {looping:?}"));
        }
        if let Some((start, end)) = looping.filter(|_| playing) {
            if beat >= end {
                beat = start + (beat - end).rem_euclid(end - start); // the host loops back
            }
        }
        if rng.chance(0.01) {
            sig = sigs[rng.below(sigs.len() as u64) as usize];
        }
        let mut changes = Vec::new();
        if rng.chance(0.02) && frames > 1 {
            let at = 1 + rng.below(u64::from(frames - 1)) as u32;
            let at_beat = beat + f64::from(at) * tempo / 60.0 / sr;
            tempo = 40.0 + rng.unit() * 200.0;
            changes.push((
                at,
                Transport {
                    playing,
                    beat: at_beat,
                    tempo,
                    time_sig: sig,
                    loop_range: None,
                },
            ));
        } else if rng.chance(0.01) {
            tempo = 40.0 + rng.unit() * 200.0;
        }
        let t = Transport {
            playing,
            beat,
            tempo,
            time_sig: sig,
            loop_range: looping,
        };
        // Automation, anywhere in the block.
        // The panic switch's last value in time order (the host sorts a block's events by time).
        let mut panic_last: Option<(u32, bool)> = None;
        for _ in 0..rng.below(3) {
            let (id, steps) = PARAMS[rng.below(PARAMS.len() as u64) as usize];
            let v = random_plain(&mut rng, steps);
            let time = rng.below(u64::from(frames)) as u32;
            if id == "panic" && panic_last.is_none_or(|(t, _)| time >= t) {
                panic_last = Some((time, v > 0.5));
            }
            note(&mut c, format!("{call}: {id} = {v:.3} at {time}"));
            host.set_param(id, time, v);
        }
        if let Some((_, on)) = panic_last {
            panic_on = on; // parameters apply at the block start: the last one in time wins
        }
        // The player: notes, note-offs of nothing, wildcard note-offs.
        let mut notes = Vec::new();
        for _ in 0..rng.below(4) {
            let key = if rng.chance(0.05) {
                255
            } else {
                36 + rng.below(60) as u8
            };
            notes.push(NoteIn {
                time: rng.below(u64::from(frames)) as u32,
                on: rng.chance(0.55),
                key,
                velocity: rng.unit(),
            });
        }

        audio_seconds += f64::from(frames) / sr;
        let due = std::time::Duration::from_secs_f64(audio_seconds / SPEEDUP);
        if let Some(w) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(w);
        }
        let panic_switched_on = panic_on && !panic_before;
        panic_before = panic_on;
        let out = host
            .process_with(frames, t, &notes, &changes)
            .unwrap_or_else(|e| panic!("seed {seed} call {call}: {e}"));
        // The voice writes every sample of its output (the host pre-fills NaN), within bounds.
        assert!(
            host.audio.iter().all(|ch| ch.len() == frames as usize
                && ch.iter().all(|x| x.is_finite() && x.abs() < 8.0)),
            "seed {seed} call {call}: the voice's output is unwritten or wild"
        );
        let mut last = 0;
        for e in &out {
            assert!(
                e.time < frames,
                "seed {seed} call {call}: event at {} in a block of {frames}",
                e.time
            );
            assert!(
                e.time >= last,
                "seed {seed} call {call}: events out of order: {out:?}"
            );
            last = e.time;
            if e.channel == PLAYER {
                continue; // passed through
            }
            note(
                &mut c,
                format!("{call}: out {e:?} (playing {playing}, frames {frames})"),
            );
            let lately = c.history.iter().cloned().collect::<Vec<_>>().join("\n");
            let slot = &mut c.open[e.channel as usize][e.key as usize];
            if e.on {
                assert!(
                    !*slot,
                    "seed {seed} call {call}: note-on on a sounding key {e:?}; lately:\n{lately}"
                );
                c.generated_ons += 1;
            } else {
                assert!(
                    *slot || panic_switched_on,
                    "seed {seed} call {call}: a note-off for a note Cadenza was not playing: {e:?}; lately:\n{lately}"
                );
            }
            *slot = e.on;
        }
        if must_close_all {
            assert_eq!(
                c.sounding(),
                0,
                "seed {seed} call {call}: notes left sounding after a deactivation or reset"
            );
            must_close_all = false;
        }
        if was_playing && !playing {
            assert_eq!(
                c.sounding(),
                0,
                "seed {seed} call {call}: notes left sounding after a transport stop"
            );
        }
        if !changes.is_empty() {
            beat = changes[0].1.beat + f64::from(frames - changes[0].0) * tempo / 60.0 / sr;
        } else if playing {
            beat += f64::from(frames) * tempo / 60.0 / sr;
        }
    }
    // The end of the session: the transport stops; nothing may keep sounding.
    let out = host
        .process(
            256,
            Transport {
                playing: false,
                beat,
                tempo,
                time_sig: sig,
                loop_range: None,
            },
            &[],
        )
        .unwrap();
    for e in out.iter().filter(|e| e.channel != PLAYER) {
        c.open[e.channel as usize][e.key as usize] = e.on;
    }
    if playing {
        assert_eq!(
            c.sounding(),
            0,
            "seed {seed}: notes left sounding at the end"
        );
    }
    eprintln!("fuzz seed {seed}: {} generated notes", c.generated_ons);
    c.generated_ons
}

#[test]
fn fuzzed_sessions_keep_every_invariant() {
    if let Some(seed) = std::env::var("CADENZA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let calls = std::env::var("CADENZA_FUZZ_CALLS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2_500);
        fuzz(seed, calls);
        return;
    }
    let notes: u64 = (1..=4).map(|seed| fuzz(seed, 5_000)).sum();
    // The invariants about notes mean something only if notes were played. (5,000 calls a seed and 25
    // notes: the two-stream models play far less under this automation than v5 did, 51 notes in 2,500
    // calls of seed 1 alone; cadenza-base-v7 74 here, v6 17 in 10,000 calls before the calls were
    // doubled. Odd seeds run in real time, so the count varies.)
    assert!(
        notes >= 25,
        "only {notes} generated notes in 20,000 calls: the note paths were hardly exercised"
    );
}
