//! The session's buffers: a KV cache as a ring of slots (position p in slot p mod C), the inputs
//! and preallocated outputs of the small runs every decode step uses, and the two pieces of
//! arithmetic on them (which relative distance and mask each new token sees; where its new keys and
//! values land).

use ort::memory::Allocator;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions};
use ort::value::Tensor;

use super::feature_width;
use super::{IoNames, ModelSpec};

/// One KV cache: a ring whose slot p % slots holds context position p.
pub(super) struct Ring {
    /// Layout (n_layer, n_head, slots, head_dim). ONNX Runtime tensors made once, read by every run
    /// in place and written here.
    pub(super) keys: Tensor<f32>,
    pub(super) values: Tensor<f32>,
    /// The context position each slot holds, or -1 (empty: masked).
    pub(super) slot_pos: Vec<i64>,
    /// Tokens in the cache: positions `next - len .. next`.
    pub(super) len: usize,
    /// Context position of the next token fed.
    pub(super) next: i64,
}

impl Ring {
    pub(super) fn new(shape: [usize; 4]) -> Result<Self, ort::Error> {
        Ok(Self {
            keys: zeroed_cache(shape)?,
            values: zeroed_cache(shape)?,
            slot_pos: vec![-1; shape[2]],
            len: 0,
            next: 0,
        })
    }

    pub(super) fn reset(&mut self) {
        self.slot_pos.fill(-1);
        self.len = 0;
        self.next = 0;
    }

    pub(super) fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        let keep_until = self.next - (self.len - len) as i64;
        for p in &mut self.slot_pos {
            if *p >= keep_until {
                *p = -1;
            }
        }
        self.next = keep_until;
        self.len = len;
    }

    /// A run's `t` new tokens into the ring: their keys and values (checked for their shape,
    /// `(n_layer, n_head, head_dim)` = `dims`) written into their slots, which now hold them. Only
    /// the last `slots` of them stay (earlier ones would be overwritten anyway).
    pub(super) fn take_new(
        &mut self,
        outputs: &ort::session::SessionOutputs<'_>,
        io: &IoNames,
        t: usize,
        (l, h, d): (usize, usize, usize),
    ) -> Result<(), super::ModelError> {
        use super::ModelError;
        let slots = self.slot_pos.len();
        let first = t.saturating_sub(slots);
        let next = self.next;
        for (name, ring) in [
            (&io.new_keys, &mut self.keys),
            (&io.new_values, &mut self.values),
        ] {
            let (shape, new) = outputs[name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(|e| ModelError::Inference(e.to_string()))?;
            let want = [l as i64, h as i64, t as i64, d as i64];
            if shape[..] != want[..] {
                return Err(ModelError::Mismatch(format!(
                    "`{name}` has shape {shape:?}, expected {want:?}"
                )));
            }
            write_ring(
                new,
                l * h,
                t,
                first,
                d,
                slots,
                next,
                ring.extract_tensor_mut().1,
            );
        }
        for i in first..t {
            let p = next + i as i64;
            self.slot_pos[p as usize % slots] = p;
        }
        self.next += t as i64;
        self.len = (self.len + t).min(slots);
        Ok(())
    }
}

/// The inputs and preallocated outputs of a run of `t` tokens (t <= [`SMALL_RUN`]).
pub(super) struct SmallRun {
    /// (1, t)
    pub(super) tokens: Tensor<i64>,
    /// (n_head, t, slots + t)
    pub(super) index: Tensor<i64>,
    /// (t, slots + t)
    pub(super) mask: Tensor<f32>,
    /// (t, 128 + ticks_per_beat): the tokens' features (format 3; unused otherwise).
    pub(super) features: Tensor<f32>,
    /// Selects the three outputs into tensors made once: logits (t, vocab) and the new keys and
    /// values (n_layer, n_head, t, head_dim).
    pub(super) options: RunOptions<HasSelectedOutputs>,
}

impl SmallRun {
    pub(super) fn new(spec: &ModelSpec, io: &IoNames, t: usize) -> Result<Self, ort::Error> {
        let a = Allocator::default();
        let (l, h, d) = (
            spec.n_layer as usize,
            spec.n_head as usize,
            spec.head_dim as usize,
        );
        let cols = spec.window as usize - 1 + t; // slots + t
        let vocab = spec.vocab().size as usize;
        let selector = OutputSelector::no_default()
            .with(io.logits.as_str())
            .with(io.new_keys.as_str())
            .with(io.new_values.as_str())
            .preallocate(io.logits.as_str(), Tensor::<f32>::new(&a, [t, vocab])?)
            .preallocate(io.new_keys.as_str(), Tensor::<f32>::new(&a, [l, h, t, d])?)
            .preallocate(
                io.new_values.as_str(),
                Tensor::<f32>::new(&a, [l, h, t, d])?,
            );
        Ok(Self {
            tokens: Tensor::new(&a, [1usize, t])?,
            index: Tensor::new(&a, [h, t, cols])?,
            mask: Tensor::new(&a, [t, cols])?,
            features: Tensor::new(&a, [t, feature_width(spec)])?,
            options: RunOptions::new()?.with_outputs(selector),
        })
    }
}

/// A cache tensor (n_layer, n_head, slots, head_dim) of zeros (an empty slot is masked, but its
/// contents still pass through the products: they must be finite).
pub(super) fn zeroed_cache(shape: [usize; 4]) -> Result<Tensor<f32>, ort::Error> {
    let mut t = Tensor::<f32>::new(&Allocator::default(), shape)?;
    t.extract_tensor_mut().1.fill(0.0);
    Ok(t)
}

/// Fill `index` (n_head, T, slots+T) and `mask` (T, slots+T) for `t` new tokens at positions
/// `next..next+t`, against the ring whose slots hold the positions `slot_pos` (-1: empty) and then
/// the new tokens themselves: a key is visible when it is at distance 0..window-1 before the query
/// (a later new token, an empty slot, or one beyond the window is masked with -inf).
pub(super) fn ring_inputs(
    slot_pos: &[i64],
    next: i64,
    t: usize,
    window: usize,
    heads: usize,
    index: &mut [i64],
    mask: &mut [f32],
) {
    let cols = slot_pos.len() + t;
    let w = window as i64;
    for i in 0..t {
        let q = next + i as i64;
        let keys = slot_pos
            .iter()
            .copied()
            .chain((0..t as i64).map(|j| next + j));
        for (c, p) in keys.enumerate() {
            let dist = q - p;
            let visible = p >= 0 && (0..w).contains(&dist);
            index[i * cols + c] = dist.clamp(0, w - 1);
            mask[i * cols + c] = if visible { 0.0 } else { f32::NEG_INFINITY };
        }
    }
    // The same distances for every head.
    let one = t * cols;
    for head in 1..heads {
        index.copy_within(..one, head * one);
    }
}

/// Write the new tokens `first..t` of `new` (blocks × t × head_dim, one block per layer and head) into
/// their ring slots in `ring` (blocks × slots × head_dim): token i is position `next + i`.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_ring(
    new: &[f32],
    blocks: usize,
    t: usize,
    first: usize,
    head_dim: usize,
    slots: usize,
    next: i64,
    ring: &mut [f32],
) {
    for b in 0..blocks {
        for i in first..t {
            let slot = (next + i as i64) as usize % slots;
            let src = (b * t + i) * head_dim;
            let dst = (b * slots + slot) * head_dim;
            ring[dst..dst + head_dim].copy_from_slice(&new[src..src + head_dim]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_inputs_see_the_window_back_and_the_new_tokens_up_to_themselves() {
        // 3 slots holding positions 4, 5, empty; two new tokens at 6 and 7; window 3.
        let (mut index, mut mask) = (vec![-7; 2 * 2 * 5], vec![7.0; 2 * 5]);
        ring_inputs(&[4, 5, -1], 6, 2, 3, 2, &mut index, &mut mask);
        let ninf = f32::NEG_INFINITY;
        // Query 6: 4 (dist 2) and 5 (dist 1) visible, the empty slot not, itself yes, 7 not.
        // Query 7: 4 is at distance 3, beyond the window; 5, 6 and itself visible.
        assert_eq!(
            mask,
            vec![0.0, 0.0, ninf, 0.0, ninf, ninf, 0.0, ninf, 0.0, 0.0]
        );
        assert_eq!(&index[..10], &[2, 1, 2, 0, 0, 2, 2, 2, 1, 0]);
        assert_eq!(&index[10..], &index[..10], "the same for the second head");
    }

    #[test]
    fn new_entries_land_in_their_slots_of_every_block() {
        // 2 blocks × 2 new tokens × head_dim 1, into 3 slots, positions 2 and 3 (slots 2 and 0).
        let new = [10.0, 11.0, 20.0, 21.0];
        let mut ring = vec![0.0; 6];
        write_ring(&new, 2, 2, 0, 1, 3, 2, &mut ring);
        assert_eq!(ring, vec![11.0, 0.0, 10.0, 21.0, 0.0, 20.0]);
    }
}
