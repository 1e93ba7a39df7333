//! What the commands tell the hooks: events once a command has succeeded (handed over without
//! waiting), and the pre-upload question before an upload writes anything.

use crate::config::hooks::HookEventKind;
use crate::hooks::{HookEvent, UploadKind, VetoRequest};
use crate::protocol::{Reply, ReplyCode};
use crate::session::state::Session;
use crate::storage::{UploadMode, VirtualPath};

/// The parts of an event besides its kind and the session's own fields.
#[derive(Debug, Default)]
pub(super) struct Details<'a> {
    /// The file (for a rename: the old name).
    pub(super) path: Option<&'a str>,
    /// For a rename: the new name.
    pub(super) to_path: Option<&'a str>,
    /// Bytes (an upload's committed size, a download's bytes sent).
    pub(super) size: Option<u64>,
}

impl Session {
    /// Emits a `kind` event for the logged-in user (no-op without hooks or for events not
    /// configured).
    pub(super) fn hook_event(&self, kind: HookEventKind, details: Details<'_>) {
        let Some(hooks) = self.shared.hooks.as_ref().filter(|hooks| hooks.wants(kind)) else {
            return;
        };
        let mut event = HookEvent::now(
            kind,
            self.id,
            self.peer_ip.to_string(),
            self.user_name().to_owned(),
        );
        event.home = self
            .user
            .as_ref()
            .map(|user| user.record.home.display().to_string());
        event.path = details.path.map(str::to_owned);
        event.to_path = details.to_path.map(str::to_owned);
        event.size = details.size;
        hooks.emit(event);
    }

    /// Emits a `login_failed` event for the name the client tried.
    pub(super) fn hook_failed_login(&self, name: &str) {
        let kind = HookEventKind::LoginFailed;
        let Some(hooks) = self.shared.hooks.as_ref().filter(|hooks| hooks.wants(kind)) else {
            return;
        };
        hooks.emit(HookEvent::now(
            kind,
            self.id,
            self.peer_ip.to_string(),
            name.to_owned(),
        ));
    }

    /// With `hooks.pre_upload`: asks whether the upload of `path` in `mode` may go ahead;
    /// `Err` is the `553` refusing it.
    pub(super) async fn check_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<(), Reply> {
        let Some(hooks) = self
            .shared
            .hooks
            .as_ref()
            .filter(|hooks| hooks.checks_uploads())
        else {
            return Ok(());
        };
        let Some(user) = &self.user else {
            return Ok(());
        };
        let (kind, offset) = match mode {
            UploadMode::Replace => (UploadKind::Replace, None),
            UploadMode::ResumeAt(offset) => (UploadKind::Resume, Some(offset)),
            UploadMode::Append => (UploadKind::Append, None),
            UploadMode::Unique => (UploadKind::Unique, None),
        };
        let request = VetoRequest {
            session: self.id,
            client_addr: self.peer_ip.to_string(),
            user: user.record.name.clone(),
            home: user.record.home.display().to_string(),
            path: path.as_str().to_owned(),
            mode: kind,
            offset,
        };
        let verdict = hooks.check_upload(request).await;
        if verdict.allowed {
            Ok(())
        } else {
            tracing::info!(%path, reason = %verdict.reason, "upload refused by the pre-upload check");
            Err(Reply::new(ReplyCode::BAD_FILE_NAME, verdict.reason))
        }
    }
}
