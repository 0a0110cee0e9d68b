//! Bindings for the numpy-compatible PCG64 stream and the run-key seed derivation. Thin wrappers.

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::error::Error;
use crate::reality_check::numpy::pcg::{self as numpy_pcg, Pcg64};
use crate::reality_check::numpy::seeding;

/// The analyzer's `seed_root(run_key, salt=..., fold_id=..., version=...)`.
#[pyfunction]
#[pyo3(signature = (run_key, salt, fold_id=None, version=1))]
fn seed_root(run_key: &str, salt: &str, fold_id: Option<&str>, version: i64) -> u64 {
    seeding::seed_root(run_key, salt, fold_id, version)
}

/// Raw `(state, inc)` of `np.random.default_rng(seed).bit_generator`.
#[pyfunction]
fn numpy_pcg64_state(seed: u128) -> (u128, u128) {
    numpy_pcg::base_state_of_seed(seed)
}

/// Draw `n` values of one kind from a PCG64 in the given raw state, as numpy's `Generator` would
/// (a test hook comparing the stream with numpy). `kind`: "u64", "u32", "double", "integers"
/// (`integers(0, bound)`), "geometric" (`geometric(p)`), "standard_exponential".
/// Returns `(values, (state, inc, has_uint32, uinteger))` after the draws.
#[pyfunction]
#[pyo3(signature = (state, inc, has_uint32, uinteger, kind, n, p=1.0, bound=1))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn numpy_pcg64_draws<'py>(
    py: Python<'py>,
    state: u128,
    inc: u128,
    has_uint32: bool,
    uinteger: u32,
    kind: &str,
    n: usize,
    p: f64,
    bound: u64,
) -> PyResult<(Bound<'py, PyList>, (u128, u128, bool, u32))> {
    let mut g = Pcg64::from_state(state, inc, has_uint32, uinteger);
    let list = match kind {
        "u64" => PyList::new(py, (0..n).map(|_| g.next_u64()))?,
        "u32" => PyList::new(py, (0..n).map(|_| g.next_u32()))?,
        "double" => PyList::new(py, (0..n).map(|_| g.next_double()))?,
        "standard_exponential" => PyList::new(py, (0..n).map(|_| g.standard_exponential()))?,
        "integers" => {
            if bound == 0 {
                return Err(Error::invalid("integers bound must be >= 1").into());
            }
            PyList::new(py, (0..n).map(|_| g.integers(bound)))?
        }
        "geometric" => {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Error::invalid(format!("geometric p must be in (0, 1] (got {p})")).into());
            }
            PyList::new(py, (0..n).map(|_| g.geometric(p)))?
        }
        other => return Err(Error::invalid(format!("unknown draw kind {other:?}")).into()),
    };
    Ok((list, (g.state, g.inc, g.has_uint32, g.uinteger)))
}

/// `integers(0, bound)` drawn `n` times from the base of `(state, inc)`: the simulations' seeds.
#[pyfunction]
fn numpy_pcg64_base_seeds(state: u128, inc: u128, n: u64) -> Vec<u64> {
    (0..n).map(|b| numpy_pcg::base_seed_at(state, inc, b)).collect()
}

/// numpy's exponential ziggurat tables as the engine uses them: `(ke, we)`.
#[pyfunction]
fn numpy_zig_tables() -> (Vec<u64>, Vec<f64>) {
    let z = numpy_pcg::zig_tables();
    (z.ke.to_vec(), z.we.to_vec())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(seed_root, m)?)?;
    m.add_function(wrap_pyfunction!(numpy_pcg64_state, m)?)?;
    m.add_function(wrap_pyfunction!(numpy_pcg64_draws, m)?)?;
    m.add_function(wrap_pyfunction!(numpy_pcg64_base_seeds, m)?)?;
    m.add_function(wrap_pyfunction!(numpy_zig_tables, m)?)?;
    Ok(())
}
