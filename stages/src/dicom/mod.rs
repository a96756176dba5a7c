//! DICOM in and out: reading one patient's series into a Hounsfield-unit
//! volume ([`series`]), one slice's checked header ([`header`]), reading a
//! file safely ([`read`]: size caps, bounded inflate, a known stack), the
//! structural checks that run before a file is parsed ([`guard`]), and
//! writing CT slices ([`writer`], for synthetic cohorts).

pub mod guard;
pub mod header;
pub mod read;
pub mod series;
#[cfg(test)]
mod testdata;
pub mod writer;
