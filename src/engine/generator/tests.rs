//! The generator through its public face and its parts together: planning, withdrawing, hearing
//! the player, the cache window, the modes, determinism.

use super::*;
use crate::features::{held_after, phase_of, Features};
use crate::settings::{Dynamics, Role, Scale};

use crate::engine::backend::fake::FakeBackend;

/// The tests' backend with logits that depend on the whole cache.
fn fake(vocab: Vocab, window: usize) -> FakeBackend {
    FakeBackend::new(vocab, window).of_cache()
}

const S: Settings = Settings {
    mode: Mode::Duet,
    role: Role::Free,
    style: 2,
    temperature: 1.0,
    top_p: 1.0,
    lookahead_beats: 2.0,
    scale: Scale::Off,
    key: 0,
    low: 0,
    high: 127,
    density: 0.0,
    dynamics: Dynamics::FollowPlayer,
    velocity: 0.75,
    accent: 0.0,
    max_polyphony: 128,
    answer_bars: 1,
    listen_gap_beats: 1.0,
    answer_start: AnswerStart::NextBeat,
    seed: 1,
    reset_on_jump: false,
    capture_bars: 4,
    follow_chords: 0.5,
    remember_chords: true,
};

fn gen(window: usize) -> Generator<FakeBackend> {
    let v = Vocab::DEFAULT;
    Generator::new(fake(v, window), v, 24, 5)
}

/// A generator whose model plays free, melody and bass in every style.
fn gen_playing_every_role(window: usize) -> Generator<FakeBackend> {
    let mut g = gen(window);
    let roles = ["free", "melody", "bass"].map(String::from);
    g.set_roles(&roles, (0..5).map(|_| roles.to_vec()).collect());
    g
}

fn at(beat: f64) -> PlayClock {
    PlayClock::at(beat, 120.0)
}

fn resync(beat: f64, playing: bool, epoch: u32) -> ToEngine {
    ToEngine::Resync {
        beat,
        playing,
        epoch,
        heard_until: beat,
        jumped: false,
    }
}

fn play(beat: f64, pitch: u8, on: bool) -> ToEngine {
    ToEngine::Played {
        beat,
        pitch,
        velocity: if on { 0.9 } else { 0.0 },
        on,
    }
}

/// Handle a message, collecting what it sends at once. The audio side's block starts on the
/// message's beat (as in a bounce: nothing after it has been played).
fn msg(g: &mut Generator<FakeBackend>, m: ToEngine, s: &Settings) -> Vec<Generated> {
    let beat = match m {
        ToEngine::Played { beat, .. } | ToEngine::Resync { beat, .. } => beat,
    };
    msg_at(g, m, at(beat), s)
}

/// Handle a message with the audio side at `clock`.
fn msg_at(
    g: &mut Generator<FakeBackend>,
    m: ToEngine,
    clock: PlayClock,
    s: &Settings,
) -> Vec<Generated> {
    let mut out = Vec::new();
    g.on_message(m, clock, s, &mut |x| out.push(x));
    out
}

/// Step until the plan reaches the lookahead; collect the notes. After every token: it was
/// drawn from the logits of the cache as it is (never those of a cache since cut or swapped).
fn fill(g: &mut Generator<FakeBackend>, playhead: f64, s: &Settings) -> Vec<Generated> {
    let mut out = Vec::new();
    let mut n = 0;
    while g
        .step(at(playhead), s, &mut |x| out.push(x))
        .unwrap()
        .planned()
    {
        assert_eq!(
            g.window.logits,
            g.window.backend.logits_of(&g.window.backend.cache),
            "token {n}: drawn from the logits of the cache as it is"
        );
        n += 1;
        assert!(n < 10_000, "the plan never reached the lookahead");
    }
    out
}

/// Walk the playhead from `from` to `to` in quarter beats, filling the plan each time.
fn roll(g: &mut Generator<FakeBackend>, from: f64, to: f64, s: &Settings) -> Vec<Generated> {
    let mut out = Vec::new();
    let mut b = from;
    while b < to {
        out.extend(fill(g, b, s));
        b += 0.25;
    }
    out
}

#[test]
fn nothing_happens_before_the_first_resync_or_while_stopped_and_idle() {
    let mut g = gen(64);
    assert!(!g
        .step(at(0.0), &S, &mut |_| panic!("no notes before a resync"))
        .unwrap()
        .planned());
    msg(&mut g, resync(0.0, false, 1), &S);
    assert!(!g
        .step(at(0.0), &S, &mut |_| panic!("stopped and nobody played"))
        .unwrap()
        .planned());
    msg(&mut g, play(0.1, 60, true), &S);
    assert!(
        g.step(at(0.1), &S, &mut |_| {}).unwrap().planned(),
        "the player played: answer even while stopped"
    );
}

#[test]
fn a_transport_stop_silences_until_the_player_plays_again() {
    let mut g = gen(64);
    msg(&mut g, resync(0.0, true, 1), &S);
    msg(&mut g, play(0.5, 60, true), &S);
    fill(&mut g, 1.0, &S);
    msg(&mut g, resync(1.0, false, 2), &S);
    assert!(!g
        .step(at(1.0), &S, &mut |_| panic!("nothing after a stop"))
        .unwrap()
        .planned());
    msg(&mut g, play(1.5, 62, true), &S);
    assert!(
        g.step(at(1.5), &S, &mut |_| {}).unwrap().planned(),
        "a note played while stopped starts a jam"
    );
}

#[test]
fn plans_ahead_on_the_tick_grid_with_the_resync_epoch_up_to_the_lookahead() {
    for look in [0.5, 2.0, 6.0] {
        let s = Settings {
            lookahead_beats: look,
            ..S
        };
        let mut g = gen(64);
        msg(&mut g, resync(3.01, true, 7), &s);
        let notes = fill(&mut g, 3.01, &s);
        assert!(
            g.cursor() >= 3.01 + look && g.cursor() < 3.01 + look + 2.1,
            "lookahead {look}: cursor {}",
            g.cursor()
        );
        for n in &notes {
            assert_eq!((n.epoch, n.plan), (7, 0));
            assert!(
                n.beat >= 3.01 + RESYNC_SECONDS * 2.0 - 1e-9,
                "never sooner than the reaction lead: {n:?}"
            );
            let ticks = n.beat * 24.0;
            assert!((ticks - ticks.round()).abs() < 1e-6, "on the grid: {n:?}");
        }
    }
}

#[test]
fn a_played_note_withdraws_the_plan_after_it_and_the_cache_is_cut_not_rebuilt() {
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &S);
    fill(
        &mut g,
        0.0,
        &Settings {
            lookahead_beats: 4.0,
            ..S
        },
    );
    assert!(g.cursor() >= 4.0);
    assert!(
        g.timeline.ctx[0].beat < 1.5,
        "a plan with something before the note to keep"
    );
    let resets = g.window.backend.resets;
    msg(&mut g, play(1.5, 64, true), &S);
    assert!(
        (g.cursor() - 1.5).abs() < 1e-9,
        "context ends at the played note"
    );
    assert!(g.timeline.ctx.last().unwrap().player);
    let notes = fill(&mut g, 1.5, &S);
    assert_eq!(
        g.window.backend.resets, resets,
        "no prefill: the cache was truncated"
    );
    assert!(g.window.backend.truncations >= 1);
    assert!(!notes.is_empty());
    for n in &notes {
        assert_eq!(n.plan, 1, "a new plan");
        assert!(
            n.beat >= 1.5 + REACTION_SECONDS * 2.0 - 1e-9,
            "after the lead: {n:?}"
        );
        if n.on {
            assert!(
                (n.velocity - 0.9).abs() < 1e-6,
                "dynamics follow the player"
            );
            assert_ne!(n.pitch, 64, "never a note-on on a key the player holds");
        }
    }
}

#[test]
fn a_cut_keeps_the_cache_to_the_cut_and_the_next_feed_brings_fresh_logits() {
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &S);
    fill(
        &mut g,
        0.0,
        &Settings {
            lookahead_beats: 8.0,
            ..S
        },
    );
    g.window.sync(&g.timeline).unwrap();
    let len = g.context_len();
    assert!(len > 8, "a plan to cut: {len}");
    let (resets, fed) = (g.window.backend.resets, g.window.backend.cache.len());
    // A cut that leaves nothing new to feed: the cache ends on a token whose logits were
    // overwritten since, so that token is fed again.
    let beat = g.timeline.ctx[len / 2].beat;
    assert!(g.truncate_after(beat));
    let kept = g.context_len();
    g.window.sync(&g.timeline).unwrap();
    assert_eq!(g.window.backend.resets, resets, "cut, not rebuilt");
    assert_eq!(
        g.window.backend.cache.len(),
        1 + kept,
        "[STYLE] + the context up to the cut"
    );
    assert!(g.window.backend.cache.len() < fed);
    assert_eq!(
        g.window.logits,
        g.window.backend.logits_of(&g.window.backend.cache)
    );
    // A cut followed by new tokens feeds only those.
    let beat = g.timeline.ctx[kept / 2].beat;
    g.truncate_after(beat);
    let kept = g.context_len();
    g.push(Vocab::DEFAULT.note_on_base + 70);
    let truncations = g.window.backend.truncations;
    g.window.sync(&g.timeline).unwrap();
    assert_eq!(
        g.window.backend.truncations, truncations,
        "no second cut for the logits"
    );
    assert_eq!(g.window.backend.cache.len(), 2 + kept);
    assert_eq!(
        g.window.logits,
        g.window.backend.logits_of(&g.window.backend.cache)
    );
}

/// The audio side as the scheduler keeps it: notes wait until the audio passes them, and a
/// newer plan drops the older plans' waiting notes.
#[derive(Default)]
struct Audio {
    plan: u32,
    pending: Vec<Generated>,
    sounded: Vec<Generated>,
}

impl Audio {
    fn take(&mut self, notes: impl IntoIterator<Item = Generated>) {
        for n in notes {
            if n.plan < self.plan {
                continue;
            }
            if n.plan > self.plan {
                self.plan = n.plan;
                self.pending.clear();
            }
            if !n.is_plan_mark() {
                self.pending.push(n);
            }
        }
    }

    /// The audio plays everything before `beat`.
    fn play_to(&mut self, beat: f64) {
        let (now, later): (Vec<Generated>, Vec<Generated>) =
            self.pending.iter().partition(|n| n.beat < beat - 1e-9);
        self.sounded.extend(now);
        self.pending = later;
    }

    fn finish(mut self) -> Vec<Generated> {
        self.sounded.append(&mut self.pending);
        self.sounded
    }
}

#[test]
fn same_seed_and_input_give_the_same_notes_however_far_the_engine_had_planned() {
    // Two runs with the same seed and the same played notes; in one the engine has planned four
    // beats ahead when each played note arrives, in the other half a beat. The audio side
    // plays blocks of an eighth of a beat and hears the player's notes in them, as in a bounce.
    let played = [(1.0, 60u8), (2.25, 64), (4.5, 67), (7.0, 62), (9.75, 65)];
    let mut events: Vec<(f64, u8, bool)> = played
        .iter()
        .flat_map(|&(b, p)| [(b, p, true), (b + 0.1, p, false)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let run = |lookahead: f64, seed: u32| {
        let s = Settings {
            seed,
            lookahead_beats: lookahead,
            ..S
        };
        let mut g = gen(48);
        let mut audio = Audio::default();
        msg(&mut g, resync(0.0, true, 1), &s);
        let mut b = 0.0;
        let mut next = 0;
        while b < 12.0 {
            audio.take(fill(&mut g, b, &s));
            b += 0.125;
            audio.play_to(b);
            while next < events.len() && events[next].0 < b {
                let (beat, p, on) = events[next];
                audio.take(msg_at(&mut g, play(beat, p, on), at(b), &s));
                next += 1;
            }
        }
        audio.take(fill(&mut g, b, &s));
        audio
            .finish()
            .iter()
            .filter(|n| n.beat < 11.0)
            .map(|n| (n.beat.to_bits(), n.pitch, n.on))
            .collect::<Vec<_>>()
    };
    let a = run(4.0, 5);
    // Every played note and every release heard late withdraws the plan: what sounds is what
    // was planned between them.
    assert!(a.len() > 5, "enough notes to compare: {}", a.len());
    assert_eq!(a, run(0.5, 5), "same seed, same input, same notes");
    assert_ne!(a, run(4.0, 6), "another seed, another take");
}

/// The player's tokens in the context: (tick, token).
fn heard(g: &Generator<FakeBackend>) -> Vec<(i64, u32)> {
    g.timeline
        .ctx
        .iter()
        .filter(|c| c.player)
        .map(|c| ((c.beat * 24.0).round() as i64, c.token))
        .collect()
}

#[test]
fn the_lead_is_a_mask_the_models_own_rest_reaches_it_and_nothing_is_written_for_it() {
    let v = Vocab::DEFAULT;
    // A model that wants a note at once, else a rest.
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &S);
    msg(&mut g, play(1.0, 64, true), &S);
    g.window.backend.favor = Some(v.note_on_base + 60);
    g.take_mask_stats();
    let before = g.context_len();
    let mut out = Vec::new();
    g.step(at(1.0), &S, &mut |n| out.push(n)).unwrap().planned();
    // The lead after a played note is 30 ms (0.06 beat, 1.44 ticks at 120 BPM): the note is
    // refused, and the one token written is a shift the model drew, reaching past the lead.
    assert_eq!(
        g.context_len(),
        before + 1,
        "one token: the model's own rest"
    );
    match v.decode(g.timeline.ctx[before].token) {
        Some(Event::Shift(k)) => assert!(k >= 2, "a shift of {k} ticks lands before the lead"),
        e => panic!("the first token is {e:?}"),
    }
    let m = g.take_mask_stats();
    assert_eq!((m.steps, m.over_fifth_floor), (1, 1), "{m:?}");
    // The response is decided once the rest passes the floor's tick (2 ticks), or a note is
    // struck: here the next step's note.
    let past = g.cursor() > 1.0 + 2.5 / 24.0;
    let mut reactions = g.take_reactions();
    assert_eq!(reactions, u64::from(past), "at {}", g.cursor());
    g.step(at(1.0), &S, &mut |n| out.push(n)).unwrap().planned();
    assert!(
        out.iter().any(|n| n.on && n.pitch == 60 && n.beat >= 1.06),
        "{out:?}"
    );
    reactions += g.take_reactions();
    assert_eq!(reactions, 1, "decided once, by the rest or the note");
    for _ in 0..8 {
        g.step(at(1.0), &S, &mut |_| {}).unwrap().planned();
    }
    assert_eq!(
        g.take_reactions(),
        0,
        "what comes after is planning, not a response"
    );
    // A call is answered after its gap: its response is the withdrawal, not a decision.
    let cr = Settings {
        mode: Mode::CallResponse,
        ..S
    };
    msg(&mut g, play(2.0, 62, true), &cr);
    msg(&mut g, play(2.5, 62, false), &cr);
    fill(&mut g, 8.0, &cr);
    assert_eq!(g.take_reactions(), 0);
}

#[test]
fn a_start_with_nothing_heard_begins_the_timeline_where_cadenza_may_first_play() {
    let v = Vocab::DEFAULT;
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &S);
    g.window.backend.favor = Some(v.note_on_base + 60);
    g.take_mask_stats();
    let mut out = Vec::new();
    g.step(at(0.0), &S, &mut |n| out.push(n)).unwrap().planned();
    // The start's lead is 0.1 s (4.8 ticks at 120 BPM): the timeline begins on the first beat
    // after it, and the model's first token is its own note there, nothing refused, no rest
    // written; its phase is the beat's.
    assert_eq!(g.timeline.ctx[0].token, v.note_on_base + 60);
    assert_eq!(out[0].beat, 1.0);
    assert_eq!(g.take_mask_stats().over_fifth, 0);
    assert_eq!(
        g.window.backend.feats[0].phase, 0,
        "the style token's phase"
    );
    // A start between beats, or whose lead crosses a beat, begins on the next beat after the lead.
    for (start, tempo, first) in [(2.5, 120.0, 3.0), (2.9, 120.0, 4.0), (3.0, 30.0, 4.0)] {
        let mut g = gen(128);
        let mut clock = at(start);
        clock.tempo = tempo;
        g.on_message(resync(start, true, 1), clock, &S, &mut |_| {});
        g.window.backend.favor = Some(v.note_on_base + 60);
        let mut out = Vec::new();
        g.step(clock, &S, &mut |n| out.push(n)).unwrap().planned();
        assert_eq!(out[0].beat, first, "start {start} at {tempo} BPM");
    }
    // Offline, no lead: a sketch begins on the start's own beat (or the next, between beats).
    for (start, first) in [(0.0, 0.0), (2.5, 3.0)] {
        let mut g = gen(128);
        g.set_offline();
        msg(&mut g, resync(start, true, 1), &S);
        g.window.backend.favor = Some(v.note_on_base + 60);
        let mut out = Vec::new();
        g.step(at(start), &S, &mut |n| out.push(n))
            .unwrap()
            .planned();
        assert_eq!(out[0].beat, first, "offline start {start}");
    }
    // A player's note before that tick starts the timeline where it is heard.
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &S);
    msg(&mut g, play(0.0, 62, true), &S);
    assert_eq!(
        (g.timeline.ctx[0].beat, g.timeline.ctx[0].player),
        (0.0, true)
    );
}

#[test]
fn nothing_is_planned_into_a_block_the_host_already_played() {
    // Real time with long blocks: the note comes in a block that ends 0.4 beat after it, longer
    // than the lead; the answer starts at the block's end at the soonest, and what Cadenza
    // planned in the block stays (it was played).
    let s = Settings {
        lookahead_beats: 4.0,
        ..S
    };
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &s);
    fill(&mut g, 0.0, &s);
    let block = PlayClock {
        open_from: 1.4,
        ..at(1.0)
    };
    let kept: Vec<Ctx> = g
        .timeline
        .ctx
        .iter()
        .filter(|c| c.beat < 1.4 - 1e-9)
        .copied()
        .collect();
    msg_at(&mut g, play(1.0, 64, true), block, &s);
    let ours: Vec<Ctx> = g
        .timeline
        .ctx
        .iter()
        .filter(|c| !c.player)
        .copied()
        .collect();
    let shift = |c: &Ctx| matches!(Vocab::DEFAULT.decode(c.token), Some(Event::Shift(_)));
    let notes = |cs: &[Ctx]| {
        cs.iter()
            .filter(|c| !shift(c))
            .map(|c| (c.token, c.beat.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        notes(&ours),
        notes(&kept),
        "Cadenza's played notes stay, in order, around the player's"
    );
    let mut out = Vec::new();
    while g.step(block, &s, &mut |n| out.push(n)).unwrap().planned() {}
    let new: Vec<&Generated> = out.iter().filter(|n| !n.is_plan_mark()).collect();
    assert!(!new.is_empty());
    for n in new {
        assert!(n.beat >= 1.4 - 1e-9, "planned into the played block: {n:?}");
    }
}

#[test]
fn a_release_is_heard_on_the_next_onset_when_it_comes_soon_and_on_the_grid_when_not() {
    let v = Vocab::DEFAULT;
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &S);
    // A quarter note played at 55% of its length, then the next on the beat, 20 ms late.
    msg(&mut g, play(0.0, 60, true), &S);
    msg(&mut g, play(0.55, 60, false), &S);
    msg(&mut g, play(1.04, 62, true), &S);
    assert_eq!(
        heard(&g),
        [
            (0, v.note_on_base + 60),
            (24, v.note_off_base + 60),
            (24, v.note_on_base + 62)
        ],
        "legato, on the grid"
    );
    // Released into a rest: heard on its grid point once the next onset is overdue.
    msg(&mut g, play(1.52, 62, false), &S);
    fill(&mut g, 2.5, &S);
    assert_eq!(heard(&g)[3], (36, v.note_off_base + 62));
}

#[test]
fn a_note_played_early_keeps_cadenzas_note_on_the_beat_it_is_heard_on() {
    let v = Vocab::DEFAULT;
    // Cadenza planned a note on beat 1 and on; the player plays 30 ms early (at 120 BPM, 0.06
    // beat), in a block that ends before beat 1.
    let context = |played: f64, block_end: f64| {
        let mut g = gen(128);
        msg(&mut g, resync(0.0, true, 1), &S);
        // A context built by hand from beat 0.
        g.timeline.cursor = 0.0;
        for t in [
            v.shift_base + 23,
            v.note_on_base + 72,
            v.shift_base + 11,
            v.note_off_base + 72,
        ] {
            g.push(t);
        }
        let clock = PlayClock {
            open_from: block_end,
            ..at(played)
        };
        let out = msg_at(&mut g, play(played, 60, true), clock, &S);
        let ctx: Vec<(u32, bool)> = g.timeline.ctx.iter().map(|c| (c.token, c.player)).collect();
        (ctx, out)
    };
    let (on_time, _) = context(1.0, 1.01);
    let (early, sent) = context(0.94, 0.96);
    assert_eq!(
        &on_time[..3],
        &[
            (v.shift_base + 23, false),
            (v.note_on_base + 72, false),
            (v.note_on_base + 60, true)
        ]
    );
    assert_eq!(
        early[..3],
        on_time[..3],
        "the early note is heard on the beat, after Cadenza's"
    );
    assert!(
        sent.iter()
            .any(|n| n.on && n.pitch == 72 && n.beat == 1.0 && n.plan == 1),
        "Cadenza's note, not yet played, goes to the audio side again under the new plan: {sent:?}"
    );
}

#[test]
fn humanized_playing_is_heard_as_the_quantized_line() {
    // The same line quantized and legato, and humanized: onsets up to 30 ms off (0.06 beat at
    // 120 BPM), lengths 50-100%. The context hears the same notes at the same ticks.
    let line = [
        (0.0, 1.0, 60u8),
        (1.0, 1.0, 62),
        (2.0, 0.5, 64),
        (2.5, 0.5, 65),
        (3.0, 2.0, 67),
    ];
    let jitter: [f64; 5] = [0.05, -0.04, 0.03, -0.06, 0.02];
    let length: [f64; 5] = [0.5, 0.9, 0.6, 1.0, 0.7];
    let context = |human: bool| {
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &S);
        let mut events = Vec::new();
        for (i, &(b, l, p)) in line.iter().enumerate() {
            let (on, len) = if human {
                (b + jitter[i], l * length[i])
            } else {
                (b, l)
            };
            events.push((on.max(0.0), p, true));
            events.push((on.max(0.0) + len, p, false));
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (b, p, on) in events {
            fill(&mut g, b, &S);
            msg(&mut g, play(b, p, on), &S);
        }
        fill(&mut g, 7.0, &S);
        heard(&g)
    };
    let (quantized, human) = (context(false), context(true));
    assert_eq!(quantized.len(), 10);
    assert_eq!(human[..9], quantized[..9]);
    // The last release goes into silence: no next note says the half note was meant whole, so
    // it is heard where it was let go, on the grid (4.42 -> 4.5).
    assert_eq!(human[9], (108, Vocab::DEFAULT.note_off_base + 67));
}

#[test]
fn a_jump_back_keeps_the_played_music_and_drops_the_unplayed_plan() {
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &S);
    roll(&mut g, 0.0, 10.0, &S);
    assert!(g.cursor() > 11.0);
    let m = ToEngine::Resync {
        beat: 0.0,
        playing: true,
        epoch: 2,
        heard_until: 10.0,
        jumped: true,
    };
    msg(&mut g, m, &S);
    assert_eq!(g.cursor(), 0.0, "time restarts at the loop start");
    assert!(
        g.context_len() > 10,
        "the music played so far is still context"
    );
    assert!(
        g.timeline.ctx.iter().all(|c| c.beat <= 1e-9),
        "context beats rebased onto the new timeline"
    );
    let notes = fill(
        &mut g,
        0.0,
        &Settings {
            lookahead_beats: 8.0,
            ..S
        },
    );
    assert!(notes.iter().all(|n| n.epoch == 2 && n.beat >= 0.0));
    assert!(notes.iter().any(|n| n.on));
    // With "reset on jump" the context goes.
    msg(
        &mut g,
        ToEngine::Resync {
            beat: 0.0,
            playing: true,
            epoch: 3,
            heard_until: 0.5,
            jumped: true,
        },
        &Settings {
            reset_on_jump: true,
            ..S
        },
    );
    assert_eq!(g.context_len(), 0);
}

#[test]
fn after_a_played_note_the_first_answer_note_is_planned_at_once_even_past_the_lookahead() {
    let v = Vocab::DEFAULT;
    let s = Settings {
        lookahead_beats: 1.0,
        ..S
    };
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &s);
    // A plan from the first beat (where the timeline begins) to the lookahead.
    fill(&mut g, 0.75, &s);
    assert!(g.context_len() > 0, "something planned to withdraw");
    msg(&mut g, play(1.5, 64, true), &s);
    // The "model" rests two 2-beat shifts after the played note, then plays freely.
    g.window.backend.favor = Some(v.shift_base + v.max_shift - 1);
    let mut notes = Vec::new();
    assert!(g
        .step(at(1.5), &s, &mut |n| notes.push(n))
        .unwrap()
        .planned());
    g.window.backend.favor_until = g.window.backend.cache.len() + 2;
    notes.extend(fill(&mut g, 1.5, &s));
    let first = notes
        .iter()
        .find(|n| n.on)
        .expect("the answer's first note, planned at once");
    assert_eq!(first.plan, 1);
    assert!(
        first.beat > 1.5 + 4.0 - 1e-9,
        "past the 1-beat lookahead, after the rest: {first:?}"
    );
    assert!(
        (g.cursor() - first.beat).abs() < 1e-9,
        "and no further: the plan stops at its first note ({} vs {first:?})",
        g.cursor()
    );
    assert!(notes.iter().all(|n| n.on || n.beat <= first.beat));

    // A model that keeps resting is followed only up to the reach, then waits for the playhead.
    msg(&mut g, play(first.beat - 0.5, 65, true), &s);
    g.window.backend.favor_until = usize::MAX;
    let notes = fill(&mut g, first.beat - 0.5, &s);
    assert!(notes.iter().all(|n| !n.on), "{notes:?}");
    let reach = first.beat - 0.5 + ANSWER_REACH_BEATS;
    assert!(
        g.cursor() >= reach && g.cursor() < reach + 2.0 + 1e-9,
        "cursor {} for a reach of {reach}",
        g.cursor()
    );
    assert!(
        fill(&mut g, first.beat, &s).is_empty(),
        "nothing more until the playhead nears"
    );
    assert!(!g.step(at(first.beat), &s, &mut |_| {}).unwrap().planned());
}

#[test]
fn a_reanchor_ends_our_notes_whose_start_leaves_the_window_but_not_the_players() {
    let v = Vocab::DEFAULT;
    let mut g = gen(32);
    msg(&mut g, resync(0.0, true, 1), &S);
    msg(&mut g, play(0.1, 50, true), &S); // held on
    g.window.backend.favor = Some(v.note_on_base + 60);
    let mut out = Vec::new();
    // The lead after the played note is a mask: the model's own rest reaches it, then the note.
    for _ in 0..4 {
        g.step(at(0.1), &S, &mut |n| out.push(n)).unwrap().planned();
    }
    assert!(out.iter().any(|n| n.on && n.pitch == 60), "{out:?}");
    g.window.backend.favor = Some(v.shift_base); // then only one-tick rests
    for i in 0..400 {
        g.step(at(0.1 + f64::from(i) * 0.01), &S, &mut |n| out.push(n))
            .unwrap()
            .planned();
    }
    assert!(g.window.backend.resets > 1, "re-anchored");
    let off = out
        .iter()
        .find(|n| !n.on && n.pitch == 60)
        .expect("Cadenza ended its own note");
    assert!(off.beat < 4.0, "well before the 8-beat safety net: {off:?}");
    assert!(
        !out.iter().any(|n| !n.on && n.pitch == 50),
        "never ends the player's held note"
    );
}

#[test]
fn note_offs_only_for_open_notes_and_never_more_voices_than_allowed() {
    let s = Settings {
        max_polyphony: 3,
        density: 1.0,
        ..S
    };
    let mut g = gen(512);
    msg(&mut g, resync(0.0, true, 1), &s);
    let mut open = [false; 128];
    let mut ons = 0;
    for n in roll(&mut g, 0.0, 50.0, &s) {
        if n.on {
            assert!(
                !open[n.pitch as usize],
                "note-on on an open key {}",
                n.pitch
            );
            ons += 1;
        } else {
            assert!(
                open[n.pitch as usize],
                "note-off for a key that is not sounding {}",
                n.pitch
            );
        }
        open[n.pitch as usize] = n.on;
        assert!(open.iter().filter(|o| **o).count() <= 3, "polyphony limit");
    }
    assert!(ons >= 3, "reached the limit: {ons}");
}

#[test]
fn no_generated_note_ends_on_the_tick_it_began() {
    let s = Settings { density: 1.0, ..S };
    for seed in 1..4 {
        let s = Settings { seed, ..s };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &s);
        let mut began = [f64::NAN; 128];
        let mut notes = 0;
        for n in roll(&mut g, 0.0, 40.0, &s) {
            if n.on {
                began[n.pitch as usize] = n.beat;
            } else {
                let b = began[n.pitch as usize];
                assert!(
                    n.beat > b + 1e-9,
                    "seed {seed}: key {} ended at {} where it began",
                    n.pitch,
                    n.beat
                );
                notes += 1;
            }
        }
        assert!(notes > 20, "seed {seed}: enough notes ended: {notes}");
    }
}

#[test]
fn scale_lock_and_range_hold_for_every_generated_note() {
    let s = Settings {
        scale: Scale::Dorian,
        key: 2,
        low: 55,
        high: 72,
        density: 1.0,
        ..S
    };
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &s);
    let ons: Vec<u8> = roll(&mut g, 0.0, 40.0, &s)
        .iter()
        .filter(|n| n.on)
        .map(|n| n.pitch)
        .collect();
    assert!(ons.len() > 8, "{ons:?}");
    let classes = Scale::Dorian.pitch_classes(2);
    for p in &ons {
        assert!(
            classes & (1 << (p % 12)) != 0 && (55..=72).contains(p),
            "{p} outside D dorian 55..72"
        );
    }
    // Follow the player: only the pitch classes they used.
    let f = Settings {
        scale: Scale::FollowPlayer,
        ..s
    };
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &f);
    for (i, p) in [60u8, 62, 67].iter().enumerate() {
        msg(&mut g, play(i as f64 * 0.25, *p, true), &f);
        msg(&mut g, play(i as f64 * 0.25 + 0.2, *p, false), &f);
    }
    let ons: Vec<u8> = roll(&mut g, 1.0, 30.0, &f)
        .iter()
        .filter(|n| n.on)
        .map(|n| n.pitch)
        .collect();
    assert!(ons.len() >= 4, "{ons:?}");
    assert!(ons.iter().all(|p| [0, 2, 7].contains(&(p % 12))), "{ons:?}");
}

#[test]
fn density_changes_how_many_notes_start() {
    let count = |density: f32| {
        let s = Settings { density, ..S };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &s);
        roll(&mut g, 0.0, 30.0, &s).iter().filter(|n| n.on).count()
    };
    let (sparse, dense) = (count(-1.0), count(1.0));
    assert!(
        dense > 2 * sparse.max(1),
        "dense {dense} vs sparse {sparse}"
    );
}

#[test]
fn accents_make_the_downbeat_loudest_and_fixed_dynamics_ignore_the_player() {
    let s = Settings {
        dynamics: Dynamics::Fixed,
        velocity: 0.5,
        accent: 1.0,
        ..S
    };
    let g = gen(64);
    assert!((g.velocity_at(4.0, &s) - 0.65).abs() < 1e-6);
    assert!((g.velocity_at(5.0, &s) - 0.55).abs() < 1e-6);
    assert!((g.velocity_at(5.5, &s) - 0.45).abs() < 1e-6);
}

#[test]
fn a_chord_call_is_heard_whole_and_every_key_of_it_let_go() {
    // Each note of a call withdraws the answer from its beat; the chord's other notes, heard on
    // that beat, are the player's and stay (they once cut each other out of the context, so the
    // model heard one note of every chord and no release of the others).
    let v = Vocab::DEFAULT;
    let s = Settings {
        mode: Mode::CallResponse,
        listen_gap_beats: 0.5,
        answer_bars: 1,
        ..S
    };
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &s);
    for (beat, p) in [(0.0, 60), (0.0, 64), (0.0, 67), (0.02, 72)] {
        msg(&mut g, play(beat, p, true), &s);
    }
    for (beat, p) in [(1.9, 60), (1.95, 64), (2.0, 67), (2.0, 72)] {
        msg(&mut g, play(beat, p, false), &s);
    }
    roll(&mut g, 2.0, 8.0, &s);
    let theirs = heard(&g);
    for p in [60u32, 64, 67, 72] {
        assert!(
            theirs.contains(&(0, v.note_on_base + p)),
            "{p} not heard: {theirs:?}"
        );
        assert!(
            theirs
                .iter()
                .any(|&(t, k)| k == v.note_off_base + p && t == 48),
            "{p} not let go on beat 2: {theirs:?}"
        );
    }
    assert_eq!(
        g.timeline.open_notes().theirs,
        0,
        "a key the player let go of is open"
    );
}

#[test]
fn call_and_response_answers_after_the_gap_for_its_bars_and_a_new_call_cuts_it() {
    let s = Settings {
        mode: Mode::CallResponse,
        listen_gap_beats: 1.0,
        answer_bars: 1,
        density: 1.0,
        ..S
    };
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &s);
    // Held key: nothing.
    msg(&mut g, play(0.0, 60, true), &s);
    assert!(
        fill(&mut g, 0.0, &s).is_empty(),
        "no answer while the player holds a key"
    );
    msg(&mut g, play(1.3, 60, false), &s);
    // Released at 1.3: the answer waits 1 beat (2.3) and starts on the next beat (3.0), one bar.
    let notes: Vec<Generated> = roll(&mut g, 1.3, 8.0, &s)
        .into_iter()
        .filter(|n| !n.is_plan_mark())
        .collect();
    assert!(notes.iter().any(|n| n.on));
    for n in &notes {
        assert!(
            n.beat >= 3.0 - 1e-9,
            "answer before the gap and the grid: {n:?}"
        );
        assert!(n.beat <= 7.0 + 0.5, "answer longer than one bar: {n:?}");
    }
    let mut open = [false; 128];
    for n in &notes {
        open[n.pitch as usize] = n.on;
    }
    assert!(open.iter().all(|o| !o), "every answer note ended");
    // A new call in the middle of the next answer ends what sounds at once.
    let mut audio = Audio::default();
    audio.take(msg(&mut g, play(8.0, 62, true), &s));
    audio.take(msg(&mut g, play(8.2, 62, false), &s));
    audio.take(roll(&mut g, 8.2, 10.5, &s));
    audio.play_to(10.5);
    let sounding: Vec<u8> = {
        let mut o = [false; 128];
        for n in &audio.sounded {
            o[n.pitch as usize] = n.on;
        }
        (0..128u8).filter(|p| o[*p as usize]).collect()
    };
    assert!(!sounding.is_empty(), "an answer sounds when the call comes");
    let cut = msg(&mut g, play(10.5, 64, true), &s);
    for p in &sounding {
        assert!(
            cut.iter()
                .any(|n| !n.on && n.pitch == *p && (n.beat - 10.5).abs() < 1e-9),
            "{p} not cut at the call"
        );
    }
    assert!(
        fill(&mut g, 10.5, &s).is_empty(),
        "silent while the player holds the new call"
    );
}

#[test]
fn no_answer_note_starts_on_the_bar_line_that_ends_the_answer() {
    // The cursor sums 1/24-beat shifts in floating point; with some seeds it reaches the end of
    // the answer a hair early, and a note-on there would sound in the bar after the answer
    // (seed 688 lands at 6.999999999999999 and plays a note there without the half-tick rule).
    let mut ons = 0;
    for seed in 640..=720 {
        let s = Settings {
            mode: Mode::CallResponse,
            answer_bars: 1,
            density: 1.0,
            seed,
            ..S
        };
        let mut g = gen(256);
        msg(&mut g, resync(0.0, true, 1), &s);
        msg(&mut g, play(0.0, 60, true), &s);
        msg(&mut g, play(1.3, 60, false), &s);
        // Answer: beats 3..7.
        for n in roll(&mut g, 1.3, 9.0, &s).iter().filter(|n| n.on) {
            assert!(
                n.beat < 7.0 - 1e-6,
                "seed {seed}: a note-on at the answer's end: {n:?}"
            );
            ons += 1;
        }
    }
    assert!(ons > 60, "the answers played notes: {ons}");
}

#[test]
fn answers_start_on_the_hosts_bar_lines_in_three_four() {
    let s = Settings {
        mode: Mode::CallResponse,
        listen_gap_beats: 0.5,
        answer_bars: 1,
        answer_start: AnswerStart::NextBar,
        density: 1.0,
        ..S
    };
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &s);
    msg(&mut g, play(0.0, 60, true), &s);
    msg(&mut g, play(1.0, 60, false), &s);
    // 3/4 with bars starting at beat 0.5 (as a host reports after a meter change): the gap ends
    // at 1.5, the next bar line is 3.5, the answer lasts until 6.5.
    let clock = |b: f64| PlayClock {
        bar_origin: 0.5,
        beats_per_bar: 3.0,
        ..PlayClock::at(b, 120.0)
    };
    let mut out = Vec::new();
    let mut b = 1.0;
    g.step(clock(b), &s, &mut |x| out.push(x))
        .unwrap()
        .planned();
    assert_eq!(g.answer_window(&s), Some((3.5, 6.5)));
    while b < 9.0 {
        while g
            .step(clock(b), &s, &mut |x| out.push(x))
            .unwrap()
            .planned()
        {}
        b += 0.25;
    }
    let ons: Vec<f64> = out.iter().filter(|n| n.on).map(|n| n.beat).collect();
    assert!(!ons.is_empty());
    assert!(
        ons.iter().all(|&x| (3.5 - 1e-9..6.5).contains(&x)),
        "{ons:?}"
    );
}

#[test]
fn improvise_ignores_the_players_timing_and_continue_starts_from_the_prompt() {
    let s = Settings {
        mode: Mode::Improvise,
        ..S
    };
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &s);
    fill(&mut g, 0.0, &s);
    let len = g.context_len();
    msg(&mut g, play(0.5, 60, true), &s);
    assert_eq!(
        g.context_len(),
        len,
        "the player's note stays out of a soloist's context"
    );
    assert!(
        fill(&mut g, 0.5, &s).iter().all(|n| n.plan == 0),
        "nothing withdrawn"
    );

    let c = Settings {
        mode: Mode::Continue,
        ..S
    };
    let mut g = gen(128);
    let clip = [
        BeatNote {
            beat: 0.0,
            length: 1.0,
            pitch: 60,
            velocity: 90,
        },
        BeatNote {
            beat: 1.0,
            length: 1.0,
            pitch: 64,
            velocity: 90,
        },
    ];
    g.set_prompt(&clip, false);
    assert_eq!(g.prompt_len(), 6, "on, shift, off, on, shift, off");
    msg(&mut g, resync(8.0, true, 1), &c);
    fill(&mut g, 8.0, &c);
    let v = Vocab::DEFAULT;
    let fed = &g.window.backend.cache;
    assert_eq!(fed[0], v.style_base + 2);
    assert_eq!(
        fed[1..7],
        [
            v.note_on_base + 60,
            v.shift_base + 23,
            v.note_off_base + 60,
            v.note_on_base + 64,
            v.shift_base + 23,
            v.note_off_base + 64
        ]
    );
}

#[test]
fn capture_takes_the_players_last_bars_from_a_bar_line() {
    let mut g = gen(64);
    msg(&mut g, resync(0.0, true, 1), &S);
    for (b, p) in [(1.0, 60u8), (5.5, 62), (9.0, 64)] {
        msg(&mut g, play(b, p, true), &S);
        msg(&mut g, play(b + 0.5, p, false), &S);
    }
    fill(&mut g, 10.0, &S);
    let clip = g.capture_bars(2);
    assert_eq!(clip.len(), 2);
    assert_eq!(
        (clip[0].beat, clip[0].pitch, clip[0].length),
        (1.5, 62, 0.5)
    );
    assert_eq!((clip[1].beat, clip[1].pitch), (5.0, 64));
}

#[test]
fn cadenza_ends_only_its_own_open_notes_never_the_players_and_the_refusal_is_counted() {
    let v = Vocab::DEFAULT;
    let mut g = gen(64);
    msg(&mut g, resync(0.0, true, 1), &S);
    msg(&mut g, play(0.0, 50, true), &S);
    g.take_mask_stats();
    // A model that wants to end a key nobody holds, then the player's key: never written.
    let mut out = Vec::new();
    let mut playhead = 0.0;
    for favor in [55, 50] {
        g.window.backend.favor = Some(v.note_off_base + favor);
        for _ in 0..50 {
            playhead += 0.05;
            g.step(at(playhead), &S, &mut |n| out.push(n))
                .unwrap()
                .planned();
        }
    }
    assert!(
        !out.iter().any(|n| n.pitch == 50 || n.pitch == 55),
        "{out:?}"
    );
    assert!(!g
        .timeline
        .ctx
        .iter()
        .any(|c| c.token == v.note_off_base + 55 || c.token == v.note_off_base + 50 && !c.player));
    let m = g.take_mask_stats();
    assert!(
        m.steps > 0 && m.mean() > 0.9,
        "the refused wish is counted: {m:?}"
    );
    assert!(m.over_fifth_player_key > 0, "{m:?}");
}

#[test]
fn features_count_keys_from_the_cache_start_and_take_the_phase_from_the_host_beat() {
    let v = Vocab::DEFAULT;
    let mut g = gen(32);
    // The transport starts a third of a beat in: the phase is the host's, not a count from zero.
    msg(&mut g, resync(1.0 / 3.0, true, 1), &S);
    let mut checked = 0;
    let mut seen_keys = false;
    let mut phases = std::collections::BTreeSet::new();
    for i in 0..160 {
        let beat = 1.0 / 3.0 + f64::from(i) * 0.25;
        if i % 7 == 3 {
            msg(&mut g, play(beat, 48 + (i % 12) as u8, i % 2 == 1), &S);
        }
        fill(&mut g, beat, &S);
        let (toks, feats) = (&g.window.backend.cache, &g.window.backend.feats);
        assert_eq!(
            feats[0].held | feats[0].player_held,
            0,
            "the style token holds no keys"
        );
        assert_eq!(feats[0].role, Some(0), "the style token carries the role");
        let (mut held, mut theirs) = (0u128, 0u128);
        let mut tick = u64::from(feats[0].phase);
        for (j, (t, f)) in toks.iter().zip(feats).enumerate().skip(1) {
            let c = g.timeline.ctx[g.window.anchor + j - 1];
            assert_eq!(c.token, *t);
            assert_eq!(
                f.phase,
                phase_of(c.beat, 24),
                "the phase of the token's host beat"
            );
            if c.player {
                theirs = held_after(theirs, &v, *t);
            } else {
                held = held_after(held, &v, *t);
            }
            if let Some(Event::Shift(k)) = v.decode(*t) {
                tick += u64::from(k);
            }
            assert_eq!(
                f.held, held,
                "Cadenza's keys counted from the cache's start"
            );
            assert_eq!(f.player_held, theirs, "the player's keys, apart");
            assert_eq!(f.player, c.player);
            assert_eq!(f.role, None);
            assert_eq!(f.phase as u64, tick % 24, "the phase moves with the shifts");
            seen_keys |= theirs != 0;
            phases.insert(f.phase);
            checked += 1;
        }
    }
    assert!(g.window.backend.resets > 2 && g.window.backend.truncations > 0);
    assert!(
        checked > 1000 && seen_keys && phases.len() > 4,
        "{checked} {phases:?}"
    );
}

#[test]
fn idle_work_builds_the_next_window_so_a_reanchor_feeds_a_token_not_half_a_window() {
    // Two engines hear the same notes; one does the idle work between passes. Played notes
    // every 1.3 beats withdraw plans, some across a fresh anchor. (The plan stays shorter than
    // half the window, as with the shipped model: a burst of planning that crosses a whole
    // half window at once leaves no idle time between to build in.)
    let window = 128;
    let s = Settings {
        lookahead_beats: 1.0,
        ..S
    };
    let (mut lazy, mut busy) = (gen(window), gen(window));
    let mut outs = (Vec::new(), Vec::new());
    let mut idle_tokens = 0;
    for g in [&mut lazy, &mut busy] {
        msg(g, resync(0.0, true, 1), &s);
    }
    let mut b = 0.0;
    let mut next_played = 1.0;
    while b < 400.0 {
        for (g, out, idle) in [
            (&mut lazy, &mut outs.0, false),
            (&mut busy, &mut outs.1, true),
        ] {
            out.extend(fill(g, b, &s));
            if b >= next_played {
                let p = 60 + (b as u8 % 12);
                out.extend(msg(g, play(next_played, p, true), &s));
                out.extend(msg(g, play(next_played + 0.2, p, false), &s));
                out.extend(fill(g, b, &s));
            }
            while idle && g.prepare().unwrap() {
                idle_tokens += 1;
            }
        }
        assert_eq!(
            (&busy.window.backend.cache, &busy.window.backend.feats),
            (&lazy.window.backend.cache, &lazy.window.backend.feats),
            "at beat {b}: the same cache, token for token and feature for feature"
        );
        if b >= next_played {
            next_played += 1.3;
        }
        b += 0.25;
    }
    assert_eq!(outs.0, outs.1, "the same notes, idle work or not");
    assert!(
        outs.0.len() > 200,
        "enough notes to compare: {}",
        outs.0.len()
    );
    // The lazy engine rebuilt the cache from scratch (a prefill of half a window or more) at
    // every move of the window, and after rollbacks across one; the busy one only at the start.
    assert!(
        lazy.window.backend.prefills > 30,
        "{} prefills",
        lazy.window.backend.prefills
    );
    assert!(
        busy.window.backend.prefills <= 1,
        "only the first cache is built at once: {}",
        busy.window.backend.prefills
    );
    assert!(
        idle_tokens > 64 * lazy.window.backend.prefills / 2,
        "idle work fed {idle_tokens} tokens"
    );
}

#[test]
fn a_long_session_reanchors_and_keeps_the_style_token_in_the_window() {
    let mut g = gen(32);
    msg(&mut g, resync(0.0, true, 1), &S);
    for i in 0..400 {
        fill(&mut g, f64::from(i) * 0.5, &S);
    }
    assert!(
        g.window.backend.resets > 5,
        "re-anchored {} times",
        g.window.backend.resets
    );
    assert_eq!(g.window.backend.cache[0], Vocab::DEFAULT.style_base + 2);
    assert!(
        g.context_len() < 8 * 32 + 64,
        "context stays bounded: {}",
        g.context_len()
    );
}

#[test]
fn a_style_change_withdraws_the_plan_and_restarts_on_the_new_style() {
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &S);
    fill(&mut g, 0.0, &S);
    let other = Settings { style: 4, ..S };
    let notes = fill(&mut g, 0.25, &other);
    assert_eq!(g.window.backend.cache[0], Vocab::DEFAULT.style_base + 4);
    assert!(notes.iter().all(|n| n.plan == 1));
    fill(&mut g, 0.5, &Settings { style: 15, ..S });
    assert_eq!(g.window.backend.cache[0], Vocab::DEFAULT.style_base);
}

#[test]
fn the_role_rides_on_the_style_token_a_new_role_restarts_the_cache_and_an_unlisted_one_plays_free()
{
    let mut g = gen(64);
    // Style 2 (S's) plays free, melody and bass; style 3 only free and melody.
    let roles = ["free", "melody", "bass"].map(String::from);
    let by_style = (0..5)
        .map(|s| roles[..if s == 3 { 2 } else { 3 }].to_vec())
        .collect();
    g.set_roles(&roles, by_style);
    let bass = Settings {
        role: Role::Bass,
        ..S
    };
    msg(&mut g, resync(0.0, true, 1), &bass);
    fill(&mut g, 0.0, &bass);
    let head = |g: &Generator<FakeBackend>| g.window.backend.feats[0].role;
    assert_eq!(head(&g), Some(2), "bass is the model's third role");
    // A new role withdraws the plan and starts the cache again on the style token with it.
    let resets = g.window.backend.resets;
    let melody = Settings {
        role: Role::Melody,
        ..S
    };
    fill(&mut g, 0.5, &melody);
    assert_eq!(head(&g), Some(1));
    assert!(g.window.backend.resets > resets);
    // Harmony is not among them: it plays as Free, slot 0.
    let harmony = Settings {
        role: Role::Harmony,
        ..S
    };
    fill(&mut g, 1.0, &harmony);
    assert_eq!(head(&g), Some(0));
    assert_eq!(g.role_slot(Role::Harmony, 2), 0);
    // A role the model plays, but not in this style: Free.
    assert_eq!(g.role_slot(Role::Bass, 2), 2);
    assert_eq!(g.role_slot(Role::Bass, 3), 0);
}

#[test]
fn in_a_role_beside_a_player_cadenzas_part_rests_at_most_the_roles_longest_rest_and_free_a_bar() {
    let v = Vocab::DEFAULT;
    // Cadenza's first note beside a player who strikes a key on every beat, from a "model" that
    // always wants to wait as long as a shift can.
    let first_note = |role: Role| {
        let s = Settings { role, ..S };
        let mut g = gen_playing_every_role(256);
        g.window.backend.favor = Some(v.shift_base + v.max_shift - 1);
        msg(&mut g, resync(0.0, true, 1), &s);
        let mut notes = Vec::new();
        for beat in 0..24 {
            let b = f64::from(beat);
            let key = 60 + (beat % 5) as u8;
            notes.extend(msg_at(&mut g, play(b, key, true), at(b), &s));
            notes.extend(roll(&mut g, b, b + 0.5, &s));
            notes.extend(msg_at(&mut g, play(b + 0.5, key, false), at(b + 0.5), &s));
            notes.extend(roll(&mut g, b + 0.5, b + 1.0, &s));
        }
        notes
            .iter()
            .filter(|n| n.on)
            .map(|n| n.beat)
            .fold(f64::INFINITY, f64::min)
    };
    for role in [Role::Bass, Role::Melody] {
        // Silent since the take began: the part begins within ROLE_REST_BEATS of it (the longest
        // shift refused, this "model" draws its note at once or at the deadline).
        let first = first_note(role);
        assert!(
            first <= ROLE_REST_BEATS + 1e-9,
            "{role:?}: first note at beat {first}"
        );
    }
    // Free beside a player rests longer, up to a bar; so does a role the model lacks (it plays as
    // Free).
    for role in [Role::Free, Role::Harmony] {
        let first = first_note(role);
        assert!(
            first <= FREE_REST_BARS * 4.0 + 1e-9,
            "{role:?}: first note at beat {first}"
        );
    }
}

#[test]
fn alone_cadenza_never_rests_past_the_longest_rest_and_beside_a_player_its_part_rests_a_bar_at_most(
) {
    let v = Vocab::DEFAULT;
    // When the first note comes from a "model" that always wants to wait as long as a shift can.
    let first_note = |mode: Mode, player: bool| {
        let s = Settings { mode, ..S };
        let mut g = gen(256);
        g.window.backend.favor = Some(v.shift_base + v.max_shift - 1);
        msg(&mut g, resync(0.0, true, 1), &s);
        let mut notes = Vec::new();
        if player {
            notes.extend(msg_at(&mut g, play(0.0, 40, true), at(0.0), &s));
            notes.extend(msg_at(&mut g, play(0.5, 40, false), at(0.5), &s));
        }
        notes.extend(roll(&mut g, 0.0, 32.0, &s));
        notes
            .iter()
            .filter(|n| n.on)
            .map(|n| n.beat)
            .fold(f64::INFINITY, f64::min)
    };
    for mode in [Mode::Duet, Mode::Improvise, Mode::Continue] {
        // Nobody has played: the silence since the take began ends within ALONE_REST_BEATS (after
        // the start's lead, to the next beat).
        let first = first_note(mode, false);
        assert!(
            first <= ALONE_REST_BEATS + 1.25,
            "{mode:?}: first note at beat {first} alone"
        );
    }
    // Beside a player the longest rest is Cadenza's part's, a bar as Free (the player played at 0).
    let first = first_note(Mode::Duet, true);
    assert!(
        first <= FREE_REST_BARS * 4.0 + 1e-9,
        "first note at beat {first} beside a player"
    );
}

#[test]
fn a_silence_already_past_its_longest_rest_ends_on_the_first_beat_cadenza_may_play_on() {
    let v = Vocab::DEFAULT;
    // Continue after a two-bar clip, the transport starting at beat 8: Cadenza's silence began
    // with the context, past every longest rest. A "model" that always wants to rest a beat more
    // plays its first note on the first beat after the start's lead, not at the lead itself (beat
    // 8.21 here, off the grid), as Free (a bar's rest) or as the bass (two beats').
    for role in [Role::Free, Role::Bass] {
        let s = Settings {
            mode: Mode::Continue,
            role,
            ..S
        };
        let mut g = gen_playing_every_role(256);
        g.window.backend.favor = Some(v.encode(Event::Shift(24)).unwrap());
        let clip = [60u8, 66].map(|pitch| BeatNote {
            beat: f64::from(pitch - 60),
            length: 2.0,
            pitch,
            velocity: 90,
        });
        g.set_prompt(&clip, true);
        msg(&mut g, resync(8.0, true, 1), &s);
        let first = roll(&mut g, 8.0, 16.0, &s)
            .iter()
            .filter(|n| n.on)
            .map(|n| n.beat)
            .fold(f64::INFINITY, f64::min);
        assert!(
            (first - 9.0).abs() < 1e-9,
            "{role:?}: first note at beat {first}"
        );
    }
}

#[test]
fn free_and_alone_a_model_that_knows_it_hears_no_role_slot_and_beside_a_player_or_in_a_role_its_slot(
) {
    let head = |g: &Generator<FakeBackend>| g.window.backend.feats[0].role;
    let improvise = Settings {
        mode: Mode::Improvise,
        ..S
    };
    let clip = [BeatNote {
        beat: 0.0,
        length: 1.0,
        pitch: 60,
        velocity: 90,
    }];
    let continuing = Settings {
        mode: Mode::Continue,
        ..S
    };
    // Each mode from a fresh engine: (settings, the prompt is Cadenza's own) -> the style token's
    // role for a model that knows alone, and for one that does not.
    let cases = [
        (improvise, None, None, Some(0)),
        (
            Settings {
                role: Role::Bass,
                ..improvise
            },
            None,
            Some(2),
            Some(2),
        ),
        (S, None, Some(0), Some(0)),
        (continuing, Some(false), None, Some(0)),
        (continuing, Some(true), Some(0), Some(0)),
    ];
    for (s, players_clip, knowing, not_knowing) in cases {
        for (knows, want) in [(true, knowing), (false, not_knowing)] {
            let mut g = gen_playing_every_role(64);
            g.set_knows_alone(knows);
            if let Some(players) = players_clip {
                g.set_prompt(&clip, players);
            }
            msg(&mut g, resync(0.0, true, 1), &s);
            fill(&mut g, 0.0, &s);
            assert_eq!(
                head(&g),
                want,
                "{:?} {:?}, clip the player's {:?}, knows alone {knows}",
                s.mode,
                s.role,
                players_clip
            );
        }
    }
}

#[test]
fn the_strong_beats_are_a_bars_first_and_in_an_even_bar_its_middle() {
    let mut clock = PlayClock::at(0.0, 120.0);
    clock.beats_per_bar = 4.0;
    let strong: Vec<bool> = [0.0, 1.0, 2.0, 3.0, 4.0, 2.5, 6.0, 8.0 - 1e-9]
        .iter()
        .map(|&b| clock.is_strong_beat(b))
        .collect();
    assert_eq!(strong, [true, false, true, false, true, false, true, true]);
    // 3/4: the first beat alone.
    clock.beats_per_bar = 3.0;
    let strong: Vec<bool> = [0.0, 1.0, 1.5, 2.0, 3.0]
        .iter()
        .map(|&b| clock.is_strong_beat(b))
        .collect();
    assert_eq!(strong, [true, false, false, false, true]);
}

#[test]
fn a_model_told_the_chords_is_fed_the_chord_each_token_sounds_in_and_the_one_coming() {
    let mut g = gen(128);
    g.set_hears_chords(true);
    g.set_chord_track(crate::chords::ChordTrack::parse("C Am").ok());
    msg(&mut g, resync(0.0, true, 1), &S);
    let mut playhead = 0.0;
    while playhead < 8.0 {
        fill(&mut g, playhead, &S);
        playhead += 0.5;
    }
    let names = |f: &Features| {
        (
            f.chord.now.map(|h| h.name()),
            f.chord.next.map(|(h, until)| (h.name(), until)),
        )
    };
    // Each token fed is labelled with the chord at its beat: bar 1 C (A minor next), bar 2 A minor
    // (the last token drawn is labelled before the next feed).
    let tl = &g.timeline;
    assert!(
        tl.labelled + 1 >= tl.len() && tl.labelled > 20,
        "{}",
        tl.labelled
    );
    for c in &tl.ctx[..tl.labelled] {
        let bar = (c.beat + 1e-9).floor() as i64 / 4;
        let want = if bar % 2 == 0 { "C" } else { "Am" };
        assert_eq!(
            c.chord.now.map(|h| h.name()).as_deref(),
            Some(want),
            "{c:?}"
        );
    }
    // And the backend is fed them as labelled (a token at beat 1.0: C, A minor 3 beats on).
    let fed: Vec<_> = g.window.backend.feats.iter().map(names).collect();
    assert!(
        fed.contains(&(Some("C".into()), Some(("Am".into(), 3)))),
        "{fed:?}"
    );
    // A model not told the chords gets no chord in its features.
    let mut plain = gen(128);
    plain.set_chord_track(crate::chords::ChordTrack::parse("C Am").ok());
    msg(&mut plain, resync(0.0, true, 1), &S);
    fill(&mut plain, 0.0, &S);
    assert!(plain
        .window
        .backend
        .feats
        .iter()
        .all(|f| f.chord.now.is_none()));
}

#[test]
fn a_new_chord_track_withdraws_what_was_planned_on_the_old_one() {
    let mut g = gen(128);
    msg(&mut g, resync(0.0, true, 1), &S);
    fill(&mut g, 0.0, &S);
    assert!(g.cursor() > 1.0, "a plan ahead");
    g.set_chord_track(crate::chords::ChordTrack::parse("F").ok());
    let mut out = Vec::new();
    g.step(at(0.5), &S, &mut |x| out.push(x)).unwrap().planned();
    assert!(
        out.iter().any(Generated::is_plan_mark),
        "a new plan from what the audio side has not played: {out:?}"
    );
    // Nothing changed: no new plan.
    fill(&mut g, 0.5, &S);
    let mut again = Vec::new();
    g.step(at(0.75), &S, &mut |x| again.push(x))
        .unwrap()
        .planned();
    assert!(!again.iter().any(Generated::is_plan_mark), "{again:?}");
}

#[test]
fn an_answer_keeps_to_the_grid_whatever_rests_the_model_takes() {
    // The fake's logits are as good as random: left to them, most rests would end a tick or five
    // off the sixteenths and triplet eighths (as a model does beside a humanized call).
    let s = Settings {
        mode: Mode::CallResponse,
        listen_gap_beats: 0.5,
        answer_bars: 2,
        density: 1.0,
        ..S
    };
    let mut g = gen(256);
    msg(&mut g, resync(0.0, true, 1), &s);
    let mut onsets = Vec::new();
    for call in 0..4 {
        let at = f64::from(call) * 16.0;
        // A humanized call: a tick off the beat, let go off the grid too.
        msg(&mut g, play(at + 0.04, 60, true), &s);
        msg(&mut g, play(at + 1.29, 60, false), &s);
        onsets.extend(
            roll(&mut g, at + 1.29, at + 15.0, &s)
                .into_iter()
                .filter(|n| n.on && !n.is_plan_mark())
                .map(|n| n.beat),
        );
    }
    assert!(onsets.len() >= 8, "the answers play: {onsets:?}");
    for b in onsets {
        let tick = (b * 24.0).round() as i64 % 24;
        assert!(
            tick % 6 == 0 || tick % 8 == 0,
            "an answer's note off the grid at beat {b}"
        );
    }
}
