//! A soak benchmark (not a test): a long simulated session through the built Cadenza.clap, paced in
//! real time at small blocks, with a player playing, and a report of what a musician would feel:
//! audio-thread process() cost against the block's deadline, deadline misses, and (from the plugin's
//! own log) the engine's step times and dropped events.
//!
//!     cadenza-soak --plugin target/bundled/Cadenza.clap [--minutes 10] [--block 64] [--sample-rate 48000]
//!                  [--events N] [--no-voice] [--unpaced] [--realtime] [--spin]
//!
//! The player plays a note every beat or two; with `--events N` (even) the player instead sends N
//! events in every block (N/2 note-ons spread over the block, and the note-offs of the previous
//! block's notes): the "16 pending events per 128-frame block" load, far more than anyone plays.
//! With `--realtime` the simulated audio thread runs as a DAW's does, under SCHED_FIFO (priority 70,
//! 50 µs timer slack), set after the plugin started its engine thread so that one keeps its ordinary
//! priority; without the right to (CAP_SYS_NICE or an rtprio limit) the soak stops and says so.
//! `--spin` paces by spinning instead of sleeping (no host does that: a diagnostic, keeping the core and
//! its caches to this thread between blocks, to tell a cold wake-up from work in the call).

use std::time::{Duration, Instant};

use clap::Parser;

use cadenza::host::{ClapHost, NoteIn, Transport};

/// A long simulated session through the built Cadenza.clap, paced in real time (a benchmark).
#[derive(Parser)]
#[command(name = "cadenza-soak")]
struct Args {
    /// The built plugin.
    #[arg(long, default_value = "target/bundled/Cadenza.clap")]
    plugin: std::path::PathBuf,
    /// Length of the session.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Frames per process() call.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    block: u32,
    /// The host's sample rate.
    #[arg(long, default_value_t = 48_000.0)]
    sample_rate: f64,
    /// Events the player sends in every block (even; 0: a note every beat or two).
    #[arg(long, default_value_t = 0)]
    events: u32,
    /// MIDI only: the built-in voice off.
    #[arg(long)]
    no_voice: bool,
    /// Blocks back to back, no sleep between them.
    #[arg(long)]
    unpaced: bool,
    /// The simulated audio thread under SCHED_FIFO, as a DAW's.
    #[arg(long)]
    realtime: bool,
    /// Pace by spinning instead of sleeping (a diagnostic).
    #[arg(long)]
    spin: bool,
}

fn main() {
    let args = Args::parse();
    let (plugin, minutes, block, sr, events) = (
        args.plugin,
        args.minutes,
        args.block,
        args.sample_rate,
        args.events,
    );
    let voice = !args.no_voice;
    // Back to back, no sleep between blocks: the call's own cost with the thread kept warm (the
    // engine then falls behind the faster-than-real-time clock; only the process() figures count).
    let paced = !args.unpaced;
    let (realtime, spin) = (args.realtime, args.spin);
    let log = std::env::temp_dir().join(format!("cadenza-soak-{}.log", std::process::id()));
    // SAFETY: (set_var) before the plugin (and any thread) starts.
    unsafe { std::env::set_var("NICE_LOG", &log) };
    let mut host = ClapHost::load(&plugin).unwrap_or_else(|e| die(&e));
    if !voice {
        // MIDI only: the built-in voice off, as on a track that plays Cadenza through another instrument.
        host.set_param("voice", 0, 0.0);
    }
    host.activate(sr, block).unwrap_or_else(|e| die(&e));
    std::thread::sleep(Duration::from_millis(500)); // the engine loads
    if realtime {
        if let Err(e) = audio_thread_priority() {
            die(&format!("--realtime: {e}"));
        }
    }

    let tempo = 120.0;
    let spb = sr * 60.0 / tempo;
    let deadline = Duration::from_secs_f64(f64::from(block) / sr);
    let total = (minutes * 60.0 * sr) as u64;
    let mut costs: Vec<f64> = Vec::with_capacity((total / u64::from(block)) as usize + 1);
    let (mut misses, mut late_wakeups, mut generated) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    let mut sample = 0u64;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut held: Option<(u8, u64)> = None;
    while sample < total {
        let beat = sample as f64 / spb;
        // The player: a note every beat or two, held a while, in bursts with pauses.
        let mut notes = Vec::new();
        if events > 0 {
            // A flood: the previous block's keys released at the block's start, new ones spread over it.
            let half = events / 2;
            let first_key = 48 + (sample / u64::from(block) % 2) as u8 * half as u8;
            let last_key = 48 + ((sample / u64::from(block) + 1) % 2) as u8 * half as u8;
            for i in 0..half {
                notes.push(NoteIn {
                    time: 0,
                    on: false,
                    key: last_key + i as u8,
                    velocity: 0.0,
                });
            }
            for i in 0..half {
                notes.push(NoteIn {
                    time: (i * block / half.max(1)).min(block - 1),
                    on: true,
                    key: first_key + i as u8,
                    velocity: 0.7,
                });
            }
        } else if let Some((key, until)) = held {
            if sample + u64::from(block) > until {
                notes.push(NoteIn {
                    time: (until.saturating_sub(sample)).min(u64::from(block - 1)) as u32,
                    on: false,
                    key,
                    velocity: 0.0,
                });
                held = None;
            }
        } else {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if rng.is_multiple_of(1500) {
                let key = 55 + (rng >> 20) as u8 % 24;
                notes.push(NoteIn {
                    time: 0,
                    on: true,
                    key,
                    velocity: 0.7,
                });
                held = Some((key, sample + (spb * 0.5) as u64));
            }
        }
        let t0 = Instant::now();
        let out = host
            .process(block, Transport::at(true, beat, tempo), &notes)
            .unwrap_or_else(|e| die(&e));
        let cost = t0.elapsed();
        costs.push(cost.as_secs_f64() * 1e6);
        if cost > deadline {
            misses += 1;
        }
        generated += out
            .iter()
            .filter(|e| e.channel != cadenza::host::PLAYER_CHANNEL && e.on)
            .count() as u64;
        sample += u64::from(block);
        let due = Duration::from_secs_f64(sample as f64 / sr);
        match due.checked_sub(started.elapsed()) {
            Some(_) if paced && spin => {
                while started.elapsed() < due {
                    std::hint::spin_loop();
                }
            }
            Some(w) if paced => std::thread::sleep(w),
            Some(_) => {}
            None => late_wakeups += 1,
        }
    }
    host.deactivate();
    drop(host);
    costs.sort_by(f64::total_cmp);
    let pct = |q: f64| costs[((costs.len() as f64 * q) as usize).min(costs.len() - 1)];
    let engine = std::fs::read_to_string(&log)
        .ok()
        .and_then(|l| {
            l.lines()
                .rev()
                .find(|l| l.contains("Cadenza engine stopped"))
                .map(|l| l.split("stopped: ").nth(1).unwrap_or(l).to_string())
        })
        .unwrap_or_else(|| "(no engine summary in the log)".into());
    let player = if events > 0 {
        format!("the player sending {events} events every block")
    } else {
        "a player playing".to_string()
    };
    let player = if voice {
        player
    } else {
        format!("{player}, voice off (MIDI only)")
    };
    let player = if paced {
        player
    } else {
        format!("{player}, unpaced (blocks back to back)")
    };
    let player = if realtime {
        format!("{player}, audio thread SCHED_FIFO")
    } else {
        player
    };
    let player = if spin {
        format!("{player}, paced by spinning (not sleeping)")
    } else {
        player
    };
    println!("| soak: {minutes} min at {block}-frame blocks, {sr} Hz, 120 BPM, {player} | value |");
    println!("|---|---|");
    println!("| process() per block, median | {:.1} µs |", pct(0.5));
    println!("| process() per block, p99 | {:.1} µs |", pct(0.99));
    println!(
        "| process() per block, worst | {:.1} µs |",
        costs[costs.len() - 1]
    );
    println!(
        "| blocks over their deadline ({:.0} µs) | {misses} of {} |",
        deadline.as_secs_f64() * 1e6,
        costs.len()
    );
    println!("| host wake-ups late (the simulation's own scheduling) | {late_wakeups} |");
    println!("| Cadenza notes played | {generated} |");
    println!("| engine (from the plugin's log) | {engine} |");
    let _ = std::fs::remove_file(&log);
}

/// Real-time priority for the simulated audio thread: Linux only (the soak is measured there).
#[cfg(not(target_os = "linux"))]
fn audio_thread_priority() -> Result<(), String> {
    Err("real-time priority is set on Linux only".into())
}

/// This thread (the simulated audio thread) to SCHED_FIFO priority 70, as hosts run theirs (JACK's
/// default is 70 or so), with 50 µs timer slack so its sleep ends when due.
#[cfg(target_os = "linux")]
fn audio_thread_priority() -> Result<(), String> {
    let param = libc::sched_param { sched_priority: 70 };
    // SAFETY: plain syscalls on the calling thread (pid 0), with a valid, initialised sched_param.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        return Err(format!(
            "SCHED_FIFO refused ({}); run as a user with an rtprio limit or CAP_SYS_NICE",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: prctl with an integer argument only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 50_000u64) };
    Ok(())
}

fn die(msg: &dyn std::fmt::Display) -> ! {
    eprintln!("cadenza-soak: {msg}");
    std::process::exit(2)
}
