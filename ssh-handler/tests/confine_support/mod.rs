//! Fixtures for the confinement tests: users with their own uids, network permission and
//! limits, homes owned by those uids, and checks run from the attacker's side.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wharf_users::users_file::CommandSettings;
use wharf_users::{HashParams, UserRecord, UsersFile, hash_password};

use crate::support::{self, Daemon, PASSWORD};

/// One user of a confined setup.
#[derive(Clone, Debug, Default)]
pub struct ConfinedUser {
    /// Login name.
    pub name: &'static str,
    /// Command settings written to the users file.
    pub settings: CommandSettings,
}

impl ConfinedUser {
    /// A user whose commands run as `uid` (and the group of the same number).
    pub fn with_uid(name: &'static str, uid: u32) -> Self {
        let mut settings = CommandSettings::default();
        settings.uid = Some(uid);
        ConfinedUser { name, settings }
    }

    /// A user without a uid of its own: its commands run as the command user (`nobody`).
    pub fn without_uid(name: &'static str) -> Self {
        ConfinedUser {
            name,
            settings: CommandSettings::default(),
        }
    }
}

/// Whether the tests can check confinement: switching uids needs root. Prints why not.
pub fn running_as_root(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        println!(
            "skipping {test}: the daemon must run as root to switch uids (run the tests as root)"
        );
    }
    root
}

/// A traversable root with a users file and homes owned by each user's command uid.
pub fn confined_root(users: &[ConfinedUser]) -> TempDir {
    // Not under /tmp: the command's private /tmp would hide it, and the checks would pass for
    // the wrong reason (a missing path instead of a denied one).
    let root = tempfile::Builder::new()
        .prefix("wharf-confine.")
        .tempdir_in("/var/tmp")
        .expect("temp dir");
    support::make_traversable(root.path());
    let path = root.path().join("users.toml");
    let mut file = UsersFile::empty(&path);
    for user in users {
        let home = root.path().join("home").join(user.name);
        std::fs::create_dir_all(&home).expect("home");
        match user.settings.uid {
            Some(uid) => std::os::unix::fs::chown(&home, Some(uid), Some(uid)).expect("chown"),
            None => support::give_to_command_user(&home),
        }
        file.add(UserRecord {
            name: user.name.to_string(),
            password_hash: hash_password(PASSWORD, &HashParams::PRODUCTION).expect("hash"),
            home,
            quota_bytes: None,
            quota_files: None,
            allow_exec: true,
            authorized_keys: Vec::new(),
        })
        .expect("add user");
        file.set_command_settings(user.name, user.settings.clone())
            .expect("settings");
    }
    file.save().expect("save users");
    root
}

/// Starts a daemon (async mode, native protocol and SSH so the host key exists) on a confined root.
pub fn start(users: &[ConfinedUser], flags: &[&str]) -> Daemon {
    Daemon::start_in(confined_root(users), "async", &[], flags, true)
}

/// A file's bytes, or `None` when it does not exist (read as root, from outside).
pub fn snapshot(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// A directory's entry names, sorted (read as root, from outside).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A world-readable, world-writable file outside every home: only Landlock keeps commands
/// away from it (file permissions would let them in).
pub fn open_bait(root: &Path) -> PathBuf {
    let bait = root.join("world-writable.txt");
    std::fs::write(&bait, b"bait\n").expect("bait");
    std::fs::set_permissions(&bait, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    bait
}

/// A marker no other process on the machine carries in its command line.
pub fn unique_marker(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!("wharf-marker-{test}-{}-{nanos}", std::process::id())
}

/// Pids of living processes whose command line holds `marker` (zombies excluded).
pub fn processes_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
                && !support::process_gone(*pid)
        })
        .collect()
}

/// Waits up to `limit` for every process carrying `marker` to be gone; those still alive.
pub fn survivors_after(marker: &str, limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let alive = processes_with(marker);
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
