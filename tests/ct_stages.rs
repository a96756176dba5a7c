//! The CT stages through the real binary: synthetic cohorts, real series,
//! and bad input.

mod common;
use std::path::{Path, PathBuf};

use common::*;
use lungflow_stages::formats::volume::{read_mask, read_volume};

/// A path in the real test data.
fn ct(rel: &str) -> PathBuf {
    ct_data().join(rel)
}

fn run_ok(p: &Project, args: &[&str]) {
    let out = p.run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `lungflow exec hu_volume` on a folder and returns (exit code, stderr).
fn ingest(p: &Project, dir: &Path) -> (i32, String) {
    let out = p.run(&["exec", "hu_volume", "--input", &format!("dicom={}", dir.display()), "--out", "hu-out"]);
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

const SMALL_CHAIN: &str = r#"
items:
  patients:
    dir: "@cohort/dicom"
stages:
  cohort:
    kind: synthetic_cohort
    params: {patients: 4, seed: 7, positive_fraction: 1.0, matrix: 128, pixel_mm: 2.5, slices: 40}
  hu:
    kind: hu_volume
    foreach: patients
    inputs: {dicom: "@cohort/dicom/{item}"}
  iso:
    kind: resample
    foreach: patients
    inputs: {volume: "@hu"}
  lungs:
    kind: lung_mask
    foreach: patients
    inputs: {volume: "@iso"}
"#;

/// Per planted nodule (nodules.csv): whether it sits on the pleura, and the
/// fraction of the lung mask's grid voxels whose centres lie in the nodule
/// that the mask holds (voxels outside the crop count as outside).
fn nodule_coverage(results: &Path) -> Vec<(String, bool, f64)> {
    let nodules = std::fs::read_to_string(results.join("cohort/nodules.csv")).unwrap();
    let mut out = Vec::new();
    for line in nodules.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        // The phantom's centre is (x, y, z) in mm on the grid's axes; origin and spacing are [z, y, x].
        let centre: Vec<f64> = f[1..4].iter().rev().map(|v| v.parse().unwrap()).collect();
        let radius = f[4].parse::<f64>().unwrap() / 2.0;
        let mask = read_mask(&results.join("lungs").join(f[0]).join("mask.arrow")).unwrap();
        let m = &mask.meta;
        let index = |a: usize, mm: f64| ((mm - m.origin_mm[a]) / m.spacing_mm[a]).round() as i64;
        let span = |a: usize| index(a, centre[a] - radius - 2.0)..=index(a, centre[a] + radius + 2.0);
        let (mut total, mut held) = (0u32, 0u32);
        for z in span(0) {
            for y in span(1) {
                for x in span(2) {
                    let at = [z, y, x];
                    let d2: f64 = (0..3).map(|a| (m.origin_mm[a] + at[a] as f64 * m.spacing_mm[a] - centre[a]).powi(2)).sum();
                    if d2 > radius * radius {
                        continue;
                    }
                    total += 1;
                    let inside = (0..3).all(|a| at[a] >= 0 && (at[a] as usize) < m.shape[a]);
                    held += (inside && mask.data[mask.index(z as usize, y as usize, x as usize)] != 0) as u32;
                }
            }
        }
        assert!(total > 0, "nodule {line} covers no voxel centre");
        out.push((line.to_owned(), f[5] == "1", held as f64 / total as f64));
    }
    out
}

#[test]
fn every_planted_nodule_pleural_ones_included_lies_in_the_lung_mask() {
    let p = Project::new();
    p.write("pipe.yaml", SMALL_CHAIN);
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{doc}");
    let results = p.path().join("cache/results/pipe");
    let coverage = nodule_coverage(&results);
    println!("lung_mask v3: {coverage:?}");
    assert!(coverage.len() >= 4, "every patient is positive, so each has at least one nodule");
    assert!(coverage.iter().filter(|n| n.1).count() >= 2, "pleural nodules are planted too: {coverage:?}");
    for (nodule, _, held) in &coverage {
        assert!(*held >= 0.95, "nodule {nodule}: the mask holds {held:.3} of its voxels");
    }
    // With the hull and the dilation off (the threshold lungs), the pleural
    // nodules fall out, so the check above can fail.
    let (code, doc) = p.json(&["run", "pipe.yaml", "--set", "lungs.hull_max_ratio=0", "--set", "lungs.dilate_mm=0"]);
    assert_eq!(code, 0, "{doc}");
    let bare = nodule_coverage(&results);
    println!("threshold lungs: {bare:?}");
    assert!(bare.iter().filter(|n| n.1).all(|n| n.2 < 0.95), "threshold lungs lose every pleural nodule: {bare:?}");
}

#[test]
fn synthetic_cohorts_are_deterministic_and_growing_keeps_patients() {
    let p = Project::new();
    run_ok(&p, &["synth", "--patients", "3", "--seed", "11", "--out", "a"]);
    run_ok(&p, &["synth", "--patients", "3", "--seed", "11", "--out", "b"]);
    run_ok(&p, &["synth", "--patients", "4", "--seed", "11", "--out", "c"]);
    run_ok(&p, &["synth", "--patients", "3", "--seed", "12", "--out", "d"]);
    let tree = |dir: &str| -> Vec<(String, String)> {
        let root = p.path().join(dir);
        let mut files = Vec::new();
        for patient in std::fs::read_dir(root.join("dicom")).unwrap() {
            for f in std::fs::read_dir(patient.unwrap().path()).unwrap() {
                let path = f.unwrap().path();
                let rel = path.strip_prefix(&root).unwrap().display().to_string();
                files.push((rel, blake3::hash(&std::fs::read(&path).unwrap()).to_hex().to_string()));
            }
        }
        files.sort();
        files
    };
    let (a, b, c, d) = (tree("a"), tree("b"), tree("c"), tree("d"));
    assert_eq!(a, b, "same seed, same bytes");
    assert!(a.iter().all(|f| c.contains(f)), "a fourth patient leaves the first three unchanged");
    assert_eq!(c.len(), a.len() / 3 * 4);
    assert!(a.iter().all(|f| !d.contains(f)), "another seed, other files");
    let labels = p.read("a/labels.csv");
    assert!(labels.starts_with("id,cancer\n"));
    assert_eq!(labels.lines().count(), 4);
}

#[test]
fn synthetic_series_use_both_pixel_representations_and_padding() {
    let p = Project::new();
    run_ok(&p, &["synth", "--patients", "2", "--seed", "5", "--out", "s"]);
    let mut kinds = Vec::new();
    for patient in std::fs::read_dir(p.path().join("s/dicom")).unwrap() {
        let file = std::fs::read_dir(patient.unwrap().path()).unwrap().next().unwrap().unwrap().path();
        let obj = dicom::object::open_file(&file).unwrap();
        let rep = obj.element(dicom::dictionary_std::tags::PIXEL_REPRESENTATION).unwrap().to_int::<u16>().unwrap();
        assert!(obj.element(dicom::dictionary_std::tags::PIXEL_PADDING_VALUE).is_ok());
        assert_eq!(obj.meta().transfer_syntax().trim_end_matches('\0'), "1.2.840.10008.1.2.1");
        kinds.push(rep);
    }
    kinds.sort();
    assert_eq!(kinds, vec![0, 1]);
}

#[test]
fn slice_order_comes_from_positions_not_file_names() {
    let p = Project::new();
    let src = ct("chest/LIDC-IDRI-0002");
    let shuffled = p.path().join("shuffled");
    std::fs::create_dir_all(&shuffled).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for (i, f) in files.iter().enumerate() {
        // reversed, meaningless names
        std::fs::copy(f, shuffled.join(format!("img{:03}", files.len() - i))).unwrap();
    }
    run_ok(&p, &["exec", "hu_volume", "--input", &format!("dicom={}", src.display()), "--out", "orig"]);
    run_ok(&p, &["exec", "hu_volume", "--input", "dicom=shuffled", "--out", "shuf"]);
    let a = read_volume(&p.path().join("orig/volume.arrow")).unwrap();
    let b = read_volume(&p.path().join("shuf/volume.arrow")).unwrap();
    assert_eq!(a.data, b.data);
    assert_eq!(a.meta.spacing_mm, b.meta.spacing_mm);
    assert!((a.meta.spacing_mm[0] - 1.25).abs() < 1e-6, "{:?}", a.meta.spacing_mm);
}

#[test]
fn gantry_tilt_is_refused_with_the_angle() {
    let p = Project::new();
    let (code, err) = ingest(&p, &ct("oddities/ge-head-gantry-tilt"));
    assert_eq!(code, 1);
    assert!(err.contains("gantry tilt") && err.contains("18.50 degrees"), "{err}");
}

/// A scratch copy of a real series that a test may damage.
fn copy_series(p: &Project, name: &str, src: &str) -> PathBuf {
    let dir = p.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(ct(src)).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    dir
}

fn first_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.remove(0)
}

/// Rewrites one file with an element removed or replaced.
fn edit(file: &Path, f: impl FnOnce(&mut dicom::object::DefaultDicomObject)) {
    let mut obj = dicom::object::open_file(file).unwrap();
    f(&mut obj);
    obj.write_to_file(file).unwrap();
}

#[test]
fn bad_input_names_the_file_and_the_reason() {
    use dicom::core::{DataElement, PrimitiveValue, VR};
    use dicom::dictionary_std::tags;
    let p = Project::new();
    let mut cases: Vec<(PathBuf, PathBuf, &str)> = Vec::new();

    let d = copy_series(&p, "truncated", "chest/LIDC-IDRI-0002");
    let f = first_file(&d);
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    cases.push((d, f, "remain (truncated or corrupt file)"));

    let d = copy_series(&p, "not-dicom", "chest/LIDC-IDRI-0002");
    let f = d.join("notes.txt");
    std::fs::write(&f, "scanned on Tuesday\n").unwrap();
    cases.push((d, f, "not a DICOM file"));

    let d = copy_series(&p, "no-intercept", "chest/LIDC-IDRI-0002");
    let f = first_file(&d);
    edit(&f, |o| {
        o.remove_element(tags::RESCALE_INTERCEPT);
    });
    cases.push((d, f, "missing RescaleIntercept"));

    let d = copy_series(&p, "no-spacing", "chest/LIDC-IDRI-0002");
    let f = first_file(&d);
    edit(&f, |o| {
        o.remove_element(tags::PIXEL_SPACING);
    });
    cases.push((d, f, "missing PixelSpacing"));

    let d = copy_series(&p, "huge-length", "chest/LIDC-IDRI-0002");
    let f = first_file(&d);
    let mut bytes = std::fs::read(&f).unwrap();
    let at = bytes.windows(4).rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00]).unwrap();
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    std::fs::write(&f, &bytes).unwrap();
    cases.push((d, f, "claims 4294967280 bytes"));

    // A slice of another series that claims to belong to this one.
    let d = copy_series(&p, "mixed-uid", "chest/LIDC-IDRI-0002");
    let uid = dicom::object::open_file(first_file(&d)).unwrap().element(tags::SERIES_INSTANCE_UID).unwrap().to_str().unwrap().into_owned();
    let stranger = d.join("stranger.dcm");
    std::fs::copy(first_file(&ct("chest/LIDC-IDRI-0001")), &stranger).unwrap();
    edit(&stranger, |o| {
        o.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from(uid.as_str())));
    });
    cases.push((d, stranger, "differs from"));

    for (dir, file, reason) in &cases {
        let (code, err) = ingest(&p, dir);
        assert_eq!(code, 1, "{}: {err}", dir.display());
        assert!(
            err.contains(&file.display().to_string()) && err.contains(reason),
            "{}: expected {reason:?} about {}, got {err}",
            dir.display(),
            file.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }

    let empty = p.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, err) = ingest(&p, &empty);
    assert_eq!(code, 1);
    assert!(err.contains(&empty.display().to_string()) && err.contains("holds no files"), "{err}");

    let mr = copy_series(&p, "mr", "chest/ct-3slice");
    for f in std::fs::read_dir(&mr).unwrap() {
        edit(&f.unwrap().path(), |o| {
            o.put(DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("MR")));
        });
    }
    let (code, err) = ingest(&p, &mr);
    assert_eq!(code, 1);
    assert!(err.contains(&mr.display().to_string()) && err.contains("is MR (not CT)"), "{err}");
}

#[test]
fn two_series_in_one_folder_pick_the_larger_by_the_documented_rule() {
    let p = Project::new();
    let both = copy_series(&p, "both", "chest/LIDC-IDRI-0001");
    for f in std::fs::read_dir(ct("chest/ct-3slice")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, both.join(format!("other-{}", f.file_name().unwrap().to_string_lossy()))).unwrap();
    }
    run_ok(&p, &["exec", "hu_volume", "--input", &format!("dicom={}", both.display()), "--out", "picked"]);
    let v = read_volume(&p.path().join("picked/volume.arrow")).unwrap();
    assert_eq!(v.meta.shape[0], 16, "the 16-slice series wins over the 3-slice one");
}

#[test]
fn with_keep_going_the_good_patients_complete() {
    let p = Project::new();
    copy_series(&p, "stage1/good1", "chest/ct-3slice");
    copy_series(&p, "stage1/good2", "chest/LIDC-IDRI-0002");
    let bad = copy_series(&p, "stage1/bad", "chest/ct-3slice");
    std::fs::write(first_file(&bad), b"garbage").unwrap();
    p.write(
        "pipe.yaml",
        "items:\n  patients:\n    dir: stage1\nstages:\n  hu:\n    kind: hu_volume\n    foreach: patients\n    inputs:\n      dicom: stage1/{item}\n",
    );
    let (code, doc) = p.json(&["run", "pipe.yaml", "--keep-going"]);
    assert_eq!(code, 1);
    assert_eq!(instances(&doc, "executed"), vec![inst("hu", Some("good1")), inst("hu", Some("good2"))]);
    let failed = &doc["failed"][0];
    assert_eq!(failed["item"], "bad");
    assert!(failed["error"].as_str().unwrap().contains("not a DICOM file"), "{failed}");
}
