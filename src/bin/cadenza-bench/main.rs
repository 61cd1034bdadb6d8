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
use response::{response_latency, ANSWERS, RESPONSE_TEMPO};

mod audio;
mod response;

/// Pin this process (and the Python it starts) to the last CPU it may run on. (Linux; the benchmark
/// is measured there. Elsewhere it runs unpinned and its table says so.)
#[cfg(not(target_os = "linux"))]
fn pin_to_one_core() -> Option<usize> {
    None
}

/// Pin this process (and the Python it starts) to the last CPU it may run on.
#[cfg(target_os = "linux")]
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
/// same weights with the window stretched, written by `cadenza_model.cli.bench`; timing only); the same
/// on CUDA when this ONNX Runtime and machine have it; and a larger random-weight config (d=512,
/// 8 layers, window 512; timing only) on each provider.
fn decode_rows(music: &[u32], cuda: &Result<(), String>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let variants = root.join("target/bench-models");
    let python = root.join("models/.venv/bin/python");
    let py: Option<serde_json::Value> = if python.exists() {
        eprintln!("bench: PyTorch and Python onnxruntime (models/.venv)…");
        std::process::Command::new(&python)
            .args(["-m", "cadenza_model.cli.bench"])
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
        println!("| decode step: PyTorch and Python onnxruntime rows | not run: models/.venv missing or its bench failed (models/setup.sh, then `python -m cadenza_model.cli.bench`) | | |");
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
    // The larger config: random weights, timing only (cadenza_model.cli.bench writes it).
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
        "../../../models/tests/fixtures/bwv66.6_opening.json"
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
    let (sched_only, blocks, sounding) = audio::audio_block_cost();
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
            against: Vec::new(),
            max_note_beats: 8.0,
            chords: None,
        };
        let m = load_model(&config).unwrap();
        let t = Instant::now();
        cadenza::offline::generate(m, cadenza::offline::ModelInfo::of(&spec), &req, |_| {})
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

/// Bytes the C allocator has handed out and not got back (glibc's mallinfo2; 0 where there is no glibc,
/// and the memory row reads 0 MiB heap).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_in_use() -> i64 {
    0
}

/// Bytes the C allocator has handed out and not got back (glibc's mallinfo2: arena and mmap'd).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
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
