//! The sweep table as a terminal shows it: the variant, its swept values,
//! its state and a few metrics, each folded with its interval's ends
//! (`0.912 [0.85, 0.96]`; a difference as `+0.031 [-0.01, 0.07]`, with `*`
//! when its Holm-corrected p-value is below [`ALPHA`]: the interval alone is
//! not corrected for the number of pairs). The p-value columns themselves
//! are shown only when picked.
//!
//! By default the cross-validated AUC columns are shown (see
//! [`crate::report::sweep_ranking`]), then the other metrics in table order
//! as long as a row stays within [`WIDTH`] characters; `--columns` picks the
//! metrics instead. The wide table (`--all`) is polars' own print.

use anyhow::Result;
use polars::prelude::{AnyValue, Column, DataFrame};

use crate::report::sweep_ranking::{ALPHA, CV_AUC, CV_AUC_DIFF, HIGH, LOW, P, P_HOLM};

/// The widest row the default view prints.
pub const WIDTH: usize = 120;
/// What separates two columns.
const GAP: &str = "  ";
/// The table's columns that are not metrics (besides the swept parameters).
const NOT_METRICS: [&str; 3] = ["variant", "state", "error"];
/// The compute-time column: shown only when picked.
const SECONDS: &str = "seconds";
/// What marks a difference whose Holm-corrected p-value is below [`ALPHA`].
pub const MARK: &str = "*";

/// What the view shows.
pub struct ViewOptions<'a> {
    /// The swept parameters (`STAGE.PARAM`).
    pub swept: &'a [String],
    /// Metric prefixes to show; empty for the default choice.
    pub prefixes: &'a [String],
    /// The reference variant of the differences.
    pub reference: &'a str,
}

/// The lines of the narrow view of `df` (the sweep table, in its row order):
/// a header, one row per variant, and two lines saying what a difference is
/// against and what marks it when one is shown.
pub fn narrow_view(df: &DataFrame, o: &ViewOptions<'_>) -> Result<Vec<String>> {
    let mut fixed = vec![plain(df, "variant")?];
    for p in o.swept.iter().filter(|p| df.column(p).is_ok()) {
        fixed.push(plain(df, p)?);
    }
    fixed.push(plain(df, "state")?);
    let metrics: Vec<&str> = df
        .get_column_names()
        .into_iter()
        .map(|n| n.as_str())
        .filter(|n| !NOT_METRICS.contains(n) && !o.swept.iter().any(|p| p == n) && !is_annotation(df, n, o.prefixes))
        .collect();
    let ranking = |n: &str| n.ends_with(&format!(".{CV_AUC}")) || n.ends_with(&format!(".{CV_AUC_DIFF}"));
    let mut shown = fixed;
    let mut differences = false;
    if o.prefixes.is_empty() {
        let (first, rest): (Vec<&str>, Vec<&str>) = metrics.iter().partition(|n| ranking(n));
        for name in first {
            differences |= is_difference(name);
            shown.push(metric(df, name, o.reference)?);
        }
        for name in rest.into_iter().filter(|&n| n != SECONDS) {
            let candidate = metric(df, name, o.reference)?;
            if row_width(&shown) + GAP.len() + candidate.width() <= WIDTH {
                differences |= is_difference(name);
                shown.push(candidate);
            }
        }
    } else {
        for name in metrics.into_iter().filter(|n| o.prefixes.iter().any(|p| n.starts_with(p.as_str()))) {
            differences |= is_difference(name);
            shown.push(metric(df, name, o.reference)?);
        }
    }
    let mut lines = vec![line(shown.iter().map(|c| (c.header.as_str(), c.width())))];
    for i in 0..df.height() {
        lines.push(line(shown.iter().map(|c| (c.cells[i].as_str(), c.width()))));
    }
    if differences {
        lines.push(format!("{CV_AUC_DIFF}: minus {}, on the same patients, with its 95 % interval", o.reference));
        lines.push(format!("{MARK}: p < {ALPHA} after Holm's correction over every pair of variants (the intervals are not corrected)"));
    }
    Ok(lines)
}

/// One shown column: its header and a cell per row.
struct Shown {
    header: String,
    cells: Vec<String>,
}

impl Shown {
    fn width(&self) -> usize {
        self.cells.iter().chain([&self.header]).map(|c| c.chars().count()).max().unwrap_or(0)
    }
}

fn row_width(shown: &[Shown]) -> usize {
    shown.iter().map(Shown::width).sum::<usize>() + GAP.len() * shown.len().saturating_sub(1)
}

/// Cells padded to their widths, without trailing blanks.
fn line<'a>(cells: impl Iterator<Item = (&'a str, usize)>) -> String {
    let padded: Vec<String> = cells.map(|(text, width)| format!("{text:<width$}")).collect();
    padded.join(GAP).trim_end().to_owned()
}

/// A column shown as it is (text, integers, numbers).
fn plain(df: &DataFrame, name: &str) -> Result<Shown> {
    let col = df.column(name)?;
    let cells = (0..df.height()).map(|i| Ok(cell_text(col, i)?.unwrap_or_else(|| "-".into()))).collect::<Result<_>>()?;
    Ok(Shown { header: name.to_owned(), cells })
}

/// A metric, folded with its interval's ends when the table has them.
fn metric(df: &DataFrame, name: &str, reference: &str) -> Result<Shown> {
    let (Ok(low), Ok(high)) = (df.column(&format!("{name}{LOW}")), df.column(&format!("{name}{HIGH}"))) else {
        return plain(df, name);
    };
    let (value, variants) = (df.column(name)?, df.column("variant")?);
    let corrected = df.column(&format!("{name}{P_HOLM}")).ok();
    let mut cells = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let is_reference = cell_text(variants, i)?.as_deref() == Some(reference);
        cells.push(match (number(value, i)?, number(low, i)?, number(high, i)?) {
            (Some(_), _, _) if is_reference && is_difference(name) => "reference".to_owned(),
            (Some(v), Some(l), Some(h)) if is_difference(name) => {
                let differs = corrected.map(|c| number(c, i)).transpose()?.flatten().is_some_and(|p| p < ALPHA);
                difference_with_interval(v, l, h, differs)
            }
            (Some(v), Some(l), Some(h)) => with_interval(v, l, h),
            (Some(v), _, _) => format!("{v:.3}"),
            _ => "-".to_owned(),
        });
    }
    Ok(Shown { header: name.to_owned(), cells })
}

/// `0.912 [0.85, 0.96]`.
pub fn with_interval(value: f64, low: f64, high: f64) -> String {
    format!("{value:.3} [{low:.2}, {high:.2}]")
}

/// A difference, signed, and marked when it `differs` (its corrected
/// p-value is below the level): `+0.031 [0.01, 0.07] *`.
pub fn difference_with_interval(value: f64, low: f64, high: f64, differs: bool) -> String {
    let mark = if differs { format!(" {MARK}") } else { String::new() };
    format!("{value:+.3} [{low:.2}, {high:.2}]{mark}")
}

fn is_difference(name: &str) -> bool {
    name.ends_with("_diff")
}

/// Whether `name` annotates another column: an end of its interval, or a
/// p-value of a difference (unless `prefixes` pick p-values).
fn is_annotation(df: &DataFrame, name: &str, prefixes: &[String]) -> bool {
    let picked = prefixes.iter().any(|p| name.starts_with(p.as_str()) && (p.ends_with(P) || p.ends_with(P_HOLM)));
    let p_of = name.strip_suffix(P_HOLM).or_else(|| name.strip_suffix(P)).is_some_and(|b| is_difference(b) && df.column(b).is_ok());
    is_interval_end(df, name) || (p_of && !picked)
}

/// Whether `name` is the `_low` or `_high` end of another column's interval.
fn is_interval_end(df: &DataFrame, name: &str) -> bool {
    let base = name.strip_suffix(LOW).or_else(|| name.strip_suffix(HIGH));
    base.is_some_and(|b| [LOW, HIGH].iter().all(|s| df.column(&format!("{b}{s}")).is_ok()) && df.column(b).is_ok())
}

fn number(col: &Column, i: usize) -> Result<Option<f64>> {
    Ok(match col.get(i)? {
        AnyValue::Float64(x) if x.is_finite() => Some(x),
        AnyValue::Int64(x) => Some(x as f64),
        _ => None,
    })
}

/// A cell as text (numbers short).
fn cell_text(col: &Column, i: usize) -> Result<Option<String>> {
    Ok(match col.get(i)? {
        AnyValue::String(s) => Some(s.to_owned()),
        AnyValue::StringOwned(s) => Some(s.to_string()),
        AnyValue::Int64(x) => Some(x.to_string()),
        AnyValue::Float64(x) if x.is_finite() => Some(short_number(x)),
        _ => None,
    })
}

/// A number exactly when that takes 6 characters or fewer, in the shorter of
/// decimal and exponent form as variant names write it (`2`, `3e-4`,
/// `0.25`), else to 4 significant digits.
fn short_number(x: f64) -> String {
    let (plain, exponent) = (format!("{x}"), format!("{x:e}"));
    let exact = if exponent.len() < plain.len() { exponent } else { plain };
    if exact.len() <= 6 {
        return exact;
    }
    let magnitude = x.abs().log10().floor();
    if !(-4.0..6.0).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    format!("{x:.*}", (3.0 - magnitude).max(0.0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three variants named `PREFIXm=1`, `PREFIXm=2`, `PREFIXm=4`.
    fn table(prefix: &str) -> DataFrame {
        let f = |name: &str, v: &[Option<f64>]| Column::new(name.into(), v.to_vec());
        DataFrame::new(
            3,
            vec![
                Column::new("variant".into(), ["m=1", "m=2", "m=4"].map(|v| format!("{prefix}{v}"))),
                Column::new("m".into(), [1i64, 2, 4]),
                f("gmcae.nll", &[Some(0.123456), Some(2.0), None]),
                f("classifier.cv_auc", &[Some(0.9124), Some(0.8), None]),
                f("classifier.cv_auc_low", &[Some(0.851), Some(0.7), None]),
                f("classifier.cv_auc_high", &[Some(0.96), Some(0.9), None]),
                f("classifier.cv_auc_diff", &[Some(0.0), Some(0.0314), None]),
                f("classifier.cv_auc_diff_low", &[Some(0.0), Some(0.012), None]),
                f("classifier.cv_auc_diff_high", &[Some(0.0), Some(0.07), None]),
                f("classifier.cv_auc_diff_p", &[None, Some(0.004), None]),
                f("classifier.cv_auc_diff_p_holm", &[None, Some(0.012), None]),
                f("seconds", &[Some(1.5), Some(2.5), None]),
                Column::new("state".into(), ["done", "done", "failed"]),
                Column::new("error".into(), [None, None, Some("gmcae@m=4: boom")]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn intervals_fold_into_one_cell_and_a_difference_is_signed_and_marked() {
        assert_eq!(with_interval(0.9124, 0.851, 0.96), "0.912 [0.85, 0.96]");
        assert_eq!(difference_with_interval(0.0314, -0.012, 0.07, false), "+0.031 [-0.01, 0.07]");
        assert_eq!(difference_with_interval(0.0314, 0.012, 0.07, true), "+0.031 [0.01, 0.07] *");
        assert_eq!(difference_with_interval(-0.1, -0.2, -0.01, true), "-0.100 [-0.20, -0.01] *");
        let swept = ["m".to_owned()];
        let lines = narrow_view(&table(""), &ViewOptions { swept: &swept, prefixes: &[], reference: "m=1" }).unwrap();
        assert_eq!(lines[0], "variant  m  state   classifier.cv_auc   classifier.cv_auc_diff  gmcae.nll");
        assert_eq!(lines[1], "m=1      1  done    0.912 [0.85, 0.96]  reference               0.1235");
        assert_eq!(lines[2], "m=2      2  done    0.800 [0.70, 0.90]  +0.031 [0.01, 0.07] *   2");
        assert_eq!(lines[3], "m=4      4  failed  -                   -                       -");
        assert!(lines[4].starts_with("cv_auc_diff: minus m=1, on the same patients"), "{lines:?}");
        assert!(lines[5].starts_with("*: p < 0.05 after Holm's correction over every pair of variants"), "{lines:?}");

        // The mark is the corrected p-value's, not the interval's: an
        // interval that excludes 0 with a corrected p of 0.3 is not marked.
        let mut df = table("");
        df.replace("classifier.cv_auc_diff_p_holm", Column::new("classifier.cv_auc_diff_p_holm".into(), [None, Some(0.3), None])).unwrap();
        let lines = narrow_view(&df, &ViewOptions { swept: &swept, prefixes: &[], reference: "m=1" }).unwrap();
        assert_eq!(lines[2], "m=2      2  done    0.800 [0.70, 0.90]  +0.031 [0.01, 0.07]     2");
        let picked =
            narrow_view(&df, &ViewOptions { swept: &swept, prefixes: &["classifier.cv_auc_diff_p".into()], reference: "m=1" }).unwrap();
        assert_eq!(picked[0], "variant  m  state   classifier.cv_auc_diff_p  classifier.cv_auc_diff_p_holm", "p-values when picked");
        assert_eq!(picked[2], "m=2      2  done    4e-3                      0.3");
    }

    #[test]
    fn prefixes_pick_the_metrics_and_the_default_keeps_rows_within_the_width() {
        let swept = ["m".to_owned()];
        let picked =
            narrow_view(&table(""), &ViewOptions { swept: &swept, prefixes: &["gmcae.".into(), "seconds".into()], reference: "m=1" })
                .unwrap();
        assert_eq!(picked[0], "variant  m  state   gmcae.nll  seconds");
        assert_eq!(picked.len(), 4, "no difference shown, no line about it");
        let long = table(&"x".repeat(57));
        let lines = narrow_view(&long, &ViewOptions { swept: &swept, prefixes: &[], reference: "m=1" }).unwrap();
        assert!(!lines[0].contains("gmcae.nll") && lines[0].contains("classifier.cv_auc_diff"), "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH), "{lines:?}");
    }

    #[test]
    fn numbers_are_short() {
        let shown = [2.0, 0.0003, 0.001, 0.123456, 1234.5678, 1.5e-7, 1.234567e-7].map(short_number);
        assert_eq!(shown, ["2", "3e-4", "1e-3", "0.1235", "1235", "1.5e-7", "1.235e-7"]);
    }
}
