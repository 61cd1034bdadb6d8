//! A library that is not ONNX Runtime where ONNX Runtime should be: a clear error, no crash.
//! (Its own test binary: ONNX Runtime, once loaded, stays loaded for the process.)

use cadenza::engine::{load_model, EngineConfig};
use cadenza::model::ModelSource;
use cadenza::runtime::ORT_ENV_VAR;

#[test]
fn a_library_that_is_not_onnx_runtime_is_refused_with_its_path() {
    let (not_ort, name) = not_onnx_runtime();
    // SAFETY: (set_var) the only test in this binary, before anything reads the environment.
    unsafe { std::env::set_var(ORT_ENV_VAR, not_ort) };
    let err = match load_model(&EngineConfig::on_cpu(ModelSource::Embedded)) {
        Ok(_) => panic!("{name} was taken for ONNX Runtime"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(name), "the message names the library: {err}");
    // And it stays an error (no panic, no half-initialised runtime) when asked again.
    assert!(load_model(&EngineConfig::on_cpu(ModelSource::Embedded)).is_err());
}

/// A library every system has that exports no OrtGetApiBase, and its file name: libm on glibc systems.
#[cfg(not(windows))]
fn not_onnx_runtime() -> (String, &'static str) {
    let path = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).is_file())
    .expect("no libm.so.6 to stand in for a wrong library");
    (path.to_string(), "libm.so.6")
}

/// A library every system has that exports no OrtGetApiBase, and its file name: version.dll on Windows.
#[cfg(windows)]
fn not_onnx_runtime() -> (String, &'static str) {
    let root = std::env::var("SystemRoot").unwrap_or_else(|_| "C:\\Windows".into());
    let path = std::path::Path::new(&root)
        .join("System32")
        .join("version.dll");
    assert!(
        path.is_file(),
        "no {} to stand in for a wrong library",
        path.display()
    );
    (path.display().to_string(), "version.dll")
}
