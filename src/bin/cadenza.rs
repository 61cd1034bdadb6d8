//! `cadenza`: Cadenza on the command line, with the plugin's own engine and model (no host needed).
//!
//!     cadenza generate [--style NAME] [--bars 8] [--tempo 120] [--seed 0] [--prompt in.mid]
//!                      [--chords "Eb Bb Cm Ab"] [--role free|melody|bass|harmony]
//!                      [--keep-prompt] [--out cadenza.mid]
//!                      [--model DIR] ...   (see `cadenza generate --help`)
//!     cadenza styles [--model DIR]
//!     cadenza info [--model DIR]
//!     cadenza chords FILE.mid [--time-sig 4/4]
//!
//! The command line is clap's (derive): each option's help, default and range are declared once,
//! beside the field they fill.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use cadenza::chords::ChordTrack;
use cadenza::midi_file::{write_notes, BeatNote};
use cadenza::model::{ModelSource, OnnxModel, ProviderChoice};
use cadenza::offline::{generate, ModelInfo, Request};
use cadenza::prompt::Prompt;
use cadenza::settings::{Role, Scale, Settings, KEY_NAMES};

#[derive(Parser)]
#[command(
    name = "cadenza",
    version,
    about = "Cadenza on the command line: the plugin's own engine and model, no host needed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a MIDI sketch: alone, continuing a clip, or playing a role against a part.
    Generate(Box<Generate>),
    /// The styles the model offers.
    Styles(ModelArgs),
    /// Model, execution provider, vocabulary, roles.
    Info(ModelArgs),
    /// The chords a MIDI file's part names, as the plugin's Learn Chords writes them (a chord track
    /// to edit and give to --chords or the Chords field): the progression it repeats, else its last
    /// bars.
    Chords(ChordsArgs),
}

#[derive(Args)]
struct ChordsArgs {
    /// The part (format 0 or 1, any channel but drums).
    #[arg(value_name = "FILE.mid")]
    file: PathBuf,
    /// Time signature.
    #[arg(long, value_name = "N/D", default_value = "4/4", value_parser = parse_time_sig)]
    time_sig: (u32, u32),
    /// Bars written when the part repeats no progression: its last this many.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(i64).range(1..=64))]
    bars: i64,
}

#[derive(Args)]
struct ModelArgs {
    /// A model.onnx (with model.json beside it) or its folder; default: the built-in model.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Where the model runs: auto (CUDA when it measures faster), cpu or cuda. CUDA asked for but
    /// unavailable runs on the CPU and says why.
    #[arg(long, value_name = "EP", default_value = "auto", value_parser = parse_provider)]
    ep: ProviderChoice,
    /// The same as --ep cpu.
    #[arg(long)]
    cpu: bool,
}

impl ModelArgs {
    fn source(&self) -> ModelSource {
        self.model
            .as_ref()
            .map_or(ModelSource::Embedded, ModelSource::from_path)
    }

    fn runs_on(&self) -> ProviderChoice {
        if self.cpu {
            ProviderChoice::Cpu
        } else {
            self.ep
        }
    }
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("prompt_or_chords").args(["prompt", "chords"]).multiple(true))]
struct Generate {
    #[command(flatten)]
    model: ModelArgs,
    /// Style by name or slot (default: the first).
    #[arg(long, value_name = "NAME|N")]
    style: Option<String>,
    /// Bars to generate.
    #[arg(long, value_name = "N", default_value_t = 8.0, value_parser = positive)]
    bars: f64,
    /// Tempo written to the file.
    #[arg(long, value_name = "BPM", default_value_t = 120.0, value_parser = positive)]
    tempo: f64,
    /// Time signature.
    #[arg(long, value_name = "N/D", default_value = "4/4", value_parser = parse_time_sig)]
    time_sig: (u32, u32),
    /// Sampling temperature (0.1..2 is useful).
    #[arg(long, value_name = "T", default_value_t = Settings::default().temperature,
          value_parser = parse_temperature)]
    temperature: f32,
    /// Nucleus sampling: the smallest set of tokens whose probability reaches P.
    #[arg(long, value_name = "P", default_value_t = Settings::default().top_p,
          value_parser = parse_top_p)]
    top_p: f32,
    /// Variation seed: the same seed gives the same sketch.
    #[arg(long, value_name = "N", default_value_t = Settings::default().seed)]
    seed: u32,
    /// Continue this clip (format 0 or 1, any channel but drums); with --role, the part Cadenza
    /// plays against instead (heard as if played live, in a duet).
    #[arg(long, value_name = "FILE.mid")]
    prompt: Option<PathBuf>,
    /// The part Cadenza plays against --prompt, or over --chords alone: free, melody, bass or
    /// harmony, as far as the model plays it (`cadenza info` lists its roles).
    #[arg(long, value_name = "NAME", value_parser = parse_role, requires = "prompt_or_chords")]
    role: Option<Role>,
    /// A chord track, as the plugin's Chords field takes it: chord symbols, a bar each ("Eb Bb Cm
    /// Ab"), or bars between bar lines ("| Cm7 F7 | Bbmaj7 |"), looping from bar 1. Without
    /// --prompt, with --role bass or harmony: a bass line or a comp for the progression.
    #[arg(long, value_name = "SYMBOLS", value_parser = parse_chords)]
    chords: Option<ChordTrack>,
    /// Free: how far Cadenza keeps to the chord track's chords on strong beats and changes, from
    /// the model's own choice (0) to chord tones only there (1).
    #[arg(long, value_name = "F", default_value_t = Settings::default().follow_chords,
          value_parser = parse_unit)]
    follow_chords: f32,
    /// Expect no chord but the chord track's: neither a progression the prompt repeats, nor what was
    /// heard before (the plugin's Remember Chords, off).
    #[arg(long)]
    forget_chords: bool,
    /// Put the prompt's notes in the output before the continuation.
    #[arg(long)]
    keep_prompt: bool,
    /// Scale lock: major, minor, dorian, blues, ... (default off).
    #[arg(long, value_name = "NAME", value_parser = parse_scale)]
    scale: Option<Scale>,
    /// Key of the scale (C, C#, ... B).
    #[arg(long, value_name = "NAME", default_value = "C", value_parser = parse_key)]
    key: u32,
    /// Lowest pitch, a MIDI note.
    #[arg(long, value_name = "N", default_value_t = Settings::default().low,
          value_parser = clap::value_parser!(u8).range(0..=127))]
    low: u8,
    /// Highest pitch, a MIDI note.
    #[arg(long, value_name = "N", default_value_t = Settings::default().high,
          value_parser = clap::value_parser!(u8).range(0..=127))]
    high: u8,
    /// Fewer (-1) or more (1) notes.
    #[arg(long, value_name = "D", default_value_t = Settings::default().density,
          value_parser = parse_density, allow_negative_numbers = true)]
    density: f32,
    /// Most of Cadenza's notes sounding at once (the plugin's Max Polyphony).
    #[arg(long, value_name = "N", default_value_t = Settings::default().max_polyphony,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    polyphony: u32,
    /// Longest note, in beats.
    #[arg(long, value_name = "BEATS", default_value_t = 8.0, value_parser = positive)]
    max_note: f64,
    /// Where to write.
    #[arg(long, value_name = "FILE.mid", default_value = "cadenza.mid")]
    out: PathBuf,
}

impl Generate {
    fn settings(&self) -> Settings {
        Settings {
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            scale: self.scale.unwrap_or(Scale::Off),
            key: self.key,
            low: self.low,
            high: self.high,
            density: self.density,
            max_polyphony: self.polyphony,
            role: self.role.unwrap_or(Role::Free),
            follow_chords: self.follow_chords,
            remember_chords: !self.forget_chords,
            ..Settings::default()
        }
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))
}

fn positive(s: &str) -> Result<f64, String> {
    let v: f64 = number(s)?;
    (v > 0.0 && v.is_finite())
        .then_some(v)
        .ok_or(format!("{v} must be positive"))
}

fn within(s: &str, lo: f32, hi: f32) -> Result<f32, String> {
    let v: f32 = number(s)?;
    (lo..=hi)
        .contains(&v)
        .then_some(v)
        .ok_or(format!("{v} is outside {lo}..{hi}"))
}

fn parse_temperature(s: &str) -> Result<f32, String> {
    let v: f32 = number(s)?;
    (v > 0.0 && v.is_finite())
        .then_some(v)
        .ok_or(format!("{v}: the temperature must be above 0"))
}

fn parse_top_p(s: &str) -> Result<f32, String> {
    within(s, 0.0, 1.0)
}

fn parse_density(s: &str) -> Result<f32, String> {
    within(s, -1.0, 1.0)
}

fn parse_unit(s: &str) -> Result<f32, String> {
    within(s, 0.0, 1.0)
}

fn parse_chords(s: &str) -> Result<ChordTrack, String> {
    match ChordTrack::parse(s) {
        Ok(t) if t.is_empty() => Err("no chords given".into()),
        Ok(t) => Ok(t),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_provider(s: &str) -> Result<ProviderChoice, String> {
    s.parse()
        .map_err(|e: cadenza::model::UnknownProvider| e.to_string())
}

fn parse_time_sig(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a time signature N/D, such as 3/4");
    let (n, d) = s.split_once('/').ok_or_else(bad)?;
    match (n.trim().parse::<u32>(), d.trim().parse::<u32>()) {
        (Ok(n), Ok(d)) if n > 0 && d > 0 => Ok((n, d)),
        _ => Err(bad()),
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or(format!(
        "unknown role `{s}`: one of free, melody, bass, harmony"
    ))
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    let plain = |n: &str| n.replace([' ', '-', '_'], "");
    Scale::NAMES
        .iter()
        .position(|n| plain(n).eq_ignore_ascii_case(&plain(s)))
        .map(|i| Scale::from_index(i as u32))
        .ok_or(format!(
            "unknown scale `{s}` (one of: {})",
            Scale::NAMES.join(", ")
        ))
}

fn parse_key(s: &str) -> Result<u32, String> {
    KEY_NAMES
        .iter()
        .position(|k| k.eq_ignore_ascii_case(s.trim()))
        .map(|i| i as u32)
        .ok_or(format!(
            "unknown key `{s}` (one of: {})",
            KEY_NAMES.join(", ")
        ))
}

fn load(m: &ModelArgs) -> Result<OnnxModel, String> {
    let (bytes, spec) = m.source().read().map_err(|e| e.to_string())?;
    OnnxModel::load(&bytes, spec, m.runs_on()).map_err(|e| e.to_string())
}

fn styles_cmd(m: &ModelArgs) -> Result<(), String> {
    let (_, spec) = m.source().read().map_err(|e| e.to_string())?;
    for (i, s) in spec.styles.iter().enumerate() {
        println!("{i}\t{s}");
    }
    Ok(())
}

fn info_cmd(m: &ModelArgs) -> Result<(), String> {
    let model = load(m)?;
    let s = &model.spec;
    let v = s.vocab();
    let (_, lib) = cadenza::runtime::environment().map_err(|e| e.to_string())?;
    println!(
        "model:        {} ({}, format {})",
        s.name, s.architecture, s.format_version
    );
    println!(
        "source:       {}",
        match m.source() {
            ModelSource::Embedded => "built in".to_string(),
            ModelSource::File(p) => p.display().to_string(),
        }
    );
    println!(
        "size:         d_model {}, {} layers, {} heads, attention window {} tokens",
        s.d_model, s.n_layer, s.n_head, s.window
    );
    println!("time:         {} ticks per beat", s.ticks_per_beat);
    println!("vocabulary:   {} tokens: pad {}, bos {}, eos {}, styles {}..{}, note-on {}.., note-off {}.., time-shift {}..{} (1..{} ticks)",
        v.size, v.pad, v.bos, v.eos, v.style_base, v.style_base + v.style_slots - 1, v.note_on_base, v.note_off_base,
        v.shift_base, v.shift_base + v.max_shift - 1, v.max_shift);
    println!("styles:       {}", s.styles.join(", "));
    println!("roles:        {}", s.roles_played().join(", "));
    for (style, roles) in s.styles.iter().zip(s.roles_by_slot()) {
        if roles != s.roles_played() {
            println!("              {style}: {}", roles.join(", "));
        }
    }
    if s.alone {
        println!(
            "alone:        knows when nobody else plays (a sketch, Improvise): sounds every part"
        );
    }
    println!("provider:     {}", model.provider);
    println!("onnxruntime:  {}", lib.display());
    Ok(())
}

fn generate_cmd(a: &Generate) -> Result<(), String> {
    if a.low > a.high {
        return Err(format!("--low {} is above --high {}", a.low, a.high));
    }
    let prompt = match &a.prompt {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let clip =
                Prompt::from_midi(&name, &bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            if clip.is_empty() {
                return Err(format!(
                    "{}: no notes to continue (drums on channel 10 are ignored)",
                    p.display()
                ));
            }
            Some(clip)
        }
        None => None,
    };
    let model = load(&a.model)?;
    let spec = model.spec.clone();
    let mut settings = a.settings();
    if let Some(style) = &a.style {
        settings.style = match style.parse::<u32>() {
            Ok(i) if (i as usize) < spec.styles.len() => i,
            _ => spec
                .styles
                .iter()
                .position(|s| s.eq_ignore_ascii_case(style))
                .ok_or(format!(
                    "unknown style `{style}`: this model has {}",
                    spec.styles.join(", ")
                ))? as u32,
        };
    }
    let style_name = spec
        .styles
        .get(settings.style as usize)
        .map(String::as_str)
        .unwrap_or("this style");
    if let Some(role) = a.role {
        let roles = spec.roles_of_style(settings.style as usize);
        if role.slot_in(&roles).is_none() {
            return Err(format!(
                "this model does not play the {} role in {style_name}: it plays {}",
                role.key(),
                roles.join(", ")
            ));
        }
    }
    let beats_per_bar = f64::from(a.time_sig.0) * 4.0 / f64::from(a.time_sig.1);
    let beats = a.bars * beats_per_bar;
    // With a role (or over a chord track), the clip is the part Cadenza plays against; without,
    // the line it continues.
    let clip = prompt.as_ref().map(|p| p.notes.clone()).unwrap_or_default();
    let (continued, against) = if a.role.is_some() || a.chords.is_some() {
        (Vec::new(), clip)
    } else {
        (clip, Vec::new())
    };
    let req = Request {
        settings,
        beats,
        tempo: a.tempo,
        beats_per_bar,
        prompt: continued,
        against: against.clone(),
        max_note_beats: a.max_note,
        chords: a.chords.clone(),
    };
    let over = a.chords.as_ref().map(|t| {
        let how = if spec.hears_chords() {
            "the model hears them"
        } else {
            "leading the bass and the harmony; this model does not hear them"
        };
        format!(" over the chords {t} ({how})")
    });
    eprintln!(
        "cadenza: {} bars of {style_name}{} at {} BPM on {}{}",
        a.bars,
        over.unwrap_or_default(),
        a.tempo,
        model.provider,
        prompt
            .as_ref()
            .map(|p| match a.role.is_some() || a.chords.is_some() {
                true => format!(
                    ", playing {} against {} ({} notes)",
                    settings.role.key(),
                    p.name,
                    p.notes.len()
                ),
                false => format!(", continuing {} ({} notes)", p.name, p.notes.len()),
            })
            .unwrap_or_default()
    );
    let started = std::time::Instant::now();
    // Whole bars done; drawn only where stderr is a terminal (indicatif), so a log or a pipe gets
    // the two summary lines alone.
    let bars_total = a.bars.ceil() as u64;
    let bar = ProgressBar::new(bars_total).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} bars, {elapsed} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let notes = generate(model, ModelInfo::of(&spec), &req, |done| {
        bar.set_position(((done / beats_per_bar + 1e-9).floor() as u64).min(bars_total));
    });
    bar.finish_and_clear();
    let notes = notes.map_err(|e| e.to_string())?;
    /// A track: name, notes, MIDI channel.
    type Track<'a> = (&'a str, Vec<BeatNote>, u8);
    let (mut tracks, offset): (Vec<Track>, f64) = match (&prompt, a.keep_prompt) {
        // The part played against sounds with Cadenza's, on its own channel.
        _ if !against.is_empty() => (vec![("Player", against, 1)], 0.0),
        (Some(p), true) => (vec![("Prompt", p.notes.clone(), 0)], p.length_beats()),
        _ => (Vec::new(), 0.0),
    };
    let generated: Vec<BeatNote> = notes
        .iter()
        .map(|n| BeatNote {
            beat: n.beat + offset,
            ..*n
        })
        .collect();
    let count = generated.len();
    tracks.push(("Cadenza", generated, 0));
    let refs: Vec<(&str, &[BeatNote], u8)> = tracks
        .iter()
        .map(|(n, v, c)| (*n, v.as_slice(), *c))
        .collect();
    let bytes = write_notes(a.tempo, &refs);
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&a.out, bytes).map_err(|e| format!("{}: {e}", a.out.display()))?;
    eprintln!(
        "cadenza: wrote {count} notes, {}/{} bars, to {} in {:.1} s",
        bar.position(),
        a.bars,
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn chords_cmd(a: &ChordsArgs) -> Result<(), String> {
    let bytes = std::fs::read(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
    let clip =
        Prompt::from_midi("part", &bytes).map_err(|e| format!("{}: {e}", a.file.display()))?;
    let beats_per_bar = f64::from(a.time_sig.0) * 4.0 / f64::from(a.time_sig.1);
    match cadenza::engine::progression_of(&clip.notes, beats_per_bar, a.bars) {
        Some(text) => {
            println!("{text}");
            Ok(())
        }
        None => Err(format!(
            "{}: no chord heard (two or more keys sounding in a beat make one)",
            a.file.display()
        )),
    }
}

fn main() -> ExitCode {
    // clap answers --help and --version itself (exit 0) and a malformed command line with its usage
    // (exit 2); what fails after that (a model, a file, a role the style lacks) exits 2 too.
    let cli = Cli::parse();
    let done = match &cli.command {
        Command::Generate(a) => generate_cmd(a),
        Command::Styles(m) => styles_cmd(m),
        Command::Info(m) => info_cmd(m),
        Command::Chords(a) => chords_cmd(a),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cadenza: {e}");
            ExitCode::from(2)
        }
    }
}
