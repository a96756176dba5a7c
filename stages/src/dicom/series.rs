//! Reading one patient's DICOM folder into a Hounsfield-unit volume.
//!
//! Rules (each threshold is a field of [`IngestOptions`]):
//! - every file in the folder is read (hidden files skipped); a file that is
//!   not DICOM, is truncated or lacks a required tag is an error naming it;
//! - files are grouped by SeriesInstanceUID and one series is picked: CT,
//!   axial (|slice normal · z| > 0.9), most slices, ties to the smallest UID;
//!   `series_uid` overrides the rule;
//! - slices are sorted by position along the slice normal (never by file name);
//! - a gantry tilt (slice positions not stacked along the normal) and uneven
//!   or duplicate slice positions are refused with the measured angle or gaps;
//! - HU = stored × RescaleSlope + RescaleIntercept; the PixelPaddingValue and
//!   anything below `out_of_field_hu` become air (`air_hu`).

use std::path::{Path, PathBuf};

use dicom::dictionary_std::tags;
use dicom::object::file::ReadPreamble;
use dicom::object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use rayon::prelude::*;

use crate::StageError;
use crate::formats::volume::{Volume, VolumeMeta};

/// Thresholds of the ingest rules.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Pick this series instead of applying the rule ("" applies the rule).
    pub series_uid: String,
    /// HU below this are outside the scanner's field of view.
    pub out_of_field_hu: f64,
    /// The value padding and out-of-field voxels get.
    pub air_hu: i16,
    /// Largest relative deviation of a slice gap from the median gap.
    pub spacing_tolerance: f64,
    /// Largest angle in degrees between the stacking direction and the normal.
    pub max_tilt_degrees: f64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { series_uid: String::new(), out_of_field_hu: -1100.0, air_hu: -1000, spacing_tolerance: 0.01, max_tilt_degrees: 0.5 }
    }
}

/// What the ingest needs from one file's header.
#[derive(Clone, Debug)]
pub struct SliceHeader {
    /// The file.
    pub path: PathBuf,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// SOPInstanceUID.
    pub sop_uid: String,
    /// PatientID (may be empty).
    pub patient_id: String,
    /// Modality.
    pub modality: String,
    /// ImageOrientationPatient: row then column direction cosines.
    pub orientation: [f64; 6],
    /// ImagePositionPatient of the first pixel, mm.
    pub position: [f64; 3],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub columns: usize,
    /// PixelSpacing: row spacing (y), column spacing (x), mm.
    pub pixel_spacing: [f64; 2],
    /// RescaleSlope.
    pub slope: f64,
    /// RescaleIntercept.
    pub intercept: f64,
    /// PixelPaddingValue, if present, as a value of the stored pixel type.
    pub padding: Option<i64>,
    /// SliceThickness, if present (the spacing of a single-slice series).
    pub slice_thickness: Option<f64>,
    /// File size in bytes.
    pub size: u64,
    /// blake3 of the file, hex.
    pub blake3: String,
}

impl SliceHeader {
    /// The slice normal: row cosines × column cosines.
    pub fn normal(&self) -> [f64; 3] {
        let o = &self.orientation;
        let n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        [n[0] / len, n[1] / len, n[2] / len]
    }
}

fn err(path: &Path, reason: impl std::fmt::Display) -> StageError {
    StageError(format!("{}: {reason}", path.display()))
}

/// Reads a whole file and checks its structure before parsing it.
fn read_checked(path: &Path) -> Result<Vec<u8>, StageError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    super::guard::check(&bytes).map_err(|reason| err(path, reason))?;
    Ok(bytes)
}

/// Parses a checked file, up to (not including) `until` when given.
fn parse(path: &Path, bytes: &[u8], until: Option<dicom::core::Tag>) -> Result<DefaultDicomObject, StageError> {
    let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Always);
    if let Some(tag) = until {
        options = options.read_until(tag);
    }
    options.from_reader(bytes).map_err(|e| err(path, format!("not a readable DICOM file ({e})")))
}

/// Reads the header fields the ingest needs.
pub fn read_header(path: &Path) -> Result<SliceHeader, StageError> {
    let bytes = read_checked(path)?;
    let obj = parse(path, &bytes, Some(tags::PIXEL_DATA))?;
    let text = |tag, name: &str| -> Result<String, StageError> {
        obj.element(tag)
            .map_err(|_| err(path, format!("missing {name}")))?
            .to_str()
            .map(|s| s.trim().to_owned())
            .map_err(|e| err(path, format!("unreadable {name}: {e}")))
    };
    let floats = |tag, name: &str, n: usize| -> Result<Vec<f64>, StageError> {
        let v = obj
            .element(tag)
            .map_err(|_| err(path, format!("missing {name}")))?
            .to_multi_float64()
            .map_err(|e| err(path, format!("unreadable {name}: {e}")))?;
        if v.len() != n || v.iter().any(|x| !x.is_finite()) {
            return Err(err(path, format!("{name} must hold {n} finite numbers, found {v:?}")));
        }
        Ok(v)
    };
    let int = |tag, name: &str| -> Result<i64, StageError> {
        obj.element(tag)
            .map_err(|_| err(path, format!("missing {name}")))?
            .to_int::<i64>()
            .map_err(|e| err(path, format!("unreadable {name}: {e}")))
    };
    let modality = text(tags::MODALITY, "Modality")?;
    let series_uid = text(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?;
    let sop_uid = text(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?;
    let patient_id = text(tags::PATIENT_ID, "PatientID").unwrap_or_default();
    let o = floats(tags::IMAGE_ORIENTATION_PATIENT, "ImageOrientationPatient", 6)?;
    let p = floats(tags::IMAGE_POSITION_PATIENT, "ImagePositionPatient", 3)?;
    let rows = int(tags::ROWS, "Rows")?;
    let columns = int(tags::COLUMNS, "Columns")?;
    if !(1..=65535).contains(&rows) || !(1..=65535).contains(&columns) {
        return Err(err(path, format!("implausible image size {rows} x {columns}")));
    }
    let ps = floats(tags::PIXEL_SPACING, "PixelSpacing", 2)?;
    if ps.iter().any(|&s| s <= 0.0) {
        return Err(err(path, format!("PixelSpacing must be positive, found {ps:?}")));
    }
    let slope = floats(tags::RESCALE_SLOPE, "RescaleSlope", 1)?[0];
    let intercept = floats(tags::RESCALE_INTERCEPT, "RescaleIntercept", 1)?[0];
    let signed = int(tags::PIXEL_REPRESENTATION, "PixelRepresentation").unwrap_or(0) == 1;
    let bits = int(tags::BITS_ALLOCATED, "BitsAllocated").unwrap_or(16).clamp(1, 32);
    let padding = match obj.element_opt(tags::PIXEL_PADDING_VALUE) {
        Ok(Some(e)) => {
            let raw = e.to_int::<i64>().map_err(|e| err(path, format!("unreadable PixelPaddingValue: {e}")))?;
            // Often written as US even for signed pixels (63536 meaning -2000).
            Some(if signed && raw >= 1 << (bits - 1) { raw - (1 << bits) } else { raw })
        }
        _ => None,
    };
    let slice_thickness = obj.element_opt(tags::SLICE_THICKNESS).ok().flatten().and_then(|e| e.to_float64().ok());
    Ok(SliceHeader {
        path: path.to_path_buf(),
        series_uid,
        sop_uid,
        patient_id,
        modality,
        orientation: [o[0], o[1], o[2], o[3], o[4], o[5]],
        position: [p[0], p[1], p[2]],
        rows: rows as usize,
        columns: columns as usize,
        pixel_spacing: [ps[0], ps[1]],
        slope,
        intercept,
        padding,
        slice_thickness,
        size: bytes.len() as u64,
        blake3: blake3::hash(&bytes).to_hex().to_string(),
    })
}

/// Every non-hidden regular file in `dir`, sorted by name (order does not
/// matter for the result; sorting makes error messages reproducible).
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, StageError> {
    let entries = std::fs::read_dir(dir).map_err(|e| err(dir, format!("cannot list folder: {e}")))?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| err(dir, format!("cannot list folder: {e}")))?;
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if !hidden && e.path().is_file() {
            files.push(e.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(err(dir, "the folder holds no files"));
    }
    Ok(files)
}

/// The series the rule picks, as headers sorted along the slice normal, with
/// the slice spacing.
pub fn select_series(headers: Vec<SliceHeader>, dir: &Path, opts: &IngestOptions) -> Result<(Vec<SliceHeader>, f64), StageError> {
    let mut groups: std::collections::BTreeMap<String, Vec<SliceHeader>> = Default::default();
    for h in headers {
        groups.entry(h.series_uid.clone()).or_default().push(h);
    }
    let chosen = if opts.series_uid.is_empty() {
        let mut why_not = Vec::new();
        let mut best: Option<(String, usize)> = None;
        for (uid, slices) in &groups {
            let first = &slices[0];
            if first.modality != "CT" {
                why_not.push(format!("series {uid} is {} (not CT)", first.modality));
                continue;
            }
            if first.normal()[2].abs() <= 0.9 {
                why_not.push(format!("series {uid} is not axial (normal {:?})", first.normal()));
                continue;
            }
            if best.as_ref().is_none_or(|(_, n)| slices.len() > *n) {
                best = Some((uid.clone(), slices.len()));
            }
        }
        best.map(|(uid, _)| uid).ok_or_else(|| err(dir, format!("no axial CT series: {}", why_not.join("; "))))?
    } else if groups.contains_key(&opts.series_uid) {
        opts.series_uid.clone()
    } else {
        return Err(err(dir, format!("no series {} (found: {:?})", opts.series_uid, groups.keys().collect::<Vec<_>>())));
    };
    let mut slices = groups.remove(&chosen).expect("chosen series exists");
    check_consistent(&slices)?;
    let normal = slices[0].normal();
    let along = |h: &SliceHeader| dot(h.position, normal);
    slices.sort_by(|a, b| along(a).total_cmp(&along(b)));
    let spacing = check_stacking(&slices, dir, opts)?;
    Ok((slices, spacing))
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Every slice of a series must share size, pixel spacing and orientation.
fn check_consistent(slices: &[SliceHeader]) -> Result<(), StageError> {
    let first = &slices[0];
    for s in &slices[1..] {
        if (s.rows, s.columns) != (first.rows, first.columns) {
            return Err(err(
                &s.path,
                format!("image size {}x{} differs from {}x{} in {}", s.rows, s.columns, first.rows, first.columns, first.path.display()),
            ));
        }
        if s.pixel_spacing.iter().zip(first.pixel_spacing).any(|(a, b)| (a - b).abs() > 1e-4) {
            return Err(err(
                &s.path,
                format!("PixelSpacing {:?} differs from {:?} in {}", s.pixel_spacing, first.pixel_spacing, first.path.display()),
            ));
        }
        if s.orientation.iter().zip(first.orientation).any(|(a, b)| (a - b).abs() > 1e-4) {
            return Err(err(&s.path, format!("ImageOrientationPatient differs from {}", first.path.display())));
        }
    }
    Ok(())
}

/// Checks that sorted slices are stacked along their normal at an even
/// spacing; returns the spacing (SliceThickness, else 1 mm, for one slice).
fn check_stacking(slices: &[SliceHeader], dir: &Path, opts: &IngestOptions) -> Result<f64, StageError> {
    if slices.len() < 2 {
        return Ok(slices[0].slice_thickness.filter(|t| *t > 0.0).unwrap_or(1.0));
    }
    let normal = slices[0].normal();
    let (first, last) = (slices[0].position, slices[slices.len() - 1].position);
    let span = [last[0] - first[0], last[1] - first[1], last[2] - first[2]];
    let length = dot(span, span).sqrt();
    if length > 0.0 {
        let cos = (dot(span, normal) / length).abs().min(1.0);
        let angle = cos.acos().to_degrees();
        if angle > opts.max_tilt_degrees {
            return Err(err(
                dir,
                format!(
                    "gantry tilt: slices are stacked {angle:.2} degrees away from their normal; \
                 resampling a tilted series onto an axial grid is not supported, so it is refused rather than mis-stacked"
                ),
            ));
        }
    }
    let along: Vec<f64> = slices.iter().map(|s| dot(s.position, normal)).collect();
    let gaps: Vec<f64> = along.windows(2).map(|w| w[1] - w[0]).collect();
    if let Some(i) = gaps.iter().position(|&g| g < 1e-3) {
        return Err(err(
            dir,
            format!(
                "two slices at the same position ({:.3} mm): {} and {}",
                along[i],
                slices[i].path.display(),
                slices[i + 1].path.display()
            ),
        ));
    }
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let half = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) { (sorted[half - 1] + sorted[half]) / 2.0 } else { sorted[half] };
    let worst = gaps.iter().map(|g| (g - median).abs()).fold(0.0, f64::max);
    if worst > opts.spacing_tolerance * median + 1e-3 {
        return Err(err(
            dir,
            format!(
                "uneven slice spacing: gaps range from {:.3} to {:.3} mm (median {median:.3} mm); refusing rather than mis-stacking",
                sorted[0],
                sorted[sorted.len() - 1]
            ),
        ));
    }
    Ok(median)
}

/// Decodes one slice's pixel data into HU.
pub fn decode_hu(h: &SliceHeader, opts: &IngestOptions) -> Result<Vec<i16>, StageError> {
    let bytes = read_checked(&h.path)?;
    let obj = parse(&h.path, &bytes, None)?;
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_owned();
    let decoded = obj
        .decode_pixel_data()
        .map_err(|e| err(&h.path, format!("cannot decode pixel data in transfer syntax {ts} ({}): {e}", describe_syntax(&ts))))?;
    if decoded.samples_per_pixel() != 1 || decoded.number_of_frames() != 1 {
        return Err(err(
            &h.path,
            format!(
                "expected one grey-scale frame, found {} frames of {} samples",
                decoded.number_of_frames(),
                decoded.samples_per_pixel()
            ),
        ));
    }
    if (decoded.rows() as usize, decoded.columns() as usize) != (h.rows, h.columns) {
        return Err(err(&h.path, "decoded image size differs from Rows/Columns"));
    }
    let raw: Vec<i64> = decoded
        .to_vec_with_options(&ConvertOptions::new().with_modality_lut(ModalityLutOption::None))
        .map_err(|e| err(&h.path, format!("cannot convert pixel data: {e}")))?;
    Ok(raw
        .into_iter()
        .map(|stored| {
            if h.padding == Some(stored) {
                return opts.air_hu;
            }
            let hu = stored as f64 * h.slope + h.intercept;
            if hu < opts.out_of_field_hu { opts.air_hu } else { hu.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16 }
        })
        .collect())
}

/// A readable name for a transfer syntax UID, for error messages.
fn describe_syntax(uid: &str) -> &'static str {
    match uid {
        "1.2.840.10008.1.2" => "Implicit VR Little Endian",
        "1.2.840.10008.1.2.1" => "Explicit VR Little Endian",
        "1.2.840.10008.1.2.2" => "Explicit VR Big Endian",
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit VR Little Endian",
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => "JPEG baseline/extended",
        "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => "JPEG lossless",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS lossless (needs the C++ CharLS decoder, not built in)",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS near-lossless (needs the C++ CharLS decoder, not built in)",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.5" => "RLE lossless",
        _ => "unknown",
    }
}

/// The ingest result: the volume and the sorted source slices.
pub struct Ingested {
    /// HU volume.
    pub volume: Volume,
    /// Headers of the slices, in volume order.
    pub slices: Vec<SliceHeader>,
}

/// Reads a patient folder into an HU volume.
pub fn ingest(dir: &Path, patient_id: Option<&str>, opts: &IngestOptions) -> Result<Ingested, StageError> {
    let files = list_files(dir)?;
    let headers = files.par_iter().map(|f| read_header(f)).collect::<Result<Vec<_>, _>>()?;
    let (slices, spacing) = select_series(headers, dir, opts)?;
    let planes = slices.par_iter().map(|h| decode_hu(h, opts)).collect::<Result<Vec<_>, _>>()?;
    let first = &slices[0];
    let [x, y, z] = first.position;
    let meta = VolumeMeta {
        spacing_mm: [spacing, first.pixel_spacing[0], first.pixel_spacing[1]],
        origin_mm: [z, y, x],
        shape: [slices.len(), first.rows, first.columns],
        patient_id: patient_id.map(str::to_owned).unwrap_or_else(|| first.patient_id.clone()),
        series_uid: first.series_uid.clone(),
    };
    let mut data = Vec::with_capacity(meta.len());
    for p in planes {
        data.extend_from_slice(&p);
    }
    Ok(Ingested { volume: Volume { meta, data }, slices })
}
