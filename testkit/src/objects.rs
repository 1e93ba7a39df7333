//! What a [`Garage`] stores, read and written with boto3 (Python's AWS SDK), an S3 client
//! independent of the daemons under test: object digests, listings, unfinished multipart
//! uploads, and objects placed behind a daemon's back.

use crate::garage::Garage;

/// The boto3 client the scripts share, configured from the environment [`Objects`] sets.
const PRELUDE: &str = r#"
import hashlib, os, sys, time
import boto3
from botocore.config import Config
S3 = boto3.client(
    "s3",
    endpoint_url=os.environ["WHARF_S3_ENDPOINT"],
    region_name=os.environ["WHARF_S3_REGION"],
    aws_access_key_id=os.environ["WHARF_S3_KEY_ID"],
    aws_secret_access_key=os.environ["WHARF_S3_SECRET"],
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                  request_checksum_calculation="when_required",
                  response_checksum_validation="when_required"),
)
BUCKET = os.environ["WHARF_S3_BUCKET"]
"#;

/// Prints `SIZE SHA256` of each key in `argv[1:]`, or `- -` for a key with no object.
const DIGESTS: &str = r#"
for key in sys.argv[1:]:
    try:
        data = S3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        print(len(data), hashlib.sha256(data).hexdigest())
    except S3.exceptions.NoSuchKey:
        print("- -")
"#;

/// Prints `SIZE KEY` for every object under the prefix `argv[1]`.
const LIST: &str = r#"
for page in S3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=sys.argv[1]):
    for item in page.get("Contents", []):
        print(item["Size"], item["Key"])
"#;

/// Prints the key of every multipart upload under the prefix `argv[1]` that is still open.
const UPLOADS: &str = r#"
for upload in S3.list_multipart_uploads(Bucket=BUCKET, Prefix=sys.argv[1]).get("Uploads", []):
    print(upload["Key"])
"#;

/// Stores the file `argv[2]` as the object `argv[1]`.
const PUT: &str = r#"
with open(sys.argv[2], "rb") as source:
    S3.put_object(Bucket=BUCKET, Key=sys.argv[1], Body=source.read())
"#;

/// Reads and writes the objects of one Garage bucket without any daemon.
#[derive(Clone, Copy)]
pub struct Objects<'a> {
    /// The store.
    garage: &'a Garage,
}

impl<'a> Objects<'a> {
    /// The objects of `garage`'s bucket.
    pub fn new(garage: &'a Garage) -> Objects<'a> {
        Objects { garage }
    }

    /// Runs `PRELUDE + script` with `args`; it must succeed. Its standard output.
    fn run(&self, script: &str, args: &[&str]) -> String {
        let garage = self.garage;
        let output = crate::python::script(&format!("{PRELUDE}{script}"))
            .args(args)
            .env("WHARF_S3_ENDPOINT", garage.endpoint())
            .env("WHARF_S3_REGION", garage.region())
            .env("WHARF_S3_KEY_ID", garage.access_key_id())
            .env("WHARF_S3_SECRET", garage.secret_access_key())
            .env("WHARF_S3_BUCKET", garage.bucket())
            .output()
            .expect("python3 with boto3 (scripts/test installs both)");
        assert!(
            output.status.success(),
            "boto3 script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 from the boto3 script")
    }

    /// The size and SHA-256 (lowercase hex) of each object in `keys`; `None` where there is
    /// no object.
    pub fn digests(&self, keys: &[&str]) -> Vec<Option<(u64, String)>> {
        let output = self.run(DIGESTS, keys);
        let found: Vec<Option<(u64, String)>> = output
            .lines()
            .map(|line| {
                let (size, digest) = line.split_once(' ')?;
                Some((size.parse().ok()?, digest.to_owned()))
            })
            .collect();
        assert_eq!(found.len(), keys.len(), "one line per key: {output}");
        found
    }

    /// The size and SHA-256 of the object `key`; `None` if there is none.
    pub fn digest(&self, key: &str) -> Option<(u64, String)> {
        self.digests(&[key]).pop().flatten()
    }

    /// Every object under `prefix`: its key and size, sorted by key.
    pub fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> = self
            .run(LIST, &[prefix])
            .lines()
            .filter_map(|line| {
                let (size, key) = line.split_once(' ')?;
                Some((key.to_owned(), size.parse().ok()?))
            })
            .collect();
        found.sort();
        found
    }

    /// The keys of the multipart uploads under `prefix` that were neither completed nor
    /// aborted.
    pub fn unfinished_uploads(&self, prefix: &str) -> Vec<String> {
        self.run(UPLOADS, &[prefix])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Stores `content` as the object `key`.
    pub fn put(&self, key: &str, content: &[u8]) {
        let dir = tempfile::tempdir().expect("temp dir");
        let source = dir.path().join("content");
        std::fs::write(&source, content).expect("write the content");
        self.run(PUT, &[key, source.to_str().expect("UTF-8 temp path")]);
    }
}
