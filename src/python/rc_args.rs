//! The Reality Check's arguments, parsed once at the boundary into the core's types.
//!
//! `method`, `rng`, `null_centering`, `kernel` and `prefix` are extracted straight into their
//! enums (`FromPyObject`, with the core's own "unknown …" messages, raised as InvalidInputError).
//! The bootstrap spec travels as one struct, [`BootstrapArgs`], read from the caller's keyword
//! arguments (`method, avg_block_length, block_size, seed, rng, base_state`): the Python
//! signatures stay as they were, and no binding takes six loose arguments.

use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::{Error, Result};
use crate::reality_check::bootstrap::{BootstrapSpec, Method, MethodKind, RngKind};
use crate::reality_check::{Kernel, NullCentering, NullScale, PrefixMode};

/// One `FromPyObject` for each enum named by a string: a `str` (else TypeError), then the core's
/// parser (else InvalidInputError naming the accepted values).
macro_rules! extract_by_name {
    ($ty:ty, $parse:expr) => {
        impl<'a, 'py> FromPyObject<'a, 'py> for $ty {
            type Error = PyErr;
            fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                let name: String = obj.extract()?;
                Ok($parse(&name)?)
            }
        }
    };
}

extract_by_name!(MethodKind, MethodKind::parse);
extract_by_name!(RngKind, RngKind::parse);
extract_by_name!(NullCentering, NullCentering::parse);
extract_by_name!(NullScale, NullScale::parse);
extract_by_name!(Kernel, Kernel::parse);
extract_by_name!(PrefixMode, PrefixMode::parse);

/// Keyword arguments read one by one, with Python's own complaints: a missing or unexpected
/// name is a TypeError, and an argument that does not convert names itself (as PyO3 does).
pub(crate) struct Kwargs<'py> {
    func: &'static str,
    dict: Bound<'py, PyDict>,
}

impl<'py> Kwargs<'py> {
    /// The keyword arguments of `func` (a copy: reading them does not touch the caller's dict).
    pub(crate) fn new(py: Python<'py>, func: &'static str, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Self> {
        let dict = match kwargs {
            Some(d) => d.copy()?,
            None => PyDict::new(py),
        };
        Ok(Kwargs { func, dict })
    }

    fn take<T: FromPyObjectOwned<'py>>(&mut self, name: &str) -> PyResult<Option<T>> {
        let Some(value) = self.dict.get_item(name)? else {
            return Ok(None);
        };
        self.dict.del_item(name)?;
        if value.is_none() {
            return Ok(None);
        }
        value.extract::<T>().map(Some).map_err(|e| {
            let err: PyErr = e.into();
            let _ = err.value(value.py()).call_method1("add_note", (format!("while processing '{name}'"),));
            err
        })
    }

    /// A required argument (None counts as missing).
    pub(crate) fn required<T: FromPyObjectOwned<'py>>(&mut self, name: &str) -> PyResult<T> {
        self.take(name)?
            .ok_or_else(|| PyTypeError::new_err(format!("{}() missing required keyword argument: '{name}'", self.func)))
    }

    /// An optional argument (absent or None).
    pub(crate) fn optional<T: FromPyObjectOwned<'py>>(&mut self, name: &str) -> PyResult<Option<T>> {
        self.take(name)
    }

    /// Every argument was read: a leftover is a name `func` does not take.
    pub(crate) fn finish(self) -> PyResult<()> {
        match self.dict.keys().iter().next() {
            Some(name) => Err(PyTypeError::new_err(format!(
                "{}() got an unexpected keyword argument {}",
                self.func,
                name.repr()?
            ))),
            None => Ok(()),
        }
    }
}

/// The bootstrap spec as the caller gives it, T apart (the data or the caller know it).
pub(crate) struct BootstrapArgs {
    pub method: MethodKind,
    pub avg_block_length: f64,
    pub block_size: f64,
    pub seed: u64,
    pub rng: RngKind,
    /// The raw PCG64 `(state, inc)` of the base generator whose successive
    /// `integers(0, 2**63 - 1)` seed the simulations (only with `rng="numpy_pcg64"`).
    pub base_state: Option<(u128, u128)>,
}

impl BootstrapArgs {
    /// Read `method, avg_block_length, block_size, seed, rng` (required) and `base_state`.
    pub(crate) fn take(kw: &mut Kwargs<'_>) -> PyResult<Self> {
        Ok(BootstrapArgs {
            method: kw.required("method")?,
            avg_block_length: kw.required("avg_block_length")?,
            block_size: kw.required("block_size")?,
            seed: kw.required("seed")?,
            rng: kw.required("rng")?,
            base_state: kw.optional("base_state")?,
        })
    }

    /// The core's spec for `t` periods: the block length checked for the method, the base state
    /// only with `rng="numpy_pcg64"`.
    pub(crate) fn spec(&self, t: usize) -> Result<BootstrapSpec> {
        let rng = match (self.rng, self.base_state) {
            (RngKind::NumpyPcg64, Some((state, inc))) => RngKind::NumpyPcg64Base { state, inc },
            (kind, None) => kind,
            (kind, Some(_)) => {
                return Err(Error::invalid(format!(
                    "base_state is only used with rng=\"numpy_pcg64\" (got rng={:?})",
                    kind.name()
                )))
            }
        };
        let method = Method::new(self.method, self.avg_block_length, self.block_size)?;
        Ok(BootstrapSpec { t, method, rng, seed: self.seed })
    }
}

/// The RC / Romano–Wolf null scale: `null_scale` (`"none"`, the default here, or
/// `"variance_share"`) and the family's median `variance_share` (None: not measured).
pub(crate) struct NullScaleArgs {
    pub mode: NullScale,
    pub variance_share: Option<f64>,
}

impl NullScaleArgs {
    pub(crate) fn take(kw: &mut Kwargs<'_>) -> PyResult<Self> {
        Ok(NullScaleArgs {
            mode: kw.optional("null_scale")?.unwrap_or(NullScale::None),
            variance_share: kw.optional::<Option<f64>>("variance_share")?.flatten(),
        })
    }

    /// The factor c for a null of this centering ([`NullScale::factor`]).
    pub(crate) fn factor(&self, centering: NullCentering) -> f64 {
        self.mode.factor(centering, self.variance_share)
    }
}

/// The keyword arguments of `RcEngine.run`.
pub(crate) struct RunArgs<'py> {
    pub bootstrap: BootstrapArgs,
    pub null_centering: NullCentering,
    pub n_sim: i64,
    pub return_null_matrix: bool,
    pub compare_to: Option<PyReadonlyArray1<'py, f64>>,
    pub indices: Option<PyReadonlyArray2<'py, i64>>,
    pub kernel: Kernel,
    pub progress: Option<Py<PyAny>>,
    pub null_scale: NullScaleArgs,
}

impl<'py> RunArgs<'py> {
    pub(crate) fn parse(py: Python<'py>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Self> {
        let mut kw = Kwargs::new(py, "RcEngine.run", kwargs)?;
        let args = RunArgs {
            bootstrap: BootstrapArgs::take(&mut kw)?,
            null_centering: kw.required("null_centering")?,
            n_sim: kw.required("n_sim")?,
            return_null_matrix: kw.optional("return_null_matrix")?.unwrap_or(false),
            compare_to: kw.optional("compare_to")?,
            indices: kw.optional("indices")?,
            kernel: kw.optional("kernel")?.unwrap_or(Kernel::PrefixSum),
            progress: kw.optional("progress")?,
            null_scale: NullScaleArgs::take(&mut kw)?,
        };
        kw.finish()?;
        Ok(args)
    }
}
