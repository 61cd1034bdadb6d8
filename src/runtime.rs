//! Finding and loading the ONNX Runtime shared library, and the process-wide ORT environment.
//!
//! The bundles carry `libonnxruntime.so.<ORT_VERSION>` beside the plugin binary (inside
//! `Cadenza.vst3/Contents/x86_64-linux/`, and next to `Cadenza.clap`). Search order:
//! 1. `$CADENZA_ORT_LIB` (a file path). When set, it is the only place looked at.
//! 2. Beside the binary this code is in (found with `dladdr`, so it works inside a host).
//! 3. The sibling bundle of the other format in the user's plugin folders (~/.vst3, ~/.clap).
//!
//! Failing to load is an error value, never a panic. The environment is created once per process and
//! never dropped (ONNX Runtime allows one per process); it has no custom logger, so ONNX Runtime never
//! calls back into this library, which a host may unload. A failed attempt is not cached: the next
//! activation tries again (after the user has installed the library, say).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;

/// The ONNX Runtime release the bundles carry (from the PyPI `onnxruntime` wheel).
pub const ORT_VERSION: &str = "1.31.1";
/// Its file name.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";
/// Environment variable overriding the library's location.
pub const ORT_ENV_VAR: &str = "CADENZA_ORT_LIB";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime library not found (looked in: {searched}). Reinstall the Cadenza bundle, which carries {ORT_LIB_NAME}, or set {ORT_ENV_VAR}.")]
    NotFound { searched: String },
    #[error("ONNX Runtime library at {path} could not be loaded: {reason}")]
    Load { path: String, reason: String },
    #[error("ONNX Runtime environment could not be created: {0}")]
    Environment(String),
}

static ENVIRONMENT: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// The process-wide environment, loading the library on first success. Engine thread only (it may
/// block on the dynamic loader).
pub fn environment() -> Result<(Environment, PathBuf), RuntimeError> {
    let mut guard = ENVIRONMENT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(env) = guard.as_ref() {
        return Ok(env.clone());
    }
    let path = locate()?;
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::Load {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("cadenza")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Environment(e.to_string()))?;
    *guard = Some((env.clone(), path.clone()));
    Ok((env, path))
}

/// Where the library would be loaded from, or what was searched.
pub fn locate() -> Result<PathBuf, RuntimeError> {
    if let Some(p) = std::env::var_os(ORT_ENV_VAR).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(RuntimeError::NotFound {
                searched: format!("{} (from {ORT_ENV_VAR})", p.display()),
            })
        };
    }
    let candidates = candidates(
        own_binary_dir().as_deref(),
        std::env::var_os("HOME").map(PathBuf::from).as_deref(),
    );
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| RuntimeError::NotFound {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn candidates(own_dir: Option<&Path>, home: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = own_dir {
        out.push(dir.join(ORT_LIB_NAME));
    }
    if let Some(home) = home {
        out.push(
            home.join(".vst3/Cadenza.vst3/Contents/x86_64-linux")
                .join(ORT_LIB_NAME),
        );
        out.push(home.join(".clap").join(ORT_LIB_NAME));
    }
    // Installed in ~/.clap, the binary's own directory is one of the fallbacks: list it once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// The directory of the shared object (or executable) this function is compiled into.
pub fn own_binary_dir() -> Option<PathBuf> {
    own_binary_path().and_then(|p| p.parent().map(Path::to_path_buf))
}

fn own_binary_path() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = own_binary_path as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables for an address inside this very object and fills
    // `info`; `dli_fname` is a NUL-terminated string owned by the loader, copied out before returning.
    let found = unsafe { libc::dladdr(addr, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated, per dladdr's contract, and valid while this object is loaded.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    use std::os::unix::ffi::OsStrExt;
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    path.canonicalize().ok().or(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_beside_the_binary_first_then_the_plugin_folders() {
        let c = candidates(
            Some(Path::new("/b/Cadenza.vst3/Contents/x86_64-linux")),
            Some(Path::new("/home/u")),
        );
        assert_eq!(
            c[0],
            Path::new("/b/Cadenza.vst3/Contents/x86_64-linux").join(ORT_LIB_NAME)
        );
        assert_eq!(
            c[1],
            Path::new("/home/u/.vst3/Cadenza.vst3/Contents/x86_64-linux").join(ORT_LIB_NAME)
        );
        assert_eq!(c[2], Path::new("/home/u/.clap").join(ORT_LIB_NAME));
        let installed = candidates(Some(Path::new("/home/u/.clap")), Some(Path::new("/home/u")));
        assert_eq!(installed.len(), 2, "no duplicates: {installed:?}");
    }

    #[test]
    fn own_binary_is_found() {
        let dir = own_binary_dir().expect("dladdr finds the test binary");
        assert!(dir.is_dir());
    }
}
