//! DICOM bytes built and broken by hand, for the reader's tests and the fuzz
//! corpus: explicit VR little endian elements, a minimal file meta group,
//! and the hostile slices the reader must refuse (deep nesting, a length
//! lie behind an unknown VR, a deflate bomb, broken geometry and pixels, a
//! HighBit outside BitsStored, a colour PhotometricInterpretation).

use std::io::Write;

/// Explicit VR little endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
/// Deflated explicit VR little endian.
pub const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// VRs with a 2-byte length in explicit VR (PS3.5 table 7.1-2).
const SHORT: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI",
    b"UL", b"US",
];

/// One explicit VR little endian element; the value is padded to even length.
pub fn element(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    if v.len() % 2 == 1 {
        v.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
    }
    let mut out = [tag.0.to_le_bytes(), tag.1.to_le_bytes()].concat();
    out.extend_from_slice(vr);
    if SHORT.contains(&vr) {
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&v);
    out
}

/// A file: 128-byte preamble, `DICM`, a meta group holding its group length
/// and the transfer syntax, then `dataset` as given.
pub fn file(syntax: &str, dataset: &[u8]) -> Vec<u8> {
    let ts = element((0x0002, 0x0010), b"UI", syntax.as_bytes());
    let mut f = vec![0u8; 128];
    f.extend_from_slice(b"DICM");
    f.extend_from_slice(&element((0x0002, 0x0000), b"UL", &(ts.len() as u32).to_le_bytes()));
    f.extend_from_slice(&ts);
    f.extend_from_slice(dataset);
    f
}

/// The data set of a file with a (0002,0000) group length.
pub fn dataset(file: &[u8]) -> &[u8] {
    let group_length = u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
    &file[144 + group_length..]
}

/// Top-level elements of an explicit VR little endian data set without
/// sequences: (tag, start, end) byte ranges.
fn elements(ds: &[u8]) -> Vec<((u16, u16), usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= ds.len() {
        let tag = (u16::from_le_bytes([ds[pos], ds[pos + 1]]), u16::from_le_bytes([ds[pos + 2], ds[pos + 3]]));
        let vr: &[u8; 2] = ds[pos + 4..pos + 6].try_into().unwrap();
        let (header, len) = if SHORT.contains(&vr) {
            (8, u16::from_le_bytes([ds[pos + 6], ds[pos + 7]]) as usize)
        } else {
            (12, u32::from_le_bytes(ds[pos + 8..pos + 12].try_into().unwrap()) as usize)
        };
        out.push((tag, pos, pos + header + len));
        pos += header + len;
    }
    out
}

/// `ds` with the top-level element `tag` replaced by (or, when absent,
/// inserted in tag order as) the given one.
pub fn with_element(ds: &[u8], tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let new = element(tag, vr, value);
    let all = elements(ds);
    let (start, end) = match all.iter().find(|(t, ..)| *t == tag) {
        Some(&(_, s, e)) => (s, e),
        None => {
            let at = all.iter().find(|(t, ..)| *t > tag).map_or(ds.len(), |&(_, s, _)| s);
            (at, at)
        }
    };
    [&ds[..start], &new[..], &ds[end..]].concat()
}

/// A sequence element nested `depth` levels deep (sequence, item, sequence,
/// ...), all of undefined length and closed by delimiters: 20 bytes a level.
pub fn nested_sequences(depth: usize) -> Vec<u8> {
    let open_seq = [0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
    let open_item = [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
    let close_item = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0];
    let close_seq = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
    let mut out = Vec::with_capacity(depth * 36);
    for _ in 0..depth {
        out.extend_from_slice(&open_seq);
        out.extend_from_slice(&open_item);
    }
    for _ in 0..depth {
        out.extend_from_slice(&close_item);
        out.extend_from_slice(&close_seq);
    }
    out
}

/// A raw deflate stream of `data` (as DICOM's deflated syntax wants it).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `valid` (a whole explicit VR little endian file) rewritten as a deflated one.
pub fn deflated(valid: &[u8]) -> Vec<u8> {
    file(DEFLATED, &deflate(dataset(valid)))
}

/// A deflate bomb: a deflated file whose data set inflates to `inflated`
/// zero bytes (about a thousandth of that on disk).
pub fn deflate_bomb(inflated: usize) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(chunk.len());
        e.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    file(DEFLATED, &e.finish().unwrap())
}

/// Hostile variants of a valid explicit VR little endian slice, named, each
/// with a fragment of the error the reader must give. `depth` is the nesting
/// of the deep case (the reader must refuse 5,000); `bomb` the inflated size
/// of the deflate bomb.
pub fn hostile(valid: &[u8], depth: usize, bomb: usize) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let ds = dataset(valid);
    let with = |tag, vr, value: &[u8]| file(EXPLICIT_LE, &with_element(ds, tag, vr, value));
    let mut lie = element((0x0009, 0x0010), b"ZZ", b"");
    lie[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let (one, eight) = (1u16.to_le_bytes(), 8u16.to_le_bytes());
    vec![
        ("deep-nesting", file(EXPLICIT_LE, &[nested_sequences(depth), ds.to_vec()].concat()), "nested deeper than"),
        ("unknown-vr-length-lie", file(EXPLICIT_LE, &[lie, ds.to_vec()].concat()), "claims 4294967280 bytes"),
        ("deflate-bomb", deflate_bomb(bomb), "inflate"),
        ("zero-orientation", with((0x0020, 0x0037), b"DS", b"0\\0\\0\\0\\0\\0"), "ImageOrientationPatient"),
        ("oblique-axes", with((0x0020, 0x0037), b"DS", b"1\\0\\0\\1\\0\\0"), "not orthogonal"),
        (
            "rows-columns-1",
            file(EXPLICIT_LE, &with_element(&with_element(ds, (0x0028, 0x0010), b"US", &one), (0x0028, 0x0011), b"US", &one)),
            "Pixel Data holds",
        ),
        ("bits-allocated-8", with((0x0028, 0x0100), b"US", &8u16.to_le_bytes()), "BitsAllocated 8"),
        (
            "bits-8-of-16-bit-data",
            file(EXPLICIT_LE, &with_element(&with_element(ds, (0x0028, 0x0100), b"US", &eight), (0x0028, 0x0101), b"US", &eight)),
            "Pixel Data holds",
        ),
        ("slope-zero", with((0x0028, 0x1053), b"DS", b"0"), "RescaleSlope"),
        ("slope-huge", with((0x0028, 0x1053), b"DS", b"1e308"), "RescaleSlope"),
        ("spacing-tiny", with((0x0028, 0x0030), b"DS", b"1e-300\\1e-300"), "PixelSpacing"),
        ("spacing-huge", with((0x0028, 0x0030), b"DS", b"1e+300\\1e+300"), "PixelSpacing"),
        ("high-bit-200", with((0x0028, 0x0102), b"US", &200u16.to_le_bytes()), "HighBit 200 with BitsStored"),
        ("rgb-one-sample", with((0x0028, 0x0004), b"CS", b"RGB"), "PhotometricInterpretation RGB needs SamplesPerPixel 3"),
    ]
}
