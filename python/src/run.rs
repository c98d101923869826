//! Running a query from Python: on a thread of its own with the GIL released, while
//! the calling thread wakes every 50 ms to let Python handle signals. Ctrl-C (a
//! `KeyboardInterrupt` from the signal handler) sets the session's cancel flag; the
//! query stops with `Cancelled`, removes its spill files, and only then is the
//! `KeyboardInterrupt` raised.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;

use crate::errors::to_py;

/// Runs `work` (a query on `session`) with the GIL released; see the module docs.
pub fn cancellable<T, F>(py: Python<'_>, session: &floe::Session, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> floe::Result<T> + Send,
{
    let cancel = session.cancel_flag();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(work());
        });
        let mut rx = Some(rx);
        loop {
            let Some(r) = rx.take() else {
                return Err(to_py(floe::Error::Internal("query channel lost".into())));
            };
            let (r, got) = py.detach(move || {
                let got = r.recv_timeout(Duration::from_millis(50));
                (r, got)
            });
            rx = Some(r);
            match got {
                Ok(result) => return result.map_err(to_py),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(to_py(floe::Error::Internal(
                        "the query thread ended without a result".into(),
                    )))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Err(interrupt) = py.check_signals() {
                cancel.store(true, Ordering::SeqCst);
                // Wait for the query to stop and clean up before raising.
                if let Some(r) = rx.take() {
                    let _ = py.detach(move || r.recv());
                }
                cancel.store(false, Ordering::SeqCst);
                return Err(interrupt);
            }
        }
    })
}
