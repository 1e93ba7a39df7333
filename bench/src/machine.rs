//! What machine a run happened on: cores, processor, memory, kernel and load.

use std::fs;

use serde::Serialize;

/// The facts about the machine recorded beside the results.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical processors this process may use.
    pub cores: usize,
    /// The processor's model name from `/proc/cpuinfo`.
    pub model: String,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// The kernel release.
    pub kernel: String,
    /// The 1-minute load average when the run started (other work on the machine skews results).
    pub load_average: f64,
}

impl Machine {
    /// Reads the machine's facts; anything unreadable is recorded as unknown.
    pub fn describe() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            memory_mib: field(&meminfo, "MemTotal")
                .and_then(|kib| kib.trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            load_average: loadavg
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0),
        }
    }
}

/// The value of the first `name : value` line of a `/proc` text file.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_string())
    })
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cores ({}), {} MiB, Linux {}, load average {:.2} at start",
            self.cores, self.model, self.memory_mib, self.kernel, self.load_average
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_colon_separated_proc_fields() {
        let text = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nMemTotal:  2048 kB\n";
        assert_eq!(
            field(text, "model name").as_deref(),
            Some("Some CPU @ 2.0GHz")
        );
        assert_eq!(field(text, "MemTotal").as_deref(), Some("2048 kB"));
        assert_eq!(field(text, "missing"), None);
    }
}
