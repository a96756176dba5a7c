//! A small fuzzing driver on stable Rust: a seeded byte-mutation loop over a
//! corpus folder, bounded by time, with a capped global allocator.
//!
//! A fuzz test binary installs [`CappedAllocator`] as its
//! `#[global_allocator]` and calls [`run`] with a target closure. Each
//! mutated input runs under `catch_unwind`; a panic, or an allocation (single
//! or live total) over the cap, fails the test loudly after the input is saved
//! to `TARGET/fuzz/<name>/` (the allocator saves it and aborts: an allocator
//! must not unwind).
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: CappedAllocator = CappedAllocator::new(1 << 30);
//! let report = fuzz::run(Path::new("fuzz/corpus/x"), |bytes| { let _ = parse(bytes); }, &Options::from_env("x"));
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long and how a fuzz run goes.
#[derive(Clone, Debug)]
pub struct Options {
    /// Names the folder crashing inputs are saved in: `TARGET/fuzz/<name>/`.
    pub name: String,
    /// Wall-clock budget.
    pub duration: Duration,
    /// Threads running inputs at once.
    pub threads: usize,
    /// Seed of the mutations (thread `i` uses `seed + i`).
    pub seed: u64,
    /// More seeds: files, or folders read recursively (e.g. real data).
    pub extra_seeds: Vec<PathBuf>,
    /// Seeds larger than this are left out of the corpus.
    pub max_seed_bytes: u64,
}

impl Options {
    /// `LUNGFLOW_FUZZ_SECONDS` (default 120) seconds on 2 threads, seed
    /// `LUNGFLOW_FUZZ_SEED` (default 1).
    pub fn from_env(name: &str) -> Options {
        let var = |k: &str, default: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        Options {
            name: name.to_owned(),
            duration: Duration::from_secs(var("LUNGFLOW_FUZZ_SECONDS", 120)),
            threads: 2,
            seed: var("LUNGFLOW_FUZZ_SEED", 1),
            extra_seeds: Vec::new(),
            max_seed_bytes: 4 << 20,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Inputs run.
    pub executions: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Seeds in the corpus.
    pub seeds: usize,
    /// Highest live heap seen, bytes (0 without [`CappedAllocator`]).
    pub peak_live_bytes: usize,
}

impl Report {
    /// Executions per second.
    pub fn per_second(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static SAVE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Most threads a run uses (one input slot each).
const MAX_THREADS: usize = 8;

/// The input each fuzz thread is running, for the allocator to save (the
/// target may allocate on other threads, such as a rayon pool's). Whoever
/// swaps a slot to null owns the input: the allocator saves it; a fuzz thread
/// that finds its slot already taken waits for the abort instead of freeing it.
static RUNNING: [AtomicPtr<u8>; MAX_THREADS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_THREADS];
static RUNNING_LEN: [AtomicUsize; MAX_THREADS] = [const { AtomicUsize::new(0) }; MAX_THREADS];

/// A global allocator that aborts, after saving the running fuzz input, when
/// one allocation or the live total exceeds its cap.
pub struct CappedAllocator {
    cap: usize,
}

impl CappedAllocator {
    /// A cap in bytes.
    pub const fn new(cap: usize) -> CappedAllocator {
        CappedAllocator { cap }
    }

    fn admit(&self, size: usize) {
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
        if size > self.cap || live > self.cap {
            LIVE.fetch_sub(size, Ordering::Relaxed);
            over_cap(size, live, self.cap);
        }
    }
}

/// Saves the running inputs and aborts the process.
#[cold]
#[allow(unsafe_code)]
fn over_cap(size: usize, live: usize, cap: usize) -> ! {
    let mut saved = Vec::new();
    for (slot, len) in RUNNING.iter().zip(&RUNNING_LEN) {
        let ptr = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !ptr.is_null() {
            // SAFETY: `run` published this input and, finding its slot taken, never frees it.
            saved.push(save(unsafe { std::slice::from_raw_parts(ptr, len.load(Ordering::SeqCst)) }, "alloc"));
        }
    }
    eprintln!("FUZZ FAILURE: allocation of {size} bytes (live total {live}) over the {cap}-byte cap; running inputs saved: {saved:?}");
    eprintln!("allocated at:\n{}", std::backtrace::Backtrace::force_capture());
    std::process::abort()
}

// SAFETY: every call goes to `System`; the counters are atomics, and the
// over-cap path aborts instead of unwinding.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.admit(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Writes a failing input under the save folder; returns where, or why not.
fn save(bytes: &[u8], why: &str) -> String {
    let Some(dir) = SAVE_DIR.get() else { return "not saved (no save folder)".into() };
    let path = dir.join(format!("{why}-{}.bin", blake3::hash(bytes).to_hex()));
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, bytes)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("not saved to {} ({e})", path.display()),
    }
}

/// The seeds: every file in `corpus` and in `extra` (folders read recursively).
fn load_corpus(corpus: &Path, opts: &Options) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = std::iter::once(corpus.to_path_buf()).chain(opts.extra_seeds.iter().cloned()).collect();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).map(|e| e.unwrap().path()));
        } else if p.metadata().is_ok_and(|m| m.len() <= opts.max_seed_bytes) {
            files.push(p);
        }
    }
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "the fuzz corpus {} holds no seeds", corpus.display());
    seeds
}

/// Runs `target` on mutations of the corpus until the time is up; panics,
/// with the saved input's path, when an input panics.
pub fn run(corpus: &Path, target: impl Fn(&[u8]) + Sync, opts: &Options) -> Report {
    let seeds = load_corpus(corpus, opts);
    let save_dir = crate::target_dir().join("fuzz").join(&opts.name);
    SAVE_DIR.get_or_init(|| save_dir.clone());
    let (executions, stop, failure) = (AtomicU64::new(0), AtomicBool::new(false), std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..opts.threads.clamp(1, MAX_THREADS) {
            let (seeds, target, executions, stop, failure) = (&seeds, &target, &executions, &stop, &failure);
            s.spawn(move || {
                let mut rng = Rng(opts.seed.wrapping_add(t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                while !stop.load(Ordering::Relaxed) && start.elapsed() < opts.duration {
                    let input = mutate(&mut rng, seeds);
                    RUNNING_LEN[t].store(input.len(), Ordering::SeqCst);
                    RUNNING[t].store(input.as_ptr().cast_mut(), Ordering::SeqCst);
                    let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
                    if RUNNING[t].swap(std::ptr::null_mut(), Ordering::SeqCst).is_null() {
                        // The allocator is saving this input before it aborts the process.
                        loop {
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                    executions.fetch_add(1, Ordering::Relaxed);
                    if outcome.is_err() {
                        *failure.lock().unwrap() = Some(save(&input, "panic"));
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    if let Some(saved) = failure.into_inner().unwrap() {
        panic!("FUZZ FAILURE: the target panicked on an input, saved at {saved}");
    }
    Report {
        executions: executions.into_inner(),
        elapsed: start.elapsed(),
        seeds: seeds.len(),
        peak_live_bytes: PEAK.load(Ordering::Relaxed),
    }
}

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    /// An offset in `len` bytes, three times in four within the first 2 KiB
    /// (where DICOM headers are: the pixel data is most of a file).
    fn offset(&mut self, len: usize) -> usize {
        if self.below(4) > 0 { self.below(len.min(2048)) } else { self.below(len) }
    }
}

const INTERESTING: [u32; 12] = [0, 1, 2, 0x7F, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFF0, 0xFFFF_FFFF];

/// One to four stacked mutations of a random seed.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(7) {
            0 => {
                let at = rng.offset(len);
                if let Some(x) = b.get_mut(at) {
                    *x ^= 1 << rng.below(8);
                }
            }
            1 => {
                let at = rng.offset(len);
                if let Some(x) = b.get_mut(at) {
                    *x = rng.next() as u8;
                }
            }
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let bytes: Vec<u8> = match rng.below(4) {
                    0 => (v as u16).to_le_bytes().to_vec(),
                    1 => (v as u16).to_be_bytes().to_vec(),
                    2 => v.to_le_bytes().to_vec(),
                    _ => v.to_be_bytes().to_vec(),
                };
                let at = rng.offset(len.saturating_sub(bytes.len()));
                if at + bytes.len() <= len {
                    b[at..at + bytes.len()].copy_from_slice(&bytes);
                }
            }
            3 => b.truncate(rng.below(len + 1)),
            4 => {
                let (from, n) = (rng.offset(len), 1 + rng.below(256));
                let piece = b[from..(from + n).min(len)].to_vec();
                let at = rng.offset(len);
                b.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let (cut, from) = (rng.offset(len), rng.offset(other.len()));
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ => {
                let at = rng.offset(len);
                let n = rng.below(64);
                b.splice(at..at, (0..n).map(|_| rng.next() as u8));
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_seeded_and_change_the_input() {
        let seeds = vec![(0..=255u8).cycle().take(4096).collect::<Vec<u8>>()];
        let run = |seed| {
            let mut rng = Rng(seed);
            (0..50).map(|_| mutate(&mut rng, &seeds)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().filter(|m| **m != seeds[0]).count() >= 45);
    }

    #[test]
    fn a_panicking_target_fails_the_run_and_saves_the_input() {
        let dir = std::env::temp_dir().join(format!("lungflow-fuzz-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("seed"), b"hello fuzz").unwrap();
        let opts = Options { duration: Duration::from_secs(5), ..Options::from_env("selftest") };
        let result = catch_unwind(|| run(&dir, |b| assert!(b.len() < 2, "boom"), &opts));
        let message = *result.unwrap_err().downcast::<String>().unwrap();
        let saved = message.rsplit("saved at ").next().unwrap();
        assert!(std::fs::read(saved).unwrap().len() >= 2, "{message}");
        let report = run(&dir, |_| (), &Options { duration: Duration::from_millis(200), ..opts });
        assert!(report.executions > 100 && report.seeds == 1, "{report:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
