//! White's Reality Check, Hansen's SPA and Romano–Wolf stepdown over a block bootstrap.
//!
//! Data are a T×K matrix (rows = periods, columns = hypotheses), NaN = no observation. The
//! observed statistic is the column nanmean `m_k`. Each simulation `b` resamples the periods with
//! [`crate::reality_check::bootstrap`] and yields the centred draws `d_k = m*_{b,k} − m_k`.
//!
//! The parts, by job:
//! - [`prepare`]: the data prepared once ([`Prepared`]: `m_k`, counts, ω_k, centred prefix sums
//!   stored or streamed from the caller's input, [`PrefixMode`]);
//! - [`omega`]: Hansen's ω_k;
//! - `kernel`: one chunk of simulations, from segments to null maxima and counts (a block
//!   `[a, b)` adds `P[b] − P[a]` to every column, so a simulation costs (number of blocks)·K);
//! - [`size`]: when the p-values are less trustworthy than their level (the size warning and
//!   the share of the long-run variance the bootstrap reproduces);
//! - `tally`: the exceedance counts (Romano–Wolf stepdown, SPA per recentring);
//! - this file: the options, [`run`] (chunks in parallel on [`crate::pool`]'s pool, then the
//!   p-values), `null(b)` alone, and the p-values from a caller's null matrix.
//!
//! Only the per-simulation maxima (B values) and integer counts are kept, so memory is O(B + K)
//! beyond the prefix sums, unless the caller asks for the B×K matrix. Every output is a function
//! of (data, seed, b) only: identical on any number of threads.

pub mod blocks;
pub mod bootstrap;
pub mod cache;
pub mod draw_omega;
mod kernel;
pub mod numpy;
pub mod omega;
pub mod prepare;
pub mod size;
mod tally;

use rayon::prelude::*;

use crate::control::RunControl;
use crate::error::{Error, Result};
use crate::pool::thread_pool;
use crate::pyfmt::python_str_repr;
use crate::reality_check::bootstrap::BootstrapSpec;
use kernel::{Batch, Worker};
use tally::{Tally, Targets};

pub use omega::{autocovariances_fft, omega_squared};
pub(crate) use prepare::{tile_width, TileBuf, TileView};
pub use prepare::{PrefixMode, Prepared, SharedValues, STORED_PREFIX_MAX_BYTES};

/// Memory layout of the input matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `values[t * k_cols + k]` (C order).
    RowMajor,
    /// `values[k * t_rows + t]` (Fortran order, e.g. a DataFrame's block).
    ColMajor,
}

/// A borrowed T×K matrix.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    pub values: &'a [f64],
    pub t: usize,
    pub k: usize,
    pub layout: Layout,
}

impl Matrix<'_> {
    #[inline]
    fn get(&self, t: usize, k: usize) -> f64 {
        let i = match self.layout {
            Layout::RowMajor => t * self.k + k,
            Layout::ColMajor => k * self.t + t,
        };
        self.values.get(i).copied().unwrap_or(f64::NAN)
    }
}

/// Which null the Reality Check compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullCentering {
    /// White's recentred null `max_k (m*_k − m_k)` (correct; the default).
    Recentred,
    /// The analyzer's old un-centred `max_k m*_k` (only to reproduce old reports).
    None,
}

impl NullCentering {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "recentred" | "recentered" => Ok(NullCentering::Recentred),
            "none" => Ok(NullCentering::None),
            other => Err(Error::invalid(format!(
                "unknown null_centering {}: expected 'recentred' or 'none'",
                python_str_repr(other)
            ))),
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            NullCentering::Recentred => "recentred",
            NullCentering::None => "none",
        }
    }

    /// The null values of one simulation from its centred draws `d_k = m*_k − m_k`: `d_k`
    /// (recentred) or `m*_k = d_k + m_k` (none). The one place the centering is applied.
    pub fn null_values(self, d: &[f64], observed: &[f64], out: &mut [f64]) {
        for ((v, &d), &m) in out.iter_mut().zip(d).zip(observed) {
            *v = match self {
                NullCentering::Recentred => d,
                NullCentering::None => d + m,
            };
        }
    }
}

/// How White's RC and Romano–Wolf scale the bootstrap deviations before comparing them with the
/// observed statistics (docs/size_study.md, "The RC's default null: one variance scale per family").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullScale {
    /// The deviations as drawn: White's RC as published.
    None,
    /// Every deviation times one factor c = 1/√min(1, s), s the median share of the series'
    /// long-run variance the bootstrap reproduces ([`size::null_scale_factor`]): the default.
    VarianceShare,
}

impl NullScale {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(NullScale::None),
            "variance_share" => Ok(NullScale::VarianceShare),
            other => Err(Error::invalid(format!(
                "unknown rc_null_scale {}: expected 'variance_share' or 'none'",
                python_str_repr(other)
            ))),
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            NullScale::None => "none",
            NullScale::VarianceShare => "variance_share",
        }
    }

    /// The factor the RC and Romano–Wolf multiply the deviations by: 1 for [`NullScale::None`]
    /// and for the un-centred null (its values are not deviations), else
    /// [`size::null_scale_factor`] of the median variance share.
    pub fn factor(self, centering: NullCentering, share: Option<f64>) -> f64 {
        match (self, centering) {
            (NullScale::VarianceShare, NullCentering::Recentred) => size::null_scale_factor(share),
            _ => 1.0,
        }
    }
}

/// The smallest `s` with `fl(c·s) ≥ m`, for c > 0 finite: rounding is monotone, so
/// `fl(c·v) ≥ m ⟺ v ≥ s` for every v, and a count of scaled null values reaching `m` is the
/// count of unscaled ones reaching `s`, bit for bit. NaN stays NaN; c = 1 gives `m`.
pub(crate) fn scaled_threshold(m: f64, c: f64) -> f64 {
    if c == 1.0 || !m.is_finite() {
        return m;
    }
    let reaches = |s: f64| c * s >= m;
    let mut s = m / c;
    // m / c is within an ulp or two of the boundary: step to it.
    while !reaches(s) {
        s = s.next_up();
    }
    while reaches(s.next_down()) {
        s = s.next_down();
    }
    s
}

/// Simulation kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Prefix sums per block (fast).
    PrefixSum,
    /// The same prefix kernel without the AVX2 build (to test that dispatch changes no bit).
    PrefixSumScalar,
    /// Gather every index (reference; needs `Prepared::new(.., keep_values = true)`).
    Gather,
}

impl Kernel {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "prefix" => Ok(Kernel::PrefixSum),
            "prefix_scalar" => Ok(Kernel::PrefixSumScalar),
            "gather" => Ok(Kernel::Gather),
            other => Err(Error::invalid(format!(
                "unknown kernel {}: expected 'prefix', 'prefix_scalar' or 'gather'",
                python_str_repr(other)
            ))),
        }
    }
}

/// Options of one batch.
#[derive(Debug, Clone)]
pub struct RcOptions {
    pub spec: BootstrapSpec,
    pub n_sim: usize,
    pub centering: NullCentering,
    pub kernel: Kernel,
    /// Keep the B×K null matrix (row b = the K null statistics of simulation b).
    pub keep_matrix: bool,
    /// Statistics to compare the null against for RC and Romano–Wolf (default: `m_k`).
    pub compare_to: Option<Vec<f64>>,
    /// The factor c the RC and Romano–Wolf multiply the null values by ([`NullScale::factor`];
    /// 1: none). Applied after the kernel: to the null maxima, and through
    /// [`scaled_threshold`] to the stepdown counts.
    pub null_scale: f64,
}

/// One value per SPA recentring of Hansen's test: lower, consistent, upper.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Variants<T> {
    pub lower: T,
    pub consistent: T,
    pub upper: T,
}

impl<T> Variants<T> {
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Variants<U> {
        Variants { lower: f(self.lower), consistent: f(self.consistent), upper: f(self.upper) }
    }
}

/// SPA p-values per recentring.
pub type SpaPValues = Variants<f64>;

#[derive(Debug, Clone)]
pub struct RcResult {
    pub t: usize,
    pub k: usize,
    pub n_sim: usize,
    pub centering: NullCentering,
    /// The factor c the RC and Romano–Wolf null values were multiplied by (1: none).
    pub null_scale: f64,
    /// Observed statistics the null was compared against (m_k unless `compare_to`).
    pub observed: Vec<f64>,
    pub observed_max: f64,
    pub rc_p_value: f64,
    /// c·V*_b for every simulation (NaN when no column had an observation): the null maxima the
    /// RC p-value counts, scaled by `null_scale`.
    pub null_max: Vec<f64>,
    /// Romano–Wolf stepdown adjusted p-values, in column order (1.0 for a NaN statistic).
    pub romano_wolf: Vec<f64>,
    pub spa_studentized: SpaPValues,
    pub spa_unstudentized: SpaPValues,
    pub spa_stat_studentized: f64,
    pub spa_stat_unstudentized: f64,
    pub omega: Vec<f64>,
    /// The B×K null values as drawn (what `null(b)` gives), before the `null_scale` factor.
    pub null_matrix: Option<Vec<f64>>,
}

/// `(1 + #{v ≥ observed}) / (B + 1)`; NaN draws never count; NaN observed → 1.
pub fn exceedance_pvalue(null: &[f64], observed: f64) -> f64 {
    if observed.is_nan() {
        return 1.0;
    }
    let c = null.iter().filter(|&&v| v >= observed).count();
    (1 + c) as f64 / (null.len() + 1) as f64
}

/// Max over non-NaN values (NaN when none).
fn nanmax(v: impl Iterator<Item = f64>) -> f64 {
    let mut best = f64::NAN;
    for x in v {
        if !x.is_nan() && (best.is_nan() || x > best) {
            best = x;
        }
    }
    best
}

/// Hypotheses with a statistic, sorted by statistic descending (ties: column order).
fn stepdown_order(stats: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..stats.len()).filter(|&i| !stats[i].is_nan()).collect();
    order.sort_by(|&a, &b| stats[b].total_cmp(&stats[a]).then(a.cmp(&b)));
    order
}

/// Turn stepdown exceedance counts into monotone adjusted p-values in column order.
fn stepdown_pvalues(order: &[usize], counts: &[u64], k: usize, n_sim: usize) -> Vec<f64> {
    let mut p = vec![1.0; k];
    let mut running = 0.0f64;
    for (j, &col) in order.iter().enumerate() {
        let raw = (1 + counts.get(j).copied().unwrap_or(0)) as f64 / (n_sim + 1) as f64;
        running = running.max(raw);
        p[col] = running;
    }
    p
}

/// Add one simulation's null values (in column order) to the stepdown counts.
#[inline]
fn stepdown_accumulate(null_vals: &[f64], order: &[usize], stats: &[f64], counts: &mut [u64]) {
    let mut suffix = f64::NEG_INFINITY;
    for j in (0..order.len()).rev() {
        let col = order[j];
        let v = null_vals[col];
        if v > suffix {
            suffix = v;
        }
        if suffix >= stats[col] {
            counts[j] += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points

/// Simulations per work item: the tiled kernel reuses each column tile across them.
const CHUNK: usize = 64;

/// Most simulations per work item when the prefix sums are streamed. The chunks that run together
/// (one a thread) share each tile's build from the input (`run_groups`), so the fewer groups the
/// batch has, the fewer times every tile is built; larger chunks make the tiles narrower (their
/// accumulators stay in L2). One thread, as a distributed run's workers have by default: at
/// T=25,000, K=8,000, B=400 the simulations took 5.83 CPU-s at 256 and 4.16–4.58 at 512 (one build
/// instead of two; `benches/bench_rc_distributed.py --no-w2 --no-w3`, four runs). Two threads at
/// W2 (B=1,000, one group instead of two): 0.96× wall, 0.97× CPU, within the runs' 5–7 % spread,
/// the same bits (`scripts/bench_ab.py --rc`); 0.05× the input more memory (benches/README.md).
const CHUNK_STREAMED: usize = 512;

/// Where the indices of the simulations come from.
pub enum IndexSource<'a> {
    /// Generated by the bootstrap spec in `RcOptions`.
    Generated,
    /// Explicit indices, `n_sim` rows of `T` each (row-major); any values in `0..T`.
    Explicit(&'a [i64]),
}

fn validate(p: &Prepared, opts: &RcOptions, source: &IndexSource<'_>) -> Result<()> {
    let (t, n_sim) = (p.t, opts.n_sim);
    if n_sim == 0 {
        return Err(Error::invalid("n_sim must be a positive integer"));
    }
    if opts.spec.t != t {
        return Err(Error::Internal(format!("bootstrap T {} != data T {t}", opts.spec.t)));
    }
    if opts.kernel == Kernel::Gather && p.centred.is_none() {
        return Err(Error::Internal("gather kernel needs the values kept".into()));
    }
    if !(opts.null_scale.is_finite() && opts.null_scale > 0.0) {
        return Err(Error::invalid(format!("the null scale must be a positive number (got {})", opts.null_scale)));
    }
    if opts.keep_matrix && n_sim.checked_mul(p.k).is_none() {
        return Err(Error::invalid("n_sim * K overflows"));
    }
    match source {
        IndexSource::Explicit(idx) if Some(idx.len()) != n_sim.checked_mul(t) => Err(Error::invalid(format!(
            "explicit indices must be n_sim x T = {n_sim} x {t} (got {} values)",
            idx.len()
        ))),
        IndexSource::Generated if t >= 2 => opts.spec.check(n_sim as u64),
        _ => Ok(()),
    }
}

/// Simulations per chunk: [`CHUNK`], or with streamed prefix sums as many as keep every thread
/// busy, up to [`CHUNK_STREAMED`] (the grouping changes no result).
fn chunk_size(p: &Prepared, n_sim: usize, threads: usize) -> usize {
    if p.is_streamed() {
        n_sim.div_ceil(threads.max(1)).clamp(CHUNK, CHUNK_STREAMED)
    } else {
        CHUNK
    }
}

/// Chunks that share each tile's build (`run_groups`): one a thread; streamed, at least
/// [`STREAMED_GROUP_MIN`], so that a one-thread process (a distributed run's worker) builds each
/// tile once for two chunks, as a two-thread process does, instead of once a chunk. Half of W2
/// as one block on one thread: 0.91× the CPU time at the median of 6 rounds, spreads 12–28 %
/// (`scripts/bench_ab.py --rc`, benches/README.md). The chunks of a group run one after the other
/// on the thread, so the extra cost is their scratch (chunk × K centred means and scales, as a
/// second thread has).
fn group_size(p: &Prepared, threads: usize) -> usize {
    if p.is_streamed() {
        threads.max(STREAMED_GROUP_MIN)
    } else {
        threads.max(1)
    }
}

/// Fewest chunks that share a streamed tile's build (see [`group_size`]).
const STREAMED_GROUP_MIN: usize = 2;

/// Run the whole batch. Returns `Error::Interrupted` when `control` is cancelled.
pub fn run(p: &Prepared, opts: &RcOptions, source: IndexSource<'_>, control: &RunControl) -> Result<RcResult> {
    validate(p, opts, &source)?;
    let (k, n_sim) = (p.k, opts.n_sim);
    let targets = Targets::new(p, opts.compare_to.as_deref(), opts.null_scale)?;
    control.set_total(n_sim as u64);
    let mut null_max = vec![f64::NAN; n_sim];
    let mut matrix = if opts.keep_matrix { Some(vec![f64::NAN; n_sim * k]) } else { None };
    if p.t < 2 {
        // No statistic can be computed: every p-value is 1 (docs/statistics.md).
        control.add_done(n_sim as u64);
        return Ok(no_statistic(finish(p, opts, &targets, null_max, matrix, Tally::new(targets.order.len()))));
    }

    let pool = thread_pool()?;
    let chunk = chunk_size(p, n_sim, pool.current_num_threads());
    let matrix_chunks: Vec<Option<&mut [f64]>> = match matrix.as_mut() {
        Some(m) => m.chunks_mut(chunk * k).map(Some).collect(),
        None => (0..n_sim.div_ceil(chunk)).map(|_| None).collect(),
    };
    let batch = Batch { p, opts, source: &source, targets: &targets, chunk };
    let mut sinks = vec![(); group_size(p, pool.current_num_threads())];
    let end = |b: &Batch<'_>, w: &mut Worker, c: &mut ChunkOut<'_>, _: &mut ()| {
        kernel::end_chunk(b, w, c.out, c.rows.as_deref_mut());
        Ok(())
    };
    let workers = pool.install(|| run_groups(&batch, &mut null_max, matrix_chunks, &mut sinks, control, &end))?;
    // Integer counts: the order of merging does not matter.
    let mut tally = Tally::new(targets.order.len());
    for w in &workers {
        tally.merge(&w.tally);
    }
    Ok(finish(p, opts, &targets, null_max, matrix, tally))
}

/// One chunk's outputs: its null maxima and, when the caller keeps it, its rows of the null matrix.
struct ChunkOut<'a> {
    ci: usize,
    out: &'a mut [f64],
    rows: Option<&'a mut [f64]>,
}

/// The chunks of a batch, `sinks.len()` at a time ([`group_size`]), in step: the chunks of a group
/// begin in parallel, then go through the column tiles together, as many tiles at a time as the
/// pool has threads, each tile built once (when the prefix sums are streamed; one thread a tile)
/// and read by every chunk of the group, then end in parallel. Streamed, each chunk used to
/// rebuild every tile for itself (2.9 CPU-s of 15 at W2). A simulation's values depend only on its
/// own segments: grouping changes no bit. `end` ends a chunk (`sinks[i]` the output of the
/// group's i-th chunk); returns the workers (their tallies).
fn run_groups<S: Send>(
    batch: &Batch<'_>,
    null_max: &mut [f64],
    mut matrix_chunks: Vec<Option<&mut [f64]>>,
    sinks: &mut [S],
    control: &RunControl,
    end: &(dyn Fn(&Batch<'_>, &mut Worker, &mut ChunkOut<'_>, &mut S) -> Result<()> + Sync),
) -> Result<Vec<Worker>> {
    let per_group = sinks.len().max(1);
    // Called inside the pool's `install`: its threads, one tile each at a time.
    let threads = rayon::current_num_threads().clamp(1, per_group);
    let (p, k, chunk) = (batch.p, batch.p.k, batch.chunk);
    let n_order = batch.targets.order.len();
    let mut items: Vec<ChunkOut<'_>> = null_max
        .chunks_mut(chunk)
        .zip(matrix_chunks.iter_mut())
        .enumerate()
        .map(|(ci, (out, rows))| ChunkOut { ci, out, rows: rows.take() })
        .collect();
    let mut workers: Vec<Worker> = (0..per_group).map(|_| Worker::new(k, n_order)).collect();
    let mut bufs: Vec<TileBuf> = (0..threads).map(|_| TileBuf::default()).collect();
    let width = tile_width(chunk, k);
    for group in items.chunks_mut(per_group) {
        if control.is_cancelled() {
            return Err(Error::Interrupted);
        }
        let ws = &mut workers[..group.len()];
        ws.par_iter_mut()
            .zip(group.par_iter())
            .try_for_each(|(w, c)| kernel::begin_chunk(batch, w, c.ci, c.out.len()))?;
        // The gather kernel has no tiles: begin_chunk did everything.
        let mut c0 = if batch.opts.kernel == Kernel::Gather { k } else { 0 };
        while c0 < k {
            if control.is_cancelled() {
                return Err(Error::Interrupted);
            }
            let tiles: Vec<(usize, usize)> =
                (0..threads).map(|i| c0 + i * width).take_while(|&s| s < k).map(|s| (s, width.min(k - s))).collect();
            bufs.par_iter_mut().zip(tiles.par_iter()).try_for_each(|(buf, &(s, wd))| p.build_tile(s, wd, buf))?;
            let views =
                tiles.iter().zip(&bufs).map(|(&(s, wd), buf)| p.tile_view(s, wd, buf)).collect::<Result<Vec<_>>>()?;
            ws.par_iter_mut().zip(group.par_iter()).try_for_each(|(w, c)| {
                tiles
                    .iter()
                    .zip(&views)
                    .try_for_each(|(&(s, _), view)| kernel::chunk_tile(batch, w, c.out.len(), s, view))
            })?;
            c0 += width * tiles.len();
        }
        ws.par_iter_mut().zip(group.par_iter_mut()).zip(sinks.par_iter_mut()).try_for_each(|((w, c), sink)| {
            end(batch, w, c, sink)?;
            control.add_done(c.out.len() as u64);
            Ok::<(), Error>(())
        })?;
    }
    if control.is_cancelled() {
        return Err(Error::Interrupted);
    }
    Ok(workers)
}

/// The result of a batch from its null maxima, kept matrix and counts: `(1 + count) / (B + 1)`.
fn finish(
    p: &Prepared,
    opts: &RcOptions,
    tg: &Targets,
    null_max: Vec<f64>,
    null_matrix: Option<Vec<f64>>,
    tally: Tally,
) -> RcResult {
    let cols = Columns { t: p.t, k: p.k, omega: &p.omega };
    finish_columns(cols, opts.n_sim, (opts.centering, opts.null_scale), tg, null_max, null_matrix, tally)
}

/// The shape and ω of the family a result is about (a [`Prepared`], or the blocks of one).
#[derive(Clone, Copy)]
struct Columns<'a> {
    t: usize,
    k: usize,
    omega: &'a [f64],
}

/// [`finish`] from the family's shape and ω. `null` is the centering and the scale c: the null
/// maxima are multiplied by c here, after the kernel (max_k fl(c·v_k) = fl(c·max_k v_k) for c > 0,
/// so this is the maximum of the scaled values, bit for bit), and the RC p-value counts them; the
/// stepdown counts already compared with [`scaled_threshold`]s (`tg.stepdown`).
fn finish_columns(
    p: Columns<'_>,
    n_sim: usize,
    null: (NullCentering, f64),
    tg: &Targets,
    mut null_max: Vec<f64>,
    null_matrix: Option<Vec<f64>>,
    tally: Tally,
) -> RcResult {
    let (centering, null_scale) = null;
    if null_scale != 1.0 {
        null_max.iter_mut().for_each(|v| *v *= null_scale);
    }
    let observed_max = nanmax(tg.cmp.iter().copied());
    let pvalue = |count: u64| (1 + count) as f64 / (n_sim + 1) as f64;
    RcResult {
        t: p.t,
        k: p.k,
        n_sim,
        centering,
        null_scale,
        observed: tg.cmp.clone(),
        observed_max,
        rc_p_value: exceedance_pvalue(&null_max, observed_max),
        null_max,
        romano_wolf: stepdown_pvalues(&tg.order, &tally.romano_wolf, p.k, n_sim),
        spa_unstudentized: tally.spa_unstudentized.map(pvalue),
        spa_studentized: tally.spa_studentized.map(pvalue),
        spa_stat_unstudentized: tg.spa_obs_u,
        spa_stat_studentized: tg.spa_obs_s,
        omega: p.omega.to_vec(),
        null_matrix,
    }
}

/// T < 2: no statistic can be computed, every p-value is 1.
fn no_statistic(mut r: RcResult) -> RcResult {
    let one = SpaPValues { lower: 1.0, consistent: 1.0, upper: 1.0 };
    r.rc_p_value = 1.0;
    r.romano_wolf = vec![1.0; r.k];
    r.spa_studentized = one;
    r.spa_unstudentized = one;
    r
}

/// The K null statistics of simulation `b` alone (what `null(b)` returns).
pub fn null_stats_one(p: &Prepared, spec: &BootstrapSpec, centering: NullCentering, b: u64) -> Result<Vec<f64>> {
    if p.t < 2 {
        return Ok(vec![f64::NAN; p.k]);
    }
    spec.check(b.saturating_add(1))?;
    let d = kernel::one_simulation(p, spec, b)?;
    let mut out = vec![0.0; p.k];
    centering.null_values(&d, &p.observed, &mut out);
    Ok(out)
}

/// RC and Romano–Wolf from a caller-supplied null matrix (rows = simulations), used as-is.
pub struct MatrixPValues {
    pub observed_max: f64,
    pub rc_p_value: f64,
    pub null_max: Vec<f64>,
    pub romano_wolf: Vec<f64>,
}

pub fn pvalues_from_null_matrix(observed: &[f64], matrix: &[f64], n_sim: usize) -> Result<MatrixPValues> {
    let k = observed.len();
    if n_sim.checked_mul(k) != Some(matrix.len()) {
        return Err(Error::invalid(format!(
            "null matrix has {} values, expected n_sim x K = {n_sim} x {k}",
            matrix.len()
        )));
    }
    if observed.iter().chain(matrix).any(|v| v.is_infinite()) {
        return Err(Error::invalid("statistics contain an infinite value"));
    }
    let order = stepdown_order(observed);
    let mut counts = vec![0u64; order.len()];
    let mut null_max = Vec::with_capacity(n_sim);
    if k > 0 {
        for row in matrix.chunks(k) {
            null_max.push(nanmax(row.iter().copied()));
            stepdown_accumulate(row, &order, observed, &mut counts);
        }
    }
    let observed_max = nanmax(observed.iter().copied());
    let rc_p_value = if k == 0 { 1.0 } else { exceedance_pvalue(&null_max, observed_max) };
    Ok(MatrixPValues { observed_max, rc_p_value, null_max, romano_wolf: stepdown_pvalues(&order, &counts, k, n_sim) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::RealFftPlanner;

    #[test]
    fn fft_autocov_matches_direct() {
        let n = 300;
        let d: Vec<f64> = (0..n).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
        let m = d.iter().sum::<f64>() / n as f64;
        let d: Vec<f64> = d.iter().map(|v| v - m).collect();
        let g = autocovariances_fft(&d, &mut RealFftPlanner::new());
        for i in [0usize, 1, 5, 150, 299] {
            let direct: f64 = (0..n - i).map(|j| d[j] * d[j + i]).sum::<f64>() / n as f64;
            assert!((g[i] - direct).abs() <= 1e-10 * g[0].abs(), "lag {i}: {} vs {direct}", g[i]);
        }
    }

    /// `scaled_threshold(m, c)` is the exact boundary of `fl(c·v) ≥ m`: it reaches, the next
    /// double down does not, for statistics of every magnitude and sign and several c.
    #[test]
    fn scaled_threshold_is_the_exact_boundary() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state
        };
        let mut ms = vec![0.0, -0.0, 1.0, -1.0, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 5e-324, 1e300, -1e300];
        for _ in 0..20_000 {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let e = (next() % 40) as i32 - 30;
            ms.push(u * 2f64.powi(e));
        }
        for c in [1.0, 1.000_000_1, 1.016, 1.093, 1.0 / 0.8f64.sqrt(), 3.0] {
            for &m in &ms {
                let s = scaled_threshold(m, c);
                assert!(c * s >= m, "m={m:e} c={c}: {s:e} does not reach");
                let below = s.next_down();
                assert!(c * below < m, "m={m:e} c={c}: {below:e} below the threshold reaches");
            }
        }
        assert!(scaled_threshold(f64::NAN, 1.2).is_nan());
        assert_eq!(scaled_threshold(0.25, 1.0), 0.25);
    }

    #[test]
    fn stepdown_is_monotone() {
        let order = vec![2, 0, 1];
        let p = stepdown_pvalues(&order, &[5, 1, 9], 3, 99);
        assert_eq!(p[2], 0.06);
        assert_eq!(p[0], 0.06);
        assert_eq!(p[1], 0.1);
    }
}
