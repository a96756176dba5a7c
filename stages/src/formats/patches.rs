//! `patches.parquet`, cubes of scaled HU sampled from one patient's lungs:
//! one row per patch, `patient_id`, `z`, `y`, `x` (int32, the centre voxel in
//! the cropped volume) and `voxels` (`FixedSizeList<Float32>` of edge³,
//! z-major), zstd.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;

use super::table::write_parquet;
use crate::StageError;

/// The patch table file.
pub const PATCHES_FILE: &str = "patches.parquet";

/// One sampled patch.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    /// Centre voxel [z, y, x] in the cropped volume.
    pub centre: [i32; 3],
    /// edge³ scaled values, z-major.
    pub voxels: Vec<f32>,
}

/// Writes patches of one patient as Parquet.
pub fn write_patches(path: &Path, patient: &str, edge: usize, patches: &[Patch]) -> Result<(), StageError> {
    let n = edge.pow(3) as i32;
    let mut list = FixedSizeListBuilder::with_capacity(Float32Builder::with_capacity(patches.len() * n as usize), n, patches.len())
        .with_field(Arc::new(arrow_schema::Field::new("item", arrow_schema::DataType::Float32, false)));
    for p in patches {
        list.values().append_slice(&p.voxels);
        list.append(true);
    }
    let col = |k: usize| Arc::new(Int32Array::from_iter_values(patches.iter().map(|p| p.centre[k]))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("patient_id", Arc::new(StringArray::from_iter_values(patches.iter().map(|_| patient))) as ArrayRef),
        ("z", col(0)),
        ("y", col(1)),
        ("x", col(2)),
        ("voxels", Arc::new(list.finish())),
    ])
    .map_err(|e| StageError(format!("cannot build patch table: {e}")))?;
    write_parquet(path, &batch)
}

/// Reads a patch table: (patient id, patch) rows.
pub fn read_patches(path: &Path) -> Result<Vec<(String, Patch)>, StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?.build().map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        let get = |name: &str| batch.column_by_name(name).ok_or_else(|| fail(&format!("no column {name:?}")));
        let ids = get("patient_id")?.as_any().downcast_ref::<StringArray>().ok_or_else(|| fail(&"patient_id is not a string"))?.clone();
        let coord = |name: &str| -> Result<Int32Array, StageError> {
            get(name)?.as_any().downcast_ref::<Int32Array>().cloned().ok_or_else(|| fail(&format!("{name} is not int32")))
        };
        let (z, y, x) = (coord("z")?, coord("y")?, coord("x")?);
        let list =
            get("voxels")?.as_any().downcast_ref::<FixedSizeListArray>().ok_or_else(|| fail(&"voxels is not a fixed-size list"))?.clone();
        let values = list.values().as_any().downcast_ref::<Float32Array>().ok_or_else(|| fail(&"voxels are not float32"))?;
        let n = list.value_length() as usize;
        let base = list.offset() * n;
        for r in 0..batch.num_rows() {
            let voxels = values.values()[base + r * n..base + (r + 1) * n].to_vec();
            out.push((ids.value(r).to_owned(), Patch { centre: [z.value(r), y.value(r), x.value(r)], voxels }));
        }
    }
    Ok(out)
}

/// Every patch of a folder's `patches.parquet`, or of every subfolder's of a
/// gathered input (one per patient, in name order), with the common edge.
pub fn read_gathered(dir: &Path) -> Result<(usize, Vec<(String, Patch)>), StageError> {
    let files = gathered_files(dir)?;
    // Files are decoded side by side, then taken (and their errors
    // reported) in name order.
    let read: Vec<_> = files.par_iter().map(|f| read_patches(f)).collect();
    let (mut edge, mut all) = (0, Vec::new());
    for (f, patches) in files.iter().zip(read) {
        for (patient, patch) in patches? {
            let e = (patch.voxels.len() as f64).cbrt().round() as usize;
            if e.pow(3) != patch.voxels.len() || (edge != 0 && e != edge) {
                return Err(StageError(format!("{}: patches of {} voxels do not match edge {edge}", f.display(), patch.voxels.len())));
            }
            edge = e;
            all.push((patient, patch));
        }
    }
    if all.is_empty() {
        return Err(StageError(format!("{}: the {PATCHES_FILE} files found hold no patches", dir.display())));
    }
    Ok((edge, all))
}

/// `dir/patches.parquet`, or every `dir/*/patches.parquet`, sorted.
fn gathered_files(dir: &Path) -> Result<Vec<PathBuf>, StageError> {
    if dir.join(PATCHES_FILE).is_file() {
        return Ok(vec![dir.join(PATCHES_FILE)]);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| StageError(format!("{}: cannot list: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path().join(PATCHES_FILE)).filter(|f| f.is_file()).collect();
    files.sort();
    if files.is_empty() {
        return Err(StageError(format!("{}: no {PATCHES_FILE} found", dir.display())));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(centre: [i32; 3], value: f32) -> Patch {
        Patch { centre, voxels: vec![value; 8] }
    }

    #[test]
    fn patches_round_trip_and_gather_from_patient_folders() {
        let dir = std::env::temp_dir().join(format!("lf-patch-table-{}", std::process::id()));
        for (id, v) in [("b", 0.5), ("a", -0.5)] {
            std::fs::create_dir_all(dir.join(id)).unwrap();
            write_patches(&dir.join(id).join(PATCHES_FILE), id, 2, &[patch([1, 2, 3], v), patch([4, 5, 6], v)]).unwrap();
        }
        let back = read_patches(&dir.join("a").join(PATCHES_FILE)).unwrap();
        assert_eq!(back, vec![("a".to_owned(), patch([1, 2, 3], -0.5)), ("a".to_owned(), patch([4, 5, 6], -0.5))]);
        let (edge, all) = read_gathered(&dir).unwrap();
        assert_eq!(edge, 2);
        assert_eq!(all.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["a", "a", "b", "b"]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_empty_gathered_input_is_an_error_naming_the_folder() {
        let dir = std::env::temp_dir().join(format!("lf-patch-empty-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("p1")).unwrap();
        let err = read_gathered(&dir).unwrap_err();
        assert!(err.0.contains(&format!("{}: no patches.parquet found", dir.display())), "{err}");
        write_patches(&dir.join("p1").join(PATCHES_FILE), "p1", 2, &[]).unwrap();
        let err = read_gathered(&dir).unwrap_err();
        assert!(err.0.contains("hold no patches"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
