//! Memory of a server with every process it forked: resident set (RSS) and proportional set
//! (PSS) summed over its live process tree, from `/proc` (Linux).
//!
//! RSS counts a page shared by ten processes ten times, so for servers with a process per
//! session (vsftpd, pure-ftpd, Wharf's forking mode) the RSS sum overstates what the machine
//! spends; PSS splits each shared page among its sharers and sums to the real total. Both are
//! recorded; for a single-process server they differ only by its share of shared libraries.

use std::fs;

use serde::Serialize;

use crate::cpu::{self, CpuError};

/// The memory of one process tree at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TreeMemory {
    /// Live processes in the tree.
    pub processes: usize,
    /// Sum of their resident set sizes, in bytes.
    pub rss_bytes: u64,
    /// Sum of their proportional set sizes, in bytes (`None` where `smaps_rollup` is missing).
    pub pss_bytes: Option<u64>,
}

/// The value in kB of the line `name:` of a `/proc` status-like file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        let kib = value
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?;
        Some(kib * 1024)
    })
}

/// Memory of `root` and all its descendants now; processes that exit meanwhile are skipped.
pub fn tree_memory(root: u32) -> Result<TreeMemory, CpuError> {
    let tree = cpu::process_tree(root)?;
    let mut memory = TreeMemory {
        processes: 0,
        rss_bytes: 0,
        pss_bytes: Some(0),
    };
    for (pid, _) in tree {
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        // Kernel threads and zombies have no VmRSS line: they hold no user memory.
        let rss = kib_field(&status, "VmRSS").unwrap_or(0);
        memory.processes += 1;
        memory.rss_bytes += rss;
        let pss = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()
            .map(|rollup| kib_field(&rollup, "Pss").unwrap_or(0));
        memory.pss_bytes = match (memory.pss_bytes, pss) {
            (Some(sum), Some(pss)) => Some(sum + pss),
            _ => None,
        };
    }
    Ok(memory)
}

/// The highest resident set size `pid` has had since it started (`VmHWM`), in bytes.
pub fn peak_rss(pid: u32) -> std::io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    kib_field(&status, "VmHWM")
        .ok_or_else(|| std::io::Error::other(format!("no VmHWM line for process {pid}")))
}

/// The resident set size of `pid` now (`VmRSS`), in bytes.
pub fn rss(pid: u32) -> std::io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    kib_field(&status, "VmRSS")
        .ok_or_else(|| std::io::Error::other(format!("no VmRSS line for process {pid}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields_as_bytes() {
        let status = "Name:\tx\nVmRSS:\t    2048 kB\nVmSwap:\t0 kB\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(2048 * 1024));
        assert_eq!(kib_field(status, "VmHWM"), None);
        let rollup = "00400000-7fff [rollup]\nRss:   100 kB\nPss:    60 kB\nPss_Anon: 5 kB\n";
        assert_eq!(kib_field(rollup, "Pss"), Some(60 * 1024));
    }

    #[test]
    fn the_peak_is_at_least_the_current_size() {
        let me = std::process::id();
        let now = rss(me).unwrap();
        assert!(now > 0);
        assert!(peak_rss(me).unwrap() >= now);
    }

    #[test]
    fn a_tree_counts_its_children_memory() {
        // A shell that forks one sleeping child and waits for it.
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .spawn()
            .unwrap();
        let mut memory = tree_memory(shell.id()).unwrap();
        for _ in 0..50 {
            if memory.processes == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            memory = tree_memory(shell.id()).unwrap();
        }
        let shell_alone = fs::read_to_string(format!("/proc/{}/status", shell.id()))
            .ok()
            .and_then(|status| kib_field(&status, "VmRSS"))
            .unwrap();
        // Killing the shell leaves the sleep to finish on its own; it holds nothing we need.
        shell.kill().unwrap();
        shell.wait().unwrap();
        assert_eq!(memory.processes, 2, "{memory:?}");
        assert!(memory.rss_bytes > shell_alone, "{memory:?}");
        assert!(memory.pss_bytes.unwrap_or(0) > 0, "{memory:?}");
    }
}
