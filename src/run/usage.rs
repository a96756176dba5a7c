//! What an instance computed in this process cost: CPU seconds and peak
//! resident memory, recorded in its manifest.
//!
//! - CPU time is the worker thread's own (getrusage `RUSAGE_THREAD`) plus
//!   what child processes that ended meanwhile used (`RUSAGE_CHILDREN`,
//!   process-wide: a command's `sh` and everything it waited for). Threads a
//!   kind starts itself are not counted, so training kinds that use a pool
//!   report less than they used; their wall time is exact.
//! - Peak RSS is the largest of: this process's resident memory, sampled
//!   every [`SAMPLE_EVERY`] while the instance runs (so it includes
//!   instances running beside it; exact for kinds that run alone, such as
//!   training), and the largest child's peak when it grew meanwhile.
//!
//! A Slurm task measures itself the same way but alone in its process, so
//! its figures are its own (`slurm::task`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::store::manifest::Usage;

/// How often the process's resident memory is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Peaks being tracked, one per instance running in this process.
static PEAKS: Mutex<Vec<Arc<AtomicU64>>> = Mutex::new(Vec::new());
/// The sampling thread, started with the first meter.
static SAMPLER: OnceLock<()> = OnceLock::new();

/// Measures one instance from [`Meter::start`] to [`Meter::stop`], on the
/// thread that runs it.
pub struct Meter {
    thread_cpu: f64,
    children_cpu: f64,
    children_rss: u64,
    peak: Arc<AtomicU64>,
}

impl Meter {
    /// Starts measuring on the calling thread.
    pub fn start() -> Meter {
        SAMPLER.get_or_init(|| {
            let _ = std::thread::Builder::new().name("lungflow-rss".into()).spawn(|| {
                loop {
                    std::thread::sleep(SAMPLE_EVERY);
                    let rss = resident_kib();
                    for p in PEAKS.lock().expect("rss peaks").iter() {
                        p.fetch_max(rss, Ordering::Relaxed);
                    }
                }
            });
        });
        let peak = Arc::new(AtomicU64::new(resident_kib()));
        PEAKS.lock().expect("rss peaks").push(Arc::clone(&peak));
        let (thread_cpu, _) = rusage(libc::RUSAGE_THREAD);
        let (children_cpu, children_rss) = rusage(libc::RUSAGE_CHILDREN);
        Meter { thread_cpu, children_cpu, children_rss, peak }
    }

    /// What the instance used since [`Meter::start`].
    pub fn stop(self) -> Usage {
        PEAKS.lock().expect("rss peaks").retain(|p| !Arc::ptr_eq(p, &self.peak));
        let (thread_cpu, _) = rusage(libc::RUSAGE_THREAD);
        let (children_cpu, children_rss) = rusage(libc::RUSAGE_CHILDREN);
        let mut peak = self.peak.load(Ordering::Relaxed).max(resident_kib());
        if children_rss > self.children_rss {
            peak = peak.max(children_rss);
        }
        Usage {
            peak_rss_kib: peak,
            cpu_seconds: (thread_cpu - self.thread_cpu).max(0.0) + (children_cpu - self.children_cpu).max(0.0),
            slurm_job: None,
        }
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
}
