//! Cadenza: an AI improvisation partner in the DAW. A CLAP/VST3 note effect that runs a Music
//! Transformer (ONNX Runtime, on its own thread) and plays what it generates in time with the host.
//!
//! This file only wires the layers to nice-plug:
//! - [`scheduler`] (audio thread): beat → sample placement, sounding notes, note-offs;
//! - [`bridge`]: the lock-free queues between the audio thread and the engine;
//! - [`engine`] (its own thread): the model, the context, sampling;
//! - [`model`], [`runtime`], [`sampler`], [`tokenizer`], [`midi_file`]: the engine's parts.
//!
//! None of those know nice-plug; they are tested without a host.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

pub mod bridge;
pub mod engine;
#[cfg(feature = "host")]
pub mod host;
pub mod midi_file;
pub mod model;
pub mod params;
pub mod runtime;
pub mod sampler;
pub mod scheduler;
pub mod tokenizer;

use bridge::{AudioSide, Bridge, ToEngine};
use engine::{Engine, EngineConfig, EngineStatus, Knobs};
use params::CadenzaParams;
use scheduler::{EventSink, OutEvent, Scheduler, TransportIn};

/// MIDI channel (0-based) Cadenza's own notes go out on (MIDI channel 1).
const OUTPUT_CHANNEL: u8 = 0;

pub struct Cadenza {
    params: Arc<CadenzaParams>,
    /// Parameter values for the engine thread (written here on the audio thread: atomics only).
    knobs: Arc<Knobs>,
    /// Engine state for the log, the editor and tests.
    status: Arc<EngineStatus>,
    /// Our end of the bridge; `Some` while active.
    audio: Option<AudioSide>,
    /// The engine thread; `Some` while active.
    engine: Option<Engine>,
    /// Audio thread only.
    scheduler: Scheduler,
    /// This block's output events (preallocated; audio thread only).
    sink: Box<EventSink<PluginNoteEvent<Self>>>,
    /// Style and bypass as of the last block, to cut notes when they change.
    last_style: i32,
    was_bypassed: bool,
}

impl Default for Cadenza {
    fn default() -> Self {
        let params = Arc::new(CadenzaParams::default());
        let last_style = params.style.value();
        Self {
            params,
            knobs: Arc::new(Knobs::default()),
            status: Arc::new(EngineStatus::default()),
            audio: None,
            engine: None,
            scheduler: Scheduler::new(),
            sink: EventSink::new(OutEvent::Off { timing: 0, pitch: 0 }),
            last_style,
            was_bypassed: false,
        }
    }
}

impl Cadenza {
    fn to_host(ev: OutEvent<PluginNoteEvent<Self>>) -> PluginNoteEvent<Self> {
        let channel = Channel::Number(OUTPUT_CHANNEL);
        match ev {
            OutEvent::On { timing, pitch, velocity } => NoteEvent::NoteOn {
                timing,
                voice_id: VoiceID::Wildcard,
                channel,
                key: Key::Number(pitch),
                velocity,
            },
            OutEvent::Off { timing, pitch } => NoteEvent::NoteOff {
                timing,
                voice_id: VoiceID::Wildcard,
                channel,
                key: Key::Number(pitch),
                velocity: 0.0,
            },
            OutEvent::Pass(ev) => ev,
        }
    }
}

impl Plugin for Cadenza {
    const NAME: &'static str = "Cadenza";
    const VENDOR: &'static str = "Cadenza";
    const URL: &'static str = "https://example.invalid/cadenza";
    const EMAIL: &'static str = "cadenza@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    // A note effect: MIDI in, MIDI out, no audio.
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[];
    const MIDI_INPUT: MidiConfig = MidiConfig::Basic;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(&mut self, _layout: &AudioIOLayout, _config: &BufferConfig, _cx: &mut impl ActivateContext<Self>) -> bool {
        // Main thread. Spawning the engine is cheap; ONNX Runtime and the model load on its thread,
        // and until they are ready MIDI passes through.
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
        let (audio, engine_side) = Bridge::new();
        self.engine = Some(Engine::start(EngineConfig::default(), engine_side, self.knobs.clone(), self.status.clone()));
        self.audio = Some(audio);
        true
    }

    fn reset(&mut self) {
        // Audio thread: the next block ends every sounding note and resyncs the engine.
        self.scheduler.request_cut();
    }

    fn deactivate(&mut self) {
        // Join the engine (the ORT session goes with it) before the host may unload us. Notes still
        // sounding get their note-offs in the first block after the next activation.
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
        self.audio = None;
        self.scheduler.request_cut();
        self.status.set_state(engine::EngineState::Idle);
    }

    fn process(&mut self, buffer: &mut Buffer, _aux: &mut AuxiliaryBuffers, context: &mut impl ProcessContext<Self>) -> ProcessStatus {
        self.sink.clear();
        let t = context.transport();
        let transport = TransportIn {
            playing: t.playing,
            pos_beats: t.pos_beats(),
            tempo: t.tempo,
            sample_rate: f64::from(t.sample_rate),
            frames: buffer.samples() as u32,
        };
        let bypass = self.params.bypass.value();
        let style = self.params.style.value();
        let pass_through = self.params.pass_through.value() || bypass;

        let start = self.scheduler.begin_block(transport, &mut self.sink);
        let clock = start.clock;
        let mut epoch = start.cut.map(|(_, e)| e);
        if style != self.last_style || (bypass && !self.was_bypassed) {
            epoch = Some(self.scheduler.cut(&mut self.sink));
        }
        self.last_style = style;
        self.was_bypassed = bypass;

        self.knobs.temperature.store(self.params.temperature.value(), Ordering::Relaxed);
        self.knobs.top_p.store(self.params.top_p.value(), Ordering::Relaxed);
        self.knobs.style.store(style.max(0) as u32, Ordering::Relaxed);

        if let Some(audio) = self.audio.as_mut() {
            audio.publish_playhead(clock.start_beat, clock.tempo);
            if let Some(epoch) = epoch {
                audio.send(ToEngine::Resync { beat: clock.start_beat, playing: clock.playing && !bypass, epoch });
            }
        }

        while let Some(ev) = context.next_event() {
            if let (Some(audio), false) = (self.audio.as_mut(), bypass) {
                match ev {
                    NoteEvent::NoteOn { timing, key: Key::Number(pitch), velocity, .. } => {
                        audio.send(ToEngine::Played { beat: clock.beat_at(timing), pitch, velocity, on: true });
                    }
                    NoteEvent::NoteOff { timing, key: Key::Number(pitch), .. } => {
                        audio.send(ToEngine::Played { beat: clock.beat_at(timing), pitch, velocity: 0.0, on: false });
                    }
                    _ => {}
                }
            }
            if pass_through {
                self.sink.push(ev.timing(), OutEvent::Pass(ev));
            }
        }

        match (self.audio.as_mut(), bypass) {
            (Some(audio), false) => self.scheduler.render(&clock, || audio.receive(), &mut self.sink),
            (Some(audio), true) => while audio.receive().is_some() {},
            (None, _) => {}
        }

        self.sink.sort();
        for &(_, ev) in self.sink.as_slice() {
            if context.try_send_event(Self::to_host(ev)).is_err() {
                self.status.dropped_to_host.fetch_add(1, Ordering::Relaxed);
            }
        }
        ProcessStatus::KeepAlive
    }
}

impl ClapPlugin for Cadenza {
    const CLAP_ID: &'static str = "org.cadenza.cadenza";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("An AI improvisation partner: a Music Transformer that plays along");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::NoteEffect, ClapFeature::Utility];
}

impl Vst3Plugin for Cadenza {
    const VST3_CLASS_ID: [u8; 16] = *b"CadenzaMusicTrfm";
    // VST3 has no note-effect category; "Instrument" puts it where hosts offer MIDI-generating plugins.
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Instrument, Vst3SubCategory::Generator];
}

nice_export_clap!(Cadenza);
nice_export_vst3!(Cadenza);
