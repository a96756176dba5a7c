//! The executor of this machine: each instance in a child process of the
//! lungflow binary ([`crate::run::child`]), or in this process
//! ([`crate::run::in_process`]).

use std::path::PathBuf;

use crate::run::child::compute_in_child;
use crate::run::executor::{Executor, ExitRecord, Instance, Work};
use crate::run::in_process::run_in;
use crate::run::task_file::{EXIT_FILE, TASK_FILE};

/// Runs the kind on this machine: in a child process of the lungflow
/// binary (`lungflow task`), or in this process.
///
/// A run from the command line isolates every kind that computes in its own
/// code ([`Local::isolated`]): an abort there ends that child, and the run
/// records the instance's failure and goes on. A kind whose work runs in
/// programs it starts (`command`) runs in this process either way, as do
/// all kinds under [`Local::IN_PROCESS`] (a library caller's choice, and
/// what `exec` does).
#[derive(Clone, Debug, Default)]
pub struct Local {
    /// The lungflow binary that computes an instance in a child process;
    /// `None` computes in this process.
    worker: Option<PathBuf>,
}

impl Local {
    /// Every kind in this process.
    pub const IN_PROCESS: Local = Local { worker: None };

    /// Kinds that compute in their own code each in a child process of
    /// `worker` (the lungflow binary).
    pub fn isolated(worker: PathBuf) -> Local {
        Local { worker: Some(worker) }
    }
}

impl Executor for Local {
    fn on_this_machine(&self) -> bool {
        true
    }

    fn for_local_stages(&self) -> &dyn Executor {
        self
    }

    fn compute(&self, instance: Instance<'_>) -> ExitRecord {
        match (&instance.work, &self.worker) {
            (Work::Fresh(call), Some(worker)) if !call.kind.works_through_programs() => compute_in_child(worker, &instance, call),
            (Work::Fresh(call), _) => ExitRecord::from(run_in(call, instance.staging)),
            (Work::Adopted(a), _) => ExitRecord::not_run(format!("{}: the local executor cannot wait for {}", instance.label, a.id)),
        }
    }

    fn scratch_files(&self) -> &'static [&'static str] {
        if self.worker.is_some() { &[TASK_FILE, EXIT_FILE] } else { &[] }
    }
}
