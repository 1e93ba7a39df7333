//! Multipart uploads that no daemon will finish: those of a daemon killed mid-upload (a failed,
//! cut or refused upload aborts its own). They are listed with ListMultipartUploads under the
//! home's prefix and aborted (AbortMultipartUpload) once initiated longer ago than
//! `storage.stale_upload_age`, as an `AbortIncompleteMultipartUpload` lifecycle rule would: an
//! upload that another daemon sharing the bucket is still sending is younger than that, so it
//! is left alone.
//!
//! OpenDAL can abort only the uploads of its own writers and cannot list any, so these two
//! requests are made here: signed by reqsign's SigV4 signer (the one OpenDAL signs with) and
//! sent through OpenDAL's process-wide HTTP transport (the same client and connection pool).

use std::time::{Duration, SystemTime};

use http::{Method, Request};
use opendal::{Buffer, HttpTransporter};
use reqsign_aws_v4::{Credential, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, Signer};
use serde::Deserialize;

use crate::config::storage::StorageConfig;
use crate::storage::error::StorageError;
use crate::storage::path::VirtualPath;

/// Most listing pages read in one sweep (1000 uploads a page), so a bucket full of someone
/// else's uploads cannot keep a sweep going for ever.
const MAX_PAGES: usize = 100;

/// The bucket's multipart uploads, as a sweep sees them.
#[derive(Clone)]
pub(super) struct StaleUploads {
    /// `{endpoint}/{bucket}`: the bucket addressed path-style, as OpenDAL addresses it.
    bucket_url: String,
    /// Signs each request with the configured key.
    signer: Signer<Credential>,
    /// Uploads initiated longer ago than this are taken as abandoned.
    age: Duration,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ListMultipartUploadsResult {
    /// Whether more pages follow.
    is_truncated: bool,
    /// Where the next page starts (with the upload id marker).
    next_key_marker: Option<String>,
    /// Where the next page starts among the uploads of one key.
    next_upload_id_marker: Option<String>,
    /// The uploads on this page.
    #[serde(rename = "Upload")]
    uploads: Vec<ListedUpload>,
}

/// One incomplete multipart upload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    /// The object key it would create.
    key: String,
    /// Its id, needed to abort it.
    upload_id: String,
    /// When it was started (RFC 3339, the service's clock).
    initiated: String,
}

impl std::fmt::Debug for StaleUploads {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StaleUploads")
            .field("bucket_url", &self.bucket_url)
            .field("age", &self.age)
            .finish_non_exhaustive()
    }
}

impl StaleUploads {
    /// The sweeper for the configured bucket and key.
    pub(super) fn new(config: &StorageConfig) -> StaleUploads {
        let endpoint = match &config.endpoint {
            Some(endpoint) if endpoint.starts_with("http") => endpoint.clone(),
            Some(endpoint) => format!("https://{endpoint}"),
            // OpenDAL's endpoint for AWS in a region.
            None => format!("https://s3.{}.amazonaws.com", config.region),
        };
        let credentials =
            StaticCredentialProvider::new(&config.access_key_id, &config.secret_access_key);
        StaleUploads {
            bucket_url: format!(
                "{}/{}",
                endpoint.trim_end_matches('/'),
                encode(&config.bucket, false)
            ),
            signer: Signer::new(
                Context::new(),
                credentials,
                RequestSigner::new("s3", &config.region),
            ),
            age: config.stale_upload_age,
        }
    }

    /// Aborts every multipart upload under `prefix` initiated more than the configured age ago;
    /// returns how many it aborted. `path` names the home in errors.
    pub(super) async fn sweep(
        &self,
        prefix: &str,
        path: &VirtualPath,
    ) -> Result<usize, StorageError> {
        let now = SystemTime::now();
        let mut aborted = 0;
        let mut marker: Option<(String, String)> = None;
        for _ in 0..MAX_PAGES {
            let page = self.list(prefix, marker.as_ref(), path).await?;
            for upload in &page.uploads {
                // Re-checked: a listing that ignored the prefix must not reach other homes.
                if !upload.key.starts_with(prefix) || !self.is_stale(upload, now) {
                    continue;
                }
                self.abort(upload, path).await?;
                tracing::info!(key = %upload.key, initiated = %upload.initiated, "aborted a stale multipart upload");
                aborted += 1;
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), upload_id) => {
                    marker = Some((key, upload_id.unwrap_or_default()));
                }
                _ => return Ok(aborted),
            }
        }
        Ok(aborted)
    }

    /// Whether `upload` was initiated more than the age before `now`. An unreadable time
    /// counts as young: never abort what may be alive.
    fn is_stale(&self, upload: &ListedUpload, now: SystemTime) -> bool {
        let Ok(initiated) = upload.initiated.parse::<opendal::raw::Timestamp>() else {
            tracing::warn!(key = %upload.key, initiated = %upload.initiated, "multipart upload with an unreadable start time");
            return false;
        };
        now.duration_since(SystemTime::from(initiated))
            .is_ok_and(|elapsed| elapsed > self.age)
    }

    /// One page of ListMultipartUploads under `prefix`, after `marker`.
    async fn list(
        &self,
        prefix: &str,
        marker: Option<&(String, String)>,
        path: &VirtualPath,
    ) -> Result<ListMultipartUploadsResult, StorageError> {
        // Query parameters in sorted order, as the signature's canonical request has them.
        let mut query = String::new();
        if let Some((key, upload_id)) = marker {
            query.push_str(&format!("key-marker={}&", encode(key, false)));
            query.push_str(&format!("prefix={}&", encode(prefix, false)));
            query.push_str(&format!("upload-id-marker={}&", encode(upload_id, false)));
        } else {
            query.push_str(&format!("prefix={}&", encode(prefix, false)));
        }
        query.push_str("uploads=");
        let url = format!("{}?{query}", self.bucket_url);
        let body = self.send(Method::GET, &url, 200, path).await?;
        quick_xml::de::from_reader(body.as_slice()).map_err(|error| StorageError::Backend {
            path: path.clone(),
            message: format!("unreadable ListMultipartUploads reply: {error}"),
        })
    }

    /// AbortMultipartUpload; an upload already gone (another daemon swept it) is fine.
    async fn abort(&self, upload: &ListedUpload, path: &VirtualPath) -> Result<(), StorageError> {
        let url = format!(
            "{}/{}?uploadId={}",
            self.bucket_url,
            encode(&upload.key, true),
            encode(&upload.upload_id, false)
        );
        match self.send(Method::DELETE, &url, 204, path).await {
            Err(StorageError::NotFound { .. }) | Ok(_) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Sends a signed request without a body; the reply body if the status is `expected`.
    async fn send(
        &self,
        method: Method,
        url: &str,
        expected: u16,
        path: &VirtualPath,
    ) -> Result<Vec<u8>, StorageError> {
        let failed = |message: String| StorageError::Backend {
            path: path.clone(),
            message,
        };
        let request = Request::builder()
            .method(method)
            .uri(url)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .body(Buffer::new())
            .map_err(|error| failed(format!("bad request {url}: {error}")))?;
        let (mut parts, body) = request.into_parts();
        self.signer
            .sign(&mut parts, None)
            .await
            .map_err(|error| failed(format!("cannot sign {url}: {error}")))?;
        // The client sets Host itself, as OpenDAL leaves it to.
        parts.headers.remove(http::header::HOST);
        let response = HttpTransporter::default()
            .send(Request::from_parts(parts, body))
            .await
            .map_err(|error| failed(format!("{url}: {error}")))?;
        let status = response.status().as_u16();
        let body = response.into_body().to_vec();
        match status {
            status if status == expected => Ok(body),
            404 => Err(StorageError::NotFound { path: path.clone() }),
            status => Err(failed(format!(
                "{url}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ))),
        }
    }
}

/// `text` percent-encoded as SigV4 wants (every byte but `A-Za-z0-9-_.~`, and `/` in a path).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte));
            }
            b'/' if keep_slash => encoded.push('/'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_bytes_and_path_slashes() {
        assert_eq!(
            encode("t-x/alice/a b+c=é", true),
            "t-x/alice/a%20b%2Bc%3D%C3%A9"
        );
        assert_eq!(encode("t-x/alice/", false), "t-x%2Falice%2F");
    }

    #[test]
    fn a_listing_page_is_read_with_its_uploads_and_markers() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>wharf</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>p/alice/b.bin</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
  <Prefix>p/alice/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>p/alice/a.bin</Key><UploadId>u1</UploadId><Initiated>2026-01-02T03:04:05.000Z</Initiated></Upload>
  <Upload><Key>p/alice/b.bin</Key><UploadId>u2</UploadId><Initiated>2026-01-02T03:04:06Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page: ListMultipartUploadsResult =
            quick_xml::de::from_reader(xml.as_bytes()).expect("parse");
        assert!(page.is_truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("p/alice/b.bin"));
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("u2"));
        let keys: Vec<_> = page.uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["p/alice/a.bin", "p/alice/b.bin"]);
        let empty: ListMultipartUploadsResult = quick_xml::de::from_reader(
            &b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"[..],
        )
        .expect("parse empty");
        assert!(empty.uploads.is_empty() && !empty.is_truncated);
    }

    #[test]
    fn only_uploads_older_than_the_age_are_stale() {
        let config = StorageConfig {
            stale_upload_age: Duration::from_secs(3600),
            ..StorageConfig::default()
        };
        let sweeper = StaleUploads::new(&config);
        let upload = |initiated: &str| ListedUpload {
            key: "k".to_owned(),
            upload_id: "u".to_owned(),
            initiated: initiated.to_owned(),
        };
        let now: SystemTime = "2026-01-02T12:00:00Z"
            .parse::<opendal::raw::Timestamp>()
            .expect("time")
            .into();
        assert!(sweeper.is_stale(&upload("2026-01-02T10:59:59.000Z"), now));
        assert!(!sweeper.is_stale(&upload("2026-01-02T11:00:01Z"), now));
        assert!(
            !sweeper.is_stale(&upload("2026-01-02T13:00:00Z"), now),
            "clock ahead"
        );
        assert!(!sweeper.is_stale(&upload("yesterday"), now), "unreadable");
    }
}
