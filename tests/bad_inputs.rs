//! Bad model files through ONNX Runtime: each refused with a message that names the problem.
//! (Its own test binary: it points ONNX Runtime at the fetched library before anything loads it.)
#![cfg(feature = "host")]

use std::path::PathBuf;

use cadenza::engine::{load_model, EngineConfig};
use cadenza::host::use_fetched_ort;
use cadenza::model::{ModelError, ModelSource, DEFAULT_MODEL_JSON, DEFAULT_MODEL_ONNX};

fn model_dir(name: &str, onnx: &[u8], json: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cadenza-bad-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("model.onnx"), onnx).unwrap();
    std::fs::write(d.join("model.json"), json).unwrap();
    d.join("model.onnx")
}

fn load(path: PathBuf) -> Result<(), ModelError> {
    load_model(&EngineConfig::on_cpu(ModelSource::File(path))).map(|_| ())
}

#[test]
fn corrupt_or_truncated_model_bytes_are_refused_as_such() {
    use_fetched_ort();
    let err = load(model_dir(
        "garbage",
        b"\x08\x07definitely not protobuf",
        DEFAULT_MODEL_JSON,
    ))
    .unwrap_err();
    assert!(matches!(err, ModelError::Onnx(_)), "{err:?}");
    assert!(
        err.to_string().contains("corrupt or not an ONNX model"),
        "{err}"
    );
    let half = &DEFAULT_MODEL_ONNX[..DEFAULT_MODEL_ONNX.len() / 2];
    let err = load(model_dir("truncated", half, DEFAULT_MODEL_JSON)).unwrap_err();
    assert!(matches!(err, ModelError::Onnx(_)), "{err:?}");
}

#[test]
fn a_valid_onnx_that_does_not_match_its_model_json_is_refused_naming_the_difference() {
    use_fetched_ort();
    let json = DEFAULT_MODEL_JSON.replace("\"tokens\": \"tokens\"", "\"tokens\": \"input_ids\"");
    assert_ne!(json, DEFAULT_MODEL_JSON, "the fixture edit did not apply");
    let err = load(model_dir("mismatch", DEFAULT_MODEL_ONNX, &json)).unwrap_err();
    assert!(matches!(err, ModelError::Mismatch(_)), "{err:?}");
    assert!(err.to_string().contains("input_ids"), "{err}");
    // A vocabulary one token longer than the graph's logits.
    let json = DEFAULT_MODEL_JSON
        .replace("\"size\": 323", "\"size\": 324")
        .replace("\"max_shift\": 48", "\"max_shift\": 49");
    let err = load(model_dir("vocab", DEFAULT_MODEL_ONNX, &json)).unwrap_err();
    assert!(matches!(err, ModelError::Mismatch(_)), "{err:?}");
    assert!(err.to_string().contains("324 tokens"), "{err}");
    // Another beat resolution than the graph's features input was made for, with the feature layout
    // model.json then has to state (else the spec refuses it first: see spec.rs).
    let mut spec: serde_json::Value = serde_json::from_str(DEFAULT_MODEL_JSON).unwrap();
    spec["ticks_per_beat"] = 12.into();
    spec["feature_layout"]["phase"] = serde_json::json!([256, 268]);
    spec["feature_layout"]["player"] = serde_json::json!([268, 269]);
    spec["feature_layout"]["role"] = serde_json::json!([269, 273]);
    let json = spec.to_string();
    let err = load(model_dir("phase", DEFAULT_MODEL_ONNX, &json)).unwrap_err();
    assert!(matches!(err, ModelError::Mismatch(_)), "{err:?}");
    assert!(err.to_string().contains("ticks_per_beat 12"), "{err}");
    // The right pair from disk loads.
    load(model_dir("good", DEFAULT_MODEL_ONNX, DEFAULT_MODEL_JSON)).unwrap();
}
