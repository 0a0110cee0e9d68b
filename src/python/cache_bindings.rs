//! Bindings for the Reality Check cache. Thin wrappers only.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::bootstrap::RngKind;
use crate::cache::{self, Miss};
use crate::python::detach;
use crate::reality_check::NullCentering;

/// The algorithm version that prefixes the key payload.
/// `seeded_by_base`: with `rng="numpy_pcg64"`, the simulations' seeds are drawn from a base
/// generator (run key) instead of `seed + b`: another stream, another version.
#[pyfunction]
#[pyo3(signature = (null_centering=NullCentering::Recentred, rng=RngKind::Default, seeded_by_base=false),
       text_signature = "(null_centering='recentred', rng='default', seeded_by_base=False)")]
fn rc_cache_algorithm_version(null_centering: NullCentering, rng: RngKind, seeded_by_base: bool) -> String {
    let rng = match rng {
        RngKind::NumpyPcg64 if seeded_by_base => RngKind::NumpyPcg64Base { state: 0, inc: 0 },
        kind => kind,
    };
    cache::algorithm_version(null_centering == NullCentering::Recentred, rng.stream_id())
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

/// `(array, None)` on a verified hit, `(None, reason)` otherwise.
#[pyfunction]
fn rc_cache_load<'py>(py: Python<'py>, cache_dir: PathBuf, key: String) -> PyResult<Loaded<'py>> {
    let r = detach(py, move || cache::load(&cache_dir, &key))?;
    Ok(match r {
        Ok(v) => (Some(v.into_pyarray(py)), None),
        Err(miss) => (
            None,
            Some(match miss {
                Miss::NotInManifest => "not in manifest".to_string(),
                Miss::PathOutsideCache => "manifest path points outside the cache dir (refused)".to_string(),
                Miss::MissingArtifact => "artifact file missing".to_string(),
                Miss::ChecksumMismatch => "sha256 mismatch (corrupt artifact)".to_string(),
                Miss::Unreadable(e) => format!("unreadable artifact: {e}"),
            }),
        ),
    })
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
    Ok(())
}
