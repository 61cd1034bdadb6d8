//! MIDI files: reading prompts and writing renders (midly). Time is in beats throughout.
//!
//! Reading takes format 0 and 1 (format 2 too: its tracks are read as if simultaneous), metrical
//! timing, any channel except the drums (channel 10), running status (midly resolves it). Tempo maps
//! do not matter for beats. A file that is not usable gets a [`MidiFileError`] naming the problem.

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

/// MIDI channel 10 (0-based 9) carries drums in General MIDI; Cadenza ignores it.
pub const DRUM_CHANNEL: u8 = 9;
/// Ticks per beat of the files Cadenza writes.
pub const WRITE_TICKS_PER_BEAT: u16 = 480;

/// A sounding note's MIDI velocity (1..=127; 0 would be a note-off) from Cadenza's 0..1, rounded to
/// the nearest step. The one conversion: the engine, the audio side, files and tools all use it.
pub fn midi_velocity(v: f64) -> u8 {
    let step = (v * 127.0).round();
    if step >= 127.0 {
        127
    } else if step >= 1.0 {
        step as u8
    } else {
        1 // below the range, and NaN
    }
}

/// A note in beats.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BeatNote {
    /// Where it starts, in beats.
    pub beat: f64,
    /// How long it sounds, in beats.
    pub length: f64,
    /// The MIDI key.
    pub pitch: u8,
    /// 1..=127
    pub velocity: u8,
}

/// A key pressed or let go, as a player's hands make it: (beat, pressed, pitch, velocity 0..=1; 0
/// for a release).
pub type KeyEvent = (f64, bool, u8, f32);

/// Notes as key presses and releases in time order (on one beat, releases first).
pub fn key_events(notes: &[BeatNote]) -> Vec<KeyEvent> {
    let mut keys: Vec<KeyEvent> = (notes.iter())
        .flat_map(|n| {
            let v = f32::from(n.velocity) / 127.0;
            [
                (n.beat, true, n.pitch, v),
                (n.beat + n.length, false, n.pitch, 0.0),
            ]
        })
        .collect();
    keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    keys
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
/// Why a MIDI file could not be read.
pub enum MidiFileError {
    #[error("not a readable MIDI file: {0}")]
    /// midly could not parse it.
    Parse(String),
    #[error("the file uses SMPTE timecode timing; only beat-based (metrical) files are supported")]
    /// Its timing is SMPTE timecode, not beats.
    Timecode,
    #[error("the file has no notes (drums on channel 10 are ignored)")]
    /// It has no pitched notes.
    NoNotes,
    #[error("the file is truncated: {0}")]
    /// It ends in the middle of a track.
    Truncated(String),
}

/// Walk the chunk headers: every chunk must fit in the file. midly itself is lenient with a cut-off
/// last track (good for slightly off-spec files, but a truncated file deserves to be named).
fn check_chunks(bytes: &[u8]) -> Result<(), MidiFileError> {
    let mut pos = 0usize;
    let mut n = 0;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let end = pos + 8 + len;
        if end > bytes.len() {
            let id = String::from_utf8_lossy(&bytes[pos..pos + 4]).into_owned();
            return Err(MidiFileError::Truncated(format!(
                "chunk {n} ({id}) declares {len} bytes but only {} remain",
                bytes.len() - pos - 8
            )));
        }
        pos = end;
        n += 1;
    }
    Ok(())
}

/// Notes of a MIDI file in beats, sorted by start.
pub fn read_notes(bytes: &[u8]) -> Result<Vec<BeatNote>, MidiFileError> {
    let smf = Smf::parse(bytes).map_err(|e| MidiFileError::Parse(e.to_string()))?;
    check_chunks(bytes)?;
    let tpb = match smf.header.timing {
        Timing::Metrical(t) if t.as_int() > 0 => f64::from(t.as_int()),
        Timing::Metrical(_) => return Err(MidiFileError::Parse("zero ticks per beat".into())),
        Timing::Timecode(..) => return Err(MidiFileError::Timecode),
    };
    let mut notes = Vec::new();
    for track in &smf.tracks {
        let mut tick: u64 = 0;
        // (channel, key) -> (start tick, velocity)
        let mut open = std::collections::HashMap::<(u8, u8), (u64, u8)>::new();
        for ev in track {
            tick += u64::from(ev.delta.as_int());
            let TrackEventKind::Midi { channel, message } = ev.kind else {
                continue;
            };
            let ch = channel.as_int();
            if ch == DRUM_CHANNEL {
                continue;
            }
            let (key, on_vel) = match message {
                MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                    (key.as_int(), Some(vel.as_int()))
                }
                MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                    (key.as_int(), None)
                }
                _ => continue,
            };
            if let Some((start, v)) = open.remove(&(ch, key)) {
                if tick > start {
                    notes.push(BeatNote {
                        beat: start as f64 / tpb,
                        length: (tick - start) as f64 / tpb,
                        pitch: key,
                        velocity: v,
                    });
                }
            }
            if let Some(v) = on_vel {
                open.insert((ch, key), (tick, v));
            }
        }
        // Notes never released end with the track.
        for ((_, key), (start, v)) in open {
            if tick > start {
                notes.push(BeatNote {
                    beat: start as f64 / tpb,
                    length: (tick - start) as f64 / tpb,
                    pitch: key,
                    velocity: v,
                });
            }
        }
    }
    if notes.is_empty() {
        return Err(MidiFileError::NoNotes);
    }
    notes.sort_by(|a, b| a.beat.total_cmp(&b.beat).then(a.pitch.cmp(&b.pitch)));
    Ok(notes)
}

/// A format-1 file: a tempo track, then one track per (name, notes, channel).
pub fn write_notes(tempo_bpm: f64, tracks: &[(&str, &[BeatNote], u8)]) -> Vec<u8> {
    use midly::num::{u15, u24, u28, u4, u7};
    use midly::{Header, TrackEvent};
    let tpb = f64::from(WRITE_TICKS_PER_BEAT);
    let mut smf = Smf::new(Header::new(
        Format::Parallel,
        Timing::Metrical(u15::new(WRITE_TICKS_PER_BEAT)),
    ));
    let us_per_beat = (60_000_000.0 / tempo_bpm.max(1.0)).round() as u32;
    smf.tracks.push(vec![
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(us_per_beat.min(0xFF_FFFF)))),
        },
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        },
    ]);
    for (name, notes, channel) in tracks {
        // (tick, order, key, vel): offs (0) before ons (1) at the same tick
        let mut evs: Vec<(u64, u8, u8, u8)> = Vec::new();
        for n in notes.iter() {
            let on = (n.beat * tpb).round().max(0.0) as u64;
            let off = ((n.beat + n.length) * tpb).round().max(0.0) as u64;
            evs.push((on, 1, n.pitch.min(127), n.velocity.clamp(1, 127)));
            evs.push((off.max(on + 1), 0, n.pitch.min(127), 0));
        }
        evs.sort();
        let mut track = vec![TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes())),
        }];
        let mut last = 0;
        for (tick, order, key, vel) in evs {
            let message = if order == 1 {
                MidiMessage::NoteOn {
                    key: u7::new(key),
                    vel: u7::new(vel),
                }
            } else {
                MidiMessage::NoteOff {
                    key: u7::new(key),
                    vel: u7::new(0),
                }
            };
            track.push(TrackEvent {
                delta: u28::new((tick - last) as u32),
                kind: TrackEventKind::Midi {
                    channel: u4::new(channel & 15),
                    message,
                },
            });
            last = tick;
        }
        track.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        });
        smf.tracks.push(track);
    }
    let mut out = Vec::new();
    smf.write_std(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sounding_velocity_is_one_to_127_whatever_comes_in() {
        assert_eq!(midi_velocity(1.0), 127);
        assert_eq!(midi_velocity(0.5), 64);
        assert_eq!(midi_velocity(0.0), 1, "0 would be a note-off");
        assert_eq!(midi_velocity(0.003), 1);
        assert_eq!(midi_velocity(-1.0), 1);
        assert_eq!(midi_velocity(3.0), 127);
        assert_eq!(midi_velocity(f64::NAN), 1);
    }

    #[test]
    fn written_files_read_back_in_beats() {
        let notes = [
            BeatNote {
                beat: 0.0,
                length: 1.0,
                pitch: 60,
                velocity: 100,
            },
            BeatNote {
                beat: 0.5,
                length: 0.25,
                pitch: 64,
                velocity: 80,
            },
            BeatNote {
                beat: 2.0,
                length: 1.5,
                pitch: 67,
                velocity: 90,
            },
        ];
        let drums = [BeatNote {
            beat: 0.0,
            length: 0.5,
            pitch: 36,
            velocity: 100,
        }];
        let bytes = write_notes(
            97.0,
            &[("melody", &notes, 0), ("drums", &drums, DRUM_CHANNEL)],
        );
        assert_eq!(
            read_notes(&bytes).unwrap(),
            notes.to_vec(),
            "drums ignored, beats exact"
        );
    }

    #[test]
    fn broken_files_are_named_errors() {
        assert!(matches!(
            read_notes(b"not midi at all"),
            Err(MidiFileError::Parse(_))
        ));
        let bytes = write_notes(120.0, &[("empty", &[], 0)]);
        assert_eq!(read_notes(&bytes), Err(MidiFileError::NoNotes));
        let good = write_notes(
            120.0,
            &[(
                "m",
                &[BeatNote {
                    beat: 0.0,
                    length: 1.0,
                    pitch: 60,
                    velocity: 1,
                }],
                0,
            )],
        );
        let cut = read_notes(&good[..good.len() - 6]);
        assert!(matches!(cut, Err(MidiFileError::Truncated(_))), "{cut:?}");
    }
}
