//! Finding and loading the ONNX Runtime shared library, and the process-wide ORT environment.
//!
//! The bundles carry the library from the pinned PyPI wheel beside the plugin binary: on Linux
//! `libonnxruntime.so.<ORT_VERSION>` (inside `Cadenza.vst3/Contents/x86_64-linux/`, and next to
//! `Cadenza.clap`), on Windows `onnxruntime-<ORT_VERSION>.dll` (inside
//! `Cadenza.vst3/Contents/x86_64-win/`, and next to `Cadenza.clap`). It is always loaded by its full
//! path, never by name: on Windows a load by name finds whatever `onnxruntime.dll` the host's folder,
//! System32 or PATH holds first (Windows ships one, and other applications install older ones), and
//! the versioned name keeps it apart from another plugin's `onnxruntime.dll` in the same CLAP folder.
//! Search order:
//! 1. `$CADENZA_ORT_LIB` (a file path). When set, it is the only place looked at.
//! 2. Beside the binary this code is in (found from an address inside it, `dladdr` on Unix,
//!    `GetModuleHandleExW` on Windows, so it works inside a host).
//! 3. The sibling bundle of the other format in the plugin folders (~/.vst3 and ~/.clap on Linux,
//!    `%COMMONPROGRAMFILES%\VST3` and `%COMMONPROGRAMFILES%\CLAP` on Windows).
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
/// Its file name in the bundles.
#[cfg(not(windows))]
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";
/// Its file name in the bundles (the wheel's `onnxruntime.dll`, renamed: see the module's docs).
#[cfg(windows)]
pub const ORT_LIB_NAME: &str = "onnxruntime-1.31.1.dll";
/// The folder inside `Cadenza.vst3/Contents/` that holds the plugin binary.
#[cfg(not(windows))]
pub const VST3_ARCH_DIR: &str = "x86_64-linux";
/// The folder inside `Cadenza.vst3/Contents/` that holds the plugin binary.
#[cfg(windows)]
pub const VST3_ARCH_DIR: &str = "x86_64-win";
/// Environment variable overriding the library's location.
pub const ORT_ENV_VAR: &str = "CADENZA_ORT_LIB";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
/// Why ONNX Runtime could not be used.
pub enum RuntimeError {
    #[error("ONNX Runtime library not found (looked in: {searched}). Reinstall the Cadenza bundle, which carries {ORT_LIB_NAME}, or set {ORT_ENV_VAR}.")]
    /// No library where Cadenza looks.
    NotFound {
        /// Where it looked.
        searched: String,
    },
    #[error("ONNX Runtime library at {path} could not be loaded: {reason}")]
    /// A library that is not a usable ONNX Runtime.
    Load {
        /// The library.
        path: String,
        /// The loader's reason.
        reason: String,
    },
    #[error("ONNX Runtime environment could not be created: {0}")]
    /// The library loaded, but its environment could not be created.
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
    let candidates = candidates(own_binary_dir().as_deref(), plugin_folders());
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

/// Where the plugin folders are: (the environment variable naming their parent, the VST3 folder's
/// name in it, the CLAP folder's).
#[cfg(not(windows))]
const PLUGIN_FOLDERS: (&str, &str, &str) = ("HOME", ".vst3", ".clap");
/// Where the plugin folders are: (the environment variable naming their parent, the VST3 folder's
/// name in it, the CLAP folder's).
#[cfg(windows)]
const PLUGIN_FOLDERS: (&str, &str, &str) = ("COMMONPROGRAMFILES", "VST3", "CLAP");

/// The user's (or the system's) plugin folders: (VST3, CLAP), when the variable is set.
fn plugin_folders() -> Option<(PathBuf, PathBuf)> {
    let (var, vst3, clap) = PLUGIN_FOLDERS;
    let base = PathBuf::from(std::env::var_os(var)?);
    Some((base.join(vst3), base.join(clap)))
}

fn candidates(own_dir: Option<&Path>, folders: Option<(PathBuf, PathBuf)>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = own_dir {
        out.push(dir.join(ORT_LIB_NAME));
    }
    if let Some((vst3, clap)) = folders {
        out.push(
            vst3.join("Cadenza.vst3/Contents")
                .join(VST3_ARCH_DIR)
                .join(ORT_LIB_NAME),
        );
        out.push(clap.join(ORT_LIB_NAME));
    }
    // Installed in the CLAP folder, the binary's own directory is one of the fallbacks: list it once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// The directory of the shared object (or executable) this function is compiled into.
pub fn own_binary_dir() -> Option<PathBuf> {
    own_binary_path().and_then(|p| p.parent().map(Path::to_path_buf))
}

#[cfg(not(windows))]
fn own_binary_path() -> Option<PathBuf> {
    // SAFETY: `Dl_info` is plain C data (pointers and integers): all zeros is a valid value.
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

#[cfg(windows)]
fn own_binary_path() -> Option<PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    use windows_sys::Win32::Foundation::HMODULE;
    use windows_sys::Win32::System::LibraryLoader::{
        GetModuleFileNameW, GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
        GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
    };
    let mut module: HMODULE = std::ptr::null_mut();
    let addr = own_binary_path as *const u16;
    // SAFETY: with FROM_ADDRESS the "name" is an address inside this very module (this function);
    // UNCHANGED_REFCOUNT takes no reference, so nothing is to be released. `module` is written on success.
    let found = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            addr,
            &mut module,
        )
    };
    if found == 0 || module.is_null() {
        return None;
    }
    // Long paths: grow the buffer until the name fits (a truncated name fills it exactly).
    let mut buf = vec![0u16; 512];
    loop {
        // SAFETY: `buf` is valid for `buf.len()` u16s; the call writes at most that many.
        let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) } as usize;
        if n == 0 {
            return None;
        }
        if n < buf.len() {
            buf.truncate(n);
            break;
        }
        if buf.len() >= 1 << 16 {
            return None;
        }
        buf.resize(buf.len() * 2, 0);
    }
    Some(PathBuf::from(std::ffi::OsString::from_wide(&buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_beside_the_binary_first_then_the_plugin_folders() {
        let bundle = Path::new("/b/Cadenza.vst3/Contents").join(VST3_ARCH_DIR);
        let folders = Some((PathBuf::from("/u/vst3"), PathBuf::from("/u/clap")));
        let c = candidates(Some(&bundle), folders.clone());
        assert_eq!(c[0], bundle.join(ORT_LIB_NAME));
        assert_eq!(
            c[1],
            Path::new("/u/vst3/Cadenza.vst3/Contents")
                .join(VST3_ARCH_DIR)
                .join(ORT_LIB_NAME)
        );
        assert_eq!(c[2], Path::new("/u/clap").join(ORT_LIB_NAME));
        let installed = candidates(Some(Path::new("/u/clap")), folders);
        assert_eq!(installed.len(), 2, "no duplicates: {installed:?}");
    }

    #[test]
    fn the_plugin_folders_are_the_platforms() {
        let (var, vst3, clap) = PLUGIN_FOLDERS;
        if let Some(base) = std::env::var_os(var) {
            assert_eq!(
                plugin_folders(),
                Some((Path::new(&base).join(vst3), Path::new(&base).join(clap)))
            );
        }
        #[cfg(not(windows))]
        assert_eq!(PLUGIN_FOLDERS, ("HOME", ".vst3", ".clap"));
        #[cfg(windows)]
        assert_eq!(PLUGIN_FOLDERS, ("COMMONPROGRAMFILES", "VST3", "CLAP"));
    }

    #[test]
    fn own_binary_is_found() {
        let dir = own_binary_dir().expect("the loader knows the test binary");
        assert!(dir.is_dir());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(
            dir.canonicalize().unwrap(),
            exe.parent().unwrap().canonicalize().unwrap(),
            "a test binary's code is in the test binary"
        );
    }
}
