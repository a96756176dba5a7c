//! Checking a parsed pipeline file against the stage kinds: names, item
//! sets, `${var}` substitution, parameter types, ranges and defaults, and fan-in.

use std::collections::BTreeMap;

use lungflow_stages::{StageKind, StageShape, all_kinds, find_kind};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::pipeline::graph;
use crate::pipeline::model::{InputRef, ItemSource, Loc, Override, SpecError, Stage, VARS, is_item_id};
use crate::pipeline::raw::{RawPipeline, RawStage};
use crate::pipeline::resources::{Resources, parse_resources};
use crate::pipeline::slurm_settings::{SlurmSettings, parse_slurm_settings};
use crate::pipeline::vars::{resolve_vars, substitute};

/// Stages, item sets and topological order of a checked pipeline file.
pub(crate) type Parsed = (BTreeMap<String, ItemSource>, Vec<Stage>, Vec<usize>);

/// Checks a parsed pipeline against the stage kinds, with `overrides` applied.
pub(crate) fn check(raw: &RawPipeline, file: &str, overrides: &[Override]) -> Result<Parsed, SpecError> {
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
    let ctx = Context { names: &names, vars: &vars };
    let item_sets = check_item_sets(raw, &ctx).map_err(|(loc, msg)| at(loc, msg))?;
    let mut stages = Vec::with_capacity(names.len());
    for (name, rs) in &raw.stages {
        stages.push(check_stage(name, rs, &item_sets, overrides, &ctx).map_err(|(loc, msg)| at(loc, msg))?);
    }
    check_fan_in(&stages, &item_sets).map_err(|(loc, msg)| at(loc, msg))?;
    let order = graph::topological_order(&stages, &item_sets).map_err(|(loc, msg)| at(loc, msg))?;
    Ok((item_sets, stages, order))
}

/// What every part of the check needs: the stage names and the variables.
struct Context<'a> {
    names: &'a [String],
    vars: &'a BTreeMap<String, String>,
}

impl Context<'_> {
    /// `@STAGE/sub/path` as (stage index, sub path); `None` when the text
    /// does not start with `@`.
    fn stage_ref(&self, text: &str) -> Option<Result<(usize, Option<String>), String>> {
        let rest = text.strip_prefix('@')?;
        let (name, sub) = match rest.split_once('/') {
            Some((n, s)) => (n, Some(s.trim_end_matches('/').to_owned()).filter(|s| !s.is_empty())),
            None => (rest, None),
        };
        if let Some(sub) = sub.as_deref().filter(|s| !is_inner_path(s)) {
            return Some(Err(format!("{sub:?} must be a path inside the stage's outputs (no `..`, `.` or empty parts)")));
        }
        Some(
            self.names
                .iter()
                .position(|n| n == name)
                .map(|i| (i, sub))
                .ok_or_else(|| format!("no stage named {name:?} (stages: {})", self.names.join(", "))),
        )
    }
}

/// The file's item sets, each from exactly one of `dir:` or `list:`.
fn check_item_sets(raw: &RawPipeline, ctx: &Context<'_>) -> Result<BTreeMap<String, ItemSource>, (Loc, String)> {
    let mut item_sets = BTreeMap::new();
    for (set, spanned) in &raw.items {
        let loc = Loc::of(spanned);
        let source = match (&spanned.value.dir, &spanned.value.list) {
            (Some(dir), None) => {
                let dir = substitute(dir, ctx.vars).map_err(|e| (loc, format!("item set {set:?}: {e}")))?;
                match ctx.stage_ref(&dir) {
                    Some(Ok((stage, subpath))) => ItemSource::StageDir { stage, subpath },
                    Some(Err(e)) => return Err((loc, format!("item set {set:?}: {e}"))),
                    None => ItemSource::Dir(dir),
                }
            }
            (None, Some(list)) => ItemSource::List(check_listed_ids(set, list)?),
            _ => return Err((loc, format!("item set {set:?} needs exactly one of `dir:` or `list:`"))),
        };
        item_sets.insert(set.clone(), source);
    }
    Ok(item_sets)
}

/// The ids of a `list:` item set: each a valid id, none twice.
fn check_listed_ids(set: &str, list: &[Spanned<String>]) -> Result<Vec<String>, (Loc, String)> {
    let mut first: BTreeMap<&str, Loc> = BTreeMap::new();
    for id in list {
        let at = Loc::of(id);
        if !is_item_id(&id.value) {
            return Err((at, format!("item set {set:?}: {:?} is not a valid item id", id.value)));
        }
        if let Some(before) = first.insert(&id.value, at) {
            let (l, c) = (before.line, before.column);
            return Err((at, format!("item set {set:?} lists {:?} twice: at {l}:{c} and at {}:{}", id.value, at.line, at.column)));
        }
    }
    Ok(list.iter().map(|id| id.value.clone()).collect())
}

/// One stage: its kind, fan-out, parameters (defaults and `--set` applied)
/// and inputs.
fn check_stage(
    name: &str,
    rs: &RawStage,
    item_sets: &BTreeMap<String, ItemSource>,
    overrides: &[Override],
    ctx: &Context<'_>,
) -> Result<Stage, (Loc, String)> {
    let loc = Loc::of(&rs.kind);
    let kind = find_kind(&rs.kind.value).ok_or_else(|| {
        let known: Vec<&str> = all_kinds().iter().map(|k| k.name()).collect();
        (loc, format!("stage {name:?}: unknown kind {:?} (known kinds: {})", rs.kind.value, known.join(", ")))
    })?;
    let foreach = match &rs.foreach {
        None => None,
        Some(f) if f.value == "once" => None,
        Some(f) if item_sets.contains_key(&f.value) => Some(f.value.clone()),
        Some(f) => {
            let known: Vec<&String> = item_sets.keys().collect();
            let message = format!("stage {name:?}: foreach {:?} is neither `once` nor an item set (item sets: {known:?})", f.value);
            return Err((Loc::of(f), message));
        }
    };
    let mut given: BTreeMap<String, (Value, Loc)> = rs.params.iter().map(|(k, v)| (k.clone(), (v.value.clone(), Loc::of(v)))).collect();
    for o in overrides.iter().filter(|o| o.stage == name) {
        given.insert(o.param.clone(), (o.value.clone(), Loc::default()));
    }
    let given_at: BTreeMap<String, Loc> =
        given.iter().map(|(k, (_, l))| (k.clone(), if *l == Loc::default() { loc } else { *l })).collect();
    let params = resolve_params(kind, name, given).map_err(|(l, msg)| (if l == Loc::default() { loc } else { l }, msg))?;
    let mut inputs = BTreeMap::new();
    for (input, value) in &rs.inputs {
        let iloc = Loc::of(value);
        if !is_plain_name(input) {
            return Err((iloc, format!("stage {name:?}: input name {input:?} must use only letters, digits, '_' and '-'")));
        }
        let fail = |e: String| (iloc, format!("stage {name:?}, input {input:?}: {e}"));
        let value = substitute(&value.value, ctx.vars).map_err(fail)?;
        let once_with_item = |text: &str| foreach.is_none() && text.contains("{item}");
        let r = match ctx.stage_ref(&value) {
            Some(Ok((stage, subpath))) => {
                if subpath.as_deref().is_some_and(once_with_item) {
                    return Err(fail("{item} in a stage that runs once".into()));
                }
                InputRef::Stage { stage, subpath }
            }
            Some(Err(e)) => return Err(fail(e)),
            None if once_with_item(&value) => return Err(fail("{item} in a stage that runs once".into())),
            None => InputRef::External(value.clone()),
        };
        inputs.insert(input.clone(), r);
    }
    check_declared(kind, name, &params, &inputs, foreach.is_some())
        .map_err(|(param, msg)| (given_at.get(&param).copied().unwrap_or(loc), msg))?;
    let resources = match &rs.resources {
        None => Resources::default(),
        Some(r) => parse_resources(&r.value).map_err(|(field, msg)| (Loc::of(r), format!("stage {name:?}: resources.{field}: {msg}")))?,
    };
    let local = rs.local.as_ref().is_some_and(|l| l.value);
    Ok(Stage { name: name.to_owned(), kind, foreach, params, inputs, loc, variant: None, resources, local })
}

/// Runs the kind's own checks of its parameters against the stage
/// ([`ParamSpec::check`](lungflow_stages::ParamSpec::check): a template
/// naming an input the stage lacks, say); the error names the parameter.
fn check_declared(
    kind: &dyn StageKind,
    stage: &str,
    params: &BTreeMap<String, Value>,
    inputs: &BTreeMap<String, InputRef>,
    per_item: bool,
) -> Result<(), (String, String)> {
    let shape =
        StageShape { inputs: inputs.keys().map(String::as_str).collect(), params: params.keys().map(String::as_str).collect(), per_item };
    for spec in kind.params() {
        if let (Some(check), Some(value)) = (spec.check, params.get(spec.name)) {
            check(value, &shape).map_err(|e| (spec.name.to_owned(), format!("stage {stage:?}, parameter {:?} {e}", spec.name)))?;
        }
    }
    Ok(())
}

/// The `executor:` block: only `slurm:` is known; absent means defaults.
pub(crate) fn check_executor(raw: &RawPipeline) -> Result<SlurmSettings, (Loc, String)> {
    let Some(block) = &raw.executor else { return Ok(SlurmSettings::default()) };
    let mut settings = SlurmSettings::default();
    for (name, value) in &block.value {
        if name != "slurm" {
            return Err((Loc::of(value), format!("executor {name:?} is not known (known: slurm; the local executor has no settings)")));
        }
        settings = parse_slurm_settings(&value.value).map_err(|(field, msg)| (Loc::of(value), format!("executor.slurm.{field}: {msg}")))?;
    }
    Ok(settings)
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
                let value = spec.ty.check(&value).map_err(|e| (loc, format!("stage {stage:?}, parameter {:?}: {e}", spec.name)))?;
                if let Some(range) = spec.range {
                    range.check(&value).map_err(|e| (loc, format!("stage {stage:?}, parameter {:?} {e}", spec.name)))?;
                }
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
            return Err((
                loc,
                format!("stage {stage:?}: kind {:?} has no parameter {name:?} (parameters: {})", kind.name(), known.join(", ")),
            ));
        }
        let value =
            lungflow_stages::ParamType::Scalar.check(&value).map_err(|e| (loc, format!("stage {stage:?}, parameter {name:?}: {e}")))?;
        params.insert(name, value);
    }
    Ok(params)
}

/// Resolves parameters given on the command line of `lungflow exec`.
pub fn resolve_params_for_exec(kind: &dyn StageKind, given: BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, String> {
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
                    return Err((
                        s.loc,
                        format!(
                            "stage {:?} runs per {mine:?} but its input {input:?} comes from {:?}, which runs per {theirs:?}",
                            s.name, p.name
                        ),
                    ));
                }
            }
        }
    }
    for (set, source) in item_sets {
        if let ItemSource::StageDir { stage, .. } = source
            && stages[*stage].foreach.is_some()
        {
            return Err((
                stages[*stage].loc,
                format!("item set {set:?} lists the output of stage {:?}, which must run once to do that", stages[*stage].name),
            ));
        }
    }
    Ok(())
}

/// Whether `path` is relative and stays inside the folder it is joined to:
/// only plain parts, no `..`, `.` or empty ones.
fn is_inner_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'))
}

/// Whether a name is made of letters, digits, '_' and '-'.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
