//! The DevTools protocol on the pipe: a command and its answer, waiting
//! while the page's events come in, and the deadline over all of it.

use std::io::Write;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::events::PageState;
use super::process::Browser;

impl Browser {
    /// The JSON value of a JavaScript expression in the page (promises awaited).
    pub(super) fn evaluate(&mut self, expression: &str) -> Result<Value, String> {
        let r = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))?;
        if let Some(e) = r.get("exceptionDetails") {
            let what = e["exception"]["description"].as_str().or(e["text"].as_str()).unwrap_or("an exception");
            return Err(format!("evaluating `{expression}` threw: {what}"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Sends a command (to the page's session once attached) and waits for its answer.
    pub(super) fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
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
    pub(super) fn wait_until(&mut self, mut done: impl FnMut(&PageState) -> bool) -> Result<(), String> {
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
    pub(super) fn wait_for(&mut self, mut done: impl FnMut(&Value) -> bool) -> Result<(), String> {
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
    pub(super) fn next_message(&mut self, poll: Option<Duration>) -> Result<Option<Value>, String> {
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
}
