//! Axis arithmetic shared by the pictures of the HTML report: "nice" ticks
//! (steps of 1, 2 or 5 × 10^k) with their labels, and linear maps from data
//! onto pixels. Pure numbers; no SVG.

/// Axis ticks chosen by [`nice_ticks`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ticks {
    /// Start of the axis domain.
    pub lo: f64,
    /// End of the axis domain (greater than `lo`).
    pub hi: f64,
    /// Tick values, ascending, within `lo..=hi`.
    pub values: Vec<f64>,
    /// The tick step is `m × 10^exp` with m in {1, 2, 5} (or 25, for the
    /// rare fixed range where 1, 2 and 5 give no 4–6 ticks).
    pub exp: i32,
}

impl Ticks {
    /// The label of tick value `v`: as many decimals as the step needs, or
    /// an exponent form for very large or very small magnitudes.
    pub fn label(&self, v: f64) -> String {
        format_tick(v, self.exp)
    }
}

/// Formats a tick value whose step is `m × 10^exp`.
pub(crate) fn format_tick(v: f64, exp: i32) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let mag = v.abs().log10().floor() as i32;
    if mag >= 6 || exp < -5 {
        let p = (mag - exp).clamp(0, 15) as usize;
        let s = format!("{v:.p$e}");
        return if s.starts_with("-0") && s.trim_start_matches(['-', '0', '.']).starts_with('e') { "0".to_string() } else { s };
    }
    let decimals = (-exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_string() } else { s }
}

/// Chooses 4–6 ticks with a step of 1, 2 or 5 × 10^k covering `lo..=hi`
/// (for a fixed range, where that is not always possible, 2.5 × 10^k is
/// tried too and the count may be 3 or 7).
///
/// With `extend` the domain grows to the nearest multiples of the step
/// around the data (the axis then starts and ends on a tick); without it
/// (a range given by the caller) the domain is exactly `lo..=hi` and the
/// ticks are the multiples of the step inside it. Degenerate input (equal
/// ends, non-finite values, reversed ends) gives a small finite domain.
pub(crate) fn nice_ticks(lo: f64, hi: f64, extend: bool) -> Ticks {
    let (lo, hi) = tick_domain(lo, hi);
    let e0 = (hi - lo).log10().floor() as i32;
    // Prefer 4..=6 ticks, then an extended domain (when asked), then the
    // least wasted space, then the count nearest 5, then the smaller step.
    let best = tick_candidates(lo, hi, e0, extend)
        .into_iter()
        .min_by(|a, b| a.score().partial_cmp(&b.score()).unwrap_or(std::cmp::Ordering::Equal));
    match best {
        Some(c) => c.ticks(lo, hi),
        None => Ticks { lo, hi, values: vec![lo, hi], exp: e0 },
    }
}

/// `lo..=hi` made finite, ordered and of positive width: non-finite ends
/// give `0..=1`, magnitudes are capped at 10^300 and an empty range is
/// padded by a tenth of its magnitude (or to `-1..=1`).
fn tick_domain(lo: f64, hi: f64) -> (f64, f64) {
    const LIMIT: f64 = 1e300;
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() { (lo.clamp(-LIMIT, LIMIT), hi.clamp(-LIMIT, LIMIT)) } else { (0.0, 1.0) };
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    let mid_mag = lo.abs().max(hi.abs());
    if hi - lo <= mid_mag * 1e-9 {
        let pad = if mid_mag == 0.0 { 1.0 } else { mid_mag * 0.1 };
        lo -= pad;
        hi += pad;
        if hi - lo <= 0.0 || !(hi - lo).is_finite() {
            lo = -1.0;
            hi = 1.0;
        }
    }
    (lo, hi)
}

/// One way of cutting a domain into ticks, considered by [`nice_ticks`].
#[derive(Clone, Copy, Debug)]
struct Candidate {
    /// Number of ticks.
    n: f64,
    /// Share of the extended domain beyond the data (1 for a fixed range).
    waste: f64,
    /// Whether the domain is extended to multiples of the step.
    ext: bool,
    /// Mantissa of the step: 1, 2, 2.5 or 5.
    m: f64,
    /// Exponent of the step as [`Ticks::exp`] gives it.
    exp: i32,
    /// First and last tick as multiples of the step.
    k0: f64,
    k1: f64,
}

/// Every candidate step from 10^(e0-2) to 5 × 10^(e0+1) for `lo..=hi`
/// (a domain of positive width whose order of magnitude is `e0`); extended
/// domains only with `extend`, and 2.5 only for a fixed range.
fn tick_candidates(lo: f64, hi: f64, e0: i32, extend: bool) -> Vec<Candidate> {
    let span = hi - lo;
    let mut candidates = Vec::new();
    for exp in (e0 - 2)..=(e0 + 1) {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * 10f64.powi(exp);
            if !(step > 0.0 && step.is_finite()) {
                continue;
            }
            for ext in [true, false] {
                if ext && !extend {
                    continue;
                }
                let (k0, k1) = if ext {
                    ((lo / step + 1e-9).floor(), (hi / step - 1e-9).ceil())
                } else {
                    ((lo / step - 1e-9).ceil(), (hi / step + 1e-9).floor())
                };
                let n = k1 - k0 + 1.0;
                if !(n.is_finite() && n >= 1.0) {
                    continue;
                }
                let waste = if ext { (k1 - k0) * step / span } else { 1.0 };
                // 2.5 only where 1, 2 and 5 give no 4–6 ticks in a fixed range
                if m == 2.5 && ext {
                    continue;
                }
                candidates.push(Candidate { n, waste, ext, m, exp: if m == 2.5 { exp - 1 } else { exp }, k0, k1 });
            }
        }
    }
    candidates
}

impl Candidate {
    /// The sort key of a candidate: lowest is best (see [`nice_ticks`]).
    fn score(&self) -> (f64, f64, f64, f64, f64) {
        let n = self.n;
        let off = if (4.0..=6.0).contains(&n) { 0.0 } else { 1.0 + (n - 5.0).abs() };
        (off, if self.ext { 0.0 } else { 1.0 }, if self.m == 2.5 { 1.0 } else { 0.0 }, self.waste, (n - 5.0).abs())
    }

    /// The ticks of this candidate on the domain `lo..=hi`.
    fn ticks(&self, lo: f64, hi: f64) -> Ticks {
        let Candidate { n, ext, m, exp, k0, k1, .. } = *self;
        // the step is m × 10^exp, or 25 × 10^exp for m = 2.5
        let (m, e) = if m == 2.5 { (25.0, exp) } else { (m, exp) };
        let scale = 10f64.powi(e.abs());
        let value = |k: f64| if e >= 0 { k * m * scale } else { k * m / scale };
        let values: Vec<f64> = (0..n as usize).map(|i| value(k0 + i as f64)).filter(|v| v.is_finite()).collect();
        let (dlo, dhi) = if ext { (value(k0), value(k1)) } else { (lo, hi) };
        let (dlo, dhi) = if dlo.is_finite() && dhi.is_finite() && dhi > dlo { (dlo, dhi) } else { (lo, hi) };
        Ticks { lo: dlo, hi: dhi, values, exp }
    }
}

/// A linear map from a data domain onto a pixel range, clamped to the range.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Scale {
    /// Maps `d0..=d1` onto `p0..=p1` (either may be decreasing).
    pub fn new(d0: f64, d1: f64, p0: f64, p1: f64) -> Scale {
        Scale { d0, d1, p0, p1 }
    }

    /// The pixel of data value `v`, clamped to the pixel range (finite for
    /// every finite domain).
    pub fn at(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        let t = if span != 0.0 && span.is_finite() { (v - self.d0) / span } else { 0.5 };
        let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
        self.p0 + t * (self.p1 - self.p0)
    }
}

/// The automatic or given domain of one axis over `values`.
pub(crate) fn axis_ticks(values: impl Iterator<Item = f64>, range: Option<(f64, f64)>) -> Ticks {
    if let Some((a, b)) = range
        && a.is_finite()
        && b.is_finite()
        && a != b
    {
        return nice_ticks(a.min(b), a.max(b), false);
    }
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return nice_ticks(0.0, 1.0, true);
    }
    nice_ticks(lo, hi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_four_to_six() {
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut cases = vec![(0.0, 1.0), (0.0, 0.693), (1.0, 40.0), (5.1, 14.9), (0.45, 0.71), (-3.0, 2.0), (0.0, 3600.0), (1e-9, 3e-9)];
        for _ in 0..3000 {
            let scale = 10f64.powf(rnd() * 12.0 - 6.0);
            let a = (rnd() - 0.5) * scale * 10.0;
            let b = a + rnd() * scale;
            cases.push((a, b));
        }
        let mut odd = 0;
        let total = cases.len();
        for (lo, hi) in cases {
            for extend in [true, false] {
                let t = nice_ticks(lo, hi, extend);
                let n = t.values.len();
                // a fixed range cannot always be cut into 4–6 nice steps
                let allowed = if extend { 4..=6 } else { 3..=7 };
                assert!(allowed.contains(&n), "{lo}..{hi} extend={extend}: {:?}", t);
                if !extend && !(4..=6).contains(&n) {
                    odd += 1;
                }
                let tol = (hi - lo).abs() * 1e-6;
                if extend {
                    assert!(t.lo <= lo + tol && t.hi >= hi - tol, "{lo}..{hi}: {t:?}");
                }
                assert!(t.hi > t.lo && t.values.iter().all(|v| v.is_finite()));
                for w in t.values.windows(2) {
                    assert!(w[1] > w[0]);
                }
                let labels: Vec<String> = t.values.iter().map(|v| t.label(*v)).collect();
                let mut dedup = labels.clone();
                dedup.dedup();
                assert_eq!(dedup, labels, "{lo}..{hi}: labels {labels:?}");
                assert!(labels.iter().all(|l| l.len() <= 12 && !l.contains("NaN") && !l.contains("inf")), "{labels:?}");
            }
        }
        assert!(odd * 8 < total, "{odd} of {total} fixed ranges without 4–6 ticks");
        let t = nice_ticks(0.0, 1.0, true);
        assert_eq!(t.values.iter().map(|v| t.label(*v)).collect::<Vec<_>>(), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = nice_ticks(1.0, 40.0, true);
        assert_eq!(t.values.iter().map(|v| t.label(*v)).collect::<Vec<_>>(), ["0", "10", "20", "30", "40"]);
    }

    #[test]
    fn degenerate_ticks_are_finite() {
        for (lo, hi) in [(0.0, 0.0), (5.0, 5.0), (f64::NAN, 1.0), (1.0, f64::INFINITY), (3.0, -3.0), (-1e308, 1e308), (1e-320, 1e-320)] {
            let t = nice_ticks(lo, hi, true);
            assert!(t.lo.is_finite() && t.hi.is_finite() && t.hi > t.lo, "{lo}..{hi}: {t:?}");
            assert!(!t.values.is_empty());
        }
    }
}
