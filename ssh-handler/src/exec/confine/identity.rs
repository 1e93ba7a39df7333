//! Which uid and gid a command runs as.
//!
//! A daemon started as root gives every command an unprivileged identity: the user's own
//! `uid`/`gid` from the users file, or else the daemon's `command_user` (default `nobody`). uid 0
//! (and gid 0) only with `allow_root_commands`. A daemon that is not root cannot switch: its
//! commands run as its own user, still under Landlock and the limits.

use nix::unistd::{Gid, Uid, User};
use wharf_users::users_file::CommandSettings;

use super::ConfineError;

/// A uid and gid to switch to in the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub uid: u32,
    /// The group id (also the only supplementary group).
    pub gid: u32,
}

/// How identities are chosen, fixed at start.
#[derive(Debug, Clone)]
pub(super) enum IdentityPolicy {
    /// The daemon is root: switch to the user's identity or to `fallback`.
    Switch {
        /// `command_user`'s uid and primary gid.
        fallback: Identity,
        /// Whether uid 0 / gid 0 are accepted.
        allow_root: bool,
    },
    /// The daemon is not root: commands keep its identity.
    Keep(Identity),
}

impl IdentityPolicy {
    /// Resolves `command_user` (a name from the system's user database) when running as root.
    pub(super) fn resolve(command_user: &str, allow_root: bool) -> Result<Self, ConfineError> {
        let own = Identity {
            uid: Uid::effective().as_raw(),
            gid: Gid::effective().as_raw(),
        };
        if !Uid::effective().is_root() {
            return Ok(IdentityPolicy::Keep(own));
        }
        let account = User::from_name(command_user)
            .map_err(|errno| ConfineError::CommandUser {
                name: command_user.to_owned(),
                reason: errno.desc().to_owned(),
            })?
            .ok_or_else(|| ConfineError::CommandUser {
                name: command_user.to_owned(),
                reason: "no such account in the system's user database".to_owned(),
            })?;
        let fallback = Identity {
            uid: account.uid.as_raw(),
            gid: account.gid.as_raw(),
        };
        if (fallback.uid == 0 || fallback.gid == 0) && !allow_root {
            return Err(ConfineError::CommandUser {
                name: command_user.to_owned(),
                reason: "it is root (uid or gid 0); set allow_root_commands to allow that"
                    .to_owned(),
            });
        }
        Ok(IdentityPolicy::Switch {
            fallback,
            allow_root,
        })
    }

    /// The identity `user`'s commands run as; `None` when the daemon cannot switch.
    pub(super) fn for_user(
        &self,
        user: &str,
        settings: &CommandSettings,
    ) -> Result<Option<Identity>, ConfineError> {
        let IdentityPolicy::Switch {
            fallback,
            allow_root,
        } = self
        else {
            return Ok(None);
        };
        let identity = match settings.uid {
            // A user with its own uid and no gid gets the group of the same number, the usual
            // "user private group" layout.
            Some(uid) => Identity {
                uid,
                gid: settings.gid.unwrap_or(uid),
            },
            None => Identity {
                uid: fallback.uid,
                gid: settings.gid.unwrap_or(fallback.gid),
            },
        };
        if (identity.uid == 0 || identity.gid == 0) && !allow_root {
            return Err(ConfineError::RootIdentity {
                user: user.to_owned(),
            });
        }
        Ok(Some(identity))
    }

    /// The identity commands run as when the daemon does not switch (for logs).
    pub(super) fn kept(&self) -> Option<Identity> {
        match self {
            IdentityPolicy::Keep(identity) => Some(*identity),
            IdentityPolicy::Switch { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switching(allow_root: bool) -> IdentityPolicy {
        IdentityPolicy::Switch {
            fallback: Identity {
                uid: 65534,
                gid: 65534,
            },
            allow_root,
        }
    }

    #[test]
    fn users_without_a_uid_get_the_command_user() {
        let identity = switching(false)
            .for_user("alice", &CommandSettings::default())
            .unwrap();
        assert_eq!(
            identity,
            Some(Identity {
                uid: 65534,
                gid: 65534
            })
        );
    }

    #[test]
    fn a_users_own_uid_brings_the_group_of_the_same_number() {
        let mut settings = CommandSettings::default();
        settings.uid = Some(2001);
        let identity = switching(false).for_user("bob", &settings).unwrap();
        assert_eq!(
            identity,
            Some(Identity {
                uid: 2001,
                gid: 2001
            })
        );
        settings.gid = Some(300);
        let identity = switching(false).for_user("bob", &settings).unwrap();
        assert_eq!(identity.map(|identity| identity.gid), Some(300));
    }

    #[test]
    fn root_is_refused_unless_allowed() {
        let mut settings = CommandSettings::default();
        settings.uid = Some(0);
        assert!(matches!(
            switching(false).for_user("eve", &settings),
            Err(ConfineError::RootIdentity { .. })
        ));
        settings.uid = Some(5);
        settings.gid = Some(0);
        assert!(switching(false).for_user("eve", &settings).is_err());
        assert!(switching(true).for_user("eve", &settings).is_ok());
    }

    #[test]
    fn a_daemon_that_is_not_root_keeps_its_identity() {
        let own = Identity {
            uid: 1000,
            gid: 1000,
        };
        let mut settings = CommandSettings::default();
        settings.uid = Some(2001);
        let policy = IdentityPolicy::Keep(own);
        assert_eq!(policy.for_user("bob", &settings).unwrap(), None);
        assert_eq!(policy.kept(), Some(own));
    }
}
