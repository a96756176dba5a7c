//! [`super::render`]'s work on one page, in the order it happens: open a
//! page with the network off, load the file and let it settle, then read
//! the expressions and the DOM and take the screenshot.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::Rendered;
use super::process::Browser;

impl Browser {
    /// Opens `url` in a new page and does all of [`super::render`]'s work on it.
    pub(super) fn page(
        &mut self,
        url: &str,
        expressions: &[&str],
        screenshot: &Path,
        size: (u32, u32),
        full_page: bool,
    ) -> Result<Rendered, String> {
        self.page.url = url.to_string();
        self.open_offline_page(size)?;
        self.load(url)?;
        for expression in expressions {
            let value = self.evaluate(expression)?;
            self.page.out.eval.push(value);
        }
        self.page.out.dom = match self.evaluate("document.documentElement.outerHTML")? {
            Value::String(s) => s,
            other => return Err(format!("outerHTML gave {other}")),
        };
        self.screenshot(screenshot, size, full_page)?;
        Ok(std::mem::take(&mut self.page.out))
    }

    /// A new blank page of `width` x `height` CSS pixels, attached (its
    /// events reported), offline, with every network URL blocked and no cache.
    fn open_offline_page(&mut self, (width, height): (u32, u32)) -> Result<(), String> {
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
        Ok(())
    }

    /// Navigates to `url` and waits for its load event, then for it to settle.
    fn load(&mut self, url: &str) -> Result<(), String> {
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
            .map_err(|e| format!("waiting for {url}'s loads to end: {e}"))
    }

    /// Writes a PNG of the viewport (of the whole page when `full_page`) to `file`.
    fn screenshot(&mut self, file: &Path, (width, height): (u32, u32), full_page: bool) -> Result<(), String> {
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
        std::fs::write(file, png).map_err(|e| format!("{}: {e}", file.display()))
    }
}
