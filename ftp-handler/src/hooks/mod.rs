//! Event hooks (`[hooks]`): on upload, download, delete, rename, login and failed login, run a
//! command and/or POST JSON to a webhook; before an upload, ask a program whether it may go
//! ahead.
//!
//! - [`event`]: what a hook is told ([`HookEvent`], [`VetoRequest`], [`Verdict`]).
//! - [`wire`]: the socket pair from every session to the hook process, sends that never wait.
//! - [`client`]: the sessions' side ([`HookClient`]): `emit` and `check_upload`.
//! - [`process`]: forking the hook process before the server starts ([`start`]).
//! - [`queue`]: the hook process's loop: a bounded queue, one worker in order, checks beside.
//! - [`deliver`]: one event to the command and the webhook, with retries and backoff.
//! - [`veto`]: running the pre-upload program and answering the session that asked.
//!
//! A session never waits for an event's delivery: it writes one record to a socket without
//! blocking, and a record that does not fit (the hook process behind) is dropped and counted.
//! Only the pre-upload check is waited for, at most `hooks.pre_upload_timeout`, and anything
//! but an explicit "allowed" refuses the upload (fail closed).

mod client;
mod deliver;
pub mod event;
mod process;
mod queue;
mod veto;
mod wire;

pub use client::HookClient;
pub use event::{HookEvent, UploadKind, Verdict, VetoRequest};
pub use process::{HookProcess, start};
