//! `nodules.csv`: one row per nodule, under the header
//! `id,x_mm,y_mm,z_mm,diameter_mm,pleural` (patient id, centre in mm,
//! diameter in mm, 1 when the nodule sits on the pleura, else 0). A patient
//! may have several rows, or none.

use std::path::Path;

use crate::StageError;

/// The nodules file a synthetic cohort writes.
pub const NODULES_FILE: &str = "nodules.csv";
/// Its header line.
pub const NODULES_HEADER: &str = "id,x_mm,y_mm,z_mm,diameter_mm,pleural";

/// One row of a nodules file.
#[derive(Clone, Debug, PartialEq)]
pub struct Nodule {
    /// The patient's id.
    pub id: String,
    /// Centre, mm (x, y, z).
    pub centre_mm: [f64; 3],
    /// Diameter, mm.
    pub diameter_mm: f64,
    /// Whether it sits on the pleura.
    pub pleural: bool,
}

/// Reads a nodules file: the header must be [`NODULES_HEADER`]; a row with
/// another number of fields, a coordinate that is not a finite number, a
/// diameter that is not a positive one or a `pleural` other than 0 or 1 is
/// an error naming the file and the line.
pub fn read_nodules(path: &Path) -> Result<Vec<Nodule>, StageError> {
    let text = std::fs::read_to_string(path).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim()).unwrap_or("");
    if header != NODULES_HEADER {
        return Err(StageError(format!("{}:1: the header must be `{NODULES_HEADER}`, found {header:?}", path.display())));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let line = line.trim();
        if !line.is_empty() {
            out.push(parse_row(line).map_err(|why| StageError(format!("{}:{}: {why}, in {line:?}", path.display(), i + 1)))?);
        }
    }
    Ok(out)
}

/// One data row, or why it is malformed.
fn parse_row(line: &str) -> Result<Nodule, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [id, x, y, z, diameter, pleural] = fields[..] else {
        return Err(format!("expected 6 fields, found {}", fields.len()));
    };
    if id.is_empty() {
        return Err("the id is empty".into());
    }
    let number = |name: &str, text: &str| match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{name} must be a finite number, found {text:?}")),
    };
    let centre_mm = [number("x_mm", x)?, number("y_mm", y)?, number("z_mm", z)?];
    let diameter_mm = number("diameter_mm", diameter)?;
    if diameter_mm <= 0.0 {
        return Err(format!("diameter_mm must be positive, found {diameter}"));
    }
    let pleural = match pleural {
        "0" => false,
        "1" => true,
        other => return Err(format!("pleural must be 0 or 1, found {other:?}")),
    };
    Ok(Nodule { id: id.to_owned(), centre_mm, diameter_mm, pleural })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lf-nodules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn rows_read_and_a_malformed_row_names_the_file_the_line_and_the_reason() {
        let rows = read_nodules(&file("a.csv", &format!("{NODULES_HEADER}\np1,1.5,-2,3,12.25,1\n\np1,0,0,0,4,0\n"))).unwrap();
        assert_eq!(
            rows,
            [
                Nodule { id: "p1".into(), centre_mm: [1.5, -2.0, 3.0], diameter_mm: 12.25, pleural: true },
                Nodule { id: "p1".into(), centre_mm: [0.0; 3], diameter_mm: 4.0, pleural: false }
            ]
        );
        let err = |name: &str, row: &str| read_nodules(&file(name, &format!("{NODULES_HEADER}\np0,0,0,0,5,0\n{row}\n"))).unwrap_err().0;
        let e = err("b.csv", "p2,0,0,0,-5,0");
        assert!(e.contains("b.csv:3: diameter_mm must be positive, found -5"), "{e}");
        let e = err("c.csv", "p2,0,0,0,5,yes");
        assert!(e.contains("c.csv:3: pleural must be 0 or 1, found \"yes\""), "{e}");
        let e = err("d.csv", "p2,0,0,5,0");
        assert!(e.contains("d.csv:3: expected 6 fields, found 5"), "{e}");
        let e = err("e.csv", "p2,0,nan,0,5,0");
        assert!(e.contains("e.csv:3: y_mm must be a finite number, found \"nan\""), "{e}");
        let e = read_nodules(&file("f.csv", "id,cancer\np1,1\n")).unwrap_err().0;
        assert!(e.contains("f.csv:1: the header must be"), "{e}");
        assert!(read_nodules(&file("g.csv", &format!("{NODULES_HEADER}\n"))).unwrap().is_empty());
    }
}
