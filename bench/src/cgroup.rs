//! A control group of its own for a server, so the kernel adds up the CPU time of every
//! thread and child process it ever ran, to the nanosecond, even after they exit.
//!
//! cgroup v2 (`cpu.stat`, `usage_usec`) is used where mounted, else cgroup v1's `cpuacct`
//! controller (`cpuacct.usage`, nanoseconds). Both need write access to the hierarchy (root);
//! without it the benchmark falls back to summing `/proc` (see [`crate::cpu`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which accounting file a group reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// `cpu.stat`, field `usage_usec`.
    V2,
    /// `cpuacct.usage`, nanoseconds.
    V1,
}

/// A control group created for one server; removed when dropped (once it is empty).
#[derive(Debug)]
pub struct CpuCgroup {
    /// The group's directory.
    dir: PathBuf,
    /// How its usage is read.
    version: Version,
}

/// Where cgroup v2 may be mounted: alone, or beside v1 in a hybrid layout.
const V2_ROOTS: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
/// Where cgroup v1's CPU accounting controller is mounted.
const V1_CPUACCT_ROOTS: [&str; 2] = ["/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"];

impl CpuCgroup {
    /// Creates a fresh group named `name` in the first usable hierarchy.
    pub fn create(name: &str) -> io::Result<Self> {
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no cgroup hierarchy found");
        let v2 = V2_ROOTS
            .iter()
            .filter(|root| Path::new(root).join("cgroup.controllers").is_file())
            .map(|root| (*root, Version::V2));
        let v1 = V1_CPUACCT_ROOTS
            .iter()
            .filter(|root| Path::new(root).join("cpuacct.usage").is_file())
            .map(|root| (*root, Version::V1));
        for (root, version) in v2.chain(v1) {
            let dir = Path::new(root).join(name);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    let group = CpuCgroup { dir, version };
                    // A group whose usage cannot be read is no use; try the next hierarchy.
                    match group.usage() {
                        Ok(_) => return Ok(group),
                        Err(e) => last_error = e,
                    }
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Moves a process (all its threads; its future children follow) into the group.
    pub fn add(&self, pid: u32) -> io::Result<()> {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }

    /// CPU time used so far by everything that ran in the group.
    pub fn usage(&self) -> io::Result<Duration> {
        match self.version {
            Version::V2 => {
                let stat = fs::read_to_string(self.dir.join("cpu.stat"))?;
                parse_usage_usec(&stat)
                    .map(Duration::from_micros)
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "cpu.stat has no usage_usec")
                    })
            }
            Version::V1 => {
                let usage = fs::read_to_string(self.dir.join("cpuacct.usage"))?;
                usage
                    .trim()
                    .parse::<u64>()
                    .map(Duration::from_nanos)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    /// The group's directory (for messages).
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        // Exited processes leave the group at once; a few tries cover the last reaping.
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The `usage_usec` field of a cgroup v2 `cpu.stat` file.
fn parse_usage_usec(stat: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == "usage_usec").then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage_from_cpu_stat() {
        let stat = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
        assert_eq!(parse_usage_usec(stat), Some(123456));
        assert_eq!(parse_usage_usec("user_usec 5\n"), None);
    }
}
