//! `[storage]`: where users' files live, the local disk (the default) or an S3-compatible
//! object store.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, duration};

/// Which storage backend serves the homes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BackendKind {
    /// A user's `home` is a local directory, confined with `cap-std`.
    #[default]
    Local,
    /// A user's `home` is a key prefix (`alice/`) in one S3 bucket.
    S3,
}

/// `[storage]` settings. Every S3 setting is ignored with `backend = "local"`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` or `s3`.
    pub backend: BackendKind,
    /// The S3 endpoint URL (`http://127.0.0.1:3900` for a local Garage); unset: AWS for the
    /// region.
    pub endpoint: Option<String>,
    /// The bucket holding every home.
    pub bucket: String,
    /// The region to sign requests for (`garage` for Garage's default).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key; better given as `WHARF_FTPD__STORAGE__SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// A key prefix for the whole daemon, put before every home (`""`: none).
    pub prefix: String,
    /// Memory, in MiB, that S3 uploads of this process may hold in part buffers together;
    /// an upload waits for room before it starts (each holds four parts of 5 MiB).
    pub upload_buffer_mib: u64,
    /// A multipart upload initiated longer ago than this is taken as abandoned (its daemon
    /// died) and aborted by the next sweep of its home; longer than any upload may take.
    #[serde(deserialize_with = "duration::deserialize")]
    pub stale_upload_age: Duration,
}

/// The `[storage]` defaults, read by [`FtpdConfig::default`](super::FtpdConfig::default).
pub(super) fn defaults() -> StorageConfig {
    StorageConfig {
        backend: BackendKind::Local,
        endpoint: None,
        bucket: String::new(),
        region: "us-east-1".to_owned(),
        access_key_id: String::new(),
        secret_access_key: String::new(),
        prefix: String::new(),
        upload_buffer_mib: 120,
        stale_upload_age: Duration::from_secs(24 * 60 * 60),
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        defaults()
    }
}

impl std::fmt::Debug for StorageConfig {
    /// Everything but the secret.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StorageConfig")
            .field("backend", &self.backend)
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("prefix", &self.prefix)
            .field("upload_buffer_mib", &self.upload_buffer_mib)
            .field("stale_upload_age", &self.stale_upload_age)
            .finish_non_exhaustive()
    }
}

impl StorageConfig {
    /// Checks the settings an S3 backend needs; the local backend needs none.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.backend != BackendKind::S3 {
            return Ok(());
        }
        let invalid = |key: &'static str, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        if self.bucket.is_empty() {
            return Err(invalid("storage.bucket", "required with backend = \"s3\""));
        }
        if self.access_key_id.is_empty() || self.secret_access_key.is_empty() {
            return Err(invalid(
                "storage.access_key_id",
                "an access key id and secret are required with backend = \"s3\"",
            ));
        }
        if self.prefix.starts_with('/') || self.prefix.split('/').any(|part| part == "..") {
            return Err(invalid(
                "storage.prefix",
                "a relative key prefix without `..` is needed",
            ));
        }
        let share = crate::storage::object::UPLOAD_BUFFER_MIB;
        if self.upload_buffer_mib < u64::from(share) {
            return Err(invalid(
                "storage.upload_buffer_mib",
                &format!("at least {share} (one upload's parts) is needed"),
            ));
        }
        if self.stale_upload_age.is_zero() {
            return Err(invalid(
                "storage.stale_upload_age",
                "must be longer than zero (and than any upload takes)",
            ));
        }
        Ok(())
    }
}
