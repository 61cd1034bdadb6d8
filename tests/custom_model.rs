//! A model from disk instead of the built-in one (`CADENZA_MODEL`, as after fine-tuning your own
//! style): the plugin loads it, plays, and its style list shows the new style. (It plays a trained
//! style: the new style's token is untrained here, and a model asked to start from an untrained
//! token rests, as it should not be trusted to do anything else.)
//! (Its own test binary: the variable is read by the plugin at activation.)
#![cfg(feature = "host")]

use cadenza::host::{bundle_dir, ClapHost, Transport};
use cadenza::model::MODEL_ENV_VAR;

#[test]
fn a_model_from_disk_is_loaded_and_its_new_style_is_listed() {
    // The shipped weights with a sixth style named in model.json: what the fine-tune command writes.
    let dir = cadenza::host::model_with_style("custom-model", "my tunes");
    // SAFETY: (set_var) the only test in this binary, before the plugin or any thread starts.
    unsafe { std::env::set_var(MODEL_ENV_VAR, &dir) };

    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    assert_eq!(
        host.param_text("style", 5.0).as_deref(),
        Some("(slot 5: unused)"),
        "before loading: the built-in styles"
    );
    host.set_param("style", 0, 3.0);
    host.activate(48_000.0, 512).unwrap();
    let started = std::time::Instant::now();
    let mut generated = 0;
    let mut beat = 0.0;
    while started.elapsed() < std::time::Duration::from_secs(6) {
        let playing = started.elapsed() > std::time::Duration::from_millis(500);
        for e in host
            .process(512, Transport::at(playing, beat, 120.0), &[])
            .unwrap()
        {
            generated += usize::from(e.on);
        }
        if playing {
            beat += 512.0 / 24_000.0;
        }
        std::thread::sleep(std::time::Duration::from_micros(10_600));
    }
    assert_eq!(
        host.param_text("style", 5.0).as_deref(),
        Some("my tunes"),
        "the loaded model's styles"
    );
    assert_eq!(host.param_text("style", 3.0).as_deref(), Some("celtic"));
    assert!(
        generated > 0,
        "nothing played with the model from disk (style 'celtic')"
    );
}
