//! The stage graph of a pipeline drawn as inline SVG, top to bottom, by a
//! small layered (Sugiyama-style) layout of our own: layers by longest path
//! from the sources, long edges routed through bundled waypoints, order
//! within a layer by barycentre sweeps, positions by least-squares placement.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::svg::{escape, num, open_svg, text_width, truncate_middle};

/// The state of a stage in the last run, which colours its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeState {
    /// Every instance ran.
    Executed,
    /// Every instance came from the cache.
    Cached,
    /// At least one instance failed.
    Failed,
    /// Not run (e.g. upstream failed or not selected).
    Skipped,
    /// Some instances ran and some were cached (or other mixes).
    Mixed,
    /// No record of the stage in the run.
    Missing,
}

impl NodeState {
    /// Every state, in legend order.
    pub const ALL: [NodeState; 6] =
        [NodeState::Executed, NodeState::Cached, NodeState::Failed, NodeState::Skipped, NodeState::Mixed, NodeState::Missing];

    /// The fill colour of a node in this state (hex).
    pub fn colour(&self) -> &'static str {
        match self {
            NodeState::Executed => "#b5dfa0",
            NodeState::Cached => "#c6dbef",
            NodeState::Failed => "#f4a3a3",
            NodeState::Skipped => "#e4e4e4",
            NodeState::Mixed => "#fbe0a0",
            NodeState::Missing => "#ffffff",
        }
    }

    /// The outline colour of a node in this state (hex).
    fn stroke(&self) -> &'static str {
        match self {
            NodeState::Executed => "#4e9a3a",
            NodeState::Cached => "#4e79a7",
            NodeState::Failed => "#c0392b",
            NodeState::Skipped => "#999999",
            NodeState::Mixed => "#c8961e",
            NodeState::Missing => "#999999",
        }
    }

    /// The state as a lowercase word (`executed`, `cached`, `failed`,
    /// `skipped`, `mixed`, `missing`), written as `data-state`.
    pub fn name(&self) -> &'static str {
        match self {
            NodeState::Executed => "executed",
            NodeState::Cached => "cached",
            NodeState::Failed => "failed",
            NodeState::Skipped => "skipped",
            NodeState::Mixed => "mixed",
            NodeState::Missing => "missing",
        }
    }
}

/// One stage of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct DagNode {
    /// The stage's name, written as `data-stage`.
    pub id: String,
    /// Text on the node (shortened on the picture, whole in its `<title>`).
    pub label: String,
    /// Second line, e.g. `hu_volume × 120` (kind and fan-out).
    pub detail: String,
    /// Colours the node.
    pub state: NodeState,
    /// In-page link (`#...`) the node points to; anything not starting with
    /// `#` is dropped, so the picture never links outside the page.
    pub href: Option<String>,
}

/// Most characters of a label line on a node.
const LINE_CHARS: usize = 26;
/// Font size of labels and details.
const LABEL_PX: f64 = 12.0;
const DETAIL_PX: f64 = 10.5;
/// Gap between neighbouring nodes, between a node and a waypoint, between
/// waypoints.
const GAP_NODES: f64 = 22.0;
const GAP_WAYPOINT: f64 = 10.0;
/// Vertical gap between layers.
const LAYER_GAP: f64 = 46.0;
const MARGIN: f64 = 12.0;
/// Height of the legend row above the graph.
const LEGEND_H: f64 = 26.0;
/// Above this many waypoints long edges are drawn directly.
const MAX_WAYPOINTS: usize = 5000;

/// Where [`layout`] put things (pixels, top-left origin).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layout {
    /// Per node: `(x, y, width, height)` of its box (top-left corner).
    pub boxes: Vec<(f64, f64, f64, f64)>,
    /// Per node: its layer (0 = sources, top).
    pub layers: Vec<usize>,
    /// Per drawn edge: `(from, to, path data)`.
    pub edges: Vec<(usize, usize, String)>,
    /// Per node: its label lines as shown.
    pub lines: Vec<Vec<String>>,
    /// Size of the whole picture.
    pub width: f64,
    /// Size of the whole picture.
    pub height: f64,
}

/// Most label lines on a node.
const MAX_LINES: usize = 3;

/// The label of a node as up to three lines. A long label is broken after
/// `@` (a sweep's `STAGE@VARIANT`) and after the commas of the variant, the
/// pieces packed greedily into lines of at most [`LINE_CHARS`]; what does
/// not fit is shortened in the middle (`…`).
fn label_lines(label: &str) -> Vec<String> {
    if label.chars().count() <= LINE_CHARS {
        return vec![label.to_string()];
    }
    // pieces, each ending with its separator
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in label.chars() {
        current.push(c);
        if c == '@' || c == ',' {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    let mut lines: Vec<String> = Vec::new();
    for piece in pieces {
        match lines.last_mut() {
            Some(line) if line.chars().count() + piece.chars().count() <= LINE_CHARS && !line.ends_with('@') => line.push_str(&piece),
            _ => lines.push(piece),
        }
    }
    if lines.len() > MAX_LINES {
        let rest: String = lines.split_off(MAX_LINES - 1).concat();
        lines.push(rest);
    }
    lines.iter().map(|l| truncate_middle(l, LINE_CHARS)).collect()
}

/// Topological order (smallest index first among the ready); a node on a
/// cycle is taken when nothing is ready, so this always ends. Returns the
/// position of every node in the order.
fn topo_positions(n: usize, edges: &BTreeSet<(usize, usize)>) -> Vec<usize> {
    let mut indeg = vec![0usize; n];
    let mut succ = vec![Vec::new(); n];
    for &(u, v) in edges {
        indeg[v] += 1;
        succ[u].push(v);
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut pos = vec![usize::MAX; n];
    let mut next = 0;
    while next < n {
        let v = match ready.pop_first() {
            Some(v) => v,
            // a cycle: take the first node not yet placed
            None => (0..n).find(|&v| pos[v] == usize::MAX).unwrap_or(0),
        };
        if pos[v] != usize::MAX {
            continue;
        }
        pos[v] = next;
        next += 1;
        for &w in &succ[v] {
            indeg[w] = indeg[w].saturating_sub(1);
            if indeg[w] == 0 && pos[w] == usize::MAX {
                ready.insert(w);
            }
        }
    }
    pos
}

/// Number of crossings between two adjacent layers, given the edges as
/// `(position above, position below)`.
fn crossings(pairs: &[(usize, usize)]) -> usize {
    let mut count = 0;
    for (i, a) in pairs.iter().enumerate() {
        for b in &pairs[i + 1..] {
            if (a.0 < b.0 && a.1 > b.1) || (a.0 > b.0 && a.1 < b.1) {
                count += 1;
            }
        }
    }
    count
}

/// Weighted least-squares placement of one ordered layer: positions as near
/// as possible to `desired` (vertex i counting `weight[i]`) while
/// neighbours keep at least `sep[i]` between vertex i and i + 1
/// (pool-adjacent-violators on the shifted targets).
fn place(desired: &[f64], weight: &[f64], sep: &[f64]) -> Vec<f64> {
    let k = desired.len();
    let mut offset = vec![0.0; k];
    for i in 1..k {
        offset[i] = offset[i - 1] + sep[i - 1];
    }
    // blocks of (weighted sum, total weight, first index)
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(k);
    for i in 0..k {
        let w = weight[i].max(1e-6);
        blocks.push(((desired[i] - offset[i]) * w, w, i));
        while blocks.len() >= 2 {
            let (s1, c1, _) = blocks[blocks.len() - 1];
            let (s0, c0, f0) = blocks[blocks.len() - 2];
            if s0 / c0 > s1 / c1 {
                blocks.truncate(blocks.len() - 2);
                blocks.push((s0 + s1, c0 + c1, f0));
            } else {
                break;
            }
        }
    }
    let mut out = vec![0.0; k];
    for (b, &(s, c, first)) in blocks.iter().enumerate() {
        let end = blocks.get(b + 1).map_or(k, |nb| nb.2);
        for i in first..end {
            out[i] = s / c + offset[i];
        }
    }
    out
}

/// Lays out `nodes` and `edges` (producer index → consumer index) top to
/// bottom: see the module documentation. Edges with an index out of range,
/// self-loops and duplicates are ignored; an edge closing a cycle is drawn
/// directly and does not influence layers.
pub(crate) fn layout(nodes: &[DagNode], edges: &[(usize, usize)]) -> Layout {
    let n = nodes.len();
    let edge_set: BTreeSet<(usize, usize)> = edges.iter().copied().filter(|&(u, v)| u < n && v < n && u != v).collect();
    let pos = topo_positions(n, &edge_set);
    let (forward, back): (Vec<(usize, usize)>, Vec<(usize, usize)>) = edge_set.iter().partition(|&&(u, v)| pos[u] < pos[v]);

    // layers by longest path from the sources
    let mut by_pos: Vec<usize> = (0..n).collect();
    by_pos.sort_by_key(|&v| pos[v]);
    let mut preds = vec![Vec::new(); n];
    for &(u, v) in &forward {
        preds[v].push(u);
    }
    let mut layer = vec![0usize; n];
    for &v in &by_pos {
        layer[v] = preds[v].iter().map(|&u| layer[u] + 1).max().unwrap_or(0);
    }

    // Waypoints: one chain per producer, shared by all its long edges, down
    // to the layer above its deepest consumer.
    let waypoint_count: usize =
        (0..n).map(|u| forward.iter().filter(|e| e.0 == u).map(|e| layer[e.1]).max().map_or(0, |m| m.saturating_sub(layer[u] + 1))).sum();
    let use_waypoints = waypoint_count <= MAX_WAYPOINTS;
    let mut vlayer = layer.clone(); // layer of every vertex (nodes, then waypoints)
    let mut waypoint: BTreeMap<(usize, usize), usize> = BTreeMap::new(); // (producer, layer) -> vertex
    let mut vedges: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut routes: Vec<(usize, usize, Vec<usize>)> = Vec::new(); // edge -> waypoints passed
    for &(u, v) in &forward {
        let mut route = Vec::new();
        let mut prev = u;
        if use_waypoints {
            for l in layer[u] + 1..layer[v] {
                let w = *waypoint.entry((u, l)).or_insert_with(|| {
                    vlayer.push(l);
                    vlayer.len() - 1
                });
                vedges.insert((prev, w));
                route.push(w);
                prev = w;
            }
        }
        vedges.insert((prev, v));
        routes.push((u, v, route));
    }
    let nv = vlayer.len();
    let depth = vlayer.iter().copied().max().map_or(0, |m| m + 1);
    let mut vpred = vec![Vec::new(); nv];
    let mut vsucc = vec![Vec::new(); nv];
    for &(a, b) in &vedges {
        vpred[b].push(a);
        vsucc[a].push(b);
    }

    // order within layers: barycentre sweeps, keeping the best order seen
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for v in 0..nv {
        order[vlayer[v]].push(v);
    }
    let mut index = vec![0usize; nv];
    let reindex = |order: &Vec<Vec<usize>>, index: &mut Vec<usize>| {
        for row in order {
            for (i, &v) in row.iter().enumerate() {
                index[v] = i;
            }
        }
    };
    reindex(&order, &mut index);
    let total_crossings = |order: &Vec<Vec<usize>>, index: &Vec<usize>| -> usize {
        (0..depth.saturating_sub(1))
            .map(|l| {
                let pairs: Vec<(usize, usize)> =
                    order[l].iter().flat_map(|&a| vsucc[a].iter().map(move |&b| (index[a], index[b]))).collect();
                crossings(&pairs)
            })
            .sum()
    };
    let mut best = (total_crossings(&order, &index), order.clone());
    for sweep in 0..8 {
        let down = sweep % 2 == 0;
        let layers: Vec<usize> = if down { (1..depth).collect() } else { (0..depth.saturating_sub(1)).rev().collect() };
        for l in layers {
            let mut keyed: Vec<(f64, usize, usize)> = order[l]
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let nb = if down { &vpred[v] } else { &vsucc[v] };
                    let key = if nb.is_empty() { i as f64 } else { nb.iter().map(|&w| index[w] as f64).sum::<f64>() / nb.len() as f64 };
                    (key, i, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            order[l] = keyed.into_iter().map(|k| k.2).collect();
            for (i, &v) in order[l].iter().enumerate() {
                index[v] = i;
            }
        }
        let c = total_crossings(&order, &index);
        if c < best.0 {
            best = (c, order.clone());
        }
    }
    let order = best.1;
    reindex(&order, &mut index);

    // sizes
    let lines: Vec<Vec<String>> = nodes.iter().map(|d| label_lines(&d.label)).collect();
    let node_h: Vec<f64> = lines.iter().map(|l| 10.0 + l.len() as f64 * 15.0 + 14.0).collect();
    // height of each layer's band: its tallest node
    let band: Vec<f64> = (0..depth).map(|l| (0..n).filter(|&v| layer[v] == l).map(|v| node_h[v]).fold(39.0, f64::max)).collect();
    let mut layer_top = vec![MARGIN + LEGEND_H; depth + 1];
    for l in 0..depth {
        layer_top[l + 1] = layer_top[l] + band[l] + LAYER_GAP;
    }
    let mut vwidth = vec![0.0; nv];
    for (v, d) in nodes.iter().enumerate() {
        let label_w = lines[v].iter().map(|l| text_width(l.chars().count(), LABEL_PX)).fold(0.0, f64::max);
        let detail_w = text_width(truncate_middle(&d.detail, 32).chars().count(), DETAIL_PX);
        vwidth[v] = (label_w.max(detail_w) + 20.0).clamp(70.0, 220.0);
    }
    let sep = |a: usize, b: usize| {
        let gap = if a < n && b < n { GAP_NODES } else { GAP_WAYPOINT };
        (vwidth[a] + vwidth[b]) / 2.0 + gap
    };

    // horizontal positions (centres): packed, then pulled towards neighbours
    let mut x = vec![0.0; nv];
    for row in &order {
        let mut at = 0.0;
        for (i, &v) in row.iter().enumerate() {
            if i > 0 {
                at += sep(row[i - 1], v);
            }
            x[v] = at;
        }
    }
    let widest = order.iter().max_by(|a, b| {
        let wa = a.last().map_or(0.0, |&v| x[v]);
        let wb = b.last().map_or(0.0, |&v| x[v]);
        wa.total_cmp(&wb)
    });
    let centre = widest.and_then(|r| r.last()).map_or(0.0, |&v| x[v]) / 2.0;
    for row in &order {
        let shift = centre - row.last().map_or(0.0, |&v| x[v]) / 2.0;
        for &v in row {
            x[v] += shift;
        }
    }
    // How strongly vertex w pulls its neighbour v: a node follows nodes and
    // hardly the waypoints passing by; a chain of waypoints stays straight.
    let pull = |v: usize, w: usize| match (v < n, w < n) {
        (true, true) => 1.0,
        (true, false) => 0.05,
        (false, true) => 1.0,
        (false, false) => 8.0,
    };
    for round in 0..12 {
        let down = round % 2 == 0;
        let layers: Vec<usize> = if down { (1..depth).collect() } else { (0..depth.saturating_sub(1)).rev().collect() };
        for l in layers {
            let row = &order[l];
            let desired: Vec<f64> = row
                .iter()
                .map(|&v| {
                    let nb: Vec<usize> = if round >= 10 {
                        vpred[v].iter().chain(vsucc[v].iter()).copied().collect()
                    } else if down {
                        vpred[v].clone()
                    } else {
                        vsucc[v].clone()
                    };
                    let (sum, total) = nb.iter().fold((0.0, 0.0), |(s, t), &w| (s + pull(v, w) * x[w], t + pull(v, w)));
                    if total > 0.0 { sum / total } else { x[v] }
                })
                .collect();
            let weights: Vec<f64> = row.iter().map(|&v| if v < n { 1.0 } else { 0.02 }).collect();
            let seps: Vec<f64> = row.windows(2).map(|w| sep(w[0], w[1])).collect();
            for (&v, p) in row.iter().zip(place(&desired, &weights, &seps)) {
                x[v] = p;
            }
        }
    }
    let min_left = (0..nv).map(|v| x[v] - vwidth[v] / 2.0).fold(f64::INFINITY, f64::min);
    let shift = if min_left.is_finite() { MARGIN - min_left } else { 0.0 };
    for xv in &mut x {
        *xv += shift;
    }
    let max_right = (0..nv).map(|v| x[v] + vwidth[v] / 2.0).fold(0.0, f64::max);
    let top_of = |l: usize| layer_top[l];

    let boxes: Vec<(f64, f64, f64, f64)> = (0..n).map(|v| (x[v] - vwidth[v] / 2.0, top_of(layer[v]), vwidth[v], node_h[v])).collect();

    // edge paths: vertical tangents between layers, straight through waypoints
    let curve = |d: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64)| {
        let ym = (y1 + y2) / 2.0;
        let _ = write!(d, "C{} {} {} {} {} {}", num(x1), num(ym), num(x2), num(ym), num(x2), num(y2));
    };
    let mut drawn = Vec::with_capacity(routes.len() + back.len());
    for (u, v, route) in &routes {
        let start = (x[*u], top_of(layer[*u]) + node_h[*u]);
        let mut d = format!("M{} {}", num(start.0), num(start.1));
        let mut at = start;
        for &w in route {
            let (wx, wt) = (x[w], top_of(vlayer[w]));
            curve(&mut d, at, (wx, wt));
            let wb = wt + band[vlayer[w]];
            let _ = write!(d, "V{}", num(wb));
            at = (wx, wb);
        }
        curve(&mut d, at, (x[*v], top_of(layer[*v]) - 1.0));
        drawn.push((*u, *v, d));
    }
    for &(u, v) in &back {
        let (x1, y1) = (x[u] + vwidth[u] / 2.0, top_of(layer[u]) + node_h[u] / 2.0);
        let (x2, y2) = (x[v] + vwidth[v] / 2.0, top_of(layer[v]) + node_h[v] / 2.0);
        let bulge = (x1.max(x2) + 40.0).min(max_right + 40.0);
        let d = format!("M{} {}C{} {} {} {} {} {}", num(x1), num(y1), num(bulge), num(y1), num(bulge), num(y2), num(x2 + 1.0), num(y2));
        drawn.push((u, v, d));
    }
    drawn.sort_by_key(|e| (e.0, e.1));

    let legend_w = MARGIN + NodeState::ALL.iter().map(|s| 22.0 + text_width(s.name().len(), 11.0) + 10.0).sum::<f64>();
    let width = (max_right + MARGIN + if back.is_empty() { 0.0 } else { 44.0 }).max(legend_w);
    let height = if depth == 0 { MARGIN + LEGEND_H + 39.0 + MARGIN } else { top_of(depth) - LAYER_GAP + MARGIN };
    Layout { boxes, layers: layer, edges: drawn, lines, width, height }
}

/// Draws the stage graph as `<svg class="dag">`, top to bottom.
///
/// `edges` go from producer index to consumer index. Each node is exactly
/// one `<g class="node" data-stage="ID" data-state="STATE"
/// transform="translate(X,Y)">` (the top-left corner of its box), holding a
/// `<title>` (full label, detail and state), a rounded `<rect>` filled by
/// [`NodeState::colour`] and the label and detail `<text>`; it is wrapped in
/// `<a href="#...">` when `href` is an in-page anchor. Each edge is one
/// `<path class="edge" data-from="ID" data-to="ID">` ending in the arrow
/// `<marker id="lf-dag-arrow">` (referenced as `url(#lf-dag-arrow)`, an
/// in-page reference; the id assumes one graph per page). A legend of the
/// states (`<g class="legend">`) sits above the graph. The viewBox fits the
/// content.
pub fn dag_svg(nodes: &[DagNode], edges: &[(usize, usize)]) -> String {
    let lay = layout(nodes, edges);
    let mut out = String::with_capacity(1024 + nodes.len() * 600 + lay.edges.len() * 200);
    open_svg(&mut out, "dag", lay.width, lay.height, "Stage graph");
    out.push_str(
        "<defs><marker id=\"lf-dag-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#777\"/></marker></defs>\n",
    );
    // legend
    out.push_str("<g class=\"legend\">");
    let mut lx = MARGIN;
    for s in NodeState::ALL {
        let dash = if s == NodeState::Missing { " stroke-dasharray=\"3 2\"" } else { "" };
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\" rx=\"3\" fill=\"{}\" stroke=\"{}\"{dash}/><text x=\"{}\" y=\"{}\">{}</text>",
            num(lx),
            num(MARGIN),
            s.colour(),
            s.stroke(),
            num(lx + 21.0),
            num(MARGIN + 10.0),
            s.name()
        );
        lx += 22.0 + text_width(s.name().len(), 11.0) + 10.0;
    }
    out.push_str("</g>\n");
    if nodes.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"no-data\" x=\"{}\" y=\"{}\" fill=\"#888\">no stages</text>",
            num(MARGIN),
            num(MARGIN + LEGEND_H + 14.0)
        );
    }
    // edges under nodes
    out.push_str("<g class=\"edges\" fill=\"none\" stroke=\"#8a8a8a\" stroke-width=\"1.3\">\n");
    for (u, v, d) in &lay.edges {
        let _ = writeln!(
            out,
            "<path class=\"edge\" data-from=\"{}\" data-to=\"{}\" d=\"{d}\" marker-end=\"url(#lf-dag-arrow)\"/>",
            escape(&nodes[*u].id),
            escape(&nodes[*v].id)
        );
    }
    out.push_str("</g>\n");
    for (i, node) in nodes.iter().enumerate() {
        let (x, y, w, h) = lay.boxes[i];
        let link = node.href.as_deref().filter(|h| h.starts_with('#'));
        if let Some(href) = link {
            let _ = write!(out, "<a href=\"{}\">", escape(href));
        }
        let dash = if node.state == NodeState::Missing { " stroke-dasharray=\"4 3\"" } else { "" };
        let _ = write!(
            out,
            "<g class=\"node\" data-stage=\"{}\" data-state=\"{}\" transform=\"translate({},{})\"><title>{}\n{}\n{}</title>\
             <rect width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"{dash}/>",
            escape(&node.id),
            node.state.name(),
            num(x),
            num(y),
            escape(&node.label),
            escape(&node.detail),
            node.state.name(),
            num(w),
            num(h),
            node.state.colour(),
            node.state.stroke()
        );
        let cx = num(w / 2.0);
        let mut ty = 17.0;
        for line in &lay.lines[i] {
            let _ = write!(
                out,
                "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\" fill=\"#222\">{}</text>",
                num(ty),
                escape(line)
            );
            ty += 15.0;
        }
        let _ = write!(
            out,
            "<text class=\"detail\" x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10.5\" fill=\"#444\">{}</text></g>",
            num(h - 8.0),
            escape(&truncate_middle(&node.detail, 32))
        );
        if link.is_some() {
            out.push_str("</a>");
        }
        out.push('\n');
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, state: NodeState) -> DagNode {
        DagNode { id: id.to_string(), label: id.to_string(), detail: "kind × 120".to_string(), state, href: Some(format!("#stage-{id}")) }
    }

    fn assert_clean(svg: &str) {
        let rest = svg.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!rest.contains("http://") && !rest.contains("https://"), "external reference in {svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "non-finite number in {svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"dag\""));
        assert!(svg.ends_with("</svg>"));
    }

    /// The demo chain, in its sweep form with `variants` variants of
    /// everything from gmcae on.
    fn demo(variants: usize) -> (Vec<DagNode>, Vec<(usize, usize)>) {
        let shared = ["cohort", "hu", "iso", "lungs", "patches"];
        let mut nodes: Vec<DagNode> = shared.iter().map(|s| node(s, NodeState::Cached)).collect();
        let mut edges = vec![(0, 1), (1, 2), (2, 3), (3, 4)];
        for v in 0..variants {
            let name = |s: &str| if variants == 1 { s.to_string() } else { format!("{s}@gmcae.lr=3e-4,gmcae.mixtures={v}") };
            let base = nodes.len();
            for s in ["gmcae", "encode", "classifier", "predict", "submission", "evaluate"] {
                nodes.push(node(&name(s), NodeState::Executed));
            }
            let (gmcae, encode, classifier, predict, submission, evaluate) = (base, base + 1, base + 2, base + 3, base + 4, base + 5);
            edges.extend([
                (4, gmcae),
                (gmcae, encode),
                (3, encode),
                (encode, classifier),
                (0, classifier),
                (classifier, predict),
                (encode, predict),
                (predict, submission),
                (0, submission),
                (submission, evaluate),
                (0, evaluate),
            ]);
        }
        (nodes, edges)
    }

    fn translate(svg: &str, id: &str) -> (f64, f64) {
        let tag = format!("data-stage=\"{id}\"");
        let rest = svg.split(&tag).nth(1).expect("node present");
        let t = rest.split("translate(").nth(1).and_then(|r| r.split(')').next()).expect("translate");
        let (x, y) = t.split_once(',').expect("x,y");
        (x.parse().expect("x"), y.parse().expect("y"))
    }

    #[test]
    fn state_names_and_colours() {
        let names: Vec<&str> = NodeState::ALL.iter().map(NodeState::name).collect();
        assert_eq!(names, ["executed", "cached", "failed", "skipped", "mixed", "missing"]);
        let colours: BTreeSet<&str> = NodeState::ALL.iter().map(NodeState::colour).collect();
        assert_eq!(colours.len(), 6);
    }

    #[test]
    fn one_node_element_per_stage_and_one_path_per_edge() {
        for variants in [1, 6] {
            let (nodes, edges) = demo(variants);
            let svg = dag_svg(&nodes, &edges);
            assert_clean(&svg);
            assert_eq!(svg.matches("class=\"node\"").count(), nodes.len());
            assert_eq!(svg.matches("class=\"edge\"").count(), edges.len());
            assert_eq!(svg.matches("<a href=\"#stage-").count(), nodes.len());
            assert_eq!(svg.matches("<marker ").count(), 1);
            for n in &nodes {
                assert_eq!(svg.matches(&format!("data-stage=\"{}\"", n.id)).count(), 1);
            }
        }
    }

    #[test]
    fn consumers_sit_below_their_producers() {
        for variants in [1, 6] {
            let (nodes, edges) = demo(variants);
            let lay = layout(&nodes, &edges);
            let svg = dag_svg(&nodes, &edges);
            for &(u, v) in &edges {
                let (pu, pv) = (lay.boxes[u], lay.boxes[v]);
                assert!(pv.1 >= pu.1 + pu.3, "{} above {}", nodes[v].id, nodes[u].id);
                assert!(lay.layers[v] > lay.layers[u]);
                let (tu, tv) = (translate(&svg, &nodes[u].id), translate(&svg, &nodes[v].id));
                assert!(tv.1 > tu.1);
            }
            // longest path: evaluate is on the eleventh layer
            assert_eq!(lay.layers.iter().max(), Some(&10));
            // no two boxes overlap
            for i in 0..nodes.len() {
                for j in i + 1..nodes.len() {
                    let (a, b) = (lay.boxes[i], lay.boxes[j]);
                    let apart = a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
                    assert!(apart, "{} overlaps {}", nodes[i].id, nodes[j].id);
                }
            }
            // everything inside the viewBox
            for b in &lay.boxes {
                assert!(b.0 >= 0.0 && b.1 >= 0.0 && b.0 + b.2 <= lay.width && b.1 + b.3 <= lay.height);
            }
        }
    }

    #[test]
    fn long_sweep_labels_are_shortened_but_whole_in_the_title() {
        let (nodes, edges) = demo(6);
        let svg = dag_svg(&nodes, &edges);
        let long = "classifier@gmcae.lr=3e-4,gmcae.mixtures=5";
        assert!(svg.contains(&format!("<title>{long}\n")));
        let lay = layout(&nodes, &edges);
        let i = nodes.iter().position(|n| n.id == long).expect("node");
        assert_eq!(lay.lines[i], ["classifier@", "gmcae.lr=3e-4,", "gmcae.mixtures=5"]);
        assert_eq!(label_lines("gmcae@mixtures=2,lr=0.001"), ["gmcae@mixtures=2,lr=0.001"]);
        let many = label_lines("s@a=1111111111,b=2222222222,c=3333333333,d=4444444444,e=5");
        assert_eq!(many.len(), MAX_LINES);
        assert!(many[2].contains('…'), "{many:?}");
        assert!(lay.lines[i].iter().all(|l| l.chars().count() <= LINE_CHARS));
        assert!(lay.boxes.iter().all(|b| b.2 <= 220.0));
    }

    #[test]
    fn cycles_and_bad_edges_end() {
        let nodes: Vec<DagNode> = (0..4).map(|i| node(&format!("s{i}"), NodeState::Missing)).collect();
        let edges = [(0, 1), (1, 2), (2, 0), (2, 3), (3, 3), (9, 1), (0, 1)];
        let svg = dag_svg(&nodes, &edges);
        assert_clean(&svg);
        assert_eq!(svg.matches("class=\"node\"").count(), 4);
        // the self-loop, the out-of-range edge and the duplicate are dropped
        assert_eq!(svg.matches("class=\"edge\"").count(), 4);
    }

    #[test]
    fn empty_and_single() {
        let svg = dag_svg(&[], &[]);
        assert_clean(&svg);
        assert_eq!(svg.matches("class=\"node\"").count(), 0);
        let svg = dag_svg(&[node("only", NodeState::Failed)], &[]);
        assert_clean(&svg);
        assert_eq!(svg.matches("class=\"node\"").count(), 1);
        assert!(svg.contains("data-state=\"failed\""));
    }

    #[test]
    fn text_is_escaped_and_external_links_dropped() {
        let nodes = vec![
            DagNode {
                id: "a<b&\"c'".into(),
                label: "a<b&\"c'".into(),
                detail: "<k> × 1".into(),
                state: NodeState::Mixed,
                href: Some("https://example.org/x".into()),
            },
            DagNode { id: "d".into(), label: "d".into(), detail: String::new(), state: NodeState::Skipped, href: Some("#d\"x".into()) },
        ];
        let svg = dag_svg(&nodes, &[(0, 1)]);
        assert_clean(&svg);
        assert!(svg.contains("data-stage=\"a&lt;b&amp;&quot;c&#39;\""));
        assert!(svg.contains("<a href=\"#d&quot;x\">"));
        assert_eq!(svg.matches("<a ").count(), 1);
        assert!(!svg.contains("a<b") && !svg.contains("<k>"));
    }

    #[test]
    fn random_graphs_lay_out_without_overlap() {
        let mut seed = 0x9E3779B97F4A7C15u64;
        let mut rnd = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for size in [2, 10, 30, 30, 30, 120] {
            let nodes: Vec<DagNode> = (0..size)
                .map(|i| {
                    let id = if rnd(3) == 0 { format!("stage{i}@mixtures={},lr=0.00{}", rnd(5), rnd(9)) } else { format!("s{i}") };
                    DagNode { href: None, ..node(&id, NodeState::ALL[rnd(6)]) }
                })
                .collect();
            let mut edges = Vec::new();
            for v in 1..size {
                for _ in 0..1 + rnd(3) {
                    edges.push((rnd(v), v));
                }
            }
            let t = std::time::Instant::now();
            let lay = layout(&nodes, &edges);
            assert!(t.elapsed().as_secs_f64() < 2.0, "{size} nodes took {:?}", t.elapsed());
            for &(u, v) in &edges {
                assert!(lay.boxes[v].1 >= lay.boxes[u].1 + lay.boxes[u].3);
            }
            for i in 0..size {
                for j in i + 1..size {
                    let (a, b) = (lay.boxes[i], lay.boxes[j]);
                    assert!(a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1);
                }
            }
            let svg = dag_svg(&nodes, &edges);
            assert_clean(&svg);
            assert_eq!(svg.matches("class=\"node\"").count(), size);
        }
    }

    #[test]
    fn deterministic() {
        let (nodes, edges) = demo(6);
        let svg = dag_svg(&nodes, &edges);
        assert_eq!(svg, dag_svg(&nodes, &edges));
        eprintln!("{} nodes, {} edges: {} bytes", nodes.len(), edges.len(), svg.len());
    }

    #[test]
    fn placement_keeps_order_and_separation() {
        let p = place(&[5.0, 5.0, 5.0], &[1.0; 3], &[10.0, 10.0]);
        assert_eq!(p, vec![-5.0, 5.0, 15.0]);
        let p = place(&[0.0, 100.0], &[1.0; 2], &[10.0]);
        assert_eq!(p, vec![0.0, 100.0]);
        // a heavy vertex stays, a light one moves aside
        let p = place(&[5.0, 5.0], &[1.0, 0.0], &[10.0]);
        assert!((p[0] - 5.0).abs() < 1e-3 && (p[1] - 15.0).abs() < 1e-3, "{p:?}");
    }
}
