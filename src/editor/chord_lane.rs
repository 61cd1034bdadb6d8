//! The chord lane above the piano roll (the same beats): the chords typed in the chord track, the
//! chords heard from the player, and the chord Cadenza expects next, where it expects it; and the
//! Chords field's action, testable without a window.

use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Stroke, StrokeKind};

use super::piano_roll::View;
use crate::chords::{self, ChordError, ChordSlot};
use crate::engine::{SongView, Source};
use crate::requests::{Request, Requests};

const TYPED: Color32 = Color32::from_rgb(200, 200, 210);
const HEARD: Color32 = Color32::from_rgb(90, 150, 235);
const NEXT: Color32 = Color32::from_rgb(120, 220, 160);

/// The lane's height in points: a row typed, a row heard.
pub const HEIGHT: f32 = 34.0;

/// Draw the lane over `rect` for the piano roll's `view`.
pub fn draw(painter: Painter, rect: Rect, view: &View, song: &SongView) {
    let (first, last) = view.window();
    let x = |beat: f64| rect.left() + ((beat - first) / (last - first)) as f32 * rect.width();
    let row = rect.height() / 2.0;
    painter.rect_filled(rect, 2.0, Color32::from_gray(22));
    let font = FontId::proportional(11.0);
    let label = |y: f32, beat: f64, text: &str, color: Color32| {
        if (first..last).contains(&beat) {
            let at = Pos2::new(x(beat) + 2.0, y + row / 2.0);
            painter.line_segment(
                [
                    Pos2::new(x(beat), y + 2.0),
                    Pos2::new(x(beat), y + row - 2.0),
                ],
                Stroke::new(1.0, color),
            );
            painter.text(at, Align2::LEFT_CENTER, text, font.clone(), color);
        }
    };
    painter.text(
        Pos2::new(rect.left() + 2.0, rect.top() + row / 2.0),
        Align2::LEFT_CENTER,
        if song.typed.is_empty() {
            "no chord track"
        } else {
            ""
        },
        font.clone(),
        Color32::from_gray(110),
    );
    for (beat, name) in &song.typed {
        label(rect.top(), *beat, name, TYPED);
    }
    for (beat, name) in &song.heard {
        label(rect.top() + row, *beat, name, HEARD);
    }
    if let Some((beat, name, source)) = &song.next {
        if (first..last).contains(beat) {
            let r = Rect::from_min_size(
                Pos2::new(x(*beat), rect.top() + row + 1.0),
                egui::vec2(44.0, row - 2.0),
            );
            painter.rect_stroke(r, 2.0, Stroke::new(1.5, NEXT), StrokeKind::Inside);
            let from = match source {
                Source::Typed => "",
                Source::Place => " ↻",
                Source::Repeat => " ⟳",
                Source::Heard => " !",
            };
            painter.text(
                r.left_center() + egui::vec2(3.0, 0.0),
                Align2::LEFT_CENTER,
                format!("{name}{from}"),
                font,
                NEXT,
            );
        }
    }
    let px = x(view.playhead);
    painter.line_segment(
        [Pos2::new(px, rect.top()), Pos2::new(px, rect.bottom())],
        Stroke::new(1.0, Color32::from_gray(200)),
    );
}

/// What the Chords field did: the track taken (its bars), or why not (the slot unchanged).
pub fn apply(slot: &ChordSlot, requests: &Requests, text: &str) -> Result<String, ChordError> {
    let track = chords::write_slot(slot, text)?;
    requests.ask(Request::Chords);
    Ok(if track.is_empty() {
        "no chord track: Cadenza follows the chords it hears".into()
    } else {
        format!("chord track: {} bars, looping from bar 1", track.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::Seen;

    #[test]
    fn the_chords_field_takes_a_progression_and_refuses_a_bad_one_changing_nothing() {
        let slot = ChordSlot::default();
        let requests = Requests::default();
        let mut seen = Seen::from_now(&requests, Request::Chords);
        assert_eq!(
            apply(&slot, &requests, "| Cm7 F7 | Bbmaj7 |").unwrap(),
            "chord track: 2 bars, looping from bar 1"
        );
        assert!(seen.take(&requests), "the engine is told");
        let e = apply(&slot, &requests, "| Cm7 | Q7 |")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bar 2, chord 1: `Q7`"), "{e}");
        assert_eq!(chords::read_slot(&slot), "| Cm7 F7 | Bbmaj7 |", "unchanged");
        assert!(!seen.take(&requests), "nothing to tell");
        assert!(apply(&slot, &requests, "")
            .unwrap()
            .starts_with("no chord track"));
        assert_eq!(chords::read_slot(&slot), "");
    }
}
