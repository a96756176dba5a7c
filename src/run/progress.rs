//! Progress while a pipeline runs: one indicatif bar per stage on a terminal,
//! plain log lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::pipeline::model::instance_label;
use crate::run::outcome::Outcome;

/// Counts for one stage.
#[derive(Default)]
struct StageCounts {
    total: usize,
    done: usize,
    running: usize,
    cached: usize,
    executed: usize,
    failed: usize,
}

/// Reports progress; silent when disabled.
pub struct Progress {
    enabled: bool,
    bars: Option<MultiProgress>,
    stages: Mutex<HashMap<String, (StageCounts, Option<ProgressBar>)>>,
    clock: Instant,
}

impl Progress {
    /// Bars when stderr and stdout are terminals, log lines otherwise.
    pub fn new(enabled: bool) -> Progress {
        let tty = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Progress { enabled, bars: (enabled && tty).then(MultiProgress::new), stages: Mutex::new(HashMap::new()), clock: Instant::now() }
    }

    fn line(&self, text: String) {
        if !self.enabled {
            return;
        }
        let text = format!("[{:7.1}s] {text}", self.clock.elapsed().as_secs_f64());
        match &self.bars {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    /// A stage was expanded into `total` instances.
    pub fn stage_expanded(&self, stage: &str, total: usize) {
        if !self.enabled {
            return;
        }
        let bar = self.bars.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>16.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg} (ETA {eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(stage.to_owned());
            bar
        });
        let mut stages = self.stages.lock().expect("progress lock");
        stages.insert(stage.to_owned(), (StageCounts { total, ..Default::default() }, bar));
    }

    /// An instance was handed to a worker.
    pub fn started(&self, stage: &str, _item: Option<&str>) {
        let mut stages = self.stages.lock().expect("progress lock");
        if let Some((c, bar)) = stages.get_mut(stage) {
            c.running += 1;
            update(c, bar.as_ref());
        }
    }

    /// An instance finished.
    pub fn finished(&self, stage: &str, item: Option<&str>, outcome: &Outcome) {
        let label = instance_label(stage, item);
        let mut stages = self.stages.lock().expect("progress lock");
        let Some((c, bar)) = stages.get_mut(stage) else { return };
        c.running = c.running.saturating_sub(1);
        c.done += 1;
        match outcome {
            Outcome::Available(p) => match p.executed {
                Some(s) => {
                    c.executed += 1;
                    self.line(format!("ran    {label} in {s:.2}s"));
                }
                None => c.cached += 1,
            },
            Outcome::Failed(e) => {
                c.failed += 1;
                self.line(format!("FAILED {label}: {}", e.lines().next().unwrap_or("")));
            }
            Outcome::Skipped(_) | Outcome::Pending(_) => {}
        }
        update(c, bar.as_ref());
        if c.done == c.total {
            if let Some(bar) = bar {
                bar.finish();
            }
            self.line(format!("stage  {stage}: {} ran, {} cached, {} failed of {}", c.executed, c.cached, c.failed, c.total));
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        if let Some(m) = &self.bars {
            let _ = m.clear();
        }
    }
}

fn update(c: &StageCounts, bar: Option<&ProgressBar>) {
    if let Some(bar) = bar {
        bar.set_position(c.done as u64);
        bar.set_message(format!("{} running, {} ran, {} cached, {} failed", c.running, c.executed, c.cached, c.failed));
    }
}
