//! Chords and the chord track: what a musician types (`Eb Bb Cm Ab`, `| Cm7 F7 | Bbmaj7 |`) into
//! what the engine plays by. Free of any plugin framework; the editor, the command line and the
//! engine share it.
//!
//! Contract:
//! - Symbols are parsed by the `chordparser` crate (Jazz/Pop/Rock symbols: `Cm7`, `Bbmaj7`,
//!   `F#m7b5`, `G7(b9)`, `Bb/D`, ...). A lowercase root letter is read as its capital (`am` is A
//!   minor); `N.C.` (or `NC`) is a bar or beat with no chord.
//! - Bars: with `|` the text is bars between bar lines, their chords sharing the bar evenly (`| C G |`
//!   is two beats each in 4/4); without, each symbol is a bar. `%` repeats the bar before.
//! - A track fills bars from the host's bar 1 and loops over its own length. At most
//!   [`MAX_BARS`] bars.
//! - Bad input is a [`ChordError`] that names the symbol and its place (bar and chord, 1-based);
//!   nothing is half taken.

use std::fmt;
use std::sync::{Arc, RwLock};

/// The most bars a chord track may hold.
pub const MAX_BARS: usize = 64;

/// Names of the pitch classes, as a chord's root is written back.
const NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

/// A chord's pitch content: its root, every tone (bit `pc`), its triad (root, third and fifth) and
/// the bass note a slash names. `Copy` and small: the engine's masks and features read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Harmony {
    /// Pitch class of the root, 0 = C.
    pub root: u8,
    /// Every chord tone (bit `pc` set), sevenths and tensions included.
    pub tones: u16,
    /// Root, third (or the suspended tone) and fifth (bit `pc` set).
    pub triad: u16,
    /// The bass note's pitch class (a slash chord's; else the root).
    pub bass: u8,
}

impl Harmony {
    /// A major or minor triad on `root`.
    pub fn triad(root: u8, minor: bool) -> Self {
        let root = root % 12;
        let bits = bit(root) | bit(root + if minor { 3 } else { 4 }) | bit(root + 7);
        Self {
            root,
            tones: bits,
            triad: bits,
            bass: root,
        }
    }

    /// From a root and its tones in semitones above it (any octave), a slash bass apart.
    fn from_semitones(root: u8, semitones: &[u8], bass: Option<u8>) -> Self {
        let root = root % 12;
        let has = |s: u8| semitones.iter().any(|&x| x % 12 == s);
        let third = [4, 3, 5, 2].into_iter().find(|&s| has(s));
        let fifth = [7, 6, 8].into_iter().find(|&s| has(s));
        let tones = semitones.iter().fold(bit(root), |m, &s| m | bit(root + s));
        let triad = [Some(0), third, fifth]
            .into_iter()
            .flatten()
            .fold(0, |m, s| m | bit(root + s));
        Self {
            root,
            tones,
            triad,
            bass: bass.map_or(root, |b| b % 12),
        }
    }

    /// What a bass lays down on a strong beat: the bass note a slash names, else the root and
    /// the fifth (bits).
    pub fn bass_tones(self) -> u16 {
        if self.bass != self.root {
            bit(self.bass)
        } else {
            bit(self.root)
                | (self.triad & (bit(self.root + 7) | bit(self.root + 6) | bit(self.root + 8)))
        }
    }

    /// Whether it is a minor triad (a minor third, no major one).
    pub fn is_minor(self) -> bool {
        self.triad & bit(self.root + 3) != 0 && self.triad & bit(self.root + 4) == 0
    }

    /// A short name, as Learn Chords writes a heard chord: `C`, `Am`, `Bdim`, `C7`.
    pub fn name(self) -> String {
        let r = self.root;
        let has = |s: u8| self.tones & bit(r + s) != 0;
        let quality = if has(3) && has(6) && !has(7) {
            "dim"
        } else if has(4) && has(8) && !has(7) {
            "aug"
        } else if self.is_minor() {
            "m"
        } else {
            ""
        };
        let seventh = match (has(10), has(11)) {
            (true, _) => "7",
            (false, true) => "maj7",
            _ => "",
        };
        let (quality, seventh) = match (quality, seventh) {
            ("dim", "7") => ("m7b5", ""),
            other => other,
        };
        let mut name = format!("{}{quality}{seventh}", NAMES[r as usize]);
        if self.bass != r {
            name.push('/');
            name.push_str(NAMES[self.bass as usize]);
        }
        name
    }
}

/// The chord track's text, shared and saved with the project (a persisted field). Written on the
/// main thread (the editor, a restored project) or the engine thread (Learn Chords); read by the
/// engine and the editor. The audio thread never touches it. Only text that parses is written.
pub type ChordSlot = Arc<RwLock<String>>;

/// The slot's text, even if a writer panicked while holding it.
pub fn read_slot(slot: &ChordSlot) -> String {
    slot.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Parse `text` and, when it parses, put it in the slot (as typed); else leave the slot as it was.
pub fn write_slot(slot: &ChordSlot, text: &str) -> Result<ChordTrack, ChordError> {
    let track = ChordTrack::parse(text)?;
    *slot.write().unwrap_or_else(|p| p.into_inner()) = text.trim().to_string();
    Ok(track)
}

fn bit(pc: u8) -> u16 {
    1 << (pc % 12)
}

/// One chord of a typed track: its symbol as typed, and its pitch content (`None`: N.C.).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackChord {
    /// The symbol as typed (`Cm7`, `N.C.`).
    pub symbol: String,
    /// Its pitch content; `None`: no chord (N.C.).
    pub harmony: Option<Harmony>,
}

/// A typed chord track: bars of chords, each bar's chords sharing it evenly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChordTrack {
    bars: Vec<Vec<TrackChord>>,
}

/// What is wrong with a chord track's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChordError {
    #[error("bar {bar}, chord {chord}: `{symbol}` is not a chord symbol ({reason})")]
    /// A symbol chordparser cannot read.
    Unknown {
        /// The symbol.
        symbol: String,
        /// Its bar, 1-based.
        bar: usize,
        /// Its place in the bar, 1-based.
        chord: usize,
        /// chordparser's reason.
        reason: String,
    },
    #[error("bar {bar} is empty: give it a chord, `%` for the bar before, or N.C.")]
    /// A bar with nothing in it.
    EmptyBar {
        /// The bar, 1-based.
        bar: usize,
    },
    #[error("bar {bar}: `%` repeats the bar before, and there is none")]
    /// `%` in the first bar.
    NothingToRepeat {
        /// The bar, 1-based.
        bar: usize,
    },
    #[error("{bars} bars: a chord track holds at most {MAX_BARS}")]
    /// More bars than a track holds.
    TooLong {
        /// How many were typed.
        bars: usize,
    },
}

impl ChordTrack {
    /// Parse a progression (see the module's contract). Empty text is an empty track (none).
    pub fn parse(text: &str) -> Result<Self, ChordError> {
        let text = text.trim();
        let cells: Vec<&str> = if text.contains('|') {
            let mut cells: Vec<&str> = text.split('|').collect();
            // A leading or closing bar line opens or closes no bar.
            if cells.first().is_some_and(|c| c.trim().is_empty()) {
                cells.remove(0);
            }
            if cells.last().is_some_and(|c| c.trim().is_empty()) {
                cells.pop();
            }
            cells
        } else {
            text.split_whitespace().collect()
        };
        if cells.len() > MAX_BARS {
            return Err(ChordError::TooLong { bars: cells.len() });
        }
        let mut parser = chordparser::parsing::Parser::new();
        let mut bars: Vec<Vec<TrackChord>> = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let bar = i + 1;
            let symbols: Vec<&str> = cell.split_whitespace().collect();
            if symbols.is_empty() {
                return Err(ChordError::EmptyBar { bar });
            }
            if symbols == ["%"] {
                let before = bars.last().cloned();
                bars.push(before.ok_or(ChordError::NothingToRepeat { bar })?);
                continue;
            }
            let chords = (symbols.iter().enumerate())
                .map(|(j, s)| parse_symbol(&mut parser, s, bar, j + 1))
                .collect::<Result<Vec<_>, _>>()?;
            bars.push(chords);
        }
        Ok(Self { bars })
    }

    /// Whether the track has no bars (no chord track).
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    /// Bars in the track (it loops over them).
    pub fn len(&self) -> usize {
        self.bars.len()
    }

    /// The chords of bar `bar` of the song (0-based from the host's bar 1; the track loops).
    pub fn bar(&self, bar: i64) -> &[TrackChord] {
        if self.bars.is_empty() {
            return &[];
        }
        &self.bars[bar.rem_euclid(self.bars.len() as i64) as usize]
    }

    /// The chord at `at` (0..1, the share of the bar gone) of song bar `bar`, and the shares of the
    /// bar where it starts and ends. `None` when the track is empty.
    pub fn at(&self, bar: i64, at: f64) -> Option<(&TrackChord, f64, f64)> {
        let chords = self.bar(bar);
        let n = chords.len();
        if n == 0 {
            return None;
        }
        let i = ((at.clamp(0.0, 1.0) * n as f64 + 1e-9).floor() as usize).min(n - 1);
        Some((&chords[i], i as f64 / n as f64, (i + 1) as f64 / n as f64))
    }

    /// The track as text, one bar between bar lines: what it parses back from.
    pub fn to_text(&self) -> String {
        let mut s = String::from("|");
        for bar in &self.bars {
            let names: Vec<&str> = bar.iter().map(|c| c.symbol.as_str()).collect();
            s.push(' ');
            s.push_str(&names.join(" "));
            s.push_str(" |");
        }
        if self.bars.is_empty() {
            s.clear();
        }
        s
    }
}

impl fmt::Display for ChordTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// One symbol of bar `bar`, chord `chord` (both 1-based, for the message).
fn parse_symbol(
    parser: &mut chordparser::parsing::Parser,
    symbol: &str,
    bar: usize,
    chord: usize,
) -> Result<TrackChord, ChordError> {
    let plain = symbol.trim_end_matches('.').to_ascii_uppercase();
    if plain == "N.C" || plain == "NC" {
        return Ok(TrackChord {
            symbol: "N.C.".into(),
            harmony: None,
        });
    }
    let unknown = |reason: String| ChordError::Unknown {
        symbol: symbol.to_string(),
        bar,
        chord,
        reason,
    };
    // The root letter in capitals: `am` is A minor (chordparser reads only capitals).
    let mut written: String = symbol.to_string();
    if let Some(first) = written.chars().next().filter(|c| ('a'..='g').contains(c)) {
        written.replace_range(..1, &first.to_ascii_uppercase().to_string());
    }
    let parsed = parser.parse(&written).map_err(|e| {
        let reasons: Vec<String> = e.errors.iter().map(|x| x.to_string()).collect();
        unknown(if reasons.is_empty() {
            "not understood".into()
        } else {
            reasons.join("; ")
        })
    })?;
    let harmony = Harmony::from_semitones(
        parsed.root.to_semitone(),
        &parsed.semitones,
        parsed.bass.map(|b| b.to_semitone()),
    );
    Ok(TrackChord {
        symbol: symbol.to_string(),
        harmony: Some(harmony),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcs(bits: u16) -> Vec<u8> {
        (0..12).filter(|&pc| bits >> pc & 1 == 1).collect()
    }

    #[test]
    fn a_progression_without_bar_lines_is_a_bar_a_chord_and_with_them_bars_share_their_chords() {
        let t = ChordTrack::parse("Eb Bb Cm Ab").unwrap();
        assert_eq!(t.len(), 4);
        let cm = t.bar(2)[0].harmony.unwrap();
        assert_eq!((cm.root, pcs(cm.tones)), (0, vec![0, 3, 7]));
        assert!(cm.is_minor());
        // The track loops: bar 5 is bar 1 again, and bar -1 the last.
        assert_eq!(t.bar(4)[0].symbol, "Eb");
        assert_eq!(t.bar(-1)[0].symbol, "Ab");
        let jazz = ChordTrack::parse("| Cm7 F7 | Bbmaj7 | Gm7 C7 | Fmaj7 |").unwrap();
        assert_eq!(jazz.len(), 4);
        let (f7, from, to) = jazz.at(0, 0.6).unwrap();
        assert_eq!((f7.symbol.as_str(), from, to), ("F7", 0.5, 1.0));
        let f7 = f7.harmony.unwrap();
        assert_eq!(pcs(f7.tones), vec![0, 3, 5, 9]);
        assert_eq!(pcs(f7.triad), vec![0, 5, 9]);
        assert_eq!(pcs(f7.bass_tones()), vec![0, 5]);
        assert_eq!(jazz.at(1, 0.99).unwrap().0.symbol, "Bbmaj7");
        // Written back, it reads as itself.
        assert_eq!(ChordTrack::parse(&jazz.to_text()).unwrap(), jazz);
    }

    #[test]
    fn repeats_no_chord_slashes_and_lowercase_roots_are_read() {
        let t = ChordTrack::parse("| am | % | N.C. | Bb/D |").unwrap();
        assert_eq!(t.bar(1), t.bar(0));
        assert_eq!(t.bar(0)[0].harmony.unwrap().root, 9);
        assert_eq!(t.bar(2)[0].harmony, None);
        let slash = t.bar(3)[0].harmony.unwrap();
        assert_eq!((slash.root, slash.bass), (10, 2));
        assert_eq!(pcs(slash.bass_tones()), vec![2]);
        assert_eq!(slash.name(), "Bb/D");
        assert!(ChordTrack::parse("  ").unwrap().is_empty());
    }

    #[test]
    fn bad_input_names_the_symbol_and_its_place() {
        let e = ChordTrack::parse("| C | Am | F Hm7 |").unwrap_err();
        assert!(
            matches!(&e, ChordError::Unknown { symbol, bar: 3, chord: 2, .. } if symbol == "Hm7"),
            "{e:?}"
        );
        assert!(e
            .to_string()
            .starts_with("bar 3, chord 2: `Hm7` is not a chord symbol"));
        assert_eq!(
            ChordTrack::parse("| C | | G |").unwrap_err(),
            ChordError::EmptyBar { bar: 2 }
        );
        assert_eq!(
            ChordTrack::parse("% C").unwrap_err(),
            ChordError::NothingToRepeat { bar: 1 }
        );
        let long = vec!["C"; MAX_BARS + 1].join(" ");
        assert_eq!(
            ChordTrack::parse(&long).unwrap_err(),
            ChordError::TooLong { bars: MAX_BARS + 1 }
        );
        assert!(ChordTrack::parse(&vec!["C"; MAX_BARS].join(" ")).is_ok());
    }

    #[test]
    fn heard_triads_are_named_as_a_musician_writes_them() {
        assert_eq!(Harmony::triad(0, false).name(), "C");
        assert_eq!(Harmony::triad(9, true).name(), "Am");
        assert_eq!(Harmony::triad(6, true).name(), "F#m");
        let t = ChordTrack::parse("Bdim C7 Bbmaj7 Caug").unwrap();
        let names: Vec<String> = (0..4)
            .map(|b| t.bar(b)[0].harmony.unwrap().name())
            .collect();
        assert_eq!(names, ["Bdim", "C7", "Bbmaj7", "Caug"]);
    }
}
