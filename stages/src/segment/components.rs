//! 3-D connected components (6-connectivity) of a thresholded volume, found
//! on runs along x with union-find, so memory grows with the number of runs
//! rather than with the number of voxels.

use super::runs::Runs;

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
    runs: Runs,
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
    pub fn label<T: Copy + Sync>(data: &[T], shape: [usize; 3], inside: impl Fn(T) -> bool + Sync) -> Components {
        Components::of_runs(Runs::of(data, shape[2], inside), shape)
    }

    /// The components of the voxels that `runs` (of a grid of `shape`) hold.
    pub fn of_runs(runs: Runs, shape: [usize; 3]) -> Components {
        let [nz, ny, nx] = shape;
        let row_runs = |r: usize| runs.span(r);
        let all = runs.all();
        let mut parent: Vec<u32> = (0..all.len() as u32).collect();
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
                        let (a, b) = (all[i], all[j]);
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
        let mut label = vec![u32::MAX; all.len()];
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
                    let run = all[i];
                    let c = &mut list[l as usize];
                    c.voxels += (run.x1 - run.x0 + 1) as u64;
                    c.touches_in_plane_border |= y == 0 || y + 1 == ny || run.x0 == 0 || run.x1 as usize + 1 == nx;
                }
            }
        }
        Components { shape, runs, label, list }
    }

    /// The runs labelled, given back.
    pub fn into_runs(self) -> Runs {
        self.runs
    }

    /// The inclusive box [z0, y0, x0, z1, y1, x1] of the components whose
    /// label `keep` accepts.
    pub fn extent(&self, keep: impl Fn(usize) -> bool) -> Option<[usize; 6]> {
        let ny = self.shape[1];
        let mut b: Option<[usize; 6]> = None;
        for r in 0..self.runs.rows() {
            for i in self.runs.span(r).filter(|&i| keep(self.label[i] as usize)) {
                let (z, y, run) = (r / ny, r % ny, self.runs.all()[i]);
                let (x0, x1) = (run.x0 as usize, run.x1 as usize);
                b = Some(match b {
                    None => [z, y, x0, z, y, x1],
                    Some(c) => [c[0].min(z), c[1].min(y), c[2].min(x0), c[3].max(z), c[4].max(y), c[5].max(x1)],
                });
            }
        }
        b
    }

    /// Like [`Components::paint`], into `out` holding only the box that
    /// starts at `origin` and has `shape` (runs are cut at its edges).
    pub fn paint_box(&self, out: &mut [u8], origin: [usize; 3], shape: [usize; 3], value: impl Fn(usize) -> u8) {
        let ny = self.shape[1];
        let [bz, by, bx] = shape;
        for r in 0..self.runs.rows() {
            let (z, y) = (r / ny, r % ny);
            if z < origin[0] || z >= origin[0] + bz || y < origin[1] || y >= origin[1] + by {
                continue;
            }
            let row = ((z - origin[0]) * by + y - origin[1]) * bx;
            for i in self.runs.span(r) {
                let v = value(self.label[i] as usize);
                let run = self.runs.all()[i];
                let (x0, x1) = ((run.x0 as usize).max(origin[2]), (run.x1 as usize).min(origin[2] + bx - 1));
                if v != 0 && x0 <= x1 {
                    out[row + x0 - origin[2]..=row + x1 - origin[2]].fill(v);
                }
            }
        }
    }

    /// Sets `out` to `value(label)` on every voxel of each component whose
    /// value is not 0 (other voxels are left as they are).
    pub fn paint(&self, out: &mut [u8], value: impl Fn(usize) -> u8) {
        self.paint_box(out, [0; 3], self.shape, value);
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
