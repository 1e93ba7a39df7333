//! The brute-force defence as the session uses it: refuse banned clients and users before any
//! password is checked, count failures, forget a user's failures once they log in. The records
//! are in the state directory, or in PostgreSQL when the users are there.

use std::time::SystemTime;

use super::state::Session;
use crate::defence::{Ban, LoginGuard, Subject};
use crate::metrics::LoginResult;
use crate::protocol::{Reply, ReplyCode};

/// The 421 reply for a running ban.
fn ban_reply() -> Reply {
    Reply::new(
        ReplyCode::SERVICE_NOT_AVAILABLE,
        "Too many failed logins; try again later.",
    )
}

/// The outcome of a database guard operation, or `None` after logging its failure (the login
/// goes on; a database that is down refuses the password check itself).
fn logged<T>(outcome: Result<T, wharf_users::AuthError>) -> Option<T> {
    outcome
        .inspect_err(
            |error| tracing::error!(%error, "cannot use the login records in the database"),
        )
        .ok()
}

/// Runs a guard operation off the async threads. Bookkeeping failures are logged and the
/// login goes on: a broken state directory must not lock every user out.
async fn with_guard<T: Send + 'static>(
    guard: &LoginGuard,
    operation: impl FnOnce(&LoginGuard) -> std::io::Result<T> + Send + 'static,
) -> Option<T> {
    let guard = guard.clone();
    match tokio::task::spawn_blocking(move || operation(&guard)).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot use the login records in the state directory");
            None
        }
        Err(join) => {
            tracing::error!(%join, "login record task failed");
            None
        }
    }
}

impl Session {
    /// The subjects a login attempt of `user` is counted for.
    fn subjects(&self, user: Option<&str>) -> Vec<Subject> {
        let mut subjects = vec![Subject::Address(self.peer_ip)];
        subjects.extend(user.map(|name| Subject::User(name.to_string())));
        subjects
    }

    /// Counts a login attempt in the metrics, if they are on.
    pub(crate) fn count_login(&self, result: LoginResult) {
        if let Some(metrics) = &self.shared.metrics {
            metrics.login(result);
        }
    }

    /// The reply refusing this client (421) if its address, or `user`, is banned (counted as
    /// a banned login: at connect time and at USER or PASS).
    pub(crate) async fn ban_refusal(&self, user: Option<&str>) -> Option<Reply> {
        let subjects = self.subjects(user);
        let ban: Option<Ban> = match &self.shared.shared_guard {
            Some(shared) => logged(shared.check(&subjects).await).flatten(),
            None => with_guard(&self.shared.guard, move |guard| {
                guard.check(&subjects, SystemTime::now())
            })
            .await
            .flatten(),
        };
        let ban = ban?;
        self.count_login(LoginResult::Banned);
        tracing::info!(
            subject = %ban.subject,
            remaining_secs = ban.remaining.as_secs(),
            "refused: login ban in force"
        );
        Some(ban_reply())
    }

    /// Counts a failed login of `name`; returns the 421 reply if it started a ban.
    pub(crate) async fn count_failed_login(&self, name: &str) -> Option<Reply> {
        let subjects = self.subjects(Some(name));
        let started = match &self.shared.shared_guard {
            Some(shared) => logged(shared.record_failure(&subjects).await),
            None => {
                with_guard(&self.shared.guard, move |guard| {
                    guard.record_failure(&subjects, SystemTime::now())
                })
                .await
            }
        }
        .unwrap_or_default();
        for ban in &started {
            tracing::warn!(
                subject = %ban.subject,
                secs = ban.remaining.as_secs(),
                "login ban engaged after repeated failures"
            );
        }
        (!started.is_empty()).then(ban_reply)
    }

    /// Forgets the failures of `name` after a successful login.
    pub(crate) async fn count_successful_login(&self, name: &str) {
        let subject = Subject::User(name.to_string());
        match &self.shared.shared_guard {
            Some(shared) => {
                logged(shared.record_success(&subject).await);
            }
            None => {
                with_guard(&self.shared.guard, move |guard| {
                    guard.record_success(&subject, SystemTime::now())
                })
                .await;
            }
        }
    }
}
