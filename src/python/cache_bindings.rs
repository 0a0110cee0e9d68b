//! Bindings for the Reality Check cache. Thin wrappers only.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::python::detach;
use crate::python::rc_bindings::spa_dict;
use crate::reality_check::bootstrap::RngKind;
use crate::reality_check::cache::{self, Miss, RcSummary};
use crate::reality_check::{NullCentering, NullScale, SpaPValues};

/// The algorithm version that prefixes the key payload.
/// `seeded_by_base`: with `rng="numpy_pcg64"`, the simulations' seeds are drawn from a base
/// generator (run key) instead of `seed + b`: another stream, another version. `null_scale`: the
/// RC / Romano–Wolf null scale (a scaled null has its own version).
#[pyfunction]
#[pyo3(signature = (null_centering=NullCentering::Recentred, rng=RngKind::Default, seeded_by_base=false, null_scale=NullScale::None),
       text_signature = "(null_centering='recentred', rng='default', seeded_by_base=False, null_scale='none')")]
fn rc_cache_algorithm_version(
    null_centering: NullCentering,
    rng: RngKind,
    seeded_by_base: bool,
    null_scale: NullScale,
) -> String {
    let rng = match rng {
        RngKind::NumpyPcg64 if seeded_by_base => RngKind::NumpyPcg64Base { state: 0, inc: 0 },
        kind => kind,
    };
    let scaled = null_scale == NullScale::VarianceShare;
    cache::algorithm_version(null_centering == NullCentering::Recentred, scaled, rng.stream_id())
}

/// 24 hex of sha256 over `version|fields…`.
#[pyfunction]
fn rc_cache_key(version: &str, fields: Vec<String>) -> String {
    cache::cache_key(version, &fields)
}

#[pyfunction]
#[pyo3(signature = (no_cache_flag=false))]
fn rc_cache_is_disabled(no_cache_flag: bool) -> bool {
    cache::is_cache_disabled(no_cache_flag)
}

/// Save a 1-D float64 array; returns the artifact path.
#[pyfunction]
fn rc_cache_save(
    py: Python<'_>,
    cache_dir: PathBuf,
    key: String,
    values: PyReadonlyArray1<'_, f64>,
) -> PyResult<PathBuf> {
    let v: Vec<f64> = values.as_array().iter().copied().collect();
    detach(py, move || cache::save(&cache_dir, &key, &v))
}

type Loaded<'py> = (Option<Bound<'py, numpy::PyArray1<f64>>>, Option<String>);

/// Why an artifact was not served, in words.
fn miss_reason(miss: Miss) -> String {
    match miss {
        Miss::NotInManifest => "not in manifest".to_string(),
        Miss::PathOutsideCache => "manifest path points outside the cache dir (refused)".to_string(),
        Miss::MissingArtifact => "artifact file missing".to_string(),
        Miss::ChecksumMismatch => "sha256 mismatch (corrupt artifact)".to_string(),
        Miss::Unreadable(e) => format!("unreadable artifact: {e}"),
    }
}

/// `(array, None)` on a verified hit, `(None, reason)` otherwise.
#[pyfunction]
fn rc_cache_load<'py>(py: Python<'py>, cache_dir: PathBuf, key: String) -> PyResult<Loaded<'py>> {
    let r = detach(py, move || cache::load(&cache_dir, &key))?;
    Ok(match r {
        Ok(v) => (Some(v.into_pyarray(py)), None),
        Err(miss) => (None, Some(miss_reason(miss))),
    })
}

/// `None` when manifest entry `key` (a null or a summary) would be served, else why not.
#[pyfunction]
fn rc_cache_verify(py: Python<'_>, cache_dir: PathBuf, key: String) -> PyResult<Option<String>> {
    Ok(detach(py, move || cache::verify(&cache_dir, &key))?.map(miss_reason))
}

/// An item of a result dict (KeyError when absent).
fn item<'py>(d: &Bound<'py, PyDict>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(name)?.ok_or_else(|| PyKeyError::new_err(name.to_string()))
}

/// The summary of a run's result dict (the keys `RcEngine.run` returns).
fn summary_of(result: &Bound<'_, PyDict>) -> PyResult<RcSummary> {
    let spa = |name: &str| -> PyResult<SpaPValues> {
        let d = item(result, name)?.cast_into::<PyDict>()?;
        Ok(SpaPValues {
            lower: item(&d, "lower")?.extract()?,
            consistent: item(&d, "consistent")?.extract()?,
            upper: item(&d, "upper")?.extract()?,
        })
    };
    let romano_wolf: PyReadonlyArray1<'_, f64> = item(result, "romano_wolf")?.extract()?;
    Ok(RcSummary {
        n_sim: item(result, "n_sim")?.extract()?,
        spa_studentized: spa("spa_studentized")?,
        spa_unstudentized: spa("spa_unstudentized")?,
        romano_wolf: romano_wolf.as_array().to_vec(),
    })
}

/// Save the summary of `result` (a dict from `RcEngine.run`) beside the null of `key`.
#[pyfunction]
fn rc_cache_save_summary(
    py: Python<'_>,
    cache_dir: PathBuf,
    key: String,
    result: &Bound<'_, PyDict>,
) -> PyResult<PathBuf> {
    let summary = summary_of(result)?;
    detach(py, move || cache::save_summary(&cache_dir, &key, &summary))
}

/// The cached summary of `key` for `k` hypotheses and `n_sim` simulations, with the key names of
/// `RcEngine.run` (n_sim, spa_studentized, spa_unstudentized, romano_wolf); `None` on a miss.
#[pyfunction]
fn rc_cache_load_summary<'py>(
    py: Python<'py>,
    cache_dir: PathBuf,
    key: String,
    k: usize,
    n_sim: usize,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Ok(s) = detach(py, move || cache::load_summary(&cache_dir, &key, k, n_sim))? else {
        return Ok(None);
    };
    let d = PyDict::new(py);
    d.set_item("n_sim", s.n_sim)?;
    d.set_item("spa_studentized", spa_dict(py, &s.spa_studentized)?)?;
    d.set_item("spa_unstudentized", spa_dict(py, &s.spa_unstudentized)?)?;
    d.set_item("romano_wolf", s.romano_wolf.into_pyarray(py))?;
    Ok(Some(d))
}

/// key → {"path", "sha256"}.
#[pyfunction]
fn rc_cache_manifest<'py>(py: Python<'py>, cache_dir: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let m = detach(py, move || cache::load_manifest(&cache_dir))?;
    let d = PyDict::new(py);
    for (k, e) in m {
        let inner = PyDict::new(py);
        inner.set_item("path", e.path)?;
        inner.set_item("sha256", e.sha256)?;
        d.set_item(k, inner)?;
    }
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rc_cache_algorithm_version, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_key, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_is_disabled, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_save, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_load, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_verify, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_save_summary, m)?)?;
    m.add_function(wrap_pyfunction!(rc_cache_load_summary, m)?)?;
    Ok(())
}
