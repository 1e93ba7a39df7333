//! Quotas in PostgreSQL, for daemons whose users are there: exact across every daemon on the
//! database, in every mode.
//!
//! A user's usage is the row in `wharf_quota_usage` plus every row of the user in
//! `wharf_quota_leases`. An attached session owns one lease row holding what it added or removed
//! since it attached, plus headroom the database granted it; the session writes within that
//! headroom without asking the database, and asks for more in one transaction that holds the
//! user's usage row locked, so grants to sessions on different daemons are serialised and their
//! sum never passes the limit. The session's daemon renews the lease while it lives and gives
//! unused headroom back at each renewal; a session that ends folds what it added into the usage
//! row. A lease whose daemon died is not renewed: it keeps counting (the safe side) until the
//! user is next idle on every daemon, when the home is counted again and dead leases go.
//!
//! A session uses its headroom only while its lease is sure to be valid (renewed less than
//! [`USABLE`] ago), so a daemon cut off from the database stops writing before the database can
//! consider its lease dead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wharf_users::AuthError;
use wharf_users::postgres::Database;
use wharf_users::postgres::tokio_postgres::Transaction;

use super::error::QuotaError;
use super::store::{AttachedQuota, QuotaLimits, UsageReport, count_home};
use crate::storage::{QuotaHook, StorageBackend, StorageError, Usage};

/// How long a lease counts as alive without being renewed.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often live leases are renewed (a third of the lease: two renewals may fail).
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How long after a renewal was sent a session still writes on its lease: less than [`LEASE`],
/// so that its last writes land before any other daemon can count the lease as dead.
pub const USABLE: Duration = Duration::from_secs(20);
/// Most headroom a session asks for at once beyond what a write needs (bytes), so that the
/// database sees about one request per this many bytes uploaded, not one per chunk.
const GRANT_BYTES: i64 = 16 * 1024 * 1024;
/// Most headroom a session asks for at once beyond what a write needs (files).
const GRANT_FILES: i64 = 16;
/// Headroom is at most this fraction of the room left (1/8), so that near the limit sessions
/// take room in exact amounts and one session's unused headroom keeps little from the others.
const HEADROOM_SHARE: i64 = 8;
/// Attempts at counting the home of an idle user before attaching on the stored count.
const REBUILD_ATTEMPTS: usize = 3;

/// The quota records in the users database, shared by every daemon on it.
#[derive(Debug, Clone)]
pub struct SharedQuotaStore {
    /// The database the users are in.
    database: Database,
    /// Names this daemon in lease rows (host), for people reading the table.
    host: String,
    /// This process's live leases and their renewal task.
    live: Arc<Mutex<Live>>,
}

/// The live quota leases of one process.
#[derive(Debug, Default)]
struct Live {
    /// The process whose renewal task runs (a forked child starts its own).
    renewer: Option<u32>,
    /// The accounts of live leases, by lease id.
    accounts: HashMap<String, Arc<Mutex<Account>>>,
}

/// One session's standing against its lease row.
#[derive(Debug)]
struct Account {
    /// Bytes this session added (negative: removed) since it attached.
    used_bytes: i64,
    /// Files this session added (negative: removed) since it attached.
    used_files: i64,
    /// Bytes the lease row holds: `used_bytes` plus headroom.
    granted_bytes: i64,
    /// Files the lease row holds: `used_files` plus headroom.
    granted_files: i64,
    /// Until when writes may use the lease.
    usable_until: Instant,
}

/// A session's attachment to its user's shared usage; detaches when dropped.
#[derive(Debug)]
pub struct SharedQuota {
    /// The user.
    user: String,
    /// The limits as of login.
    limits: QuotaLimits,
    /// The lease row's id.
    id: String,
    /// The store, for requests.
    store: SharedQuotaStore,
    /// This session's account.
    account: Arc<Mutex<Account>>,
}

/// What the database answered to a grant request.
enum Grant {
    /// The lease now holds this much more.
    Granted { bytes: i64, files: i64 },
    /// Not enough room: the user's usage (without this session's headroom) and the limit hit.
    Refused(StorageError),
    /// The lease row is gone (a rebuild found it dead).
    LeaseLost,
}

/// Where an attach stands after its first transaction.
enum AttachStep {
    /// The lease row exists.
    Attached,
    /// The user is idle and the stored count is not to be trusted: count the home, then try
    /// again with this generation.
    Count { generation: i64 },
}

impl SharedQuotaStore {
    /// Quota records in `database`.
    pub fn new(database: Database) -> Self {
        Self {
            database,
            host: crate::defence::leases::host_name(),
            live: Arc::default(),
        }
    }

    /// Attaches a session of `user`, whose files `storage` holds. If no session of the user is
    /// alive on any daemon and the stored count was never made or a dead lease still counts,
    /// the home is counted first. Blocks (call it off the async threads).
    pub fn attach(
        &self,
        user: &str,
        limits: QuotaLimits,
        storage: &dyn StorageBackend,
    ) -> Result<SharedQuota, QuotaError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let node = format!("{}/{}", self.host, std::process::id());
        let mut counted = None;
        for attempt in 0..=REBUILD_ATTEMPTS {
            let sent = Instant::now();
            let (user_row, id_row, node_row) = (user.to_owned(), id.clone(), node.clone());
            let may_count = attempt < REBUILD_ATTEMPTS;
            let error = self.database.error("attach to the quota record");
            let step = self
                .database
                .run_blocking("attach to the quota record", move |mut client| async move {
                    let transaction = client.transaction().await.map_err(&error)?;
                    let row = lock_usage(&transaction, &user_row).await.map_err(&error)?;
                    let leases = leases_of(&transaction, &user_row).await.map_err(&error)?;
                    let idle = leases.alive == 0;
                    let untrusted = !row.counted || leases.dead > 0;
                    match counted {
                        Some((generation, usage)) if idle && generation == row.generation => {
                            store_count(&transaction, &user_row, usage)
                                .await
                                .map_err(&error)?;
                        }
                        _ if idle && untrusted && may_count => {
                            return Ok(AttachStep::Count {
                                generation: row.generation,
                            });
                        }
                        _ => {}
                    }
                    transaction
                        .execute(
                            "INSERT INTO wharf_quota_leases (id, user_name, node, lease_until) \
                             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                            &[&id_row, &user_row, &node_row, &LEASE.as_secs_f64()],
                        )
                        .await
                        .map_err(&error)?;
                    bump_generation(&transaction, &user_row)
                        .await
                        .map_err(&error)?;
                    transaction.commit().await.map_err(&error)?;
                    Ok(AttachStep::Attached)
                })
                .map_err(database_error)?;
            match step {
                AttachStep::Attached => {
                    let account = Arc::new(Mutex::new(Account {
                        used_bytes: 0,
                        used_files: 0,
                        granted_bytes: 0,
                        granted_files: 0,
                        usable_until: sent + USABLE,
                    }));
                    self.track(&id, &account);
                    return Ok(SharedQuota {
                        user: user.to_owned(),
                        limits,
                        id,
                        store: self.clone(),
                        account,
                    });
                }
                AttachStep::Count { generation } => {
                    tracing::info!(user, "rebuilding quota usage from the home");
                    counted = Some((generation, count_home(user, storage)?));
                }
            }
        }
        unreachable!("the last attempt attaches without counting")
    }

    /// Counts `user`'s home again (after removing what dead uploads left) and stores the
    /// count, dropping dead leases. Refused with [`QuotaError::Busy`] while a session of the
    /// user is alive on any daemon.
    pub fn rebuild(&self, user: &str, storage: &dyn StorageBackend) -> Result<Usage, QuotaError> {
        let busy = || QuotaError::Busy {
            user: user.to_owned(),
        };
        let (row, leases) = self.snapshot(user)?;
        if leases.alive > 0 {
            return Err(busy());
        }
        let usage = count_home(user, storage)?;
        if self.store_if_idle(user, row.generation, usage)? {
            Ok(usage)
        } else {
            Err(busy())
        }
    }

    /// `user`'s usage now, across every daemon. With no session of the user alive and the
    /// stored count untrusted (never made, or a dead lease counts), the home is counted first.
    pub fn report(
        &self,
        user: &str,
        storage: &dyn StorageBackend,
    ) -> Result<UsageReport, QuotaError> {
        let (mut row, mut leases) = self.snapshot(user)?;
        if leases.alive == 0 && (!row.counted || leases.dead > 0) {
            // The generation was read before the count, so a session that comes or goes while
            // the home is counted makes the count void.
            let usage = count_home(user, storage)?;
            if self.store_if_idle(user, row.generation, usage)? {
                return Ok(report(usage, 0, true));
            }
            (row, leases) = self.snapshot(user)?;
        }
        let usage = usage_of(row.bytes + leases.bytes, row.files + leases.files);
        Ok(report(usage, clamp(leases.alive), false))
    }

    /// The user's usage row (made if missing) and leases, as one read sees them.
    fn snapshot(&self, user: &str) -> Result<(UsageRow, LeaseSums), QuotaError> {
        let user_row = user.to_owned();
        let error = self.database.error("read the quota record");
        self.database
            .run_blocking("read the quota record", move |mut client| async move {
                let transaction = client.transaction().await.map_err(&error)?;
                let row = usage_row(&transaction, &user_row, "")
                    .await
                    .map_err(&error)?;
                let leases = leases_of(&transaction, &user_row).await.map_err(&error)?;
                transaction.commit().await.map_err(&error)?;
                Ok((row, leases))
            })
            .map_err(database_error)
    }

    /// Stores a count of the home made at `generation`, if no session attached or detached
    /// since and none is alive; says whether it did.
    fn store_if_idle(&self, user: &str, generation: i64, usage: Usage) -> Result<bool, QuotaError> {
        let user_row = user.to_owned();
        let error = self.database.error("store the quota count");
        self.database
            .run_blocking("store the quota count", move |mut client| async move {
                let transaction = client.transaction().await.map_err(&error)?;
                let row = lock_usage(&transaction, &user_row).await.map_err(&error)?;
                let leases = leases_of(&transaction, &user_row).await.map_err(&error)?;
                if leases.alive > 0 || row.generation != generation {
                    return Ok(false);
                }
                store_count(&transaction, &user_row, usage)
                    .await
                    .map_err(&error)?;
                bump_generation(&transaction, &user_row)
                    .await
                    .map_err(&error)?;
                transaction.commit().await.map_err(&error)?;
                Ok(true)
            })
            .map_err(database_error)
    }

    /// Adds `id` to the renewed leases, starting this process's renewal task if needed.
    fn track(&self, id: &str, account: &Arc<Mutex<Account>>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if live.renewer != Some(pid) {
            live.renewer = Some(pid);
            // Inherited leases belong to the parent's sessions, which the parent renews.
            live.accounts.clear();
            let store = self.clone();
            self.database
                .spawn(async move { store.renew_forever().await });
        }
        live.accounts.insert(id.to_owned(), Arc::clone(account));
    }

    /// Renews this process's live leases and takes back their unused headroom, until the
    /// process ends.
    async fn renew_forever(self) {
        let mut ticks = tokio::time::interval(RENEW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let accounts: Vec<(String, Arc<Mutex<Account>>)> = {
                let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
                live.accounts
                    .iter()
                    .map(|(id, account)| (id.clone(), Arc::clone(account)))
                    .collect()
            };
            if accounts.is_empty() {
                continue;
            }
            // Headroom is taken back locally first, so the row never holds less than is used.
            let mut ids = Vec::with_capacity(accounts.len());
            let mut trimmed_bytes = Vec::with_capacity(accounts.len());
            let mut trimmed_files = Vec::with_capacity(accounts.len());
            // An account busy with a grant is renewed untrimmed: this thread must never wait
            // for a lock whose holder waits for a database request this thread runs.
            for (id, account) in &accounts {
                ids.push(id.clone());
                match lock_now(account) {
                    Some(mut account) => {
                        trimmed_bytes.push(account.granted_bytes - account.used_bytes);
                        trimmed_files.push(account.granted_files - account.used_files);
                        account.granted_bytes = account.used_bytes;
                        account.granted_files = account.used_files;
                    }
                    None => {
                        trimmed_bytes.push(0);
                        trimmed_files.push(0);
                    }
                }
            }
            let sent = Instant::now();
            let error = self.database.error("renew quota leases");
            let renewed = self
                .database
                .run("renew quota leases", move |client| async move {
                    let rows = client
                        .query(
                            "UPDATE wharf_quota_leases AS lease \
                             SET lease_until = now() + make_interval(secs => $4), \
                                 bytes = lease.bytes - trim.bytes, \
                                 files = lease.files - trim.files \
                             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) \
                                  AS trim(id, bytes, files) \
                             WHERE lease.id = trim.id AND lease.lease_until > now() \
                             RETURNING lease.id",
                            &[&ids, &trimmed_bytes, &trimmed_files, &LEASE.as_secs_f64()],
                        )
                        .await
                        .map_err(error)?;
                    Ok(rows
                        .iter()
                        .map(|row| row.get::<_, String>(0))
                        .collect::<Vec<_>>())
                })
                .await;
            match renewed {
                Ok(renewed) => {
                    for (id, account) in &accounts {
                        if renewed.contains(id)
                            && let Some(mut account) = lock_now(account)
                        {
                            account.usable_until = sent + USABLE;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot renew quota leases; uploads stop if this goes on");
                }
            }
        }
    }
}

impl SharedQuota {
    /// Asks the database for at least `bytes` and `files` more on this session's lease, with
    /// headroom when there is room for it.
    fn grant(&self, need_bytes: i64, need_files: i64, held: &Account) -> Result<Grant, AuthError> {
        let limits = self.limits;
        let (user, id) = (self.user.clone(), self.id.clone());
        let unused_bytes = held.granted_bytes - held.used_bytes;
        let unused_files = held.granted_files - held.used_files;
        let error = self.store.database.error("reserve quota");
        self.store
            .database
            .run_blocking("reserve quota", move |mut client| async move {
                let transaction = client.transaction().await.map_err(&error)?;
                let row = lock_usage(&transaction, &user).await.map_err(&error)?;
                let leases = leases_of(&transaction, &user).await.map_err(&error)?;
                let total_bytes = row.bytes + leases.bytes;
                let total_files = row.files + leases.files;
                let bytes = match sized(need_bytes, limits.bytes, total_bytes, GRANT_BYTES) {
                    Ok(bytes) => bytes,
                    Err(limit) => {
                        return Ok(Grant::Refused(StorageError::QuotaExceeded {
                            usage: clamp(total_bytes - unused_bytes),
                            limit,
                        }));
                    }
                };
                let files = match sized(need_files, limits.files, total_files, GRANT_FILES) {
                    Ok(files) => files,
                    Err(limit) => {
                        return Ok(Grant::Refused(StorageError::FileQuotaExceeded {
                            files: clamp(total_files - unused_files),
                            limit,
                        }));
                    }
                };
                let updated = transaction
                    .execute(
                        "UPDATE wharf_quota_leases \
                         SET bytes = bytes + $2, files = files + $3, \
                             lease_until = now() + make_interval(secs => $4) \
                         WHERE id = $1 AND lease_until > now()",
                        &[&id, &bytes, &files, &LEASE.as_secs_f64()],
                    )
                    .await
                    .map_err(&error)?;
                if updated == 0 {
                    return Ok(Grant::LeaseLost);
                }
                transaction.commit().await.map_err(&error)?;
                Ok(Grant::Granted { bytes, files })
            })
    }
}

/// How much to grant for a need of `need` against `limit` with `total` counted: the need plus
/// headroom up to `step` and a share of the room left; `Err(limit)` if the need does not fit.
fn sized(need: i64, limit: Option<u64>, total: i64, step: i64) -> Result<i64, u64> {
    if need <= 0 {
        return Ok(0);
    }
    let Some(limit) = limit else {
        return Ok(need + step);
    };
    let room = i64::try_from(limit)
        .unwrap_or(i64::MAX)
        .saturating_sub(total);
    if need > room {
        return Err(limit);
    }
    Ok(need + step.min((room - need) / HEADROOM_SHARE))
}

impl QuotaHook for SharedQuota {
    fn reserve(&self, bytes: u64, files: u64) -> Result<(), StorageError> {
        if bytes == 0 && files == 0 {
            return Ok(());
        }
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let files = i64::try_from(files).unwrap_or(i64::MAX);
        // The lock is held across a grant request: this session's writes wait for it anyway,
        // and the renewal must not take headroom back while it is being counted.
        let mut account = self.account.lock().unwrap_or_else(PoisonError::into_inner);
        if Instant::now() >= account.usable_until {
            tracing::error!(user = %self.user, "quota lease not renewed in time (database unreachable?): write refused");
            return Err(unavailable("quota lease expired"));
        }
        let need_bytes = account.used_bytes + bytes - account.granted_bytes;
        let need_files = account.used_files + files - account.granted_files;
        if need_bytes > 0 || need_files > 0 {
            let sent = Instant::now();
            match self.grant(need_bytes.max(0), need_files.max(0), &account) {
                Ok(Grant::Granted { bytes, files }) => {
                    account.granted_bytes += bytes;
                    account.granted_files += files;
                    account.usable_until = sent + USABLE;
                }
                Ok(Grant::Refused(refusal)) => return Err(refusal),
                Ok(Grant::LeaseLost) => {
                    tracing::error!(user = %self.user, "quota lease lost: write refused");
                    return Err(unavailable("quota lease lost"));
                }
                Err(error) => {
                    tracing::error!(user = %self.user, %error, "cannot reserve quota: write refused");
                    return Err(unavailable("quota store unavailable"));
                }
            }
        }
        account.used_bytes += bytes;
        account.used_files += files;
        Ok(())
    }

    fn release(&self, bytes: u64, files: u64) {
        let mut account = self.account.lock().unwrap_or_else(PoisonError::into_inner);
        account.used_bytes -= i64::try_from(bytes).unwrap_or(i64::MAX);
        account.used_files -= i64::try_from(files).unwrap_or(i64::MAX);
    }
}

impl AttachedQuota for SharedQuota {
    fn user(&self) -> &str {
        &self.user
    }

    fn limits(&self) -> QuotaLimits {
        self.limits
    }

    fn usage(&self) -> Result<Usage, QuotaError> {
        let unused = {
            let account = self.account.lock().unwrap_or_else(PoisonError::into_inner);
            (
                account.granted_bytes - account.used_bytes,
                account.granted_files - account.used_files,
            )
        };
        let (row, leases) = self.store.snapshot(&self.user)?;
        Ok(usage_of(
            row.bytes + leases.bytes - unused.0.max(0),
            row.files + leases.files - unused.1.max(0),
        ))
    }
}

impl Drop for SharedQuota {
    fn drop(&mut self) {
        self.store
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .accounts
            .remove(&self.id);
        let (used_bytes, used_files) = {
            let account = self.account.lock().unwrap_or_else(PoisonError::into_inner);
            (account.used_bytes, account.used_files)
        };
        let (user, id) = (self.user.clone(), self.id.clone());
        let error = self.store.database.error("detach from the quota record");
        // Blocking: a forked session process exits right after, and its lease must not outlive
        // it by a whole lease period when the database answers.
        let detached = self.store.database.run_blocking(
            "detach from the quota record",
            move |mut client| async move {
                let transaction = client.transaction().await.map_err(&error)?;
                lock_usage(&transaction, &user).await.map_err(&error)?;
                // A lease a rebuild dropped as dead was counted by that rebuild.
                let removed = transaction
                    .execute("DELETE FROM wharf_quota_leases WHERE id = $1", &[&id])
                    .await
                    .map_err(&error)?;
                if removed > 0 {
                    transaction
                        .execute(
                            "UPDATE wharf_quota_usage \
                             SET bytes = greatest(bytes + $2, 0), files = greatest(files + $3, 0) \
                             WHERE user_name = $1",
                            &[&user, &used_bytes, &used_files],
                        )
                        .await
                        .map_err(&error)?;
                }
                bump_generation(&transaction, &user).await.map_err(&error)?;
                transaction.commit().await.map_err(&error)?;
                Ok(())
            },
        );
        if let Err(error) = detached {
            tracing::error!(user = %self.user, %error, "cannot detach from the quota record; the lease counts until the user is next idle");
        }
    }
}

/// The parts of a user's usage row a transaction reads.
struct UsageRow {
    /// Bytes stored as of the last count or session end.
    bytes: i64,
    /// Files stored as of the last count or session end.
    files: i64,
    /// Whether the home was ever counted.
    counted: bool,
    /// Changes with every attach, detach and count.
    generation: i64,
}

/// Creates the user's usage row if missing and locks it for the transaction.
async fn lock_usage(
    transaction: &Transaction<'_>,
    user: &str,
) -> Result<UsageRow, wharf_users::postgres::tokio_postgres::Error> {
    usage_row(transaction, user, " FOR UPDATE").await
}

/// Creates the user's usage row if missing and reads it, with `lock` (`""` or `" FOR UPDATE"`).
async fn usage_row(
    transaction: &Transaction<'_>,
    user: &str,
    lock: &str,
) -> Result<UsageRow, wharf_users::postgres::tokio_postgres::Error> {
    transaction
        .execute(
            "INSERT INTO wharf_quota_usage (user_name) VALUES ($1) \
             ON CONFLICT (user_name) DO NOTHING",
            &[&user],
        )
        .await?;
    let query = format!(
        "SELECT bytes, files, counted, generation FROM wharf_quota_usage WHERE user_name = $1{lock}"
    );
    let row = transaction.query_one(&query, &[&user]).await?;
    Ok(UsageRow {
        bytes: row.get(0),
        files: row.get(1),
        counted: row.get(2),
        generation: row.get(3),
    })
}

/// A user's lease rows summed up.
struct LeaseSums {
    /// Leases still within their term.
    alive: i64,
    /// Leases past their term (their daemon died or lost the database).
    dead: i64,
    /// Bytes all of them hold.
    bytes: i64,
    /// Files all of them hold.
    files: i64,
}

/// Sums up the user's lease rows.
async fn leases_of(
    transaction: &Transaction<'_>,
    user: &str,
) -> Result<LeaseSums, wharf_users::postgres::tokio_postgres::Error> {
    let row = transaction
        .query_one(
            "SELECT count(*) FILTER (WHERE lease_until > now()), \
                    count(*) FILTER (WHERE lease_until <= now()), \
                    coalesce(sum(bytes), 0)::bigint, coalesce(sum(files), 0)::bigint \
             FROM wharf_quota_leases WHERE user_name = $1",
            &[&user],
        )
        .await?;
    Ok(LeaseSums {
        alive: row.get(0),
        dead: row.get(1),
        bytes: row.get(2),
        files: row.get(3),
    })
}

/// Stores a count of the home and drops the user's dead leases (the count holds their bytes).
async fn store_count(
    transaction: &Transaction<'_>,
    user: &str,
    usage: Usage,
) -> Result<(), wharf_users::postgres::tokio_postgres::Error> {
    let bytes = i64::try_from(usage.bytes).unwrap_or(i64::MAX);
    let files = i64::try_from(usage.files).unwrap_or(i64::MAX);
    transaction
        .execute(
            "UPDATE wharf_quota_usage SET bytes = $2, files = $3, counted = true \
             WHERE user_name = $1",
            &[&user, &bytes, &files],
        )
        .await?;
    transaction
        .execute(
            "DELETE FROM wharf_quota_leases WHERE user_name = $1 AND lease_until <= now()",
            &[&user],
        )
        .await?;
    Ok(())
}

/// Marks a change in who is attached, so a count made before it is not stored.
async fn bump_generation(
    transaction: &Transaction<'_>,
    user: &str,
) -> Result<(), wharf_users::postgres::tokio_postgres::Error> {
    transaction
        .execute(
            "UPDATE wharf_quota_usage SET generation = generation + 1 WHERE user_name = $1",
            &[&user],
        )
        .await?;
    Ok(())
}

/// The account's lock if free now (a poisoned one is taken as it is).
fn lock_now(account: &Mutex<Account>) -> Option<std::sync::MutexGuard<'_, Account>> {
    match account.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// A usage from database sums (never below zero).
fn usage_of(bytes: i64, files: i64) -> Usage {
    Usage {
        bytes: clamp(bytes),
        files: clamp(files),
    }
}

/// A database count as an unsigned one (never below zero).
fn clamp(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A usage report.
fn report(usage: Usage, sessions: u64, rebuilt: bool) -> UsageReport {
    UsageReport {
        usage,
        sessions,
        rebuilt,
    }
}

/// The database failing, as a quota error.
fn database_error(error: AuthError) -> QuotaError {
    QuotaError::io("users database", std::io::Error::other(error.to_string()))
}

/// A write refused because the shared quota cannot be checked (a 451).
fn unavailable(reason: &'static str) -> StorageError {
    StorageError::QuotaUnavailable { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_add_headroom_only_where_there_is_room() {
        // No limit: the need plus a full step.
        assert_eq!(sized(10, None, 0, 100), Ok(110));
        // Plenty of room: capped by the step.
        assert_eq!(sized(10, Some(10_000), 0, 100), Ok(110));
        // Little room: an eighth of what is left after the need.
        assert_eq!(sized(10, Some(90), 0, 100), Ok(20));
        // Exactly the room: no headroom.
        assert_eq!(sized(10, Some(10), 0, 100), Ok(10));
        // More than the room: refused with the limit.
        assert_eq!(sized(11, Some(100), 90, 100), Err(100));
        // Nothing needed: nothing asked.
        assert_eq!(sized(0, Some(0), 5, 100), Ok(0));
    }
}
