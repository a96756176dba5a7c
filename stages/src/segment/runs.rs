//! Runs of consecutive voxels along x, row by row: the compact form of a
//! mask that labelling and dilation work on.

use rayon::prelude::*;

/// A run of consecutive voxels along x in one row, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First x of the run.
    pub x0: u32,
    /// Last x of the run.
    pub x1: u32,
}

/// The runs of every row of a `[z, y, x]` grid, rows in z, y order.
pub struct Runs {
    /// Row r's runs are `runs[start[r]..start[r + 1]]`.
    start: Vec<u32>,
    runs: Vec<Run>,
}

impl Runs {
    /// The runs of the values where `inside(value)`, in rows of `nx`.
    pub fn of<T: Copy + Sync>(data: &[T], nx: usize, inside: impl Fn(T) -> bool + Sync) -> Runs {
        Runs::concat(data.par_chunks(nx.max(1)).with_min_len(64).map(|row| row_runs(row, &inside)).collect())
    }

    /// Runs made row by row (in parallel) by `row(r)` for rows `0..rows`.
    pub fn from_rows(rows: usize, row: impl Fn(usize) -> Vec<Run> + Sync + Send) -> Runs {
        Runs::concat((0..rows).into_par_iter().with_min_len(64).map(row).collect())
    }

    /// One row's runs after another.
    fn concat(per_row: Vec<Vec<Run>>) -> Runs {
        let mut start = Vec::with_capacity(per_row.len() + 1);
        let mut runs = Vec::with_capacity(per_row.iter().map(Vec::len).sum());
        for row in per_row {
            start.push(runs.len() as u32);
            runs.extend(row);
        }
        start.push(runs.len() as u32);
        Runs { start, runs }
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.start.len() - 1
    }

    /// Row `r`'s runs, sorted by x.
    pub fn row(&self, r: usize) -> &[Run] {
        &self.runs[self.start[r] as usize..self.start[r + 1] as usize]
    }

    /// Where row `r`'s runs sit in [`Runs::all`].
    pub fn span(&self, r: usize) -> std::ops::Range<usize> {
        self.start[r] as usize..self.start[r + 1] as usize
    }

    /// Every run, row after row.
    pub fn all(&self) -> &[Run] {
        &self.runs
    }
}

/// The runs of one row.
fn row_runs<T: Copy>(row: &[T], inside: &impl Fn(T) -> bool) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut x = 0;
    while x < row.len() {
        if inside(row[x]) {
            let x0 = x;
            while x < row.len() && inside(row[x]) {
                x += 1;
            }
            runs.push(Run { x0: x0 as u32, x1: (x - 1) as u32 });
        } else {
            x += 1;
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_found_per_row() {
        let data = [1u8, 1, 0, 1, /* row 1 */ 0, 0, 0, 0, /* row 2 */ 1, 0, 1, 1];
        let r = Runs::of(&data, 4, |v| v == 1);
        assert_eq!(r.rows(), 3);
        assert_eq!(r.row(0), [Run { x0: 0, x1: 1 }, Run { x0: 3, x1: 3 }]);
        assert!(r.row(1).is_empty());
        assert_eq!(r.row(2), [Run { x0: 0, x1: 0 }, Run { x0: 2, x1: 3 }]);
        assert_eq!((r.span(2), r.all().len()), (2..4, 4));
    }
}
