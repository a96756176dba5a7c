//! `lungflow report` and `run --report`, checked in a real headless
//! Chromium (Debian's `chromium`, which the testkit installs when missing):
//! the page loads with the network off and without console errors, every
//! section is there, the graph has one node per stage, the timeline one bar
//! per executed instance, the evaluation's ROC curve and reliability diagram
//! are drawn, and the screenshot is not blank.
//!
//! Set `LUNGFLOW_REPORT_SCREENSHOT=PATH` to keep the chain report's
//! screenshot (the README's picture is made this way).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Project, chain, cohort_pipeline};
use lungflow_testkit::browser;
use serde_json::Value;

/// An `evaluate` stage after `chain`'s submission, with the cohort's nodules.
const EVALUATE: &str = r#"  evaluate:
    kind: evaluate
    inputs: {submission: "@submission", labels: "@cohort/labels.csv", nodules: "@cohort/nodules.csv"}
"#;

/// Every `http://` or `https://` in the page other than SVG's namespace name.
fn web_references(html: &str) -> Vec<String> {
    let cleaned = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    ["http://", "https://"]
        .iter()
        .flat_map(|scheme| {
            cleaned.match_indices(scheme).map(|(i, _)| cleaned[i.saturating_sub(40)..(i + 60).min(cleaned.len())].to_owned())
        })
        .collect()
}

/// Renders `html` and returns the values of `expressions` after checking
/// that nothing failed, nothing was fetched and the screenshot shows something.
fn rendered(html: &Path, expressions: &[&str], shot: &Path) -> Vec<Value> {
    let page = browser::render(html, expressions, shot, 1280, 900, false, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    assert!(page.requests.is_empty(), "the page tried to load: {:?}", page.requests);
    assert!(!browser::is_blank(shot).unwrap(), "the screenshot {} is blank", shot.display());
    page.eval
}

/// The report path a run printed on stderr (with --json).
fn report_path(stderr: &str) -> std::path::PathBuf {
    let line = stderr.lines().find_map(|l| l.strip_prefix("report: ")).unwrap_or_else(|| panic!("no report line in:\n{stderr}"));
    line.into()
}

#[test]
fn the_chain_report_opens_offline_with_every_section_and_one_bar_per_executed_instance() {
    let p = Project::new();
    let yaml = format!(
        "{}{}{EVALUATE}",
        // Seed 3 puts both classes among the 3 test patients, so that their ROC curve exists.
        cohort_pipeline("patients: 12, seed: 3, matrix: 96, pixel_mm: 3.2, slices: 28, slice_mm: 3.0, test_fraction: 0.25"),
        chain("patients", "@cohort/dicom/{item}", "@cohort/stage1_labels.csv", "@cohort/stage1_sample_submission.csv")
    );
    p.write("pipe.yaml", &yaml);
    let out = p.run(&["run", "pipe.yaml", "--report", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let executed = doc["executed"].as_array().unwrap().len();
    let html_path = report_path(&stderr);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(web_references(&html).is_empty(), "{:?}", web_references(&html));
    assert!(html.len() < 5 << 20, "{} bytes", html.len());

    let shot = p.path().join("report.png");
    let values = rendered(
        &html_path,
        &[
            "Array.from(document.querySelectorAll('main > section')).map(function (s) { return s.id; })",
            "document.querySelectorAll('#graph g.node').length",
            "document.querySelectorAll('#timeline .bar').length",
            "document.querySelectorAll('#predictions table.predictions tbody tr').length",
            "document.querySelectorAll('#predictions details pre').length",
            "document.querySelectorAll('#models svg .series').length",
            "document.querySelectorAll('#data img.mask').length",
            "document.querySelectorAll('#resources tbody tr').length",
            "Array.from(document.querySelectorAll('#models svg.chart')).map(function (s) { \
               return [s.querySelector('title').textContent, s.querySelectorAll('.series').length]; })",
        ],
        &shot,
    );
    let ids: Vec<&str> = values[0].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(ids, ["summary", "graph", "timeline", "resources", "models", "data", "predictions", "failures"]);
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"));
    let stages = 11; // cohort, hu, iso, lungs, patches, gmcae, encode, classifier, predict, submission, evaluate
    assert_eq!(n(&values[1]), stages, "one node per stage");
    assert_eq!(n(&values[2]), executed as u64, "one bar per executed instance");
    assert_eq!(n(&values[3]), 3, "the test patients' rows");
    assert_eq!(n(&values[4]), 3, "each row folds out to its lineage");
    assert!(n(&values[5]) >= 4, "GMCAE and classifier curves: {}", values[5]);
    assert_eq!(n(&values[6]), 12, "a lung mask per patient (12 = the sample)");
    assert_eq!(n(&values[7]), stages, "a resources row per stage");
    // evaluate's ROC curve and reliability diagram, each drawn with its one series.
    let charts = values[8].as_array().unwrap();
    let drawn = |start: &str| charts.iter().any(|c| c[0].as_str().unwrap().starts_with(start) && c[1] == 1);
    assert!(drawn("ROC of the submission (AUC "), "{charts:?}");
    assert!(drawn("reliability (3 patients in 10 bins)"), "{charts:?}");
    if let Ok(keep) = std::env::var("LUNGFLOW_REPORT_SCREENSHOT") {
        // The README's picture: the top of the page, taller than a screen.
        browser::render(&html_path, &[], Path::new(&keep), 1280, 2400, false, Duration::from_secs(120)).unwrap();
    }

    // A second report without a new run shows the same run, now as the last.
    let again = p.run(&["report", "pipe.yaml", "--out", "again.html", "--verify"]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    let html = p.read("again.html");
    assert!(html.contains("verified:"), "lineages verified");
    assert_eq!(html.matches("class=\"bar").count(), executed, "the last run's bars");
}

#[test]
fn failures_and_a_sweep_have_their_sections() {
    let p = Project::new();
    let yaml = "items:\n  n:\n    list: [a, b, c]\nstages:\n  work:\n    kind: command\n    foreach: n\n    params:\n      cmd: \"test {item} != b || { echo the input of b is broken >&2; exit 3; }; echo {params.k} > {out}/x.txt\"\n      outputs: [x.txt]\n      k: 1\nsweep:\n  grid:\n    work.k: [1, 2]\n";
    p.write("pipe.yaml", yaml);
    let out = p.run(&["run", "pipe.yaml", "--report"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let html_path = p.path().join(stdout.lines().find_map(|l| l.strip_prefix("report: ")).unwrap_or_else(|| panic!("{stdout}")));
    let shot = p.path().join("shot.png");
    let values = rendered(
        &html_path,
        &[
            "Array.from(document.querySelectorAll('main > section')).map(function (s) { return s.id; })",
            "document.querySelectorAll('#failures h3').length",
            "document.querySelector('#failures').textContent",
            "document.querySelectorAll('#sweep table.sweep tbody tr').length",
            "document.querySelectorAll('#graph g.node[data-state=failed]').length",
        ],
        &shot,
    );
    let ids: Vec<&str> = values[0].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(ids.contains(&"sweep") && ids.contains(&"failures"), "{ids:?}");
    assert_eq!(values[1].as_u64(), Some(2), "b fails in both variants");
    assert!(values[2].as_str().unwrap().contains("the input of b is broken"), "{}", values[2]);
    assert_eq!(values[3].as_u64(), Some(2), "one row per variant");
    assert_eq!(values[4].as_u64(), Some(2), "both copies of the stage are marked failed");

    let one = p.run(&["report", "pipe.yaml", "--variant", "work.k=2", "--out", "k2.html"]);
    assert_eq!(one.status.code(), Some(0), "{}", String::from_utf8_lossy(&one.stderr));
    let bad = p.run(&["report", "pipe.yaml", "--variant", "work.k=3"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no variant \"work.k=3\" (variants: work.k=1 | work.k=2)"), "{bad:?}");

    // A damaged run record costs the timeline, not the report.
    p.write("cache/runs/pipe.json", "{not json");
    let damaged = p.run(&["report", "pipe.yaml", "--out", "damaged.html"]);
    let stderr = String::from_utf8_lossy(&damaged.stderr);
    assert_eq!(damaged.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("unreadable run record") && stderr.contains("runs/pipe.json"), "{stderr}");
    assert!(p.read("damaged.html").contains("<section id=\"failures\">"));
}
