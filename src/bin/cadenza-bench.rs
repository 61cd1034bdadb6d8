//! A first benchmark of the engine's model path, printed as a markdown table (`cargo xtask bench`).
//!
//! Measures, on the embedded default model through ONNX Runtime (CPU EP, 1 intra-op thread, as the
//! plugin runs it): model load + warm-up; one decode step with a fixed number of tokens already in the
//! KV cache; and the re-anchor prefill (style token + half a window). Each figure is the median and p99
//! over repeated runs; the context is rebuilt (untimed) before each timed step so it stays fixed.

use std::time::Instant;

use cadenza::engine::{load_model, EngineConfig};
use cadenza::model::ModelSource;

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn main() {
    let config = EngineConfig {
        source: ModelSource::Embedded,
        want_cuda: false,
    };
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

    println!("| what | median | p99 | runs |");
    println!("|---|---|---|---|");
    let (m, p) = percentiles(loads.clone());
    println!(
        "| model load + warm-up | {m:.1} ms | {p:.1} ms | {} |",
        loads.len()
    );
    let window = spec.window as usize;
    for ctx in [16usize, 64, 128, window - 2] {
        let mut times = Vec::new();
        for i in 0..200 {
            model.reset();
            model.feed(&music[..ctx]).unwrap();
            let next = music[ctx + (i % 2).min(window - 1 - ctx)];
            let t = Instant::now();
            model.feed(&[next]).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (m, p) = percentiles(times);
        println!("| decode step, {ctx} tokens in the cache | {m:.0} µs | {p:.0} µs | 200 |");
    }
    let half = window / 2 + 1;
    let mut times = Vec::new();
    for _ in 0..50 {
        model.reset();
        let t = Instant::now();
        model.feed(&music[..half]).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (m, p) = percentiles(times);
    println!("| re-anchor prefill ({half} tokens) | {m:.1} ms | {p:.1} ms | 50 |");
    println!();
    println!(
        "Model {} ({} layers, d={}, window {}), {}.",
        spec.name, spec.n_layer, spec.d_model, spec.window, model.provider
    );
}
