//! USER, PASS and QUIT.

use std::io;
use std::sync::Arc;

use wharf::Connection;
use wharf_users::Verified;

use super::Answer;
use super::events::Details;
use crate::config::hooks::HookEventKind;
use crate::config::storage::BackendKind;
use crate::defence::{Lease, LeaseRefusal};
use crate::metrics::LoginResult;
use crate::protocol::command::Password;
use crate::protocol::{Reply, ReplyCode};
use crate::quota::{QuotaStore, Quotas};
use crate::session::control;
use crate::session::homes::OpenHome;
use crate::session::slots::Held;
use crate::session::state::{Flow, LoggedIn, Session};
use crate::storage::open::blocking;
use crate::storage::{StorageError, open_home};

/// USER: remembers the name; the reply is the same whether the user exists or not.
pub(super) fn user(session: &mut Session, name: String) -> Reply {
    if session.user.is_some() {
        return Reply::new(ReplyCode::BAD_SEQUENCE, "Already logged in.");
    }
    session.pending_user = Some(name);
    Reply::new(ReplyCode::NEED_PASSWORD, "Password required.")
}

/// PASS: checks the password and opens the user's jail.
pub(super) async fn pass(
    session: &mut Session,
    conn: &mut Connection,
    password: Password,
) -> io::Result<Answer> {
    if session.user.is_some() {
        return Ok(Reply::new(ReplyCode::LOGGED_IN, "Already logged in.").into());
    }
    let Some(name) = session.pending_user.take() else {
        return Ok(Reply::new(ReplyCode::BAD_SEQUENCE, "Login with USER first.").into());
    };
    let verified = session
        .shared
        .authenticator
        .verify(&name, password.expose())
        .await;
    let record = match verified {
        Ok(Verified::Authenticated(record)) => record,
        Ok(Verified::Rejected) => return failed(session, conn, &name).await,
        Err(error) => {
            if error.is_database() {
                tracing::error!(%error, "users database unreachable: login refused with 421 until it answers again");
            } else {
                tracing::error!(%error, "cannot check passwords");
            }
            control::say(
                conn,
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Service not available.",
            )
            .await?;
            return Ok(Answer::Sent(Flow::Close));
        }
    };
    let lease = match claim_lease(session, &name).await {
        Ok(lease) => lease,
        Err(reply) => {
            control::send(conn, &reply).await?;
            return Ok(Answer::Sent(Flow::Close));
        }
    };
    // Local homes are shared by the sessions of one user in this process (descriptors); an
    // object-storage home holds none and is opened per session: an operator is cheap, and
    // every one sends through the one process-wide HTTP client (object::install_http_transport).
    let shared_home = session.shared.config.storage.backend == BackendKind::Local;
    let found = shared_home
        .then(|| session.shared.homes.find(&record))
        .flatten();
    let opened = match found {
        Some(home) => Ok(home),
        None => {
            let state_dir = session.shared.config.server.state_dir.clone();
            let durable = session.shared.config.server.durable_uploads;
            let storage_config = session.shared.config.storage.clone();
            let user_record = record.clone();
            let shared_quotas = session.shared.shared_quotas.clone();
            // The storage enforces the user's quota, with the limits read at this login.
            let opened = blocking(move || {
                let storage = open_home(&storage_config, &user_record.home, durable)?;
                let quotas = match shared_quotas {
                    Some(shared) => Ok(Quotas::Shared(shared)),
                    None => QuotaStore::open(&state_dir).map(Quotas::Local),
                };
                quotas
                    .and_then(|quotas| quotas.attach_storage(&user_record, &storage))
                    .map(|(jail, quota)| Arc::new(OpenHome::new(user_record.clone(), jail, quota)))
                    .map_err(|error| {
                        tracing::error!(user = %user_record.name, %error, "cannot open the home with its quota");
                        StorageError::from(error)
                    })
            })
            .await;
            if shared_home && let Ok(home) = &opened {
                session.shared.homes.keep(home);
            }
            opened
        }
    };
    match opened {
        Ok(home) => {
            tracing::Span::current().record("user", name.as_str());
            tracing::info!(home = %record.home.display(), "logged in");
            if !shared_home {
                // Multipart uploads that dead daemons left under this home are aborted once
                // older than `storage.stale_upload_age`: one listing request, off the reply's
                // path; the session's end waits for it a little (`Session::finish_sweep`).
                let jail = home.jail.clone();
                session.sweep = Some(tokio::spawn(async move {
                    // It logs its own failure and always returns Ok.
                    let _ = jail.remove_stale_uploads().await;
                }));
            }
            session.count_successful_login(&name).await;
            session.count_login(LoginResult::Ok);
            if let Some(lease) = lease {
                let local = session.slots.take().map(Box::new);
                session.slots = Some(Held::Leased {
                    _local: local,
                    _lease: lease,
                });
            }
            session.user = Some(LoggedIn {
                record,
                jail: home.jail.clone(),
                quota: Arc::clone(&home.quota),
                _home: home,
            });
            session.hook_event(HookEventKind::Login, Details::default());
            Ok(Reply::new(ReplyCode::LOGGED_IN, "Login successful.").into())
        }
        Err(error) => {
            tracing::error!(user = %name, home = %record.home.display(), %error, "home directory unavailable");
            Ok(Reply::new(ReplyCode::NOT_LOGGED_IN, "Login incorrect.").into())
        }
    }
}

/// With the users in PostgreSQL, the session's row in the shared session count, or the `421`
/// refusing it (address at its cap across every daemon, or the database unreachable).
async fn claim_lease(session: &Session, name: &str) -> Result<Option<Lease>, Reply> {
    let Some(leases) = &session.shared.leases else {
        return Ok(None);
    };
    let max = session.shared.config.limits.max_sessions_per_ip;
    match leases.claim(session.peer_ip, name, max).await {
        Ok(Ok(lease)) => Ok(Some(lease)),
        Ok(Err(LeaseRefusal::AddressFull)) => {
            tracing::info!(
                max,
                "refused: the address has its maximum of sessions across the daemons"
            );
            Err(Reply::new(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Too many connections from your address.",
            ))
        }
        Err(error) => {
            tracing::error!(%error, "users database unreachable: login refused with 421 until it answers again");
            Err(Reply::new(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Service not available.",
            ))
        }
    }
}

/// A wrong password or unknown user: the same delay and reply either way. The failure counts
/// towards a ban of the client address and of the name; the connection closes after
/// `limits.max_login_attempts` failures or when a ban starts.
async fn failed(session: &mut Session, conn: &mut Connection, name: &str) -> io::Result<Answer> {
    session.failed_logins += 1;
    session.count_login(LoginResult::Failed);
    tracing::warn!(user = %name, attempt = session.failed_logins, "failed login");
    session.hook_failed_login(name);
    let ban = session.count_failed_login(name).await;
    tokio::time::sleep(session.shared.config.limits.failed_login_delay).await;
    if let Some(ban) = ban {
        control::say(conn, ReplyCode::NOT_LOGGED_IN, "Login incorrect.").await?;
        control::send(conn, &ban).await?;
        return Ok(Answer::Sent(Flow::Close));
    }
    if session.failed_logins >= session.shared.config.limits.max_login_attempts {
        control::say(conn, ReplyCode::NOT_LOGGED_IN, "Login incorrect.").await?;
        control::say(
            conn,
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Too many failed logins; closing.",
        )
        .await?;
        return Ok(Answer::Sent(Flow::Close));
    }
    Ok(Reply::new(ReplyCode::NOT_LOGGED_IN, "Login incorrect.").into())
}

/// QUIT: says goodbye and closes.
pub(super) async fn quit(conn: &mut Connection) -> io::Result<Answer> {
    control::say(conn, ReplyCode::CLOSING, "Goodbye.").await?;
    Ok(Answer::Sent(Flow::Close))
}
