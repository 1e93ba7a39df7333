//! Uploads to object storage: one multipart upload per STOR, in bounded memory.
//!
//! The bytes collect in a part buffer of [`PART_SIZE`]; a full buffer goes to OpenDAL's writer,
//! which keeps one part back and sends up to [`PARTS_IN_FLIGHT`] before it in the background,
//! so the client's bytes keep arriving while parts travel, and an upload holds at most
//! `PARTS_IN_FLIGHT + 2` parts. Every upload first takes that many parts' worth from the
//! process's buffer budget (waiting for room before its `150`), so many uploads at once cannot
//! take more memory than the budget: SFTPGo's users reported out-of-memory failures with many
//! S3 uploads (its issues 1667 and 1735).
//!
//! The object appears only when the writer closes (CompleteMultipartUpload): readers see the
//! old object or the new one, never a part. An aborted, refused or cut upload aborts the
//! multipart upload, so neither a partial object nor orphaned parts stay behind. APPE and
//! REST n + STOR start the new upload with the first bytes of the existing object, copied
//! server-side (UploadPartCopy) when there are at least [`PART_SIZE`] of them, else read
//! through the daemon (S3 needs every part but the last to be at least 5 MiB).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio::sync::OwnedSemaphorePermit;

use super::ObjectStore;
use super::commit::commit_turn;
use super::errors::backend_error;
use crate::storage::backend::{Chunk, CommitInfo, UploadMode, UploadSink};
use crate::storage::error::StorageError;
use crate::storage::names;
use crate::storage::path::VirtualPath;
use crate::storage::quota::QuotaHook;

/// Bytes per multipart part: S3's smallest part size (every part but the last).
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// Parts of one upload sent at once while the next one fills.
const PARTS_IN_FLIGHT: usize = 2;

/// Budget units (MiB) one upload holds: its part buffer, the part OpenDAL keeps back and the
/// parts in flight.
pub const UPLOAD_BUFFER_MIB: u32 = ((PARTS_IN_FLIGHT + 2) * (PART_SIZE / (1024 * 1024))) as u32;

/// Bytes reserved with the quota hook at a time, as the local backend does.
const RESERVE_STEP: u64 = 4 * 1024 * 1024;

/// Most bytes one server-side copy request may take (S3's UploadPartCopy limit).
const MAX_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// A multipart upload in progress.
pub(super) struct ObjectUpload {
    /// The target path.
    path: VirtualPath,
    /// Its key.
    key: String,
    /// The writer; `None` once committed or aborted.
    writer: Option<opendal::Writer>,
    /// Bytes not yet handed to the writer.
    part: BytesMut,
    /// Told of every change in usage.
    quota: Arc<dyn QuotaHook>,
    /// Bytes of the existing object the upload starts with (APPE, REST n + STOR).
    kept: u64,
    /// Bytes received from the client.
    written: u64,
    /// Bytes reserved with the quota hook beyond what was written.
    ahead: u64,
    /// The existing object's size, if there was one (looked at again just before the commit).
    replaced: Option<u64>,
    /// The bucket, to look at the object the commit replaces.
    operator: opendal::Operator,
    /// The budget share for the part buffers, given back when the upload ends.
    _buffers: OwnedSemaphorePermit,
}

impl std::fmt::Debug for ObjectUpload {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ObjectUpload")
            .field("path", &self.path)
            .field("kept", &self.kept)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl ObjectUpload {
    /// Checks the target as `mode` asks, waits for buffer room and starts the upload.
    pub(super) async fn begin(
        store: &ObjectStore,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<ObjectUpload, StorageError> {
        let path = match mode {
            UploadMode::Unique => unique_name(store, path).await?,
            _ if path.is_root() => return Err(StorageError::IsADirectory { path: path.clone() }),
            _ => path.clone(),
        };
        let key = store.keys.file(&path)?;
        if store.dir_exists(&path).await? {
            return Err(StorageError::IsADirectory { path });
        }
        store.require_parent(&path).await?;
        let existing = store
            .stat_file(&path)
            .await?
            .map(|metadata| metadata.content_length());
        let kept = match (mode, existing) {
            (UploadMode::ResumeAt(offset), Some(size)) if offset <= size => offset,
            // REST 0 + STOR of a missing file is a plain new upload, as on the local disk.
            (UploadMode::ResumeAt(0), None) => 0,
            (UploadMode::ResumeAt(offset), size) => {
                return Err(StorageError::BadOffset {
                    path,
                    offset,
                    size: size.unwrap_or(0),
                });
            }
            (UploadMode::Append, Some(size)) => size,
            _ => 0,
        };
        // The kept bytes are stored a second time until the commit: counted while they are.
        let quota = Arc::clone(&store.quota);
        quota.reserve(kept, u64::from(existing.is_none()))?;
        let release_start = || quota.release(kept, u64::from(existing.is_none()));
        let buffers = match Arc::clone(&store.buffers)
            .acquire_many_owned(UPLOAD_BUFFER_MIB)
            .await
        {
            Ok(permit) => permit,
            Err(_) => {
                release_start();
                return Err(StorageError::Backend {
                    path,
                    message: "upload buffer budget closed".to_owned(),
                });
            }
        };
        let mut upload = ObjectUpload {
            path: path.clone(),
            key: key.clone(),
            writer: None,
            part: BytesMut::new(),
            quota: Arc::clone(&quota),
            kept,
            written: 0,
            ahead: 0,
            replaced: existing,
            operator: store.operator.clone(),
            _buffers: buffers,
        };
        let writer = store
            .operator
            .writer_with(&key)
            .concurrent(PARTS_IN_FLIGHT)
            .await;
        upload.writer = match writer {
            Ok(writer) => Some(writer),
            Err(error) => {
                upload.release_all();
                return Err(backend_error(&path, error));
            }
        };
        if kept > 0
            && let Err(error) = upload.start_with_existing(store).await
        {
            upload.abort_writer().await;
            upload.release_all();
            return Err(error);
        }
        Ok(upload)
    }

    /// Puts the first `kept` bytes of the existing object at the start of the upload.
    async fn start_with_existing(&mut self, store: &ObjectStore) -> Result<(), StorageError> {
        let (path, key, kept) = (self.path.clone(), self.key.clone(), self.kept);
        if kept < PART_SIZE as u64 {
            // Too small for a copied part: read through, into the first part.
            let bytes = store
                .operator
                .read_with(&key)
                .range(0..kept)
                .await
                .map_err(|error| backend_error(&path, error))?;
            self.part.extend_from_slice(&bytes.to_bytes());
            return Ok(());
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(StorageError::UploadEnded { path });
        };
        let mut start = 0;
        while start < kept {
            let end = kept.min(start + MAX_COPY);
            writer
                .copy_from(&key, start..end)
                .await
                .map_err(|error| backend_error(&path, error))?;
            start = end;
        }
        Ok(())
    }

    /// Takes `length` bytes of the quota reservation, reserving a step more when needed.
    fn reserve(&mut self, length: u64) -> Result<(), StorageError> {
        if let Some(lacking) = length
            .checked_sub(self.ahead)
            .filter(|&lacking| lacking > 0)
        {
            let step = lacking.max(RESERVE_STEP);
            match self.quota.reserve(step, 0) {
                Ok(()) => self.ahead += step,
                Err(StorageError::QuotaExceeded { .. }) if step > lacking => {
                    self.quota.reserve(lacking, 0)?;
                    self.ahead += lacking;
                }
                Err(error) => return Err(error),
            }
        }
        self.ahead -= length;
        Ok(())
    }

    /// Gives back everything this upload reserved (it ends without an object).
    fn release_all(&mut self) {
        let bytes = self.kept + self.written + std::mem::take(&mut self.ahead);
        let files = u64::from(self.replaced.is_none());
        self.quota.release(bytes, files);
        self.kept = 0;
        self.written = 0;
        // Released once: a later drop finds nothing to give back.
        self.replaced = Some(0);
    }

    /// Looks at the object the commit is about to replace and moves the file count to match:
    /// a file created meanwhile is replaced (no new file), one deleted meanwhile makes this
    /// upload a new file again (which the file limit may refuse).
    async fn recount_replaced(&mut self) -> Result<(), StorageError> {
        let present = match self.operator.stat(&self.key).await {
            Ok(metadata) if metadata.is_file() => Some(metadata.content_length()),
            Ok(_) => None,
            Err(error) if error.kind() == opendal::ErrorKind::NotFound => None,
            Err(error) => return Err(backend_error(&self.path, error)),
        };
        match (self.replaced, present) {
            (None, Some(_)) => self.quota.release(0, 1),
            (Some(_), None) => self.quota.reserve(0, 1)?,
            _ => {}
        }
        self.replaced = present;
        Ok(())
    }

    /// Hands the part buffer to the writer.
    async fn flush_part(&mut self) -> Result<(), StorageError> {
        if self.part.is_empty() {
            return Ok(());
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(StorageError::UploadEnded {
                path: self.path.clone(),
            });
        };
        let part = self.part.split().freeze();
        writer
            .write(part)
            .await
            .map_err(|error| backend_error(&self.path, error))
    }

    /// Aborts the multipart upload, so no parts stay behind.
    async fn abort_writer(&mut self) {
        self.part = BytesMut::new();
        if let Some(mut writer) = self.writer.take()
            && let Err(error) = writer.abort().await
        {
            tracing::warn!(path = %self.path, %error, "could not abort a multipart upload");
        }
    }

    /// Ends the upload without an object after a failure.
    async fn fail(&mut self, error: StorageError) -> StorageError {
        self.abort_writer().await;
        self.release_all();
        error
    }
}

/// STOU on object storage: the first free name derived from `path`, as the local jail picks it
/// (`name`, `name.1`, ...). Two uploads racing for one name both succeed and the later one wins;
/// S3 has no create-exclusive for multipart uploads on every service.
async fn unique_name(store: &ObjectStore, path: &VirtualPath) -> Result<VirtualPath, StorageError> {
    let base = if store.dir_exists(path).await? {
        path.join("upload")?
    } else {
        path.clone()
    };
    let (parent, candidates) = names::unique_candidates(&base);
    for name in candidates {
        let candidate = parent.join(&name)?;
        if store.stat_file(&candidate).await?.is_none() && !store.dir_exists(&candidate).await? {
            return Ok(candidate);
        }
    }
    Err(StorageError::AlreadyExists { path: base })
}

#[async_trait]
impl UploadSink for ObjectUpload {
    fn path(&self) -> &VirtualPath {
        &self.path
    }

    fn bytes_written(&self) -> u64 {
        self.written
    }

    async fn write(&mut self, chunk: Chunk) -> (Chunk, Result<(), StorageError>) {
        if self.writer.is_none() {
            let ended = StorageError::UploadEnded {
                path: self.path.clone(),
            };
            return (chunk, Err(ended));
        }
        let mut bytes = chunk.as_slice();
        if let Err(error) = self.reserve(bytes.len() as u64) {
            let error = self.fail(error).await;
            return (chunk, Err(error));
        }
        self.written += bytes.len() as u64;
        while !bytes.is_empty() {
            let room = PART_SIZE - self.part.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            if self.part.capacity() == 0 {
                self.part.reserve(PART_SIZE);
            }
            self.part.extend_from_slice(now);
            bytes = later;
            if self.part.len() >= PART_SIZE
                && let Err(error) = self.flush_part().await
            {
                let error = self.fail(error).await;
                return (chunk, Err(error));
            }
        }
        (chunk, Ok(()))
    }

    async fn commit(mut self: Box<Self>) -> Result<CommitInfo, StorageError> {
        if let Err(error) = self.flush_part().await {
            return Err(self.fail(error).await);
        }
        let Some(mut writer) = self.writer.take() else {
            return Err(StorageError::UploadEnded {
                path: self.path.clone(),
            });
        };
        // The object this commit replaces is the one there now, not at the start: another
        // upload to the key may have completed meanwhile (or the file been deleted).
        let _turn = commit_turn(&self.key).await;
        if let Err(error) = self.recount_replaced().await {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(path = %self.path, %abort, "could not abort a multipart upload");
            }
            self.release_all();
            return Err(error);
        }
        if let Err(error) = writer.close().await {
            // A failed complete leaves the multipart upload; abort it so no parts remain.
            let _ = writer.abort().await;
            let error = backend_error(&self.path, error);
            self.release_all();
            return Err(error);
        }
        let unused = std::mem::take(&mut self.ahead);
        self.quota.release(unused, 0);
        let replaced = self.replaced.take();
        if let Some(old) = replaced {
            self.quota.release(old, 0);
        }
        let size = self.kept + self.written;
        // Committed: nothing is given back on drop.
        self.replaced = Some(0);
        self.kept = 0;
        self.written = 0;
        Ok(CommitInfo {
            path: self.path.clone(),
            size,
            replaced_size: replaced,
        })
    }

    async fn abort(mut self: Box<Self>) {
        self.abort_writer().await;
        self.release_all();
    }
}

impl Drop for ObjectUpload {
    /// Dropped uncommitted (a cancelled transfer): the multipart upload is aborted on the
    /// runtime, and the reservations given back.
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            let path = self.path.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Err(error) = writer.abort().await {
                        tracing::warn!(%path, %error, "could not abort a multipart upload");
                    }
                });
            }
            self.release_all();
        }
    }
}
