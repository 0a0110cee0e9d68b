//! The simulation kernel: one chunk of simulations from their bootstrap segments to their null
//! maxima and counts ([`begin_chunk`], then [`chunk_tile`] for every column tile, then
//! [`end_chunk`]; the batch driver in reality_check.rs shares each tile among the chunks that run
//! together), and the prefix-sum sweep that computes, tile of columns by tile, the chunk's centred
//! means `m*_{b,k} − m_k` and then the draws' own ω* (stored prefix sums or a tile rebuilt from
//! the input, AVX2 or baseline build; a plain gather kernel is kept as the reference).
//!
//! Every value is a function of (data, seed, b) only: a simulation's additions happen in an order
//! fixed by its own segments, whatever the chunk it is grouped in or the thread that runs it.

#![warn(missing_docs)]

use super::prepare::{tile_width, TileBuf, TileView};
use super::tally::{Tally, Targets};
use super::{nanmax, IndexSource, Kernel, Prepared, RcOptions};
use crate::error::{Error, Result};
use crate::reality_check::bootstrap::{blocks_to_segments, indices_to_segments, BootstrapSpec};
use crate::reality_check::draw_omega::{DrawOmega, ScaleTarget, TileScales};

/// What every chunk of one batch reads (shared by all workers).
pub(super) struct Batch<'a> {
    pub p: &'a Prepared,
    pub opts: &'a RcOptions,
    pub source: &'a IndexSource<'a>,
    pub targets: &'a Targets,
    /// Simulations per chunk (the last chunk may have fewer).
    pub chunk: usize,
}

/// Per-worker state: reusable buffers and the counts of the chunks it ran.
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
    /// Segments of each simulation of the current chunk.
    seg_lists: Vec<Vec<(usize, usize)>>,
    /// Centred means of each simulation of the chunk (chunk × K).
    dall: Vec<f64>,
    /// Counting sort of segment endpoints by row: bucket starts, fill cursors, events
    /// (`sim << 1 | is_start`).
    row_start: Vec<usize>,
    cursor: Vec<usize>,
    events: Vec<u32>,
    /// Length of each simulation of the chunk (sum of its segments).
    seg_total: Vec<usize>,
    /// A tile's prefix sums when they are rebuilt from the input (streamed mode).
    tile_buf: TileBuf,
    /// One tile's accumulators: sums and counts (n × wd).
    tile_acc: Vec<f64>,
    tile_cnt: Vec<u64>,
    neg_row: Vec<f64>,
}

impl Worker {
    /// A worker for K columns and `n_order` stepdown positions.
    pub(crate) fn new(k: usize, n_order: usize) -> Self {
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
            seg_lists: Vec::new(),
            dall: Vec::new(),
            row_start: Vec::new(),
            cursor: Vec::new(),
            events: Vec::new(),
            seg_total: Vec::new(),
            tile_buf: TileBuf::default(),
            tile_acc: Vec::new(),
            tile_cnt: Vec::new(),
            neg_row: Vec::new(),
        }
    }

    /// Draw `j` of the chunk just swept: its centred means and its per-draw scales (K each).
    pub(super) fn draw(&self, j: usize, k: usize) -> Option<(&[f64], &[f64])> {
        Some((self.dall.get(j * k..(j + 1) * k)?, self.dscale_all.get(j * k..(j + 1) * k)?))
    }

    fn ensure_chunk(&mut self, k: usize, chunk: usize) {
        if self.seg_lists.len() < chunk {
            self.seg_lists.resize_with(chunk, Vec::new);
            self.dall = vec![0.0; chunk * k];
        }
    }
}

/// Everything of chunk `ci` (simulations `ci·chunk ..`, `n` of them) that comes before its column
/// tiles: the segments, their endpoints sorted by row and the runs the studentized SPA needs; with
/// the gather kernel, the centred means and scales themselves.
pub(super) fn begin_chunk(batch: &Batch<'_>, w: &mut Worker, ci: usize, n: usize) -> Result<()> {
    let (p, tg) = (batch.p, batch.targets);
    w.ensure_chunk(p.k, batch.chunk);
    for j in 0..n {
        chunk_segments(batch, w, ci * batch.chunk + j, j)?;
    }
    let per_draw = init_scales(tg, w, n, p.k);
    match batch.opts.kernel {
        Kernel::Gather => gather_chunk(p, tg, w, n),
        Kernel::PrefixSum | Kernel::PrefixSumScalar => sort_endpoints(p, w, n, per_draw),
    }
}

/// Columns `c0..c0+view.wd` of a chunk begun by [`begin_chunk`]: its centred means and, for the
/// studentized SPA, its scales (prefix kernels; the gather kernel did everything already).
pub(super) fn chunk_tile(batch: &Batch<'_>, w: &mut Worker, n: usize, c0: usize, view: &TileView<'_>) -> Result<()> {
    let simd = match batch.opts.kernel {
        Kernel::Gather => return Ok(()),
        Kernel::PrefixSum => true,
        Kernel::PrefixSumScalar => false,
    };
    let tg = batch.targets;
    let target = tg.scale_target();
    sweep_tile(batch.p, w, n, simd, target, c0, view)
}

/// The end of a chunk whose every tile is done: its null maxima go to `out`, its null rows to
/// `matrix` when the caller keeps it, its exceedances to `w.tally`.
pub(super) fn end_chunk(batch: &Batch<'_>, w: &mut Worker, out: &mut [f64], mut matrix: Option<&mut [f64]>) {
    let (p, tg) = (batch.p, batch.targets);
    let k = p.k;
    for (j, slot) in out.iter_mut().enumerate() {
        let d = &w.dall[j * k..(j + 1) * k];
        batch.opts.centering.null_values(d, &p.observed, &mut w.nullv);
        if let Some(row) = matrix.as_deref_mut().and_then(|m| m.get_mut(j * k..(j + 1) * k)) {
            row.copy_from_slice(&w.nullv);
        }
        *slot = nanmax(w.nullv.iter().copied());
        w.tally.add(tg, &w.nullv, d, &w.dscale_all[j * k..(j + 1) * k]);
    }
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

/// Size the chunk's scales; returns whether each draw needs its own ω* ([`Targets::scale_target`];
/// without, the observed scales).
fn init_scales(tg: &Targets, w: &mut Worker, n: usize, k: usize) -> bool {
    if w.dscale_all.len() < n * k {
        w.dscale_all.resize(n * k, 0.0);
    }
    let per_draw = tg.scale_target().is_some();
    if !per_draw {
        for row in w.dscale_all[..n * k].chunks_mut(k) {
            row.copy_from_slice(&tg.scale);
        }
    }
    per_draw
}

/// The gather reference kernel over a whole chunk: centred means, then (when the targets ask) ω*.
fn gather_chunk(p: &Prepared, tg: &Targets, w: &mut Worker, n: usize) -> Result<()> {
    let k = p.k;
    for j in 0..n {
        w.segs = std::mem::take(&mut w.seg_lists[j]);
        kernel_gather(p, w)?;
        w.seg_lists[j] = std::mem::take(&mut w.segs);
        w.dall[j * k..(j + 1) * k].copy_from_slice(&w.d);
    }
    if let Some(target) = tg.scale_target() {
        let (segs, dall, out) = (&w.seg_lists[..n], &w.dall[..n * k], &mut w.dscale_all[..n * k]);
        w.domega.chunk_scales(p, segs, dall, target, out, &mut w.tile_buf)?;
    }
    Ok(())
}

/// The centred means `m*_{b,k} − m_k` of simulation `b` alone (what `null(b)` is made of).
pub(super) fn one_simulation(p: &Prepared, spec: &BootstrapSpec, b: u64) -> Result<Vec<f64>> {
    let mut w = Worker::new(p.k, 0);
    w.ensure_chunk(p.k, 1);
    spec.blocks(b, &mut w.blocks)?;
    blocks_to_segments(&w.blocks, p.t, &mut w.seg_lists[0]);
    kernel_sweep(p, &mut w, 1, true, None)?;
    Ok(w.dall[..p.k].to_vec())
}

/// Prefix kernel over the `n` simulations of a chunk. Every segment `[a, b)` of simulation `j`
/// is the pair of events (+P[b], −P[a]) on its accumulator; the events of the chunk are sorted by
/// row (counting sort), so the prefix rows are read once per chunk in memory order instead of
/// once per segment in random order. Each simulation's own events are applied in an order that
/// depends only on its own segments (row, then segment order), so results do not depend on how
/// simulations are grouped into chunks or on the number of threads.
///
/// The columns go by tiles narrow enough for the chunk's accumulators to stay in L2; each tile's
/// prefix sums (stored, or rebuilt from the input once per tile) serve its means and then, when
/// `target` is given, its per-draw ω* (draw_omega.rs) while they are still in cache.
/// Fills `w.dall[j*K..(j+1)*K]` with m*_{j,k} − m_k and, with `target`, `w.dscale_all` alike.
/// [`sort_endpoints`] sorts the chunk's events (and runs), [`sweep_tile`] does one tile.
fn kernel_sweep(p: &Prepared, w: &mut Worker, n: usize, simd: bool, target: Option<ScaleTarget<'_>>) -> Result<()> {
    sort_endpoints(p, w, n, target.is_some())?;
    let k = p.k;
    let tile = tile_width(n, k);
    let mut buf = std::mem::take(&mut w.tile_buf);
    let mut c0 = 0;
    while c0 < k {
        let wd = tile.min(k - c0);
        let view = p.tile(c0, wd, &mut buf)?;
        sweep_tile(p, w, n, simd, target, c0, &view)?;
        c0 += wd;
    }
    w.tile_buf = buf;
    Ok(())
}

/// The endpoints of the chunk's segments sorted by row (counting sort: `w.row_start`,
/// `w.events`), each simulation's length, and its runs for ω* when `per_draw`.
fn sort_endpoints(p: &Prepared, w: &mut Worker, n: usize, per_draw: bool) -> Result<()> {
    let t = p.t;
    // Counting sort of the endpoints by row.
    w.row_start.clear();
    w.row_start.resize(t + 2, 0);
    w.seg_total.clear();
    for segs in &w.seg_lists[..n] {
        for &(a, b) in segs {
            if a >= b || b > t {
                return Err(Error::Internal(format!("segment [{a}, {b}) outside 0..{t}")));
            }
            w.row_start[a + 1] += 1;
            w.row_start[b + 1] += 1;
        }
        w.seg_total.push(segs.iter().map(|(a, b)| b - a).sum());
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
    if per_draw {
        w.domega.sort_runs(&w.seg_lists[..n], t)?;
    }
    Ok(())
}

/// One tile (columns `c0..c0+view.wd`) of a chunk whose endpoints [`sort_endpoints`] sorted.
fn sweep_tile(
    p: &Prepared,
    w: &mut Worker,
    n: usize,
    simd: bool,
    target: Option<ScaleTarget<'_>>,
    c0: usize,
    view: &TileView<'_>,
) -> Result<()> {
    let args = TileArgs { p, row_start: &w.row_start, events: &w.events, seg_total: &w.seg_total, n, c0 };
    let mut parts = TileParts {
        dall: &mut w.dall,
        acc: &mut w.tile_acc,
        cnt: &mut w.tile_cnt,
        domega: &mut w.domega,
        scale: &mut w.dscale_all,
        target,
        neg: &mut w.neg_row,
    };
    tile_dispatch(&args, view, simd, &mut parts)
}

/// What every tile of a chunk reads.
struct TileArgs<'a> {
    p: &'a Prepared,
    row_start: &'a [usize],
    events: &'a [u32],
    /// Length of each simulation (sum of its segments).
    seg_total: &'a [usize],
    n: usize,
    c0: usize,
}

/// What a tile writes: the chunk's accumulators (sums, counts when there are NaNs), and the
/// per-draw scales when `target` is given.
struct TileParts<'a> {
    /// The chunk's centred means (n × K).
    dall: &'a mut [f64],
    /// The tile's accumulators, sums and counts (n × wd).
    acc: &'a mut Vec<f64>,
    cnt: &'a mut Vec<u64>,
    domega: &'a mut DrawOmega,
    scale: &'a mut [f64],
    target: Option<ScaleTarget<'a>>,
    /// The negated prefix row (see [`apply_row_events`]).
    neg: &'a mut Vec<f64>,
}

/// Add the prefix row (`prow`, and `crow` when there are NaNs) of the row's events to their
/// simulations' accumulators: `+P[r]` for a segment ending at r, `−P[r]` for one starting at r.
/// Plain element-wise adds in event order: vectorizing them (SSE2 or AVX2) changes no rounding.
#[inline(always)]
fn apply_row_events(
    events: &[u32],
    prow: &[f64],
    crow: Option<&[u32]>,
    acc_tile: &mut [f64],
    cnt_tile: &mut [u64],
    neg: &mut Vec<f64>,
) -> Result<()> {
    let wd = prow.len();
    // −P[r] once per row, so that an event picks its row by its sign without a branch (start
    // and end events alternate unpredictably). s + (−v) is s − v exactly (IEEE 754).
    neg.clear();
    neg.extend(prow.iter().map(|v| -v));
    let by_sign: [&[f64]; 2] = [prow, neg];
    for &e in events {
        let j = (e >> 1) as usize;
        let Some(acc) = acc_tile.get_mut(j * wd..(j + 1) * wd) else {
            return Err(Error::Internal("accumulator outside the chunk".into()));
        };
        let src = by_sign[(e & 1) as usize];
        for (s, v) in acc.iter_mut().zip(src) {
            *s += v;
        }
    }
    if let Some(crow) = crow {
        for &e in events {
            let j = (e >> 1) as usize;
            let Some(cacc) = cnt_tile.get_mut(j * wd..(j + 1) * wd) else {
                return Err(Error::Internal("count accumulator outside the chunk".into()));
            };
            // Two's complement: adding the negated count is subtracting it.
            let sign = 0u64.wrapping_sub(u64::from(e & 1));
            for (s, v) in cacc.iter_mut().zip(crow) {
                let v = u64::from(*v);
                *s = s.wrapping_add((v ^ sign).wrapping_sub(sign));
            }
        }
    }
    Ok(())
}

/// One tile: every event of the chunk applied to its columns (in tile-local accumulators: in the
/// chunk's rows of K values a tile's pieces lie 8·K bytes apart, 64,000 at K = 8,000, and land in
/// the same few cache sets), the sums turned into means and written to the chunk's rows, then the
/// per-draw scales.
#[inline(always)]
fn tile_body(a: &TileArgs<'_>, view: &TileView<'_>, out: &mut TileParts<'_>) -> Result<()> {
    let (k, c0, wd, n) = (a.p.k, a.c0, view.wd, a.n);
    out.acc.clear();
    out.acc.resize(n * wd, 0.0);
    out.cnt.clear();
    if view.has_counts() {
        out.cnt.resize(n * wd, 0);
    }
    for r in 0..=a.p.t {
        let (lo, hi) = (a.row_start[r], a.row_start[r + 1]);
        if lo < hi {
            apply_row_events(&a.events[lo..hi], view.row(r)?, view.cnt_row(r)?, out.acc, out.cnt, out.neg)?;
        }
    }
    let m = &a.p.observed[c0..c0 + wd];
    for (j, &len) in a.seg_total.iter().enumerate().take(n) {
        let row = &mut out.acc[j * wd..(j + 1) * wd];
        if view.has_counts() {
            for (d, c) in row.iter_mut().zip(&out.cnt[j * wd..(j + 1) * wd]) {
                *d = if *c == 0 { f64::NAN } else { *d / *c as f64 };
            }
        } else {
            let inv = 1.0 / len as f64;
            for (d, m) in row.iter_mut().zip(m) {
                *d = if m.is_nan() || len == 0 { f64::NAN } else { *d * inv };
            }
        }
        out.dall[j * k + c0..j * k + c0 + wd].copy_from_slice(row);
    }
    if let Some(target) = out.target {
        let mut scales = TileScales { k, c0, d_tile: out.acc, target, scale: out.scale };
        out.domega.tile_scales(view, n, &mut scales)?;
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tile_avx2(a: &TileArgs<'_>, view: &TileView<'_>, out: &mut TileParts<'_>) -> Result<()> {
    tile_body(a, view, out)
}

/// The same code compiled for AVX2 when the CPU has it (detected at run time) and `simd`, else
/// baseline. (An AVX-512 build measured the same at W2: the loops are bound by the caches.)
fn tile_dispatch(a: &TileArgs<'_>, view: &TileView<'_>, simd: bool, out: &mut TileParts<'_>) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        if simd && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { tile_avx2(a, view, out) };
        }
    }
    let _ = simd;
    tile_body(a, view, out)
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
