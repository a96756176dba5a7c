//! Which instances `push` and `pull` move: `--stage`, `--variant`, `--item`.

use std::sync::Arc;

use crate::cli::args::Exit;
use crate::pipeline::model::Pipeline;
use crate::run::outcome::{Outcome, Produced, RunResult};

/// Which of a pipeline's instances to move (all when nothing is given).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Selection {
    /// Only this stage (its name in the file; every variant of it in a sweep). Repeatable.
    #[arg(long, value_name = "STAGE")]
    pub stage: Vec<String>,
    /// Only this sweep variant's stages. Repeatable.
    #[arg(long, value_name = "VARIANT")]
    pub variant: Vec<String>,
    /// Only this item. Repeatable.
    #[arg(long, value_name = "ITEM")]
    pub item: Vec<String>,
}

impl Selection {
    /// The available instances chosen; an unknown stage or variant is a usage error.
    pub fn instances(&self, p: &Pipeline, run: &RunResult) -> Result<Vec<Arc<Produced>>, Exit> {
        for s in &self.stage {
            if !p.stages.iter().any(|st| st.name == *s || st.base_name() == s) {
                return Err(Exit::usage(format!("no stage {s:?} in {}", p.file.display())));
            }
        }
        for v in &self.variant {
            if !p.stages.iter().any(|st| st.variant.as_deref() == Some(v.as_str())) {
                return Err(Exit::usage(format!("no variant {v:?} in {}", p.file.display())));
            }
        }
        Ok(run
            .instances
            .iter()
            .filter(|i| {
                let st = &p.stages[i.stage];
                (self.stage.is_empty() || self.stage.iter().any(|s| st.name == *s || st.base_name() == s))
                    && (self.variant.is_empty() || st.variant.as_ref().is_some_and(|v| self.variant.contains(v)))
                    && (self.item.is_empty() || i.item.as_ref().is_some_and(|it| self.item.contains(it)))
            })
            .filter_map(|i| match &i.outcome {
                Outcome::Available(prod) => Some(Arc::clone(prod)),
                _ => None,
            })
            .collect())
    }
}
