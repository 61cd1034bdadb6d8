//! A small headless CLAP host (clack-host) for the render tool and the host-level tests.
//!
//! It loads a built `.clap`, activates it, and calls `process` block by block with a transport of
//! our choosing and the notes we play, collecting the notes that come out. Not part of the plugin
//! bundles (feature `host`).

use std::ffi::CString;
use std::path::Path;

use clack_host::events::event_types::{NoteOffEvent, NoteOnEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventHeader, Match};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

/// The plugin id Cadenza registers.
pub const CADENZA_ID: &str = "org.cadenza.cadenza";

struct Shared;

impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

struct Handlers;

impl HostHandlers for Handlers {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// The transport for one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transport {
    pub playing: bool,
    /// Position of the block's first sample, in beats.
    pub beat: f64,
    pub tempo: f64,
}

/// A note we play into the plugin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteIn {
    pub time: u32,
    pub on: bool,
    pub key: u8,
    pub velocity: f64,
}

/// A note event the plugin sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteOut {
    pub time: u32,
    pub on: bool,
    pub key: u8,
    pub channel: u8,
    pub velocity: f64,
}

/// See the module documentation.
pub struct ClapHost {
    // Field order is drop order: the processor, then the instance, then the library.
    processor: Option<StartedPluginAudioProcessor<Handlers>>,
    instance: PluginInstance<Handlers>,
    _entry: PluginEntry,
    input: EventBuffer,
    output: EventBuffer,
    sample_rate: f64,
    steady: u64,
}

impl ClapHost {
    /// Load the `.clap` at `path` and instantiate Cadenza from it.
    pub fn load(path: &Path) -> Result<Self, String> {
        // SAFETY: loading a plugin library runs its initialisers; that is what a host does, and the
        // path is the Cadenza bundle we built.
        let entry = unsafe { PluginEntry::load(path) }
            .map_err(|e| format!("loading {}: {e}", path.display()))?;
        let info = HostInfo::new(
            "cadenza-test-host",
            "Cadenza",
            "https://example.invalid",
            "0.1",
        )
        .map_err(|e| e.to_string())?;
        let id = CString::new(CADENZA_ID).unwrap();
        let instance = PluginInstance::<Handlers>::new(|_| Shared, |_| (), &entry, &id, &info)
            .map_err(|e| format!("instantiating {CADENZA_ID}: {e}"))?;
        Ok(Self {
            processor: None,
            instance,
            _entry: entry,
            input: EventBuffer::with_capacity(256),
            output: EventBuffer::with_capacity(4096),
            sample_rate: 48_000.0,
            steady: 0,
        })
    }

    /// Activate and start processing.
    pub fn activate(&mut self, sample_rate: f64, max_frames: u32) -> Result<(), String> {
        self.deactivate();
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_frames,
        };
        let stopped = self
            .instance
            .activate(|_, _| (), config)
            .map_err(|e| format!("activate: {e}"))?;
        self.processor = Some(
            stopped
                .start_processing()
                .map_err(|e| format!("start processing: {e}"))?,
        );
        self.sample_rate = sample_rate;
        Ok(())
    }

    /// Stop processing and deactivate (no-op when inactive).
    pub fn deactivate(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p.stop_processing());
        }
    }

    pub fn is_active(&self) -> bool {
        self.processor.is_some()
    }

    /// Process one block of `frames` samples.
    pub fn process(
        &mut self,
        frames: u32,
        t: Transport,
        notes: &[NoteIn],
    ) -> Result<Vec<NoteOut>, String> {
        let processor = self
            .processor
            .as_mut()
            .ok_or("process called while inactive")?;
        self.input.clear();
        self.output.clear();
        let mut sorted = notes.to_vec();
        sorted.sort_by_key(|n| n.time);
        for n in sorted {
            let pckn = Pckn::new(
                0u16,
                u16::from(PLAYER_CHANNEL),
                u16::from(n.key),
                Match::All,
            );
            if n.on {
                self.input.push(&NoteOnEvent::new(n.time, pckn, n.velocity));
            } else {
                self.input
                    .push(&NoteOffEvent::new(n.time, pckn, n.velocity));
            }
        }
        let transport = transport_event(t, self.sample_rate);
        let in_events = InputEvents::from_buffer(&self.input);
        let mut out_events = OutputEvents::from_buffer(&mut self.output);
        // SAFETY: no audio ports: empty buffer lists, and frames_count only sets the block length.
        let in_audio = unsafe { InputAudioBuffers::from_raw_buffers(&[], frames) };
        let mut no_out: [clap_sys::audio_buffer::clap_audio_buffer; 0] = [];
        // SAFETY: as above.
        let mut out_audio = unsafe { OutputAudioBuffers::from_raw_buffers(&mut no_out, frames) };
        processor
            .process(
                &in_audio,
                &mut out_audio,
                &in_events,
                &mut out_events,
                Some(self.steady),
                Some(&transport),
            )
            .map_err(|e| format!("process: {e}"))?;
        self.steady += u64::from(frames);
        let mut out = Vec::new();
        for ev in self.output.iter() {
            let time = ev.header().time();
            if let Some(on) = ev.as_event::<NoteOnEvent>() {
                out.push(note_out(time, true, on.pckn(), on.velocity()));
            } else if let Some(off) = ev.as_event::<NoteOffEvent>() {
                out.push(note_out(time, false, off.pckn(), off.velocity()));
            }
        }
        Ok(out)
    }
}

impl Drop for ClapHost {
    fn drop(&mut self) {
        self.deactivate();
    }
}

fn note_out(time: u32, on: bool, pckn: Pckn, velocity: f64) -> NoteOut {
    NoteOut {
        time,
        on,
        key: pckn.key.into_specific().unwrap_or(0) as u8,
        channel: pckn.channel.into_specific().unwrap_or(0) as u8,
        velocity,
    }
}

fn transport_event(t: Transport, sample_rate: f64) -> TransportEvent {
    let _ = sample_rate;
    let mut flags = TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE
        | TransportFlags::HAS_SECONDS_TIMELINE
        | TransportFlags::HAS_TIME_SIGNATURE;
    if t.playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    let bar = (t.beat / 4.0).floor();
    TransportEvent {
        header: EventHeader::new_core(0, clack_host::events::EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(t.beat),
        song_pos_seconds: SecondsTime::from_float(t.beat * 60.0 / t.tempo),
        tempo: t.tempo,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_int(0),
        loop_end_beats: BeatTime::from_int(0),
        loop_start_seconds: SecondsTime::from_int(0),
        loop_end_seconds: SecondsTime::from_int(0),
        bar_start: BeatTime::from_float(bar * 4.0),
        bar_number: bar as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

/// The channel (0-based) the player's notes go in on: not Cadenza's output channel, so pass-through
/// notes and generated notes can be told apart in what comes out.
pub const PLAYER_CHANNEL: u8 = 1;

/// A note the player plays, in beats from the start of the rolling transport.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayedNote {
    pub beat: f64,
    pub length: f64,
    pub key: u8,
    pub velocity: f64,
}

/// One block as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockLog {
    /// Sample position of the block's first sample, counted from the start of the session.
    pub sample: u64,
    pub frames: u32,
    pub playing: bool,
    pub events: Vec<NoteOut>,
}

/// How to run a session.
#[derive(Debug, Clone)]
pub struct Session {
    pub sample_rate: f64,
    pub block: u32,
    pub tempo: f64,
    /// Seconds with the transport stopped before it starts (the engine loads meanwhile).
    pub preroll_seconds: f64,
    /// Beats with the transport rolling.
    pub beats: f64,
    /// Seconds with the transport stopped after it (the stop must end every note).
    pub postroll_seconds: f64,
    pub played: Vec<PlayedNote>,
    /// Pace blocks in real time, as an audio interface would (the engine runs on real time).
    pub realtime: bool,
}

impl Session {
    /// Run the session on an active host; returns every block.
    pub fn run(&self, host: &mut ClapHost) -> Result<Vec<BlockLog>, String> {
        let started = std::time::Instant::now();
        let spb = self.sample_rate * 60.0 / self.tempo; // samples per beat
        let pre = (self.preroll_seconds * self.sample_rate) as u64;
        let roll = (self.beats * spb) as u64;
        let post = (self.postroll_seconds * self.sample_rate) as u64;
        let total = pre + roll + post;
        // Played notes as (sample, on, key, velocity), absolute.
        let mut events: Vec<(u64, bool, u8, f64)> = Vec::new();
        for n in &self.played {
            let on = pre + (n.beat * spb).round() as u64;
            let off = pre + ((n.beat + n.length) * spb).round() as u64;
            events.push((on, true, n.key, n.velocity));
            events.push((off.max(on + 1), false, n.key, 0.0));
        }
        events.sort_by_key(|e| (e.0, e.1));
        let mut logs = Vec::new();
        let mut sample = 0u64;
        while sample < total {
            // Blocks never straddle the start or the stop of the transport, as in a host.
            let boundary = if sample < pre {
                pre
            } else if sample < pre + roll {
                pre + roll
            } else {
                total
            };
            let frames = (u64::from(self.block)).min(boundary - sample) as u32;
            let playing = sample >= pre && sample < pre + roll;
            let beat = if playing {
                (sample - pre) as f64 / spb
            } else {
                0.0
            };
            let notes: Vec<NoteIn> = events
                .iter()
                .filter(|e| e.0 >= sample && e.0 < sample + u64::from(frames))
                .map(|e| NoteIn {
                    time: (e.0 - sample) as u32,
                    on: e.1,
                    key: e.2,
                    velocity: e.3,
                })
                .collect();
            let out = host.process(
                frames,
                Transport {
                    playing,
                    beat,
                    tempo: self.tempo,
                },
                &notes,
            )?;
            logs.push(BlockLog {
                sample,
                frames,
                playing,
                events: out,
            });
            sample += u64::from(frames);
            if self.realtime {
                let due = std::time::Duration::from_secs_f64(sample as f64 / self.sample_rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        Ok(logs)
    }
}

/// The bundles to test: `$CADENZA_TEST_BUNDLE_DIR` (set by `cargo xtask test`), else target/bundled.
pub fn bundle_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("CADENZA_TEST_BUNDLE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bundled"));
    assert!(
        dir.join("Cadenza.clap").is_file(),
        "no Cadenza.clap in {}: run `cargo xtask bundle cadenza` first (`cargo xtask test` does)",
        dir.display()
    );
    dir
}
