//! Keeping freed memory for reuse while a model trains (and while
//! `hu_volume` decodes a series: its per-slice buffers of a few megabytes
//! were half its time in page faults on a DSB-sized scan, BENCHMARKS.md,
//! issue 33).
//!
//! Training allocates and frees tensors of tens of megabytes at every step.
//! glibc serves each with a fresh `mmap` and returns it with `munmap`, so
//! the kernel zeroes new pages and interrupts the other cores to flush
//! their TLBs: at kdsb17's widths that was 11 s of system time in a 39 s
//! epoch (BENCHMARKS.md). [`ReuseFreedMemory`] makes freed blocks stay in
//! the heap until it is dropped.
//!
//! [`one_arena`] keeps threads started after it on glibc's main heap. Training runs on
//! rayon's worker threads ([`super::pool`]), and glibc gives a thread its
//! own arena when it first allocates, whose heaps cannot grow past 64 MiB: a
//! larger tensor (kdsb17's first layer's output is 64 MiB) is then mmap'd
//! and unmapped again at every step (4.0 s of system time in one kdsb17
//! epoch, 0.6 s with one arena).

/// While alive, large blocks come from the heap and freed memory is kept
/// for reuse; on drop, glibc's defaults come back and the kept memory is
/// returned to the system. Process-wide: for kinds that run alone.
pub struct ReuseFreedMemory(());

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    /// glibc's defaults (mallopt(3)).
    pub const DEFAULT_MMAP_THRESHOLD: i32 = 128 * 1024;
    pub const DEFAULT_TRIM_THRESHOLD: i32 = 128 * 1024;

    /// glibc's default number of blocks it will serve with mmap at once.
    pub const DEFAULT_MMAP_MAX: i32 = 65536;

    /// Sets the thresholds; whether glibc accepted the mmap threshold.
    #[allow(unsafe_code)]
    pub fn set(mmap_threshold: i32, trim_threshold: i32) -> bool {
        // SAFETY: mallopt only changes allocator parameters; any value is
        // accepted or refused (returning 0), never undefined behaviour.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, trim_threshold);
            libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold) == 1
        }
    }

    /// Sets how many arenas glibc may make (0: its default, 8 per core);
    /// whether glibc accepted it.
    #[allow(unsafe_code)]
    pub fn set_arena_max(arenas: i32) -> bool {
        // SAFETY: as in `set`.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) == 1 }
    }

    /// Sets how many blocks glibc may serve with mmap (0: none).
    #[allow(unsafe_code)]
    pub fn set_mmap_max(blocks: i32) {
        // SAFETY: as in `set`.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, blocks);
        }
    }

    #[allow(unsafe_code)]
    pub fn trim() {
        // SAFETY: malloc_trim only returns free heap memory to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

impl ReuseFreedMemory {
    /// Starts keeping freed memory.
    pub fn start() -> Self {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if !glibc::set(1 << 30, i32::MAX) {
            // A glibc that caps the threshold: no mmap-served blocks at all.
            glibc::set_mmap_max(0);
        }
        ReuseFreedMemory(())
    }
}

/// Makes every thread that allocates from now on share glibc's main heap
/// (one arena), whose blocks are kept by [`ReuseFreedMemory`] whatever
/// their size. A thread that has allocated keeps the arena it was given:
/// call it before starting the threads that train
/// ([`super::pool::inside_the_pool`] starts its own). Process-wide and
/// never undone: for kinds that run alone.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::set_arena_max(1);
}

impl Drop for ReuseFreedMemory {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            glibc::set(glibc::DEFAULT_MMAP_THRESHOLD, glibc::DEFAULT_TRIM_THRESHOLD);
            glibc::set_mmap_max(glibc::DEFAULT_MMAP_MAX);
            glibc::trim();
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn this_glibc_accepts_a_one_gigabyte_mmap_threshold() {
        let guard = ReuseFreedMemory::start();
        // Set again to read glibc's answer; the guard restores the defaults.
        assert!(glibc::set(1 << 30, i32::MAX), "mallopt refused M_MMAP_THRESHOLD = 1 GiB");
        assert!(glibc::set_arena_max(1), "mallopt refused M_ARENA_MAX = 1");
        let big = vec![1u8; 64 << 20];
        assert_eq!(big.iter().map(|&b| b as usize).sum::<usize>(), 64 << 20);
        drop(big);
        drop(guard);
    }
}
