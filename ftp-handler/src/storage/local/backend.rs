//! The local jail as a [`StorageBackend`]: each call runs the jail's blocking code on tokio's
//! blocking pool, as the session did before the trait existed; upload writes run where the
//! session's [`WritePlacement`] says.

use std::sync::Arc;

use async_trait::async_trait;

use super::jail::LocalJail;
use super::upload::Upload;
use crate::protocol::hash::{FileDigest, HashAlgorithm, digest_blocking};
use crate::storage::backend::{
    Capabilities, Chunk, CommitInfo, Download, DownloadBody, Jail, LocalFile, StorageBackend,
    UploadMode, UploadSink, WritePlacement,
};
use crate::storage::entry::Entry;
use crate::storage::error::StorageError;
use crate::storage::open::{blocking, task_lost};
use crate::storage::path::VirtualPath;
use crate::storage::quota::{QuotaHook, Usage};

/// What the local jail can do: everything, with `sendfile` for downloads.
const LOCAL_CAPABILITIES: Capabilities = Capabilities {
    zero_copy: true,
    append: true,
    server_side_hash: true,
    keeps_partial_uploads: true,
};

#[async_trait]
impl StorageBackend for LocalJail {
    fn capabilities(&self) -> Capabilities {
        LOCAL_CAPABILITIES
    }

    fn with_quota(&self, hook: Arc<dyn QuotaHook>) -> Jail {
        Arc::new(self.clone().with_quota(hook))
    }

    async fn metadata(&self, path: &VirtualPath) -> Result<Entry, StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        blocking(move || jail.metadata(&path)).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<Vec<Entry>, StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        blocking(move || jail.list(&path)).await
    }

    async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<Download, StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        let (file, size) = blocking(move || jail.open_read(&path, offset)).await?;
        Ok(Download {
            size,
            body: DownloadBody::File(LocalFile::new(file)),
        })
    }

    async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
        placement: WritePlacement,
    ) -> Result<Box<dyn UploadSink>, StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        let upload = blocking(move || jail.begin_upload(&path, mode)).await?;
        Ok(Box::new(LocalUpload {
            path: upload.path().clone(),
            written: 0,
            upload: Some(upload),
            placement,
        }))
    }

    async fn create_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        blocking(move || jail.create_dir(&path)).await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        blocking(move || jail.remove_dir(&path)).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        blocking(move || jail.remove_file(&path)).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let (jail, from, to) = (self.clone(), from.clone(), to.clone());
        blocking(move || jail.rename(&from, &to)).await
    }

    /// Counted inline: the quota store calls it from a blocking thread already.
    async fn usage(&self) -> Result<Usage, StorageError> {
        LocalJail::usage(self)
    }

    /// Swept inline, like [`usage`](Self::usage).
    async fn remove_stale_uploads(&self) -> Result<(), StorageError> {
        self.remove_stale_temp_files()
    }

    /// Hashed on the blocking pool straight from the file.
    async fn digest(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
    ) -> Result<FileDigest, StorageError> {
        let (jail, path) = (self.clone(), path.clone());
        blocking(move || {
            let (mut file, _size) = jail.open_read(&path, 0)?;
            digest_blocking(algorithm, &mut file)
                .map_err(|source| StorageError::Io { path, source })
        })
        .await
    }
}

/// A local [`Upload`] behind the [`UploadSink`] trait.
#[derive(Debug)]
struct LocalUpload {
    /// The target (the name chosen, for STOU).
    path: VirtualPath,
    /// Bytes written so far.
    written: u64,
    /// The upload; `None` only while a write on the pool holds it, or after a lost write.
    upload: Option<Upload>,
    /// Where the blocking writes run.
    placement: WritePlacement,
}

impl LocalUpload {
    /// The upload, or the error for one lost with a failed write task.
    fn take(&mut self) -> Result<Upload, StorageError> {
        self.upload.take().ok_or_else(|| StorageError::UploadEnded {
            path: self.path.clone(),
        })
    }
}

/// Writes a chunk into the upload, handing both back.
fn write_chunk(mut upload: Upload, chunk: Chunk) -> (Upload, Chunk, Result<(), StorageError>) {
    let result = if chunk.as_slice().is_empty() {
        Ok(())
    } else {
        upload.write_all(chunk.as_slice())
    };
    (upload, chunk, result)
}

#[async_trait]
impl UploadSink for LocalUpload {
    fn path(&self) -> &VirtualPath {
        &self.path
    }

    fn bytes_written(&self) -> u64 {
        self.written
    }

    async fn write(&mut self, chunk: Chunk) -> (Chunk, Result<(), StorageError>) {
        let upload = match self.take() {
            Ok(upload) => upload,
            Err(error) => return (chunk, Err(error)),
        };
        let (upload, chunk, result) = match self.placement {
            WritePlacement::Inline => write_chunk(upload, chunk),
            WritePlacement::Pool => {
                match tokio::task::spawn_blocking(move || write_chunk(upload, chunk)).await {
                    Ok(done) => done,
                    // The chunk went down with the task; the caller's next buffer is fresh.
                    Err(join) => {
                        let empty = Chunk::new(Box::new(Vec::<u8>::new()), 0);
                        return (empty, Err(task_lost(join)));
                    }
                }
            }
        };
        self.written = upload.bytes_written();
        self.upload = Some(upload);
        (chunk, result)
    }

    async fn commit(mut self: Box<Self>) -> Result<CommitInfo, StorageError> {
        let upload = self.take()?;
        blocking(move || upload.commit()).await
    }

    async fn abort(mut self: Box<Self>) {
        if let Ok(upload) = self.take()
            && let Err(join) = tokio::task::spawn_blocking(move || upload.abort()).await
        {
            tracing::warn!(%join, "aborting an upload failed");
        }
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        // An upload dropped uncommitted (a cancelled transfer task) is aborted off the async
        // threads when a runtime is there, since the abort may remove a temp file.
        if let Some(upload) = self.upload.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || upload.abort());
                }
                Err(_) => upload.abort(),
            }
        }
    }
}
