//! Events ⇄ token ids: the Rust mirror of `models/cadenza_model/vocab.py`.
//!
//! The layout comes from the `vocab` block of model.json (validated in [`crate::model::spec`]); this
//! module only does arithmetic on it. Time is in ticks of a beat, so tokens follow the host's tempo.
//! Canonical order at one instant: note-offs, then note-ons, each by ascending pitch. Golden
//! fixtures written by Python (`models/tests/fixtures/golden_tokens.json`) pin both sides together.

/// MIDI pitches the vocabulary covers.
pub const PITCHES: u32 = 128;

/// A note in ticks: onset, duration (> 0), MIDI pitch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    /// Onset in ticks.
    pub onset: u64,
    /// Duration in ticks (> 0).
    pub duration: u64,
    /// MIDI pitch.
    pub pitch: u8,
}

/// One decoded token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Padding (never generated).
    Pad,
    /// Begin of sequence (unused by the plugin).
    Bos,
    /// End of sequence (refused while playing).
    Eos,
    /// A style slot (index into model.json's `styles`).
    Style(u32),
    /// A key starts.
    NoteOn(u8),
    /// A key ends.
    NoteOff(u8),
    /// Time moves forward by this many ticks (1..=max_shift).
    Shift(u32),
}

/// The vocabulary layout. Plain numbers, `Copy`, so the engine can hold it without a model. Read from
/// model.json's `vocab` block (see `crate::model::spec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct Vocab {
    /// Tokens in all.
    pub size: u32,
    /// The padding token.
    pub pad: u32,
    /// The begin-of-sequence token.
    pub bos: u32,
    /// The end-of-sequence token.
    pub eos: u32,
    /// The first style token.
    pub style_base: u32,
    /// Style slots.
    pub style_slots: u32,
    /// The note-on token of pitch 0.
    pub note_on_base: u32,
    /// The note-off token of pitch 0.
    pub note_off_base: u32,
    /// The shift of one tick.
    pub shift_base: u32,
    /// The longest shift, in ticks.
    pub max_shift: u32,
}

impl Vocab {
    /// The layout Python's `Vocab()` uses by default (16 style slots, shifts of up to 48 ticks).
    pub const DEFAULT: Vocab = Vocab::with(16, 48);

    /// Build the canonical layout for a number of style slots and the longest shift.
    pub const fn with(style_slots: u32, max_shift: u32) -> Vocab {
        let style_base = 3;
        let note_on_base = style_base + style_slots;
        let note_off_base = note_on_base + PITCHES;
        let shift_base = note_off_base + PITCHES;
        Vocab {
            size: shift_base + max_shift,
            pad: 0,
            bos: 1,
            eos: 2,
            style_base,
            style_slots,
            note_on_base,
            note_off_base,
            shift_base,
            max_shift,
        }
    }

    /// The event a token stands for (`None`: outside the layout).
    pub fn decode(&self, token: u32) -> Option<Event> {
        let t = token;
        Some(match t {
            _ if t == self.pad => Event::Pad,
            _ if t == self.bos => Event::Bos,
            _ if t == self.eos => Event::Eos,
            _ if (self.style_base..self.style_base + self.style_slots).contains(&t) => {
                Event::Style(t - self.style_base)
            }
            _ if (self.note_on_base..self.note_on_base + PITCHES).contains(&t) => {
                Event::NoteOn((t - self.note_on_base) as u8)
            }
            _ if (self.note_off_base..self.note_off_base + PITCHES).contains(&t) => {
                Event::NoteOff((t - self.note_off_base) as u8)
            }
            _ if (self.shift_base..self.shift_base + self.max_shift).contains(&t) => {
                Event::Shift(t - self.shift_base + 1)
            }
            _ => return None,
        })
    }

    /// The id of an event; `None` for a style slot or shift outside the layout.
    pub fn encode(&self, event: Event) -> Option<u32> {
        Some(match event {
            Event::Pad => self.pad,
            Event::Bos => self.bos,
            Event::Eos => self.eos,
            Event::Style(s) if s < self.style_slots => self.style_base + s,
            Event::NoteOn(p) if u32::from(p) < PITCHES => self.note_on_base + u32::from(p),
            Event::NoteOff(p) if u32::from(p) < PITCHES => self.note_off_base + u32::from(p),
            Event::Shift(k) if (1..=self.max_shift).contains(&k) => self.shift_base + k - 1,
            _ => return None,
        })
    }

    /// Append shift tokens for a gap of `ticks` (several when it exceeds `max_shift`).
    pub fn push_shift(&self, mut ticks: u64, out: &mut Vec<u32>) {
        while ticks > 0 {
            let k = ticks.min(u64::from(self.max_shift)) as u32;
            out.push(self.shift_base + k - 1);
            ticks -= u64::from(k);
        }
    }

    /// Notes → event tokens (no BOS, style or EOS), in the canonical order.
    pub fn notes_to_tokens(&self, notes: &[Note]) -> Vec<u32> {
        // (tick, order, pitch): order 0 = off, 1 = on
        let mut events: Vec<(u64, u8, u8)> = Vec::with_capacity(notes.len() * 2);
        for n in notes {
            if n.duration == 0 || u32::from(n.pitch) >= PITCHES {
                continue;
            }
            events.push((n.onset + n.duration, 0, n.pitch));
            events.push((n.onset, 1, n.pitch));
        }
        events.sort_unstable();
        let mut out = Vec::with_capacity(events.len() * 2);
        let mut now = 0u64;
        let mut sounding = [0u16; PITCHES as usize];
        for (tick, order, pitch) in events {
            self.push_shift(tick - now, &mut out);
            now = tick;
            let p = pitch as usize;
            if order == 1 {
                if sounding[p] > 0 {
                    out.push(self.note_off_base + u32::from(pitch));
                    sounding[p] -= 1;
                }
                out.push(self.note_on_base + u32::from(pitch));
                sounding[p] += 1;
            } else if sounding[p] > 0 {
                out.push(self.note_off_base + u32::from(pitch));
                sounding[p] -= 1;
            }
        }
        out
    }

    /// Event tokens → notes. Unmatched note-offs are ignored; notes still open end at the last tick.
    pub fn tokens_to_notes(&self, tokens: &[u32]) -> Vec<Note> {
        let mut now = 0u64;
        let mut open: [Option<u64>; PITCHES as usize] = [None; PITCHES as usize];
        let mut notes = Vec::new();
        for &t in tokens {
            match self.decode(t) {
                Some(Event::NoteOn(p)) => {
                    if let Some(start) = open[p as usize].replace(now) {
                        notes.push(Note {
                            onset: start,
                            duration: now - start,
                            pitch: p,
                        });
                    }
                }
                Some(Event::NoteOff(p)) => {
                    if let Some(start) = open[p as usize].take() {
                        notes.push(Note {
                            onset: start,
                            duration: now - start,
                            pitch: p,
                        });
                    }
                }
                Some(Event::Shift(k)) => now += u64::from(k),
                _ => {}
            }
        }
        for (p, start) in open.iter().enumerate() {
            if let Some(start) = start {
                notes.push(Note {
                    onset: *start,
                    duration: now - start,
                    pitch: p as u8,
                });
            }
        }
        notes.retain(|n| n.duration > 0);
        notes.sort_unstable();
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips() {
        let v = Vocab::DEFAULT;
        for t in 0..v.size {
            let e = v.decode(t).expect("inside the layout");
            assert_eq!(v.encode(e), Some(t), "{e:?}");
        }
        assert_eq!(v.decode(v.size), None);
    }

    #[test]
    fn long_gaps_split_into_max_shifts() {
        let v = Vocab::DEFAULT;
        let notes = [Note {
            onset: 100,
            duration: 24,
            pitch: 60,
        }];
        let toks = v.notes_to_tokens(&notes);
        let ev: Vec<_> = toks.iter().map(|&t| v.decode(t).unwrap()).collect();
        assert_eq!(
            ev,
            [
                Event::Shift(48),
                Event::Shift(48),
                Event::Shift(4),
                Event::NoteOn(60),
                Event::Shift(24),
                Event::NoteOff(60)
            ]
        );
        assert_eq!(v.tokens_to_notes(&toks), notes);
    }

    #[test]
    fn chords_and_overlaps_round_trip() {
        let v = Vocab::DEFAULT;
        let notes = vec![
            Note {
                onset: 0,
                duration: 24,
                pitch: 60,
            },
            Note {
                onset: 0,
                duration: 48,
                pitch: 64,
            },
            Note {
                onset: 24,
                duration: 24,
                pitch: 67,
            },
            Note {
                onset: 24,
                duration: 1,
                pitch: 60,
            },
        ];
        let mut sorted = notes.clone();
        sorted.sort();
        assert_eq!(v.tokens_to_notes(&v.notes_to_tokens(&notes)), sorted);
    }
}
