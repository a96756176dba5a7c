//! Bad pipeline files give exit code 2 and an error with file, line and column.

mod common;
use common::*;

fn error_of(yaml: &str) -> String {
    let p = Project::new();
    p.write("bad.yaml", yaml);
    let out = p.run(&["status", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2), "exit code 2 for {yaml}");
    String::from_utf8(out.stderr).unwrap().trim().to_owned()
}

#[test]
fn unknown_key() {
    let e = error_of("stages:\n  a:\n    kind: command\n    paramz:\n      cmd: x\n");
    assert_eq!(e, "error: bad.yaml:4:5: unknown field `paramz`, expected one of kind, foreach, params, inputs, resources, local");
}

#[test]
fn unknown_kind() {
    let e = error_of("stages:\n  a:\n    kind: comand\n    params:\n      cmd: x\n");
    let known: Vec<&str> = lungflow_stages::all_kinds().iter().map(|k| k.name()).collect();
    assert!(known.contains(&"command"));
    assert_eq!(e, format!("error: bad.yaml:3:11: stage \"a\": unknown kind \"comand\" (known kinds: {})", known.join(", ")));
}

#[test]
fn input_from_a_stage_that_does_not_exist() {
    let e = error_of("stages:\n  a:\n    kind: command\n    params:\n      cmd: x\n    inputs:\n      x: \"@nope\"\n");
    assert_eq!(e, "error: bad.yaml:7:10: stage \"a\", input \"x\": no stage named \"nope\" (stages: a)");
}

#[test]
fn wrong_parameter_type() {
    let e = error_of("stages:\n  a:\n    kind: command\n    params:\n      cmd: x\n      outputs: 3\n");
    assert_eq!(e, "error: bad.yaml:6:16: stage \"a\", parameter \"outputs\": expected a list of strings, found number 3");
}

#[test]
fn missing_required_parameter() {
    let e = error_of("stages:\n  a:\n    kind: command\n");
    assert_eq!(e, "error: bad.yaml:3:11: stage \"a\": missing required parameter \"cmd\"");
}

#[test]
fn cycle_names_every_stage_on_it_in_order() {
    let stage =
        |name: &str, from: &str| format!("  {name}:\n    kind: command\n    params:\n      cmd: x\n    inputs:\n      x: \"@{from}\"\n");
    let yaml = format!("stages:\n{}{}{}{}", stage("a", "b"), stage("b", "c"), stage("c", "a"), stage("d", "a"));
    let e = error_of(&yaml);
    assert_eq!(e, "error: bad.yaml:3:11: the stages form a cycle: a -> c -> b -> a");
}

#[test]
fn yaml_syntax_error() {
    let e = error_of("stages:\n  a:\n    kind: command\n    params: {cmd: x\n");
    assert!(e.starts_with("error: bad.yaml:4:13: "), "{e}");
}

#[test]
fn unknown_item_set_and_mismatched_fan_out() {
    let e = error_of("stages:\n  a:\n    kind: command\n    foreach: patients\n    params:\n      cmd: x\n");
    assert!(e.starts_with("error: bad.yaml:4:14: stage \"a\": foreach \"patients\" is neither `once` nor an item set"), "{e}");
    let e = error_of(
        "items:\n  p:\n    list: [a]\n  q:\n    list: [b]\nstages:\n  a:\n    kind: command\n    foreach: p\n    params:\n      cmd: x\n  b:\n    kind: command\n    foreach: q\n    params:\n      cmd: x\n    inputs:\n      i: \"@a\"\n",
    );
    assert!(e.contains("bad.yaml:13:11: stage \"b\" runs per \"q\" but its input \"i\" comes from \"a\", which runs per \"p\""), "{e}");
}

#[test]
fn bad_set_override() {
    let p = Project::new();
    p.write("ok.yaml", "stages:\n  a:\n    kind: command\n    params:\n      cmd: x\n");
    let out = p.run(&["status", "ok.yaml", "--set", "nope.x=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--set nope.x: no stage named \"nope\""));
    let out = p.run(&["status", "ok.yaml", "--set", "a"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unknown_pipeline_variable_names_the_input_and_the_known_ones() {
    let e = error_of(
        "vars:\n  root: data\nstages:\n  a:\n    kind: command\n    params:\n      cmd: x\n    inputs:\n      x: \"${rot}/file\"\n",
    );
    assert_eq!(e, "error: bad.yaml:9:10: stage \"a\", input \"x\": no variable \"rot\" (vars: [\"root\"])");
}

#[test]
fn variables_fill_paths_and_set_vars_overrides_them() {
    let p = Project::new();
    p.write("one/x.txt", "from one\n");
    p.write("two/x.txt", "from two\n");
    p.write(
        "pipe.yaml",
        "vars:\n  root: one\nstages:\n  copy:\n    kind: command\n    inputs:\n      x: \"${root}/x.txt\"\n    params:\n      cmd: \"cp {inputs.x} {out}/x.txt\"\n      outputs: [x.txt]\n",
    );
    assert_eq!(p.run(&["run", "pipe.yaml"]).status.code(), Some(0));
    assert_eq!(p.read("cache/results/pipe/copy/x.txt"), "from one\n");
    assert_eq!(p.run(&["run", "pipe.yaml", "--set", "vars.root=two"]).status.code(), Some(0));
    assert_eq!(p.read("cache/results/pipe/copy/x.txt"), "from two\n");
    let out = p.run(&["status", "pipe.yaml", "--set", "vars.rot=two"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--set vars.rot: the pipeline has no variable \"rot\" (vars: [\"root\"])"));
}

/// The error a pipeline file gives, the same from `status`, `run --dry-run`
/// and `run` (exit code 2), with nothing run: every file below also has a
/// stage that would leave `ran` in the project folder.
fn load_error_of(yaml: &str) -> String {
    let p = Project::new();
    p.write("bad.yaml", yaml);
    let mut errors = Vec::new();
    for verb in [&["status", "bad.yaml"][..], &["run", "bad.yaml", "--dry-run"], &["run", "bad.yaml"]] {
        let out = p.run(verb);
        let stderr = String::from_utf8(out.stderr).unwrap().trim().to_owned();
        assert_eq!(out.status.code(), Some(2), "{verb:?}: exit code 2 for\n{yaml}\nstderr: {stderr}");
        errors.push(stderr);
    }
    assert!(!p.path().join("ran").exists(), "a stage ran despite the error in\n{yaml}");
    assert_eq!(errors[0], errors[1], "status and run --dry-run disagree");
    assert_eq!(errors[0], errors[2], "status and run disagree");
    errors.swap_remove(0)
}

/// An independent stage that leaves `ran` behind if it runs.
const BYSTANDER: &str = "  bystander:\n    kind: command\n    params:\n      cmd: \"touch ran\"\n";

#[test]
fn a_parameter_outside_its_declared_range_is_a_located_error_before_anything_runs() {
    let resample = |spacing: &str| {
        format!("stages:\n{BYSTANDER}  r:\n    kind: resample\n    params:\n      spacing_mm: {spacing}\n    inputs:\n      volume: vol\n")
    };
    for (given, shown) in [("0", "0"), ("1e-300", "1e-300"), ("1e300", "1e300"), ("-2.5", "-2.5"), ("20.01", "20.01")] {
        let e = load_error_of(&resample(given));
        assert_eq!(e, format!("error: bad.yaml:9:19: stage \"r\", parameter \"spacing_mm\" must be between 0.1 and 20, got {shown}"));
    }
    let cohort =
        |patients: &str| format!("stages:\n{BYSTANDER}  c:\n    kind: synthetic_cohort\n    params:\n      patients: {patients}\n");
    let e = load_error_of(&cohort("-5"));
    assert_eq!(e, "error: bad.yaml:9:17: stage \"c\", parameter \"patients\" must be between 1 and 10000, got -5");
    let e = load_error_of(&cohort("1000000000000"));
    assert_eq!(e, "error: bad.yaml:9:17: stage \"c\", parameter \"patients\" must be between 1 and 10000, got 1000000000000");
    let e = load_error_of(&cohort("1e12"));
    assert_eq!(e, "error: bad.yaml:9:17: stage \"c\", parameter \"patients\": expected an integer, found number 1000000000000.0");
}

#[test]
fn a_set_or_a_sweep_outside_a_declared_range_is_refused_at_load() {
    let p = Project::new();
    p.write("ok.yaml", "stages:\n  r:\n    kind: resample\n    params:\n      spacing_mm: 1.0\n    inputs:\n      volume: vol\n");
    let out = p.run(&["status", "ok.yaml", "--set", "r.spacing_mm=0.01"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("ok.yaml:3:11: stage \"r\", parameter \"spacing_mm\" must be between 0.1 and 20, got 0.01"), "{e}");
    let out = p.run(&["sweep", "show", "ok.yaml", "--sweep", "r.spacing_mm=1,1e300"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("sweep r.spacing_mm: r.spacing_mm must be between 0.1 and 20, got 1e300"), "{e}");
}

#[test]
fn exec_refuses_a_spacing_outside_its_range_before_reading_or_writing_anything() {
    let p = Project::new();
    for spacing in ["1e-300", "1e300", "0"] {
        let set = format!("spacing_mm={spacing}");
        let out = p.run(&["exec", "resample", "--input", "volume=missing", "--set", &set, "--out", "r"]);
        assert_eq!(out.status.code(), Some(2), "spacing_mm={spacing}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(&format!("parameter \"spacing_mm\" must be between 0.1 and 20, got {spacing}")), "{e}");
        assert!(!p.path().join("r").exists());
    }
}

#[test]
fn a_cycle_among_variables_is_a_located_error_naming_it() {
    let e = load_error_of(&format!(
        "vars:\n  a: \"${{b}}\"\n  b: \"${{a}}\"\nstages:\n{BYSTANDER}  s:\n    kind: command\n    params:\n      cmd: \"cat {{inputs.x}}\"\n    inputs:\n      x: \"${{a}}/f\"\n"
    ));
    assert_eq!(e, "error: bad.yaml:2:6: the variables form a cycle: a -> b -> a");
    let e = load_error_of(&format!("vars:\n  a: \"${{a}}/x\"\nstages:\n{BYSTANDER}"));
    assert_eq!(e, "error: bad.yaml:2:6: the variables form a cycle: a -> a");
}

#[test]
fn a_variable_may_use_another() {
    let p = Project::new();
    p.write("data/x.txt", "chained\n");
    p.write(
        "pipe.yaml",
        "vars:\n  file: \"${root}/x.txt\"\n  root: data\nstages:\n  copy:\n    kind: command\n    inputs:\n      x: \"${file}\"\n    params:\n      cmd: \"cp {inputs.x} {out}/x.txt\"\n      outputs: [x.txt]\n",
    );
    assert_eq!(p.run(&["run", "pipe.yaml"]).status.code(), Some(0));
    assert_eq!(p.read("cache/results/pipe/copy/x.txt"), "chained\n");
}

#[test]
fn a_template_naming_an_input_the_stage_lacks_is_a_located_error() {
    let e = load_error_of(&format!(
        "stages:\n{BYSTANDER}  s:\n    kind: command\n    params:\n      cmd: \"cat {{inputs.nope}} > {{out}}/x\"\n    inputs:\n      x: data.txt\n"
    ));
    assert_eq!(
        e,
        "error: bad.yaml:9:12: stage \"s\", parameter \"cmd\" uses {inputs.nope}, but the stage has no input \"nope\" (inputs: x)"
    );
}

#[test]
fn item_in_a_stage_without_foreach_is_a_located_error() {
    let e = load_error_of(&format!("stages:\n{BYSTANDER}  s:\n    kind: command\n    params:\n      cmd: \"echo {{item}} > {{out}}/x\"\n"));
    assert_eq!(
        e,
        "error: bad.yaml:9:12: stage \"s\", parameter \"cmd\" uses {item}, but the stage runs once (give it `foreach:` to run per item)"
    );
}

#[test]
fn a_duplicate_item_id_is_an_error_naming_both_positions() {
    let stages =
        format!("stages:\n{BYSTANDER}  s:\n    kind: command\n    foreach: i\n    params:\n      cmd: \"echo {{item}} > {{out}}/x\"\n");
    let e = load_error_of(&format!("items:\n  i:\n    list: [x, y, x]\n{stages}"));
    assert_eq!(e, "error: bad.yaml:3:18: item set \"i\" lists \"x\" twice: at 3:12 and at 3:18");
    let e = load_error_of(&format!("items:\n  i:\n    list:\n      - a\n      - \"b\"\n      - 'a'\n{stages}"));
    assert_eq!(e, "error: bad.yaml:6:9: item set \"i\" lists \"a\" twice: at 4:9 and at 6:9");
}

/// The rule (src/store/digest.rs): links in an input folder are followed, and
/// one that leads nowhere fails its instance, naming the link and its target,
/// before the kind runs; the rest of the pipeline goes on under --keep-going.
#[test]
fn a_dangling_symlink_in_an_input_folder_fails_its_instance_naming_the_link_and_its_target() {
    let p = Project::new();
    p.write("data/a.txt", "a\n");
    std::os::unix::fs::symlink("/nowhere/b.txt", p.path().join("data/b.txt")).unwrap();
    p.write(
        "pipe.yaml",
        &format!("stages:\n{BYSTANDER}  s:\n    kind: command\n    params:\n      cmd: \"ls {{inputs.x}} > {{out}}/x\"\n    inputs:\n      x: data\n"),
    );
    let link = std::fs::canonicalize(p.path()).unwrap().join("data/b.txt");
    let named = format!("{} is a symbolic link to /nowhere/b.txt, a target that does not exist", link.display());
    let status = p.run(&["status", "pipe.yaml"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&named), "status names the link and its target:\n{text}");
    let run = p.run(&["run", "pipe.yaml", "--keep-going"]);
    assert_eq!(run.status.code(), Some(1));
    let all = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(all.contains(&named), "{all}");
    assert!(p.path().join("ran").exists(), "the independent stage ran");
    assert!(!p.path().join("cache/results/pipe/s").exists(), "the stage with the broken input did not");
    std::fs::remove_file(p.path().join("data/b.txt")).unwrap();
    assert_eq!(p.run(&["run", "pipe.yaml"]).status.code(), Some(0), "without the link it runs");
}

#[test]
fn a_dangling_symlink_among_item_folders_is_named_not_dropped() {
    let p = Project::new();
    p.write("patients/a/x.txt", "a\n");
    p.write("patients/b/x.txt", "b\n");
    std::os::unix::fs::symlink("/nowhere/c", p.path().join("patients/c")).unwrap();
    p.write(
        "pipe.yaml",
        "items:\n  patients:\n    dir: patients\nstages:\n  s:\n    kind: command\n    foreach: patients\n    inputs:\n      x: \"patients/{item}\"\n    params:\n      cmd: \"cp {inputs.x}/x.txt {out}/x.txt\"\n",
    );
    let run = p.run(&["run", "pipe.yaml", "--keep-going"]);
    let all = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_ne!(run.status.code(), Some(0), "{all}");
    assert!(all.contains("item folder \"c\" is a symbolic link to /nowhere/c, a target that does not exist"), "{all}");
    std::fs::remove_file(p.path().join("patients/c")).unwrap();
    assert_eq!(p.run(&["run", "pipe.yaml"]).status.code(), Some(0), "without the link both patients run");
}
