//! The shipped model through ONNX Runtime: cutting the KV cache back is exact.
//! (Its own test binary: it points ONNX Runtime at the fetched library before anything loads it.)
#![cfg(feature = "host")]

use cadenza::engine::{load_model, EngineConfig};
use cadenza::features::{Features, Tracker};
use cadenza::host::use_fetched_ort;
use cadenza::model::ModelSource;
use cadenza::tokenizer::Event;

#[test]
fn a_truncated_cache_gives_the_logits_of_a_context_that_never_went_on() {
    use_fetched_ort();
    let mut model = load_model(&EngineConfig::on_cpu(ModelSource::Embedded)).unwrap();
    let v = model.spec.vocab();
    let mut tokens = vec![v.encode(Event::Style(1)).unwrap()];
    for i in 0..30u8 {
        tokens.push(v.encode(Event::NoteOn(55 + i % 12)).unwrap());
        tokens.push(v.encode(Event::Shift(6)).unwrap());
        tokens.push(v.encode(Event::NoteOff(55 + i % 12)).unwrap());
    }
    let f = Tracker::of(v, model.spec.ticks_per_beat, &tokens);
    // Reference: the first 40 tokens only, the 40th in a run of its own as it will be below (an
    // int8 run's activation scale spans the run's tokens; see the next test).
    model.feed(&tokens[..39], &f[..39]).unwrap();
    let want = model.feed(&tokens[39..40], &f[39..40]).unwrap().to_vec();
    // Go on for 50 more, then cut back to 39 and feed the 40th again.
    model.feed(&tokens[40..90], &f[40..90]).unwrap();
    assert_eq!(model.cache_len(), 90);
    model.truncate(39);
    assert_eq!(model.cache_len(), 39);
    let got = model.feed(&tokens[39..40], &f[39..40]).unwrap().to_vec();
    let worst = want
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "logits differ by {worst} after truncation");
    // And differ from the logits after all 90 (the test would pass trivially otherwise).
    model.truncate(89);
    let late = model.feed(&tokens[89..90], &f[89..90]).unwrap().to_vec();
    let moved = want
        .iter()
        .zip(&late)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1e-2, "the context made no difference: {moved}");
}

/// KL(p || q) of two logit vectors' distributions, and whether their argmax agrees.
fn kl_and_argmax(p: &[f32], q: &[f32]) -> (f64, bool) {
    let log_softmax = |x: &[f32]| {
        let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z = x.iter().map(|v| f64::from(v - m).exp()).sum::<f64>().ln();
        x.iter().map(|v| f64::from(v - m) - z).collect::<Vec<f64>>()
    };
    let (lp, lq) = (log_softmax(p), log_softmax(q));
    let kl = lp.iter().zip(&lq).map(|(a, b)| a.exp() * (a - b)).sum();
    let argmax = |x: &[f64]| (0..x.len()).max_by(|&i, &j| x[i].total_cmp(&x[j])).unwrap();
    (kl, argmax(&lp) == argmax(&lq))
}

#[test]
fn an_int8_feed_runs_eight_tokens_at_a_time_and_says_what_one_at_a_time_says() {
    // The engine feeds a played note with the rests around it (and a prefill) in one go: the int8
    // graph takes up to INT8_RUN_TOKENS a run, fp32 all in one. Grouped runs scale int8 activations
    // over the run, so the logits move a little from one token a run: as little as int8 moves from
    // fp32 (Python measured KL ~1e-4 either way over held-out music).
    use cadenza::model::INT8_RUN_TOKENS;
    use_fetched_ort();
    let fx = fixture();
    let mut model = load_model(&EngineConfig::on_cpu(ModelSource::Embedded)).unwrap();
    let f = fx.features(&model);
    let n = 200;
    // One token a run: the reference logits after every token.
    let mut one = Vec::new();
    for i in 0..n {
        one.push(model.feed(&fx.tokens[i..=i], &f[i..=i]).unwrap().to_vec());
    }
    model.reset();
    let (mut at, mut group, mut runs) = (0, 1, model.runs());
    let (mut kl_sum, mut agree, mut worst, mut groups) = (0.0, 0, 0.0f64, 0);
    while at < n {
        // Groups of 1 to 13 tokens: an int8 feed of g tokens takes ceil(g / 8) runs.
        let end = (at + group).min(n);
        let got = model
            .feed(&fx.tokens[at..end], &f[at..end])
            .unwrap()
            .to_vec();
        let took = model.runs() - runs;
        assert_eq!(
            took as usize,
            (end - at).div_ceil(INT8_RUN_TOKENS),
            "{} tokens",
            end - at
        );
        // (A lone token differs too: the cache before it came from grouped runs.)
        let (kl, same) = kl_and_argmax(&one[end - 1], &got);
        kl_sum += kl;
        agree += usize::from(same);
        worst = worst.max(kl);
        groups += 1;
        runs = model.runs();
        at = end;
        group = group % 13 + 1;
    }
    let mean = kl_sum / groups as f64;
    eprintln!(
        "int8 in runs vs one token a run: {groups} groups, KL mean {mean:.2e}, worst {worst:.2e}, argmax {agree}/{groups}"
    );
    assert!(groups > 20, "{groups}");
    assert!(mean < 1e-3, "KL mean {mean}");
    assert!(worst < 1e-2, "KL worst {worst}");
    assert!(agree + 1 >= groups, "argmax agrees for {agree} of {groups}");
    // fp32: the whole feed is one run.
    let mut fp32 = load_model(&EngineConfig::on_cpu(ModelSource::from_path(
        root().join("models/default/model.onnx"),
    )))
    .unwrap();
    let before = fp32.runs();
    fp32.feed(&fx.tokens[..100], &f[..100]).unwrap();
    assert_eq!(fp32.runs() - before, 1);
}

#[test]
fn the_ring_cache_gives_python_s_logits_as_the_window_fills_and_wraps() {
    // The Rust session against Python's ring decode of the same fp32 graph (see `Fixture`).
    use_fetched_ort();
    let (root, fx) = (root(), fixture());
    let mut model = load_model(&EngineConfig::on_cpu(ModelSource::from_path(
        root.join("models/default/model.onnx"),
    )))
    .unwrap();
    let f = fx.features(&model);
    let mut last = model.feed(&fx.tokens[..16], &f[..16]).unwrap().to_vec();
    let mut checked = 0;
    for i in 16..=fx.tokens.len() {
        if let Some(want) = fx.steps.get(&i) {
            let worst = want
                .iter()
                .zip(&last)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-3,
                "after {i} tokens the logits differ by {worst}"
            );
            checked += 1;
        }
        if i < fx.tokens.len() {
            last = model
                .feed(&fx.tokens[i..i + 1], &f[i..i + 1])
                .unwrap()
                .to_vec();
        }
    }
    assert_eq!(checked, fx.steps.len());
    assert_eq!(model.cache_len(), model.spec.window as usize - 1);
}

#[test]
fn the_built_in_int8_model_agrees_with_the_fp32_graph() {
    // The plugin embeds the int8 graph; Python measured its KL to fp32 at export. Here: the same
    // argmax as Python's fp32 decode at nearly every recorded step, and logits close.
    use_fetched_ort();
    let fx = fixture();
    let mut model = load_model(&EngineConfig::on_cpu(ModelSource::Embedded)).unwrap();
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0
    };
    let f = fx.features(&model);
    let mut last = model.feed(&fx.tokens[..16], &f[..16]).unwrap().to_vec();
    let (mut agree, mut worst) = (0, 0.0f32);
    for i in 16..=fx.tokens.len() {
        if let Some(want) = fx.steps.get(&i) {
            agree += usize::from(argmax(want) == argmax(&last));
            let mean = want
                .iter()
                .zip(&last)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / want.len() as f32;
            worst = worst.max(mean);
        }
        if i < fx.tokens.len() {
            last = model
                .feed(&fx.tokens[i..i + 1], &f[i..i + 1])
                .unwrap()
                .to_vec();
        }
    }
    assert!(
        agree + 1 >= fx.steps.len(),
        "argmax agrees at {agree} of {} steps",
        fx.steps.len()
    );
    assert!(worst < 0.2, "mean |logit difference| up to {worst}");
    eprintln!(
        "int8 vs fp32: argmax {agree}/{}, mean |diff| ≤ {worst:.4}",
        fx.steps.len()
    );
}

/// models/tests/fixtures/ring_logits.json: the shipped fp32 graph decoded by Python's RingDecoder
/// (prefill 16, then single steps) over 300 tokens; written by `python -m cadenza_model.cli.golden`.
#[derive(serde::Deserialize)]
struct Fixture {
    tokens: Vec<u32>,
    /// Per token, Python's features (see features.py): the tick within the beat and the keys
    /// sounding after it (Cadenza's, for a format 4 model).
    phase: Vec<u32>,
    held: Vec<Vec<u32>>,
    /// Format 4: whose each token is (1: the player's), and the player's keys after it.
    #[serde(default)]
    owners: Vec<u8>,
    #[serde(default)]
    player_held: Vec<Vec<u32>>,
    /// Format 5: per token the chord row Python fed (now root, now classes, next root, next
    /// classes, beats until it; -1/0 where unknown).
    #[serde(default)]
    chords: Vec<[i32; 5]>,
    /// Tokens fed → the logits that follow them.
    steps: std::collections::BTreeMap<usize, Vec<f32>>,
}

impl Fixture {
    /// The features the Rust side computes for the fixture's tokens, checked against Python's.
    fn features(&self, model: &cadenza::model::OnnxModel) -> Vec<Features> {
        let (vocab, tpb) = (model.spec.vocab(), model.spec.ticks_per_beat);
        assert_eq!(
            model.spec.two_streams(),
            !self.owners.is_empty(),
            "the fixture was written for this model's format: rewrite it (python -m cadenza_model.cli.golden)"
        );
        let players: Vec<bool> = self.owners.iter().map(|&o| o == 1).collect();
        let f = if players.is_empty() {
            Tracker::of(vocab, tpb, &self.tokens)
        } else {
            Tracker::of_owned(vocab, tpb, &self.tokens, &players)
        };
        assert_eq!(
            model.spec.hears_chords(),
            !self.chords.is_empty(),
            "the fixture was written for this model's format: rewrite it (python -m cadenza_model.cli.golden)"
        );
        let mut f = f;
        for (x, row) in f.iter_mut().zip(&self.chords) {
            // The same chord through the Rust layout: a wrong place gives other logits below.
            let chord = |root: i32, classes: i32| {
                (root >= 0).then_some(cadenza::chords::Harmony {
                    root: root as u8,
                    tones: classes as u16,
                    triad: classes as u16,
                    bass: root as u8,
                })
            };
            x.chord = cadenza::features::ChordFeature {
                now: chord(row[0], row[1]),
                next: chord(row[2], row[3]).map(|h| (h, row[4].max(0) as u8)),
            };
        }
        let phase: Vec<u32> = f.iter().map(|x| x.phase).collect();
        assert_eq!(phase, self.phase, "beat phase per token, Rust vs Python");
        let keys = |bits: u128| {
            (0..128)
                .filter(|&p| bits >> p & 1 == 1)
                .collect::<Vec<u32>>()
        };
        for (i, (x, want)) in f.iter().zip(&self.held).enumerate() {
            assert_eq!(
                &keys(x.held),
                want,
                "Cadenza's keys after token {i}, Rust vs Python"
            );
        }
        for (i, (x, want)) in f.iter().zip(&self.player_held).enumerate() {
            assert_eq!(
                &keys(x.player_held),
                want,
                "the player's keys after token {i}, Rust vs Python"
            );
            assert_eq!(x.player, players[i], "whose token {i} is");
        }
        f
    }
}

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> Fixture {
    let path = root().join("models/tests/fixtures/ring_logits.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_step_timing_auto_compares_leaves_the_model_as_it_was_loaded() {
    // Auto keeps whichever provider steps faster; its measurement must not leave context behind.
    use_fetched_ort();
    let mut model = load_model(&EngineConfig::on_cpu(ModelSource::Embedded)).unwrap();
    let v = model.spec.vocab();
    let none = [Features::default()];
    let first = model.feed(&[v.style_base], &none).unwrap().to_vec();
    model.reset();
    let us = model.step_median_us().unwrap();
    assert!(us.is_finite() && us > 0.0, "{us}");
    assert_eq!(model.cache_len(), 0, "the measurement's context is gone");
    assert_eq!(model.feed(&[v.style_base], &none).unwrap(), &first[..]);
}

#[test]
fn a_cache_built_in_the_spare_a_token_at_a_time_stands_in_for_a_prefill() {
    // What the engine does while idle: build the next window's cache in the spare, one token a run,
    // between steps on the live cache; at the move, swap it in and feed the last token again.
    // Against the same tokens fed one a run on a cache of its own: bit for bit (int8), to rounding
    // (fp32, against a one-run prefill: int8 would differ by its runs' scales, tested above).
    use_fetched_ort();
    for (what, source, tolerance) in [
        ("int8 (shipped)", ModelSource::Embedded, 0.0),
        (
            "fp32",
            ModelSource::from_path(root().join("models/default/model.onnx")),
            1e-4,
        ),
    ] {
        let mut model = load_model(&EngineConfig::on_cpu(source)).unwrap();
        let v = model.spec.vocab();
        let mut tokens = vec![v.encode(Event::Style(3)).unwrap()];
        for i in 0..40u8 {
            tokens.push(v.encode(Event::NoteOn(60 + i % 7)).unwrap());
            tokens.push(v.encode(Event::Shift(4 + u32::from(i % 5))).unwrap());
            tokens.push(v.encode(Event::NoteOff(60 + i % 7)).unwrap());
        }
        let f = Tracker::of(v, model.spec.ticks_per_beat, &tokens);
        let n = tokens.len();
        let want = if tolerance == 0.0 {
            (0..n)
                .map(|i| model.feed(&tokens[i..=i], &f[i..=i]).unwrap().to_vec())
                .last()
                .unwrap()
        } else {
            model.feed(&tokens, &f).unwrap().to_vec()
        };
        // Another context on the live cache, stepped between the spare's tokens.
        model.reset();
        let live: Vec<u32> = tokens.iter().rev().copied().collect();
        let lf = Tracker::of(v, model.spec.ticks_per_beat, &live);
        model.feed(&live[..1], &lf[..1]).unwrap();
        for i in 0..n {
            model.swap_caches(0);
            model.feed(&tokens[i..=i], &f[i..=i]).unwrap();
            model.swap_caches(0);
            let j = 1 + i % (n - 1);
            model.truncate(j);
            model.feed(&live[j..=j], &lf[j..=j]).unwrap();
        }
        assert_eq!(
            model.cache_len(),
            2,
            "{what}: the live cache, last cut to 1 and stepped"
        );
        model.swap_caches(0);
        assert_eq!(
            model.cache_len(),
            n,
            "{what}: the spare holds the whole context"
        );
        model.truncate(n - 1);
        let got = model.feed(&tokens[n - 1..], &f[n - 1..]).unwrap().to_vec();
        let worst = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= tolerance, "{what}: logits differ by {worst}");
    }
}
