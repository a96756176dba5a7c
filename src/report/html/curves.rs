//! The charts a kind's [`ReportView`] declares beside its per-epoch curves:
//! the ROC curve of a table of held-out scores ([`ScoredLabels`]), an ROC
//! curve written as points ([`RocCurve`]) and a reliability diagram
//! ([`Reliability`]). Each is a pure function of the tables read (as
//! `read_numeric_columns` gives them) and returns `None` when the table
//! lacks a column or holds nothing to draw.

use lungflow_stages::contract::{Reliability, ReportView, RocCurve, ScoredLabels};
use lungflow_stages::models::classifier::calibration::{RocPoint, area_under, roc_points};

use super::svg::{Chart, Series};

/// A table as `read_numeric_columns` reads it: (column name, values).
pub type Columns = Vec<(String, Vec<f64>)>;

/// The values of column `name` of a table.
pub fn column<'t>(table: &'t [(String, Vec<f64>)], name: &str) -> Option<&'t Vec<f64>> {
    table.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// The charts of the tables `view` declares that `read` (by file name)
/// finds, in order: the scored labels' ROC curve, the declared ROC curve,
/// the reliability diagram.
pub fn declared_charts(view: &ReportView, read: impl Fn(&str) -> Option<Columns>) -> Vec<Chart> {
    let scored = view.scored_labels.and_then(|d| roc_chart(&read(d.table)?, &d));
    let roc = view.roc_curve.and_then(|d| roc_curve_chart(&read(d.table)?, &d));
    let bins = view.reliability.and_then(|d| reliability_chart(&read(d.table)?, &d));
    [scored, roc, bins].into_iter().flatten().collect()
}

/// An ROC chart of points from (0, 0) to (1, 1), titled with the area under
/// them.
fn roc_of(points: &[RocPoint], title: impl Fn(f64) -> String, name: &str) -> Chart {
    Chart {
        title: title(area_under(points)),
        x_label: "false positive rate".into(),
        y_label: "true positive rate".into(),
        series: vec![Series {
            name: name.into(),
            points: points.iter().map(|p| (p.false_positive_rate, p.true_positive_rate)).collect(),
            dashed: false,
        }],
        diagonal: true,
        x_range: Some((0.0, 1.0)),
        y_range: Some((0.0, 1.0)),
        ..Chart::default()
    }
}

/// The ROC curve of a table of held-out scores, with the columns `scored`
/// names (labels as 0/1, scores); rows without a finite score are left out.
pub fn roc_chart(table: &[(String, Vec<f64>)], scored: &ScoredLabels) -> Option<Chart> {
    let (labels, scores) = (column(table, scored.label_column)?, column(table, scored.score_column)?);
    let (scores, labels): (Vec<f64>, Vec<bool>) =
        scores.iter().zip(labels).filter(|(s, _)| s.is_finite()).map(|(&s, &l)| (s, l > 0.5)).unzip();
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == labels.len() {
        return None;
    }
    let title = |auc: f64| format!("validation ROC (AUC {auc:.3}, {} {})", labels.len(), scored.rows_are);
    Some(roc_of(&roc_points(&scores, &labels), title, "validation"))
}

/// The ROC curve a table of its points draws; `None` when a rate is not
/// finite (a class was absent) or there are no points.
pub fn roc_curve_chart(table: &[(String, Vec<f64>)], curve: &RocCurve) -> Option<Chart> {
    let (fpr, tpr) = (column(table, curve.false_positive_column)?, column(table, curve.true_positive_column)?);
    let points: Vec<RocPoint> = fpr
        .iter()
        .zip(tpr)
        .map(|(&false_positive_rate, &true_positive_rate)| RocPoint { threshold: f64::NAN, false_positive_rate, true_positive_rate })
        .collect();
    if points.len() < 2 || points.iter().any(|p| !p.false_positive_rate.is_finite() || !p.true_positive_rate.is_finite()) {
        return None;
    }
    Some(roc_of(&points, |auc| format!("ROC of {} (AUC {auc:.3})", curve.of), "ROC"))
}

/// The reliability diagram of a reliability table: observed rate against
/// mean predicted probability over the bins that hold rows, beside the
/// diagonal of perfect calibration; `None` when no bin holds a row.
pub fn reliability_chart(table: &[(String, Vec<f64>)], bins: &Reliability) -> Option<Chart> {
    let predicted = column(table, bins.predicted_column)?;
    let (observed, counts) = (column(table, bins.observed_column)?, column(table, bins.count_column)?);
    let points: Vec<(f64, f64)> = predicted
        .iter()
        .zip(observed)
        .zip(counts)
        .filter(|&(_, &n)| n > 0.0)
        .map(|((&p, &o), _)| (p, o))
        .filter(|(p, o)| p.is_finite() && o.is_finite())
        .collect();
    if points.is_empty() {
        return None;
    }
    let rows: f64 = counts.iter().filter(|n| n.is_finite()).sum();
    Some(Chart {
        title: format!("reliability ({rows} {} in {} bins)", bins.rows_are, predicted.len()),
        x_label: "mean predicted probability".into(),
        y_label: "observed rate".into(),
        series: vec![Series { name: "observed".into(), points, dashed: false }],
        diagonal: true,
        x_range: Some((0.0, 1.0)),
        y_range: Some((0.0, 1.0)),
        ..Chart::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORED: ScoredLabels =
        ScoredLabels { table: "held_out.parquet", label_column: "truth", score_column: "score", rows_are: "cases" };
    const CURVE: RocCurve = RocCurve { table: "roc.parquet", false_positive_column: "fpr", true_positive_column: "tpr", of: "the test" };
    const BINS: Reliability =
        Reliability { table: "bins.parquet", predicted_column: "p", observed_column: "rate", count_column: "n", rows_are: "cases" };

    fn columns(named: &[(&str, &[f64])]) -> Columns {
        named.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect()
    }

    #[test]
    fn the_roc_curve_and_its_area_match_a_hand_count() {
        let v = columns(&[("truth", &[1.0, 0.0, 1.0, 0.0]), ("score", &[0.9, 0.8, 0.4, 0.1])]);
        let roc = roc_chart(&v, &SCORED).unwrap();
        assert_eq!(roc.title, "validation ROC (AUC 0.750, 4 cases)");
        assert_eq!(roc.series[0].points, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        assert!(roc_chart(&columns(&[("truth", &[1.0]), ("score", &[0.5])]), &SCORED).is_none());
        assert!(roc_chart(&v[..1], &SCORED).is_none(), "no score column, no curve");
    }

    #[test]
    fn a_declared_roc_table_is_drawn_as_its_points_with_the_area_under_them() {
        let v = columns(&[("fpr", &[0.0, 0.0, 0.5, 1.0]), ("tpr", &[0.0, 0.5, 1.0, 1.0])]);
        let roc = roc_curve_chart(&v, &CURVE).unwrap();
        // 0.5 * (0.5 + 1) / 2 + 0.5 * 1 = 0.875.
        assert_eq!(roc.title, "ROC of the test (AUC 0.875)");
        assert_eq!(roc.series[0].points, [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        assert!(roc.diagonal);
        let one_class = columns(&[("fpr", &[f64::NAN, f64::NAN]), ("tpr", &[0.0, 1.0])]);
        assert!(roc_curve_chart(&one_class, &CURVE).is_none());
    }

    #[test]
    fn the_reliability_diagram_draws_the_bins_that_hold_rows_beside_the_diagonal() {
        let v = columns(&[("p", &[0.1, f64::NAN, 0.7]), ("rate", &[0.0, f64::NAN, 0.5]), ("n", &[3.0, 0.0, 2.0])]);
        let chart = reliability_chart(&v, &BINS).unwrap();
        assert_eq!(chart.title, "reliability (5 cases in 3 bins)");
        assert_eq!(chart.series[0].points, [(0.1, 0.0), (0.7, 0.5)]);
        assert!(chart.diagonal);
        assert!(reliability_chart(&columns(&[("p", &[f64::NAN]), ("rate", &[f64::NAN]), ("n", &[0.0])]), &BINS).is_none());
        let view = ReportView { roc_curve: Some(CURVE), reliability: Some(BINS), ..ReportView::default() };
        let roc = columns(&[("fpr", &[0.0, 1.0]), ("tpr", &[0.0, 1.0])]);
        let read = |name: &str| match name {
            "roc.parquet" => Some(roc.clone()),
            "bins.parquet" => Some(v.clone()),
            _ => None,
        };
        let titles: Vec<String> = declared_charts(&view, read).into_iter().map(|c| c.title).collect();
        assert_eq!(titles, ["ROC of the test (AUC 0.500)", "reliability (5 cases in 3 bins)"]);
    }
}
