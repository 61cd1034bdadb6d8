//! The model layer: the ORT session, its KV cache, and the model.json contract.
//!
//! Knows `ort`, nothing of the plugin framework. The default model is embedded in the binary.

mod provider;
mod session;
pub mod spec;

pub use provider::{Ep, Provider, ProviderChoice, ProviderSetting, UnknownProvider};
pub use session::{ModelError, OnnxModel, INT8_RUN_TOKENS, SPARE_CACHES};
pub use spec::{ModelSpec, SpecError};

/// The shipped model's graph, embedded so the plugin works with nothing beside it but ONNX Runtime:
/// its int8 variant (weights quantized per tensor, activations float), about twice as fast per step
/// as fp32 and a quarter of the size; its agreement with fp32 is in model.json (`training.int8`:
/// KL 8e-5, argmax agreement 99.4% over 320 steps of a chorale). models/default/model.onnx, the fp32
/// graph, is the checkpoint fine-tuning starts from.
pub const DEFAULT_MODEL_ONNX: &[u8] = include_bytes!("../models/default/model.int8.onnx");
/// The shipped model's contract.
pub const DEFAULT_MODEL_JSON: &str = include_str!("../models/default/model.json");

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The default model compiled into the plugin.
    Embedded,
    /// A model.onnx on disk, with model.json beside it.
    File(std::path::PathBuf),
}

/// The model the musician chose (a path, or empty for the default), saved with the project. The
/// editor writes it; the engine thread reads it at each load. Never touched by the audio thread.
pub type ModelChoice = std::sync::Arc<std::sync::RwLock<String>>;

/// Environment variable naming a model to load instead of the built-in one (a folder holding
/// model.onnx + model.json, or the model.onnx itself) for instances whose editor chose none.
pub const MODEL_ENV_VAR: &str = "CADENZA_MODEL";

impl ModelSource {
    /// A model on disk: a folder with model.onnx + model.json, or the model.onnx itself. A folder's
    /// model.int8.onnx, when it has one, is preferred: the same model at half the step time (the
    /// exporter removes a stale one whenever it writes model.onnx).
    pub fn from_path(path: impl Into<std::path::PathBuf>) -> Self {
        let p = path.into();
        if !p.is_dir() {
            return ModelSource::File(p);
        }
        let int8 = p.join("model.int8.onnx");
        ModelSource::File(if int8.is_file() {
            int8
        } else {
            p.join("model.onnx")
        })
    }

    /// `$CADENZA_MODEL` when set, else the built-in model.
    pub fn from_env() -> Self {
        match std::env::var_os(MODEL_ENV_VAR).filter(|p| !p.is_empty()) {
            Some(p) => Self::from_path(p),
            None => ModelSource::Embedded,
        }
    }

    /// The chosen model: `choice` when it names one, else `$CADENZA_MODEL`, else the built-in one.
    pub fn chosen(choice: &str) -> Self {
        let c = choice.trim();
        if c.is_empty() {
            Self::from_env()
        } else {
            Self::from_path(c)
        }
    }

    /// "built-in", or the path of the model.onnx.
    pub fn describe(&self) -> String {
        match self {
            ModelSource::Embedded => "built-in".into(),
            ModelSource::File(p) => p.display().to_string(),
        }
    }

    /// Read the graph bytes and the parsed contract.
    pub fn read(&self) -> Result<(std::borrow::Cow<'static, [u8]>, ModelSpec), ModelError> {
        match self {
            ModelSource::Embedded => Ok((
                DEFAULT_MODEL_ONNX.into(),
                ModelSpec::parse(DEFAULT_MODEL_JSON)?,
            )),
            ModelSource::File(onnx) => {
                let json_path = onnx.with_file_name("model.json");
                let io = |p: &std::path::Path, e: std::io::Error| {
                    ModelError::Io(format!("{}: {e}", p.display()))
                };
                let json = std::fs::read_to_string(&json_path).map_err(|e| io(&json_path, e))?;
                let spec = ModelSpec::parse(&json)?;
                let bytes = std::fs::read(onnx).map_err(|e| io(onnx, e))?;
                Ok((bytes.into(), spec))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("cadenza-model-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_model_on_disk_reads_model_json_beside_it_and_names_what_is_wrong() {
        let d = dir("missing");
        let err = ModelSource::File(d.join("model.onnx")).read().unwrap_err();
        assert!(
            matches!(&err, ModelError::Io(m) if m.contains("model.json")),
            "{err}"
        );

        let d = dir("corrupt-json");
        std::fs::write(d.join("model.json"), "{\"format_version\": 1, \"name\": ").unwrap();
        std::fs::write(d.join("model.onnx"), b"x").unwrap();
        let err = ModelSource::File(d.join("model.onnx")).read().unwrap_err();
        assert!(
            matches!(err, ModelError::Spec(SpecError::Parse(_))),
            "{err}"
        );

        let d = dir("good-json");
        std::fs::write(d.join("model.json"), DEFAULT_MODEL_JSON).unwrap();
        std::fs::write(d.join("model.onnx"), b"not an onnx graph").unwrap();
        let (bytes, spec) = ModelSource::File(d.join("model.onnx")).read().unwrap();
        assert_eq!(&bytes[..], b"not an onnx graph");
        assert_eq!(spec.styles.len(), 5);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_folder_loads_its_int8_graph_when_it_has_one() {
        let d = dir("folder");
        std::fs::write(d.join("model.json"), DEFAULT_MODEL_JSON).unwrap();
        std::fs::write(d.join("model.onnx"), b"fp32").unwrap();
        let (bytes, _) = ModelSource::from_path(&d).read().unwrap();
        assert_eq!(&bytes[..], b"fp32", "only model.onnx: that one");
        std::fs::write(d.join("model.int8.onnx"), b"int8").unwrap();
        let (bytes, _) = ModelSource::from_path(&d).read().unwrap();
        assert_eq!(&bytes[..], b"int8", "both: the int8 graph");
        // A file named directly is loaded as named.
        let (bytes, _) = ModelSource::from_path(d.join("model.onnx")).read().unwrap();
        assert_eq!(&bytes[..], b"fp32");
        let _ = std::fs::remove_dir_all(&d);
    }
}
