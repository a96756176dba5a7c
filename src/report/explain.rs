//! Why an instance must rerun: a field-level comparison of what it would be
//! computed from now with what its last cached run was computed from.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::pipeline::model::instance_label;
use crate::run::outcome::{PartialInput, Pending};
use crate::store::keys::short;
use crate::store::manifest::{FileRecord, InputRecord, KeyMaterial};

/// Every difference between the last run's key material and the current one.
pub fn differences(last: &KeyMaterial, now: &Pending) -> Vec<String> {
    let mut out = Vec::new();
    if last.kind != now.kind {
        out.push(format!("kind changed from {} to {}", last.kind, now.kind));
    } else if last.kind_version != now.kind_version {
        out.push(format!(
            "kind {} changed version from {} to {} (its code changed what it computes)",
            now.kind, last.kind_version, now.kind_version
        ));
    }
    let names: BTreeSet<&String> = last.params.keys().chain(now.params.keys()).collect();
    for name in names {
        match (last.params.get(name), now.params.get(name)) {
            (Some(a), Some(b)) if a != b => out.push(format!("parameter {name} changed from {} to {}", show(a), show(b))),
            (None, Some(b)) => out.push(format!("parameter {name} added with {}", show(b))),
            (Some(a), None) => out.push(format!("parameter {name} removed (was {})", show(a))),
            _ => {}
        }
    }
    let names: BTreeSet<&String> = last.inputs.keys().chain(now.inputs.keys()).collect();
    for name in names {
        match (last.inputs.get(name), now.inputs.get(name)) {
            (None, Some(_)) => out.push(format!("input {name} added")),
            (Some(_), None) => out.push(format!("input {name} removed")),
            (Some(a), Some(b)) => input_differences(name, a, b, &mut out),
            (None, None) => {}
        }
    }
    out
}

fn input_differences(name: &str, last: &InputRecord, now: &PartialInput, out: &mut Vec<String>) {
    let now = match now {
        PartialInput::Pending { stage, item } => {
            let who = instance_label(stage, item.as_deref());
            out.push(format!("input {name}: upstream {who} must run first (it is not in the cache)"));
            return;
        }
        PartialInput::Known(r) => r,
    };
    if last.digest() == now.digest() {
        return;
    }
    match (last, now) {
        (InputRecord::External { path: pa, files: fa, .. }, InputRecord::External { path: pb, files: fb, .. }) => {
            if pa != pb {
                out.push(format!("input {name}: path changed from {pa} to {pb}"));
            }
            file_differences(name, pb, fa, fb, out);
        }
        (InputRecord::Stage { stage, item, key: ka, .. }, InputRecord::Stage { key: kb, .. }) => {
            let who = instance_label(stage, item.as_deref());
            out.push(format!("input {name}: upstream {who} produced different outputs (key {} -> {})", short(ka), short(kb)));
        }
        (InputRecord::Gather { stage, items: ia, .. }, InputRecord::Gather { items: ib, .. }) => {
            for a in ia {
                match ib.iter().find(|b| b.item == a.item) {
                    None => out.push(format!("input {name}: item {} of {stage} removed", a.item)),
                    Some(b) if b.digest != a.digest => out.push(format!(
                        "input {name}: {stage}[{}] produced different outputs (key {} -> {})",
                        a.item,
                        short(&a.key),
                        short(&b.key)
                    )),
                    Some(_) => {}
                }
            }
            for b in ib.iter().filter(|b| !ia.iter().any(|a| a.item == b.item)) {
                out.push(format!("input {name}: item {} of {stage} added", b.item));
            }
        }
        _ => out.push(format!("input {name}: now comes from a different kind of source")),
    }
}

fn file_differences(name: &str, root: &str, last: &[FileRecord], now: &[FileRecord], out: &mut Vec<String>) {
    let path = |rel: &str| if rel.is_empty() { root.to_owned() } else { format!("{root}/{rel}") };
    for a in last {
        match now.iter().find(|b| b.path == a.path) {
            None => out.push(format!("input {name}: file {} removed", path(&a.path))),
            Some(b) if b.blake3 != a.blake3 => {
                out.push(format!("input {name}: file {} changed (blake3 {} -> {})", path(&a.path), short(&a.blake3), short(&b.blake3)))
            }
            Some(_) => {}
        }
    }
    for b in now.iter().filter(|b| !last.iter().any(|a| a.path == b.path)) {
        out.push(format!("input {name}: file {} added", path(&b.path)));
    }
}

fn show(v: &Value) -> String {
    v.to_string()
}
