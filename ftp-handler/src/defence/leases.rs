//! Session caps in PostgreSQL, for daemons whose users are there: each logged-in session is a
//! row whose lease its daemon renews while the session lives, and a new session from an
//! address is refused while that address has `max_sessions_per_ip` live rows, whichever daemon
//! holds them. A session that ends deletes its row; one whose daemon was killed stops counting
//! when its lease runs out.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use wharf_users::AuthError;
use wharf_users::postgres::Database;

/// How long a session row counts without being renewed.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often live sessions' leases are renewed (a third of the lease: two renewals may fail).
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// The session leases of this daemon.
#[derive(Debug, Clone)]
pub struct SessionLeases {
    /// The database the users are in.
    database: Database,
    /// Names this daemon in the rows (host and process), for people reading the table.
    node: String,
    /// Lease ids of the live sessions of this process, with the process that renews them.
    live: Arc<Mutex<Live>>,
    /// Releases started from `Drop` and not finished yet.
    pending: Arc<Pending>,
}

/// A count of background releases and a way to wait for it to reach zero.
#[derive(Debug, Default)]
struct Pending {
    /// Releases still running.
    count: AtomicUsize,
    /// Woken whenever one finishes.
    done: Notify,
}

/// The live leases of one process.
#[derive(Debug, Default)]
struct Live {
    /// The process whose renewal task runs (a forked child starts its own).
    renewer: Option<u32>,
    /// Ids of the sessions to renew.
    ids: HashSet<String>,
}

/// Why a session may not start.
#[derive(Debug, PartialEq, Eq)]
pub enum LeaseRefusal {
    /// The address has its maximum of sessions across every daemon.
    AddressFull,
}

/// A live session's row; [`Lease::release`] deletes it, dropping it does so in the background.
#[derive(Debug)]
pub struct Lease {
    /// The row's id.
    id: String,
    /// Where it lives; `None` once released.
    leases: Option<SessionLeases>,
}

/// This machine's host name, naming a daemon in lease rows for people reading the tables.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

impl SessionLeases {
    /// Leases in `database`.
    pub fn new(database: Database) -> Self {
        Self {
            database,
            node: host_name(),
            live: Arc::default(),
            pending: Arc::default(),
        }
    }

    /// Takes a lease for a session of `user` from `address`, unless the address already has
    /// `max_per_address` live sessions on the database.
    pub async fn claim(
        &self,
        address: IpAddr,
        user: &str,
        max_per_address: usize,
    ) -> Result<Result<Lease, LeaseRefusal>, AuthError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let address = address.to_string();
        let user = user.to_owned();
        let node = format!("{}/{}", self.node, std::process::id());
        let max = i64::try_from(max_per_address).unwrap_or(i64::MAX);
        let row_id = id.clone();
        let error = self.database.error("claim a session slot");
        let claimed = self
            .database
            .run("claim a session slot", move |mut client| async move {
                let transaction = client.transaction().await.map_err(&error)?;
                let lock = format!("sessions:{address}");
                transaction
                    .execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        &[&lock],
                    )
                    .await
                    .map_err(&error)?;
                transaction
                    .execute(
                        "DELETE FROM wharf_sessions WHERE address = $1 AND lease_until <= now()",
                        &[&address],
                    )
                    .await
                    .map_err(&error)?;
                let live: i64 = transaction
                    .query_one(
                        "SELECT count(*) FROM wharf_sessions WHERE address = $1",
                        &[&address],
                    )
                    .await
                    .map_err(&error)?
                    .get(0);
                if live >= max {
                    return Ok(false);
                }
                transaction
                    .execute(
                        "INSERT INTO wharf_sessions (id, address, user_name, node, lease_until) \
                         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
                        &[&row_id, &address, &user, &node, &LEASE.as_secs_f64()],
                    )
                    .await
                    .map_err(&error)?;
                transaction.commit().await.map_err(&error)?;
                Ok(true)
            })
            .await?;
        if !claimed {
            return Ok(Err(LeaseRefusal::AddressFull));
        }
        self.track(&id);
        Ok(Ok(Lease {
            id,
            leases: Some(self.clone()),
        }))
    }

    /// Adds `id` to the renewed leases, starting this process's renewal task if needed.
    fn track(&self, id: &str) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.ids.insert(id.to_owned());
        let pid = std::process::id();
        if live.renewer == Some(pid) {
            return;
        }
        live.renewer = Some(pid);
        // Inherited ids belong to the parent's sessions, which the parent renews.
        live.ids.retain(|live_id| live_id == id);
        let leases = self.clone();
        self.database
            .spawn(async move { leases.renew_forever().await });
    }

    /// Renews the leases of this process's live sessions until the process ends.
    async fn renew_forever(self) {
        let mut ticks = tokio::time::interval(RENEW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let ids: Vec<String> = {
                let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
                live.ids.iter().cloned().collect()
            };
            if ids.is_empty() {
                continue;
            }
            let error = self.database.error("renew session leases");
            let renewed = self
                .database
                .run("renew session leases", move |client| async move {
                    client
                        .execute(
                            "UPDATE wharf_sessions \
                             SET lease_until = now() + make_interval(secs => $2) \
                             WHERE id = ANY($1)",
                            &[&ids, &LEASE.as_secs_f64()],
                        )
                        .await
                        .map_err(error)
                })
                .await;
            if let Err(error) = renewed {
                tracing::warn!(%error, "cannot renew session leases; they lapse if this goes on");
            }
        }
    }

    /// Stops renewing `id` and deletes its row (in the background unless awaited).
    fn forget(&self, id: &str) -> impl Future<Output = Result<(), AuthError>> + Send + 'static {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ids
            .remove(id);
        let id = id.to_owned();
        let database = self.database.clone();
        async move {
            let error = database.error("release a session slot");
            database
                .run("release a session slot", move |client| async move {
                    client
                        .execute("DELETE FROM wharf_sessions WHERE id = $1", &[&id])
                        .await
                        .map_err(error)?;
                    Ok(())
                })
                .await
        }
    }
}

impl SessionLeases {
    /// Waits (at most `limit`) for the releases dropped leases started: a forked session
    /// process leaves as soon as its session ends, and its row should not outlive it.
    pub async fn settled(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let finished = self.pending.done.notified();
            if self.pending.count.load(Ordering::Acquire) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, finished).await.is_err() {
                return;
            }
        }
    }
}

impl Lease {
    /// Deletes the row now and waits for it (a forked session process exits right after).
    pub async fn release(mut self) {
        if let Some(leases) = self.leases.take()
            && let Err(error) = leases.forget(&self.id).await
        {
            tracing::warn!(%error, "cannot release a session slot; it lapses with its lease");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(leases) = self.leases.take() {
            let release = leases.forget(&self.id);
            let pending = Arc::clone(&leases.pending);
            pending.count.fetch_add(1, Ordering::AcqRel);
            leases.database.spawn(async move {
                if let Err(error) = release.await {
                    tracing::warn!(%error, "cannot release a session slot; it lapses with its lease");
                }
                pending.count.fetch_sub(1, Ordering::AcqRel);
                pending.done.notify_waiters();
            });
        }
    }
}
