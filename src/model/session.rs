//! One ONNX Runtime session running the step graph, with the ring KV cache it reads and fills.
//!
//! Engine thread only. Inputs and outputs follow model.json format 2 (see
//! `models/cadenza_model/cli/export.py`, `RingStepGraph`): tokens (1,T) i64; past keys and values
//! (n_layer, n_head, C, head_dim) f32 with C = window - 1 ring slots; rel_index (n_head, T, C+T) i64 and
//! mask (T, C+T) f32, built here, saying per new token which relative distance each key is at and
//! whether it may be seen -> logits (T, vocab); the new tokens' keys and values (n_layer, n_head, T,
//! head_dim), written here into their slots. Context position p lives in slot p mod C, so a step
//! copies one token's keys and values, never the cache, and the graph reads the cache in place.
//! Format 3 adds one input (see [`crate::features`]): features (T, 128 + ticks_per_beat) f32, per new
//! token the keys sounding after it, then its beat phase one-hot. (One input, not two: ort runs up to
//! six inputs from the stack; a seventh would allocate on every step.)
//! Beside the live cache the session keeps [`SPARE_CACHES`] more, made at load, that the engine
//! swaps in ([`OnnxModel::swap_caches`]) to move its context window without a prefill.

use ort::ep::ExecutionProvider;
use ort::session::{builder::GraphOptimizationLevel, Session, SessionInputValue};
use ort::value::TensorRef;

use super::provider::{Ep, Provider, ProviderChoice};
use super::spec::{IoNames, ModelSpec, SpecError};
use crate::features::{Features, Tracker};
use crate::runtime::{self, RuntimeError};
use ring::{ring_inputs, Ring, SmallRun};

mod ring;

/// Spare KV caches beside the live one (see [`OnnxModel::swap_caches`]); 2 MB each for the shipped
/// model.
pub const SPARE_CACHES: usize = 2;

/// Runs of up to this many tokens (every decode step, a played note with the rests around it, the
/// runs an int8 prefill is cut into) use inputs and outputs made at load: they allocate nothing.
pub const SMALL_RUN: usize = 8;

/// The most tokens one run of a dynamically quantized (int8) graph takes. ONNX Runtime scales a
/// run's activations over all its tokens, so a token's result depends, within int8's rounding, on
/// the tokens that share its run; the longer the run, the coarser the scale. Measured over held-out
/// pieces of every style (KL(fp32 || int8) per token): one token a run 0.000099, runs of 8 0.000112,
/// runs of 16 0.000114; argmax agreement 99.3-99.7% in each case. A run of 8 costs about two of one.
pub const INT8_RUN_TOKENS: usize = SMALL_RUN;
// Every run of an int8 graph must fit the buffers made at load, or it would allocate.
const _: () = assert!(INT8_RUN_TOKENS <= SMALL_RUN);

/// The graph's inputs as this side lists them: [tokens, past_keys, past_values, rel_index, mask]
/// and, format 3, [features].
const MAX_INPUTS: usize = 6;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
/// Why a model could not be loaded or run.
pub enum ModelError {
    #[error(transparent)]
    /// ONNX Runtime could not be loaded.
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    /// model.json is wrong.
    Spec(#[from] SpecError),
    #[error("model file could not be read: {0}")]
    /// The file could not be read.
    Io(String),
    #[error("model.onnx could not be loaded (corrupt or not an ONNX model?): {0}")]
    /// ONNX Runtime refused the graph.
    Onnx(String),
    #[error("model.onnx does not match model.json: {0}")]
    /// The graph's inputs or outputs are not what model.json says.
    Mismatch(String),
    #[error("inference failed: {0}")]
    /// A run failed.
    Inference(String),
    #[error("the CUDA provider could not be set up: {0}")]
    /// The CUDA provider could not be registered.
    Cuda(String),
}

/// A model loaded in ONNX Runtime, with its KV cache and spares: the plugin's [`crate::engine::Backend`].
pub struct OnnxModel {
    session: Session,
    /// Its model.json.
    pub spec: ModelSpec,
    io: IoNames,
    /// Where it runs, and why.
    pub provider: Provider,
    /// The KV cache every run reads and extends.
    ring: Ring,
    /// More caches of the same size, made at load: the engine builds the next context window's
    /// cache in one while idle and keeps the previous window's in another, and swaps them in
    /// ([`Self::swap_caches`]) instead of a long prefill.
    spares: [Ring; SPARE_CACHES],
    /// The session's inputs in its own order, as indices into [tokens, past_keys, past_values,
    /// rel_index, mask, features]: runs pass their inputs by position (no names, no map to build).
    /// The first `n_inputs` entries count: 5, or 6 for a graph with features.
    input_order: [usize; MAX_INPUTS],
    n_inputs: usize,
    /// Inputs and outputs of runs of 1..=[`SMALL_RUN`] tokens (entry t-1 for t tokens), made once
    /// here: such runs allocate nothing.
    small: Vec<SmallRun>,
    /// Logits of the last token fed.
    logits: Vec<f32>,
    /// Most tokens per run: [`INT8_RUN_TOKENS`] for a graph that quantizes activations dynamically
    /// (int8), else the window (a prefill in one run). See [`Self::feed`].
    run_tokens: usize,
    /// Input buffers of runs longer than [`SMALL_RUN`] (an fp32 prefill), reused: token ids,
    /// relative-distance index (n_head, T, slots+T), mask (T, slots+T).
    token_buf: Vec<i64>,
    index_buf: Vec<i64>,
    mask_buf: Vec<f32>,
    /// Features of a many-token run: (T, 128 + ticks_per_beat).
    feat_buf: Vec<f32>,
    /// Runs of the graph so far (for tests and the benchmark: how many runs a feed took).
    runs: u64,
}

impl OnnxModel {
    /// Create the session where `choice` says (see [`super::provider`]: CUDA asked for but missing
    /// runs on CPU; Auto measures both when CUDA is there) and check it against the spec.
    pub fn load(onnx: &[u8], spec: ModelSpec, choice: ProviderChoice) -> Result<Self, ModelError> {
        runtime::environment()?;
        let cuda = match choice {
            ProviderChoice::Cpu => {
                let mut m = Self::open(onnx, spec, Ep::Cpu)?;
                m.provider = Provider::chosen(Ep::Cpu, choice);
                return Ok(m);
            }
            _ => cuda_available(),
        };
        let on_cpu = |spec: ModelSpec, why: &str| -> Result<Self, ModelError> {
            let mut m = Self::open(onnx, spec, Ep::Cpu)?;
            m.provider = Provider::cpu_without_cuda(choice, why);
            Ok(m)
        };
        if let Err(why) = cuda {
            return on_cpu(spec, &why.to_string());
        }
        // Any failure to open on CUDA (registration, a missing CUDA library, session creation) falls
        // back to the CPU; a model that is itself broken fails there too, with the CPU's message.
        let mut gpu = match Self::open(onnx, spec.clone(), Ep::Cuda) {
            Ok(m) => m,
            Err(e) => return on_cpu(spec, &e.to_string()),
        };
        if choice == ProviderChoice::Cuda {
            gpu.provider = Provider::chosen(Ep::Cuda, choice);
            return Ok(gpu);
        }
        // Auto: the faster of the two for this model, measured on the engine thread at load.
        let mut cpu = Self::open(onnx, spec, Ep::Cpu)?;
        let cpu_us = cpu.step_median_us()?;
        let gpu_us = match gpu.step_median_us() {
            Ok(us) => us,
            Err(e) => {
                cpu.provider = Provider::cpu_without_cuda(choice, &e.to_string());
                return Ok(cpu);
            }
        };
        let verdict = Provider::auto_from(cpu_us, gpu_us);
        let mut winner = if verdict.runs_on == Ep::Cuda {
            gpu
        } else {
            cpu
        };
        winner.provider = verdict;
        Ok(winner)
    }

    /// One session on `ep`, checked against the spec; its provider says "chosen" until the caller
    /// says otherwise.
    fn open(onnx: &[u8], spec: ModelSpec, ep: Ep) -> Result<Self, ModelError> {
        let (env, _) = runtime::environment()?;
        let io = spec.io_names()?;
        let session = session_on(&env, onnx, ep)?;
        let (input_order, n_inputs) = check_graph(&session, &spec, &io)?;
        let slots = spec.window as usize - 1;
        let cache_shape = [
            spec.n_layer as usize,
            spec.n_head as usize,
            slots,
            spec.head_dim as usize,
        ];
        let made = |e: ort::Error| ModelError::Onnx(format!("buffers for the session: {e}"));
        let ring = Ring::new(cache_shape).map_err(made)?;
        let spares = [
            Ring::new(cache_shape).map_err(made)?,
            Ring::new(cache_shape).map_err(made)?,
        ];
        let small = (1..=SMALL_RUN)
            .map(|t| SmallRun::new(&spec, &io, t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(made)?;
        let vocab = spec.vocab().size as usize;
        let window = spec.window as usize;
        let cols = slots + window;
        // ONNX Runtime's dynamic quantization scales a run's activations over all its tokens: short
        // runs keep that scale close to each token's own (see INT8_RUN_TOKENS).
        let dynamic = onnx
            .windows(b"DynamicQuantizeLinear".len())
            .any(|w| w == b"DynamicQuantizeLinear");
        let run_tokens = if dynamic { INT8_RUN_TOKENS } else { window };
        Ok(Self {
            session,
            io,
            provider: Provider::chosen(ep, ProviderChoice::Cpu),
            run_tokens,
            ring,
            spares,
            input_order,
            n_inputs,
            small,
            runs: 0,
            logits: vec![0.0; vocab],
            token_buf: Vec::with_capacity(window),
            index_buf: Vec::with_capacity(spec.n_head as usize * window * cols),
            mask_buf: Vec::with_capacity(window * cols),
            feat_buf: Vec::with_capacity(window * feature_width(&spec)),
            spec,
        })
    }

    /// Median time (µs) of one single-token decode step after a short context, warmed up first:
    /// what Auto compares. Leaves the cache empty.
    pub fn step_median_us(&mut self) -> Result<f64, ModelError> {
        const WARM_UP: usize = 3;
        const RUNS: usize = 15;
        let v = self.spec.vocab();
        let context: Vec<u32> = std::iter::once(v.style_base)
            .chain((0..31).map(|i| match i % 3 {
                0 => v.note_on_base + 60 + i % 12,
                1 => v.shift_base + 5,
                _ => v.note_off_base + 60 + (i - 2) % 12,
            }))
            .collect();
        let feats = Tracker::of(v, self.spec.ticks_per_beat, &context);
        let next = [v.note_on_base + 64];
        let next_feats = [Tracker::of(v, self.spec.ticks_per_beat, &[next[0]])[0]];
        self.reset();
        self.feed(&context, &feats)?;
        let mut times = Vec::with_capacity(RUNS);
        for i in 0..WARM_UP + RUNS {
            self.truncate(context.len());
            let started = std::time::Instant::now();
            self.feed(&next, &next_feats)?;
            if i >= WARM_UP {
                times.push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
        self.reset();
        times.sort_by(f64::total_cmp);
        Ok(times[RUNS / 2])
    }

    /// Forget the context.
    pub fn reset(&mut self) {
        self.ring.reset();
    }

    /// Keep the first `len` cache entries (exact: entries never depend on later tokens). The later
    /// slots are marked empty; nothing moves.
    pub fn truncate(&mut self, len: usize) {
        self.ring.truncate(len);
    }

    /// Exchange the cache with spare number `spare` (< [`SPARE_CACHES`]; empty at load). Every
    /// other call (feed, truncate, reset) acts on the cache in place, so a caller builds a spare by
    /// swapping, feeding and swapping back. Moves handles; copies no cache.
    pub fn swap_caches(&mut self, spare: usize) {
        std::mem::swap(&mut self.ring, &mut self.spares[spare]);
    }

    /// Runs of the graph since load.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Tokens in the cache.
    pub fn cache_len(&self) -> usize {
        self.ring.len
    }

    /// Room left before the window is full.
    pub fn room(&self) -> usize {
        self.slots().saturating_sub(self.ring.len)
    }

    fn slots(&self) -> usize {
        self.spec.window as usize - 1
    }

    /// Whether [`Self::feed`] needs features beside the tokens (format 3).
    pub fn takes_features(&self) -> bool {
        self.n_inputs == MAX_INPUTS
    }

    /// Run `tokens` after the cache and return the logits that follow the last of them: in one run
    /// (a prefill), or for a dynamically quantized graph in runs of up to [`INT8_RUN_TOKENS`].
    /// `feats`: one per token for a graph that takes them ([`Self::takes_features`]); ignored
    /// otherwise (may be empty).
    pub fn feed(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], ModelError> {
        if self.takes_features() && feats.len() != tokens.len() {
            return Err(ModelError::Inference(format!(
                "{} tokens with features for {}",
                tokens.len(),
                feats.len()
            )));
        }
        let n = self.run_tokens;
        if tokens.len() > n {
            for (i, run) in tokens.chunks(n).enumerate() {
                let at = i * n;
                self.run(run, feats.get(at..at + run.len()).unwrap_or(&[]))?;
            }
            return Ok(&self.logits);
        }
        self.run(tokens, feats)
    }

    /// One run of the graph over `tokens` (at most `window` of them). A run of up to [`SMALL_RUN`]
    /// tokens allocates nothing on this side (its inputs and outputs were made at load; ONNX
    /// Runtime's CPU arena serves its own intermediates).
    fn run(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], ModelError> {
        let window = self.spec.window as usize;
        if tokens.is_empty() || tokens.len() > window {
            return Err(ModelError::Inference(format!(
                "feed takes 1 to {window} tokens, not {}",
                tokens.len()
            )));
        }
        let (l, h, d) = (
            self.spec.n_layer as usize,
            self.spec.n_head as usize,
            self.spec.head_dim as usize,
        );
        let slots = self.slots();
        let vocab = self.spec.vocab().size as usize;
        let t = tokens.len();
        let cols = slots + t;
        let inf = |e: ort::Error| ModelError::Inference(e.to_string());
        let Self {
            session,
            io,
            ring,
            input_order,
            n_inputs,
            small,
            logits: last_logits,
            token_buf,
            index_buf,
            mask_buf,
            feat_buf,
            spec,
            runs,
            ..
        } = self;
        let Ring {
            keys,
            values,
            slot_pos,
            next,
            ..
        } = ring;
        let width = feature_width(spec);
        let layout = spec.feature_layout();
        let order = &input_order[..*n_inputs];
        *runs += 1;
        let outputs = if t <= SMALL_RUN {
            let one = &mut small[t - 1];
            for (x, &token) in one.tokens.extract_tensor_mut().1.iter_mut().zip(tokens) {
                *x = i64::from(token);
            }
            let rows = one.features.extract_tensor_mut().1.chunks_mut(width);
            for (f, row) in feats.iter().zip(rows) {
                layout.write(f, row);
            }
            ring_inputs(
                slot_pos,
                *next,
                t,
                window,
                h,
                one.index.extract_tensor_mut().1,
                one.mask.extract_tensor_mut().1,
            );
            let mine = [
                SessionInputValue::from(&one.tokens),
                SessionInputValue::from(&*keys),
                SessionInputValue::from(&*values),
                SessionInputValue::from(&one.index),
                SessionInputValue::from(&one.mask),
                SessionInputValue::from(&one.features),
            ];
            if *n_inputs == MAX_INPUTS {
                session.run_with_options(ordered::<MAX_INPUTS>(order, mine), &one.options)
            } else {
                session.run_with_options(ordered::<5>(order, mine), &one.options)
            }
        } else {
            token_buf.clear();
            token_buf.extend(tokens.iter().map(|&x| i64::from(x)));
            index_buf.resize(h * t * cols, 0);
            mask_buf.resize(t * cols, 0.0);
            ring_inputs(slot_pos, *next, t, window, h, index_buf, mask_buf);
            let tok =
                TensorRef::from_array_view(([1i64, t as i64], &token_buf[..])).map_err(inf)?;
            let index =
                TensorRef::from_array_view(([h as i64, t as i64, cols as i64], &index_buf[..]))
                    .map_err(inf)?;
            let mask = TensorRef::from_array_view(([t as i64, cols as i64], &mask_buf[..]))
                .map_err(inf)?;
            feat_buf.clear();
            feat_buf.resize(t * width, 0.0);
            for (f, row) in feats.iter().zip(feat_buf.chunks_mut(width)) {
                layout.write(f, row);
            }
            let features = TensorRef::from_array_view(([t as i64, width as i64], &feat_buf[..]))
                .map_err(inf)?;
            let mine = [
                SessionInputValue::from(tok),
                SessionInputValue::from(&*keys),
                SessionInputValue::from(&*values),
                SessionInputValue::from(index),
                SessionInputValue::from(mask),
                SessionInputValue::from(features),
            ];
            if *n_inputs == MAX_INPUTS {
                session.run(ordered::<MAX_INPUTS>(order, mine))
            } else {
                session.run(ordered::<5>(order, mine))
            }
        }
        .map_err(inf)?;
        last_logits_of(&outputs, io, t, vocab, last_logits)?;
        ring.take_new(&outputs, io, t, (l, h, d))?;
        Ok(&self.logits)
    }

    /// The logits after the last token fed.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }
}

/// ONNX Runtime's message without its source location and status code ("/onnxruntime_src/…cc:2043
/// … [ONNXRuntimeError] : 1 : FAIL : Failed to load library …" → "Failed to load library …").
fn ort_reason(message: &str) -> String {
    let tail = message
        .rsplit_once("[ONNXRuntimeError] : ")
        .map_or(message, |(_, rest)| rest);
    // "1 : FAIL : text": drop the code and the status name.
    let mut parts = tail.splitn(3, " : ");
    match (parts.next(), parts.next(), parts.next()) {
        (Some(code), Some(_), Some(text)) if code.trim().parse::<u32>().is_ok() => text.to_string(),
        _ => tail.to_string(),
    }
}

/// A session on `ep` for the graph `onnx`: one intra-op and one inter-op thread, full graph
/// optimization; on CUDA, an error that says why CUDA failed.
fn session_on(
    env: &ort::environment::Environment,
    onnx: &[u8],
    ep: Ep,
) -> Result<Session, ModelError> {
    let onnx_err = |e: ort::Error| ModelError::Onnx(e.to_string());
    let mut builder = Session::builder(env)
        .and_then(|b| Ok(b.with_intra_threads(1)?))
        .and_then(|b| Ok(b.with_inter_threads(1)?))
        .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
        .map_err(onnx_err)?;
    if ep == Ep::Cuda {
        builder = builder
            .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
            .map_err(|e| ModelError::Cuda(ort_reason(&e.to_string())))?;
    }
    let session = builder.commit_from_memory(onnx).map_err(|e| match ep {
        // Creating a session is where a CUDA provider that registered finds no device or library.
        Ep::Cuda => ModelError::Cuda(ort_reason(&e.to_string())),
        Ep::Cpu => onnx_err(e),
    })?;
    Ok(session)
}

/// Check the graph against model.json: every input and output named there, the cache's and the
/// features' shapes, the vocabulary's size, and no input more. Returns the order of the session's
/// inputs in ours ([tokens, past_keys, past_values, rel_index, mask, features]) and how many count.
fn check_graph(
    session: &Session,
    spec: &ModelSpec,
    io: &IoNames,
) -> Result<([usize; MAX_INPUTS], usize), ModelError> {
    let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let mut ours = vec![
        &io.tokens,
        &io.past_keys,
        &io.past_values,
        &io.rel_index,
        &io.mask,
    ];
    if let Some(f) = &io.features {
        ours.push(f);
    }
    for &name in &ours {
        if !inputs.contains(&name.as_str()) {
            return Err(ModelError::Mismatch(format!(
                "graph has no input `{name}` (it has {inputs:?})"
            )));
        }
    }
    for name in [&io.logits, &io.new_keys, &io.new_values] {
        if !outputs.contains(&name.as_str()) {
            return Err(ModelError::Mismatch(format!(
                "graph has no output `{name}` (it has {outputs:?})"
            )));
        }
    }
    let slots = spec.window as usize - 1;
    let want = [
        i64::from(spec.n_layer),
        i64::from(spec.n_head),
        slots as i64,
        i64::from(spec.head_dim),
    ];
    for name in [&io.past_keys, &io.past_values] {
        let shape = shape_of(session.inputs(), name);
        if !fits(&shape, &want) {
            return Err(ModelError::Mismatch(format!(
                    "input `{name}` has shape {shape:?}; model.json says (n_layer, n_head, window - 1, head_dim) = {want:?}"
                )));
        }
    }
    // Format 3: the features row is 128 keys then ticks_per_beat phases; a graph made for another
    // beat resolution would fail at its first run, so it is refused here, by name.
    if let Some(name) = &io.features {
        let shape = shape_of(session.inputs(), name);
        let width = feature_width(spec) as i64;
        if !fits(&shape, &[-1, width]) {
            return Err(ModelError::Mismatch(format!(
                    "input `{name}` has shape {shape:?}; model.json's ticks_per_beat {} needs [new, {width}]",
                    spec.ticks_per_beat
                )));
        }
    }
    // One-token runs write the logits into a tensor of model.json's vocabulary size: a graph
    // with another is refused here, by name, not at its first run.
    let vocab = spec.vocab().size as i64;
    let logits_shape = shape_of(session.outputs(), &io.logits);
    if !fits(&logits_shape, &[-1, vocab]) {
        return Err(ModelError::Mismatch(format!(
            "output `{}` has shape {logits_shape:?}; model.json's vocabulary has {vocab} tokens",
            io.logits
        )));
    }
    if inputs.len() != ours.len() {
        return Err(ModelError::Mismatch(format!(
            "graph has inputs {inputs:?}; format {} has exactly {}",
            spec.format_version,
            ours.len()
        )));
    }
    let n_inputs = ours.len();
    let mut input_order = [0usize; MAX_INPUTS];
    for (slot, name) in input_order.iter_mut().zip(&inputs) {
        *slot = ours
            .iter()
            .position(|o| o.as_str() == *name)
            .ok_or_else(|| {
                ModelError::Mismatch(format!("graph input `{name}` is not in model.json"))
            })?;
    }
    Ok((input_order, n_inputs))
}

/// The logits after the last of the run's `t` tokens into `last`, the run's logits checked for
/// their shape: (t, vocab).
fn last_logits_of(
    outputs: &ort::session::SessionOutputs<'_>,
    io: &IoNames,
    t: usize,
    vocab: usize,
    last: &mut [f32],
) -> Result<(), ModelError> {
    let (shape, logits) = outputs[io.logits.as_str()]
        .try_extract_tensor::<f32>()
        .map_err(|e| ModelError::Inference(e.to_string()))?;
    if shape[..] != [t as i64, vocab as i64] {
        return Err(ModelError::Mismatch(format!(
            "logits have shape {shape:?}, expected [{t}, {vocab}]"
        )));
    }
    last.copy_from_slice(&logits[(t - 1) * vocab..t * vocab]);
    Ok(())
}

/// Whether the loaded ONNX Runtime offers CUDA at all (the PyPI CPU build the bundles carry does not).
fn cuda_available() -> Result<(), NoCuda> {
    match ort::ep::CUDA::is_available() {
        Ok(true) => Ok(()),
        Ok(false) => Err(NoCuda::NotInBuild),
        Err(e) => Err(NoCuda::Query(e.to_string())),
    }
}

/// Why CUDA is not there, in the words the status strip shows.
#[derive(Debug, thiserror::Error)]
enum NoCuda {
    #[error("this ONNX Runtime build has no CUDA provider")]
    NotInBuild,
    #[error("{0}")]
    Query(String),
}

/// The first `N` of `mine` ([tokens, past_keys, past_values, rel_index, mask, features]) in the
/// session's input order (`order`: N indices into `mine`).
fn ordered<'v, const N: usize>(
    order: &[usize],
    mine: [SessionInputValue<'v>; MAX_INPUTS],
) -> [SessionInputValue<'v>; N] {
    let mut mine = mine.map(Some);
    std::array::from_fn(|i| mine[order[i]].take().expect("input_order is a permutation"))
}

/// The declared shape of the graph's input or output `name` (empty when it has none or no such name).
fn shape_of(outlets: &[ort::value::Outlet], name: &str) -> Vec<i64> {
    outlets
        .iter()
        .find(|o| o.name() == name)
        .and_then(|o| o.dtype().tensor_shape())
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default()
}

/// Whether a declared shape fits `want`: the same rank, and each dimension dynamic (< 0) on either
/// side or equal.
fn fits(shape: &[i64], want: &[i64]) -> bool {
    shape.len() == want.len()
        && shape
            .iter()
            .zip(want)
            .all(|(&g, &w)| g < 0 || w < 0 || g == w)
}

/// Floats per token of the `features` input ([`crate::features::Layout::width`]; at least 1, so a graph without
/// features still gets a buffer it never reads).
fn feature_width(spec: &ModelSpec) -> usize {
    spec.feature_layout().width().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_runtime_messages_lose_their_source_location() {
        let raw = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library /x/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory";
        assert_eq!(
            ort_reason(raw),
            "Failed to load library /x/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory"
        );
        assert_eq!(ort_reason("plain words"), "plain words");
    }
}
