//! The threads password hashes run on: as many as hashes may run at once, each at a lower CPU
//! priority than the rest of the server, so a storm of logins uses the CPU the sessions leave
//! idle and slows other logins, not the sessions already in.
//!
//! An argon2id verification keeps a CPU busy for tens of milliseconds. On tokio's blocking
//! pool it competes as an equal with the threads that serve sessions, and with every CPU
//! hashing, a session's reply waits for the scheduler's time slice. At nice 10 a hashing thread
//! weighs a tenth of a normal one: the scheduler switches to a waking session thread at once,
//! and while sessions are quiet the hashes still get the whole CPU.
//!
//! Each thread keeps the argon2 working memory between checks while more are queued (a storm),
//! instead of mapping, faulting in and unmapping 19 MiB per login, and gives it back to the
//! system as soon as its queue is empty, so an idle server holds none of it.
//!
//! Threads start on first use, so a forked child process (which inherits none of its parent's
//! threads) starts its own.

use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Nice value of the hashing threads (0 is the default, 19 the lowest priority).
const HASH_NICE: libc::c_int = 10;

use super::password::HashMemory;

/// A unit of work for a hashing thread, given the thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// A lazily started pool of low-priority threads.
pub(crate) struct HashPool {
    /// How many threads to start.
    threads: usize,
    /// Where jobs go, once the threads run.
    jobs: OnceLock<Mutex<Sender<Job>>>,
}

impl HashPool {
    /// A pool of `threads` threads (at least one), not started yet.
    pub(crate) fn new(threads: usize) -> Self {
        HashPool {
            threads: threads.max(1),
            jobs: OnceLock::new(),
        }
    }

    /// Runs `job` on a hashing thread (starting the threads on first use). Returns `false` if
    /// no thread can take it (none could be started).
    pub(crate) fn run(&self, job: impl FnOnce(&mut HashMemory) + Send + 'static) -> bool {
        let jobs = self.jobs.get_or_init(|| Mutex::new(self.start()));
        let sender = jobs.lock().unwrap_or_else(PoisonError::into_inner);
        sender.send(Box::new(job)).is_ok()
    }

    /// Starts the threads; they share one queue and end when the pool (the sender) is dropped.
    fn start(&self) -> Sender<Job> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..self.threads {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("wharf-hash-{index}"))
                .spawn(move || serve(&receiver));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        sender
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until the pool is gone, keeping
/// its argon2 memory only while jobs keep coming.
fn serve(receiver: &Mutex<Receiver<Job>>) {
    lower_priority();
    let mut memory = HashMemory::new();
    loop {
        let queued = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_recv();
        let job = match queued {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                // Idle: the memory goes back to the system before waiting.
                memory = HashMemory::new();
                // Holding the lock while waiting is fine: the other threads wait for it instead.
                match receiver
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recv()
                {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        // A panicking job must not take the thread (and its share of the bound) with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
    }
}

/// Sets the calling thread's nice value to [`HASH_NICE`] (Linux: per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        let thread = unsafe { libc::gettid() };
        let Ok(thread) = libc::id_t::try_from(thread) else {
            return;
        };
        // SAFETY: setpriority only reads its arguments; PRIO_PROCESS with a thread id changes
        // that thread alone on Linux. Raising the nice value needs no privilege.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, thread, HASH_NICE) } != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "cannot lower the priority of a password hashing thread"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn jobs_run_on_low_priority_threads_and_survive_a_panic() {
        let pool = HashPool::new(2);
        let (done, results) = channel();
        assert!(pool.run(|_| panic!("a broken job")));
        for _ in 0..4 {
            let done = done.clone();
            assert!(pool.run(move |_| {
                // SAFETY: getpriority only reads its arguments.
                let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
                let name = std::thread::current().name().map(String::from);
                let _ = done.send((nice, name));
            }));
        }
        for _ in 0..4 {
            let (nice, name) = results.recv_timeout(Duration::from_secs(10)).unwrap();
            assert!(name.unwrap().starts_with("wharf-hash-"));
            if cfg!(target_os = "linux") {
                assert!(nice >= HASH_NICE, "nice {nice}");
            }
        }
    }
}
