//! The sections about what the stages made: the models (per-epoch curves
//! drawn from `metrics.parquet`, the curves a kind declares ([`super::curves`]),
//! the figures it wrote) and the data (the pictures
//! per-item kinds declare ([`ItemPicture`]), the cohort table). What is
//! particular to a kind comes from its [`ReportView`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use base64::Engine;
use lungflow_stages::contract::{ItemPicture, ReportView, ScoredLabels};
use lungflow_stages::formats::table::read_numeric_columns;
use lungflow_stages::formats::training::METRICS_TABLE;

use crate::store::bounded::{PICTURE_CAP, read_capped};

use super::curves::{column, declared_charts};
use super::facts::{Facts, Instance, Standing};
use super::overview::standing_name;
use super::page::{note, table};
use super::svg::{Chart, Series, escape, line_chart};

/// How many items' pictures are shown beside every failed one.
pub const PICTURE_SAMPLE: usize = 12;

/// An image file as an inline `<img>` (data URL), or `None` if unreadable.
pub fn inline_png(path: &Path, alt: &str, class: &str) -> Option<String> {
    let bytes = read_capped(path, PICTURE_CAP).ok()?;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    Some(format!("<img class=\"{class}\" alt=\"{}\" src=\"data:image/png;base64,{data}\">", escape(alt)))
}

/// Every stage that runs once and wrote per-epoch metrics or a table its
/// kind declares a chart of: its curves as SVG (per epoch, then the
/// declared ones), and its top-level PNG figures.
pub fn models(f: &Facts<'_>) -> String {
    let mut html = String::new();
    for &s in &f.p.order {
        let stage = &f.p.stages[s];
        if stage.foreach.is_some() {
            continue;
        }
        let Some(inst) = f.of_stage(s).next() else { continue };
        let Some(charts) = charts(f, stage.kind.report_view(), inst) else { continue };
        html.push_str(&format!(
            "<h3>{} <span class=\"note\">({})</span></h3><div class=\"figures\">{charts}</div>",
            escape(&stage.name),
            escape(stage.kind.name())
        ));
        html.push_str(&figures(f, inst));
    }
    if html.is_empty() {
        note("No stage that runs once wrote per-epoch metrics (metrics.parquet) or a table its kind draws.")
    } else {
        html
    }
}

/// An instance's charts as SVG (or a note on an unreadable per-epoch
/// table); `None` when it wrote nothing to draw.
fn charts(f: &Facts<'_>, view: ReportView, inst: &Instance) -> Option<String> {
    let read = |file: &str| read_numeric_columns(&f.output(inst, file)?).ok();
    let declared = declared_charts(&view, read);
    let mut html = String::new();
    if let Some(metrics) = f.output(inst, METRICS_TABLE) {
        match read_numeric_columns(&metrics) {
            Ok(columns) => {
                let prior = view.scored_labels.and_then(|d| prior_log_loss(&read(d.table)?, &d));
                html.extend(epoch_charts(&columns, prior).iter().map(line_chart));
            }
            Err(e) => html.push_str(&note(&e.to_string())),
        }
    }
    html.extend(declared.iter().map(line_chart));
    (!html.is_empty()).then_some(html)
}

/// One chart per metric of a per-epoch table: `train_X` and `val_X` go
/// together on chart X; `prior` draws the class prior's log loss on log-loss
/// charts.
pub fn epoch_charts(columns: &[(String, Vec<f64>)], prior: Option<f64>) -> Vec<Chart> {
    let epochs: Vec<f64> = match columns.iter().find(|(n, _)| n == "epoch") {
        Some((_, v)) => v.clone(),
        None => (1..=columns.first().map_or(0, |c| c.1.len())).map(|e| e as f64).collect(),
    };
    let mut charts: Vec<Chart> = Vec::new();
    for (name, values) in columns.iter().filter(|(n, _)| n != "epoch") {
        let (side, metric) = match name.split_once('_') {
            Some((side @ ("train" | "val"), rest)) => (if side == "val" { "validation" } else { "train" }, rest.to_owned()),
            _ => (name.as_str(), name.clone()),
        };
        let series =
            Series { name: side.to_owned(), points: epochs.iter().copied().zip(values.iter().copied()).collect(), dashed: side == "train" };
        match charts.iter_mut().find(|c| c.title == metric) {
            Some(c) => c.series.push(series),
            None => {
                let hlines = match (metric.contains("log_loss"), prior) {
                    (true, Some(p)) => vec![(format!("class prior {p:.3}"), p)],
                    _ => Vec::new(),
                };
                charts.push(Chart {
                    title: metric.clone(),
                    x_label: "epoch".into(),
                    y_label: metric,
                    series: vec![series],
                    hlines,
                    ..Chart::default()
                });
            }
        }
    }
    charts
}

/// The log loss of always predicting the held-out rows' positive rate.
fn prior_log_loss(table: &[(String, Vec<f64>)], scored: &ScoredLabels) -> Option<f64> {
    let labels = column(table, scored.label_column)?;
    let p = labels.iter().sum::<f64>() / labels.len().max(1) as f64;
    (p > 0.0 && p < 1.0).then(|| -(p * p.ln() + (1.0 - p) * (1.0 - p).ln()))
}

/// The PNG figures at the top of an instance's outputs, folded.
fn figures(f: &Facts<'_>, inst: &Instance) -> String {
    let Some(m) = f.manifest(inst) else { return String::new() };
    let Some(dir) = &inst.out_dir else { return String::new() };
    let imgs: Vec<String> = m
        .outputs
        .iter()
        .filter(|o| o.path.ends_with(".png") && !o.path.contains('/'))
        .filter_map(|o| {
            inline_png(&dir.join(&o.path), &o.path, "figure")
                .map(|img| format!("<figure>{img}<figcaption>{}</figcaption></figure>", escape(&o.path)))
        })
        .collect();
    if imgs.is_empty() {
        String::new()
    } else {
        format!(
            "<details><summary>figures the stage wrote ({})</summary><div class=\"figures\">{}</div></details>",
            imgs.len(),
            imgs.concat()
        )
    }
}

/// The pictures per-item kinds declare (a sample of items and every item
/// with a failure) and the cohort table: every item's standing in every
/// per-item stage.
pub fn data(f: &Facts<'_>) -> String {
    let per_item: Vec<usize> = f.p.order.iter().copied().filter(|&s| f.p.stages[s].foreach.is_some()).collect();
    if per_item.is_empty() {
        return note("No stage runs per item.");
    }
    let mut items: Vec<String> = f.instances.iter().filter_map(|i| i.item.clone()).collect();
    items.sort();
    items.dedup();
    let by_cell: HashMap<(usize, &str), &Instance> = f.instances.iter().filter_map(|i| Some(((i.stage, i.item.as_deref()?), i))).collect();
    let failed: HashSet<&str> = f.instances.iter().filter(|i| i.standing == Standing::Failed).filter_map(|i| i.item.as_deref()).collect();
    let failed_items: Vec<&String> = items.iter().filter(|it| failed.contains(it.as_str())).collect();
    let mut html = item_pictures(f, &items, &failed_items);
    let head: Vec<String> = std::iter::once("item".to_owned()).chain(per_item.iter().map(|&s| f.p.stages[s].name.clone())).collect();
    let rows = items.iter().map(|it| {
        let mut row = vec![escape(it)];
        for &s in &per_item {
            let cell = by_cell.get(&(s, it.as_str())).map(|i| {
                let name = standing_name(i.standing);
                let why = i.why.as_deref().map(|w| format!(" title=\"{}\"", escape(w))).unwrap_or_default();
                format!("<span class=\"state-{name}\"{why}>{name}</span>")
            });
            row.push(cell.unwrap_or_default());
        }
        row
    });
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    html.push_str(&format!("<h3>Cohort ({} items)</h3>", items.len()));
    html.push_str(&table("sortable cohort", &head, rows.collect::<Vec<_>>()));
    html
}

/// The pictures of every kind that declares one, a heading per kind in
/// pipeline order.
fn item_pictures(f: &Facts<'_>, items: &[String], failed: &[&String]) -> String {
    let mut kinds: Vec<(&str, ItemPicture)> = Vec::new();
    for &s in &f.p.order {
        let kind = f.p.stages[s].kind;
        if let Some(picture) = kind.report_view().item_picture
            && !kinds.iter().any(|(name, _)| *name == kind.name())
        {
            kinds.push((kind.name(), picture));
        }
    }
    kinds.iter().map(|(kind, picture)| pictures_of(f, kind, picture, items, failed)).collect()
}

/// One kind's pictures: the first [`PICTURE_SAMPLE`] items and every failed one.
fn pictures_of(f: &Facts<'_>, kind: &str, picture: &ItemPicture, items: &[String], failed: &[&String]) -> String {
    let of_kind = |i: &&Instance| f.p.stages[i.stage].kind.name() == kind;
    let pictures: Vec<&Instance> = f.instances.iter().filter(of_kind).filter(|i| f.output(i, picture.file).is_some()).collect();
    if pictures.is_empty() {
        return String::new();
    }
    let chosen: Vec<&String> = items.iter().take(PICTURE_SAMPLE).chain(failed.iter().copied()).collect();
    let mut figs = String::new();
    let mut shown = std::collections::BTreeSet::new();
    for item in chosen {
        if !shown.insert(item) {
            continue;
        }
        let failed_mark = if failed.contains(&item) { " (has a failure)" } else { "" };
        match pictures.iter().find(|i| i.item.as_ref() == Some(item)) {
            Some(i) => {
                let path = f.output(i, picture.file).expect("has the picture");
                // The class keeps its first name: the page's style sheet and tests select `img.mask`.
                if let Some(img) = inline_png(&path, item, "mask") {
                    figs.push_str(&format!("<figure>{img}<figcaption>{}{failed_mark}</figcaption></figure>", escape(item)));
                }
            }
            None => figs.push_str(&format!(
                "<figure><figcaption>{}: {}{failed_mark}</figcaption></figure>",
                escape(item),
                escape(picture.missing)
            )),
        }
    }
    format!(
        "<h3>{}</h3><p class=\"note\">{}, for the first {PICTURE_SAMPLE} items and every item with a failure.</p><div class=\"figures\">{figs}</div>",
        escape(picture.title),
        escape(picture.shows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_and_validation_columns_share_a_chart_and_log_loss_gets_the_prior() {
        let cols = vec![
            ("epoch".to_owned(), vec![1.0, 2.0]),
            ("train_log_loss".to_owned(), vec![0.7, 0.6]),
            ("val_log_loss".to_owned(), vec![0.69, 0.65]),
            ("val_auc".to_owned(), vec![0.5, 0.7]),
        ];
        let charts = epoch_charts(&cols, Some(0.693));
        assert_eq!(charts.len(), 2);
        assert_eq!(charts[0].title, "log_loss");
        assert_eq!(charts[0].series.len(), 2);
        assert_eq!(charts[0].hlines.len(), 1);
        assert!(charts[1].hlines.is_empty());
    }

    const SCORED: ScoredLabels =
        ScoredLabels { table: "held_out.parquet", label_column: "truth", score_column: "score", rows_are: "cases" };

    #[test]
    fn the_class_prior_comes_from_the_declared_label_column() {
        let v = vec![("truth".to_owned(), vec![1.0, 0.0, 0.0, 0.0])];
        let prior = prior_log_loss(&v, &SCORED).unwrap();
        assert!((prior - -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln())).abs() < 1e-12, "{prior}");
        assert!(prior_log_loss(&[("truth".into(), vec![1.0, 1.0])], &SCORED).is_none(), "one class has no prior loss");
        assert!(prior_log_loss(&[("other".into(), vec![1.0, 0.0])], &SCORED).is_none());
    }
}
