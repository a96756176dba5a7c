//! The stage graph: order, cycles and drawings.

use std::collections::BTreeMap;
use std::fmt::Write;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::pipeline::model::{InputRef, ItemSource, Loc, Pipeline, Stage};

/// Why one stage depends on another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeRole {
    /// The consumer reads the producer's output as the named input.
    Input(String),
    /// The consumer's items are listed from the producer's output.
    Items(String),
}

/// The stage-level graph: node `i` is stage `i`, edges go producer -> consumer.
pub fn stage_graph(stages: &[Stage], item_sets: &BTreeMap<String, ItemSource>) -> DiGraph<usize, EdgeRole> {
    let mut g = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..stages.len()).map(|i| g.add_node(i)).collect();
    for (i, s) in stages.iter().enumerate() {
        for (name, r) in &s.inputs {
            if let InputRef::Stage { stage, .. } = r {
                g.add_edge(nodes[*stage], nodes[i], EdgeRole::Input(name.clone()));
            }
        }
        if let Some(set) = &s.foreach
            && let Some(ItemSource::StageDir { stage, .. }) = item_sets.get(set)
        {
            g.add_edge(nodes[*stage], nodes[i], EdgeRole::Items(set.clone()));
        }
    }
    g
}

/// Stage indices with producers first, or the stages on a cycle.
pub fn topological_order(stages: &[Stage], item_sets: &BTreeMap<String, ItemSource>) -> Result<Vec<usize>, (Loc, String)> {
    let g = stage_graph(stages, item_sets);
    match toposort(&g, None) {
        Ok(order) => Ok(order.into_iter().map(|n| g[n]).collect()),
        Err(_) => {
            let cycle = tarjan_scc(&g).into_iter().find(|c| c.len() > 1 || g.contains_edge(c[0], c[0])).unwrap_or_default();
            let names = cycle_path(&g, &cycle, stages);
            let first = stages.iter().find(|s| s.name == names[0]).map(|s| s.loc).unwrap_or_default();
            Err((first, format!("the stages form a cycle: {}", names.join(" -> "))))
        }
    }
}

/// The stages of a strongly connected component in the order data flows
/// around one cycle, starting and ending at the alphabetically first stage.
fn cycle_path<'a>(g: &DiGraph<usize, EdgeRole>, component: &[NodeIndex], stages: &'a [Stage]) -> Vec<&'a str> {
    let name = |n: NodeIndex| stages[g[n]].name.as_str();
    let Some(&start) = component.iter().min_by_key(|&&n| name(n)) else { return vec![] };
    // Breadth-first search inside the component for the shortest way back to start.
    let mut parent: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = g.neighbors(n).filter(|m| component.contains(m)).collect();
        next.sort_by_key(|&m| name(m));
        for m in next {
            if m == start {
                let mut path = vec![name(start)];
                let mut cur = n;
                while cur != start {
                    path.push(name(cur));
                    cur = parent[&cur];
                }
                path.push(name(start));
                let last = path.len() - 1;
                path[1..last].reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(m) {
                e.insert(n);
                queue.push_back(m);
            }
        }
    }
    vec![name(start)]
}

/// The stage graph as a Mermaid flowchart.
pub fn mermaid(p: &Pipeline) -> String {
    let g = stage_graph(&p.stages, &p.item_sets);
    let mut out = String::from("flowchart TD\n");
    for s in &p.stages {
        let fan = s.foreach.as_deref().map(|f| format!(" × {f}")).unwrap_or_default();
        let _ = writeln!(out, "  {}[\"{} ({}{})\"]", s.name, s.name, s.kind.name(), fan);
    }
    for e in g.edge_indices() {
        let (a, b) = g.edge_endpoints(e).expect("edge exists");
        let label = match &g[e] {
            EdgeRole::Input(n) => n.clone(),
            EdgeRole::Items(set) => format!("items {set}"),
        };
        let _ = writeln!(out, "  {} -->|{}| {}", p.stages[g[a]].name, label, p.stages[g[b]].name);
    }
    out
}

/// The stage graph in Graphviz dot.
pub fn dot(p: &Pipeline) -> String {
    let g = stage_graph(&p.stages, &p.item_sets);
    let mut out = String::from("digraph pipeline {\n  rankdir=TB;\n");
    for s in &p.stages {
        let fan = s.foreach.as_deref().map(|f| format!(" × {f}")).unwrap_or_default();
        let _ = writeln!(out, "  \"{}\" [label=\"{}\\n{}{}\" shape=box];", s.name, s.name, s.kind.name(), fan);
    }
    for e in g.edge_indices() {
        let (a, b) = g.edge_endpoints(e).expect("edge exists");
        let label = match &g[e] {
            EdgeRole::Input(n) => n.clone(),
            EdgeRole::Items(set) => format!("items {set}"),
        };
        let _ = writeln!(out, "  \"{}\" -> \"{}\" [label=\"{}\"];", p.stages[g[a]].name, p.stages[g[b]].name, label);
    }
    out.push_str("}\n");
    out
}

/// The stage graph as JSON: stages and edges.
pub fn json(p: &Pipeline) -> serde_json::Value {
    let g = stage_graph(&p.stages, &p.item_sets);
    let stages: Vec<_> =
        p.stages.iter().map(|s| serde_json::json!({"stage": s.name, "kind": s.kind.name(), "foreach": s.foreach})).collect();
    let edges: Vec<_> = g
        .edge_indices()
        .map(|e| {
            let (a, b) = g.edge_endpoints(e).expect("edge exists");
            let (role, name) = match &g[e] {
                EdgeRole::Input(n) => ("input", n),
                EdgeRole::Items(s) => ("items", s),
            };
            serde_json::json!({"from": p.stages[g[a]].name, "to": p.stages[g[b]].name, "role": role, "name": name})
        })
        .collect();
    serde_json::json!({"stages": stages, "edges": edges})
}
