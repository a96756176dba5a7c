//! The DSB 2017 CSV files, each `id,VALUE` with a header: `id,cancer` labels
//! (`stage1_labels.csv`, and `labels.csv` for every synthetic patient), the
//! sample submission whose ids choose the test patients
//! (`stage1_sample_submission.csv`), and submissions.

use std::collections::BTreeMap;
use std::path::Path;

use crate::StageError;

/// The labels of every patient of a synthetic cohort (the truth).
pub const LABELS_FILE: &str = "labels.csv";
/// The labels of the training patients (DSB 2017 name).
pub const TRAIN_LABELS_FILE: &str = "stage1_labels.csv";
/// The test patients, `cancer` 0.5 (DSB 2017 name).
pub const SAMPLE_SUBMISSION_FILE: &str = "stage1_sample_submission.csv";

/// Reads `id,cancer` rows with a header; `cancer` must be 0 or 1.
pub fn read_labels(path: &Path) -> Result<BTreeMap<String, bool>, StageError> {
    let mut labels = BTreeMap::new();
    for (line, id, value) in rows(path)? {
        let cancer = match value.as_str() {
            "0" | "0.0" => false,
            "1" | "1.0" => true,
            other => return Err(StageError(format!("{}:{line}: cancer must be 0 or 1, found {other:?}", path.display()))),
        };
        if labels.insert(id.clone(), cancer).is_some() {
            return Err(StageError(format!("{}:{line}: patient {id} is listed twice", path.display())));
        }
    }
    Ok(labels)
}

/// Reads `id,probability` rows with a header (a submission), in order.
pub fn read_probabilities(path: &Path) -> Result<Vec<(String, f64)>, StageError> {
    rows(path)?
        .into_iter()
        .map(|(line, id, value)| match value.parse::<f64>() {
            Ok(p) => Ok((id, p)),
            Err(_) => Err(StageError(format!("{}:{line}: {value:?} is not a probability", path.display()))),
        })
        .collect()
}

/// Reads the ids (first column) of an `id,...` CSV with a header, in order.
pub fn read_ids(path: &Path) -> Result<Vec<String>, StageError> {
    let ids: Vec<String> = rows(path)?.into_iter().map(|(_, id, _)| id).collect();
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(StageError(format!("{}: patient {dup} is listed twice", path.display())));
    }
    Ok(ids)
}

/// `(line number, id, second column)` of every data row; checks the header.
fn rows(path: &Path) -> Result<Vec<(usize, String, String)>, StageError> {
    let text = std::fs::read_to_string(path).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim()).unwrap_or("");
    if !header.starts_with("id,") {
        return Err(StageError(format!("{}: the first line must be a header starting with `id,` (found {header:?})", path.display())));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',');
        let id = fields.next().unwrap_or("").trim();
        let value = fields.next().map(str::trim);
        match value {
            Some(v) if !id.is_empty() => out.push((i + 1, id.to_owned(), v.to_owned())),
            _ => return Err(StageError(format!("{}:{}: expected `id,value`, found {line:?}", path.display(), i + 1))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lf-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn labels_and_ids_read_and_bad_rows_name_the_line() {
        let l = read_labels(&file("a.csv", "id,cancer\nabc,1\ndef,0\n")).unwrap();
        assert_eq!(l.get("abc"), Some(&true));
        assert_eq!(l.get("def"), Some(&false));
        let e = read_labels(&file("b.csv", "id,cancer\nabc,1\ndef,0.5\n")).unwrap_err();
        assert!(e.0.contains("b.csv:3: cancer must be 0 or 1"), "{e}");
        let e = read_labels(&file("c.csv", "abc,1\n")).unwrap_err();
        assert!(e.0.contains("header"), "{e}");
        let e = read_labels(&file("d.csv", "id,cancer\nabc,1\nabc,0\n")).unwrap_err();
        assert!(e.0.contains("d.csv:3: patient abc is listed twice"), "{e}");
        assert_eq!(read_ids(&file("e.csv", "id,cancer\nz,0.5\na,0.5\n")).unwrap(), vec!["z", "a"]);
        assert!(read_ids(&file("f.csv", "id,cancer\nz\n")).unwrap_err().0.contains("f.csv:2"));
        assert_eq!(read_probabilities(&file("g.csv", "id,cancer\na,0.25\n")).unwrap(), vec![("a".to_owned(), 0.25)]);
        assert!(
            read_probabilities(&file("h.csv", "id,cancer\na,high\n")).unwrap_err().0.contains("h.csv:2: \"high\" is not a probability")
        );
    }
}
