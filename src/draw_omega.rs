//! Per-draw ω*_{b,k} for the studentized SPA (a bootstrap-t).
//!
//! The observed studentized statistic divides by ω̂_k, an estimate with its own sampling noise
//! (relative s.d. about sqrt(2L/T)); dividing every bootstrap draw by the same fixed ω̂_k gives
//! draws with unit variance, so the null is too light-tailed for the observed statistic and the
//! test over-rejects (measured 7.9 % at nominal 5 %, see docs/size_study.md). Studentizing each
//! draw by its own ω*_{b,k} carries that noise into the null.
//!
//! ω* is the block variance of Götze and Künsch (1996) over the draw's runs: a run is a maximal
//! stretch of consecutive period indices `[a, b)` (a block that wraps past T−1 is two runs).
//! With `c_{j,k}` the observations of column k in run j, `n*_k = Σ_j c_{j,k}` and
//! `S_{j,k} = Σ_{t in run j, observed} (x_{t,k} − m_k)`:
//!
//! ```text
//! ω*²_{b,k} = (1/n*_k) Σ_j (S_{j,k} − c_{j,k} d_{b,k})²,   d_{b,k} = m*_{b,k} − m_k,
//! scale*_{b,k} = sqrt(n*_k) / ω*_{b,k}
//! ```
//!
//! i.e. the sum over runs of the squared run sums of `x* − m̄*`. Fewer than two runs with an
//! observation (or a zero variance) leave ω* undefined: that draw uses the fixed `√n_k/ω̂_k`.
//! The run sums come from the centred prefix sums already built for the kernel, so a draw costs
//! (number of runs)·K.

use crate::error::{Error, Result};
use crate::reality_check::Prepared;

/// Reusable buffers of one worker.
#[derive(Debug, Default)]
pub struct DrawOmega {
    runs: Vec<(usize, usize)>,
    q: Vec<f64>,
    n: Vec<u64>,
    nruns: Vec<u32>,
}

/// Merge segments `[a, b)` that continue each other into maximal runs (order kept).
fn merge_runs(segs: &[(usize, usize)], out: &mut Vec<(usize, usize)>) {
    out.clear();
    for &(a, b) in segs {
        match out.last_mut() {
            Some(last) if last.1 == a => last.1 = b,
            _ => out.push((a, b)),
        }
    }
}

impl DrawOmega {
    /// Fill `scale[k] = sqrt(n*_k)/ω*_{b,k}` for one draw of `p`, given by its segments `segs`
    /// and its centred means `d` (NaN: no observation). `fallback[k]` is used where ω* is
    /// undefined; columns with `d` NaN get NaN.
    pub fn scales(
        &mut self,
        p: &Prepared,
        segs: &[(usize, usize)],
        d: &[f64],
        fallback: &[f64],
        scale: &mut [f64],
    ) -> Result<()> {
        let k = p.k;
        let (prefix, prefix_cnt) = p.prefix_parts();
        merge_runs(segs, &mut self.runs);
        self.q.clear();
        self.q.resize(k, 0.0);
        let row = |r: usize| prefix.get(r * k..(r + 1) * k);
        match prefix_cnt {
            None => {
                let mut n = 0u64;
                for &(a, b) in &self.runs {
                    let (Some(pa), Some(pb)) = (row(a), row(b)) else {
                        return Err(Error::Internal(format!("run [{a}, {b}) outside the prefix sums")));
                    };
                    let c = (b - a) as f64;
                    for (((q, &va), &vb), &dc) in self.q.iter_mut().zip(pa).zip(pb).zip(d) {
                        let e = (vb - va) - c * dc;
                        *q += e * e;
                    }
                    n += (b - a) as u64;
                }
                self.n.clear();
                self.n.resize(k, n);
                self.nruns.clear();
                self.nruns.resize(k, u32::try_from(self.runs.len()).unwrap_or(u32::MAX));
            }
            Some(pc) => {
                self.n.clear();
                self.n.resize(k, 0);
                self.nruns.clear();
                self.nruns.resize(k, 0);
                for &(a, b) in &self.runs {
                    let (Some(pa), Some(pb)) = (row(a), row(b)) else {
                        return Err(Error::Internal(format!("run [{a}, {b}) outside the prefix sums")));
                    };
                    let (Some(ca), Some(cb)) = (pc.get(a * k..(a + 1) * k), pc.get(b * k..(b + 1) * k)) else {
                        return Err(Error::Internal(format!("run [{a}, {b}) outside the count prefix")));
                    };
                    for col in 0..k {
                        let c = cb[col].wrapping_sub(ca[col]);
                        if c == 0 {
                            continue;
                        }
                        let e = (pb[col] - pa[col]) - f64::from(c) * d[col];
                        self.q[col] += e * e;
                        self.n[col] += u64::from(c);
                        self.nruns[col] += 1;
                    }
                }
            }
        }
        for col in 0..k {
            scale[col] = if d[col].is_nan() {
                f64::NAN
            } else if self.nruns[col] >= 2 && self.q[col] > 0.0 && self.q[col].is_finite() {
                // sqrt(n*) / sqrt(q / n*) = n* / sqrt(q)
                self.n[col] as f64 / self.q[col].sqrt()
            } else {
                fallback[col]
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_only_contiguous_segments() {
        let mut out = Vec::new();
        merge_runs(&[(3, 5), (5, 9), (0, 2), (7, 8), (8, 9)], &mut out);
        assert_eq!(out, vec![(3, 9), (0, 2), (7, 9)]);
    }

    #[test]
    fn block_variance_by_definition() {
        use crate::reality_check::{Layout, Matrix};
        // One column, x = [1, 2, 4, 8], m = 3.75.
        let x = [1.0, 2.0, 4.0, 8.0];
        let p = Prepared::new(Matrix { values: &x, t: 4, k: 1, layout: Layout::RowMajor }, 2.0, false).unwrap();
        let mut w = DrawOmega::default();
        let mut scale = [0.0];
        // Segments that continue each other are one run: a single run -> the fallback.
        w.scales(&p, &[(0, 2), (2, 4)], &[0.0], &[7.0], &mut scale).unwrap();
        assert_eq!(scale[0], 7.0);
        // Runs [2,4) and [0,2): run sums of x - m are 4.5 and -4.5, d = 0, q = 40.5, n* = 4.
        w.scales(&p, &[(2, 4), (0, 2)], &[0.0], &[7.0], &mut scale).unwrap();
        assert!((scale[0] - 4.0 / 40.5f64.sqrt()).abs() < 1e-15);
        // The draw [2,4),[2,4): m* = 6, d = 2.25; run sums of x* - m* are 0 and 0 -> fallback.
        w.scales(&p, &[(2, 4), (2, 4)], &[2.25], &[7.0], &mut scale).unwrap();
        assert_eq!(scale[0], 7.0);
        // NaN mean: NaN scale.
        w.scales(&p, &[(2, 4), (0, 2)], &[f64::NAN], &[7.0], &mut scale).unwrap();
        assert!(scale[0].is_nan());
    }
}
