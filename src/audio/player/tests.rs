//! The audio thread's policy without a host: each cut, the panic (switch and button), the bypass,
//! the capture, a call silencing the answer, the voice, and a host that refuses events.

use std::sync::atomic::Ordering;

use super::*;
use crate::bridge::{EngineSide, Generated};
use crate::requests::Request;
use crate::settings::{Role, Scale, Settings};

const SR: f64 = 48_000.0;
const FRAMES: u32 = 512;
/// Beats per block at 120 BPM.
const BLOCK: f64 = FRAMES as f64 / SR * 2.0;

/// A host event for the tests: a note, or something else (a controller, say).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ev {
    timing: u32,
    note: Option<Note>,
}

impl HostEvent for Ev {
    fn timing(&self) -> u32 {
        self.timing
    }
    fn note(&self) -> Option<Note> {
        self.note
    }
}

/// The transport rolling at 120 BPM from `beat`, a block of `frames`.
fn rolling(beat: f64, frames: u32) -> TransportIn {
    TransportIn {
        playing: true,
        pos_beats: Some(beat),
        tempo: Some(120.0),
        sample_rate: SR,
        frames,
    }
}

fn key(timing: u32, pitch: u8, on: bool) -> Ev {
    Ev {
        timing,
        note: Some(Note {
            pitch,
            velocity: if on { 0.8 } else { 0.0 },
            on,
        }),
    }
}

/// A player with the engine's end of the bridge in the test's hand, playing from beat 0.
struct Rig {
    player: Player<Ev>,
    engine: EngineSide,
    shared: Shared,
    block: u32,
    /// The epoch of the engine's last resync.
    epoch: u32,
    /// Whether the host takes events.
    host_takes: bool,
    left: Vec<f32>,
    right: Vec<f32>,
}

/// What one block did.
#[derive(Debug, Default)]
struct Out {
    events: Vec<OutEvent<Ev>>,
    /// What the engine received.
    to_engine: Vec<ToEngine>,
}

impl Out {
    fn offs(&self) -> Vec<u8> {
        let mut offs: Vec<u8> = (self.events.iter())
            .filter_map(|e| match *e {
                OutEvent::Off { pitch, .. } => Some(pitch),
                _ => None,
            })
            .collect();
        offs.sort_unstable();
        offs
    }
    fn ons(&self) -> Vec<u8> {
        (self.events.iter())
            .filter_map(|e| match *e {
                OutEvent::On { pitch, .. } => Some(pitch),
                _ => None,
            })
            .collect()
    }
    fn passed(&self) -> usize {
        (self.events.iter())
            .filter(|e| matches!(e, OutEvent::Pass(_)))
            .count()
    }
    fn resyncs(&self) -> usize {
        (self.to_engine.iter())
            .filter(|m| matches!(m, ToEngine::Resync { .. }))
            .count()
    }
    fn played(&self) -> usize {
        (self.to_engine.iter())
            .filter(|m| matches!(m, ToEngine::Played { .. }))
            .count()
    }
}

impl Rig {
    fn new() -> Self {
        let shared = Shared {
            requests: Default::default(),
            monitor: Default::default(),
            status: Default::default(),
        };
        let mut player = Player::new(shared.clone());
        let engine = player.activate(false, SR);
        Self {
            player,
            engine,
            shared,
            block: 0,
            epoch: 0,
            host_takes: true,
            left: vec![0.0; FRAMES as usize],
            right: vec![0.0; FRAMES as usize],
        }
    }

    fn beat(&self) -> f64 {
        f64::from(self.block) * BLOCK
    }

    /// One block of `controls` with the host's `events`.
    fn block(&mut self, controls: Controls, events: &[Ev]) -> Out {
        let transport = rolling(self.beat(), FRAMES);
        self.player.begin(transport, Bars::default(), controls);
        for &ev in events {
            self.player.heard(ev);
        }
        let mut out = Out::default();
        let takes = self.host_takes;
        let mut channels = [&mut self.left[..], &mut self.right[..]];
        self.player.finish(
            &mut channels,
            |_| 1.0,
            |ev| {
                out.events.push(ev);
                takes
            },
        );
        while let Some(m) = self.engine.receive() {
            if let ToEngine::Resync { epoch, .. } = m {
                self.epoch = epoch;
            }
            out.to_engine.push(m);
        }
        self.block += 1;
        out
    }

    /// The engine plans `pitch` on in the next block (and off far later).
    fn plan(&mut self, pitch: u8) {
        let beat = self.beat() + BLOCK / 2.0;
        for (beat, on) in [(beat, true), (beat + 16.0, false)] {
            self.engine.send(Generated {
                epoch: self.epoch,
                plan: 0,
                beat,
                pitch,
                velocity: 0.8,
                on,
            });
        }
    }

    /// Cadenza sounding `pitch` after a first block, under `controls`.
    fn sounding(controls: Controls, pitch: u8) -> Self {
        let mut rig = Self::new();
        rig.block(controls, &[]);
        rig.plan(pitch);
        assert_eq!(rig.block(controls, &[]).ons(), [pitch]);
        rig
    }

    fn loudness(&self) -> f32 {
        self.left.iter().chain(&self.right).map(|x| x.abs()).sum()
    }
}

#[test]
fn each_setting_that_changes_what_is_played_ends_cadenzas_notes_and_replans() {
    let base = Controls::default();
    let with = |f: fn(&mut Settings)| {
        let mut c = base;
        f(&mut c.settings);
        c
    };
    let cuts: [(&str, Controls); 6] = [
        ("style", with(|s| s.style = 2)),
        ("role", with(|s| s.role = Role::Bass)),
        ("mode", with(|s| s.mode = Mode::Improvise)),
        ("lowest note", with(|s| s.low = 40)),
        ("highest note", with(|s| s.high = 90)),
        ("channel", Controls { channel: 3, ..base }),
    ];
    for (what, changed) in cuts {
        let mut rig = Rig::sounding(base, 60);
        let out = rig.block(changed, &[]);
        assert_eq!(out.offs(), [60], "{what}");
        assert_eq!(out.resyncs(), 1, "{what}");
        assert_eq!(rig.player.scheduler().sounding_count(), 0, "{what}");
        // Once: the next block with the same controls cuts nothing.
        assert_eq!(rig.block(changed, &[]).resyncs(), 0, "{what}");
    }
    // A model load cuts too.
    let mut rig = Rig::sounding(base, 60);
    rig.shared.requests.ask(Request::Model);
    assert_eq!(rig.block(base, &[]).offs(), [60]);
    // Settings that shape what comes next cut nothing.
    for (what, changed) in [
        ("temperature", with(|s| s.temperature = 1.5)),
        ("density", with(|s| s.density = 0.5)),
        ("scale", with(|s| s.scale = Scale::Blues)),
        ("seed", with(|s| s.seed = 9)),
    ] {
        let mut rig = Rig::sounding(base, 60);
        let out = rig.block(changed, &[]);
        assert!(out.offs().is_empty(), "{what}: {:?}", out.events);
        assert_eq!(out.resyncs(), 0, "{what}");
        assert_eq!(rig.player.scheduler().sounding_count(), 1, "{what}");
    }
}

#[test]
fn panic_ends_every_key_on_cadenzas_channel_once_per_press() {
    let base = Controls {
        channel: 5,
        ..Controls::default()
    };
    let pressed = Controls {
        panic: true,
        ..base
    };
    let every_key: Vec<u8> = {
        // Cadenza's own note, then all 128 keys.
        let mut v: Vec<u8> = (0..128).collect();
        v.push(60);
        v.sort_unstable();
        v
    };
    // The switch.
    let mut rig = Rig::sounding(base, 60);
    let out = rig.block(pressed, &[]);
    assert_eq!(out.offs(), every_key);
    assert!(out.events.iter().all(|e| match *e {
        OutEvent::Off {
            channel, timing, ..
        } => channel == 5 && timing == 0,
        _ => false,
    }));
    assert_eq!(out.resyncs(), 1);
    // Held: nothing more; released and pressed again: again.
    assert!(rig.block(pressed, &[]).offs().is_empty());
    assert!(rig.block(base, &[]).offs().is_empty());
    assert_eq!(rig.block(pressed, &[]).offs().len(), 128);
    // The editor's button.
    let mut rig = Rig::sounding(base, 60);
    rig.shared.requests.ask(Request::Panic);
    assert_eq!(rig.block(base, &[]).offs(), every_key);
    assert!(rig.block(base, &[]).offs().is_empty());
}

#[test]
fn bypass_ends_cadenzas_notes_hears_nothing_and_passes_the_player_through() {
    let base = Controls {
        pass_through: false,
        voice: true,
        ..Controls::default()
    };
    let bypassed = Controls {
        bypass: true,
        ..base
    };
    let mut rig = Rig::sounding(base, 60);
    let played = [key(10, 64, true), key(100, 64, false)];
    let out = rig.block(bypassed, &played);
    assert_eq!(out.offs(), [60]);
    assert_eq!(out.resyncs(), 1);
    // The player's notes pass through (pass-through is off, but a bypassed plugin passes MIDI), and
    // the engine hears none of them.
    assert_eq!(out.passed(), 2);
    assert_eq!(out.played(), 0);
    // The engine's plan is drained, not played; the voice is silent.
    rig.plan(62);
    let out = rig.block(bypassed, &[]);
    assert!(out.ons().is_empty(), "{:?}", out.events);
    assert_eq!(rig.loudness(), 0.0);
    // Back on: the engine hears the player again.
    let out = rig.block(base, &played);
    assert_eq!((out.played(), out.passed()), (2, 0));
}

#[test]
fn capture_asks_the_engine_once_per_press() {
    let base = Controls::default();
    let pressed = Controls {
        capture: true,
        ..base
    };
    let mut rig = Rig::new();
    let asked = |rig: &Rig| rig.shared.requests.count(Request::Capture);
    rig.block(base, &[]);
    assert_eq!(asked(&rig), 0);
    rig.block(pressed, &[]);
    rig.block(pressed, &[]);
    assert_eq!(asked(&rig), 1);
    rig.block(base, &[]);
    rig.block(pressed, &[]);
    assert_eq!(asked(&rig), 2);
}

#[test]
fn the_engine_gets_the_blocks_settings_and_clock_and_a_bounce_plans_over_the_whole_block() {
    let mut c = Controls::default();
    c.settings.seed = 42;
    c.settings.lookahead_beats = 0.25;
    let mut rig = Rig::new();
    rig.block(c, &[]);
    assert_eq!(rig.engine.settings(), c.settings);
    let clock = rig.engine.clock();
    assert_eq!((clock.playhead, clock.open_from), (0.0, BLOCK));
    assert_eq!(rig.shared.monitor.clock.load(), clock);
    // A bounce: the engine plans from the block's start, at least over the whole block.
    let mut bounce: Player<Ev> = Player::new(rig.shared.clone());
    let mut engine = bounce.activate(true, SR);
    engine.set_phase(crate::bridge::Phase::Down);
    let transport = rolling(1.0, 4096);
    bounce.begin(transport, Bars::default(), c);
    let block = 4096.0 / SR * 2.0;
    assert!((engine.settings().lookahead_beats - (block + 0.25)).abs() < 1e-9);
    assert_eq!(engine.clock().open_from, 1.0);
}

#[test]
fn a_call_silences_the_answer_on_its_sample_and_the_engine_hears_it() {
    let mut c = Controls::default();
    c.settings.mode = Mode::CallResponse;
    let mut rig = Rig::sounding(c, 72);
    let out = rig.block(c, &[key(200, 60, true)]);
    let off = out.events.iter().find_map(|e| match *e {
        OutEvent::Off {
            pitch: 72, timing, ..
        } => Some(timing),
        _ => None,
    });
    assert_eq!(off, Some(200));
    assert_eq!(out.played(), 1);
    // In a duet the player's note ends nothing of Cadenza's.
    let mut d = Controls::default();
    d.settings.mode = Mode::Duet;
    let mut rig = Rig::sounding(d, 72);
    assert!(rig.block(d, &[key(200, 60, true)]).offs().is_empty());
}

#[test]
fn the_voice_sounds_cadenza_and_the_player_only_when_asked() {
    let quiet = Controls::default();
    let voice = Controls {
        voice: true,
        ..quiet
    };
    let both = Controls {
        voice_player: true,
        ..voice
    };
    // Cadenza's note, voice off: silence, and every channel zeroed.
    let mut rig = Rig::sounding(quiet, 60);
    rig.left.fill(1.0);
    rig.block(quiet, &[]);
    assert_eq!(rig.loudness(), 0.0);
    // Voice on: a note Cadenza starts is heard, and goes on sounding.
    let mut rig = Rig::sounding(voice, 60);
    assert!(rig.loudness() > 0.0);
    rig.block(voice, &[]);
    assert!(rig.loudness() > 0.0);
    // The player's note alone: heard only with "voice the player" on.
    let mut rig = Rig::new();
    rig.block(voice, &[key(0, 64, true)]);
    assert_eq!(rig.loudness(), 0.0);
    assert_eq!(rig.player.voices(), 0);
    let mut rig = Rig::new();
    rig.block(both, &[key(0, 64, true)]);
    assert!(rig.loudness() > 0.0);
    // Its release ends it; turning the voice off silences what sounds.
    rig.block(both, &[key(0, 64, false)]);
    let mut rig = Rig::sounding(voice, 60);
    rig.block(quiet, &[]);
    assert_eq!(rig.player.voices(), 0);
}

#[test]
fn events_the_host_refuses_are_counted_and_marks_reach_the_monitor() {
    let c = Controls::default();
    let mut rig = Rig::new();
    rig.block(c, &[]);
    rig.plan(60);
    rig.host_takes = false;
    let out = rig.block(
        c,
        &[
            key(0, 64, true),
            Ev {
                timing: 3,
                note: None,
            },
        ],
    );
    // Cadenza's note and two passed events, all refused.
    assert_eq!((out.ons(), out.passed()), (vec![60], 2));
    assert_eq!(out.played(), 1);
    assert_eq!(rig.shared.status.dropped_to_host.load(Ordering::Relaxed), 3);
    let mut marks = Vec::new();
    rig.shared.monitor.heard.read(&mut marks);
    let who: Vec<(u8, Who)> = marks.iter().map(|m| (m.pitch, m.who)).collect();
    assert!(
        who.contains(&(64, Who::Player)) && who.contains(&(60, Who::Cadenza)),
        "{who:?}"
    );
}

#[test]
fn an_inactive_player_passes_midi_through_and_plays_nothing() {
    let mut player: Player<Ev> = Player::new(Shared {
        requests: Default::default(),
        monitor: Default::default(),
        status: Default::default(),
    });
    assert!(!player.is_active());
    let transport = rolling(0.0, FRAMES);
    player.begin(transport, Bars::default(), Controls::default());
    player.heard(key(5, 60, true));
    let mut events = Vec::new();
    player.finish(
        &mut [],
        |_| 1.0,
        |ev| {
            events.push(ev);
            true
        },
    );
    assert_eq!(events, [OutEvent::Pass(key(5, 60, true))]);
}

#[test]
fn bars_default_to_four_four_from_beat_zero() {
    assert_eq!(
        Bars::from_host(Some(6), Some(8), Some(3.0)),
        Bars {
            beats_per_bar: 3.0,
            bar_origin: 3.0,
            bar_number: None,
            loop_range: None,
        }
    );
    // The host's bar number and loop ride along; a loop with no length is none.
    let looping = Bars::default().with_song_position(Some(4), Some((16.0, 32.0)));
    assert_eq!(
        (looping.bar_number, looping.loop_range),
        (Some(4), Some((16.0, 32.0)))
    );
    assert_eq!(
        Bars::default()
            .with_song_position(None, Some((8.0, 8.0)))
            .loop_range,
        None
    );
    assert_eq!(
        Bars::from_host(Some(0), Some(4), Some(f64::NAN)),
        Bars::default()
    );
    assert_eq!(Bars::default().beats_per_bar, 4.0);
}
