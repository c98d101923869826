//! Inputs that are streams, not files: `/dev/stdin`, a named pipe, a `/proc` file, any
//! path whose size `stat` reports as 0 but which reads as more.
//!
//! The readers map files or read them by byte range, in parallel, several times
//! (sniffing, schema inference, the scan). A stream allows none of that: it can be read
//! once, from the start, and its size is unknown. So when a query lists one, it is
//! copied, single-threaded, into an unlinked temporary file, and every open of that
//! path while it is still a stream reads the copy, through `/proc/self/fd`, with its
//! own file offset. A pipe or device is copied once per process (a later query in the
//! shell sees the same rows); a size-0 regular file is copied each time it is listed. The copy has no name on
//! disk, so the kernel removes it when the process ends, however it ends.
//!
//! Memory: a 64 KiB copy buffer. Disk: the stream's size, in the temp directory.
//! Streams are read on Linux only (elsewhere: [`Error::NotSupported`]).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// Copies made so far, by the path the user gave.
fn copies() -> &'static Mutex<HashMap<PathBuf, Arc<File>>> {
    static COPIES: OnceLock<Mutex<HashMap<PathBuf, Arc<File>>>> = OnceLock::new();
    COPIES.get_or_init(Default::default)
}

/// Whether `meta` describes something that must be read as a stream: not a regular
/// file (a pipe, a character device), or a regular file whose size reads as 0.
pub(crate) fn is_stream(meta: &std::fs::Metadata) -> bool {
    !meta.is_dir() && (!meta.is_file() || meta.len() == 0)
}

/// The size of `path` for planning: its copy's size for a stream, else `len`. A pipe or
/// device is copied on its first use only (it cannot be read again); a size-0 regular
/// file (`/proc`) is copied afresh each time a query lists it, so it is never stale.
pub(crate) fn size_of(path: &Path, meta: &std::fs::Metadata) -> Result<u64> {
    if !is_stream(meta) {
        return Ok(meta.len());
    }
    let copy = copy_of(path, meta.is_file())?;
    copy.metadata()
        .map(|m| m.len())
        .map_err(|e| Error::io(path, e))
}

/// Opens `path` for reading: the copy of a stream read earlier, else the file itself
/// (also when a path that was a size-0 file has since grown).
pub(crate) fn open(path: &Path) -> Result<File> {
    let still_stream = std::fs::metadata(path).is_ok_and(|m| is_stream(&m));
    let copy = if still_stream {
        copies()
            .lock()
            .map_err(|_| Error::Internal("stream copies poisoned".into()))?
            .get(path)
            .cloned()
    } else {
        None
    };
    match copy {
        Some(copy) => reopen(path, &copy),
        None => File::open(path).map_err(|e| Error::io(path, e)),
    }
}

/// The copy of the stream at `path`: made on first use, or made again when `refresh`.
fn copy_of(path: &Path, refresh: bool) -> Result<Arc<File>> {
    let mut map = copies()
        .lock()
        .map_err(|_| Error::Internal("stream copies poisoned".into()))?;
    if let Some(copy) = map.get(path).filter(|_| !refresh) {
        return Ok(Arc::clone(copy));
    }
    if !cfg!(target_os = "linux") {
        return Err(Error::NotSupported(format!(
            "reading {} as a stream (a pipe, a device or a size-0 file) outside Linux",
            path.display()
        )));
    }
    let mut source = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut copy = tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    std::io::copy(&mut source, &mut copy).map_err(|e| Error::io(path, e))?;
    let copy = Arc::new(copy);
    map.insert(path.to_path_buf(), Arc::clone(&copy));
    Ok(copy)
}

/// A new handle on `copy` with its own offset (not `try_clone`, which shares it).
fn reopen(path: &Path, copy: &File) -> Result<File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let fd_path = format!("/proc/self/fd/{}", copy.as_raw_fd());
        File::open(fd_path).map_err(|e| Error::io(path, e))
    }
    #[cfg(not(unix))]
    {
        let _ = copy;
        Err(Error::NotSupported(format!(
            "reading {} as a stream outside Linux",
            path.display()
        )))
    }
}
