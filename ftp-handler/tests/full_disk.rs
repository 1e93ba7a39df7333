//! A full disk, for real: the home is a 3 MiB tmpfs the test mounts (it runs as root here).
//! An upload that hits ENOSPC gets 452; the file that was there stays intact; quota usage
//! equals what is stored; the session and the daemon keep serving; once space is freed the
//! same upload succeeds. Every mode.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use support::common::ftpd;
use support::common::users;
use support::raw::Raw;
use support::{MODES, random_bytes};

/// A tmpfs of `size` mounted on `dir`, unmounted on drop.
struct Tmpfs<'a>(&'a Path);

impl<'a> Tmpfs<'a> {
    fn mount(dir: &'a Path, size: &str) -> Option<Self> {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

/// Sends `bytes` with `command` over EPSV; returns the final reply code.
fn upload(session: &mut Raw, addr: std::net::SocketAddr, command: &str, bytes: &[u8]) -> u16 {
    let mut data = session.epsv(addr);
    let opened = session.cmd(command);
    assert_eq!(opened.code, 150, "{command}: {opened:?}");
    // The server may stop reading once the disk is full: a failed write here is expected.
    let _ = data.write_all(bytes);
    drop(data);
    session.reply().code
}

/// Bytes used as SITE QUOTA reports them.
fn bytes_used(session: &mut Raw) -> u64 {
    let reply = session.cmd("SITE QUOTA");
    reply
        .text()
        .lines()
        .find_map(|line| line.trim().strip_prefix("Bytes used: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no usage in {reply:?}"))
}

/// Bytes of the visible files in `dir`.
fn stored(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_full_disk_answers_452_and_loses_nothing_in_every_mode() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let keep = random_bytes(1_500_000, 1);
    let big = random_bytes(2_000_000, 2);
    for mode in MODES {
        let root = tempfile::tempdir().unwrap();
        let users_file = users::write_alice(root.path());
        let home = users::home(root.path(), "alice");
        let Some(_tmpfs) = Tmpfs::mount(&home, "3m") else {
            eprintln!("skipped: mount -t tmpfs failed (no CAP_SYS_ADMIN here)");
            return;
        };
        let daemon = ftpd::serve(mode, &users_file, &users::state_dir(root.path()), &[], &[]);
        let mut session = Raw::login(daemon.addr(), "alice", "secret");
        assert_eq!(
            upload(&mut session, daemon.addr(), "STOR keep.bin", &keep),
            226,
            "{mode}"
        );

        // A new file that does not fit, and an overwrite that does not fit.
        assert_eq!(
            upload(&mut session, daemon.addr(), "STOR big.bin", &big),
            452,
            "{mode}: new"
        );
        assert_eq!(
            upload(&mut session, daemon.addr(), "STOR keep.bin", &big),
            452,
            "{mode}: overwrite"
        );
        assert!(
            std::fs::read(home.join("keep.bin")).unwrap() == keep,
            "{mode}: old file intact"
        );
        assert_eq!(session.cmd("NOOP").code, 200, "{mode}: the session goes on");
        assert_eq!(
            bytes_used(&mut session),
            stored(&home),
            "{mode}: usage equals what is stored"
        );

        // The new file stays as a resumable partial file, as for any interrupted upload.
        let partial = std::fs::metadata(home.join("big.bin")).map_or(0, |m| m.len());
        assert!(partial < big.len() as u64, "{mode}: only part of it");

        // Space freed: the same upload, resumed where it stopped, now succeeds in full.
        assert_eq!(session.cmd("DELE keep.bin").code, 250, "{mode}");
        assert_eq!(session.cmd(&format!("REST {partial}")).code, 350, "{mode}");
        let rest = &big[partial as usize..];
        assert_eq!(
            upload(&mut session, daemon.addr(), "STOR big.bin", rest),
            226,
            "{mode}: retry"
        );
        assert!(
            std::fs::read(home.join("big.bin")).unwrap() == big,
            "{mode}: stored whole"
        );
        assert_eq!(
            bytes_used(&mut session),
            stored(&home),
            "{mode}: usage after the retry"
        );
        assert_eq!(session.cmd("QUIT").code, 221);
        // A fresh session still gets in: the daemon kept serving.
        let mut again = Raw::login(daemon.addr(), "alice", "secret");
        assert_eq!(again.cmd("QUIT").code, 221, "{mode}");
    }
}
