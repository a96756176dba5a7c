//! The pipeline file as written: the YAML's shape before any checking, with
//! the location of every value.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::pipeline::model::{Loc, SpecError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPipeline {
    #[serde(default)]
    pub(crate) vars: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(crate) items: BTreeMap<String, Spanned<RawItems>>,
    pub(crate) stages: BTreeMap<String, RawStage>,
    pub(crate) sweep: Option<Spanned<RawSweep>>,
    /// `executor: {slurm: {...}}`: the Slurm executor's defaults.
    pub(crate) executor: Option<Spanned<BTreeMap<String, Spanned<BTreeMap<String, Value>>>>>,
    /// `cache: {remote: s3://..., push: true, remote_required: false}`.
    pub(crate) cache: Option<Spanned<RawCache>>,
}

/// The `cache:` block. Credentials have no place here: an unknown field is
/// an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub(crate) remote: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) push: bool,
    #[serde(default)]
    pub(crate) remote_required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSweep {
    #[serde(default)]
    pub(crate) grid: BTreeMap<String, Spanned<Vec<Value>>>,
    #[serde(default)]
    pub(crate) list: Vec<Spanned<BTreeMap<String, Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawItems {
    pub(crate) dir: Option<String>,
    pub(crate) list: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub(crate) kind: Spanned<String>,
    pub(crate) foreach: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) params: BTreeMap<String, Spanned<Value>>,
    #[serde(default)]
    pub(crate) inputs: BTreeMap<String, Spanned<String>>,
    /// What each of its Slurm jobs asks for; not part of any key.
    pub(crate) resources: Option<Spanned<BTreeMap<String, Value>>>,
    /// Run it on the orchestrator's machine even under `--executor slurm`.
    pub(crate) local: Option<Spanned<bool>>,
}
/// The pipeline text as YAML, with syntax and shape errors located.
pub(crate) fn parse_raw(text: &str, file: &str) -> Result<RawPipeline, SpecError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location().map(|l| Loc { line: l.line(), column: l.column() }).unwrap_or_default();
        let message = first_line(&e.without_snippet().to_string());
        let suffix = format!(" at line {}, column {}", loc.line, loc.column);
        SpecError {
            file: file.to_owned(),
            line: loc.line,
            column: loc.column,
            message: message.strip_suffix(&suffix).unwrap_or(&message).to_owned(),
        }
    })
}
fn first_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim().to_owned()
}
