//! Token sampling: temperature, top-p (nucleus) and a mask of allowed tokens, from a seeded RNG.
//!
//! Runs on the engine thread. Scratch buffers are sized once per vocabulary, so a step allocates
//! nothing. The same seed and the same logits give the same token.

/// A small, fast, seedable RNG (PCG-XSH-RR 64/32).
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut r = Self {
            state: seed.wrapping_add(0x853c_49e6_748f_ea9b),
        };
        r.next_u32();
        r
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        f64::from(self.next_u32()) / 4_294_967_296.0
    }
}

/// See the module documentation.
pub struct Sampler {
    rng: Rng,
    /// Probabilities per token (scratch).
    probs: Vec<f64>,
    /// Token ids sorted by probability (scratch).
    order: Vec<u32>,
}

impl Sampler {
    pub fn new(vocab_size: usize, seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            probs: vec![0.0; vocab_size],
            order: Vec::with_capacity(vocab_size),
        }
    }

    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// Draw a token from `logits` among those `allowed`. Temperature ≤ 0.01 is greedy. Returns `None`
    /// only when nothing is allowed.
    pub fn sample(
        &mut self,
        logits: &[f32],
        allowed: &[bool],
        temperature: f32,
        top_p: f32,
    ) -> Option<u32> {
        debug_assert_eq!(logits.len(), allowed.len());
        let n = logits.len().min(self.probs.len());
        let mut best: Option<(u32, f32)> = None;
        for i in 0..n {
            if allowed[i] && logits[i].is_finite() && best.is_none_or(|(_, b)| logits[i] > b) {
                best = Some((i as u32, logits[i]));
            }
        }
        let (argmax, max) = best?;
        if temperature <= 0.01 {
            return Some(argmax);
        }
        let t = f64::from(temperature);
        let mut total = 0.0;
        self.order.clear();
        for i in 0..n {
            let p = if allowed[i] && logits[i].is_finite() {
                (f64::from(logits[i] - max) / t).exp()
            } else {
                0.0
            };
            self.probs[i] = p;
            if p > 0.0 {
                total += p;
                self.order.push(i as u32);
            }
        }
        let probs = &self.probs;
        self.order.sort_unstable_by(|a, b| {
            probs[*b as usize]
                .total_cmp(&probs[*a as usize])
                .then(a.cmp(b))
        });
        // Nucleus: the smallest prefix whose mass reaches top_p (at least one token).
        let want = f64::from(top_p.clamp(0.0, 1.0)) * total;
        let mut mass = 0.0;
        let mut keep = 0;
        for &i in &self.order {
            mass += self.probs[i as usize];
            keep += 1;
            if mass >= want {
                break;
            }
        }
        let mut r = self.rng.next_f64() * mass;
        for &i in &self.order[..keep] {
            r -= self.probs[i as usize];
            if r < 0.0 {
                return Some(i);
            }
        }
        Some(self.order[keep - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_are_never_drawn() {
        let mut s = Sampler::new(8, 1);
        let logits = [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let mut allowed = [true; 8];
        allowed[0] = false;
        for _ in 0..1000 {
            assert_ne!(s.sample(&logits, &allowed, 1.5, 1.0), Some(0));
        }
        assert_eq!(s.sample(&logits, &[false; 8], 1.0, 1.0), None);
    }

    #[test]
    fn low_temperature_is_greedy_and_top_p_cuts_the_tail() {
        let mut s = Sampler::new(4, 7);
        let logits = [0.0, 3.0, 2.9, -5.0];
        assert_eq!(s.sample(&logits, &[true; 4], 0.0, 1.0), Some(1));
        // top_p tiny: only the most likely token survives
        for _ in 0..200 {
            assert_eq!(s.sample(&logits, &[true; 4], 1.0, 0.01), Some(1));
        }
        // top_p 1 at temperature 1: both likely tokens show up
        let mut seen = [0; 4];
        for _ in 0..2000 {
            seen[s.sample(&logits, &[true; 4], 1.0, 1.0).unwrap() as usize] += 1;
        }
        assert!(seen[1] > 700 && seen[2] > 600, "{seen:?}");
    }

    #[test]
    fn same_seed_same_draws() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let allowed = vec![true; 50];
        let draw = |seed| {
            let mut s = Sampler::new(50, seed);
            (0..100)
                .map(|_| s.sample(&logits, &allowed, 1.0, 0.9).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
