//! Tests of the SVG primitives and line charts of `svg.rs`.

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
    let gap =
        line_chart(&Chart { series: vec![series("gap", vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 4.0)])], ..Chart::default() });
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
