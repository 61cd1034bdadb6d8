//! The piano roll: the last bars of what the player and Cadenza played, the playhead, and the notes
//! Cadenza has planned but not yet played, drawn ahead of the playhead.

use egui::{Color32, Painter, Pos2, Rect, Stroke, StrokeKind};

use crate::monitor::{Span, Who};

/// Bars shown before the playhead.
pub const BARS_BACK: f64 = 4.0;
/// Bars shown after it (where planned notes are).
pub const BARS_AHEAD: f64 = 1.0;

/// Where the host is.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub playhead: f64,
    pub beats_per_bar: f64,
    pub bar_origin: f64,
    pub playing: bool,
}

impl View {
    /// The beats shown: (first, last).
    pub fn window(&self) -> (f64, f64) {
        let bpb = self.beats_per_bar.max(1.0);
        (
            self.playhead - BARS_BACK * bpb,
            self.playhead + BARS_AHEAD * bpb,
        )
    }
}

/// The pitch range to show: what is visible, padded, at least two octaves.
pub fn pitch_range<'a>(spans: impl Iterator<Item = &'a Span>) -> (u8, u8) {
    let (mut lo, mut hi) = (u8::MAX, 0u8);
    for s in spans {
        lo = lo.min(s.pitch);
        hi = hi.max(s.pitch);
    }
    if lo > hi {
        return (48, 84);
    }
    let (mut lo, mut hi) = (i32::from(lo) - 3, i32::from(hi) + 3);
    while hi - lo < 24 {
        lo -= 1;
        hi += 1;
    }
    (lo.clamp(0, 127) as u8, hi.clamp(0, 127) as u8)
}

pub fn draw(painter: Painter, rect: Rect, view: &View, heard: &[Span], planned: &[Span]) {
    let (first, last) = view.window();
    let visible = |s: &&Span| s.end.is_none_or(|e| e >= first) && s.start <= last;
    // Planned notes: only those not yet played.
    let ahead =
        |s: &&Span| s.end.is_none_or(|e| e > view.playhead) && s.start >= view.playhead - 0.01;
    let shown: Vec<&Span> = heard.iter().filter(visible).collect();
    let upcoming: Vec<&Span> = planned.iter().filter(visible).filter(ahead).collect();
    let (lo, hi) = pitch_range(shown.iter().chain(upcoming.iter()).copied());
    let rows = f32::from(hi - lo + 1);
    let x = |beat: f64| rect.left() + ((beat - first) / (last - first)) as f32 * rect.width();
    let y = |pitch: u8| rect.bottom() - f32::from(pitch - lo + 1) / rows * rect.height();
    let row_h = rect.height() / rows;

    painter.rect_filled(rect, 4.0, Color32::from_gray(22));
    // Black keys a shade darker.
    for p in lo..=hi {
        if matches!(p % 12, 1 | 3 | 6 | 8 | 10) {
            let r = Rect::from_min_max(
                Pos2::new(rect.left(), y(p)),
                Pos2::new(rect.right(), y(p) + row_h),
            );
            painter.rect_filled(r, 0.0, Color32::from_gray(17));
        }
    }
    // Beat and bar lines.
    let bpb = view.beats_per_bar.max(1.0);
    let mut beat = first.ceil();
    while beat <= last {
        let on_bar = ((beat - view.bar_origin) / bpb).fract().abs() < 1e-6;
        let color = if on_bar {
            Color32::from_gray(80)
        } else {
            Color32::from_gray(40)
        };
        painter.line_segment(
            [
                Pos2::new(x(beat), rect.top()),
                Pos2::new(x(beat), rect.bottom()),
            ],
            Stroke::new(1.0, color),
        );
        beat += 1.0;
    }
    let note_rect = |s: &Span, until: f64| {
        let end = s.end.unwrap_or(until).max(s.start + 0.05);
        Rect::from_min_max(
            Pos2::new(x(s.start.max(first)), y(s.pitch) + 1.0),
            Pos2::new(
                x(end.min(last)).max(x(s.start.max(first)) + 2.0),
                y(s.pitch) + row_h - 1.0,
            ),
        )
    };
    for s in &shown {
        let color = match s.who {
            Who::Player => super::PLAYER,
            _ => super::CADENZA,
        };
        let alpha = 0.45 + 0.55 * f32::from(s.velocity) / 127.0;
        painter.rect_filled(
            note_rect(s, view.playhead),
            2.0,
            color.gamma_multiply(alpha),
        );
    }
    for s in &upcoming {
        let r = note_rect(s, last);
        painter.rect_filled(r, 2.0, super::CADENZA.gamma_multiply(0.18));
        painter.rect_stroke(r, 2.0, Stroke::new(1.0, super::CADENZA), StrokeKind::Inside);
    }
    // The playhead.
    let px = x(view.playhead);
    painter.line_segment(
        [Pos2::new(px, rect.top()), Pos2::new(px, rect.bottom())],
        Stroke::new(2.0, Color32::from_rgb(230, 230, 230)),
    );
    painter.text(
        Pos2::new(rect.left() + 4.0, rect.top() + 2.0),
        egui::Align2::LEFT_TOP,
        format!("{} to {}", note_name(lo), note_name(hi)),
        egui::FontId::monospace(10.0),
        Color32::from_gray(140),
    );
}

fn note_name(p: u8) -> String {
    format!(
        "{}{}",
        crate::settings::KEY_NAMES[usize::from(p % 12)],
        i32::from(p / 12) - 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(pitch: u8) -> Span {
        Span {
            start: 0.0,
            end: Some(1.0),
            pitch,
            velocity: 100,
            who: Who::Player,
        }
    }

    #[test]
    fn the_pitch_range_covers_the_notes_and_at_least_two_octaves() {
        assert_eq!(pitch_range([].iter()), (48, 84));
        let (lo, hi) = pitch_range([span(60), span(62)].iter());
        assert!(lo <= 57 && hi >= 65 && hi - lo >= 24, "{lo}..{hi}");
        let (lo, hi) = pitch_range([span(1), span(126)].iter());
        assert_eq!((lo, hi), (0, 127));
    }

    #[test]
    fn the_window_spans_the_bars_back_and_ahead() {
        let v = View {
            playhead: 20.0,
            beats_per_bar: 3.0,
            bar_origin: 0.0,
            playing: true,
        };
        assert_eq!(v.window(), (8.0, 23.0));
    }
}
