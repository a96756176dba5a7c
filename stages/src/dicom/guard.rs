//! A cheap structural check of a DICOM file before the full parser sees it.
//!
//! dicom-rs allocates what a length field claims before reading, recurses
//! once per nested sequence while it builds an object, and reads the file
//! meta group and the data set with its own length rules. This scan follows
//! the same rules (dicom-parser 0.10 `DataSetReader`, dicom-encoding 0.10
//! decoders, dicom-object 0.10 `FileMetaTable::read_from`) and refuses, with
//! the element and the byte offset:
//! - a declared length longer than the bytes that follow it;
//! - a binary value (US, SS, OW: 2 bytes; UL, SL, FL, OF, AT, OL: 4; FD, OD,
//!   SV, UV, OV: 8) whose length is not a multiple of its size: dicom-rs
//!   reads whole values but advances by the length, and would read the next
//!   elements out of step (the fuzz target found a 1.4 GB allocation so);
//! - sequences and items nested deeper than [`MAX_DEPTH`] levels;
//! - more than [`MAX_ELEMENTS`] elements (each costs far more in memory
//!   than its 8 to 12 bytes on disk).
//!
//! Length rules, as dicom-rs reads them: in explicit VR, the 21 VRs of
//! PS3.5 table 7.1-2 (AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM
//! UI UL US) have a 2-byte length; every other VR, *including an unknown
//! one* (the parser reads it as UN), has 2 reserved bytes and a 4-byte
//! length. Group FFFE (items, delimiters) has no VR and a 4-byte length. In
//! implicit VR every length is 4 bytes and the VR comes from the standard
//! dictionary. An undefined length (FFFFFFFF) opens a sequence, except on
//! Pixel Data, where it opens encapsulated fragments.

use dicom::core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom::core::{Tag, VR};
use dicom::dictionary_std::StandardDataDictionary;

/// Deepest nesting of sequences and items accepted (a sequence and its item
/// count as two levels). Real CT headers nest fewer than 8 levels; the
/// parser's recursion at this depth uses a small part of the reader's stack
/// (see `read::READER_STACK_BYTES`).
pub const MAX_DEPTH: usize = 32;

/// Most elements (items and delimiters included) accepted in one data set.
/// A CT slice has a few hundred.
pub const MAX_ELEMENTS: usize = 100_000;

const UNDEFINED: u32 = u32::MAX;

/// How the data set after the file meta group is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Explicit VR little endian (also the encoding of every compressed syntax).
    ExplicitLittle,
    /// Implicit VR little endian.
    ImplicitLittle,
    /// Explicit VR big endian.
    ExplicitBig,
    /// Deflated explicit VR little endian: the data set is a deflate stream.
    Deflated,
}

/// The top-level Pixel Data element, as the scan found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelData {
    /// Native pixel data of this many bytes.
    Native(u64),
    /// Encapsulated (compressed) fragments.
    Encapsulated,
}

/// What the scan of the file meta group learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The data set's encoding.
    pub encoding: Encoding,
    /// Byte offset of the data set.
    pub dataset_start: usize,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.bytes.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        b.try_into().ok()
    }
    fn u16(&mut self, big: bool) -> Option<u16> {
        self.take::<2>().map(|b| if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }
    fn u32(&mut self, big: bool) -> Option<u32> {
        self.take::<4>().map(|b| if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// VRs whose explicit encoding has a 2-byte length (PS3.5 table 7.1-2).
fn short_length_vr(vr: &[u8; 2]) -> bool {
    matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

/// One element header.
struct Header {
    at: usize,
    tag: (u16, u16),
    /// The VR the parser gives it (None for items and delimiters).
    vr: Option<VR>,
    len: u32,
}

impl Header {
    fn name(&self) -> String {
        format!("element ({:04X},{:04X}) at byte {}", self.tag.0, self.tag.1, self.at)
    }
}

/// Reads an element header the way dicom-rs's decoder for `enc` does.
fn header(c: &mut Cursor<'_>, enc: Encoding) -> Result<Header, String> {
    let at = c.pos;
    let truncated = || format!("truncated element header at byte {at}");
    let big = enc == Encoding::ExplicitBig;
    let tag = (c.u16(big).ok_or_else(truncated)?, c.u16(big).ok_or_else(truncated)?);
    if tag.0 == 0xFFFE || enc == Encoding::ImplicitLittle {
        let len = c.u32(big).ok_or_else(truncated)?;
        let vr = (tag.0 != 0xFFFE).then(|| implicit_vr(tag));
        return Ok(Header { at, tag, vr, len });
    }
    let vr = c.take::<2>().ok_or_else(truncated)?;
    let len = if short_length_vr(&vr) {
        c.u16(big).ok_or_else(truncated)? as u32
    } else {
        c.take::<2>().ok_or_else(truncated)?;
        c.u32(big).ok_or_else(truncated)?
    };
    Ok(Header { at, tag, vr: Some(VR::from_binary(vr).unwrap_or(VR::UN)), len })
}

/// The VR the implicit VR decoder gives `tag` (from the dictionary).
fn implicit_vr(tag: (u16, u16)) -> VR {
    if tag == (0x7FE0, 0x0010) || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        return VR::OW; // whatever the dictionary says
    }
    StandardDataDictionary.by_tag(Tag(tag.0, tag.1)).map_or(VR::UN, |e| e.vr().relaxed())
}

/// Bytes per value of a binary VR: dicom-rs reads `length / size` values
/// but advances by `length`, so any other length desynchronises it.
fn value_size(vr: VR) -> usize {
    match vr {
        VR::US | VR::SS | VR::OW => 2,
        VR::UL | VR::SL | VR::FL | VR::OF | VR::AT | VR::OL => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

/// The bytes a defined length claims, checked against what is left.
fn fits(c: &Cursor<'_>, h: &Header, what: &str) -> Result<usize, String> {
    let remaining = c.remaining();
    if h.len as usize > remaining {
        return Err(format!(
            "{what} ({:04X},{:04X}) at byte {} claims {} bytes but only {remaining} remain (truncated or corrupt file)",
            h.tag.0, h.tag.1, h.at, h.len
        ));
    }
    Ok(h.len as usize)
}

/// Checks that a file's first 132 bytes end with the `DICM` marker.
pub fn check_marker(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err("not a DICOM file (no DICM marker after the 128-byte preamble)".into());
    }
    Ok(())
}

/// Checks the preamble and the file meta group, as dicom-object reads it:
/// `DICM`, then (0002,0000) group length, then elements in explicit VR
/// little endian until that many bytes are read.
pub fn check_meta(bytes: &[u8]) -> Result<Meta, String> {
    check_marker(bytes)?;
    let mut c = Cursor { bytes, pos: 132 };
    let first = header(&mut c, Encoding::ExplicitLittle)?;
    if first.tag != (0x0002, 0x0000) || first.len != 4 {
        return Err(format!("the file meta group does not start with its group length (0002,0000) at byte {}", first.at));
    }
    let group_length = c.u32(false).ok_or("truncated file meta group length at byte 144")?;
    let (mut read, mut encoding) = (0u64, Encoding::ExplicitLittle);
    while read < group_length as u64 {
        let h = header(&mut c, Encoding::ExplicitLittle)?;
        if h.len == UNDEFINED {
            return Err(format!("{} in the file meta group has an undefined length", h.name()));
        }
        let len = fits(&c, &h, "file meta element")?;
        if h.tag == (0x0002, 0x0010) {
            encoding = match String::from_utf8_lossy(&bytes[c.pos..c.pos + len]).trim_end_matches(['\0', ' ']) {
                "1.2.840.10008.1.2" => Encoding::ImplicitLittle,
                "1.2.840.10008.1.2.2" => Encoding::ExplicitBig,
                "1.2.840.10008.1.2.1.99" => Encoding::Deflated,
                _ => Encoding::ExplicitLittle,
            };
        }
        read += (c.pos - h.at + len) as u64;
        c.pos += len;
    }
    Ok(Meta { encoding, dataset_start: c.pos })
}

/// An open sequence or item: its end offset when its length is defined.
struct Open {
    sequence: bool,
    end: Option<usize>,
}

/// Checks every element of a data set that starts at `start` and runs to the
/// end of `bytes`; returns the top-level Pixel Data element, if any.
pub fn check_dataset(bytes: &[u8], start: usize, enc: Encoding) -> Result<Option<PixelData>, String> {
    let enc = if enc == Encoding::Deflated { Encoding::ExplicitLittle } else { enc };
    let mut c = Cursor { bytes, pos: start };
    let mut open: Vec<Open> = Vec::new();
    let mut pixel_data = None;
    for count in 0.. {
        while let Some(top) = open.last() {
            match top.end {
                Some(end) if end == c.pos => drop(open.pop()),
                Some(end) if end < c.pos => {
                    return Err(format!("an element runs past the end of its sequence or item (byte {end}) to byte {}", c.pos));
                }
                _ => break,
            }
        }
        if c.remaining() == 0 {
            break;
        }
        if count >= MAX_ELEMENTS {
            return Err(format!("more than {MAX_ELEMENTS} elements (at byte {}); refusing the file", c.pos));
        }
        let h = header(&mut c, enc)?;
        let depth_before = open.len();
        step(&mut c, &h, &mut open, &mut pixel_data, enc)?;
        if open.len() > depth_before && open.len() > MAX_DEPTH {
            return Err(format!("sequences nested deeper than {MAX_DEPTH} levels at byte {}; refusing the file", h.at));
        }
    }
    Ok(pixel_data)
}

/// Follows one element header: opens or closes a container, or skips a value.
fn step(c: &mut Cursor<'_>, h: &Header, open: &mut Vec<Open>, pixel_data: &mut Option<PixelData>, enc: Encoding) -> Result<(), String> {
    let in_sequence = open.last().is_some_and(|o| o.sequence);
    let defined_end = |c: &Cursor<'_>, what| -> Result<Option<usize>, String> {
        if h.len == UNDEFINED { Ok(None) } else { fits(c, h, what).map(|len| Some(c.pos + len)) }
    };
    match h.tag {
        // Inside a sequence only items and delimiters may follow (the parser reads an item header: tag and length).
        (0xFFFE, 0xE000) if in_sequence => open.push(Open { sequence: false, end: defined_end(c, "item")? }),
        (0xFFFE, 0xE00D) | (0xFFFE, 0xE0DD) if in_sequence || h.tag == (0xFFFE, 0xE00D) => drop(open.pop()),
        _ if in_sequence => return Err(format!("{} where an item of a sequence was expected", h.name())),
        _ if h.vr == Some(VR::SQ) => open.push(Open { sequence: true, end: defined_end(c, "sequence")? }),
        (0x7FE0, 0x0010) if h.len == UNDEFINED => {
            check_fragments(c, enc == Encoding::ExplicitBig)?;
            if open.is_empty() {
                *pixel_data = Some(PixelData::Encapsulated);
            }
        }
        _ if h.len == UNDEFINED => open.push(Open { sequence: true, end: None }),
        _ => {
            let len = fits(c, h, "element")?;
            let size = h.vr.map_or(1, value_size);
            if len % size != 0 {
                return Err(format!("{} has VR {:?} and a length of {len}, not a multiple of {size}", h.name(), h.vr.unwrap_or(VR::UN)));
            }
            if h.tag == (0x7FE0, 0x0010) && open.is_empty() {
                *pixel_data = Some(PixelData::Native(len as u64));
            }
            c.pos += len;
        }
    }
    Ok(())
}

/// Encapsulated pixel data: a run of items holding raw fragments, then a
/// sequence delimiter.
fn check_fragments(c: &mut Cursor<'_>, big: bool) -> Result<(), String> {
    loop {
        let at = c.pos;
        let truncated = || format!("truncated pixel data fragment header at byte {at}");
        let tag = (c.u16(big).ok_or_else(truncated)?, c.u16(big).ok_or_else(truncated)?);
        let h = Header { at, tag, vr: None, len: c.u32(big).ok_or_else(truncated)? };
        match tag {
            (0xFFFE, 0xE0DD) => return Ok(()),
            (0xFFFE, 0xE000) if h.len != UNDEFINED => c.pos += fits(c, &h, "pixel data fragment")?,
            _ => return Err(format!("unexpected {} inside encapsulated pixel data", h.name())),
        }
    }
}

/// Checks a whole file whose data set is not deflated (a deflated one must
/// be inflated first: see `read`); returns the meta scan and the top-level
/// Pixel Data element.
pub fn check(bytes: &[u8]) -> Result<(Meta, Option<PixelData>), String> {
    let meta = check_meta(bytes)?;
    if meta.encoding == Encoding::Deflated {
        return Ok((meta, None));
    }
    Ok((meta, check_dataset(bytes, meta.dataset_start, meta.encoding)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lungflow_testkit::dicom::{EXPLICIT_LE, element, file, nested_sequences};

    fn pixels(len: u32) -> Vec<u8> {
        [&[0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0][..], &len.to_le_bytes(), &vec![7u8; len as usize]].concat()
    }

    #[test]
    fn accepts_well_formed_and_rejects_lying_lengths() {
        let ds = [element((0x0010, 0x0010), b"PN", b"AB"), pixels(4)].concat();
        let f = file(EXPLICIT_LE, &ds);
        let (meta, pixel_data) = check(&f).unwrap();
        assert_eq!((meta.encoding, pixel_data), (Encoding::ExplicitLittle, Some(PixelData::Native(4))));
        let mut lying = f.clone();
        let at = f.len() - 8;
        lying[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let e = check(&lying).unwrap_err();
        assert!(e.contains("(7FE0,0010)") && e.contains("claims 4294967280 bytes"), "{e}");
        assert!(check(&f[..f.len() - 2]).unwrap_err().contains("claims 4 bytes but only 2 remain"));
        assert!(check(b"hello").unwrap_err().contains("not a DICOM file"));
    }

    #[test]
    fn an_unknown_vr_has_the_4_byte_length_dicom_rs_reads() {
        // VR "ZZ": 2 reserved bytes, then a 4-byte length (4), then the value.
        let zz = [&[0x09, 0x00, 0x10, 0x00, b'Z', b'Z', 0, 0, 4, 0, 0, 0][..], b"wxyz"].concat();
        let f = file(EXPLICIT_LE, &[zz.clone(), element((0x0010, 0x0010), b"PN", b"AB")].concat());
        assert_eq!(check(&f), Ok((check_meta(&f).unwrap(), None)));
        // dicom-rs reads the same structure: the element after it is intact.
        let obj =
            dicom::object::OpenFileOptions::new().read_preamble(dicom::object::file::ReadPreamble::Always).from_reader(&f[..]).unwrap();
        assert_eq!(obj.element(dicom::dictionary_std::tags::PATIENT_NAME).unwrap().to_str().unwrap(), "AB");
        // The lie the old guard read as a 2-byte length of 0.
        let mut lie = zz;
        lie[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let e = check(&file(EXPLICIT_LE, &lie)).unwrap_err();
        assert!(e.contains("(0009,0010) at byte 172") && e.contains("claims 4294967280 bytes"), "{e}");
    }

    #[test]
    fn implicit_and_big_endian_lengths_are_checked_too() {
        let ds = [0x10, 0x00, 0x10, 0x00, 0xF0, 0xFF, 0xFF, 0xFF, b'A', b'B'];
        let e = check(&file("1.2.840.10008.1.2", &ds)).unwrap_err();
        assert!(e.contains("(0010,0010)"), "{e}");
        let big = [0x00, 0x10, 0x00, 0x10, b'P', b'N', 0xFF, 0xF0, b'A', b'B'];
        let e = check(&file("1.2.840.10008.1.2.2", &big)).unwrap_err();
        assert!(e.contains("(0010,0010)") && e.contains("claims 65520 bytes"), "{e}");
    }

    #[test]
    fn nesting_is_refused_past_the_limit_with_the_offset() {
        let at_limit = file(EXPLICIT_LE, &nested_sequences(MAX_DEPTH / 2));
        assert!(check(&at_limit).is_ok());
        let e = check(&file(EXPLICIT_LE, &nested_sequences(MAX_DEPTH / 2 + 1))).unwrap_err();
        // The data set starts at byte 172; the 33rd level is the sequence opened 16 * 20 bytes on.
        assert!(e.contains("nested deeper than 32 levels at byte 492"), "{e}");
        assert!(check(&file(EXPLICIT_LE, &nested_sequences(5000))).unwrap_err().contains("nested deeper than"));
    }

    #[test]
    fn implicit_vr_sequences_of_defined_length_count_as_nesting() {
        // (0008,1115) is SQ in the dictionary; each level: sequence, item, both of defined length.
        let mut inner: Vec<u8> = Vec::new();
        for _ in 0..40 {
            let item = [&[0xFE, 0xFF, 0x00, 0xE0][..], &(inner.len() as u32).to_le_bytes(), &inner].concat();
            inner = [&[0x08, 0x00, 0x15, 0x11][..], &(item.len() as u32).to_le_bytes(), &item].concat();
        }
        let e = check(&file("1.2.840.10008.1.2", &inner)).unwrap_err();
        assert!(e.contains("nested deeper than 32 levels"), "{e}");
    }

    #[test]
    fn a_sequence_may_hold_only_items_and_an_item_must_fit_its_sequence() {
        let seq =
            [&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF][..], &element((0x0010, 0x0010), b"PN", b"AB")].concat();
        assert!(check(&file(EXPLICIT_LE, &seq)).unwrap_err().contains("where an item of a sequence was expected"));
        // A sequence of defined length 8 holding an item of 10 bytes more.
        let inside = element((0x0009, 0x1000), b"US", &[0, 0]);
        let overrun = [&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 8, 0, 0, 0, 0xFE, 0xFF, 0x00, 0xE0, 10, 0, 0, 0][..], &inside].concat();
        assert!(check(&file(EXPLICIT_LE, &overrun)).unwrap_err().contains("runs past the end of its sequence"));
    }

    #[test]
    fn too_many_elements_are_refused() {
        let ds = element((0x0009, 0x1000), b"US", &[0, 0]).repeat(MAX_ELEMENTS + 1);
        assert!(check(&file(EXPLICIT_LE, &ds)).unwrap_err().contains("more than 100000 elements"));
    }

    #[test]
    fn the_meta_group_is_read_by_its_group_length() {
        let mut f = file(EXPLICIT_LE, &element((0x0010, 0x0010), b"PN", b"AB"));
        assert_eq!(check_meta(&f).unwrap().dataset_start, 144 + 28);
        f[140..144].copy_from_slice(&4000u32.to_le_bytes());
        assert!(check_meta(&f).unwrap_err().contains("truncated element header"));
        let mut no_length = f.clone();
        no_length[134] = 0x01;
        assert!(check_meta(&no_length).unwrap_err().contains("does not start with its group length"));
    }

    #[test]
    fn encapsulated_fragments_and_what_follows_them_are_checked() {
        let frag = |len: u32| [&[0xFE, 0xFF, 0x00, 0xE0][..], &len.to_le_bytes(), &vec![1u8; len.min(64) as usize]].concat();
        let end = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
        let open = [0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        let good = [&open[..], &frag(0), &frag(8), &end, &element((0xFFFA, 0xFFFA), b"SQ", b"")].concat();
        assert_eq!(check(&file(EXPLICIT_LE, &good)).unwrap().1, Some(PixelData::Encapsulated));
        let lie = [&open[..], &frag(0), &frag(0xFFFF_FFF0)].concat();
        assert!(check(&file(EXPLICIT_LE, &lie)).unwrap_err().contains("pixel data fragment (FFFE,E000)"));
        let after = [&open[..], &frag(0), &end, &pixels(0)[..8], &0xFFFF_FFF0u32.to_le_bytes()].concat();
        assert!(check(&file(EXPLICIT_LE, &after)).unwrap_err().contains("claims 4294967280"));
    }

    #[test]
    fn a_binary_value_must_hold_whole_values() {
        let sl = [&[0x08, 0x00, 0x01, 0x02, b'S', b'L', 6, 0][..], &[0u8; 6]].concat();
        let e = check(&file(EXPLICIT_LE, &sl)).unwrap_err();
        assert!(e.contains("(0008,0201) at byte 172 has VR SL and a length of 6, not a multiple of 4"), "{e}");
        let implicit = [&[0x28, 0x00, 0x10, 0x00, 3, 0, 0, 0][..], &[0u8; 3]].concat(); // Rows is US
        assert!(check(&file("1.2.840.10008.1.2", &implicit)).unwrap_err().contains("VR US and a length of 3"));
        assert!(check(&file(EXPLICIT_LE, &element((0x0028, 0x0010), b"US", &[0, 2]))).is_ok());
    }
}
