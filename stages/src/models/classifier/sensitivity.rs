//! Which cancers a classifier misses: the sensitivity (share of cancer
//! patients called positive, `probability >= 0.5` as for accuracy) by
//! nodule size and by position.
//!
//! A patient has one label but may have several nodules, so each cancer
//! patient is counted once per grouping: in the size group of its largest
//! nodule, and as `pleural` when any of its nodules touches the pleura, else
//! `inner`. The groups, in order: `all`, the size groups `under_10mm`,
//! `10_to_15mm`, `15_to_20mm`, `20mm_and_over` (a lower edge is included),
//! `pleural`, `inner`, and `unlisted` for cancer patients with no nodule
//! listed (in `all` only, so that the size groups and `unlisted` add up to
//! `all`, as do `pleural`, `inner` and `unlisted`). Every group is always
//! there, an empty one with sensitivity NaN.

use std::collections::BTreeMap;

use super::scores::auc;
pub use crate::formats::evaluation::GroupSensitivity;
use crate::formats::nodules::Nodule;

/// A patient counts as detected when its probability is at least this.
pub const THRESHOLD: f64 = 0.5;

/// Edges of the size groups, mm.
pub const SIZE_EDGES_MM: [f64; 3] = [10.0, 15.0, 20.0];

/// What the nodules say of one patient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PatientNodules {
    /// Diameter of its largest nodule, mm.
    pub largest_mm: f64,
    /// Whether any of its nodules sits on the pleura.
    pub pleural: bool,
}

/// Every patient's nodules, summarised.
pub fn by_patient(nodules: &[Nodule]) -> BTreeMap<String, PatientNodules> {
    let mut out: BTreeMap<String, PatientNodules> = BTreeMap::new();
    for n in nodules {
        let p = out.entry(n.id.clone()).or_insert(PatientNodules { largest_mm: n.diameter_mm, pleural: false });
        p.largest_mm = p.largest_mm.max(n.diameter_mm);
        p.pleural |= n.pleural;
    }
    out
}

/// The name of the size group of a nodule `diameter_mm` across.
pub fn size_group(diameter_mm: f64) -> String {
    let above = SIZE_EDGES_MM.iter().take_while(|&&edge| diameter_mm >= edge).count();
    match above {
        0 => format!("under_{}mm", SIZE_EDGES_MM[0]),
        n if n == SIZE_EDGES_MM.len() => format!("{}mm_and_over", SIZE_EDGES_MM[n - 1]),
        n => format!("{}_to_{}mm", SIZE_EDGES_MM[n - 1], SIZE_EDGES_MM[n]),
    }
}

/// Every group's name, in table order.
pub fn group_names() -> Vec<String> {
    let mut names = vec!["all".to_owned(), size_group(0.0)];
    names.extend(SIZE_EDGES_MM.iter().map(|&edge| size_group(edge)));
    names.extend(["pleural", "inner", "unlisted"].map(str::to_owned));
    names
}

/// The groups a cancer patient counts in, `all` first.
fn groups_of(nodules: Option<PatientNodules>) -> Vec<String> {
    let mut names = vec!["all".to_owned()];
    match nodules {
        Some(n) => names.extend([size_group(n.largest_mm), (if n.pleural { "pleural" } else { "inner" }).to_owned()]),
        None => names.push("unlisted".to_owned()),
    }
    names
}

/// For every group (in [`group_names`] order), the ROC AUC of its cancer
/// patients' probabilities against every healthy patient's: how well that
/// kind of cancer is ranked (NaN for a group without patients, or when no
/// one is healthy).
pub fn auc_by_group(healthy: &[f64], cancers: &[(f64, Option<PatientNodules>)]) -> Vec<(String, f64)> {
    let memberships: Vec<Vec<String>> = cancers.iter().map(|&(_, n)| groups_of(n)).collect();
    group_names()
        .into_iter()
        .map(|group| {
            let mut scores: Vec<f64> =
                cancers.iter().zip(&memberships).filter(|(_, groups)| groups.contains(&group)).map(|((p, _), _)| *p).collect();
            let mut labels = vec![true; scores.len()];
            scores.extend_from_slice(healthy);
            labels.resize(scores.len(), false);
            (group, auc(&scores, &labels))
        })
        .collect()
}

/// The sensitivity of every group over the cancer patients given, each as
/// its probability and what the nodules say of it (`None`: none listed).
pub fn sensitivity_by_group(cancers: &[(f64, Option<PatientNodules>)]) -> Vec<GroupSensitivity> {
    let mut groups: Vec<GroupSensitivity> =
        group_names().into_iter().map(|group| GroupSensitivity { group, patients: 0, detected: 0, sensitivity: f64::NAN }).collect();
    for &(probability, nodules) in cancers {
        let names = groups_of(nodules);
        for g in groups.iter_mut().filter(|g| names.contains(&g.group)) {
            g.patients += 1;
            g.detected += usize::from(probability >= THRESHOLD);
        }
    }
    for g in &mut groups {
        g.sensitivity = if g.patients == 0 { f64::NAN } else { g.detected as f64 / g.patients as f64 };
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodule(id: &str, diameter_mm: f64, pleural: bool) -> Nodule {
        Nodule { id: id.into(), centre_mm: [0.0; 3], diameter_mm, pleural }
    }

    #[test]
    fn size_groups_are_named_by_their_edges_and_include_the_lower_one() {
        assert_eq!(group_names(), ["all", "under_10mm", "10_to_15mm", "15_to_20mm", "20mm_and_over", "pleural", "inner", "unlisted"]);
        assert_eq!(
            [9.99, 10.0, 14.9, 15.0, 20.0, 31.0].map(size_group),
            ["under_10mm", "10_to_15mm", "10_to_15mm", "15_to_20mm", "20mm_and_over", "20mm_and_over"]
        );
    }

    #[test]
    fn a_patient_counts_by_its_largest_nodule_and_as_pleural_when_any_nodule_is() {
        let summary = by_patient(&[nodule("a", 8.0, true), nodule("a", 16.0, false), nodule("b", 12.0, false), nodule("c", 25.0, false)]);
        assert_eq!(summary["a"], PatientNodules { largest_mm: 16.0, pleural: true });
        assert_eq!(summary["b"], PatientNodules { largest_mm: 12.0, pleural: false });
        // By hand: a (16 mm, pleural) detected at exactly 0.5; b (12 mm,
        // inner) missed; c (25 mm, inner) detected; d unlisted, missed.
        let cancers = [(0.5, Some(summary["a"])), (0.49, Some(summary["b"])), (0.9, Some(summary["c"])), (0.1, None)];
        let got: Vec<(String, usize, usize)> =
            sensitivity_by_group(&cancers).into_iter().map(|g| (g.group, g.patients, g.detected)).collect();
        let want = [
            ("all", 4, 2),
            ("under_10mm", 0, 0),
            ("10_to_15mm", 1, 0),
            ("15_to_20mm", 1, 1),
            ("20mm_and_over", 1, 1),
            ("pleural", 1, 1),
            ("inner", 2, 1),
            ("unlisted", 1, 0),
        ];
        assert_eq!(got, want.map(|(g, n, d)| (g.to_owned(), n, d)));
        let groups = sensitivity_by_group(&cancers);
        assert_eq!((groups[0].sensitivity, groups[6].sensitivity), (0.5, 0.5));
        assert!(groups[1].sensitivity.is_nan(), "an empty group has no sensitivity");
    }

    #[test]
    fn a_group_s_auc_ranks_its_cancers_against_every_healthy_patient() {
        let summary = by_patient(&[nodule("a", 12.0, true), nodule("b", 12.0, false), nodule("c", 25.0, false)]);
        let cancers = [(0.3, Some(summary["a"])), (0.6, Some(summary["b"])), (0.9, Some(summary["c"])), (0.1, None)];
        let healthy = [0.2, 0.5, 0.6];
        let got: BTreeMap<String, f64> = auc_by_group(&healthy, &cancers).into_iter().collect();
        // By hand, pairs (cancer above healthy = 1, tie = ½) over 3 healthy:
        // a 0.3: 1 of 3; b 0.6: 2 + ½; c 0.9: 3; unlisted 0.1: 0.
        assert_eq!(got["pleural"], 1.0 / 3.0);
        assert_eq!(got["10_to_15mm"], (1.0 + 2.5) / 6.0);
        assert_eq!(got["inner"], (2.5 + 3.0) / 6.0);
        assert_eq!(got["20mm_and_over"], 1.0);
        assert_eq!(got["unlisted"], 0.0);
        assert_eq!(got["all"], (1.0 + 2.5 + 3.0 + 0.0) / 12.0);
        assert!(got["under_10mm"].is_nan() && got["15_to_20mm"].is_nan(), "empty groups");
        assert!(auc_by_group(&[], &cancers).iter().all(|(_, a)| a.is_nan()), "no healthy patient");
    }
}
