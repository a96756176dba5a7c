//! The monitor thread: submits what workers hand over, and tells each
//! waiting worker how its task ended.
//!
//! - New requests are collected for a moment ([`BATCH_WINDOW`]) so that the
//!   instances of one stage that become ready together go as one job array.
//! - Exit files are the truth: each in-flight task's staging folder is
//!   looked at every [`TICK`] (a `stat`, no Slurm call).
//! - Slurm is asked only about tasks without an exit file: one `squeue` of
//!   this user's jobs per poll, the interval growing from `poll` to
//!   `max_poll` while nothing ends abnormally; `scontrol show job` only for
//!   a job `squeue` no longer lists. `sacct` is never needed.
//! - A task whose job ended without an exit file: COMPLETED or FAILED jobs
//!   get `exit_file_grace` for a late file (NFS); NODE_FAIL, PREEMPTED,
//!   BOOT_FAIL and CANCELLED (from outside) are submitted again up to
//!   `retries` times; TIMEOUT and OUT_OF_MEMORY fail at once, naming the
//!   request that was too small. A job pending for a reason that never
//!   clears (`PartitionConfig`: more CPUs than any node has, say) is
//!   cancelled and fails. Every failure carries the job's log tail.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::run::task_file::{EXIT_FILE, ExitFile};
use crate::slurm::backend::{SlurmBackend, Waiter};
use crate::slurm::cancel;
use crate::slurm::client::call;
use crate::slurm::ending::{Decision, decide};
use crate::slurm::scontrol::{parse_show_job, show_job_args};
use crate::slurm::squeue::{JobState, parse_squeue, squeue_args};
use crate::slurm::submit::{Pending, Submitter, job_name};

/// How long new requests are collected before they are submitted.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// How often in-flight tasks' exit files are looked for.
pub const TICK: Duration = Duration::from_millis(100);
/// Reasons a pending job gives when it can never start as submitted (the
/// request exceeds the partition's CPUs, memory, time or nodes, or names
/// something that does not exist); Slurm would keep it pending for ever.
const NEVER_STARTS: &[&str] =
    &["PartitionConfig", "PartitionTimeLimit", "PartitionNodeLimit", "BadConstraints", "InvalidAccount", "InvalidQOS"];
/// Lines of a job's log quoted in its error.
const LOG_TAIL_LINES: usize = 15;

/// A task in flight.
struct Flight {
    waiter: Waiter,
    job_id: String,
    log: std::path::PathBuf,
    attempts: u32,
    /// When Slurm was first seen to have ended the job without an exit file, and how.
    ended: Option<(Instant, JobState, String)>,
}

impl SlurmBackend {
    /// The monitor loop; returns once closed and nothing is in flight.
    pub(crate) fn monitor(&self) {
        let mut flight: Vec<Flight> = Vec::new();
        let poll = Duration::from_secs_f64(self.settings.poll_seconds.max(0.05));
        let max_poll = Duration::from_secs_f64(self.settings.max_poll_seconds.max(self.settings.poll_seconds));
        let (mut interval, mut next_status) = (poll, Instant::now() + poll);
        let mut batch = 0usize;
        loop {
            let (fresh, closed) = self.take_new(!flight.is_empty());
            if closed && fresh.is_empty() && flight.is_empty() {
                return;
            }
            let (adopted, to_submit): (Vec<Waiter>, Vec<Waiter>) = fresh.into_iter().partition(|w| w.request.adopted.is_some());
            for w in adopted {
                let (job_id, log) = w.request.adopted.clone().expect("adopted");
                cancel::add(cancel::base_id(&job_id), 1);
                flight.push(Flight { waiter: w, job_id, log, attempts: 0, ended: None });
            }
            self.submit_all(to_submit.into_iter().map(|w| (w, 0)).collect(), &mut batch, &mut flight);
            collect_exits(&mut flight);
            if Instant::now() >= next_status && !flight.is_empty() {
                let retry = self.check_states(&mut flight);
                interval =
                    if retry.is_empty() && flight.iter().all(|f| f.ended.is_none()) { (interval.mul_f64(1.5)).min(max_poll) } else { poll };
                self.submit_all(retry, &mut batch, &mut flight);
                next_status = Instant::now() + interval;
            }
        }
    }

    /// New requests: waits up to [`TICK`] while tasks are in flight (for
    /// ever when idle), then a [`BATCH_WINDOW`] for siblings.
    fn take_new(&self, busy: bool) -> (Vec<Waiter>, bool) {
        let mut inbox = self.inbox.lock().expect("slurm inbox");
        if inbox.new.is_empty() && !inbox.closed {
            inbox = if busy {
                self.wake.wait_timeout(inbox, TICK).expect("slurm inbox").0
            } else {
                self.wake.wait_while(inbox, |i| i.new.is_empty() && !i.closed).expect("slurm inbox")
            };
        }
        if !inbox.new.is_empty() && !inbox.closed {
            drop(inbox);
            std::thread::sleep(BATCH_WINDOW);
            inbox = self.inbox.lock().expect("slurm inbox");
        }
        (std::mem::take(&mut inbox.new), inbox.closed)
    }

    /// Submits `waiters` (with their attempts so far), grouped by stage and
    /// resources, in arrays of at most `MaxArraySize - 1` tasks.
    fn submit_all(&self, waiters: Vec<(Waiter, u32)>, batch: &mut usize, flight: &mut Vec<Flight>) {
        let mut groups: BTreeMap<(String, String), Vec<(Waiter, u32)>> = BTreeMap::new();
        for (w, attempts) in waiters {
            groups.entry((w.request.stage.clone(), w.request.resources.describe())).or_default().push((w, attempts));
        }
        for mut group in groups.into_values() {
            while !group.is_empty() {
                let rest = group.split_off(group.len().min(self.max_array_size - 1));
                *batch += 1;
                self.submit_group(std::mem::replace(&mut group, rest), *batch, flight);
            }
        }
    }

    fn submit_group(&self, group: Vec<(Waiter, u32)>, n: usize, flight: &mut Vec<Flight>) {
        let first = &group[0].0.request;
        let name = job_name(&self.run_tag, n, &first.stage);
        let resources = first.resources.clone();
        let pending: Vec<Pending> =
            group.iter().map(|(w, _)| Pending { key: w.request.key.clone(), staging: w.request.staging.clone() }).collect();
        let submitter = Submitter {
            jobs_dir: &self.jobs_dir,
            exe: &self.exe,
            work_dir: &self.work_dir,
            user: &self.user,
            settings: &self.settings,
            calls: &self.calls,
        };
        let noted = submitter.prepare(&name, &pending).map_err(|e| format!("{e:#}")).and_then(|dir| {
            let mut db = self.db.lock().expect("state store");
            for (i, p) in pending.iter().enumerate() {
                db.note_slurm_task(&p.key, &name, i, &p.staging).map_err(|e| format!("{e:#}"))?;
            }
            Ok(dir)
        });
        let submitted = noted.and_then(|dir| submitter.submit(&name, &dir, pending.len(), &resources));
        match submitted {
            Err(e) => {
                for (w, _) in group {
                    let _ = w.reply.send(Err(format!("cannot submit to Slurm: {e}")));
                }
            }
            Ok(job) => {
                cancel::add(&job.job_id, group.len());
                let mut db = self.db.lock().expect("state store");
                for ((w, attempts), (task_id, log)) in group.into_iter().zip(job.tasks) {
                    if let Err(e) = db.set_slurm_job_id(&w.request.key, &task_id) {
                        eprintln!("warning: cannot record Slurm job {task_id}: {e:#}");
                    }
                    flight.push(Flight { waiter: w, job_id: task_id, log, attempts: attempts + 1, ended: None });
                }
            }
        }
    }

    /// Asks Slurm about every task without an exit file; answers the ones
    /// that cannot deliver any more and returns those to submit again.
    fn check_states(&self, flight: &mut Vec<Flight>) -> Vec<(Waiter, u32)> {
        let mut states: HashMap<String, (JobState, String)> = HashMap::new();
        match call(&self.calls, "squeue", &squeue_args(&self.user)) {
            Ok(out) => states.extend(parse_squeue(&out).0.into_iter().map(|e| (e.job_id, (e.state, e.reason)))),
            Err(e) => {
                eprintln!("warning: {e}; trying again later");
                return Vec::new();
            }
        }
        let missing: Vec<String> =
            flight.iter().filter(|f| !states.contains_key(&f.job_id)).map(|f| cancel::base_id(&f.job_id).to_owned()).collect();
        for base in dedup(missing) {
            if let Ok(out) = call(&self.calls, "scontrol", &show_job_args(&base)) {
                for r in parse_show_job(&out) {
                    for id in r.queue_ids() {
                        states.insert(id, (r.state.clone(), r.reason.clone()));
                    }
                }
            }
        }
        let mut retry = Vec::new();
        let mut kept = Vec::with_capacity(flight.len());
        for mut f in flight.drain(..) {
            if f.waiter.request.staging.join(EXIT_FILE).exists() {
                kept.push(f); // answered by collect_exits on the next tick
                continue;
            }
            let (state, reason) = states.get(&f.job_id).cloned().unwrap_or((JobState::Other("vanished".into()), String::new()));
            if state == JobState::Pending && NEVER_STARTS.contains(&reason.as_str()) {
                cancel::done(cancel::base_id(&f.job_id));
                let _ = call(&self.calls, "scancel", std::slice::from_ref(&f.job_id));
                let asked = f.waiter.request.resources.describe();
                let message = format!(
                    "Slurm will never start job {}: it is PENDING ({reason}), so the request exceeds what the partition allows (it asked for {}); the job was cancelled",
                    f.job_id,
                    if asked.is_empty() { "the defaults".to_owned() } else { asked }
                );
                let _ = f.waiter.reply.send(Err(message));
                continue;
            }
            if state.is_active() {
                f.ended = None;
                kept.push(f);
                continue;
            }
            let since = f.ended.get_or_insert_with(|| (Instant::now(), state.clone(), reason.clone())).0;
            match decide(&f.job_id, f.attempts, &f.waiter.request.resources, &state, since.elapsed(), &self.settings) {
                Decision::Wait => kept.push(f),
                Decision::Retry => {
                    eprintln!(
                        "warning: Slurm job {} of {} ended {} ({reason}); submitting it again (attempt {} of {})",
                        f.job_id,
                        f.waiter.request.label,
                        state.name(),
                        f.attempts + 1,
                        self.settings.retries + 1
                    );
                    cancel::done(cancel::base_id(&f.job_id));
                    reset_staging(&f.waiter.request.staging);
                    retry.push((f.waiter, f.attempts));
                }
                Decision::Fail(message) => {
                    cancel::done(cancel::base_id(&f.job_id));
                    let _ = f.waiter.reply.send(Err(format!("{message}{}", log_tail(&f.log))));
                }
            }
        }
        *flight = kept;
        retry
    }
}

/// Answers every task whose exit file has appeared.
fn collect_exits(flight: &mut Vec<Flight>) {
    flight.retain(|f| {
        let staging = &f.waiter.request.staging;
        if !staging.join(EXIT_FILE).exists() {
            return true;
        }
        cancel::done(cancel::base_id(&f.job_id));
        let answer = match ExitFile::read(staging) {
            Ok(Some(exit)) => Ok(exit),
            Ok(None) => return true,
            Err(e) => Err(format!("{e:#}")),
        };
        let _ = f.waiter.reply.send(answer.map_err(|e| format!("{e}{}", log_tail(&f.log))));
        false
    });
}

/// Empties `staging/out` and removes the log for another attempt.
fn reset_staging(staging: &Path) {
    let out = staging.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::remove_file(staging.join(crate::store::cache::LOG_FILE));
}

/// The last lines of a job's log, as an error suffix.
fn log_tail(log: &Path) -> String {
    let tail = lungflow_stages::logs::log_tail(log, LOG_TAIL_LINES).replace('\n', "\n  ");
    if tail.trim().is_empty() { String::new() } else { format!("\n  job log {}:\n  {tail}", log.display()) }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
