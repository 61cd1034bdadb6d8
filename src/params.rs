//! Host parameters. Style names come from the model's metadata (model.json).

use std::sync::{Arc, RwLock};

use nice_plug::prelude::*;

use crate::model::{ModelSpec, DEFAULT_MODEL_JSON};

/// Style slots a model can have (model.json `vocab.style_slots` of the shipped layout).
pub const STYLE_SLOTS: i32 = 16;

/// The style names the parameter shows. Written when a model loads (never on the audio thread),
/// read by the parameter's formatters on the host's threads.
pub type StyleNames = Arc<RwLock<Vec<String>>>;

#[derive(Params)]
pub struct CadenzaParams {
    /// Sampling temperature: below 1 safer, above 1 wilder.
    #[id = "temperature"]
    pub temperature: FloatParam,
    /// Nucleus sampling: the share of probability mass the next token is drawn from.
    #[id = "top_p"]
    pub top_p: FloatParam,
    /// Style slot of the loaded model (named from model.json).
    #[id = "style"]
    pub style: IntParam,
    /// Pass the player's own notes through to the output.
    #[id = "thru"]
    pub pass_through: BoolParam,
    /// Host bypass: Cadenza stops generating, ends its notes and passes MIDI through.
    #[id = "bypass"]
    pub bypass: BoolParam,

    /// Names shown for the style parameter.
    pub style_names: StyleNames,
}

/// Style names of the embedded default model (a few kB of JSON: cheap enough for plugin scan).
pub fn default_style_names() -> Vec<String> {
    ModelSpec::parse(DEFAULT_MODEL_JSON).map(|s| s.styles).unwrap_or_default()
}

impl Default for CadenzaParams {
    fn default() -> Self {
        let style_names: StyleNames = Arc::new(RwLock::new(default_style_names()));
        let names_fmt = style_names.clone();
        let names_parse = style_names.clone();
        Self {
            temperature: FloatParam::new(
                "Temperature",
                1.0,
                FloatRange::Skewed { min: 0.1, max: 2.0, factor: FloatRange::skew_factor(-1.0) },
            )
            .with_step_size(0.01),
            top_p: FloatParam::new("Top-p", 0.95, FloatRange::Linear { min: 0.5, max: 1.0 }).with_step_size(0.01),
            style: IntParam::new("Style", 0, IntRange::Linear { min: 0, max: STYLE_SLOTS - 1 })
                .with_value_to_string(Arc::new(move |v| {
                    let names = names_fmt.read().unwrap_or_else(|p| p.into_inner());
                    names.get(v as usize).cloned().unwrap_or_else(|| format!("(slot {v}: unused)"))
                }))
                .with_string_to_value(Arc::new(move |s| {
                    let names = names_parse.read().unwrap_or_else(|p| p.into_inner());
                    names
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(s.trim()))
                        .map(|i| i as i32)
                        .or_else(|| s.trim().parse().ok())
                })),
            pass_through: BoolParam::new("Pass Through", true),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            style_names,
        }
    }
}
