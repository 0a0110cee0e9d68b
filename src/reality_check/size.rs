//! When a Reality Check's p-values are less trustworthy than their nominal level: the rule behind
//! `FamilyRealityCheckResult.size_warning`, and the data-driven measure it reads.
//!
//! The size study (docs/size_study.md) found two ways the tests come to or leave the edge of the
//! band [3.5 %, 6.5 %] at nominal 5 %: few bootstrap blocks per series (T / L small: the RC and
//! Romano–Wolf over-reject unscaled, and sit at the band's edge with the default scale) and serial
//! dependence that outlasts the block length (every unscaled test over-rejects; the default scale
//! corrects it where measured). (A third, many hypotheses with few blocks, where the pure
//! bootstrap-t SPA was conservative, went with the mixed studentization of issue 26: 3.8–4.0 %
//! there now.) The first is read off the configuration; the second needs the data, so the
//! engine measures it: [`variance_share`] is the share of each series' long-run variance (the
//! variance of its mean, times T) that the block bootstrap reproduces. A block bootstrap keeps the
//! autocovariances within a block and drops those across blocks: the stationary bootstrap weighs
//! lag k by (1 − 1/L)^k, moving blocks of size b by (1 − k/b)⁺ (Politis & Romano 1994; Künsch
//! 1989). The long-run variance itself is the flat-top lag-window estimate with the data-driven
//! bandwidth of Politis & White (2004), the estimate their automatic block length is built on.
//! A share below [`SHARE_THRESHOLD`] means the bootstrap's null is too narrow and the p-values
//! too small.

#![warn(missing_docs)]

use realfft::RealFftPlanner;

use crate::reality_check::bootstrap::Method;
use crate::reality_check::omega::autocovariances_fft;
use crate::reality_check::{Layout, Matrix};

/// Below this share of the long-run variance the result warns. Chosen on the size study's designs
/// (`scripts/variance_share_study.py --panels 200`): on every φ = 0.3 and i.i.d. design at L = 12
/// the median over columns measured 0.945–1.000 (5th–95th percentiles over 200 panels a design;
/// 1 panel in 2,400 below 0.92, none below 0.9); on φ = 0.7, where the RC rejected 9.25 % at
/// nominal 5 %, 0.817–0.852 (every panel below 0.9).
pub const SHARE_THRESHOLD: f64 = 0.9;

/// How many series (the first, in hypothesis order) the share is measured on: enough for a
/// stable median, cheap at any K (each costs O(T·√T)).
pub const SHARE_COLUMNS: usize = 50;

/// Fewer blocks per series (T / L) than this: the RC and Romano–Wolf over-reject.
pub const FEW_BLOCKS: f64 = 40.0;

const FEW_BLOCKS_MEASURED: &str = "on null AR(1) panels with T = 250, K = 10, L = 12 (T / L ≈ 21; \
4,000 panels, B = 299) White's unscaled RC and Romano–Wolf's family-wise error rejected 7.15 % \
(6.5 % under a partial null), the default variance-scaled RC 6.4 % (inside the band, near its \
edge; 5.9 % under the partial null), and the studentized SPA (consistent) 5.5 % at nominal 5 %; at \
T = 500 (T / L ≈ 42) the RC rejected 5.9 % unscaled, 5.3 % scaled";

const DEPENDENCE_MEASURED: &str = "the serial dependence outlasts the blocks, so the bootstrap's \
null is too narrow: on null AR(1) panels with φ = 0.7, T = 1,000, K = 10, L = 12 (share about \
0.83; 2,000–4,000 panels, B = 299) White's unscaled RC rejected 9.25–9.9 % and the unscaled \
studentized SPA (consistent) 7.95–8.2 % at nominal 5 %; the default variance-scaled null corrects \
it there (RC and Romano–Wolf 5.6 %, studentized SPA 5.7 %), a correction measured at shares down \
to about 0.82 only";

/// The flat-top lag window of Politis & Romano (1995): 1 up to half the bandwidth, then linear
/// down to 0 at the bandwidth.
fn flat_top(u: f64) -> f64 {
    let u = u.abs();
    if u <= 0.5 {
        1.0
    } else if u <= 1.0 {
        2.0 * (1.0 - u)
    } else {
        0.0
    }
}

/// The weight a block bootstrap gives lag `k` in the variance of its resampled mean.
fn bootstrap_weight(method: &Method, k: usize) -> f64 {
    match *method {
        Method::Stationary { avg_block_length } => (1.0 - 1.0 / avg_block_length).powi(k as i32),
        Method::BlockFixed { block_size } => (1.0 - k as f64 / block_size as f64).max(0.0),
    }
}

/// The share of one series' long-run variance that `method` reproduces: Σ λ(k/M) w_k γ̂_k over
/// Σ λ(k/M) γ̂_k (k from −M to M), with λ the flat-top window, w_k the bootstrap's lag weight and
/// M = 2·m̂, m̂ the smallest lag after which K_N = max(5, ⌈√log10 n⌉) autocorrelations in a row
/// lie inside ±2·√(log10 n / n) (Politis & White 2004, capped at ⌈√n⌉ + K_N). NaN values are
/// skipped (the series is read as its observed values in order). `None` when fewer than 8 values
/// are observed, the series is constant, or the long-run variance estimate is not positive
/// (nothing to judge by).
pub fn variance_share(series: &[f64], method: &Method, planner: &mut RealFftPlanner<f64>) -> Option<f64> {
    let mut x: Vec<f64> = series.iter().copied().filter(|v| v.is_finite()).collect();
    let n = x.len();
    if n < 8 {
        return None;
    }
    let nf = n as f64;
    let mean = x.iter().sum::<f64>() / nf;
    x.iter_mut().for_each(|v| *v -= mean);
    let k_n = 5usize.max(nf.log10().sqrt().ceil() as usize);
    let m_max = ((nf.sqrt().ceil() as usize) + k_n).min(n - 1);
    // γ̂_k with divisor n (Hansen's ω uses the same transform): O(n log n) for every lag at once.
    let gamma = autocovariances_fft(&x, planner);
    if gamma.len() < m_max + 1 {
        return None;
    }
    let g0 = gamma[0];
    if g0.is_nan() || g0 <= 0.0 {
        return None;
    }
    let band = 2.0 * (nf.log10() / nf).sqrt();
    let inside = |lag: usize| lag > m_max || (gamma[lag] / g0).abs() < band;
    let m_hat = (0..=m_max).find(|&m| (1..=k_n).all(|j| inside(m + j))).unwrap_or(m_max);
    let bandwidth = (2 * m_hat).min(m_max);
    let (mut lrv, mut boot) = (g0, g0);
    for (k, g) in gamma.iter().enumerate().take(bandwidth + 1).skip(1) {
        let lam = flat_top(k as f64 / bandwidth as f64);
        lrv += 2.0 * lam * g;
        boot += 2.0 * lam * bootstrap_weight(method, k) * g;
    }
    if !(lrv > 0.0 && lrv.is_finite() && boot.is_finite()) {
        return None;
    }
    Some(boot / lrv)
}

/// [`variance_share`] of each of the first [`SHARE_COLUMNS`] columns of a T×K matrix (either
/// layout), in column order.
pub fn matrix_shares(m: &Matrix<'_>, method: &Method) -> Vec<Option<f64>> {
    let mut planner = RealFftPlanner::new();
    (0..m.k.min(SHARE_COLUMNS))
        .map(|j| {
            let column: Vec<f64> = match m.layout {
                Layout::ColMajor => m.values.get(j * m.t..(j + 1) * m.t).map(<[f64]>::to_vec).unwrap_or_default(),
                Layout::RowMajor => (0..m.t).filter_map(|i| m.values.get(i * m.k + j).copied()).collect(),
            };
            variance_share(&column, method, &mut planner)
        })
        .collect()
}

/// The median of the given shares (`None` values left out); `None` when no series gives one. The
/// median of an even count is the mean of the middle two.
pub fn median_share(shares: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = shares.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

/// The factor the default RC and Romano–Wolf multiply their bootstrap deviations by:
/// c = 1/√min(1, s), s the median [`variance_share`] of the first [`SHARE_COLUMNS`] series
/// ([`median_share`]). The bootstrap's null spread is about √s of the mean's standard deviation
/// where the blocks miss part of the dependence, so c restores it; one factor for the family (a
/// per-column factor picks up each column's estimation noise in the maximum and lost power on
/// heavy tails: docs/size_study.md). 1 when no share was measured or it is not a positive number.
pub fn null_scale_factor(share: Option<f64>) -> f64 {
    match share {
        Some(s) if s.is_finite() && s > 0.0 => 1.0 / s.min(1.0).sqrt(),
        _ => 1.0,
    }
}

/// The size warning of a run, or `None` when the configuration and the data are inside what the
/// size study found to hold its size: a sentence per reason, each with the measured size.
/// L is the method's (average block length, or block size); `share` the median
/// [`variance_share`] of the data, when measured.
pub fn size_warning(n_periods: usize, n_hypotheses: usize, method: &Method, share: Option<f64>) -> Option<String> {
    let block_length = match *method {
        Method::Stationary { avg_block_length } => avg_block_length,
        Method::BlockFixed { block_size } => block_size as f64,
    };
    if n_periods < 2 || n_hypotheses < 1 {
        return None;
    }
    let blocks = n_periods as f64 / block_length;
    let mut parts = Vec::new();
    if blocks < FEW_BLOCKS {
        parts.push(format!("{blocks:.1} blocks is below {FEW_BLOCKS}: {FEW_BLOCKS_MEASURED}"));
    }
    if let Some(s) = share.filter(|s| *s < SHARE_THRESHOLD) {
        parts.push(format!(
            "the bootstrap reproduces {s:.2} of the series' long-run variance (median over the first \
             {SHARE_COLUMNS} series; below {SHARE_THRESHOLD}): {DEPENDENCE_MEASURED}"
        ));
    }
    if parts.is_empty() {
        return None;
    }
    let kind = match method {
        Method::Stationary { .. } => "average block length",
        Method::BlockFixed { .. } => "block size",
    };
    let advice = if share.is_some_and(|s| s < SHARE_THRESHOLD) {
        format!("a longer {kind} captures more of the dependence (at the cost of fewer blocks)")
    } else {
        format!("more periods, or a shorter {kind} where the serial dependence allows, give more blocks")
    };
    Some(format!(
        "size: T / L = {n_periods} / {block_length}; {}. Read p-values near 0.05 with that in mind; {advice} \
         (docs/size_study.md).",
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stationary(l: f64) -> Method {
        Method::Stationary { avg_block_length: l }
    }

    fn share(x: &[f64], m: &Method) -> Option<f64> {
        variance_share(x, m, &mut RealFftPlanner::new())
    }

    /// AR(1) with a small deterministic generator (no crate): enough to check the estimate's
    /// limit against the closed form.
    fn ar1(phi: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        let mut uniform = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut out = Vec::with_capacity(n);
        let mut x = 0.0;
        for i in 0..n + 100 {
            // Box–Muller
            let (u1, u2) = (uniform(), uniform());
            let e = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            x = phi * x + e;
            if i >= 100 {
                out.push(x);
            }
        }
        out
    }

    /// Closed form for AR(1): (1 + 2 Σ φ^k w_k) / (1 + 2 Σ φ^k), w_k = q^k: (1 + 2φq/(1−φq)) /
    /// (1 + 2φ/(1−φ)).
    fn closed_form(phi: f64, l: f64) -> f64 {
        let q = 1.0 - 1.0 / l;
        (1.0 + 2.0 * phi * q / (1.0 - phi * q)) / (1.0 + 2.0 * phi / (1.0 - phi))
    }

    #[test]
    fn share_of_a_long_ar1_is_near_the_closed_form() {
        for (phi, tol) in [(0.3, 0.02), (0.7, 0.04)] {
            let got = share(&ar1(phi, 200_000, 7), &stationary(12.0)).unwrap();
            let want = closed_form(phi, 12.0);
            assert!((got - want).abs() < tol, "phi {phi}: {got} vs {want}");
        }
        // White noise: m̂ = 0 almost surely at this length, so the share is exactly 1.
        let white = share(&ar1(0.0, 50_000, 3), &stationary(12.0)).unwrap();
        assert!((white - 1.0).abs() < 0.01, "{white}");
    }

    #[test]
    fn fixed_blocks_weigh_lags_linearly() {
        // Blocks far longer than the dependence keep every lag it has; b = 1 keeps only γ0.
        let x = ar1(0.5, 100_000, 11);
        let long = share(&x, &Method::BlockFixed { block_size: 1000 }).unwrap();
        let one = share(&x, &Method::BlockFixed { block_size: 1 }).unwrap();
        assert!(long > 0.98, "{long}");
        // b = 1 keeps only γ0: the share is γ0 / LRV = (1 − φ) / (1 + φ) for AR(1).
        assert!((one - (1.0 - 0.5) / (1.0 + 0.5)).abs() < 0.03, "{one}");
    }

    #[test]
    fn nothing_to_judge_by_gives_none() {
        assert_eq!(share(&[1.0; 100], &stationary(12.0)), None);
        assert_eq!(share(&[1.0, 2.0, f64::NAN, 3.0], &stationary(12.0)), None);
        assert_eq!(share(&[], &stationary(12.0)), None);
        assert_eq!(median_share(&[None, None]), None);
        assert_eq!(median_share(&[Some(0.5), None, Some(0.7)]), Some(0.6));
        assert_eq!(median_share(&[Some(0.9), Some(0.1), Some(0.5)]), Some(0.5));
    }

    #[test]
    fn nan_gaps_are_skipped() {
        let x = ar1(0.3, 5000, 5);
        let mut gappy = x.clone();
        gappy.insert(10, f64::NAN);
        gappy.push(f64::NAN);
        assert_eq!(share(&x, &stationary(12.0)), share(&gappy, &stationary(12.0)));
    }

    #[test]
    fn warning_reasons_and_their_thresholds() {
        let m = stationary(12.0);
        assert!(size_warning(250, 10, &m, None).unwrap().contains("20.8 blocks is below 40"));
        assert_eq!(size_warning(480, 10, &m, None), None); // exactly 40 blocks
        assert!(size_warning(479, 10, &m, None).is_some());
        // Many hypotheses with few blocks: inside the band since issue 26's mixed studentization.
        assert_eq!(size_warning(500, 100, &m, None), None);
        assert_eq!(size_warning(480, 1000, &m, None), None);
        assert_eq!(size_warning(1000, 10, &m, Some(SHARE_THRESHOLD)), None);
        let dep = size_warning(1000, 10, &m, Some(0.83)).unwrap();
        assert!(dep.contains("reproduces 0.83") && dep.contains("a longer average block length"), "{dep}");
        assert_eq!(size_warning(1, 10, &m, Some(0.1)), None);
        assert_eq!(size_warning(1000, 0, &m, Some(0.1)), None);
        let fixed = size_warning(250, 10, &Method::BlockFixed { block_size: 12 }, None).unwrap();
        assert!(fixed.contains("block size") && fixed.starts_with("size: T / L = 250 / 12;"), "{fixed}");
    }
}
