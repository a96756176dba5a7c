//! The `hu_volume` kind: one patient's DICOM folder to a Hounsfield-unit
//! volume (`volume.arrow`) and the table of its source files
//! (`sources.parquet`: z, path, sop_instance_uid, size, blake3).

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray, UInt64Array};
use serde_json::json;

use crate::dicom_series::{IngestOptions, ingest};
use crate::params::{get_f64, get_i64, get_str, input_path};
use crate::table::write_parquet;
use crate::volume::write_volume;
use crate::{ParamSpec, ParamType, RunContext, StageError, StageKind};

/// The volume file every CT stage reads and writes.
pub const VOLUME_FILE: &str = "volume.arrow";
/// The source-file table of `hu_volume`.
pub const SOURCES_FILE: &str = "sources.parquet";

/// DICOM series to HU volume.
pub struct HuVolume;

impl StageKind for HuVolume {
    fn name(&self) -> &'static str {
        "hu_volume"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "reads one patient's DICOM folder (input `dicom`) into volume.arrow (HU) and sources.parquet"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let d = IngestOptions::default();
        vec![
            ParamSpec { name: "series_uid", ty: ParamType::Str, default: Some(json!(d.series_uid)), doc: "series to use; empty picks CT, axial, most slices" },
            ParamSpec { name: "out_of_field_hu", ty: ParamType::Float, default: Some(json!(d.out_of_field_hu)), doc: "HU below this are outside the field of view and become air" },
            ParamSpec { name: "air_hu", ty: ParamType::Int, default: Some(json!(d.air_hu)), doc: "value for padding and out-of-field voxels" },
            ParamSpec { name: "spacing_tolerance", ty: ParamType::Float, default: Some(json!(d.spacing_tolerance)), doc: "largest relative deviation of a slice gap from the median" },
            ParamSpec { name: "max_tilt_degrees", ty: ParamType::Float, default: Some(json!(d.max_tilt_degrees)), doc: "largest gantry tilt accepted (tilted series are refused)" },
        ]
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let dir = input_path(ctx, "dicom")?;
        let opts = IngestOptions {
            series_uid: get_str(ctx.params, "series_uid")?.to_owned(),
            out_of_field_hu: get_f64(ctx.params, "out_of_field_hu")?,
            air_hu: i16::try_from(get_i64(ctx.params, "air_hu")?).map_err(|_| StageError::msg("air_hu must fit in 16 bits"))?,
            spacing_tolerance: get_f64(ctx.params, "spacing_tolerance")?,
            max_tilt_degrees: get_f64(ctx.params, "max_tilt_degrees")?,
        };
        let ingested = ingest(dir, ctx.item, &opts)?;
        write_volume(&ctx.out_dir.join(VOLUME_FILE), &ingested.volume)?;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("z", Arc::new(Int32Array::from_iter_values(0..ingested.slices.len() as i32))),
            ("path", Arc::new(StringArray::from_iter_values(ingested.slices.iter().map(|s| s.path.display().to_string())))),
            ("sop_instance_uid", Arc::new(StringArray::from_iter_values(ingested.slices.iter().map(|s| s.sop_uid.clone())))),
            ("size", Arc::new(UInt64Array::from_iter_values(ingested.slices.iter().map(|s| s.size)))),
            ("blake3", Arc::new(StringArray::from_iter_values(ingested.slices.iter().map(|s| s.blake3.clone())))),
        ];
        let batch = RecordBatch::try_from_iter(columns).map_err(|e| StageError(format!("cannot build sources table: {e}")))?;
        write_parquet(&ctx.out_dir.join(SOURCES_FILE), &batch)
    }
}
