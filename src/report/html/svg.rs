//! Shared SVG primitives for the HTML report (escaping, colours, compact
//! numbers) and line charts drawn as inline SVG text, their axes laid out by
//! [`super::axis`].
//!
//! Every picture in the report is a pure function of plain data returning
//! one `<svg>` element as a string: deterministic (same input, same bytes),
//! valid SVG 1.1 inside HTML, and with no external reference of any kind (no
//! fonts, images or links that load something). The only `http://` text in
//! the output is the value of the SVG namespace attribute,
//! `xmlns="http://www.w3.org/2000/svg"`: a name, never fetched, so a check
//! for references that *load* something (`src=`, `href=`, `url(`,
//! `@import` followed by `http`) does not see it.

use std::fmt::Write as _;

use super::axis::{Scale, Ticks, axis_ticks};

/// The SVG namespace, written as the `xmlns` attribute of every picture.
/// It is an identifier, not a reference: nothing is ever loaded from it.
pub const SVG_NS: &str = "http://www.w3.org/2000/svg";

/// Escapes `text` for XML/HTML text content and attribute values (`&`, `<`,
/// `>`, `"` and `'`). Characters not allowed in XML 1.0 (control characters
/// other than tab, newline and carriage return) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Ten distinct colours (Tableau 10, as hex), cycling: `palette(10) ==
/// palette(0)`.
pub fn palette(i: usize) -> &'static str {
    const COLOURS: [&str; 10] =
        ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
    COLOURS[i % COLOURS.len()]
}

/// One line of a [`Chart`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Name shown in the legend and written as `data-series`.
    pub name: String,
    /// Points in drawing order (not sorted); a non-finite point breaks the
    /// line there.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (e.g. training curves next to solid validation curves).
    pub dashed: bool,
}

/// A line chart: see [`line_chart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label left of the y axis (rotated).
    pub y_label: String,
    /// The lines, coloured by [`palette`] in order.
    pub series: Vec<Series>,
    /// Labelled horizontal reference lines, e.g. `("class prior 0.693",
    /// 0.693)`; their values are included in the automatic y range.
    pub hlines: Vec<(String, f64)>,
    /// Draw the chance line y = x (ROC charts).
    pub diagonal: bool,
    /// Fixed x range; automatic ("nice", from the data) when `None`, not
    /// finite or empty.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range; automatic ("nice", from the data) when `None`, not
    /// finite or empty.
    pub y_range: Option<(f64, f64)>,
    /// Width in pixels (also the viewBox width).
    pub width: u32,
    /// Height in pixels (also the viewBox height).
    pub height: u32,
}

impl Default for Chart {
    fn default() -> Self {
        Chart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            hlines: Vec::new(),
            diagonal: false,
            x_range: None,
            y_range: None,
            width: 480,
            height: 300,
        }
    }
}

/// Formats a coordinate compactly: one decimal, without a trailing `.0`;
/// never `NaN`, `inf` or `-0` (non-finite values become `0`, magnitudes are
/// capped at 10^7).
pub(crate) fn num(v: f64) -> String {
    let v = if v.is_finite() { v.clamp(-1e7, 1e7) } else { 0.0 };
    let mut s = format!("{v:.1}");
    if s.ends_with(".0") {
        s.truncate(s.len() - 2);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// Approximate width in pixels of `chars` characters of sans-serif text at
/// `font_px` (an average glyph is about 0.6 em).
pub(crate) fn text_width(chars: usize, font_px: f64) -> f64 {
    chars as f64 * font_px * 0.6
}

/// Shortens `text` to at most `max` characters by replacing its middle with
/// `…`, so that both the start and the end stay visible.
pub(crate) fn truncate_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    if max <= 1 {
        return "…".to_string();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(n - tail));
    out
}

/// The opening `<svg>` tag shared by all pictures.
pub(crate) fn open_svg(out: &mut String, class: &str, width: f64, height: f64, title: &str) {
    let (w, h) = (num(width.ceil()), num(height.ceil()));
    let _ = writeln!(
        out,
        "<svg xmlns=\"{SVG_NS}\" class=\"{class}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>{}</title>",
        escape(title)
    );
}

/// Draws `c` as `<svg class="chart">`: title, axes with 4–6 nice ticks and
/// labels, one element `class="series" data-series="NAME"` per series (a
/// `<path>`; a `<circle>` for a series of one finite point; an invisible
/// `<path data-empty="true">` for one without finite points), one
/// `<line class="hline">` plus `<text class="hline-label">` per finite
/// reference line, `<line class="diagonal">` when asked, and a legend
/// (`<g class="legend">`).
///
/// Non-finite points are skipped: the line breaks there. Points outside a
/// given range are clamped onto the plot's border. Degenerate data (no
/// series, one x value, all values equal) gives a valid chart; the output
/// never contains `NaN` or `inf`.
pub fn line_chart(c: &Chart) -> String {
    let (f, legend) = Frame::new(c);
    let mut out = String::with_capacity(4096);
    open_svg(&mut out, "chart", f.width, f.height, &c.title);
    f.title(&mut out, &c.title);
    f.grid(&mut out);
    f.axes(&mut out);
    f.axis_labels(&mut out, &c.x_label, &c.y_label);
    if c.diagonal {
        f.diagonal(&mut out);
    }
    for (label, v) in &c.hlines {
        f.hline(&mut out, label, *v);
    }
    for (i, s) in c.series.iter().enumerate() {
        f.series(&mut out, i, s);
    }
    if c.series.is_empty() && c.hlines.is_empty() {
        f.no_data(&mut out);
    }
    legend.draw(&mut out, &c.series, &f);
    out.push_str("</svg>");
    out
}

/// Whether both coordinates of a point are finite (only those are drawn).
fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// The finite points of every series, as one coordinate each.
fn coordinates<'a>(series: &'a [Series], coordinate: fn(&(f64, f64)) -> f64) -> impl Iterator<Item = f64> + 'a {
    series.iter().flat_map(move |s| s.points.iter().filter(|p| finite(p)).map(coordinate))
}

/// The legend under a chart's plot: at most four rows of `(series index,
/// shown name, x offset from the plot's left)`, the rest summarised.
struct Legend {
    rows: Vec<Vec<(usize, String, f64)>>,
    /// Series that did not fit.
    hidden: usize,
}

impl Legend {
    /// Packs the names of `series` greedily into rows `room` pixels wide.
    fn new(series: &[Series], room: f64) -> Legend {
        let mut rows: Vec<Vec<(usize, String, f64)>> = Vec::new();
        let mut row_w = f64::INFINITY;
        let mut hidden = 0usize;
        for (i, s) in series.iter().enumerate() {
            let name = truncate_middle(&s.name, 32);
            let w = 24.0 + text_width(name.chars().count(), 11.0) + 12.0;
            if row_w + w > room {
                if rows.len() == 4 {
                    hidden = series.len() - i;
                    break;
                }
                rows.push(Vec::new());
                row_w = 0.0;
            }
            if let Some(row) = rows.last_mut() {
                row.push((i, name, row_w));
            }
            row_w += w;
        }
        Legend { rows, hidden }
    }

    /// Height the legend takes under the x axis label.
    fn height(&self) -> f64 {
        if self.rows.is_empty() { 0.0 } else { self.rows.len() as f64 * 15.0 + 4.0 }
    }

    /// `<g class="legend">`: a line sample and the name of each series
    /// shown, and `+N more` for the hidden ones; nothing without series.
    fn draw(&self, out: &mut String, series: &[Series], f: &Frame) {
        if self.rows.is_empty() {
            return;
        }
        out.push_str("<g class=\"legend\">");
        for (row_i, row) in self.rows.iter().enumerate() {
            let y = f.bottom + 48.0 + row_i as f64 * 15.0;
            for (i, name, x) in row {
                let dash = if series[*i].dashed { " stroke-dasharray=\"4 2\"" } else { "" };
                let x = f.left + x;
                let _ = write!(
                    out,
                    "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\
                     <text x=\"{}\" y=\"{ty}\">{}</text>",
                    num(x),
                    num(x + 18.0),
                    palette(*i),
                    num(x + 22.0),
                    escape(name),
                    ly = num(y - 4.0),
                    ty = num(y)
                );
            }
        }
        if self.hidden > 0 {
            let y = f.bottom + 48.0 + (self.rows.len() - 1) as f64 * 15.0;
            let _ =
                write!(out, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#666\">+{} more</text>", num(f.right), num(y), self.hidden);
        }
        out.push_str("</g>\n");
    }
}

/// Where a chart's plot sits (pixels, top-left origin) and how data maps
/// onto it; draws everything but the legend.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    xt: Ticks,
    yt: Ticks,
    sx: Scale,
    sy: Scale,
}

impl Frame {
    /// The frame of `c` and its legend: the left margin fits the y tick
    /// labels, the bottom margin the x labels and the legend.
    fn new(c: &Chart) -> (Frame, Legend) {
        let width = f64::from(c.width.clamp(160, 4000));
        let height = f64::from(c.height.clamp(120, 4000));
        let xt = axis_ticks(coordinates(&c.series, |p| p.0), c.x_range);
        let yt = axis_ticks(coordinates(&c.series, |p| p.1).chain(c.hlines.iter().map(|h| h.1)), c.y_range);
        let y_label_w = yt.values.iter().map(|v| yt.label(*v).chars().count()).max().unwrap_or(1);
        let left = (22.0 + text_width(y_label_w, 11.0) + 8.0).clamp(40.0, 140.0);
        let right = width - 16.0;
        let legend = Legend::new(&c.series, right - left);
        let top = if c.title.is_empty() { 12.0 } else { 30.0 };
        let bottom = (height - 38.0 - legend.height()).max(top + 40.0);
        let sx = Scale::new(xt.lo, xt.hi, left, right);
        let sy = Scale::new(yt.lo, yt.hi, bottom, top);
        (Frame { width, height, left, right, top, bottom, xt, yt, sx, sy }, legend)
    }

    /// The pixel of data point `p`.
    fn at(&self, p: &(f64, f64)) -> (f64, f64) {
        (self.sx.at(p.0), self.sy.at(p.1))
    }

    /// The title above the plot, shortened to fit; nothing when empty.
    fn title(&self, out: &mut String, title: &str) {
        if title.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "<text class=\"chart-title\" x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            num(self.width / 2.0),
            escape(&truncate_middle(title, ((self.width - 20.0) / 7.8) as usize))
        );
    }

    /// `<g class="grid">`: a light line across the plot at every tick.
    fn grid(&self, out: &mut String) {
        out.push_str("<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">");
        for v in &self.xt.values {
            let x = num(self.sx.at(*v));
            let _ = write!(out, "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>", num(self.top), num(self.bottom));
        }
        for v in &self.yt.values {
            let y = num(self.sy.at(*v));
            let _ = write!(out, "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>", num(self.left), num(self.right));
        }
        out.push_str("</g>\n");
    }

    /// `<g class="axis">`: the left and bottom axis lines with their tick
    /// marks and tick labels.
    fn axes(&self, out: &mut String) {
        let (l, b) = (num(self.left), num(self.bottom));
        out.push_str("<g class=\"axis\" fill=\"#444\">");
        let _ = write!(out, "<path d=\"M{l} {t}V{b}H{r}\" fill=\"none\" stroke=\"#666\"/>", t = num(self.top), r = num(self.right));
        for v in &self.xt.values {
            let x = num(self.sx.at(*v));
            let _ = write!(
                out,
                "<line x1=\"{x}\" y1=\"{b}\" x2=\"{x}\" y2=\"{b4}\" stroke=\"#666\"/><text class=\"tick\" x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
                escape(&self.xt.label(*v)),
                b4 = num(self.bottom + 4.0),
                ty = num(self.bottom + 15.0)
            );
        }
        for v in &self.yt.values {
            let y = num(self.sy.at(*v));
            let _ = write!(
                out,
                "<line x1=\"{l4}\" y1=\"{y}\" x2=\"{l}\" y2=\"{y}\" stroke=\"#666\"/><text class=\"tick\" x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{}</text>",
                escape(&self.yt.label(*v)),
                l4 = num(self.left - 4.0),
                tx = num(self.left - 6.0),
                ty = num(self.sy.at(*v) + 4.0)
            );
        }
        out.push_str("</g>\n");
    }

    /// The axis labels: under the x axis, and rotated left of the y axis.
    fn axis_labels(&self, out: &mut String, x_label: &str, y_label: &str) {
        if !x_label.is_empty() {
            let _ = writeln!(
                out,
                "<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                num((self.left + self.right) / 2.0),
                num(self.bottom + 30.0),
                escape(x_label)
            );
        }
        if !y_label.is_empty() {
            let (x, y) = (num(12.0), num((self.top + self.bottom) / 2.0));
            let _ = writeln!(
                out,
                "<text class=\"axis-label\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{}</text>",
                escape(y_label)
            );
        }
    }

    /// `<line class="diagonal">`: y = x where both domains overlap.
    fn diagonal(&self, out: &mut String) {
        let a = self.xt.lo.max(self.yt.lo);
        let b = self.xt.hi.min(self.yt.hi);
        if a < b {
            let _ = writeln!(
                out,
                "<line class=\"diagonal\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#aaa\" stroke-dasharray=\"3 3\"/>",
                num(self.sx.at(a)),
                num(self.sy.at(a)),
                num(self.sx.at(b)),
                num(self.sy.at(b))
            );
        }
    }

    /// `<line class="hline">` and its label at `v`; nothing when `v` is not
    /// finite or outside the y domain.
    fn hline(&self, out: &mut String, label: &str, v: f64) {
        if !v.is_finite() || v < self.yt.lo || v > self.yt.hi {
            return;
        }
        let y = self.sy.at(v);
        let _ = writeln!(
            out,
            "<line class=\"hline\" x1=\"{l}\" y1=\"{ys}\" x2=\"{r}\" y2=\"{ys}\" stroke=\"#888\" stroke-dasharray=\"6 3\"/>\
             <text class=\"hline-label\" x=\"{rx}\" y=\"{ty}\" text-anchor=\"end\" fill=\"#666\">{}</text>",
            escape(label),
            l = num(self.left),
            r = num(self.right),
            ys = num(y),
            rx = num(self.right - 4.0),
            ty = num(y - 4.0)
        );
    }

    /// The one element of series `s` (the `i`-th): a `<path>`, a
    /// `<circle>` for a single finite point, an invisible path for none.
    fn series(&self, out: &mut String, i: usize, s: &Series) {
        let colour = palette(i);
        let name = escape(&s.name);
        let good: Vec<(f64, f64)> = s.points.iter().filter(|p| finite(p)).map(|p| self.at(p)).collect();
        match good.as_slice() {
            [] => {
                let _ = writeln!(
                    out,
                    "<path class=\"series\" data-series=\"{name}\" data-empty=\"true\" d=\"M0 0\" fill=\"none\" stroke=\"none\"/>"
                );
            }
            [(x, y)] => {
                let _ = writeln!(
                    out,
                    "<circle class=\"series\" data-series=\"{name}\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"><title>{name}</title></circle>",
                    num(*x),
                    num(*y)
                );
            }
            _ => {
                let dash = if s.dashed { " stroke-dasharray=\"5 3\"" } else { "" };
                let d = self.path_data(&s.points);
                let _ = writeln!(
                    out,
                    "<path class=\"series\" data-series=\"{name}\" d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\" \
                     stroke-linejoin=\"round\" stroke-linecap=\"round\"{dash}><title>{name}</title></path>"
                );
            }
        }
    }

    /// Path data through `points` in order, lifting the pen at every
    /// non-finite point.
    fn path_data(&self, points: &[(f64, f64)]) -> String {
        let mut d = String::with_capacity(points.len() * 12);
        let mut pen_down = false;
        for p in points {
            if !finite(p) {
                pen_down = false;
                continue;
            }
            let (x, y) = self.at(p);
            d.push(if pen_down { 'L' } else { 'M' });
            d.push_str(&num(x));
            d.push(' ');
            d.push_str(&num(y));
            pen_down = true;
        }
        d
    }

    /// `no data` in the middle of an empty plot.
    fn no_data(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "<text class=\"no-data\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no data</text>",
            num((self.left + self.right) / 2.0),
            num((self.top + self.bottom) / 2.0)
        );
    }
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;
