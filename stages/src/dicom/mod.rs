//! DICOM in and out: reading one patient's series into a Hounsfield-unit
//! volume ([`series`]), the checks that run before a file is parsed
//! ([`guard`]), and writing CT slices ([`writer`], for synthetic cohorts).

pub mod guard;
pub mod series;
pub mod writer;
