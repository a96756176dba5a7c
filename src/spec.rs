//! Pipeline files: parsing the YAML and checking it against the stage kinds.
//!
//! The result is a [`Pipeline`] whose every stage has a known kind, fully
//! resolved and type-checked parameters, and inputs that point at existing
//! stages or at external paths. Every error names the file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lungflow_stages::{StageKind, find_kind, all_kinds};
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::graph;
use crate::sweep::{self, Axis, Variant};

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
    fn of<T>(spanned: &Spanned<T>) -> Loc {
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
}

impl Pipeline {
    /// The index of the stage with this name.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    vars: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    items: BTreeMap<String, Spanned<RawItems>>,
    stages: BTreeMap<String, RawStage>,
    sweep: Option<Spanned<RawSweep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    #[serde(default)]
    grid: BTreeMap<String, Spanned<Vec<Value>>>,
    #[serde(default)]
    list: Vec<Spanned<BTreeMap<String, Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItems {
    dir: Option<String>,
    list: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    kind: Spanned<String>,
    foreach: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<Value>>,
    #[serde(default)]
    inputs: BTreeMap<String, Spanned<String>>,
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
        let (lhs, value) = text
            .split_once('=')
            .ok_or_else(|| format!("--set {text:?}: expected STAGE.PARAM=VALUE"))?;
        let (stage, param) = lhs
            .split_once('.')
            .ok_or_else(|| format!("--set {text:?}: expected STAGE.PARAM=VALUE"))?;
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

/// Reads, parses and checks a pipeline file, applying `--set` overrides.
pub fn load(file: &Path, overrides: &[Override]) -> Result<Pipeline, SpecError> {
    load_sweep(file, overrides, &[])
}

/// [`load`], with `--sweep` axes added to (or replacing those of) the
/// file's `sweep:` grid. A sweep becomes one combined pipeline.
pub fn load_sweep(file: &Path, overrides: &[Override], axes: &[Axis]) -> Result<Pipeline, SpecError> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| SpecError {
        file: shown.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read pipeline file: {e}"),
    })?;
    let id = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()).display().to_string();
    let at = |loc: Loc, message: String| SpecError { file: shown.clone(), line: loc.line, column: loc.column, message };
    let raw = parse_raw(&text, &shown)?;
    let (grid, listed) = sweep_of(&raw, axes).map_err(|(loc, msg)| at(loc, msg))?;
    let (item_sets, stages, order) = check(&raw, &shown, overrides)?;
    let pipeline = |item_sets, stages, order, variants| Pipeline { file: file.to_path_buf(), id: id.clone(), item_sets, stages, order, variants };
    if grid.is_empty() && listed.is_empty() {
        return Ok(pipeline(item_sets, stages, order, Vec::new()));
    }
    let mut checked = Vec::new();
    for assignments in sweep::expand(&grid, &listed) {
        let mut all = overrides.to_vec();
        all.extend(assignments.iter().map(sweep::Assignment::as_override));
        let (sets, stages, _) = check(&raw, &shown, &all).map_err(|e| SpecError {
            message: format!("sweep variant {}: {}", sweep::variant_name(&assignments), e.message),
            ..e
        })?;
        checked.push((assignments, sets, stages));
    }
    let combined = sweep::combine(checked, &order).map_err(|(loc, msg)| at(loc, msg))?;
    let order = graph::topological_order(&combined.stages, &combined.item_sets).map_err(|(loc, msg)| at(loc, msg))?;
    Ok(pipeline(combined.item_sets, combined.stages, order, combined.variants))
}

type Parsed = (BTreeMap<String, ItemSource>, Vec<Stage>, Vec<usize>);

/// Parses and checks pipeline text; `file` is only used in messages.
pub fn parse(text: &str, file: &str, overrides: &[Override]) -> Result<Parsed, SpecError> {
    check(&parse_raw(text, file)?, file, overrides)
}

/// The pipeline text as YAML, with syntax and shape errors located.
fn parse_raw(text: &str, file: &str) -> Result<RawPipeline, SpecError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location().map(|l| Loc { line: l.line(), column: l.column() }).unwrap_or_default();
        let message = first_line(&e.without_snippet().to_string());
        let suffix = format!(" at line {}, column {}", loc.line, loc.column);
        SpecError { file: file.to_owned(), line: loc.line, column: loc.column, message: message.strip_suffix(&suffix).unwrap_or(&message).to_owned() }
    })
}

/// The sweep's grid axes (the file's, with `--sweep` axes added or
/// replacing them) and its listed variants, each value type-checked.
fn sweep_of(raw: &RawPipeline, cli: &[Axis]) -> Result<(Vec<Axis>, Vec<Vec<sweep::Assignment>>), (Loc, String)> {
    let mut grid: Vec<Axis> = Vec::new();
    let mut listed = Vec::new();
    if let Some(sweep) = &raw.sweep {
        for (key, values) in &sweep.value.grid {
            let loc = Loc::of(values);
            let (stage, param) = key.split_once('.').ok_or((loc, format!("sweep grid key {key:?}: expected STAGE.PARAM")))?;
            let axis = Axis { stage: stage.to_owned(), param: param.to_owned(), values: values.value.clone(), loc };
            axis.check().map_err(|e| (loc, format!("sweep grid: {e}")))?;
            check_swept(raw, &axis)?;
            grid.push(axis);
        }
        for entry in &sweep.value.list {
            let loc = Loc::of(entry);
            if entry.value.is_empty() {
                return Err((loc, "sweep list: an empty variant; give at least one STAGE.PARAM: VALUE".into()));
            }
            let mut assignments = Vec::new();
            for (key, value) in &entry.value {
                let (stage, param) = key.split_once('.').ok_or((loc, format!("sweep list key {key:?}: expected STAGE.PARAM")))?;
                let axis = Axis { stage: stage.to_owned(), param: param.to_owned(), values: vec![value.clone()], loc };
                axis.check().map_err(|e| (loc, format!("sweep list: {e}")))?;
                check_swept(raw, &axis)?;
                assignments.push(sweep::Assignment { stage: axis.stage, param: axis.param, value: value.clone() });
            }
            listed.push(assignments);
        }
    }
    for axis in cli {
        check_swept(raw, axis)?;
        grid.retain(|a| a.key() != axis.key());
        grid.push(axis.clone());
    }
    Ok((grid, listed))
}

/// Checks that a swept parameter exists and that every value has its type.
fn check_swept(raw: &RawPipeline, axis: &Axis) -> Result<(), (Loc, String)> {
    let key = axis.key();
    if axis.stage == VARS {
        return Err((axis.loc, format!("sweep {key}: pipeline variables cannot be swept; sweep stage parameters")));
    }
    let Some(stage) = raw.stages.get(&axis.stage) else {
        let known: Vec<&String> = raw.stages.keys().collect();
        return Err((axis.loc, format!("sweep {key}: no stage named {:?} (stages: {known:?})", axis.stage)));
    };
    let Some(kind) = find_kind(&stage.kind.value) else { return Ok(()) }; // reported with the stage
    let ty = match kind.params().into_iter().find(|p| p.name == axis.param) {
        Some(spec) => spec.ty,
        None if kind.open_params() => lungflow_stages::ParamType::Scalar,
        None => {
            let known: Vec<&str> = kind.params().iter().map(|p| p.name).collect();
            return Err((axis.loc, format!("sweep {key}: kind {:?} has no parameter {:?} (parameters: {})", kind.name(), axis.param, known.join(", "))));
        }
    };
    for v in &axis.values {
        ty.check(v).map_err(|e| (axis.loc, format!("sweep {key}: {e}")))?;
    }
    Ok(())
}

/// Checks a parsed pipeline against the stage kinds, with `overrides` applied.
fn check(raw: &RawPipeline, file: &str, overrides: &[Override]) -> Result<Parsed, SpecError> {
    let at = |loc: Loc, message: String| SpecError { file: file.to_owned(), line: loc.line, column: loc.column, message };
    let names: Vec<String> = raw.stages.keys().cloned().collect();
    for name in &names {
        if !is_plain_name(name) {
            let loc = Loc::of(&raw.stages[name].kind);
            return Err(at(loc, format!("stage name {name:?} must use only letters, digits, '_' and '-'")));
        }
    }
    let vars = resolve_vars(&raw.vars, overrides).map_err(|(loc, msg)| at(loc, msg))?;
    for o in overrides {
        if o.stage != VARS && !raw.stages.contains_key(&o.stage) {
            return Err(at(Loc::default(), format!("--set {}.{}: no stage named {:?}", o.stage, o.param, o.stage)));
        }
    }
    if raw.stages.contains_key(VARS) {
        return Err(at(Loc::of(&raw.stages[VARS].kind), format!("{VARS:?} is reserved for `--set {VARS}.NAME=VALUE`; rename the stage")));
    }
    let stage_ref = |text: &str| -> Option<Result<(usize, Option<String>), String>> {
        let rest = text.strip_prefix('@')?;
        let (name, sub) = match rest.split_once('/') {
            Some((n, s)) => (n, Some(s.trim_end_matches('/').to_owned()).filter(|s| !s.is_empty())),
            None => (rest, None),
        };
        Some(
            names
                .iter()
                .position(|n| n == name)
                .map(|i| (i, sub))
                .ok_or_else(|| format!("no stage named {name:?} (stages: {})", names.join(", "))),
        )
    };

    let mut item_sets = BTreeMap::new();
    for (set, spanned) in &raw.items {
        let loc = Loc::of(spanned);
        let source = match (&spanned.value.dir, &spanned.value.list) {
            (Some(dir), None) => {
                let dir = substitute(dir, &vars).map_err(|e| at(loc, format!("item set {set:?}: {e}")))?;
                match stage_ref(&dir) {
                    Some(Ok((stage, subpath))) => ItemSource::StageDir { stage, subpath },
                    Some(Err(e)) => return Err(at(loc, format!("item set {set:?}: {e}"))),
                    None => ItemSource::Dir(dir),
                }
            }
            (None, Some(list)) => {
                if let Some(bad) = list.iter().find(|id| !is_item_id(id)) {
                    return Err(at(loc, format!("item set {set:?}: {bad:?} is not a valid item id")));
                }
                ItemSource::List(list.clone())
            }
            _ => return Err(at(loc, format!("item set {set:?} needs exactly one of `dir:` or `list:`"))),
        };
        item_sets.insert(set.clone(), source);
    }

    let mut stages = Vec::with_capacity(names.len());
    for (name, rs) in &raw.stages {
        let loc = Loc::of(&rs.kind);
        let kind = find_kind(&rs.kind.value).ok_or_else(|| {
            let known: Vec<&str> = all_kinds().iter().map(|k| k.name()).collect();
            at(loc, format!("stage {name:?}: unknown kind {:?} (known kinds: {})", rs.kind.value, known.join(", ")))
        })?;
        let foreach = match &rs.foreach {
            None => None,
            Some(f) if f.value == "once" => None,
            Some(f) if item_sets.contains_key(&f.value) => Some(f.value.clone()),
            Some(f) => {
                let known: Vec<&String> = item_sets.keys().collect();
                return Err(at(
                    Loc::of(f),
                    format!("stage {name:?}: foreach {:?} is neither `once` nor an item set (item sets: {known:?})", f.value),
                ));
            }
        };
        let mut given: BTreeMap<String, (Value, Loc)> =
            rs.params.iter().map(|(k, v)| (k.clone(), (v.value.clone(), Loc::of(v)))).collect();
        for o in overrides.iter().filter(|o| &o.stage == name) {
            given.insert(o.param.clone(), (o.value.clone(), Loc::default()));
        }
        let params = resolve_params(kind, name, given)
            .map_err(|(l, msg)| at(if l == Loc::default() { loc } else { l }, msg))?;
        let mut inputs = BTreeMap::new();
        for (input, value) in &rs.inputs {
            let iloc = Loc::of(value);
            let value = substitute(&value.value, &vars).map_err(|e| at(iloc, format!("stage {name:?}, input {input:?}: {e}")))?;
            let r = match stage_ref(&value) {
                Some(Ok((stage, subpath))) => {
                    if foreach.is_none() && subpath.as_deref().is_some_and(|s| s.contains("{item}")) {
                        return Err(at(iloc, format!("stage {name:?}, input {input:?}: {{item}} in a stage that runs once")));
                    }
                    InputRef::Stage { stage, subpath }
                }
                Some(Err(e)) => return Err(at(iloc, format!("stage {name:?}, input {input:?}: {e}"))),
                None => {
                    if foreach.is_none() && value.contains("{item}") {
                        return Err(at(iloc, format!("stage {name:?}, input {input:?}: {{item}} in a stage that runs once")));
                    }
                    InputRef::External(value.clone())
                }
            };
            inputs.insert(input.clone(), r);
        }
        stages.push(Stage { name: name.clone(), kind, foreach, params, inputs, loc, variant: None });
    }

    check_fan_in(&stages, &item_sets).map_err(|(loc, msg)| at(loc, msg))?;
    let order = graph::topological_order(&stages, &item_sets).map_err(|(loc, msg)| at(loc, msg))?;
    Ok((item_sets, stages, order))
}


/// The pseudo-stage name that `--set` uses for pipeline variables.
pub const VARS: &str = "vars";

/// The pipeline's `vars:` with `--set vars.NAME=VALUE` applied.
fn resolve_vars(raw: &BTreeMap<String, Spanned<String>>, overrides: &[Override]) -> Result<BTreeMap<String, String>, (Loc, String)> {
    let mut vars: BTreeMap<String, String> = raw.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect();
    for o in overrides.iter().filter(|o| o.stage == VARS) {
        if !vars.contains_key(&o.param) {
            let known: Vec<&String> = raw.keys().collect();
            return Err((Loc::default(), format!("--set {VARS}.{}: the pipeline has no variable {:?} (vars: {known:?})", o.param, o.param)));
        }
        vars.insert(o.param.clone(), lungflow_stages::params::scalar_text(&o.value));
    }
    Ok(vars)
}

/// Replaces every `${NAME}` in `text` with the variable's value.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| format!("unclosed `${{` in {text:?}"))? + start;
        let name = &rest[start + 2..end];
        let value = vars.get(name).ok_or_else(|| {
            let known: Vec<&String> = vars.keys().collect();
            format!("no variable {name:?} (vars: {known:?})")
        })?;
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Merges given parameters with the kind's defaults and checks their types.
fn resolve_params(
    kind: &dyn StageKind,
    stage: &str,
    mut given: BTreeMap<String, (Value, Loc)>,
) -> Result<BTreeMap<String, Value>, (Loc, String)> {
    let mut params = BTreeMap::new();
    for spec in kind.params() {
        match given.remove(spec.name) {
            Some((value, loc)) => {
                let value = spec
                    .ty
                    .check(&value)
                    .map_err(|e| (loc, format!("stage {stage:?}, parameter {:?}: {e}", spec.name)))?;
                params.insert(spec.name.to_owned(), value);
            }
            None => match spec.default {
                Some(d) => {
                    params.insert(spec.name.to_owned(), d);
                }
                None => {
                    return Err((Loc::default(), format!("stage {stage:?}: missing required parameter {:?}", spec.name)));
                }
            },
        }
    }
    for (name, (value, loc)) in given {
        if !kind.open_params() {
            let known: Vec<&str> = kind.params().iter().map(|p| p.name).collect();
            return Err((loc, format!(
                "stage {stage:?}: kind {:?} has no parameter {name:?} (parameters: {})",
                kind.name(),
                known.join(", ")
            )));
        }
        let value = lungflow_stages::ParamType::Scalar
            .check(&value)
            .map_err(|e| (loc, format!("stage {stage:?}, parameter {name:?}: {e}")))?;
        params.insert(name, value);
    }
    Ok(params)
}

/// Resolves parameters given on the command line of `lungflow exec`.
pub fn resolve_params_for_exec(
    kind: &dyn StageKind,
    given: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>, String> {
    let given = given.into_iter().map(|(k, v)| (k, (v, Loc::default()))).collect();
    resolve_params(kind, "exec", given).map_err(|(_, m)| m)
}

/// Checks that per-item stages only read per-item stages of the same item set.
fn check_fan_in(stages: &[Stage], item_sets: &BTreeMap<String, ItemSource>) -> Result<(), (Loc, String)> {
    for s in stages {
        for (input, r) in &s.inputs {
            if let InputRef::Stage { stage, .. } = r {
                let p = &stages[*stage];
                if let (Some(mine), Some(theirs)) = (&s.foreach, &p.foreach)
                    && mine != theirs
                {
                    return Err((s.loc, format!(
                        "stage {:?} runs per {mine:?} but its input {input:?} comes from {:?}, which runs per {theirs:?}",
                        s.name, p.name
                    )));
                }
            }
        }
    }
    for (set, source) in item_sets {
        if let ItemSource::StageDir { stage, .. } = source
            && stages[*stage].foreach.is_some()
        {
            return Err((stages[*stage].loc, format!(
                "item set {set:?} lists the output of stage {:?}, which must run once to do that",
                stages[*stage].name
            )));
        }
    }
    Ok(())
}

/// Whether a name is made of letters, digits, '_' and '-'.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether an item id is usable as a single path component.
pub fn is_item_id(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('.') && !id.contains('/') && !id.contains('\0')
}

fn first_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim().to_owned()
}
