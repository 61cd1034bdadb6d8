//! The audio thread's policy for one block, free of any plugin framework: what a musician hears
//! Cadenza do when they turn a knob, press panic, bypass, capture, play into an answer, or listen to
//! the built-in voice.
//!
//! Contract:
//! - Audio thread only. Nothing here allocates, locks, logs or waits, except [`Player::begin`]'s
//!   bounded wait for the engine in an offline render (see `bridge::Lockstep`).
//! - A block is three calls, in order: [`Player::begin`] with the block's transport and controls,
//!   [`Player::heard`] for each host event in time order, and [`Player::finish`], which hands the
//!   block's output events to the host in time order and renders the voice on their samples.
//! - Every note Cadenza starts gets its note-off: a cut (a setting that changes what is played, the
//!   bypass, the panic, a model load, a transport jump) ends every sounding note on the block's first
//!   sample and tells the engine to plan again from there.
//!
//! The plugin ([`crate::Cadenza`]) only translates: the host's transport, parameters and events in,
//! [`OutEvent`]s back to host events.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::audio::scheduler::{
    BlockClock, BlockStart, CutReason, EventSink, OutEvent, Scheduler, TransportIn,
};
use crate::audio::voice::{Source, Synth};
use crate::bridge::{AudioSide, Bridge, EngineSide, PlayClock, ToEngine};
use crate::engine::EngineStatus;
use crate::midi_file::midi_velocity;
use crate::monitor::{Mark, Monitor, Who};
use crate::requests::{Request, Requests, Seen};
use crate::settings::{Mode, Role, Settings};

/// A note a host event carries (velocity 0..=1; 0 for a release).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// The MIDI key.
    pub pitch: u8,
    /// The velocity, 0..=1 (0 for a release).
    pub velocity: f32,
    /// A press (else a release).
    pub on: bool,
}

/// What the player needs to know of a host's event: when it is, and the note it plays, if any.
/// Every event passes through (when pass-through is on) whatever it is.
pub trait HostEvent: Copy {
    /// Sample offset in the block.
    fn timing(&self) -> u32;
    /// The key pressed or released, or `None` for anything else.
    fn note(&self) -> Option<Note>;
}

/// The host's bar: where one starts, and how long it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bars {
    /// Bar length in beats (quarter notes).
    pub beats_per_bar: f64,
    /// A beat on which a bar starts.
    pub bar_origin: f64,
    /// The host's number of that bar (0: its first), when it says.
    pub bar_number: Option<i32>,
    /// The host's loop in beats (start, end), while it loops.
    pub loop_range: Option<(f64, f64)>,
}

impl Bars {
    /// From the host's time signature and bar start, each of which it may not know: 4/4 from beat 0.
    pub fn from_host(
        numerator: Option<i32>,
        denominator: Option<i32>,
        bar_start: Option<f64>,
    ) -> Self {
        let beats_per_bar = match (numerator, denominator) {
            (Some(n), Some(d)) if n > 0 && d > 0 => f64::from(n) * 4.0 / f64::from(d),
            _ => 4.0,
        };
        Self {
            beats_per_bar,
            bar_origin: bar_start.filter(|b| b.is_finite()).unwrap_or(0.0),
            bar_number: None,
            loop_range: None,
        }
    }

    /// With the host's bar number (of the bar at `bar_origin`) and its loop, when it says.
    pub fn with_song_position(
        mut self,
        bar_number: Option<i32>,
        loop_range: Option<(f64, f64)>,
    ) -> Self {
        self.bar_number = bar_number;
        self.loop_range = loop_range.filter(|(a, b)| a.is_finite() && b.is_finite() && b > a);
        self
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::from_host(None, None, None)
    }
}

/// The host's parameters as one block sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controls {
    /// What the engine plays by.
    pub settings: Settings,
    /// MIDI channel of Cadenza's notes, 0..=15.
    pub channel: u8,
    /// Cadenza rests: its notes end, it hears nothing, the player's notes pass through.
    pub bypass: bool,
    /// The player's notes go on to the host.
    pub pass_through: bool,
    /// The panic switch: while it turns on, every note on Cadenza's channel ends.
    pub panic: bool,
    /// The capture switch: while it turns on, the player's last bars become the prompt.
    pub capture: bool,
    /// The longest note Cadenza holds, in beats.
    pub max_note_beats: f64,
    /// The built-in voice sounds Cadenza's notes, and the player's when `voice_player` is on too.
    pub voice: bool,
    /// The built-in voice also plays the player's notes.
    pub voice_player: bool,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            channel: 0,
            bypass: false,
            pass_through: true,
            panic: false,
            capture: false,
            max_note_beats: 8.0,
            voice: false,
            voice_player: false,
        }
    }
}

/// The settings whose change ends every note Cadenza plays (and replans), as of the last block.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CutOn {
    style: u32,
    role: Role,
    mode: Mode,
    low: u8,
    high: u8,
    channel: u8,
    /// Model loads asked ([`Request::Model`]): a (re)load ends the notes of the old one.
    model: u32,
}

/// What the player shares with the engine and the editor.
#[derive(Clone)]
pub struct Shared {
    /// Panic, capture and model loads asked (the editor asks too).
    pub requests: Arc<Requests>,
    /// What the editor shows: the notes heard and played, the playhead.
    pub monitor: Arc<Monitor>,
    /// The engine's state and counters (the player counts events the host refused).
    pub status: Arc<EngineStatus>,
}

/// The audio thread's policy (see the module's contract).
pub struct Player<P: Copy> {
    shared: Shared,
    scheduler: Scheduler,
    /// This block's output events (preallocated).
    sink: Box<EventSink<P>>,
    /// The built-in voice (rebuilt at activation for the sample rate).
    synth: Synth,
    /// Our end of the bridge; `Some` while active.
    audio: Option<AudioSide>,
    /// The host renders offline (a bounce): each block waits for the engine's plan.
    offline: bool,
    /// As of the last block: the settings that cut, and the switches.
    last: Option<CutOn>,
    was_bypassed: bool,
    was_panic: bool,
    was_capture: bool,
    /// The editor's panic button, as of the last block.
    panics: Seen,
    /// This block, from [`Player::begin`].
    block: Block,
}

/// What [`Player::begin`] decided for the rest of the block.
#[derive(Debug, Clone, Copy)]
struct Block {
    clock: BlockClock,
    controls: Controls,
}

impl<P: HostEvent> Player<P> {
    /// A player at 48 kHz, inactive (events pass through; nothing is generated) until
    /// [`Player::activate`]. Allocates: call off the audio thread.
    pub fn new(shared: Shared) -> Self {
        Self {
            panics: Seen::from_now(&shared.requests, Request::Panic),
            shared,
            scheduler: Scheduler::new(),
            sink: EventSink::new(OutEvent::Off {
                timing: 0,
                pitch: 0,
                channel: 0,
            }),
            synth: Synth::new(48_000.0),
            audio: None,
            offline: false,
            last: None,
            was_bypassed: false,
            was_panic: false,
            was_capture: false,
            block: Block {
                clock: BlockClock::new(0.0, 120.0, 48_000.0, 0, false),
                controls: Controls::default(),
            },
        }
    }

    /// The engine is starting (main thread): a new bridge, whose engine end is returned for it,
    /// with the monitor's clock (the editor sees what the engine sees). `offline`: the host renders a
    /// bounce, and each block waits for the engine's plan. Allocates.
    pub fn activate(&mut self, offline: bool, sample_rate: f64) -> EngineSide {
        let (audio, engine) = Bridge::with_clock(self.shared.monitor.clock.clone());
        audio.set_offline(offline);
        self.audio = Some(audio);
        self.offline = offline;
        self.synth = Synth::new(sample_rate);
        engine
    }

    /// The engine stopped (main thread). Notes still sounding get their note-offs in the first
    /// block after the next activation.
    pub fn deactivate(&mut self) {
        self.audio = None;
        self.scheduler.request_cut();
        self.synth.clear();
    }

    /// The host reset the plugin: the next block ends every sounding note and resyncs the engine.
    pub fn reset(&mut self) {
        self.scheduler.request_cut();
    }

    /// Whether the engine's end of the bridge is connected.
    pub fn is_active(&self) -> bool {
        self.audio.is_some()
    }

    /// Start a block: cut on a changed setting, the bypass, the panic or a jump; ask for a capture;
    /// publish the clock and the settings; in a bounce, wait for the engine's plan.
    pub fn begin(&mut self, transport: TransportIn, bars: Bars, mut controls: Controls) {
        let requests = &self.shared.requests;
        self.sink.clear();
        controls.pass_through |= controls.bypass;
        controls.voice &= !controls.bypass;
        let s = &controls.settings;
        let now = CutOn {
            style: s.style,
            role: s.role,
            mode: s.mode,
            low: s.low,
            high: s.high,
            channel: controls.channel,
            model: requests.count(Request::Model),
        };
        let panic_button = self.panics.take(requests);

        let start = self.scheduler.begin_block(transport, &mut self.sink);
        let clock = start.clock;
        let resync = self.cuts(&start, now, &controls, panic_button);
        self.scheduler.channel = now.channel;
        self.scheduler.max_note_beats = controls.max_note_beats;
        let s = &mut controls.settings;
        if self.offline {
            // The engine plans once per block in a bounce: at least over the whole block.
            let block_beats =
                f64::from(transport.frames) * clock.tempo / (60.0 * transport.sample_rate);
            s.lookahead_beats = s.lookahead_beats.max(block_beats + 0.25);
        }
        self.tell_engine(&clock, &bars, s, resync, controls.bypass);
        self.block = Block { clock, controls };
    }

    /// What ends every note this block: the timeline cut (a start, a stop, a jump), a new style,
    /// role, mode, range or channel, a model load, the bypass or the panic; a panic also silences
    /// every key on our channel, and Capture switched on asks for a capture. Returns the resync the
    /// engine must hear: (epoch, heard until, jumped).
    fn cuts(
        &mut self,
        start: &BlockStart,
        now: CutOn,
        controls: &Controls,
        panic_button: bool,
    ) -> Option<(u32, f64, bool)> {
        let mut resync = start
            .cut
            .map(|(reason, epoch)| (epoch, start.heard_until, reason == CutReason::Jump));
        let switched_on = |now: bool, was: bool| now && !was;
        let panic = switched_on(controls.panic, self.was_panic) || panic_button;
        if self.last.is_some_and(|l| l != now)
            || switched_on(controls.bypass, self.was_bypassed)
            || panic
        {
            resync = Some((
                self.scheduler.cut(&mut self.sink),
                start.clock.start_beat,
                false,
            ));
        }
        if panic {
            // Panic also silences notes that are not ours to track: every key on our channel.
            for pitch in 0..128u8 {
                let off = OutEvent::Off {
                    timing: 0,
                    pitch,
                    channel: now.channel,
                };
                self.sink.push(0, off);
            }
        }
        if switched_on(controls.capture, self.was_capture) {
            self.shared.requests.ask(Request::Capture);
        }
        self.last = Some(now);
        self.was_bypassed = controls.bypass;
        self.was_panic = controls.panic;
        self.was_capture = controls.capture;
        resync
    }

    /// Publish the block's clock and settings to the engine (and the editor), then send the
    /// resync; in a bounce, wait for the engine's plan of this block (the one wait on this thread).
    fn tell_engine(
        &mut self,
        clock: &BlockClock,
        bars: &Bars,
        s: &Settings,
        resync: Option<(u32, f64, bool)>,
        bypass: bool,
    ) {
        let Some(audio) = self.audio.as_mut() else {
            return;
        };
        // The engine reads these after it takes a message sent below: publish first. The editor
        // reads the same clock.
        let published = PlayClock {
            playhead: clock.start_beat,
            // In real time this whole block is played once process() returns; in a bounce the
            // engine plans it before it is played (the lockstep below).
            open_from: if self.offline {
                clock.start_beat
            } else {
                clock.end_beat()
            },
            tempo: clock.tempo,
            bar_origin: bars.bar_origin,
            beats_per_bar: bars.beats_per_bar,
            playing: clock.playing,
            bar_number: bars.bar_number.map_or(f64::NEG_INFINITY, f64::from),
            loop_start: bars.loop_range.map_or(f64::NEG_INFINITY, |r| r.0),
            loop_end: bars.loop_range.map_or(f64::NEG_INFINITY, |r| r.1),
        };
        audio.publish(published, s);
        if let Some((epoch, heard_until, jumped)) = resync {
            audio.send(ToEngine::Resync {
                beat: clock.start_beat,
                playing: clock.playing && !bypass,
                epoch,
                heard_until,
                jumped,
            });
        }
        if self.offline {
            // The one wait on this thread, in a bounce only (see `bridge::Lockstep`): it ends when
            // the engine has planned this block, is down, or took too long (counted).
            audio.lockstep();
        }
    }

    /// One of the host's events, in time order: the engine hears a played note (not while
    /// bypassed), a call silences the answer, and the event passes through when that is on.
    pub fn heard(&mut self, ev: P) {
        let Block { clock, controls } = self.block;
        let timing = ev.timing();
        if let (Some(audio), false, Some(note)) = (self.audio.as_mut(), controls.bypass, ev.note())
        {
            let beat = clock.beat_at(timing);
            self.shared.monitor.heard.push(mark(
                beat,
                note.pitch,
                note.velocity,
                note.on,
                Who::Player,
            ));
            if note.on && controls.settings.mode == Mode::CallResponse {
                // A new call: the answer stops on this very sample.
                self.scheduler.silence_from(beat, timing, &mut self.sink);
            }
            audio.send(ToEngine::Played {
                beat,
                pitch: note.pitch,
                velocity: if note.on { note.velocity } else { 0.0 },
                on: note.on,
            });
        }
        if controls.pass_through {
            self.sink.push(timing, OutEvent::Pass(ev));
        }
    }

    /// End the block: place the engine's notes due in it, hand every output event to `send` in
    /// time order (it says whether the host took it; refusals are counted), and render the voice
    /// into `out`'s first two channels on the events' samples (every channel is zeroed first).
    /// `level(frames)` is the voice's gain over the next `frames` samples.
    pub fn finish(
        &mut self,
        out: &mut [&mut [f32]],
        mut level: impl FnMut(u32) -> f32,
        mut send: impl FnMut(OutEvent<P>) -> bool,
    ) {
        let Block { clock, controls } = self.block;
        match (self.audio.as_mut(), controls.bypass) {
            (Some(audio), false) => {
                self.scheduler
                    .render(&clock, || audio.receive(), &mut self.sink)
            }
            (Some(audio), true) => while audio.receive().is_some() {},
            (None, _) => {}
        }
        self.sink.sort();
        let (voice, voice_player) = (controls.voice, controls.voice_player);
        if !voice && self.synth.active_voices() > 0 {
            self.synth.clear();
        }
        for ch in out.iter_mut() {
            ch.fill(0.0);
        }
        let frames = clock.frames as usize;
        let mut done = 0usize;
        for &(timing, ev) in self.sink.as_slice() {
            let at = (timing as usize).min(frames);
            if voice && at > done {
                render(&mut self.synth, &mut level, out, done, at);
                done = at;
            }
            match ev {
                OutEvent::On {
                    pitch, velocity, ..
                } => {
                    let beat = clock.beat_at(timing);
                    let heard = &self.shared.monitor.heard;
                    heard.push(mark(beat, pitch, velocity, true, Who::Cadenza));
                    if voice {
                        self.synth.note_on(pitch, velocity, Source::Cadenza);
                    }
                }
                OutEvent::Off { pitch, .. } => {
                    let beat = clock.beat_at(timing);
                    let heard = &self.shared.monitor.heard;
                    heard.push(mark(beat, pitch, 0.0, false, Who::Cadenza));
                    self.synth.note_off(pitch, Source::Cadenza);
                }
                OutEvent::Pass(p) => match p.note() {
                    Some(n) if n.on && voice && voice_player => {
                        self.synth.note_on(n.pitch, n.velocity, Source::Player)
                    }
                    Some(n) if !n.on => self.synth.note_off(n.pitch, Source::Player),
                    _ => {}
                },
            }
            if !send(ev) {
                let refused = &self.shared.status.dropped_to_host;
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !voice_player {
            self.synth.release_all(Some(Source::Player));
        }
        if voice {
            render(&mut self.synth, &mut level, out, done, frames);
        }
    }

    /// The scheduler's counters and state, for tests and the bench.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Voices the built-in voice is sounding.
    pub fn voices(&self) -> usize {
        self.synth.active_voices()
    }
}

/// A monitor mark of a note heard or played.
fn mark(beat: f64, pitch: u8, velocity: f32, on: bool, who: Who) -> Mark {
    Mark {
        beat,
        pitch,
        velocity: if on {
            midi_velocity(f64::from(velocity))
        } else {
            0
        },
        on,
        who,
        tag: 0,
    }
}

/// Render the voice into samples `from..to` of the block's first two channels.
fn render(
    synth: &mut Synth,
    level: &mut impl FnMut(u32) -> f32,
    out: &mut [&mut [f32]],
    from: usize,
    to: usize,
) {
    let gain = level((to - from).max(1) as u32);
    if let [left, right, ..] = out {
        let n = left.len().min(right.len());
        let (a, b) = (from.min(n), to.min(n));
        synth.render(&mut left[a..b], &mut right[a..b], gain);
    }
}

#[cfg(test)]
mod tests;
