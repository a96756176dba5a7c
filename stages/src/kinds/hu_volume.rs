//! The `hu_volume` kind: one patient's DICOM folder (input `dicom`) to a
//! Hounsfield-unit volume (`volume.arrow`) and the table of its source files
//! (`sources.parquet`); the ingest rules are in [`dicom::series`](crate::dicom::series).
//! Files of the folder left out of the volume (another series, a corrupt
//! SeriesInstanceUID) are listed in the stage's log with the reason, as
//! warnings ([`WARNING`]), which `lungflow exec` prints.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::dicom::series::{IngestOptions, ingest};
use crate::formats::sources::{SOURCES_FILE, Source, write_sources};
use crate::formats::volume::{VOLUME_FILE, write_volume};
use crate::kind_params;
use crate::logs::WARNING;
use crate::params::input_path;
use crate::{ParamSpec, RunContext, StageError, StageKind};

kind_params! {
    /// The parameters of `hu_volume`.
    pub struct Params {
        /// series to use; empty picks CT, axial, most slices
        series_uid: String = IngestOptions::default().series_uid,
        /// HU below this are outside the field of view and become air
        #[range(crate::params::HU)]
        out_of_field_hu: f64 = IngestOptions::default().out_of_field_hu,
        /// value for padding and out-of-field voxels
        #[range(-32768..=32767)]
        air_hu: i64 = IngestOptions::default().air_hu,
        /// largest relative deviation of a slice gap from the median
        #[range(0.0..=1.0)]
        spacing_tolerance: f64 = IngestOptions::default().spacing_tolerance,
        /// largest gantry tilt accepted (tilted series are refused)
        #[range(0.0..=45.0)]
        max_tilt_degrees: f64 = IngestOptions::default().max_tilt_degrees,
    }
}

/// DICOM series to HU volume.
pub struct HuVolume;

impl StageKind for HuVolume {
    fn name(&self) -> &'static str {
        "hu_volume"
    }

    /// 2: volume files version 2 (`origin_mm` as `[z, y, x]`); 3:
    /// zstd-compressed files (issue 31; the same values).
    fn version(&self) -> u32 {
        3
    }

    fn doc(&self) -> &'static str {
        "reads one patient's DICOM folder (input `dicom`) into volume.arrow (HU) and sources.parquet"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let _heap = crate::models::heap::ReuseFreedMemory::start();
        let p = Params::parse(ctx.params)?;
        let opts = IngestOptions {
            air_hu: i16::try_from(p.air_hu).map_err(|_| StageError::msg("air_hu must fit in 16 bits"))?,
            series_uid: p.series_uid,
            out_of_field_hu: p.out_of_field_hu,
            spacing_tolerance: p.spacing_tolerance,
            max_tilt_degrees: p.max_tilt_degrees,
        };
        let dir = input_path(ctx, "dicom")?;
        let ingested = ingest(dir, ctx.item, &opts)?;
        log_excluded(ctx, dir, &ingested.excluded)?;
        write_volume(&ctx.out_dir.join(VOLUME_FILE), &ingested.volume)?;
        let sources: Vec<Source<'_>> = ingested
            .slices
            .iter()
            .map(|s| Source {
                path: s.path.strip_prefix(dir).unwrap_or(&s.path),
                sop_instance_uid: &s.sop_uid,
                size: s.size,
                blake3: &s.blake3,
            })
            .collect();
        write_sources(&ctx.out_dir.join(SOURCES_FILE), "dicom", &sources)
    }
}

/// One warning line per file left out: its path in the folder and the reason.
fn log_excluded(ctx: &RunContext<'_>, dir: &Path, excluded: &[(PathBuf, String)]) -> Result<(), StageError> {
    let cannot = |e: std::io::Error| StageError(format!("cannot write log {}: {e}", ctx.log_path.display()));
    let mut log = std::fs::File::create(ctx.log_path).map_err(cannot)?;
    for (path, reason) in excluded {
        writeln!(log, "{WARNING}left out {}: {reason}", path.strip_prefix(dir).unwrap_or(path).display()).map_err(cannot)?;
    }
    Ok(())
}
