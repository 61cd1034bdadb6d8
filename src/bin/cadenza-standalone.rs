//! Cadenza without a DAW: nice-plug's standalone wrapper around the plugin, with audio and MIDI
//! through JACK, or ALSA, or (no device) the dummy backend, and the editor in a window.
//!
//! `cadenza-standalone --help` lists the wrapper's options (backend, sample rate, period, tempo,
//! MIDI ports, ...). Cadenza adds one: `--headless`, no editor window (runs until Ctrl+C); without
//! `--backend` it then falls back to the dummy backend when no audio device answers, so it needs
//! neither a display nor a sound card.
//!
//! ONNX Runtime is looked for as the plugin looks for it (`CADENZA_ORT_LIB`, then beside this
//! program); `cargo xtask standalone` puts it there.

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--headless") {
        args.remove(i);
        cadenza::editor::set_headless(true);
    }
    if !nice_plug::prelude::nice_export_standalone_with_args::<cadenza::Cadenza, _>(args) {
        std::process::exit(1);
    }
}
