//! The sections about the run as a whole: the summary, the stage graph,
//! the timeline of the last run and the resources each stage used.

use std::collections::BTreeMap;

use super::dag::{DagNode, NodeState, dag_svg};
use super::facts::{Facts, Standing};
use super::page::{duration, memory, note, num, table};
use super::svg::escape;
use super::timeline::{Bar, timeline_svg};
use crate::pipeline::model::InputRef;
use crate::store::cache::epoch_seconds;

/// The anchor of a stage's row in the resources table.
pub fn stage_anchor(stage: &str) -> String {
    let safe: String = stage.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("stage-{safe}")
}

/// Counts of instances by standing.
fn counts(f: &Facts<'_>, stage: Option<usize>) -> BTreeMap<&'static str, usize> {
    let mut c = BTreeMap::new();
    for i in f.instances.iter().filter(|i| stage.is_none_or(|s| s == i.stage)) {
        *c.entry(standing_name(i.standing)).or_default() += 1;
    }
    c
}

/// A standing in words, as used in CSS classes.
pub fn standing_name(s: Standing) -> &'static str {
    match s {
        Standing::Executed => "executed",
        Standing::Cached => "cached",
        Standing::Failed => "failed",
        Standing::Skipped => "skipped",
        Standing::Missing => "missing",
    }
}

/// The summary: what, with what, when, and how it went.
pub fn summary(f: &Facts<'_>, file_digest: &str) -> String {
    let mut facts: Vec<(&str, String)> = vec![
        ("pipeline", f.p.file.display().to_string()),
        ("file digest (blake3)", file_digest.to_owned()),
        ("lungflow", env!("CARGO_PKG_VERSION").to_owned()),
        ("report written on", crate::store::cache::host_name()),
    ];
    let executed_cpu: f64 = f
        .instances
        .iter()
        .filter(|i| i.standing == Standing::Executed)
        .filter_map(|i| f.manifest(i).and_then(|m| m.usage.as_ref()).map(|u| u.cpu_seconds))
        .sum();
    match &f.last {
        Some(l) => {
            facts.push(("last run", format!("{} on {} (lungflow {}, executor {})", l.started, l.host, l.tool_version, l.executor)));
            facts.push((
                "instances",
                format!(
                    "{} executed, {} cached, {} failed, {} skipped",
                    l.report.executed.len(),
                    l.report.cached.len(),
                    l.report.failed.len(),
                    l.report.skipped.len()
                ),
            ));
            facts.push(("wall time", duration(l.report.seconds)));
            facts.push(("CPU time of executed instances", duration(executed_cpu)));
        }
        None => facts.push(("last run", "none recorded: this report shows the cache as it is".into())),
    }
    let now: Vec<String> = counts(f, None).iter().map(|(k, v)| format!("{v} {k}")).collect();
    facts.push(("instances now", now.join(", ")));
    let mut html = String::from("<dl class=\"facts\">");
    for (k, v) in facts {
        html.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v)));
    }
    html.push_str("</dl>");
    html
}

/// The stage graph, one node per stage coloured by how its instances stand.
pub fn graph(f: &Facts<'_>) -> String {
    let mut nodes = Vec::with_capacity(f.p.stages.len());
    let mut edges = Vec::new();
    for (s, stage) in f.p.stages.iter().enumerate() {
        let c = counts(f, Some(s));
        let total: usize = c.values().sum();
        let only = |k: &str| c.get(k) == Some(&total) && total > 0;
        let state = match () {
            _ if c.contains_key("failed") => NodeState::Failed,
            _ if only("executed") => NodeState::Executed,
            _ if only("cached") => NodeState::Cached,
            _ if only("skipped") || (total == 0) => NodeState::Skipped,
            _ if only("missing") => NodeState::Missing,
            _ => NodeState::Mixed,
        };
        let fan = match &stage.foreach {
            Some(set) => format!(" × {total} ({set})"),
            None => String::new(),
        };
        nodes.push(DagNode {
            id: stage.name.clone(),
            label: stage.name.clone(),
            detail: format!("{}{fan}", stage.kind.name()),
            state,
            href: Some(format!("#{}", stage_anchor(&stage.name))),
        });
        for input in stage.inputs.values() {
            if let InputRef::Stage { stage: q, .. } = input {
                edges.push((*q, s));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    dag_svg(&nodes, &edges)
}

/// The last run's instances on a time axis.
pub fn timeline(f: &Facts<'_>) -> String {
    let Some(last) = &f.last else { return note("No run recorded yet: `lungflow run` records one.") };
    let Some(t0) = epoch_seconds(&last.started) else { return note("The last run's start time cannot be read.") };
    let mut bars = Vec::new();
    for i in &f.instances {
        let stage = &f.p.stages[i.stage].name;
        let label = crate::pipeline::model::instance_label(stage, i.item.as_deref());
        let (cached, failed) = match i.standing {
            Standing::Executed => (false, false),
            Standing::Cached => (true, false),
            _ => continue,
        };
        let Some(m) = f.manifest(i) else { continue };
        let label = match &m.usage {
            Some(u) => format!("{label} · peak RSS {} · CPU {}", memory(u.peak_rss_kib), duration(u.cpu_seconds)),
            None => label,
        };
        let (start, end) = match (epoch_seconds(&m.started), epoch_seconds(&m.finished)) {
            (Some(a), Some(b)) if !cached => (a - t0, b - t0),
            _ => (0.0, 0.0),
        };
        bars.push(Bar { lane: stage.clone(), label, start, end, cached, failed });
    }
    let executed = bars.iter().filter(|b| !b.cached).count();
    format!(
        "<p class=\"note\">{executed} instances executed by the run of {} (one bar each, from their manifests); cached instances are marked at the start of their stage's lane.</p>{}",
        escape(&last.started),
        timeline_svg(&bars, last.report.seconds)
    )
}

/// Per stage: instances, wall time summed and spanned, peak RSS and CPU.
pub fn resources(f: &Facts<'_>) -> String {
    let t0 = f.last.as_ref().and_then(|l| epoch_seconds(&l.started));
    let rows = f.p.order.iter().map(|&s| {
        let stage = &f.p.stages[s];
        let (mut n, mut ran, mut wall, mut cpu, mut rss) = (0usize, 0usize, 0.0f64, 0.0f64, Vec::new());
        let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in f.of_stage(s) {
            n += 1;
            let Some(m) = f.manifest(i) else { continue };
            if i.standing == Standing::Executed {
                ran += 1;
                if let (Some(a), Some(b), Some(_)) = (epoch_seconds(&m.started), epoch_seconds(&m.finished), t0) {
                    first = first.min(a);
                    last = last.max(b);
                }
            }
            wall += m.seconds;
            if let Some(u) = &m.usage {
                cpu += u.cpu_seconds;
                rss.push(u.peak_rss_kib);
            }
        }
        rss.sort_unstable();
        let span = if last >= first { last - first } else { f64::NAN };
        let median = rss.get(rss.len() / 2).copied();
        let max = rss.last().copied();
        vec![
            format!("<span id=\"{}\">{}</span>", stage_anchor(&stage.name), escape(&stage.name)),
            escape(stage.kind.name()),
            num(n as f64, n.to_string()),
            num(ran as f64, ran.to_string()),
            num(wall, duration(wall)),
            num(if span.is_finite() { span } else { -1.0 }, if span.is_finite() { duration(span) } else { "–".into() }),
            num(cpu, if rss.is_empty() { "–".into() } else { duration(cpu) }),
            num(median.unwrap_or(0) as f64, median.map(memory).unwrap_or_else(|| "–".into())),
            num(max.unwrap_or(0) as f64, max.map(memory).unwrap_or_else(|| "–".into())),
        ]
    });
    let head = [
        "stage",
        "kind",
        "instances",
        "executed in the last run",
        "wall time (sum)",
        "span in the last run",
        "CPU time (sum)",
        "peak RSS (median)",
        "peak RSS (max)",
    ];
    format!(
        "{}{}",
        table("sortable", &head, rows.collect::<Vec<_>>()),
        note(
            "Wall and CPU time summed over every instance in the cache, as its manifest recorded them. Peak RSS: for an instance computed in lungflow's process, the process's resident memory sampled every 50 ms while it ran (it includes instances running beside it; exact for stages that run alone, like training), or its command's peak; on Slurm, the task's own. Instances computed before lungflow measured show –."
        )
    )
}
