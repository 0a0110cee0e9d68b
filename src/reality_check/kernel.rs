//! The simulation kernel: one chunk of simulations from their bootstrap segments to their null
//! maxima and counts ([`run_chunk`]), and the prefix-sum sweep that computes the chunk's centred
//! means `m*_{b,k} − m_k` (stored or streamed prefix sums, AVX2 or baseline build; a plain gather
//! kernel is kept as the reference).
//!
//! Every value is a function of (data, seed, b) only: a simulation's additions happen in an order
//! fixed by its own segments, whatever the chunk it is grouped in or the thread that runs it.

use super::prepare::{centred_value, Sums};
use super::tally::{Tally, Targets};
use super::{nanmax, IndexSource, Kernel, Layout, Matrix, Prepared, RcOptions};
use crate::bootstrap::{blocks_to_segments, indices_to_segments, BootstrapSpec};
use crate::draw_omega::DrawOmega;
use crate::error::{Error, Result};

/// What every chunk of one batch reads (shared by all workers).
pub(super) struct Batch<'a> {
    pub p: &'a Prepared,
    pub opts: &'a RcOptions,
    pub source: &'a IndexSource<'a>,
    pub targets: &'a Targets,
    /// Simulations per chunk (the last chunk may have fewer).
    pub chunk: usize,
}

/// Per-worker state: reusable buffers, the counts of the chunks it ran, its first error.
pub(super) struct Worker {
    blocks: Vec<(usize, usize)>,
    segs: Vec<(usize, usize)>,
    acc: Vec<f64>,
    cnt: Vec<u64>,
    d: Vec<f64>,
    /// The null values of the current simulation (centred or not, [`super::NullCentering`]).
    nullv: Vec<f64>,
    /// Per-draw studentization sqrt(n*_k)/ω*_{b,k} of each simulation of the chunk (draw_omega.rs).
    dscale_all: Vec<f64>,
    domega: DrawOmega,
    pub tally: Tally,
    pub err: Option<Error>,
    /// Segments of each simulation of the current chunk.
    seg_lists: Vec<Vec<(usize, usize)>>,
    /// Centred means of each simulation of the chunk (chunk × K), and counts when there are NaNs.
    dall: Vec<f64>,
    call: Vec<u64>,
    /// Counting sort of segment endpoints by row: bucket starts, fill cursors, events
    /// (`sim << 1 | is_start`).
    row_start: Vec<usize>,
    cursor: Vec<usize>,
    events: Vec<u32>,
    /// Buffers of the streamed sweep.
    stream: StreamBufs,
}

impl Worker {
    /// A worker for K columns and `n_order` stepdown positions.
    pub fn new(k: usize, n_order: usize) -> Self {
        Worker {
            blocks: Vec::new(),
            segs: Vec::new(),
            acc: vec![0.0; k],
            cnt: vec![0; k],
            d: vec![0.0; k],
            nullv: vec![0.0; k],
            dscale_all: Vec::new(),
            domega: DrawOmega::default(),
            tally: Tally::new(n_order),
            err: None,
            seg_lists: Vec::new(),
            dall: Vec::new(),
            call: Vec::new(),
            row_start: Vec::new(),
            cursor: Vec::new(),
            events: Vec::new(),
            stream: StreamBufs::default(),
        }
    }

    fn ensure_chunk(&mut self, k: usize, has_nan: bool, chunk: usize) {
        if self.seg_lists.len() < chunk {
            self.seg_lists.resize_with(chunk, Vec::new);
            self.dall = vec![0.0; chunk * k];
            if has_nan {
                self.call = vec![0; chunk * k];
            }
        }
    }

    /// Two workers' counts added (integers: the order of merging does not matter); the first error.
    pub fn merge(mut self, other: Worker) -> Worker {
        self.tally.merge(&other.tally);
        if self.err.is_none() {
            self.err = other.err;
        }
        self
    }
}

/// Run chunk `ci` of a batch: simulations `ci·chunk ..` (one per slot of `out`). Their null
/// maxima go to `out`, their null rows to `matrix` when the caller keeps it, their exceedances
/// to `w.tally`.
pub(super) fn run_chunk(
    batch: &Batch<'_>,
    w: &mut Worker,
    ci: usize,
    out: &mut [f64],
    mut matrix: Option<&mut [f64]>,
) -> Result<()> {
    let (p, tg, n) = (batch.p, batch.targets, out.len());
    let k = p.k;
    w.ensure_chunk(k, p.has_nan(), batch.chunk);
    for j in 0..n {
        chunk_segments(batch, w, ci * batch.chunk + j, j)?;
    }
    centred_means(p, batch.opts.kernel, w, n)?;
    draw_scales(p, tg, w, n)?;
    for (j, slot) in out.iter_mut().enumerate() {
        let d = &w.dall[j * k..(j + 1) * k];
        batch.opts.centering.null_values(d, &p.observed, &mut w.nullv);
        if let Some(row) = matrix.as_deref_mut().and_then(|m| m.get_mut(j * k..(j + 1) * k)) {
            row.copy_from_slice(&w.nullv);
        }
        *slot = nanmax(w.nullv.iter().copied());
        w.tally.add(tg, &w.nullv, d, &w.dscale_all[j * k..(j + 1) * k]);
    }
    Ok(())
}

/// The segments of simulation `b` into slot `j` of the chunk: from the bootstrap spec, or from
/// the caller's explicit indices.
fn chunk_segments(batch: &Batch<'_>, w: &mut Worker, b: usize, j: usize) -> Result<()> {
    let t = batch.p.t;
    let segs = &mut w.seg_lists[j];
    match batch.source {
        IndexSource::Generated => {
            batch.opts.spec.blocks(b as u64, &mut w.blocks)?;
            blocks_to_segments(&w.blocks, t, segs);
        }
        IndexSource::Explicit(idx) => {
            let row =
                idx.get(b * t..(b + 1) * t).ok_or_else(|| Error::Internal("explicit index row out of range".into()))?;
            indices_to_segments(row, t, segs)?;
        }
    }
    Ok(())
}

/// The centred means of the chunk's `n` simulations into `w.dall` (row j = simulation j).
fn centred_means(p: &Prepared, kernel: Kernel, w: &mut Worker, n: usize) -> Result<()> {
    let k = p.k;
    match kernel {
        Kernel::PrefixSum => kernel_sweep(p, w, n, true),
        Kernel::PrefixSumScalar => kernel_sweep(p, w, n, false),
        Kernel::Gather => {
            for j in 0..n {
                w.segs = std::mem::take(&mut w.seg_lists[j]);
                kernel_gather(p, w)?;
                w.seg_lists[j] = std::mem::take(&mut w.segs);
                w.dall[j * k..(j + 1) * k].copy_from_slice(&w.d);
            }
            Ok(())
        }
    }
}

/// The draws' own studentization ω* for the studentized SPA into `w.dscale_all`. When the
/// observed studentized statistic is 0 every draw counts whatever its scale: the observed
/// scales are used and no ω* is computed.
fn draw_scales(p: &Prepared, tg: &Targets, w: &mut Worker, n: usize) -> Result<()> {
    let k = p.k;
    if w.dscale_all.len() < n * k {
        w.dscale_all.resize(n * k, 0.0);
    }
    if tg.spa_obs_s > 0.0 {
        let (segs, dall, out) = (&w.seg_lists[..n], &w.dall[..n * k], &mut w.dscale_all[..n * k]);
        w.domega.chunk_scales(p, segs, dall, &tg.scale, out)
    } else {
        for row in w.dscale_all[..n * k].chunks_mut(k) {
            row.copy_from_slice(&tg.scale);
        }
        Ok(())
    }
}

/// The centred means `m*_{b,k} − m_k` of simulation `b` alone (what `null(b)` is made of).
pub(super) fn one_simulation(p: &Prepared, spec: &BootstrapSpec, b: u64) -> Result<Vec<f64>> {
    let mut w = Worker::new(p.k, 0);
    w.ensure_chunk(p.k, p.has_nan(), 1);
    spec.blocks(b, &mut w.blocks)?;
    blocks_to_segments(&w.blocks, p.t, &mut w.seg_lists[0]);
    kernel_sweep(p, &mut w, 1, true)?;
    Ok(w.dall[..p.k].to_vec())
}

/// Columns per tile of the sweep kernel: the accumulators of the chunk's simulations for one
/// tile (n × width doubles) should stay in a core's L2 cache (~512 KiB budget).
fn tile_width(n: usize, k: usize) -> usize {
    let w = 512 * 1024 / (8 * n.max(1));
    w.max(64).min(k.max(1))
}

/// Prefix kernel over the `n` simulations of a chunk. Every segment `[a, b)` of simulation `j`
/// is the pair of events (+P[b], −P[a]) on its accumulator; the events of the chunk are sorted by
/// row (counting sort), so the prefix rows are read once per chunk in memory order instead of
/// once per segment in random order. Each simulation's own events are applied in an order that
/// depends only on its own segments (row, then segment order), so results do not depend on how
/// simulations are grouped into chunks or on the number of threads.
/// Fills `w.dall[j*K..(j+1)*K]` with m*_{j,k} − m_k.
fn kernel_sweep(p: &Prepared, w: &mut Worker, n: usize, simd: bool) -> Result<()> {
    let (k, t) = (p.k, p.t);
    let has_nan = p.has_nan();
    // Counting sort of the endpoints by row.
    w.row_start.clear();
    w.row_start.resize(t + 2, 0);
    for segs in &w.seg_lists[..n] {
        for &(a, b) in segs {
            if a >= b || b > t {
                return Err(Error::Internal(format!("segment [{a}, {b}) outside 0..{t}")));
            }
            w.row_start[a + 1] += 1;
            w.row_start[b + 1] += 1;
        }
    }
    for r in 1..w.row_start.len() {
        w.row_start[r] += w.row_start[r - 1];
    }
    let total = w.row_start[t + 1];
    w.events.clear();
    w.events.resize(total, 0);
    w.cursor.clear();
    w.cursor.extend_from_slice(&w.row_start[..t + 1]);
    for (j, segs) in w.seg_lists[..n].iter().enumerate() {
        let tag = (j as u32) << 1;
        for &(a, b) in segs {
            let cb = &mut w.cursor[b];
            w.events[*cb] = tag;
            *cb += 1;
            let ca = &mut w.cursor[a];
            w.events[*ca] = tag | 1;
            *ca += 1;
        }
    }
    let tile = tile_width(n, k);
    w.dall[..n * k].fill(0.0);
    if has_nan {
        w.call[..n * k].fill(0);
    }
    let mut c0 = 0;
    while c0 < k {
        let wd = tile.min(k - c0);
        let args = SweepArgs { p, row_start: &w.row_start, events: &w.events, k, c0, wd };
        sweep_tile_dispatch(&args, simd, &mut w.stream, &mut w.dall, &mut w.call)?;
        c0 += wd;
    }
    for j in 0..n {
        let total: usize = w.seg_lists[j].iter().map(|(a, b)| b - a).sum();
        let row = &mut w.dall[j * k..(j + 1) * k];
        if has_nan {
            for (d, c) in row.iter_mut().zip(&w.call[j * k..(j + 1) * k]) {
                *d = if *c == 0 { f64::NAN } else { *d / *c as f64 };
            }
        } else {
            let inv = 1.0 / total as f64;
            for (d, m) in row.iter_mut().zip(&p.observed) {
                *d = if m.is_nan() || total == 0 { f64::NAN } else { *d * inv };
            }
        }
    }
    Ok(())
}

/// Inputs of one column tile of the sweep.
struct SweepArgs<'a> {
    p: &'a Prepared,
    row_start: &'a [usize],
    events: &'a [u32],
    k: usize,
    c0: usize,
    wd: usize,
}

/// Rows of the input centred at a time by the streamed sweep (four cache lines of a column in
/// Fortran order: 8 rows a time was 1.7× slower per simulation, 32 and 64 the same).
const STREAM_ROWS: usize = 32;

/// Buffers of the streamed sweep: the running prefix row of the tile (sums and counts) and the
/// centred values of the next [`STREAM_ROWS`] rows.
#[derive(Default)]
struct StreamBufs {
    run: Vec<f64>,
    run_cnt: Vec<u32>,
    rows: Vec<f64>,
}

/// Add the prefix row (`prow`, and `crow` when there are NaNs) of the row's events to their
/// simulations' accumulators: `+P[r]` for a segment ending at r, `−P[r]` for one starting at r.
/// Plain element-wise adds in event order: vectorizing them (SSE2 or AVX2) changes no rounding.
#[inline(always)]
fn apply_row_events(
    a: &SweepArgs<'_>,
    events: &[u32],
    prow: &[f64],
    crow: Option<&[u32]>,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    let (k, c0, wd) = (a.k, a.c0, a.wd);
    for &e in events {
        let j = (e >> 1) as usize;
        let Some(acc) = dall.get_mut(j * k + c0..j * k + c0 + wd) else {
            return Err(Error::Internal("accumulator outside the chunk".into()));
        };
        if e & 1 == 0 {
            for (s, v) in acc.iter_mut().zip(prow) {
                *s += v;
            }
        } else {
            for (s, v) in acc.iter_mut().zip(prow) {
                *s -= v;
            }
        }
    }
    if let Some(crow) = crow {
        for &e in events {
            let j = (e >> 1) as usize;
            let Some(cacc) = call.get_mut(j * k + c0..j * k + c0 + wd) else {
                return Err(Error::Internal("count accumulator outside the chunk".into()));
            };
            if e & 1 == 0 {
                for (s, v) in cacc.iter_mut().zip(crow) {
                    *s = s.wrapping_add(u64::from(*v));
                }
            } else {
                for (s, v) in cacc.iter_mut().zip(crow) {
                    *s = s.wrapping_sub(u64::from(*v));
                }
            }
        }
    }
    Ok(())
}

/// Apply every event of the chunk to columns `c0..c0+wd` (sums, and counts when there are NaNs),
/// reading the stored prefix rows.
#[inline(always)]
fn sweep_tile_stored(
    a: &SweepArgs<'_>,
    prefix: &[f64],
    cnt: Option<&[u32]>,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    let (k, c0, wd) = (a.k, a.c0, a.wd);
    for r in 0..=a.p.t {
        let (lo, hi) = (a.row_start[r], a.row_start[r + 1]);
        if lo == hi {
            continue;
        }
        let Some(prow) = prefix.get(r * k + c0..r * k + c0 + wd) else {
            return Err(Error::Internal("row outside the prefix sums".into()));
        };
        let crow = match cnt {
            Some(pc) => match pc.get(r * k + c0..r * k + c0 + wd) {
                Some(row) => Some(row),
                None => return Err(Error::Internal("row outside the count prefix".into())),
            },
            None => None,
        };
        apply_row_events(a, &a.events[lo..hi], prow, crow, dall, call)?;
    }
    Ok(())
}

/// The same sweep with `P[r]` rebuilt from the input as the rows go by: `P[r+1] = P[r] + (x[r] −
/// m, or 0 when NaN)`, exactly the additions that build the stored prefix sums, so the same
/// bits. At the end the running row must equal the column totals computed when the engine was
/// built; otherwise the input changed since then.
#[inline(always)]
fn sweep_tile_streamed(
    a: &SweepArgs<'_>,
    input: &Matrix<'_>,
    total: (&[f64], &[u32]),
    sb: &mut StreamBufs,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    let (t, c0, wd) = (a.p.t, a.c0, a.wd);
    let has_nan = a.p.has_nan();
    let m = a.p.observed.get(c0..c0 + wd).ok_or_else(|| Error::Internal("tile outside the columns".into()))?;
    sb.run.clear();
    sb.run.resize(wd, 0.0);
    sb.run_cnt.clear();
    sb.run_cnt.resize(wd, 0);
    sb.rows.resize(STREAM_ROWS * wd, 0.0);
    for r0 in (0..=t).step_by(STREAM_ROWS) {
        let r1 = (r0 + STREAM_ROWS).min(t);
        // Centre rows r0..r1 of the tile into `sb.rows` (row-major), reading the input in its order.
        match input.layout {
            Layout::ColMajor => {
                for (c, &mc) in m.iter().enumerate() {
                    let base = (c0 + c) * t;
                    let col = input.values.get(base + r0..base + r1).unwrap_or(&[]);
                    for (i, &v) in col.iter().enumerate() {
                        sb.rows[i * wd + c] = centred_value(v, mc);
                    }
                }
            }
            Layout::RowMajor => {
                for r in r0..r1 {
                    let base = r * input.k + c0;
                    let Some(row) = input.values.get(base..base + wd) else {
                        return Err(Error::Internal("row outside the input".into()));
                    };
                    let dst = &mut sb.rows[(r - r0) * wd..(r - r0 + 1) * wd];
                    for ((d, &v), &mc) in dst.iter_mut().zip(row).zip(m) {
                        *d = centred_value(v, mc);
                    }
                }
            }
        }
        for r in r0..(r0 + STREAM_ROWS).min(t + 1) {
            let (lo, hi) = (a.row_start[r], a.row_start[r + 1]);
            if lo < hi {
                let crow = if has_nan { Some(&sb.run_cnt[..]) } else { None };
                apply_row_events(a, &a.events[lo..hi], &sb.run, crow, dall, call)?;
            }
            if r < t {
                let dv = &sb.rows[(r - r0) * wd..(r - r0 + 1) * wd];
                for (s, d) in sb.run.iter_mut().zip(dv) {
                    *s += if d.is_nan() { 0.0 } else { *d };
                }
                if has_nan {
                    for (n, d) in sb.run_cnt.iter_mut().zip(dv) {
                        *n += u32::from(!d.is_nan());
                    }
                }
            }
        }
    }
    let (tot, tot_n) = total;
    let same_sums = sb.run.iter().zip(&tot[c0..c0 + wd]).all(|(a, b)| a.to_bits() == b.to_bits());
    let same_counts = !has_nan || sb.run_cnt.iter().zip(&tot_n[c0..c0 + wd]).all(|(a, b)| a == b);
    if !(same_sums && same_counts) {
        return Err(Error::invalid(
            "the input array was modified after the Reality Check engine was built; build a new \
             null generator from the changed data",
        ));
    }
    Ok(())
}

/// One tile, stored or streamed.
#[inline(always)]
fn sweep_tile_body(a: &SweepArgs<'_>, sb: &mut StreamBufs, dall: &mut [f64], call: &mut [u64]) -> Result<()> {
    match &a.p.sums {
        Sums::Stored { prefix, cnt } => sweep_tile_stored(a, prefix, cnt.as_deref(), dall, call),
        Sums::Streamed { input, layout, total, total_cnt } => {
            let x = Matrix { values: input.values(), t: a.p.t, k: a.k, layout: *layout };
            sweep_tile_streamed(a, &x, (total, total_cnt), sb, dall, call)
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sweep_tile_avx2(a: &SweepArgs<'_>, sb: &mut StreamBufs, dall: &mut [f64], call: &mut [u64]) -> Result<()> {
    sweep_tile_body(a, sb, dall, call)
}

/// The same code compiled for AVX2 when the CPU has it (detected at run time) and `simd`, else
/// baseline.
fn sweep_tile_dispatch(
    a: &SweepArgs<'_>,
    simd: bool,
    sb: &mut StreamBufs,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        if simd && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { sweep_tile_avx2(a, sb, dall, call) };
        }
    }
    let _ = simd;
    sweep_tile_body(a, sb, dall, call)
}

/// Reference kernel: gather every index of the segments.
fn kernel_gather(p: &Prepared, w: &mut Worker) -> Result<()> {
    let k = p.k;
    let Some(values) = &p.centred else {
        return Err(Error::Internal("gather kernel needs Prepared::new(.., keep_values=true)".into()));
    };
    w.acc.fill(0.0);
    w.cnt.fill(0);
    for &(a, b) in &w.segs {
        for t in a..b {
            let Some(row) = values.get(t * k..t * k + k) else {
                return Err(Error::Internal("index outside the data".into()));
            };
            for ((s, c), v) in w.acc.iter_mut().zip(w.cnt.iter_mut()).zip(row) {
                if !v.is_nan() {
                    *s += v;
                    *c += 1;
                }
            }
        }
    }
    if !p.has_nan() {
        // Same convention as the prefix kernel: counts are implied.
        let total: usize = w.segs.iter().map(|(a, b)| b - a).sum();
        w.cnt.fill(total as u64);
    }
    finish_means_with_counts(w);
    Ok(())
}

fn finish_means_with_counts(w: &mut Worker) {
    for ((d, s), c) in w.d.iter_mut().zip(&w.acc).zip(&w.cnt) {
        *d = if *c == 0 { f64::NAN } else { s / *c as f64 };
    }
}
