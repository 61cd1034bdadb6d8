//! Without an ONNX Runtime library the plugin still loads, passes MIDI through and reports the error.
//! (Its own test binary: ONNX Runtime, once loaded, stays loaded for the process.)
#![cfg(feature = "host")]

use cadenza::host::{bundle_dir, ClapHost, PlayedNote, Session, PLAYER_CHANNEL};

#[test]
fn missing_onnx_runtime_passes_midi_through_and_says_why() {
    let log = std::env::temp_dir().join(format!("cadenza-no-runtime-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    // SAFETY: (set_var) the first thing this test binary does, before any other thread exists.
    unsafe {
        std::env::set_var("CADENZA_ORT_LIB", "/nonexistent/libonnxruntime.so.1.31.1");
        std::env::set_var("NICE_LOG", &log);
    }
    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    host.activate(44_100.0, 256).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let played: Vec<PlayedNote> = (0..8)
        .map(|i| PlayedNote {
            beat: f64::from(i) * 0.5,
            length: 0.25,
            key: 60 + i as u8,
            velocity: 0.7,
        })
        .collect();
    let session = Session {
        sample_rate: 44_100.0,
        block: 256,
        tempo: 100.0,
        preroll_seconds: 0.1,
        beats: 5.0,
        postroll_seconds: 0.1,
        played,
        realtime: false,
        loop_beats: None,
    };
    let logs = session.run(&mut host).unwrap();
    host.deactivate();
    drop(host);

    let events: Vec<_> = logs.iter().flat_map(|b| b.events.iter()).collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.channel == PLAYER_CHANNEL && e.on)
            .count(),
        8,
        "all notes passed through"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.channel == PLAYER_CHANNEL && !e.on)
            .count(),
        8
    );
    assert!(
        events.iter().all(|e| e.channel == PLAYER_CHANNEL),
        "no engine, no generated notes"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("ONNX Runtime library not found"),
        "the log says what is wrong:\n{text}"
    );
    assert!(
        text.contains("CADENZA_ORT_LIB"),
        "and where it looked:\n{text}"
    );
}
