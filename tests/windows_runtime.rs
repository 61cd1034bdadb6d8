//! On Windows Cadenza loads ONNX Runtime from its own bundle, by full path, past decoys: a DLL named
//! `onnxruntime.dll` that is not ONNX Runtime beside the host (the first place Windows looks for a DLL
//! loaded by name), in a folder on PATH, and in System32 (tests/windows/setup.sh puts one in the Wine
//! prefix's), as an older copy Windows or another application installed would be.
//! (Its own test binary: ONNX Runtime, once loaded, stays loaded for the process.)
#![cfg(all(windows, feature = "host"))]

use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use cadenza::host::{bundle_dir, ClapHost, PlayedNote, Session, PLAYER_CHANNEL};
use cadenza::runtime::{ORT_ENV_VAR, ORT_LIB_NAME};
use windows_sys::Win32::System::LibraryLoader::{GetModuleFileNameW, GetModuleHandleW};

/// The full path of the loaded module named `name`, if one is loaded.
fn loaded(name: &str) -> Option<PathBuf> {
    let wide: Vec<u16> = std::ffi::OsStr::new(name)
        .encode_wide()
        .chain([0])
        .collect();
    // SAFETY: a NUL-terminated name; GetModuleHandleW takes no reference.
    let module = unsafe { GetModuleHandleW(wide.as_ptr()) };
    if module.is_null() {
        return None;
    }
    let mut buf = vec![0u16; 4096];
    // SAFETY: `buf` is valid for its length; the call writes at most that many.
    let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) } as usize;
    Some(PathBuf::from(std::ffi::OsString::from_wide(&buf[..n])))
}

#[test]
fn onnx_runtime_comes_from_the_bundle_past_decoys_on_the_search_path() {
    let decoy = std::env::var_os("CADENZA_DECOY_DLL")
        .map(PathBuf::from)
        .expect("CADENZA_DECOY_DLL: a DLL that is not ONNX Runtime (cargo xtask test sets it)");
    let host_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::copy(&decoy, host_dir.join("onnxruntime.dll")).unwrap();
    let on_path = std::env::temp_dir().join(format!("cadenza-decoy-{}", std::process::id()));
    std::fs::create_dir_all(&on_path).unwrap();
    std::fs::copy(&decoy, on_path.join("onnxruntime.dll")).unwrap();
    let path = std::env::join_paths(
        std::iter::once(on_path.clone()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap();
    // SAFETY (set_var, remove_var): the only test in this binary, before any other thread exists.
    unsafe {
        std::env::set_var("PATH", path);
        std::env::remove_var(ORT_ENV_VAR);
    }
    // A load by name finds a decoy, which is not ONNX Runtime.
    {
        // SAFETY: loading the decoy runs no initialiser of note; its one export takes no arguments.
        let lib = unsafe { libloading::Library::new("onnxruntime.dll") }.expect("a decoy by name");
        let api: libloading::Symbol<unsafe extern "C" fn() -> *const u8> =
            unsafe { lib.get(b"OrtGetApiBase") }.unwrap();
        // SAFETY: the decoy's export, as declared in tests/windows/setup.sh.
        assert!(unsafe { api() }.is_null(), "the decoy is not ONNX Runtime");
    }
    assert_eq!(loaded("onnxruntime.dll"), None, "the decoy was unloaded");

    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    host.activate(48_000.0, 512).unwrap();
    let session = Session {
        sample_rate: 48_000.0,
        block: 512,
        tempo: 120.0,
        preroll_seconds: 1.5,
        beats: 8.0,
        postroll_seconds: 0.2,
        played: vec![PlayedNote {
            beat: 0.0,
            length: 1.0,
            key: 60,
            velocity: 0.8,
        }],
        realtime: true,
        loop_beats: None,
    };
    let logs = session.run(&mut host).unwrap();
    host.deactivate();
    let generated = logs
        .iter()
        .flat_map(|b| b.events.iter())
        .filter(|e| e.channel != PLAYER_CHANNEL && e.on)
        .count();
    assert!(generated > 0, "Cadenza played nothing: no ONNX Runtime?");
    let ort = loaded(ORT_LIB_NAME).expect("ONNX Runtime is loaded, under its versioned name");
    assert_eq!(
        ort.canonicalize().unwrap(),
        bundle_dir().join(ORT_LIB_NAME).canonicalize().unwrap(),
        "ONNX Runtime came from the bundle"
    );
    assert_eq!(
        loaded("onnxruntime.dll"),
        None,
        "nothing loaded a decoy by name"
    );
    drop(host);
}
