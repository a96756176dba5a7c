//! Drawing a prediction's lineage: an indented tree for the terminal and a
//! Mermaid flowchart.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use crate::lineage::trace::{EntryNode, InputNode, Lineage, SPLIT_FILE, SourceFile, StartRow};
use crate::pipeline::model::instance_label;
use crate::store::keys::short;

/// Gathered items listed by name in the text tree (all of them are in `--json`).
const ITEMS_SHOWN: usize = 4;

/// The lineage as an indented tree, root first; an entry met a second time
/// is named, not expanded again.
pub fn text(l: &Lineage) -> String {
    let entries: BTreeMap<&str, &EntryNode> = l.entries.iter().map(|e| (e.key.as_str(), e)).collect();
    let mut out = format!(
        "{}: {} in {} {} (from {})\n",
        l.row.item,
        row_values(&l.row, 6),
        l.row.table_stage,
        short(&l.row.table_key),
        short(&l.row.producer_key)
    );
    let mut shown = HashSet::new();
    entry_lines(l, &entries, &l.root, "", &mut shown, &mut out);
    out
}

fn entry_lines(l: &Lineage, entries: &BTreeMap<&str, &EntryNode>, key: &str, indent: &str, shown: &mut HashSet<String>, out: &mut String) {
    let Some(e) = entries.get(key) else {
        let _ = writeln!(out, "{indent}{} MISSING from the cache", short(key));
        return;
    };
    let who = instance_label(&e.stage, e.item.as_deref());
    if !shown.insert(key.to_owned()) {
        let _ = writeln!(out, "{indent}{who} {} (shown above)", short(key));
        return;
    }
    let params = serde_json::to_string(&e.params).unwrap_or_default();
    let _ = writeln!(out, "{indent}{who} {}  {} v{}  {}  {params}", short(key), e.kind, e.kind_version, e.created);
    if let Some(split) = &e.split {
        let lists: Vec<String> =
            split.as_object().into_iter().flatten().filter_map(|(k, v)| Some(format!("{} {k}", v.as_array()?.len()))).collect();
        let _ = writeln!(out, "{indent}  {} ({SPLIT_FILE})", lists.join(", "));
    }
    let sources: Vec<&SourceFile> = l.source_files.iter().filter(|f| f.entry == e.key).collect();
    let deeper = format!("{indent}    ");
    for input in &e.inputs {
        match input {
            InputNode::Stage { role, key, .. } => {
                let _ = writeln!(out, "{indent}  {role} <-");
                entry_lines(l, entries, key, &deeper, shown, out);
            }
            InputNode::Gather { role, stage, items } => {
                let listed: Vec<String> = items.iter().take(ITEMS_SHOWN).map(|(item, key)| format!("{item} {}", short(key))).collect();
                let more =
                    if items.len() > ITEMS_SHOWN { format!(", ... ({} more in --json)", items.len() - ITEMS_SHOWN) } else { String::new() };
                let _ = writeln!(out, "{indent}  {role} <- {stage}, {} items: {}{more}", items.len(), listed.join(", "));
                for (item, key) in items.iter().filter(|(item, _)| *item == l.row.item) {
                    let _ = writeln!(out, "{indent}  {role}[{item}] <-");
                    entry_lines(l, entries, key, &deeper, shown, out);
                }
            }
            InputNode::External { role, path, digest, files } => {
                let _ = writeln!(out, "{indent}  {role} <- {path} ({} files, digest {})", files.len(), short(digest));
            }
        }
    }
    if !sources.is_empty() {
        let _ = writeln!(out, "{indent}  source files ({}):", sources.len());
        for f in sources {
            let uid = f.sop_instance_uid.as_deref().unwrap_or("-");
            let _ = writeln!(out, "{indent}    {}  {uid}  {} bytes  blake3 {}", f.path, f.size, f.blake3);
        }
    }
}

/// The lineage as a Mermaid flowchart, data flowing top to bottom into the
/// submission row.
pub fn mermaid(l: &Lineage) -> String {
    let mut out = String::from("flowchart TD\n");
    let id = |key: &str| format!("e{}", short(key));
    for e in &l.entries {
        let who = instance_label(&e.stage, e.item.as_deref());
        let _ = writeln!(out, "  {}[\"{who}<br/>{} v{}<br/>{}\"]", id(&e.key), e.kind, e.kind_version, short(&e.key));
    }
    for key in &l.missing {
        let _ = writeln!(out, "  {}[\"MISSING<br/>{}\"]", id(key), short(key));
    }
    for e in &l.entries {
        for input in &e.inputs {
            match input {
                InputNode::Stage { role, key, .. } => {
                    let _ = writeln!(out, "  {} -->|{role}| {}", id(key), id(&e.key));
                }
                InputNode::Gather { role, stage, items } => {
                    let node = format!("g{}{role}", short(&e.key));
                    let _ = writeln!(out, "  {node}[/\"{stage}: {} items\"/]", items.len());
                    let _ = writeln!(out, "  {node} -->|{role}| {}", id(&e.key));
                    for (_, key) in items.iter().filter(|(item, _)| *item == l.row.item) {
                        let _ = writeln!(out, "  {} --> {node}", id(key));
                    }
                }
                InputNode::External { role, path, files, .. } => {
                    let node = format!("x{}{role}", short(&e.key));
                    let _ = writeln!(out, "  {node}[(\"{}<br/>{} files\")]", path.replace('"', "'"), files.len());
                    let _ = writeln!(out, "  {node} -->|{role}| {}", id(&e.key));
                }
            }
        }
        let sources = l.source_files.iter().filter(|f| f.entry == e.key).count();
        if sources > 0 {
            let _ = writeln!(out, "  s{}[(\"{sources} source files\")] --> {}", short(&e.key), id(&e.key));
        }
    }
    let _ = writeln!(out, "  row{{{{\"{} {}\"}}}}", l.row.item, row_values(&l.row, 4).replace('"', "'"));
    let _ = writeln!(out, "  {} --> row", id(&l.root));
    out
}

/// The row's own values (`cancer 0.123456`): every column but its item and
/// producer key, numbers with `digits` decimals.
fn row_values(row: &StartRow, digits: usize) -> String {
    row.values
        .iter()
        .filter(|(_, v)| v.as_str() != Some(row.item.as_str()) && v.as_str() != Some(row.producer_key.as_str()))
        .map(|(k, v)| match v.as_f64() {
            Some(x) => format!("{k} {x:.digits$}"),
            None => format!("{k} {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
