//! Reading one DICOM file safely: the bytes, the structural check
//! ([`super::guard`]), a bounded inflate of deflated data sets, and
//! the parse, all on a thread pool whose stack size is known.
//!
//! Caps, each refused with the file and the number:
//! - a file must carry `DICM` in its first 132 bytes (read before the rest);
//! - a file over [`MAX_FILE_BYTES`] is refused before it is read whole;
//! - a deflated data set inflating past [`MAX_INFLATED_BYTES`] is refused
//!   (the inflated bytes are checked by the guard, then parsed as explicit VR
//!   little endian, so dicom-rs never inflates anything itself).

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use dicom::object::file::ReadPreamble;
use dicom::object::{DefaultDicomObject, FileMetaTable, InMemDicomObject, OpenFileOptions};
use dicom::transfer_syntax::entries::EXPLICIT_VR_LITTLE_ENDIAN;

use super::guard::{self, Encoding, PixelData};
use crate::StageError;

/// Largest DICOM file read (one slice: a 16-bit 2048 x 2048 frame is 8 MiB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Largest inflated data set of a deflated file.
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;

/// Stack of each reader thread. The guard's depth limit keeps the parser's
/// recursion far inside it (tests: a file nested [`guard::MAX_DEPTH`] deep
/// parses on a thread of the default 2 MiB stack).
pub const READER_STACK_BYTES: usize = 16 << 20;

/// The error type of this module: `path: reason`.
pub(super) fn err(path: &Path, reason: impl std::fmt::Display) -> StageError {
    StageError(format!("{}: {reason}", path.display()))
}

/// A file that passed every check, with its data set inflated if it was deflated.
pub struct Checked {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The inflated data set of a deflated file.
    inflated: Option<Vec<u8>>,
    /// The top-level Pixel Data element.
    pub pixel_data: Option<PixelData>,
}

/// Runs `f` on the reader pool (threads with [`READER_STACK_BYTES`] of stack);
/// runs it in place when already on it.
pub fn on_reader_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .stack_size(READER_STACK_BYTES)
            .thread_name(|i| format!("dicom-reader-{i}"))
            .build()
            .expect("the DICOM reader threads start")
    });
    pool.install(f)
}

/// Reads a file, refusing a non-DICOM or oversized one before reading it
/// whole, and checks its structure.
pub fn read_checked(path: &Path) -> Result<Checked, StageError> {
    let cannot = |e: std::io::Error| err(path, format!("cannot read: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    let mut bytes = Vec::with_capacity(132);
    (&mut file).take(132).read_to_end(&mut bytes).map_err(cannot)?;
    guard::check_marker(&bytes).map_err(|reason| err(path, reason))?;
    if size > MAX_FILE_BYTES {
        return Err(err(path, format!("file is {size} bytes, over the {MAX_FILE_BYTES}-byte cap for one DICOM file")));
    }
    file.take(MAX_FILE_BYTES - 132).read_to_end(&mut bytes).map_err(cannot)?;
    check_bytes(path, bytes)
}

/// Checks a file's bytes (the guard, then the bounded inflate).
pub fn check_bytes(path: &Path, bytes: Vec<u8>) -> Result<Checked, StageError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(err(path, format!("file is {} bytes, over the {MAX_FILE_BYTES}-byte cap for one DICOM file", bytes.len())));
    }
    let (meta, pixel_data) = guard::check(&bytes).map_err(|reason| err(path, reason))?;
    if meta.encoding != Encoding::Deflated {
        return Ok(Checked { bytes, inflated: None, pixel_data });
    }
    let inflated = inflate(&bytes[meta.dataset_start..]).map_err(|reason| err(path, reason))?;
    let pixel_data = guard::check_dataset(&inflated, 0, Encoding::ExplicitLittle)
        .map_err(|reason| err(path, format!("in the inflated data set: {reason}")))?;
    Ok(Checked { bytes, inflated: Some(inflated), pixel_data })
}

/// Inflates a raw deflate stream, refusing one that grows past the cap.
fn inflate(deflated: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot inflate the deflated data set: {e}"))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(format!("the deflated data set inflates past the {MAX_INFLATED_BYTES}-byte cap ({} bytes compressed)", deflated.len()));
    }
    Ok(out)
}

/// Runs third-party decoding code, turning a panic on hostile bytes into an
/// error naming the file (the fuzz target found one in dicom-rs's RLE decoder).
pub fn no_panic<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T, StageError>) -> Result<T, StageError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let why = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied()).unwrap_or("no message");
        Err(err(path, format!("{what} failed on corrupt data (it panicked: {why})")))
    })
}

/// Parses a checked file, up to (not including) `until` when given.
pub fn parse(path: &Path, checked: &Checked, until: Option<dicom::core::Tag>) -> Result<DefaultDicomObject, StageError> {
    no_panic(path, "the DICOM parser", || parse_unguarded(path, checked, until))
}

fn parse_unguarded(path: &Path, checked: &Checked, until: Option<dicom::core::Tag>) -> Result<DefaultDicomObject, StageError> {
    let unreadable = |e: &dyn std::fmt::Display| err(path, format!("not a readable DICOM file ({e})"));
    let Some(inflated) = &checked.inflated else {
        let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Always);
        if let Some(tag) = until {
            options = options.read_until(tag);
        }
        return options.from_reader(&checked.bytes[..]).map_err(|e| unreadable(&e));
    };
    let mut meta = FileMetaTable::from_reader(&checked.bytes[128..]).map_err(|e| unreadable(&e))?;
    let ts = EXPLICIT_VR_LITTLE_ENDIAN.erased();
    let dataset = InMemDicomObject::read_dataset_with_ts(&inflated[..], &ts).map_err(|e| unreadable(&e))?;
    // What follows sees the inflated data set, which is explicit VR little endian.
    meta.set_transfer_syntax(&ts);
    Ok(dataset.with_exact_meta(meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::testdata::slice_bytes;
    use lungflow_testkit::dicom::{EXPLICIT_LE, dataset, deflate_bomb, file, nested_sequences};

    #[test]
    fn a_non_dicom_file_is_refused_from_its_first_132_bytes() {
        let path = lungflow_testkit::scratch("read").join("big.bin");
        std::fs::File::create(&path).unwrap().set_len(200 << 20).unwrap(); // sparse: nothing to read
        let start = std::time::Instant::now();
        let e = read_checked(&path).err().unwrap().0;
        assert!(e.starts_with(&path.display().to_string()) && e.contains("not a DICOM file"), "{e}");
        assert!(start.elapsed().as_secs_f64() < 0.5, "took {:?}", start.elapsed());
    }

    #[test]
    fn an_oversized_file_is_refused_before_it_is_read_whole() {
        let path = lungflow_testkit::scratch("read").join("huge.dcm");
        std::fs::write(&path, file(EXPLICIT_LE, b"")).unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = read_checked(&path).err().unwrap().0;
        assert!(e.contains("file is 67108865 bytes, over the 67108864-byte cap"), "{e}");
    }

    #[test]
    fn a_deflate_bomb_is_refused_at_the_cap() {
        let bomb = deflate_bomb(MAX_INFLATED_BYTES as usize + (1 << 20));
        assert!(bomb.len() < 200_000, "{}", bomb.len());
        let e = check_bytes(Path::new("bomb.dcm"), bomb).err().unwrap().0;
        assert!(e.starts_with("bomb.dcm: the deflated data set inflates past the 67108864-byte cap"), "{e}");
    }

    #[test]
    fn nesting_at_the_limit_parses_on_a_default_stack_and_5000_levels_are_a_clean_error() {
        let nested = |depth| file(EXPLICIT_LE, &[nested_sequences(depth), dataset(&slice_bytes()).to_vec()].concat());
        let at_limit = nested(guard::MAX_DEPTH / 2);
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let checked = check_bytes(Path::new("deep.dcm"), at_limit).unwrap();
                parse(Path::new("deep.dcm"), &checked, None).map(|_| ()).map_err(|e| e.0)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(parsed, Ok(()));
        let path = lungflow_testkit::scratch("read").join("deeper.dcm");
        std::fs::write(&path, nested(5000)).unwrap();
        let e = on_reader_stack(|| read_checked(&path)).err().unwrap().0;
        assert!(e.contains("deeper.dcm: sequences nested deeper than 32 levels at byte"), "{e}");
    }

    #[test]
    fn a_panic_in_decoding_code_is_an_error_naming_the_file() {
        let e =
            no_panic(Path::new("x.dcm"), "the RLE decoder", || -> Result<(), StageError> { panic!("index out of bounds") }).unwrap_err();
        assert_eq!(e.0, "x.dcm: the RLE decoder failed on corrupt data (it panicked: index out of bounds)");
        assert_eq!(no_panic(Path::new("x.dcm"), "-", || Ok(3)).unwrap(), 3);
    }
}
