//! The Rust tokenizer against the golden fixtures written by Python (models/cadenza_model/golden.py).

use cadenza::model::spec::VocabSpec;
use cadenza::tokenizer::{Note, Vocab};

#[derive(serde::Deserialize)]
struct Golden {
    vocab: VocabSpec,
    ticks_per_beat: u32,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    notes: Vec<[u64; 3]>,
    tokens: Vec<u32>,
    decoded: Vec<[u64; 3]>,
}

fn notes(raw: &[[u64; 3]]) -> Vec<Note> {
    raw.iter()
        .map(|n| Note {
            onset: n[0],
            duration: n[1],
            pitch: n[2] as u8,
        })
        .collect()
}

#[test]
fn rust_tokenizer_matches_python_golden_files() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/tests/fixtures/golden_tokens.json"
    );
    let golden: Golden = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(golden.ticks_per_beat, 24);
    let v = Vocab::with(
        golden.vocab.layout.style_slots,
        golden.vocab.layout.max_shift,
    );
    assert_eq!(
        v, golden.vocab.layout,
        "Python's layout is the canonical one"
    );
    assert_eq!(golden.vocab.pitches, 128);
    assert_eq!(v, Vocab::DEFAULT, "the shipped layout");
    assert!(
        golden.cases.iter().any(|c| c.tokens.len() > 100),
        "a real piece is among the cases"
    );
    for case in &golden.cases {
        assert_eq!(
            v.notes_to_tokens(&notes(&case.notes)),
            case.tokens,
            "encode {}",
            case.name
        );
        assert_eq!(
            v.tokens_to_notes(&case.tokens),
            notes(&case.decoded),
            "decode {}",
            case.name
        );
    }
}
