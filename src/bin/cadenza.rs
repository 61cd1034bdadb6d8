//! `cadenza`: Cadenza on the command line, with the plugin's own engine and model (no host needed).
//!
//!     cadenza generate [--style NAME] [--bars 8] [--tempo 120] [--seed 0] [--prompt in.mid]
//!                      [--role free|melody|bass|harmony] [--keep-prompt] [--out cadenza.mid]
//!                      [--model DIR] ...   (see --help)
//!     cadenza styles [--model DIR]
//!     cadenza info [--model DIR]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use cadenza::midi_file::{write_notes, BeatNote};
use cadenza::model::{ModelSource, OnnxModel, ProviderChoice};
use cadenza::offline::{generate, ModelInfo, Request};
use cadenza::prompt::Prompt;
use cadenza::settings::{Role, Scale, Settings, KEY_NAMES};

const USAGE: &str = "\
usage:
  cadenza generate [options]   write a MIDI sketch
  cadenza styles [--model M]   the styles the model offers
  cadenza info [--model M]     model, execution provider, vocabulary

generate options:
  --style NAME|N       style by name or slot (default: the first)
  --bars N             bars to generate (default 8)
  --tempo BPM          tempo written to the file (default 120)
  --time-sig N/D       time signature (default 4/4)
  --temperature T      0.1..2 (default 1.0)
  --top-p P            0.5..1 (default 0.95)
  --seed N             variation seed (default 0): the same seed gives the same sketch
  --prompt FILE.mid    continue this clip (format 0 or 1, any channel but drums); with --role, the
                       part Cadenza plays against instead (heard as if played live, in a duet)
  --role NAME          the part Cadenza plays against --prompt: free, melody, bass or harmony, as
                       far as the model plays it (`cadenza info` lists its roles)
  --keep-prompt        put the prompt's notes in the output before the continuation
  --scale NAME         scale lock: major, minor, dorian, blues, ... (default off)
  --key NAME           key of the scale (default C)
  --low N / --high N   pitch range, MIDI notes (default 21..108)
  --density D          -1..1: fewer or more notes (default 0)
  --polyphony N        1..16: most of Cadenza's notes sounding at once (default 6, as the plugin)
  --max-note BEATS     longest note (default 8)
  --out FILE.mid       where to write (default cadenza.mid)

common options:
  --model PATH         a model.onnx (with model.json beside it) or its folder; default: the built-in model
  --ep auto|cpu|cuda   where the model runs (default auto: CUDA when it measures faster;
                       CUDA asked for but unavailable runs on CPU and says why)
  --cpu                the same as --ep cpu";

struct Args {
    command: String,
    model: ModelSource,
    runs_on: ProviderChoice,
    style: Option<String>,
    bars: f64,
    tempo: f64,
    time_sig: (u32, u32),
    settings: Settings,
    prompt: Option<PathBuf>,
    role: Option<String>,
    keep_prompt: bool,
    max_note: f64,
    out: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or(USAGE)?;
    if command == "-h" || command == "--help" || command == "help" {
        return Err(USAGE.into());
    }
    let mut a = Args {
        command,
        model: ModelSource::Embedded,
        runs_on: ProviderChoice::Auto,
        style: None,
        bars: 8.0,
        tempo: 120.0,
        time_sig: (4, 4),
        settings: Settings {
            low: 21,
            high: 108,
            ..Settings::default()
        },
        prompt: None,
        role: None,
        keep_prompt: false,
        max_note: 8.0,
        out: PathBuf::from("cadenza.mid"),
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |s: String| {
            s.parse::<f64>()
                .map_err(|_| format!("{flag}: `{s}` is not a number"))
        };
        match flag.as_str() {
            "--model" => a.model = ModelSource::from_path(val()?),
            "--cpu" => a.runs_on = ProviderChoice::Cpu,
            "--ep" => a.runs_on = val()?.parse()?,
            "--style" => a.style = Some(val()?),
            "--bars" => a.bars = num(val()?)?,
            "--tempo" => a.tempo = num(val()?)?,
            "--time-sig" => {
                let v = val()?;
                let (n, d) = v
                    .split_once('/')
                    .ok_or(format!("--time-sig: `{v}` is not N/D"))?;
                a.time_sig = (
                    n.parse().map_err(|_| format!("--time-sig: `{v}`"))?,
                    d.parse().map_err(|_| format!("--time-sig: `{v}`"))?,
                );
            }
            "--temperature" => a.settings.temperature = num(val()?)? as f32,
            "--top-p" => a.settings.top_p = num(val()?)? as f32,
            "--seed" => a.settings.seed = num(val()?)? as u32,
            "--prompt" => a.prompt = Some(val()?.into()),
            "--role" => a.role = Some(val()?),
            "--keep-prompt" => a.keep_prompt = true,
            "--scale" => {
                let v = val()?;
                let i = Scale::NAMES
                    .iter()
                    .position(|n| {
                        n.replace(' ', "")
                            .eq_ignore_ascii_case(&v.replace([' ', '-', '_'], ""))
                    })
                    .ok_or(format!(
                        "--scale: unknown scale `{v}` (one of: {})",
                        Scale::NAMES.join(", ")
                    ))?;
                a.settings.scale = Scale::from_index(i as u32);
            }
            "--key" => {
                let v = val()?;
                a.settings.key = KEY_NAMES
                    .iter()
                    .position(|k| k.eq_ignore_ascii_case(&v))
                    .ok_or(format!("--key: unknown key `{v}`"))?
                    as u32;
            }
            "--low" => a.settings.low = num(val()?)?.clamp(0.0, 127.0) as u8,
            "--high" => a.settings.high = num(val()?)?.clamp(0.0, 127.0) as u8,
            "--density" => a.settings.density = num(val()?)?.clamp(-1.0, 1.0) as f32,
            "--polyphony" => a.settings.max_polyphony = num(val()?)?.clamp(1.0, 16.0) as u32,
            "--max-note" => a.max_note = num(val()?)?,
            "--out" => a.out = val()?.into(),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    if !(a.tempo > 0.0 && a.bars > 0.0 && a.max_note > 0.0 && a.time_sig.0 > 0 && a.time_sig.1 > 0)
    {
        return Err("tempo, bars, max note length and the time signature must be positive".into());
    }
    if a.settings.low > a.settings.high {
        return Err(format!(
            "--low {} is above --high {}",
            a.settings.low, a.settings.high
        ));
    }
    if a.settings.temperature.is_nan()
        || a.settings.temperature <= 0.0
        || !(0.0..=1.0).contains(&a.settings.top_p)
    {
        return Err("--temperature must be > 0 and --top-p within 0..1".into());
    }
    Ok(a)
}

fn load(a: &Args) -> Result<OnnxModel, String> {
    let (bytes, spec) = a.model.read().map_err(|e| e.to_string())?;
    OnnxModel::load(&bytes, spec, a.runs_on).map_err(|e| e.to_string())
}

fn run(a: Args) -> Result<(), String> {
    match a.command.as_str() {
        "styles" => {
            let (_, spec) = a.model.read().map_err(|e| e.to_string())?;
            for (i, s) in spec.styles.iter().enumerate() {
                println!("{i}\t{s}");
            }
            Ok(())
        }
        "info" => {
            let model = load(&a)?;
            let s = &model.spec;
            let v = s.vocab();
            let (_, lib) = cadenza::runtime::environment().map_err(|e| e.to_string())?;
            println!(
                "model:        {} ({}, format {})",
                s.name, s.architecture, s.format_version
            );
            println!(
                "source:       {}",
                match &a.model {
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
                println!("alone:        knows when nobody else plays (a sketch, Improvise): sounds every part");
            }
            println!("provider:     {}", model.provider);
            println!("onnxruntime:  {}", lib.display());
            Ok(())
        }
        "generate" => generate_cmd(a),
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    }
}

fn generate_cmd(mut a: Args) -> Result<(), String> {
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
    let model = load(&a)?;
    let spec = model.spec.clone();
    if let Some(style) = &a.style {
        a.settings.style = match style.parse::<u32>() {
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
    if let Some(name) = &a.role {
        let roles = spec.roles_of_style(a.settings.style as usize);
        let role = Role::parse(name).ok_or(format!(
            "unknown role `{name}`: one of free, melody, bass, harmony"
        ))?;
        if role.slot_in(&roles).is_none() {
            return Err(format!(
                "this model does not play the {} role in {}: it plays {}",
                role.key(),
                spec.styles
                    .get(a.settings.style as usize)
                    .map(String::as_str)
                    .unwrap_or("this style"),
                roles.join(", ")
            ));
        }
        if prompt.is_none() {
            return Err("--role needs --prompt: the part Cadenza plays against".into());
        }
        a.settings.role = role;
    }
    let beats_per_bar = f64::from(a.time_sig.0) * 4.0 / f64::from(a.time_sig.1);
    let beats = a.bars * beats_per_bar;
    // With a role, the clip is the part Cadenza plays against; without, the line it continues.
    let clip = prompt.as_ref().map(|p| p.notes.clone()).unwrap_or_default();
    let (continued, against) = if a.role.is_some() {
        (Vec::new(), clip)
    } else {
        (clip, Vec::new())
    };
    let req = Request {
        settings: a.settings,
        beats,
        tempo: a.tempo,
        beats_per_bar,
        prompt: continued,
        against: against.clone(),
        max_note_beats: a.max_note,
    };
    eprintln!(
        "cadenza: {} bars of {} at {} BPM on {}{}",
        a.bars,
        spec.styles
            .get(a.settings.style as usize)
            .map(String::as_str)
            .unwrap_or("?"),
        a.tempo,
        model.provider,
        prompt
            .as_ref()
            .map(|p| match a.role.is_some() {
                true => format!(
                    ", playing {} against {} ({} notes)",
                    a.settings.role.key(),
                    p.name,
                    p.notes.len()
                ),
                false => format!(", continuing {} ({} notes)", p.name, p.notes.len()),
            })
            .unwrap_or_default()
    );
    let started = std::time::Instant::now();
    let notes = generate(model, ModelInfo::of(&spec), &req, |done| {
        let width = 30;
        let filled = ((done / beats) * width as f64).round() as usize;
        eprint!(
            "\r[{}{}] {}/{} bars",
            "#".repeat(filled.min(width)),
            " ".repeat(width - filled.min(width)),
            (done / beats_per_bar + 1e-9).floor(),
            a.bars
        );
        let _ = std::io::stderr().flush();
    })?;
    eprintln!();
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
        "cadenza: wrote {count} notes to {} in {:.1} s",
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
