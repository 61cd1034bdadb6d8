//! Where the model runs: the musician's setting (Auto, CPU, CUDA) and what a load made of it.
//!
//! Contract: a load never fails for the setting's sake. CUDA asked for but not there (a CPU-only
//! ONNX Runtime, no GPU, missing CUDA libraries) runs on CPU and says why. Auto runs on CUDA only when
//! CUDA measured faster than the CPU for the loaded model: a small model's single-token step is often
//! quicker on one CPU core than a GPU launch and copy, and ONNX Runtime's CUDA provider hands the int8
//! graph's quantization nodes back to the CPU, paying copies both ways.

use std::sync::{Arc, RwLock};

/// The setting: saved with the project (`#[persist = "runs_on"]`), written by the editor and the
/// command line, read by the engine thread at each load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProviderChoice {
    /// CUDA when it measured faster for this model, else CPU.
    #[default]
    Auto,
    /// Always the CPU (one thread).
    Cpu,
    /// The GPU (CPU when CUDA is not there, saying why).
    Cuda,
}

/// The setting as the plugin shares it: the editor writes, the engine thread reads at each load.
pub type ProviderSetting = Arc<RwLock<ProviderChoice>>;

impl ProviderChoice {
    /// Every choice, in the editor's order.
    pub const ALL: [ProviderChoice; 3] = [
        ProviderChoice::Auto,
        ProviderChoice::Cpu,
        ProviderChoice::Cuda,
    ];

    /// The word used in saved states, on the command line and in the editor.
    pub fn name(self) -> &'static str {
        match self {
            ProviderChoice::Auto => "auto",
            ProviderChoice::Cpu => "cpu",
            ProviderChoice::Cuda => "cuda",
        }
    }

    /// Read a setting shared with the editor (a poisoned lock still holds a valid choice).
    pub fn read(setting: &ProviderSetting) -> Self {
        *setting.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The setting, shared.
    pub fn shared(self) -> ProviderSetting {
        Arc::new(RwLock::new(self))
    }
}

impl std::fmt::Display for ProviderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an execution provider's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an execution provider: auto, cpu or cuda")]
pub struct UnknownProvider(pub String);

impl std::str::FromStr for ProviderChoice {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, UnknownProvider> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProvider(s.to_string()))
    }
}

impl serde::Serialize for ProviderChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Lenient: a saved state from a later version (an unknown provider) or a damaged one loads as Auto
/// (logged) rather than losing the rest of the project's settings.
impl<'de> serde::Deserialize<'de> for ProviderChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(match value.as_str().map(str::parse::<ProviderChoice>) {
            Some(Ok(c)) => c,
            _ => {
                tracing::warn!("saved execution provider {value} not understood; using auto");
                ProviderChoice::Auto
            }
        })
    }
}

/// An execution provider a session can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ep {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// ONNX Runtime's CUDA provider.
    Cuda,
}

impl std::fmt::Display for Ep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ep::Cpu => "CPU",
            Ep::Cuda => "CUDA",
        })
    }
}

/// What a load made of the setting: where the session runs, and why (shown in the editor, the log
/// and `cadenza info`).
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Where the session runs.
    pub runs_on: Ep,
    /// What the setting asked for.
    pub choice: ProviderChoice,
    /// Why this provider: "chosen", the reason CUDA is unavailable, or auto's measurements.
    pub why: String,
    /// Auto's measurements: median µs of one decode step per provider tried.
    pub measured: Vec<(Ep, f64)>,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.runs_on, self.why)
    }
}

impl Provider {
    /// The setting asked for exactly this provider and got it.
    pub fn chosen(ep: Ep, choice: ProviderChoice) -> Self {
        Self {
            runs_on: ep,
            choice,
            why: "chosen".into(),
            measured: Vec::new(),
        }
    }

    /// CUDA could not be used; the session runs on CPU.
    pub fn cpu_without_cuda(choice: ProviderChoice, reason: &str) -> Self {
        let why = match choice {
            ProviderChoice::Cuda => format!("CUDA was chosen but is unavailable: {reason}"),
            _ => format!("auto; CUDA unavailable: {reason}"),
        };
        Self {
            runs_on: Ep::Cpu,
            choice,
            why,
            measured: Vec::new(),
        }
    }

    /// Auto's verdict from the medians of one decode step on each provider (µs). CUDA wins only when
    /// it is strictly faster: on a tie the CPU keeps the GPU free and has no driver in the way.
    pub fn auto_from(cpu_us: f64, cuda_us: f64) -> Self {
        let runs_on = if cuda_us < cpu_us { Ep::Cuda } else { Ep::Cpu };
        Self {
            runs_on,
            choice: ProviderChoice::Auto,
            why: format!(
                "auto: measured a step at {:.2} ms on CUDA, {:.2} ms on CPU",
                cuda_us / 1e3,
                cpu_us / 1e3
            ),
            measured: vec![(Ep::Cpu, cpu_us), (Ep::Cuda, cuda_us)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_reads_and_writes_its_names() {
        for c in ProviderChoice::ALL {
            assert_eq!(c.name().parse::<ProviderChoice>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<ProviderChoice>(&json).unwrap(), c);
        }
        assert_eq!(" CUDA ".parse::<ProviderChoice>(), Ok(ProviderChoice::Cuda));
        assert!("tpu"
            .parse::<ProviderChoice>()
            .unwrap_err()
            .to_string()
            .contains("auto, cpu or cuda"));
    }

    #[test]
    fn a_saved_setting_it_does_not_know_loads_as_auto() {
        for bad in [r#""tpu""#, "7", "null", r#"{"x":1}"#] {
            assert_eq!(
                serde_json::from_str::<ProviderChoice>(bad).unwrap(),
                ProviderChoice::Auto,
                "{bad}"
            );
        }
    }

    #[test]
    fn auto_takes_cuda_only_when_it_measured_faster() {
        let slow_gpu = Provider::auto_from(300.0, 450.0);
        assert_eq!(slow_gpu.runs_on, Ep::Cpu);
        assert!(slow_gpu.why.contains("0.45 ms on CUDA"), "{}", slow_gpu.why);
        assert_eq!(Provider::auto_from(900.0, 200.0).runs_on, Ep::Cuda);
        assert_eq!(
            Provider::auto_from(300.0, 300.0).runs_on,
            Ep::Cpu,
            "a tie stays on CPU"
        );
    }

    #[test]
    fn cuda_asked_for_and_missing_says_so() {
        let p = Provider::cpu_without_cuda(ProviderChoice::Cuda, "no GPU");
        assert_eq!(
            p.to_string(),
            "CPU (CUDA was chosen but is unavailable: no GPU)"
        );
        let a = Provider::cpu_without_cuda(ProviderChoice::Auto, "no GPU");
        assert_eq!(a.to_string(), "CPU (auto; CUDA unavailable: no GPU)");
    }
}
