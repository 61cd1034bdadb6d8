//! Cadenza's build tasks. `cargo xtask <command>`:
//!
//! - `bundle cadenza [--release]`: nice-plug's bundler, then the ONNX Runtime library into both bundles
//!   (beside the binary in `Cadenza.vst3/Contents/x86_64-linux/`, and beside `Cadenza.clap`).
//!   With `--target x86_64-pc-windows-gnu`: the Windows bundles and `Cadenza.exe`, cross-built, in
//!   `target/windows/bundled/` (windows.rs).
//! - `fetch-ort`: the pinned ONNX Runtime library from its PyPI wheel into `.cache/` (hash-checked).
//! - `fetch-ort-gpu`: the same version's CUDA build (`onnxruntime-gpu`, 256 MB) into `.cache/`, for a
//!   machine with an NVIDIA GPU; prints the path to give Cadenza as `CADENZA_ORT_LIB`.
//! - `render [render options]`: release bundles, then the headless render on the embedded model.
//! - `test`: every test, from a fresh machine: model tooling setup, bundles, Rust suites, headless
//!   Ardour with the VST3 bundle, Python suites, the Windows build under Wine.
//! - `test-windows`: only its last part: the Windows bundles (debug), the host-level tests under Wine,
//!   and the Windows CLI against the Linux one.
//! - `bench [--gpu]`: the model-path benchmark table (release build, the fetched ONNX Runtime; with
//!   `--gpu` its CUDA build, adding the CUDA rows).
//! - `soak [--minutes N] [--block N]`: release bundles, then a long real-time session reporting
//!   process() cost, deadline misses, the engine's step times and dropped events.
//! - `cli [cadenza arguments]`: the `cadenza` command-line program (release), with ONNX Runtime beside
//!   it in `target/release/`, run with the given arguments.
//! - `standalone [options]`: the standalone app (release; needs ALSA and JACK development files,
//!   `bash tests/gui/setup.sh` installs them), with ONNX Runtime beside it, run with the options.
//! - `screenshot`: the standalone's editor under Xvfb, captured to target/screenshots/cadenza-editor.png
//!   (the screenshot test; installs Xvfb and ImageMagick when missing).
//! - `musicianship [--quick] [--compare-model DIR]`: the musicianship benchmark: release bundles, the
//!   cases (`python -m cadenza_model.cli.musicianship cases`), played through the bundled CLAP
//!   (`cadenza-musicianship`), measured into MUSICIANSHIP.md and musicianship/ (with `--quick`, a
//!   few cases into target/musicianship/); with `--compare-model`, the same cases played again with
//!   that model folder (`CADENZA_MODEL`), side by side.
//! - `knowing [--quick] [--model DIR]`: the musicianship benchmark's "Knowing the song" section:
//!   progressions repeated, with the chord track typed, the host looping, the player repeating, or
//!   nothing known, and the held-out chorales with their own chords, through the bundled CLAP and
//!   the `cadenza` program (`python -m cadenza_model.cli.knowing`), into MUSICIANSHIP.md (with `--quick`,
//!   a few cases into target/knowing/); `--model`: another model folder (`CADENZA_MODEL`).
//!
//! Anything else goes to nice-plug's xtask unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod windows;

/// The pinned wheel; its sha256 is checked by pip (`--require-hashes`).
const WHEEL_PLATFORM: &str = "manylinux_2_28_x86_64";
const WHEEL_SHA256: &str = "1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    nice_plug_xtask::chdir_workspace_root()?;
    match args.first().map(String::as_str) {
        Some("fetch-ort") => fetch_ort().map(|p| println!("{}", p.display())),
        Some("fetch-ort-gpu") => fetch_wheel(&GPU_WHEEL).map(|p| {
            eprintln!("[xtask] ONNX Runtime with CUDA: point Cadenza at it with CADENZA_ORT_LIB (docs/gpu.md)");
            println!("{}", std::fs::canonicalize(&p).unwrap_or(p).display())
        }),
        Some("bundle") => bundle(&args),
        Some("render") => render(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("test-windows") => {
            run(Command::new("cargo").args(["build", "--bin", "cadenza"]))?;
            windows::test(&std::fs::canonicalize(target_dir().join("debug/cadenza"))?)
        }
        Some("bench") => bench(&args[1..]),
        Some("cli") => release_bin("cadenza", &[], &args[1..]),
        Some("standalone") => release_bin("cadenza-standalone", &["standalone"], &args[1..]),
        Some("screenshot") => screenshot(),
        Some("soak") => soak(&args[1..]),
        Some("musicianship") => musicianship(&args[1..]),
        Some("knowing") => knowing(&args[1..]),
        _ => nice_plug_xtask::main_with_args("cargo xtask", args),
    }
}

/// `ORT_VERSION` from src/runtime.rs: the plugin's constant is the single source of truth.
fn ort_version() -> Result<String> {
    const RUNTIME_RS: &str = include_str!("../../src/runtime.rs");
    RUNTIME_RS
        .lines()
        .find_map(|l| l.trim().strip_prefix("pub const ORT_VERSION: &str = \""))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
        .context("ORT_VERSION not found in src/runtime.rs")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("[xtask] {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// A PyPI onnxruntime wheel the project takes libraries from.
pub(crate) struct Wheel {
    /// The PyPI package.
    package: &'static str,
    /// The wheel's platform tag.
    platform: &'static str,
    /// Its sha256 for the pinned version, checked by pip (`--require-hashes`).
    sha256: &'static str,
    /// Where under .cache/ its libraries go (then `<version>/`).
    cache: &'static str,
    /// The main library: its name in `onnxruntime/capi/` and in the cache and the bundles, each with
    /// `{v}` for the version.
    lib: (&'static str, &'static str),
    /// The files taken from `onnxruntime/capi/` besides the main library, under their own names.
    extra: &'static [&'static str],
}

/// The CPU build the Linux bundles carry.
const CPU_WHEEL: Wheel = Wheel {
    package: "onnxruntime",
    platform: WHEEL_PLATFORM,
    sha256: WHEEL_SHA256,
    cache: ".cache/onnxruntime",
    lib: ("libonnxruntime.so.{v}", "libonnxruntime.so.{v}"),
    extra: &[],
};

/// The CUDA 13 build of the same version (256 MB): for musicians with an NVIDIA GPU, and for the
/// benchmark's CUDA rows. Its CUDA provider needs CUDA 13's cuBLAS, cuDNN 9, cuFFT, cuRAND and runtime
/// on the loader's path (docs/gpu.md).
const GPU_WHEEL: Wheel = Wheel {
    package: "onnxruntime-gpu",
    platform: WHEEL_PLATFORM,
    sha256: "05d548956197b9d01f59b625de740e0d6be3593f874e241a12dc0362650ecdf7",
    cache: ".cache/onnxruntime-gpu",
    lib: ("libonnxruntime.so.{v}", "libonnxruntime.so.{v}"),
    extra: &[
        "libonnxruntime_providers_shared.so",
        "libonnxruntime_providers_cuda.so",
    ],
};

/// The CPU build the Windows bundles carry (the same release's win_amd64 wheel). Its DLL is renamed
/// with the version, as src/runtime.rs's `ORT_LIB_NAME` says, so that it is never mistaken for another
/// `onnxruntime.dll` (Windows ships one; other plugins carry their own).
pub(crate) const WINDOWS_WHEEL: Wheel = Wheel {
    package: "onnxruntime",
    platform: "win_amd64",
    sha256: "ae8a9a351efda685cc59a66226cdefaa37a126c1d66872ca23a2de9425326130",
    cache: ".cache/onnxruntime",
    lib: ("onnxruntime.dll", "onnxruntime-{v}.dll"),
    extra: &[],
};

/// The CPU library, downloaded and extracted once into .cache/onnxruntime/<version>/.
fn fetch_ort() -> Result<PathBuf> {
    fetch_wheel(&CPU_WHEEL)
}

/// `wheel`'s libraries, downloaded and extracted once into its cache folder; returns the path of the
/// main library (its providers lie beside it, where ONNX Runtime looks for them).
pub(crate) fn fetch_wheel(wheel: &Wheel) -> Result<PathBuf> {
    let version = ort_version()?;
    let (in_wheel, lib_name) = (
        wheel.lib.0.replace("{v}", &version),
        wheel.lib.1.replace("{v}", &version),
    );
    let dir = Path::new(wheel.cache).join(&version);
    let lib = dir.join(&lib_name);
    if lib.is_file() && wheel.extra.iter().all(|f| dir.join(f).is_file()) {
        return Ok(lib);
    }
    std::fs::create_dir_all(&dir)?;
    let req = dir.join(format!("requirements-{}.txt", wheel.platform));
    std::fs::write(
        &req,
        format!(
            "{}=={version} --hash=sha256:{}\n",
            wheel.package, wheel.sha256
        ),
    )?;
    let wheel_dir = dir.join(format!("wheel-{}", wheel.platform));
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
        ])
        .args([
            "--platform",
            wheel.platform,
            "--python-version",
            "3.12",
            "-d",
        ])
        .arg(&wheel_dir)
        .arg("-r")
        .arg(&req))
    .with_context(|| {
        format!(
            "downloading the {} wheel ({}) from PyPI (is pip available and PyPI reachable?)",
            wheel.package, wheel.platform
        )
    })?;
    // Each file is written under a temporary name and renamed: a cut-off run leaves no half library.
    // Arguments: the wheel's folder, the cache folder, then NAME_IN_WHEEL=NAME_IN_CACHE pairs.
    let extract = "import glob, os, zipfile, sys\n\
         w = zipfile.ZipFile(glob.glob(sys.argv[1] + '/onnxruntime*.whl')[0])\n\
         for pair in sys.argv[3:]:\n\
         \x20   src, dst = pair.split('=')\n\
         \x20   part = os.path.join(sys.argv[2], dst + '.part')\n\
         \x20   open(part, 'wb').write(w.read('onnxruntime/capi/' + src))\n\
         \x20   os.chmod(part, 0o755)\n\
         \x20   os.rename(part, os.path.join(sys.argv[2], dst))\n";
    // The main library last: its presence says the fetch is complete.
    run(Command::new("python3")
        .arg("-c")
        .arg(extract)
        .arg(&wheel_dir)
        .arg(&dir)
        .args(wheel.extra.iter().map(|f| format!("{f}={f}")))
        .arg(format!("{in_wheel}={lib_name}")))?;
    let _ = std::fs::remove_dir_all(&wheel_dir);
    Ok(lib)
}

fn bundle(args: &[String]) -> Result<()> {
    let target = args
        .iter()
        .position(|a| a == "--target")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("--target=")));
    match target {
        Some(windows::TARGET) => {
            let rest: Vec<&str> = args[1..]
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with("--target") && *a != windows::TARGET)
                .collect();
            return match rest.as_slice() {
                ["cadenza"] => windows::bundle(false),
                ["cadenza", "--release"] => windows::bundle(true),
                _ => bail!(
                    "for Windows: cargo xtask bundle cadenza [--release] --target {}",
                    windows::TARGET
                ),
            }
            .map(|_| ());
        }
        Some(other) => bail!(
            "Cadenza is bundled for Linux (no --target) and Windows (--target {}), not {other}",
            windows::TARGET
        ),
        None => {}
    }
    let lib = fetch_ort()?;
    nice_plug_xtask::main_with_args("cargo xtask", args.to_vec())?;
    place_ort(&lib, &target_dir().join("bundled"), "x86_64-linux")
}

/// Copy ONNX Runtime's library `lib` beside the plugin binary in both bundles under `bundled`:
/// inside `Cadenza.vst3/Contents/<arch_dir>/`, and beside `Cadenza.clap`.
fn place_ort(lib: &Path, bundled: &Path, arch_dir: &str) -> Result<()> {
    let name = lib.file_name().context("library name")?;
    let vst3_bin_dir = bundled.join("Cadenza.vst3/Contents").join(arch_dir);
    for dir in [&vst3_bin_dir, bundled] {
        if dir.is_dir() {
            std::fs::copy(lib, dir.join(name))
                .with_context(|| format!("copying ONNX Runtime into {}", dir.display()))?;
        }
    }
    eprintln!(
        "[xtask] ONNX Runtime {} placed in {} and {}",
        name.to_string_lossy(),
        vst3_bin_dir.display(),
        bundled.display()
    );
    Ok(())
}

fn render(args: &[String]) -> Result<()> {
    run_with_release_clap("cadenza-render", args)
}

/// Release bundles, then one of the host-feature tools with `--plugin <the bundled .clap>` and `args`.
fn run_with_release_clap(bin: &str, args: &[String]) -> Result<()> {
    bundle(&["bundle".into(), "cadenza".into(), "--release".into()])?;
    let clap = target_dir().join("bundled/Cadenza.clap");
    run(Command::new("cargo")
        .args([
            "run",
            "--quiet",
            "--release",
            "--features",
            "host",
            "--bin",
            bin,
            "--",
            "--plugin",
        ])
        .arg(&clap)
        .args(args))
}

fn bench(args: &[String]) -> Result<()> {
    let gpu = match args {
        [] => false,
        [a] if a == "--gpu" => true,
        _ => {
            bail!("bench takes no options but --gpu (ONNX Runtime's CUDA build, for the CUDA rows)")
        }
    };
    let lib = std::fs::canonicalize(fetch_wheel(if gpu { &GPU_WHEEL } else { &CPU_WHEEL })?)?;
    run(Command::new("cargo")
        .args(["run", "--quiet", "--release", "--bin", "cadenza-bench"])
        .env("CADENZA_ORT_LIB", lib))
}

fn musicianship(args: &[String]) -> Result<()> {
    let (mut quick, mut compare) = (false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--compare-model" => compare = Some(PathBuf::from(it.next().context("--compare-model DIR")?)),
            _ => bail!(
                "musicianship takes --quick (a few cases, into target/musicianship/) and --compare-model DIR"
            ),
        }
    }
    run(Command::new("bash").arg("models/setup.sh"))?;
    let dir = std::env::current_dir()?
        .join(target_dir())
        .join("musicianship");
    std::fs::create_dir_all(&dir)?;
    let cases = dir.join("cases.json");
    let takes = dir.join("takes.json");
    let python = |args: &[&std::ffi::OsStr]| {
        run(Command::new(".venv/bin/python")
            .args(["-m", "cadenza_model.cli.musicianship"])
            .args(args)
            .current_dir("models"))
    };
    let mut write_cases = vec![std::ffi::OsStr::new("cases"), cases.as_os_str()];
    if quick {
        write_cases.push(std::ffi::OsStr::new("--quick"));
    }
    python(&write_cases)?;
    run_with_release_clap(
        "cadenza-musicianship",
        &[
            "--cases".into(),
            cases.display().to_string(),
            "--out".into(),
            takes.display().to_string(),
        ],
    )?;
    let mut compared = Vec::new();
    if let Some(dir) = &compare {
        let dir = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("model.json"))?)?;
        let name = spec["name"]
            .as_str()
            .unwrap_or("the other model")
            .to_string();
        // Beside the takes (an absolute path: the report runs in models/).
        let other = takes.with_file_name("takes-compared.json");
        run(
            Command::new(target_dir().join("release/cadenza-musicianship"))
                .arg("--plugin")
                .arg(target_dir().join("bundled/Cadenza.clap"))
                .arg("--cases")
                .arg(&cases)
                .arg("--out")
                .arg(&other)
                .env("CADENZA_MODEL", &dir),
        )?;
        compared = vec!["--compare".into(), other.display().to_string(), name];
    }
    let root = std::env::current_dir()?;
    let (out, pictures) = if quick {
        (dir.join("MUSICIANSHIP.md"), dir.join("musicianship"))
    } else {
        (root.join("MUSICIANSHIP.md"), root.join("musicianship"))
    };
    let command = format!(
        "cargo xtask musicianship{}{}",
        if quick { " --quick" } else { "" },
        compare
            .as_ref()
            .map(|d| format!(" --compare-model {}", d.display()))
            .unwrap_or_default()
    );
    let mut report: Vec<&std::ffi::OsStr> = vec![
        "report".as_ref(),
        cases.as_os_str(),
        takes.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--pictures".as_ref(),
        pictures.as_os_str(),
        "--command".as_ref(),
        command.as_ref(),
    ];
    report.extend(compared.iter().map(|s| s.as_ref() as &std::ffi::OsStr));
    if quick {
        // models/musicianship_notes.md is written about the full run's takes.
        report.push("--quick-notes-off".as_ref());
    }
    python(&report)
}

fn knowing(args: &[String]) -> Result<()> {
    let (mut quick, mut model) = (false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--model" => model = Some(std::fs::canonicalize(it.next().context("--model DIR")?)?),
            _ => bail!("knowing takes --quick (a few cases, into target/knowing/) and --model DIR"),
        }
    }
    run(Command::new("bash").arg("models/setup.sh"))?;
    let root = std::env::current_dir()?;
    let dir = root.join(target_dir()).join("knowing");
    std::fs::create_dir_all(&dir)?;
    let (cases, takes, cli) = (
        dir.join("cases.json"),
        dir.join("takes.json"),
        dir.join("cli.json"),
    );
    let python = |args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new(".venv/bin/python");
        cmd.args(["-m", "cadenza_model.cli.knowing"])
            .args(args)
            .current_dir("models");
        if let Some(m) = &model {
            cmd.env("CADENZA_MODEL", m);
        }
        run(&mut cmd)
    };
    let mut write_cases = vec![std::ffi::OsStr::new("cases"), cases.as_os_str()];
    if quick {
        write_cases.push("--quick".as_ref());
    }
    python(&write_cases)?;
    bundle(&["bundle".into(), "cadenza".into(), "--release".into()])?;
    let mut play = Command::new("cargo");
    play.args(["run", "--quiet", "--release", "--features", "host", "--bin"])
        .arg("cadenza-musicianship")
        .arg("--")
        .arg("--plugin")
        .arg(target_dir().join("bundled/Cadenza.clap"))
        .arg("--cases")
        .arg(&cases)
        .arg("--out")
        .arg(&takes);
    if let Some(m) = &model {
        play.env("CADENZA_MODEL", m);
    }
    run(&mut play)?;
    let lib = std::fs::canonicalize(fetch_ort()?)?;
    run(Command::new("cargo").args(["build", "--quiet", "--release", "--bin", "cadenza"]))?;
    let cadenza = root.join(target_dir()).join("release/cadenza");
    let mut report: Vec<std::ffi::OsString> =
        vec!["report".into(), cases.clone().into(), takes.clone().into()];
    if !quick {
        let mut args: Vec<std::ffi::OsString> = vec![
            "cli".into(),
            cli.clone().into(),
            "--cadenza".into(),
            cadenza.into(),
            "--ort".into(),
            lib.into(),
        ];
        if let Some(m) = &model {
            args.extend(["--model".into(), m.clone().into()]);
        }
        python(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>())?;
        report.push(cli.into());
    }
    let out = if quick {
        dir.join("MUSICIANSHIP.md")
    } else {
        root.join("MUSICIANSHIP.md")
    };
    report.extend(["--out".into(), out.into()]);
    if let Some(m) = &model {
        report.extend(["--model".into(), m.display().to_string().into()]);
    }
    if quick || model.is_some() {
        // models/knowing_notes.md is written about the full run's takes with the built-in model.
        report.push("--notes-off".into());
    }
    python(&report.iter().map(|a| a.as_os_str()).collect::<Vec<_>>())
}

fn soak(args: &[String]) -> Result<()> {
    run_with_release_clap("cadenza-soak", args)
}

/// Build a program of the crate (release, with `features`), put ONNX Runtime beside it, run it.
fn release_bin(bin: &str, features: &[&str], args: &[String]) -> Result<()> {
    let lib = fetch_ort()?;
    let mut build = Command::new("cargo");
    build.args(["build", "--quiet", "--release", "--bin", bin]);
    if !features.is_empty() {
        build.args(["--features", &features.join(",")]);
    }
    run(&mut build)?;
    let dir = target_dir().join("release");
    let beside = dir.join(lib.file_name().context("library name")?);
    if !beside.is_file() {
        std::fs::copy(&lib, &beside)
            .with_context(|| format!("copying {} to {}", lib.display(), beside.display()))?;
    }
    run(Command::new(dir.join(bin)).args(args))
}

fn screenshot() -> Result<()> {
    run(Command::new("bash").arg("tests/gui/setup.sh"))?;
    let lib = std::fs::canonicalize(fetch_ort()?)?;
    run(Command::new("cargo")
        .args([
            "test",
            "--features",
            "host,standalone",
            "--test",
            "screenshot",
            "--",
            "--nocapture",
        ])
        .env("CADENZA_ORT_LIB", lib))
}

fn test(args: &[String]) -> Result<()> {
    // 1. Python tooling (Debian's CPU PyTorch + PyPI packages) for the model tests.
    run(Command::new("bash").arg("models/setup.sh"))?;
    // 2. Debug bundles: the host-level tests load them, with assert_process_allocs active.
    bundle(&["bundle".into(), "cadenza".into()])?;
    // 3. Rust: unit tests, host-level tests against the bundle just built, and the standalone's
    //    editor under Xvfb (its build and run dependencies first).
    run(Command::new("bash").arg("tests/gui/setup.sh"))?;
    let bundled = std::fs::canonicalize(target_dir().join("bundled"))?;
    run(Command::new("cargo")
        .args(["test", "--workspace", "--features", "host,standalone"])
        .args(args)
        .env("CADENZA_TEST_BUNDLE_DIR", &bundled))?;
    // 4. A real DAW: headless Ardour 7 (Debian's package) loads the VST3 bundle on a MIDI track,
    //    rolls, stops, counts Cadenza's notes, saves; a second Ardour process reopens the session and
    //    reads Cadenza's parameters back.
    run(Command::new("bash").arg("tests/ardour/setup.sh"))?;
    run(Command::new("bash")
        .arg("tests/ardour/run.sh")
        .arg("--reopen")
        .arg(bundled.join("Cadenza.vst3")))?;
    // 5. Python: tokenizer, model, export, training, fine-tune and musicianship tests. The fine-tune
    //    test checks its exported model with the `cadenza` program the Rust tests just built.
    //    The musicianship tests play a few fixed cases through the debug bundle with the
    //    `cadenza-musicianship` tool the Rust tests just built, and hold the figures to margins.
    let cli = std::fs::canonicalize(target_dir().join("debug/cadenza"))?;
    let tool = std::fs::canonicalize(target_dir().join("debug/cadenza-musicianship"))?;
    let ort = std::fs::canonicalize(fetch_ort()?)?;
    run(Command::new(".venv/bin/python")
        .args(["-m", "pytest", "-q"])
        .env("CADENZA_CLI", cli)
        .env("CADENZA_MUSICIANSHIP", tool)
        .env("CADENZA_TEST_BUNDLE_DIR", &bundled)
        .env("CADENZA_ORT_LIB", ort)
        .current_dir("models"))?;
    // 6. Windows: the bundles and the CLI cross-built, the host-level tests under Wine, and the
    //    Windows CLI's output against the Linux one's.
    let cli = std::fs::canonicalize(target_dir().join("debug/cadenza"))?;
    windows::test(&cli)?;
    Ok(())
}
