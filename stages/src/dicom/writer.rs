//! Writing a slice as a CT Image Storage DICOM file (explicit VR little endian).

use std::path::Path;

use dicom::core::value::PrimitiveValue;
use dicom::core::{DataElement, VR};
use dicom::dictionary_std::{tags, uids};
use dicom::object::InMemDicomObject;
use dicom::object::meta::FileMetaTableBuilder;

use crate::StageError;

/// How stored pixel values encode HU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelEncoding {
    /// PixelRepresentation 1, 16 bits stored, HU = stored - 1024; padding -2000.
    Signed,
    /// PixelRepresentation 0, 12 bits stored, HU = stored - 1024; padding 0.
    Unsigned,
}

impl PixelEncoding {
    /// The stored value for HU, or for padding when `hu` is None.
    pub fn stored(self, hu: Option<i16>) -> u16 {
        match (self, hu) {
            (PixelEncoding::Signed, Some(h)) => (h as i32 + 1024) as i16 as u16,
            (PixelEncoding::Signed, None) => (-2000i16) as u16,
            (PixelEncoding::Unsigned, Some(h)) => (h as i32 + 1024).clamp(0, 4095) as u16,
            (PixelEncoding::Unsigned, None) => 0,
        }
    }
}

/// Identity and geometry of one slice.
pub struct SliceInfo<'a> {
    /// PatientID and PatientName.
    pub patient_id: &'a str,
    /// StudyInstanceUID.
    pub study_uid: &'a str,
    /// SeriesInstanceUID.
    pub series_uid: &'a str,
    /// SOPInstanceUID.
    pub sop_uid: &'a str,
    /// FrameOfReferenceUID.
    pub frame_uid: &'a str,
    /// InstanceNumber.
    pub instance: u32,
    /// ImagePositionPatient, mm.
    pub position: [f64; 3],
    /// Pixel spacing, mm.
    pub pixel_mm: f64,
    /// Slice thickness, mm.
    pub slice_mm: f64,
    /// Rows = Columns.
    pub matrix: usize,
    /// Stored value encoding.
    pub encoding: PixelEncoding,
}

/// A decimal string of at most 16 characters.
fn ds(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_owned() }
}

/// Writes one slice (`pixels` row-major, None = padding) to `path`.
pub fn write_slice(path: &Path, info: &SliceInfo<'_>, pixels: &[Option<i16>]) -> Result<(), StageError> {
    let mut obj = InMemDicomObject::new_empty();
    let text = |tag, vr, s: &str| DataElement::new(tag, vr, PrimitiveValue::from(s));
    let strs = |tag, vr, v: Vec<String>| DataElement::new(tag, vr, PrimitiveValue::Strs(v.into()));
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    obj.put(text(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE));
    obj.put(text(tags::SOP_INSTANCE_UID, VR::UI, info.sop_uid));
    obj.put(text(tags::STUDY_DATE, VR::DA, "20170101"));
    obj.put(text(tags::MODALITY, VR::CS, "CT"));
    obj.put(text(tags::MANUFACTURER, VR::LO, "lungflow synthetic phantom"));
    obj.put(text(tags::PATIENT_NAME, VR::PN, info.patient_id));
    obj.put(text(tags::PATIENT_ID, VR::LO, info.patient_id));
    obj.put(strs(tags::SLICE_THICKNESS, VR::DS, vec![ds(info.slice_mm)]));
    obj.put(text(tags::STUDY_INSTANCE_UID, VR::UI, info.study_uid));
    obj.put(text(tags::SERIES_INSTANCE_UID, VR::UI, info.series_uid));
    obj.put(DataElement::new(tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from(info.instance.to_string())));
    obj.put(strs(tags::IMAGE_POSITION_PATIENT, VR::DS, info.position.iter().map(|&v| ds(v)).collect()));
    obj.put(strs(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ["1", "0", "0", "0", "1", "0"].map(String::from).to_vec()));
    obj.put(text(tags::FRAME_OF_REFERENCE_UID, VR::UI, info.frame_uid));
    obj.put(us(tags::SAMPLES_PER_PIXEL, 1));
    obj.put(text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"));
    obj.put(us(tags::ROWS, info.matrix as u16));
    obj.put(us(tags::COLUMNS, info.matrix as u16));
    obj.put(strs(tags::PIXEL_SPACING, VR::DS, vec![ds(info.pixel_mm), ds(info.pixel_mm)]));
    obj.put(us(tags::BITS_ALLOCATED, 16));
    let (bits_stored, representation) = match info.encoding {
        PixelEncoding::Signed => (16, 1),
        PixelEncoding::Unsigned => (12, 0),
    };
    obj.put(us(tags::BITS_STORED, bits_stored));
    obj.put(us(tags::HIGH_BIT, bits_stored - 1));
    obj.put(us(tags::PIXEL_REPRESENTATION, representation));
    let padding = info.encoding.stored(None);
    obj.put(match info.encoding {
        PixelEncoding::Signed => DataElement::new(tags::PIXEL_PADDING_VALUE, VR::SS, PrimitiveValue::from(padding as i16)),
        PixelEncoding::Unsigned => us(tags::PIXEL_PADDING_VALUE, padding),
    });
    obj.put(strs(tags::RESCALE_INTERCEPT, VR::DS, vec!["-1024".into()]));
    obj.put(strs(tags::RESCALE_SLOPE, VR::DS, vec!["1".into()]));
    obj.put(text(tags::RESCALE_TYPE, VR::LO, "HU"));
    let stored: Vec<u16> = pixels.iter().map(|&p| info.encoding.stored(p)).collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(stored.into())));
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| StageError(format!("cannot build DICOM meta for {}: {e}", path.display())))?;
    file.write_to_file(path).map_err(|e| StageError(format!("cannot write {}: {e}", path.display())))
}
