//! SIGKILL at random points (seeded, 100 operations): uploads of new files, overwrites,
//! appends and renames, the daemon killed (with any session processes) somewhere in each one
//! and started again. After every restart each file holds its old or its new complete content
//! (an interrupted new file or append: the old content plus a prefix of the new bytes, which a
//! client resumes), a rename left exactly one of the two names, quota usage equals the bytes
//! stored, and no temporary file is visible to the user.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use support::common::ftpd::{self, FtpdProcess};
use support::common::users;
use support::raw::Raw;
use support::{MODES, random_bytes};
use wharf_testkit::process::children;

/// How many operations, each ended by a kill.
const OPERATIONS: usize = 100;
/// The seed: a failure names it, and the same seed replays the same run.
const SEED: u64 = 0x5eed_f7d0;

/// Kills the daemon and its session processes (forking mode) at once.
fn kill_all(daemon: &mut FtpdProcess) {
    let parent = daemon.pid().expect("the daemon runs");
    for pid in children(parent) {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    daemon.kill();
}

/// What a file may hold after a crash.
#[derive(Debug, Clone)]
enum Expected {
    /// Exactly these bytes.
    Exactly(Vec<u8>),
    /// The old bytes (maybe none), or those followed by a prefix of `added`, up to all of it.
    PrefixOf { old: Vec<u8>, added: Vec<u8> },
    /// `old` unchanged, or all of `new`: a replace is atomic.
    OldOrNew { old: Vec<u8>, new: Vec<u8> },
}

impl Expected {
    fn holds(&self, found: &[u8]) -> bool {
        match self {
            Expected::Exactly(bytes) => found == bytes.as_slice(),
            Expected::PrefixOf { old, added } => {
                found.len() >= old.len()
                    && found.len() <= old.len() + added.len()
                    && &found[..old.len()] == old.as_slice()
                    && found[old.len()..] == added[..found.len() - old.len()]
            }
            Expected::OldOrNew { old, new } => found == old.as_slice() || found == new.as_slice(),
        }
    }
}

/// Sends `payload` for `command`, killing the daemon after `cut` bytes (`None`: after the whole
/// payload, before or after its reply).
fn transfer_and_kill(
    daemon: &mut FtpdProcess,
    session: &mut Raw,
    command: &str,
    payload: &[u8],
    cut: Option<usize>,
    rng: &mut StdRng,
) {
    let mut data = session.epsv(daemon.addr());
    if session.cmd(command).code != 150 {
        kill_all(daemon);
        return;
    }
    let sent = cut.unwrap_or(payload.len());
    let _ = data.write_all(&payload[..sent]);
    if cut.is_none() {
        drop(data);
        if rng.random_bool(0.5) {
            let _ = session.reply();
        }
    } else {
        std::thread::sleep(Duration::from_millis(rng.random_range(0..20)));
    }
    kill_all(daemon);
}

/// The visible files of the home and their bytes.
fn files(home: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

#[test]
fn every_file_is_old_or_new_after_sigkill_at_random_points() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let root = tempfile::tempdir().unwrap();
    let users_file = users::write_alice(root.path());
    let state = users::state_dir(root.path());
    let home = users::home(root.path(), "alice");
    let start =
        |index: usize| ftpd::serve(MODES[index % MODES.len()], &users_file, &state, &[], &[]);
    // What each name may hold, after the last operation on it.
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for op in 0..OPERATIONS {
        let mut daemon = start(op);
        let mut session = Raw::login(daemon.addr(), "alice", "secret");
        let size = rng.random_range(1..400_000);
        let payload = random_bytes(size, op as u64);
        let cut = rng.random_bool(0.7).then(|| rng.random_range(0..size));
        let names: Vec<String> = expected.keys().cloned().collect();
        let kind = if names.is_empty() {
            0
        } else {
            rng.random_range(0..4)
        };
        let current = |name: &str| std::fs::read(home.join(name)).unwrap_or_default();
        match kind {
            0 => {
                let name = format!("new-{op}.bin");
                transfer_and_kill(
                    &mut daemon,
                    &mut session,
                    &format!("STOR {name}"),
                    &payload,
                    cut,
                    &mut rng,
                );
                expected.insert(
                    name,
                    Expected::PrefixOf {
                        old: Vec::new(),
                        added: payload,
                    },
                );
            }
            1 => {
                let name = names[rng.random_range(0..names.len())].clone();
                let old = current(&name);
                transfer_and_kill(
                    &mut daemon,
                    &mut session,
                    &format!("STOR {name}"),
                    &payload,
                    cut,
                    &mut rng,
                );
                expected.insert(name, Expected::OldOrNew { old, new: payload });
            }
            2 => {
                let name = names[rng.random_range(0..names.len())].clone();
                let old = current(&name);
                transfer_and_kill(
                    &mut daemon,
                    &mut session,
                    &format!("APPE {name}"),
                    &payload,
                    cut,
                    &mut rng,
                );
                expected.insert(
                    name,
                    Expected::PrefixOf {
                        old,
                        added: payload,
                    },
                );
            }
            _ => {
                let from = names[rng.random_range(0..names.len())].clone();
                let to = format!("renamed-{op}.bin");
                let content = current(&from);
                assert_eq!(session.cmd(&format!("RNFR {from}")).code, 350, "op {op}");
                session.send_bytes(format!("RNTO {to}\r\n").as_bytes());
                if rng.random_bool(0.5) {
                    let _ = session.reply();
                }
                kill_all(&mut daemon);
                // Exactly one of the names holds the content.
                let (from_there, to_there) = (home.join(&from).exists(), home.join(&to).exists());
                assert!(
                    from_there != to_there,
                    "op {op} (seed {SEED:#x}): rename left {from_there} {to_there}"
                );
                expected.remove(&from);
                let name = if to_there { to } else { from };
                expected.insert(name, Expected::Exactly(content));
            }
        }
        drop(session);

        // After the restart: every file as expected, nothing else visible, usage exact.
        let mut daemon = start(op + 1);
        let found = files(&home);
        let visible: Vec<&String> = found.keys().filter(|name| !name.starts_with('.')).collect();
        let known: Vec<&String> = expected.keys().collect();
        assert_eq!(
            visible, known,
            "op {op} (seed {SEED:#x}): the names in the home"
        );
        for (name, rule) in &expected {
            let bytes = &found[name];
            assert!(
                rule.holds(bytes),
                "op {op} (seed {SEED:#x}): {name} holds {} bytes",
                bytes.len()
            );
        }
        // What is there now is what the next operation starts from.
        for (name, bytes) in &found {
            if let Some(rule) = expected.get_mut(name) {
                *rule = Expected::Exactly(bytes.clone());
            }
        }
        let mut check = Raw::login(daemon.addr(), "alice", "secret");
        let mut listing = check.epsv(daemon.addr());
        assert_eq!(check.cmd("NLST").code, 150);
        let mut names = String::new();
        std::io::Read::read_to_string(&mut listing, &mut names).unwrap();
        assert_eq!(check.reply().code, 226);
        assert!(
            !names.contains(".wharf"),
            "op {op}: a temporary file is visible: {names}"
        );
        let quota = check.cmd("SITE QUOTA");
        let used: u64 = quota
            .text()
            .lines()
            .find_map(|line| line.trim().strip_prefix("Bytes used: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no usage in {quota:?}"));
        let stored: u64 = expected.keys().map(|name| found[name].len() as u64).sum();
        assert_eq!(
            used, stored,
            "op {op} (seed {SEED:#x}): quota usage against the bytes stored"
        );
        drop(check);
        kill_all(&mut daemon);
    }
}
