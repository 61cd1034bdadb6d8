//! One ONNX Runtime session running the step graph, with the KV cache it feeds back.
//!
//! Engine thread only. Inputs and outputs follow model.json (see `models/cadenza_model/export.py`):
//! tokens (1,T) i64; past/present keys and values (n_layer,1,n_head,P,head_dim) f32; logits (1,T,V).
//! The cache keeps at most `window - 1` entries: that is all the graph's attention window can see.

use ort::ep::ExecutionProvider;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::TensorRef;

use super::spec::{IoNames, ModelSpec, SpecError};
use crate::runtime::{self, RuntimeError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("model file could not be read: {0}")]
    Io(String),
    #[error("model.onnx could not be loaded (corrupt or not an ONNX model?): {0}")]
    Onnx(String),
    #[error("model.onnx does not match model.json: {0}")]
    Mismatch(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

/// Which execution provider runs the session, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    Cuda,
    Cpu { why_not_cuda: String },
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::Cuda => write!(f, "CUDA"),
            Provider::Cpu { why_not_cuda } => write!(f, "CPU (CUDA unavailable: {why_not_cuda})"),
        }
    }
}

pub struct OnnxModel {
    session: Session,
    pub spec: ModelSpec,
    io: IoNames,
    pub provider: Provider,
    /// Cache, layout (n_layer, 1, n_head, past_len, head_dim).
    past_k: Vec<f32>,
    past_v: Vec<f32>,
    past_len: usize,
    /// Logits of the last token fed.
    logits: Vec<f32>,
    /// Token ids as i64 for the input tensor (reused).
    token_buf: Vec<i64>,
}

impl OnnxModel {
    /// Create the session (CUDA when asked and available, else CPU) and check it against the spec.
    pub fn load(onnx: &[u8], spec: ModelSpec, want_cuda: bool) -> Result<Self, ModelError> {
        let (env, _) = runtime::environment()?;
        let io = spec.io_names()?;
        let builder = || -> Result<_, ModelError> {
            Session::builder(&env)
                .and_then(|b| Ok(b.with_intra_threads(1)?))
                .and_then(|b| Ok(b.with_inter_threads(1)?))
                .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
                .map_err(|e| ModelError::Onnx(e.to_string()))
        };
        let cuda_reason = if !want_cuda {
            Some("not requested".to_string())
        } else {
            match ort::ep::CUDA::is_available() {
                Ok(true) => None,
                Ok(false) => Some("this ONNX Runtime build has no CUDA provider".to_string()),
                Err(e) => Some(e.to_string()),
            }
        };
        let (session, provider) = match cuda_reason {
            Some(why) => (
                Self::commit(builder()?, onnx)?,
                Provider::Cpu { why_not_cuda: why },
            ),
            None => {
                let cuda = builder()?.with_execution_providers([ort::ep::CUDA::default()
                    .build()
                    .error_on_failure()]);
                match cuda {
                    Ok(b) => (Self::commit(b, onnx)?, Provider::Cuda),
                    Err(e) => (
                        Self::commit(builder()?, onnx)?,
                        Provider::Cpu {
                            why_not_cuda: e.to_string(),
                        },
                    ),
                }
            }
        };
        let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        for name in [&io.tokens, &io.past_keys, &io.past_values] {
            if !inputs.contains(&name.as_str()) {
                return Err(ModelError::Mismatch(format!(
                    "graph has no input `{name}` (it has {inputs:?})"
                )));
            }
        }
        for name in [&io.logits, &io.present_keys, &io.present_values] {
            if !outputs.contains(&name.as_str()) {
                return Err(ModelError::Mismatch(format!(
                    "graph has no output `{name}` (it has {outputs:?})"
                )));
            }
        }
        let cap = spec.cache_floats_per_token() * spec.window as usize;
        let vocab = spec.vocab().size as usize;
        let window = spec.window as usize;
        Ok(Self {
            session,
            spec,
            io,
            provider,
            past_k: Vec::with_capacity(cap),
            past_v: Vec::with_capacity(cap),
            past_len: 0,
            logits: vec![0.0; vocab],
            token_buf: Vec::with_capacity(window),
        })
    }

    fn commit(
        mut b: ort::session::builder::SessionBuilder,
        onnx: &[u8],
    ) -> Result<Session, ModelError> {
        b.commit_from_memory(onnx)
            .map_err(|e| ModelError::Onnx(e.to_string()))
    }

    /// Forget the context.
    pub fn reset(&mut self) {
        self.past_k.clear();
        self.past_v.clear();
        self.past_len = 0;
    }

    /// Keep the first `len` cache entries (exact: entries never depend on later tokens). Compacts the
    /// (n_layer, 1, n_head, past_len, head_dim) layout in place; no allocation.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.past_len {
            return;
        }
        let d = self.spec.head_dim as usize;
        let blocks = self.spec.n_layer as usize * self.spec.n_head as usize;
        for buf in [&mut self.past_k, &mut self.past_v] {
            // Block b moves from b * past_len * d to b * len * d: never past its own start, so
            // copying in increasing order of b is safe.
            for b in 0..blocks {
                let from = b * self.past_len * d;
                buf.copy_within(from..from + len * d, b * len * d);
            }
            buf.truncate(blocks * len * d);
        }
        self.past_len = len;
    }

    /// Tokens in the cache.
    pub fn cache_len(&self) -> usize {
        self.past_len
    }

    /// Room left before the window is full.
    pub fn room(&self) -> usize {
        (self.spec.window as usize - 1).saturating_sub(self.past_len)
    }

    /// Run `tokens` after the cache and return the logits that follow the last of them.
    pub fn feed(&mut self, tokens: &[u32]) -> Result<&[f32], ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::Inference("nothing to feed".into()));
        }
        let (l, h, d) = (
            self.spec.n_layer as usize,
            self.spec.n_head as usize,
            self.spec.head_dim as usize,
        );
        let vocab = self.spec.vocab().size as usize;
        let t = tokens.len();
        self.token_buf.clear();
        self.token_buf.extend(tokens.iter().map(|&x| i64::from(x)));
        let past_shape = [l as i64, 1, h as i64, self.past_len as i64, d as i64];
        let inf = |e: ort::Error| ModelError::Inference(e.to_string());
        let tok =
            TensorRef::from_array_view(([1i64, t as i64], &self.token_buf[..])).map_err(inf)?;
        let pk = TensorRef::from_array_view((past_shape, &self.past_k[..])).map_err(inf)?;
        let pv = TensorRef::from_array_view((past_shape, &self.past_v[..])).map_err(inf)?;
        let outputs = self
            .session
            .run(ort::inputs![
                self.io.tokens.as_str() => tok,
                self.io.past_keys.as_str() => pk,
                self.io.past_values.as_str() => pv,
            ])
            .map_err(inf)?;
        let (shape, logits) = outputs[self.io.logits.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(inf)?;
        if shape.len() != 3 || shape[2] as usize != vocab || shape[1] as usize != t {
            return Err(ModelError::Mismatch(format!(
                "logits have shape {shape:?}, expected [1, {t}, {vocab}]"
            )));
        }
        self.logits
            .copy_from_slice(&logits[(t - 1) * vocab..t * vocab]);
        let total = self.past_len + t;
        let keep = total.min(self.spec.window as usize - 1);
        for (name, dst) in [
            (&self.io.present_keys, &mut self.past_k),
            (&self.io.present_values, &mut self.past_v),
        ] {
            let (shape, present) = outputs[name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(inf)?;
            let want = [l as i64, 1, h as i64, total as i64, d as i64];
            if shape[..] != want[..] {
                return Err(ModelError::Mismatch(format!(
                    "`{name}` has shape {shape:?}, expected {want:?}"
                )));
            }
            trim_cache(present, l * h, total, keep, d, dst);
        }
        self.past_len = keep;
        Ok(&self.logits)
    }

    pub fn logits(&self) -> &[f32] {
        &self.logits
    }
}

/// Copy the last `keep` of `total` entries of each of the `blocks` (layer, head) blocks of `src` into
/// `dst` (layout blocks × keep × head_dim).
fn trim_cache(
    src: &[f32],
    blocks: usize,
    total: usize,
    keep: usize,
    head_dim: usize,
    dst: &mut Vec<f32>,
) {
    dst.clear();
    for b in 0..blocks {
        let start = (b * total + (total - keep)) * head_dim;
        dst.extend_from_slice(&src[start..start + keep * head_dim]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_the_newest_entries_of_every_block() {
        // 2 blocks × 4 entries × head_dim 2
        let src: Vec<f32> = (0..16).map(|x| x as f32).collect();
        let mut dst = Vec::new();
        trim_cache(&src, 2, 4, 3, 2, &mut dst);
        assert_eq!(
            dst,
            vec![2., 3., 4., 5., 6., 7., 10., 11., 12., 13., 14., 15.]
        );
    }
}
