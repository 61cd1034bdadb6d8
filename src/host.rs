//! A small headless CLAP host (clack-host) for the render tool and the host-level tests.
//!
//! It loads a built `.clap`, activates it, and calls `process` block by block with a transport of
//! our choosing and the notes we play, collecting the notes that come out. Not part of the plugin
//! bundles (feature `host`).

use std::ffi::CString;
use std::path::Path;

use clack_host::events::event_types::{
    NoteOffEvent, NoteOnEvent, ParamValueEvent, TransportEvent, TransportFlags,
};
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
    /// The transport rolls.
    pub playing: bool,
    /// Position of the block's first sample, in beats.
    pub beat: f64,
    /// BPM.
    pub tempo: f64,
    /// Time signature numerator and denominator; bars start at beat 0.
    pub time_sig: (u16, u16),
    /// The loop (start, end) in beats, while the host loops.
    pub loop_range: Option<(f64, f64)>,
}

impl Transport {
    /// Rolling (or not) at `beat` and `tempo`, in 4/4, not looping.
    pub fn at(playing: bool, beat: f64, tempo: f64) -> Self {
        Self {
            playing,
            beat,
            tempo,
            time_sig: (4, 4),
            loop_range: None,
        }
    }
}

/// A note we play into the plugin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteIn {
    /// The sample in the block.
    pub time: u32,
    /// A press (else a release).
    pub on: bool,
    /// The MIDI key.
    pub key: u8,
    /// 0..=1.
    pub velocity: f64,
}

/// A note event the plugin sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteOut {
    /// The sample in the block.
    pub time: u32,
    /// A note-on (else a note-off).
    pub on: bool,
    /// The MIDI key.
    pub key: u8,
    /// The MIDI channel, 0-based.
    pub channel: u8,
    /// 0..=1.
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
    /// Parameter changes for the next block: (sample, CLAP id, plain value).
    params: Vec<(u32, u32, f64)>,
    /// The MIDI channel (0-based) the player's notes come in on.
    pub player_channel: u8,
    /// The stereo output of the last block (the built-in voice), left and right.
    pub audio: [Vec<f32>; 2],
}

/// What went wrong between the test host and the plugin.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A step of loading or running the plugin failed (`step`: which, with what; `why`: clack's
    /// error).
    #[error("{step}: {why}")]
    Failed {
        /// The step ("loading PATH", "activate", "process", ...).
        step: String,
        /// Why, as clack-host says it.
        why: String,
    },
    /// The plugin lacks an extension or a callback the host needs.
    #[error("{0}")]
    Missing(&'static str),
    /// The plugin said no (to a state, a render mode).
    #[error("{0}")]
    Refused(&'static str),
    /// `process` was called on an inactive host.
    #[error("process called while inactive")]
    Inactive,
}

impl HostError {
    fn failed(step: impl Into<String>, why: impl std::fmt::Display) -> Self {
        HostError::Failed {
            step: step.into(),
            why: why.to_string(),
        }
    }
}

impl ClapHost {
    /// Load the `.clap` at `path` and instantiate Cadenza from it.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        // SAFETY: loading a plugin library runs its initialisers; that is what a host does, and the
        // path is the Cadenza bundle we built.
        let entry = unsafe { PluginEntry::load(path) }
            .map_err(|e| HostError::failed(format!("loading {}", path.display()), e))?;
        let info = HostInfo::new(
            "cadenza-test-host",
            "Cadenza",
            "https://example.invalid",
            "0.1",
        )
        .map_err(|e| HostError::failed("host info", e))?;
        let id = CString::new(CADENZA_ID).unwrap();
        let instance = PluginInstance::<Handlers>::new(|_| Shared, |_| (), &entry, &id, &info)
            .map_err(|e| HostError::failed(format!("instantiating {CADENZA_ID}"), e))?;
        Ok(Self {
            processor: None,
            instance,
            _entry: entry,
            input: EventBuffer::with_capacity(256),
            output: EventBuffer::with_capacity(4096),
            sample_rate: 48_000.0,
            steady: 0,
            params: Vec::new(),
            player_channel: PLAYER_CHANNEL,
            audio: [Vec::new(), Vec::new()],
        })
    }

    /// Activate and start processing.
    pub fn activate(&mut self, sample_rate: f64, max_frames: u32) -> Result<(), HostError> {
        self.deactivate();
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_frames,
        };
        let stopped = self
            .instance
            .activate(|_, _| (), config)
            .map_err(|e| HostError::failed("activate", e))?;
        self.processor = Some(
            stopped
                .start_processing()
                .map_err(|e| HostError::failed("start processing", e))?,
        );
        self.sample_rate = sample_rate;
        Ok(())
    }

    /// The host's reset (audio thread, while processing): the plugin must drop all its state.
    pub fn reset(&mut self) {
        if let Some(p) = self.processor.as_mut() {
            p.reset();
        }
    }

    /// Stop processing and deactivate (no-op when inactive).
    pub fn deactivate(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p.stop_processing());
        }
    }

    /// Whether it is activated.
    pub fn is_active(&self) -> bool {
        self.processor.is_some()
    }

    /// Process one block of `frames` samples.
    pub fn process(
        &mut self,
        frames: u32,
        t: Transport,
        notes: &[NoteIn],
    ) -> Result<Vec<NoteOut>, HostError> {
        self.process_with(frames, t, notes, &[])
    }

    /// Queue a parameter change for the next block (at its sample `time`). `plain` is CLAP's plain
    /// value: the integer for stepped parameters counted from their minimum, 0/1 for switches, the
    /// normalized value (0..1) for continuous ones.
    pub fn set_param(&mut self, id: &str, time: u32, plain: f64) {
        self.params.push((time, param_hash(id), plain));
    }

    /// [`Self::process`], with the host's transport changing inside the block: each `(sample, t)`
    /// is a transport event at that sample (a tempo change, a jump, a new time signature).
    pub fn process_with(
        &mut self,
        frames: u32,
        t: Transport,
        notes: &[NoteIn],
        changes: &[(u32, Transport)],
    ) -> Result<Vec<NoteOut>, HostError> {
        let processor = self.processor.as_mut().ok_or(HostError::Inactive)?;
        self.input.clear();
        self.output.clear();
        // Events in time order; at one sample, transport and parameters before notes.
        enum In {
            Transport(Transport),
            Param(u32, f64),
            Note(NoteIn),
        }
        let mut all: Vec<(u32, u8, In)> = Vec::new();
        all.extend(
            changes
                .iter()
                .map(|(time, tr)| (*time, 0, In::Transport(*tr))),
        );
        all.extend(
            self.params
                .drain(..)
                .map(|(time, id, v)| (time, 1, In::Param(id, v))),
        );
        all.extend(notes.iter().map(|n| (n.time, 2, In::Note(*n))));
        all.sort_by_key(|e| (e.0, e.1));
        for (time, _, ev) in all {
            match ev {
                In::Transport(tr) => {
                    let mut e = transport_event(tr, self.sample_rate);
                    e.header = EventHeader::new_core(time, clack_host::events::EventFlags::empty());
                    self.input.push(&e);
                }
                In::Param(id, v) => {
                    self.input.push(&ParamValueEvent::new(
                        time,
                        ClapId::new(id),
                        Pckn::match_all(),
                        v,
                    ));
                }
                In::Note(n) => {
                    // A key above 127 is a wildcard (some hosts end all notes with one note-off).
                    let key = if n.key <= 127 {
                        Match::Specific(u16::from(n.key))
                    } else {
                        Match::All
                    };
                    let pckn = Pckn::new(0u16, u16::from(self.player_channel), key, Match::All);
                    if n.on {
                        self.input.push(&NoteOnEvent::new(n.time, pckn, n.velocity));
                    } else {
                        self.input
                            .push(&NoteOffEvent::new(n.time, pckn, n.velocity));
                    }
                }
            }
        }
        let transport = transport_event(t, self.sample_rate);
        let in_events = InputEvents::from_buffer(&self.input);
        let mut out_events = OutputEvents::from_buffer(&mut self.output);
        // SAFETY: no audio input: an empty buffer list; frames_count only sets the block length.
        let in_audio = unsafe { InputAudioBuffers::from_raw_buffers(&[], frames) };
        // One stereo output port (the voice), filled with garbage first so a plugin that does not
        // write it shows.
        for ch in self.audio.iter_mut() {
            ch.clear();
            ch.resize(frames as usize, f32::NAN);
        }
        let [left, right] = &mut self.audio;
        let mut channels = [left.as_mut_ptr(), right.as_mut_ptr()];
        let mut out_port = [clap_sys::audio_buffer::clap_audio_buffer {
            data32: channels.as_mut_ptr(),
            data64: std::ptr::null_mut(),
            channel_count: 2,
            latency: 0,
            constant_mask: 0,
        }];
        // SAFETY: the port's two channel pointers point at `frames` floats each (`self.audio`),
        // and both the pointer array and the buffers outlive the process call below.
        let mut out_audio = unsafe { OutputAudioBuffers::from_raw_buffers(&mut out_port, frames) };
        processor
            .process(
                &in_audio,
                &mut out_audio,
                &in_events,
                &mut out_events,
                Some(self.steady),
                Some(&transport),
            )
            .map_err(|e| HostError::failed("process", e))?;
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

impl ClapHost {
    /// The plugin's saved state (CLAP state extension), as a host writes it into a project.
    pub fn save_state(&mut self) -> Result<Vec<u8>, HostError> {
        let plugin = self.instance.raw_instance();
        let state = state_ext(plugin)?;
        let mut out: Vec<u8> = Vec::new();
        let stream = clap_sys::stream::clap_ostream {
            ctx: (&mut out as *mut Vec<u8>).cast(),
            write: Some(write_vec),
        };
        let save = state.save.ok_or(HostError::Missing("state.save missing"))?;
        // SAFETY: `plugin` and `state` come from the live instance; the stream writes into `out`,
        // which outlives the call.
        if unsafe { save(plugin, &stream) } {
            Ok(out)
        } else {
            Err(HostError::Refused("the plugin refused to save its state"))
        }
    }

    /// Load a saved state (CLAP state extension), as a host does when it opens a project.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), HostError> {
        let plugin = self.instance.raw_instance();
        let state = state_ext(plugin)?;
        let mut cursor: &[u8] = bytes;
        let stream = clap_sys::stream::clap_istream {
            ctx: (&mut cursor as *mut &[u8]).cast(),
            read: Some(read_slice),
        };
        let load = state.load.ok_or(HostError::Missing("state.load missing"))?;
        // SAFETY: as in `save_state`; the stream reads from `bytes`, alive for the call.
        if unsafe { load(plugin, &stream) } {
            Ok(())
        } else {
            Err(HostError::Refused("the plugin refused the state"))
        }
    }

    /// A parameter's current CLAP plain value (see [`Self::set_param`]).
    pub fn param_value(&mut self, id: &str) -> Option<f64> {
        let plugin = self.instance.raw_instance();
        let params: &clap_sys::ext::params::clap_plugin_params =
            extension(plugin, clap_sys::ext::params::CLAP_EXT_PARAMS)?;
        let mut value = 0.0;
        // SAFETY: the params extension of the live instance; `value` is a valid out pointer.
        unsafe { params.get_value?(plugin, param_hash(id), &mut value) }.then_some(value)
    }
}

impl ClapHost {
    /// Render offline (a bounce, CLAP render extension) or in real time. Call before `activate`,
    /// as hosts do: nice-plug applies the mode at the next activation.
    pub fn set_render_offline(&mut self, offline: bool) -> Result<(), HostError> {
        use clap_sys::ext::render::{
            clap_plugin_render, CLAP_EXT_RENDER, CLAP_RENDER_OFFLINE, CLAP_RENDER_REALTIME,
        };
        let plugin = self.instance.raw_instance();
        let render: &clap_plugin_render = extension(plugin, CLAP_EXT_RENDER)
            .ok_or(HostError::Missing("the plugin has no render extension"))?;
        let set = render.set.ok_or(HostError::Missing("render.set missing"))?;
        let mode = if offline {
            CLAP_RENDER_OFFLINE
        } else {
            CLAP_RENDER_REALTIME
        };
        // SAFETY: `plugin` is the live instance; `mode` is one of the two CLAP render modes.
        if unsafe { set(plugin, mode) } {
            Ok(())
        } else {
            Err(HostError::Refused("the plugin refused the render mode"))
        }
    }

    /// How the plugin shows a parameter's plain value (CLAP params extension's value_to_text).
    pub fn param_text(&mut self, id: &str, plain: f64) -> Option<String> {
        let plugin = self.instance.raw_instance();
        let params: &clap_sys::ext::params::clap_plugin_params =
            extension(plugin, clap_sys::ext::params::CLAP_EXT_PARAMS)?;
        let mut buf = [0 as std::ffi::c_char; 256];
        // SAFETY: `buf` holds 256 bytes and its size is passed.
        let ok = unsafe {
            params.value_to_text?(
                plugin,
                param_hash(id),
                plain,
                buf.as_mut_ptr(),
                buf.len() as u32,
            )
        };
        ok.then(|| {
            // SAFETY: on success the plugin wrote a NUL-terminated string into `buf`.
            unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        })
    }
}

/// nice-plug's parameter id hash (its `hash_param_id`, not public): the CLAP id of a string id.
pub fn param_hash(id: &str) -> u32 {
    let mut hash: u32 = 0;
    for b in id.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(u32::from(b));
    }
    hash & !(1 << 31)
}

fn state_ext(
    plugin: &clap_sys::plugin::clap_plugin,
) -> Result<&clap_sys::ext::state::clap_plugin_state, HostError> {
    extension(plugin, clap_sys::ext::state::CLAP_EXT_STATE)
        .ok_or(HostError::Missing("the plugin has no state extension"))
}

/// The plugin's extension `id`, as the struct `T` that CLAP defines for that id (the caller names
/// the pair: `T` must be the extension struct of `id`).
fn extension<'a, T>(
    plugin: &'a clap_sys::plugin::clap_plugin,
    id: &std::ffi::CStr,
) -> Option<&'a T> {
    let get = plugin.get_extension?;
    // SAFETY: called on the live instance with a NUL-terminated extension id.
    let ext = unsafe { get(plugin, id.as_ptr()) };
    // SAFETY: a non-null pointer for `id` points at that extension's struct (`T`, by the caller's
    // pairing), which CLAP keeps valid as long as the plugin instance.
    (!ext.is_null()).then(|| unsafe { &*(ext as *const T) })
}

unsafe extern "C" fn write_vec(
    stream: *const clap_sys::stream::clap_ostream,
    buffer: *const std::ffi::c_void,
    size: u64,
) -> i64 {
    // SAFETY: `ctx` is the `Vec<u8>` set up by `save_state`, and the plugin hands us `size` bytes.
    let out = unsafe { &mut *((*stream).ctx as *mut Vec<u8>) };
    // SAFETY: the plugin's buffer holds `size` initialized bytes for the length of this call.
    let bytes = unsafe { std::slice::from_raw_parts(buffer as *const u8, size as usize) };
    out.extend_from_slice(bytes);
    size as i64
}

unsafe extern "C" fn read_slice(
    stream: *const clap_sys::stream::clap_istream,
    buffer: *mut std::ffi::c_void,
    size: u64,
) -> i64 {
    // SAFETY: `ctx` is the `&[u8]` set up by `load_state`; the plugin gives room for `size` bytes.
    let rest = unsafe { &mut *((*stream).ctx as *mut &[u8]) };
    let n = rest.len().min(size as usize);
    // SAFETY: `buffer` has room for `size` >= `n` bytes, and the plugin's buffer and our state do
    // not overlap.
    unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), buffer as *mut u8, n) };
    *rest = &rest[n..];
    n as i64
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
    if t.loop_range.is_some() {
        flags |= TransportFlags::IS_LOOP_ACTIVE;
    }
    let (loop_start, loop_end) = t.loop_range.unwrap_or((0.0, 0.0));
    let (num, den) = t.time_sig;
    let beats_per_bar = f64::from(num) * 4.0 / f64::from(den);
    let bar = (t.beat / beats_per_bar + 1e-9).floor();
    TransportEvent {
        header: EventHeader::new_core(0, clack_host::events::EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(t.beat),
        song_pos_seconds: SecondsTime::from_float(t.beat * 60.0 / t.tempo),
        tempo: t.tempo,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_float(loop_start),
        loop_end_beats: BeatTime::from_float(loop_end),
        loop_start_seconds: SecondsTime::from_float(loop_start * 60.0 / t.tempo),
        loop_end_seconds: SecondsTime::from_float(loop_end * 60.0 / t.tempo),
        bar_start: BeatTime::from_float(bar * beats_per_bar),
        bar_number: bar as i32,
        time_signature_numerator: num,
        time_signature_denominator: den,
    }
}

mod fixtures;
mod session;

pub use fixtures::{
    bundle_dir, fetched_ort, model_with_style, state_field, state_with_field, use_fetched_ort,
};
pub use session::{BlockLog, PlayedNote, Session, PLAYER_CHANNEL};
