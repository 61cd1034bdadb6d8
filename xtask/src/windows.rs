//! Cadenza for Windows, cross-built here with mingw-w64 (`x86_64-pc-windows-gnu`), and its tests under
//! Wine.
//!
//! - [`bundle`]: `Cadenza.clap`, `Cadenza.vst3` (`Contents/x86_64-win/Cadenza.vst3`) and the CLI
//!   `Cadenza.exe` in `target/windows/bundled/`, each with ONNX Runtime's DLL from the pinned
//!   win_amd64 wheel beside it (`onnxruntime-<version>.dll`, src/runtime.rs). nice-plug's bundler writes
//!   into `<its target dir>/bundled/`, where the Linux bundles are: it is given `target/windows/`,
//!   whose `x86_64-pc-windows-gnu` is a link to the build's own folder, so nothing is built twice and
//!   neither platform's `Cadenza.clap` overwrites the other's.
//! - [`test`]: the debug bundles, then the host-level tests cross-built and run under Wine
//!   (`tests/windows/setup.sh test` installs Wine and makes the prefix), then the Windows CLI against
//!   the Linux one (tests/windows_cli.rs, on Linux).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::{fetch_wheel, place_ort, run, target_dir, WINDOWS_WHEEL};

/// The Rust target.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// The tests that run under Wine: the CLAP host (a player, a tempo change, stops, the grid, every note
/// ended), MIDI passing through without ONNX Runtime, a wrong library refused, ONNX Runtime loaded from
/// the bundle past decoys on the search path, and the VST3 host.
const WINE_TESTS: &[&str] = &[
    "clap_host",
    "no_runtime",
    "wrong_runtime",
    "windows_runtime",
    "vst3_host",
];

/// Build the Windows bundles and CLI (`release` or debug); returns the folder holding them.
pub fn bundle(release: bool) -> Result<PathBuf> {
    run(Command::new("bash")
        .arg("tests/windows/setup.sh")
        .arg("build"))?;
    let dll = fetch_wheel(&WINDOWS_WHEEL)?;
    let mut build = Command::new("cargo");
    build.args(["build", "--target", TARGET, "--lib", "--bin", "cadenza"]);
    if release {
        build.arg("--release");
    }
    run(&mut build)?;
    // nice-plug's bundler finds the build in `<dir>/<target>/<profile>/` and writes `<dir>/bundled/`.
    let dir = target_dir().join("windows");
    std::fs::create_dir_all(&dir)?;
    let link = dir.join(TARGET);
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(Path::new("..").join(TARGET), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    let mut args = vec!["--target".to_string(), TARGET.to_string()];
    if release {
        args.push("--release".into());
    }
    nice_plug_xtask::bundle(&dir, "cadenza", &args, false)?;
    let bundled = dir.join("bundled");
    // Beside the plugin in both bundles, and so beside Cadenza.exe too (it lies in `bundled/`).
    place_ort(&dll, &bundled, "x86_64-win")?;
    Ok(bundled)
}

/// The Windows tests: bundles (debug, with assert_process_allocs as on Linux), the host-level tests
/// under Wine, then the Windows CLI's output against the Linux CLI's.
pub fn test(linux_cli: &Path) -> Result<()> {
    run(Command::new("bash")
        .arg("tests/windows/setup.sh")
        .arg("test"))?;
    let bundled = std::fs::canonicalize(bundle(false)?)?;
    let prefix = std::fs::canonicalize(target_dir().join("wine"))?;
    let decoy = std::fs::canonicalize(target_dir().join("wine-dlls/onnxruntime.dll"))?;
    // Wine asks Linux for no AMX state; ONNX Runtime's int8 kernels use it where the CPU has it
    // (tests/windows/setup.sh).
    let amx = std::fs::canonicalize(target_dir().join("wine-dlls/libamxperm.so"))?;
    // `cargo test` for Windows, each test binary run by Wine in the project's prefix, with AMX asked for.
    let under_wine = |tests: &[&str]| {
        let mut cmd = Command::new("cargo");
        cmd.args(["test", "--target", TARGET, "--features", "host"])
            .args(tests)
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", "wine")
            .env("LD_PRELOAD", &amx)
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .env("CADENZA_TEST_BUNDLE_DIR", &bundled)
            .env("CADENZA_DECOY_DLL", &decoy);
        cmd
    };
    let listed: Vec<&str> = WINE_TESTS.iter().flat_map(|t| ["--test", t]).collect();
    run(&mut under_wine(&listed))?;
    // A tempo change inside a block, every note on the new grid (of the real-time sessions, the one
    // the issue asks for; the rest of playing_together.rs runs on Linux).
    run(&mut under_wine(&[
        "--test",
        "playing_together",
        "--",
        "a_tempo_change_inside_a_block",
    ]))?;
    run(Command::new("cargo")
        .args(["test", "--test", "windows_cli", "--", "--include-ignored"])
        .env("CADENZA_WINE_PRELOAD", &amx)
        .env("WINEPREFIX", &prefix)
        .env("WINEDEBUG", "-all")
        .env("CADENZA_WINDOWS_BUNDLE_DIR", &bundled)
        .env("CADENZA_LINUX_CLI", linux_cli))
}
