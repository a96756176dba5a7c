//! Cache upkeep: `gc` drops entries no pipeline reaches and the leftovers of
//! killed runs; `verify` rehashes entries against their manifests and checks
//! the state store and the lineage table, repairing what it can.

mod gc;
mod verify;

pub use gc::{GcReport, gc};
pub use verify::{StoreProblem, VerifyProblem, VerifyReport, verify};
