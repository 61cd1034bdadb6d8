//! Hosts load, activate, deactivate and unload a plugin many times in one process. ONNX Runtime must
//! not call back into an unloaded library, and reactivation must work.
#![cfg(feature = "host")]

use cadenza::host::{bundle_dir, ClapHost, Session};

#[test]
fn load_activate_deactivate_unload_cycles() {
    let path = bundle_dir().join("Cadenza.clap");
    for cycle in 0..3 {
        let mut host = ClapHost::load(&path).unwrap();
        for rate in [44_100.0, 96_000.0] {
            host.activate(rate, 1024).unwrap();
            let session = Session {
                sample_rate: rate,
                block: 1024,
                tempo: 140.0,
                preroll_seconds: 0.0,
                beats: 2.0,
                postroll_seconds: 0.0,
                played: Vec::new(),
                realtime: false,
                loop_beats: None,
            };
            session
                .run(&mut host)
                .unwrap_or_else(|e| panic!("cycle {cycle} at {rate} Hz: {e}"));
            host.deactivate();
        }
        drop(host); // unloads the library
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
