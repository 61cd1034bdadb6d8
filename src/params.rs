//! Host parameters: every knob is automatable and saved with the project; the prompt clip is saved
//! beside them. Style names come from the model's metadata (model.json). Each parameter is
//! documented for musicians in docs/parameters.md.

use std::sync::{Arc, RwLock};

use nice_plug::prelude::*;

use crate::chords::ChordSlot;
use crate::model::{ModelChoice, ModelSpec, ProviderChoice, ProviderSetting, DEFAULT_MODEL_JSON};
use crate::prompt::{Prompt, PromptSlot};
use crate::settings::{AnswerStart, Dynamics, Mode, Role, Scale, Settings, KEY_NAMES};

/// Style slots a model can have (model.json `vocab.style_slots` of the shipped layout).
pub const STYLE_SLOTS: i32 = 16;
/// Smoothing of the continuous knobs (temperature, top-p, density), in milliseconds.
const SMOOTHING_MS: f32 = 50.0;

/// The style names the parameter shows. Written when a model loads (never on the audio thread),
/// read by the parameter's formatters on the host's threads.
pub type StyleNames = Arc<RwLock<Vec<String>>>;

#[derive(Params)]
pub struct CadenzaParams {
    /// Duet, Call & Response, Improvise or Continue Clip (see [`Mode`]).
    #[id = "mode"]
    pub mode: IntParam,
    /// The part Cadenza plays: Free, Melody, Bass or Harmony (see [`Role`]; the editor offers the
    /// roles the loaded model lists, and one it does not plays as Free).
    #[id = "role"]
    pub role: IntParam,
    /// Style slot of the loaded model (named from model.json).
    #[id = "style"]
    pub style: IntParam,
    /// Sampling temperature: below 1 safer, above 1 wilder. Smoothed.
    #[id = "temperature"]
    pub temperature: FloatParam,
    /// Nucleus sampling: the share of probability mass the next token is drawn from. Smoothed.
    #[id = "top_p"]
    pub top_p: FloatParam,
    /// Beats the engine plans ahead of the playhead: short follows tighter, long is safer on a slow machine.
    #[id = "lookah"]
    pub lookahead: FloatParam,
    /// Scale lock (Off, a fixed scale, or the pitch classes the player used recently).
    #[id = "scale"]
    pub scale: IntParam,
    /// Key of a fixed scale (C..B).
    #[id = "key"]
    pub key: IntParam,
    /// Lowest and highest MIDI note Cadenza starts.
    #[id = "low"]
    pub low: IntParam,
    #[id = "high"]
    pub high: IntParam,
    /// -1..1: fewer or more notes (a bias on the model's note-on logits). Smoothed.
    #[id = "dens"]
    pub density: FloatParam,
    /// Follow the player's velocities, or a fixed one.
    #[id = "dyn"]
    pub dynamics: IntParam,
    /// The fixed velocity (and the level before the player has played), 0..1.
    #[id = "vel"]
    pub velocity: FloatParam,
    /// How much the bar's downbeat (and each beat) stands out, 0..1.
    #[id = "accent"]
    pub accent: FloatParam,
    /// Most of Cadenza's notes sounding at once.
    #[id = "poly"]
    pub polyphony: IntParam,
    /// Call & Response: answer length, in bars.
    #[id = "ansbar"]
    pub answer_bars: IntParam,
    /// Call & Response: the pause, in beats, that ends the player's call.
    #[id = "gap"]
    pub listen_gap: FloatParam,
    /// Call & Response: the answer starts on the next beat or the next bar.
    #[id = "ansst"]
    pub answer_start: IntParam,
    /// MIDI channel (1..16) of Cadenza's notes.
    #[id = "chan"]
    pub channel: IntParam,
    /// Longest note Cadenza lets sound, in beats (the safety net against stuck notes).
    #[id = "maxlen"]
    pub max_note: FloatParam,
    /// Variation seed: the same seed and the same input give the same output.
    #[id = "seed"]
    pub seed: IntParam,
    /// On a transport jump or loop: keep the musical context, or start afresh.
    #[id = "jump"]
    pub reset_on_jump: BoolParam,
    /// Bars "Capture" takes from what the player just played.
    #[id = "captb"]
    pub capture_bars: IntParam,
    /// Switch on to capture the last bars the player played as the prompt clip.
    #[id = "capt"]
    pub capture: BoolParam,
    /// Switch on to end every note Cadenza plays and send All Notes Off on its channel.
    #[id = "panic"]
    pub panic: BoolParam,
    /// Pass the player's own notes through to the output.
    #[id = "thru"]
    pub pass_through: BoolParam,
    /// Host bypass: Cadenza stops generating, ends its notes and passes MIDI through.
    #[id = "bypass"]
    pub bypass: BoolParam,

    /// The built-in voice: Cadenza's notes on its own stereo output (off: silence there, MIDI only).
    #[id = "voice"]
    pub voice: BoolParam,
    /// The voice's level, in dB. Smoothed.
    #[id = "vlevel"]
    pub voice_level: FloatParam,
    /// The voice also plays the player's notes.
    #[id = "vplay"]
    pub voice_player: BoolParam,

    /// Free: how far Cadenza keeps to a chord known ahead (the chord track, a learned progression)
    /// on strong beats and changes, from the model's own choice (0) to chord tones only there (1).
    #[id = "fchord"]
    pub follow_chords: FloatParam,
    /// Remember the chords heard (a host loop's last pass, a progression played again) and expect
    /// them ahead; off: only the chord track is known ahead.
    #[id = "rchord"]
    pub remember_chords: BoolParam,

    /// The prompt clip for Continue Clip mode, saved with the project.
    #[persist = "prompt"]
    pub prompt: PromptSlot,
    /// The chord track, as typed (chord symbols, bars from the host's bar 1), saved with the project.
    /// Only text that parses is kept (`crate::chords`).
    #[persist = "chords"]
    pub chords: ChordSlot,
    /// The model the musician loaded (a path; empty: the built-in one), saved with the project.
    #[persist = "model"]
    pub model: ModelChoice,
    /// Where the model runs: auto (CUDA when it measured faster for the model), CPU or CUDA. Saved
    /// with the project; a setting, not a knob (changing it reloads the model, so it is not automatable).
    #[persist = "runs_on"]
    pub runs_on: ProviderSetting,
    /// The editor's window size and whether it is open (the GUI thread's).
    pub editor_state: Arc<nice_plug_egui::EguiEditorState>,
    /// Names shown for the style parameter.
    pub style_names: StyleNames,
}

/// Style names of the embedded default model (a few kB of JSON: cheap enough for plugin scan).
pub fn default_style_names() -> Vec<String> {
    ModelSpec::parse(DEFAULT_MODEL_JSON)
        .map(|s| s.styles)
        .unwrap_or_default()
}

/// An integer parameter whose values are named (an enum the host shows as a list).
fn named(name: &str, default: usize, names: &'static [&'static str]) -> IntParam {
    IntParam::new(
        name,
        default as i32,
        IntRange::Linear {
            min: 0,
            max: names.len() as i32 - 1,
        },
    )
    .with_value_to_string(Arc::new(move |v| {
        names.get(v as usize).copied().unwrap_or("?").to_string()
    }))
    .with_string_to_value(Arc::new(move |s| {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s.trim()))
            .map(|i| i as i32)
            .or_else(|| s.trim().parse().ok())
    }))
}

/// The slot of a style shown as "(slot N: unused)" (what the style's text is when the model has no
/// style there), so that the text a host shows reads back as the same value.
fn unused_slot(text: &str) -> Option<i32> {
    text.strip_prefix("(slot ")?
        .strip_suffix(": unused)")?
        .parse()
        .ok()
}

/// A MIDI note parameter shown as a note name (C4 = 60).
fn note(name: &str, default: i32) -> IntParam {
    IntParam::new(name, default, IntRange::Linear { min: 0, max: 127 })
        .with_value_to_string(Arc::new(|v| {
            format!(
                "{}{}",
                KEY_NAMES[(v.rem_euclid(12)) as usize],
                v.div_euclid(12) - 1
            )
        }))
        .with_string_to_value(Arc::new(|s| {
            let s = s.trim();
            if let Ok(n) = s.parse::<i32>() {
                return Some(n);
            }
            let split = s.find(|c: char| c == '-' || c.is_ascii_digit())?;
            let (name, octave) = s.split_at(split);
            let pc = KEY_NAMES
                .iter()
                .position(|k| k.eq_ignore_ascii_case(name))? as i32;
            Some((octave.parse::<i32>().ok()? + 1) * 12 + pc)
        }))
}

impl Default for CadenzaParams {
    fn default() -> Self {
        Self::new(Arc::new(RwLock::new(default_style_names())))
    }
}

impl CadenzaParams {
    /// Parameters whose style names are `style_names` (the engine rewrites them when a model loads).
    pub fn new(style_names: StyleNames) -> Self {
        let d = Settings::default();
        let names_fmt = style_names.clone();
        let names_parse = style_names.clone();
        let smooth = || SmoothingStyle::Linear(SMOOTHING_MS);
        Self {
            mode: named("Mode", d.mode as usize, Mode::NAMES),
            role: named("Role", d.role as usize, Role::NAMES),
            style: IntParam::new(
                "Style",
                0,
                IntRange::Linear {
                    min: 0,
                    max: STYLE_SLOTS - 1,
                },
            )
            .with_value_to_string(Arc::new(move |v| {
                let names = names_fmt.read().unwrap_or_else(|p| p.into_inner());
                names
                    .get(v as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("(slot {v}: unused)"))
            }))
            .with_string_to_value(Arc::new(move |s| {
                let names = names_parse.read().unwrap_or_else(|p| p.into_inner());
                let s = s.trim();
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(s))
                    .map(|i| i as i32)
                    .or_else(|| s.parse().ok())
                    .or_else(|| unused_slot(s))
            })),
            temperature: FloatParam::new(
                "Temperature",
                d.temperature,
                FloatRange::Skewed {
                    min: 0.1,
                    max: 2.0,
                    factor: FloatRange::skew_factor(-1.0),
                },
            )
            .with_smoother(smooth())
            .with_step_size(0.01),
            top_p: FloatParam::new("Top-p", d.top_p, FloatRange::Linear { min: 0.5, max: 1.0 })
                .with_smoother(smooth())
                .with_step_size(0.01),
            lookahead: FloatParam::new(
                "Lookahead",
                d.lookahead_beats as f32,
                FloatRange::Linear {
                    min: 0.25,
                    max: 8.0,
                },
            )
            .with_unit(" beats")
            .with_step_size(0.25),
            scale: named("Scale", d.scale as usize, Scale::NAMES),
            key: named("Key", d.key as usize, KEY_NAMES),
            low: note("Lowest Note", i32::from(d.low)),
            high: note("Highest Note", i32::from(d.high)),
            density: FloatParam::new(
                "Density",
                d.density,
                FloatRange::Linear {
                    min: -1.0,
                    max: 1.0,
                },
            )
            .with_smoother(smooth())
            .with_step_size(0.01),
            dynamics: named("Dynamics", d.dynamics as usize, Dynamics::NAMES),
            velocity: FloatParam::new(
                "Velocity",
                d.velocity,
                FloatRange::Linear {
                    min: 0.05,
                    max: 1.0,
                },
            )
            .with_step_size(0.01),
            accent: FloatParam::new(
                "Accent",
                d.accent,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_step_size(0.01),
            polyphony: IntParam::new(
                "Max Polyphony",
                d.max_polyphony as i32,
                IntRange::Linear { min: 1, max: 16 },
            ),
            answer_bars: IntParam::new(
                "Answer Length",
                d.answer_bars as i32,
                IntRange::Linear { min: 1, max: 16 },
            )
            .with_unit(" bars"),
            listen_gap: FloatParam::new(
                "Listen Gap",
                d.listen_gap_beats as f32,
                FloatRange::Linear {
                    min: 0.25,
                    max: 8.0,
                },
            )
            .with_unit(" beats")
            .with_step_size(0.25),
            answer_start: named("Answer Starts", d.answer_start as usize, AnswerStart::NAMES),
            channel: IntParam::new("Output Channel", 1, IntRange::Linear { min: 1, max: 16 }),
            max_note: FloatParam::new(
                "Max Note Length",
                8.0,
                FloatRange::Linear {
                    min: 0.25,
                    max: 32.0,
                },
            )
            .with_unit(" beats")
            .with_step_size(0.25),
            seed: IntParam::new(
                "Seed",
                d.seed as i32,
                IntRange::Linear { min: 0, max: 9999 },
            ),
            reset_on_jump: BoolParam::new("Reset on Jump", d.reset_on_jump),
            capture_bars: IntParam::new("Capture Length", 4, IntRange::Linear { min: 1, max: 16 })
                .with_unit(" bars"),
            capture: BoolParam::new("Capture Prompt", false),
            panic: BoolParam::new("Panic", false),
            pass_through: BoolParam::new("Pass Through", true),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            voice: BoolParam::new("Voice", true),
            voice_level: FloatParam::new(
                "Voice Level",
                -12.0,
                FloatRange::Linear {
                    min: -60.0,
                    max: 6.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.1)
            .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS)),
            voice_player: BoolParam::new("Voice Plays Player", false),
            follow_chords: FloatParam::new(
                "Follow Chords",
                d.follow_chords,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_step_size(0.01),
            remember_chords: BoolParam::new("Remember Chords", d.remember_chords),
            prompt: Arc::new(RwLock::new(Prompt::default())),
            chords: Arc::new(RwLock::new(String::new())),
            model: Arc::new(RwLock::new(String::new())),
            runs_on: ProviderChoice::Auto.shared(),
            editor_state: crate::editor::default_state(),
            style_names,
        }
    }
}

impl CadenzaParams {
    /// The engine's settings from the parameters (audio thread: reads atomics only), where they enter:
    /// each parameter's range is the check of its value. The continuous knobs advance their smoothers
    /// by `frames` samples.
    pub fn settings(&self, frames: u32) -> Settings {
        let frames = frames.max(1);
        let low = self.low.value().clamp(0, 127) as u8;
        Settings {
            mode: Mode::from_index(self.mode.value() as u32),
            role: Role::from_index(self.role.value() as u32),
            style: self.style.value().max(0) as u32,
            temperature: self.temperature.smoothed.next_step(frames),
            top_p: self.top_p.smoothed.next_step(frames),
            lookahead_beats: f64::from(self.lookahead.value()),
            scale: Scale::from_index(self.scale.value() as u32),
            key: self.key.value() as u32,
            low,
            // A range set upside down plays its lowest note only.
            high: (self.high.value().clamp(0, 127) as u8).max(low),
            density: self.density.smoothed.next_step(frames),
            dynamics: Dynamics::from_index(self.dynamics.value() as u32),
            velocity: self.velocity.value(),
            accent: self.accent.value(),
            max_polyphony: self.polyphony.value().max(1) as u32,
            answer_bars: self.answer_bars.value().max(1) as u32,
            listen_gap_beats: f64::from(self.listen_gap.value()),
            answer_start: AnswerStart::from_index(self.answer_start.value() as u32),
            seed: self.seed.value().max(0) as u32,
            reset_on_jump: self.reset_on_jump.value(),
            capture_bars: self.capture_bars.value().max(1) as u32,
            follow_chords: self.follow_chords.value().clamp(0.0, 1.0),
            remember_chords: self.remember_chords.value(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a host (and clap-validator's param-conversions) does: show a value as text, read the
    /// text back, and show that again. Every parameter, at 101 points of its range, with and without
    /// its unit.
    #[test]
    fn every_parameters_text_reads_back_as_the_value_it_shows() {
        let params = CadenzaParams::default();
        let map = params.param_map();
        assert!(map.len() > 15, "{} parameters", map.len());
        let mut failures = Vec::new();
        for (id, ptr, _) in &map {
            for k in 0..=100 {
                let n = k as f32 / 100.0;
                for unit in [true, false] {
                    // SAFETY: the pointers come from `params`, which lives to the end of the test.
                    let (text, back) = unsafe {
                        let text = ptr.normalized_value_to_string(n, unit);
                        let back = ptr
                            .string_to_normalized_value(&text)
                            .map(|b| ptr.normalized_value_to_string(b, unit));
                        (text, back)
                    };
                    if back.as_deref() != Some(text.as_str()) {
                        failures.push(format!("{id} at {n}: {text:?} reads back as {back:?}"));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures: {:?}",
            failures.len(),
            &failures[..failures.len().min(10)]
        );
    }
}
