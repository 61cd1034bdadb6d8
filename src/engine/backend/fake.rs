//! The tests' one backend: it keeps its caches as token lists, checks the [`Backend`] contract on
//! every call (a call that breaks it panics, naming the rule), counts what it was asked, gives flat
//! logits or logits that depend on the whole cache, and fails the feeds a test asks it to.

use super::{Backend, BackendError};
use crate::features::Features;
use crate::model::SPARE_CACHES;
use crate::tokenizer::Vocab;

/// What the fake's logits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logits {
    /// All zero: a uniform model.
    Flat,
    /// A hash of the whole cache, like a model's (a determinism check must see the context).
    OfCache,
}

/// A scripted backend that checks the contract (see the module above).
pub(crate) struct FakeBackend {
    /// The attention window: the cache must stay shorter.
    pub window: usize,
    /// The cache's tokens since the last reset, and their features.
    pub cache: Vec<u32>,
    pub feats: Vec<Features>,
    /// The spare caches' tokens and features.
    pub spares: [(Vec<u32>, Vec<Features>); SPARE_CACHES],
    pub logits: Vec<f32>,
    pub kind: Logits,
    /// A token the fake strongly prefers (to script what the "model" plays)...
    pub favor: Option<u32>,
    /// ...while its cache holds fewer tokens than this.
    pub favor_until: usize,
    /// The first style token and how many there are: a fresh cache starts with one.
    style_base: u32,
    style_slots: u32,
    /// Feed calls, tokens fed, feeds of more than one token into an empty cache (a cache built from
    /// scratch at once), resets and truncations.
    pub feeds: usize,
    pub fed: usize,
    pub prefills: usize,
    pub resets: usize,
    pub truncations: usize,
    /// The feed calls (1-based) that fail, or all of them.
    pub fail_on: Vec<usize>,
    pub always_fail: bool,
}

impl FakeBackend {
    /// Flat logits over `vocab`, a cache shorter than `window`.
    pub fn new(vocab: Vocab, window: usize) -> Self {
        Self {
            window,
            cache: Vec::new(),
            feats: Vec::new(),
            spares: Default::default(),
            logits: vec![0.0; vocab.size as usize],
            kind: Logits::Flat,
            favor: None,
            favor_until: usize::MAX,
            style_base: vocab.style_base,
            style_slots: vocab.style_slots,
            feeds: 0,
            fed: 0,
            prefills: 0,
            resets: 0,
            truncations: 0,
            fail_on: Vec::new(),
            always_fail: false,
        }
    }

    /// Logits that depend on the whole cache.
    pub fn of_cache(mut self) -> Self {
        self.kind = Logits::OfCache;
        self
    }

    /// Fail the feed calls numbered in `feeds` (1-based), or every one.
    pub fn failing(mut self, feeds: Vec<usize>, always: bool) -> Self {
        self.fail_on = feeds;
        self.always_fail = always;
        self
    }

    /// The logits `kind` OfCache gives after `cache`.
    pub fn logits_of(&self, cache: &[u32]) -> Vec<f32> {
        let h = cache
            .iter()
            .fold(7u64, |h, &t| h.wrapping_mul(31).wrapping_add(u64::from(t)));
        let mut logits: Vec<f32> = (0..self.logits.len())
            .map(|i| ((h.wrapping_add(i as u64 * 2_654_435_761) >> 7) % 100) as f32 / 100.0)
            .collect();
        if let Some(t) = self.favor.filter(|_| cache.len() < self.favor_until) {
            logits[t as usize] = 30.0;
        }
        logits
    }
}

impl Backend for FakeBackend {
    fn feed(&mut self, tokens: &[u32], feats: &[Features]) -> Result<&[f32], BackendError> {
        assert!(
            !tokens.is_empty(),
            "contract: a feed takes at least one token"
        );
        assert_eq!(
            tokens.len(),
            feats.len(),
            "contract: one set of features per token"
        );
        self.feeds += 1;
        if self.always_fail || self.fail_on.contains(&self.feeds) {
            return Err(BackendError::Injected("injected failure"));
        }
        if self.cache.is_empty() {
            self.prefills += usize::from(tokens.len() > 1);
            let first = tokens[0];
            assert!(
                (self.style_base..self.style_base + self.style_slots).contains(&first),
                "contract: a fresh cache starts with a style token, got {first}"
            );
        }
        let len = self.cache.len() + tokens.len();
        assert!(
            len < self.window,
            "contract: the cache would reach the window: {len} of {}",
            self.window
        );
        self.cache.extend_from_slice(tokens);
        self.feats.extend_from_slice(feats);
        self.fed += tokens.len();
        match self.kind {
            Logits::Flat => {}
            Logits::OfCache => self.logits = self.logits_of(&self.cache),
        }
        Ok(&self.logits)
    }
    fn reset(&mut self) {
        self.cache.clear();
        self.feats.clear();
        self.resets += 1;
    }
    fn truncate(&mut self, len: usize) {
        assert!(
            len >= 1 && len <= self.cache.len(),
            "contract: truncate to {len} of {}",
            self.cache.len()
        );
        self.cache.truncate(len);
        self.feats.truncate(len);
        self.truncations += 1;
    }
    fn window(&self) -> usize {
        self.window
    }
    fn swap_caches(&mut self, spare: usize) {
        assert!(
            spare < SPARE_CACHES,
            "contract: spare {spare} of {SPARE_CACHES}"
        );
        std::mem::swap(&mut self.cache, &mut self.spares[spare].0);
        std::mem::swap(&mut self.feats, &mut self.spares[spare].1);
    }
}
