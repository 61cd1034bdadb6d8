//! Cadenza's VST3 bundle in a small VST3 host written here with the `vst3` crate's COM bindings:
//! load the module, create the component, set up processing, send notes, receive notes, change a
//! parameter, save the state and restore it into a second instance.
#![cfg(feature = "host")]
// The SDK's enum constants are u32 in the bindings for Linux and i32 for Windows (C enums are signed
// there): the casts to the API's i32 are needed on one and empty on the other.
#![cfg_attr(windows, allow(clippy::unnecessary_cast))]

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;

use cadenza::host::{bundle_dir, param_hash};
use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{Class, ComPtr, ComWrapper, Interface};

const SR: f64 = 48_000.0;
const BLOCK: i32 = 512;
const PLAYER_CHANNEL: i16 = 1;

/// Events in one direction of one block.
struct Events(RefCell<Vec<Event>>);

impl Class for Events {
    type Interfaces = (IEventList,);
}

impl IEventListTrait for Events {
    unsafe fn getEventCount(&self) -> int32 {
        self.0.borrow().len() as int32
    }
    unsafe fn getEvent(&self, index: int32, e: *mut Event) -> tresult {
        match self.0.borrow().get(index as usize) {
            // SAFETY: the caller hands a valid Event to fill.
            Some(ev) => unsafe {
                *e = *ev;
                kResultOk
            },
            None => kInvalidArgument,
        }
    }
    unsafe fn addEvent(&self, e: *mut Event) -> tresult {
        // SAFETY: the caller hands a valid Event.
        self.0.borrow_mut().push(unsafe { *e });
        kResultOk
    }
}

/// A memory stream for getState/setState.
struct Stream(RefCell<(Vec<u8>, usize)>);

impl Class for Stream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for Stream {
    unsafe fn read(&self, buffer: *mut c_void, n: int32, read: *mut int32) -> tresult {
        let mut s = self.0.borrow_mut();
        let (data, pos) = &mut *s;
        let k = (n.max(0) as usize).min(data.len() - *pos);
        // SAFETY: the caller's buffer holds `n` bytes; we copy at most that many.
        unsafe { ptr::copy_nonoverlapping(data[*pos..].as_ptr(), buffer as *mut u8, k) };
        *pos += k;
        if !read.is_null() {
            // SAFETY: a valid out pointer when not null.
            unsafe { *read = k as int32 };
        }
        kResultOk
    }
    unsafe fn write(&self, buffer: *mut c_void, n: int32, written: *mut int32) -> tresult {
        // SAFETY: the caller's buffer holds `n` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(buffer as *const u8, n.max(0) as usize) };
        self.0.borrow_mut().0.extend_from_slice(bytes);
        if !written.is_null() {
            // SAFETY: a valid out pointer when not null.
            unsafe { *written = n };
        }
        kResultOk
    }
    unsafe fn seek(&self, pos: int64, mode: int32, result: *mut int64) -> tresult {
        let mut s = self.0.borrow_mut();
        let base = match mode as u32 {
            0 => 0,
            1 => s.1 as i64,
            _ => s.0.len() as i64,
        };
        s.1 = (base + pos).clamp(0, s.0.len() as i64) as usize;
        if !result.is_null() {
            // SAFETY: a valid out pointer when not null.
            unsafe { *result = s.1 as int64 };
        }
        kResultOk
    }
    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        if !pos.is_null() {
            // SAFETY: a valid out pointer when not null.
            unsafe { *pos = self.0.borrow().1 as int64 };
        }
        kResultOk
    }
}

struct Plugin {
    component: ComPtr<IComponent>,
    processor: ComPtr<IAudioProcessor>,
    controller: ComPtr<IEditController>,
    /// The loudest sample of the voice's stereo output so far (NaN if a block was left unwritten).
    peak: std::cell::Cell<f32>,
}

/// Load the module once (it stays loaded for the process, as in a host that scanned it).
fn factory() -> ComPtr<IPluginFactory> {
    #[cfg(not(windows))]
    let so = bundle_dir().join("Cadenza.vst3/Contents/x86_64-linux/Cadenza.so");
    #[cfg(windows)]
    let so = bundle_dir().join("Cadenza.vst3/Contents/x86_64-win/Cadenza.vst3");
    // SAFETY: loading the plugin runs its initialisers; that is what a host does.
    let lib = Box::leak(Box::new(
        unsafe { libloading::Library::new(&so) }
            .unwrap_or_else(|e| panic!("{}: {e}", so.display())),
    ));
    // SAFETY: the VST3 module entry points, with their documented signatures.
    unsafe {
        #[cfg(not(windows))]
        {
            let entry: libloading::Symbol<unsafe extern "C" fn(*mut c_void) -> bool> =
                lib.get(b"ModuleEntry").unwrap();
            assert!(entry(ptr::null_mut()), "ModuleEntry failed");
        }
        // Windows' entry point takes no handle.
        #[cfg(windows)]
        {
            let entry: libloading::Symbol<unsafe extern "system" fn() -> bool> =
                lib.get(b"InitDll").unwrap();
            assert!(entry(), "InitDll failed");
        }
        let get: libloading::Symbol<unsafe extern "system" fn() -> *mut IPluginFactory> =
            lib.get(b"GetPluginFactory").unwrap();
        ComPtr::from_raw(get()).expect("GetPluginFactory returned null")
    }
}

fn instantiate(factory: &ComPtr<IPluginFactory>) -> Plugin {
    // SAFETY: COM calls on live objects with valid out pointers, per the VST3 API.
    unsafe {
        let mut cid: Option<TUID> = None;
        for i in 0..factory.countClasses() {
            let mut info: PClassInfo = std::mem::zeroed();
            assert_eq!(factory.getClassInfo(i, &mut info), kResultOk);
            let category = std::ffi::CStr::from_ptr(info.category.as_ptr())
                .to_string_lossy()
                .into_owned();
            if category == "Audio Module Class" {
                cid = Some(info.cid);
            }
        }
        let cid = cid.expect("no audio module class in the factory");
        let mut obj: *mut c_void = ptr::null_mut();
        let iid = IComponent::IID;
        assert_eq!(
            factory.createInstance(cid.as_ptr(), iid.as_ptr() as FIDString, &mut obj),
            kResultOk
        );
        let component = ComPtr::<IComponent>::from_raw(obj as *mut IComponent).unwrap();
        assert_eq!(component.initialize(ptr::null_mut()), kResultOk);
        let processor = component
            .cast::<IAudioProcessor>()
            .expect("no IAudioProcessor");
        let controller = component
            .cast::<IEditController>()
            .expect("no IEditController on the component");
        Plugin {
            component,
            processor,
            controller,
            peak: std::cell::Cell::new(0.0),
        }
    }
}

impl Plugin {
    fn start(&self) {
        // SAFETY: as in `instantiate`.
        unsafe {
            let mut setup = ProcessSetup {
                processMode: ProcessModes_::kRealtime as i32,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                maxSamplesPerBlock: BLOCK,
                sampleRate: SR,
            };
            assert_eq!(self.processor.setupProcessing(&mut setup), kResultOk);
            if self
                .component
                .getBusCount(MediaTypes_::kAudio as i32, BusDirections_::kOutput as i32)
                > 0
            {
                assert_eq!(
                    self.component.activateBus(
                        MediaTypes_::kAudio as i32,
                        BusDirections_::kOutput as i32,
                        0,
                        1
                    ),
                    kResultOk
                );
            }
            for dir in [BusDirections_::kInput, BusDirections_::kOutput] {
                if self
                    .component
                    .getBusCount(MediaTypes_::kEvent as i32, dir as i32)
                    > 0
                {
                    assert_eq!(
                        self.component
                            .activateBus(MediaTypes_::kEvent as i32, dir as i32, 0, 1),
                        kResultOk
                    );
                }
            }
            assert_eq!(self.component.setActive(1), kResultOk);
            self.processor.setProcessing(1);
        }
    }

    fn stop(&self) {
        // SAFETY: as in `instantiate`.
        unsafe {
            self.processor.setProcessing(0);
            self.component.setActive(0);
            self.component.terminate();
        }
    }

    /// One block; returns (sample offset, on, pitch, channel) of every event out.
    fn process(
        &self,
        beat: f64,
        playing: bool,
        notes: &[(i32, bool, i16)],
    ) -> Vec<(i32, bool, i16, i16)> {
        let input = ComWrapper::new(Events(RefCell::new(
            notes
                .iter()
                .map(|&(t, on, pitch)| note(t, on, pitch))
                .collect(),
        )));
        let output = ComWrapper::new(Events(RefCell::new(Vec::new())));
        // SAFETY: a zeroed ProcessContext is valid (all plain data); the fields we use are set.
        let mut ctx: ProcessContext = unsafe { std::mem::zeroed() };
        // (The SDK's enums are u32 constants here, i32 on Windows, as C enums are there.)
        ctx.state = (ProcessContext_::StatesAndFlags_::kTempoValid
            | ProcessContext_::StatesAndFlags_::kProjectTimeMusicValid
            | ProcessContext_::StatesAndFlags_::kTimeSigValid
            | if playing {
                ProcessContext_::StatesAndFlags_::kPlaying
            } else {
                0
            }) as _;
        ctx.sampleRate = SR;
        ctx.tempo = 120.0;
        ctx.projectTimeMusic = beat;
        ctx.projectTimeSamples = (beat * SR / 2.0) as i64;
        ctx.timeSigNumerator = 4;
        ctx.timeSigDenominator = 4;
        // The voice's stereo output, NaN until the plugin writes it.
        let mut left = vec![f32::NAN; BLOCK as usize];
        let mut right = vec![f32::NAN; BLOCK as usize];
        let mut channels = [left.as_mut_ptr(), right.as_mut_ptr()];
        let mut bus = AudioBusBuffers {
            numChannels: 2,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: channels.as_mut_ptr(),
            },
        };
        let mut data = ProcessData {
            processMode: ProcessModes_::kRealtime as i32,
            symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
            numSamples: BLOCK,
            numInputs: 0,
            numOutputs: 1,
            inputs: ptr::null_mut(),
            outputs: &mut bus,
            inputParameterChanges: ptr::null_mut(),
            outputParameterChanges: ptr::null_mut(),
            inputEvents: input.to_com_ptr::<IEventList>().unwrap().into_raw(),
            outputEvents: output.to_com_ptr::<IEventList>().unwrap().into_raw(),
            processContext: &mut ctx,
        };
        // SAFETY: every pointer in `data` is alive for the call.
        assert_eq!(unsafe { self.processor.process(&mut data) }, kResultOk);
        let peak = left.iter().chain(&right).fold(0.0f32, |m, &x| {
            if x.is_nan() || m.is_nan() {
                f32::NAN
            } else {
                m.max(x.abs())
            }
        });
        let before = self.peak.get();
        self.peak.set(if peak.is_nan() || before.is_nan() {
            f32::NAN
        } else {
            before.max(peak)
        });
        // SAFETY: release the references handed out with into_raw above.
        unsafe {
            drop(ComPtr::from_raw(data.inputEvents));
            drop(ComPtr::from_raw(data.outputEvents));
        }
        let out = output.0.borrow();
        out.iter()
            .filter_map(|e| {
                // SAFETY: the union member read matches the event's type.
                unsafe {
                    const NOTE_ON: u16 = Event_::EventTypes_::kNoteOnEvent as u16;
                    const NOTE_OFF: u16 = Event_::EventTypes_::kNoteOffEvent as u16;
                    match e.r#type {
                        NOTE_ON => Some((
                            e.sampleOffset,
                            e.__field0.noteOn.velocity > 0.0,
                            e.__field0.noteOn.pitch,
                            e.__field0.noteOn.channel,
                        )),
                        NOTE_OFF => Some((
                            e.sampleOffset,
                            false,
                            e.__field0.noteOff.pitch,
                            e.__field0.noteOff.channel,
                        )),
                        _ => None,
                    }
                }
            })
            .collect()
    }

    fn param(&self, id: &str) -> f64 {
        // SAFETY: as in `instantiate`.
        unsafe { self.controller.getParamNormalized(param_hash(id)) }
    }

    fn set_param(&self, id: &str, normalized: f64) {
        // SAFETY: as in `instantiate`.
        let result = unsafe {
            self.controller
                .setParamNormalized(param_hash(id), normalized)
        };
        assert_eq!(result, kResultOk);
    }

    fn save(&self) -> Vec<u8> {
        let stream = ComWrapper::new(Stream(RefCell::new((Vec::new(), 0))));
        let ptr = stream.to_com_ptr::<IBStream>().unwrap();
        // SAFETY: the stream is alive for the call.
        assert_eq!(unsafe { self.component.getState(ptr.as_ptr()) }, kResultOk);
        let data = stream.0.borrow().0.clone();
        data
    }

    fn load(&self, bytes: &[u8]) {
        let stream = ComWrapper::new(Stream(RefCell::new((bytes.to_vec(), 0))));
        let ptr = stream.to_com_ptr::<IBStream>().unwrap();
        // SAFETY: the stream is alive for the call.
        assert_eq!(unsafe { self.component.setState(ptr.as_ptr()) }, kResultOk);
    }
}

fn note(time: i32, on: bool, pitch: i16) -> Event {
    // SAFETY: a zeroed Event is valid plain data; the used fields are set below.
    let mut e: Event = unsafe { std::mem::zeroed() };
    e.sampleOffset = time;
    e.r#type = if on {
        Event_::EventTypes_::kNoteOnEvent
    } else {
        Event_::EventTypes_::kNoteOffEvent
    } as u16;
    if on {
        e.__field0.noteOn = NoteOnEvent {
            channel: PLAYER_CHANNEL,
            pitch,
            tuning: 0.0,
            velocity: 0.8,
            length: 0,
            noteId: -1,
        };
    } else {
        e.__field0.noteOff = NoteOffEvent {
            channel: PLAYER_CHANNEL,
            pitch,
            velocity: 0.0,
            noteId: -1,
            tuning: 0.0,
        };
    }
    e
}

#[test]
fn cadenza_in_a_vst3_host_plays_passes_through_and_restores_its_state() {
    let factory = factory();
    let a = instantiate(&factory);
    a.set_param("seed", 0.25);
    a.set_param("scale", 1.0 / 9.0);
    a.start();
    // 0.5 s stopped (the engine loads), then 6 s rolling with the player playing, in real time.
    let started = std::time::Instant::now();
    let (mut passed, mut generated_on, mut generated_off) = (0, 0, 0);
    let mut open = [false; 128];
    let blocks = (6.5 * SR / f64::from(BLOCK)) as usize;
    for b in 0..blocks {
        let t = b as f64 * f64::from(BLOCK) / SR;
        let playing = t >= 0.5;
        let beat = if playing { (t - 0.5) * 2.0 } else { 0.0 };
        let notes: Vec<(i32, bool, i16)> = match b {
            60 => vec![(0, true, 60)],
            70 => vec![(100, false, 60)],
            _ => vec![],
        };
        for (time, on, pitch, channel) in a.process(beat, playing, &notes) {
            assert!((0..BLOCK).contains(&time), "event at {time}");
            if channel == PLAYER_CHANNEL {
                passed += 1;
                continue;
            }
            if on {
                generated_on += 1;
            } else {
                assert!(
                    open[pitch as usize],
                    "a note-off for a note Cadenza was not playing: {pitch}"
                );
                generated_off += 1;
            }
            open[pitch as usize] = on;
        }
        let due = std::time::Duration::from_secs_f64((b + 1) as f64 * f64::from(BLOCK) / SR);
        if let Some(w) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(w);
        }
    }
    // Stop: every note ends in the stop block.
    for (_, on, pitch, channel) in a.process(12.0, false, &[]) {
        if channel != PLAYER_CHANNEL {
            assert!(!on);
            open[pitch as usize] = false;
            generated_off += 1;
        }
    }
    assert_eq!(passed, 2, "the player's note-on and note-off pass through");
    assert!(generated_on > 0, "Cadenza played nothing through VST3");
    let peak = a.peak.get();
    assert!(
        peak > 1e-3 && peak < 2.0,
        "the built-in voice's output: peak {peak} (NaN: a block left unwritten)"
    );
    assert!(
        open.iter().all(|o| !o) && generated_off >= generated_on,
        "notes left sounding after the stop"
    );
    let state = a.save();
    assert!(state.len() > 16, "an empty state");
    a.stop();

    let b = instantiate(&factory);
    b.load(&state);
    for id in ["seed", "scale", "temperature", "mode"] {
        assert!(
            (b.param(id) - a.param(id)).abs() < 1e-6,
            "{id}: {} restored as {}",
            a.param(id),
            b.param(id)
        );
    }
    assert!(
        (b.param("seed") - 0.25).abs() < 1e-3,
        "the changed parameter came back: {}",
        b.param("seed")
    );
    b.stop();
}
