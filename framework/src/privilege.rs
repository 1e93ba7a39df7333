//! Dropping root after the sockets are bound: the server switches to a named user (and group)
//! before it accepts its first connection, so no session runs with the privileges it needed to
//! bind a low port.

use nix::unistd::{Gid, Group, Uid, User, getgid, getuid, setgid, setgroups, setuid};

/// The account a server runs as once its sockets are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunAs {
    /// The user's name (or a numeric uid).
    pub user: String,
    /// The group's name (or a numeric gid); `None`: the user's primary group.
    pub group: Option<String>,
}

impl RunAs {
    /// Run as `user`, in `group` or else the user's primary group.
    pub fn new(user: impl Into<String>, group: Option<String>) -> Self {
        RunAs {
            user: user.into(),
            group,
        }
    }
}

/// Why the switch to the run-as account failed; the server does not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivilegeError {
    /// No such user in the system's user database.
    #[error("no user {0:?} to run as")]
    UnknownUser(String),
    /// No such group.
    #[error("no group {0:?} to run as")]
    UnknownGroup(String),
    /// The user database could not be read.
    #[error("cannot look up {what}: {source}")]
    Lookup {
        /// What was looked up.
        what: String,
        /// The system's reason.
        #[source]
        source: nix::Error,
    },
    /// A set*id call failed (typically: not started as root).
    #[error("cannot switch to {what}: {source} (switching needs root)")]
    Switch {
        /// The step that failed.
        what: String,
        /// The system's reason.
        #[source]
        source: nix::Error,
    },
    /// After the switch the process could still regain root.
    #[error("still able to regain root after switching to {0}")]
    NotDropped(String),
}

/// The uid, gid and name a [`RunAs`] resolves to.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    uid: Uid,
    gid: Gid,
    name: String,
}

/// Resolves a user given by name or number.
fn lookup_user(user: &str) -> Result<User, PrivilegeError> {
    let found = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(user),
    };
    found
        .map_err(|source| PrivilegeError::Lookup {
            what: format!("user {user:?}"),
            source,
        })?
        .ok_or_else(|| PrivilegeError::UnknownUser(user.to_string()))
}

/// Resolves a group given by name or number.
fn lookup_group(group: &str) -> Result<Gid, PrivilegeError> {
    let found = match group.parse::<u32>() {
        Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
        Err(_) => Group::from_name(group),
    };
    Ok(found
        .map_err(|source| PrivilegeError::Lookup {
            what: format!("group {group:?}"),
            source,
        })?
        .ok_or_else(|| PrivilegeError::UnknownGroup(group.to_string()))?
        .gid)
}

impl RunAs {
    /// Switches this process to the account now (for a helper process the server forks
    /// itself, such as a metrics exporter, which must not keep the privileges of the start).
    pub fn switch_now(&self) -> Result<(), PrivilegeError> {
        self.resolve()?.switch()
    }

    /// Looks the account up, before anything is bound, so a typo fails fast.
    pub(crate) fn resolve(&self) -> Result<Account, PrivilegeError> {
        let user = lookup_user(&self.user)?;
        let gid = match &self.group {
            Some(group) => lookup_group(group)?,
            None => user.gid,
        };
        Ok(Account {
            uid: user.uid,
            gid,
            name: user.name,
        })
    }
}

impl Account {
    /// Switches the whole process (every thread) to this account: supplementary groups, gid,
    /// then uid; then checks that root cannot be regained.
    pub(crate) fn switch(&self) -> Result<(), PrivilegeError> {
        let label = format!("{} (uid {}, gid {})", self.name, self.uid, self.gid);
        if getuid() == self.uid && getgid() == self.gid && !getuid().is_root() {
            tracing::info!(user = %self.name, "already running as the run-as user");
            return Ok(());
        }
        let switch = |what: &str, result: nix::Result<()>| {
            result.map_err(|source| PrivilegeError::Switch {
                what: format!("{what} of {label}"),
                source,
            })
        };
        // initgroups would add the user's other groups; a daemon account gets exactly its
        // group, as vsftpd and OpenSSH's privilege separation do.
        switch("the groups", setgroups(&[self.gid]))?;
        switch("the group", setgid(self.gid))?;
        switch("the user", setuid(self.uid))?;
        if !self.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
            return Err(PrivilegeError::NotDropped(label));
        }
        tracing::info!(user = %self.name, uid = %self.uid, gid = %self.gid,
            "dropped privileges");
        Ok(())
    }
}
