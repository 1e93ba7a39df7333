//! Commits of uploads to one key take turns within the process, so that each finds the object
//! it replaces (and the usage that object holds) just before it completes.
//!
//! Without turns, concurrent replacing uploads of one new file each counted it as new and the
//! usage kept every one of them, although the bucket kept only the last (found by the
//! ten-uploads-to-one-path quota test run on S3). Sessions in other processes (forking mode,
//! other daemons) do not take turns with these: between their look and their complete another
//! process's commit can still slip in.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::OwnedMutexGuard;

/// Per key, the lock of the commit under way and of those waiting for it; an entry goes when
/// its last commit ends.
static TURNS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A commit's turn on its key; the next one goes when this is dropped.
pub(super) struct CommitTurn {
    /// The key the turn is on.
    key: String,
    /// Held for the turn.
    guard: Option<OwnedMutexGuard<()>>,
}

/// Waits for the turn to commit an upload to `key` (async, so it never blocks a runtime
/// thread; a tokio mutex works across the per-session runtimes of threading mode).
pub(super) async fn commit_turn(key: &str) -> CommitTurn {
    let lock = {
        let mut turns = TURNS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(turns.entry(key.to_owned()).or_default())
    };
    CommitTurn {
        key: key.to_owned(),
        guard: Some(lock.lock_owned().await),
    }
}

impl Drop for CommitTurn {
    fn drop(&mut self) {
        let mut turns = TURNS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(self.guard.take());
        // Only the map holds the lock now: no commit waits for it.
        if turns
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            turns.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{TURNS, commit_turn};

    #[tokio::test]
    async fn turns_on_one_key_follow_each_other_and_leave_no_entry() {
        let first = commit_turn("t/a").await;
        let second = tokio::spawn(async { commit_turn("t/a").await });
        let other = commit_turn("t/b").await;
        tokio::task::yield_now().await;
        assert!(!second.is_finished(), "a second commit to one key waits");
        drop(other);
        drop(first);
        let second = second.await.expect("second turn");
        drop(second);
        let turns = TURNS.lock().expect("turns");
        assert!(!turns.contains_key("t/a") && !turns.contains_key("t/b"));
    }
}
