//! A project saved by an earlier build loads unchanged.
//!
//! tests/fixtures/state-2026-12-08.bin is the state the build of 2026-12-08 saved (before the
//! parameters were grouped, commit 910c510), with every parameter away from its default ([`SET`])
//! and every persisted field (the prompt clip, the chord track, the model, where it runs) filled in.
//! Loaded into today's build, every value comes back, and saving it again writes the same values.
//! `CADENZA_STATE_FIXTURE_CLAP=/path/to/that/Cadenza.clap cargo test --features host --test
//! saved_state -- --ignored` wrote it.
#![cfg(feature = "host")]

use cadenza::host::{bundle_dir, state_field, state_with_field, ClapHost};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/state-2026-12-08.bin"
);

/// Every parameter, by its id, and the value the fixture holds, as the parameter shows it (its
/// integer for a stepped one, 0/1 for a switch, the value on its own scale for a continuous one:
/// CLAP's plain value for the first two, its normalized value for the last).
const SET: &[(&str, f64)] = &[
    ("mode", 2.0),
    ("role", 3.0),
    ("style", 1.0),
    ("temperature", 0.5),
    ("top_p", 0.75),
    ("lookah", 4.0),
    ("scale", 3.0),
    ("key", 5.0),
    ("low", 36.0),
    ("high", 96.0),
    ("dens", -0.5),
    ("dyn", 1.0),
    ("vel", 0.5),
    ("accent", 0.75),
    ("poly", 4.0),
    ("ansbar", 4.0),
    ("gap", 2.0),
    ("ansst", 1.0),
    ("chan", 3.0),
    ("maxlen", 4.0),
    ("seed", 1234.0),
    ("jump", 1.0),
    ("captb", 8.0),
    ("capt", 0.0),
    ("panic", 0.0),
    ("thru", 0.0),
    ("bypass", 1.0),
    ("voice", 0.0),
    ("vlevel", -6.0),
    ("vplay", 1.0),
    ("fchord", 0.5),
    ("rchord", 0.0),
];

/// The persisted fields the fixture holds, as saved (JSON text).
const FIELDS: &[(&str, &str)] = &[
    ("chords", "\"| Am | F | C | G |\""),
    ("model", "\"/home/musician/cadenza-my-tunes\""),
    ("runs_on", "\"cpu\""),
];

fn values(host: &mut ClapHost) -> Vec<(&'static str, Option<f64>)> {
    SET.iter()
        .map(|&(id, _)| (id, host.param_value(id)))
        .collect()
}

/// The saved parameters (nice-plug's state: each parameter's value on its own scale) by id.
fn saved_params(state: &[u8]) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_slice(&state[8..]).unwrap();
    json["params"].clone()
}

/// A saved parameter's value as a number (a switch as 0/1).
fn number(v: &serde_json::Value) -> Option<f64> {
    let (_, v) = v.as_object()?.iter().next()?;
    v.as_f64()
        .or_else(|| v.as_bool().map(|b| f64::from(u8::from(b))))
}

#[test]
fn a_state_saved_before_the_parameter_groups_loads_with_every_value() {
    let saved = std::fs::read(FIXTURE).unwrap();
    let fixture = saved_params(&saved);
    for &(id, v) in SET {
        assert_eq!(number(&fixture[id]), Some(v), "the fixture's {id}");
    }
    let mut host = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    let defaults = values(&mut host);
    host.load_state(&saved).unwrap();
    let loaded = values(&mut host);
    for ((id, d), (_, v)) in defaults.iter().zip(&loaded) {
        assert!(v.is_some(), "{id}: no such parameter");
        if !matches!(*id, "capt" | "panic") {
            assert_ne!(d, v, "{id}: the fixture sets it away from its default");
        }
    }
    // Stepped parameters and switches: CLAP's plain value is the value counted from the
    // parameter's minimum (1 for these four; 0 for the others).
    for (&(id, value), (_, got)) in SET.iter().zip(&loaded) {
        let want = value - f64::from(u8::from(matches!(id, "poly" | "ansbar" | "chan" | "captb")));
        if fixture[id].get("f32").is_none() {
            // (nice-plug hands CLAP the value through an f32 normalization: 2 reads 2.0000001.)
            assert!(
                got.is_some_and(|g| (g - want).abs() < 1e-4),
                "{id}: {got:?} against {want}"
            );
        }
    }
    // Saved again, today's build writes the same parameters and fields as the old one.
    let again = host.save_state().unwrap();
    assert_eq!(saved_params(&again), fixture);
    for &(key, want) in FIELDS {
        assert_eq!(state_field(&again, key).as_deref(), Some(want), "{key}");
    }
    assert!(
        state_field(&again, "prompt").is_some_and(|p| p.contains("a clip")),
        "the prompt clip"
    );
    let mut other = ClapHost::load(&bundle_dir().join("Cadenza.clap")).unwrap();
    other.load_state(&again).unwrap();
    assert_eq!(
        values(&mut other),
        loaded,
        "saved again and loaded, the same values"
    );
}

/// Writes the fixture with the build named by `CADENZA_STATE_FIXTURE_CLAP`: its default state with
/// [`SET`]'s values and [`FIELDS`], loaded into that build and saved by it.
#[test]
#[ignore]
fn write_the_fixture() {
    let clap = std::env::var("CADENZA_STATE_FIXTURE_CLAP").expect("CADENZA_STATE_FIXTURE_CLAP");
    let mut host = ClapHost::load(std::path::Path::new(&clap)).unwrap();
    let fresh = host.save_state().unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&fresh[8..]).unwrap();
    for &(id, v) in SET {
        let slot = &mut json["params"][id];
        *slot = match slot
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .as_deref()
        {
            Some("i32") => serde_json::json!({ "i32": v as i32 }),
            Some("bool") => serde_json::json!({ "bool": v != 0.0 }),
            Some("f32") => serde_json::json!({ "f32": v as f32 }),
            other => panic!("{id}: {other:?} in {slot}"),
        };
    }
    let body = serde_json::to_vec(&json).unwrap();
    let mut state = (body.len() as u64).to_le_bytes().to_vec();
    state.extend_from_slice(&body);
    for &(key, value) in FIELDS {
        let value: serde_json::Value = serde_json::from_str(value).unwrap();
        state = state_with_field(&state, key, &value);
    }
    let prompt = serde_json::json!({
        "name": "a clip",
        "notes": [{"beat": 0.0, "length": 1.0, "pitch": 60, "velocity": 100}]
    });
    state = state_with_field(&state, "prompt", &prompt);
    host.load_state(&state).unwrap();
    let saved = host.save_state().unwrap();
    for &(id, v) in SET {
        assert_eq!(
            number(&saved_params(&saved)[id]),
            Some(v),
            "{id} as that build saved it"
        );
    }
    std::fs::write(FIXTURE, &saved).unwrap();
}
