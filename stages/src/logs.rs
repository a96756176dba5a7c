//! The end of a log file, as errors quote it: one function that the
//! `command` kind, the Slurm executor and the report share.

use std::path::Path;

/// The last `lines` lines of the text file at `path`; empty when it cannot be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_or_nothing() {
        let log = std::env::temp_dir().join(format!("lf-log-tail-{}.txt", std::process::id()));
        std::fs::write(&log, "a\nb\nc\n").unwrap();
        assert_eq!(log_tail(&log, 2), "b\nc");
        assert_eq!(log_tail(&log, 10), "a\nb\nc");
        std::fs::remove_file(&log).unwrap();
        assert_eq!(log_tail(&log, 3), "");
    }
}
