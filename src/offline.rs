//! Offline generation: the engine's [`Generator`] driven as fast as it can go, no host and no real
//! time. The `cadenza` command-line program uses it to write MIDI sketches; it plays exactly as the
//! plugin would on a rolling transport with nobody playing along (or primed by a clip).

use crate::bridge::{Generated, PlayClock, ToEngine};
use crate::engine::{Backend, Generator};
use crate::midi_file::BeatNote;
use crate::settings::{Mode, Settings};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Request {
    pub settings: Settings,
    /// Length of the generated part, in beats.
    pub beats: f64,
    /// BPM (for the reaction lead the engine keeps after the start, as live).
    pub tempo: f64,
    /// Beats per bar.
    pub beats_per_bar: f64,
    /// Notes that prime the model (beats from their start); empty: start from the style alone.
    pub prompt: Vec<BeatNote>,
    /// The longest a generated note may sound, in beats (the plugin's Max Note Length).
    pub max_note_beats: f64,
}

/// Generate `req.beats` beats of music, calling `progress(done_beats)` now and then. Notes are in
/// beats from the start of the generated part.
pub fn generate<B: Backend>(
    backend: B,
    vocab: crate::tokenizer::Vocab,
    ticks_per_beat: u32,
    n_styles: u32,
    req: &Request,
    mut progress: impl FnMut(f64),
) -> Result<Vec<BeatNote>, String> {
    let mut gen = Generator::new(backend, vocab, ticks_per_beat, n_styles);
    let mut s = req.settings;
    s.mode = if req.prompt.is_empty() {
        Mode::Improvise
    } else {
        Mode::Continue
    };
    // A sketch's prompt is continued as Cadenza's own line.
    gen.set_prompt(&req.prompt, false);
    let mut events: Vec<Generated> = Vec::new();
    let mut sink = |g: Generated| events.push(g);
    let clock = |playhead: f64| PlayClock {
        playhead,
        open_from: playhead,
        tempo: req.tempo,
        bar_origin: 0.0,
        beats_per_bar: req.beats_per_bar,
        playing: true,
    };
    gen.on_message(ToEngine::start_at_zero(), clock(0.0), &s, &mut sink);
    let mut playhead = 0.0;
    let mut reported = 0.0;
    while playhead < req.beats {
        while gen.step(clock(playhead), &s, &mut sink)? {}
        playhead += 0.25;
        if playhead - reported >= 1.0 {
            reported = playhead;
            progress(playhead.min(req.beats));
        }
    }
    progress(req.beats);
    Ok(pair(&events, req.beats, req.max_note_beats))
}

/// Note-ons and note-offs into notes, cut at `end` and at the maximum length.
pub fn pair(events: &[Generated], end: f64, max_len: f64) -> Vec<BeatNote> {
    let mut open: [Option<(f64, f32)>; 128] = [None; 128];
    let mut notes = Vec::new();
    let close = |notes: &mut Vec<BeatNote>, pitch: u8, start: f64, vel: f32, at: f64| {
        let stop = at.min(end).min(start + max_len);
        if stop > start {
            notes.push(BeatNote {
                beat: start,
                length: stop - start,
                pitch,
                velocity: crate::midi_file::midi_velocity(f64::from(vel)),
            });
        }
    };
    for e in events.iter().filter(|e| !e.is_plan_mark()) {
        let slot = &mut open[e.pitch as usize];
        if let Some((start, vel)) = slot.take() {
            close(&mut notes, e.pitch, start, vel, e.beat);
        }
        if e.on && e.beat < end {
            *slot = Some((e.beat, e.velocity));
        }
    }
    for (p, o) in open.iter().enumerate() {
        if let Some((start, vel)) = *o {
            close(&mut notes, p as u8, start, vel, end);
        }
    }
    notes.sort_by(|a, b| a.beat.total_cmp(&b.beat).then(a.pitch.cmp(&b.pitch)));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(beat: f64, pitch: u8, on: bool) -> Generated {
        Generated {
            epoch: 1,
            plan: 0,
            beat,
            pitch,
            velocity: 0.5,
            on,
        }
    }

    #[test]
    fn pairing_cuts_at_the_end_and_at_the_maximum_length() {
        let ev = [
            g(0.0, 60, true),
            g(1.0, 60, false),
            g(1.0, 62, true),
            g(3.5, 64, true),
            g(20.0, 62, false),
        ];
        let notes = pair(&ev, 4.0, 2.0);
        let got: Vec<(f64, f64, u8)> = notes.iter().map(|n| (n.beat, n.length, n.pitch)).collect();
        assert_eq!(got, [(0.0, 1.0, 60), (1.0, 2.0, 62), (3.5, 0.5, 64)]);
        assert_eq!(notes[0].velocity, 64);
    }
}
