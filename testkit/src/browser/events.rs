//! What happened in the page, from the DevTools events of its session.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::Value;

use super::Rendered;

/// What the page's events told so far.
#[derive(Default)]
pub(super) struct PageState {
    pub(super) url: String,
    pub(super) out: Rendered,
    /// `(loaderId, lifecycle event name)` pairs seen.
    pub(super) lifecycle: HashSet<(String, String)>,
    /// Request id to URL, for failed loads.
    pub(super) urls: HashMap<String, String>,
    /// Requests neither finished nor failed.
    pub(super) pending: HashSet<String>,
    pub(super) last_event: Option<Instant>,
}

impl PageState {
    /// Takes in one event (of the page's session).
    pub(super) fn event(&mut self, m: &Value, session: Option<&str>) {
        let Some(method) = m["method"].as_str() else { return };
        if session.is_none() || m["sessionId"].as_str() != session {
            return;
        }
        self.last_event = Some(Instant::now());
        let p = &m["params"];
        match method {
            "Page.lifecycleEvent" => {
                let (loader, name) = (p["loaderId"].as_str().unwrap_or_default(), p["name"].as_str().unwrap_or_default());
                self.lifecycle.insert((loader.to_string(), name.to_string()));
            }
            "Runtime.consoleAPICalled" => self.console_call(p),
            "Runtime.exceptionThrown" => self.exception(p),
            "Log.entryAdded" => self.log_entry(&p["entry"]),
            "Network.requestWillBeSent" => self.request(p),
            "Network.loadingFinished" => {
                self.pending.remove(p["requestId"].as_str().unwrap_or_default());
            }
            "Network.loadingFailed" => self.load_failed(p),
            _ => {}
        }
    }

    /// A `console.*` call.
    fn console_call(&mut self, p: &Value) {
        let level = p["type"].as_str().unwrap_or("log");
        let args = p["args"].as_array().map(Vec::as_slice).unwrap_or_default();
        let text = args.iter().map(remote_text).collect::<Vec<_>>().join(" ");
        let line = format!("{level}: {text}");
        if level == "error" || level == "assert" {
            self.out.errors.push(line.clone());
        }
        self.out.console.push(line);
    }

    /// An uncaught exception (also in a promise).
    fn exception(&mut self, p: &Value) {
        let d = &p["exceptionDetails"];
        let text = d["text"].as_str().unwrap_or("Uncaught");
        let what = d["exception"]["description"]
            .as_str()
            .map(str::to_string)
            .or_else(|| d["exception"].get("value").map(|v| v.to_string()))
            .unwrap_or_default();
        let line = format!("error: {text} {what}");
        self.out.console.push(line.clone());
        self.out.errors.push(line);
    }

    /// One of the browser's log entries.
    fn log_entry(&mut self, e: &Value) {
        let level = e["level"].as_str().unwrap_or("info");
        let mut line = format!("{level}: {}", e["text"].as_str().unwrap_or_default());
        if let Some(url) = e["url"].as_str().filter(|u| !u.is_empty()) {
            line += &format!(" ({url})");
        }
        if level == "error" {
            self.out.errors.push(line.clone());
        }
        self.out.console.push(line);
    }

    /// A load starts: pending until it finishes or fails.
    fn request(&mut self, p: &Value) {
        let (id, url) = (p["requestId"].as_str().unwrap_or_default(), p["request"]["url"].as_str().unwrap_or_default());
        self.pending.insert(id.to_string());
        self.urls.insert(id.to_string(), url.to_string());
        let own = url.split('#').next() == self.url.split('#').next();
        if !own && !url.starts_with("data:") && !url.starts_with("blob:") {
            self.out.requests.push(url.to_string());
        }
    }

    /// A load failed: an error unless the page cancelled it.
    fn load_failed(&mut self, p: &Value) {
        let id = p["requestId"].as_str().unwrap_or_default();
        self.pending.remove(id);
        if p["canceled"].as_bool() == Some(true) {
            return;
        }
        let url = self.urls.get(id).map(String::as_str).unwrap_or("?");
        let mut line = format!("failed to load {url}");
        if let Some(e) = p["errorText"].as_str().filter(|e| !e.is_empty()) {
            line += &format!(": {e}");
        }
        if let Some(why) = p["blockedReason"].as_str() {
            line += &format!(" (blocked: {why})");
        }
        self.out.errors.push(line);
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
