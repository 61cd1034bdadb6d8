//! The model's KV cache over the timeline: which part of the context it holds ([STYLE] + the
//! context from an *anchor* on a fixed lattice of positions, so what the model sees depends only on
//! the context), feeding it what it has not seen, cutting it back exactly, and the spare caches built
//! while idle ([`Window::prepare`]) so that moving the window on, or back after a rollback, costs a
//! swap instead of a prefill.

use super::timeline::{Ctx, Timeline};
use crate::engine::backend::{Backend, BackendError};
use crate::features::{held_after_owned, phase_of, Features};
pub use crate::model::SPARE_CACHES;
use crate::tokenizer::{Event, Vocab};

/// A spare cache: [STYLE] + ctx[anchor..fed], exactly what a re-anchor at `anchor` would feed
/// (the same tokens with the same features), so it can stand in for one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spare {
    anchor: usize,
    fed: usize,
}

pub(super) struct Window<B: Backend> {
    pub(super) backend: B,
    vocab: Vocab,
    ticks_per_beat: f64,
    /// ctx index where the cache begins (the cache holds [STYLE] + ctx[anchor..fed]).
    pub(super) anchor: usize,
    /// ctx tokens already in the cache.
    pub(super) fed: usize,
    /// Style the cache was started with.
    pub(super) style: u32,
    /// The role slot the style token carries (format 4; 0 is "free"; none: Cadenza alone, for a
    /// model that knows it).
    pub(super) role: Option<u8>,
    /// The timeline version `logits` follow (the cache is up to date with it).
    ready: Option<u64>,
    /// The cache no longer matches ctx[anchor..fed] (a style change, a reset): rebuild it.
    dirty: bool,
    /// What each of the backend's spare caches holds, if anything usable (see [`Self::prepare`]).
    spares: [Option<Spare>; SPARE_CACHES],
    /// Building the spare failed while the cache started at this context position: no retry until
    /// the window moves (a failing backend would fail every idle pass).
    spare_failed_at: Option<u64>,
    /// Logits after the last token fed.
    pub(super) logits: Vec<f32>,
    /// The context position (`base` + ctx index) whose tokens before it `logits` follow, in the
    /// cache as it is; `u64::MAX` when they follow no token of it (a new cache).
    logits_at: u64,
    /// Tokens for the next feed (reused).
    feed_buf: Vec<u32>,
    /// Their features (reused): keys counted from the cache's start, the phase of each token's beat.
    feat_buf: Vec<Features>,
}

impl<B: Backend> Window<B> {
    pub(super) fn new(backend: B, vocab: Vocab, ticks_per_beat: f64) -> Self {
        let size = vocab.size as usize;
        Self {
            backend,
            vocab,
            ticks_per_beat,
            anchor: 0,
            fed: 0,
            style: u32::MAX,
            role: Some(0),
            ready: None,
            dirty: true,
            spares: [None; SPARE_CACHES],
            spare_failed_at: None,
            logits: Vec::with_capacity(size),
            logits_at: u64::MAX,
            feed_buf: Vec::with_capacity(4096),
            feat_buf: Vec::with_capacity(4096),
        }
    }

    /// The attention window, in tokens.
    pub(super) fn size(&self) -> usize {
        self.backend.window()
    }

    /// Whether `logits` follow the whole of `tl` as it is.
    pub(super) fn ready(&self, tl: &Timeline) -> bool {
        self.ready == Some(tl.version())
    }

    /// Start the cache again on `style`'s token, carrying role slot `role` (none: alone).
    pub(super) fn set_head(&mut self, style: u32, role: Option<u8>) {
        self.style = style;
        self.role = role;
        self.dirty = true;
        self.spares = [None; SPARE_CACHES];
        self.ready = None;
    }

    /// Forget the spares (the context's beats moved: what they were built on is not what a
    /// re-anchor would build now).
    pub(super) fn drop_spares(&mut self) {
        self.spares = [None; SPARE_CACHES];
    }

    /// The timeline kept only its first `keep` tokens: keep the cache entries that saw only them.
    pub(super) fn cut_to(&mut self, keep: usize) {
        if self.fed > keep {
            if keep > self.anchor && !self.dirty {
                // Keep the cache up to the cut (exact: a causal cache does not depend on what came
                // later), far cheaper than a new prefill. The logits there are gone: whatever is
                // fed next gives new ones (see `sync`).
                self.backend.truncate(1 + keep - self.anchor);
                self.fed = keep;
            } else {
                self.dirty = true;
            }
        }
        self.anchor = self.anchor.min(keep);
        self.fed = self.fed.min(keep);
        for i in 0..SPARE_CACHES {
            let Some(sp) = self.spares[i].filter(|sp| sp.fed > keep) else {
                continue;
            };
            self.spares[i] = if keep > sp.anchor {
                self.in_spare(i, |b| b.truncate(1 + keep - sp.anchor));
                Some(Spare { fed: keep, ..sp })
            } else {
                None
            };
        }
    }

    /// The timeline forgot every token.
    pub(super) fn clear(&mut self) {
        self.anchor = 0;
        self.fed = 0;
        self.dirty = true;
        self.spares = [None; SPARE_CACHES];
        self.ready = None;
    }

    /// The timeline dropped its first `n` tokens (all before the cache's start).
    pub(super) fn dropped_front(&mut self, n: usize) {
        self.anchor -= n;
        self.fed -= n;
        for sp in &mut self.spares {
            *sp = sp.filter(|sp| sp.anchor >= n).map(|sp| Spare {
                anchor: sp.anchor - n,
                fed: sp.fed - n,
            });
        }
    }

    /// Forget the cache (after an inference error): the next sync rebuilds it from the context.
    pub(super) fn reset(&mut self) {
        self.backend.reset();
        self.dirty = true;
        self.spares = [None; SPARE_CACHES];
        self.ready = None;
        self.logits_at = u64::MAX;
    }

    /// Cache start (ctx index) for a cache that must reach the end of the context: the smallest
    /// multiple of half a window, in context positions, that leaves room for [STYLE] + the rest.
    pub(super) fn lattice_anchor(&self, tl: &Timeline) -> usize {
        let w = self.backend.window().max(4) as u64;
        let q = w / 2;
        let need = (tl.end() + 2).saturating_sub(w); // cache = 1 + end - anchor <= w - 1
        let pos = need.div_ceil(q) * q;
        (pos.saturating_sub(tl.base) as usize).min(tl.len())
    }

    /// Will the next sync restart the cache (a rebuild, or the window moving on)?
    pub(super) fn needs_reanchor(&self, tl: &Timeline) -> bool {
        !self.ready(tl) && (self.dirty || self.lattice_anchor(tl) != self.anchor)
    }

    /// Feed the backend whatever context it has not seen, moving the cache's start when due.
    pub(super) fn sync(&mut self, tl: &Timeline) -> Result<(), BackendError> {
        if self.ready(tl) {
            return Ok(());
        }
        self.feed_buf.clear();
        self.feat_buf.clear();
        let tpb = self.ticks_per_beat as u32;
        let start = self.lattice_anchor(tl);
        if self.needs_reanchor(tl) && !self.promote_spare(tl, start) {
            if !self.dirty {
                // Keep the cache the window leaves as a spare: moving back swaps it in again.
                let q = self.backend.window().max(4) / 2;
                let i = self.spare_slot(&[start.checked_sub(q), Some(start + q)]);
                self.backend.swap_caches(i);
                self.spares[i] = Some(Spare {
                    anchor: self.anchor,
                    fed: self.fed,
                });
            }
            self.backend.reset();
            self.anchor = start;
            self.fed = start;
            self.logits_at = u64::MAX;
            let (style, feat) = self.cache_head(tl, start);
            self.feed_buf.push(style);
            self.feat_buf.push(feat);
        }
        if self.feed_buf.is_empty()
            && self.fed == tl.len()
            && self.logits_at != tl.base + self.fed as u64
        {
            // Nothing new, and the last logits are not those after the cache's end (a cut, a swap):
            // feed its last token again (exact). (A fresh cache with an empty context feeds [STYLE]
            // alone: its logits are the first token's.)
            debug_assert!(
                self.fed > self.anchor,
                "a cache of [STYLE] alone is always fed afresh"
            );
            self.backend.truncate(self.fed - self.anchor);
            self.fed -= 1;
        }
        // Keys sounding as of the cache's end, counted from its start (as training crops count).
        let mut held = (0u128, 0u128);
        for c in &tl.ctx[self.anchor..self.fed] {
            held = held_by_owner(held, &self.vocab, c);
        }
        for c in &tl.ctx[self.fed..] {
            held = held_by_owner(held, &self.vocab, c);
            self.feed_buf.push(c.token);
            self.feat_buf.push(features_of(held, c, tpb));
        }
        if self.feed_buf.is_empty() {
            // A cut that removed only tokens not yet fed: the logits of the last feed still hold.
            self.ready = Some(tl.version());
            return Ok(());
        }
        let logits = self.backend.feed(&self.feed_buf, &self.feat_buf)?;
        self.logits.clear();
        self.logits.extend_from_slice(logits);
        self.fed = tl.len();
        self.logits_at = tl.end();
        self.dirty = false;
        self.ready = Some(tl.version());
        Ok(())
    }

    /// Idle work: feed one token into a spare cache (about one decode step), so that it holds what
    /// the window's next move would feed. Returns whether it fed one (call again while it does;
    /// anything else the engine has to do comes first).
    ///
    /// The other spare keeps the previous anchor's cache: a played note that withdraws a plan
    /// across a fresh anchor moves the window back, and that swaps it in again. A spare holds the
    /// same tokens with the same features a re-anchor would feed, one token per run; a re-anchor's
    /// prefill groups them into runs, so the two differ by float rounding (fp32) or by int8's
    /// per-run activation scales (KL ~1e-4, see `model::INT8_RUN_TOKENS`), as a rollback's re-feed
    /// does.
    pub(super) fn prepare(&mut self, tl: &Timeline) -> Result<bool, BackendError> {
        let here = tl.base + self.anchor as u64;
        if self.dirty || self.spare_failed_at == Some(here) {
            return Ok(false);
        }
        let q = (self.backend.window().max(4) / 2) as u64;
        let lattice = here / q * q;
        let next = (lattice + q).saturating_sub(tl.base) as usize;
        if next >= tl.len() {
            return Ok(false);
        }
        let tpb = self.ticks_per_beat as u32;
        let building = self.spare_at(next);
        let (i, token, feat, spare) = match building {
            Some((i, sp)) => {
                if sp.fed >= tl.len() {
                    return Ok(false);
                }
                let held = tl.ctx[sp.anchor..=sp.fed]
                    .iter()
                    .fold((0, 0), |h, c| held_by_owner(h, &self.vocab, c));
                let c = tl.ctx[sp.fed];
                let feat = features_of(held, &c, tpb);
                let fed = Spare {
                    fed: sp.fed + 1,
                    ..sp
                };
                (i, c.token, feat, fed)
            }
            None => {
                // Start it in a spare that holds neither the previous window nor anything.
                let previous = (lattice.checked_sub(q).and_then(|p| p.checked_sub(tl.base)))
                    .map(|p| p as usize);
                let i = self.spare_slot(&[previous]);
                let (style, feat) = self.cache_head(tl, next);
                let fresh = Spare {
                    anchor: next,
                    fed: next,
                };
                (i, style, feat, fresh)
            }
        };
        let restart = building.is_none();
        let fed = self.in_spare(i, |b| {
            if restart {
                b.reset();
            }
            b.feed(&[token], &[feat]).map(|_| ())
        });
        self.spares[i] = fed.is_ok().then_some(spare);
        if fed.is_err() {
            self.spare_failed_at = Some(here);
        }
        fed.map(|()| true)
    }

    /// Act on spare cache `i` (swapped in for `f`, then back).
    fn in_spare<R>(&mut self, i: usize, f: impl FnOnce(&mut B) -> R) -> R {
        self.backend.swap_caches(i);
        let r = f(&mut self.backend);
        self.backend.swap_caches(i);
        r
    }

    /// The style token that starts a cache at ctx index `anchor`, and its features.
    fn cache_head(&self, tl: &Timeline, anchor: usize) -> (u32, Features) {
        let style = self
            .vocab
            .encode(Event::Style(self.style))
            .unwrap_or(self.vocab.style_base);
        let phase = phase_of(tl.beat_before(anchor), self.ticks_per_beat as u32);
        // The role Cadenza plays rides on the style token (format 4).
        let head = Features {
            phase,
            role: self.role,
            ..Features::default()
        };
        (style, head)
    }

    /// The spare whose cache starts at ctx index `anchor`, if one does.
    fn spare_at(&self, anchor: usize) -> Option<(usize, Spare)> {
        (self.spares.iter().enumerate())
            .find_map(|(i, sp)| sp.filter(|sp| sp.anchor == anchor).map(|sp| (i, sp)))
    }

    /// The spare to fill next: an empty one, else one whose anchor is not in `keep`, else the first.
    fn spare_slot(&self, keep: &[Option<usize>]) -> usize {
        let free = |sp: &Option<Spare>| sp.is_none_or(|sp| !keep.contains(&Some(sp.anchor)));
        (self.spares.iter().position(Option::is_none))
            .or_else(|| self.spares.iter().position(free))
            .unwrap_or(0)
    }

    /// At a re-anchor to `start`: take a spare cache built from there, keeping the current one as
    /// a spare in its place (when it is sound). Returns whether it did.
    fn promote_spare(&mut self, tl: &Timeline, start: usize) -> bool {
        let len = tl.len();
        // Usable: not past the context, and not [STYLE] alone with nothing to feed (no logits).
        let Some((i, sp)) = self
            .spare_at(start)
            .filter(|(_, sp)| sp.fed <= len && (sp.fed > sp.anchor || sp.fed < len))
        else {
            return false;
        };
        self.backend.swap_caches(i);
        self.spares[i] = (!self.dirty).then_some(Spare {
            anchor: self.anchor,
            fed: self.fed,
        });
        self.anchor = sp.anchor;
        self.fed = sp.fed;
        self.dirty = false;
        self.logits_at = u64::MAX;
        true
    }
}

/// (Cadenza's keys, the player's keys) sounding after context token `c`, given those before it.
fn held_by_owner(held: (u128, u128), vocab: &Vocab, c: &Ctx) -> (u128, u128) {
    held_after_owned(held, vocab, c.token, c.player)
}

/// The features of context token `c` with the keys sounding after it.
fn features_of(held: (u128, u128), c: &Ctx, ticks_per_beat: u32) -> Features {
    Features {
        held: held.0,
        player_held: held.1,
        phase: phase_of(c.beat, ticks_per_beat),
        player: c.player,
        role: None,
        chord: c.chord,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Vocab = Vocab::DEFAULT;

    use crate::engine::backend::fake::FakeBackend;

    /// The tests' backend: caches as token lists, counting what it was asked.
    fn counting(window: usize) -> FakeBackend {
        FakeBackend::new(V, window)
    }

    fn timeline(tokens: usize) -> Timeline {
        let mut tl = Timeline::new(V, 24.0);
        for i in 0..tokens {
            tl.push(V.note_on_base + 40 + (i % 40) as u32, false);
        }
        tl
    }

    fn style() -> u32 {
        V.encode(Event::Style(0)).unwrap()
    }

    #[test]
    fn the_cache_holds_style_and_context_feeds_only_what_is_new_and_cuts_back_exactly() {
        let mut tl = timeline(5);
        let mut w = Window::new(counting(32), V, 24.0);
        w.set_head(0, Some(0));
        assert!(!w.ready(&tl));
        w.sync(&tl).unwrap();
        assert!(w.ready(&tl));
        let whole: Vec<u32> = std::iter::once(style())
            .chain(tl.ctx.iter().map(|c| c.token))
            .collect();
        assert_eq!(w.backend.cache, whole);
        // A new token: only it is fed.
        tl.push(V.note_off_base + 40, false);
        assert!(
            !w.ready(&tl),
            "an edit of the timeline makes the logits stale"
        );
        let fed = w.backend.fed;
        w.sync(&tl).unwrap();
        assert_eq!(w.backend.fed, fed + 1);
        // A cut keeps the cache up to it (no prefill), and the next sync re-feeds one token for the
        // logits there.
        assert!(tl.cut_to(3));
        w.cut_to(3);
        w.sync(&tl).unwrap();
        assert_eq!(w.backend.cache, whole[..4]);
        assert_eq!((w.backend.resets, w.backend.fed), (1, fed + 2));
    }

    #[test]
    fn the_window_moves_on_a_lattice_and_a_spare_built_while_idle_saves_the_prefill() {
        // Window 16: the cache starts at multiples of 8 positions.
        let mut tl = timeline(10);
        let mut w = Window::new(counting(16), V, 24.0);
        w.set_head(0, Some(0));
        w.sync(&tl).unwrap();
        assert_eq!(w.anchor, 0);
        // Idle: the spare for anchor 8 is built a token at a time, up to the context's end.
        let mut steps = 0;
        while w.prepare(&tl).unwrap() {
            steps += 1;
        }
        assert_eq!(steps, 1 + 2, "[STYLE] and the two tokens from position 8");
        // The context grows past what the window holds from 0: the anchor moves to 8, by a swap.
        for _ in 0..6 {
            tl.push(V.note_on_base + 90, false);
        }
        assert!(w.needs_reanchor(&tl));
        let (resets, fed) = (w.backend.resets, w.backend.fed);
        w.sync(&tl).unwrap();
        assert_eq!(w.anchor, 8);
        assert_eq!(
            w.backend.resets, resets,
            "no prefill: the spare was swapped in"
        );
        assert_eq!(w.backend.fed, fed + 6);
        let expect: Vec<u32> = std::iter::once(style())
            .chain(tl.ctx[8..].iter().map(|c| c.token))
            .collect();
        assert_eq!(w.backend.cache, expect);
        // Dropping the front moves the indices, not what the cache holds.
        tl.drop_front(8);
        w.dropped_front(8);
        assert_eq!((w.anchor, w.fed), (0, tl.len()));
        assert!(w.ready(&tl));
    }
}
