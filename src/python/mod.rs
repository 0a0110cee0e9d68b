//! The PyO3 binding layer: argument extraction, the GIL, conversion. No business logic here.
//! Each `*_bindings` module registers the functions of one core part on the `_core` module.

use pyo3::prelude::*;

mod cache_bindings;
mod convert;
mod errors;
mod gating_bindings;
mod gil;
mod numpy_pcg_bindings;
mod rc_args;
mod rc_bindings;
mod rc_dist_bindings;
mod rel_bindings;
mod sqlite_bindings;
mod store_bindings;

#[allow(unused_imports)]
pub(crate) use convert::{json_to_py, py_to_json};

pub(crate) use gil::{detach, guard_py};

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    store_bindings::register(m)?;
    gating_bindings::register(m)?;
    rc_bindings::register(m)?;
    rc_dist_bindings::register(m)?;
    cache_bindings::register(m)?;
    rel_bindings::register(m)?;
    numpy_pcg_bindings::register(m)?;
    sqlite_bindings::register(m)?;
    Ok(())
}
