//! Bindings for the column-block Reality Check (reality_check/blocks.rs): a worker runs its block
//! of columns, the client combines the blocks. Argument extraction and conversion only.

use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::control::RunControl;
use crate::error::Error;
use crate::python::detach;
use crate::python::rc_args::{BootstrapArgs, Kwargs, NullScaleArgs};
use crate::python::rc_bindings::{result_dict, RcEngine};
use crate::reality_check::blocks::{self, BlockPart, SPA_SLOTS};
use crate::reality_check::{IndexSource, Kernel, NullCentering, NullScale, RcOptions};

/// Run the simulations over the engine's columns as one block of a family. Keyword arguments:
/// the bootstrap spec (as `RcEngine.run`), `null_centering, n_sim, kernel="prefix"`, and the
/// family's null scale `null_scale="none", variance_share=None` (the family's median share: every
/// block and the combine must get the same). Returns a
/// dict: t, n_sim, observed, n_obs, omega, null_max, spa (n_sim × 6), rec_start, rec_col, rec_val.
#[pyfunction]
#[pyo3(signature = (engine, **kwargs))]
fn rc_run_block<'py>(
    py: Python<'py>,
    engine: &RcEngine,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    crate::python::guard_py(|| {
        let mut kw = Kwargs::new(py, "rc_run_block", kwargs)?;
        let bootstrap = BootstrapArgs::take(&mut kw)?;
        let centering: NullCentering = kw.required("null_centering")?;
        let n_sim: i64 = kw.required("n_sim")?;
        let kernel: Kernel = kw.optional("kernel")?.unwrap_or(Kernel::PrefixSum);
        let null_scale = NullScaleArgs::take(&mut kw)?.factor(centering);
        kw.finish()?;
        if n_sim <= 0 {
            return Err(Error::invalid(format!("n_sim must be a positive integer (got {n_sim})")).into());
        }
        let prep = engine.prepared();
        let spec = bootstrap.spec(prep.t)?;
        let opts = RcOptions {
            spec,
            n_sim: n_sim as usize,
            centering,
            kernel,
            keep_matrix: false,
            compare_to: None,
            null_scale,
        };
        let p = prep.clone();
        let r = detach(py, move || blocks::run_block(&p, &opts, IndexSource::Generated, &RunControl::new()))?;
        let d = PyDict::new(py);
        d.set_item("t", r.t)?;
        d.set_item("n_sim", r.n_sim)?;
        d.set_item("observed", prep.observed.clone().into_pyarray(py))?;
        d.set_item("n_obs", prep.n_obs.iter().map(|&n| n as u64).collect::<Vec<u64>>().into_pyarray(py))?;
        d.set_item("omega", prep.omega.clone().into_pyarray(py))?;
        d.set_item("null_max", r.null_max.into_pyarray(py))?;
        d.set_item("spa", r.spa.into_pyarray(py).reshape([r.n_sim, SPA_SLOTS])?)?;
        d.set_item("rec_start", r.rec_start.into_pyarray(py))?;
        d.set_item("rec_col", r.rec_col.into_pyarray(py))?;
        d.set_item("rec_val", r.rec_val.into_pyarray(py))?;
        Ok(d)
    })
}

/// One block's arrays, owned (read from the dict `rc_run_block` returned).
struct OwnedPart {
    t: usize,
    n_sim: usize,
    observed: Vec<f64>,
    n_obs: Vec<u64>,
    omega: Vec<f64>,
    null_max: Vec<f64>,
    spa: Vec<f64>,
    rec_start: Vec<u64>,
    rec_col: Vec<u32>,
    rec_val: Vec<f64>,
}

fn item<'py>(d: &Bound<'py, PyDict>, i: usize, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?.ok_or_else(|| Error::invalid(format!("column block {i}: no {key:?}")).into())
}

fn vec1<'py, T: numpy::Element + Copy>(d: &Bound<'py, PyDict>, i: usize, key: &str) -> PyResult<Vec<T>> {
    let a: PyReadonlyArray1<'py, T> = item(d, i, key)?.extract().map_err(|_| {
        PyErr::from(Error::invalid(format!("column block {i}: {key:?} is not a 1-D array of the right type")))
    })?;
    Ok(a.as_array().iter().copied().collect())
}

fn owned_part(d: &Bound<'_, PyDict>, i: usize) -> PyResult<OwnedPart> {
    let spa = item(d, i, "spa")?;
    let spa: numpy::PyReadonlyArray2<'_, f64> = spa
        .extract()
        .map_err(|_| PyErr::from(Error::invalid(format!("column block {i}: \"spa\" is not an n_sim x 6 array"))))?;
    if spa.shape()[1] != SPA_SLOTS {
        return Err(Error::invalid(format!("column block {i}: \"spa\" is not an n_sim x 6 array")).into());
    }
    Ok(OwnedPart {
        t: item(d, i, "t")?.extract()?,
        n_sim: item(d, i, "n_sim")?.extract()?,
        observed: vec1(d, i, "observed")?,
        n_obs: vec1(d, i, "n_obs")?,
        omega: vec1(d, i, "omega")?,
        null_max: vec1(d, i, "null_max")?,
        spa: spa.as_array().iter().copied().collect(),
        rec_start: vec1(d, i, "rec_start")?,
        rec_col: vec1(d, i, "rec_col")?,
        rec_val: vec1(d, i, "rec_val")?,
    })
}

/// The family's result (the dict `RcEngine.run` returns, without a null matrix) from its column
/// blocks' outputs, in column order. `null_scale` and `variance_share` as the blocks ran with.
#[pyfunction]
#[pyo3(signature = (parts, null_centering, null_scale=NullScale::None, variance_share=None),
       text_signature = "(parts, null_centering, null_scale='none', variance_share=None)")]
fn rc_combine_blocks<'py>(
    py: Python<'py>,
    parts: &Bound<'py, PyList>,
    null_centering: NullCentering,
    null_scale: NullScale,
    variance_share: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let factor = null_scale.factor(null_centering, variance_share);
    crate::python::guard_py(|| {
        let mut owned = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let d = p
                .cast::<PyDict>()
                .map_err(|_| PyErr::from(Error::invalid(format!("column block {i} is not a dict"))))?;
            owned.push(owned_part(d, i)?);
        }
        let r = detach(py, move || {
            let views: Vec<BlockPart<'_>> = owned
                .iter()
                .map(|o| BlockPart {
                    t: o.t,
                    n_sim: o.n_sim,
                    observed: &o.observed,
                    n_obs: &o.n_obs,
                    omega: &o.omega,
                    null_max: &o.null_max,
                    spa: &o.spa,
                    rec_start: &o.rec_start,
                    rec_col: &o.rec_col,
                    rec_val: &o.rec_val,
                })
                .collect();
            blocks::combine(&views, null_centering, factor)
        })?;
        result_dict(py, r)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rc_run_block, m)?)?;
    m.add_function(wrap_pyfunction!(rc_combine_blocks, m)?)?;
    Ok(())
}
