//! Sweeps: one pipeline file, several variants that differ in some stage
//! parameters. The variants are folded into one combined pipeline: a stage
//! that no swept parameter reaches appears once and is shared by every
//! variant; any other stage appears once per distinct configuration, named
//! `STAGE@LABEL`, where the label lists the swept values that reach it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::pipeline::graph::stage_graph;
use crate::pipeline::model::{Assignment, InputRef, ItemSource, Loc, Stage, Variant, value_text, variant_name};

/// One swept parameter and its values (a grid axis).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The stage.
    pub stage: String,
    /// The parameter.
    pub param: String,
    /// The values, in the order given.
    pub values: Vec<Value>,
    /// Where the axis is written (default for `--sweep`).
    pub loc: Loc,
}

impl Axis {
    /// Parses `--sweep STAGE.PARAM=v1,v2` or `STAGE.PARAM=[v1, "a,b"]` (a YAML list).
    pub fn parse(text: &str) -> Result<Axis, String> {
        let usage = || format!("--sweep {text:?}: expected STAGE.PARAM=V1,V2,...");
        let (lhs, rhs) = text.split_once('=').ok_or_else(usage)?;
        let (stage, param) = lhs.split_once('.').ok_or_else(usage)?;
        let values: Vec<Value> = if rhs.trim_start().starts_with('[') {
            serde_saphyr::from_str(rhs).map_err(|e| format!("--sweep {text:?}: not a YAML list: {e}"))?
        } else {
            rhs.split(',').map(|v| crate::pipeline::model::parse_scalar(v.trim())).collect()
        };
        let axis = Axis { stage: stage.to_owned(), param: param.to_owned(), values, loc: Loc::default() };
        axis.check().map_err(|e| format!("--sweep {text:?}: {e}"))?;
        Ok(axis)
    }

    /// `STAGE.PARAM`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.stage, self.param)
    }

    /// Checks that the axis has distinct scalar values.
    pub fn check(&self) -> Result<(), String> {
        if self.values.is_empty() {
            return Err(format!("{} has no values", self.key()));
        }
        let mut seen = BTreeSet::new();
        for v in &self.values {
            if !matches!(v, Value::Number(_) | Value::String(_) | Value::Bool(_)) {
                return Err(format!("{}: {v} is not a number, string or boolean", self.key()));
            }
            if !seen.insert(value_text(v)) {
                return Err(format!("{}: value {} is listed twice", self.key(), value_text(v)));
            }
        }
        Ok(())
    }
}

/// The variants of a sweep: the cartesian product of the grid axes, then the
/// listed variants, each sorted by `STAGE.PARAM`, without repeats (a listed
/// variant equal to a grid point is the same variant).
pub fn expand(grid: &[Axis], listed: &[Vec<Assignment>]) -> Vec<Vec<Assignment>> {
    let mut out: Vec<Vec<Assignment>> = Vec::new();
    if !grid.is_empty() {
        let mut points: Vec<Vec<Assignment>> = vec![Vec::new()];
        for axis in grid {
            points = points
                .into_iter()
                .flat_map(|p| {
                    axis.values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push(Assignment { stage: axis.stage.clone(), param: axis.param.clone(), value: v.clone() });
                        q
                    })
                })
                .collect();
        }
        out.extend(points);
    }
    out.extend(listed.iter().cloned());
    let mut seen = BTreeSet::new();
    out.into_iter()
        .map(|mut v| {
            v.sort_by(|a, b| (&a.stage, &a.param).cmp(&(&b.stage, &b.param)));
            v
        })
        .filter(|v| seen.insert(variant_name(v)))
        .collect()
}

/// The combined pipeline of several variants.
pub struct Combined {
    /// Item sets, with stage references pointing into `stages`.
    pub item_sets: BTreeMap<String, ItemSource>,
    /// Shared stages and per-configuration copies.
    pub stages: Vec<Stage>,
    /// The variants, in the order given.
    pub variants: Vec<Variant>,
}

/// One variant's assignments with its checked item sets and stages.
pub type CheckedVariant = (Vec<Assignment>, BTreeMap<String, ItemSource>, Vec<Stage>);

/// Folds the checked stages of each variant (same stage names and inputs;
/// only parameters differ) into one set of stages.
pub fn combine(variants: Vec<CheckedVariant>, order: &[usize]) -> Result<Combined, (Loc, String)> {
    let base = &variants[0].2;
    let ancestors = ancestors(base, &variants[0].1);
    let (copy, groups) = configurations(&variants, order);

    // Lay the copies out in stage order, then configuration order.
    let mut index: Vec<Vec<usize>> = Vec::with_capacity(base.len());
    let mut next = 0;
    for g in &groups {
        index.push((next..next + g.len()).collect());
        next += g.len();
    }
    let mut stages = Vec::with_capacity(next);
    for (s, g) in groups.iter().enumerate() {
        let labels = copy_labels(&variants, g, &ancestors[s]);
        for (c, members) in g.iter().enumerate() {
            let mut stage = variants[members[0]].2[s].clone();
            for r in stage.inputs.values_mut() {
                if let InputRef::Stage { stage: q, .. } = r {
                    *q = index[*q][copy[members[0]][*q]];
                }
            }
            if g.len() > 1 {
                stage.name = format!("{}@{}", stage.name, labels[c]);
                stage.variant = Some(labels[c].clone());
            }
            stages.push(stage);
        }
    }
    let mut item_sets = variants[0].1.clone();
    for (set, source) in item_sets.iter_mut() {
        if let ItemSource::StageDir { stage, .. } = source {
            if groups[*stage].len() > 1 {
                return Err((
                    base[*stage].loc,
                    format!(
                        "item set {set:?} is listed from stage {:?}, which the sweep varies; sweep a stage after it",
                        base[*stage].name
                    ),
                ));
            }
            *stage = index[*stage][0];
        }
    }
    let variants = variants
        .iter()
        .enumerate()
        .map(|(v, (assignments, _, _))| Variant {
            name: variant_name(assignments),
            assignments: assignments.clone(),
            stages: base.iter().enumerate().map(|(s, st)| (st.name.clone(), index[s][copy[v][s]])).collect(),
        })
        .collect();
    Ok(Combined { item_sets, stages, variants })
}

/// Which configuration of each stage each variant uses (`copy[v][s]`), and
/// the variants of each configuration of each stage (`groups[s]`, in
/// first-use order). Two variants share a stage's configuration when its
/// parameters and the configurations of its inputs are the same.
fn configurations(variants: &[CheckedVariant], order: &[usize]) -> (Vec<Vec<usize>>, Vec<Vec<Vec<usize>>>) {
    let stages = variants[0].2.len();
    let mut copy = vec![vec![0usize; stages]; variants.len()];
    // groups[s]: the variants of each configuration of stage s, in first-use order.
    let mut groups: Vec<Vec<Vec<usize>>> = vec![Vec::new(); stages];
    for &s in order {
        let mut by_signature: Vec<(String, Vec<usize>)> = Vec::new();
        for (v, (_, _, stages)) in variants.iter().enumerate() {
            let inputs: Vec<usize> = stages[s]
                .inputs
                .values()
                .filter_map(|r| match r {
                    InputRef::Stage { stage, .. } => Some(copy[v][*stage]),
                    InputRef::External(_) => None,
                })
                .collect();
            let signature = format!("{}|{inputs:?}", serde_json::to_string(&stages[s].params).expect("JSON"));
            match by_signature.iter_mut().position(|(sig, _)| *sig == signature) {
                Some(g) => {
                    by_signature[g].1.push(v);
                    copy[v][s] = g;
                }
                None => {
                    copy[v][s] = by_signature.len();
                    by_signature.push((signature, vec![v]));
                }
            }
        }
        groups[s] = by_signature.into_iter().map(|(_, vs)| vs).collect();
    }

    (copy, groups)
}

/// For every stage, the names of the stages it depends on, itself included.
fn ancestors(stages: &[Stage], item_sets: &BTreeMap<String, ItemSource>) -> Vec<BTreeSet<String>> {
    let g = stage_graph(stages, item_sets);
    (0..stages.len())
        .map(|s| {
            let mut seen = BTreeSet::new();
            let mut dfs = petgraph::visit::Dfs::new(petgraph::visit::Reversed(&g), petgraph::graph::NodeIndex::new(s));
            while let Some(n) = dfs.next(petgraph::visit::Reversed(&g)) {
                seen.insert(stages[g[n]].name.clone());
            }
            seen
        })
        .collect()
}

/// Labels for the configurations of one stage: the swept values, on this
/// stage and the ones it depends on, that all variants of a configuration
/// share. Distinct configurations that would get the same label (a value
/// given in one variant and left at its default in another) are numbered.
fn copy_labels(variants: &[CheckedVariant], groups: &[Vec<usize>], upstream: &BTreeSet<String>) -> Vec<String> {
    let mut labels: Vec<String> = groups
        .iter()
        .map(|members| {
            let relevant =
                |v: usize| -> Vec<Assignment> { variants[v].0.iter().filter(|a| upstream.contains(&a.stage)).cloned().collect() };
            let first = relevant(members[0]);
            let common: Vec<Assignment> = first.into_iter().filter(|a| members.iter().all(|&m| variants[m].0.contains(a))).collect();
            variant_name(&common)
        })
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in &labels {
        *counts.entry(l.clone()).or_default() += 1;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for l in labels.iter_mut() {
        if counts[l.as_str()] > 1 {
            let k = seen.entry(l.clone()).or_default();
            *k += 1;
            *l = format!("{l}#{k}");
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn axis(key: &str, values: Vec<Value>) -> Axis {
        let (stage, param) = key.split_once('.').unwrap();
        Axis { stage: stage.into(), param: param.into(), values, loc: Loc::default() }
    }

    #[test]
    fn values_read_the_way_people_write_them() {
        assert_eq!(value_text(&json!(3e-4)), "3e-4");
        assert_eq!(value_text(&json!(0.001)), "1e-3");
        assert_eq!(value_text(&json!(0.5)), "0.5");
        assert_eq!(value_text(&json!(4)), "4");
        assert_eq!(value_text(&json!("8,16")), "8,16");
        assert_eq!(value_text(&json!(true)), "true");
    }

    #[test]
    fn a_grid_is_the_cartesian_product_and_repeats_collapse() {
        let grid = [axis("gmcae.mixtures", vec![json!(1), json!(2)]), axis("gmcae.lr", vec![json!(1e-3), json!(3e-4)])];
        let listed = vec![vec![
            Assignment { stage: "gmcae".into(), param: "mixtures".into(), value: json!(1) },
            Assignment { stage: "gmcae".into(), param: "lr".into(), value: json!(0.001) },
        ]];
        let names: Vec<String> = expand(&grid, &listed).iter().map(|v| variant_name(v)).collect();
        assert_eq!(
            names,
            [
                "gmcae.lr=1e-3,gmcae.mixtures=1",
                "gmcae.lr=3e-4,gmcae.mixtures=1",
                "gmcae.lr=1e-3,gmcae.mixtures=2",
                "gmcae.lr=3e-4,gmcae.mixtures=2",
            ]
        );
    }

    #[test]
    fn command_line_axes_split_on_commas_or_read_a_yaml_list() {
        let a = Axis::parse("gmcae.lr=1e-3, 3e-4").unwrap();
        assert_eq!((a.stage.as_str(), a.param.as_str()), ("gmcae", "lr"));
        assert_eq!(a.values, [json!(1e-3), json!(3e-4)]);
        let b = Axis::parse(r#"gmcae.widths=["4,8", "8,16"]"#).unwrap();
        assert_eq!(b.values, [json!("4,8"), json!("8,16")]);
        assert!(Axis::parse("gmcae.lr").expect_err("an error").contains("expected STAGE.PARAM=V1,V2"));
        assert!(Axis::parse("gmcae.lr=1,1.0").expect_err("an error").contains("listed twice"));
    }

    /// A pipeline file with a sweep, loaded through the spec.
    fn load(yaml: &str, cli: &[&str]) -> Result<crate::pipeline::model::Pipeline, String> {
        let dir = lungflow_testkit::tempdir().unwrap();
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, yaml).unwrap();
        let axes: Vec<Axis> = cli.iter().map(|a| Axis::parse(a).unwrap()).collect();
        crate::pipeline::load::load_sweep(&file, &[], &axes).map_err(|e| e.message)
    }

    const SWEPT: &str = "items:\n  p:\n    list: [a, b]\nstages:\n  prep:\n    kind: command\n    foreach: p\n    params: {cmd: prep}\n  train:\n    kind: command\n    inputs: {x: \"@prep\"}\n    params: {cmd: train, lr: 1}\n  score:\n    kind: command\n    inputs: {m: \"@train\"}\n    params: {cmd: score, k: 1}\n  report:\n    kind: command\n    foreach: p\n    inputs: {m: \"@train\", x: \"@prep\"}\n    params: {cmd: report}\nsweep:\n  grid:\n    train.lr: [1, 2]\n    score.k: [5, 6]\n";

    #[test]
    fn shared_stages_appear_once_and_swept_ones_once_per_configuration() {
        let p = load(SWEPT, &[]).unwrap();
        let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "prep",
                "report@train.lr=1",
                "report@train.lr=2",
                "score@score.k=5,train.lr=1",
                "score@score.k=5,train.lr=2",
                "score@score.k=6,train.lr=1",
                "score@score.k=6,train.lr=2",
                "train@train.lr=1",
                "train@train.lr=2",
            ]
        );
        assert_eq!(p.variants.len(), 4);
        let v = &p.variants[3];
        assert_eq!(v.name, "score.k=6,train.lr=2");
        let used = |stage: &str| p.stages[v.stages[stage]].name.clone();
        assert_eq!(
            (used("prep"), used("train"), used("score")),
            ("prep".into(), "train@train.lr=2".into(), "score@score.k=6,train.lr=2".into())
        );
        // Each copy reads the copy of its own configuration.
        let score = &p.stages[v.stages["score"]];
        let crate::pipeline::model::InputRef::Stage { stage, .. } = &score.inputs["m"] else { panic!() };
        assert_eq!(p.stages[*stage].name, "train@train.lr=2");
        assert_eq!(p.stages[v.stages["train"]].params["lr"], json!(2));
        assert_eq!(p.stages[v.stages["train"]].base_name(), "train");
        assert_eq!(p.order.len(), 9);
    }

    #[test]
    fn command_line_axes_replace_or_extend_the_file_grid() {
        let p = load(SWEPT, &["score.k=7", "prep.cmd=p1,p2"]).unwrap();
        let names: Vec<String> = p.variants.iter().map(|v| v.name.clone()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.contains(&"prep.cmd=p2,score.k=7,train.lr=2".to_owned()), "{names:?}");
        assert_eq!(p.stages.iter().filter(|s| s.base_name() == "prep").count(), 2);
    }

    #[test]
    fn bad_sweeps_name_the_problem() {
        let bad = |extra: &str| load(&format!("{SWEPT}{extra}"), &[]).err().expect("an error");
        let no_grid = SWEPT.split("sweep:").next().unwrap().to_owned();
        let with = |sweep: &str| load(&format!("{no_grid}sweep:\n{sweep}"), &[]).err().expect("an error");
        assert!(with("  grid:\n    nope.lr: [1]\n").contains("no stage named \"nope\""));
        assert!(with("  grid:\n    train: [1]\n").contains("expected STAGE.PARAM"));
        assert!(with("  grid:\n    train.lr: []\n").contains("has no values"));
        assert!(with("  list:\n    - {}\n").contains("an empty variant"));
        assert!(bad("  list:\n    - {train.lr: [1, 2]}\n").contains("not a number, string or boolean"));
        let typed =
            "items:\n  p:\n    list: [a]\nstages:\n  t:\n    kind: patches\n    foreach: p\n    inputs: {lungs: x}\nsweep:\n  grid:\n";
        let e = load(&format!("{typed}    t.count: [1, many]\n"), &[]).err().expect("an error");
        assert!(e.contains("sweep t.count") && e.contains("integer"), "{e}");
        let e = load(&format!("{typed}    t.colour: [1]\n"), &[]).err().expect("an error");
        assert!(e.contains("has no parameter \"colour\""), "{e}");
    }
}
