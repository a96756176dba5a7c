//! Cache upkeep: `gc` drops entries no pipeline reaches and the leftovers of
//! killed runs; `verify` rehashes entries against their manifests and checks
//! the state store and the lineage table, repairing what it can; `gc
//! --remote` does for a shared cache what `gc` does here.

mod gc;
mod remote_gc;
mod verify;

pub use gc::{GcReport, gc};
pub use remote_gc::gc_remote;
pub use verify::{StoreProblem, VerifyProblem, VerifyReport, verify};
