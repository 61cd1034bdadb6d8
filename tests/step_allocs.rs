//! A decode step (and a feed of up to eight tokens: a played note with the rests around it)
//! allocates nothing on the engine thread's Rust side: its inputs, its outputs and the
//! ring cache are ONNX Runtime tensors made at load and reused. (ONNX Runtime's own C++ allocations
//! are not seen by Rust's allocator; its CPU arena serves the graph's intermediates.)
//! Checked with the allocator the audio-thread tests use (nice-plug's `assert_process_allocs`, in
//! debug builds): an allocation inside `assert_no_alloc` aborts the test binary with "memory
//! allocation of N bytes failed".
#![cfg(feature = "host")]

use cadenza::engine::{load_model, EngineConfig};
use cadenza::features::Tracker;
use cadenza::host::use_fetched_ort;
use cadenza::model::ModelSource;
use nice_assert_no_alloc::assert_no_alloc;

#[test]
fn a_decode_step_allocates_nothing_on_the_rust_side() {
    use_fetched_ort();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (what, source) in [
        ("int8 (shipped)", ModelSource::Embedded),
        (
            "fp32",
            ModelSource::from_path(root.join("models/default/model.onnx")),
        ),
    ] {
        let mut model = load_model(&EngineConfig::on_cpu(source)).unwrap();
        let v = model.spec.vocab();
        let context: Vec<u32> = std::iter::once(v.style_base)
            .chain((0..40).map(|i| v.note_on_base + 50 + i % 20))
            .collect();
        let mut all = context.clone();
        all.push(v.shift_base + 3);
        // A played note with the rests around it: a few tokens in one feed.
        let burst = [
            v.shift_base + 5,
            v.note_on_base + 62,
            v.shift_base + 2,
            v.note_off_base + 62,
        ];
        all.extend(burst);
        let f = Tracker::of(v, model.spec.ticks_per_beat, &all);
        let (next, next_f) = (
            &all[context.len()..=context.len()],
            &f[context.len()..=context.len()],
        );
        let (burst, burst_f) = (&all[context.len()..], &f[context.len()..]);
        for _ in 0..2 {
            model.feed(&context, &f[..context.len()]).unwrap();
            model.feed(next, next_f).unwrap();
            model.swap_caches(0);
        }
        let before = model.logits().to_vec();
        assert_no_alloc(|| {
            for _ in 0..50 {
                // As the engine does: a played note and the rests around it in one feed, roll
                // back (a new plan) and step...
                model.truncate(context.len());
                model.feed(burst, burst_f).unwrap();
                model.truncate(context.len());
                model.feed(next, next_f).unwrap();
                // ...and while idle, a token into the spare cache.
                model.swap_caches(0);
                model.truncate(context.len());
                model.feed(next, next_f).unwrap();
                model.swap_caches(0);
            }
        });
        assert_eq!(
            model.logits(),
            &before[..],
            "{what}: the same step, the same logits"
        );
    }
}
