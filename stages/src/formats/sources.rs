//! `sources.parquet`, the table of the DICOM files a volume was read from:
//! one row per slice, in volume order: `z` (int32), `input` (the name of the
//! stage input the file was read from), `path` (relative to that input's
//! folder, so that the table does not depend on where the project or its
//! cache lies), `sop_instance_uid`, `size` (uint64 bytes) and `blake3` (hex
//! digest). Lineage joins `path` onto the input's location.

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
    /// The file, relative to the input folder it was read from.
    pub path: &'a Path,
    /// Its SOPInstanceUID.
    pub sop_instance_uid: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// Its BLAKE3 digest, hex.
    pub blake3: &'a str,
}

/// Writes the sources of a volume's slices, in volume order, all read from
/// the stage input named `input`.
pub fn write_sources(path: &Path, input: &str, sources: &[Source<'_>]) -> Result<(), StageError> {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("z", Arc::new(Int32Array::from_iter_values(0..sources.len() as i32))),
        ("input", Arc::new(StringArray::from_iter_values(sources.iter().map(|_| input)))),
        ("path", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.path.display().to_string())))),
        ("sop_instance_uid", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.sop_instance_uid)))),
        ("size", Arc::new(UInt64Array::from_iter_values(sources.iter().map(|s| s.size)))),
        ("blake3", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.blake3)))),
    ];
    let batch = RecordBatch::try_from_iter(columns).map_err(|e| StageError(format!("cannot build sources table: {e}")))?;
    write_parquet(path, &batch)
}
