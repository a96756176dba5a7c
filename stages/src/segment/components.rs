//! 3-D connected components (6-connectivity) of a thresholded volume, found
//! on runs along x with union-find, so memory grows with the number of runs
//! rather than with the number of voxels.

/// A run of consecutive voxels along x in one (z, y) row, inclusive.
#[derive(Clone, Copy, Debug)]
struct Run {
    x0: u32,
    x1: u32,
}

/// One connected component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Number of voxels.
    pub voxels: u64,
    /// Whether it touches y = 0, y = Y-1, x = 0 or x = X-1 on any slice.
    pub touches_in_plane_border: bool,
}

/// Components of the voxels where `inside` holds, and a way to paint them.
pub struct Components {
    shape: [usize; 3],
    row_start: Vec<u32>,
    runs: Vec<Run>,
    label: Vec<u32>,
    /// The components, indexed by label.
    pub list: Vec<Component>,
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        parent[i as usize] = parent[parent[i as usize] as usize];
        i = parent[i as usize];
    }
    i
}

impl Components {
    /// Labels the voxels of a z-major grid of `shape` where `inside(value)`.
    pub fn label<T: Copy>(data: &[T], shape: [usize; 3], inside: impl Fn(T) -> bool) -> Components {
        let [nz, ny, nx] = shape;
        let mut row_start = Vec::with_capacity(nz * ny + 1);
        let mut runs = Vec::new();
        for row in data.chunks_exact(nx) {
            row_start.push(runs.len() as u32);
            let mut x = 0;
            while x < nx {
                if inside(row[x]) {
                    let x0 = x;
                    while x < nx && inside(row[x]) {
                        x += 1;
                    }
                    runs.push(Run { x0: x0 as u32, x1: (x - 1) as u32 });
                } else {
                    x += 1;
                }
            }
        }
        row_start.push(runs.len() as u32);
        let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
        let row_runs = |r: usize| row_start[r] as usize..row_start[r + 1] as usize;
        for z in 0..nz {
            for y in 0..ny {
                let r = z * ny + y;
                let mut neighbours = Vec::with_capacity(2);
                if y > 0 {
                    neighbours.push(r - 1);
                }
                if z > 0 {
                    neighbours.push(r - ny);
                }
                for n in neighbours {
                    // Both rows' runs are sorted by x: merge-walk the overlaps.
                    let (mut i, mut j) = (row_runs(r).start, row_runs(n).start);
                    let (iend, jend) = (row_runs(r).end, row_runs(n).end);
                    while i < iend && j < jend {
                        let (a, b) = (runs[i], runs[j]);
                        if a.x0 <= b.x1 && b.x0 <= a.x1 {
                            let (ra, rb) = (find(&mut parent, i as u32), find(&mut parent, j as u32));
                            if ra != rb {
                                parent[ra.max(rb) as usize] = ra.min(rb);
                            }
                        }
                        if a.x1 < b.x1 { i += 1 } else { j += 1 }
                    }
                }
            }
        }
        let mut label = vec![u32::MAX; runs.len()];
        let mut list: Vec<Component> = Vec::new();
        for z in 0..nz {
            for y in 0..ny {
                for i in row_runs(z * ny + y) {
                    let root = find(&mut parent, i as u32) as usize;
                    if label[root] == u32::MAX {
                        label[root] = list.len() as u32;
                        list.push(Component { voxels: 0, touches_in_plane_border: false });
                    }
                    let l = label[root];
                    label[i] = l;
                    let run = runs[i];
                    let c = &mut list[l as usize];
                    c.voxels += (run.x1 - run.x0 + 1) as u64;
                    c.touches_in_plane_border |= y == 0 || y + 1 == ny || run.x0 == 0 || run.x1 as usize + 1 == nx;
                }
            }
        }
        Components { shape, row_start, runs, label, list }
    }

    /// Sets `out` to `value(label)` on every voxel of each component whose
    /// value is not 0 (other voxels are left as they are).
    pub fn paint(&self, out: &mut [u8], value: impl Fn(usize) -> u8) {
        let nx = self.shape[2];
        for r in 0..self.row_start.len() - 1 {
            for i in self.row_start[r] as usize..self.row_start[r + 1] as usize {
                let v = value(self.label[i] as usize);
                if v != 0 {
                    let run = self.runs[i];
                    out[r * nx + run.x0 as usize..=r * nx + run.x1 as usize].fill(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_connectivity_only_and_border_flags() {
        // 2 slices of 4x5; '#' inside.
        let art = [
            "#....", "..##.", "..#..", ".....", //
            ".....", ".....", "..#.#", "....#",
        ];
        let data: Vec<u8> = art.iter().flat_map(|r| r.bytes().map(|b| (b == b'#') as u8)).collect();
        let c = Components::label(&data, [2, 4, 5], |v| v == 1);
        // {(0,0,0)}, {(0,1,2),(0,1,3),(0,2,2),(1,2,2)}, {(1,2,4),(1,3,4)}: the
        // last touches only diagonally and is separate.
        let mut sizes: Vec<(u64, bool)> = c.list.iter().map(|c| (c.voxels, c.touches_in_plane_border)).collect();
        sizes.sort();
        assert_eq!(sizes, vec![(1, true), (2, true), (4, false)]);
        let mut out = vec![0u8; data.len()];
        let big = c.list.iter().position(|c| c.voxels == 4).unwrap();
        c.paint(&mut out, |l| (l == big) as u8);
        assert_eq!(out.iter().filter(|&&v| v == 1).count(), 4);
        assert_eq!(out[5 + 2], 1);
        assert_eq!(out[20 + 10 + 2], 1);
    }
}
