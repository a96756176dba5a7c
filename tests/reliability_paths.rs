//! Confinement and limits: whatever a pipeline file or the command line
//! says, lungflow writes only inside the project and its cache, and refuses
//! pipeline files it cannot safely read. Each test checks a canary folder
//! outside the project.

mod common;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// The canary's victim file, as the relative path a hostile value would use
/// from inside `cache/results/PIPELINE/STAGE/`.
fn climb_to(canary: &Canary, p: &Project, rest: &str) -> String {
    let depth = p.path().join("cache/results/pipe/stage").components().count();
    format!("{}{}{rest}", "../".repeat(depth), canary.path().display().to_string().trim_start_matches('/'))
}

/// Every symlink under `dir` and where it points.
fn links_under(dir: &Path) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                out.push((e.path(), std::fs::read_link(e.path()).unwrap()));
            } else if t.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

const SWEPT: &str = r#"
stages:
  stage:
    kind: command
    params:
      cmd: "printf '%s' {params.tag} > {out}/tag.txt"
      tag: plain
"#;

#[test]
fn a_sweep_value_with_dot_dots_becomes_a_link_inside_the_results_folder() {
    let canary = Canary::new();
    let p = Project::new();
    let hostile = climb_to(&canary, &p, "/x/victim.txt");
    p.write("pipe.yaml", &format!("{SWEPT}sweep:\n  grid:\n    stage.tag: [safe, \"{hostile}\"]\n"));
    let out = p.run(&["run", "pipe.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // And the same value from the command line.
    let cli = format!("stage.tag=other,{}", climb_to(&canary, &p, "/x/victim2.txt"));
    let out = p.run(&["run", "pipe.yaml", "--sweep", &cli]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    canary.assert_untouched();
    let results = p.path().join("cache/results/pipe");
    let links = links_under(&results);
    assert_eq!(links.len(), 4, "{links:?}");
    let entries = p.path().join("cache/entries").canonicalize().unwrap();
    for (link, target) in &links {
        assert_eq!(link.parent().unwrap(), results, "one level below the pipeline's folder: {}", link.display());
        assert!(target.starts_with(&entries), "{} -> {}", link.display(), target.display());
    }
    // The hostile variant's outputs are reachable through its encoded link.
    let hostile_link = links.iter().find(|(l, _)| l.to_string_lossy().contains("victim.txt")).unwrap();
    assert_eq!(std::fs::read_to_string(hostile_link.0.join("tag.txt")).unwrap(), hostile);
}

#[test]
fn a_300_character_sweep_value_keeps_its_result_link() {
    let p = Project::new();
    let long = "v".repeat(300);
    p.write("pipe.yaml", &format!("{SWEPT}sweep:\n  grid:\n    stage.tag: [short, {long}]\n"));
    let out = p.run(&["run", "pipe.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", String::from_utf8_lossy(&out.stderr));
    let links = links_under(&p.path().join("cache/results/pipe"));
    assert_eq!(links.len(), 2, "{links:?}");
    let texts: Vec<String> = links.iter().map(|(l, _)| std::fs::read_to_string(l.join("tag.txt")).unwrap()).collect();
    assert!(texts.contains(&long) && texts.contains(&"short".to_owned()), "{texts:?}");
}

#[test]
fn input_names_and_subpaths_that_would_leave_their_folder_are_located_errors() {
    let canary = Canary::new();
    let p = Project::new();
    let gathered = format!("{}/gathered", canary.path().display());
    let cases = [
        (format!("\"../../../../..{gathered}\""), "\"@one\"", "input name"),
        (format!("\"{gathered}\""), "\"@one\"", "input name"),
        ("ok".to_owned(), "\"@one/../../../etc\"", "must be a path inside the stage's outputs"),
        ("ok".to_owned(), "\"@one/./x\"", "must be a path inside the stage's outputs"),
    ];
    for (name, source, expected) in cases {
        let text = format!(
            "items:\n  ids:\n    list: [a, b]\nstages:\n  one:\n    kind: command\n    foreach: ids\n    params: {{cmd: \"echo 1 > {{out}}/x\"}}\n  all:\n    kind: command\n    inputs:\n      {name}: {source}\n    params: {{cmd: \"true\"}}\n"
        );
        p.write("pipe.yaml", &text);
        let out = p.run(&["run", "pipe.yaml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} {source}: {err}");
        assert!(err.contains(expected) && err.contains("pipe.yaml:12:"), "{name} {source}: {err}");
    }
    canary.assert_untouched();
    assert!(!p.path().join("cache/entries").exists() || p.path().join("cache/entries").read_dir().unwrap().next().is_none());
}

#[test]
fn declared_outputs_must_stay_inside_out() {
    let canary = Canary::new();
    let p = Project::new();
    let outside = format!("{}/x/victim.txt", canary.path().display());
    for output in ["../escape.txt", outside.as_str(), "a/../../b"] {
        p.write(
            "pipe.yaml",
            &format!("stages:\n  s:\n    kind: command\n    params:\n      cmd: \"true\"\n      outputs: [\"{output}\"]\n"),
        );
        let out = p.run(&["run", "pipe.yaml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{output}: {err}");
        assert!(err.contains(output) && err.contains("inside {out}"), "{output}: {err}");
    }
    canary.assert_untouched();
}

/// Runs `lungflow status FILE` and returns its exit code, stderr and time.
fn status_of(p: &Project, file: &str) -> (Option<i32>, String, Duration) {
    let clock = Instant::now();
    let mut child = p.cmd(&["status", file]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("lungflow status {file} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), clock.elapsed())
}

#[test]
fn only_regular_pipeline_files_of_bounded_size_are_read() {
    let p = Project::new();
    let fifo = p.path().join("fifo.yaml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (code, err, _) = status_of(&p, "fifo.yaml");
    assert_eq!(code, Some(2));
    assert!(err.contains("fifo.yaml") && err.contains("not a regular file (a FIFO)"), "{err}");

    let (code, err, _) = status_of(&p, "/dev/zero");
    assert_eq!(code, Some(2));
    assert!(err.contains("/dev/zero") && err.contains("a character device"), "{err}");

    let big = p.path().join("big.yaml");
    std::fs::File::create(&big).unwrap().set_len(64 << 20).unwrap(); // sparse: costs no disk
    let (code, err, _) = status_of(&p, "big.yaml");
    assert_eq!(code, Some(2));
    assert!(err.contains("big.yaml") && err.contains("67108864 bytes; the limit is 4194304"), "{err}");

    std::fs::create_dir(p.path().join("dir.yaml")).unwrap();
    let (code, err, _) = status_of(&p, "dir.yaml");
    assert_eq!(code, Some(2));
    assert!(err.contains("not a regular file (a folder)"), "{err}");
}

#[test]
fn a_huge_sweep_grid_is_refused_at_once_and_the_cap_can_be_raised() {
    let p = Project::new();
    let values = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let grid = format!(
        "stages:\n  a:\n    kind: command\n    params: {{cmd: \"true\", x: 0, y: 0, z: 0}}\nsweep:\n  grid:\n    a.x: [{0}]\n    a.y: [{0}]\n    a.z: [{0}]\n",
        values(100)
    );
    p.write("huge.yaml", &grid);
    let (code, err, took) = status_of(&p, "huge.yaml");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("huge.yaml:7:") && err.contains("1000000 variants") && err.contains("--max-variants"), "{err}");
    assert!(took < Duration::from_secs(10), "refused before building the variants ({took:?})");

    p.write(
        "six.yaml",
        "stages:\n  a:\n    kind: command\n    params: {cmd: \"true\", x: 0}\nsweep:\n  grid:\n    a.x: [1, 2, 3, 4, 5, 6]\n",
    );
    let out = p.run(&["status", "six.yaml", "--max-variants", "4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("6 variants"));
    let out = p.run(&["run", "six.yaml", "--sweep", "a.x=1,2,3,4,5,6,7", "--max-variants", "7"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
