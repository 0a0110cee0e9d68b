//! The prefix-sum kernel equals the gather reference; results do not depend on the thread count;
//! NaN columns and T < 2 behave as docs/statistics.md says.

use crypto_analyzer_promotion::control::RunControl;
use crypto_analyzer_promotion::reality_check::bootstrap::{BootstrapSpec, Method, RngKind};
use crypto_analyzer_promotion::reality_check::{
    pvalues_from_null_matrix, run, IndexSource, Kernel, Layout, Matrix, NullCentering, Prepared, RcOptions, RcResult,
};

fn data(t: usize, k: usize, nan_every: usize) -> Vec<f64> {
    let mut state = 12345u64;
    let mut v = Vec::with_capacity(t * k);
    for i in 0..t * k {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let x = ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.45;
        v.push(if nan_every > 0 && i % nan_every == 3 { f64::NAN } else { x });
    }
    v
}

fn opts(t: usize, method: Method, kernel: Kernel) -> RcOptions {
    RcOptions {
        spec: BootstrapSpec { t, method, rng: RngKind::Default, seed: 7 },
        n_sim: 150,
        centering: NullCentering::Recentred,
        kernel,
        keep_matrix: true,
        compare_to: None,
        null_scale: 1.0,
    }
}

#[test]
fn prefix_kernel_equals_gather_reference() {
    for nan_every in [0usize, 7] {
        let (t, k) = (97, 6);
        let x = data(t, k, nan_every);
        let p = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 5.0, true).unwrap();
        for method in [Method::Stationary { avg_block_length: 5.0 }, Method::BlockFixed { block_size: 4 }] {
            let a = run(&p, &opts(t, method, Kernel::PrefixSum), IndexSource::Generated, &RunControl::new()).unwrap();
            let b = run(&p, &opts(t, method, Kernel::Gather), IndexSource::Generated, &RunControl::new()).unwrap();
            let (ma, mb) = (a.null_matrix.unwrap(), b.null_matrix.unwrap());
            for (x, y) in ma.iter().zip(&mb) {
                assert!((x - y).abs() <= 1e-12, "{x} vs {y}");
            }
            assert_eq!(a.rc_p_value, b.rc_p_value);
        }
    }
}

#[test]
fn tiled_kernel_on_data_larger_than_a_tile_equals_gather_and_single_simulation() {
    // K > 1024 columns: the prefix kernel splits the columns into tiles (prepare::tile_width),
    // in full chunks and in the partial last one.
    for nan_every in [0usize, 11] {
        let (t, k) = (300, 1100);
        let x = data(t, k, nan_every);
        let p = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 9.0, true).unwrap();
        let mut o = opts(t, Method::Stationary { avg_block_length: 9.0 }, Kernel::PrefixSum);
        o.n_sim = 70; // more than one chunk, the last one partial
        let a = run(&p, &o, IndexSource::Generated, &RunControl::new()).unwrap();
        o.kernel = Kernel::Gather;
        let b = run(&p, &o, IndexSource::Generated, &RunControl::new()).unwrap();
        let (ma, mb) = (a.null_matrix.unwrap(), b.null_matrix.unwrap());
        for (x, y) in ma.iter().zip(&mb) {
            assert!((x - y).abs() <= 1e-12 || (x.is_nan() && y.is_nan()), "{x} vs {y}");
        }
        let one = crypto_analyzer_promotion::reality_check::null_stats_one(&p, &o.spec, NullCentering::Recentred, 66)
            .unwrap();
        for (c, v) in one.iter().enumerate() {
            let m = ma[66 * k + c];
            assert!(v.to_bits() == m.to_bits() || (v.is_nan() && m.is_nan()));
        }
    }
}

/// The unstudentized SPA's p-values (lower, consistent, upper) from their definition on a null
/// matrix d = m* − m: a draw counts when fl(c · max(0, max_k (d_k + m_k − μ_k))) reaches
/// max(0, max_k m_k), μ by Hansen's recentring (the consistent threshold from ω and n_k).
fn spa_unstudentized_from_matrix(x: &[f64], r: &RcResult, c: f64) -> [f64; 3] {
    let (k, b) = (r.k, r.n_sim);
    let n: Vec<f64> = (0..k).map(|j| (0..r.t).filter(|&i| !x[i * k + j].is_nan()).count() as f64).collect();
    let m = &r.observed;
    let obs = m.iter().filter(|v| !v.is_nan()).fold(0.0f64, |a, &v| a.max(v));
    let matrix = r.null_matrix.as_ref().unwrap();
    let mu = |variant: usize, j: usize| -> f64 {
        let w = r.omega[j];
        let thr = if w.is_nan() { 0.0 } else { -((w * w / n[j]) * 2.0 * n[j].ln().ln().max(0.0)).sqrt() };
        match variant {
            0 => m[j].max(0.0),
            1 if m[j] >= thr => m[j],
            1 => 0.0,
            _ => m[j],
        }
    };
    let mut out = [0.0; 3];
    for (variant, p) in out.iter_mut().enumerate() {
        let count = (0..b)
            .filter(|&i| {
                let t_star = (0..k)
                    .filter(|&j| !matrix[i * k + j].is_nan() && !m[j].is_nan())
                    .fold(0.0f64, |a, j| a.max(matrix[i * k + j] + (m[j] - mu(variant, j))));
                c * t_star >= obs
            })
            .count();
        *p = (1 + count) as f64 / (b + 1) as f64;
    }
    out
}

/// The variance-share scale c of the RC, Romano–Wolf and the SPA (applied after the kernel: to the
/// null maxima, and to the counts through exact thresholds) gives, bit for bit, what the
/// definition gives from the scaled matrix c·(m* − m); the studentized SPA's p-values can only
/// rise; c = 1 is the unscaled run.
#[test]
fn null_scale_equals_the_scaled_matrix_for_every_test() {
    for nan_every in [0usize, 7] {
        let (t, k) = (120, 9);
        let mut x = data(t, k, nan_every);
        for row in 0..t {
            x[row * k] += 0.06; // an edge, so that the stepdown has p-values of every size
            x[row * k + 1] += 0.03;
        }
        let p = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 6.0, false).unwrap();
        let mut o = opts(t, Method::Stationary { avg_block_length: 6.0 }, Kernel::PrefixSum);
        let plain = run(&p, &o, IndexSource::Generated, &RunControl::new()).unwrap();
        let (mut moved, mut spa_moved) = (false, false);
        let u0 = plain.spa_unstudentized;
        let want_u0 = spa_unstudentized_from_matrix(&x, &plain, 1.0);
        assert_eq!([u0.lower, u0.consistent, u0.upper].map(f64::to_bits), want_u0.map(f64::to_bits));
        for c in [1.0 / 0.83f64.sqrt(), 1.016, 1.5, 3.0] {
            o.null_scale = c;
            let got = run(&p, &o, IndexSource::Generated, &RunControl::new()).unwrap();
            let matrix = got.null_matrix.clone().unwrap();
            // The matrix is reported as drawn.
            assert_eq!(
                matrix.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                plain.null_matrix.clone().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let scaled: Vec<f64> = matrix.iter().map(|v| c * v).collect();
            let want = pvalues_from_null_matrix(&got.observed, &scaled, o.n_sim).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.null_max), bits(&want.null_max), "c={c}");
            assert_eq!(got.rc_p_value.to_bits(), want.rc_p_value.to_bits(), "c={c}");
            assert_eq!(bits(&got.romano_wolf), bits(&want.romano_wolf), "c={c}");
            let u = got.spa_unstudentized;
            let want_u = spa_unstudentized_from_matrix(&x, &got, c);
            assert_eq!([u.lower, u.consistent, u.upper].map(f64::to_bits), want_u.map(f64::to_bits), "c={c}");
            let (s, s0) = (got.spa_studentized, plain.spa_studentized);
            assert!(s.lower >= s0.lower && s.consistent >= s0.consistent && s.upper >= s0.upper, "c={c}");
            assert_eq!(got.null_scale, c);
            moved |= got.romano_wolf != plain.romano_wolf;
            spa_moved |= got.spa_unstudentized != plain.spa_unstudentized && got.spa_studentized != s0;
            assert!(got.rc_p_value >= plain.rc_p_value, "a wider null cannot lower the p-value");
        }
        assert!(moved, "the scale changed no Romano–Wolf p-value: the test would not see it ignored");
        assert!(spa_moved, "the scale changed no SPA p-value: the test would not see it ignored");
    }
}

#[test]
fn column_major_equals_row_major() {
    let (t, k) = (50, 4);
    let x = data(t, k, 5);
    let mut xf = vec![0.0; t * k];
    for r in 0..t {
        for c in 0..k {
            xf[c * t + r] = x[r * k + c];
        }
    }
    let pr = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 3.0, false).unwrap();
    let pc = Prepared::new(Matrix { values: &xf, t, k, layout: Layout::ColMajor }, 3.0, false).unwrap();
    let o = opts(t, Method::Stationary { avg_block_length: 3.0 }, Kernel::PrefixSum);
    let a = run(&pr, &o, IndexSource::Generated, &RunControl::new()).unwrap();
    let b = run(&pc, &o, IndexSource::Generated, &RunControl::new()).unwrap();
    assert_eq!(
        a.null_max.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.null_max.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(
        pr.omega.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        pc.omega.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn all_nan_column_and_short_series() {
    let (t, k) = (40, 3);
    let mut x = data(t, k, 0);
    for r in 0..t {
        x[r * k + 1] = f64::NAN;
        x[r * k] += 10.0; // the best column by far, so an all-NaN column could only hurt
    }
    let p = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 4.0, false).unwrap();
    assert!(p.observed[1].is_nan());
    let r = run(
        &p,
        &opts(t, Method::Stationary { avg_block_length: 4.0 }, Kernel::PrefixSum),
        IndexSource::Generated,
        &RunControl::new(),
    )
    .unwrap();
    let m = r.null_matrix.unwrap();
    assert!((0..150).all(|b| m[b * k + 1].is_nan()));
    assert!(r.null_max.iter().all(|v| v.is_finite()));
    assert_eq!(r.romano_wolf[1], 1.0);

    let one = [0.5, 0.2];
    let p1 = Prepared::new(Matrix { values: &one, t: 1, k: 2, layout: Layout::RowMajor }, 4.0, false).unwrap();
    let r1 = run(
        &p1,
        &opts(1, Method::Stationary { avg_block_length: 4.0 }, Kernel::PrefixSum),
        IndexSource::Generated,
        &RunControl::new(),
    )
    .unwrap();
    assert!(r1.observed.iter().all(|v| v.is_nan()));
    assert_eq!(r1.rc_p_value, 1.0);
    assert_eq!(r1.spa_studentized.lower, 1.0);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let x = [1.0, f64::INFINITY, 0.0, 0.0];
    assert!(Prepared::new(Matrix { values: &x, t: 2, k: 2, layout: Layout::RowMajor }, 2.0, false).is_err());
    assert!(Prepared::new(Matrix { values: &[], t: 5, k: 0, layout: Layout::RowMajor }, 2.0, false).is_err());
    assert!(Prepared::new(Matrix { values: &[1.0; 3], t: 2, k: 2, layout: Layout::RowMajor }, 2.0, false).is_err());
    let ok = [1.0, 2.0, 3.0, 4.0];
    let p = Prepared::new(Matrix { values: &ok, t: 2, k: 2, layout: Layout::RowMajor }, 2.0, false).unwrap();
    let mut o = opts(2, Method::Stationary { avg_block_length: 2.0 }, Kernel::PrefixSum);
    o.n_sim = 0;
    assert!(run(&p, &o, IndexSource::Generated, &RunControl::new()).is_err());
    o.n_sim = 2;
    let bad_idx = [0i64, 1, 2, 0];
    assert!(run(&p, &o, IndexSource::Explicit(&bad_idx), &RunControl::new()).is_err());
}

#[test]
fn cancelled_run_reports_interrupted() {
    let (t, k) = (60, 3);
    let x = data(t, k, 0);
    let p = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 4.0, false).unwrap();
    let c = RunControl::new();
    c.cancel();
    let r =
        run(&p, &opts(t, Method::Stationary { avg_block_length: 4.0 }, Kernel::PrefixSum), IndexSource::Generated, &c);
    assert!(matches!(r, Err(crypto_analyzer_promotion::Error::Interrupted)));
}

#[test]
fn streamed_prefix_sums_give_the_stored_bits_in_both_layouts() {
    use crypto_analyzer_promotion::reality_check::{PrefixMode, SharedValues};
    use std::sync::Arc;
    // Several tiles (K > 1024 at a full chunk), a partial chunk, T not a multiple of the rows
    // the streamed sweep centres at a time, with and without NaN; 1,100 simulations are more than
    // two chunks at the streamed cap (512) on any thread count: several groups, the last partial.
    for (nan_every, n_sim) in [(0usize, 70usize), (13, 70), (0, 1100), (13, 1100)] {
        let (t, k) = (101, 1030);
        let x = data(t, k, nan_every);
        let mut xf = vec![0.0; t * k];
        for tt in 0..t {
            for c in 0..k {
                xf[c * t + tt] = x[tt * k + c];
            }
        }
        let stored = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 6.0, false).unwrap();
        let mut o = opts(t, Method::Stationary { avg_block_length: 6.0 }, Kernel::PrefixSum);
        o.n_sim = n_sim;
        let want = run(&stored, &o, IndexSource::Generated, &RunControl::new()).unwrap();
        for (vals, layout) in [(x.clone(), Layout::RowMajor), (xf.clone(), Layout::ColMajor)] {
            let input: Arc<dyn SharedValues> = Arc::new(vals);
            let p = Prepared::from_shared(input, t, k, layout, 6.0, false, PrefixMode::Streamed).unwrap();
            assert!(p.is_streamed());
            for kernel in [Kernel::PrefixSum, Kernel::PrefixSumScalar] {
                o.kernel = kernel;
                let got = run(&p, &o, IndexSource::Generated, &RunControl::new()).unwrap();
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got.null_max),
                    bits(&want.null_max),
                    "nan_every={nan_every} n_sim={n_sim} {layout:?} {kernel:?}"
                );
                assert_eq!(bits(got.null_matrix.as_deref().unwrap()), bits(want.null_matrix.as_deref().unwrap()));
                assert_eq!(bits(&got.omega), bits(&want.omega));
                assert_eq!(got.spa_studentized, want.spa_studentized);
            }
        }
    }
}
