//! Plays the musicianship benchmark's cases through the real plugin (the bundled `.clap`, in the
//! project's CLAP host) and writes what Cadenza played. The music is measured elsewhere: the cases
//! come from, and the takes go to, `python -m cadenza_model.cli.musicianship` (`cargo xtask
//! musicianship` runs all three). A case says what the player plays, the settings, the tempo, the
//! host's block sizes, and whether the host renders offline (a bounce: the same take every time) or
//! in real time (blocks paced to the wall clock, as an audio interface calls them).
//!
//! A take holds Cadenza's notes in beats, how far each note-on lies from the 1/24-beat grid in
//! samples, and what the engine's sampler mask took away from the model (the engine's log line at
//! deactivation).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cadenza::host::{state_with_field, ClapHost, PlayedNote, Session, PLAYER_CHANNEL};
use cadenza::midi_file::BeatNote;
use cadenza::prompt::Prompt;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

/// Seconds with the transport stopped before a case rolls (the engine loads meanwhile) and after.
const PREROLL_SECONDS: f64 = 1.0;
const POSTROLL_SECONDS: f64 = 0.5;

#[derive(Parser)]
#[command(about = "Play the musicianship benchmark's cases through the Cadenza plugin")]
struct Args {
    /// The Cadenza.clap to play.
    #[arg(long)]
    plugin: PathBuf,
    /// The cases (JSON, from `python -m cadenza_model.cli.musicianship cases`).
    #[arg(long)]
    cases: PathBuf,
    /// Where the takes go (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Sample rate of the host.
    #[arg(long, default_value_t = 48_000.0)]
    sample_rate: f64,
    /// Only the cases whose id contains this.
    #[arg(long)]
    only: Option<String>,
    /// How long to wait for the engine's mask line after each case (0 for a build that writes none).
    #[arg(long, default_value_t = 2.0)]
    mask_wait: f64,
}

/// One case, as the Python side writes it.
#[derive(Deserialize)]
struct Case {
    id: String,
    tempo: f64,
    /// Time signature numerator (quarter-note beats per bar; the host plays 4/4).
    beats_per_bar: u16,
    /// Beats with the transport rolling.
    beats: f64,
    /// What the player plays: [beat, length, key, velocity 0..1].
    player: Vec<[f64; 4]>,
    /// The prompt clip (Continue Clip): [beat, length, key, velocity 0..1]; empty for none.
    #[serde(default)]
    prompt: Vec<[f64; 4]>,
    /// CLAP parameter id -> plain value.
    params: BTreeMap<String, f64>,
    /// Frames per block; with `random_blocks`, the largest.
    block: u32,
    #[serde(default)]
    random_blocks: bool,
    #[serde(default)]
    realtime: bool,
    /// The chord track typed in the Chords field (saved with the project: the state field `chords`).
    #[serde(default)]
    chords: Option<String>,
    /// The host loops over these beats [start, end]; the player's notes and the take stay on the
    /// rolling time.
    #[serde(default)]
    loop_beats: Option<[f64; 2]>,
}

/// What the engine's mask took away (its log line at deactivation).
#[derive(Serialize, Default)]
struct Mask {
    steps: f64,
    mean: f64,
    max: f64,
    over_fifth: f64,
    player_keys: f64,
    leads: f64,
}

#[derive(Serialize)]
struct Take {
    id: String,
    /// Cadenza's notes: [beat, length, key, velocity 0..1].
    cadenza: Vec<[f64; 4]>,
    /// Per note-on, in order: how many samples it lies from the nearest 1/24-beat tick.
    off_grid_samples: Vec<f64>,
    /// The player's notes as they went in, for the picture: [beat, length, key, velocity].
    player: Vec<[f64; 4]>,
    mask: Option<Mask>,
}

fn main() {
    let a = Args::parse();
    let die = |m: String| -> ! {
        eprintln!("cadenza-musicianship: {m}");
        std::process::exit(2)
    };
    let text = std::fs::read_to_string(&a.cases)
        .unwrap_or_else(|e| die(format!("{}: {e}", a.cases.display())));
    let cases: Vec<Case> =
        serde_json::from_str(&text).unwrap_or_else(|e| die(format!("{}: {e}", a.cases.display())));
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| a.only.as_ref().is_none_or(|o| c.id.contains(o.as_str())))
        .collect();
    let log = std::env::temp_dir().join(format!("cadenza-musicianship-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    // SAFETY: (set_var) before the plugin (and any thread) starts.
    unsafe { std::env::set_var("NICE_LOG", &log) };
    let bar = ProgressBar::new(cases.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cases, {elapsed} ({eta} left) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut takes = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        bar.set_message(case.id.clone());
        let mut take = play(&a, case).unwrap_or_else(|e| die(format!("case {}: {e}", case.id)));
        // Each case's engine writes one mask line when it stops; the log may lag behind it.
        take.mask = read_mask(&log, i + 1, Duration::from_secs_f64(a.mask_wait));
        takes.push(take);
        bar.inc(1);
    }
    bar.finish();
    let json = serde_json::to_string(&takes).unwrap_or_else(|e| die(e.to_string()));
    std::fs::write(&a.out, json).unwrap_or_else(|e| die(format!("{}: {e}", a.out.display())));
    eprintln!(
        "cadenza-musicianship: {} takes in {}",
        takes.len(),
        a.out.display()
    );
}

/// Play one case on a fresh instance; deactivate it (the engine logs its mask line then).
fn play(a: &Args, case: &Case) -> Result<Take, Box<dyn std::error::Error>> {
    let sr = a.sample_rate;
    let mut host = ClapHost::load(&a.plugin)?;
    if !case.prompt.is_empty() {
        let prompt = Prompt {
            name: format!("{} clip", case.id),
            notes: case.prompt.iter().map(beat_note).collect(),
        };
        let state = state_with_field(&host.save_state()?, "prompt", &prompt);
        host.load_state(&state)?;
    }
    if let Some(chords) = &case.chords {
        let state = state_with_field(&host.save_state()?, "chords", chords);
        host.load_state(&state)?;
    }
    host.set_render_offline(!case.realtime)?;
    host.activate(sr, case.block)?;
    for (id, v) in &case.params {
        host.set_param(id, 0, *v);
    }
    if case.beats_per_bar != 4 {
        return Err(format!(
            "{} beats to the bar: the host plays 4/4 only",
            case.beats_per_bar
        )
        .into());
    }
    let session = Session {
        sample_rate: sr,
        block: case.block,
        tempo: case.tempo,
        preroll_seconds: PREROLL_SECONDS,
        beats: case.beats,
        postroll_seconds: POSTROLL_SECONDS,
        played: case.player.iter().map(played_note).collect(),
        realtime: case.realtime,
        loop_beats: case.loop_beats.map(|[a, b]| (a, b)),
    };
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ case.id.len() as u64;
    let max = case.block;
    let blocks = session.run_with_blocks(&mut host, || {
        if !case.random_blocks {
            return max;
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        32 + (rng % u64::from(max.saturating_sub(31).max(1))) as u32
    })?;
    host.deactivate();
    let mut out = Vec::new();
    for b in &blocks {
        for e in b.events.iter().filter(|e| e.channel != PLAYER_CHANNEL) {
            out.push((b.sample + u64::from(e.time), e.on, e.key, e.velocity));
        }
    }
    let pre = (PREROLL_SECONDS * sr) as u64;
    Ok(take_of(case, &out, pre, sr * 60.0 / case.tempo))
}

fn played_note(n: &[f64; 4]) -> PlayedNote {
    PlayedNote {
        beat: n[0],
        length: n[1],
        key: n[2] as u8,
        velocity: n[3],
    }
}

/// Pair Cadenza's events into notes (beats from the roll's start) and measure each onset's distance
/// from the tick grid.
fn take_of(case: &Case, out: &[(u64, bool, u8, f64)], pre: u64, spb: f64) -> Take {
    let spt = spb / 24.0; // samples per tick
    let mut open: [Option<(u64, f64)>; 128] = [None; 128];
    let mut notes = Vec::new();
    let mut off_grid = Vec::new();
    let beat_of = |s: u64| (s as f64 - pre as f64) / spb;
    for &(s, on, key, vel) in out {
        let k = key as usize % 128;
        if let Some((start, v)) = open[k].take() {
            notes.push([beat_of(start), (s - start) as f64 / spb, f64::from(key), v]);
        }
        if on {
            open[k] = Some((s, vel));
            let rel = s as f64 - pre as f64;
            off_grid.push((rel - (rel / spt).round() * spt).abs());
        }
    }
    notes.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[2].total_cmp(&b[2])));
    Take {
        id: case.id.clone(),
        cadenza: notes,
        off_grid_samples: off_grid,
        player: case.player.clone(),
        mask: None,
    }
}

fn beat_note(n: &[f64; 4]) -> BeatNote {
    BeatNote {
        beat: n[0],
        length: n[1],
        pitch: n[2] as u8,
        velocity: cadenza::midi_file::midi_velocity(n[3]),
    }
}

/// The `n`th "Cadenza engine mask:" line of the log, waiting up to `wait` for it.
fn read_mask(log: &PathBuf, n: usize, wait: Duration) -> Option<Mask> {
    let started = Instant::now();
    let line = loop {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(log) {
            let _ = f.read_to_string(&mut text);
        }
        let found = text
            .lines()
            .filter(|l| l.contains("Cadenza engine mask:"))
            .nth(n - 1)
            .map(str::to_string);
        match found {
            Some(l) => break l,
            None if started.elapsed() >= wait => return None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let rest = line.split("Cadenza engine mask:").nth(1)?;
    let nums: Vec<f64> = rest
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|w| w.parse().ok())
        .collect();
    match nums[..] {
        [steps, mean, max, over_fifth, player_keys, leads, ..] => Some(Mask {
            steps,
            mean,
            max,
            over_fifth,
            player_keys,
            leads,
        }),
        _ => None,
    }
}
