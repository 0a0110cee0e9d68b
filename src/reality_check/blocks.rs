//! The Reality Check of one family split into contiguous blocks of columns, each run on its own
//! (another process, another machine), and the blocks' outputs combined into the result the
//! single-process engine gives, bit for bit (docs/distributed.md).
//!
//! A block is a [`Prepared`] of its own columns; it draws every simulation from the same
//! per-simulation index stream as the whole family (the streams depend on (seed, b, T) only), so
//! each of its columns gets the same centred draws and the same per-draw ω* as in one process
//! (every per-column value is computed column by column). One round: the block needs nothing
//! from the others, and returns, besides its columns' m_k, n_k and ω_k:
//!
//! - per draw, the maximum of its null values (the RC's V*_b is the maximum over blocks, and a
//!   maximum is exact: the same value whichever way the set is split);
//! - per draw and SPA recentring, its unstudentized and studentized SPA maxima (6 values). The
//!   family's observed studentized statistic s is not known to a block, so its ω* pruning uses its
//!   own (smaller or equal) s_block, and computes ω* of every column exactly when s_block is 0: a
//!   column it drops cannot reach s_block ≤ s (draw_omega.rs), the others get exact scales, so
//!   "the family's maximum reaches s" is decided exactly from the blocks' maxima;
//! - per draw, the Romano–Wolf records: the columns c of the block, in the stepdown order
//!   (statistic descending, ties by column), whose null value is above every later column's of the
//!   block (a suffix maximum) and at least c's own statistic, with that value. Step j of the
//!   stepdown counts a draw when some column at position ≥ j has a null value ≥ the statistic at
//!   j; a column that is not a suffix maximum is beaten by a later one of its block, and one below
//!   its own statistic is below every statistic at or before its position, so the records decide
//!   every step exactly (proof in docs/distributed.md). The blocks' own order is the family's
//!   restricted to them (the blocks are contiguous and ties go by column).
//!
//! Traffic: 24 bytes a column, 56 bytes plus 12 bytes a record per draw and block; with a
//! recentred null the records of a draw are about ln(K_block) (the suffix maxima of exchangeable
//! values) and fewer after the filter.

#![warn(missing_docs)]

use super::kernel::{Batch, Worker};
use super::tally::{Tally, Targets};
use super::{
    chunk_size, finish_columns, group_size, nanmax, no_statistic, run_groups, validate, ChunkOut, Columns, IndexSource,
    NullCentering, Prepared, RcOptions, RcResult,
};
use crate::control::RunControl;
use crate::error::{Error, Result};
use crate::pool::thread_pool;

/// SPA maxima per draw: unstudentized lower, consistent, upper, then studentized alike.
pub const SPA_SLOTS: usize = 6;

/// What one block sends back for its simulations (its columns' m_k, n_k, ω_k are in its
/// [`Prepared`]).
#[derive(Debug, Clone)]
pub struct BlockRun {
    /// Periods of the series.
    pub t: usize,
    /// Simulations run.
    pub n_sim: usize,
    /// Per draw: the maximum of the block's null values (NaN when none).
    pub null_max: Vec<f64>,
    /// Per draw, [`SPA_SLOTS`] values: `max(0, max_k (d_k + shift_k))` unstudentized, then times
    /// each column's scale over the columns with an ω.
    pub spa: Vec<f64>,
    /// Romano–Wolf records of draw b: `rec_col[rec_start[b]..rec_start[b + 1]]` (block-local
    /// columns) with their null values `rec_val`, last stepdown position first.
    pub rec_start: Vec<u64>,
    /// The records' block-local columns (see `rec_start`).
    pub rec_col: Vec<u32>,
    /// The records' null values (see `rec_start`).
    pub rec_val: Vec<f64>,
}

/// One chunk's outputs, kept by the thread that ended it.
struct ChunkRecs {
    ci: usize,
    spa: Vec<f64>,
    counts: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<f64>,
}

#[derive(Default)]
struct Sink {
    nullv: Vec<f64>,
    chunks: Vec<ChunkRecs>,
}

/// Run the simulations of `opts` over the block `p`. `opts` must not keep the null matrix nor
/// compare to other statistics (a block has only its own columns).
pub fn run_block(p: &Prepared, opts: &RcOptions, source: IndexSource<'_>, control: &RunControl) -> Result<BlockRun> {
    if opts.keep_matrix || opts.compare_to.is_some() {
        return Err(Error::invalid("a column-block run keeps no null matrix and compares with its own means"));
    }
    validate(p, opts, &source)?;
    let (k, n_sim) = (p.k, opts.n_sim);
    let mut targets = Targets::new(p, None, opts.null_scale)?;
    targets.always_per_draw = true;
    control.set_total(n_sim as u64);
    let mut null_max = vec![f64::NAN; n_sim];
    if p.t < 2 {
        // No statistic: the client gives every p-value 1 (as run does).
        control.add_done(n_sim as u64);
        let rec_start = vec![0; n_sim + 1];
        let spa = vec![0.0; n_sim * SPA_SLOTS];
        return Ok(BlockRun { t: p.t, n_sim, null_max, spa, rec_start, rec_col: Vec::new(), rec_val: Vec::new() });
    }
    let pool = thread_pool()?;
    let chunk = chunk_size(p, n_sim, pool.current_num_threads());
    let matrix_chunks: Vec<Option<&mut [f64]>> = (0..n_sim.div_ceil(chunk)).map(|_| None).collect();
    let batch = Batch { p, opts, source: &source, targets: &targets, chunk };
    let mut sinks: Vec<Sink> = (0..group_size(p, pool.current_num_threads())).map(|_| Sink::default()).collect();
    let end = |b: &Batch<'_>, w: &mut Worker, c: &mut ChunkOut<'_>, s: &mut Sink| end_block_chunk(b, w, c, s, k);
    pool.install(|| run_groups(&batch, &mut null_max, matrix_chunks, &mut sinks, control, &end))?;
    let mut chunks: Vec<ChunkRecs> = sinks.into_iter().flat_map(|s| s.chunks).collect();
    chunks.sort_by_key(|c| c.ci);
    let mut spa = Vec::with_capacity(n_sim * SPA_SLOTS);
    let mut rec_start = Vec::with_capacity(n_sim + 1);
    rec_start.push(0u64);
    let (mut rec_col, mut rec_val) = (Vec::new(), Vec::new());
    for c in chunks {
        spa.extend_from_slice(&c.spa);
        let mut at = *rec_start.last().unwrap_or(&0);
        for n in c.counts {
            at += u64::from(n);
            rec_start.push(at);
        }
        rec_col.extend_from_slice(&c.cols);
        rec_val.extend_from_slice(&c.vals);
    }
    if spa.len() != n_sim * SPA_SLOTS || rec_start.len() != n_sim + 1 {
        return Err(Error::Internal("column block: a chunk's outputs are missing".into()));
    }
    Ok(BlockRun { t: p.t, n_sim, null_max, spa, rec_start, rec_col, rec_val })
}

/// The end of one chunk of a block: per draw its null maximum, SPA maxima and records.
fn end_block_chunk(batch: &Batch<'_>, w: &mut Worker, c: &mut ChunkOut<'_>, sink: &mut Sink, k: usize) -> Result<()> {
    let (p, tg) = (batch.p, batch.targets);
    let n = c.out.len();
    let mut recs = ChunkRecs {
        ci: c.ci,
        spa: Vec::with_capacity(n * SPA_SLOTS),
        counts: Vec::with_capacity(n),
        cols: Vec::new(),
        vals: Vec::new(),
    };
    sink.nullv.resize(k, 0.0);
    for (j, slot) in c.out.iter_mut().enumerate() {
        let (d, scale) = w.draw(j, k).ok_or_else(|| Error::Internal("column block: draw outside the chunk".into()))?;
        batch.opts.centering.null_values(d, &p.observed, &mut sink.nullv);
        *slot = nanmax(sink.nullv.iter().copied());
        let mut studentized = [0.0; 3];
        for (i, shift) in [&tg.shift.lower, &tg.shift.consistent, &tg.shift.upper].into_iter().enumerate() {
            let (mu, ms) = tg.spa_maxima(d, scale, shift);
            recs.spa.push(mu);
            studentized[i] = ms;
        }
        recs.spa.extend_from_slice(&studentized);
        let before = recs.cols.len();
        let mut suffix = f64::NEG_INFINITY;
        for &col in tg.order.iter().rev() {
            let v = sink.nullv[col];
            if v > suffix {
                suffix = v;
                if v >= tg.stepdown[col] {
                    recs.cols.push(col as u32);
                    recs.vals.push(v);
                }
            }
        }
        recs.counts.push((recs.cols.len() - before) as u32);
    }
    sink.chunks.push(recs);
    Ok(())
}

/// One block's outputs as the client received them (column order of the family: block 0 first).
#[derive(Debug, Clone, Copy)]
pub struct BlockPart<'a> {
    /// Periods of the series.
    pub t: usize,
    /// Simulations run.
    pub n_sim: usize,
    /// The block's columns' observed statistics m_k.
    pub observed: &'a [f64],
    /// The block's columns' observation counts.
    pub n_obs: &'a [u64],
    /// The block's columns' ω_k.
    pub omega: &'a [f64],
    /// [`BlockRun::null_max`].
    pub null_max: &'a [f64],
    /// [`BlockRun::spa`].
    pub spa: &'a [f64],
    /// [`BlockRun::rec_start`].
    pub rec_start: &'a [u64],
    /// [`BlockRun::rec_col`].
    pub rec_col: &'a [u32],
    /// [`BlockRun::rec_val`].
    pub rec_val: &'a [f64],
}

impl BlockPart<'_> {
    fn check(&self, i: usize, t: usize, n_sim: usize) -> Result<()> {
        let bad = |what: String| Err(Error::invalid(format!("column block {i}: {what}")));
        if self.t != t {
            return bad(format!(
                "{} periods where block 0 has {t}: the blocks were not read from the same data",
                self.t
            ));
        }
        if self.n_sim != n_sim {
            return bad(format!("{} simulations where block 0 has {n_sim}", self.n_sim));
        }
        let k = self.observed.len();
        if k == 0 || self.n_obs.len() != k || self.omega.len() != k {
            return bad("observed means, observations and ω of different lengths (or none)".into());
        }
        if self.null_max.len() != n_sim || self.spa.len() != n_sim * SPA_SLOTS {
            return bad("per-draw outputs of the wrong length".into());
        }
        let n_rec = self.rec_col.len();
        if self.rec_start.len() != n_sim + 1
            || self.rec_start.first() != Some(&0)
            || self.rec_start.last() != Some(&(n_rec as u64))
            || self.rec_start.windows(2).any(|w| w[0] > w[1])
            || self.rec_val.len() != n_rec
        {
            return bad("malformed Romano–Wolf records".into());
        }
        if self.rec_col.iter().any(|&c| c as usize >= k) || self.rec_val.iter().any(|v| v.is_nan()) {
            return bad("a Romano–Wolf record outside the block".into());
        }
        if self.n_obs.iter().any(|&n| n > t as u64) {
            return bad("more observations than periods".into());
        }
        Ok(())
    }
}

/// The family's result from its blocks' outputs: the same [`RcResult`] [`super::run`] gives on the
/// whole family (without the null matrix), bit for bit. `null_scale` is the factor every block
/// ran with (its records reach the scaled thresholds): the family's, from the shares of its
/// first columns ([`super::NullScale::factor`]).
pub fn combine(parts: &[BlockPart<'_>], centering: NullCentering, null_scale: f64) -> Result<RcResult> {
    let first = parts.first().ok_or_else(|| Error::invalid("no column blocks to combine"))?;
    let (t, n_sim) = (first.t, first.n_sim);
    if n_sim == 0 {
        return Err(Error::invalid("n_sim must be a positive integer"));
    }
    for (i, part) in parts.iter().enumerate() {
        part.check(i, t, n_sim)?;
    }
    let observed: Vec<f64> = parts.iter().flat_map(|p| p.observed.iter().copied()).collect();
    let n_obs: Vec<usize> = parts.iter().flat_map(|p| p.n_obs.iter().map(|&n| n as usize)).collect();
    let omega: Vec<f64> = parts.iter().flat_map(|p| p.omega.iter().copied()).collect();
    if observed.iter().chain(&omega).any(|v| v.is_infinite()) {
        return Err(Error::invalid("column blocks: an infinite observed mean or ω"));
    }
    let k = observed.len();
    if !(null_scale.is_finite() && null_scale > 0.0) {
        return Err(Error::invalid(format!("the null scale must be a positive number (got {null_scale})")));
    }
    let tg = Targets::from_columns(&observed, &n_obs, &omega, None, null_scale)?;
    let cols = Columns { t, k, omega: &omega };
    let n_order = tg.order.len();
    if t < 2 {
        let r =
            finish_columns(cols, n_sim, (centering, null_scale), &tg, vec![f64::NAN; n_sim], None, Tally::new(n_order));
        return Ok(no_statistic(r));
    }
    let null_max: Vec<f64> = (0..n_sim).map(|b| nanmax(parts.iter().map(|p| p.null_max[b]))).collect();
    let mut tally = Tally::new(n_order);
    spa_counts(parts, &tg, n_sim, &mut tally);
    tally.romano_wolf = stepdown_counts(parts, &tg, n_sim)?;
    Ok(finish_columns(cols, n_sim, (centering, null_scale), &tg, null_max, None, tally))
}

/// The SPA exceedances: per draw, the family's maximum is the maximum of the blocks'.
fn spa_counts(parts: &[BlockPart<'_>], tg: &Targets, n_sim: usize, tally: &mut Tally) {
    let (u, s) = (&mut tally.spa_unstudentized, &mut tally.spa_studentized);
    for b in 0..n_sim {
        let slot = |i: usize| parts.iter().fold(0.0f64, |m, p| m.max(p.spa[b * SPA_SLOTS + i]));
        for (i, (n_u, n_s)) in
            [(&mut u.lower, &mut s.lower), (&mut u.consistent, &mut s.consistent), (&mut u.upper, &mut s.upper)]
                .into_iter()
                .enumerate()
        {
            *n_u += u64::from(slot(i) >= tg.spa_cut_u);
            *n_s += u64::from(slot(3 + i) >= tg.spa_cut_s);
        }
    }
}

/// Romano–Wolf exceedances per stepdown position from the blocks' records. Per draw, the records
/// of every block by family position, last first, with the running maximum R: positions between
/// one record and the next (exclusive) see R, and of them those whose statistic is ≤ R count (a
/// suffix of them: the statistics descend along the positions). A difference array adds them up.
fn stepdown_counts(parts: &[BlockPart<'_>], tg: &Targets, n_sim: usize) -> Result<Vec<u64>> {
    let k = tg.cmp.len();
    let n_order = tg.order.len();
    let mut pos = vec![usize::MAX; k];
    for (j, &c) in tg.order.iter().enumerate() {
        pos[c] = j;
    }
    let stats: Vec<f64> = tg.order.iter().map(|&c| tg.stepdown[c]).collect();
    let mut offsets = Vec::with_capacity(parts.len());
    let mut o = 0usize;
    for p in parts {
        offsets.push(o);
        o += p.observed.len();
    }
    let mut diff = vec![0i64; n_order + 1];
    let mut recs: Vec<(usize, f64)> = Vec::new();
    for b in 0..n_sim {
        recs.clear();
        for (p, &off) in parts.iter().zip(&offsets) {
            let (lo, hi) = (p.rec_start[b] as usize, p.rec_start[b + 1] as usize);
            for (&c, &v) in p.rec_col[lo..hi].iter().zip(&p.rec_val[lo..hi]) {
                let at = pos[off + c as usize];
                if at == usize::MAX {
                    return Err(Error::invalid("column blocks: a Romano–Wolf record for a column without a statistic"));
                }
                recs.push((at, v));
            }
        }
        recs.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
        let mut running = f64::NEG_INFINITY;
        for (i, &(hi, v)) in recs.iter().enumerate() {
            if v > running {
                running = v;
            }
            let after_next = recs.get(i + 1).map_or(0, |r| r.0 + 1);
            let first_reached = stats.partition_point(|&s| s > running);
            let lo = first_reached.max(after_next);
            if lo <= hi {
                diff[lo] += 1;
                diff[hi + 1] -= 1;
            }
        }
    }
    let mut counts = Vec::with_capacity(n_order);
    let mut acc = 0i64;
    for d in &diff[..n_order] {
        acc += d;
        counts.push(acc.max(0) as u64);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reality_check::bootstrap::{BootstrapSpec, Method, MethodKind, RngKind};
    use crate::reality_check::{run, Kernel, Layout, Matrix};

    fn panel(t: usize, k: usize, seed: u64, gaps: bool) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Column-major; a few columns with a drift, some gaps.
        let mut v = Vec::with_capacity(t * k);
        for c in 0..k {
            let drift = if c % 5 == 0 { 0.05 } else { 0.0 };
            let mut prev = 0.0;
            for _ in 0..t {
                let x = 0.5 * prev + next() - 0.5 + drift;
                prev = x;
                v.push(if gaps && next() < 0.1 { f64::NAN } else { x });
            }
        }
        v
    }

    fn block_of(values: &[f64], t: usize, c0: usize, c1: usize) -> Prepared {
        let cols = values[c0 * t..c1 * t].to_vec();
        Prepared::new(Matrix { values: &cols, t, k: c1 - c0, layout: Layout::ColMajor }, 6.0, false).unwrap()
    }

    /// The combined blocks equal the single run, bit for bit, for several splits.
    #[test]
    fn blocks_equal_the_single_run() {
        for (t, k, gaps, centering, null_scale) in [
            (120, 13, false, NullCentering::Recentred, 1.0),
            (120, 13, false, NullCentering::Recentred, 1.093),
            (90, 9, true, NullCentering::Recentred, 1.0 / 0.8f64.sqrt()),
            (60, 7, true, NullCentering::None, 1.0),
        ] {
            let values = panel(t, k, (t * k) as u64, gaps);
            let whole = Prepared::new(Matrix { values: &values, t, k, layout: Layout::ColMajor }, 6.0, false).unwrap();
            let method = Method::new(MethodKind::Stationary, 6.0, 6.0).unwrap();
            let spec = BootstrapSpec { t, method, rng: RngKind::Default, seed: 7 };
            let opts = RcOptions {
                spec,
                n_sim: 150,
                centering,
                kernel: Kernel::PrefixSum,
                keep_matrix: false,
                compare_to: None,
                null_scale,
            };
            let single = run(&whole, &opts, IndexSource::Generated, &RunControl::new()).unwrap();
            for bounds in [vec![0, k], vec![0, 1, k], vec![0, 4, 5, k], (0..=k).collect::<Vec<_>>()] {
                let preps: Vec<Prepared> = bounds.windows(2).map(|w| block_of(&values, t, w[0], w[1])).collect();
                let runs: Vec<BlockRun> = preps
                    .iter()
                    .map(|p| run_block(p, &opts, IndexSource::Generated, &RunControl::new()).unwrap())
                    .collect();
                let n_obs: Vec<Vec<u64>> = preps.iter().map(|p| p.n_obs.iter().map(|&n| n as u64).collect()).collect();
                let parts: Vec<BlockPart<'_>> = preps
                    .iter()
                    .zip(&runs)
                    .zip(&n_obs)
                    .map(|((p, r), n)| BlockPart {
                        t: r.t,
                        n_sim: r.n_sim,
                        observed: &p.observed,
                        n_obs: n,
                        omega: &p.omega,
                        null_max: &r.null_max,
                        spa: &r.spa,
                        rec_start: &r.rec_start,
                        rec_col: &r.rec_col,
                        rec_val: &r.rec_val,
                    })
                    .collect();
                let got = combine(&parts, centering, null_scale).unwrap();
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let case = format!("T={t} K={k} gaps={gaps} c={null_scale} bounds={bounds:?}");
                assert_eq!(bits(&got.null_max), bits(&single.null_max), "{case}");
                assert_eq!(bits(&got.romano_wolf), bits(&single.romano_wolf), "{case}");
                assert_eq!(got.rc_p_value.to_bits(), single.rc_p_value.to_bits(), "{case}");
                assert_eq!(got.spa_studentized, single.spa_studentized, "{case}");
                assert_eq!(got.spa_unstudentized, single.spa_unstudentized, "{case}");
                assert_eq!(got.spa_stat_studentized.to_bits(), single.spa_stat_studentized.to_bits(), "{case}");
                // Not vacuous: with the recentred null the family has a discovery.
                assert!(centering == NullCentering::None || single.romano_wolf.iter().any(|&p| p < 0.5), "{case}");
            }
        }
    }

    #[test]
    fn blocks_of_different_lengths_are_refused() {
        let a = [0.0];
        let one = [1u64];
        let nm = [0.0];
        let spa = [0.0; SPA_SLOTS];
        let rs = [0u64, 0];
        let part = |t| BlockPart {
            t,
            n_sim: 1,
            observed: &a,
            n_obs: &one,
            omega: &a,
            null_max: &nm,
            spa: &spa,
            rec_start: &rs,
            rec_col: &[],
            rec_val: &[],
        };
        let err = combine(&[part(5), part(6)], NullCentering::Recentred, 1.0).unwrap_err();
        assert!(err.to_string().contains("not read from the same data"), "{err}");
    }
}
