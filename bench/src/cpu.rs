//! CPU time of a server: from a control group of its own where the machine allows
//! ([`crate::cgroup`]), else summed over its process tree from `/proc` (Linux).
//!
//! A process's `utime + stime` covers all its threads, live and exited; `cutime + cstime`
//! covers its children once reaped. Summing the four over every live process of a tree counts
//! each CPU second exactly once: a child's time moves into its parent's `cutime` when it is
//! reaped, never in two places at once.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::time::Duration;

use crate::cgroup::CpuCgroup;

/// A failure to read process accounting.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// `/proc` could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A `/proc/PID/stat` line did not have the expected fields.
    #[error("unexpected format of /proc/{pid}/stat")]
    Format {
        /// The process.
        pid: u32,
    },
    /// The server's control group could not be read.
    #[error("cannot read the server's cgroup: {0}")]
    Cgroup(io::Error),
    /// The process to measure is gone.
    #[error("process {pid} is not running")]
    Gone {
        /// The process.
        pid: u32,
    },
}

/// The accounting fields of one `/proc/PID/stat` line, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatTimes {
    /// The parent process.
    pub parent: u32,
    /// User time of all threads.
    pub user: u64,
    /// System time of all threads.
    pub system: u64,
    /// User time of reaped children.
    pub children_user: u64,
    /// System time of reaped children.
    pub children_system: u64,
}

impl StatTimes {
    /// Own plus reaped children's time, in ticks.
    fn total_ticks(&self) -> u64 {
        self.user + self.system + self.children_user + self.children_system
    }
}

/// Parses a `/proc/PID/stat` line; the command name may hold spaces and parentheses.
pub fn parse_stat(line: &str) -> Option<StatTimes> {
    // The command name ends at the last ')'; fields after it start with field 3 (state).
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(StatTimes {
        parent: u32::try_from(field(4)?).ok()?,
        user: field(14)?,
        system: field(15)?,
        children_user: field(16)?,
        children_system: field(17)?,
    })
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times.
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    let per_second = ticks_per_second();
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

/// Reads one process's stat line; `None` if it has exited meanwhile.
fn read_stat(pid: u32) -> Result<Option<StatTimes>, CpuError> {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(line) => parse_stat(&line).map(Some).ok_or(CpuError::Format { pid }),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) || e.raw_os_error() == Some(3) => {
            Ok(None)
        }
        Err(source) => Err(CpuError::Read {
            path: format!("/proc/{pid}/stat"),
            source,
        }),
    }
}

/// Every live process of the tree rooted at `root` (itself first), with its accounting.
pub fn process_tree(root: u32) -> Result<Vec<(u32, StatTimes)>, CpuError> {
    let entries = fs::read_dir("/proc").map_err(|source| CpuError::Read {
        path: "/proc".into(),
        source,
    })?;
    let mut processes: HashMap<u32, StatTimes> = HashMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(times) = read_stat(pid)? {
            processes.insert(pid, times);
        }
    }
    if !processes.contains_key(&root) {
        return Err(CpuError::Gone { pid: root });
    }
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, times) in &processes {
        children.entry(times.parent).or_default().push(pid);
    }
    let mut tree = Vec::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        if let Some(times) = processes.get(&pid) {
            tree.push((pid, *times));
        }
        if let Some(kids) = children.get(&pid) {
            pending.extend(kids);
        }
    }
    Ok(tree)
}

/// CPU time used so far by `root`, its threads and every descendant (live or reaped).
pub fn process_tree_time(root: u32) -> Result<Duration, CpuError> {
    let ticks = process_tree(root)?
        .iter()
        .map(|(_, times)| times.total_ticks())
        .sum();
    Ok(ticks_to_duration(ticks))
}

/// CPU time used so far by this process (all threads).
pub fn own_time() -> Result<Duration, CpuError> {
    let times = read_stat(std::process::id())?.ok_or(CpuError::Gone {
        pid: std::process::id(),
    })?;
    Ok(ticks_to_duration(times.user + times.system))
}

/// Measures the CPU time of one server with everything it runs.
#[derive(Debug)]
pub enum CpuMeter {
    /// The kernel's sum over a control group holding the server (nanosecond precision,
    /// exited threads and children included).
    Cgroup(CpuCgroup),
    /// The sum over the live process tree in `/proc` (clock-tick precision).
    ProcessTree(u32),
}

impl CpuMeter {
    /// A meter for the server `pid`: its own control group if one can be made, else `/proc`.
    /// Call it before the server starts threads or children that should be counted.
    pub fn for_server(pid: u32) -> Self {
        let name = format!("wharf-bench-{}-{pid}", std::process::id());
        match CpuCgroup::create(&name) {
            Ok(group) => match group.add(pid) {
                Ok(()) => CpuMeter::Cgroup(group),
                Err(_) => CpuMeter::ProcessTree(pid),
            },
            Err(_) => CpuMeter::ProcessTree(pid),
        }
    }

    /// CPU time used so far.
    pub fn read(&self) -> Result<Duration, CpuError> {
        match self {
            CpuMeter::Cgroup(group) => group.usage().map_err(CpuError::Cgroup),
            CpuMeter::ProcessTree(pid) => process_tree_time(*pid),
        }
    }

    /// How the time is measured, for the record.
    pub fn method(&self) -> &'static str {
        match self {
            CpuMeter::Cgroup(_) => "cgroup",
            CpuMeter::ProcessTree(_) => "proc",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_command_holds_parentheses_and_spaces() {
        let line = "4242 (we ird) (name) S 17 4242 4242 0 -1 4194560 500 0 0 0 \
                    123 45 6 7 20 0 3 0 100 1000000 200 18446744073709551615";
        let times = parse_stat(line).unwrap();
        assert_eq!(
            times,
            StatTimes {
                parent: 17,
                user: 123,
                system: 45,
                children_user: 6,
                children_system: 7,
            }
        );
        assert_eq!(times.total_ticks(), 181);
    }

    #[test]
    fn a_truncated_stat_line_is_rejected() {
        assert_eq!(parse_stat("12 (x) S 1 12 12"), None);
        assert_eq!(parse_stat("no parenthesis here"), None);
    }

    #[test]
    fn a_busy_child_counts_toward_its_parents_tree() {
        let me = std::process::id();
        let before = process_tree_time(me).unwrap();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
            .status()
            .unwrap();
        assert!(status.success());
        let after = process_tree_time(me).unwrap();
        assert!(after > before, "{after:?} after vs {before:?} before");
    }

    #[test]
    fn a_meter_sees_a_busy_process_use_cpu() {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("while :; do :; done")
            .spawn()
            .unwrap();
        let meter = CpuMeter::for_server(child.id());
        let first = meter.read().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let second = meter.read().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            second > first,
            "{} meter: {second:?} after {first:?}",
            meter.method()
        );
    }

    #[test]
    fn a_missing_process_is_reported_as_gone() {
        // PIDs are below 2^22 on Linux, so this one cannot exist.
        assert!(matches!(
            process_tree_time(u32::MAX - 1),
            Err(CpuError::Gone { .. })
        ));
    }
}
