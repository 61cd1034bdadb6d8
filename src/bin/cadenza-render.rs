//! Headless render: load the built Cadenza.clap in a small CLAP host, roll the transport for some bars
//! (optionally playing a MIDI prompt into it), and write what came out to a .mid file.
//!
//!     cadenza-render --plugin target/bundled/Cadenza.clap [--bars 8] [--tempo 120]
//!                    [--prompt in.mid] [--out render-out/cadenza.mid] [--block 512] [--sample-rate 48000]
//!                    [--offline]
//!
//! By default the host plays in real time, as an audio interface would; `--offline` renders as a
//! DAW's bounce does (CLAP render mode offline: as fast as the engine plans, the same notes for the
//! same seed every time).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use cadenza::host::{BlockLog, ClapHost, PlayedNote, Session, PLAYER_CHANNEL};
use cadenza::midi_file::{read_notes, write_notes, BeatNote};

/// Roll a headless CLAP host through the built Cadenza.clap and write what it played to a .mid file.
#[derive(Parser)]
#[command(name = "cadenza-render")]
struct Args {
    /// The built plugin.
    #[arg(long, default_value = "target/bundled/Cadenza.clap")]
    plugin: PathBuf,
    /// Bars of 4/4 with the transport rolling.
    #[arg(long, default_value_t = 8.0, value_parser = positive)]
    bars: f64,
    /// The host's tempo.
    #[arg(long, value_name = "BPM", default_value_t = 120.0, value_parser = positive)]
    tempo: f64,
    /// A clip played into Cadenza as if live, from the transport start.
    #[arg(long, value_name = "FILE.mid")]
    prompt: Option<PathBuf>,
    /// Where the played notes go.
    #[arg(long, default_value = "render-out/cadenza.mid")]
    out: PathBuf,
    /// Frames per process() call.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    block: u32,
    /// The host's sample rate.
    #[arg(long, value_name = "HZ", default_value_t = 48_000.0, value_parser = positive)]
    sample_rate: f64,
    /// Render as a DAW's bounce does (CLAP render mode offline).
    #[arg(long)]
    offline: bool,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} must be positive")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

/// Pair note-ons and note-offs of one channel into notes, in beats from the transport start.
fn notes_of(logs: &[BlockLog], channel: u8, preroll: u64, samples_per_beat: f64) -> Vec<BeatNote> {
    let mut open: [Option<(f64, f64)>; 128] = [None; 128];
    let mut out = Vec::new();
    for b in logs {
        for e in b.events.iter().filter(|e| e.channel == channel) {
            let beat =
                (b.sample + u64::from(e.time)).saturating_sub(preroll) as f64 / samples_per_beat;
            let k = e.key as usize & 127;
            if let Some((start, vel)) = open[k].take() {
                out.push(BeatNote {
                    beat: start,
                    length: (beat - start).max(1e-3),
                    pitch: e.key,
                    velocity: cadenza::midi_file::midi_velocity(vel),
                });
            }
            if e.on {
                open[k] = Some((beat, e.velocity));
            }
        }
    }
    out
}

fn main() -> ExitCode {
    let args = Args::parse();
    let beats = args.bars * 4.0;
    let played: Vec<PlayedNote> = match &args.prompt {
        None => Vec::new(),
        Some(p) => match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| read_notes(&b).map_err(|e| e.to_string()))
        {
            Ok(notes) => notes
                .into_iter()
                .filter(|n| n.beat < beats)
                .map(|n| PlayedNote {
                    beat: n.beat,
                    length: n.length,
                    key: n.pitch,
                    velocity: f64::from(n.velocity) / 127.0,
                })
                .collect(),
            Err(e) => {
                eprintln!("prompt {}: {e}", p.display());
                return ExitCode::from(1);
            }
        },
    };
    let session = Session {
        sample_rate: args.sample_rate,
        block: args.block,
        tempo: args.tempo,
        preroll_seconds: 1.5,
        beats,
        postroll_seconds: 0.2,
        played,
        realtime: !args.offline,
        loop_beats: None,
    };
    let result = (|| -> Result<_, cadenza::host::HostError> {
        let mut host = ClapHost::load(&args.plugin)?;
        host.set_render_offline(args.offline)?;
        host.activate(args.sample_rate, args.block)?;
        if args.offline {
            eprintln!(
                "rendering {} bars at {} BPM (offline)…",
                args.bars, args.tempo
            );
        } else {
            eprintln!(
                "rendering {} bars at {} BPM (real time, {:.1} s)…",
                args.bars,
                args.tempo,
                beats * 60.0 / args.tempo + 1.7
            );
        }
        let logs = session.run(&mut host)?;
        host.deactivate();
        Ok(logs)
    })();
    let logs = match result {
        Ok(l) => l,
        Err(e) => {
            eprintln!("render failed: {e}");
            return ExitCode::from(1);
        }
    };
    let spb = args.sample_rate * 60.0 / args.tempo;
    let preroll = (session.preroll_seconds * args.sample_rate) as u64;
    let generated = notes_of(&logs, 0, preroll, spb);
    let player = notes_of(&logs, PLAYER_CHANNEL, preroll, spb);
    let bytes = write_notes(
        args.tempo,
        &[
            ("Cadenza", &generated, 0),
            ("Player", &player, PLAYER_CHANNEL),
        ],
    );
    if let Some(dir) = args.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&args.out, bytes) {
        eprintln!("writing {}: {e}", args.out.display());
        return ExitCode::from(1);
    }
    println!(
        "wrote {}: {} generated notes, {} played notes",
        args.out.display(),
        generated.len(),
        player.len()
    );
    if generated.is_empty() {
        eprintln!("Cadenza generated no notes: see the log above (NICE_LOG=stderr) for the engine's state");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
