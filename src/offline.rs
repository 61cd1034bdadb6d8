//! Offline generation: the engine's [`Generator`] driven as fast as it can go, no host and no real
//! time. The `cadenza` command-line program uses it to write MIDI sketches; it plays exactly as the
//! plugin would on a rolling transport with nobody playing along (or primed by a clip).

use crate::bridge::{Generated, PlayClock, ToEngine};
use crate::engine::{Backend, GenerateError, Generator, Step};
use crate::midi_file::BeatNote;
use crate::settings::{Mode, Settings};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Request {
    /// The knobs (the mode is chosen from the request: Improvise, Continue Clip or Duet).
    pub settings: Settings,
    /// Length of the generated part, in beats.
    pub beats: f64,
    /// BPM (for the reaction lead the engine keeps after the start, as live).
    pub tempo: f64,
    /// Beats per bar.
    pub beats_per_bar: f64,
    /// Notes that prime the model (beats from their start), continued as Cadenza's own line; empty:
    /// start from the style alone.
    pub prompt: Vec<BeatNote>,
    /// The player's part Cadenza plays against (beats from the start), heard as if played live in
    /// a duet: each note joins the context on its beat and withdraws what was planned after it.
    /// Empty: nobody plays along.
    pub against: Vec<BeatNote>,
    /// The longest a generated note may sound, in beats (the plugin's Max Note Length).
    pub max_note_beats: f64,
    /// The chord track (bars from the start, looping), as the plugin's Chords field takes it.
    pub chords: Option<crate::chords::ChordTrack>,
}

/// The model's side of a request: what its model.json says.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The token layout.
    pub vocab: crate::tokenizer::Vocab,
    /// Time resolution of the shift tokens.
    pub ticks_per_beat: u32,
    /// Style slots in use.
    pub n_styles: u32,
    /// The roles it plays, in slot order (`ModelSpec::roles_played`), and by style slot.
    pub roles: Vec<String>,
    /// The roles each style slot plays (empty: all).
    pub style_roles: Vec<Vec<String>>,
    /// It reads no role slot as Cadenza alone (`ModelSpec::alone`).
    pub alone: bool,
    /// It is told the chords (`ModelSpec::hears_chords`, format 5).
    pub hears_chords: bool,
}

impl ModelInfo {
    /// What `spec` says.
    pub fn of(spec: &crate::model::ModelSpec) -> Self {
        Self {
            vocab: spec.vocab(),
            ticks_per_beat: spec.ticks_per_beat,
            n_styles: spec.styles.len() as u32,
            roles: spec.roles_played(),
            style_roles: spec.roles_by_slot(),
            alone: spec.alone,
            hears_chords: spec.hears_chords(),
        }
    }
}

/// How far the offline "audio side" moves per block, in beats: it hears the player's notes of a block
/// and the engine plans before the block is played, as in a host's bounce.
const BLOCK_BEATS: f64 = 0.25;

/// The notes the audio side would play: a newer plan drops the older plans' notes it has not played
/// yet (as the scheduler does), so what the engine withdrew never sounds.
#[derive(Default)]
struct Played {
    events: Vec<Generated>,
    plan: u32,
}

impl Played {
    fn take(&mut self, fresh: &mut Vec<Generated>, open_from: f64) {
        for g in fresh.drain(..) {
            if g.plan > self.plan {
                (self.events).retain(|e| e.beat < open_from - 1e-9 || e.plan >= g.plan);
                self.plan = g.plan;
            }
            if !g.is_plan_mark() {
                self.events.push(g);
            }
        }
    }
}

/// Generate `req.beats` beats of music, calling `progress(done_beats)` now and then. Notes are in
/// beats from the start of the generated part.
pub fn generate<B: Backend>(
    backend: B,
    model: ModelInfo,
    req: &Request,
    mut progress: impl FnMut(f64),
) -> Result<Vec<BeatNote>, GenerateError> {
    let mut gen = Generator::new(backend, model.vocab, model.ticks_per_beat, model.n_styles);
    gen.set_roles(&model.roles, model.style_roles.clone());
    gen.set_knows_alone(model.alone);
    gen.set_hears_chords(model.hears_chords);
    gen.set_chord_track(req.chords.clone());
    gen.set_offline();
    let mut s = req.settings;
    s.mode = if !req.against.is_empty() {
        Mode::Duet
    } else if req.prompt.is_empty() {
        Mode::Improvise
    } else {
        Mode::Continue
    };
    // A sketch's prompt is continued as Cadenza's own line.
    gen.set_prompt(&req.prompt, false);
    // The player's part as key presses and releases, in time order (releases first on a beat).
    let keys = crate::midi_file::key_events(&req.against);
    let mut keys = keys.into_iter().peekable();
    let mut fresh: Vec<Generated> = Vec::new();
    let mut played = Played::default();
    let clock = |playhead: f64| PlayClock {
        beats_per_bar: req.beats_per_bar,
        bar_number: 0.0,
        ..PlayClock::at(playhead, req.tempo)
    };
    let mut sink = |g: Generated| fresh.push(g);
    gen.on_message(ToEngine::start_at_zero(), clock(0.0), &s, &mut sink);
    played.take(&mut fresh, 0.0);
    let mut playhead = 0.0;
    let mut reported = 0.0;
    while playhead < req.beats {
        // This block's played notes, heard before the engine plans it.
        while let Some(&(beat, on, pitch, velocity)) =
            keys.peek().filter(|k| k.0 < playhead + BLOCK_BEATS)
        {
            keys.next();
            let msg = ToEngine::Played {
                beat: beat.max(playhead),
                pitch,
                velocity,
                on,
            };
            let mut sink = |g: Generated| fresh.push(g);
            gen.on_message(msg, clock(playhead), &s, &mut sink);
            played.take(&mut fresh, playhead);
        }
        loop {
            let mut sink = |g: Generated| fresh.push(g);
            let step = gen.step(clock(playhead), &s, &mut sink)?;
            played.take(&mut fresh, playhead);
            if step == Step::Idle {
                break;
            }
        }
        playhead += BLOCK_BEATS;
        if playhead - reported >= 1.0 {
            reported = playhead;
            progress(playhead.min(req.beats));
        }
    }
    progress(req.beats);
    Ok(pair(&played.events, req.beats, req.max_note_beats))
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
    use crate::engine::backend::fake::FakeBackend;
    use crate::tokenizer::Vocab;

    /// 16 beats of a uniform "model" in the range 60..=75, with `against` played along.
    fn sketch(against: &[BeatNote]) -> Vec<BeatNote> {
        let v = Vocab::DEFAULT;
        let backend = FakeBackend::new(v, 128);
        let model = ModelInfo {
            vocab: v,
            ticks_per_beat: 24,
            n_styles: 5,
            roles: vec!["free".into()],
            style_roles: Vec::new(),
            alone: false,
            hears_chords: false,
        };
        let req = Request {
            settings: Settings {
                seed: 3,
                low: 60,
                high: 75,
                density: 1.0,
                ..Settings::default()
            },
            beats: 16.0,
            tempo: 120.0,
            beats_per_bar: 4.0,
            prompt: Vec::new(),
            against: against.to_vec(),
            max_note_beats: 8.0,
            chords: None,
        };
        generate(backend, model, &req, |_| {}).unwrap()
    }

    #[test]
    fn a_part_played_against_is_heard_and_its_held_keys_are_never_cadenzas() {
        // The player holds every key from 60 to 71 for two bars: of Cadenza's range only 72..=75
        // is free then.
        let part: Vec<BeatNote> = (60..72)
            .map(|pitch| BeatNote {
                beat: 0.0,
                length: 8.0,
                pitch,
                velocity: 90,
            })
            .collect();
        let with = sketch(&part);
        assert_eq!(
            with,
            sketch(&part),
            "the same part and seed give the same notes"
        );
        let (held, after): (Vec<&BeatNote>, Vec<&BeatNote>) =
            with.iter().partition(|n| n.beat < 8.0);
        assert!(held.len() >= 2 && !after.is_empty(), "{with:?}");
        assert!(
            held.iter().all(|n| n.pitch >= 72),
            "Cadenza struck a key the player held: {held:?}"
        );
        assert!(
            after.iter().any(|n| n.pitch < 72),
            "the keys are Cadenza's again"
        );
        // Alone, the same seed plays those keys from the start.
        assert!(sketch(&[]).iter().any(|n| n.beat < 8.0 && n.pitch < 72));
    }

    #[test]
    fn a_newer_plan_drops_what_an_older_one_planned_and_was_not_played() {
        let mut played = Played::default();
        let at = |plan: u32, beat: f64, pitch: u8| Generated {
            plan,
            ..g(beat, pitch, true)
        };
        let mut fresh = vec![at(0, 1.0, 60), at(0, 2.0, 62), at(0, 3.0, 64)];
        played.take(&mut fresh, 0.0);
        // Plan 1 arrives with the audio side at beat 2: 62 and 64 were not played yet.
        let mut fresh = vec![Generated::plan_mark(1, 1, 2.0), at(1, 2.5, 67)];
        played.take(&mut fresh, 2.0);
        let kept: Vec<(u32, u8)> = played.events.iter().map(|e| (e.plan, e.pitch)).collect();
        assert_eq!(kept, [(0, 60), (1, 67)]);
        assert!(fresh.is_empty());
    }

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
