//! The memory limit of the cgroup this process runs in (Linux, cgroup v1 and v2).
//!
//! Reading the hierarchy's root file (`/sys/fs/cgroup/memory.max`) misses the limit of
//! a container or of `memcap`, which sit in a child group: under a 1 GiB cap the pool
//! was sized from the machine's RAM and a large group-by was OOM-killed. So:
//!
//! 1. `/proc/self/cgroup` names the process's group: `N:memory:/path` (v1, the memory
//!    controller, possibly listed with others) or `0::/path` (v2).
//! 2. `/proc/self/mountinfo` says where that hierarchy is mounted (`cgroup` with the
//!    `memory` option, or `cgroup2`) and which group the mount shows at its root.
//! 3. Every directory from the process's group up to the mount holds a limit
//!    (`memory.limit_in_bytes` / `memory.max`); a parent's limit binds its children
//!    too, so the smallest one applies. "Unlimited" (`max`, or v1's huge sentinel)
//!    counts as none.
//!
//! Anything unreadable means "no cgroup limit". Memory: the two small text files.

use std::path::{Path, PathBuf};

/// The smallest memory limit over the process's cgroup and its ancestors, in bytes.
pub fn memory_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<u64> = None;
    for (dir, mount, file) in limit_dirs(&cgroups, &mountinfo) {
        let mut at = dir.as_path();
        loop {
            if let Some(v) = read_limit(&at.join(file)) {
                best = Some(best.map_or(v, |b| b.min(v)));
            }
            if at == mount {
                break;
            }
            match at.parent() {
                Some(p) if p.starts_with(&mount) => at = p,
                _ => break,
            }
        }
    }
    best
}

/// For each memory hierarchy the process is in: its group's directory, the mount
/// point, and the name of the limit file there.
fn limit_dirs(cgroups: &str, mountinfo: &str) -> Vec<(PathBuf, PathBuf, &'static str)> {
    let mut out = vec![];
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let v1 = controllers.split(',').any(|c| c == "memory");
        let v2 = controllers.is_empty();
        if !v1 && !v2 {
            continue;
        }
        let Some((root, mount)) = mount_of(mountinfo, v1) else {
            continue;
        };
        // The mount shows group `root` at `mount`: the process's group lies below it.
        let rel = Path::new(path)
            .strip_prefix(&root)
            .unwrap_or_else(|_| Path::new(""));
        let file = if v1 {
            "memory.limit_in_bytes"
        } else {
            "memory.max"
        };
        out.push((mount.join(rel), mount, file));
    }
    out
}

/// The (root, mount point) of the memory hierarchy: a `cgroup` mount with the `memory`
/// option (`v1`), or the `cgroup2` mount.
fn mount_of(mountinfo: &str, v1: bool) -> Option<(PathBuf, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        // `id parent major:minor root mount options [optional...] - fstype source super`
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        let mut right = right.split(' ');
        let fstype = right.next()?;
        let _source = right.next();
        let options = right.next().unwrap_or("");
        let wanted = if v1 {
            fstype == "cgroup" && options.split(',').any(|o| o == "memory")
        } else {
            fstype == "cgroup2"
        };
        if !wanted {
            return None;
        }
        Some((PathBuf::from(fields.get(3)?), PathBuf::from(fields.get(4)?)))
    })
}

/// A limit file's value; `None` when absent, unreadable or unlimited.
fn read_limit(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: u64 = text.trim().parse().ok()?;
    // v1 writes "unlimited" as a page-aligned i64::MAX.
    (v < (1u64 << 62)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_group_directory_in_v1_and_v2() {
        let cgroups = "4:memory:/process_api/abc/memcap.1\n3:cpu,cpuacct:/\n0::/\n";
        let mountinfo = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n\
             36 31 0:33 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             37 31 0:34 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let dirs = limit_dirs(cgroups, mountinfo);
        assert_eq!(
            dirs[0],
            (
                PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/memcap.1"),
                PathBuf::from("/sys/fs/cgroup/memory"),
                "memory.limit_in_bytes"
            )
        );
        assert_eq!(dirs[1].0, PathBuf::from("/sys/fs/cgroup/unified/"));
        assert_eq!(dirs[1].2, "memory.max");

        // A container whose mount shows its own group at the root.
        let cgroups = "0::/kubepods/pod1/c1\n";
        let mountinfo = "40 30 0:35 /kubepods/pod1/c1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n";
        let dirs = limit_dirs(cgroups, mountinfo);
        assert_eq!(dirs[0].0, PathBuf::from("/sys/fs/cgroup/"));
    }

    #[test]
    fn unlimited_and_missing_files_are_no_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.max");
        std::fs::write(&f, "max\n").unwrap();
        assert_eq!(read_limit(&f), None);
        std::fs::write(&f, "9223372036854771712\n").unwrap();
        assert_eq!(read_limit(&f), None);
        std::fs::write(&f, "1073741824\n").unwrap();
        assert_eq!(read_limit(&f), Some(1 << 30));
        assert_eq!(read_limit(&dir.path().join("absent")), None);
    }
}
