//! The stage graph of a pipeline drawn as inline SVG, top to bottom: the
//! nodes and their labels, the legend of states and the edges, placed by
//! the layered layout of [`super::dag_layout`].

use std::fmt::Write as _;

use super::dag_layout::arrange;
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
/// Margin around the picture.
const MARGIN: f64 = 12.0;
/// Height of the legend row above the graph.
const LEGEND_H: f64 = 26.0;

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

/// Lays out `nodes` and `edges` (producer index → consumer index) top to
/// bottom under the legend, by [`arrange`]: each box fits its label lines
/// and detail. Edges with an index out of range, self-loops and duplicates
/// are ignored; an edge closing a cycle is drawn directly and does not
/// influence layers.
pub(crate) fn layout(nodes: &[DagNode], edges: &[(usize, usize)]) -> Layout {
    let lines: Vec<Vec<String>> = nodes.iter().map(|d| label_lines(&d.label)).collect();
    let sizes: Vec<(f64, f64)> = nodes.iter().zip(&lines).map(|(d, l)| node_size(d, l)).collect();
    let a = arrange(&sizes, edges, MARGIN, MARGIN + LEGEND_H);
    let legend_w = MARGIN + NodeState::ALL.iter().map(legend_entry_width).sum::<f64>();
    let width = (a.right + MARGIN + if a.back_edges { 44.0 } else { 0.0 }).max(legend_w);
    Layout { boxes: a.boxes, layers: a.layers, edges: a.edges, lines, width, height: a.bottom + MARGIN }
}

/// `(width, height)` of the box of `node` showing `lines` of its label.
fn node_size(node: &DagNode, lines: &[String]) -> (f64, f64) {
    let label_w = lines.iter().map(|l| text_width(l.chars().count(), LABEL_PX)).fold(0.0, f64::max);
    let detail_w = text_width(truncate_middle(&node.detail, 32).chars().count(), DETAIL_PX);
    ((label_w.max(detail_w) + 20.0).clamp(70.0, 220.0), 10.0 + lines.len() as f64 * 15.0 + 14.0)
}

/// Width of one state's entry in the legend: swatch, name and gap.
fn legend_entry_width(state: &NodeState) -> f64 {
    22.0 + text_width(state.name().len(), 11.0) + 10.0
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
    draw_legend(&mut out);
    if nodes.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"no-data\" x=\"{}\" y=\"{}\" fill=\"#888\">no stages</text>",
            num(MARGIN),
            num(MARGIN + LEGEND_H + 14.0)
        );
    }
    draw_edges(&mut out, nodes, &lay.edges);
    for (i, node) in nodes.iter().enumerate() {
        draw_node(&mut out, node, lay.boxes[i], &lay.lines[i]);
    }
    out.push_str("</svg>");
    out
}

/// `<g class="legend">`: a swatch and the name of every state, in a row.
fn draw_legend(out: &mut String) {
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
        lx += legend_entry_width(&s);
    }
    out.push_str("</g>\n");
}

/// `<g class="edges">`: one `<path class="edge">` per laid-out edge, under
/// the nodes.
fn draw_edges(out: &mut String, nodes: &[DagNode], edges: &[(usize, usize, String)]) {
    out.push_str("<g class=\"edges\" fill=\"none\" stroke=\"#8a8a8a\" stroke-width=\"1.3\">\n");
    for (u, v, d) in edges {
        let _ = writeln!(
            out,
            "<path class=\"edge\" data-from=\"{}\" data-to=\"{}\" d=\"{d}\" marker-end=\"url(#lf-dag-arrow)\"/>",
            escape(&nodes[*u].id),
            escape(&nodes[*v].id)
        );
    }
    out.push_str("</g>\n");
}

/// One `<g class="node">` in the box `(x, y, w, h)` with its label
/// `lines` and detail, inside a link when its `href` is an in-page anchor.
fn draw_node(out: &mut String, node: &DagNode, (x, y, w, h): (f64, f64, f64, f64), lines: &[String]) {
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
    for line in lines {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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
}
