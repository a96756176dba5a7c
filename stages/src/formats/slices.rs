//! Arrow IPC files of one row per slice: `z` (int32, the row number) and one
//! `FixedSizeList` column of a slice's values, with JSON in the schema's
//! `lungflow` metadata key. Volumes, masks ([`volume`](super::volume)) and
//! feature maps ([`features`](super::features)) are stored this way.
//!
//! Every buffer is compressed with zstd at level 1 (Arrow IPC buffer
//! compression, which pyarrow reads as it is): chosen by measurement over
//! LZ4 and zstd 2 and 3 (BENCHMARKS.md, issue 31). The reader takes
//! compressed and uncompressed files alike, so files written before are
//! still read.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, FixedSizeListArray, Int32Array, PrimitiveArray, RecordBatch};
use arrow_ipc::CompressionType;
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::{DataType, Field, Schema};

use crate::StageError;

/// Slices written per Arrow record batch (bounds the extra memory of writing).
const SLICES_PER_BATCH: usize = 8;

/// The schema metadata key holding a file's JSON description.
const METADATA_KEY: &str = "lungflow";

/// The zstd level of every buffer written: of levels 1 to 3, the fastest and
/// within 10 % of the smallest on volumes, masks and features.
const ZSTD_LEVEL: i32 = 1;

/// Writes `data` as rows of `row_len` values (`z` = row number, then a
/// FixedSizeList column), with `metadata` as the schema's `lungflow` key,
/// every buffer zstd-compressed.
pub fn write_rows<T: ArrowPrimitiveType>(
    path: &Path,
    column: &str,
    metadata: &str,
    row_len: usize,
    data: &[T::Native],
) -> Result<(), StageError> {
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(CompressionType::ZSTD))
        .and_then(|o| o.try_with_compression_level(Some(ZSTD_LEVEL)))
        .map_err(|e| StageError(format!("cannot write {}: {e}", path.display())))?;
    write_rows_with::<T>(options, path, column, metadata, row_len, data)
}

/// [`write_rows`] with the given IPC options (the tests write uncompressed
/// files, as lungflow did before issue 31).
fn write_rows_with<T: ArrowPrimitiveType>(
    options: IpcWriteOptions,
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
    let mut writer = FileWriter::try_new_with_options(BufWriter::new(file), &schema, options).map_err(|e| fail(&e))?;
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

/// Reads a file written by [`write_rows`], compressed or not (as before
/// issue 31): its `lungflow` metadata and every row's values, concatenated.
pub fn read_rows<T: ArrowPrimitiveType>(path: &Path, column: &str) -> Result<(String, Vec<T::Native>), StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = File::open(path).map_err(|e| fail(&e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| fail(&format!("not an Arrow IPC file ({e})")))?;
    let schema = reader.schema();
    let meta_json = schema.metadata().get(METADATA_KEY).ok_or_else(|| fail(&"no `lungflow` metadata"))?.clone();
    let batches = reader.num_batches();
    let mut data = Vec::new();
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
        if data.is_empty() {
            // Every batch but the last has as many rows as the first: room
            // for all of them up front (up to 1 GiB; past that the vector
            // grows as it reads) spares the copies of a growing vector. A
            // refusal only means the vector grows.
            let room =
                (list.len() * list.value_length() as usize).saturating_mul(batches).min((1 << 30) / std::mem::size_of::<T::Native>());
            let _ = data.try_reserve_exact(room);
        }
        let offset = list.offset() * list.value_length() as usize;
        data.extend_from_slice(&values.values()[offset..offset + list.len() * list.value_length() as usize]);
    }
    Ok((meta_json, data))
}

#[cfg(test)]
mod tests {
    use arrow_array::types::Int16Type;

    use super::*;

    #[test]
    fn files_are_written_compressed_and_uncompressed_ones_still_read() {
        let dir = lungflow_testkit::scratch("slices");
        // A smooth volume of 16 slices of 64 x 64: 128 KiB of values.
        let data: Vec<i16> = (0..16 * 64 * 64).map(|i| ((i % 64) * 10 - 300) as i16).collect();
        let (new, old) = (dir.join("new.arrow"), dir.join("old.arrow"));
        write_rows::<Int16Type>(&new, "hu", "{}", 64 * 64, &data).unwrap();
        write_rows_with::<Int16Type>(IpcWriteOptions::default(), &old, "hu", "{}", 64 * 64, &data).unwrap();
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        assert!(size(&old) > 2 * 16 * 64 * 64, "uncompressed: {} bytes", size(&old));
        assert!(size(&new) * 20 < size(&old), "compressed {} bytes, uncompressed {}", size(&new), size(&old));
        for path in [&new, &old] {
            assert_eq!(read_rows::<Int16Type>(path, "hu").unwrap(), ("{}".to_owned(), data.clone()), "{}", path.display());
        }
        let again = dir.join("again.arrow");
        write_rows::<Int16Type>(&again, "hu", "{}", 64 * 64, &data).unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&new).unwrap(), "the same bytes every time");
    }
}
