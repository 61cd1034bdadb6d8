//! The audio thread's own work per block: the real Player, without a host.

use std::time::Instant;

/// The audio thread's own work per block, without a host: the real [`Player`] (as `process()` runs
/// it) places 16 generated events due in the block (8 note-ons, 8 note-offs of the previous block's
/// notes, as they arrive from the engine queue), marks them for the editor and hands them to the host,
/// first with the voice off, then with the voice rendering them on their samples into a stereo
/// buffer. nice-plug's wrapper and the parameter reads of a real process() come on top (the soak
/// measures the whole call through a CLAP host). Returns the per-block times in µs (voice off; voice
/// on) and the mean number of voices sounding.
///
/// [`Player`]: cadenza::audio::player::Player
pub fn audio_block_cost() -> (Vec<f64>, Vec<f64>, usize) {
    use cadenza::audio::player::{Bars, Controls, HostEvent, Note, Player, Shared};
    use cadenza::audio::scheduler::TransportIn;
    use cadenza::bridge::{Generated, ToEngine};
    const FRAMES: u32 = 128;
    const SR: f64 = 48_000.0;
    /// The host's events: none in this measure.
    #[derive(Clone, Copy)]
    struct NoEvent;
    impl HostEvent for NoEvent {
        fn timing(&self) -> u32 {
            0
        }
        fn note(&self) -> Option<Note> {
            None
        }
    }
    let block_beats = f64::from(FRAMES) / SR * 2.0; // 120 BPM
    let run = |voice: bool| {
        let mut player: Player<NoEvent> = Player::new(Shared {
            requests: Default::default(),
            monitor: Default::default(),
            status: Default::default(),
        });
        let mut engine = player.activate(false, SR);
        let controls = Controls {
            voice,
            ..Controls::default()
        };
        let (mut left, mut right) = (vec![0f32; FRAMES as usize], vec![0f32; FRAMES as usize]);
        let mut times = Vec::new();
        let mut voices = 0usize;
        let mut epoch = 0;
        let blocks = 20_000u32;
        for b in 0..blocks {
            let start = f64::from(b) * block_beats;
            let t = TransportIn {
                playing: true,
                pos_beats: Some(start),
                tempo: Some(120.0),
                sample_rate: SR,
                frames: FRAMES,
            };
            // Queued untimed: what the engine would have sent for this block.
            let base = 36 + (b % 5) as u8 * 8;
            let prev = 36 + ((b + 4) % 5) as u8 * 8;
            for i in 0..8u8 {
                let at = |k: u8| start + block_beats * f64::from(k) / 16.0;
                for (beat, pitch, velocity, on) in [
                    (at(2 * i + 1), prev + i, 0.0, false),
                    (at(2 * i), base + i, 0.7, true),
                ] {
                    engine.send(Generated {
                        epoch,
                        plan: 0,
                        beat,
                        pitch,
                        velocity,
                        on,
                    });
                }
            }
            let t0 = Instant::now();
            player.begin(t, Bars::default(), controls);
            let mut sent = 0usize;
            player.finish(
                &mut [&mut left[..], &mut right[..]],
                |_| 0.25,
                |ev| {
                    sent += 1;
                    std::hint::black_box(ev);
                    true
                },
            );
            times.push(t0.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box((&left, &right, sent));
            voices += player.voices();
            // The first block opens the timeline's epoch: the engine stamps its notes with it.
            while let Some(m) = engine.receive() {
                if let ToEngine::Resync { epoch: e, .. } = m {
                    epoch = e;
                }
            }
        }
        (times, voices / blocks as usize)
    };
    let (quiet, _) = run(false);
    let (voiced, voices) = run(true);
    (quiet, voiced, voices)
}
