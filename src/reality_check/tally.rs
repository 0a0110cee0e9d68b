//! What a batch counts. Per simulation: whether its stepdown suffix maxima reach the observed
//! statistics (Romano–Wolf), and whether its SPA maxima reach the observed SPA statistics, for
//! the three recentrings (lower, consistent, upper), unstudentized and studentized. Integer
//! counts only, so workers merge them in any order and get the same totals.

#![warn(missing_docs)]

use super::{scaled_threshold, stepdown_accumulate, stepdown_order, Prepared, Variants};
use crate::error::{Error, Result};
use crate::reality_check::draw_omega::{ScaleTarget, OMEGA_STAR_WEIGHT};

/// Everything the per-simulation counts need, computed once from the observed data.
pub(super) struct Targets {
    /// The statistics the null is compared against (m_k unless the caller gave others).
    pub cmp: Vec<f64>,
    /// What the stepdown counts compare the unscaled null values with: the smallest value whose
    /// product with the null scale c reaches `cmp` ([`super::scaled_threshold`]; `cmp` when c = 1).
    /// Descending along `order`, as `cmp` is (the threshold is monotone in the statistic).
    pub stepdown: Vec<f64>,
    /// Hypotheses with a statistic, by statistic descending (the stepdown order).
    pub order: Vec<usize>,
    /// shift_k = m_k − μ_k per SPA recentring.
    pub shift: Variants<Vec<f64>>,
    /// sqrt(n_k)/ω_k of the observed statistic, 0 when ω is undefined (column excluded from the
    /// studentized max); the draws use their own ω* (draw_omega.rs), this one where ω* is undefined.
    pub scale: Vec<f64>,
    /// The fixed part (1 − λ)·ω̂_k² of the variance each draw is studentized by
    /// (draw_omega.rs, [`super::draw_omega::mixed_scale`]); 0 where ω̂ is undefined.
    pub fixed_var: Vec<f64>,
    pub stud_valid: Vec<bool>,
    /// The observed SPA statistics, unstudentized and studentized.
    pub spa_obs_u: f64,
    pub spa_obs_s: f64,
    /// What a draw's SPA maxima are compared with: the smallest values whose products with the
    /// null scale c reach `spa_obs_u` and `spa_obs_s` ([`super::scaled_threshold`]), so a draw
    /// counts exactly when its scaled maximum reaches the observed statistic. The SPA's null is
    /// scaled by the same c as the RC's: the studentized statistic divides by ω̂, the bootstrap's
    /// own long-run variance, which misses the share of it the RC's scale restores
    /// (docs/size_study.md, "The studentized SPA: the same scale, …").
    pub spa_cut_u: f64,
    pub spa_cut_s: f64,
    /// Give every draw its own ω* even when `spa_obs_s` is 0 (then exactly, every column): a
    /// column block (blocks.rs) does not know the family's threshold, only its own.
    pub always_per_draw: bool,
}

impl Targets {
    pub(crate) fn new(p: &Prepared, compare_to: Option<&[f64]>, null_scale: f64) -> Result<Targets> {
        Targets::from_columns(&p.observed, &p.n_obs, &p.omega, compare_to, null_scale)
    }

    /// The targets of columns given by their observed means, observations and ω (all of one
    /// length K): what [`Targets::new`] reads from a [`Prepared`], and what the client of a
    /// column-block run assembles from its blocks.
    pub(crate) fn from_columns(
        observed: &[f64],
        n_obs: &[usize],
        omega: &[f64],
        compare_to: Option<&[f64]>,
        null_scale: f64,
    ) -> Result<Targets> {
        let k = observed.len();
        if n_obs.len() != k || omega.len() != k {
            return Err(Error::Internal("targets: columns of different lengths".into()));
        }
        let cmp: Vec<f64> = match compare_to {
            Some(c) if c.len() != k => {
                return Err(Error::invalid(format!("observed statistics have {} values for {k} hypotheses", c.len())))
            }
            Some(c) => c.iter().zip(observed).map(|(&v, m)| if m.is_nan() { f64::NAN } else { v }).collect(),
            None => observed.to_vec(),
        };
        if cmp.iter().any(|v| v.is_infinite()) {
            return Err(Error::invalid("observed statistics contain an infinite value"));
        }
        let order = stepdown_order(&cmp);
        let stepdown = cmp.iter().map(|&m| scaled_threshold(m, null_scale)).collect();
        let mut shift = Variants { lower: vec![0.0; k], consistent: vec![0.0; k], upper: vec![0.0; k] };
        let mut scale = vec![0.0; k];
        let mut fixed_var = vec![0.0; k];
        let mut stud_valid = vec![false; k];
        let mut spa_obs_u = 0.0f64;
        let mut spa_obs_s = 0.0f64;
        for c in 0..k {
            let m = observed[c];
            if m.is_nan() {
                continue;
            }
            let n = n_obs[c] as f64;
            let w = omega[c];
            shift.lower[c] = m.min(0.0);
            let loglog = if n > 1.0 { n.ln().ln().max(0.0) } else { 0.0 };
            let thr = if w.is_nan() { 0.0 } else { -((w * w / n) * 2.0 * loglog).sqrt() };
            shift.consistent[c] = if m >= thr { 0.0 } else { m };
            shift.upper[c] = 0.0;
            spa_obs_u = spa_obs_u.max(m);
            if w.is_finite() && w > 0.0 {
                scale[c] = n.sqrt() / w;
                fixed_var[c] = (1.0 - OMEGA_STAR_WEIGHT) * (w * w);
                stud_valid[c] = true;
                spa_obs_s = spa_obs_s.max(m * scale[c]);
            }
        }
        Ok(Targets {
            cmp,
            stepdown,
            order,
            shift,
            scale,
            fixed_var,
            stud_valid,
            spa_obs_u,
            spa_obs_s,
            spa_cut_u: scaled_threshold(spa_obs_u, null_scale),
            spa_cut_s: scaled_threshold(spa_obs_s, null_scale),
            always_per_draw: false,
        })
    }

    /// What each draw's own ω* is computed against (draw_omega.rs), or None when the observed
    /// studentized statistic is 0: then every draw counts whatever its scale, the observed scales
    /// are used and no ω* is computed.
    pub(crate) fn scale_target(&self) -> Option<ScaleTarget<'_>> {
        (self.spa_obs_s > 0.0 || self.always_per_draw).then_some(ScaleTarget {
            fallback: &self.scale,
            fixed_var: &self.fixed_var,
            threshold: self.spa_cut_s,
        })
    }

    /// A draw's SPA maxima `max(0, max_k (d_k + shift_k))`, unstudentized and studentized (each
    /// term times the draw's scale, over the columns that have an ω).
    pub(super) fn spa_maxima(&self, d: &[f64], scale: &[f64], shift: &[f64]) -> (f64, f64) {
        let mut mu = 0.0f64;
        let mut ms = 0.0f64;
        for (c, &dc) in d.iter().enumerate() {
            if dc.is_nan() {
                continue;
            }
            let e = dc + shift[c];
            mu = mu.max(e);
            if self.stud_valid[c] {
                ms = ms.max(e * scale[c]);
            }
        }
        (mu, ms)
    }
}

/// Exceedance counts of a batch, or of the chunks one worker ran.
#[derive(Debug, Clone)]
pub(super) struct Tally {
    /// Per position j of the stepdown order: draws whose max over positions j.. reached the
    /// statistic at position j.
    pub romano_wolf: Vec<u64>,
    /// Draws whose SPA maximum reached the observed one, per recentring.
    pub spa_unstudentized: Variants<u64>,
    pub spa_studentized: Variants<u64>,
}

impl Tally {
    pub(crate) fn new(n_order: usize) -> Tally {
        Tally {
            romano_wolf: vec![0; n_order],
            spa_unstudentized: Variants::default(),
            spa_studentized: Variants::default(),
        }
    }

    /// Count one simulation: its null values (in column order), its centred means `d` and the
    /// studentization `scale` of each of its columns.
    pub(crate) fn add(&mut self, tg: &Targets, null_values: &[f64], d: &[f64], scale: &[f64]) {
        stepdown_accumulate(null_values, &tg.order, &tg.stepdown, &mut self.romano_wolf);
        let (u, s) = (&mut self.spa_unstudentized, &mut self.spa_studentized);
        for (shift, n_u, n_s) in [
            (&tg.shift.lower, &mut u.lower, &mut s.lower),
            (&tg.shift.consistent, &mut u.consistent, &mut s.consistent),
            (&tg.shift.upper, &mut u.upper, &mut s.upper),
        ] {
            let (mu, ms) = tg.spa_maxima(d, scale, shift);
            *n_u += u64::from(mu >= tg.spa_cut_u);
            *n_s += u64::from(ms >= tg.spa_cut_s);
        }
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        for (a, b) in self.romano_wolf.iter_mut().zip(&other.romano_wolf) {
            *a += b;
        }
        for (a, b) in [
            (&mut self.spa_unstudentized, &other.spa_unstudentized),
            (&mut self.spa_studentized, &other.spa_studentized),
        ] {
            a.lower += b.lower;
            a.consistent += b.consistent;
            a.upper += b.upper;
        }
    }
}
