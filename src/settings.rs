//! The musical settings Cadenza plays by, free of any plugin framework: what each host parameter
//! means. A [`Settings`] value is checked where it enters (the host's parameter ranges in
//! `params.rs`, the command line's checks) and travels whole: the audio side publishes one snapshot a
//! block through the bridge (`bridge::AudioSide::publish`), and the engine reads it whole.
//!
//! A new knob is three places: its parameter (`params.rs`), its field here, and its use.

/// An enum whose values a parameter shows by name: the variants in the parameter's index order,
/// each with the name shown. It gets `NAMES` (shown), `ALL` (the values), `from_index` (the
/// parameter's value; out of range: the first variant) and `index`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $shown:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The names a parameter shows, in index order.
            pub const NAMES: &'static [&'static str] = &[$($shown),+];
            /// Every value, in index order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value at a parameter's index (out of range: the first).
            pub fn from_index(i: u32) -> Self {
                Self::ALL.get(i as usize).copied().unwrap_or(Self::ALL[0])
            }

            /// Its index as a parameter's value.
            pub fn index(self) -> u32 {
                self as u32
            }
        }
    };
}

named_enum! {
    /// How Cadenza plays with the player.
    pub enum Mode {
        /// Plays alongside the player all the time; both parts are in the model's context, and what the
        /// player plays withdraws the notes planned after it.
        Duet => "Duet",
        /// Listens while the player plays; after a pause of `listen_gap` beats answers for `answer_bars`
        /// bars, from the next beat or bar; a new phrase from the player cuts the answer short.
        CallResponse => "Call & Response",
        /// Plays on its own in the chosen style, whatever the player does (their notes still pass through).
        Improvise => "Improvise",
        /// Like duet, but the model starts from the prompt clip (a MIDI file or captured bars).
        Continue => "Continue Clip",
    }
}

named_enum! {
    /// Pitch classes Cadenza may start notes on.
    pub enum Scale {
        /// Any pitch class.
        Off => "Off",
        /// The major (Ionian) scale.
        Major => "Major",
        /// The natural minor (Aeolian) scale.
        Minor => "Minor",
        /// Natural minor with the raised seventh.
        HarmonicMinor => "Harmonic Minor",
        /// Minor with the raised sixth.
        Dorian => "Dorian",
        /// Major with the flat seventh.
        Mixolydian => "Mixolydian",
        /// Major without its fourth and seventh.
        MajorPentatonic => "Major Pentatonic",
        /// Minor without its second and sixth.
        MinorPentatonic => "Minor Pentatonic",
        /// Minor pentatonic with the flat fifth.
        Blues => "Blues",
        /// The pitch classes the player used recently (no restriction before they play).
        FollowPlayer => "Follow Player",
    }
}

impl Scale {
    /// Semitones above the key of a fixed scale; `None` for Off and FollowPlayer.
    pub fn intervals(self) -> Option<&'static [u8]> {
        Some(match self {
            Scale::Major => &[0, 2, 4, 5, 7, 9, 11],
            Scale::Minor => &[0, 2, 3, 5, 7, 8, 10],
            Scale::HarmonicMinor => &[0, 2, 3, 5, 7, 8, 11],
            Scale::Dorian => &[0, 2, 3, 5, 7, 9, 10],
            Scale::Mixolydian => &[0, 2, 4, 5, 7, 9, 10],
            Scale::MajorPentatonic => &[0, 2, 4, 7, 9],
            Scale::MinorPentatonic => &[0, 3, 5, 7, 10],
            Scale::Blues => &[0, 3, 5, 6, 7, 10],
            Scale::Off | Scale::FollowPlayer => return None,
        })
    }

    /// The allowed pitch classes (bit `pc` set) of a fixed scale in `key` (0 = C); all twelve when
    /// there is no fixed scale.
    pub fn pitch_classes(self, key: u32) -> u16 {
        match self.intervals() {
            None => 0xFFF,
            Some(iv) => iv
                .iter()
                .fold(0u16, |m, &i| m | 1 << ((key + u32::from(i)) % 12)),
        }
    }
}

/// The keys' names, C to B (the Key parameter's values).
pub const KEY_NAMES: &[&str] = &[
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

named_enum! {
    /// Where generated velocities come from.
    pub enum Dynamics {
        /// The average velocity of the player's recent notes (the fixed velocity before they play).
        FollowPlayer => "Follow Player",
        /// Always the fixed velocity.
        Fixed => "Fixed",
    }
}

named_enum! {
    /// The part Cadenza plays against the player's (format 4: a role slot on the style token; a model
    /// lists in model.json the roles it was trained for, in slot order).
    pub enum Role {
        /// Whatever the style suggests (every model plays it).
        Free => "Free",
        /// The top voice, over the player's part.
        Melody => "Melody",
        /// The lowest voice, under the player's part.
        Bass => "Bass",
        /// The inner voices or comping, between or under the player's melody.
        Harmony => "Harmony",
    }
}

impl Role {
    /// The names model.json lists roles by.
    const KEYS: [&'static str; 4] = ["free", "melody", "bass", "harmony"];

    /// Its name in model.json.
    pub fn key(self) -> &'static str {
        Self::KEYS[self as usize]
    }

    /// A role by its name in model.json or as shown (any case).
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        (0..Self::ALL.len())
            .find(|&i| Self::KEYS[i].eq_ignore_ascii_case(name))
            .map(|i| Self::ALL[i])
    }

    /// The role slot a model that lists `roles` (model.json, slot order) plays this role in: `None`
    /// when it was not trained for it.
    pub fn slot_in(self, roles: &[String]) -> Option<u8> {
        (roles.iter())
            .position(|r| r == self.key())
            .and_then(|i| u8::try_from(i).ok())
    }
}

named_enum! {
    /// Where a call-and-response answer starts.
    pub enum AnswerStart {
        /// The next beat after the listening gap.
        NextBeat => "Next Beat",
        /// The next bar line after the listening gap.
        NextBar => "Next Bar",
    }
}

/// One snapshot of everything the engine plays by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How Cadenza plays with the player.
    pub mode: Mode,
    /// The part Cadenza plays (a role the model does not list plays as Free).
    pub role: Role,
    /// Style slot; out-of-range slots fall back to the model's first style.
    pub style: u32,
    /// Sampling temperature (> 0).
    pub temperature: f32,
    /// Nucleus sampling mass, 0..=1.
    pub top_p: f32,
    /// How far ahead of the playhead the engine plans, in beats.
    pub lookahead_beats: f64,
    /// The scale lock.
    pub scale: Scale,
    /// 0 = C … 11 = B.
    pub key: u32,
    /// Lowest and highest MIDI note Cadenza may start.
    pub low: u8,
    /// Highest MIDI note Cadenza may start (at least `low`).
    pub high: u8,
    /// -1..=1: added (×[`DENSITY_NATS`]) to the note-on logits: more or fewer notes per beat.
    pub density: f32,
    /// Where velocities come from.
    pub dynamics: Dynamics,
    /// Fixed velocity, 0..=1 (also the starting point of "follow").
    pub velocity: f32,
    /// 0..=1: how much louder the bar's downbeat (and, less, each beat) is than the offbeats.
    pub accent: f32,
    /// At most this many of Cadenza's notes sound at once.
    pub max_polyphony: u32,
    /// Call and response: answer length in bars, and the pause (beats) that ends a call.
    pub answer_bars: u32,
    /// Call and response: the pause, in beats, that ends a call.
    pub listen_gap_beats: f64,
    /// Call and response: where the answer starts.
    pub answer_start: AnswerStart,
    /// Variation seed: the same seed and the same input give the same output.
    pub seed: u32,
    /// On a transport jump or loop, forget the context (true) or keep it (false).
    pub reset_on_jump: bool,
    /// Bars a capture of the player's playing takes as the prompt.
    pub capture_bars: u32,
    /// 0..=1: how far Free keeps to a chord known ahead (the chord track, a learned progression) on
    /// strong beats and changes: 0 the model's own choice, up to 1, chord tones only there.
    pub follow_chords: f32,
    /// Remember the chords heard (a host loop's last pass, a progression the player repeats) and
    /// expect them ahead; off: only the chord track is known ahead.
    pub remember_chords: bool,
}

/// Logit bias (nats) of density ±1 on note-on tokens.
pub const DENSITY_NATS: f32 = 2.0;

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Duet,
            role: Role::Free,
            style: 0,
            temperature: 1.0,
            top_p: 0.95,
            lookahead_beats: 2.0,
            scale: Scale::Off,
            key: 0,
            low: 21,
            high: 108,
            density: 0.0,
            dynamics: Dynamics::FollowPlayer,
            velocity: 0.75,
            accent: 0.3,
            max_polyphony: 6,
            answer_bars: 2,
            listen_gap_beats: 1.5,
            answer_start: AnswerStart::NextBeat,
            seed: 0,
            reset_on_jump: false,
            capture_bars: 4,
            // The knee measured in MUSICIANSHIP.md's "Knowing the song" (the Follow Chords sweep): the
            // lowest setting at which Free, told the chords, plays >= 70% chord tones overall.
            follow_chords: 0.85,
            remember_chords: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_found_by_name_and_in_the_slot_the_model_lists_it() {
        assert_eq!(Role::parse(" Bass "), Some(Role::Bass));
        assert_eq!(Role::parse("soprano"), None);
        let roles: Vec<String> = ["free", "bass", "melody"].map(String::from).to_vec();
        assert_eq!(Role::Melody.slot_in(&roles), Some(2));
        assert_eq!(Role::Harmony.slot_in(&roles), None);
        assert_eq!(Role::Free.slot_in(&["free".to_string()]), Some(0));
        for (i, name) in Role::NAMES.iter().enumerate() {
            assert_eq!(Role::parse(name).map(|r| r as usize), Some(i));
            assert_eq!(Role::from_index(i as u32) as usize, i);
        }
    }

    #[test]
    fn scales_give_their_pitch_classes_in_any_key() {
        // A minor = C major's pitch classes.
        assert_eq!(Scale::Minor.pitch_classes(9), Scale::Major.pitch_classes(0));
        assert_eq!(Scale::Major.pitch_classes(0), 0b1010_1011_0101);
        assert_eq!(Scale::Off.pitch_classes(3), 0xFFF);
        assert_eq!(Scale::NAMES.len(), 10);
        for (i, _) in Scale::NAMES.iter().enumerate() {
            assert_eq!(Scale::from_index(i as u32) as usize, i);
        }
    }
}
