//! `lungflow kinds`: every stage kind with its version and parameters.

use lungflow_stages::ParamRange;
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
    /// The values it accepts, bounds included; absent when any value of its type is.
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<RangeDoc>,
    doc: &'static str,
}

/// A declared range: `max` is null when there is no upper bound.
#[derive(Serialize)]
struct RangeDoc {
    min: Value,
    max: Option<Value>,
    #[serde(skip)]
    words: String,
}

impl RangeDoc {
    fn of(range: ParamRange) -> RangeDoc {
        let (min, max) = range.bounds();
        RangeDoc { min, max, words: range.describe() }
    }
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
                .map(|p| ParamDoc { name: p.name, ty: p.ty.describe(), default: p.default, range: p.range.map(RangeDoc::of), doc: p.doc })
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
            let range = p.range.map(|r| format!(", {}", r.words)).unwrap_or_default();
            println!("    {}: {}{default}{range}. {}", p.name, p.ty, p.doc);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use lungflow_stages::{ParamType, all_kinds};

    /// A default outside its own range would make every pipeline that
    /// leaves the parameter alone fail; a range upside down accepts nothing.
    #[test]
    fn every_default_lies_in_its_declared_range_and_every_range_fits_its_type() {
        for kind in all_kinds() {
            for p in kind.params() {
                let Some(range) = p.range else { continue };
                let (min, max) = range.bounds();
                assert!(matches!(p.ty, ParamType::Int | ParamType::Float), "{}.{}: a range on {:?}", kind.name(), p.name, p.ty);
                assert!(max.is_none_or(|max| min.as_f64() <= max.as_f64()), "{}.{}: {}", kind.name(), p.name, range.describe());
                if let Some(default) = &p.default {
                    assert_eq!(range.check(default), Ok(()), "{}.{}: default {default}", kind.name(), p.name);
                }
            }
        }
    }

    /// The numbers with a physical or practical size all declare a range.
    #[test]
    fn spacings_sizes_and_counts_declare_ranges() {
        let declared = |kind: &str, param: &str| {
            let kind = lungflow_stages::find_kind(kind).unwrap();
            kind.params().into_iter().find(|p| p.name == param).unwrap().range.map(|r| r.describe())
        };
        assert_eq!(declared("resample", "spacing_mm").as_deref(), Some("between 0.1 and 20"));
        assert_eq!(declared("synthetic_cohort", "patients").as_deref(), Some("between 1 and 10000"));
        assert_eq!(declared("patches", "edge").as_deref(), Some("between 1 and 256"));
        assert_eq!(declared("gmcae_train", "epochs").as_deref(), Some("between 1 and 100000"));
        assert_eq!(declared("classifier_train", "lr").as_deref(), Some("between 1e-8 and 1"));
        assert_eq!(declared("synthetic_cohort", "seed"), None);
    }
}
