//! The built-in voice: a small polyphonic piano-like synth, so Cadenza is heard on its own track
//! without routing its MIDI to an instrument.
//!
//! Contract: audio thread only. Everything is fixed-size and allocated at construction; `note_on`,
//! `note_off`, `release_all` and `render` never allocate, lock or wait. No plugin-framework types.
//!
//! Sound: each voice is [`PARTIALS`] slightly stretched harmonics (a piano string's inharmonicity),
//! each a decaying rotating phasor (no `sin` per sample). Higher partials decay faster and speak
//! louder at higher velocities; low notes ring longer than high ones; a note-off starts a short
//! release. When all [`VOICES`] sound, a new note takes the quietest voice.

/// Voices sounding at once.
pub const VOICES: usize = 24;
/// Harmonics per voice.
pub const PARTIALS: usize = 5;
/// Attack ramp, seconds.
const ATTACK_S: f64 = 0.003;
/// Release time constant after a note-off, seconds.
const RELEASE_S: f64 = 0.09;
/// A voice below this envelope is silent and free.
const SILENT: f64 = 1e-4;
/// String stiffness: partial k sounds at k·f·√(1 + B·k²).
const INHARMONICITY: f64 = 0.0004;

/// Whose note a voice plays: the player's and Cadenza's notes on the same key are separate voices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cadenza,
    Player,
}

#[derive(Debug, Clone, Copy)]
struct Partial {
    /// The phasor (real, imaginary); the output is the imaginary part.
    re: f64,
    im: f64,
    /// Per-sample rotation times decay.
    step_re: f64,
    step_im: f64,
}

const SILENT_PARTIAL: Partial = Partial {
    re: 0.0,
    im: 0.0,
    step_re: 1.0,
    step_im: 0.0,
};

#[derive(Debug, Clone, Copy)]
struct Voice {
    active: bool,
    pitch: u8,
    source: Source,
    held: bool,
    /// Samples since the note-on (for the attack ramp).
    age: u32,
    /// Release envelope (1 until the note-off, then decays).
    release: f64,
    /// Left and right gains (pan by pitch).
    pan: (f32, f32),
    partials: [Partial; PARTIALS],
}

const IDLE: Voice = Voice {
    active: false,
    pitch: 0,
    source: Source::Cadenza,
    held: false,
    age: 0,
    release: 0.0,
    pan: (0.0, 0.0),
    partials: [SILENT_PARTIAL; PARTIALS],
};

impl Voice {
    /// A rough loudness, to choose which voice to steal.
    fn level(&self) -> f64 {
        let amp: f64 = self
            .partials
            .iter()
            .map(|p| (p.re * p.re + p.im * p.im).sqrt())
            .sum();
        amp * self.release
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Synth {
    voices: [Voice; VOICES],
    sample_rate: f64,
    /// Per-sample release multiplier.
    release_step: f64,
    attack_samples: u32,
}

impl Synth {
    /// A silent synth at `sample_rate` Hz.
    pub fn new(sample_rate: f64) -> Self {
        let sample_rate = if sample_rate.is_finite() && sample_rate > 1000.0 {
            sample_rate
        } else {
            48_000.0
        };
        Self {
            voices: [IDLE; VOICES],
            sample_rate,
            release_step: (-1.0 / (RELEASE_S * sample_rate)).exp(),
            attack_samples: ((ATTACK_S * sample_rate) as u32).max(1),
        }
    }

    /// Voices still sounding (held or releasing).
    pub fn active_voices(&self) -> usize {
        self.voices.iter().filter(|v| v.active).count()
    }

    /// Strike `pitch` (MIDI 0..127) at `velocity` (0..1).
    pub fn note_on(&mut self, pitch: u8, velocity: f32, source: Source) {
        let pitch = pitch.min(127);
        let v = f64::from(velocity.clamp(0.0, 1.0));
        if v <= 0.0 {
            self.note_off(pitch, source);
            return;
        }
        // The same key struck again takes its own voice back; else a free one; else the quietest.
        let slot = self
            .voices
            .iter()
            .position(|x| x.active && x.pitch == pitch && x.source == source)
            .or_else(|| self.voices.iter().position(|x| !x.active))
            .unwrap_or_else(|| {
                let mut best = 0;
                let mut best_level = f64::INFINITY;
                for (i, x) in self.voices.iter().enumerate() {
                    let l = x.level();
                    if l < best_level {
                        best = i;
                        best_level = l;
                    }
                }
                best
            });
        let f0 = 440.0 * 2f64.powf((f64::from(pitch) - 69.0) / 12.0);
        // Low strings ring longer: ~4 s at A1, ~0.6 s at A7.
        let tau = (1.6 * (220.0 / f0).powf(0.45)).clamp(0.35, 6.0);
        let gain = 0.22 * v.powf(1.4);
        let nyquist = self.sample_rate * 0.45;
        let mut partials = [SILENT_PARTIAL; PARTIALS];
        for (k, p) in partials.iter_mut().enumerate() {
            let n = (k + 1) as f64;
            let f = n * f0 * (1.0 + INHARMONICITY * n * n).sqrt();
            if f >= nyquist {
                continue;
            }
            // Brighter when struck harder; higher partials quieter and shorter.
            let weight = gain * (0.55 + 0.45 * v).powf(n - 1.0) / n.powf(1.3);
            let decay = (-1.0 / (tau / n.powf(0.8) * self.sample_rate)).exp();
            let w = std::f64::consts::TAU * f / self.sample_rate;
            *p = Partial {
                re: weight,
                im: 0.0,
                step_re: decay * w.cos(),
                step_im: decay * w.sin(),
            };
        }
        let x = (f64::from(pitch) - 64.0) / 64.0 * 0.5; // -0.5..0.5
        let angle = (x + 1.0) * std::f64::consts::FRAC_PI_4; // constant-power pan
        self.voices[slot] = Voice {
            active: true,
            pitch,
            source,
            held: true,
            age: 0,
            release: 1.0,
            pan: (angle.cos() as f32, angle.sin() as f32),
            partials,
        };
    }

    /// Release `pitch` of `source` (a note-off of nothing is ignored).
    pub fn note_off(&mut self, pitch: u8, source: Source) {
        for v in self.voices.iter_mut() {
            if v.active && v.held && v.pitch == pitch && v.source == source {
                v.held = false;
            }
        }
    }

    /// Release every note of `source` (a cut, the voice switched off, bypass).
    pub fn release_all(&mut self, source: Option<Source>) {
        for v in self.voices.iter_mut() {
            if source.is_none_or(|s| s == v.source) {
                v.held = false;
            }
        }
    }

    /// Silence at once (deactivation, sample-rate change).
    pub fn clear(&mut self) {
        self.voices = [IDLE; VOICES];
    }

    /// Add `gain` times the voices into `left` and `right` (the shorter length is rendered).
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32], gain: f32) {
        let n = left.len().min(right.len());
        let attack = self.attack_samples;
        let release_step = self.release_step;
        for v in self.voices.iter_mut().filter(|v| v.active) {
            let (gl, gr) = (v.pan.0 * gain, v.pan.1 * gain);
            for i in 0..n {
                let mut s = 0.0;
                for p in v.partials.iter_mut() {
                    let re = p.re * p.step_re - p.im * p.step_im;
                    let im = p.re * p.step_im + p.im * p.step_re;
                    p.re = re;
                    p.im = im;
                    s += im;
                }
                let ramp = if v.age < attack {
                    f64::from(v.age) / f64::from(attack)
                } else {
                    1.0
                };
                v.age = v.age.saturating_add(1);
                if !v.held {
                    v.release *= release_step;
                }
                let out = (s * ramp * v.release) as f32;
                left[i] += out * gl;
                right[i] += out * gr;
            }
            if v.level() < SILENT && v.age >= attack {
                *v = IDLE;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 48_000.0;

    fn render(s: &mut Synth, frames: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut l, mut r) = (vec![0.0; frames], vec![0.0; frames]);
        s.render(&mut l, &mut r, 1.0);
        (l, r)
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    #[test]
    fn silent_until_a_note_and_silent_again_after_its_release() {
        let mut s = Synth::new(SR);
        let (l, r) = render(&mut s, 512);
        assert!(l.iter().chain(&r).all(|&x| x == 0.0));
        s.note_on(60, 0.8, Source::Cadenza);
        let (l, _) = render(&mut s, 4800);
        assert!(rms(&l) > 0.01, "a struck note sounds: rms {}", rms(&l));
        s.note_off(60, Source::Cadenza);
        let _ = render(&mut s, 48_000);
        assert_eq!(s.active_voices(), 0, "released voices free themselves");
        let (l, r) = render(&mut s, 512);
        assert!(l.iter().chain(&r).all(|&x| x == 0.0));
    }

    #[test]
    fn a4_sounds_at_440_hz() {
        let mut s = Synth::new(SR);
        s.note_on(69, 0.3, Source::Cadenza);
        let (l, _) = render(&mut s, 48_000);
        // Upward zero crossings over one second (after the attack) = the fundamental.
        let crossings = l[480..]
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        assert!(
            (430..=450).contains(&crossings),
            "{crossings} crossings per second"
        );
    }

    #[test]
    fn harder_is_louder_and_a_held_note_rings_longer_than_a_released_one() {
        let mut soft = Synth::new(SR);
        let mut hard = Synth::new(SR);
        soft.note_on(60, 0.2, Source::Cadenza);
        hard.note_on(60, 1.0, Source::Cadenza);
        assert!(rms(&render(&mut hard, 4800).0) > 2.0 * rms(&render(&mut soft, 4800).0));

        let mut held = Synth::new(SR);
        let mut released = Synth::new(SR);
        for s in [&mut held, &mut released] {
            s.note_on(48, 0.8, Source::Cadenza);
            let _ = render(s, 4800);
        }
        released.note_off(48, Source::Cadenza);
        // 0.2 s after the note-off (about two release time constants).
        let a = rms(&render(&mut held, 9600).0[7200..]);
        let b = rms(&render(&mut released, 9600).0[7200..]);
        assert!(a > 5.0 * b, "held {a} released {b}");
    }

    #[test]
    fn sources_are_separate_and_voices_are_stolen_when_all_sound() {
        let mut s = Synth::new(SR);
        s.note_on(60, 0.8, Source::Cadenza);
        s.note_on(60, 0.8, Source::Player);
        assert_eq!(s.active_voices(), 2);
        s.release_all(Some(Source::Player));
        let _ = render(&mut s, 48_000);
        assert_eq!(s.active_voices(), 1, "only the player's note was released");

        let mut s = Synth::new(SR);
        for p in 0..(VOICES as u8 + 8) {
            s.note_on(30 + p, 0.8, Source::Cadenza);
            let _ = render(&mut s, 64);
        }
        assert_eq!(s.active_voices(), VOICES);
        let (l, r) = render(&mut s, 4800);
        assert!(l.iter().chain(&r).all(|x| x.is_finite() && x.abs() < 4.0));
    }

    #[test]
    fn pan_spreads_low_left_and_high_right() {
        let mut s = Synth::new(SR);
        s.note_on(30, 0.8, Source::Cadenza);
        let (l, r) = render(&mut s, 4800);
        assert!(rms(&l) > rms(&r));
        let mut s = Synth::new(SR);
        s.note_on(100, 0.8, Source::Cadenza);
        let (l, r) = render(&mut s, 4800);
        assert!(rms(&r) > rms(&l));
    }
}
