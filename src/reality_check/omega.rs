//! Hansen's ω_k: the stationary-bootstrap kernel estimate of each column's long-run standard
//! deviation, from its autocovariances (computed by FFT, O(T log T) a column).

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// γ_i, i = 0..n−1, of the (already centred) series `d`, via FFT: O(n log n).
pub fn autocovariances_fft(d: &[f64], planner: &mut FftPlanner<f64>) -> Vec<f64> {
    let mut bufs = FftBufs::default();
    autocovariances_fft_into(d, planner, &mut bufs);
    bufs.gamma
}

/// Buffers [`autocovariances_fft`] reuses from one series to the next (FFT input and scratch).
#[derive(Default)]
struct FftBufs {
    buf: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    gamma: Vec<f64>,
}

/// [`autocovariances_fft`] into `bufs.gamma`, without allocating per series (the same
/// transforms, the same bits).
fn autocovariances_fft_into(d: &[f64], planner: &mut FftPlanner<f64>, bufs: &mut FftBufs) {
    let n = d.len();
    bufs.gamma.clear();
    if n == 0 {
        return;
    }
    let size = (2 * n).next_power_of_two();
    bufs.buf.clear();
    bufs.buf.extend(d.iter().map(|&v| Complex::new(v, 0.0)));
    bufs.buf.resize(size, Complex::new(0.0, 0.0));
    let fwd = planner.plan_fft_forward(size);
    let inv = planner.plan_fft_inverse(size);
    let need = fwd.get_inplace_scratch_len().max(inv.get_inplace_scratch_len());
    if bufs.scratch.len() < need {
        bufs.scratch.resize(need, Complex::new(0.0, 0.0));
    }
    fwd.process_with_scratch(&mut bufs.buf, &mut bufs.scratch[..fwd.get_inplace_scratch_len()]);
    for z in bufs.buf.iter_mut() {
        *z = Complex::new(z.norm_sqr(), 0.0);
    }
    inv.process_with_scratch(&mut bufs.buf, &mut bufs.scratch[..inv.get_inplace_scratch_len()]);
    let scale = 1.0 / (size as f64 * n as f64);
    bufs.gamma.extend(bufs.buf.iter().take(n).map(|z| z.re * scale));
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
    planner: FftPlanner<f64>,
    kappa: Vec<f64>,
    bufs: FftBufs,
    d: Vec<f64>,
}

impl OmegaWorker {
    /// For the stationary-bootstrap kernel of average block length `block_length` (q = 1/L).
    pub fn new(block_length: f64) -> Self {
        OmegaWorker {
            q: 1.0 / block_length,
            planner: FftPlanner::new(),
            kappa: Vec::new(),
            bufs: FftBufs::default(),
            d: Vec::new(),
        }
    }

    /// ω of the observations of one column (`values` in row order, NaN skipped) around their
    /// mean `m`; NaN when fewer than two observations or ω² ≤ 0.
    pub fn omega(&mut self, values: impl Iterator<Item = f64>, m: f64) -> f64 {
        if m.is_nan() {
            return f64::NAN;
        }
        self.d.clear();
        self.d.extend(values.filter(|v| !v.is_nan()).map(|v| v - m));
        if self.d.len() < 2 {
            return f64::NAN;
        }
        if self.kappa.len() != self.d.len() {
            self.kappa = kernel_weights(self.d.len(), self.q);
        }
        autocovariances_fft_into(&self.d, &mut self.planner, &mut self.bufs);
        let w2 = omega_squared_with(&self.bufs.gamma, &self.kappa);
        if w2 > 0.0 {
            w2.sqrt()
        } else {
            f64::NAN
        }
    }
}
