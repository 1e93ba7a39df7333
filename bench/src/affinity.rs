//! Pinning the load generator and the server to CPUs, so every server gets the same layout.
//!
//! Left to the scheduler, a server's busy thread and the generator's sometimes share a CPU
//! (round trips need no cross-CPU wake-up: fast at 1 connection, one core's worth at 10) and
//! sometimes do not (the opposite), so the same server measured twice differs by 3x. On a
//! virtual machine a cross-CPU wake-up is also slow and its cost drifts with the host's load,
//! so even a fixed split (generator on some CPUs, server on the others) leaves the run bound
//! by wake-up latency and noisy. Sharing one CPU removes cross-CPU wake-ups altogether: the
//! run is bound by CPU work only, and the round-trip rate follows the server's CPU cost.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Which CPUs each side runs on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CpuSplit {
    /// CPUs of the load generator.
    pub generator: Vec<usize>,
    /// CPUs of the server under test.
    pub server: Vec<usize>,
}

impl CpuSplit {
    /// The generator and the server on the same CPU, the last of `cpus`; `None` if empty.
    pub fn shared(cpus: &[usize]) -> Option<CpuSplit> {
        let last = *cpus.last()?;
        Some(CpuSplit {
            generator: vec![last],
            server: vec![last],
        })
    }

    /// Halves `cpus` (the generator gets the smaller half); `None` with fewer than two.
    pub fn halves(cpus: &[usize]) -> Option<CpuSplit> {
        if cpus.len() < 2 {
            return None;
        }
        let (generator, server) = cpus.split_at(cpus.len() / 2);
        Some(CpuSplit {
            generator: generator.to_vec(),
            server: server.to_vec(),
        })
    }
}

fn cpu_set(cpus: &[usize]) -> io::Result<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {cpu} is out of range"),
            ));
        }
        // SAFETY: cpu is within the set's size, checked above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    Ok(set)
}

fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: pid 0 is the calling thread; the set is a valid cpu_set_t of the size given.
    let result = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid buffer for the kernel to fill.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the buffer has the size given.
    let result =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread, and every thread it starts afterwards, to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    set_affinity(&cpu_set(cpus)?)
}

/// Makes `command` start pinned to `cpus` (its threads and children inherit the pinning).
pub fn pin_command(command: &mut Command, cpus: &[usize]) -> io::Result<()> {
    let set = cpu_set(cpus)?;
    // SAFETY: the hook only makes one system call on a set built before the fork.
    unsafe {
        command.pre_exec(move || set_affinity(&set));
    }
    Ok(())
}

/// Pins the calling thread (the load generator, before it starts threads) as `layout` says:
/// `shared` puts generator and servers on the last CPU, `split` gives the generator the first
/// half of the CPUs and the servers the rest, `none` leaves it to the scheduler. Returns the
/// split, or `None` when not pinned (also with too few CPUs, after a warning).
pub fn pin_generator(layout: &str) -> io::Result<Option<CpuSplit>> {
    let split = match layout {
        "none" => return Ok(None),
        "split" => CpuSplit::halves(&allowed_cpus()?),
        "shared" => CpuSplit::shared(&allowed_cpus()?),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown CPU layout {other:?} (shared, split or none)"),
            ));
        }
    };
    match &split {
        Some(split) => pin_current_thread(&split.generator)?,
        None => eprintln!("warning: too few CPUs to pin as asked: not pinned"),
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_puts_both_sides_on_the_last_cpu() {
        assert_eq!(CpuSplit::shared(&[]), None);
        let shared = CpuSplit::shared(&[0, 1]).unwrap();
        assert_eq!((shared.generator, shared.server), (vec![1], vec![1]));
    }

    #[test]
    fn halves_give_the_server_the_larger_half() {
        assert_eq!(CpuSplit::halves(&[0]), None);
        assert_eq!(
            CpuSplit::halves(&[0, 1]),
            Some(CpuSplit {
                generator: vec![0],
                server: vec![1]
            })
        );
        let split = CpuSplit::halves(&[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(split.generator, vec![0, 1]);
        assert_eq!(split.server, vec![2, 3, 4]);
    }

    #[test]
    fn a_pinned_thread_reports_its_new_cpus() {
        let allowed = allowed_cpus().unwrap();
        assert!(!allowed.is_empty());
        let first = allowed[0];
        let seen = std::thread::spawn(move || {
            pin_current_thread(&[first]).unwrap();
            allowed_cpus().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, vec![first]);
    }

    #[test]
    fn a_pinned_command_runs_on_its_cpus() {
        let allowed = allowed_cpus().unwrap();
        let last = *allowed.last().unwrap();
        let mut command = Command::new("grep");
        command.args(["Cpus_allowed_list", "/proc/self/status"]);
        pin_command(&mut command, &[last]).unwrap();
        let output = command.output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            text.split(':').nth(1).map(str::trim),
            Some(last.to_string().as_str())
        );
    }
}
