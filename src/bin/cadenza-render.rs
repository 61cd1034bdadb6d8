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

use cadenza::host::{BlockLog, ClapHost, PlayedNote, Session, PLAYER_CHANNEL};
use cadenza::midi_file::{read_notes, write_notes, BeatNote};

struct Args {
    plugin: PathBuf,
    bars: f64,
    tempo: f64,
    prompt: Option<PathBuf>,
    out: PathBuf,
    block: u32,
    sample_rate: f64,
    offline: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        plugin: PathBuf::from("target/bundled/Cadenza.clap"),
        bars: 8.0,
        tempo: 120.0,
        prompt: None,
        out: PathBuf::from("render-out/cadenza.mid"),
        block: 512,
        sample_rate: 48_000.0,
        offline: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |s: String| s.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--plugin" => a.plugin = val()?.into(),
            "--bars" => a.bars = num(val()?)?,
            "--tempo" => a.tempo = num(val()?)?,
            "--prompt" => a.prompt = Some(val()?.into()),
            "--out" => a.out = val()?.into(),
            "--block" => a.block = num(val()?)? as u32,
            "--sample-rate" => a.sample_rate = num(val()?)?,
            "--offline" => a.offline = true,
            "-h" | "--help" => return Err("usage: cadenza-render --plugin Cadenza.clap [--bars N] [--tempo BPM] [--prompt in.mid] [--out out.mid] [--block N] [--sample-rate HZ] [--offline]".into()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !(a.tempo > 0.0 && a.bars > 0.0 && a.block > 0 && a.sample_rate > 0.0) {
        return Err("tempo, bars, block and sample rate must be positive".into());
    }
    Ok(a)
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
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
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
    };
    let result = (|| -> Result<_, String> {
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
