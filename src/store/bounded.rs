//! Reading a file the engine holds in memory whole (a manifest, a task or
//! exit file, a metrics file, a picture for the report) with a cap: a
//! damaged or hostile file larger than any the engine writes is an error
//! naming it and its size, never an allocation the machine cannot give.

use std::fs::File;
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The cap for a JSON file the engine or a kind writes beside outputs
/// (manifests, task and exit files, metrics, splits, run records): 256 MiB,
/// a manifest of about two million output files.
pub const JSON_CAP: u64 = 256 << 20;

/// The cap for a picture inlined into the report: 64 MiB.
pub const PICTURE_CAP: u64 = 64 << 20;

/// The bytes of `path`, refused with [`ErrorKind::InvalidData`] when the file
/// is over `cap` bytes; other errors (`NotFound`, say) as the filesystem
/// gives them. The caller names the file (the message says only the sizes).
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let over = |size: String| Error::new(ErrorKind::InvalidData, format!("{size} bytes, over the cap of {cap} bytes for this file"));
    if size > cap {
        return Err(over(size.to_string()));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(over(format!("more than {cap}")));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|e| Error::new(ErrorKind::InvalidData, format!("{} is not UTF-8: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_its_cap_is_refused_before_it_is_read() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_capped(&path, 10).unwrap(), b"0123456789");
        let e = read_capped(&path, 9).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "10 bytes, over the cap of 9 bytes for this file");
        // A sparse file of 1 TiB costs nothing to make and nothing to refuse.
        let huge = dir.path().join("huge.json");
        File::create(&huge).unwrap().set_len(1 << 40).unwrap();
        assert!(read_capped(&huge, JSON_CAP).unwrap_err().to_string().starts_with("1099511627776 bytes, over the cap"));
        assert_eq!(read_capped(&dir.path().join("none"), 9).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(read_text_capped(&path, 10).unwrap(), "0123456789");
    }
}
