//! Bindings for the Reality Check: argument extraction, the GIL, conversion. No statistics here.
//!
//! A batch runs on a worker thread with the GIL released; the calling thread waits in 100 ms
//! slices (GIL released), and between slices checks for signals (Ctrl-C → cancel the run, raise
//! KeyboardInterrupt) and calls the optional progress callback at most 4 times per second.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use numpy::{IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::control::RunControl;
use crate::error::{Error, Result};
use crate::python::detach;
use crate::python::rc_args::{BootstrapArgs, Kwargs, RunArgs};
use crate::reality_check::bootstrap::Method;
use crate::reality_check::size;
use crate::reality_check::{
    self, IndexSource, Layout, Matrix, NullCentering, NullScale, PrefixMode, Prepared, RcOptions, RcResult,
    SharedValues, SpaPValues,
};

fn matrix_of<'a>(arr: &'a PyReadonlyArray2<'_, f64>) -> Result<Matrix<'a>> {
    let shape = arr.shape();
    let (t, k) = (shape[0], shape[1]);
    let layout = if arr.is_c_contiguous() {
        Layout::RowMajor
    } else if arr.is_fortran_contiguous() {
        Layout::ColMajor
    } else {
        return Err(Error::invalid("values must be a contiguous float64 array"));
    };
    let values = arr.as_slice().map_err(|e| Error::invalid(format!("values: {e}")))?;
    Ok(Matrix { values, t, k, layout })
}

/// A caller's contiguous float64 array, read in place: the reference keeps the array (and the
/// buffer it views) alive, and numpy never moves the data of a live array.
struct NumpyValues {
    ptr: *const f64,
    len: usize,
    _owner: Py<PyArray2<f64>>,
}

// SAFETY: the buffer is only read, and `_owner` keeps it allocated for this value's life.
unsafe impl Send for NumpyValues {}
// SAFETY: as above; shared reads only.
unsafe impl Sync for NumpyValues {}

impl SharedValues for NumpyValues {
    fn values(&self) -> &[f64] {
        // SAFETY: `ptr`/`len` describe the contiguous data of the array `_owner` holds.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Data prepared once (observed statistics, ω, prefix sums); runs any number of batches.
#[pyclass(frozen, module = "crypto_analyzer_promotion._core")]
pub struct RcEngine {
    inner: Arc<Prepared>,
}

impl RcEngine {
    /// The prepared data (for the column-block bindings).
    pub(super) fn prepared(&self) -> Arc<Prepared> {
        self.inner.clone()
    }
}

/// SPA p-values as the dict both the run's result and the cached summary hand to Python.
pub(super) fn spa_dict<'py>(py: Python<'py>, p: &SpaPValues) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("lower", p.lower)?;
    d.set_item("consistent", p.consistent)?;
    d.set_item("upper", p.upper)?;
    Ok(d)
}

pub(super) fn result_dict<'py>(py: Python<'py>, r: RcResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("observed", r.observed.into_pyarray(py))?;
    d.set_item("observed_max", r.observed_max)?;
    d.set_item("rc_p_value", r.rc_p_value)?;
    d.set_item("null_max", r.null_max.into_pyarray(py))?;
    d.set_item("romano_wolf", r.romano_wolf.into_pyarray(py))?;
    d.set_item("spa_studentized", spa_dict(py, &r.spa_studentized)?)?;
    d.set_item("spa_unstudentized", spa_dict(py, &r.spa_unstudentized)?)?;
    d.set_item("spa_stat_studentized", r.spa_stat_studentized)?;
    d.set_item("spa_stat_unstudentized", r.spa_stat_unstudentized)?;
    d.set_item("omega", r.omega.into_pyarray(py))?;
    d.set_item("n_sim", r.n_sim)?;
    d.set_item("null_centering", r.centering.name())?;
    d.set_item("null_scale", r.null_scale)?;
    match r.null_matrix {
        Some(m) => d.set_item("null_matrix", m.into_pyarray(py).reshape([r.n_sim, r.k])?)?,
        None => d.set_item("null_matrix", py.None())?,
    }
    Ok(d)
}

/// Run the batch on a worker thread; poll signals and report progress from this one.
fn run_interruptible(
    py: Python<'_>,
    prep: Arc<Prepared>,
    opts: RcOptions,
    indices: Option<Vec<i64>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<RcResult> {
    let control = Arc::new(RunControl::new());
    let (tx, rx) = mpsc::channel::<Result<RcResult>>();
    let worker_control = control.clone();
    std::thread::Builder::new()
        .name("cap-rc-batch".into())
        .spawn(move || {
            let out = super::gil::guard(|| {
                let source = match &indices {
                    Some(v) => IndexSource::Explicit(v),
                    None => IndexSource::Generated,
                };
                reality_check::run(&prep, &opts, source, &worker_control)
            });
            let _ = tx.send(out);
        })
        .map_err(|e| PyErr::from(Error::Runtime(format!("could not start the worker thread: {e}"))))?;
    let rx = Mutex::new(rx);
    let wait = |timeout: Duration| {
        let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
        guard.recv_timeout(timeout)
    };
    let mut last_report = Instant::now();
    let mut interrupt: Option<PyErr> = None;
    loop {
        match py.detach(|| wait(Duration::from_millis(100))) {
            Ok(out) => {
                if let Some(e) = interrupt {
                    return Err(e);
                }
                let r = out?;
                if let Some(cb) = &progress {
                    cb.call1(py, (r.n_sim as u64, r.n_sim as u64))?;
                }
                return Ok(r);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if interrupt.is_some() {
                    continue; // cancelled: wait for the worker to stop
                }
                if let Err(e) = py.check_signals() {
                    control.cancel();
                    interrupt = Some(e);
                    continue;
                }
                if let Some(cb) = &progress {
                    if last_report.elapsed() >= Duration::from_millis(250) {
                        last_report = Instant::now();
                        let (done, total) = control.progress();
                        if let Err(e) = cb.call1(py, (done, total)) {
                            control.cancel();
                            interrupt = Some(e);
                        }
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Internal("the Reality Check worker stopped without a result".into()).into());
            }
        }
    }
}

#[pymethods]
impl RcEngine {
    /// `values`: T×K float64 (C or Fortran contiguous), NaN = no observation.
    /// `omega_block_length`: L of the stationary-bootstrap kernel for Hansen's ω.
    /// `prefix`: "auto" (stored prefix sums up to 256 MiB, else read the input in place),
    /// "stored" or "streamed". Streamed, the engine keeps a reference to `values` and reads it
    /// without copying; it must not be modified while the engine lives (a change is detected).
    #[new]
    #[pyo3(signature = (values, omega_block_length, keep_values=false, prefix=PrefixMode::Auto),
           text_signature = "(values, omega_block_length, keep_values=False, prefix='auto')")]
    fn new(
        py: Python<'_>,
        values: Bound<'_, PyArray2<f64>>,
        omega_block_length: f64,
        keep_values: bool,
        prefix: PrefixMode,
    ) -> PyResult<Self> {
        crate::python::guard_py(|| {
            let ro = values.try_readonly().map_err(|e| PyErr::from(Error::invalid(format!("values: {e}"))))?;
            let m = matrix_of(&ro)?;
            let (t, k, layout) = (m.t, m.k, m.layout);
            let input: Arc<dyn SharedValues> =
                Arc::new(NumpyValues { ptr: m.values.as_ptr(), len: m.values.len(), _owner: values.clone().unbind() });
            drop(ro);
            let prep = detach(py, move || {
                Prepared::from_shared(input, t, k, layout, omega_block_length, keep_values, prefix)
            })?;
            Ok(RcEngine { inner: Arc::new(prep) })
        })
    }

    /// True when the engine reads the input in place (no stored prefix sums).
    #[getter]
    fn streamed(&self) -> bool {
        self.inner.is_streamed()
    }

    #[getter]
    fn t(&self) -> usize {
        self.inner.t
    }

    #[getter]
    fn k(&self) -> usize {
        self.inner.k
    }

    #[getter]
    fn observed<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        self.inner.observed.clone().into_pyarray(py)
    }

    #[getter]
    fn omega<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        self.inner.omega.clone().into_pyarray(py)
    }

    #[getter]
    fn n_obs<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<u64>> {
        self.inner.n_obs.iter().map(|&n| n as u64).collect::<Vec<u64>>().into_pyarray(py)
    }

    /// The K null statistics of simulation `b`. Keyword arguments: the bootstrap spec
    /// (`method, avg_block_length, block_size, seed, rng, base_state=None`).
    #[pyo3(signature = (b, *, null_centering, **bootstrap))]
    fn null_stats<'py>(
        &self,
        py: Python<'py>,
        b: u64,
        null_centering: NullCentering,
        bootstrap: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
        crate::python::guard_py(|| {
            let mut kw = Kwargs::new(py, "RcEngine.null_stats", bootstrap)?;
            let spec = BootstrapArgs::take(&mut kw)?;
            kw.finish()?;
            let spec = spec.spec(self.inner.t)?;
            let prep = self.inner.clone();
            let v = detach(py, move || reality_check::null_stats_one(&prep, &spec, null_centering, b))?;
            Ok(v.into_pyarray(py))
        })
    }

    /// Run a whole batch (parallel, GIL released, interruptible). Returns a dict. Keyword
    /// arguments: the bootstrap spec (as in `null_stats`), `null_centering, n_sim,
    /// return_null_matrix=False, compare_to=None, indices=None, kernel="prefix", progress=None`.
    #[pyo3(signature = (**kwargs))]
    fn run<'py>(&self, py: Python<'py>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyDict>> {
        crate::python::guard_py(|| {
            let args = RunArgs::parse(py, kwargs)?;
            let n_sim = args.n_sim;
            if n_sim <= 0 {
                return Err(Error::invalid(format!("n_sim must be a positive integer (got {n_sim})")).into());
            }
            let spec = args.bootstrap.spec(self.inner.t)?;
            let compare_to = args.compare_to.map(|c| c.as_array().iter().copied().collect::<Vec<f64>>());
            let indices = match args.indices {
                Some(ix) => {
                    let shape = ix.shape();
                    if shape[0] as i64 != n_sim || shape[1] != self.inner.t {
                        return Err(Error::invalid(format!(
                            "indices must have shape (n_sim, T) = ({n_sim}, {}), got ({}, {})",
                            self.inner.t, shape[0], shape[1]
                        ))
                        .into());
                    }
                    Some(ix.as_array().iter().copied().collect::<Vec<i64>>())
                }
                None => None,
            };
            let opts = RcOptions {
                spec,
                n_sim: n_sim as usize,
                centering: args.null_centering,
                kernel: args.kernel,
                keep_matrix: args.return_null_matrix,
                compare_to,
                null_scale: args.null_scale.factor(args.null_centering),
            };
            let r = run_interruptible(py, self.inner.clone(), opts, indices, args.progress)?;
            result_dict(py, r)
        })
    }
}

/// Indices of simulation `b` (int64 array of length T). Keyword arguments: the bootstrap spec
/// (`method, avg_block_length, block_size, seed, rng, base_state=None`).
#[pyfunction]
#[pyo3(signature = (t, b, **bootstrap))]
fn rc_bootstrap_indices<'py>(
    py: Python<'py>,
    t: usize,
    b: u64,
    bootstrap: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, numpy::PyArray1<i64>>> {
    crate::python::guard_py(|| {
        let mut kw = Kwargs::new(py, "rc_bootstrap_indices", bootstrap)?;
        let args = BootstrapArgs::take(&mut kw)?;
        kw.finish()?;
        if t >= u32::MAX as usize {
            // Same bound as the engine's data; without it T = 2**63 grew the block list until OOM.
            return Err(Error::invalid(format!("too many periods (T must be < 2**32, got {t})")).into());
        }
        let spec = args.spec(t)?;
        spec.check(b.saturating_add(1))?;
        let idx = spec.indices(b)?;
        Ok(idx.into_iter().map(|v| v as i64).collect::<Vec<i64>>().into_pyarray(py))
    })
}

/// RC p-value, null maxima and Romano–Wolf p-values from a caller's null matrix (used as-is).
#[pyfunction]
fn rc_pvalues_from_null_matrix<'py>(
    py: Python<'py>,
    observed: PyReadonlyArray1<'py, f64>,
    null_matrix: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyDict>> {
    crate::python::guard_py(|| {
        let obs: Vec<f64> = observed.as_array().iter().copied().collect();
        let shape = null_matrix.shape();
        if shape[1] != obs.len() && shape[0] > 0 {
            return Err(
                Error::invalid(format!("null matrix has {} columns for {} hypotheses", shape[1], obs.len())).into()
            );
        }
        let n_sim = shape[0];
        let mat: Vec<f64> = null_matrix.as_array().iter().copied().collect();
        let r = detach(py, move || reality_check::pvalues_from_null_matrix(&obs, &mat, n_sim))?;
        let d = PyDict::new(py);
        d.set_item("observed_max", r.observed_max)?;
        d.set_item("rc_p_value", r.rc_p_value)?;
        d.set_item("null_max", r.null_max.into_pyarray(py))?;
        d.set_item("romano_wolf", r.romano_wolf.into_pyarray(py))?;
        Ok(d)
    })
}

/// The share of the long-run variance the block bootstrap reproduces, for each of the first
/// `RC_SHARE_COLUMNS` columns of a T×K float64 array (`reality_check::size`); None for a column
/// that gives none.
#[pyfunction]
fn rc_variance_shares(
    py: Python<'_>,
    values: PyReadonlyArray2<'_, f64>,
    method: &str,
    avg_block_length: f64,
    block_size: f64,
) -> PyResult<Vec<Option<f64>>> {
    crate::python::guard_py(|| {
        let method = Method::parse(method, avg_block_length, block_size)?;
        let m = matrix_of(&values)?;
        detach(py, move || Ok(size::matrix_shares(&m, &method)))
    })
}

/// The median of the given shares (None left out), or None: what the size warning reads.
#[pyfunction]
fn rc_median_share(shares: Vec<Option<f64>>) -> Option<f64> {
    size::median_share(&shares)
}

/// The factor c the RC and Romano–Wolf multiply their null values by (`NullScale::factor`): 1
/// for `null_scale="none"` or the un-centred null, else 1/√min(1, variance_share) (1 when None).
#[pyfunction]
#[pyo3(signature = (null_scale, null_centering, variance_share=None))]
fn rc_null_scale_factor(null_scale: NullScale, null_centering: NullCentering, variance_share: Option<f64>) -> f64 {
    null_scale.factor(null_centering, variance_share)
}

/// The size warning of a run (`reality_check::size::size_warning`), or None.
#[pyfunction]
#[pyo3(signature = (n_periods, n_hypotheses, method, avg_block_length, block_size, variance_share=None))]
fn rc_size_warning(
    n_periods: usize,
    n_hypotheses: usize,
    method: &str,
    avg_block_length: f64,
    block_size: f64,
    variance_share: Option<f64>,
) -> PyResult<Option<String>> {
    crate::python::guard_py(|| {
        let method = Method::parse(method, avg_block_length, block_size)?;
        Ok(size::size_warning(n_periods, n_hypotheses, &method, variance_share))
    })
}

/// Threads the engine uses (env `CRYPTO_ANALYZER_THREADS`, default all cores).
#[pyfunction]
fn rc_threads() -> usize {
    crate::pool::configured_threads()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RcEngine>()?;
    m.add_function(wrap_pyfunction!(rc_bootstrap_indices, m)?)?;
    m.add_function(wrap_pyfunction!(rc_pvalues_from_null_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(rc_threads, m)?)?;
    m.add_function(wrap_pyfunction!(rc_variance_shares, m)?)?;
    m.add_function(wrap_pyfunction!(rc_median_share, m)?)?;
    m.add_function(wrap_pyfunction!(rc_null_scale_factor, m)?)?;
    m.add_function(wrap_pyfunction!(rc_size_warning, m)?)?;
    m.add("RC_SHARE_COLUMNS", size::SHARE_COLUMNS)?;
    m.add("RC_SHARE_THRESHOLD", size::SHARE_THRESHOLD)?;
    m.add("RC_FEW_BLOCKS", size::FEW_BLOCKS)?;
    Ok(())
}
