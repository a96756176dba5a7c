//! The geometry of the stage graph: boxes of given sizes placed top to
//! bottom by a small layered (Sugiyama-style) layout of our own, and the
//! edges between them routed as SVG path data. Layers by longest path from
//! the sources, long edges routed through bundled waypoints, order within a
//! layer by barycentre sweeps, positions by least-squares placement. Plain
//! numbers in and out: what the boxes hold is up to the caller.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::svg::num;

/// Gap between neighbouring nodes, between a node and a waypoint, between
/// waypoints.
const GAP_NODES: f64 = 22.0;
const GAP_WAYPOINT: f64 = 10.0;
/// Vertical gap between layers.
const LAYER_GAP: f64 = 46.0;
/// Least height of a layer's band (and of the picture without boxes).
const MIN_BAND: f64 = 39.0;
/// Above this many waypoints long edges are drawn directly.
const MAX_WAYPOINTS: usize = 5000;

/// Where [`arrange`] put the boxes and edges (pixels, top-left origin).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Arrangement {
    /// Per box: `(x, y, width, height)` (top-left corner).
    pub boxes: Vec<(f64, f64, f64, f64)>,
    /// Per box: its layer (0 = sources, top).
    pub layers: Vec<usize>,
    /// Per drawn edge: `(from, to, path data)`, sorted by its ends.
    pub edges: Vec<(usize, usize, String)>,
    /// The right end of the rightmost box or waypoint.
    pub right: f64,
    /// The bottom of the lowest layer.
    pub bottom: f64,
    /// Whether some edge closes a cycle (drawn as a bulge to the right of
    /// its ends, up to 40 px beyond `right`).
    pub back_edges: bool,
}

/// Lays out boxes of `sizes` (`(width, height)` each) and `edges` (index →
/// index) top to bottom, the leftmost box at `left` and the first layer at
/// `top`. Edges with an index out of range, self-loops and duplicates are
/// ignored; an edge closing a cycle is drawn directly and does not
/// influence layers.
pub(crate) fn arrange(sizes: &[(f64, f64)], edges: &[(usize, usize)], left: f64, top: f64) -> Arrangement {
    let layering = Layering::new(sizes.len(), edges);
    let graph = Vertices::new(sizes, &layering);
    let order = graph.order();
    let placed = Placed::new(&graph, &order, left, top);
    let right = placed.right();
    let mut drawn: Vec<(usize, usize, String)> =
        graph.routes.iter().map(|(u, v, route)| (*u, *v, placed.forward_path(*u, *v, route))).collect();
    drawn.extend(layering.back.iter().map(|&(u, v)| (u, v, placed.back_path(u, v, right))));
    drawn.sort_by_key(|e| (e.0, e.1));
    let bottom = if graph.depth == 0 { top + MIN_BAND } else { placed.layer_top[graph.depth] - LAYER_GAP };
    Arrangement { boxes: placed.boxes(), layers: layering.layer, edges: drawn, right, bottom, back_edges: !layering.back.is_empty() }
}

/// The layers to visit in one sweep: downwards from the second, or upwards
/// from the second to last.
fn sweep_layers(depth: usize, down: bool) -> Vec<usize> {
    if down { (1..depth).collect() } else { (0..depth.saturating_sub(1)).rev().collect() }
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

/// The edges split by a topological order, and the layer of every node.
struct Layering {
    /// Edges along the order: they decide the layers.
    forward: Vec<(usize, usize)>,
    /// Edges against the order (closing a cycle).
    back: Vec<(usize, usize)>,
    /// Per node: its layer, by longest path from the sources.
    layer: Vec<usize>,
}

impl Layering {
    /// The layering of `n` nodes joined by the valid `edges`.
    fn new(n: usize, edges: &[(usize, usize)]) -> Layering {
        let edge_set: BTreeSet<(usize, usize)> = edges.iter().copied().filter(|&(u, v)| u < n && v < n && u != v).collect();
        let pos = topo_positions(n, &edge_set);
        let (forward, back): (Vec<(usize, usize)>, Vec<(usize, usize)>) = edge_set.iter().partition(|&&(u, v)| pos[u] < pos[v]);
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
        Layering { forward, back, layer }
    }

    /// How many waypoints bundled long edges need: one chain per producer,
    /// down to the layer above its deepest consumer.
    fn waypoint_count(&self) -> usize {
        let n = self.layer.len();
        let deepest = |u: usize| self.forward.iter().filter(|e| e.0 == u).map(|e| self.layer[e.1]).max();
        (0..n).map(|u| deepest(u).map_or(0, |m| m.saturating_sub(self.layer[u] + 1))).sum()
    }
}

/// The graph that is ordered and placed: the nodes (vertices `0..n`)
/// followed by the waypoints of long edges.
struct Vertices {
    /// Number of nodes.
    n: usize,
    /// Per vertex: its layer.
    layer: Vec<usize>,
    /// Per vertex: its width (0 for waypoints).
    width: Vec<f64>,
    /// Per node: its height.
    height: Vec<f64>,
    /// Per vertex: the vertices above and below it joined by an edge.
    pred: Vec<Vec<usize>>,
    succ: Vec<Vec<usize>>,
    /// Per forward edge: `(from, to, waypoints passed)`.
    routes: Vec<(usize, usize, Vec<usize>)>,
    /// Number of layers.
    depth: usize,
}

impl Vertices {
    /// The nodes of `sizes` in their layers, and a waypoint per producer and
    /// layer crossed by its long edges (none above [`MAX_WAYPOINTS`]).
    fn new(sizes: &[(f64, f64)], layering: &Layering) -> Vertices {
        let layer = &layering.layer;
        let use_waypoints = layering.waypoint_count() <= MAX_WAYPOINTS;
        let mut vlayer = layer.clone();
        let mut waypoint: BTreeMap<(usize, usize), usize> = BTreeMap::new(); // (producer, layer) -> vertex
        let mut vedges: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut routes = Vec::new();
        for &(u, v) in &layering.forward {
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
        let mut pred = vec![Vec::new(); nv];
        let mut succ = vec![Vec::new(); nv];
        for &(a, b) in &vedges {
            pred[b].push(a);
            succ[a].push(b);
        }
        let mut width = vec![0.0; nv];
        for (v, s) in sizes.iter().enumerate() {
            width[v] = s.0;
        }
        let depth = vlayer.iter().copied().max().map_or(0, |m| m + 1);
        let height = sizes.iter().map(|s| s.1).collect();
        Vertices { n: sizes.len(), layer: vlayer, width, height, pred, succ, routes, depth }
    }

    /// The least distance between the centres of neighbours `a` and `b`.
    fn sep(&self, a: usize, b: usize) -> f64 {
        let gap = if a < self.n && b < self.n { GAP_NODES } else { GAP_WAYPOINT };
        (self.width[a] + self.width[b]) / 2.0 + gap
    }

    /// How strongly vertex `w` pulls its neighbour `v`: a node follows nodes
    /// and hardly the waypoints passing by; a chain of waypoints stays
    /// straight.
    fn pull(&self, v: usize, w: usize) -> f64 {
        match (v < self.n, w < self.n) {
            (true, true) => 1.0,
            (true, false) => 0.05,
            (false, true) => 1.0,
            (false, false) => 8.0,
        }
    }

    /// The order of the vertices within each layer: barycentre sweeps down
    /// and up, keeping the order with the fewest crossings seen.
    fn order(&self) -> Vec<Vec<usize>> {
        let mut order: Vec<Vec<usize>> = vec![Vec::new(); self.depth];
        for v in 0..self.layer.len() {
            order[self.layer[v]].push(v);
        }
        let mut index = vec![0usize; self.layer.len()];
        for row in &order {
            for (i, &v) in row.iter().enumerate() {
                index[v] = i;
            }
        }
        let mut best = (self.crossings(&order, &index), order.clone());
        for sweep in 0..8 {
            let down = sweep % 2 == 0;
            for l in sweep_layers(self.depth, down) {
                self.reorder(&mut order[l], &mut index, down);
            }
            let c = self.crossings(&order, &index);
            if c < best.0 {
                best = (c, order.clone());
            }
        }
        best.1
    }

    /// Sorts one layer by the mean position of each vertex's neighbours in
    /// the layer above (`down`) or below (ties and the unconnected keep
    /// their place), updating `index`.
    fn reorder(&self, row: &mut Vec<usize>, index: &mut [usize], down: bool) {
        let mut keyed: Vec<(f64, usize, usize)> = row
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let nb = if down { &self.pred[v] } else { &self.succ[v] };
                let key = if nb.is_empty() { i as f64 } else { nb.iter().map(|&w| index[w] as f64).sum::<f64>() / nb.len() as f64 };
                (key, i, v)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *row = keyed.into_iter().map(|k| k.2).collect();
        for (i, &v) in row.iter().enumerate() {
            index[v] = i;
        }
    }

    /// Crossings between all adjacent layers in `order` (`index`: the
    /// position of every vertex in its layer).
    fn crossings(&self, order: &[Vec<usize>], index: &[usize]) -> usize {
        (0..self.depth.saturating_sub(1))
            .map(|l| {
                let pairs: Vec<(usize, usize)> =
                    order[l].iter().flat_map(|&a| self.succ[a].iter().map(move |&b| (index[a], index[b]))).collect();
                crossings(&pairs)
            })
            .sum()
    }
}

/// The vertices placed: their centres and the bands of the layers.
struct Placed<'a> {
    graph: &'a Vertices,
    /// Per vertex: the x of its centre.
    x: Vec<f64>,
    /// Per layer, and one past the last: the top of its band.
    layer_top: Vec<f64>,
    /// Per layer: the height of its band (its tallest node).
    band: Vec<f64>,
}

impl<'a> Placed<'a> {
    /// Places `graph` in `order`: layers stacked from `top`, every vertex
    /// where [`centres`] puts it, shifted so the leftmost box starts at
    /// `left`.
    fn new(graph: &'a Vertices, order: &[Vec<usize>], left: f64, top: f64) -> Placed<'a> {
        let (depth, n) = (graph.depth, graph.n);
        let band: Vec<f64> =
            (0..depth).map(|l| (0..n).filter(|&v| graph.layer[v] == l).map(|v| graph.height[v]).fold(MIN_BAND, f64::max)).collect();
        let mut layer_top = vec![top; depth + 1];
        for l in 0..depth {
            layer_top[l + 1] = layer_top[l] + band[l] + LAYER_GAP;
        }
        let mut x = centres(graph, order);
        let min_left = (0..x.len()).map(|v| x[v] - graph.width[v] / 2.0).fold(f64::INFINITY, f64::min);
        let shift = if min_left.is_finite() { left - min_left } else { 0.0 };
        for xv in &mut x {
            *xv += shift;
        }
        Placed { graph, x, layer_top, band }
    }

    /// The top of vertex `v`'s layer.
    fn top_of(&self, v: usize) -> f64 {
        self.layer_top[self.graph.layer[v]]
    }

    /// The right end of the rightmost vertex (0 without any).
    fn right(&self) -> f64 {
        (0..self.x.len()).map(|v| self.x[v] + self.graph.width[v] / 2.0).fold(0.0, f64::max)
    }

    /// Per node: `(x, y, width, height)` of its box.
    fn boxes(&self) -> Vec<(f64, f64, f64, f64)> {
        let g = self.graph;
        (0..g.n).map(|v| (self.x[v] - g.width[v] / 2.0, self.top_of(v), g.width[v], g.height[v])).collect()
    }

    /// Path data of a forward edge from the bottom of `u` to the top of
    /// `v`: vertical tangents between layers, straight down through the
    /// waypoints of `route`.
    fn forward_path(&self, u: usize, v: usize, route: &[usize]) -> String {
        let start = (self.x[u], self.top_of(u) + self.graph.height[u]);
        let mut d = format!("M{} {}", num(start.0), num(start.1));
        let mut at = start;
        for &w in route {
            let (wx, wt) = (self.x[w], self.top_of(w));
            curve(&mut d, at, (wx, wt));
            let wb = wt + self.band[self.graph.layer[w]];
            let _ = write!(d, "V{}", num(wb));
            at = (wx, wb);
        }
        curve(&mut d, at, (self.x[v], self.top_of(v) - 1.0));
        d
    }

    /// Path data of a back edge: from the right side of `u` bulging out to
    /// the right (at most 40 px beyond `right`) into the right side of `v`.
    fn back_path(&self, u: usize, v: usize, right: f64) -> String {
        let g = self.graph;
        let (x1, y1) = (self.x[u] + g.width[u] / 2.0, self.top_of(u) + g.height[u] / 2.0);
        let (x2, y2) = (self.x[v] + g.width[v] / 2.0, self.top_of(v) + g.height[v] / 2.0);
        let bulge = (x1.max(x2) + 40.0).min(right + 40.0);
        format!("M{} {}C{} {} {} {} {} {}", num(x1), num(y1), num(bulge), num(y1), num(bulge), num(y2), num(x2 + 1.0), num(y2))
    }
}

/// Appends a cubic curve from `(x1, y1)` to `(x2, y2)` with vertical
/// tangents at both ends.
fn curve(d: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64)) {
    let ym = (y1 + y2) / 2.0;
    let _ = write!(d, "C{} {} {} {} {} {}", num(x1), num(ym), num(x2), num(ym), num(x2), num(y2));
}

/// The x of every vertex's centre: each layer packed and centred under
/// the widest, then pulled towards its neighbours in alternating sweeps
/// (the last two towards both sides).
fn centres(g: &Vertices, order: &[Vec<usize>]) -> Vec<f64> {
    let mut x = vec![0.0; g.layer.len()];
    for row in order {
        let mut at = 0.0;
        for (i, &v) in row.iter().enumerate() {
            if i > 0 {
                at += g.sep(row[i - 1], v);
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
    for row in order {
        let shift = centre - row.last().map_or(0.0, |&v| x[v]) / 2.0;
        for &v in row {
            x[v] += shift;
        }
    }
    for round in 0..12 {
        let down = round % 2 == 0;
        for l in sweep_layers(g.depth, down) {
            pull_layer(g, &order[l], &mut x, round >= 10, down);
        }
    }
    x
}

/// Moves the vertices of one ordered layer as near as their separation
/// allows to the weighted mean of their neighbours above (`down`), below,
/// or on both sides (`both`); nodes count more than waypoints.
fn pull_layer(g: &Vertices, row: &[usize], x: &mut [f64], both: bool, down: bool) {
    let desired: Vec<f64> = row
        .iter()
        .map(|&v| {
            let nb: Vec<usize> = if both {
                g.pred[v].iter().chain(g.succ[v].iter()).copied().collect()
            } else if down {
                g.pred[v].clone()
            } else {
                g.succ[v].clone()
            };
            let (sum, total) = nb.iter().fold((0.0, 0.0), |(s, t), &w| (s + g.pull(v, w) * x[w], t + g.pull(v, w)));
            if total > 0.0 { sum / total } else { x[v] }
        })
        .collect();
    let weights: Vec<f64> = row.iter().map(|&v| if v < g.n { 1.0 } else { 0.02 }).collect();
    let seps: Vec<f64> = row.windows(2).map(|w| g.sep(w[0], w[1])).collect();
    for (&v, p) in row.iter().zip(place(&desired, &weights, &seps)) {
        x[v] = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn crossings_count_swapped_pairs() {
        assert_eq!(crossings(&[(0, 0), (1, 1)]), 0);
        assert_eq!(crossings(&[(0, 1), (1, 0)]), 1);
        assert_eq!(crossings(&[(0, 2), (1, 1), (2, 0)]), 3);
    }

    #[test]
    fn cycles_still_get_a_topological_position() {
        let edges: BTreeSet<(usize, usize)> = [(0, 1), (1, 2), (2, 0), (3, 1)].into_iter().collect();
        let pos = topo_positions(4, &edges);
        let mut sorted = pos.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3]);
        assert!(pos[3] < pos[1]);
    }
}
