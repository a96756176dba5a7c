//! The page around the sections: one HTML document with its style and its
//! one small script inline, a table of contents, and nothing loaded from
//! anywhere (it opens from a USB stick with no network).

use super::svg::escape;

/// One section of the report.
pub struct Section {
    /// Its anchor (`summary`, `graph`, ...).
    pub id: &'static str,
    /// Its heading.
    pub title: String,
    /// Its HTML body.
    pub body: String,
}

/// The whole document.
pub fn page(title: &str, sections: &[Section]) -> String {
    let mut html = String::with_capacity(sections.iter().map(|s| s.body.len() + 200).sum::<usize>() + 8192);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str(&format!("<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n", escape(title)));
    html.push_str(&format!("<header><h1>{}</h1><nav>", escape(title)));
    for s in sections {
        html.push_str(&format!("<a href=\"#{}\">{}</a>", s.id, escape(&s.title)));
    }
    html.push_str("</nav></header>\n<main>\n");
    for s in sections {
        html.push_str(&format!("<section id=\"{}\">\n<h2>{}</h2>\n{}\n</section>\n", s.id, escape(&s.title), s.body));
    }
    html.push_str(&format!("</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"));
    html
}

/// An HTML table: `class` (add `sortable` to sort by a click on a heading),
/// headings, and rows of cells that are already HTML.
pub fn table(class: &str, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut html = format!("<table class=\"{class}\"><thead><tr>");
    for h in head {
        html.push_str(&format!("<th>{}</th>", escape(h)));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            html.push_str(&format!("<td>{cell}</td>"));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// A number with a sort key: `<td>` text for tables that sort numerically.
pub fn num(value: f64, shown: String) -> String {
    format!("<span data-sort=\"{value}\">{}</span>", escape(&shown))
}

/// `<p class="note">` with escaped text.
pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>", escape(text))
}

/// Seconds, readable: `0.42 s`, `12.3 s`, `4 min 05 s`, `1 h 02 min`.
pub fn duration(seconds: f64) -> String {
    match seconds {
        s if !s.is_finite() => "–".into(),
        s if s < 10.0 => format!("{s:.2} s"),
        s if s < 60.0 => format!("{s:.1} s"),
        s if s < 3600.0 => format!("{} min {:02.0} s", (s / 60.0).floor(), s % 60.0),
        s => format!("{} h {:02.0} min", (s / 3600.0).floor(), (s % 3600.0) / 60.0),
    }
}

/// KiB, readable: `812 KiB`, `35.2 MiB`, `1.40 GiB`.
pub fn memory(kib: u64) -> String {
    let k = kib as f64;
    match kib {
        k0 if k0 < 1024 => format!("{kib} KiB"),
        k0 if k0 < 1024 * 1024 => format!("{:.1} MiB", k / 1024.0),
        _ => format!("{:.2} GiB", k / 1024.0 / 1024.0),
    }
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1d2329;background:#fff}
header{position:sticky;top:0;background:#17324d;color:#fff;padding:.6em 1.2em;z-index:2}
header h1{font-size:1.15em;margin:0 0 .3em 0}
nav a{color:#cfe3ff;margin-right:1em;text-decoration:none;font-size:.9em}
main{padding:0 1.2em 3em 1.2em;max-width:1400px}
section{border-bottom:1px solid #dde3ea;padding:.4em 0 1.2em 0}
h2{font-size:1.1em;color:#17324d}
h3{font-size:1em;margin:1em 0 .3em 0}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
th,td{border:1px solid #dde3ea;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f2f5f8}
table.sortable th{cursor:pointer}
table.sortable th:after{content:' \\2195';color:#9aa7b4}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15em 1em;font-size:.9em}
dl.facts dt{color:#52606d}
dl.facts dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.note{color:#52606d;font-size:.85em}
.figures{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0}
figcaption{font-size:.8em;color:#52606d}
img.mask{image-rendering:pixelated;max-width:360px;border:1px solid #dde3ea}
pre{background:#f6f8fa;padding:.6em;overflow:auto;font-size:.8em;max-height:30em}
details summary{cursor:pointer}
.state-executed{color:#1a7f37}.state-cached{color:#0969da}.state-failed{color:#cf222e;font-weight:bold}
.state-skipped{color:#9a6700}.state-missing{color:#6e7781}
svg text{font-family:sans-serif}
";

/// Sorts a table by the clicked heading: numbers by `data-sort`, else text.
const SCRIPT: &str = "
(function () {
  function key(cell) {
    var s = cell.querySelector('[data-sort]');
    if (s) { var v = parseFloat(s.getAttribute('data-sort')); return isNaN(v) ? -Infinity : v; }
    return cell.textContent.trim().toLowerCase();
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th').forEach(function (th, col) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var up = th.getAttribute('data-dir') !== 'up';
        table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
        th.setAttribute('data-dir', up ? 'up' : 'down');
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x < y) return up ? -1 : 1;
          if (x > y) return up ? 1 : -1;
          return 0;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_units() {
        assert_eq!(duration(0.421), "0.42 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(memory(812), "812 KiB");
        assert_eq!(memory(36045), "35.2 MiB");
    }

    #[test]
    fn a_page_has_one_section_per_part_and_loads_nothing() {
        let s = [Section { id: "summary", title: "Summary".into(), body: table("sortable", &["a<b"], [vec!["1".into()]]) }];
        let html = page("x & y", &s);
        assert!(html.contains("<section id=\"summary\">") && html.contains("<th>a&lt;b</th>") && html.contains("<title>x &amp; y</title>"));
        assert!(!html.contains("http://") && !html.contains("https://"), "nothing is loaded");
    }
}
