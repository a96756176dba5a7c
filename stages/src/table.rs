//! Writing Arrow record batches as Parquet (zstd), the format of every table
//! lungflow writes.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::StageError;

/// Writes one batch to a Parquet file.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot write {}: {e}", path.display()));
    let file = File::create(path).map_err(|e| fail(&e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| fail(&e))?))
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| fail(&e))?;
    writer.write(batch).map_err(|e| fail(&e))?;
    writer.close().map_err(|e| fail(&e))?;
    Ok(())
}
