//! One PNG per swept stage that records per-epoch validation scores,
//! overlaying every variant's curve.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use lungflow_stages::plot::{PALETTE, Series, line_chart};

use crate::report::sweep_results::{Curve, VariantResult};

/// Writes `DIR/curves-STAGE.png` for each stage with curves; returns the paths.
pub fn write_curves(results: &[VariantResult], dir: &Path) -> Result<Vec<PathBuf>> {
    // stage -> (column, [(variant index, curve)])
    let mut by_stage: BTreeMap<&str, (&str, Vec<(usize, &Curve)>)> = BTreeMap::new();
    for (i, r) in results.iter().enumerate() {
        for curve in &r.curves {
            by_stage.entry(&curve.stage).or_insert((&curve.column, Vec::new())).1.push((i, curve));
        }
    }
    let mut written = Vec::new();
    for (stage, (column, curves)) in by_stage {
        let series: Vec<Series<'_>> = curves
            .iter()
            .map(|&(i, curve)| Series { name: &results[i].name, color: PALETTE[i % PALETTE.len()], points: curve.points.clone() })
            .collect();
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("curves-{stage}.png"));
        line_chart(&path, &format!("{stage}: {column} per variant"), "epoch", column, &series).map_err(|e| anyhow::anyhow!("{e}"))?;
        written.push(path);
    }
    Ok(written)
}
