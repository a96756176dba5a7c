//! What an instance computed in this process cost: CPU seconds and peak
//! resident memory, recorded in its manifest.
//!
//! - CPU time is this process's (getrusage `RUSAGE_SELF`: every thread,
//!   the pools a kind starts included) while the instance runs, shared
//!   evenly, every [`SAMPLE_EVERY`], among the instances running at the
//!   time, plus what child processes that ended meanwhile used
//!   (`RUSAGE_CHILDREN`, process-wide: a command's `sh` and everything it
//!   waited for). So a kind that runs alone, such as training, gets the
//!   process's CPU exactly; instances that run beside each other get fair
//!   shares that add up to what the process used.
//! - Peak RSS is the largest of: this process's resident memory, sampled
//!   every [`SAMPLE_EVERY`] while the instance runs (so it includes
//!   instances running beside it; exact for kinds that run alone, such as
//!   training), and the largest child's peak when it grew meanwhile.
//!
//! A Slurm task, and a local run's child process ([`crate::run::child`]),
//! measures itself alone in its process, so its figures are its own
//! (`lungflow slurm-task`, `lungflow task`). What such a child used is left
//! out of the children's figures of the instances measured here
//! ([`reaped_worker`]): it is not theirs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::store::manifest::Usage;

/// How often the process's resident memory and CPU are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// What is measured for one running instance.
#[derive(Default)]
struct Tracker {
    /// Peak resident memory seen, KiB.
    peak_kib: AtomicU64,
    /// Its share of the process's CPU so far, microseconds.
    cpu_micros: AtomicU64,
}

/// The instances running in this process, and the process's CPU seconds
/// when their shares were last handed out.
struct Running {
    trackers: Vec<Arc<Tracker>>,
    cpu_at_last_share: f64,
}

static RUNNING: Mutex<Running> = Mutex::new(Running { trackers: Vec::new(), cpu_at_last_share: 0.0 });
/// CPU microseconds of the instance processes reaped so far ([`reaped_worker`]).
static WORKERS_CPU_MICROS: AtomicU64 = AtomicU64::new(0);
/// The largest peak RSS (KiB) of those processes.
static WORKERS_PEAK_KIB: AtomicU64 = AtomicU64::new(0);
/// The sampling thread, started with the first meter.
static SAMPLER: OnceLock<()> = OnceLock::new();

/// For the unit tests that run instances: held for the rest of a test, so
/// that no other instance shares a measuring test's CPU.
#[cfg(test)]
pub(crate) fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE_INSTANCE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_INSTANCE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

impl Running {
    /// Shares the process's CPU since the last share among the running instances.
    fn share_cpu(&mut self) {
        let now = rusage(libc::RUSAGE_SELF).0;
        let used = (now - self.cpu_at_last_share).max(0.0);
        self.cpu_at_last_share = now;
        let each = (used * 1e6 / self.trackers.len().max(1) as f64).round() as u64;
        for t in &self.trackers {
            t.cpu_micros.fetch_add(each, Ordering::Relaxed);
        }
    }
}

/// Notes what a child process that computed an instance on its own used
/// (it measured itself), so that it is not counted again in the
/// process-wide children's figures of instances measured here.
pub fn reaped_worker(cpu_seconds: f64, peak_rss_kib: u64) {
    WORKERS_CPU_MICROS.fetch_add((cpu_seconds * 1e6).round() as u64, Ordering::Relaxed);
    WORKERS_PEAK_KIB.fetch_max(peak_rss_kib, Ordering::Relaxed);
}

/// CPU seconds of the instance processes reaped so far.
fn workers_cpu() -> f64 {
    WORKERS_CPU_MICROS.load(Ordering::Relaxed) as f64 / 1e6
}

/// Measures one instance from [`Meter::start`] to [`Meter::stop`].
pub struct Meter {
    workers_cpu: f64,
    children_cpu: f64,
    children_rss: u64,
    tracker: Arc<Tracker>,
}

impl Meter {
    /// Starts measuring.
    pub fn start() -> Meter {
        SAMPLER.get_or_init(|| {
            let _ = std::thread::Builder::new().name("lungflow-usage".into()).spawn(|| {
                loop {
                    std::thread::sleep(SAMPLE_EVERY);
                    let rss = resident_kib();
                    let mut running = RUNNING.lock().expect("running instances");
                    running.share_cpu();
                    for t in &running.trackers {
                        t.peak_kib.fetch_max(rss, Ordering::Relaxed);
                    }
                }
            });
        });
        let tracker = Arc::new(Tracker::default());
        tracker.peak_kib.store(resident_kib(), Ordering::Relaxed);
        {
            let mut running = RUNNING.lock().expect("running instances");
            running.share_cpu(); // what ran before belongs to the others
            running.trackers.push(Arc::clone(&tracker));
        }
        let (children_cpu, children_rss) = rusage(libc::RUSAGE_CHILDREN);
        Meter { workers_cpu: workers_cpu(), children_cpu, children_rss, tracker }
    }

    /// What the instance used since [`Meter::start`].
    pub fn stop(self) -> Usage {
        {
            let mut running = RUNNING.lock().expect("running instances");
            running.share_cpu();
            running.trackers.retain(|t| !Arc::ptr_eq(t, &self.tracker));
        }
        let (children_cpu, children_rss) = rusage(libc::RUSAGE_CHILDREN);
        let mut peak = self.tracker.peak_kib.load(Ordering::Relaxed).max(resident_kib());
        // A growth that an instance process explains is not this instance's.
        if children_rss > self.children_rss && children_rss > WORKERS_PEAK_KIB.load(Ordering::Relaxed) {
            peak = peak.max(children_rss);
        }
        let own_cpu = self.tracker.cpu_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let children = (children_cpu - self.children_cpu) - (workers_cpu() - self.workers_cpu);
        Usage { peak_rss_kib: peak, cpu_seconds: own_cpu + children.max(0.0), slurm_job: None }
    }
}

/// (user + system CPU seconds, max RSS KiB) of `who`.
#[allow(unsafe_code)]
pub fn rusage(who: libc::c_int) -> (f64, u64) {
    // SAFETY: rusage is plain data, valid when zeroed; getrusage fills it.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(u.ru_utime) + seconds(u.ru_stime), u.ru_maxrss.max(0) as u64)
}

/// This process's resident memory now, KiB (`/proc/self/statm`).
#[allow(unsafe_code)]
fn resident_kib() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |pages| pages * page / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_and_a_large_allocation_are_measured() {
        let _alone = alone();
        let meter = Meter::start();
        let mut v = vec![0u8; 64 << 20];
        for (i, b) in v.iter_mut().enumerate().step_by(4096) {
            *b = i as u8;
        }
        // Busy until this thread has used 150 ms of CPU (not of wall time:
        // on a loaded machine the thread may wait), or 10 s have passed.
        let mut x = 0u64;
        let (cpu0, t) = (rusage(libc::RUSAGE_THREAD).0, std::time::Instant::now());
        while rusage(libc::RUSAGE_THREAD).0 - cpu0 < 0.15 && t.elapsed() < Duration::from_secs(10) {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box((&v, x));
        let usage = meter.stop();
        drop(v);
        assert!(usage.peak_rss_kib >= 64 * 1024, "{usage:?}");
        assert!(usage.cpu_seconds >= 0.1 && usage.cpu_seconds < 5.0, "{usage:?}");
    }

    /// Busy until this thread has used `cpu` seconds of CPU, or 10 s have passed.
    fn spin(cpu: f64) {
        let mut x = 0u64;
        let (cpu0, t) = (rusage(libc::RUSAGE_THREAD).0, std::time::Instant::now());
        while rusage(libc::RUSAGE_THREAD).0 - cpu0 < cpu && t.elapsed() < Duration::from_secs(10) {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
    }

    #[test]
    fn the_threads_an_instance_starts_are_counted() {
        // Two threads of 0.2 s CPU each while the instance's own thread only
        // waits: the pool's CPU (what `RUSAGE_THREAD` alone missed) is there.
        let _alone = alone();
        let meter = Meter::start();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| spin(0.2));
            }
        });
        let usage = meter.stop();
        assert!(usage.cpu_seconds >= 0.35, "the pool's 0.4 s of CPU are counted: {usage:?}");
    }
}
