//! The standalone app opens the editor under Xvfb; the window is captured to a PNG that must be the
//! editor's size, not blank, and show Cadenza's notes in the piano roll (the dummy audio backend
//! rolls the transport, so the engine plays).
//!
//! Needs Xvfb and ImageMagick (`import`, `convert`): `cargo xtask test` installs them. The PNG is
//! kept at `$CADENZA_SCREENSHOT` (default target/screenshots/cadenza-editor.png) to look at;
//! `cargo xtask screenshot` runs just this test.
#![cfg(all(feature = "host", feature = "standalone"))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cadenza::editor::{HEIGHT, WIDTH};

/// Kills the processes when the test ends, pass or fail.
struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed (Debian: xvfb, x11-utils, imagemagick; `cargo xtask test` installs them)"
    );
}

/// A free X display number.
fn free_display() -> u32 {
    (0..200)
        .map(|i| 90 + (std::process::id() + i) % 400)
        .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists())
        .expect("no free X display number")
}

/// The window id of the top-level window titled "Cadenza", if mapped.
fn find_window(display: &str) -> Option<String> {
    let out = Command::new("xwininfo")
        .args(["-root", "-tree"])
        .env("DISPLAY", display)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains("\"Cadenza\""))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
}

/// Start the standalone with `args`, HOME at `home`, its output in `home`/standalone.log, the fetched
/// ONNX Runtime, and on X display `display` (none: no display at all).
fn standalone(args: &[&str], home: &Path, display: Option<&str>) -> Child {
    let log = std::fs::File::create(home.join("standalone.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cadenza-standalone"));
    cmd.args(args)
        .env("HOME", home)
        .env(cadenza::runtime::ORT_ENV_VAR, cadenza::host::fetched_ort())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    match display {
        Some(d) => cmd.env("DISPLAY", d),
        None => cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY"),
    };
    cmd.spawn().expect("starting cadenza-standalone")
}

/// A decoded RGB image.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Image {
    /// Read a PNG through ImageMagick's binary PPM output.
    fn read(png: &Path) -> Image {
        let out = Command::new("convert")
            .arg(png)
            .arg("ppm:-")
            .output()
            .expect("running convert");
        assert!(out.status.success(), "convert failed on {}", png.display());
        let b = out.stdout;
        // P6\n<w> <h>\n<max>\n<data>: split the header's four tokens.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while b[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while !b[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&b[start..i]).into_owned());
        }
        assert_eq!(fields[0], "P6");
        let (width, height) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let rgb = b[i + 1..].to_vec();
        assert_eq!(rgb.len(), width * height * 3);
        Image { width, height, rgb }
    }

    fn pixel(&self, x: usize, y: usize) -> (u8, u8, u8) {
        let i = (y * self.width + x) * 3;
        (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }

    fn distinct_colors(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in self.rgb.chunks(3) {
            seen.insert((p[0], p[1], p[2]));
        }
        seen.len()
    }

    /// Orange pixels (Cadenza's notes) in rows `y0..y1`, columns `x0..x1`.
    fn orange_in(&self, (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> usize {
        let mut n = 0;
        for y in y0..y1.min(self.height) {
            for x in x0..x1.min(self.width) {
                let (r, g, b) = self.pixel(x, y);
                let (r, g, b) = (u16::from(r), u16::from(g), u16::from(b));
                if r > 120 && r > g + 30 && g > b + 30 {
                    n += 1;
                }
            }
        }
        n
    }
}

/// Rows of the piano roll, and its columns left of the playhead, in the editor's pixels.
const ROLL_ROWS: (usize, usize) = (120, 300);
const PLAYED: (usize, usize) = (0, 780);

#[test]
fn the_standalone_opens_the_editor_and_it_shows_cadenzas_notes() {
    for t in ["Xvfb", "xwininfo", "import", "convert"] {
        tool(t);
    }
    let out_png = std::env::var_os("CADENZA_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/cadenza-editor.png")
        });
    std::fs::create_dir_all(out_png.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&out_png);
    let home = std::env::temp_dir().join(format!("cadenza-screenshot-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();

    let n = free_display();
    let display = format!(":{n}");
    // A screen much larger than the editor: the pointer (at its centre) rests outside the window,
    // so no tooltip shows.
    let xvfb = Command::new("Xvfb")
        .args([&display, "-screen", "0", "2400x1800x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting Xvfb");
    let mut procs = Kill(vec![xvfb]);
    let t0 = Instant::now();
    while !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "Xvfb did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    procs.0.push(standalone(
        &["--backend", "dummy", "--period-size", "256"],
        &home,
        Some(&display),
    ));

    let t0 = Instant::now();
    let window = loop {
        if let Some(w) = find_window(&display) {
            break w;
        }
        if let Ok(Some(status)) = procs.0[1].try_wait() {
            panic!(
                "the standalone exited ({status}) before its window showed:\n{}",
                std::fs::read_to_string(home.join("standalone.log")).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no Cadenza window within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    };

    // Capture until the piano roll shows Cadenza's notes (the engine loads, then plays).
    let t0 = Instant::now();
    let image = loop {
        let ok = Command::new("import")
            .args(["-window", &window])
            .arg(&out_png)
            .env("DISPLAY", &display)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "import could not capture window {window}");
        let image = Image::read(&out_png);
        // The roll sits below the two status lines, the legend and the chord lane (rows ~120..300);
        // the playhead is at 4/5 of its width: Cadenza's played notes are left of it, planned ones
        // right.
        if image.orange_in(PLAYED, ROLL_ROWS) > 300 || t0.elapsed() > Duration::from_secs(60) {
            break image;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(
        (image.width, image.height),
        (WIDTH as usize, HEIGHT as usize),
        "the window is not the editor's size"
    );
    let colors = image.distinct_colors();
    assert!(colors > 100, "a blank-looking window: {colors} colours");
    let orange = image.orange_in(PLAYED, ROLL_ROWS);
    assert!(
        orange > 300,
        "no played notes of Cadenza's in the piano roll after 60 s ({orange} orange pixels); see {}",
        out_png.display()
    );
    eprintln!(
        "screenshot: {} ({}x{}, {colors} colours)",
        out_png.display(),
        image.width,
        image.height
    );
    drop(procs);
    let _ = std::fs::remove_dir_all(&home);
}

/// `--headless`: no window, no display, no sound card (the dummy backend); the engine still loads
/// and the app keeps running until it is stopped.
#[test]
fn the_standalone_runs_headless_without_a_display_or_a_sound_card() {
    let home = std::env::temp_dir().join(format!("cadenza-headless-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let log_path = home.join("standalone.log");
    let mut procs = Kill(vec![standalone(
        &["--headless", "--backend", "dummy"],
        &home,
        None,
    )]);
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("Cadenza engine ready") {
            break;
        }
        if let Ok(Some(status)) = procs.0[0].try_wait() {
            panic!("the headless standalone exited ({status}):\n{text}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the engine was not ready within 60 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        procs.0[0].try_wait().unwrap().is_none(),
        "the headless standalone stopped by itself"
    );
    drop(procs);
    let _ = std::fs::remove_dir_all(&home);
}
