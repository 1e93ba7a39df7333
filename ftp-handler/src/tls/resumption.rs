//! The TLS session cache of one FTP session.
//!
//! Every FTP session gets its own cache, shared by its control connection and its data
//! connections and by no other FTP session. A data connection can therefore resume a TLS
//! session only if it was set up on this FTP session's control connection (or on one of its
//! earlier data connections): a stolen data port cannot be used by a third party that never
//! saw the control connection's keys. Whether a data handshake was a resumption is checked by
//! the session (rustls reports the handshake kind).
//!
//! Entries made on the control connection are kept for the whole FTP session, because clients
//! (OpenSSL's, Python's) resume that very session on every data connection. Entries made on
//! data connections are kept in a small FIFO. Entries are never consumed on use, so one TLS
//! 1.3 ticket can resume many data connections, as OpenSSL clients expect.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::server::StoresServerSessions;

/// Most entries kept from the control connection's handshakes.
const MAX_CONTROL_ENTRIES: usize = 16;
/// Most entries kept from data connections' handshakes (oldest dropped first).
const MAX_DATA_ENTRIES: usize = 32;

/// Which connection a view of the cache serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheRole {
    /// The control connection: its entries are kept for the session's life.
    Control,
    /// Data connections: their entries rotate.
    Data,
}

/// Key-value pairs as rustls stores them (session id or ticket id, encoded session).
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The per-FTP-session store of TLS sessions.
#[derive(Debug, Default)]
pub(super) struct SessionCache {
    /// Sessions established on the control connection.
    control: Mutex<Entries>,
    /// Sessions issued on data connections, oldest first.
    data: Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>,
}

impl SessionCache {
    /// A store handle for rustls that files new entries under `role`.
    pub(super) fn view(self: &Arc<Self>, role: CacheRole) -> Arc<dyn StoresServerSessions> {
        Arc::new(CacheView {
            cache: Arc::clone(self),
            role,
        })
    }

    /// Stores an entry; control entries beyond the limit are refused, data entries rotate.
    fn put(&self, role: CacheRole, key: Vec<u8>, value: Vec<u8>) -> bool {
        match role {
            CacheRole::Control => {
                let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(entry) = control.iter_mut().find(|(k, _)| *k == key) {
                    entry.1 = value;
                    return true;
                }
                if control.len() >= MAX_CONTROL_ENTRIES {
                    return false;
                }
                control.push((key, value));
                true
            }
            CacheRole::Data => {
                let mut data = self.data.lock().unwrap_or_else(PoisonError::into_inner);
                data.retain(|(k, _)| *k != key);
                if data.len() >= MAX_DATA_ENTRIES {
                    data.pop_front();
                }
                data.push_back((key, value));
                true
            }
        }
    }

    /// The entry under `key`, wherever it was made.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, value)) = control.iter().find(|(k, _)| k == key) {
            return Some(value.clone());
        }
        drop(control);
        let data = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        data.iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.clone())
    }
}

/// What rustls holds: the shared cache and the role new entries are filed under.
#[derive(Debug)]
struct CacheView {
    /// The FTP session's cache.
    cache: Arc<SessionCache>,
    /// Control or data.
    role: CacheRole,
}

impl StoresServerSessions for CacheView {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.cache.put(self.role, key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.cache.get(key)
    }

    /// rustls takes TLS 1.3 tickets to make them single-use; here a ticket stays valid for
    /// the FTP session so every data connection can resume the control session with it.
    /// Replay is harmless: early data is off and the cache is private to the session.
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.cache.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_entries_stay_and_data_entries_rotate() {
        let cache = Arc::new(SessionCache::default());
        let control = cache.view(CacheRole::Control);
        let data = cache.view(CacheRole::Data);
        assert!(control.put(b"control".to_vec(), b"c".to_vec()));
        for index in 0..(MAX_DATA_ENTRIES + 5) {
            assert!(data.put(format!("data{index}").into_bytes(), b"d".to_vec()));
        }
        assert_eq!(data.take(b"control"), Some(b"c".to_vec()));
        assert_eq!(
            data.take(b"control"),
            Some(b"c".to_vec()),
            "tickets are reusable"
        );
        assert_eq!(data.get(b"data0"), None, "oldest data entry rotated out");
        let newest = format!("data{}", MAX_DATA_ENTRIES + 4);
        assert_eq!(control.get(newest.as_bytes()), Some(b"d".to_vec()));
    }

    #[test]
    fn control_entries_are_bounded() {
        let cache = Arc::new(SessionCache::default());
        let control = cache.view(CacheRole::Control);
        for index in 0..MAX_CONTROL_ENTRIES {
            assert!(control.put(vec![index as u8], vec![1]));
        }
        assert!(!control.put(vec![200], vec![1]));
        assert!(control.put(vec![0], vec![2]), "an existing key is replaced");
        assert_eq!(control.get(&[0]), Some(vec![2]));
    }

    #[test]
    fn separate_sessions_share_nothing() {
        let first = Arc::new(SessionCache::default()).view(CacheRole::Control);
        let second = Arc::new(SessionCache::default()).view(CacheRole::Data);
        assert!(first.put(b"id".to_vec(), b"secret".to_vec()));
        assert_eq!(second.get(b"id"), None);
    }
}
