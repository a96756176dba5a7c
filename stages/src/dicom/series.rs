//! Reading one patient's DICOM folder into a Hounsfield-unit volume.
//!
//! Rules (each threshold is a field of [`IngestOptions`] or a documented
//! constant of [`read`](super::read), [`guard`](super::guard) or
//! [`header`](super::header)):
//! - every file in the folder is read (hidden files skipped) on the reader
//!   threads, whose stack is known; a file that is not DICOM, is oversized,
//!   truncated, nested too deep, lies about a length, inflates too far, lacks
//!   a required tag or breaks a sanity rule of [`header`](super::header)
//!   (orientation, pixel spacing, rescale, pixel data size) is an error
//!   naming it and the reason;
//! - files are grouped by SeriesInstanceUID and one series is picked: CT,
//!   axial (|slice normal · z| > 0.9), most slices, ties to the smallest UID;
//!   `series_uid` overrides the rule; every file left out (another series, or
//!   a UID that is not a valid UID, as a corrupt one) is listed in
//!   [`Ingested::excluded`] with the reason, which `hu_volume` logs;
//! - the slice spacing (median gap, or SliceThickness for one slice) must lie
//!   within [`SPACING_MM`];
//! - slices are sorted by position along the slice normal (never by file name);
//! - a gantry tilt (slice positions not stacked along the normal) and uneven
//!   or duplicate slice positions are refused with the measured angle or gaps;
//! - HU = stored × RescaleSlope + RescaleIntercept; the PixelPaddingValue and
//!   anything below `out_of_field_hu` become air (`air_hu`).

use std::path::{Path, PathBuf};

use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use rayon::prelude::*;

use super::header::{SPACING_MM, header_of_object};
pub use super::header::{SliceHeader, read_header};
use super::read::{Checked, err, no_panic, on_reader_stack, parse, read_checked};
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

/// The series the rule picks.
pub struct Selected {
    /// Its headers, sorted along the slice normal.
    pub slices: Vec<SliceHeader>,
    /// The slice spacing, mm.
    pub spacing: f64,
    /// Files of the folder left out, with the reason.
    pub excluded: Vec<(PathBuf, String)>,
}

/// Whether `uid` is a valid DICOM UID (digits and dots, at most 64 characters).
pub fn valid_uid(uid: &str) -> bool {
    (1..=64).contains(&uid.len()) && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Picks the series by the rule, sorts it and checks its stacking; every
/// other file is listed in [`Selected::excluded`] with why.
pub fn select_series(headers: Vec<SliceHeader>, dir: &Path, opts: &IngestOptions) -> Result<Selected, StageError> {
    let mut groups: std::collections::BTreeMap<String, Vec<SliceHeader>> = Default::default();
    for h in headers {
        groups.entry(h.series_uid.clone()).or_default().push(h);
    }
    let chosen = pick_series(&groups, dir, opts)?;
    let mut slices = groups.remove(&chosen).expect("chosen series exists");
    let mut excluded = Vec::new();
    for (uid, others) in groups {
        let invalid = if valid_uid(&uid) { "" } else { "; its SeriesInstanceUID is not a valid UID (corrupt?)" };
        for h in others {
            let reason = format!("series {uid:?} ({}) is not the chosen series {chosen}{invalid}", h.modality);
            excluded.push((h.path, reason));
        }
    }
    excluded.sort();
    check_consistent(&slices)?;
    let normal = slices[0].normal();
    let along = |h: &SliceHeader| dot(h.position, normal);
    slices.sort_by(|a, b| along(a).total_cmp(&along(b)));
    let spacing = check_stacking(&slices, dir, opts)?;
    Ok(Selected { slices, spacing, excluded })
}

/// The UID of the series the rule (or `series_uid`) picks.
fn pick_series(
    groups: &std::collections::BTreeMap<String, Vec<SliceHeader>>,
    dir: &Path,
    opts: &IngestOptions,
) -> Result<String, StageError> {
    if !opts.series_uid.is_empty() {
        if groups.contains_key(&opts.series_uid) {
            return Ok(opts.series_uid.clone());
        }
        return Err(err(dir, format!("no series {} (found: {:?})", opts.series_uid, groups.keys().collect::<Vec<_>>())));
    }
    let mut why_not = Vec::new();
    let mut best: Option<(&String, usize)> = None;
    for (uid, slices) in groups {
        let first = &slices[0];
        if first.modality != "CT" {
            why_not.push(format!("series {uid} is {} (not CT)", first.modality));
            continue;
        }
        if first.normal()[2].abs() <= 0.9 {
            why_not.push(format!("series {uid} is not axial (normal {:?})", first.normal()));
            continue;
        }
        if best.is_none_or(|(_, n)| slices.len() > n) {
            best = Some((uid, slices.len()));
        }
    }
    best.map(|(uid, _)| uid.clone()).ok_or_else(|| err(dir, format!("no axial CT series: {}", why_not.join("; "))))
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
    let spacing = if slices.len() < 2 { slices[0].slice_thickness.filter(|t| *t > 0.0).unwrap_or(1.0) } else { gap(slices, dir, opts)? };
    if !SPACING_MM.contains(&spacing) {
        return Err(err(dir, format!("slice spacing {spacing} mm is outside {SPACING_MM:?} mm")));
    }
    Ok(spacing)
}

/// The even gap between slices stacked along their normal.
fn gap(slices: &[SliceHeader], dir: &Path, opts: &IngestOptions) -> Result<f64, StageError> {
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
    on_reader_stack(|| {
        let checked = read_checked(&h.path)?;
        if blake3::hash(&checked.bytes).to_hex().as_str() != h.blake3 {
            return Err(err(&h.path, "the file changed while it was being read"));
        }
        decode_checked(h, &checked, opts)
    })
}

/// [`decode_hu`] of a file already read and checked (on the reader pool).
pub fn decode_checked(h: &SliceHeader, checked: &Checked, opts: &IngestOptions) -> Result<Vec<i16>, StageError> {
    on_reader_stack(|| decode_parsed(h, &parse(&h.path, checked, None)?, checked, opts))
}

fn decode_parsed(
    h: &SliceHeader,
    obj: &dicom::object::DefaultDicomObject,
    checked: &Checked,
    opts: &IngestOptions,
) -> Result<Vec<i16>, StageError> {
    let full = header_of_object(&h.path, obj, checked)?;
    if (full.rows, full.columns, full.slope, full.intercept, full.padding) != (h.rows, h.columns, h.slope, h.intercept, h.padding) {
        return Err(err(&h.path, "elements after Pixel Data contradict the header before it"));
    }
    let raw = no_panic(&h.path, "the pixel data decoder", || stored_values(h, obj))?;
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

/// The stored pixel values of one grey-scale frame.
fn stored_values(h: &SliceHeader, obj: &dicom::object::DefaultDicomObject) -> Result<Vec<i64>, StageError> {
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_owned();
    if ts == RLE_LOSSLESS {
        check_rle(obj).map_err(|reason| err(&h.path, reason))?;
    }
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
    decoded
        .to_vec_with_options(&ConvertOptions::new().with_modality_lut(ModalityLutOption::None))
        .map_err(|e| err(&h.path, format!("cannot convert pixel data: {e}")))
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// What dicom-rs's RLE decoder trusts without checking (found by the fuzz
/// target: a segment count of 1.4 billion made it allocate 5.5 GB): one
/// fragment per frame, each opening with the 64-byte RLE header whose
/// segment count is 1 to 15 (PS3.5 annex G).
fn check_rle(obj: &dicom::object::DefaultDicomObject) -> Result<(), String> {
    let pixel_data = obj.element(dicom::dictionary_std::tags::PIXEL_DATA).map_err(|e| format!("no Pixel Data: {e}"))?;
    let fragments = pixel_data.value().fragments().ok_or("RLE Pixel Data is not encapsulated")?;
    let frames = obj.element_opt(dicom::dictionary_std::tags::NUMBER_OF_FRAMES).ok().flatten().map_or(Ok(1), |e| e.to_int::<usize>());
    if frames.as_ref().ok() != Some(&fragments.len()) {
        return Err(format!("RLE Pixel Data holds {} fragments for {frames:?} frames (one per frame expected)", fragments.len()));
    }
    for (i, f) in fragments.iter().enumerate() {
        let segments = f.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if f.len() < 64 || !segments.is_some_and(|n| (1..=15).contains(&n)) {
            return Err(format!("RLE fragment {i} has no valid 64-byte header (segment count {segments:?}, 1 to 15 expected)"));
        }
    }
    Ok(())
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
        RLE_LOSSLESS => "RLE lossless",
        _ => "unknown",
    }
}

/// The ingest result: the volume and the sorted source slices.
pub struct Ingested {
    /// HU volume.
    pub volume: Volume,
    /// Headers of the slices, in volume order.
    pub slices: Vec<SliceHeader>,
    /// Files of the folder left out, with the reason.
    pub excluded: Vec<(PathBuf, String)>,
}

/// Reads a patient folder into an HU volume.
pub fn ingest(dir: &Path, patient_id: Option<&str>, opts: &IngestOptions) -> Result<Ingested, StageError> {
    let files = list_files(dir)?;
    let headers = on_reader_stack(|| files.par_iter().map(|f| read_header(f)).collect::<Result<Vec<_>, _>>())?;
    let Selected { slices, spacing, excluded } = select_series(headers, dir, opts)?;
    let planes = on_reader_stack(|| slices.par_iter().map(|h| decode_hu(h, opts)).collect::<Result<Vec<_>, _>>())?;
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
    Ok(Ingested { volume: Volume { meta, data }, slices, excluded })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::testdata::slice;

    #[test]
    fn a_slice_of_another_series_or_a_corrupt_uid_is_listed_with_the_reason() {
        let dir = lungflow_testkit::scratch("series");
        for k in 0..4 {
            slice(&dir, &format!("s{k}.dcm"), "1.2.3.1", k as f64 * 2.5);
        }
        slice(&dir, "corrupt.dcm", "1.2.3.\u{7f}1", 10.0);
        slice(&dir, "other.dcm", "1.2.3.2", 0.0);
        let got = ingest(&dir, None, &IngestOptions::default()).unwrap();
        assert_eq!(got.volume.meta.shape, [4, 16, 16]);
        let excluded: Vec<(String, &str)> =
            got.excluded.iter().map(|(p, r)| (p.file_name().unwrap().to_string_lossy().into(), r.as_str())).collect();
        assert_eq!(excluded.len(), 2, "{excluded:?}");
        assert_eq!(excluded[0].0, "corrupt.dcm");
        assert!(excluded[0].1.contains("is not the chosen series 1.2.3.1") && excluded[0].1.contains("not a valid UID"), "{excluded:?}");
        assert_eq!(excluded[1].0, "other.dcm");
        assert!(excluded[1].1.contains("series \"1.2.3.2\" (CT) is not the chosen series 1.2.3.1"), "{excluded:?}");
    }

    #[test]
    fn a_deflated_series_reads_like_its_explicit_original() {
        let (plain, packed) = (lungflow_testkit::scratch("series"), lungflow_testkit::scratch("series"));
        for k in 0..3 {
            let f = slice(&plain, &format!("s{k}.dcm"), "1.2.3.1", k as f64 * 2.5);
            std::fs::write(packed.join(format!("s{k}.dcm")), lungflow_testkit::dicom::deflated(&std::fs::read(f).unwrap())).unwrap();
        }
        let (a, b) = (ingest(&plain, None, &IngestOptions::default()).unwrap(), ingest(&packed, None, &IngestOptions::default()).unwrap());
        assert_eq!(a.volume.data, b.volume.data);
        assert_eq!(a.volume.meta.spacing_mm, b.volume.meta.spacing_mm);
        assert!(a.volume.data.contains(&150) && a.volume.data.contains(&-1000));
    }

    #[test]
    fn a_slice_spacing_outside_the_range_is_refused() {
        let dir = lungflow_testkit::scratch("series");
        for k in 0..3 {
            slice(&dir, &format!("s{k}.dcm"), "1.2.3.1", k as f64 * 60.0);
        }
        let e = ingest(&dir, None, &IngestOptions::default()).err().unwrap().0;
        assert!(e.contains("slice spacing 60 mm is outside 0.05..=50.0 mm"), "{e}");
    }

    #[test]
    fn every_real_slice_passes_the_guard_and_the_sanity_rules() {
        let data = lungflow_testkit::ct_data();
        let mut read = 0;
        for folder in [
            "chest/Lung_Dx-A0001",
            "chest/LIDC-IDRI-0001",
            "chest/LIDC-IDRI-0002",
            "chest/ct-3slice",
            "syntaxes",
            "oddities/ge-head-gantry-tilt",
        ] {
            for f in list_files(&data.join(folder)).unwrap() {
                read_header(&f).unwrap_or_else(|e| panic!("{e}"));
                read += 1;
            }
        }
        assert!(read > 100, "{read}");
        let hu = |name: &str| decode_hu(&read_header(&data.join("syntaxes").join(name)).unwrap(), &IngestOptions::default()).unwrap();
        assert_eq!(hu("CT1_RLE.dcm"), hu("CT1_UNC.dcm"), "RLE decodes exactly, through the RLE header check");
        for patient in ["Lung_Dx-A0001", "LIDC-IDRI-0001", "LIDC-IDRI-0002", "ct-3slice"] {
            let got = ingest(&data.join("chest").join(patient), None, &IngestOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            assert!(got.excluded.is_empty(), "{patient}: {:?}", got.excluded);
        }
    }
}
