//! Homes open in this process, shared by the sessions of one user.
//!
//! Opening a home costs three descriptors that live as long as the session: the home
//! directory (the jail's capability) and the quota attachment's usage record and session
//! lease. One process holding 10,000 idle sessions (async or threading mode) would need 40,000
//! descriptors with the control sockets, past the limits most systems allow. Sessions of the
//! same user in one process share one open home instead: the same jail, the same quota
//! attachment, so the user's usage is reserved through one lock. A forked session process
//! starts with nothing open and opens its own, as before. A login after the user's record
//! changed (home or limits) opens afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use wharf_users::UserRecord;

use crate::quota::AttachedQuota;
use crate::storage::Jail;

/// One user's open home: the jail and its quota attachment.
pub(crate) struct OpenHome {
    /// The record as of the login that opened it (home and limits).
    record: UserRecord,
    /// The user's files, home as `/`, with the quota enforced.
    pub(crate) jail: Jail,
    /// The attachment to the user's usage record.
    pub(crate) quota: Arc<dyn AttachedQuota>,
}

impl OpenHome {
    /// A home opened for `record`.
    pub(crate) fn new(record: UserRecord, jail: Jail, quota: Arc<dyn AttachedQuota>) -> Self {
        OpenHome {
            record,
            jail,
            quota,
        }
    }

    /// Whether a login with `record` may use this home: same home, same limits.
    fn serves(&self, record: &UserRecord) -> bool {
        self.record.home == record.home
            && self.record.quota_bytes == record.quota_bytes
            && self.record.quota_files == record.quota_files
    }
}

/// The homes open in this process, by user name; an entry lives while a session holds it.
#[derive(Default)]
pub(crate) struct OpenHomes {
    /// Weak, so a home closes when its user's last session ends.
    open: Mutex<HashMap<String, Weak<OpenHome>>>,
}

impl OpenHomes {
    /// The home already open for `record`'s user, if it still serves that record.
    pub(crate) fn find(&self, record: &UserRecord) -> Option<Arc<OpenHome>> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&record.name)
            .and_then(Weak::upgrade)
            .filter(|home| home.serves(record))
    }

    /// Remembers a newly opened home (replacing a closed or outdated one), forgetting every
    /// closed one on the way so the table never outgrows the users logged in.
    pub(crate) fn keep(&self, home: &Arc<OpenHome>) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, entry| entry.strong_count() > 0);
        open.insert(home.record.name.clone(), Arc::downgrade(home));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::QuotaStore;

    fn record(name: &str, home: &std::path::Path, quota_bytes: Option<u64>) -> UserRecord {
        UserRecord {
            name: name.into(),
            password_hash: String::new(),
            home: home.to_path_buf(),
            quota_bytes,
            quota_files: None,
            allow_exec: false,
            authorized_keys: Vec::new(),
        }
    }

    fn open(store: &QuotaStore, record: &UserRecord) -> Arc<OpenHome> {
        let (jail, quota) = store.open_jail(record).unwrap();
        let quota: Arc<dyn crate::quota::AttachedQuota> = quota;
        Arc::new(OpenHome::new(record.clone(), Arc::new(jail), quota))
    }

    #[test]
    fn sessions_of_one_user_share_a_home_until_the_last_one_ends() {
        let state = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let store = QuotaStore::open(state.path()).unwrap();
        let homes = OpenHomes::default();
        let alice = record("alice", home.path(), Some(1000));
        assert!(homes.find(&alice).is_none());
        let first = open(&store, &alice);
        homes.keep(&first);
        let second = homes.find(&alice).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        // A changed limit is a different home.
        assert!(homes.find(&record("alice", home.path(), Some(5))).is_none());
        assert!(
            homes
                .find(&record("bob", home.path(), Some(1000)))
                .is_none()
        );
        drop((first, second));
        assert!(homes.find(&alice).is_none(), "closed with its last session");
    }
}
