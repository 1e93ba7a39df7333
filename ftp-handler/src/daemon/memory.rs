//! How the daemon's process uses memory: big short-lived blocks go back to the system.
//!
//! Each argon2id verification allocates its whole cost in one block (19 MiB with the
//! production parameters) and frees it a few milliseconds later. glibc's allocator serves
//! blocks above its mmap threshold with `mmap` and returns them on free, but it raises that
//! threshold to the size of the largest such block freed so far: after the first login, every
//! later 19 MiB block comes from a heap arena and stays resident when freed, one per thread
//! that ever hashed. An idle server would then hold tens of MiB it no longer uses. Pinning
//! the threshold keeps big blocks mapped and unmapped, and idle memory at what sessions hold.

/// Blocks at least this large are mapped on allocation and unmapped on free (glibc's own
/// starting value; a data transfer's buffers are allocated once per transfer, not per chunk).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Pins the allocator's mmap threshold (glibc only; elsewhere it does nothing).
pub fn return_big_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's tuning; any value is valid to pass and
        // setting M_MMAP_THRESHOLD also turns off the dynamic adjustment described above.
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if accepted == 0 {
            tracing::debug!("the allocator refused a fixed mmap threshold");
        }
    }
}
