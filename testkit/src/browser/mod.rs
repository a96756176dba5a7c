//! A real headless browser for tests: loads a local HTML file in Chromium
//! with the network off, and reports what the page did (its DOM after the
//! scripts ran, console messages, errors, every URL it tried to load, the
//! values of JavaScript expressions) and a PNG screenshot.
//!
//! Chromium is driven through the DevTools protocol over
//! `--remote-debugging-pipe`: JSON messages separated by NUL bytes, commands
//! on the browser's fd 3 and answers and events on its fd 4. So there is no
//! WebDriver server (chromedriver, which Debian does not package with a
//! matching version), no websocket or HTTP client and no async runtime: two
//! pipes, a reader thread and `serde_json`.
//!
//! What Chromium 156 does here, worth knowing when writing a test:
//! - A `file://` page may load sibling files with classic `<script src>`,
//!   `<img>` and `<link>` (they show in [`Rendered::requests`]), but
//!   `fetch`/XHR of `file://` URLs and `<script type="module" src>` are
//!   refused (CORS: a file page's origin is `null`); inline modules run.
//! - A failed load can be reported twice in [`Rendered::errors`]: once from
//!   the network (`failed to load URL: net::ERR_...`) and once from the
//!   console (`error: Failed to load resource: ...`).
//! - After the load event, [`render`] waits for two frames and for no load
//!   to be pending and no event for 50 ms, not for later timers: to wait
//!   for those, pass an expression such as
//!   `new Promise(r => setTimeout(r, 500))` (promises are awaited).
//! - Console arguments that are objects appear by their description
//!   (`Object`, `Array(2)`), not as JSON.
//!
//! Each [`render`] starts a fresh browser with a throw-away profile, in its
//! own process group, and kills that group before returning, so no Chromium
//! process outlives it. Where there is no Chromium, the first render
//! installs Debian's ([`chromium`] says when it can). Test-only: nothing
//! here is meant for production code.
//!
//! Files: `find` (which binary), `process` (starting and killing it),
//! `protocol` (commands and answers on the pipe), `page` (a render's
//! steps), `events` (what the page did), `blank` (is a screenshot empty).
//!
//! ```ignore
//! let shot = scratch("report").join("shot.png");
//! let page = browser::render(&html, &["document.querySelectorAll('section').length"], &shot, 1280, 800, true, Duration::from_secs(60))?;
//! assert!(page.errors.is_empty(), "{:?}", page.errors);
//! assert!(!browser::is_blank(&shot)?);
//! ```

mod blank;
mod events;
mod find;
mod page;
mod process;
mod protocol;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use blank::is_blank;
pub use find::chromium;
use process::Browser;

/// What a page did when loaded.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// `document.documentElement.outerHTML` once the page loaded, its
    /// scripts ran and `expressions` were evaluated (the state the
    /// screenshot shows).
    pub dom: String,
    /// Every console message as `LEVEL: text`, in order: `console.*` calls
    /// (level = the call: `log`, `info`, `warning`, `error`, `debug`,
    /// `assert`, ...), browser log entries (`verbose`, `info`, `warning`,
    /// `error`; e.g. `error: Failed to load resource: ...`) and uncaught
    /// exceptions (`error: Uncaught ...`).
    pub console: Vec<String>,
    /// Errors: `console.error` and failed `console.assert` calls, uncaught
    /// exceptions (also in promises), log entries of level `error`, and
    /// failed resource loads (`failed to load URL: net::ERR_...`).
    pub errors: Vec<String>,
    /// Every URL the page tried to load other than the page itself, in
    /// order, including blocked ones; `data:` and `blob:` URLs (content
    /// inside the page) are left out.
    pub requests: Vec<String>,
    /// The JSON value of each of `expressions`, in order (a promise is
    /// awaited; `undefined` and values JSON cannot hold are `null`).
    pub eval: Vec<Value>,
}

/// Loads the file `html` in a fresh headless Chromium with the network off
/// (offline emulation, every `http`/`https` URL blocked, no DNS), waits for
/// its load event and then until no load is pending, evaluates each
/// JavaScript expression in `expressions` and keeps its JSON value, writes a
/// PNG screenshot of the `width` x `height` CSS pixel viewport (one PNG pixel
/// per CSS pixel; the whole page when `full_page`) to `screenshot`, and
/// closes the browser. `timeout` bounds all of it up to the screenshot
/// (not a first use's install of Chromium, see [`chromium`]); closing adds
/// at most 3 s. The browser's process group is killed before this returns,
/// whatever happened. Errs when Chromium is missing and cannot be
/// installed, fails, times out, the page does not load, or an expression
/// throws.
pub fn render(
    html: &Path,
    expressions: &[&str],
    screenshot: &Path,
    width: u32,
    height: u32,
    full_page: bool,
    timeout: Duration,
) -> Result<Rendered, String> {
    render_in(html, expressions, screenshot, (width, height), full_page, timeout).0
}

/// [`render`], also giving the browser's process group id, when it started
/// (for the tests that check it is gone).
fn render_in(
    html: &Path,
    expressions: &[&str],
    screenshot: &Path,
    (width, height): (u32, u32),
    full_page: bool,
    timeout: Duration,
) -> (Result<Rendered, String>, Option<i32>) {
    let started = chromium().and_then(|binary| {
        let html = std::fs::canonicalize(html).map_err(|e| format!("{}: {e}", html.display()))?;
        let deadline = Instant::now() + timeout;
        Ok((file_url(&html), Browser::start(&binary, (width, height), deadline)?))
    });
    let (url, mut browser) = match started {
        Ok(s) => s,
        Err(e) => return (Err(e), None),
    };
    let rendered = browser.page(&url, expressions, screenshot, (width, height), full_page);
    browser.close();
    let pgid = browser.pgid;
    drop(browser);
    (rendered, Some(pgid))
}

/// The `file://` URL of an absolute path, bytes outside the unreserved set
/// percent-encoded.
fn file_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url += &format!("%{b:02X}");
        }
    }
    url
}
