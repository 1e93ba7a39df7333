//! Brute-force defence: failed logins are counted per client address and per user name, and
//! a subject with too many failures within a window is banned for a while.
//!
//! The counts live in files under the state directory (`logins/`), changed only under one
//! `flock`, so sessions in every concurrency mode (tasks, threads, forked processes) see and
//! feed the same counts, and a restart keeps running bans. Everything here blocks: callers run
//! it off the async threads.
//!
//! With the users in PostgreSQL, the same bookkeeping lives in the database instead, shared by
//! every daemon on it, together with the per-address session caps:
//!
//! - [`record`]: one subject's failures and ban, and its text form.
//! - [`table`]: the locked folder of records.
//! - [`shared`]: [`SharedLoginGuard`], failures and bans as database rows.
//! - [`leases`]: [`SessionLeases`], live sessions as database rows with renewed leases.

pub mod leases;
mod record;
mod shared;
mod table;

pub use leases::{Lease, LeaseRefusal, SessionLeases};
pub use shared::SharedLoginGuard;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use record::Record;
use table::Table;

/// Name of the folder inside the state directory.
const LOGINS_DIR: &str = "logins";

/// When failures turn into a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failures within `window` that start a ban; 0 turns bans off.
    pub after_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a ban lasts.
    pub duration: Duration,
}

impl BanPolicy {
    /// Whether bans are on at all.
    pub fn enabled(&self) -> bool {
        self.after_failures > 0
    }
}

/// Who failures are counted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A client address.
    Address(IpAddr),
    /// A user name as sent with USER (existing or not).
    User(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Address(ip) => write!(f, "address {ip}"),
            Subject::User(name) => write!(f, "user {name:?}"),
        }
    }
}

/// A ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Who is banned.
    pub subject: Subject,
    /// Time left (rounded up to whole seconds when shown).
    pub remaining: Duration,
}

/// Failed-login bookkeeping over the state directory.
#[derive(Debug, Clone)]
pub struct LoginGuard {
    /// The `logins/` folder.
    dir: PathBuf,
    /// When to ban and for how long.
    policy: BanPolicy,
}

impl LoginGuard {
    /// A guard keeping its records in `state_dir/logins` (created when first needed).
    pub fn new(state_dir: &Path, policy: BanPolicy) -> Self {
        Self {
            dir: state_dir.join(LOGINS_DIR),
            policy,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> BanPolicy {
        self.policy
    }

    /// The first of `subjects` that is banned at `now`, if any.
    pub fn check(&self, subjects: &[Subject], now: SystemTime) -> io::Result<Option<Ban>> {
        if !self.policy.enabled() {
            return Ok(None);
        }
        let table = Table::lock(&self.dir)?;
        for subject in subjects {
            if let Some(remaining) = table.read(subject)?.ban_left(now) {
                return Ok(Some(Ban {
                    subject: subject.clone(),
                    remaining,
                }));
            }
        }
        Ok(None)
    }

    /// Counts one failed login against each of `subjects`; returns the bans it started.
    pub fn record_failure(&self, subjects: &[Subject], now: SystemTime) -> io::Result<Vec<Ban>> {
        if !self.policy.enabled() {
            return Ok(Vec::new());
        }
        let table = Table::lock(&self.dir)?;
        table.sweep_if_due(self.policy.window, now)?;
        let mut started = Vec::new();
        for subject in subjects {
            let mut record = table.read(subject)?;
            if record.fail(now, &self.policy) {
                started.push(Ban {
                    subject: subject.clone(),
                    remaining: self.policy.duration,
                });
            }
            table.write(subject, &record)?;
        }
        Ok(started)
    }

    /// How many addresses and user names are banned at `now` (for the metrics).
    pub fn active_bans(&self, now: SystemTime) -> io::Result<u64> {
        if !self.policy.enabled() {
            return Ok(0);
        }
        Table::lock(&self.dir)?.count_bans(now)
    }

    /// Forgets the failures of `subject` after a successful login (a running ban stays).
    pub fn record_success(&self, subject: &Subject, now: SystemTime) -> io::Result<()> {
        if !self.policy.enabled() {
            return Ok(());
        }
        let table = Table::lock(&self.dir)?;
        let record = table.read(subject)?;
        if record.ban_left(now).is_none() {
            table.write(subject, &Record::default())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BanPolicy {
        BanPolicy {
            after_failures: 3,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(30),
        }
    }

    #[test]
    fn third_failure_bans_address_and_user_until_the_ban_ends() {
        let state = tempfile::tempdir().unwrap();
        let guard = LoginGuard::new(state.path(), policy());
        let ip = Subject::Address("192.0.2.9".parse().unwrap());
        let user = Subject::User("alice".into());
        let both = [ip.clone(), user.clone()];
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(guard.record_failure(&both, t0).unwrap().is_empty());
        assert!(guard.record_failure(&both, t0).unwrap().is_empty());
        assert_eq!(guard.check(&both, t0).unwrap(), None);
        let bans = guard.record_failure(&both, t0).unwrap();
        assert_eq!(bans.len(), 2);
        let ban = guard
            .check(std::slice::from_ref(&user), t0 + Duration::from_secs(10))
            .unwrap();
        assert_eq!(ban.map(|b| b.remaining), Some(Duration::from_secs(20)));
        // A second guard (another process) sees the same ban.
        let other = LoginGuard::new(state.path(), policy());
        assert!(
            other
                .check(std::slice::from_ref(&ip), t0)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            other.check(&both, t0 + Duration::from_secs(30)).unwrap(),
            None
        );
        // After the ban the count starts again from zero.
        let later = t0 + Duration::from_secs(31);
        assert!(guard.record_failure(&both, later).unwrap().is_empty());
    }

    #[test]
    fn failures_outside_the_window_do_not_count_and_success_forgets() {
        let state = tempfile::tempdir().unwrap();
        let guard = LoginGuard::new(state.path(), policy());
        let user = [Subject::User("bob".into())];
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000);
        guard.record_failure(&user, t0).unwrap();
        guard.record_failure(&user, t0).unwrap();
        let late = t0 + Duration::from_secs(61);
        assert!(guard.record_failure(&user, late).unwrap().is_empty());
        guard.record_success(&user[0], late).unwrap();
        assert!(guard.record_failure(&user, late).unwrap().is_empty());
        assert!(guard.record_failure(&user, late).unwrap().is_empty());
        assert_eq!(guard.record_failure(&user, late).unwrap().len(), 1);
    }

    #[test]
    fn disabled_policy_never_bans_and_writes_nothing() {
        let state = tempfile::tempdir().unwrap();
        let off = BanPolicy {
            after_failures: 0,
            ..policy()
        };
        let guard = LoginGuard::new(state.path(), off);
        let user = [Subject::User("carol".into())];
        for _ in 0..10 {
            assert!(
                guard
                    .record_failure(&user, SystemTime::now())
                    .unwrap()
                    .is_empty()
            );
        }
        assert!(!state.path().join(LOGINS_DIR).exists());
    }
}
