//! The exception classes: `FloeError` and one subclass per kind of failure a caller
//! may want to handle, with the same messages as the CLI.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;

create_exception!(floe, FloeError, PyException, "Any error floe reports.");
create_exception!(
    floe,
    ResourcesExhaustedError,
    FloeError,
    "The memory limit (or the spill limit) was too small for the query."
);
create_exception!(
    floe,
    DiskFullError,
    FloeError,
    "The disk holding spill files or an output filled up."
);
create_exception!(
    floe,
    NotSupportedError,
    FloeError,
    "The query uses something floe does not support yet."
);
create_exception!(
    floe,
    InvalidInputError,
    FloeError,
    "A file, a table, a SQL text or an argument is malformed or does not fit the query."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FloeError", py.get_type::<FloeError>())?;
    m.add(
        "ResourcesExhaustedError",
        py.get_type::<ResourcesExhaustedError>(),
    )?;
    m.add("DiskFullError", py.get_type::<DiskFullError>())?;
    m.add("NotSupportedError", py.get_type::<NotSupportedError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    Ok(())
}

/// The Python exception for a floe error.
pub fn to_py(e: floe::Error) -> PyErr {
    use floe::Error as E;
    let msg = e.to_string();
    match e {
        E::ResourcesExhausted { .. } | E::SpillLimit { .. } => {
            ResourcesExhaustedError::new_err(msg)
        }
        E::DiskFull { .. } => DiskFullError::new_err(msg),
        E::NotSupported(_) => NotSupportedError::new_err(msg),
        E::Csv { .. }
        | E::Parquet { .. }
        | E::NoFiles(_)
        | E::Schema(_)
        | E::Sql(_)
        | E::Plan(_)
        | E::InvalidInput(_)
        | E::Io { .. }
        | E::Config(_) => InvalidInputError::new_err(msg),
        E::Cancelled => PyKeyboardInterrupt::new_err(msg),
        _ => FloeError::new_err(msg),
    }
}

/// `Result<T, floe::Error>` into a Python result.
pub trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for floe::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
