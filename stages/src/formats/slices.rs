//! Arrow IPC files of one row per slice: `z` (int32, the row number) and one
//! `FixedSizeList` column of a slice's values, with JSON in the schema's
//! `lungflow` metadata key. Volumes, masks ([`volume`](super::volume)) and
//! feature maps ([`features`](super::features)) are stored this way.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, FixedSizeListArray, Int32Array, PrimitiveArray, RecordBatch};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema};

use crate::StageError;

/// Slices written per Arrow record batch (bounds the extra memory of writing).
const SLICES_PER_BATCH: usize = 8;

/// The schema metadata key holding a file's JSON description.
const METADATA_KEY: &str = "lungflow";

/// Writes `data` as rows of `row_len` values (`z` = row number, then a
/// FixedSizeList column), with `metadata` as the schema's `lungflow` key.
pub fn write_rows<T: ArrowPrimitiveType>(
    path: &Path,
    column: &str,
    metadata: &str,
    row_len: usize,
    data: &[T::Native],
) -> Result<(), StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot write {}: {e}", path.display()));
    let rows = data.len().checked_div(row_len).unwrap_or(0);
    let item = Arc::new(Field::new("item", T::DATA_TYPE, false));
    let schema = Arc::new(Schema::new_with_metadata(
        vec![Field::new("z", DataType::Int32, false), Field::new(column, DataType::FixedSizeList(item.clone(), row_len as i32), false)],
        HashMap::from([(METADATA_KEY.to_owned(), metadata.to_owned())]),
    ));
    let file = File::create(path).map_err(|e| fail(&e))?;
    let mut writer = FileWriter::try_new(BufWriter::new(file), &schema).map_err(|e| fail(&e))?;
    for start in (0..rows).step_by(SLICES_PER_BATCH) {
        let end = (start + SLICES_PER_BATCH).min(rows);
        let z = Int32Array::from_iter_values((start as i32)..(end as i32));
        let values = PrimitiveArray::<T>::from_iter_values(data[start * row_len..end * row_len].iter().copied());
        let list = FixedSizeListArray::try_new(item.clone(), row_len as i32, Arc::new(values), None).map_err(|e| fail(&e))?;
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(z) as ArrayRef, Arc::new(list)]).map_err(|e| fail(&e))?;
        writer.write(&batch).map_err(|e| fail(&e))?;
    }
    writer.finish().map_err(|e| fail(&e))?;
    Ok(())
}

/// Reads a file written by [`write_rows`]: its `lungflow` metadata and every
/// row's values, concatenated.
pub fn read_rows<T: ArrowPrimitiveType>(path: &Path, column: &str) -> Result<(String, Vec<T::Native>), StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = File::open(path).map_err(|e| fail(&e))?;
    // The values are most of the file: room for them up front (up to 1 GiB;
    // past that the vector grows as it reads) spares the copies of a
    // growing vector.
    let room = file.metadata().map_or(0, |m| m.len().min(1 << 30) as usize / std::mem::size_of::<T::Native>());
    let reader = FileReader::try_new(file, None).map_err(|e| fail(&format!("not an Arrow IPC file ({e})")))?;
    let schema = reader.schema();
    let meta_json = schema.metadata().get(METADATA_KEY).ok_or_else(|| fail(&"no `lungflow` metadata"))?.clone();
    let mut data = Vec::new();
    // A refusal only means the vector grows as it reads.
    let _ = data.try_reserve_exact(room);
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        let list = batch
            .column_by_name(column)
            .and_then(|c| c.as_any().downcast_ref::<FixedSizeListArray>())
            .ok_or_else(|| fail(&format!("no FixedSizeList column {column:?}")))?;
        let values = list
            .values()
            .as_any()
            .downcast_ref::<PrimitiveArray<T>>()
            .ok_or_else(|| fail(&format!("column {column:?} has the wrong value type")))?;
        let offset = list.offset() * list.value_length() as usize;
        data.extend_from_slice(&values.values()[offset..offset + list.len() * list.value_length() as usize]);
    }
    Ok((meta_json, data))
}
