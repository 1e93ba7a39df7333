//! Bans in PostgreSQL, for daemons whose users are there: every daemon on the database counts
//! the same failures and honours the same bans. Failures are rows with their time, bans rows
//! with their end, both on the database's clock; one subject's rows change only under a
//! transaction-scoped advisory lock on the subject, so concurrent failures count exactly.

use std::time::Duration;

use wharf_users::AuthError;
use wharf_users::postgres::Database;
use wharf_users::postgres::tokio_postgres::Transaction;

use super::{Ban, BanPolicy, Subject};

/// One in this many failures also sweeps every subject's stale rows.
const SWEEP_ONE_IN: u32 = 64;

/// Failed-login bookkeeping shared through the database.
#[derive(Debug, Clone)]
pub struct SharedLoginGuard {
    /// The database the users are in.
    database: Database,
    /// When to ban and for how long.
    policy: BanPolicy,
}

/// The text a subject is stored under: `address:IP` or `user:NAME`.
pub(crate) fn key(subject: &Subject) -> String {
    match subject {
        Subject::Address(ip) => format!("address:{ip}"),
        Subject::User(name) => format!("user:{name}"),
    }
}

/// A duration as `float8` seconds for `make_interval`.
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl SharedLoginGuard {
    /// A guard over `database` with `policy`.
    pub fn new(database: Database, policy: BanPolicy) -> Self {
        Self { database, policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> BanPolicy {
        self.policy
    }

    /// The first of `subjects` that is banned now, if any.
    pub async fn check(&self, subjects: &[Subject]) -> Result<Option<Ban>, AuthError> {
        if !self.policy.enabled() {
            return Ok(None);
        }
        let keys: Vec<String> = subjects.iter().map(key).collect();
        let error = self.database.error("read login bans");
        let rows = self
            .database
            .run("read login bans", move |client| async move {
                client
                    .query(
                        "SELECT subject, extract(epoch FROM until - now())::float8 \
                         FROM wharf_bans WHERE subject = ANY($1) AND until > now()",
                        &[&keys],
                    )
                    .await
                    .map_err(error)
            })
            .await?;
        let banned: Vec<(String, f64)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(subjects.iter().find_map(|subject| {
            let key = key(subject);
            banned
                .iter()
                .find(|(banned, _)| *banned == key)
                .map(|(_, left)| Ban {
                    subject: subject.clone(),
                    remaining: Duration::from_secs_f64(left.max(0.0)),
                })
        }))
    }

    /// How many addresses and user names are banned now, across every daemon (for the
    /// metrics).
    pub async fn active_bans(&self) -> Result<u64, AuthError> {
        if !self.policy.enabled() {
            return Ok(0);
        }
        let error = self.database.error("count login bans");
        let row = self
            .database
            .run("count login bans", move |client| async move {
                client
                    .query_one("SELECT count(*) FROM wharf_bans WHERE until > now()", &[])
                    .await
                    .map_err(error)
            })
            .await?;
        let count: i64 = row.get(0);
        Ok(count.unsigned_abs())
    }

    /// Counts one failed login against each of `subjects`; returns the bans it started.
    pub async fn record_failure(&self, subjects: &[Subject]) -> Result<Vec<Ban>, AuthError> {
        if !self.policy.enabled() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = subjects.iter().map(key).collect();
        let policy = self.policy;
        let sweep = rand::random_range(0..SWEEP_ONE_IN) == 0;
        let error = self.database.error("count a failed login");
        let started = self
            .database
            .run("count a failed login", move |mut client| async move {
                let transaction = client.transaction().await.map_err(&error)?;
                let mut started = Vec::new();
                // Always address before user: concurrent transactions lock in the same order.
                for (index, key) in keys.iter().enumerate() {
                    if fail(&transaction, key, &policy).await.map_err(&error)? {
                        started.push(index);
                    }
                }
                if sweep {
                    transaction
                        .execute(
                            "DELETE FROM wharf_login_failures \
                             WHERE at <= now() - make_interval(secs => $1)",
                            &[&seconds(policy.window)],
                        )
                        .await
                        .map_err(&error)?;
                    transaction
                        .execute("DELETE FROM wharf_bans WHERE until <= now()", &[])
                        .await
                        .map_err(&error)?;
                }
                transaction.commit().await.map_err(&error)?;
                Ok(started)
            })
            .await?;
        Ok(started
            .into_iter()
            .map(|index| Ban {
                subject: subjects[index].clone(),
                remaining: self.policy.duration,
            })
            .collect())
    }

    /// Forgets the failures of `subject` after a successful login (a running ban stays).
    pub async fn record_success(&self, subject: &Subject) -> Result<(), AuthError> {
        if !self.policy.enabled() {
            return Ok(());
        }
        let key = key(subject);
        let error = self.database.error("forget failed logins");
        self.database
            .run("forget failed logins", move |client| async move {
                client
                    .execute(
                        "DELETE FROM wharf_login_failures WHERE subject = $1",
                        &[&key],
                    )
                    .await
                    .map_err(error)?;
                Ok(())
            })
            .await
    }
}

/// One failure of `key` inside `transaction`; true if it starts a ban. A failure while a ban
/// runs does not count (as in the file records).
async fn fail(
    transaction: &Transaction<'_>,
    key: &str,
    policy: &BanPolicy,
) -> Result<bool, wharf_users::postgres::tokio_postgres::Error> {
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await?;
    let banned = transaction
        .query_opt(
            "SELECT 1 FROM wharf_bans WHERE subject = $1 AND until > now()",
            &[&key],
        )
        .await?
        .is_some();
    if banned {
        return Ok(false);
    }
    transaction
        .execute(
            "DELETE FROM wharf_login_failures \
             WHERE subject = $1 AND at <= now() - make_interval(secs => $2)",
            &[&key, &seconds(policy.window)],
        )
        .await?;
    transaction
        .execute(
            "INSERT INTO wharf_login_failures (subject) VALUES ($1)",
            &[&key],
        )
        .await?;
    let count: i64 = transaction
        .query_one(
            "SELECT count(*) FROM wharf_login_failures WHERE subject = $1",
            &[&key],
        )
        .await?
        .get(0);
    if count < i64::from(policy.after_failures) {
        return Ok(false);
    }
    transaction
        .execute(
            "DELETE FROM wharf_login_failures WHERE subject = $1",
            &[&key],
        )
        .await?;
    transaction
        .execute(
            "INSERT INTO wharf_bans (subject, until) \
             VALUES ($1, now() + make_interval(secs => $2)) \
             ON CONFLICT (subject) DO UPDATE SET until = excluded.until",
            &[&key, &seconds(policy.duration)],
        )
        .await?;
    Ok(true)
}
