//! The harness against a real Chromium: what a page did is reported, nothing
//! reaches the network, screenshots are checked, and no browser process
//! outlives a render. Chromium comes from [`chromium`], which installs it
//! where it is missing; these tests never skip.

use std::io::BufReader;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::scratch;

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
    let out =
        Command::new("pgrep").args(["-a", "-g", &pgid.to_string(), "--runstates", "R,S,D,T,t,I,W,X,P"]).output().expect("pgrep (procps)");
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
