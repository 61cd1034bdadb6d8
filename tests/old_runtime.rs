//! An ONNX Runtime that is too old where the bundle's should be: refused with both versions named,
//! never a crash. The old library is a stub built here with the system C compiler: it answers
//! `OrtGetApiBase` like ONNX Runtime 1.10 would, and has no API to give.
//! (Its own test binary: ONNX Runtime, once loaded, stays loaded for the process.)

use cadenza::engine::{load_model, EngineConfig};
use cadenza::model::ModelSource;
use cadenza::runtime::ORT_ENV_VAR;

const STUB: &str = r#"
#include <stddef.h>
typedef struct { const void* (*GetApi)(unsigned); const char* (*GetVersionString)(void); } OrtApiBase;
static const void* get_api(unsigned v) { (void)v; return NULL; }
static const char* version(void) { return "1.10.0"; }
static const OrtApiBase base = { get_api, version };
const OrtApiBase* OrtGetApiBase(void) { return &base; }
"#;

#[test]
fn a_too_old_onnx_runtime_is_refused_naming_both_versions() {
    let dir = std::env::temp_dir().join(format!("cadenza-old-ort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("stub.c");
    let lib = dir.join("libonnxruntime.so.1.10.0");
    std::fs::write(&src, STUB).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = std::process::Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status();
    assert!(
        built.is_ok_and(|s| s.success()),
        "could not build the stub with `{cc}` (the C compiler Rust links with)"
    );
    // SAFETY: (set_var) the only test in this binary, before anything reads the environment.
    unsafe { std::env::set_var(ORT_ENV_VAR, &lib) };
    let err = match load_model(&EngineConfig::on_cpu(ModelSource::Embedded)) {
        Ok(_) => panic!("a 1.10 library was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("1.10.0") && err.contains("not compatible"),
        "{err}"
    );
    assert!(
        err.contains(&lib.display().to_string()),
        "the message names the library: {err}"
    );
}
