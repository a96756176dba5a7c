//! Writing Arrow record batches as Parquet (zstd), the format of every table
//! lungflow writes, and reading numeric columns back.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::StageError;

/// Writes one batch to a Parquet file.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), StageError> {
    let mut writer = ParquetWriter::create(path, batch.schema())?;
    writer.write(batch)?;
    writer.finish()
}

/// A Parquet file (zstd) written one batch at a time, each batch a row group
/// of its own, so that a large table never sits whole in memory.
pub struct ParquetWriter {
    writer: ArrowWriter<File>,
    path: PathBuf,
}

impl ParquetWriter {
    /// Creates the file at `path` for batches of `schema`.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<ParquetWriter, StageError> {
        let file = File::create(path).map_err(|e| write_failed(path, &e))?;
        let zstd = ZstdLevel::try_new(3).map_err(|e| write_failed(path, &e))?;
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(zstd)).build();
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| write_failed(path, &e))?;
        Ok(ParquetWriter { writer, path: path.to_owned() })
    }

    /// Writes `batch` as one row group.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        self.writer.write(batch).and_then(|()| self.writer.flush()).map_err(|e| write_failed(&self.path, &e))
    }

    /// Writes the footer and closes the file.
    pub fn finish(self) -> Result<(), StageError> {
        self.writer.close().map(drop).map_err(|e| write_failed(&self.path, &e))
    }
}

fn write_failed(path: &Path, e: &dyn std::fmt::Display) -> StageError {
    StageError(format!("cannot write {}: {e}", path.display()))
}

/// Every numeric (or boolean, as 0 and 1) column of a Parquet file as float64, in schema order
/// (nulls as NaN); other columns are left out.
pub fn read_numeric_columns(path: &Path) -> Result<Vec<(String, Vec<f64>)>, StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = File::open(path).map_err(|e| fail(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?.build().map_err(|e| fail(&e))?;
    let mut columns: Vec<(String, Vec<f64>)> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        for (i, field) in batch.schema().fields().iter().enumerate() {
            let Some(values) = as_f64(batch.column(i).as_ref()) else { continue };
            match columns.iter_mut().find(|(n, _)| n == field.name()) {
                Some((_, v)) => v.extend(values),
                None => columns.push((field.name().clone(), values)),
            }
        }
    }
    Ok(columns)
}

/// Every row of a Parquet file as a JSON object of column to value (text,
/// integers and floats; nulls and other types as null).
pub fn read_rows(path: &Path) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StageError> {
    use serde_json::Value;
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = File::open(path).map_err(|e| fail(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?.build().map_err(|e| fail(&e))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        let start = rows.len();
        rows.resize(start + batch.num_rows(), serde_json::Map::new());
        for (c, field) in batch.schema().fields().iter().enumerate() {
            let column = batch.column(c);
            let any = column.as_any();
            for (i, row) in rows[start..].iter_mut().enumerate() {
                let value = if column.is_null(i) {
                    Value::Null
                } else if let Some(a) = any.downcast_ref::<StringArray>() {
                    Value::from(a.value(i))
                } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
                    Value::from(a.value(i))
                } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                    Value::from(a.value(i))
                } else if let Some(a) = any.downcast_ref::<Int32Array>() {
                    Value::from(a.value(i))
                } else if let Some(a) = any.downcast_ref::<Float64Array>() {
                    serde_json::Number::from_f64(a.value(i)).map_or(Value::Null, Value::Number)
                } else {
                    Value::Null
                };
                row.insert(field.name().clone(), value);
            }
        }
    }
    Ok(rows)
}

/// The values of one text column of a Parquet file (only that column is
/// decoded); nulls are left out.
pub fn read_text_column(path: &Path, column: &str) -> Result<Vec<String>, StageError> {
    let mut values = Vec::new();
    for_each_text(path, column, |v| values.push(v.to_owned()))?;
    Ok(values)
}

/// Calls `found` with each value of one text column of a Parquet file, in
/// order (only that column is decoded, a batch at a time); nulls are left
/// out.
pub fn for_each_text(path: &Path, column: &str, mut found: impl FnMut(&str)) -> Result<(), StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = File::open(path).map_err(|e| fail(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?;
    let index = builder.schema().index_of(column).map_err(|e| fail(&e))?;
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), [index]);
    for batch in builder.with_projection(mask).build().map_err(|e| fail(&e))? {
        let batch = batch.map_err(|e| fail(&e))?;
        let text = batch.column(0).as_any().downcast_ref::<StringArray>().ok_or_else(|| fail(&format!("{column} is not text")))?;
        text.iter().flatten().for_each(&mut found);
    }
    Ok(())
}

/// A numeric array's values as float64 (nulls as NaN), or `None` for other types.
fn as_f64(a: &dyn Array) -> Option<Vec<f64>> {
    let any = a.as_any();
    let nan_for_null = |i: usize, v: f64| if a.is_null(i) { f64::NAN } else { v };
    if let Some(x) = any.downcast_ref::<Float64Array>() {
        return Some(x.values().iter().enumerate().map(|(i, &v)| nan_for_null(i, v)).collect());
    }
    if let Some(x) = any.downcast_ref::<Float32Array>() {
        return Some(x.values().iter().enumerate().map(|(i, &v)| nan_for_null(i, v as f64)).collect());
    }
    if let Some(x) = any.downcast_ref::<Int32Array>() {
        return Some(x.values().iter().enumerate().map(|(i, &v)| nan_for_null(i, v as f64)).collect());
    }
    if let Some(x) = any.downcast_ref::<BooleanArray>() {
        return Some((0..x.len()).map(|i| nan_for_null(i, if x.value(i) { 1.0 } else { 0.0 })).collect());
    }
    any.downcast_ref::<Int64Array>().map(|x| x.values().iter().enumerate().map(|(i, &v)| nan_for_null(i, v as f64)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tables_read_back_as_numeric_columns_and_as_rows() {
        let path = std::env::temp_dir().join(format!("lf-table-{}.parquet", std::process::id()));
        let batch = RecordBatch::try_from_iter([
            ("epoch", Arc::new(Int32Array::from(vec![1, 2, 3])) as arrow_array::ArrayRef),
            ("name", Arc::new(arrow_array::StringArray::from(vec!["a", "b", "c"])) as arrow_array::ArrayRef),
            ("loss", Arc::new(Float64Array::from(vec![Some(0.5), None, Some(0.25)])) as arrow_array::ArrayRef),
        ])
        .unwrap();
        write_parquet(&path, &batch).unwrap();
        let columns = read_numeric_columns(&path).unwrap();
        let rows = read_rows(&path).unwrap();
        let names = read_text_column(&path, "name").unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["epoch", "loss"]);
        assert_eq!(columns[0].1, [1.0, 2.0, 3.0]);
        assert_eq!(columns[1].1[0], 0.5);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[1]["epoch"].clone(), rows[1]["name"].clone(), rows[1]["loss"].clone()),
            (2.into(), "b".into(), serde_json::Value::Null)
        );
        assert!(columns[1].1[1].is_nan());
        let err = read_numeric_columns(Path::new("/nonexistent/x.parquet")).unwrap_err();
        assert!(err.0.contains("cannot read /nonexistent/x.parquet"), "{err}");
    }

    #[test]
    fn a_table_written_a_batch_at_a_time_reads_back_whole_in_order() {
        let path = std::env::temp_dir().join(format!("lf-table-parts-{}.parquet", std::process::id()));
        let batch = |names: &[&str]| {
            RecordBatch::try_from_iter([("name", Arc::new(StringArray::from(names.to_vec())) as arrow_array::ArrayRef)]).unwrap()
        };
        let mut writer = ParquetWriter::create(&path, batch(&[]).schema()).unwrap();
        writer.write(&batch(&["a", "b"])).unwrap();
        writer.write(&batch(&["c"])).unwrap();
        writer.finish().unwrap();
        let groups = parquet::file::reader::FileReader::metadata(
            &parquet::file::reader::SerializedFileReader::new(File::open(&path).unwrap()).unwrap(),
        )
        .num_row_groups();
        let names = read_text_column(&path, "name").unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(groups, 2, "one row group per batch");
    }
}
