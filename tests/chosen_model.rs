//! The model the musician chose in the editor is saved with the project: a state naming a model folder
//! loads that model when the project opens, and a state naming a model that is gone still loads,
//! passes MIDI through, and keeps the choice (nothing is lost; restoring the folder brings it back).
#![cfg(feature = "host")]

use cadenza::host::{bundle_dir, state_field, state_with_field, ClapHost, NoteIn, Transport};

/// Roll `seconds` in real time (half a second stopped first, while the engine loads); the player
/// presses a key at 1 s. Returns (Cadenza's note-ons, the player's notes passed through).
fn roll(host: &mut ClapHost, seconds: f64) -> (usize, usize) {
    let started = std::time::Instant::now();
    let (mut generated, mut passed) = (0, 0);
    let mut beat = 0.0;
    let mut block = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let playing = started.elapsed().as_secs_f64() > 0.5;
        let notes: Vec<NoteIn> = match block {
            94 => vec![NoteIn {
                time: 0,
                on: true,
                key: 60,
                velocity: 0.8,
            }],
            100 => vec![NoteIn {
                time: 0,
                on: false,
                key: 60,
                velocity: 0.0,
            }],
            _ => vec![],
        };
        for e in host
            .process(512, Transport::at(playing, beat, 120.0), &notes)
            .unwrap()
        {
            if e.channel == host.player_channel {
                passed += 1;
            } else {
                generated += usize::from(e.on);
            }
        }
        if playing {
            beat += 512.0 / 24_000.0;
        }
        block += 1;
        std::thread::sleep(std::time::Duration::from_micros(10_600));
    }
    (generated, passed)
}

#[test]
fn the_chosen_model_is_saved_with_the_project_and_loads_when_it_opens() {
    let dir = cadenza::host::model_with_style("chosen-model", "my tunes");
    let path = dir.display().to_string();
    let clap = bundle_dir().join("Cadenza.clap");

    let mut a = ClapHost::load(&clap).unwrap();
    let fresh = a.save_state().unwrap();
    assert_eq!(
        state_field(&fresh, "model").as_deref(),
        Some("\"\""),
        "a new instance uses the built-in model"
    );
    let chosen = state_with_field(&fresh, "model", &path);
    drop(a);

    let mut b = ClapHost::load(&clap).unwrap();
    b.load_state(&chosen).unwrap();
    b.set_param("style", 0, 5.0);
    b.activate(48_000.0, 512).unwrap();
    let (generated, _) = roll(&mut b, 5.0);
    assert_eq!(
        b.param_text("style", 5.0).as_deref(),
        Some("my tunes"),
        "the chosen model's styles"
    );
    assert!(generated > 0, "nothing played with the chosen model");
    let saved = b.save_state().unwrap();
    assert_eq!(
        state_field(&saved, "model"),
        Some(serde_json::to_string(&path).unwrap()),
        "the choice is saved again"
    );
    b.deactivate();
    drop(b);

    // The folder is gone: the project still opens, MIDI passes through, the choice is kept.
    std::fs::remove_dir_all(&dir).unwrap();
    let mut c = ClapHost::load(&clap).unwrap();
    c.load_state(&chosen).unwrap();
    c.activate(48_000.0, 512).unwrap();
    let (generated, passed) = roll(&mut c, 2.0);
    assert_eq!(generated, 0, "a missing model cannot play");
    assert_eq!(passed, 2, "the player's notes pass through");
    assert_eq!(
        state_field(&c.save_state().unwrap(), "model"),
        Some(serde_json::to_string(&path).unwrap()),
        "a missing model's choice is not lost"
    );
    c.deactivate();
}

#[test]
fn where_the_model_runs_is_saved_with_the_project_and_a_setting_from_elsewhere_loads_as_auto() {
    let clap = bundle_dir().join("Cadenza.clap");
    let mut a = ClapHost::load(&clap).unwrap();
    let fresh = a.save_state().unwrap();
    drop(a);
    assert_eq!(
        state_field(&fresh, "runs_on").as_deref(),
        Some("\"auto\""),
        "a new instance picks the faster provider itself"
    );

    // Set to CPU in an earlier session: kept, and the model plays there.
    let mut b = ClapHost::load(&clap).unwrap();
    b.load_state(&state_with_field(&fresh, "runs_on", &"cpu"))
        .unwrap();
    b.activate(48_000.0, 512).unwrap();
    let (generated, _) = roll(&mut b, 4.0);
    assert!(generated > 0, "nothing played on the CPU setting");
    assert_eq!(
        state_field(&b.save_state().unwrap(), "runs_on").as_deref(),
        Some("\"cpu\"")
    );
    b.deactivate();
    drop(b);

    // A provider this version does not know (a later version's project, a damaged file): the project
    // opens, the rest of its state is kept, and the setting reads as auto.
    for odd in [
        state_with_field(&fresh, "runs_on", &"tpu"),
        state_with_field(&fresh, "runs_on", &7),
    ] {
        let odd = state_with_field(&odd, "model", &"/somewhere/else");
        let mut c = ClapHost::load(&clap).unwrap();
        c.load_state(&odd).unwrap();
        let saved = c.save_state().unwrap();
        assert_eq!(state_field(&saved, "runs_on").as_deref(), Some("\"auto\""));
        assert_eq!(
            state_field(&saved, "model").as_deref(),
            Some("\"/somewhere/else\""),
            "the rest of the state is kept"
        );
    }
}
