//! The layers, checked: what each part of the library may import.
//!
//! - Only the plugin's wiring (src/lib.rs), its parameters (src/params.rs) and the editor
//!   (src/editor.rs, src/editor/) may use nice-plug or egui. Everything else (the tokenizer, the
//!   bridge, the scheduler, the engine, the model) is free of plugin-framework types, so it tests
//!   without a host.
//! - The lower layers never import the higher ones: the tokenizer, the features, the bridge and the
//!   model know nothing of the engine or the audio side; features and model do not import each
//!   other both ways (the model says its feature layout: `ModelSpec::feature_layout`).
//!
//! Programs under src/bin/ are not the library and are not checked.

use std::path::{Path, PathBuf};

/// Source files under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a source line: without its `//` comment and its string literals.
fn code(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            _ if !in_string => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether `word` occurs in `text` as a path segment (not inside a longer identifier).
fn names(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The lines of `source` whose code names any of `words`: (line number, line).
fn offending(source: &str, words: &[&str]) -> Vec<(usize, String)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let c = code(l);
            words.iter().any(|w| names(&c, w))
        })
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rel(path: &Path) -> String {
    path.strip_prefix(src())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn only_the_wiring_the_parameters_and_the_editor_use_nice_plug_or_egui() {
    let allowed =
        |r: &str| r == "lib.rs" || r == "params.rs" || r == "editor.rs" || r.starts_with("editor/");
    let mut found = Vec::new();
    let mut checked = 0;
    for path in sources(&src()) {
        let r = rel(&path);
        if r.starts_with("bin/") || allowed(&r) {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in offending(&text, &["nice_plug", "nice_plug_egui", "egui"]) {
            found.push(format!("src/{r}:{n}: {line}"));
        }
    }
    assert!(
        checked > 40,
        "only {checked} files checked: is src/ where it was?"
    );
    assert!(
        found.is_empty(),
        "plugin-framework types outside lib.rs, params.rs and editor/:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_lower_layers_do_not_import_the_higher_ones() {
    // (module, what it must not import)
    let rules: &[(&str, &[&str])] = &[
        (
            "tokenizer",
            &[
                "crate::model",
                "crate::engine",
                "crate::audio",
                "crate::bridge",
                "crate::features",
            ],
        ),
        (
            "features",
            &[
                "crate::model",
                "crate::engine",
                "crate::audio",
                "crate::bridge",
            ],
        ),
        ("bridge", &["crate::model", "crate::engine", "crate::audio"]),
        ("model", &["crate::engine", "crate::audio", "crate::bridge"]),
        (
            "sampler",
            &[
                "crate::model",
                "crate::engine",
                "crate::audio",
                "crate::bridge",
            ],
        ),
        (
            "settings",
            &[
                "crate::model",
                "crate::engine",
                "crate::audio",
                "crate::bridge",
            ],
        ),
        (
            "chords",
            &[
                "crate::model",
                "crate::engine",
                "crate::audio",
                "crate::bridge",
            ],
        ),
        (
            "runtime",
            &[
                "crate::model",
                "crate::engine",
                "crate::audio",
                "crate::bridge",
            ],
        ),
    ];
    let mut found = Vec::new();
    for path in sources(&src()) {
        let r = rel(&path);
        let module = r.split(['/', '.']).next().unwrap_or_default();
        for (m, banned) in rules {
            if module == *m {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in offending(&text, banned) {
                    found.push(format!("src/{r}:{n}: {line}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a lower layer imports a higher one:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_and_not_a_comment_or_a_string() {
    let src = "use nice_plug::prelude::*;\n// nice_plug in a comment\nlet s = \"egui\";\nfn egui_like() {}\nlet x = crate::model::ModelSpec::default();";
    let hits: Vec<usize> = offending(src, &["nice_plug", "egui", "crate::model"])
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(hits, vec![1, 5]);
}
