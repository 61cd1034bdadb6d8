//! The seam between the generator and the model: where the logits come from.
//!
//! Contract (every backend keeps it, and the tests' [`fake::FakeBackend`] checks it on every call):
//! - A backend holds one KV cache every call acts on, and [`SPARE_CACHES`](crate::model::SPARE_CACHES) spares that
//!   [`Backend::swap_caches`] exchanges it with, without copying either (the generator builds the next
//!   window's cache in one while idle, and keeps the previous window's in another).
//! - [`Backend::feed`] takes at least one token, each with its features ([`crate::features`]; a model
//!   without them ignores them), appends them to the cache and returns the logits after the last.
//!   A fresh cache (after [`Backend::reset`]) starts with a style token.
//! - The cache never holds `window()` tokens or more: the generator moves its window on first.
//! - [`Backend::truncate`] keeps the first `len` entries, `1 <= len <=` the cache's length; it is
//!   exact, since a causal cache does not depend on what came later.
//! - A failed feed is a [`BackendError`]; the generator then rebuilds the cache from its context.
//!
//! The plugin's backend is ONNX Runtime's session ([`OnnxModel`], below); the tests script one.

use crate::features::Features;

use crate::model::{ModelError, OnnxModel};

/// Why a backend could not give logits.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The model's session failed (ONNX Runtime's error, with its message).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A failure a test injected.
    #[cfg(test)]
    #[error("{0}")]
    Injected(&'static str),
}

/// Where the logits come from: the model with its KV cache (see the module's contract).
pub trait Backend {
    /// Feed tokens after the cache, each with its features; return the logits following the last one.
    fn feed(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], BackendError>;
    /// Empty the cache.
    fn reset(&mut self);
    /// Keep only the first `len` cache entries.
    fn truncate(&mut self, len: usize);
    /// The attention window, in tokens (the cache holds at most `window - 1`).
    fn window(&self) -> usize;
    /// Exchange the cache with spare number `spare` (< [`SPARE_CACHES`](crate::model::SPARE_CACHES); empty at first).
    fn swap_caches(&mut self, spare: usize);
}

/// The ONNX model gives the generator its logits.
impl Backend for OnnxModel {
    fn feed(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], BackendError> {
        Ok(OnnxModel::feed(self, tokens, feats)?)
    }
    fn reset(&mut self) {
        OnnxModel::reset(self)
    }
    fn truncate(&mut self, len: usize) {
        OnnxModel::truncate(self, len)
    }
    fn window(&self) -> usize {
        self.spec.window as usize
    }
    fn swap_caches(&mut self, spare: usize) {
        OnnxModel::swap_caches(self, spare)
    }
}

#[cfg(test)]
pub(crate) mod fake;
