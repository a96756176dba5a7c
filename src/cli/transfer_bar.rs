//! The progress bar of `push` and `pull`: files, bytes, rate and time left.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::store::remote::transfer::Tally;

/// A bar over the bytes to move, counting files as they finish.
pub struct TransferBar {
    bar: ProgressBar,
    files: AtomicU64,
}

impl TransferBar {
    /// A bar for `bytes` to move; hidden when `shown` is false (JSON output).
    pub fn new(what: &str, bytes: u64, shown: bool) -> TransferBar {
        let bar =
            ProgressBar::with_draw_target(Some(bytes), if shown { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        let style = ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{binary_bytes}}/{{binary_total_bytes}} {{binary_bytes_per_sec}} ETA {{eta}} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        TransferBar { bar, files: AtomicU64::new(0) }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Tally for TransferBar {
    fn file(&self, bytes: u64, _moved: bool) {
        let files = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.inc(bytes);
        self.bar.set_message(format!("{files} files"));
    }
}
