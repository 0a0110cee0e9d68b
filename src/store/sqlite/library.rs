//! Which SQLite library the store's connections run on.
//!
//! Two SQLite libraries in one process cannot see each other's POSIX locks, so a store connection
//! on one copy and a caller's `sqlite3` connection on another corrupt the WAL of a shared database
//! (lost rows, see docs/sqlite.md). The Python extension therefore links no SQLite at all
//! (feature `host-sqlite`: rusqlite's `loadable_extension`, every `sqlite3_*` call goes through a
//! `sqlite3_api_routines` table). At import the package asks the SQLite of Python's own `sqlite3`
//! module to load this very shared object as a SQLite extension; SQLite then calls
//! [`sqlite3_crypto_analyzer_promotion_init`] with its routines, which are checked and stored once.
//! Until that happened (or when it was refused) [`ensure_ready`] reports why, and no store
//! connection is opened.
//!
//! Without `host-sqlite` (plain `cargo test`, the fuzz crate, stand-alone Rust) the crate links a
//! SQLite library normally and [`ensure_ready`] always succeeds.

use crate::error::Result;

/// What the store's connections run on, for diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteLibrary {
    /// `sqlite3_libversion()` of the library in use; None when no library is bound yet.
    pub version: Option<String>,
    /// `sqlite3_libversion_number()`, 0 when none is bound.
    pub version_number: i32,
    /// `"python-sqlite3"` (the library of Python's `sqlite3` module, bound at import),
    /// `"linked"` (linked at build time: Rust-only builds) or `"unbound"`.
    pub source: &'static str,
    /// Why no library is bound (`source == "unbound"`), else None.
    pub unavailable_reason: Option<String>,
}

/// Name of the SQLite extension entry point the Python package asks its SQLite to call.
pub const ENTRY_POINT: &str = "sqlite3_crypto_analyzer_promotion_init";

/// The oldest SQLite whose routines table the extension was compiled against (libsqlite3-sys'
/// prebuilt 3.34.1 bindings): a newer host has every field, an older one is refused.
pub const MIN_SQLITE_VERSION_NUMBER: i32 = 3_034_001;

/// Human form of an `sqlite3_libversion_number()` value (3034001 → "3.34.1").
pub fn version_text(n: i32) -> String {
    format!("{}.{}.{}", n / 1_000_000, (n / 1000) % 1000, n % 1000)
}

#[cfg(feature = "host-sqlite")]
mod host {
    use std::ffi::{c_char, c_int, CStr};
    use std::sync::Mutex;

    use rusqlite::ffi;

    use super::{version_text, SqliteLibrary, MIN_SQLITE_VERSION_NUMBER};

    /// The routines table the api was bound from, and its library's version.
    struct Bound {
        api: usize,
        version: String,
        version_number: i32,
    }

    struct State {
        bound: Option<Bound>,
        unavailable: Option<String>,
    }

    static STATE: Mutex<State> = Mutex::new(State { bound: None, unavailable: None });

    fn state() -> std::sync::MutexGuard<'static, State> {
        STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn ensure_ready() -> Option<String> {
        let st = state();
        if st.bound.is_some() {
            return None;
        }
        Some(match &st.unavailable {
            Some(reason) => format!(
                "the promotion store cannot open a database: {reason}. It runs only on the SQLite \
                 library of Python's own sqlite3 module (two SQLite libraries in one process lose \
                 writes; see docs/sqlite.md)"
            ),
            None => "the promotion store cannot open a database: the SQLite library of Python's sqlite3 \
                     module was not bound (import crypto_analyzer_promotion binds it)"
                .to_string(),
        })
    }

    pub(crate) fn mark_unavailable(reason: String) {
        let mut st = state();
        if st.bound.is_none() {
            st.unavailable = Some(reason);
        }
    }

    pub(crate) fn library() -> SqliteLibrary {
        let st = state();
        match &st.bound {
            Some(b) => SqliteLibrary {
                version: Some(b.version.clone()),
                version_number: b.version_number,
                source: "python-sqlite3",
                unavailable_reason: None,
            },
            None => SqliteLibrary {
                version: None,
                version_number: 0,
                source: "unbound",
                unavailable_reason: st.unavailable.clone(),
            },
        }
    }

    /// Which routines the store's code paths call (rusqlite: open, prepare, step, bind, column,
    /// busy handling, db_config, transactions, backup). A host built without one of them is
    /// refused at bind time instead of panicking at first use.
    macro_rules! required_fields {
        ($api:expr, $($f:ident),+ $(,)?) => {{
            let mut missing: Vec<&'static str> = Vec::new();
            $( if $api.$f.is_none() { missing.push(stringify!($f)); } )+
            missing
        }};
    }

    /// Check the host's routines and bind them; Err(text) says why not.
    ///
    /// # Safety
    /// `p_api` must be the `sqlite3_api_routines` table SQLite passes to an extension entry point.
    unsafe fn bind(p_api: *mut ffi::sqlite3_api_routines) -> Result<(), String> {
        if p_api.is_null() {
            return Err("the SQLite passed no API routines (built with SQLITE_OMIT_LOAD_EXTENSION)".into());
        }
        let api = &*p_api;
        let number = match api.libversion_number {
            Some(f) => f(),
            None => return Err("the host SQLite does not report its version".into()),
        };
        let version = match api.libversion {
            Some(f) => {
                let p = f();
                if p.is_null() {
                    version_text(number)
                } else {
                    CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            }
            None => version_text(number),
        };
        if number < MIN_SQLITE_VERSION_NUMBER {
            return Err(format!(
                "Python's sqlite3 module uses SQLite {version}, older than {}, the oldest this package \
                 supports",
                version_text(MIN_SQLITE_VERSION_NUMBER)
            ));
        }
        let mut st = state();
        if let Some(b) = &st.bound {
            if b.api == p_api as usize {
                return Ok(());
            }
            return Err(format!(
                "already bound to another SQLite library ({}) in this process; a second SQLite \
                 ({version}) is refused",
                b.version
            ));
        }
        match api.xthreadsafe {
            Some(f) if f() != 0 => {}
            _ => return Err(format!("Python's SQLite {version} was built single-threaded (SQLITE_THREADSAFE=0)")),
        }
        let missing = required_fields!(
            api,
            open_v2,
            close,
            prepare_v2,
            prepare_v3,
            step,
            reset,
            finalize,
            clear_bindings,
            bind_parameter_count,
            bind_parameter_index,
            bind_int64,
            bind_double,
            bind_text64,
            bind_blob64,
            bind_null,
            column_count,
            column_name,
            column_type,
            column_int64,
            column_double,
            column_text,
            column_blob,
            column_bytes,
            changes,
            last_insert_rowid,
            get_autocommit,
            busy_timeout,
            busy_handler,
            db_config,
            errmsg,
            errcode,
            extended_errcode,
            extended_result_codes,
            errstr,
            free,
            malloc,
            backup_init,
            backup_step,
            backup_finish,
            backup_remaining,
            backup_pagecount,
            db_handle,
            stmt_readonly,
            txn_state,
            sql,
        );
        if !missing.is_empty() {
            return Err(format!("Python's SQLite {version} lacks routines the store needs: {}", missing.join(", ")));
        }
        ffi::rusqlite_extension_init2(p_api).map_err(|e| format!("SQLite {version}: {e}"))?;
        st.bound = Some(Bound { api: p_api as usize, version, version_number: number });
        st.unavailable = None;
        Ok(())
    }

    /// Hand `text` to SQLite as the load error (allocated with the host's own allocator).
    unsafe fn set_error(p_api: *mut ffi::sqlite3_api_routines, pz_err_msg: *mut *mut c_char, text: &str) {
        if p_api.is_null() || pz_err_msg.is_null() {
            return;
        }
        let Some(malloc) = (*p_api).malloc else { return };
        let bytes = text.as_bytes();
        let Ok(len) = c_int::try_from(bytes.len() + 1) else { return };
        let out = malloc(len) as *mut u8;
        if out.is_null() {
            return;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
        *out.add(bytes.len()) = 0;
        *pz_err_msg = out as *mut c_char;
    }

    /// The SQLite extension entry point, reached either through `load_extension` on a Python
    /// `sqlite3` connection or as an automatic extension (`sqlite3_auto_extension`) of Python's
    /// SQLite while the package opens one connection (see `crypto_analyzer_promotion._sqlite`).
    ///
    /// It registers nothing on the connection: it only records the routines of the SQLite that
    /// called it. Returns SQLITE_OK (an automatic extension must; SQLITE_OK_LOAD_PERMANENTLY
    /// would fail the open): the module stays loaded anyway, Python holds it.
    ///
    /// # Safety
    /// Called by SQLite's extension loader with its own arguments.
    #[no_mangle]
    #[allow(unreachable_pub)] // a C symbol: SQLite's loader calls it by name, no Rust code does
    pub unsafe extern "C" fn sqlite3_crypto_analyzer_promotion_init(
        _db: *mut ffi::sqlite3,
        pz_err_msg: *mut *mut c_char,
        p_api: *mut ffi::sqlite3_api_routines,
    ) -> c_int {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bind(p_api)));
        match outcome {
            Ok(Ok(())) => ffi::SQLITE_OK,
            Ok(Err(text)) => {
                set_error(p_api, pz_err_msg, &text);
                ffi::SQLITE_ERROR
            }
            Err(_) => {
                set_error(p_api, pz_err_msg, "internal error while binding the SQLite API");
                ffi::SQLITE_ERROR
            }
        }
    }
}

/// Ok when the store may open connections; else Error::Runtime saying why (no SQLite bound).
pub fn ensure_ready() -> Result<()> {
    #[cfg(feature = "host-sqlite")]
    if let Some(msg) = host::ensure_ready() {
        return Err(crate::error::Error::Runtime(msg));
    }
    Ok(())
}

/// Record why the host SQLite could not be bound (shown by [`ensure_ready`] and diagnostics).
/// Ignored once a library is bound, and in builds that link SQLite.
pub fn mark_unavailable(reason: &str) {
    #[cfg(feature = "host-sqlite")]
    host::mark_unavailable(reason.to_string());
    #[cfg(not(feature = "host-sqlite"))]
    let _ = reason;
}

/// The SQLite library the store runs on.
pub fn library() -> SqliteLibrary {
    #[cfg(feature = "host-sqlite")]
    {
        host::library()
    }
    #[cfg(not(feature = "host-sqlite"))]
    {
        SqliteLibrary {
            version: Some(rusqlite::version().to_string()),
            version_number: rusqlite::version_number(),
            source: "linked",
            unavailable_reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text_reads_libversion_numbers() {
        assert_eq!(version_text(3_034_001), "3.34.1");
        assert_eq!(version_text(3_051_001), "3.51.1");
    }
}
