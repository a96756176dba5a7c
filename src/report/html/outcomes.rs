//! The sections about results: the predictions (each row of the table a
//! lineage starts from, with that lineage), the sweep's variants, and the
//! failures of the last run.

use lungflow_stages::formats::table::read_rows;
use lungflow_stages::logs::log_tail;

use super::facts::{Facts, Standing};
use super::page::{note, table};
use super::svg::{Chart, Series, escape, line_chart};
use crate::lineage::render::text;
use crate::lineage::trace::{start_row, trace};
use crate::lineage::verify::verify;
use crate::report::sweep_results::variant_results;

/// Lineages drawn at most; rows past it say how to get theirs.
pub const MAX_LINEAGES: usize = 500;

/// Every stage whose kind writes a table a lineage starts from (a
/// submission): its rows, sortable, each folding out to its lineage. With
/// `check`, each lineage is also verified (files and entries rehashed).
/// `only` limits it to these stages (one variant's).
pub fn predictions(f: &Facts<'_>, check: bool, only: Option<&[usize]>) -> String {
    let mut html = String::new();
    for &s in &f.p.order {
        let stage = &f.p.stages[s];
        if only.is_some_and(|o| !o.contains(&s)) {
            continue;
        }
        let Some(provenance) = stage.kind.row_provenance() else { continue };
        let Some(inst) = f.of_stage(s).next() else { continue };
        html.push_str(&format!("<h3>{}</h3>", escape(&stage.name)));
        let (Some(path), Some(key)) = (f.output(inst, provenance.table), inst.key.as_deref()) else {
            html.push_str(&note("Not in the cache: run the pipeline."));
            continue;
        };
        let rows = match read_rows(&path) {
            Ok(r) => r,
            Err(e) => {
                html.push_str(&note(&e.to_string()));
                continue;
            }
        };
        let columns: Vec<String> =
            rows.first().map(|r| r.keys().filter(|k| *k != provenance.key_column).cloned().collect()).unwrap_or_default();
        let mut head: Vec<&str> = columns.iter().map(String::as_str).collect();
        head.push("lineage");
        let mut body = Vec::with_capacity(rows.len());
        for (n, row) in rows.iter().enumerate() {
            let mut cells: Vec<String> = columns.iter().map(|c| cell(&row[c])).collect();
            let item = row.get(provenance.item_column).and_then(|v| v.as_str()).unwrap_or_default();
            cells.push(if n < MAX_LINEAGES {
                lineage_cell(f, &stage.name, key, &provenance, item, check)
            } else {
                note(&format!("lungflow lineage {} {item}", f.p.file.display()))
            });
            body.push(cells);
        }
        html.push_str(&table("sortable predictions", &head, body));
    }
    if html.is_empty() { note("No stage writes a table a lineage starts from (a submission).") } else { html }
}

/// A table cell for a JSON value: numbers sort as numbers.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            super::page::num(x, if n.is_f64() { format!("{x:.4}") } else { n.to_string() })
        }
        serde_json::Value::String(s) => escape(s),
        serde_json::Value::Null => String::new(),
        other => escape(&other.to_string()),
    }
}

/// One row's lineage as `lungflow lineage --format text` prints it, folded.
fn lineage_cell(f: &Facts<'_>, stage: &str, key: &str, provenance: &lungflow_stages::RowProvenance, item: &str, check: bool) -> String {
    let traced = start_row(f.cache, stage, key, provenance, item).and_then(|row| trace(f.cache, row, None));
    match traced {
        Ok(lineage) => {
            let status = if check {
                let v = verify(f.cache, &lineage);
                if v.drift.is_empty() {
                    format!(" <span class=\"state-executed\">verified: {} files, {} entries</span>", v.files, v.entries)
                } else {
                    format!(" <span class=\"state-failed\">{} drifted</span>", v.drift.len())
                }
            } else {
                String::new()
            };
            format!("<details><summary>lineage{status}</summary><pre>{}</pre></details>", escape(&text(&lineage)))
        }
        Err(e) => note(&format!("{e:#}")),
    }
}

/// The sweep's variants side by side, and their validation curves overlaid.
pub fn sweep(f: &Facts<'_>) -> Option<String> {
    if f.p.variants.is_empty() {
        return None;
    }
    let results = match variant_results(f.p, f.cache, f.eval) {
        Ok(r) => r,
        Err(e) => return Some(note(&format!("{e:#}"))),
    };
    let mut metric_names: Vec<String> = results.iter().flat_map(|r| r.metrics.iter().map(|(n, _)| n.clone())).collect();
    metric_names.sort();
    metric_names.dedup();
    let mut head = vec!["variant".to_owned(), "state".to_owned()];
    head.extend(metric_names.iter().cloned());
    let rows = results.iter().map(|r| {
        let mut row = vec![escape(&r.name), escape(r.state.as_str())];
        for m in &metric_names {
            row.push(r.metrics.iter().find(|(n, _)| n == m).map(|(_, v)| super::page::num(*v, format!("{v:.4}"))).unwrap_or_default());
        }
        row
    });
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut html = table("sortable sweep", &head, rows.collect::<Vec<_>>());
    let mut charts: Vec<Chart> = Vec::new();
    for r in &results {
        for c in &r.curves {
            let title = format!("{} {}", c.stage, c.column);
            let series = Series { name: r.name.clone(), points: c.points.clone(), dashed: false };
            match charts.iter_mut().find(|ch| ch.title == title) {
                Some(ch) => ch.series.push(series),
                None => charts.push(Chart {
                    title,
                    x_label: "epoch".into(),
                    y_label: c.column.clone(),
                    series: vec![series],
                    ..Chart::default()
                }),
            }
        }
    }
    html.push_str("<div class=\"figures\">");
    for c in &charts {
        html.push_str(&line_chart(c));
    }
    html.push_str("</div>");
    Some(html)
}

/// Each failed instance of the last run with its error and log tail.
pub fn failures(f: &Facts<'_>) -> String {
    let failed: Vec<_> = f.instances.iter().filter(|i| i.standing == Standing::Failed).collect();
    if failed.is_empty() {
        return note("Nothing failed.");
    }
    let mut html = String::new();
    for i in failed {
        let label = crate::pipeline::model::instance_label(&f.p.stages[i.stage].name, i.item.as_deref());
        html.push_str(&format!("<h3 class=\"state-failed\">{}</h3><pre>{}</pre>", escape(&label), escape(i.why.as_deref().unwrap_or(""))));
        let log = i.key.as_ref().map(|k| log_tail(&f.cache.root().join("logs").join(format!("{k}.log")), 30));
        if let Some(log) = log.filter(|l| !l.trim().is_empty()) {
            html.push_str(&format!("<details><summary>log tail</summary><pre>{}</pre></details>", escape(&log)));
        }
    }
    html
}
