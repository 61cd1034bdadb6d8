//! model.json: the contract between the Python export and the plugin, validated with typed errors.
//!
//! Written by `models/cadenza_model/cli/export.py` beside model.onnx. Every error names the field.

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::tokenizer::Vocab;

/// The newest model.json format this build reads: 5, format 4 told the song (the chord now, the next
/// chord and the beats until it, per token: [`crate::features::ChordFeature`]). Format 4: two streams
/// (the player's notes and Cadenza's): format 3's features with the held keys split by owner, a
/// player flag and role slots ([`crate::features`], `feature_layout` in model.json). Format 3: format
/// 2 plus per-token features (input `features`, the held keys and the beat phase one-hot).
pub const FORMAT_VERSION: u32 = 5;
/// The oldest it still reads: 2, the ring-cache step graph, token ids only.
pub const OLDEST_FORMAT_VERSION: u32 = 2;
/// The only architecture this build can drive.
pub const ARCHITECTURE: &str = "music-transformer-relative";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
/// What is wrong with a model.json; the message names the field.
pub enum SpecError {
    #[error("model.json is not valid: {0}")]
    /// It is not JSON of the right shape (serde's message).
    Parse(String),
    #[error("model.json has format_version {found}; this Cadenza reads versions {OLDEST_FORMAT_VERSION} to {supported} ({})", format_hint(.found, .supported))]
    /// A format version this build does not read.
    UnsupportedFormat {
        /// The file's version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    #[error("model.json field `{field}`: {problem}")]
    /// A field's value cannot be used.
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// What to do about a model.json of another format version.
fn format_hint(found: &u32, supported: &u32) -> &'static str {
    if found < supported {
        "re-export it: python -m cadenza_model.cli.export --from-model-dir FOLDER FOLDER"
    } else {
        "update Cadenza, or re-export the model with this Cadenza's models/ pipeline"
    }
}

/// The `vocab` block, exactly as Python writes it: the layout plus the pitch count it assumes.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct VocabSpec {
    #[serde(flatten)]
    /// The token layout.
    pub layout: Vocab,
    /// MIDI pitches it covers (128).
    pub pitches: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
/// model.json: the model's contract, checked field by field ([`ModelSpec::parse`]).
pub struct ModelSpec {
    /// The contract's version (see `FORMAT_VERSION`).
    pub format_version: u32,
    /// The model's name, shown in the editor.
    pub name: String,
    /// Must be [`ARCHITECTURE`].
    pub architecture: String,
    /// Time resolution of the shift tokens.
    pub ticks_per_beat: u32,
    /// The token layout.
    pub vocab: VocabSpec,
    /// Style names, by style slot.
    pub styles: Vec<String>,
    /// Model width.
    pub d_model: u32,
    /// Layers.
    pub n_layer: u32,
    /// Attention heads.
    pub n_head: u32,
    /// Width of one head (`d_model / n_head`).
    pub head_dim: u32,
    /// Attention window in tokens (the cache holds `window - 1`).
    pub window: u32,
    /// The graph's input names by role (`tokens`, `past_keys`, ...).
    pub inputs: BTreeMap<String, String>,
    /// The graph's output names by role (`logits`, `new_keys`, `new_values`).
    pub outputs: BTreeMap<String, String>,
    /// Format 4: where each feature sits in a row of `features`, `[start, end)`; checked against
    /// the one layout this build writes ([`crate::features::Layout`]).
    #[serde(default)]
    pub feature_layout: Option<BTreeMap<String, [u32; 2]>>,
    /// Format 4: role slots on the style token's features, and the roles in use (slot order).
    #[serde(default)]
    pub role_slots: u32,
    #[serde(default)]
    /// The roles in use, in slot order.
    pub roles: Vec<String>,
    /// Format 4, optional: the roles each style was trained for (a subset of `roles`; a style not
    /// named here plays all of them). Single tunes have no bass or inner parts to learn from.
    #[serde(default)]
    pub roles_by_style: BTreeMap<String, Vec<String>>,
    /// Format 4, optional: the model was trained to read no role slot on the style token as Cadenza
    /// alone, nobody else ever to play (so it sounds every part itself). Without it, alone plays as
    /// Free, which beside a player who has not come in yet looks the same to the model.
    #[serde(default)]
    pub alone: bool,
    /// Free-form facts from training (steps, held-out NLL, …); shown, never relied on.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// The graph's tensor names, resolved from `inputs`/`outputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoNames {
    /// The new tokens, (1, T) int64.
    pub tokens: String,
    /// The cache's keys.
    pub past_keys: String,
    /// The cache's values.
    pub past_values: String,
    /// The relative positions' index.
    pub rel_index: String,
    /// The attention mask over the cache and the new tokens.
    pub mask: String,
    /// Format 3: the per-token features, (T, 128 + ticks_per_beat) f32.
    pub features: Option<String>,
    /// The logits after each new token.
    pub logits: String,
    /// The new tokens' keys.
    pub new_keys: String,
    /// The new tokens' values.
    pub new_values: String,
}

impl ModelSpec {
    /// How the graph wants one token's features (its `features` input's row): the model's format
    /// decides, so the features module need not know of model specs.
    pub fn feature_layout(&self) -> crate::features::Layout {
        use crate::features::Layout;
        if self.two_streams() {
            Layout::TwoStreams {
                ticks_per_beat: self.ticks_per_beat,
                role_slots: self.role_slots,
                chords: self.hears_chords(),
            }
        } else if self.has_features() {
            Layout::OneStream {
                ticks_per_beat: self.ticks_per_beat,
            }
        } else {
            Layout::None
        }
    }

    /// Parse and validate. The format version is checked before anything else, so a newer file gets
    /// "update Cadenza" rather than a confusing missing-field message.
    pub fn parse(json: &str) -> Result<Self, SpecError> {
        let raw: serde_json::Value =
            serde_json::from_str(json).map_err(|e| SpecError::Parse(e.to_string()))?;
        match raw.get("format_version").and_then(|v| v.as_u64()) {
            Some(v)
                if (u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&v) => {}
            Some(v) => {
                return Err(SpecError::UnsupportedFormat {
                    found: v as u32,
                    supported: FORMAT_VERSION,
                })
            }
            None => return Err(SpecError::Parse("missing field `format_version`".into())),
        }
        let spec: ModelSpec =
            serde_json::from_value(raw).map_err(|e| SpecError::Parse(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), SpecError> {
        let invalid = |field, problem: String| Err(SpecError::Invalid { field, problem });
        if self.architecture != ARCHITECTURE {
            return invalid(
                "architecture",
                format!("`{}` is not `{ARCHITECTURE}`", self.architecture),
            );
        }
        if self.ticks_per_beat == 0 {
            return invalid("ticks_per_beat", "must be positive".into());
        }
        let v = &self.vocab;
        if v.pitches != crate::tokenizer::PITCHES {
            return invalid(
                "vocab.pitches",
                format!("{} (expected {})", v.pitches, crate::tokenizer::PITCHES),
            );
        }
        if v.layout.max_shift == 0 {
            return invalid("vocab.max_shift", "must be positive".into());
        }
        let canonical = Vocab::with(v.layout.style_slots, v.layout.max_shift);
        if self.vocab() != canonical {
            return invalid(
                "vocab",
                format!(
                    "layout {:?} is not the canonical layout {:?}",
                    self.vocab(),
                    canonical
                ),
            );
        }
        if self.styles.is_empty() {
            return invalid("styles", "no styles".into());
        }
        if self.styles.len() > v.layout.style_slots as usize {
            return invalid(
                "styles",
                format!(
                    "{} styles but only {} style slots",
                    self.styles.len(),
                    v.layout.style_slots
                ),
            );
        }
        for (field, x) in [
            ("d_model", self.d_model),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("head_dim", self.head_dim),
        ] {
            if x == 0 {
                return invalid(field, "must be positive".into());
            }
        }
        if self.n_head * self.head_dim != self.d_model {
            return invalid(
                "head_dim",
                format!(
                    "n_head {} × head_dim {} ≠ d_model {}",
                    self.n_head, self.head_dim, self.d_model
                ),
            );
        }
        if self.window < 2 {
            return invalid("window", format!("{} is too small", self.window));
        }
        if self.two_streams() {
            if self.role_slots == 0 || self.roles.is_empty() {
                return invalid("roles", "a format 4 model names at least one role".into());
            }
            if self.roles.len() > self.role_slots as usize {
                return invalid(
                    "roles",
                    format!(
                        "{} roles but only {} role slots",
                        self.roles.len(),
                        self.role_slots
                    ),
                );
            }
            for (style, roles) in &self.roles_by_style {
                if !self.styles.contains(style) {
                    return invalid("roles_by_style", format!("no style `{style}` in `styles`"));
                }
                if let Some(r) = roles.iter().find(|r| !self.roles.contains(r)) {
                    return invalid(
                        "roles_by_style",
                        format!("`{style}` lists `{r}`, which is not in `roles`"),
                    );
                }
            }
            let want = self.feature_layout().ranges();
            let got = self.feature_layout.clone().unwrap_or_default();
            if got != want {
                return invalid(
                    "feature_layout",
                    format!("{got:?} is not the layout this Cadenza writes: {want:?}"),
                );
            }
        }
        self.io_names()?;
        Ok(())
    }

    /// The token layout.
    pub fn vocab(&self) -> Vocab {
        self.vocab.layout
    }

    /// Whether the graph takes per-token features beside the ids (format 3).
    pub fn has_features(&self) -> bool {
        self.format_version >= 3
    }

    /// Whether the model tells the player's notes from Cadenza's (format 4).
    pub fn two_streams(&self) -> bool {
        self.format_version >= 4
    }

    /// Whether the model is told the chords (format 5): the chord now and the chord coming.
    pub fn hears_chords(&self) -> bool {
        self.format_version >= 5
    }

    /// The roles the model plays, in slot order: model.json's `roles`, or Free alone for a model
    /// before format 4 (which has no role slots, and plays as Free).
    pub fn roles_played(&self) -> Vec<String> {
        if self.roles.is_empty() {
            vec!["free".to_string()]
        } else {
            self.roles.clone()
        }
    }

    /// The roles style slot `style` plays, in slot order: those `roles_by_style` lists for it, else
    /// all of [`Self::roles_played`].
    pub fn roles_of_style(&self, style: usize) -> Vec<String> {
        let all = self.roles_played();
        match self
            .styles
            .get(style)
            .and_then(|s| self.roles_by_style.get(s))
        {
            Some(some) => all.into_iter().filter(|r| some.contains(r)).collect(),
            None => all,
        }
    }

    /// [`Self::roles_of_style`] for every style slot.
    pub fn roles_by_slot(&self) -> Vec<Vec<String>> {
        (0..self.styles.len())
            .map(|s| self.roles_of_style(s))
            .collect()
    }

    /// The graph's tensor names, resolved from `inputs` and `outputs` (a missing one is an error naming it).
    pub fn io_names(&self) -> Result<IoNames, SpecError> {
        let get = |map: &BTreeMap<String, String>, field: &'static str, key: &str| {
            map.get(key).cloned().ok_or(SpecError::Invalid {
                field,
                problem: format!("missing `{key}`"),
            })
        };
        Ok(IoNames {
            tokens: get(&self.inputs, "inputs", "tokens")?,
            past_keys: get(&self.inputs, "inputs", "past_keys")?,
            past_values: get(&self.inputs, "inputs", "past_values")?,
            rel_index: get(&self.inputs, "inputs", "rel_index")?,
            mask: get(&self.inputs, "inputs", "mask")?,
            features: if self.has_features() {
                Some(get(&self.inputs, "inputs", "features")?)
            } else {
                None
            },
            logits: get(&self.outputs, "outputs", "logits")?,
            new_keys: get(&self.outputs, "outputs", "new_keys")?,
            new_values: get(&self.outputs, "outputs", "new_values")?,
        })
    }

    /// Floats in one layer-stacked KV cache entry (one token): n_layer × n_head × head_dim.
    pub fn cache_floats_per_token(&self) -> usize {
        (self.n_layer * self.n_head * self.head_dim) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> serde_json::Value {
        serde_json::from_str(crate::model::DEFAULT_MODEL_JSON).unwrap()
    }

    fn parse(v: &serde_json::Value) -> Result<ModelSpec, SpecError> {
        ModelSpec::parse(&v.to_string())
    }

    #[test]
    fn the_embedded_default_model_json_is_valid() {
        let spec = parse(&good()).unwrap();
        assert!(spec.styles.len() >= 2);
        assert_eq!(spec.ticks_per_beat, 24);
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut v = good();
        v.as_object_mut().unwrap().remove("window");
        let e = parse(&v).unwrap_err();
        assert!(e.to_string().contains("window"), "{e}");
    }

    #[test]
    fn a_newer_format_asks_for_an_update() {
        let mut v = good();
        v["format_version"] = 99.into();
        assert_eq!(
            parse(&v).unwrap_err(),
            SpecError::UnsupportedFormat {
                found: 99,
                supported: FORMAT_VERSION
            }
        );
        assert!(parse(&v)
            .unwrap_err()
            .to_string()
            .contains("update Cadenza"));
    }

    #[test]
    fn format_3_needs_its_feature_inputs_named_and_format_2_still_loads() {
        let mut v = good();
        v["format_version"] = 3.into();
        v["inputs"]["features"] = "feats".into();
        let name = parse(&v).unwrap().io_names().unwrap().features.unwrap();
        assert_eq!(name, "feats");
        v["inputs"].as_object_mut().unwrap().remove("features");
        let e = parse(&v).unwrap_err();
        assert!(e.to_string().contains("`features`"), "{e}");
        let mut v = good();
        v["format_version"] = 2.into();
        v["inputs"].as_object_mut().unwrap().remove("features");
        let spec = parse(&v).unwrap();
        assert!(!spec.has_features() && spec.io_names().unwrap().features.is_none());
    }

    #[test]
    fn roles_by_style_narrow_what_a_style_plays_and_must_name_known_styles_and_roles() {
        let mut v = good();
        v["roles"] = serde_json::json!(["free", "melody", "bass", "harmony"]);
        let first = v["styles"][0].as_str().unwrap().to_string();
        let second = v["styles"][1].as_str().unwrap().to_string();
        v["roles_by_style"] = serde_json::json!({ first.clone(): ["free", "melody", "harmony"] });
        let spec = parse(&v).unwrap();
        assert_eq!(spec.roles_of_style(0), ["free", "melody", "harmony"]);
        assert_eq!(spec.roles_of_style(1).len(), 4, "{second} is not narrowed");
        assert_eq!(spec.roles_by_slot().len(), spec.styles.len());
        for (bad, field) in [
            (serde_json::json!({ "polka": ["free"] }), "roles_by_style"),
            (
                serde_json::json!({ first.clone(): ["tuba"] }),
                "roles_by_style",
            ),
        ] {
            let mut w = v.clone();
            w["roles_by_style"] = bad;
            assert!(
                matches!(parse(&w), Err(SpecError::Invalid { field: f, .. }) if f == field),
                "{:?}",
                parse(&w)
            );
        }
    }

    #[test]
    fn format_4_needs_its_roles_and_the_feature_layout_this_build_writes_and_format_3_still_loads()
    {
        let v = good();
        assert_eq!(v["format_version"], 4, "the shipped model is format 4");
        let spec = parse(&v).unwrap();
        assert!(spec.two_streams() && spec.roles[0] == "free");
        let mut w = v.clone();
        w["feature_layout"]["player"] = serde_json::json!([280, 282]);
        let e = parse(&w).unwrap_err();
        assert!(
            matches!(
                e,
                SpecError::Invalid {
                    field: "feature_layout",
                    ..
                }
            ),
            "{e}"
        );
        let mut w = v.clone();
        w["roles"] = serde_json::json!([]);
        assert!(matches!(
            parse(&w),
            Err(SpecError::Invalid { field: "roles", .. })
        ));
        let mut w = v;
        w["format_version"] = 3.into();
        for k in ["feature_layout", "roles", "role_slots"] {
            w.as_object_mut().unwrap().remove(k);
        }
        let spec = parse(&w).unwrap();
        assert!(spec.has_features() && !spec.two_streams());
    }

    #[test]
    fn format_5_hears_the_chords_and_needs_their_place_in_the_feature_layout() {
        let mut v = good();
        v["format_version"] = 5.into();
        // Format 4's layout alone: the chord block is missing.
        let e = parse(&v).unwrap_err();
        assert!(
            matches!(
                e,
                SpecError::Invalid {
                    field: "feature_layout",
                    ..
                }
            ),
            "{e}"
        );
        let r = v["feature_layout"]["role"][1].as_u64().unwrap() as u32;
        for (name, from, width) in [
            ("chord_root", 0, 12),
            ("chord", 12, 12),
            ("next_chord_root", 24, 12),
            ("next_chord", 36, 12),
            ("beats_to_next_chord", 48, 8),
        ] {
            v["feature_layout"][name] = serde_json::json!([r + from, r + from + width]);
        }
        let spec = parse(&v).unwrap();
        assert!(spec.hears_chords() && spec.two_streams());
        let layout = spec.feature_layout();
        assert_eq!(
            layout.width(),
            r as usize + crate::features::CHORD_WIDTH as usize
        );
    }

    #[test]
    fn an_older_format_says_how_to_re_export() {
        let mut v = good();
        v["format_version"] = 1.into();
        let e = parse(&v).unwrap_err().to_string();
        assert!(
            e.contains("format_version 1") && e.contains("--from-model-dir"),
            "{e}"
        );
    }

    #[test]
    fn inconsistent_sizes_and_layouts_are_refused() {
        let mut v = good();
        v["head_dim"] = 7.into();
        assert!(matches!(
            parse(&v),
            Err(SpecError::Invalid {
                field: "head_dim",
                ..
            })
        ));
        let mut v = good();
        v["vocab"]["shift_base"] = 5.into();
        assert!(matches!(
            parse(&v),
            Err(SpecError::Invalid { field: "vocab", .. })
        ));
        let mut v = good();
        v["outputs"].as_object_mut().unwrap().remove("logits");
        assert!(matches!(
            parse(&v),
            Err(SpecError::Invalid {
                field: "outputs",
                ..
            })
        ));
        assert!(matches!(
            ModelSpec::parse("{not json"),
            Err(SpecError::Parse(_))
        ));
    }
}
