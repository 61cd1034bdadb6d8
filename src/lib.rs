//! Cadenza: an AI improvisation partner in the DAW. A CLAP/VST3 note effect that runs a Music
//! Transformer (ONNX Runtime, on its own thread) and plays what it generates in time with the host.
//!
//! This file only wires the layers to nice-plug; `process` translates the host's transport,
//! parameters and events for the audio side's [`Player`] and its output back:
//! - [`audio`] (audio thread): the player (what a block does on a cut, panic, bypass, capture; the
//!   voice) and the scheduler (beat → sample placement, sounding notes, note-offs);
//! - [`bridge`]: the lock-free queues between the audio thread and the engine;
//! - [`engine`] (its own thread): the model, the context, sampling;
//! - [`model`], [`runtime`], [`sampler`], [`tokenizer`], [`midi_file`]: the engine's parts.
//!
//! None of those know nice-plug; they are tested without a host.

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

pub mod audio;
pub mod bridge;
pub mod chords;
pub mod editor;
pub mod engine;
pub mod features;
#[cfg(feature = "host")]
pub mod host;
pub mod midi_file;
pub mod model;
mod monitor;
pub mod offline;
mod params;
pub mod prompt;
mod requests;
pub mod runtime;
mod sampler;
pub mod settings;
pub mod tokenizer;

use audio::player::{self, Bars, Controls, HostEvent, Note, Player};
use audio::scheduler::{OutEvent, TransportIn};
use engine::{Engine, EngineConfig, EngineStatus};
use monitor::Monitor;
use params::CadenzaParams;

/// The plugin: its parameters, the audio side's player, and the engine thread while active.
pub struct Cadenza {
    params: Arc<CadenzaParams>,
    /// What the audio side shares with the engine and the editor: the requests (panic, capture,
    /// model loads), the engine's status, the monitor (notes heard and played, the playhead).
    shared: player::Shared,
    /// The audio thread's policy: cuts, panic, bypass, capture, the voice.
    player: Player<PluginNoteEvent<Self>>,
    /// The engine thread; `Some` while active.
    engine: Option<Engine>,
}

impl Default for Cadenza {
    fn default() -> Self {
        let names = Arc::new(std::sync::RwLock::new(params::default_style_names()));
        let params = Arc::new(CadenzaParams::new(names.clone()));
        let shared = player::Shared {
            requests: Arc::default(),
            status: Arc::new(EngineStatus::with_styles(names)),
            monitor: Arc::new(Monitor::default()),
        };
        Self {
            params,
            player: Player::new(shared.clone()),
            shared,
            engine: None,
        }
    }
}

impl HostEvent for PluginNoteEvent<Cadenza> {
    fn timing(&self) -> u32 {
        NoteEvent::timing(self)
    }

    fn note(&self) -> Option<Note> {
        match *self {
            NoteEvent::NoteOn {
                key: Key::Number(pitch),
                velocity,
                ..
            } => Some(Note {
                pitch,
                velocity,
                on: true,
            }),
            NoteEvent::NoteOff {
                key: Key::Number(pitch),
                ..
            } => Some(Note {
                pitch,
                velocity: 0.0,
                on: false,
            }),
            _ => None,
        }
    }
}

impl Cadenza {
    fn to_host(ev: OutEvent<PluginNoteEvent<Self>>) -> PluginNoteEvent<Self> {
        match ev {
            OutEvent::On {
                timing,
                pitch,
                velocity,
                channel,
            } => NoteEvent::NoteOn {
                timing,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(channel),
                key: Key::Number(pitch),
                velocity,
            },
            OutEvent::Off {
                timing,
                pitch,
                channel,
            } => NoteEvent::NoteOff {
                timing,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(channel),
                key: Key::Number(pitch),
                velocity: 0.0,
            },
            OutEvent::Pass(ev) => ev,
        }
    }

    /// The host's parameters as this block's controls.
    fn controls(&self, frames: u32) -> Controls {
        let (p, out) = (&self.params, &self.params.output);
        Controls {
            settings: p.settings(frames),
            channel: (out.channel.value() - 1).clamp(0, 15) as u8,
            bypass: out.bypass.value(),
            pass_through: out.pass_through.value(),
            panic: out.panic.value(),
            capture: p.answer.capture.value(),
            max_note_beats: f64::from(p.answer.max_note.value()),
            voice: out.voice.value(),
            voice_player: out.voice_player.value(),
        }
    }
}

impl Plugin for Cadenza {
    const NAME: &'static str = "Cadenza";
    const VENDOR: &'static str = "Cadenza";
    const URL: &'static str = "https://example.invalid/cadenza";
    const EMAIL: &'static str = "cadenza@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    // MIDI in, MIDI out, and a stereo output for the built-in voice (so hosts that only take
    // instruments, or refuse a VST3 without audio, load it). The second layout, no audio at all, is
    // for hosts that offer a pure note effect.
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[],
            aux_output_ports: &[],
            names: PortNames {
                layout: Some("Voice"),
                main_input: None,
                main_output: Some("Voice"),
                aux_inputs: &[],
                aux_outputs: &[],
            },
        },
        AudioIOLayout::const_default(),
    ];
    const MIDI_INPUT: MidiConfig = MidiConfig::Basic;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type Editor = nice_plug_egui::EguiEditor<editor::CadenzaEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(editor::EditorData {
            params: self.params.clone(),
            requests: self.shared.requests.clone(),
            status: self.shared.status.clone(),
            monitor: self.shared.monitor.clone(),
        })
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        _cx: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Main thread. Spawning the engine is cheap; ONNX Runtime and the model load on its thread,
        // and until they are ready MIDI passes through.
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
        // A bounce (offline render) plays exactly what the engine plans, however fast the host
        // goes: the audio side waits for the engine each block. Real time never waits.
        let offline = config.process_mode == ProcessMode::Offline;
        let engine_side = self.player.activate(offline, f64::from(config.sample_rate));
        self.engine = Some(Engine::start(
            EngineConfig {
                source: model::ModelSource::from_env(),
                choice: Some(self.params.saved.model.clone()),
                runs_on: self.params.saved.runs_on.clone(),
            },
            engine_side,
            self.shared.requests.clone(),
            engine::Slots {
                prompt: self.params.saved.prompt.clone(),
                chords: self.params.saved.chords.clone(),
            },
            self.shared.status.clone(),
        ));
        true
    }

    fn reset(&mut self) {
        // Audio thread: the next block ends every sounding note and resyncs the engine.
        self.player.reset();
    }

    fn deactivate(&mut self) {
        // Join the engine (the ORT session goes with it) before the host may unload us.
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
        self.player.deactivate();
        self.shared.status.set_state(engine::EngineState::Idle);
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let t = context.transport();
        let frames = buffer.samples() as u32;
        let transport = TransportIn {
            playing: t.playing,
            pos_beats: t.pos_beats(),
            tempo: t.tempo,
            sample_rate: f64::from(t.sample_rate),
            frames,
        };
        let bars = Bars::from_host(
            t.time_sig_numerator,
            t.time_sig_denominator,
            t.bar_start_pos_beats(),
        )
        .with_song_position(t.bar_number(), t.loop_range_beats);
        self.player.begin(transport, bars, self.controls(frames));
        while let Some(ev) = context.next_event() {
            self.player.heard(ev);
        }
        let level = &self.params.output.voice_level.smoothed;
        self.player.finish(
            buffer.as_slice(),
            |n| util::db_to_gain(level.next_step(n)),
            |ev| context.try_send_event(Self::to_host(ev)).is_ok(),
        );
        ProcessStatus::KeepAlive
    }
}

impl ClapPlugin for Cadenza {
    const CLAP_ID: &'static str = "org.cadenza.cadenza";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("An AI improvisation partner: a Music Transformer that plays along");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    // An instrument (it has a voice) that is also a note effect (its MIDI output is the point).
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::Instrument,
        ClapFeature::NoteEffect,
        ClapFeature::Synthesizer,
    ];
}

impl Vst3Plugin for Cadenza {
    const VST3_CLASS_ID: [u8; 16] = *b"CadenzaMusicTrfm";
    // VST3 has no note-effect category; "Instrument" puts it where hosts offer MIDI-generating plugins.
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Instrument, Vst3SubCategory::Generator];
}

nice_export_clap!(Cadenza);
nice_export_vst3!(Cadenza);
