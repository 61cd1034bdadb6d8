//! What the host-level tests and tools share besides the host: where ONNX Runtime and the bundles
//! are, saved states with a field changed, a model folder with a style added.

use std::path::Path;

/// The ONNX Runtime library `cargo xtask fetch-ort` put in `.cache/` (tests and tools that run the
/// model outside a bundle): `$CADENZA_ORT_LIB` when set, else the fetched copy, which must exist.
pub fn fetched_ort() -> std::path::PathBuf {
    use crate::runtime::{ORT_ENV_VAR, ORT_LIB_NAME, ORT_VERSION};
    if let Some(p) = std::env::var_os(ORT_ENV_VAR).filter(|p| !p.is_empty()) {
        return p.into();
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!(".cache/onnxruntime/{ORT_VERSION}/{ORT_LIB_NAME}"));
    assert!(
        lib.is_file(),
        "{} missing: run `cargo xtask fetch-ort` (`cargo xtask test` does)",
        lib.display()
    );
    lib
}

/// Point this process's ONNX Runtime at [`fetched_ort`]. Call first thing in a test binary.
pub fn use_fetched_ort() {
    let lib = fetched_ort();
    // SAFETY: (set_var) test binaries call this before they start threads that read the environment;
    // every caller sets the same value.
    unsafe { std::env::set_var(crate::runtime::ORT_ENV_VAR, lib) };
}

/// A saved state (8-byte length + JSON, as nice-plug writes it) with the persisted field `key`
/// replaced by `value` (as the plugin would have saved it).
pub fn state_with_field(saved: &[u8], key: &str, value: &impl serde::Serialize) -> Vec<u8> {
    let mut json: serde_json::Value =
        serde_json::from_slice(&saved[8..]).expect("a nice-plug state");
    json["fields"][key] = serde_json::Value::String(serde_json::to_string(value).unwrap());
    let body = serde_json::to_vec(&json).unwrap();
    let mut state = (body.len() as u64).to_le_bytes().to_vec();
    state.extend_from_slice(&body);
    state
}

/// A persisted field of a saved state, as saved (JSON text), if there.
pub fn state_field(saved: &[u8], key: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&saved[8..]).ok()?;
    json["fields"][key].as_str().map(str::to_string)
}

/// A model folder as the fine-tune command writes it: the shipped fp32 weights (models/default/model.onnx;
/// the fine-tune writes fp32), with `style` added as a sixth style in model.json. The style's token is
/// untrained here (a real fine-tune trains it): play one of the trained styles to hear the model.
/// Returns the folder (under the temp dir, named by `tag`).
pub fn model_with_style(tag: &str, style: &str) -> std::path::PathBuf {
    use crate::model::DEFAULT_MODEL_JSON;
    let dir = std::env::temp_dir().join(format!("cadenza-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(DEFAULT_MODEL_JSON).unwrap();
    spec["styles"].as_array_mut().unwrap().push(style.into());
    spec["name"] = format!("cadenza-base+{style}").into();
    std::fs::write(
        dir.join("model.json"),
        serde_json::to_string_pretty(&spec).unwrap(),
    )
    .unwrap();
    let fp32 = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default/model.onnx");
    std::fs::copy(&fp32, dir.join("model.onnx")).unwrap();
    dir
}

/// The bundles to test: `$CADENZA_TEST_BUNDLE_DIR` (set by `cargo xtask test`), else target/bundled.
pub fn bundle_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("CADENZA_TEST_BUNDLE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bundled"));
    assert!(
        dir.join("Cadenza.clap").is_file(),
        "no Cadenza.clap in {}: run `cargo xtask bundle cadenza` first (`cargo xtask test` does)",
        dir.display()
    );
    dir
}
