//! A stage's log file: its end, as errors quote it (one function that the
//! `command` kind, the Slurm executor and the report share), and the lines a
//! kind writes to it as they come (the training kinds' epochs). Also how
//! errors quote a value that may be long (a command line, a parameter, a
//! path): [`shorten`] and [`quote`], for the kinds and the engine alike.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;

use crate::StageError;

/// How a log line starts when a person must see it (a file of an input left
/// out, say): a pipeline run keeps it in the entry's log like any line, and
/// `lungflow exec` prints it on stderr too ([`warnings`]).
pub const WARNING: &str = "warning: ";

/// How much of a log [`warnings`] reads, bytes (a command's log may be huge).
pub const WARNINGS_SCAN_BYTES: u64 = 16 << 20;

/// The lines of the log at `path` that start with [`WARNING`], in order,
/// from its first [`WARNINGS_SCAN_BYTES`] bytes; none when it cannot be read.
pub fn warnings(path: &Path) -> Vec<String> {
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(WARNINGS_SCAN_BYTES).read_to_end(&mut bytes));
    if read.is_err() {
        return Vec::new();
    }
    String::from_utf8_lossy(&bytes).lines().filter(|l| l.starts_with(WARNING)).map(str::to_owned).collect()
}

/// Creates the log file at `path` and returns a function that writes one
/// line to it, unbuffered so that a running stage's log is up to date; a
/// line that cannot be written is dropped.
pub fn line_log(path: &Path) -> Result<impl FnMut(&str) + use<>, StageError> {
    let mut file = std::fs::File::create(path).map_err(StageError::msg)?;
    Ok(move |line: &str| {
        let _ = writeln!(file, "{line}");
    })
}

/// The last `lines` lines of the text file at `path`; empty when it cannot be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Values up to this many bytes are quoted whole.
pub const QUOTE_WHOLE_BYTES: usize = 1024;
/// Bytes quoted from each end of a longer value.
pub const QUOTE_END_BYTES: usize = 300;

/// `text` as an error quotes it: whole up to [`QUOTE_WHOLE_BYTES`];
/// otherwise its first and last [`QUOTE_END_BYTES`] (cut at character
/// boundaries) around a note with its length, so that a 3 MB command line
/// makes a message of about 700 bytes, not 3 MB.
pub fn shorten(text: &str) -> Cow<'_, str> {
    if text.len() <= QUOTE_WHOLE_BYTES {
        return Cow::Borrowed(text);
    }
    let mut head = QUOTE_END_BYTES;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - QUOTE_END_BYTES;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let left_out = tail - head;
    Cow::Owned(format!("{}[... {left_out} bytes left out, {} bytes in all ...]{}", &text[..head], text.len(), &text[tail..]))
}

/// `value` quoted for an error (as `{:?}` writes it), [`shorten`]ed first.
pub fn quote(value: &str) -> String {
    format!("{:?}", shorten(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_by_their_ends_and_their_length() {
        assert_eq!(quote("echo hi"), "\"echo hi\"");
        let whole = "x".repeat(QUOTE_WHOLE_BYTES);
        assert_eq!(shorten(&whole), whole.as_str());
        let long = format!("echo {}; done", "é".repeat(1_500_000));
        let short = shorten(&long);
        assert!(short.len() <= 2 * QUOTE_END_BYTES + 64, "{} bytes", short.len());
        assert!(short.starts_with("echo éé") && short.ends_with("éé; done"), "{short}");
        let left_out = long.len() - 2 * QUOTE_END_BYTES + 1;
        assert!(short.contains(&format!("[... {left_out} bytes left out, {} bytes in all ...]", long.len())), "{short}");
    }

    #[test]
    fn the_last_lines_or_nothing() {
        let log = std::env::temp_dir().join(format!("lf-log-tail-{}.txt", std::process::id()));
        std::fs::write(&log, "a\nb\nc\n").unwrap();
        assert_eq!(log_tail(&log, 2), "b\nc");
        assert_eq!(log_tail(&log, 10), "a\nb\nc");
        std::fs::remove_file(&log).unwrap();
        assert_eq!(log_tail(&log, 3), "");
    }

    #[test]
    fn the_warnings_are_the_lines_that_start_with_the_marker() {
        let log = std::env::temp_dir().join(format!("lf-log-warnings-{}.txt", std::process::id()));
        std::fs::write(&log, "epoch 1\nwarning: left out a.dcm: why\n  warning: indented\nwarning: two").unwrap();
        assert_eq!(warnings(&log), ["warning: left out a.dcm: why", "warning: two"]);
        std::fs::remove_file(&log).unwrap();
        assert!(warnings(&log).is_empty());
    }

    #[test]
    fn each_line_is_in_the_file_as_soon_as_it_is_written() {
        let log = std::env::temp_dir().join(format!("lf-line-log-{}.txt", std::process::id()));
        let mut write = line_log(&log).unwrap();
        write("epoch 1");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "epoch 1\n");
        write("epoch 2");
        assert_eq!(log_tail(&log, 1), "epoch 2");
        std::fs::remove_file(&log).unwrap();
        assert!(line_log(Path::new("/nonexistent/dir/log.txt")).is_err());
    }
}
