//! Hansen's ω_k: the stationary-bootstrap kernel estimate of each column's long-run standard
//! deviation, from its autocovariances (computed by FFT, O(T log T) a column).
//!
//! The autocovariances come from one real-to-complex transform and its inverse, zero-padded to an
//! even length N ≥ 2n − 1 whose prime factors are 2, 3 and 5 (no wrap-around; [`fft_len`]: 51,200
//! for n = 25,000, where a power of two would be 65,536). A complex transform of the zero-padded
//! series did twice the work for an imaginary part that is zero: measured per column at
//! n = 25,000, 0.25–0.30 ms instead of 0.66 ms, and as close to a compensated direct sum of the
//! products (largest relative error of ω² over 20 series 7.0e-16 at 51,200 and 6.5e-16 at 50,000;
//! the complex power-of-two transform 8.3e-16). The values are not the complex transform's bit for
//! bit (within a few ulp); tests_py/rc/test_rc_exactness.py checks them against plain numpy.

#![warn(missing_docs)]

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

/// γ_i, i = 0..n−1, of the (already centred) series `d`, via FFT: O(n log n).
pub fn autocovariances_fft(d: &[f64], planner: &mut RealFftPlanner<f64>) -> Vec<f64> {
    let mut bufs = FftBufs::default();
    bufs.series.extend_from_slice(d);
    autocovariances_fft_into(planner, &mut bufs);
    bufs.gamma
}

/// The transform length for n values: even, no prime factor above 5 (the FFT's fast radices),
/// at least 2n − 1 and at most an eighth above it; among those, the one with the most factors of
/// two (radix-2/4 passes are the fastest), then the shortest. 51,200 = 2¹¹·5² for n = 25,000: at
/// that n a column took 0.254 ms against 0.290 at 50,000 = 2⁴·5⁵ and 0.335 at 65,536 (realfft
/// forward and inverse, measured together).
fn fft_len(n: usize) -> usize {
    let least = (2 * n).saturating_sub(1).max(2);
    let smooth = |size: usize| {
        let mut r = size;
        for p in [2, 3, 5] {
            while r.is_multiple_of(p) {
                r /= p;
            }
        }
        r == 1
    };
    let mut best: Option<usize> = None;
    for size in (least..=least + least / 8).filter(|s| s.is_multiple_of(2) && smooth(*s)) {
        if best.is_none_or(|b| size.trailing_zeros() > b.trailing_zeros()) {
            best = Some(size);
        }
    }
    // Only tiny series (n ≤ 21) find no such length within an eighth (checked for every n up to
    // 10⁶ outside the tests; the tests check a sample): they take the power of two above.
    best.unwrap_or_else(|| least.next_power_of_two())
}

/// Buffers [`autocovariances_fft`] reuses from one series to the next (the padded series, its
/// spectrum and the transforms' scratch).
#[derive(Default)]
struct FftBufs {
    series: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    gamma: Vec<f64>,
}

/// [`autocovariances_fft`] of the series the caller put in `bufs.series` (its n values, written
/// there directly so that a column is copied once), into `bufs.gamma`, without allocating per
/// series. `bufs.series` is padded and transformed in place.
fn autocovariances_fft_into(planner: &mut RealFftPlanner<f64>, bufs: &mut FftBufs) {
    let n = bufs.series.len();
    bufs.gamma.clear();
    if n == 0 {
        return;
    }
    let size = fft_len(n);
    bufs.series.resize(size, 0.0);
    let fwd = planner.plan_fft_forward(size);
    let inv = planner.plan_fft_inverse(size);
    bufs.spectrum.clear();
    bufs.spectrum.resize(size / 2 + 1, Complex::new(0.0, 0.0));
    let need = fwd.get_scratch_len().max(inv.get_scratch_len());
    if bufs.scratch.len() < need {
        bufs.scratch.resize(need, Complex::new(0.0, 0.0));
    }
    // Lengths agree by construction (series = size, spectrum = size/2 + 1, scratch ≥ need):
    // the transforms cannot fail; if they did, γ is left empty and ω is NaN.
    if fwd.process_with_scratch(&mut bufs.series, &mut bufs.spectrum, &mut bufs.scratch).is_err() {
        return;
    }
    for z in bufs.spectrum.iter_mut() {
        // |X|² is real; the inverse of a real even spectrum needs exact zeros at 0 and N/2.
        *z = Complex::new(z.norm_sqr(), 0.0);
    }
    if inv.process_with_scratch(&mut bufs.spectrum, &mut bufs.series, &mut bufs.scratch).is_err() {
        return;
    }
    let scale = 1.0 / (size as f64 * n as f64);
    bufs.gamma.extend(bufs.series.iter().take(n).map(|v| v * scale));
}

/// ω² = γ_0 + 2 Σ_{i=1}^{n−1} κ(n,i) γ_i with the stationary-bootstrap kernel
/// κ(n,i) = ((n−i)/n)(1−q)^i + (i/n)(1−q)^{n−i}.
pub fn omega_squared(gamma: &[f64], q: f64) -> f64 {
    omega_squared_with(gamma, &kernel_weights(gamma.len(), q))
}

/// κ(n,i), i = 0..n−1 (index 0 unused), as [`omega_squared`] defines them.
fn kernel_weights(n: usize, q: f64) -> Vec<f64> {
    let nf = n as f64;
    let one_q = 1.0 - q;
    (0..n)
        .map(|i| {
            let fi = i as f64;
            ((nf - fi) / nf) * one_q.powf(fi) + (fi / nf) * one_q.powf(nf - fi)
        })
        .collect()
}

/// [`omega_squared`] with the weights computed once for every column of the same length (the
/// same expressions, the same order of additions: the same bits).
fn omega_squared_with(gamma: &[f64], kappa: &[f64]) -> f64 {
    if gamma.is_empty() {
        return f64::NAN;
    }
    let mut s = gamma[0];
    for (g, kappa) in gamma.iter().zip(kappa).skip(1) {
        s += 2.0 * kappa * g;
    }
    s
}

/// ω_k of one column at a time, with the FFT plans, kernel weights and buffers kept from one
/// column to the next (one per worker thread).
pub(super) struct OmegaWorker {
    q: f64,
    planner: RealFftPlanner<f64>,
    kappa: Vec<f64>,
    bufs: FftBufs,
}

impl OmegaWorker {
    /// For the stationary-bootstrap kernel of average block length `block_length` (q = 1/L).
    pub(crate) fn new(block_length: f64) -> Self {
        OmegaWorker {
            q: 1.0 / block_length,
            planner: RealFftPlanner::new(),
            kappa: Vec::new(),
            bufs: FftBufs::default(),
        }
    }

    /// ω of the observations of one column (`values` in row order, NaN skipped) around their
    /// mean `m`; NaN when fewer than two observations or ω² ≤ 0.
    pub(crate) fn omega(&mut self, values: impl Iterator<Item = f64>, m: f64) -> f64 {
        if m.is_nan() {
            return f64::NAN;
        }
        // The centred observations go straight into the FFT's input.
        let series = &mut self.bufs.series;
        series.clear();
        series.extend(values.filter(|v| !v.is_nan()).map(|v| v - m));
        let n = series.len();
        if n < 2 {
            return f64::NAN;
        }
        if self.kappa.len() != n {
            self.kappa = kernel_weights(n, self.q);
        }
        autocovariances_fft_into(&mut self.planner, &mut self.bufs);
        let w2 = omega_squared_with(&self.bufs.gamma, &self.kappa);
        if w2 > 0.0 {
            w2.sqrt()
        } else {
            f64::NAN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fft_len;

    #[test]
    fn fft_length_is_even_5_smooth_and_long_enough() {
        assert_eq!(fft_len(1), 2);
        assert_eq!(fft_len(7), 16); // 13..=14: 14 = 2·7; 16 = 2⁴
        assert_eq!(fft_len(300), 640); // 2⁷·5 beats 600 = 2³·3·5²
        assert_eq!(fft_len(25_000), 51_200);
        let smooth = |mut r: usize| {
            for p in [2, 3, 5] {
                while r.is_multiple_of(p) {
                    r /= p;
                }
            }
            r == 1
        };
        for n in (1..3000).chain((3000..500_000).step_by(997)) {
            let s = fft_len(n);
            let least = 2 * n - 1;
            assert!(s >= least && s.is_multiple_of(2) && smooth(s), "{n} -> {s}");
            assert!(n <= 21 || s <= least + least / 8, "{n} -> {s}: more than an eighth above");
        }
    }
}
