//! Schema migrations, embedded in the binary and applied in order, each once, under an
//! advisory lock so daemons starting together do not race.

use tokio_postgres::{Client, NoTls};

use super::PgUrl;
use crate::AuthError;

/// Every migration: version, name, SQL. Append only; never edit one that has shipped.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "users", include_str!("migrations/0001_users.sql")),
    (
        2,
        "shared_state",
        include_str!("migrations/0002_shared_state.sql"),
    ),
    (3, "quota", include_str!("migrations/0003_quota.sql")),
];

/// The advisory lock key held while migrating (any constant no other program uses).
const MIGRATION_LOCK: i64 = 0x7768_6172_665f_6462; // "wharf_db"

/// Applies the migrations `client`'s database lacks; returns the versions applied now.
pub async fn apply(client: &mut Client) -> Result<Vec<i32>, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // `IF NOT EXISTS` would otherwise send a notice at every start.
    transaction
        .batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS wharf_schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let present: Vec<i32> = transaction
        .query("SELECT version FROM wharf_schema_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        if present.contains(&version) {
            continue;
        }
        transaction.batch_execute(sql).await?;
        transaction
            .execute(
                "INSERT INTO wharf_schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, &name],
            )
            .await?;
        applied.push(version);
    }
    if let Some(newest) = present.iter().max()
        && *newest > MIGRATIONS.len() as i32
    {
        tracing::warn!(
            schema = newest,
            known = MIGRATIONS.len(),
            "the users database has a newer schema than this binary knows"
        );
    }
    transaction.commit().await?;
    Ok(applied)
}

/// Connects once, applies the missing migrations, and disconnects, on a thread and runtime of
/// its own that are gone when it returns (so a forking daemon's parent keeps no thread).
pub fn migrate_blocking(url: &PgUrl) -> Result<Vec<i32>, AuthError> {
    let config = url.resolved_config();
    let location = url.to_string();
    let unavailable = |reason: String| AuthError::DatabaseUnavailable {
        location: location.clone(),
        reason,
    };
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| unavailable(format!("cannot start a runtime: {error}")))?;
                runtime.block_on(async {
                    let database_error = |action| {
                        let location = location.clone();
                        move |source| AuthError::Database {
                            location,
                            action,
                            source,
                        }
                    };
                    let (mut client, connection) = config
                        .connect(NoTls)
                        .await
                        .map_err(database_error("connect"))?;
                    let driver = tokio::spawn(connection);
                    let applied = apply(&mut client)
                        .await
                        .map_err(database_error("apply the schema migrations"))?;
                    drop(client);
                    let _ = driver.await;
                    Ok(applied)
                })
            })
            .join()
    });
    outcome.unwrap_or_else(|_| Err(unavailable("the migration thread panicked".to_owned())))
}
