//! The 48 symmetries of a cube (6 axis permutations × 8 sign flips), applied
//! to cubic patches as data augmentation.

/// One symmetry: output axis `a` reads input axis `perm[a]`, reversed when
/// `flip[a]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Symmetry {
    /// Which input axis each output axis comes from.
    pub perm: [usize; 3],
    /// Whether each output axis runs backwards.
    pub flip: [bool; 3],
}

const PERMUTATIONS: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

impl Symmetry {
    /// The identity.
    pub const IDENTITY: Symmetry = Symmetry { perm: [0, 1, 2], flip: [false; 3] };

    /// All 48, the identity first.
    pub fn all() -> Vec<Symmetry> {
        let mut out = Vec::with_capacity(48);
        for perm in PERMUTATIONS {
            for bits in 0..8u8 {
                out.push(Symmetry { perm, flip: [bits & 1 != 0, bits & 2 != 0, bits & 4 != 0] });
            }
        }
        out
    }

    /// The symmetry that applies `self` first, then `then`.
    pub fn then(self, then: Symmetry) -> Symmetry {
        // then's output axis a reads self's output axis then.perm[a], which reads
        // input axis self.perm[then.perm[a]]; reversals compose by xor.
        let perm = std::array::from_fn(|a| self.perm[then.perm[a]]);
        let flip = std::array::from_fn(|a| then.flip[a] ^ self.flip[then.perm[a]]);
        Symmetry { perm, flip }
    }

    /// Applies the symmetry to a cube of `edge`³ values stored z-major.
    pub fn apply<T: Copy>(&self, cube: &[T], edge: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(cube.len());
        let mut src = [0usize; 3];
        for o0 in 0..edge {
            for o1 in 0..edge {
                for o2 in 0..edge {
                    let o = [o0, o1, o2];
                    for a in 0..3 {
                        src[self.perm[a]] = if self.flip[a] { edge - 1 - o[a] } else { o[a] };
                    }
                    out.push(cube[(src[0] * edge + src[1]) * edge + src[2]]);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cube(edge: usize) -> Vec<u32> {
        (0..(edge * edge * edge) as u32).collect()
    }

    #[test]
    fn the_48_are_distinct_and_keep_the_voxels() {
        let c = cube(4);
        let images: Vec<Vec<u32>> = Symmetry::all().iter().map(|s| s.apply(&c, 4)).collect();
        assert_eq!(images.len(), 48);
        let distinct: HashSet<&Vec<u32>> = images.iter().collect();
        assert_eq!(distinct.len(), 48);
        for img in &images {
            let mut sorted = img.clone();
            sorted.sort();
            assert_eq!(sorted, c, "a symmetry only moves voxels");
        }
        assert_eq!(images[0], c, "the first is the identity");
    }

    #[test]
    fn closed_under_composition_and_then_matches_applying_twice() {
        let c = cube(3);
        let all = Symmetry::all();
        let images: Vec<Vec<u32>> = all.iter().map(|s| s.apply(&c, 3)).collect();
        for a in &all {
            for b in &all {
                let twice = b.apply(&a.apply(&c, 3), 3);
                assert_eq!(a.then(*b).apply(&c, 3), twice);
                assert!(images.contains(&twice), "composition stays in the group");
            }
        }
    }

    #[test]
    fn a_single_flip_and_a_swap_move_what_they_should() {
        let c = cube(2); // value = 4z + 2y + x
        let flip_x = Symmetry { perm: [0, 1, 2], flip: [false, false, true] };
        assert_eq!(flip_x.apply(&c, 2), vec![1, 0, 3, 2, 5, 4, 7, 6]);
        let swap_zx = Symmetry { perm: [2, 1, 0], flip: [false; 3] };
        assert_eq!(swap_zx.apply(&c, 2), vec![0, 4, 2, 6, 1, 5, 3, 7]);
    }
}
