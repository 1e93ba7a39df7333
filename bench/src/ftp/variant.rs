//! The `wharf-ftpd` set-ups the benchmark measures: a concurrency mode, where the files live
//! (the local disk or an S3 bucket), where the users live (a TOML users file or PostgreSQL),
//! whether uploads are synced before their `226`, and the test user's quota. Each becomes one
//! configuration file and, for a users file, the file itself.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_users::users_file::CommandSettings;
use wharf_users::{UserRecord, UsersFile, UsersLocation};

use super::servers::{FtpdProgram, Programs};
use super::setup::{Credentials, Prepared, SetupError, free_port};

/// Session limits lifted above the largest idle count; long timeouts so slow ramps stay in.
const WHARF_LIMITS: &str = "max_sessions = 20000\nmax_sessions_per_ip = 20000\n\
                            idle_timeout = \"30m\"\nlogin_timeout = \"30m\"\n\
                            ban_after_failures = 0\n";

/// An S3 bucket and the key that may use it.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The region requests are signed for.
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

/// Where the test user's files live.
#[derive(Debug, Clone)]
pub enum Files {
    /// A local directory (`root` under the server's folder).
    Local,
    /// Keys under this prefix (`name/`) in an S3 bucket.
    S3 {
        /// The bucket.
        bucket: S3Bucket,
        /// The user's home prefix, ending in `/`.
        prefix: String,
    },
}

/// Where the users live.
#[derive(Debug, Clone)]
pub enum Users {
    /// A TOML users file in the server's folder.
    File,
    /// A PostgreSQL database: quotas, bans and session caps are then shared through it too.
    Postgres {
        /// `postgres://USER@HOST:PORT/DB`, without the password.
        url: String,
        /// The password, given to the daemon as `PGPASSWORD`.
        password: String,
    },
}

/// One `wharf-ftpd` set-up.
#[derive(Debug, Clone)]
pub struct WharfVariant {
    /// `async`, `threading`, `forking` or `sequential`.
    pub mode: &'static str,
    /// Where the files live.
    pub files: Files,
    /// Where the users live.
    pub users: Users,
    /// `server.durable_uploads`.
    pub durable_uploads: bool,
    /// The test user's byte quota (`None`: no limit).
    pub quota_bytes: Option<u64>,
}

impl WharfVariant {
    /// Local files, a users file, durable uploads (the daemon's defaults), no quota.
    pub fn defaults(mode: &'static str) -> WharfVariant {
        WharfVariant {
            mode,
            files: Files::Local,
            users: Users::File,
            durable_uploads: true,
            quota_bytes: None,
        }
    }

    /// The test user's record with its home in `root` (or its key prefix).
    pub fn record(&self, credentials: &Credentials, root: &Path) -> UserRecord {
        let home = match &self.files {
            Files::Local => root.to_path_buf(),
            Files::S3 { prefix, .. } => PathBuf::from(prefix),
        };
        UserRecord {
            name: credentials.user.clone(),
            password_hash: credentials.argon2_hash.clone(),
            home,
            quota_bytes: self.quota_bytes,
            quota_files: None,
            allow_exec: false,
            authorized_keys: Vec::new(),
        }
    }

    /// The `[storage]` section.
    fn storage_section(&self) -> String {
        match &self.files {
            Files::Local => String::new(),
            Files::S3 { bucket, .. } => format!(
                "\n[storage]\nbackend = \"s3\"\nendpoint = \"{}\"\nbucket = \"{}\"\n\
                 region = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
                bucket.endpoint,
                bucket.bucket,
                bucket.region,
                bucket.access_key_id,
                bucket.secret_access_key
            ),
        }
    }
}

/// Makes `variant`'s folder under `dir` (root, state, users file, configuration) and returns
/// how to start it. A PostgreSQL variant's user must be added with [`add_postgres_user`].
pub fn prepare(
    variant: &WharfVariant,
    programs: &Programs,
    credentials: &Credentials,
    dir: &Path,
) -> Result<Prepared, SetupError> {
    let root = dir.join("root");
    let io = |context: &str| {
        let context = context.to_string();
        move |source| SetupError::Io { context, source }
    };
    fs::create_dir_all(&root).map_err(io("creating the root"))?;
    let addr = free_port().map_err(io("finding a free port"))?;
    let command = command(variant, programs, credentials, dir, &root, addr)?;
    Ok(Prepared {
        command,
        addr,
        root,
        log: dir.join("server.log"),
    })
}

/// Writes the users file (for [`Users::File`]) and the configuration; returns the command.
pub(super) fn command(
    variant: &WharfVariant,
    programs: &Programs,
    credentials: &Credentials,
    dir: &Path,
    root: &Path,
    addr: SocketAddr,
) -> Result<Command, SetupError> {
    let users_setting = match &variant.users {
        Users::File => {
            let users = dir.join("users.toml");
            let mut file = UsersFile::empty(&users);
            file.add(variant.record(credentials, root))?;
            file.save()?;
            users.display().to_string()
        }
        Users::Postgres { url, .. } => url.clone(),
    };
    let state = dir.join("state");
    let config = format!(
        "[server]\nlisten = [\"{addr}\"]\nmode = \"{}\"\nusers_file = \"{users_setting}\"\n\
         state_dir = \"{}\"\ndurable_uploads = {}\n\n[limits]\n{WHARF_LIMITS}{}",
        variant.mode,
        state.display(),
        variant.durable_uploads,
        variant.storage_section()
    );
    let config_path = dir.join("wharf-ftpd.toml");
    fs::write(&config_path, config).map_err(|source| SetupError::Io {
        context: "writing wharf-ftpd.toml".into(),
        source,
    })?;
    let mut command = match &programs.ftpd {
        FtpdProgram::Binary(path) => {
            let mut command = Command::new(path);
            command.arg("serve");
            command
        }
        FtpdProgram::BuiltIn(bench) => {
            let mut command = Command::new(bench);
            command.arg(super::SERVE_FTPD);
            command
        }
    };
    // Warnings only, as the peers log nothing per session by default.
    command
        .arg("--config")
        .arg(&config_path)
        .env("RUST_LOG", "warn");
    if let Users::Postgres { password, .. } = &variant.users {
        command.env("PGPASSWORD", password);
    }
    Ok(command)
}

/// Adds `record` to the PostgreSQL users database at `url` (password included), applying
/// the schema first; an existing user of that name is replaced.
pub async fn add_postgres_user(url: &str, record: UserRecord) -> Result<(), SetupError> {
    let location = UsersLocation::parse(url)?;
    let store = tokio::task::spawn_blocking(move || wharf_users::store::open(&location))
        .await
        .map_err(|join| SetupError::Tool {
            program: "the users database".into(),
            detail: join.to_string(),
        })??;
    // A previous variant's record of the same name (another home) goes first.
    let _ = store.remove(&record.name).await;
    store.add(record, CommandSettings::default()).await?;
    Ok(())
}
