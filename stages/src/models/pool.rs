//! Where a model's work runs: on one of rayon's worker threads, so that the
//! many short parallel regions of a training step or an encoding start from
//! inside the pool.
//!
//! Started from an outside thread, every region is handed to a sleeping
//! worker and the caller sleeps until it is done, then is woken again. On
//! this project's 2-core VMs one demo-width GMCAE epoch made 4,700 such
//! switches, each waiting 0.14 ms on average before it ran (`perf sched
//! latency`). Started from a worker, the worker splits the region with the
//! other one directly and the caller is woken once, at the end.

/// Runs `f` on a worker of a new rayon pool as wide as the global one, and
/// returns its result; the calling thread waits. Every parallel region `f`
/// starts runs in that pool. Its threads start now, so they take the heap
/// settings made before the call ([`super::heap::one_arena`]).
pub fn inside_the_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().num_threads(rayon::current_num_threads()).build() {
        Ok(pool) => pool.install(f),
        // No threads to be had: the global pool, from outside.
        Err(_) => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_worker_and_its_result_comes_back() {
        assert_eq!(rayon::current_thread_index(), None, "tests run outside the pool");
        let (index, threads, sum) =
            inside_the_pool(|| (rayon::current_thread_index(), rayon::current_num_threads(), (1..=10).sum::<u32>()));
        assert!(index.is_some(), "the work ran outside the pool");
        assert_eq!(threads, rayon::current_num_threads());
        assert_eq!(sum, 55);
    }
}
