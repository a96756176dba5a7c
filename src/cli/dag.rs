//! `lungflow dag PIPELINE`: the stage graph as Mermaid, Graphviz dot or JSON.

use clap::ValueEnum;

use crate::cli::args::{Exit, PipelineArgs, print_json};
use crate::pipeline::graph;

/// How `dag` draws the graph.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DagFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz dot.
    Dot,
}

/// Arguments of `lungflow dag`.
#[derive(clap::Args, Debug)]
pub struct DagArgs {
    #[command(flatten)]
    target: PipelineArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DagFormat::Mermaid)]
    format: DagFormat,
}

/// Prints the drawing.
pub fn dag(args: DagArgs) -> Result<i32, Exit> {
    let p = args.target.load()?;
    if args.target.json {
        print_json(&graph::json(&p))?;
    } else {
        match args.format {
            DagFormat::Mermaid => print!("{}", graph::mermaid(&p)),
            DagFormat::Dot => print!("{}", graph::dot(&p)),
        }
    }
    Ok(0)
}
