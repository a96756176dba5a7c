//! Loading a pipeline file: parse, check against the stage kinds, and fold a
//! sweep's variants into one combined pipeline. Every error names the file,
//! line and column.

use std::path::Path;

use lungflow_stages::find_kind;

use crate::pipeline::check::{Parsed, check, check_executor};
use crate::pipeline::graph;
use crate::pipeline::model::{Assignment, CacheSettings, Loc, Override, Pipeline, SpecError, VARS};
use crate::pipeline::raw::{RawPipeline, parse_raw};

use crate::pipeline::sweep::{self, Axis};

/// Reads, parses and checks a pipeline file, applying `--set` overrides.
pub fn load(file: &Path, overrides: &[Override]) -> Result<Pipeline, SpecError> {
    load_sweep(file, overrides, &[])
}

/// The largest pipeline file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The most variants a sweep may have unless `--max-variants` says more.
pub const DEFAULT_MAX_VARIANTS: usize = 1000;

/// [`load`], with `--sweep` axes added to (or replacing those of) the
/// file's `sweep:` grid. A sweep becomes one combined pipeline.
pub fn load_sweep(file: &Path, overrides: &[Override], axes: &[Axis]) -> Result<Pipeline, SpecError> {
    load_sweep_with(file, overrides, axes, DEFAULT_MAX_VARIANTS)
}

/// [`load_sweep`] with a cap on the number of variants other than the default.
pub fn load_sweep_with(file: &Path, overrides: &[Override], axes: &[Axis], max_variants: usize) -> Result<Pipeline, SpecError> {
    let shown = file.display().to_string();
    let text = read_pipeline_file(file).map_err(|message| SpecError { file: shown.clone(), line: 0, column: 0, message })?;
    let id = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()).display().to_string();
    let at = |loc: Loc, message: String| SpecError { file: shown.clone(), line: loc.line, column: loc.column, message };
    let raw = parse_raw(&text, &shown)?;
    let (grid, listed) = sweep_of(&raw, axes).map_err(|(loc, msg)| at(loc, msg))?;
    check_sweep_size(&grid, &listed, max_variants).map_err(|(loc, msg)| at(loc, msg))?;
    let (item_sets, stages, order) = check(&raw, &shown, overrides)?;
    let slurm = check_executor(&raw).map_err(|(loc, msg)| at(loc, msg))?;
    let pipeline = |item_sets, stages, order, variants| Pipeline {
        file: file.to_path_buf(),
        id: id.clone(),
        item_sets,
        stages,
        order,
        variants,
        slurm: slurm.clone(),
        cache: cache_settings(&raw),
    };
    if grid.is_empty() && listed.is_empty() {
        return Ok(pipeline(item_sets, stages, order, Vec::new()));
    }
    let mut checked = Vec::new();
    for assignments in sweep::expand(&grid, &listed) {
        let mut all = overrides.to_vec();
        all.extend(assignments.iter().map(Assignment::as_override));
        let (sets, stages, _) = check(&raw, &shown, &all).map_err(|e| SpecError {
            message: format!("sweep variant {}: {}", crate::pipeline::model::variant_name(&assignments), e.message),
            ..e
        })?;
        checked.push((assignments, sets, stages));
    }
    let combined = sweep::combine(checked, &order).map_err(|(loc, msg)| at(loc, msg))?;
    let order = graph::topological_order(&combined.stages, &combined.item_sets).map_err(|(loc, msg)| at(loc, msg))?;
    Ok(pipeline(combined.item_sets, combined.stages, order, combined.variants))
}

/// The `cache:` block as the model holds it.
fn cache_settings(raw: &RawPipeline) -> CacheSettings {
    let Some(block) = &raw.cache else { return CacheSettings::default() };
    let c = &block.value;
    CacheSettings { remote: c.remote.as_ref().map(|r| (r.value.clone(), Loc::of(r))), push: c.push, remote_required: c.remote_required }
}

/// Parses and checks pipeline text; `file` is only used in messages.
pub fn parse(text: &str, file: &str, overrides: &[Override]) -> Result<Parsed, SpecError> {
    check(&parse_raw(text, file)?, file, overrides)
}

/// The text of a pipeline file: a regular file (not a FIFO or a device,
/// which could block or never end) of at most [`MAX_FILE_BYTES`].
fn read_pipeline_file(file: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read pipeline file: {e}"))?;
    if !meta.is_file() {
        return Err(format!("not a regular file ({}); a pipeline file must be a YAML file", file_type_name(&meta)));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("pipeline file is {} bytes; the limit is {MAX_FILE_BYTES}", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let opened = std::fs::File::open(file).map_err(|e| format!("cannot read pipeline file: {e}"))?;
    opened.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read pipeline file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("pipeline file grew past the limit of {MAX_FILE_BYTES} bytes while being read"));
    }
    String::from_utf8(bytes).map_err(|e| format!("pipeline file is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

/// What kind of file system object `meta` describes, in words.
fn file_type_name(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    match () {
        _ if t.is_dir() => "a folder",
        _ if t.is_fifo() => "a FIFO",
        _ if t.is_char_device() => "a character device",
        _ if t.is_block_device() => "a block device",
        _ if t.is_socket() => "a socket",
        _ => "not a regular file",
    }
}

/// Refuses a sweep of more than `max` variants before any is built.
fn check_sweep_size(grid: &[Axis], listed: &[Listed], max: usize) -> Result<(), (Loc, String)> {
    let points = grid.iter().try_fold(1usize, |n, axis| n.checked_mul(axis.values.len()));
    let total = if grid.is_empty() { Some(listed.len()) } else { points.and_then(|n| n.checked_add(listed.len())) };
    match total {
        Some(n) if n <= max => Ok(()),
        _ => {
            let sizes: Vec<String> = grid.iter().map(|a| format!("{} ({})", a.key(), a.values.len())).collect();
            let n = total.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string());
            let loc = grid.first().map(|a| a.loc).unwrap_or_default();
            Err((
                loc,
                format!(
                    "the sweep has {n} variants (grid: {}; listed: {}); the limit is {max}: pass --max-variants N to allow more",
                    sizes.join(" x "),
                    listed.len()
                ),
            ))
        }
    }
}

/// One listed variant's assignments.
type Listed = Vec<Assignment>;

/// The sweep's grid axes (the file's, with `--sweep` axes added or
/// replacing them) and its listed variants, each value type-checked.
fn sweep_of(raw: &RawPipeline, cli: &[Axis]) -> Result<(Vec<Axis>, Vec<Listed>), (Loc, String)> {
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
                assignments.push(Assignment { stage: axis.stage, param: axis.param, value: value.clone() });
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

/// Checks that a swept parameter exists and that every value has its type
/// and lies in its declared range.
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
    let (ty, range) = match kind.params().into_iter().find(|p| p.name == axis.param) {
        Some(spec) => (spec.ty, spec.range),
        None if kind.open_params() => (lungflow_stages::ParamType::Scalar, None),
        None => {
            let known: Vec<&str> = kind.params().iter().map(|p| p.name).collect();
            return Err((
                axis.loc,
                format!("sweep {key}: kind {:?} has no parameter {:?} (parameters: {})", kind.name(), axis.param, known.join(", ")),
            ));
        }
    };
    for v in &axis.values {
        let v = ty.check(v).map_err(|e| (axis.loc, format!("sweep {key}: {e}")))?;
        if let Some(range) = range {
            range.check(&v).map_err(|e| (axis.loc, format!("sweep {key}: {key} {e}")))?;
        }
    }
    Ok(())
}
