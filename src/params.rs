//! Host parameters: every knob is automatable and saved with the project; the prompt clip, the chord
//! track and the chosen model are saved beside them. Style names come from the model's metadata
//! (model.json). Each parameter is documented for musicians in docs/parameters.md.
//!
//! The knobs come in groups, the editor's sections ([`PlayParams`], [`PitchParams`],
//! [`AnswerParams`], [`ChordParams`], [`OutputParams`]); the host sees them under those group names
//! and the editor walks them ([`CadenzaParams::groups`]). Their IDs are those they always had, and
//! the host's list keeps the order it always had ([`HOST_ORDER`]): a saved project names a parameter
//! by its ID, and hosts keep automation by its place in that list (Reaper's envelopes, Ardour's
//! lanes). A new knob goes into its group and at the end of [`HOST_ORDER`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use nice_plug::prelude::*;

use crate::chords::ChordSlot;
use crate::model::{ModelChoice, ModelSpec, ProviderChoice, ProviderSetting, DEFAULT_MODEL_JSON};
use crate::prompt::{Prompt, PromptSlot};
use crate::settings::{AnswerStart, Dynamics, Mode, Role, Scale, Settings, KEY_NAMES};

/// Style slots a model can have (model.json `vocab.style_slots` of the shipped layout).
pub const STYLE_SLOTS: i32 = 16;
/// Smoothing of the continuous knobs (temperature, top-p, density, the voice's level), in ms.
const SMOOTHING_MS: f32 = 50.0;

/// The style names the parameter shows. Written when a model loads (never on the audio thread),
/// read by the parameter's formatters on the host's threads.
pub type StyleNames = Arc<RwLock<Vec<String>>>;

/// The host's parameter list, by ID: the order the parameters had before they were grouped. Hosts
/// keep automation by a parameter's place in this list, so it never changes; new ones go last.
pub const HOST_ORDER: [&str; 32] = [
    "mode",
    "role",
    "style",
    "temperature",
    "top_p",
    "lookah",
    "scale",
    "key",
    "low",
    "high",
    "dens",
    "dyn",
    "vel",
    "accent",
    "poly",
    "ansbar",
    "gap",
    "ansst",
    "chan",
    "maxlen",
    "seed",
    "jump",
    "captb",
    "capt",
    "panic",
    "thru",
    "bypass",
    "voice",
    "vlevel",
    "vplay",
    "fchord",
    "rchord",
];

/// Every parameter and what is saved beside them.
pub struct CadenzaParams {
    /// How Cadenza plays: mode, role, style, sampling, how far ahead, the seed.
    pub play: PlayParams,
    /// Which notes and how loud: scale, key, range, polyphony, dynamics.
    pub pitch: PitchParams,
    /// Call & Response's answers, the prompt clip's capture, the longest note.
    pub answer: AnswerParams,
    /// How Cadenza keeps to the song's chords.
    pub chords_follow: ChordParams,
    /// Where its notes go: the channel, pass-through, the built-in voice, bypass, panic.
    pub output: OutputParams,
    /// What is saved beside the parameters.
    pub saved: Saved,
    /// The editor's window size and whether it is open (the GUI thread's).
    pub editor_state: Arc<nice_plug_egui::EguiEditorState>,
    /// Names shown for the style parameter.
    pub style_names: StyleNames,
}

/// A group of parameters: the struct (derived `Params`, each field with its `#[id]`) and its knobs
/// in the editor's order, each with how the editor shows it ([`Knob`]), written once.
macro_rules! group {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident($group:literal) {
            $($(#[$meta:meta])* $field:ident: $ty:ty => $knob:ident $(($arg:expr))?,)+
        }
    ) => {
        $(#[$smeta])*
        #[derive(Params)]
        pub struct $name {
            $($(#[$meta])* pub $field: $ty,)+
        }

        impl $name {
            /// The group's name (the editor's section, the host's group).
            pub const GROUP: &'static str = $group;

            fn knobs(&self) -> Vec<Knob<'_>> {
                vec![$(Knob::$knob(&self.$field $(, $arg)?)),+]
            }
        }
    };
}

/// What is saved with the project beside the parameters.
#[derive(Params)]
pub struct Saved {
    /// The prompt clip for Continue Clip mode.
    #[persist = "prompt"]
    pub prompt: PromptSlot,
    /// The chord track, as typed (chord symbols, bars from the host's bar 1). Only text that parses
    /// is kept (`crate::chords`).
    #[persist = "chords"]
    pub chords: ChordSlot,
    /// The model the musician loaded (a path; empty: the built-in one).
    #[persist = "model"]
    pub model: ModelChoice,
    /// Where the model runs: auto (CUDA when it measured faster for the model), CPU or CUDA. A
    /// setting, not a knob (changing it reloads the model, so it is not automatable).
    #[persist = "runs_on"]
    pub runs_on: ProviderSetting,
}

group! {
    /// The editor's "Play" section.
    pub struct PlayParams("Play") {
        /// Duet, Call & Response, Improvise or Continue Clip (see [`Mode`]).
        #[id = "mode"]
        mode: IntParam => Int,
        /// The part Cadenza plays: Free, Melody, Bass or Harmony (see [`Role`]; the editor offers the
        /// roles the loaded model lists, and one it does not plays as Free).
        #[id = "role"]
        role: IntParam => Role,
        /// Style slot of the loaded model (named from model.json).
        #[id = "style"]
        style: IntParam => Int,
        /// Sampling temperature: below 1 safer, above 1 wilder. Smoothed.
        #[id = "temperature"]
        temperature: FloatParam => Float,
        /// Nucleus sampling: the share of probability mass the next token is drawn from. Smoothed.
        #[id = "top_p"]
        top_p: FloatParam => Float,
        /// -1..1: fewer or more notes (a bias on the model's note-on logits). Smoothed.
        #[id = "dens"]
        density: FloatParam => Float,
        /// Beats the engine plans ahead of the playhead: short follows tighter, long is safer on a slow machine.
        #[id = "lookah"]
        lookahead: FloatParam => Float,
        /// Variation seed: the same seed and the same input give the same output.
        #[id = "seed"]
        seed: IntParam => Int,
        /// On a transport jump or loop: keep the musical context, or start afresh.
        #[id = "jump"]
        reset_on_jump: BoolParam => Switch,
    }
}

group! {
    /// The editor's "Pitch and feel" section.
    pub struct PitchParams("Pitch and feel") {
        /// Scale lock (Off, a fixed scale, or the pitch classes the player used recently).
        #[id = "scale"]
        scale: IntParam => Int,
        /// Key of a fixed scale (C..B).
        #[id = "key"]
        key: IntParam => Int,
        /// Lowest MIDI note Cadenza starts.
        #[id = "low"]
        low: IntParam => Int,
        /// Highest MIDI note Cadenza starts.
        #[id = "high"]
        high: IntParam => Int,
        /// Most of Cadenza's notes sounding at once.
        #[id = "poly"]
        polyphony: IntParam => Int,
        /// Follow the player's velocities, or a fixed one.
        #[id = "dyn"]
        dynamics: IntParam => Int,
        /// The fixed velocity (and the level before the player has played), 0..1.
        #[id = "vel"]
        velocity: FloatParam => Float,
        /// How much the bar's downbeat (and each beat) stands out, 0..1.
        #[id = "accent"]
        accent: FloatParam => Float,
    }
}

group! {
    /// The editor's "Call, answer, clip" section.
    pub struct AnswerParams("Call, answer, clip") {
        /// Call & Response: answer length, in bars.
        #[id = "ansbar"]
        answer_bars: IntParam => Int,
        /// Call & Response: the pause, in beats, that ends the player's call.
        #[id = "gap"]
        listen_gap: FloatParam => Float,
        /// Call & Response: the answer starts on the next beat or the next bar.
        #[id = "ansst"]
        answer_start: IntParam => Int,
        /// Bars "Capture" takes from what the player just played.
        #[id = "captb"]
        capture_bars: IntParam => Int,
        /// Switch on to capture the last bars the player played as the prompt clip.
        #[id = "capt"]
        capture: BoolParam => Button(Action::Capture),
        /// Longest note Cadenza lets sound, in beats (the safety net against stuck notes).
        #[id = "maxlen"]
        max_note: FloatParam => Float,
    }
}

group! {
    /// The editor's "Chords" section.
    pub struct ChordParams("Chords") {
        /// Free: how far Cadenza keeps to a chord known ahead (the chord track, a learned progression)
        /// on strong beats and changes, from the model's own choice (0) to chord tones only there (1).
        #[id = "fchord"]
        follow_chords: FloatParam => Float,
        /// Remember the chords heard (a host loop's last pass, a progression played again) and expect
        /// them ahead; off: only the chord track is known ahead.
        #[id = "rchord"]
        remember_chords: BoolParam => Switch,
    }
}

group! {
    /// The editor's "Output" section.
    pub struct OutputParams("Output") {
        /// MIDI channel (1..16) of Cadenza's notes.
        #[id = "chan"]
        channel: IntParam => Int,
        /// Pass the player's own notes through to the output.
        #[id = "thru"]
        pass_through: BoolParam => Switch,
        /// The built-in voice: Cadenza's notes on its own stereo output (off: silence there, MIDI only).
        #[id = "voice"]
        voice: BoolParam => Switch,
        /// The voice's level, in dB. Smoothed.
        #[id = "vlevel"]
        voice_level: FloatParam => Float,
        /// The voice also plays the player's notes.
        #[id = "vplay"]
        voice_player: BoolParam => Switch,
        /// Host bypass: Cadenza stops generating, ends its notes and passes MIDI through.
        #[id = "bypass"]
        bypass: BoolParam => Switch,
        /// Switch on to end every note Cadenza plays and send All Notes Off on its channel.
        #[id = "panic"]
        panic: BoolParam => Button(Action::Panic),
    }
}

/// How the editor shows one parameter of a group.
pub enum Knob<'a> {
    /// A slider over an integer parameter (named values as a list).
    Int(&'a IntParam),
    /// A slider over a continuous parameter.
    Float(&'a FloatParam),
    /// A checkbox.
    Switch(&'a BoolParam),
    /// The Role: a list of the roles the loaded model plays.
    Role(&'a IntParam),
    /// A switch the editor shows as a button that asks the engine at once (see [`Action`]).
    Button(&'a BoolParam, Action),
}

/// What a parameter's button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Capture the last bars as the prompt clip.
    Capture,
    /// End every note Cadenza plays.
    Panic,
}

/// A group of parameters as the editor walks it: its name and its knobs, in the editor's order.
pub struct Group<'a> {
    /// The group's name (the editor's section, the host's group).
    pub name: &'static str,
    /// Its knobs.
    pub knobs: Vec<Knob<'a>>,
}

impl PlayParams {
    /// The group with its defaults.
    fn new(d: &Settings, style_names: &StyleNames) -> Self {
        let smooth = || SmoothingStyle::Linear(SMOOTHING_MS);
        Self {
            mode: named("Mode", d.mode.index(), Mode::NAMES),
            role: named("Role", d.role.index(), Role::NAMES),
            style: style(style_names),
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
            lookahead: beats("Lookahead", d.lookahead_beats as f32, 0.25, 8.0),
            seed: IntParam::new(
                "Seed",
                d.seed as i32,
                IntRange::Linear { min: 0, max: 9999 },
            ),
            reset_on_jump: BoolParam::new("Reset on Jump", d.reset_on_jump),
        }
    }
}

impl PitchParams {
    /// The group with its defaults.
    fn new(d: &Settings) -> Self {
        Self {
            scale: named("Scale", d.scale.index(), Scale::NAMES),
            key: named("Key", d.key, KEY_NAMES),
            low: note("Lowest Note", i32::from(d.low)),
            high: note("Highest Note", i32::from(d.high)),
            polyphony: IntParam::new(
                "Max Polyphony",
                d.max_polyphony as i32,
                IntRange::Linear { min: 1, max: 16 },
            ),
            dynamics: named("Dynamics", d.dynamics.index(), Dynamics::NAMES),
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
        }
    }
}

impl AnswerParams {
    /// The group with its defaults.
    fn new(d: &Settings) -> Self {
        Self {
            answer_bars: IntParam::new(
                "Answer Length",
                d.answer_bars as i32,
                IntRange::Linear { min: 1, max: 16 },
            )
            .with_unit(" bars"),
            listen_gap: beats("Listen Gap", d.listen_gap_beats as f32, 0.25, 8.0),
            answer_start: named("Answer Starts", d.answer_start.index(), AnswerStart::NAMES),
            capture_bars: IntParam::new(
                "Capture Length",
                d.capture_bars as i32,
                IntRange::Linear { min: 1, max: 16 },
            )
            .with_unit(" bars"),
            capture: BoolParam::new("Capture Prompt", false),
            max_note: beats("Max Note Length", 8.0, 0.25, 32.0),
        }
    }
}

impl ChordParams {
    /// The group with its defaults.
    fn new(d: &Settings) -> Self {
        Self {
            follow_chords: FloatParam::new(
                "Follow Chords",
                d.follow_chords,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_step_size(0.01),
            remember_chords: BoolParam::new("Remember Chords", d.remember_chords),
        }
    }
}

impl OutputParams {
    /// The group with its defaults.
    fn new() -> Self {
        Self {
            channel: IntParam::new("Output Channel", 1, IntRange::Linear { min: 1, max: 16 }),
            pass_through: BoolParam::new("Pass Through", true),
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
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            panic: BoolParam::new("Panic", false),
        }
    }
}

// SAFETY: every pointer in the map comes from a group's own (derived) map, and so points at a field
// of `self`, valid as long as `self` is: what the trait asks.
unsafe impl Params for CadenzaParams {
    /// The groups' parameters under their group names, in [`HOST_ORDER`].
    fn param_map(&self) -> Vec<(String, ParamPtr, String)> {
        let groups = [
            (PlayParams::GROUP, self.play.param_map()),
            (PitchParams::GROUP, self.pitch.param_map()),
            (AnswerParams::GROUP, self.answer.param_map()),
            (ChordParams::GROUP, self.chords_follow.param_map()),
            (OutputParams::GROUP, self.output.param_map()),
        ];
        let mut map: Vec<(String, ParamPtr, String)> = groups
            .into_iter()
            .flat_map(|(group, params)| {
                params
                    .into_iter()
                    .map(move |(id, ptr, _)| (id, ptr, group.to_string()))
            })
            .collect();
        map.sort_by_key(|(id, _, _)| {
            HOST_ORDER
                .iter()
                .position(|o| o == id)
                .unwrap_or(HOST_ORDER.len())
        });
        map
    }

    fn serialize_fields(&self) -> BTreeMap<String, String> {
        self.saved.serialize_fields()
    }

    fn deserialize_fields(&self, serialized: &BTreeMap<String, String>) {
        self.saved.deserialize_fields(serialized)
    }
}

/// Style names of the embedded default model (a few kB of JSON: cheap enough for plugin scan).
pub fn default_style_names() -> Vec<String> {
    ModelSpec::parse(DEFAULT_MODEL_JSON)
        .map(|s| s.styles)
        .unwrap_or_default()
}

/// An integer parameter whose values are named (an enum the host shows as a list).
fn named(name: &str, default: u32, names: &'static [&'static str]) -> IntParam {
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
        Self {
            play: PlayParams::new(&d, &style_names),
            pitch: PitchParams::new(&d),
            answer: AnswerParams::new(&d),
            chords_follow: ChordParams::new(&d),
            output: OutputParams::new(),
            saved: Saved {
                prompt: Arc::new(RwLock::new(Prompt::default())),
                chords: Arc::new(RwLock::new(String::new())),
                model: Arc::new(RwLock::new(String::new())),
                runs_on: ProviderChoice::Auto.shared(),
            },
            editor_state: crate::editor::default_state(),
            style_names,
        }
    }

    /// The groups as the editor shows them, in its order.
    pub fn groups(&self) -> [Group<'_>; 5] {
        [
            Group {
                name: PlayParams::GROUP,
                knobs: self.play.knobs(),
            },
            Group {
                name: PitchParams::GROUP,
                knobs: self.pitch.knobs(),
            },
            Group {
                name: AnswerParams::GROUP,
                knobs: self.answer.knobs(),
            },
            Group {
                name: ChordParams::GROUP,
                knobs: self.chords_follow.knobs(),
            },
            Group {
                name: OutputParams::GROUP,
                knobs: self.output.knobs(),
            },
        ]
    }

    /// The engine's settings from the parameters (audio thread: reads atomics only), where they enter:
    /// each parameter's range is the check of its value. The continuous knobs advance their smoothers
    /// by `frames` samples.
    pub fn settings(&self, frames: u32) -> Settings {
        let frames = frames.max(1);
        let (play, pitch, answer) = (&self.play, &self.pitch, &self.answer);
        let low = pitch.low.value().clamp(0, 127) as u8;
        Settings {
            mode: Mode::from_index(play.mode.value() as u32),
            role: Role::from_index(play.role.value() as u32),
            style: play.style.value().max(0) as u32,
            temperature: play.temperature.smoothed.next_step(frames),
            top_p: play.top_p.smoothed.next_step(frames),
            lookahead_beats: f64::from(play.lookahead.value()),
            scale: Scale::from_index(pitch.scale.value() as u32),
            key: pitch.key.value() as u32,
            low,
            // A range set upside down plays its lowest note only.
            high: (pitch.high.value().clamp(0, 127) as u8).max(low),
            density: play.density.smoothed.next_step(frames),
            dynamics: Dynamics::from_index(pitch.dynamics.value() as u32),
            velocity: pitch.velocity.value(),
            accent: pitch.accent.value(),
            max_polyphony: pitch.polyphony.value().max(1) as u32,
            answer_bars: answer.answer_bars.value().max(1) as u32,
            listen_gap_beats: f64::from(answer.listen_gap.value()),
            answer_start: AnswerStart::from_index(answer.answer_start.value() as u32),
            seed: play.seed.value().max(0) as u32,
            reset_on_jump: play.reset_on_jump.value(),
            capture_bars: answer.capture_bars.value().max(1) as u32,
            follow_chords: self.chords_follow.follow_chords.value().clamp(0.0, 1.0),
            remember_chords: self.chords_follow.remember_chords.value(),
        }
    }
}

/// The Style parameter: a slot of the loaded model, shown by the name `style_names` gives it.
fn style(style_names: &StyleNames) -> IntParam {
    let names_fmt = style_names.clone();
    let names_parse = style_names.clone();
    IntParam::new(
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
    }))
}

/// A length in beats, in steps of a quarter beat.
fn beats(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min, max })
        .with_unit(" beats")
        .with_step_size(0.25)
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

    #[test]
    fn the_host_sees_the_parameters_in_their_old_order_under_the_editors_groups() {
        let params = CadenzaParams::default();
        let map = params.param_map();
        let ids: Vec<&str> = map.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(
            ids, HOST_ORDER,
            "a new order would move saved automation to other knobs"
        );
        let group = |id: &str| map.iter().find(|(i, _, _)| i == id).unwrap().2.clone();
        assert_eq!(group("mode"), "Play");
        assert_eq!(group("dens"), "Play");
        assert_eq!(group("scale"), "Pitch and feel");
        assert_eq!(group("maxlen"), "Call, answer, clip");
        assert_eq!(group("fchord"), "Chords");
        assert_eq!(group("panic"), "Output");
    }

    #[test]
    fn the_editor_walks_every_parameter_once() {
        let params = CadenzaParams::default();
        let mut walked: Vec<String> = Vec::new();
        for group in params.groups() {
            for knob in &group.knobs {
                let name = match *knob {
                    Knob::Int(p) | Knob::Role(p) => p.name(),
                    Knob::Float(p) => p.name(),
                    Knob::Switch(p) | Knob::Button(p, _) => p.name(),
                };
                walked.push(format!("{}/{name}", group.name));
            }
        }
        let mut hosted: Vec<String> = params
            .param_map()
            .iter()
            // SAFETY: the pointers come from `params`, alive to the end of the test.
            .map(|(_, ptr, group)| format!("{group}/{}", unsafe { ptr.name() }))
            .collect();
        walked.sort();
        hosted.sort();
        assert_eq!(walked, hosted);
    }

    #[test]
    fn a_named_parameters_index_is_its_value_and_out_of_range_is_the_first() {
        for (i, m) in Mode::ALL.iter().enumerate() {
            assert_eq!(Mode::from_index(i as u32), *m);
            assert_eq!(m.index(), i as u32);
        }
        assert_eq!(Mode::NAMES.len(), Mode::ALL.len());
        assert_eq!(Scale::NAMES.len(), Scale::ALL.len());
        assert_eq!(Scale::from_index(99), Scale::Off);
        assert_eq!(Dynamics::from_index(7), Dynamics::FollowPlayer);
        assert_eq!(AnswerStart::from_index(1), AnswerStart::NextBar);
        assert_eq!(Role::from_index(2), Role::Bass);
        let params = CadenzaParams::default();
        assert_eq!(params.play.mode.name(), "Mode");
        assert_eq!(
            params.play.mode.normalized_value_to_string(1.0, false),
            "Continue Clip"
        );
    }
}
