//! `lungflow kinds`: every stage kind with its version and parameters.

use serde::Serialize;
use serde_json::Value;

use crate::cli::args::{Exit, print_json};

/// Arguments of `lungflow kinds`.
#[derive(clap::Args, Debug)]
pub struct KindsArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One kind in `lungflow kinds --json`.
#[derive(Serialize)]
struct KindDoc {
    kind: &'static str,
    version: u32,
    doc: &'static str,
    params: Vec<ParamDoc>,
    open_params: bool,
    wants_all_cores: bool,
}

/// One parameter of a kind.
#[derive(Serialize)]
struct ParamDoc {
    name: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
    default: Option<Value>,
    doc: &'static str,
}

/// Lists the kinds.
pub fn kinds(args: KindsArgs) -> Result<i32, Exit> {
    let kinds: Vec<KindDoc> = lungflow_stages::all_kinds()
        .iter()
        .map(|k| KindDoc {
            kind: k.name(),
            version: k.version(),
            doc: k.doc(),
            params: k
                .params()
                .into_iter()
                .map(|p| ParamDoc { name: p.name, ty: p.ty.describe(), default: p.default, doc: p.doc })
                .collect(),
            open_params: k.open_params(),
            wants_all_cores: k.wants_all_cores(),
        })
        .collect();
    if args.json {
        print_json(&kinds)?;
        return Ok(0);
    }
    for k in kinds {
        println!("{} (v{}): {}", k.kind, k.version, k.doc);
        for p in k.params {
            let default = p.default.map(|d| format!(" = {d}")).unwrap_or_else(|| " (required)".into());
            println!("    {}: {}{default}. {}", p.name, p.ty, p.doc);
        }
    }
    Ok(0)
}
