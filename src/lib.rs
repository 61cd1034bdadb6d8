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

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

pub mod bridge;
pub mod editor;
pub mod engine;
pub mod features;
#[cfg(feature = "host")]
pub mod host;
pub mod midi_file;
pub mod model;
pub mod monitor;
pub mod offline;
pub mod params;
pub mod prompt;
pub mod runtime;
pub mod sampler;
pub mod scheduler;
pub mod tokenizer;
pub mod voice;

use bridge::{AudioSide, Bridge, PlayClock, ToEngine};
use engine::{Engine, EngineConfig, EngineStatus, Knobs};
use monitor::{Mark, Monitor, Who};
use params::CadenzaParams;
use scheduler::{CutReason, EventSink, OutEvent, Scheduler, TransportIn};
use voice::{Source, Synth};

/// The settings whose change ends every note Cadenza plays (and replans), as of the last block.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CutOn {
    style: u32,
    mode: engine::Mode,
    low: u8,
    high: u8,
    channel: u8,
    /// `Knobs::model_requests`: a model (re)load ends the notes of the old one.
    model: u32,
}

pub struct Cadenza {
    params: Arc<CadenzaParams>,
    /// Parameter values for the engine thread (written here on the audio thread: atomics only).
    knobs: Arc<Knobs>,
    /// Engine state for the log, the editor and tests.
    status: Arc<EngineStatus>,
    /// What the audio thread shows the editor (notes heard and played, the playhead).
    monitor: Arc<Monitor>,
    /// The built-in voice (audio thread; rebuilt at activation for the sample rate).
    synth: Synth,
    /// Our end of the bridge; `Some` while active.
    audio: Option<AudioSide>,
    /// The engine thread; `Some` while active.
    engine: Option<Engine>,
    /// Audio thread only.
    scheduler: Scheduler,
    /// This block's output events (preallocated; audio thread only).
    sink: Box<EventSink<PluginNoteEvent<Self>>>,
    /// Settings that cut notes, and the switches, as of the last block (audio thread).
    last: Option<CutOn>,
    was_bypassed: bool,
    was_panic: bool,
    was_capture: bool,
    /// `Knobs::panic_requests` as of the last block (the editor's panic button).
    panics_seen: u32,
    /// The host renders offline (a bounce): each block waits for the engine's plan (set at
    /// activation; see `bridge::Lockstep`).
    offline: bool,
}

impl Default for Cadenza {
    fn default() -> Self {
        let names = Arc::new(std::sync::RwLock::new(params::default_style_names()));
        let params = Arc::new(CadenzaParams::new(names.clone()));
        Self {
            params,
            knobs: Arc::new(Knobs::default()),
            status: Arc::new(EngineStatus::with_styles(names)),
            monitor: Arc::new(Monitor::default()),
            synth: Synth::new(48_000.0),
            audio: None,
            engine: None,
            scheduler: Scheduler::new(),
            sink: EventSink::new(OutEvent::Off {
                timing: 0,
                pitch: 0,
                channel: 0,
            }),
            last: None,
            was_bypassed: false,
            was_panic: false,
            was_capture: false,
            panics_seen: 0,
            offline: false,
        }
    }
}

impl Cadenza {
    /// Render the voice into samples `from..to` of the block's first two channels (audio thread).
    fn render_voice(
        synth: &mut Synth,
        params: &CadenzaParams,
        out: &mut [&mut [f32]],
        from: usize,
        to: usize,
    ) {
        let gain = util::db_to_gain(
            params
                .voice_level
                .smoothed
                .next_step((to - from).max(1) as u32),
        );
        if let [left, right, ..] = out {
            let n = left.len().min(right.len());
            let (a, b) = (from.min(n), to.min(n));
            synth.render(&mut left[a..b], &mut right[a..b], gain);
        }
    }

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
            knobs: self.knobs.clone(),
            status: self.status.clone(),
            monitor: self.monitor.clone(),
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
        let (audio, engine_side) = Bridge::new();
        // A bounce (offline render) plays exactly what the engine plans, however fast the host
        // goes: the audio side waits for the engine each block. Real time never waits.
        self.offline = config.process_mode == ProcessMode::Offline;
        audio.set_offline(self.offline);
        self.engine = Some(Engine::start(
            EngineConfig {
                source: model::ModelSource::from_env(),
                choice: Some(self.params.model.clone()),
                runs_on: self.params.runs_on.clone(),
            },
            engine_side,
            self.knobs.clone(),
            self.params.prompt.clone(),
            self.status.clone(),
        ));
        self.audio = Some(audio);
        self.synth = Synth::new(f64::from(config.sample_rate));
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
        self.synth.clear();
        self.status.set_state(engine::EngineState::Idle);
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.sink.clear();
        let t = context.transport();
        let frames = buffer.samples() as u32;
        let transport = TransportIn {
            playing: t.playing,
            pos_beats: t.pos_beats(),
            tempo: t.tempo,
            sample_rate: f64::from(t.sample_rate),
            frames,
        };
        let p = &self.params;
        let bypass = p.bypass.value();
        let pass_through = p.pass_through.value() || bypass;
        let mut settings = p.settings(frames);
        let now = CutOn {
            style: settings.style,
            mode: settings.mode,
            low: settings.low,
            high: settings.high,
            channel: (p.channel.value() - 1).clamp(0, 15) as u8,
            model: self.knobs.model_requests.load(Ordering::Relaxed),
        };
        let panic_asked = self.knobs.panic_requests.load(Ordering::Relaxed);
        let panic_button = panic_asked != self.panics_seen;
        self.panics_seen = panic_asked;
        let panic = p.panic.value();
        let capture = p.capture.value();

        let start = self.scheduler.begin_block(transport, &mut self.sink);
        let clock = start.clock;
        let mut resync = start
            .cut
            .map(|(reason, epoch)| (epoch, start.heard_until, reason == CutReason::Jump));
        // A new style, mode, range or channel, the bypass or the panic switch: end every note now.
        let switched_on = |now: bool, was: bool| now && !was;
        if self.last.is_some_and(|l| l != now)
            || switched_on(bypass, self.was_bypassed)
            || switched_on(panic, self.was_panic)
            || panic_button
        {
            resync = Some((self.scheduler.cut(&mut self.sink), clock.start_beat, false));
        }
        if switched_on(panic, self.was_panic) || panic_button {
            // Panic also silences notes that are not ours to track: every key on our channel.
            for pitch in 0..128u8 {
                self.sink.push(
                    0,
                    OutEvent::Off {
                        timing: 0,
                        pitch,
                        channel: now.channel,
                    },
                );
            }
        }
        if switched_on(capture, self.was_capture) {
            self.knobs.capture_requests.fetch_add(1, Ordering::Relaxed);
        }
        self.last = Some(now);
        self.was_bypassed = bypass;
        self.was_panic = panic;
        self.was_capture = capture;
        self.scheduler.channel = now.channel;
        self.scheduler.max_note_beats = f64::from(p.max_note.value());
        self.knobs
            .capture_bars
            .store(p.capture_bars.value().max(1) as u32, Ordering::Relaxed);
        if self.offline {
            // The engine plans once per block in a bounce: at least over the whole block.
            let block_beats = f64::from(frames) * clock.tempo / (60.0 * transport.sample_rate);
            settings.lookahead_beats = settings.lookahead_beats.max(block_beats + 0.25);
        }
        // The engine reads these after it takes a message sent below: store first.
        self.knobs.store(&settings);

        let beats_per_bar = match (t.time_sig_numerator, t.time_sig_denominator) {
            (Some(n), Some(d)) if n > 0 && d > 0 => f64::from(n) * 4.0 / f64::from(d),
            _ => 4.0,
        };
        let bar_origin = t
            .bar_start_pos_beats()
            .filter(|b| b.is_finite())
            .unwrap_or(0.0);
        let m = &self.monitor;
        m.playhead.store(clock.start_beat, Ordering::Relaxed);
        m.tempo.store(clock.tempo, Ordering::Relaxed);
        m.playing.store(clock.playing, Ordering::Relaxed);
        m.beats_per_bar.store(beats_per_bar, Ordering::Relaxed);
        m.bar_origin.store(bar_origin, Ordering::Relaxed);
        if let Some(audio) = self.audio.as_mut() {
            audio.publish(PlayClock {
                playhead: clock.start_beat,
                // In real time this whole block is played once process() returns; in a bounce the
                // engine plans it before it is played (the lockstep below).
                open_from: if self.offline {
                    clock.start_beat
                } else {
                    clock.end_beat()
                },
                tempo: clock.tempo,
                bar_origin,
                beats_per_bar,
            });
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
                // The one wait on this thread, in a bounce only (see `bridge::Lockstep`): it ends
                // when the engine has planned this block, is down, or took too long (counted).
                audio.lockstep();
            }
        }

        while let Some(ev) = context.next_event() {
            if let (Some(audio), false) = (self.audio.as_mut(), bypass) {
                match ev {
                    NoteEvent::NoteOn {
                        timing,
                        key: Key::Number(pitch),
                        velocity,
                        ..
                    } => {
                        let beat = clock.beat_at(timing);
                        self.monitor.heard.push(Mark {
                            beat,
                            pitch,
                            velocity: midi_file::midi_velocity(f64::from(velocity)),
                            on: true,
                            who: Who::Player,
                            tag: 0,
                        });
                        if settings.mode == engine::Mode::CallResponse {
                            // A new call: the answer stops on this very sample.
                            self.scheduler.silence_from(beat, timing, &mut self.sink);
                        }
                        audio.send(ToEngine::Played {
                            beat,
                            pitch,
                            velocity,
                            on: true,
                        });
                    }
                    NoteEvent::NoteOff {
                        timing,
                        key: Key::Number(pitch),
                        ..
                    } => {
                        let beat = clock.beat_at(timing);
                        self.monitor.heard.push(Mark {
                            beat,
                            pitch,
                            velocity: 0,
                            on: false,
                            who: Who::Player,
                            tag: 0,
                        });
                        audio.send(ToEngine::Played {
                            beat,
                            pitch,
                            velocity: 0.0,
                            on: false,
                        });
                    }
                    _ => {}
                }
            }
            if pass_through {
                self.sink.push(ev.timing(), OutEvent::Pass(ev));
            }
        }

        match (self.audio.as_mut(), bypass) {
            (Some(audio), false) => {
                self.scheduler
                    .render(&clock, || audio.receive(), &mut self.sink)
            }
            (Some(audio), true) => while audio.receive().is_some() {},
            (None, _) => {}
        }

        self.sink.sort();
        // The voice sounds the block's notes on their samples: render up to each event, apply it.
        let voice = p.voice.value() && !bypass;
        let voice_player = p.voice_player.value();
        if !voice && self.synth.active_voices() > 0 {
            self.synth.clear();
        }
        let out = buffer.as_slice();
        for ch in out.iter_mut() {
            ch.fill(0.0);
        }
        let mut done = 0usize;
        for &(timing, ev) in self.sink.as_slice() {
            let at = (timing as usize).min(frames as usize);
            if voice && at > done {
                Self::render_voice(&mut self.synth, &self.params, out, done, at);
                done = at;
            }
            match ev {
                OutEvent::On {
                    pitch, velocity, ..
                } => {
                    self.monitor.heard.push(Mark {
                        beat: clock.beat_at(timing),
                        pitch,
                        velocity: midi_file::midi_velocity(f64::from(velocity)),
                        on: true,
                        who: Who::Cadenza,
                        tag: 0,
                    });
                    if voice {
                        self.synth.note_on(pitch, velocity, Source::Cadenza);
                    }
                }
                OutEvent::Off { pitch, .. } => {
                    self.monitor.heard.push(Mark {
                        beat: clock.beat_at(timing),
                        pitch,
                        velocity: 0,
                        on: false,
                        who: Who::Cadenza,
                        tag: 0,
                    });
                    self.synth.note_off(pitch, Source::Cadenza);
                }
                OutEvent::Pass(NoteEvent::NoteOn {
                    key: Key::Number(k),
                    velocity,
                    ..
                }) if voice && voice_player => self.synth.note_on(k, velocity, Source::Player),
                OutEvent::Pass(NoteEvent::NoteOff {
                    key: Key::Number(k),
                    ..
                }) => self.synth.note_off(k, Source::Player),
                OutEvent::Pass(_) => {}
            }
            if context.try_send_event(Self::to_host(ev)).is_err() {
                self.status.dropped_to_host.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !voice_player {
            self.synth.release_all(Some(Source::Player));
        }
        if voice {
            Self::render_voice(&mut self.synth, &self.params, out, done, frames as usize);
        }
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
