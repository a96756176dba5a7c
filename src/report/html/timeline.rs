//! The instances of a run drawn as bars on a time axis (like Nextflow's
//! timeline), as inline SVG: one lane per stage, concurrent instances
//! stacked in sub-rows, cached instances summarised by one marker per lane.

use std::fmt::Write as _;

use super::axis::{Ticks, nice_ticks};
use super::svg::{escape, num, open_svg, palette, text_width, truncate_middle};

/// One instance of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// The stage: one lane per stage, in the order lanes first appear.
    pub lane: String,
    /// The instance, e.g. `hu[patient-0001]` (shown in the bar's `<title>`).
    pub label: String,
    /// Seconds since the run started.
    pub start: f64,
    /// Seconds since the run started.
    pub end: f64,
    /// Came from the cache (not drawn as a bar; counted in the lane's
    /// marker).
    pub cached: bool,
    /// Failed (drawn with a red outline).
    pub failed: bool,
}

/// Width of the whole picture.
const WIDTH: f64 = 960.0;
/// Most sub-rows in a lane; more concurrent instances overlap.
const MAX_ROWS: usize = 8;
/// Vertical pitch of a sub-row and height of a bar.
const ROW_PITCH: f64 = 10.0;
const BAR_H: f64 = 8.0;
/// Padding above and below the sub-rows of a lane.
const LANE_PAD: f64 = 3.0;
/// Height above the first lane (summary, tick labels).
const HEADER_H: f64 = 40.0;
const MARGIN: f64 = 12.0;

/// A duration for people: `0.04 s`, `12.3 s`, `3 min 12 s`, `2 h 5 min`.
fn duration(secs: f64) -> String {
    let s = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
    if s < 1.0 {
        format!("{s:.2} s")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let whole = s.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    } else {
        let whole = (s / 60.0).round() as u64;
        format!("{} h {} min", whole / 60, whole % 60)
    }
}

/// One lane as laid out.
struct Lane<'a> {
    name: &'a str,
    /// Executed bars: (index into the input, start, end, sub-row), by start.
    bars: Vec<(usize, f64, f64, usize)>,
    cached: usize,
    rows: usize,
}

impl Lane<'_> {
    /// Height of the lane: its sub-rows and the padding around them.
    fn height(&self) -> f64 {
        self.rows as f64 * ROW_PITCH + 2.0 * LANE_PAD
    }

    /// Sorts the bars by start (then end, then input order) and stacks
    /// them in sub-rows.
    fn stack(&mut self) {
        self.bars.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)).then(a.0.cmp(&b.0)));
        let spans: Vec<(f64, f64)> = self.bars.iter().map(|b| (b.1, b.2)).collect();
        let (rows, used) = assign_rows(&spans);
        for (b, r) in self.bars.iter_mut().zip(rows) {
            b.3 = r;
        }
        self.rows = used;
    }
}

/// The lanes of `bars` in order of first appearance, their executed bars
/// stacked in sub-rows and their cached ones counted.
fn lanes(bars: &[Bar]) -> Vec<Lane<'_>> {
    let mut lanes: Vec<Lane> = Vec::new();
    let mut lane_of = std::collections::BTreeMap::new();
    for (i, b) in bars.iter().enumerate() {
        let li = *lane_of.entry(b.lane.as_str()).or_insert_with(|| {
            lanes.push(Lane { name: &b.lane, bars: Vec::new(), cached: 0, rows: 1 });
            lanes.len() - 1
        });
        if b.cached {
            lanes[li].cached += 1;
        } else {
            let (start, end) = span_of(b);
            lanes[li].bars.push((i, start, end, 0));
        }
    }
    for lane in &mut lanes {
        lane.stack();
    }
    lanes
}

/// `(start, end)` of a bar, made finite: not before 0, the end not before
/// the start.
fn span_of(b: &Bar) -> (f64, f64) {
    let start = if b.start.is_finite() { b.start.max(0.0) } else { 0.0 };
    let end = if b.end.is_finite() { b.end.max(start) } else { start };
    (start, end)
}

/// Assigns each bar (sorted by start) the first sub-row free at its start;
/// with all `MAX_ROWS` busy, the one that frees first. Returns the sub-row
/// of every bar and the number of sub-rows used.
fn assign_rows(spans: &[(f64, f64)]) -> (Vec<usize>, usize) {
    let mut row_end: Vec<f64> = Vec::new();
    let mut rows = Vec::with_capacity(spans.len());
    for &(start, end) in spans {
        let row = match row_end.iter().position(|&e| e <= start) {
            Some(r) => r,
            None if row_end.len() < MAX_ROWS => {
                row_end.push(f64::NEG_INFINITY);
                row_end.len() - 1
            }
            None => {
                let mut best = 0;
                for (r, &e) in row_end.iter().enumerate() {
                    if e < row_end[best] {
                        best = r;
                    }
                }
                best
            }
        };
        row_end[row] = row_end[row].max(end);
        rows.push(row);
    }
    let used = row_end.len().max(1);
    (rows, used)
}

/// Draws the run as `<svg class="timeline">`: a time axis with nice ticks
/// (in s, min or h), one lane per stage (`<g class="lane" data-lane="...">`
/// with the stage's name at the left, in the order lanes first appear),
/// and for each executed instance exactly one `<rect class="bar"
/// data-lane="..." ...>` (`class="bar failed"` with a red outline when it
/// failed) whose `<title>` gives its label and duration. Cached instances
/// are not bars: each lane with any has one `<circle class="cached">` at
/// time 0 whose `<title>` counts them (`120 cached`). Concurrent bars of a
/// lane are stacked in up to 8 sub-rows; every bar is at least 1 px wide.
/// A dashed `<line class="wall">` marks `wall_seconds` when it is positive.
///
/// Output grows linearly, about 120–150 bytes per bar (depending on the
/// lengths of lane and label).
pub fn timeline_svg(bars: &[Bar], wall_seconds: f64) -> String {
    let lanes = lanes(bars);
    let wall = if wall_seconds.is_finite() && wall_seconds > 0.0 { wall_seconds } else { 0.0 };
    let plot = Plot::new(&lanes, wall);
    let mut out = String::with_capacity(2048 + bars.len() * 140);
    open_svg(&mut out, "timeline", WIDTH, plot.height(), "Timeline of the run");
    draw_summary(&mut out, bars, &lanes, wall);
    plot.stripes(&mut out, &lanes);
    plot.axis(&mut out);
    if lanes.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"no-data\" x=\"{}\" y=\"{}\" fill=\"#888\">no instances</text>",
            num(plot.left),
            num(HEADER_H + 14.0)
        );
    }
    for (li, lane) in lanes.iter().enumerate() {
        plot.lane(&mut out, bars, li, lane);
    }
    if wall > 0.0 {
        plot.wall(&mut out, wall);
    }
    out.push_str("</svg>");
    out
}

/// The line above the lanes: how many instances were executed, cached and
/// failed, and the wall time when known.
fn draw_summary(out: &mut String, bars: &[Bar], lanes: &[Lane], wall: f64) {
    let executed: usize = lanes.iter().map(|l| l.bars.len()).sum();
    let cached: usize = lanes.iter().map(|l| l.cached).sum();
    let failed = bars.iter().filter(|b| b.failed && !b.cached).count();
    let wall_text = if wall > 0.0 { format!(" · wall time {}", duration(wall)) } else { String::new() };
    let _ = writeln!(
        out,
        "<text class=\"summary\" x=\"{}\" y=\"14\">{executed} executed, {cached} cached, {failed} failed{wall_text}</text>",
        num(MARGIN)
    );
}

/// Where the lanes and the time axis sit, and how seconds map onto x.
struct Plot {
    /// Seconds per axis unit (1, 60 or 3600) and the unit's name.
    unit: f64,
    unit_name: &'static str,
    ticks: Ticks,
    /// Seconds covered by the axis.
    domain: f64,
    /// Left end of the axis (right of the lane names).
    left: f64,
    px_per_s: f64,
    /// Per lane: the top of its stripe.
    lane_top: Vec<f64>,
    /// Bottom of the last lane (at least 20 px below the header).
    bottom: f64,
}

impl Plot {
    /// The plot of `lanes`: an axis covering the last end and the wall
    /// time, in s, min or h, right of the longest lane name.
    fn new(lanes: &[Lane], wall: f64) -> Plot {
        let last_end = lanes.iter().flat_map(|l| l.bars.iter().map(|b| b.2)).fold(0.0, f64::max);
        let span = wall.max(last_end);
        let span = if span > 0.0 && span.is_finite() { span.min(1e9) } else { 1.0 };
        let (unit, unit_name) = if span <= 120.0 {
            (1.0, "s")
        } else if span <= 7200.0 {
            (60.0, "min")
        } else {
            (3600.0, "h")
        };
        let ticks = nice_ticks(0.0, span / unit, true);
        let domain = ticks.hi * unit;
        let name_chars = lanes.iter().map(|l| truncate_middle(l.name, 34).chars().count()).max().unwrap_or(0);
        let left = (MARGIN + text_width(name_chars, 11.0) + 12.0).clamp(70.0, 260.0);
        let right = WIDTH - MARGIN - 8.0;
        let px_per_s = (right - left) / domain;
        let mut lane_top = Vec::with_capacity(lanes.len());
        let mut y = HEADER_H;
        for lane in lanes {
            lane_top.push(y);
            y += lane.height();
        }
        Plot { unit, unit_name, ticks, domain, left, px_per_s, lane_top, bottom: y.max(HEADER_H + 20.0) }
    }

    /// Height of the whole picture.
    fn height(&self) -> f64 {
        self.bottom + MARGIN
    }

    /// The x of `t` seconds, clamped to the axis.
    fn at(&self, t: f64) -> f64 {
        self.left + t.clamp(0.0, self.domain) * self.px_per_s
    }

    /// Alternating stripes behind the lanes, with each lane's name (whole in
    /// a `<title>` when shortened).
    fn stripes(&self, out: &mut String, lanes: &[Lane]) {
        for (li, lane) in lanes.iter().enumerate() {
            let shown = truncate_middle(lane.name, 34);
            let title = if shown.chars().count() < lane.name.chars().count() {
                format!("<title>{}</title>", escape(lane.name))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "<rect class=\"stripe\" x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\
                 <text class=\"lane-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{title}{}</text>",
                num(self.lane_top[li]),
                num(WIDTH),
                num(lane.height()),
                if li % 2 == 0 { "#f4f4f4" } else { "#ffffff" },
                num(self.left - 8.0),
                num(self.lane_top[li] + LANE_PAD + 8.5),
                escape(&shown)
            );
        }
    }

    /// `<g class="axis">`: the unit, and a labelled grid line per tick.
    fn axis(&self, out: &mut String) {
        out.push_str("<g class=\"axis\">");
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#444\">time ({})</text>",
            num(self.left - 8.0),
            num(HEADER_H - 8.0),
            self.unit_name
        );
        for v in &self.ticks.values {
            let x = num(self.at(v * self.unit));
            let _ = write!(
                out,
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#d8d8d8\"/><text class=\"tick\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                num(HEADER_H - 4.0),
                num(self.bottom),
                num(HEADER_H - 8.0),
                escape(&self.ticks.label(*v))
            );
        }
        out.push_str("</g>\n");
    }

    /// `<g class="lane">` of the `li`-th lane: a bar per executed instance
    /// and the marker counting the cached ones.
    fn lane(&self, out: &mut String, bars: &[Bar], li: usize, lane: &Lane) {
        let name = escape(lane.name);
        let top = self.lane_top[li];
        let _ = writeln!(out, "<g class=\"lane\" data-lane=\"{name}\" fill=\"{}\">", palette(li));
        for &(i, start, end, row) in &lane.bars {
            let b = &bars[i];
            let x = self.at(start);
            let w = (self.at(end) - x).max(1.0);
            let class = if b.failed { "bar failed" } else { "bar" };
            let outline = if b.failed { " stroke=\"#d00\" stroke-width=\"1.5\"" } else { "" };
            let _ = writeln!(
                out,
                "<rect class=\"{class}\"{outline} data-lane=\"{name}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{} · {}{}</title></rect>",
                num(x),
                num(top + LANE_PAD + row as f64 * ROW_PITCH + (ROW_PITCH - BAR_H) / 2.0),
                num(w),
                num(BAR_H),
                escape(&b.label),
                duration(end - start),
                if b.failed { " · failed" } else { "" }
            );
        }
        if lane.cached > 0 {
            let _ = writeln!(
                out,
                "<circle class=\"cached\" data-lane=\"{name}\" cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"#fff\" stroke=\"{}\" stroke-width=\"2\"><title>{} cached</title></circle>",
                num(self.left),
                num(top + LANE_PAD + ROW_PITCH / 2.0),
                palette(li),
                lane.cached
            );
        }
        out.push_str("</g>\n");
    }

    /// `<line class="wall">`: the end of the run at `wall` seconds.
    fn wall(&self, out: &mut String, wall: f64) {
        let x = num(self.at(wall));
        let _ = writeln!(
            out,
            "<line class=\"wall\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#555\" stroke-dasharray=\"4 3\"><title>end of run · {}</title></line>",
            num(HEADER_H - 4.0),
            num(self.bottom),
            duration(wall)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(lane: &str, label: &str, start: f64, end: f64) -> Bar {
        Bar { lane: lane.into(), label: label.into(), start, end, cached: false, failed: false }
    }

    fn assert_clean(svg: &str) {
        let rest = svg.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!rest.contains("http://") && !rest.contains("https://"), "external reference in {svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "non-finite number in {svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\""));
        assert!(svg.ends_with("</svg>"));
    }

    /// `attr="value"` of the first element after `from` in `svg`.
    fn attr(el: &str, name: &str) -> f64 {
        let key = format!(" {name}=\"");
        el.split(&key).nth(1).and_then(|r| r.split('"').next()).and_then(|v| v.parse().ok()).expect("attribute")
    }

    /// The demo-sized run: `patients` per per-patient stage, a few cached.
    fn run(patients: usize) -> Vec<Bar> {
        let mut bars = vec![bar("cohort", "cohort", 0.0, 2.0)];
        for (s, stage) in ["hu", "iso", "lungs", "patches"].iter().enumerate() {
            for p in 0..patients {
                let start = 2.0 + s as f64 * 30.0 + (p / 4) as f64 * 0.5;
                bars.push(Bar { cached: p % 10 == 0, ..bar(stage, &format!("{stage}[patient-{p:04}]"), start, start + 0.45) });
            }
        }
        bars.push(Bar { failed: true, ..bar("gmcae", "gmcae", 130.0, 180.0) });
        bars
    }

    #[test]
    fn one_bar_per_executed_instance() {
        let bars = run(120);
        let svg = timeline_svg(&bars, 200.0);
        assert_clean(&svg);
        let executed = bars.iter().filter(|b| !b.cached).count();
        assert_eq!(svg.matches("<rect class=\"bar").count(), executed);
        assert_eq!(svg.matches("class=\"bar failed\"").count(), 1);
        assert!(svg.contains("434 executed, 48 cached, 1 failed · wall time 3 min 20 s"), "{}", &svg[..400]);
        assert_eq!(svg.matches("class=\"cached\"").count(), 4);
        assert!(svg.contains("<title>12 cached</title>"));
        assert_eq!(svg.matches("<g class=\"lane\"").count(), 6);
        assert!(svg.contains("time (min)"));
        // lanes in order of first appearance
        let order: Vec<usize> = ["cohort", "hu", "iso", "lungs", "patches", "gmcae"]
            .iter()
            .map(|l| svg.find(&format!("<g class=\"lane\" data-lane=\"{l}\"")).expect("lane"))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn concurrent_bars_stack_in_capped_sub_rows() {
        let spans: Vec<(f64, f64)> = (0..20).map(|i| (i as f64 * 0.1, 10.0)).collect();
        let (rows, used) = assign_rows(&spans);
        assert_eq!(used, MAX_ROWS);
        assert_eq!(&rows[..8], &[0, 1, 2, 3, 4, 5, 6, 7]);
        // back to back: one row
        let spans: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, i as f64 + 1.0)).collect();
        assert_eq!(assign_rows(&spans), (vec![0; 5], 1));
        // four at a time
        let bars: Vec<Bar> = (0..16).map(|i| bar("hu", &format!("hu[{i}]"), (i / 4) as f64, (i / 4) as f64 + 1.0)).collect();
        let svg = timeline_svg(&bars, 4.0);
        let ys: std::collections::BTreeSet<String> =
            svg.split("<rect class=\"bar\"").skip(1).map(|el| num(attr(el.split('>').next().unwrap_or(""), "y"))).collect();
        assert_eq!(ys.len(), 4);
    }

    #[test]
    fn short_bars_are_visible() {
        let bars = vec![bar("a", "a", 0.0, 0.0), bar("a", "b", 100.0, 100.001), bar("b", "c", 0.0, 3600.0)];
        let svg = timeline_svg(&bars, 3600.0);
        assert_clean(&svg);
        for el in svg.split("<rect class=\"bar\"").skip(1) {
            assert!(attr(el, "width") >= 1.0);
        }
    }

    #[test]
    fn degenerate_input_has_no_nan() {
        for (bars, wall) in [
            (vec![], 0.0),
            (vec![], f64::NAN),
            (vec![bar("a", "x", f64::NAN, f64::INFINITY), bar("a", "y", -5.0, -6.0)], f64::INFINITY),
            (vec![bar("a", "x", 0.0, 0.0)], 0.0),
            (vec![Bar { cached: true, ..bar("only cached", "x", 0.0, 0.0) }], 1.0),
            (vec![bar("huge", "x", 0.0, 1e300)], 1e300),
        ] {
            let svg = timeline_svg(&bars, wall);
            assert_clean(&svg);
            assert_eq!(svg.matches("<rect class=\"bar").count(), bars.iter().filter(|b| !b.cached).count());
        }
    }

    #[test]
    fn text_is_escaped() {
        let bars = vec![bar("a<b&\"c'", "x<y>&", 0.0, 1.0), Bar { cached: true, ..bar("a<b&\"c'", "z", 0.0, 0.0) }];
        let svg = timeline_svg(&bars, 1.0);
        assert_clean(&svg);
        assert!(svg.contains("data-lane=\"a&lt;b&amp;&quot;c&#39;\""));
        assert!(svg.contains("<title>x&lt;y&gt;&amp; · "));
        assert!(!svg.contains("a<b") && !svg.contains("x<y"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.042), "0.04 s");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(192.0), "3 min 12 s");
        assert_eq!(duration(7500.0), "2 h 5 min");
        assert_eq!(duration(f64::NAN), "0.00 s");
    }

    #[test]
    fn eight_thousand_bars_stay_small_and_deterministic() {
        let stages = ["hu", "iso", "lungs", "patches", "encode@gmcae.lr=3e-4,gmcae.mixtures=2", "predict@gmcae.lr=3e-4,gmcae.mixtures=2"];
        let mut bars = Vec::new();
        for (s, stage) in stages.iter().enumerate() {
            for p in 0..8000 / stages.len() + 1 {
                if bars.len() == 8000 {
                    break;
                }
                let start = s as f64 * 300.0 + (p / 16) as f64 * 0.9 + (p % 16) as f64 * 0.01;
                bars.push(bar(stage, &format!("{stage}[patient-{p:04}]"), start, start + 0.8 + (p % 7) as f64 * 0.1));
            }
        }
        let t = std::time::Instant::now();
        let svg = timeline_svg(&bars, 1800.0);
        let took = t.elapsed();
        assert_clean(&svg);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 8000);
        let per_bar = svg.len() / 8000;
        eprintln!("8000 bars: {} bytes, {per_bar} per bar, {took:?}", svg.len());
        assert!(per_bar < 200, "{per_bar} bytes per bar");
        assert_eq!(svg, timeline_svg(&bars, 1800.0));
    }
}
