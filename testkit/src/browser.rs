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
//! process outlives it. Test-only: nothing here is meant for production code.
//!
//! ```ignore
//! let shot = scratch("report").join("shot.png");
//! let page = browser::render(&html, &["document.querySelectorAll('section').length"], &shot, 1280, 800, true, Duration::from_secs(60))?;
//! assert!(page.errors.is_empty(), "{:?}", page.errors);
//! assert!(!browser::is_blank(&shot)?);
//! ```

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The Chromium binary: `$LUNGFLOW_CHROMIUM`, else `chromium`,
/// `chromium-browser` or `google-chrome` on `PATH` (for a launcher script,
/// such as Debian's `/usr/bin/chromium`, the binary it starts). The error
/// says how to install it.
pub fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("LUNGFLOW_CHROMIUM") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("LUNGFLOW_CHROMIUM is {}, which is not a file", p.display())) };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(found) = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()) {
            return Ok(behind_launcher(&found, name));
        }
    }
    Err("no Chromium: the browser tests need one. Install it (Debian/Ubuntu: `apt-get install chromium`, \
         as .ci/run does) or set LUNGFLOW_CHROMIUM to a Chromium or Chrome binary"
        .into())
}

/// The browser binary a launcher script starts, when `found` is one whose
/// binary sits where Debian (`/usr/lib/chromium/chromium`) or Google
/// (`chrome` beside the script) puts it; else `found`. Debian's launcher
/// sources `/etc/chromium.d` (extension and GPU flags, Google API keys, a
/// `/dev/shm` check that misreads some mounts and says so on stderr): the
/// binary alone takes only our flags.
fn behind_launcher(found: &Path, name: &str) -> PathBuf {
    let mut head = [0u8; 2];
    let script = std::fs::File::open(found).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == b"#!";
    if script {
        let real = std::fs::canonicalize(found).unwrap_or_else(|_| found.to_path_buf());
        let beside = real.parent().map(|d| d.join("chrome"));
        for candidate in [Some(PathBuf::from("/usr/lib").join(name).join(name)), beside].into_iter().flatten() {
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    found.to_path_buf()
}

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
/// closes the browser. `timeout` bounds all of it up to the screenshot;
/// closing adds at most 3 s. The browser's process group is killed before
/// this returns, whatever happened. Errs when Chromium is missing, fails, times out, the page does
/// not load, or an expression throws.
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
    let deadline = Instant::now() + timeout;
    let started = std::fs::canonicalize(html)
        .map_err(|e| format!("{}: {e}", html.display()))
        .and_then(|html| Ok((file_url(&html), Browser::start(&chromium()?, (width, height), deadline)?)));
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

/// Whether the PNG at `png` is (nearly) one colour: more than 99.5% of its
/// pixels equal the most common one.
pub fn is_blank(png: &Path) -> Result<bool, String> {
    let file = std::fs::File::open(png).map_err(|e| format!("{}: {e}", png.display()))?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| format!("{}: {e}", png.display()))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or_else(|| format!("{}: too large", png.display()))?];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("{}: {e}", png.display()))?;
    let pixel = info.color_type.samples() * if info.bit_depth == png::BitDepth::Sixteen { 2 } else { 1 };
    let mut counts: HashMap<&[u8], u64> = HashMap::new();
    let row = info.width as usize * pixel;
    for line in buf[..info.buffer_size()].chunks_exact(info.line_size) {
        for p in line[..row].chunks_exact(pixel) {
            *counts.entry(p).or_default() += 1;
        }
    }
    let total = u64::from(info.width) * u64::from(info.height);
    let most = counts.values().copied().max().unwrap_or(0);
    Ok(total == 0 || most as f64 > 0.995 * total as f64)
}

/// Chromium's flags: headless, no sandbox (root in a container), no GPU,
/// and nothing that reaches the network or Google on its own.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    // Every helper process a direct child of the browser, which reaps them
    // on close (a zygote's would be orphaned, and wait as zombies for init).
    "--no-zygote",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-pipe",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-pings",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,InterestFeedContentSuggestions,CertificateTransparencyComponentUpdater",
    // No name resolves (IP literals are blocked by the DevTools rules below).
    "--host-resolver-rules=MAP * ~NOTFOUND",
];

/// A running browser, killed (its whole process group) on drop.
struct Browser {
    child: Child,
    pgid: i32,
    to_chrome: std::io::PipeWriter,
    from_chrome: Receiver<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    profile: PathBuf,
    deadline: Instant,
    next_id: u64,
    /// The page's session, once attached: events of other sessions are ignored.
    session: Option<String>,
    page: PageState,
}

/// What the page's events told so far.
#[derive(Default)]
struct PageState {
    url: String,
    out: Rendered,
    /// `(loaderId, lifecycle event name)` pairs seen.
    lifecycle: HashSet<(String, String)>,
    /// Request id to URL, for failed loads.
    urls: HashMap<String, String>,
    /// Requests neither finished nor failed.
    pending: HashSet<String>,
    last_event: Option<Instant>,
}

impl Browser {
    /// Starts Chromium with a fresh profile and the DevTools pipe.
    #[allow(unsafe_code)]
    fn start(binary: &Path, (width, height): (u32, u32), deadline: Instant) -> Result<Browser, String> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = std::env::temp_dir().join(format!("lungflow-chromium-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| format!("{}: {e}", profile.display()))?;
        let (cmd_read, to_chrome) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (from_chrome, resp_write) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (cmd_fd, resp_fd) = (cmd_read.as_raw_fd(), resp_write.as_raw_fd());
        let mut command = Command::new(binary);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            // Nothing written outside the profile (~/.pki, ~/.cache, fontconfig's cache).
            .env("HOME", &profile)
            .env("XDG_CONFIG_HOME", profile.join(".config"))
            .env("XDG_CACHE_HOME", profile.join(".cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls between fork and exec. The
        // pipe ends are first copied above 10 so that placing them on 3 and
        // 4 cannot overwrite one with the other; dup2 clears close-on-exec.
        unsafe {
            command.pre_exec(move || {
                let cmd = libc::fcntl(cmd_fd, libc::F_DUPFD_CLOEXEC, 10);
                let resp = libc::fcntl(resp_fd, libc::F_DUPFD_CLOEXEC, 10);
                if cmd < 0
                    || resp < 0
                    || libc::dup2(cmd, 3) < 0
                    || libc::dup2(resp, 4) < 0
                    || libc::setpgid(0, 0) < 0
                    || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        drop((cmd_read, resp_write, command));
        let pgid = child.id() as i32;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let (mut pipe, stderr) = (child.stderr.take().expect("piped"), Arc::clone(&stderr));
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    let mut all = stderr.lock().unwrap_or_else(|e| e.into_inner());
                    all.extend_from_slice(&buf[..n]);
                    let over = all.len().saturating_sub(16 << 10);
                    all.drain(..over);
                }
            });
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from_chrome);
            let mut message = Vec::new();
            while let Ok(1..) = reader.read_until(0, &mut message) {
                if message.last() == Some(&0) {
                    message.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&message)
                    && tx.send(v).is_err()
                {
                    break;
                }
                message.clear();
            }
        });
        Ok(Browser {
            child,
            pgid,
            to_chrome,
            from_chrome: rx,
            stderr,
            profile,
            deadline,
            next_id: 0,
            session: None,
            page: PageState::default(),
        })
    }

    /// Opens `url` in a new page and does all of [`render`]'s work on it.
    fn page(
        &mut self,
        url: &str,
        expressions: &[&str],
        screenshot: &Path,
        (width, height): (u32, u32),
        full_page: bool,
    ) -> Result<Rendered, String> {
        self.page.url = url.to_string();
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}))?;
        let target = target["targetId"].as_str().ok_or("Target.createTarget gave no targetId")?.to_string();
        let attached = self.call("Target.attachToTarget", json!({"targetId": target, "flatten": true}))?;
        self.session = Some(attached["sessionId"].as_str().ok_or("Target.attachToTarget gave no sessionId")?.to_string());
        for method in ["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"] {
            self.call(method, json!({}))?;
        }
        self.call("Page.setLifecycleEventsEnabled", json!({"enabled": true}))?;
        self.call(
            "Network.emulateNetworkConditions",
            json!({"offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )?;
        self.call("Network.setBlockedURLs", json!({"urls": ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]}))?;
        self.call("Network.setCacheDisabled", json!({"cacheDisabled": true}))?;
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        let nav = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(e) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(format!("{url} did not load: {e}"));
        }
        let loader = nav["loaderId"].as_str().unwrap_or_default().to_string();
        let load = (loader, "load".to_string());
        self.wait_until(|p| p.lifecycle.contains(&load)).map_err(|e| format!("waiting for {url} to load: {e}"))?;
        // Let the page settle: two frames (so what loading scheduled has
        // run), then no load pending and no event for a moment (failed
        // fetches, their rejections).
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r))))")?;
        let quiet = Duration::from_millis(50);
        self.wait_until(|p| p.pending.is_empty() && p.last_event.is_none_or(|t| t.elapsed() >= quiet))
            .map_err(|e| format!("waiting for {url}'s loads to end: {e}"))?;
        for expression in expressions {
            let value = self.evaluate(expression)?;
            self.page.out.eval.push(value);
        }
        self.page.out.dom = match self.evaluate("document.documentElement.outerHTML")? {
            Value::String(s) => s,
            other => return Err(format!("outerHTML gave {other}")),
        };
        let mut params = json!({"format": "png", "captureBeyondViewport": full_page});
        if full_page {
            let metrics = self.call("Page.getLayoutMetrics", json!({}))?;
            let size = &metrics["cssContentSize"];
            let w = size["width"].as_f64().unwrap_or(0.0).ceil().max(f64::from(width));
            let h = size["height"].as_f64().unwrap_or(0.0).ceil().max(f64::from(height));
            params["clip"] = json!({"x": 0, "y": 0, "width": w, "height": h, "scale": 1});
        }
        let shot = self.call("Page.captureScreenshot", params)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().ok_or("Page.captureScreenshot gave no data")?)
            .map_err(|e| format!("screenshot: {e}"))?;
        std::fs::write(screenshot, png).map_err(|e| format!("{}: {e}", screenshot.display()))?;
        Ok(std::mem::take(&mut self.page.out))
    }

    /// The JSON value of a JavaScript expression in the page (promises awaited).
    fn evaluate(&mut self, expression: &str) -> Result<Value, String> {
        let r = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))?;
        if let Some(e) = r.get("exceptionDetails") {
            let what = e["exception"]["description"].as_str().or(e["text"].as_str()).unwrap_or("an exception");
            return Err(format!("evaluating `{expression}` threw: {what}"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Sends a command (to the page's session once attached) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        if let Err(e) = self.to_chrome.write_all(&bytes) {
            return Err(format!("{method}: writing to Chromium: {e}{}", self.stderr_tail()));
        }
        let mut answer = None;
        self.wait_for(|m| {
            if m["id"].as_u64() == Some(id) {
                answer = Some(m.clone());
                true
            } else {
                false
            }
        })
        .map_err(|e| format!("{method}: {e}"))?;
        let answer = answer.expect("set when done");
        match answer.get("error") {
            Some(e) => Err(format!("{method}: {e}")),
            None => Ok(answer["result"].clone()),
        }
    }

    /// Handles messages until `done` holds for the page state.
    fn wait_until(&mut self, mut done: impl FnMut(&PageState) -> bool) -> Result<(), String> {
        if done(&self.page) {
            return Ok(());
        }
        // Poll at least every 10 ms: "no event for a while" needs no message to come true.
        loop {
            if let Some(m) = self.next_message(Some(Duration::from_millis(10)))? {
                self.page.event(&m, self.session.as_deref());
            }
            if done(&self.page) {
                return Ok(());
            }
        }
    }

    /// Handles messages until one satisfies `done` (which sees every message).
    fn wait_for(&mut self, mut done: impl FnMut(&Value) -> bool) -> Result<(), String> {
        loop {
            if let Some(m) = self.next_message(None)? {
                if done(&m) {
                    return Ok(());
                }
                self.page.event(&m, self.session.as_deref());
            }
        }
    }

    /// The next message from Chromium, waiting at most `poll` (and never
    /// past the deadline); `None` when `poll` passed first.
    fn next_message(&mut self, poll: Option<Duration>) -> Result<Option<Value>, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("timed out{}", self.stderr_tail()));
        }
        match self.from_chrome.recv_timeout(poll.map_or(left, |p| p.min(left))) {
            Ok(m) if matches!(m["method"].as_str(), Some("Inspector.targetCrashed" | "Target.targetCrashed")) => {
                Err(format!("the page crashed{}", self.stderr_tail()))
            }
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten().map(|s| format!(" ({s})")).unwrap_or_default();
                Err(format!("Chromium closed the DevTools pipe{status}{}", self.stderr_tail()))
            }
        }
    }

    /// The end of Chromium's stderr, for error messages.
    fn stderr_tail(&self) -> String {
        std::thread::sleep(Duration::from_millis(50)); // let the reader catch up
        let all = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&all);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() { String::new() } else { format!("; Chromium's stderr ends:\n{tail}") }
    }

    /// Asks Chromium to close (so it reaps its own children), waits up to a
    /// second for it, then kills its process group anyway.
    fn close(&mut self) {
        self.session = None;
        self.next_id += 1;
        let mut bytes = serde_json::to_vec(&json!({"id": self.next_id, "method": "Browser.close"})).expect("JSON");
        bytes.push(0);
        if self.to_chrome.write_all(&bytes).is_ok() {
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Browser {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // The group outlives its leader while any member lives, and the
        // leader's pid is not reused before it is waited for: this kill
        // reaches only this browser's processes (none, after a clean close).
        // SAFETY: plain syscall.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        // A helper that outlived the browser by a moment is init's to reap:
        // give init a moment (this VM's reaps about every 1.5 s) so that
        // nothing of this browser, not even a zombie, is listed after us.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && group_listed(self.pgid) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Whether any process, zombies included, is in process group `pgid`.
fn group_listed(pgid: i32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else { return false };
    procs.flatten().any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else { return false };
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else { return false };
        rest.split_whitespace().nth(2) == Some(pgid.to_string().as_str())
    })
}

impl PageState {
    /// Takes in one event (of the page's session).
    fn event(&mut self, m: &Value, session: Option<&str>) {
        let Some(method) = m["method"].as_str() else { return };
        if session.is_none() || m["sessionId"].as_str() != session {
            return;
        }
        self.last_event = Some(Instant::now());
        let p = &m["params"];
        let out = &mut self.out;
        match method {
            "Page.lifecycleEvent" => {
                let (loader, name) = (p["loaderId"].as_str().unwrap_or_default(), p["name"].as_str().unwrap_or_default());
                self.lifecycle.insert((loader.to_string(), name.to_string()));
            }
            "Runtime.consoleAPICalled" => {
                let level = p["type"].as_str().unwrap_or("log");
                let args = p["args"].as_array().map(Vec::as_slice).unwrap_or_default();
                let text = args.iter().map(remote_text).collect::<Vec<_>>().join(" ");
                let line = format!("{level}: {text}");
                if level == "error" || level == "assert" {
                    out.errors.push(line.clone());
                }
                out.console.push(line);
            }
            "Runtime.exceptionThrown" => {
                let d = &p["exceptionDetails"];
                let text = d["text"].as_str().unwrap_or("Uncaught");
                let what = d["exception"]["description"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| d["exception"].get("value").map(|v| v.to_string()))
                    .unwrap_or_default();
                let line = format!("error: {text} {what}");
                out.console.push(line.clone());
                out.errors.push(line);
            }
            "Log.entryAdded" => {
                let e = &p["entry"];
                let level = e["level"].as_str().unwrap_or("info");
                let mut line = format!("{level}: {}", e["text"].as_str().unwrap_or_default());
                if let Some(url) = e["url"].as_str().filter(|u| !u.is_empty()) {
                    line += &format!(" ({url})");
                }
                if level == "error" {
                    out.errors.push(line.clone());
                }
                out.console.push(line);
            }
            "Network.requestWillBeSent" => {
                let (id, url) = (p["requestId"].as_str().unwrap_or_default(), p["request"]["url"].as_str().unwrap_or_default());
                self.pending.insert(id.to_string());
                self.urls.insert(id.to_string(), url.to_string());
                let own = url.split('#').next() == self.url.split('#').next();
                if !own && !url.starts_with("data:") && !url.starts_with("blob:") {
                    out.requests.push(url.to_string());
                }
            }
            "Network.loadingFinished" => {
                self.pending.remove(p["requestId"].as_str().unwrap_or_default());
            }
            "Network.loadingFailed" => {
                let id = p["requestId"].as_str().unwrap_or_default();
                self.pending.remove(id);
                if p["canceled"].as_bool() != Some(true) {
                    let url = self.urls.get(id).map(String::as_str).unwrap_or("?");
                    let mut line = format!("failed to load {url}");
                    if let Some(e) = p["errorText"].as_str().filter(|e| !e.is_empty()) {
                        line += &format!(": {e}");
                    }
                    if let Some(why) = p["blockedReason"].as_str() {
                        line += &format!(" (blocked: {why})");
                    }
                    out.errors.push(line);
                }
            }
            _ => {}
        }
    }
}

/// A console argument as text: strings as they are, other values as JSON,
/// objects by their description.
fn remote_text(o: &Value) -> String {
    match o.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => o["unserializableValue"].as_str().or(o["description"].as_str()).or(o["type"].as_str()).unwrap_or_default().to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch;
    use std::net::TcpListener;

    const TIMEOUT: Duration = Duration::from_secs(60);

    /// Chromium, or a failure that says how to install it: never a skip.
    fn need_chromium() {
        if let Err(e) = chromium() {
            panic!("{e}");
        }
    }

    /// Writes `html` to `dir/page.html`.
    fn page(dir: &Path, html: &str) -> PathBuf {
        let file = dir.join("page.html");
        std::fs::write(&file, html).unwrap();
        file
    }

    /// The live processes (not zombies: those are init's to reap) of
    /// process group `pgid`, by pgrep.
    fn pgrep_group(pgid: i32) -> String {
        let out = Command::new("pgrep")
            .args(["-a", "-g", &pgid.to_string(), "--runstates", "R,S,D,T,t,I,W,X,P"])
            .output()
            .expect("pgrep (procps)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn errors_and_loads_are_reported_and_nothing_is_fetched() {
        need_chromium();
        let dir = scratch("browser-errors");
        // A server of our own: the proof that nothing goes out, even to an IP literal.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let local = format!("http://{}/y.png", server.local_addr().unwrap());
        let html = page(
            &dir,
            &format!(
                r#"<!doctype html><html><body><p>hi</p>
<img src="https://example.com/x.png"><img src="{local}"><img src="missing.png">
<script>
console.log("hello", 42);
console.error("boom");
fetch("http://example.org/").then(() => console.log("fetched"));
throw new Error("kaboom");
</script></body></html>"#
            ),
        );
        let shot = dir.join("shot.png");
        let started = Instant::now();
        let (r, pgid) = render_in(&html, &["1 + 1", "Promise.resolve('later')", "undefined"], &shot, (400, 300), false, TIMEOUT);
        let r = r.unwrap();
        eprintln!("render took {:?}\n{r:#?}", started.elapsed());
        let has = |list: &[String], what: &str| list.iter().any(|l| l.contains(what));
        assert!(r.console.contains(&"log: hello 42".to_string()), "{:?}", r.console);
        assert!(r.errors.contains(&"error: boom".to_string()), "{:?}", r.errors);
        assert!(has(&r.errors, "Uncaught") && has(&r.errors, "kaboom"), "{:?}", r.errors);
        for url in ["https://example.com/x.png", &local, "http://example.org/"] {
            assert!(r.requests.iter().any(|u| u == url), "{url} not in {:?}", r.requests);
            assert!(has(&r.errors, &format!("failed to load {url}")), "{url} did not fail: {:?}", r.errors);
        }
        assert!(has(&r.errors, "Failed to fetch"), "the fetch's rejection: {:?}", r.errors);
        assert!(!has(&r.console, "fetched"), "{:?}", r.console);
        let missing = format!("{}/missing.png", file_url(&dir.canonicalize().unwrap()));
        assert!(r.requests.contains(&missing), "{:?}", r.requests);
        assert!(has(&r.errors, &format!("failed to load {missing}: net::ERR_FILE_NOT_FOUND")), "{:?}", r.errors);
        assert_eq!(r.requests.len(), 4, "{:?}", r.requests);
        assert_eq!(r.eval, [json!(2), json!("later"), Value::Null]);
        assert!(r.dom.starts_with("<html>") && r.dom.contains("<p>hi</p>"), "{}", r.dom);
        assert!(server.accept().is_err(), "the page reached the local server");
        assert_eq!(pgrep_group(pgid.unwrap()), "", "Chromium processes left");
    }

    #[test]
    fn a_clean_page_renders_and_its_screenshot_is_not_blank() {
        need_chromium();
        let dir = scratch("browser-clean");
        let html = page(
            &dir,
            r#"<!doctype html><html><head><style>
body { margin: 0; background: #fff; font: 16px sans-serif }
.box { width: 200px; height: 150px; background: #c33 }
p { color: #036 }
</style></head><body>
<div class="box"></div><p>one</p><p>two</p><p id="x"></p>
<div style="height: 2000px; background: linear-gradient(#3c3, #33c)"></div>
<script>document.getElementById("x").textContent = "three (by script)";</script>
</body></html>"#,
        );
        let (shot, full) = (dir.join("shot.png"), dir.join("full.png"));
        let started = Instant::now();
        let (r, pgid) = render_in(&html, &["document.querySelectorAll('p').length"], &shot, (640, 480), false, TIMEOUT);
        let r = r.unwrap();
        eprintln!("render took {:?}", started.elapsed());
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert!(r.requests.is_empty(), "{:?}", r.requests);
        assert_eq!(r.eval, [json!(3)]);
        assert!(r.dom.contains("three (by script)"), "the DOM is taken after scripts ran");
        assert!(!is_blank(&shot).unwrap());
        assert_eq!(png_size(&shot), (640, 480));
        assert_eq!(pgrep_group(pgid.unwrap()), "", "Chromium processes left");

        render(&html, &[], &full, 640, 480, true, TIMEOUT).unwrap();
        let (w, h) = png_size(&full);
        assert!(w == 640 && h > 2000, "a full-page screenshot is {w}x{h}");
    }

    #[test]
    fn a_blank_page_is_blank() {
        need_chromium();
        let dir = scratch("browser-blank");
        let html = page(&dir, "<!doctype html><html><body></body></html>");
        let shot = dir.join("shot.png");
        let r = render(&html, &[], &shot, 320, 200, false, TIMEOUT).unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert!(is_blank(&shot).unwrap());
    }

    #[test]
    fn a_missing_page_is_an_error_and_leaves_no_browser() {
        need_chromium();
        let dir = scratch("browser-missing");
        let e = render(&dir.join("nope.html"), &[], &dir.join("shot.png"), 320, 200, false, TIMEOUT).unwrap_err();
        assert!(e.contains("nope.html"), "{e}");
        // A throwing expression fails the render and still closes the browser.
        let html = page(&dir, "<p>x</p>");
        let (e, pgid) = render_in(&html, &["undefinedName.x"], &dir.join("shot.png"), (320, 200), false, TIMEOUT);
        let e = e.unwrap_err();
        assert!(e.contains("undefinedName"), "{e}");
        assert_eq!(pgrep_group(pgid.unwrap()), "", "Chromium processes left");
    }

    #[test]
    fn a_timeout_kills_the_browser() {
        need_chromium();
        let dir = scratch("browser-timeout");
        let html = page(&dir, "<p>x</p>");
        let started = Instant::now();
        let timeout = Duration::from_secs(8);
        let (e, pgid) = render_in(&html, &["new Promise(() => {})"], &dir.join("shot.png"), (320, 200), false, timeout);
        let e = e.unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(started.elapsed() < timeout + Duration::from_secs(4), "{:?}", started.elapsed());
        assert_eq!(pgrep_group(pgid.unwrap()), "", "Chromium processes left");
    }

    #[test]
    fn is_blank_counts_pixels() {
        let dir = scratch("browser-is-blank");
        let write = |name: &str, odd: usize| {
            let path = dir.join(name);
            let mut enc = png::Encoder::new(std::fs::File::create(&path).unwrap(), 100, 100);
            enc.set_color(png::ColorType::Rgb);
            let mut data = vec![255u8; 100 * 100 * 3];
            data[..odd * 3].fill(0);
            enc.write_header().unwrap().write_image_data(&data).unwrap();
            path
        };
        assert!(is_blank(&write("40.png", 40)).unwrap());
        assert!(!is_blank(&write("60.png", 60)).unwrap());
    }

    /// A PNG's width and height.
    fn png_size(path: &Path) -> (u32, u32) {
        let r = png::Decoder::new(BufReader::new(std::fs::File::open(path).unwrap())).read_info().unwrap();
        (r.info().width, r.info().height)
    }
}
