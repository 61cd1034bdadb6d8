//! A first benchmark of the engine's model path, printed as a markdown table (`cargo xtask bench`).
//!
//! Measures, on the embedded default model through ONNX Runtime (CPU EP, 1 intra-op thread, as the
//! plugin runs it): model load + warm-up; one decode step with a fixed number of tokens already in the
//! KV cache; the rollback after a played note (cut the cache, re-feed one token); the re-anchor prefill
//! (style token + half a window) and the same move from the spare cache the engine builds while idle; and the response latency through the real engine thread (a played
//! note into the audio→engine queue → the first note of the engine's new plan in the engine→audio
//! queue, with the transport rolling at 120 BPM); the generation real-time factor; the plugin's
//! instantiate time; resident memory per instance. Each figure is the median and p99 over repeated
//! runs; the context is rebuilt (untimed) before each timed step so it stays fixed.

use std::time::Instant;

use cadenza::engine::{load_model, EngineConfig};
use cadenza::features::Tracker;
use cadenza::model::{Ep, ModelSource, OnnxModel, ProviderChoice};

/// Pin this process (and the Python it starts) to the last CPU it may run on.
fn pin_to_one_core() -> Option<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity/sched_setaffinity get its size and a valid
    // pointer, for this process (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        let cpu = (0..libc::CPU_SETSIZE as usize)
            .rev()
            .find(|&c| libc::CPU_ISSET(c, &set))?;
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        (libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0)
            .then_some(cpu)
    }
}

/// `len` tokens of real music: a style token, then the chorale opening repeated.
fn music_of(
    v: &cadenza::tokenizer::Vocab,
    notes: &[cadenza::tokenizer::Note],
    len: usize,
) -> Vec<u32> {
    let piece = v.notes_to_tokens(notes);
    std::iter::once(v.style_base)
        .chain(piece.iter().copied().cycle())
        .take(len)
        .collect()
}

/// Median and p99 (µs) of one decode step with `ctx - 1` tokens in the cache (so the step attends to
/// `ctx`), through the plugin's own session code, on `ep` (an error when the model would not run there).
fn time_step(source: ModelSource, music: &[u32], ctx: usize, ep: Ep) -> Result<(f64, f64), String> {
    let choice = match ep {
        Ep::Cpu => ProviderChoice::Cpu,
        Ep::Cuda => ProviderChoice::Cuda,
    };
    let mut model = load_model(&EngineConfig {
        runs_on: choice.shared(),
        ..EngineConfig::on_cpu(source)
    })
    .map_err(|e| e.to_string())?;
    if model.provider.runs_on != ep {
        return Err(model.provider.to_string());
    }
    let feats = Tracker::of(model.spec.vocab(), model.spec.ticks_per_beat, music);
    model
        .feed(&music[..ctx - 1], &feats[..ctx - 1])
        .map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for i in 0..210 {
        model.truncate(ctx - 1);
        let next = ctx - 1 + i % 2..ctx + i % 2;
        let t = Instant::now();
        model
            .feed(&music[next.clone()], &feats[next])
            .map_err(|e| e.to_string())?;
        if i >= 10 {
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(percentiles(times))
}

fn us(m: f64, p: f64) -> String {
    format!("{m:.0} µs | {p:.0} µs")
}

/// Where the plugin's default setting (auto) runs the shipped model here, and why; and whether CUDA
/// can be measured at all (Err: why not).
fn provider_rows() -> Result<(), String> {
    let auto = load_model(&EngineConfig {
        runs_on: ProviderChoice::Auto.shared(),
        ..EngineConfig::on_cpu(ModelSource::Embedded)
    })
    .map_err(|e| e.to_string())?;
    println!(
        "| execution provider the plugin's default (auto) picks for the shipped model | {} | | |",
        auto.provider
    );
    let (bytes, spec) = ModelSource::Embedded.read().map_err(|e| e.to_string())?;
    let cuda = OnnxModel::load(&bytes, spec, ProviderChoice::Cuda).map_err(|e| e.to_string())?;
    match cuda.provider.runs_on {
        Ep::Cuda => Ok(()),
        Ep::Cpu => Err(cuda.provider.why),
    }
}

/// The decode-step rows: Cadenza (Rust, ort) int8 and fp32, Python onnxruntime and PyTorch eager on
/// the same weights, at contexts 64 and 256 (the shipped 256-token window) and 512 and 1024 (the
/// same weights with the window stretched, written by `cadenza_model.bench`; timing only); the same
/// on CUDA when this ONNX Runtime and machine have it; and a larger random-weight config (d=512,
/// 8 layers, window 512; timing only) on each provider.
fn decode_rows(music: &[u32], cuda: &Result<(), String>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let variants = root.join("target/bench-models");
    let python = root.join("models/.venv/bin/python");
    let py: Option<serde_json::Value> = if python.exists() {
        eprintln!("bench: PyTorch and Python onnxruntime (models/.venv)…");
        std::process::Command::new(&python)
            .args(["-m", "cadenza_model.bench"])
            .arg(&variants)
            .current_dir(root.join("models"))
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                serde_json::from_str(text.lines().last()?).ok()
            })
    } else {
        None
    };
    if py.is_none() {
        println!("| decode step: PyTorch and Python onnxruntime rows | not run: models/.venv missing or its bench failed (models/setup.sh, then `python -m cadenza_model.bench`) | | |");
    }
    let eps: &[Ep] = if cuda.is_ok() {
        &[Ep::Cpu, Ep::Cuda]
    } else {
        &[Ep::Cpu]
    };
    for ctx in [64usize, 256, 512, 1024] {
        let window = if ctx <= 256 { 256 } else { ctx };
        let (int8, fp32) = if window == 256 {
            (
                ModelSource::Embedded,
                ModelSource::from_path(root.join("models/default/model.onnx")),
            )
        } else {
            let dir = variants.join(format!("w{window}"));
            (
                ModelSource::from_path(dir.join("model.int8.onnx")),
                ModelSource::from_path(dir.join("model.onnx")),
            )
        };
        let what = format!("decode step, context {ctx} (window {window})");
        let mut cpu = (Err(String::new()), Err(String::new()));
        for &ep in eps {
            let rust_int8 = time_step(int8.clone(), music, ctx, ep);
            let rust_fp32 = time_step(fp32.clone(), music, ctx, ep);
            for (name, r) in [
                ("Cadenza: Rust + ort, int8 (shipped)", &rust_int8),
                ("Cadenza: Rust + ort, fp32", &rust_fp32),
            ] {
                match r {
                    Ok((m, p)) => println!("| {what}: {name}, {ep} | {} | 200 |", us(*m, *p)),
                    Err(e) => println!("| {what}: {name}, {ep} | not run: {e} | | |"),
                }
            }
            if ep == Ep::Cpu {
                cpu = (rust_int8, rust_fp32);
            }
        }
        let Some(c) = py.as_ref().map(|p| &p["contexts"][ctx.to_string()]) else {
            continue;
        };
        let get = |k: &str| (c[k]["median"].as_f64(), c[k]["p99"].as_f64());
        for (key, name) in [
            ("ort_int8", "Python onnxruntime, int8"),
            ("ort_fp32", "Python onnxruntime, fp32"),
            ("pytorch", "PyTorch eager, fp32"),
        ] {
            if let (Some(m), Some(p)) = get(key) {
                let runs = c[key]["runs"].as_u64().unwrap_or(0);
                println!("| {what}: {name}, CPU | {} | {runs} |", us(m, p));
            }
        }
        if let (Some(torch), Ok((i8m, _)), Ok((f32m, _))) = (get("pytorch").0, &cpu.0, &cpu.1) {
            let ort_py = get("ort_int8").0.map(|m| m / i8m).unwrap_or(f64::NAN);
            println!(
                "| {what}: speed-up (medians, CPU) | PyTorch ÷ Cadenza int8 {:.1}×; PyTorch ÷ Cadenza fp32 {:.1}×; Python ort int8 ÷ Cadenza int8 {ort_py:.2}× | | |",
                torch / i8m,
                torch / f32m
            );
        }
    }
    if let Err(why) = cuda {
        println!("| decode step on CUDA (every row above, and the larger config below) | not run: {why} | | |");
    }
    // The larger config: random weights, timing only (cadenza_model.bench writes it).
    let large = variants.join("large");
    let what = "decode step, larger config (d=512, 8 layers, 8 heads, window 512; random weights), context 512";
    for &ep in eps {
        for (name, file) in [("int8", "model.int8.onnx"), ("fp32", "model.onnx")] {
            match time_step(ModelSource::from_path(large.join(file)), music, 512, ep) {
                Ok((m, p)) => println!("| {what}: Cadenza {name}, {ep} | {} | 200 |", us(m, p)),
                Err(e) => println!("| {what}: Cadenza {name}, {ep} | not run: {e} | | |"),
            }
        }
    }
    if let Some(l) = py.as_ref().map(|p| &p["large"]) {
        if let (Some(m), Some(p)) = (l["median"].as_f64(), l["p99"].as_f64()) {
            println!(
                "| {what}: PyTorch eager, fp32, CPU | {} | {} |",
                us(m, p),
                l["runs"]
            );
        }
    }
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn main() {
    match pin_to_one_core() {
        Some(cpu) => eprintln!("bench: pinned to CPU {cpu} (the Python side inherits it)"),
        None => eprintln!("bench: could not pin to one CPU; figures may mix cores"),
    }
    let config = EngineConfig::on_cpu(ModelSource::Embedded);
    let mut loads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let m = load_model(&config).unwrap_or_else(|e| {
            eprintln!("cannot load the model: {e}");
            std::process::exit(1)
        });
        loads.push(t.elapsed().as_secs_f64() * 1e3);
        drop(m);
    }
    let mut model = load_model(&config).unwrap();
    let spec = model.spec.clone();
    let v = spec.vocab();
    // Real music as context: the golden chorale opening, tokenized, repeated as needed.
    let notes: Vec<[u64; 3]> = serde_json::from_str(include_str!(
        "../../models/tests/fixtures/bwv66.6_opening.json"
    ))
    .unwrap();
    let notes: Vec<_> = notes
        .iter()
        .map(|n| cadenza::tokenizer::Note {
            onset: n[0],
            duration: n[1],
            pitch: n[2] as u8,
        })
        .collect();
    let piece = v.notes_to_tokens(&notes);
    let music: Vec<u32> = std::iter::once(v.style_base)
        .chain(piece.iter().copied().cycle())
        .take(spec.window as usize)
        .collect();
    let feats = Tracker::of(v, spec.ticks_per_beat, &music);

    println!("| what | median | p99 | runs |");
    println!("|---|---|---|---|");
    let (m, p) = percentiles(loads.clone());
    println!(
        "| model load + warm-up | {m:.1} ms | {p:.1} ms | {} |",
        loads.len()
    );
    let window = spec.window as usize;
    let cuda = provider_rows();
    decode_rows(&music_of(&v, &notes, 1100), &cuda);
    let half = window / 2 + 1;
    let mut times = Vec::new();
    for _ in 0..50 {
        model.reset();
        let t = Instant::now();
        model.feed(&music[..half], &feats[..half]).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (m, p) = percentiles(times);
    println!("| re-anchor prefill ({half} tokens) | {m:.1} ms | {p:.1} ms | 50 |");
    // The same move of the window as the engine makes it now: the next window's cache was built in
    // the spare while idle; swap it in, cut the last token and feed it again for the logits.
    let mut times = Vec::new();
    for _ in 0..200 {
        model.swap_caches(0);
        model.reset();
        model.feed(&music[..half], &feats[..half]).unwrap();
        model.swap_caches(0);
        model.reset();
        model
            .feed(&music[..window - 1], &feats[..window - 1])
            .unwrap();
        let t = Instant::now();
        model.swap_caches(0);
        model.truncate(half - 1);
        model
            .feed(&music[half - 1..half], &feats[half - 1..half])
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (m, p) = percentiles(times);
    println!("| re-anchor from the spare cache built while idle (swap, re-feed one) | {m:.0} µs | {p:.0} µs | 200 |");
    let mut times = Vec::new();
    for _ in 0..200 {
        model.reset();
        model.feed(&music[..200], &feats[..200]).unwrap();
        let t = Instant::now();
        model.truncate(150);
        model.feed(&music[150..151], &feats[150..151]).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (m, p) = percentiles(times);
    println!("| rollback after a played note (cut 200 → 150 tokens, re-feed one) | {m:.0} µs | {p:.0} µs | 200 |");
    let (answers, priority) = response_latency(&config);
    let audio = match priority {
        Ok(()) => "the audio side's thread at real-time priority, as a host runs it".to_string(),
        Err(e) => format!("the audio side's thread at normal priority (real-time refused: {e}), so its wake-ups wait for the engine's time slice"),
    };
    let decided: Vec<f64> = answers.iter().filter_map(|a| a.decided).collect();
    let n = decided.len();
    let (m, p) = percentiles(decided);
    println!("| response: played note in → Cadenza's decision on the first tick it may play on after the 30 ms lead: a note there, or its rest past it (engine thread; {audio}) | {m:.2} ms | {p:.2} ms | {n} of {ANSWERS} |");
    let notes: Vec<(f64, f64)> = answers.iter().filter_map(|a| a.first_note).collect();
    let n = notes.len();
    let (m, p) = percentiles(notes.iter().map(|a| a.0).collect());
    println!("| played note in → first note of the plan that answers it out (after the model's rest: each rest is a decode step; the others were withdrawn unplayed by a later plan, as when the note's release was heard) | {m:.2} ms | {p:.2} ms | {n} of {ANSWERS} |");
    // The answers whose first note comes within a beat show the engine's cost with short rests.
    let soon: Vec<f64> = notes.iter().filter(|a| a.1 < 1.0).map(|a| a.0).collect();
    if !soon.is_empty() {
        let k = soon.len();
        let (m, p) = percentiles(soon);
        println!("| the same, answers whose first note is less than a beat after the played note | {m:.2} ms | {p:.2} ms | {k} |");
    }
    let (m, p) = percentiles(notes.iter().map(|a| a.1).collect());
    println!("| beats from the played note to the answer's first note (the model's own rest; 120 BPM) | {m:.2} | {p:.2} | {n} |");
    // How long before it sounds the first note reached the audio side.
    let ms_per_beat = 60_000.0 / RESPONSE_TEMPO;
    let spare: Vec<f64> = notes.iter().map(|a| a.1 * ms_per_beat - a.0).collect();
    let least = spare.iter().copied().fold(f64::INFINITY, f64::min);
    let (m, _) = percentiles(spare);
    println!("| the answer's first note reached the audio side this long before it sounds (median; least in the p99 column) | {m:.0} ms | {least:.1} ms (least) | {n} |");
    let (sched_only, blocks, sounding) = audio_block_cost();
    let n = blocks.len();
    let (m, p) = percentiles(sched_only);
    println!("| audio-thread work per 128-frame block, 16 events due: the player (as process() runs it), voice off | {m:.2} µs | {p:.2} µs | {n} |");
    let worst = blocks.iter().copied().fold(0.0, f64::max);
    let (m, p) = percentiles(blocks);
    println!("| the same with the built-in voice rendering them ({sounding} voices sounding on average; worst {worst:.0} µs) | {m:.1} µs | {p:.1} µs | {n} |");
    // Generation real-time factor: 16 bars at 120 BPM (32 s of music), as fast as it goes.
    let mut rtf = Vec::new();
    for seed in 0..3 {
        let req = cadenza::offline::Request {
            settings: cadenza::settings::Settings {
                seed,
                ..Default::default()
            },
            beats: 64.0,
            tempo: 120.0,
            beats_per_bar: 4.0,
            prompt: Vec::new(),
            max_note_beats: 8.0,
        };
        let m = load_model(&config).unwrap();
        let t = Instant::now();
        cadenza::offline::generate(
            m,
            v,
            spec.ticks_per_beat,
            spec.styles.len() as u32,
            &req,
            |_| {},
        )
        .unwrap();
        rtf.push(32.0 / t.elapsed().as_secs_f64());
    }
    let (m, _) = percentiles(rtf.clone());
    let worst = rtf.iter().copied().fold(f64::INFINITY, f64::min);
    println!("| generation real-time factor (s of music per s of compute, 16 bars at 120 BPM; p99 column: slowest) | {m:.1}× | {worst:.1}× | 3 |");
    // Instantiate: what a host's scan/instantiate runs in Cadenza (library loading excluded).
    let mut inst = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let p = cadenza::Cadenza::default();
        let params = nice_plug::prelude::Plugin::params(&p);
        std::hint::black_box(&params);
        inst.push(t.elapsed().as_secs_f64() * 1e3);
        drop(params);
        drop(p);
    }
    let (m, p) = percentiles(inst);
    println!("| instantiate (plugin object + parameters, in process; dlopen not included) | {m:.2} ms | {p:.2} ms | 50 |");
    // Memory per instance: a plugin object plus a loaded model (its ORT session and cache). Counted
    // as heap in use (malloc's own count, which ONNX Runtime's allocations go through too), not as RSS
    // growth: after the loads above, freed pages are reused and RSS need not grow at all.
    let (before, rss_before) = (heap_in_use(), rss_kib());
    let held: Vec<_> = (0..4)
        .map(|_| (cadenza::Cadenza::default(), load_model(&config).unwrap()))
        .collect();
    let per = (heap_in_use() - before) as f64 / 4.0 / (1024.0 * 1024.0);
    let rss = (rss_kib() - rss_before) as f64 / 4.0 / 1024.0;
    drop(held);
    println!("| memory per instance (plugin + loaded model; heap in use over 4 instances / 4; RSS growth in the p99 column) | {per:.1} MiB | {rss:.1} MiB | 4 |");
    println!();
    println!(
        "Model {} ({} layers, d={}, window {}), {}.",
        spec.name, spec.n_layer, spec.d_model, spec.window, model.provider
    );
}

/// The audio thread's own work per block, without a host: the real [`Player`] (as `process()` runs
/// it) places 16 generated events due in the block (8 note-ons, 8 note-offs of the previous block's
/// notes, as they arrive from the engine queue), marks them for the editor and hands them to the host,
/// first with the voice off, then with the voice rendering them on their samples into a stereo
/// buffer. nice-plug's wrapper and the parameter reads of a real process() come on top (the soak
/// measures the whole call through a CLAP host). Returns the per-block times in µs (voice off; voice
/// on) and the mean number of voices sounding.
///
/// [`Player`]: cadenza::player::Player
fn audio_block_cost() -> (Vec<f64>, Vec<f64>, usize) {
    use cadenza::bridge::{Generated, ToEngine};
    use cadenza::player::{Bars, Controls, HostEvent, Note, Player, Shared};
    use cadenza::scheduler::TransportIn;
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

/// Bytes the C allocator has handed out and not got back (glibc's mallinfo2: arena and mmap'd).
fn heap_in_use() -> i64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as i64
}

/// This process's resident set size, in KiB (Linux /proc).
fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Notes played in the response measurement (one every 0.2 s).
const ANSWERS: usize = 600;
/// The transport's tempo in the response measurement, in BPM.
const RESPONSE_TEMPO: f64 = 120.0;

/// How the engine answered one played note.
struct Answer {
    /// Milliseconds from the played note to the engine's decision at the first tick Cadenza may
    /// play on (a note there, or its rest past it).
    decided: Option<f64>,
    /// Milliseconds from the played note to the first note of the plan that answers it, and beats
    /// between them; `None` when a later plan withdrew that one before its first note.
    first_note: Option<(f64, f64)>,
}

/// Play notes into a real engine thread (the audio side simulated here, transport rolling at
/// 120 BPM in real time) and time each one until the engine's decision and until the first note
/// of its new plan arrives.
fn response_latency(config: &EngineConfig) -> (Vec<Answer>, Result<(), String>) {
    use cadenza::bridge::{Bridge, PlayClock, ToEngine};
    use cadenza::engine::{Engine, EngineState, EngineStatus};
    use cadenza::settings::Settings;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    let (mut audio, side) = Bridge::new();
    let status = Arc::new(EngineStatus::default());
    let engine = Engine::start(
        config.clone(),
        side,
        Arc::default(),
        Default::default(),
        status.clone(),
    );
    while status.state() == EngineState::Loading {
        std::thread::sleep(Duration::from_millis(5));
    }
    if status.state() != EngineState::Ready {
        eprintln!("the engine did not start: {}", status.message());
        std::process::exit(1);
    }
    // This thread plays the host's audio thread, which a host runs at real-time priority: it takes
    // the core from the engine the moment its sleep ends. (Set after the engine thread started, so
    // that one keeps normal priority, as in a host.)
    let priority = audio_priority(true);
    let t0 = Instant::now();
    let beat_now = || t0.elapsed().as_secs_f64() * RESPONSE_TEMPO / 60.0;
    audio.publish(PlayClock::at(0.0, RESPONSE_TEMPO), &Settings::default());
    audio.send(ToEngine::Resync {
        beat: 0.0,
        playing: true,
        epoch: 1,
        heard_until: 0.0,
        jumped: false,
    });
    let mut plan = 0;
    let mut answers = Vec::new();
    let pitches = [60u8, 62, 64, 65, 67, 69, 71, 72];
    for i in 0..ANSWERS {
        // Let the engine plan ahead for a while, as in a real session (0.2 s between notes).
        let until = t0.elapsed() + Duration::from_millis(200);
        while t0.elapsed() < until {
            audio.publish(
                PlayClock::at(beat_now(), RESPONSE_TEMPO),
                &Settings::default(),
            );
            while let Some(g) = audio.receive() {
                plan = plan.max(g.plan);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let beat = beat_now();
        let pitch = pitches[i % pitches.len()];
        let reacted = status.reactions.load(Ordering::Acquire);
        let mut decided = None;
        let sent = Instant::now();
        audio.send(ToEngine::Played {
            beat,
            pitch,
            velocity: 0.8,
            on: true,
        });
        audio.send(ToEngine::Played {
            beat: beat + 0.01,
            pitch,
            velocity: 0.0,
            on: false,
        });
        // Wait for both: the decision (the engine's status counts it) and the first note of the
        // new plan (through the queue, as the audio side gets it).
        let mut first_note = None;
        // The plan that answers this note (its plan mark withdraws the old one at once); a later
        // plan before its first note (the note's release heard, say) withdrew the answer unplayed.
        let mut answer_plan = None;
        // The answer's own notes start at the reaction lead; the plan also sends again the notes
        // before it that it kept (planned before the note, the audio side has them already).
        let floor = beat + cadenza::engine::REACTION_SECONDS * RESPONSE_TEMPO / 60.0;
        let mut withdrawn = false;
        while decided.is_none() || (first_note.is_none() && !withdrawn) {
            if decided.is_none() && status.reactions.load(Ordering::Acquire) > reacted {
                decided = Some(sent.elapsed().as_secs_f64() * 1e3);
            }
            while let Some(g) = audio.receive() {
                if g.is_plan_mark() && g.plan > plan {
                    match answer_plan {
                        None => answer_plan = Some(g.plan),
                        Some(a) if first_note.is_none() && g.plan > a => withdrawn = true,
                        Some(_) => {}
                    }
                    plan = g.plan;
                } else if first_note.is_none()
                    && !withdrawn
                    && !g.is_plan_mark()
                    && Some(g.plan) == answer_plan
                    && g.beat >= floor - 1e-9
                {
                    first_note = Some((sent.elapsed().as_secs_f64() * 1e3, g.beat - beat));
                }
            }
            if sent.elapsed() > Duration::from_secs(2) {
                break; // not within 2 s: not counted, and the counts in the table show it
            }
            // Poll as an audio thread would, between blocks: sleep, never spin. The bench is
            // pinned to one core, and a spinning poll took the engine's CPU in 4 ms time slices
            // (the answers came in steps of 4 ms, up to 184 ms).
            audio.publish(
                PlayClock::at(beat_now(), RESPONSE_TEMPO),
                &Settings::default(),
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        answers.push(Answer {
            decided,
            first_note,
        });
    }
    audio_priority(false).ok();
    engine.stop();
    (answers, priority)
}

/// Give this thread real-time (FIFO) priority, as a host gives its audio thread, or take it back.
fn audio_priority(realtime: bool) -> Result<(), String> {
    let (policy, priority) = if realtime {
        (libc::SCHED_FIFO, 40)
    } else {
        (libc::SCHED_OTHER, 0)
    };
    // SAFETY: sched_param is plain data; pthread_setschedparam reads it for the calling thread.
    let rc = unsafe {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        libc::pthread_setschedparam(libc::pthread_self(), policy, &param)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc).to_string())
    }
}
