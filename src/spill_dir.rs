//! Owned temporary directories and files: a query's spill directory, and the
//! `.floe-tmp-*` names an output is written under before it is renamed into place.
//!
//! Each one is *owned* by the process that made it through an exclusive `flock` on an
//! open handle of the directory or file itself (so nothing extra lies inside it).
//! The kernel drops the lock when the owner exits, however it exits. So after a
//! `kill -9`, which runs no destructor, the next floe run that makes its own temporary
//! in the same place ([`remove_stale`]) finds the leftovers whose lock it can take and
//! removes them. Entries younger than [`GRACE`] are left alone: their owner may not
//! have taken its lock yet.
//!
//! A spill directory is made under the configured spill root; a root that does not
//! exist is made if its parent does (one level, removed again when the query's
//! directory goes and it is empty), never as a whole chain of directories. A root that
//! is a file is a clear configuration error.
//!
//! Memory: none beyond one open file per owned directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Leftovers younger than this are never removed: an owner takes its lock within
/// microseconds of making the entry, so this only guards against that instant.
pub const GRACE: Duration = Duration::from_secs(10);

/// A query's spill directory: removed, with everything in it, on drop.
#[derive(Debug)]
pub struct QueryDir {
    dir: Option<tempfile::TempDir>,
    /// Holds the lock that marks the directory as in use.
    _owner: File,
    /// The spill root, when this directory's creation made it.
    made_root: Option<PathBuf>,
}

impl QueryDir {
    /// Makes `<root>/<prefix>XXXXXX`, owned by this process, after removing the
    /// leftovers of dead processes under `root`.
    pub fn create(root: &Path, prefix: &str) -> Result<QueryDir> {
        let made_root = ensure_root(root)?;
        remove_stale(root, prefix);
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(root)
            .map_err(|e| Error::io(root, e))?;
        let owner = File::open(dir.path()).map_err(|e| Error::io(dir.path(), e))?;
        lock(&owner, dir.path())?;
        Ok(QueryDir {
            dir: Some(dir),
            _owner: owner,
            made_root,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }
}

impl Drop for QueryDir {
    fn drop(&mut self) {
        drop(self.dir.take());
        if let Some(root) = &self.made_root {
            // Fails, harmlessly, while another query still has its directory there.
            let _ = std::fs::remove_dir(root);
        }
    }
}

/// Takes an exclusive lock on `file` (held until it is closed).
pub fn lock(file: &File, path: &Path) -> Result<()> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::Error(e) => Error::io(path, e),
        std::fs::TryLockError::WouldBlock => {
            Error::Internal(format!("{} is locked by another process", path.display()))
        }
    })
}

/// Makes `root` if it is missing and its parent exists; `Some(root)` when it did.
fn ensure_root(root: &Path) -> Result<Option<PathBuf>> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(None),
        Ok(_) => Err(Error::Config(format!(
            "the spill directory {} is a file, not a directory: set spill_dir \
             (--spill-dir) to a directory",
            root.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(root) {
            Ok(()) => Ok(Some(root.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Config(format!(
                "the spill directory {} does not exist, nor does its parent: create it, \
                 or set spill_dir (--spill-dir) to an existing directory",
                root.display()
            ))),
            Err(e) => Err(Error::io(root, e)),
        },
        Err(e) => Err(Error::io(root, e)),
    }
}

/// Removes the entries of `dir` named `<prefix>*` whose owner is gone: those older than
/// [`GRACE`] whose lock can be taken. Best effort: anything unreadable is left as it is.
pub fn remove_stale(dir: &Path, prefix: &str) {
    let listed = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(listed) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        // Not following links: a link is never one of ours.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let young = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < GRACE);
        if young {
            continue;
        }
        if !meta.is_dir() && !meta.is_file() {
            continue;
        }
        let Ok(f) = File::open(&path) else {
            continue;
        };
        if f.try_lock().is_err() {
            continue;
        }
        if meta.is_dir() {
            let _ = std::fs::remove_dir_all(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves `path`'s modification time an hour back, past the grace period.
    fn age(path: &Path) {
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        let f = File::open(path).unwrap();
        f.set_modified(old).unwrap();
    }

    #[test]
    fn leftovers_of_dead_owners_go_and_live_ones_stay() {
        let root = tempfile::tempdir().unwrap();
        let live = QueryDir::create(root.path(), "floe-spill-").unwrap();
        std::fs::write(live.path().join("run-1"), b"x").unwrap();
        // A dead owner's directory: not locked.
        let dead = root.path().join("floe-spill-dead");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("run-1"), b"x").unwrap();
        // A fresh unlocked one may be an owner about to lock it.
        let fresh = root.path().join("floe-spill-fresh");
        std::fs::create_dir(&fresh).unwrap();
        // Someone else's directory without the prefix.
        let other = root.path().join("data");
        std::fs::create_dir(&other).unwrap();
        for p in [&dead, &other, &live.path().to_path_buf()] {
            age(p);
        }
        remove_stale(root.path(), "floe-spill-");
        assert!(!dead.exists());
        assert!(fresh.exists() && other.exists());
        assert!(live.path().join("run-1").exists());
        let kept = live.path().to_path_buf();
        drop(live);
        assert!(!kept.exists());
    }

    #[test]
    fn a_missing_root_is_made_one_level_deep_and_removed_again() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("spill");
        let d = QueryDir::create(&root, "floe-spill-").unwrap();
        assert!(d.path().starts_with(&root));
        drop(d);
        assert!(!root.exists());

        let deep = parent.path().join("a").join("b");
        let err = QueryDir::create(&deep, "floe-spill-")
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist, nor does its parent"), "{err}");
        assert!(!parent.path().join("a").exists());

        let file = parent.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let err = QueryDir::create(&file, "floe-spill-")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a file, not a directory"), "{err}");
    }
}
