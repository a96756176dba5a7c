//! Shared SVG primitives for the HTML report (escaping, colours, compact
//! numbers, "nice" axis ticks) and line charts drawn as inline SVG text.
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

/// Axis ticks chosen by [`nice_ticks`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ticks {
    /// Start of the axis domain.
    pub lo: f64,
    /// End of the axis domain (greater than `lo`).
    pub hi: f64,
    /// Tick values, ascending, within `lo..=hi`.
    pub values: Vec<f64>,
    /// The tick step is `m × 10^exp` with m in {1, 2, 5} (or 25, for the
    /// rare fixed range where 1, 2 and 5 give no 4–6 ticks).
    pub exp: i32,
}

impl Ticks {
    /// The label of tick value `v`: as many decimals as the step needs, or
    /// an exponent form for very large or very small magnitudes.
    pub fn label(&self, v: f64) -> String {
        format_tick(v, self.exp)
    }
}

/// Formats a tick value whose step is `m × 10^exp`.
pub(crate) fn format_tick(v: f64, exp: i32) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let mag = v.abs().log10().floor() as i32;
    if mag >= 6 || exp < -5 {
        let p = (mag - exp).clamp(0, 15) as usize;
        let s = format!("{v:.p$e}");
        return if s.starts_with("-0") && s.trim_start_matches(['-', '0', '.']).starts_with('e') { "0".to_string() } else { s };
    }
    let decimals = (-exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_string() } else { s }
}

/// Chooses 4–6 ticks with a step of 1, 2 or 5 × 10^k covering `lo..=hi`
/// (for a fixed range, where that is not always possible, 2.5 × 10^k is
/// tried too and the count may be 3 or 7).
///
/// With `extend` the domain grows to the nearest multiples of the step
/// around the data (the axis then starts and ends on a tick); without it
/// (a range given by the caller) the domain is exactly `lo..=hi` and the
/// ticks are the multiples of the step inside it. Degenerate input (equal
/// ends, non-finite values, reversed ends) gives a small finite domain.
pub(crate) fn nice_ticks(lo: f64, hi: f64, extend: bool) -> Ticks {
    const LIMIT: f64 = 1e300;
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() { (lo.clamp(-LIMIT, LIMIT), hi.clamp(-LIMIT, LIMIT)) } else { (0.0, 1.0) };
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    let mid_mag = lo.abs().max(hi.abs());
    if hi - lo <= mid_mag * 1e-9 {
        let pad = if mid_mag == 0.0 { 1.0 } else { mid_mag * 0.1 };
        lo -= pad;
        hi += pad;
        if hi - lo <= 0.0 || !(hi - lo).is_finite() {
            lo = -1.0;
            hi = 1.0;
        }
    }
    let span = hi - lo;
    let e0 = span.log10().floor() as i32;
    // (n, waste, step, exp, k0, k1) of every candidate
    let mut candidates = Vec::new();
    for exp in (e0 - 2)..=(e0 + 1) {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * 10f64.powi(exp);
            if !(step > 0.0 && step.is_finite()) {
                continue;
            }
            for ext in [true, false] {
                if ext && !extend {
                    continue;
                }
                let (k0, k1) = if ext {
                    ((lo / step + 1e-9).floor(), (hi / step - 1e-9).ceil())
                } else {
                    ((lo / step - 1e-9).ceil(), (hi / step + 1e-9).floor())
                };
                let n = k1 - k0 + 1.0;
                if !(n.is_finite() && n >= 1.0) {
                    continue;
                }
                let waste = if ext { (k1 - k0) * step / span } else { 1.0 };
                // 2.5 only where 1, 2 and 5 give no 4–6 ticks in a fixed range
                if m == 2.5 && ext {
                    continue;
                }
                candidates.push((n, waste, ext, m, if m == 2.5 { exp - 1 } else { exp }, k0, k1));
            }
        }
    }
    // Prefer 4..=6 ticks, then an extended domain (when asked), then the
    // least wasted space, then the count nearest 5, then the smaller step.
    let score = |c: &(f64, f64, bool, f64, i32, f64, f64)| {
        let (n, waste, ext, m, ..) = *c;
        let off = if (4.0..=6.0).contains(&n) { 0.0 } else { 1.0 + (n - 5.0).abs() };
        (off, if ext { 0.0 } else { 1.0 }, if m == 2.5 { 1.0 } else { 0.0 }, waste, (n - 5.0).abs())
    };
    let best = candidates.iter().min_by(|a, b| {
        let (sa, sb) = (score(a), score(b));
        sa.partial_cmp(&sb).unwrap_or(std::cmp::Ordering::Equal)
    });
    let Some(&(n, _, ext, m, exp, k0, k1)) = best else {
        return Ticks { lo, hi, values: vec![lo, hi], exp: e0 };
    };
    // the step is m × 10^exp, or 25 × 10^exp for m = 2.5
    let (m, e) = if m == 2.5 { (25.0, exp) } else { (m, exp) };
    let scale = 10f64.powi(e.abs());
    let value = |k: f64| if e >= 0 { k * m * scale } else { k * m / scale };
    let values: Vec<f64> = (0..n as usize).map(|i| value(k0 + i as f64)).filter(|v| v.is_finite()).collect();
    let (dlo, dhi) = if ext { (value(k0), value(k1)) } else { (lo, hi) };
    let (dlo, dhi) = if dlo.is_finite() && dhi.is_finite() && dhi > dlo { (dlo, dhi) } else { (lo, hi) };
    Ticks { lo: dlo, hi: dhi, values, exp }
}

/// A linear map from a data domain onto a pixel range, clamped to the range.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Scale {
    /// Maps `d0..=d1` onto `p0..=p1` (either may be decreasing).
    pub fn new(d0: f64, d1: f64, p0: f64, p1: f64) -> Scale {
        Scale { d0, d1, p0, p1 }
    }

    /// The pixel of data value `v`, clamped to the pixel range (finite for
    /// every finite domain).
    pub fn at(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        let t = if span != 0.0 && span.is_finite() { (v - self.d0) / span } else { 0.5 };
        let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
        self.p0 + t * (self.p1 - self.p0)
    }
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

/// The automatic or given domain of one axis over `values`.
fn axis_ticks(values: impl Iterator<Item = f64>, range: Option<(f64, f64)>) -> Ticks {
    if let Some((a, b)) = range
        && a.is_finite()
        && b.is_finite()
        && a != b
    {
        return nice_ticks(a.min(b), a.max(b), false);
    }
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return nice_ticks(0.0, 1.0, true);
    }
    nice_ticks(lo, hi, true)
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
    let width = f64::from(c.width.clamp(160, 4000));
    let height = f64::from(c.height.clamp(120, 4000));
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let xt = axis_ticks(c.series.iter().flat_map(|s| s.points.iter().filter(finite).map(|p| p.0)), c.x_range);
    let yt = axis_ticks(
        c.series.iter().flat_map(|s| s.points.iter().filter(finite).map(|p| p.1)).chain(c.hlines.iter().map(|h| h.1)),
        c.y_range,
    );

    // Legend rows (at most 4; the rest summarised), laid out before the plot.
    let y_label_w = yt.values.iter().map(|v| yt.label(*v).chars().count()).max().unwrap_or(1);
    let left = (22.0 + text_width(y_label_w, 11.0) + 8.0).clamp(40.0, 140.0);
    let right = width - 16.0;
    let mut legend: Vec<Vec<(usize, String, f64)>> = Vec::new();
    let mut row_w = f64::INFINITY;
    let mut hidden = 0usize;
    for (i, s) in c.series.iter().enumerate() {
        let name = truncate_middle(&s.name, 32);
        let w = 24.0 + text_width(name.chars().count(), 11.0) + 12.0;
        if row_w + w > right - left {
            if legend.len() == 4 {
                hidden = c.series.len() - i;
                break;
            }
            legend.push(Vec::new());
            row_w = 0.0;
        }
        if let Some(row) = legend.last_mut() {
            row.push((i, name, row_w));
        }
        row_w += w;
    }
    let legend_h = if legend.is_empty() { 0.0 } else { legend.len() as f64 * 15.0 + 4.0 };
    let top = if c.title.is_empty() { 12.0 } else { 30.0 };
    let bottom = (height - 38.0 - legend_h).max(top + 40.0);
    let sx = Scale::new(xt.lo, xt.hi, left, right);
    let sy = Scale::new(yt.lo, yt.hi, bottom, top);

    let mut out = String::with_capacity(4096);
    open_svg(&mut out, "chart", width, height, &c.title);
    if !c.title.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"chart-title\" x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            num(width / 2.0),
            escape(&truncate_middle(&c.title, ((width - 20.0) / 7.8) as usize))
        );
    }
    // grid, ticks and tick labels
    out.push_str("<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">");
    for v in &xt.values {
        let x = num(sx.at(*v));
        let _ = write!(out, "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>", num(top), num(bottom));
    }
    for v in &yt.values {
        let y = num(sy.at(*v));
        let _ = write!(out, "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>", num(left), num(right));
    }
    out.push_str("</g>\n<g class=\"axis\" fill=\"#444\">");
    let _ = write!(
        out,
        "<path d=\"M{l} {t}V{b}H{r}\" fill=\"none\" stroke=\"#666\"/>",
        l = num(left),
        t = num(top),
        b = num(bottom),
        r = num(right)
    );
    for v in &xt.values {
        let x = num(sx.at(*v));
        let _ = write!(
            out,
            "<line x1=\"{x}\" y1=\"{b}\" x2=\"{x}\" y2=\"{b4}\" stroke=\"#666\"/><text class=\"tick\" x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
            escape(&xt.label(*v)),
            b = num(bottom),
            b4 = num(bottom + 4.0),
            ty = num(bottom + 15.0)
        );
    }
    for v in &yt.values {
        let y = num(sy.at(*v));
        let _ = write!(
            out,
            "<line x1=\"{l4}\" y1=\"{y}\" x2=\"{l}\" y2=\"{y}\" stroke=\"#666\"/><text class=\"tick\" x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{}</text>",
            escape(&yt.label(*v)),
            l4 = num(left - 4.0),
            l = num(left),
            tx = num(left - 6.0),
            ty = num(sy.at(*v) + 4.0)
        );
    }
    out.push_str("</g>\n");
    if !c.x_label.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            num((left + right) / 2.0),
            num(bottom + 30.0),
            escape(&c.x_label)
        );
    }
    if !c.y_label.is_empty() {
        let (x, y) = (num(12.0), num((top + bottom) / 2.0));
        let _ = writeln!(
            out,
            "<text class=\"axis-label\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{}</text>",
            escape(&c.y_label)
        );
    }
    if c.diagonal {
        let a = xt.lo.max(yt.lo);
        let b = xt.hi.min(yt.hi);
        if a < b {
            let _ = writeln!(
                out,
                "<line class=\"diagonal\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#aaa\" stroke-dasharray=\"3 3\"/>",
                num(sx.at(a)),
                num(sy.at(a)),
                num(sx.at(b)),
                num(sy.at(b))
            );
        }
    }
    for (label, v) in &c.hlines {
        if !v.is_finite() || *v < yt.lo || *v > yt.hi {
            continue;
        }
        let y = sy.at(*v);
        let _ = writeln!(
            out,
            "<line class=\"hline\" x1=\"{l}\" y1=\"{ys}\" x2=\"{r}\" y2=\"{ys}\" stroke=\"#888\" stroke-dasharray=\"6 3\"/>\
             <text class=\"hline-label\" x=\"{rx}\" y=\"{ty}\" text-anchor=\"end\" fill=\"#666\">{}</text>",
            escape(label),
            l = num(left),
            r = num(right),
            ys = num(y),
            rx = num(right - 4.0),
            ty = num(y - 4.0)
        );
    }
    for (i, s) in c.series.iter().enumerate() {
        let colour = palette(i);
        let name = escape(&s.name);
        let dash = if s.dashed { " stroke-dasharray=\"5 3\"" } else { "" };
        let good: Vec<(f64, f64)> = s.points.iter().filter(finite).map(|p| (sx.at(p.0), sy.at(p.1))).collect();
        if good.len() == 1 {
            let _ = writeln!(
                out,
                "<circle class=\"series\" data-series=\"{name}\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"><title>{name}</title></circle>",
                num(good[0].0),
                num(good[0].1)
            );
            continue;
        }
        if good.is_empty() {
            let _ = writeln!(
                out,
                "<path class=\"series\" data-series=\"{name}\" data-empty=\"true\" d=\"M0 0\" fill=\"none\" stroke=\"none\"/>"
            );
            continue;
        }
        let mut d = String::with_capacity(s.points.len() * 12);
        let mut pen_down = false;
        for p in &s.points {
            if !(p.0.is_finite() && p.1.is_finite()) {
                pen_down = false;
                continue;
            }
            d.push(if pen_down { 'L' } else { 'M' });
            d.push_str(&num(sx.at(p.0)));
            d.push(' ');
            d.push_str(&num(sy.at(p.1)));
            pen_down = true;
        }
        let _ = writeln!(
            out,
            "<path class=\"series\" data-series=\"{name}\" d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\" \
             stroke-linejoin=\"round\" stroke-linecap=\"round\"{dash}><title>{name}</title></path>"
        );
    }
    if c.series.is_empty() && c.hlines.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"no-data\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no data</text>",
            num((left + right) / 2.0),
            num((top + bottom) / 2.0)
        );
    }
    if !legend.is_empty() {
        out.push_str("<g class=\"legend\">");
        for (row_i, row) in legend.iter().enumerate() {
            let y = bottom + 48.0 + row_i as f64 * 15.0;
            for (i, name, x) in row {
                let s = &c.series[*i];
                let dash = if s.dashed { " stroke-dasharray=\"4 2\"" } else { "" };
                let x = left + x;
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
        if hidden > 0 {
            let y = bottom + 48.0 + (legend.len() - 1) as f64 * 15.0;
            let _ = write!(out, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#666\">+{hidden} more</text>", num(right), num(y));
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text of `svg` with the namespace value removed; must contain no
    /// `http://`, `https://`, `NaN` or `inf`.
    pub(crate) fn assert_clean(svg: &str) {
        let rest = svg.replace(&format!("xmlns=\"{SVG_NS}\""), "");
        assert!(!rest.contains("http://") && !rest.contains("https://"), "external reference in {svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "non-finite number in {svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" "));
        assert!(svg.contains(" role=\"img\"") && svg.contains(" viewBox=\"0 0 "));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
    }

    fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.to_string(), points, dashed: false }
    }

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
        assert_eq!(escape("x\u{1}y"), "x\u{FFFD}y");
        assert_eq!(escape("plain × 120"), "plain × 120");
    }

    #[test]
    fn palette_has_ten_distinct_colours_and_cycles() {
        let colours: std::collections::BTreeSet<_> = (0..10).map(palette).collect();
        assert_eq!(colours.len(), 10);
        assert_eq!(palette(13), palette(3));
        assert!(colours.iter().all(|c| c.len() == 7 && c.starts_with('#')));
    }

    #[test]
    fn numbers_are_compact_and_finite() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
        assert_eq!(num(1e9), "10000000");
    }

    #[test]
    fn truncation_keeps_both_ends() {
        assert_eq!(truncate_middle("short", 10), "short");
        let t = truncate_middle("gmcae@gmcae.lr=3e-4,gmcae.mixtures=2", 20);
        assert_eq!(t.chars().count(), 20);
        assert!(t.starts_with("gmcae@gmc") && t.ends_with("xtures=2"), "{t}");
    }

    #[test]
    fn ticks_are_nice_and_four_to_six() {
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut cases = vec![(0.0, 1.0), (0.0, 0.693), (1.0, 40.0), (5.1, 14.9), (0.45, 0.71), (-3.0, 2.0), (0.0, 3600.0), (1e-9, 3e-9)];
        for _ in 0..3000 {
            let scale = 10f64.powf(rnd() * 12.0 - 6.0);
            let a = (rnd() - 0.5) * scale * 10.0;
            let b = a + rnd() * scale;
            cases.push((a, b));
        }
        let mut odd = 0;
        let total = cases.len();
        for (lo, hi) in cases {
            for extend in [true, false] {
                let t = nice_ticks(lo, hi, extend);
                let n = t.values.len();
                // a fixed range cannot always be cut into 4–6 nice steps
                let allowed = if extend { 4..=6 } else { 3..=7 };
                assert!(allowed.contains(&n), "{lo}..{hi} extend={extend}: {:?}", t);
                if !extend && !(4..=6).contains(&n) {
                    odd += 1;
                }
                let tol = (hi - lo).abs() * 1e-6;
                if extend {
                    assert!(t.lo <= lo + tol && t.hi >= hi - tol, "{lo}..{hi}: {t:?}");
                }
                assert!(t.hi > t.lo && t.values.iter().all(|v| v.is_finite()));
                for w in t.values.windows(2) {
                    assert!(w[1] > w[0]);
                }
                let labels: Vec<String> = t.values.iter().map(|v| t.label(*v)).collect();
                let mut dedup = labels.clone();
                dedup.dedup();
                assert_eq!(dedup, labels, "{lo}..{hi}: labels {labels:?}");
                assert!(labels.iter().all(|l| l.len() <= 12 && !l.contains("NaN") && !l.contains("inf")), "{labels:?}");
            }
        }
        assert!(odd * 8 < total, "{odd} of {total} fixed ranges without 4–6 ticks");
        let t = nice_ticks(0.0, 1.0, true);
        assert_eq!(t.values.iter().map(|v| t.label(*v)).collect::<Vec<_>>(), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = nice_ticks(1.0, 40.0, true);
        assert_eq!(t.values.iter().map(|v| t.label(*v)).collect::<Vec<_>>(), ["0", "10", "20", "30", "40"]);
    }

    #[test]
    fn degenerate_ticks_are_finite() {
        for (lo, hi) in [(0.0, 0.0), (5.0, 5.0), (f64::NAN, 1.0), (1.0, f64::INFINITY), (3.0, -3.0), (-1e308, 1e308), (1e-320, 1e-320)] {
            let t = nice_ticks(lo, hi, true);
            assert!(t.lo.is_finite() && t.hi.is_finite() && t.hi > t.lo, "{lo}..{hi}: {t:?}");
            assert!(!t.values.is_empty());
        }
    }

    #[test]
    fn one_series_element_per_series() {
        let c = Chart {
            title: "loss".into(),
            x_label: "epoch".into(),
            y_label: "log loss".into(),
            series: vec![
                series("train", vec![(1.0, 0.9), (2.0, 0.7), (3.0, 0.6)]),
                Series { name: "validation".into(), points: vec![(1.0, 0.95), (2.0, 0.8), (3.0, 0.75)], dashed: true },
                series("single", vec![(2.0, 0.5)]),
                series("empty", vec![]),
            ],
            hlines: vec![("class prior 0.693".into(), 0.693)],
            ..Chart::default()
        };
        let svg = line_chart(&c);
        assert_clean(&svg);
        assert_eq!(svg.matches("class=\"series\"").count(), 4);
        assert_eq!(svg.matches("class=\"hline\"").count(), 1);
        assert!(svg.contains("class prior 0.693"));
        assert!(svg.contains("data-series=\"validation\""));
        assert!(svg.contains("<circle class=\"series\" data-series=\"single\""));
        assert!(svg.contains("class=\"chart\""));
        assert!(svg.contains("width=\"480\" height=\"300\""));
    }

    #[test]
    fn degenerate_charts_have_no_nan() {
        let cases = vec![
            vec![],
            vec![series("flat", vec![(1.0, 2.0), (1.0, 2.0), (1.0, 2.0)])],
            vec![series("nan", vec![(f64::NAN, 1.0), (1.0, f64::NAN), (f64::INFINITY, f64::NEG_INFINITY)])],
            vec![series("one x", vec![(3.0, 0.1), (3.0, 0.9)])],
            vec![series("gap", vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 4.0)])],
            vec![series("huge", vec![(-1e308, 1e308), (1e308, -1e308)])],
            vec![series("zero", vec![(0.0, 0.0)])],
        ];
        for s in cases {
            let n = s.len();
            for (x_range, y_range) in [(None, None), (Some((0.0, 1.0)), Some((0.0, 1.0))), (Some((1.0, 1.0)), Some((f64::NAN, 2.0)))] {
                let c = Chart {
                    series: s.clone(),
                    hlines: vec![("nan".into(), f64::NAN)],
                    diagonal: true,
                    x_range,
                    y_range,
                    width: 0,
                    height: 0,
                    ..Chart::default()
                };
                let svg = line_chart(&c);
                assert_clean(&svg);
                assert_eq!(svg.matches("class=\"series\"").count(), n);
            }
        }
        let gap = line_chart(&Chart {
            series: vec![series("gap", vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 4.0)])],
            ..Chart::default()
        });
        let d = gap.split("data-series=\"gap\" d=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default();
        assert_eq!(d.matches('M').count(), 2, "{d}");
    }

    #[test]
    fn roc_chart_has_diagonal_in_range() {
        let c = Chart {
            title: "ROC".into(),
            series: vec![series("fold 1", vec![(0.0, 0.0), (0.1, 0.6), (0.5, 0.9), (1.0, 1.0)])],
            diagonal: true,
            x_range: Some((0.0, 1.0)),
            y_range: Some((0.0, 1.0)),
            ..Chart::default()
        };
        let svg = line_chart(&c);
        assert_clean(&svg);
        assert_eq!(svg.matches("class=\"diagonal\"").count(), 1);
    }

    #[test]
    fn names_are_escaped() {
        let c = Chart {
            title: "<t&\"'>".into(),
            x_label: "<x>".into(),
            y_label: "<y>".into(),
            series: vec![series("a<b&\"c'", vec![(0.0, 1.0), (1.0, 2.0)])],
            hlines: vec![("<h>".into(), 1.5)],
            ..Chart::default()
        };
        let svg = line_chart(&c);
        assert_clean(&svg);
        assert!(svg.contains("data-series=\"a&lt;b&amp;&quot;c&#39;\""));
        assert!(!svg.contains("a<b") && !svg.contains("<t&") && !svg.contains("<x>") && !svg.contains("<h>"));
    }

    #[test]
    fn charts_are_deterministic() {
        let c = Chart {
            series: (0..12)
                .map(|i| series(&format!("variant {i}"), (0..50).map(|e| (e as f64, 1.0 / (1.0 + e as f64 * i as f64))).collect()))
                .collect(),
            ..Chart::default()
        };
        let a = line_chart(&c);
        assert_eq!(a, line_chart(&c));
        assert_clean(&a);
        assert_eq!(a.matches("class=\"series\"").count(), 12);
    }
}
