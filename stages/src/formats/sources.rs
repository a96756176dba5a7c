//! `sources.parquet`, the table of the DICOM files a volume was read from:
//! one row per slice, in volume order: `z` (int32), `path`,
//! `sop_instance_uid`, `size` (uint64 bytes) and `blake3` (hex digest).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray, UInt64Array};

use super::table::write_parquet;
use crate::StageError;

/// The source-file table of `hu_volume`.
pub const SOURCES_FILE: &str = "sources.parquet";

/// One source file: the slice at `z`, the row's index.
#[derive(Clone, Debug)]
pub struct Source<'a> {
    /// The file.
    pub path: &'a Path,
    /// Its SOPInstanceUID.
    pub sop_instance_uid: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// Its BLAKE3 digest, hex.
    pub blake3: &'a str,
}

/// Writes the sources of a volume's slices, in volume order.
pub fn write_sources(path: &Path, sources: &[Source<'_>]) -> Result<(), StageError> {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("z", Arc::new(Int32Array::from_iter_values(0..sources.len() as i32))),
        ("path", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.path.display().to_string())))),
        ("sop_instance_uid", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.sop_instance_uid)))),
        ("size", Arc::new(UInt64Array::from_iter_values(sources.iter().map(|s| s.size)))),
        ("blake3", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.blake3)))),
    ];
    let batch = RecordBatch::try_from_iter(columns).map_err(|e| StageError(format!("cannot build sources table: {e}")))?;
    write_parquet(path, &batch)
}
