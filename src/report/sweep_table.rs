//! The sweep table: one row per variant with its swept values, final
//! metrics, compute seconds and state, as a polars DataFrame that can be
//! sorted by any column and exported as CSV, Parquet or JSON.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use polars::prelude::{AnyValue, Column, CsvWriter, DataFrame, DataType, SerWriter, SortMultipleOptions};
use serde_json::Value;

use crate::pipeline::model::value_text;
use crate::report::sweep_results::VariantResult;

/// Builds the table: `variant`, one column per swept parameter, one per
/// metric (`STAGE.METRIC`), then `seconds`, `state` and `error`.
pub fn table(results: &[VariantResult]) -> Result<DataFrame> {
    let params: BTreeSet<&String> = results.iter().flat_map(|r| r.params.keys()).collect();
    let mut metrics: Vec<&String> = Vec::new();
    for (name, _) in results.iter().flat_map(|r| &r.metrics) {
        if !metrics.contains(&name) {
            metrics.push(name);
        }
    }
    let mut columns = vec![Column::new("variant".into(), results.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())];
    for &p in &params {
        let values: Vec<Option<&Value>> = results.iter().map(|r| r.params.get(p)).collect();
        columns.push(if values.iter().flatten().all(|v| v.is_i64()) {
            Column::new(p.as_str().into(), values.iter().map(|v| v.and_then(Value::as_i64)).collect::<Vec<_>>())
        } else if values.iter().flatten().all(|v| v.is_number()) {
            Column::new(p.as_str().into(), values.iter().map(|v| v.and_then(Value::as_f64)).collect::<Vec<_>>())
        } else {
            Column::new(p.as_str().into(), values.iter().map(|v| v.map(value_text)).collect::<Vec<_>>())
        });
    }
    for &m in &metrics {
        let value = |r: &VariantResult| r.metrics.iter().find(|(n, _)| n == m).map(|(_, v)| *v);
        columns.push(Column::new(metric_column(m, &params).into(), results.iter().map(value).collect::<Vec<_>>()));
    }
    columns.push(Column::new("seconds".into(), results.iter().map(|r| r.seconds).collect::<Vec<_>>()));
    columns.push(Column::new("state".into(), results.iter().map(|r| r.state.as_str()).collect::<Vec<_>>()));
    columns.push(Column::new("error".into(), results.iter().map(|r| r.error.clone()).collect::<Vec<_>>()));
    DataFrame::new(results.len(), columns).context("cannot build the sweep table")
}

/// The column of metric `name` (`STAGE.METRIC`): its own name, or, when a
/// swept parameter has that name (`classifier.epochs` is both the most
/// epochs and, in `metrics.json`, the epochs run), `STAGE.METRIC (metric)`.
pub fn metric_column(name: &str, params: &BTreeSet<&String>) -> String {
    if params.iter().any(|p| p.as_str() == name) { format!("{name} (metric)") } else { name.to_owned() }
}

/// The table sorted by `column` (missing values last).
pub fn sorted(df: &DataFrame, column: &str, descending: bool) -> Result<DataFrame> {
    if df.column(column).is_err() {
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        bail!("no column {column:?} in the sweep table (columns: {})", names.join(", "));
    }
    let options = SortMultipleOptions::default().with_order_descending(descending).with_nulls_last(true).with_maintain_order(true);
    df.sort([column], options).with_context(|| format!("cannot sort by {column:?}"))
}

/// The table with only the columns `variant`, the swept parameters, `state`
/// and those whose names start with one of `prefixes` (`classifier.val_`).
pub fn select(df: &DataFrame, swept: &[String], prefixes: &[String]) -> Result<DataFrame> {
    let keep: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .filter(|n| n == "variant" || n == "state" || swept.contains(n) || prefixes.iter().any(|p| n.starts_with(p.as_str())))
        .collect();
    df.select(keep).context("cannot select the sweep table's columns")
}

/// Writes the table as CSV with a header.
pub fn write_csv(df: &DataFrame, path: &Path) -> Result<()> {
    let mut file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    CsvWriter::new(&mut file).finish(&mut df.clone()).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the table as Parquet through arrow-rs, like every table lungflow writes.
pub fn write_parquet(df: &DataFrame, path: &Path) -> Result<()> {
    let mut fields = Vec::with_capacity(df.width());
    for col in df.columns() {
        let array: ArrayRef = match col.dtype() {
            DataType::Float64 => Arc::new(col.f64()?.iter().collect::<Float64Array>()),
            DataType::Int64 => Arc::new(col.i64()?.iter().collect::<Int64Array>()),
            DataType::String => Arc::new(col.str()?.iter().collect::<StringArray>()),
            // An all-missing column (no variant reached that far).
            DataType::Null => Arc::new(StringArray::from(vec![None::<&str>; df.height()])),
            other => bail!("sweep table column {:?} has unexpected type {other}", col.name()),
        };
        fields.push((col.name().to_string(), array));
    }
    let batch = RecordBatch::try_from_iter(fields).context("cannot build the sweep table's Arrow batch")?;
    lungflow_stages::formats::table::write_parquet(path, &batch).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The table as JSON: one object per row, column name to value (NaN and
/// missing values as null).
pub fn to_json(df: &DataFrame) -> Result<Value> {
    let mut rows = vec![serde_json::Map::new(); df.height()];
    for col in df.columns() {
        let name = col.name().to_string();
        for (i, row) in rows.iter_mut().enumerate() {
            let value = match col.get(i)? {
                AnyValue::Float64(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
                AnyValue::Int64(x) => Value::from(x),
                AnyValue::String(s) => Value::String(s.to_owned()),
                AnyValue::StringOwned(s) => Value::String(s.to_string()),
                _ => Value::Null,
            };
            row.insert(name.clone(), value);
        }
    }
    Ok(Value::Array(rows.into_iter().map(Value::Object).collect()))
}

/// Shows every column and whole cells when a table is printed, unless the
/// user set polars' display variables. Call before any thread starts.
#[allow(unsafe_code)]
pub fn configure_display() {
    for (var, value) in [
        ("POLARS_FMT_MAX_COLS", "-1"),
        ("POLARS_FMT_MAX_ROWS", "-1"),
        ("POLARS_FMT_STR_LEN", "120"),
        ("POLARS_TABLE_WIDTH", "1000"),
        ("POLARS_FMT_TABLE_HIDE_COLUMN_DATA_TYPES", "1"),
        ("POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION", "1"),
    ] {
        if std::env::var_os(var).is_none() {
            // SAFETY: called first thing in `main`, while the process has one thread.
            unsafe { std::env::set_var(var, value) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sweep_results::VariantState;
    use std::collections::BTreeMap;

    fn result(name: &str, m: i64, loss: Option<f64>, state: VariantState) -> VariantResult {
        VariantResult {
            name: name.into(),
            params: BTreeMap::from([("gmcae.mixtures".into(), serde_json::json!(m)), ("gmcae.widths".into(), serde_json::json!("4,8"))]),
            state,
            error: (state == VariantState::Failed).then(|| "gmcae@x: loss became NaN".to_owned()),
            instances: 3,
            available: 3,
            seconds: 1.5,
            metrics: loss.map(|l| vec![("gmcae.best_val_nll_per_voxel".to_owned(), l)]).unwrap_or_default(),
            curves: Vec::new(),
            out_of_fold: Vec::new(),
        }
    }

    fn sample() -> DataFrame {
        table(&[
            result("a", 4, Some(0.5), VariantState::Done),
            result("b", 1, None, VariantState::Failed),
            result("c", 2, Some(0.25), VariantState::Done),
        ])
        .unwrap()
    }

    #[test]
    fn sorting_puts_missing_values_last_in_either_direction() {
        let df = sample();
        let names = |df: &DataFrame| df.column("variant").unwrap().str().unwrap().iter().map(|s| s.unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(&sorted(&df, "gmcae.best_val_nll_per_voxel", false).unwrap()), ["c", "a", "b"]);
        assert_eq!(names(&sorted(&df, "gmcae.best_val_nll_per_voxel", true).unwrap()), ["a", "c", "b"]);
        assert_eq!(names(&sorted(&df, "gmcae.mixtures", false).unwrap()), ["b", "c", "a"]);
        let e = sorted(&df, "auc", false).unwrap_err().to_string();
        assert!(e.contains("no column \"auc\"") && e.contains("gmcae.mixtures"), "{e}");
    }

    #[test]
    fn a_metric_named_like_a_swept_parameter_gets_a_column_of_its_own() {
        let mut a = result("a", 4, Some(0.5), VariantState::Done);
        a.metrics.push(("gmcae.mixtures".to_owned(), 3.0));
        let df = table(&[a, result("b", 1, None, VariantState::Done)]).unwrap();
        let rows = to_json(&df).unwrap();
        assert_eq!((&rows[0]["gmcae.mixtures"], &rows[0]["gmcae.mixtures (metric)"]), (&serde_json::json!(4), &serde_json::json!(3.0)));
        assert_eq!((&rows[1]["gmcae.mixtures"], &rows[1]["gmcae.mixtures (metric)"]), (&serde_json::json!(1), &Value::Null));
    }

    #[test]
    fn json_rows_carry_every_column_with_nulls_for_missing_metrics() {
        let rows = to_json(&sample()).unwrap();
        assert_eq!(rows[0]["variant"], "a");
        assert_eq!(rows[0]["gmcae.mixtures"], 4);
        assert_eq!(rows[0]["gmcae.widths"], "4,8");
        assert_eq!(rows[1]["gmcae.best_val_nll_per_voxel"], Value::Null);
        assert_eq!(rows[1]["state"], "failed");
        assert_eq!(rows[1]["error"], "gmcae@x: loss became NaN");
        assert_eq!(rows[0]["error"], Value::Null);
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_variant() {
        let path = std::env::temp_dir().join(format!("lf-sweep-{}.csv", std::process::id()));
        write_csv(&sample(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "variant,gmcae.mixtures,gmcae.widths,gmcae.best_val_nll_per_voxel,seconds,state,error");
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "a,4,\"4,8\",0.5,1.5,done,");
    }
}
