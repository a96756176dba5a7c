//! One slice's header: the fields the ingest needs, read through the safe
//! reader ([`read`](super::read)) and checked for sanity, so that a broken
//! file is an error naming it and the reason rather than a wrong volume.
//!
//! Sanity rules (limits are the constants below):
//! - ImageOrientationPatient: both direction vectors of unit length and
//!   orthogonal, within [`ORIENTATION_TOLERANCE`];
//! - PixelSpacing: both values within [`SPACING_MM`];
//! - RescaleSlope finite and non-zero with |slope| within [`SLOPE_RANGE`];
//!   |RescaleIntercept| at most [`MAX_ABS_INTERCEPT`];
//! - BitsAllocated 8 or 16, 1 <= BitsStored <= BitsAllocated, and HighBit
//!   = BitsStored - 1 (the only value with HighBit < BitsStored that places
//!   the stored bits inside the allocated ones, as DICOM requires);
//! - PhotometricInterpretation consistent with SamplesPerPixel (MONOCHROME1,
//!   MONOCHROME2 and PALETTE COLOR with 1, RGB, YBR_* and HSV with 3, ARGB
//!   and CMYK with 4), and monochrome: a colour slice is refused, since the
//!   ingest reads CT (when the element is absent or empty, SamplesPerPixel
//!   must be 1);
//! - native Pixel Data holds exactly Rows x Columns x SamplesPerPixel x
//!   BitsAllocated/8 x NumberOfFrames bytes (plus one pad byte when that is
//!   odd); compressed Pixel Data decodes to at most [`MAX_DECODED_BYTES`].

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use dicom::dictionary_std::tags;
use dicom::object::DefaultDicomObject;

use super::guard::PixelData;
use super::read::{Checked, check_bytes, err, on_reader_stack, parse, read_checked};
use crate::StageError;

/// Accepted pixel and slice spacing, mm.
pub const SPACING_MM: RangeInclusive<f64> = 0.05..=50.0;
/// Largest deviation of an orientation vector's length from 1, and of the
/// two vectors' dot product from 0.
pub const ORIENTATION_TOLERANCE: f64 = 1e-3;
/// Accepted |RescaleSlope|.
pub const SLOPE_RANGE: RangeInclusive<f64> = 1e-4..=1e4;
/// Largest accepted |RescaleIntercept|.
pub const MAX_ABS_INTERCEPT: f64 = 65536.0;
/// Largest decoded image of a compressed slice, bytes.
pub const MAX_DECODED_BYTES: u64 = 256 << 20;

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
    /// The slice normal: row cosines × column cosines (unit length: the
    /// orientation rule holds for every header read).
    pub fn normal(&self) -> [f64; 3] {
        let o = &self.orientation;
        let n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        [n[0] / len, n[1] / len, n[2] / len]
    }
}

/// Typed access to a parsed header, with errors naming the file.
struct Fields<'a> {
    obj: &'a DefaultDicomObject,
    path: &'a Path,
}

impl Fields<'_> {
    fn text(&self, tag: dicom::core::Tag, name: &str) -> Result<String, StageError> {
        let e = self.obj.element(tag).map_err(|_| err(self.path, format!("missing {name}")))?;
        e.to_str().map(|s| s.trim().to_owned()).map_err(|e| err(self.path, format!("unreadable {name}: {e}")))
    }
    fn floats(&self, tag: dicom::core::Tag, name: &str, n: usize) -> Result<Vec<f64>, StageError> {
        let e = self.obj.element(tag).map_err(|_| err(self.path, format!("missing {name}")))?;
        let v = e.to_multi_float64().map_err(|e| err(self.path, format!("unreadable {name}: {e}")))?;
        if v.len() != n || v.iter().any(|x| !x.is_finite()) {
            return Err(err(self.path, format!("{name} must hold {n} finite numbers, found {v:?}")));
        }
        Ok(v)
    }
    fn int(&self, tag: dicom::core::Tag, name: &str) -> Result<i64, StageError> {
        let e = self.obj.element(tag).map_err(|_| err(self.path, format!("missing {name}")))?;
        e.to_int::<i64>().map_err(|e| err(self.path, format!("unreadable {name}: {e}")))
    }
    fn int_or(&self, tag: dicom::core::Tag, name: &str, default: i64) -> Result<i64, StageError> {
        match self.obj.element_opt(tag) {
            Ok(Some(_)) => self.int(tag, name),
            _ => Ok(default),
        }
    }
}

/// Reads and checks the header fields the ingest needs (on the reader pool).
pub fn read_header(path: &Path) -> Result<SliceHeader, StageError> {
    on_reader_stack(|| header_checked(path, &read_checked(path)?))
}

/// [`read_header`] of bytes already in memory (`path` names them in
/// errors); also returns the checked file, for [`decode_checked`](super::series::decode_checked).
pub fn header_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<(SliceHeader, Checked), StageError> {
    on_reader_stack(|| {
        let checked = check_bytes(path, bytes)?;
        Ok((header_checked(path, &checked)?, checked))
    })
}

fn header_checked(path: &Path, checked: &Checked) -> Result<SliceHeader, StageError> {
    header_of_object(path, &parse(path, checked, Some(tags::PIXEL_DATA))?, checked)
}

/// The checked header of a parsed object (the whole file, when decoding: an
/// element after Pixel Data must not change what the header said).
pub(super) fn header_of_object(path: &Path, obj: &DefaultDicomObject, checked: &Checked) -> Result<SliceHeader, StageError> {
    header_of(path, &Fields { obj, path }, checked)
}

fn header_of(path: &Path, f: &Fields<'_>, checked: &Checked) -> Result<SliceHeader, StageError> {
    let o = f.floats(tags::IMAGE_ORIENTATION_PATIENT, "ImageOrientationPatient", 6)?;
    check_orientation(&o).map_err(|reason| err(path, reason))?;
    let p = f.floats(tags::IMAGE_POSITION_PATIENT, "ImagePositionPatient", 3)?;
    let ps = f.floats(tags::PIXEL_SPACING, "PixelSpacing", 2)?;
    if ps.iter().any(|s| !SPACING_MM.contains(s)) {
        return Err(err(path, format!("PixelSpacing {ps:?} mm is outside {SPACING_MM:?} mm")));
    }
    let slope = f.floats(tags::RESCALE_SLOPE, "RescaleSlope", 1)?[0];
    let intercept = f.floats(tags::RESCALE_INTERCEPT, "RescaleIntercept", 1)?[0];
    check_rescale(slope, intercept).map_err(|reason| err(path, reason))?;
    let (rows, columns, bits) = check_pixels(f, checked.pixel_data)?;
    let signed = f.int_or(tags::PIXEL_REPRESENTATION, "PixelRepresentation", 0)? == 1;
    let padding = match f.obj.element_opt(tags::PIXEL_PADDING_VALUE) {
        Ok(Some(_)) => {
            let raw = f.int(tags::PIXEL_PADDING_VALUE, "PixelPaddingValue")?;
            // Often written as US even for signed pixels (63536 meaning -2000).
            Some(if signed && raw >= 1 << (bits - 1) { raw - (1 << bits) } else { raw })
        }
        _ => None,
    };
    let slice_thickness = f.obj.element_opt(tags::SLICE_THICKNESS).ok().flatten().and_then(|e| e.to_float64().ok());
    Ok(SliceHeader {
        path: path.to_path_buf(),
        series_uid: f.text(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        sop_uid: f.text(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        patient_id: f.text(tags::PATIENT_ID, "PatientID").unwrap_or_default(),
        modality: f.text(tags::MODALITY, "Modality")?,
        orientation: [o[0], o[1], o[2], o[3], o[4], o[5]],
        position: [p[0], p[1], p[2]],
        rows,
        columns,
        pixel_spacing: [ps[0], ps[1]],
        slope,
        intercept,
        padding,
        slice_thickness,
        size: checked.bytes.len() as u64,
        blake3: blake3::hash(&checked.bytes).to_hex().to_string(),
    })
}

/// Both direction vectors of unit length and orthogonal.
pub fn check_orientation(o: &[f64]) -> Result<(), String> {
    let (r, c) = (&o[0..3], &o[3..6]);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let (lr, lc) = (dot(r, r).sqrt(), dot(c, c).sqrt());
    if (lr - 1.0).abs() > ORIENTATION_TOLERANCE || (lc - 1.0).abs() > ORIENTATION_TOLERANCE {
        return Err(format!(
            "ImageOrientationPatient {o:?} is not two unit vectors (lengths {lr:.4} and {lc:.4}, tolerance {ORIENTATION_TOLERANCE})"
        ));
    }
    let cos = dot(r, c);
    if cos.abs() > ORIENTATION_TOLERANCE {
        return Err(format!("ImageOrientationPatient {o:?}: row and column directions are not orthogonal (dot product {cos:.4})"));
    }
    Ok(())
}

/// RescaleSlope finite, non-zero and in range; intercept in range.
pub fn check_rescale(slope: f64, intercept: f64) -> Result<(), String> {
    if !SLOPE_RANGE.contains(&slope.abs()) {
        return Err(format!("RescaleSlope {slope} is outside ±{SLOPE_RANGE:?} (zero, huge or not finite)"));
    }
    if intercept.abs() > MAX_ABS_INTERCEPT {
        return Err(format!("RescaleIntercept {intercept} is outside ±{MAX_ABS_INTERCEPT}"));
    }
    Ok(())
}

/// The pixel layout rules; returns (rows, columns, bits allocated).
fn check_pixels(f: &Fields<'_>, pixel_data: Option<PixelData>) -> Result<(usize, usize, i64), StageError> {
    let rows = f.int(tags::ROWS, "Rows")?;
    let columns = f.int(tags::COLUMNS, "Columns")?;
    let samples = f.int_or(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel", 1)?;
    let frames = f.int_or(tags::NUMBER_OF_FRAMES, "NumberOfFrames", 1)?;
    let bits = f.int(tags::BITS_ALLOCATED, "BitsAllocated")?;
    let stored = f.int_or(tags::BITS_STORED, "BitsStored", bits)?;
    let high_bit = f.int_or(tags::HIGH_BIT, "HighBit", stored.saturating_sub(1))?;
    let photometric = match f.obj.element_opt(tags::PHOTOMETRIC_INTERPRETATION) {
        // CS pads with a space; some writers pad with NUL.
        Ok(Some(_)) => Some(
            f.text(tags::PHOTOMETRIC_INTERPRETATION, "PhotometricInterpretation")?
                .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_owned(),
        ),
        _ => None,
    };
    check_photometric(photometric.as_deref().filter(|p| !p.is_empty()), samples).map_err(|reason| err(f.path, reason))?;
    let layout = Layout { rows, columns, samples, frames, bits, stored };
    check_layout(&layout, pixel_data).map_err(|reason| err(f.path, reason))?;
    check_high_bit(high_bit, stored, bits).map_err(|reason| err(f.path, reason))?;
    Ok((rows as usize, columns as usize, bits))
}

/// HighBit = BitsStored - 1 (so HighBit < BitsStored <= BitsAllocated):
/// any other value puts the stored bits where the decoder does not read them.
pub fn check_high_bit(high_bit: i64, stored: i64, bits: i64) -> Result<(), String> {
    if high_bit.checked_add(1) == Some(stored) && (1..=bits).contains(&stored) {
        return Ok(());
    }
    Err(format!(
        "HighBit {high_bit} with BitsStored {stored} and BitsAllocated {bits}: \
         HighBit must be BitsStored - 1 = {} (HighBit < BitsStored <= BitsAllocated)",
        stored.saturating_sub(1)
    ))
}

/// What the ingest reads: one sample per pixel, grey levels.
const MONOCHROME: [&str; 2] = ["MONOCHROME1", "MONOCHROME2"];

/// PhotometricInterpretation consistent with SamplesPerPixel, and
/// monochrome; `None` (the element is absent or empty) asks for one sample.
pub fn check_photometric(photometric: Option<&str>, samples: i64) -> Result<(), String> {
    let Some(name) = photometric else {
        return match samples {
            1 => Ok(()),
            _ => {
                Err(format!("SamplesPerPixel {samples} without a PhotometricInterpretation: lungflow reads monochrome CT only (1 sample)"))
            }
        };
    };
    let needs = match name {
        "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => 1,
        "RGB" | "HSV" | "YBR_FULL" | "YBR_FULL_422" | "YBR_PARTIAL_422" | "YBR_PARTIAL_420" | "YBR_ICT" | "YBR_RCT" => 3,
        "ARGB" | "CMYK" => 4,
        _ => {
            return Err(format!(
                "PhotometricInterpretation {name:?} is not a DICOM value; lungflow reads {} only",
                MONOCHROME.join(" or ")
            ));
        }
    };
    let monochrome = MONOCHROME.contains(&name);
    let only = if monochrome { String::new() } else { format!("; lungflow reads monochrome CT only ({})", MONOCHROME.join(" or ")) };
    if samples != needs {
        return Err(format!("PhotometricInterpretation {name} needs SamplesPerPixel {needs}, found SamplesPerPixel {samples}{only}"));
    }
    if !monochrome {
        return Err(format!("PhotometricInterpretation {name} is a colour image{only}"));
    }
    Ok(())
}

/// The image attributes the pixel rules look at.
pub struct Layout {
    /// Rows.
    pub rows: i64,
    /// Columns.
    pub columns: i64,
    /// SamplesPerPixel.
    pub samples: i64,
    /// NumberOfFrames.
    pub frames: i64,
    /// BitsAllocated.
    pub bits: i64,
    /// BitsStored.
    pub stored: i64,
}

/// The pixel layout rules against the Pixel Data element the guard found.
pub fn check_layout(l: &Layout, pixel_data: Option<PixelData>) -> Result<(), String> {
    let Layout { rows, columns, samples, frames, bits, stored } = *l;
    if !(1..=65535).contains(&rows) || !(1..=65535).contains(&columns) {
        return Err(format!("implausible image size {rows} x {columns}"));
    }
    if !(1..=4).contains(&samples) || !(1..=65535).contains(&frames) {
        return Err(format!("implausible SamplesPerPixel {samples} or NumberOfFrames {frames}"));
    }
    if bits != 8 && bits != 16 {
        return Err(format!("BitsAllocated {bits} is not 8 or 16 (CT)"));
    }
    if !(1..=bits).contains(&stored) {
        return Err(format!("BitsStored {stored} is not between 1 and BitsAllocated {bits}"));
    }
    let expected = (rows * columns * samples * frames) as u64 * (bits as u64 / 8);
    match pixel_data {
        None => Err("no Pixel Data".into()),
        Some(PixelData::Native(len)) if len != expected && !(expected % 2 == 1 && len == expected + 1) => Err(format!(
            "Pixel Data holds {len} bytes but Rows x Columns x SamplesPerPixel x BitsAllocated/8 x NumberOfFrames = \
             {rows} x {columns} x {samples} x {} x {frames} = {expected}",
            bits / 8
        )),
        Some(PixelData::Encapsulated) if expected > MAX_DECODED_BYTES => Err(format!(
            "compressed image of {rows} x {columns} x {frames} frames would decode to {expected} bytes, over {MAX_DECODED_BYTES}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::testdata::slice_bytes;
    use lungflow_testkit::dicom::hostile;

    #[test]
    fn a_valid_slice_passes_every_rule() {
        let (h, _) = header_from_bytes(Path::new("ok.dcm"), slice_bytes()).unwrap();
        assert_eq!((h.rows, h.columns, h.pixel_spacing, h.slope, h.intercept), (16, 16, [0.75, 0.75], 1.0, -1024.0));
        assert_eq!(h.padding, Some(-2000));
    }

    #[test]
    fn each_hostile_slice_is_an_error_naming_the_file_and_the_reason() {
        for (name, bytes, reason) in hostile(&slice_bytes(), 5000, 2 << 20) {
            let e = header_from_bytes(Path::new(name), bytes).err().unwrap_or_else(|| panic!("{name} was accepted")).0;
            assert!(e.starts_with(&format!("{name}: ")) && e.contains(reason), "{name}: {e}");
        }
    }

    #[test]
    fn orientation_must_be_two_orthogonal_unit_vectors() {
        assert!(check_orientation(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).is_ok());
        assert!(check_orientation(&[0.6, 0.8, 0.0, -0.8, 0.6, 0.0]).is_ok());
        assert!(check_orientation(&[0.0; 6]).unwrap_err().contains("not two unit vectors"));
        assert!(check_orientation(&[1.0, 0.0, 0.0, 0.0, 1.01, 0.0]).unwrap_err().contains("lengths 1.0000 and 1.0100"));
        assert!(check_orientation(&[1.0, 0.0, 0.0, 0.6, 0.8, 0.0]).unwrap_err().contains("not orthogonal"));
    }

    #[test]
    fn high_bit_must_be_one_less_than_bits_stored() {
        for (high_bit, stored) in [(15, 16), (11, 12), (7, 8)] {
            assert!(check_high_bit(high_bit, stored, 16).is_ok(), "{high_bit} of {stored}");
        }
        let e = check_high_bit(200, 16, 16).unwrap_err();
        assert!(e.contains("HighBit 200 with BitsStored 16 and BitsAllocated 16") && e.contains("BitsStored - 1 = 15"), "{e}");
        for (high_bit, stored, bits) in [(15, 12, 16), (10, 12, 16), (16, 16, 16), (15, 16, 8), (-1, 0, 16), (i64::MAX, i64::MIN, 16)] {
            assert!(
                check_high_bit(high_bit, stored, bits).unwrap_err().contains(&format!("HighBit {high_bit} ")),
                "{high_bit} {stored} {bits}"
            );
        }
    }

    #[test]
    fn photometric_interpretation_must_match_samples_and_be_monochrome() {
        for name in [Some("MONOCHROME1"), Some("MONOCHROME2"), None] {
            assert!(check_photometric(name, 1).is_ok(), "{name:?}");
        }
        let e = check_photometric(Some("RGB"), 1).unwrap_err();
        assert!(
            e.contains("PhotometricInterpretation RGB needs SamplesPerPixel 3, found SamplesPerPixel 1")
                && e.contains("monochrome CT only"),
            "{e}"
        );
        let e = check_photometric(Some("MONOCHROME2"), 3).unwrap_err();
        assert!(e.contains("MONOCHROME2 needs SamplesPerPixel 1, found SamplesPerPixel 3"), "{e}");
        for (name, samples) in [("RGB", 3), ("YBR_FULL_422", 3), ("PALETTE COLOR", 1), ("ARGB", 4)] {
            let e = check_photometric(Some(name), samples).unwrap_err();
            assert!(e.contains(&format!("{name} is a colour image; lungflow reads monochrome CT only")), "{e}");
        }
        assert!(check_photometric(Some("GREEN\u{7f}"), 1).unwrap_err().contains("\"GREEN\\u{7f}\" is not a DICOM value"));
        assert!(check_photometric(None, 3).unwrap_err().contains("SamplesPerPixel 3 without a PhotometricInterpretation"));
    }

    #[test]
    fn rescale_and_layout_rules() {
        assert!(check_rescale(1.0, -1024.0).is_ok() && check_rescale(-0.5, 0.0).is_ok());
        for slope in [0.0, 1e308, f64::NAN, 1e-9] {
            assert!(check_rescale(slope, 0.0).unwrap_err().contains("RescaleSlope"), "{slope}");
        }
        assert!(check_rescale(1.0, -1e9).unwrap_err().contains("RescaleIntercept"));
        let l = |bits, stored| Layout { rows: 3, columns: 3, samples: 1, frames: 1, bits, stored };
        assert!(check_layout(&l(8, 8), Some(PixelData::Native(10))).is_ok(), "an odd length is padded by one byte");
        assert!(check_layout(&l(16, 12), Some(PixelData::Native(18))).is_ok());
        assert!(check_layout(&l(16, 17), Some(PixelData::Native(18))).unwrap_err().contains("BitsStored 17"));
        assert!(check_layout(&l(32, 32), Some(PixelData::Native(36))).unwrap_err().contains("BitsAllocated 32"));
        assert!(check_layout(&l(16, 16), Some(PixelData::Native(9))).unwrap_err().contains("= 18"));
        assert!(check_layout(&l(16, 16), None).unwrap_err().contains("no Pixel Data"));
        let big = Layout { rows: 65535, columns: 65535, samples: 1, frames: 1, bits: 16, stored: 16 };
        assert!(check_layout(&big, Some(PixelData::Encapsulated)).unwrap_err().contains("would decode to"));
    }
}
