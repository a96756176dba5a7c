//! CT volumes and masks in memory, and their Arrow IPC files.
//!
//! A file holds one row per axial slice: `z` (int32) and `hu`
//! (`FixedSizeList<Int16>` of rows*cols, row-major y then x) or `mask`
//! (`FixedSizeList<UInt8>`). The schema metadata key `lungflow` holds JSON
//! with `spacing_mm` `[z,y,x]`, `origin_mm` `[x,y,z]`, `shape` `[z,y,x]`,
//! `patient_id` and `series_uid`.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow_array::types::{Int16Type, UInt8Type};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, FixedSizeListArray, Int32Array, PrimitiveArray, RecordBatch};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::StageError;

/// Slices written per Arrow record batch (bounds the extra memory of writing).
const SLICES_PER_BATCH: usize = 8;

/// Where a volume sits and what it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeMeta {
    /// Voxel spacing [z, y, x] in mm.
    pub spacing_mm: [f64; 3],
    /// Patient-space position [x, y, z] in mm of the first voxel.
    pub origin_mm: [f64; 3],
    /// Number of voxels [z, y, x].
    pub shape: [usize; 3],
    /// Patient id.
    pub patient_id: String,
    /// SeriesInstanceUID of the source series.
    pub series_uid: String,
}

impl VolumeMeta {
    /// Voxels in the volume.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the volume holds no voxel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Volume of one voxel in mm³.
    pub fn voxel_mm3(&self) -> f64 {
        self.spacing_mm.iter().product()
    }
}

/// A 3-D grid of values, z-major (then y, then x).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid<T> {
    /// Geometry and provenance.
    pub meta: VolumeMeta,
    /// `shape[0] * shape[1] * shape[2]` values.
    pub data: Vec<T>,
}

/// Hounsfield units.
pub type Volume = Grid<i16>;
/// 1 inside, 0 outside.
pub type Mask = Grid<u8>;

impl<T: Copy> Grid<T> {
    /// Index of voxel (z, y, x).
    #[inline]
    pub fn index(&self, z: usize, y: usize, x: usize) -> usize {
        (z * self.meta.shape[1] + y) * self.meta.shape[2] + x
    }

    /// One axial slice.
    pub fn slice(&self, z: usize) -> &[T] {
        let n = self.meta.shape[1] * self.meta.shape[2];
        &self.data[z * n..(z + 1) * n]
    }
}

/// Writes HU values as `volume.arrow`-style IPC.
pub fn write_volume(path: &Path, v: &Volume) -> Result<(), StageError> {
    write_grid::<Int16Type>(path, "hu", &v.meta, &v.data)
}

/// Writes a mask as IPC with a `mask` column.
pub fn write_mask(path: &Path, m: &Mask) -> Result<(), StageError> {
    write_grid::<UInt8Type>(path, "mask", &m.meta, &m.data)
}

/// Reads a HU volume file.
pub fn read_volume(path: &Path) -> Result<Volume, StageError> {
    read_grid::<Int16Type>(path, "hu")
}

/// Reads a mask file.
pub fn read_mask(path: &Path) -> Result<Mask, StageError> {
    read_grid::<UInt8Type>(path, "mask")
}

fn write_grid<T: ArrowPrimitiveType>(
    path: &Path,
    column: &str,
    meta: &VolumeMeta,
    data: &[T::Native],
) -> Result<(), StageError> {
    if data.len() != meta.len() {
        return Err(StageError(format!("cannot write {}: {} values for shape {:?}", path.display(), data.len(), meta.shape)));
    }
    let json = serde_json::to_string(meta).map_err(|e| StageError(format!("cannot write {}: {e}", path.display())))?;
    write_rows::<T>(path, column, &json, meta.shape[1] * meta.shape[2], data)
}

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
        vec![
            Field::new("z", DataType::Int32, false),
            Field::new(column, DataType::FixedSizeList(item.clone(), row_len as i32), false),
        ],
        HashMap::from([("lungflow".to_owned(), metadata.to_owned())]),
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

fn read_grid<T: ArrowPrimitiveType>(path: &Path, column: &str) -> Result<Grid<T::Native>, StageError> {
    let (meta_json, data) = read_rows::<T>(path, column)?;
    let meta: VolumeMeta = serde_json::from_str(&meta_json).map_err(|e| StageError(format!("cannot read {}: {e}", path.display())))?;
    if data.len() != meta.len() {
        return Err(StageError(format!("cannot read {}: {} values for shape {:?}", path.display(), data.len(), meta.shape)));
    }
    Ok(Grid { meta, data })
}

/// Reads a file written by [`write_rows`]: its `lungflow` metadata and every
/// row's values, concatenated.
pub fn read_rows<T: ArrowPrimitiveType>(path: &Path, column: &str) -> Result<(String, Vec<T::Native>), StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = File::open(path).map_err(|e| fail(&e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| fail(&format!("not an Arrow IPC file ({e})")))?;
    let schema = reader.schema();
    let meta_json = schema.metadata().get("lungflow").ok_or_else(|| fail(&"no `lungflow` metadata"))?.clone();
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
        let offset = list.offset() * list.value_length() as usize;
        data.extend_from_slice(&values.values()[offset..offset + list.len() * list.value_length() as usize]);
    }
    Ok((meta_json, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_and_mask_round_trip() {
        let meta = VolumeMeta {
            spacing_mm: [2.5, 0.7, 0.7],
            origin_mm: [-10.0, 5.0, 100.0],
            shape: [11, 3, 4],
            patient_id: "p1".into(),
            series_uid: "1.2.3".into(),
        };
        let v = Volume { meta: meta.clone(), data: (0..132).map(|i| i as i16 * 37 - 2000).collect() };
        let m = Mask { meta, data: (0..132).map(|i| (i % 3 == 0) as u8).collect() };
        let dir = std::env::temp_dir().join(format!("lf-volume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_volume(&dir.join("v.arrow"), &v).unwrap();
        write_mask(&dir.join("m.arrow"), &m).unwrap();
        assert_eq!(read_volume(&dir.join("v.arrow")).unwrap(), v);
        assert_eq!(read_mask(&dir.join("m.arrow")).unwrap(), m);
        assert!(read_mask(&dir.join("v.arrow")).is_err(), "a volume is not a mask");
        std::fs::remove_dir_all(dir).ok();
    }
}
