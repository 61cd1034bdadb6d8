//! The prompt clip: notes that prime the model in "Continue Clip" mode. It comes from a MIDI file
//! or from the player's captured bars, and is saved with the project (a persisted field), so a
//! reopened session continues the same clip.
//!
//! Written on the main thread (loading a file, restoring state) or the engine thread (capture); read
//! by the engine thread. The audio thread never touches it.

use std::sync::{Arc, RwLock};

use crate::midi_file::{self, BeatNote, MidiFileError};

/// Notes beyond this are dropped from a prompt (the model sees a few hundred tokens at most anyway).
pub const MAX_PROMPT_NOTES: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
/// A prompt clip: notes in beats, and where they came from.
pub struct Prompt {
    /// Where it came from, for the editor ("bach.mid", "captured 4 bars").
    pub name: String,
    /// Beats from the clip's start.
    pub notes: Vec<BeatNote>,
}

/// The shared prompt (see the module documentation for who touches it).
pub type PromptSlot = Arc<RwLock<Prompt>>;

impl Prompt {
    /// A prompt from a MIDI file's bytes (format 0 or 1, any channel but drums; tempo maps are read
    /// into beats). Keeps the last [`MAX_PROMPT_NOTES`] notes.
    pub fn from_midi(name: &str, bytes: &[u8]) -> Result<Self, MidiFileError> {
        let mut notes = midi_file::read_notes(bytes)?;
        if notes.len() > MAX_PROMPT_NOTES {
            notes.drain(..notes.len() - MAX_PROMPT_NOTES);
        }
        Ok(Self {
            name: name.to_string(),
            notes,
        })
    }

    /// The clip's length: the end of its last note, in beats.
    pub fn length_beats(&self) -> f64 {
        self.notes
            .iter()
            .map(|n| n.beat + n.length)
            .fold(0.0, f64::max)
    }

    /// Whether it has no notes.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }
}

/// Read the slot even if a writer panicked while holding it (the data is plain notes).
pub fn read(slot: &PromptSlot) -> Prompt {
    slot.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Replace the slot's prompt.
pub fn write(slot: &PromptSlot, prompt: Prompt) {
    *slot.write().unwrap_or_else(|p| p.into_inner()) = prompt;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_midi_file_becomes_a_prompt_and_a_broken_one_is_refused() {
        let notes = [
            BeatNote {
                beat: 0.0,
                length: 1.0,
                pitch: 60,
                velocity: 90,
            },
            BeatNote {
                beat: 1.0,
                length: 2.0,
                pitch: 64,
                velocity: 90,
            },
        ];
        let bytes = midi_file::write_notes(100.0, &[("melody", &notes, 0)]);
        let p = Prompt::from_midi("two.mid", &bytes).unwrap();
        assert_eq!(p.notes.len(), 2);
        assert!((p.length_beats() - 3.0).abs() < 1e-6);
        assert!(Prompt::from_midi("x", b"not midi").is_err());
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Prompt>(&json).unwrap(), p);
    }

    #[test]
    fn a_huge_file_keeps_its_last_notes_and_an_empty_one_is_refused() {
        let notes: Vec<BeatNote> = (0..10_000)
            .map(|i| BeatNote {
                beat: f64::from(i) * 0.25,
                length: 0.25,
                pitch: 40 + (i % 40) as u8,
                velocity: 80,
            })
            .collect();
        let p = Prompt::from_midi(
            "huge.mid",
            &midi_file::write_notes(120.0, &[("m", &notes, 0)]),
        )
        .unwrap();
        assert_eq!(p.notes.len(), MAX_PROMPT_NOTES);
        assert!(
            (p.notes.last().unwrap().beat - 9_999.0 * 0.25).abs() < 1e-6,
            "the end of the clip is kept"
        );
        let empty = Prompt::from_midi(
            "empty.mid",
            &midi_file::write_notes(120.0, &[("m", &[], 0)]),
        );
        assert_eq!(empty, Err(MidiFileError::NoNotes));
    }
}
