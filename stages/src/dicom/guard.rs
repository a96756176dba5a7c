//! A cheap structural check of a DICOM file before the full parser sees it:
//! every element's declared length must fit in the bytes that follow it.
//!
//! dicom-rs allocates what a length field claims before reading, so a corrupt
//! length of 4 GB costs 4 GB of memory and seconds of time per file; this
//! scan turns it into an error naming the element and the byte offset.

/// How the data set after the file meta group is encoded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
}

/// VRs whose explicit encoding has a 4-byte length.
fn long_length_vr(vr: &[u8]) -> bool {
    matches!(vr, b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV")
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u16(&mut self, big: bool) -> Option<u16> {
        let b = self.bytes.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(if big { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) })
    }
    fn u32(&mut self, big: bool) -> Option<u32> {
        let b = self.bytes.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
    }
}

/// Checks the preamble, file meta group and every element length of a file.
/// Returns a reason when the file cannot be a well-formed DICOM file.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err("not a DICOM file (no DICM marker after the 128-byte preamble)".into());
    }
    let mut c = Cursor { bytes, pos: 132 };
    let mut encoding = Encoding::ExplicitLittle;
    let mut in_meta = true;
    while c.pos < bytes.len() {
        let at = c.pos;
        let enc = if in_meta { Encoding::ExplicitLittle } else { encoding };
        let big = enc == Encoding::ExplicitBig;
        let truncated = || format!("truncated element header at byte {at}");
        let group = c.u16(big).ok_or_else(truncated)?;
        if in_meta && group != 0x0002 {
            in_meta = false;
            c.pos = at;
            continue;
        }
        let element = c.u16(big).ok_or_else(truncated)?;
        let tag = format!("({group:04X},{element:04X})");
        let (length, vr) = if group == 0xFFFE || enc == Encoding::ImplicitLittle {
            (c.u32(big).ok_or_else(truncated)?, None)
        } else {
            let vr = bytes.get(c.pos..c.pos + 2).ok_or_else(truncated)?;
            c.pos += 2;
            if long_length_vr(vr) {
                c.pos += 2;
                (c.u32(big).ok_or_else(truncated)?, Some(vr))
            } else {
                (c.u16(big).ok_or_else(truncated)? as u32, Some(vr))
            }
        };
        if length == u32::MAX {
            if (group, element) == (0x7FE0, 0x0010) {
                return check_fragments(&mut c, big);
            }
            continue; // sequence or item of undefined length: its contents follow
        }
        let remaining = bytes.len() - c.pos;
        if length as usize > remaining {
            return Err(format!(
                "element {tag} at byte {at} claims {length} bytes but only {remaining} remain (truncated or corrupt file)"
            ));
        }
        let is_container = vr == Some(b"SQ") || (group, element) == (0xFFFE, 0xE000);
        if in_meta && (group, element) == (0x0002, 0x0010) {
            let uid = String::from_utf8_lossy(&bytes[c.pos..c.pos + length as usize]);
            match uid.trim_end_matches(['\0', ' ']) {
                "1.2.840.10008.1.2" => encoding = Encoding::ImplicitLittle,
                "1.2.840.10008.1.2.2" => encoding = Encoding::ExplicitBig,
                "1.2.840.10008.1.2.1.99" => return Ok(()), // deflated: the rest is a compressed stream
                _ => encoding = Encoding::ExplicitLittle,
            }
        }
        if !is_container {
            c.pos += length as usize;
        }
    }
    Ok(())
}

/// Encapsulated pixel data: a run of items holding raw fragments.
fn check_fragments(c: &mut Cursor<'_>, big: bool) -> Result<(), String> {
    loop {
        let at = c.pos;
        let truncated = || format!("truncated pixel data fragment header at byte {at}");
        let group = c.u16(big).ok_or_else(truncated)?;
        let element = c.u16(big).ok_or_else(truncated)?;
        let length = c.u32(big).ok_or_else(truncated)?;
        match (group, element) {
            (0xFFFE, 0xE0DD) => return Ok(()),
            (0xFFFE, 0xE000) => {
                let remaining = c.bytes.len() - c.pos;
                if length as usize > remaining {
                    return Err(format!(
                        "pixel data fragment at byte {at} claims {length} bytes but only {remaining} remain (truncated or corrupt file)"
                    ));
                }
                c.pos += length as usize;
            }
            _ => return Err(format!("unexpected element ({group:04X},{element:04X}) inside encapsulated pixel data at byte {at}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dataset: &[u8], syntax: &str) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        let mut uid = syntax.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        f.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        f.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        f.extend_from_slice(&uid);
        f.extend_from_slice(dataset);
        f
    }

    #[test]
    fn accepts_well_formed_and_rejects_lying_lengths() {
        // (0010,0010) PN "AB" then (7FE0,0010) OW of 4 bytes, explicit VR LE.
        let mut ds = vec![0x10, 0x00, 0x10, 0x00, b'P', b'N', 2, 0, b'A', b'B'];
        ds.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0, 4, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(check(&file(&ds, "1.2.840.10008.1.2.1")), Ok(()));
        let mut lying = ds.clone();
        lying[18..22].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let e = check(&file(&lying, "1.2.840.10008.1.2.1")).unwrap_err();
        assert!(e.contains("(7FE0,0010)") && e.contains("claims 4294967280 bytes"), "{e}");
        let truncated = file(&ds, "1.2.840.10008.1.2.1");
        assert!(check(&truncated[..truncated.len() - 2]).unwrap_err().contains("claims 4 bytes but only 2 remain"));
        assert!(check(b"hello").unwrap_err().contains("not a DICOM file"));
    }

    #[test]
    fn implicit_vr_lengths_are_checked_too() {
        let ds = [0x10, 0x00, 0x10, 0x00, 0xF0, 0xFF, 0xFF, 0xFF, b'A', b'B'];
        let e = check(&file(&ds, "1.2.840.10008.1.2")).unwrap_err();
        assert!(e.contains("(0010,0010)"), "{e}");
    }
}
