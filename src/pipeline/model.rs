//! The pipeline model: a checked pipeline's stages, inputs and item sets,
//! `--set` overrides, and the error that locates a problem in the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lungflow_stages::StageKind;

use crate::pipeline::resources::Resources;
use crate::pipeline::slurm_settings::SlurmSettings;
use serde::Serialize;
use serde_json::Value;
use serde_saphyr::Spanned;

/// A problem with a pipeline file, located in it.
#[derive(Debug, thiserror::Error)]
pub struct SpecError {
    /// The pipeline file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// What is wrong and, where possible, what to do.
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        }
    }
}

/// Where something was written in the pipeline file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl Loc {
    /// Where a spanned YAML value was written.
    pub(crate) fn of<T>(spanned: &Spanned<T>) -> Loc {
        Loc { line: spanned.referenced.line(), column: spanned.referenced.column() }
    }
}

/// Where a stage input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputRef {
    /// A file or directory outside the cache; `{item}` is replaced per item.
    External(String),
    /// Another stage's output directory, or a path inside it.
    Stage {
        /// Index of the producing stage in [`Pipeline::stages`].
        stage: usize,
        /// A path inside the producer's output directory.
        subpath: Option<String>,
    },
}

/// Where the ids of an item set come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemSource {
    /// Ids written in the pipeline file.
    List(Vec<String>),
    /// The names of the subdirectories of an external directory.
    Dir(String),
    /// The names of the subdirectories of (a path in) a stage's output.
    StageDir {
        /// Index of the producing stage, which must run once.
        stage: usize,
        /// A path inside the producer's output directory.
        subpath: Option<String>,
    },
}

/// One checked stage.
#[derive(Clone)]
pub struct Stage {
    /// The stage's name in the pipeline.
    pub name: String,
    /// Its kind.
    pub kind: &'static dyn StageKind,
    /// The item set it fans out over; `None` runs it once.
    pub foreach: Option<String>,
    /// Parameters with defaults filled in and types checked.
    pub params: BTreeMap<String, Value>,
    /// Inputs by name.
    pub inputs: BTreeMap<String, InputRef>,
    /// Where the stage's `kind:` is written.
    pub loc: Loc,
    /// For a stage a sweep varies: the swept values that reach this copy
    /// (its name is then `BASE@VARIANT`).
    pub variant: Option<String>,
    /// What each of its Slurm jobs asks for (`resources:`); not in the key.
    pub resources: Resources,
    /// Runs on the orchestrator's machine even under `--executor slurm`.
    pub local: bool,
}

impl Stage {
    /// The stage's name in the pipeline file (without `@VARIANT`).
    pub fn base_name(&self) -> &str {
        self.name.split_once('@').map_or(&self.name, |(b, _)| b)
    }
}

/// A checked pipeline.
#[derive(Clone)]
pub struct Pipeline {
    /// The pipeline file as given on the command line.
    pub file: PathBuf,
    /// The file's absolute path: identifies the pipeline in the state store.
    pub id: String,
    /// Item sets by name.
    pub item_sets: BTreeMap<String, ItemSource>,
    /// Stages sorted by name.
    pub stages: Vec<Stage>,
    /// Stage indices in an order where producers come before consumers.
    pub order: Vec<usize>,
    /// The sweep's variants; empty when the pipeline sweeps nothing.
    pub variants: Vec<Variant>,
    /// The Slurm executor's settings (`executor: slurm:`, else defaults).
    pub slurm: SlurmSettings,
    /// The `cache:` block: a shared cache on an object store.
    pub cache: CacheSettings,
}

/// The pipeline's `cache:` block (the command line's `--remote` and
/// `--push` override it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheSettings {
    /// `remote: s3://BUCKET/PREFIX`, as written, with where it was written.
    pub remote: Option<(String, Loc)>,
    /// `push: true`: push every entry a run makes available.
    pub push: bool,
    /// `remote_required: true`: a remote failure during a run is an error.
    pub remote_required: bool,
}

impl Pipeline {
    /// The pipeline's short name (file stem), used for result links.
    pub fn name(&self) -> String {
        self.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "pipeline".into())
    }

    /// The index of the stage with this name.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

/// A `--set STAGE.PARAM=VALUE` override.
#[derive(Clone, Debug)]
pub struct Override {
    /// The stage.
    pub stage: String,
    /// The parameter.
    pub param: String,
    /// The value, parsed as a YAML scalar.
    pub value: Value,
}

impl Override {
    /// Parses `STAGE.PARAM=VALUE`.
    pub fn parse(text: &str) -> Result<Override, String> {
        let (lhs, value) = text.split_once('=').ok_or_else(|| format!("--set {text:?}: expected STAGE.PARAM=VALUE"))?;
        let (stage, param) = lhs.split_once('.').ok_or_else(|| format!("--set {text:?}: expected STAGE.PARAM=VALUE"))?;
        Ok(Override { stage: stage.to_owned(), param: param.to_owned(), value: parse_scalar(value) })
    }
}

/// Parses a command-line value as YAML would (number, bool or string).
pub fn parse_scalar(text: &str) -> Value {
    match serde_saphyr::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => v,
        _ => Value::String(text.to_owned()),
    }
}
/// The pseudo-stage name that `--set` uses for pipeline variables.
pub const VARS: &str = "vars";
/// Whether an item id is usable as a single path component.
pub fn is_item_id(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('.') && !id.contains('/') && !id.contains('\0')
}

/// How an instance is named in messages: `stage` or `stage[item]`.
pub fn instance_label(stage: &str, item: Option<&str>) -> String {
    match item {
        Some(it) => format!("{stage}[{it}]"),
        None => stage.to_owned(),
    }
}

/// One parameter value of one variant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assignment {
    /// The stage.
    pub stage: String,
    /// The parameter.
    pub param: String,
    /// The value.
    pub value: Value,
}

impl Assignment {
    /// `STAGE.PARAM=VALUE` as it appears in variant names.
    pub fn text(&self) -> String {
        format!("{}.{}={}", self.stage, self.param, value_text(&self.value))
    }

    /// The same assignment as a `--set` override.
    pub fn as_override(&self) -> Override {
        Override { stage: self.stage.clone(), param: self.param.clone(), value: self.value.clone() }
    }
}

/// One variant of a sweep, resolved to the stages of the combined pipeline.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    /// Readable name: its assignments, `gmcae.lr=3e-4,gmcae.mixtures=4`.
    pub name: String,
    /// The swept values, sorted by `STAGE.PARAM`.
    pub assignments: Vec<Assignment>,
    /// For each stage of the pipeline file, the index of the combined stage
    /// this variant uses.
    pub stages: BTreeMap<String, usize>,
}

/// A value as written in names: integers plainly, floats in the shorter of
/// decimal and exponent notation (`3e-4`, `0.5`), strings as they are.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().expect("f64");
            let (plain, exp) = (format!("{f}"), format!("{f:e}"));
            if exp.len() < plain.len() { exp } else { plain }
        }
        other => other.to_string(),
    }
}

/// The name of a variant with these (sorted) assignments.
pub fn variant_name(assignments: &[Assignment]) -> String {
    if assignments.is_empty() {
        return "default".to_owned();
    }
    assignments.iter().map(Assignment::text).collect::<Vec<_>>().join(",")
}
