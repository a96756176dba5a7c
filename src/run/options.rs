//! How a run is carried out: execute or only inspect, how many at once, and
//! whether to go on after a failure.

/// Whether instances that are not cached get computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Compute what is missing.
    Execute,
    /// Only look: resolve keys and consult the cache.
    Inspect,
}

/// How a run is carried out.
#[derive(Clone, Debug)]
pub struct Options {
    /// Instances computed at once.
    pub jobs: usize,
    /// Go on with independent branches after a failure.
    pub keep_going: bool,
    /// Execute or inspect.
    pub mode: Mode,
    /// Show progress (bars on a terminal, log lines otherwise).
    pub progress: bool,
}
