//! The editor's file actions, kept free of GUI types so they test without a window: check a model
//! folder before asking the engine to load it, read a prompt clip, export the last bars as MIDI.

use std::path::{Path, PathBuf};

use crate::midi_file::{self, BeatNote};
use crate::model::{ModelSource, ModelSpec};
use crate::monitor::{spans, Mark, Who};
use crate::prompt::Prompt;

/// Why a file action did nothing; the message names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The field was empty.
    #[error("no path given")]
    NoPath,
    /// The file is not there.
    #[error("{}: no such file", .0.display())]
    Missing(PathBuf),
    /// The file could not be read, or is not what it should be (`why`: the reader's message).
    #[error("{}: {why}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// There is nothing to export.
    #[error("nothing {what} in the last {bars} bars")]
    Nothing {
        /// Which notes were asked for ("played", "generated", "played or generated").
        what: &'static str,
        /// Over how many bars.
        bars: u32,
    },
}

impl FileError {
    fn bad(path: &Path, why: impl std::fmt::Display) -> Self {
        FileError::Bad {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }
}

/// Check that `path` (a folder with model.onnx + model.json, or the model.onnx) holds a model whose
/// contract Cadenza reads, and return the model.onnx path. The graph itself is checked by the
/// engine when it loads it (errors then show in the status strip).
pub fn check_model(path: &str) -> Result<PathBuf, FileError> {
    let path = path.trim();
    if path.is_empty() {
        return Err(FileError::NoPath);
    }
    let ModelSource::File(onnx) = ModelSource::from_path(path) else {
        unreachable!("a path is always a file source")
    };
    if !onnx.is_file() {
        return Err(FileError::Missing(onnx));
    }
    let json = onnx.with_file_name("model.json");
    let text = std::fs::read_to_string(&json).map_err(|e| FileError::bad(&json, e))?;
    ModelSpec::parse(&text).map_err(|e| FileError::bad(&json, e))?;
    Ok(onnx)
}

/// Read a prompt clip from a MIDI file, naming the file in any error.
pub fn load_prompt(path: &Path) -> Result<Prompt, FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::bad(path, e))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "clip".into());
    Prompt::from_midi(&name, &bytes).map_err(|e| FileError::bad(path, e))
}

/// Which notes an export takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportWhat {
    Played,
    Generated,
    Both,
}

impl ExportWhat {
    pub const ALL: [ExportWhat; 3] = [ExportWhat::Played, ExportWhat::Generated, ExportWhat::Both];

    pub fn label(self) -> &'static str {
        match self {
            ExportWhat::Played => "played",
            ExportWhat::Generated => "generated",
            ExportWhat::Both => "both",
        }
    }
}

/// The notes heard in the last `bars` bars before `playhead`, per source. The stretch starts on the
/// bar line at or before `playhead - bars` bars (beat 0 of the file); notes still sounding end at
/// the playhead.
pub fn last_bars(
    heard: &[Mark],
    bars: u32,
    beats_per_bar: f64,
    bar_origin: f64,
    playhead: f64,
) -> (Vec<BeatNote>, Vec<BeatNote>) {
    let bpb = beats_per_bar.max(1e-6);
    let back = playhead - f64::from(bars.max(1)) * bpb;
    let from = bar_origin + ((back - bar_origin) / bpb + 1e-9).floor() * bpb;
    let (mut played, mut generated) = (Vec::new(), Vec::new());
    for s in spans(heard) {
        let end = s.end.unwrap_or(playhead).min(playhead);
        if end <= from || s.start >= playhead {
            continue;
        }
        let start = s.start.max(from);
        let note = BeatNote {
            beat: start - from,
            length: (end - start).max(1.0 / 96.0),
            pitch: s.pitch,
            velocity: s.velocity.clamp(1, 127),
        };
        match s.who {
            Who::Player => played.push(note),
            Who::Cadenza => generated.push(note),
            Who::Planned => {}
        }
    }
    (played, generated)
}

/// A MIDI file of the last bars: one track per source taken.
pub fn export_midi(
    heard: &[Mark],
    what: ExportWhat,
    bars: u32,
    tempo: f64,
    beats_per_bar: f64,
    bar_origin: f64,
    playhead: f64,
) -> Result<Vec<u8>, FileError> {
    let (played, generated) = last_bars(heard, bars, beats_per_bar, bar_origin, playhead);
    let mut tracks: Vec<(&str, &[BeatNote], u8)> = Vec::new();
    if what != ExportWhat::Generated {
        tracks.push(("Player", &played, 0));
    }
    if what != ExportWhat::Played {
        tracks.push(("Cadenza", &generated, 1));
    }
    if tracks.iter().all(|t| t.1.is_empty()) {
        return Err(FileError::Nothing {
            what: match what {
                ExportWhat::Played => "played",
                ExportWhat::Generated => "generated",
                ExportWhat::Both => "played or generated",
            },
            bars,
        });
    }
    Ok(midi_file::write_notes(tempo, &tracks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(beat: f64, pitch: u8, on: bool, who: Who) -> Mark {
        Mark::note(beat, pitch, on, who)
    }

    #[test]
    fn the_last_bars_start_at_a_bar_line_and_open_notes_end_at_the_playhead() {
        let heard = [
            mark(1.0, 60, true, Who::Player), // bar 1: before the stretch
            mark(2.0, 60, false, Who::Player),
            mark(4.5, 62, true, Who::Player),
            mark(5.0, 62, false, Who::Player),
            mark(7.5, 70, true, Who::Cadenza), // crosses into the window's second bar
            mark(8.5, 70, false, Who::Cadenza),
            mark(9.0, 72, true, Who::Cadenza), // still sounding at the playhead
        ];
        let (played, generated) = last_bars(&heard, 1, 4.0, 0.0, 10.0);
        // One bar back from beat 10 is beat 6, in the bar from beat 4: the stretch is 4..10.
        assert_eq!(played.len(), 1);
        assert_eq!(
            (played[0].beat, played[0].length, played[0].pitch),
            (0.5, 0.5, 62)
        );
        assert_eq!(generated.len(), 2);
        assert_eq!((generated[0].beat, generated[0].length), (3.5, 1.0));
        assert_eq!((generated[1].beat, generated[1].length), (5.0, 1.0));
    }

    #[test]
    fn an_export_reads_back_with_the_chosen_notes_and_an_empty_one_is_refused() {
        let heard = [
            mark(0.0, 60, true, Who::Player),
            mark(1.0, 60, false, Who::Player),
            mark(1.0, 67, true, Who::Cadenza),
            mark(2.0, 67, false, Who::Cadenza),
        ];
        let both = export_midi(&heard, ExportWhat::Both, 1, 100.0, 4.0, 0.0, 4.0).unwrap();
        let notes = midi_file::read_notes(&both).unwrap();
        assert_eq!(
            notes.iter().map(|n| n.pitch).collect::<Vec<_>>(),
            vec![60, 67]
        );
        let gen = export_midi(&heard, ExportWhat::Generated, 1, 100.0, 4.0, 0.0, 4.0).unwrap();
        let notes = midi_file::read_notes(&gen).unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(
            (notes[0].pitch, notes[0].beat, notes[0].length),
            (67, 1.0, 1.0)
        );
        let err = export_midi(&heard[..2], ExportWhat::Generated, 1, 100.0, 4.0, 0.0, 4.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing generated"), "{err}");
    }

    #[test]
    fn a_model_path_is_checked_and_what_is_wrong_is_named() {
        let d = std::env::temp_dir().join(format!("cadenza-editor-model-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let path = d.display().to_string();
        assert!(check_model("").unwrap_err().to_string().contains("no path"));
        assert!(check_model(&path)
            .unwrap_err()
            .to_string()
            .contains("no such file"));
        std::fs::write(d.join("model.onnx"), b"x").unwrap();
        assert!(check_model(&path)
            .unwrap_err()
            .to_string()
            .contains("model.json"));
        std::fs::write(d.join("model.json"), "{ not json").unwrap();
        assert!(check_model(&path)
            .unwrap_err()
            .to_string()
            .contains("model.json"));
        std::fs::write(d.join("model.json"), crate::model::DEFAULT_MODEL_JSON).unwrap();
        assert_eq!(check_model(&path).unwrap(), d.join("model.onnx"));

        let err = load_prompt(&d.join("model.onnx")).unwrap_err().to_string();
        assert!(err.contains("model.onnx"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
