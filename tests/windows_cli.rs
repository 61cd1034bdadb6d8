//! The Windows `Cadenza.exe` (cross-built, run under Wine) writes what the Linux `cadenza` writes for
//! the same options and seed: the same notes, compared exactly (onset, length, pitch, velocity). Both
//! run the same int8 graph in the same ONNX Runtime release on the same CPU, and sampling is Cadenza's
//! own seeded code, so nothing is allowed to differ; a difference would mean the Windows build plays
//! other music. The Windows program finds its ONNX Runtime beside itself (no `CADENZA_ORT_LIB`).
//!
//! It needs the Windows bundle and Wine: `cargo xtask test` builds them and runs it with
//! `--include-ignored` (CADENZA_WINDOWS_BUNDLE_DIR, CADENZA_LINUX_CLI, WINEPREFIX).
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cadenza::midi_file::read_notes;
use cadenza::runtime::{ORT_ENV_VAR, ORT_VERSION};

fn env_path(name: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{name} is not set (cargo xtask test sets it)"))
}

#[test]
#[ignore = "needs the Windows bundle and Wine: cargo xtask test runs it"]
fn the_windows_cli_under_wine_writes_the_notes_the_linux_cli_writes() {
    let bundled = env_path("CADENZA_WINDOWS_BUNDLE_DIR");
    let linux = env_path("CADENZA_LINUX_CLI");
    let dir = std::env::temp_dir().join(format!("cadenza-windows-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ort = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        ".cache/onnxruntime/{ORT_VERSION}/libonnxruntime.so.{ORT_VERSION}"
    ));
    for (style, seed) in [("folk", "3"), ("chorale", "11")] {
        let args = |out: &Path| -> Vec<String> {
            format!("generate --style {style} --bars 8 --seed {seed} --cpu --out")
                .split(' ')
                .map(String::from)
                .chain([out.display().to_string()])
                .collect()
        };
        let (on_linux, on_windows) = (
            dir.join(format!("{style}-linux.mid")),
            dir.join(format!("{style}-windows.mid")),
        );
        let o = Command::new(&linux)
            .args(args(&on_linux))
            .env(ORT_ENV_VAR, &ort)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // Wine maps the Unix root to drive Z:, so the same absolute paths work on both sides.
        let mut wine = Command::new("wine");
        // Wine asks Linux for no AMX state (tests/windows/setup.sh): cargo xtask test preloads a
        // library into Wine that does.
        if let Some(preload) = std::env::var_os("CADENZA_WINE_PRELOAD") {
            wine.env("LD_PRELOAD", preload);
        }
        let o = wine
            .arg(bundled.join("Cadenza.exe"))
            .args(args(&on_windows))
            .env_remove(ORT_ENV_VAR)
            .output()
            .expect("wine runs (tests/windows/setup.sh test installs it)");
        assert!(
            o.status.success(),
            "Cadenza.exe under Wine: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let linux_notes = read_notes(&std::fs::read(&on_linux).unwrap()).unwrap();
        let windows_notes = read_notes(&std::fs::read(&on_windows).unwrap()).unwrap();
        assert!(
            linux_notes.len() >= 8,
            "{style}: {} notes in 8 bars",
            linux_notes.len()
        );
        assert_eq!(
            windows_notes, linux_notes,
            "{style} seed {seed}: the Windows program played other notes"
        );
    }
}
