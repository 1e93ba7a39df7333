//! SIGHUP reload of `wharf-ftpd serve --config FILE`, in async, threading and forking modes: a
//! running session keeps working on the settings it started with while new sessions get the
//! new ones (a greeting, an idle timeout, a certificate); a broken file or an unreadable
//! certificate is refused and the running configuration stays; a restart-only setting
//! (listen address, mode, session limit) is named in the log and not applied.

mod support;
mod tls_support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::Daemon;
use support::common::ftpd::{self, FtpdProcess};
use support::common::users;
use support::raw::{Raw, Reply};
use tls_support::raw_tls::{Channel, TlsRaw, data_tcp, handshake, read_all, write_and_close};
use tls_support::{Pki, pki};
use wharf_testkit::daemon::DaemonBuilder;
use wharf_testkit::process::children;

/// Modes whose accept loop runs beside live sessions (sequential serves one at a time).
const MODES: [&str; 3] = ["async", "threading", "forking"];

/// How long a reload may take to show in the log.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// The log line of an accepted reload.
const RELOADED: &str = "configuration reloaded";
/// The log line of a refused reload.
const REFUSED: &str = "configuration reload refused";

/// A configuration file in a directory of its own (granted to a confined daemon for reading).
struct ConfigFile {
    /// Holds the file.
    _dir: tempfile::TempDir,
    /// The file.
    path: PathBuf,
}

impl ConfigFile {
    /// A file holding `text`.
    fn new(text: &str) -> ConfigFile {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ftpd.toml");
        let file = ConfigFile { _dir: dir, path };
        file.write(text);
        file
    }

    /// Replaces the content as an editor saving it would: a new file renamed over the old.
    fn write(&self, text: &str) {
        replace_file(&self.path, text.as_bytes());
    }

    /// The `serve` flag naming it.
    fn flags(&self) -> [&str; 2] {
        ["--config", self.path.to_str().expect("utf-8 path")]
    }
}

/// Writes `bytes` to a new file beside `path` and renames it over `path`.
fn replace_file(path: &Path, bytes: &[u8]) {
    let next = path.with_extension("next");
    let mut file = std::fs::File::create(&next).expect("create");
    file.write_all(bytes).expect("write");
    file.sync_all().expect("sync");
    std::fs::rename(&next, path).expect("rename");
}

/// A `[server]` section with `greeting`.
fn with_greeting(greeting: &str) -> String {
    format!("[server]\ngreeting = \"{greeting}\"\n")
}

/// How many lines of `log` contain `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|line| line.contains(needle)).count()
}

/// Sends SIGHUP to `pid` and waits until one more line of `log()` contains `needle`; returns
/// the log.
fn hangup_pid_and_wait(pid: u32, log: &dyn Fn() -> String, needle: &str) -> String {
    let before = count(&log(), needle);
    let pid = i32::try_from(pid).expect("pid");
    kill(Pid::from_raw(pid), Signal::SIGHUP).expect("SIGHUP");
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let text = log();
        if count(&text, needle) > before {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no new {needle:?} line after SIGHUP:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`hangup_pid_and_wait`] for a [`Daemon`].
fn hangup_and_wait(daemon: &Daemon, needle: &str) -> String {
    hangup_pid_and_wait(daemon.pid(), &|| daemon.log_text(), needle)
}

/// Connects and returns the session with its greeting, asserted to be a 220.
fn connect(daemon: &Daemon) -> (Raw, Reply) {
    let (raw, greeting) = Raw::connect(daemon.addr);
    assert_eq!(greeting.code, 220, "{}: {greeting:?}", daemon.mode);
    (raw, greeting)
}

/// Stores `content` as `name` over a plain EPSV data connection.
fn store(raw: &mut Raw, daemon: &Daemon, name: &str, content: &[u8]) {
    let mut data = raw.epsv(daemon.addr);
    assert_eq!(
        raw.cmd(&format!("STOR {name}")).code,
        150,
        "{}",
        daemon.mode
    );
    data.write_all(content).expect("upload");
    drop(data);
    let done = raw.reply();
    assert_eq!(done.code, 226, "{}: {done:?}", daemon.mode);
}

/// Reads `name` over a plain EPSV data connection.
fn retrieve(raw: &mut Raw, daemon: &Daemon, name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut data = raw.epsv(daemon.addr);
    let started = raw.cmd(&format!("RETR {name}"));
    assert_eq!(started.code, 150, "{}: {started:?}", daemon.mode);
    let mut content = Vec::new();
    data.read_to_end(&mut content).expect("download");
    assert_eq!(raw.reply().code, 226, "{}", daemon.mode);
    content
}

#[test]
fn sighup_applies_a_new_greeting_to_new_sessions_and_spares_running_ones() {
    for mode in MODES {
        let config = ConfigFile::new(&with_greeting("first greeting"));
        let daemon = Daemon::start_with(mode, &[("alice", "secret")], &config.flags(), &[]);
        let (mut running, greeting) = connect(&daemon);
        assert!(
            greeting.text().contains("first greeting"),
            "{mode}: {greeting:?}"
        );
        running.user_pass("alice", "secret");

        // A new greeting, and an idle timeout short enough to watch.
        config.write(&format!(
            "{}[limits]\nidle_timeout = \"1s\"\n",
            with_greeting("second greeting")
        ));
        hangup_and_wait(&daemon, RELOADED);
        // The running session: a transfer, a listing and a NOOP, all still served.
        store(
            &mut running,
            &daemon,
            "during.txt",
            b"stored across a reload",
        );
        let mut data = running.epsv(daemon.addr);
        assert_eq!(running.cmd("NLST").code, 150, "{mode}");
        let mut names = String::new();
        std::io::Read::read_to_string(&mut data, &mut names).expect("listing");
        assert_eq!(running.reply().code, 226, "{mode}");
        assert!(names.contains("during.txt"), "{mode}: {names:?}");
        assert_eq!(running.cmd("NOOP").code, 200, "{mode}");
        // A new session (in forking mode a child forked after the reload) greets anew.
        let (mut fresh, greeting) = connect(&daemon);
        assert!(
            greeting.text().contains("second greeting"),
            "{mode}: {greeting:?}"
        );
        fresh.user_pass("alice", "secret");
        assert_eq!(
            retrieve(&mut fresh, &daemon, "during.txt"),
            b"stored across a reload",
            "{mode}"
        );
        // Both stay silent past the new idle timeout: the new session is closed by it, the
        // running one still has the timeout it started with.
        std::thread::sleep(Duration::from_millis(1500));
        let closed = fresh.reply();
        assert_eq!(closed.code, 421, "{mode}: {closed:?}");
        assert!(closed.text().contains("Idle timeout"), "{mode}: {closed:?}");
        assert_eq!(
            running.cmd("NOOP").code,
            200,
            "{mode}: the old idle timeout"
        );

        // A file that does not parse, then a value that is refused: both leave the second
        // configuration in force.
        for (broken, why) in [
            ("[server\ngreeting = \"never\"\n", "TOML parse error"),
            (
                "[server]\ngreeting = \"never\"\n[limits]\nmax_line_length = 10\n",
                "limits.max_line_length",
            ),
        ] {
            config.write(broken);
            let log = hangup_and_wait(&daemon, REFUSED);
            let refusal = log
                .lines()
                .rfind(|line| line.contains(REFUSED))
                .expect("refusal line");
            assert!(refusal.contains(why), "{mode}: {refusal}");
            let (mut fresh, greeting) = connect(&daemon);
            assert!(
                greeting.text().contains("second greeting"),
                "{mode}: {why}: {greeting:?}"
            );
            assert_eq!(fresh.cmd("QUIT").code, 221, "{mode}");
        }
        assert_eq!(running.cmd("NOOP").code, 200, "{mode}");

        // A restart-only setting beside a reloadable one: the greeting changes, the session
        // limit does not (one session is running and a second is still welcome).
        config.write(&format!(
            "{}[limits]\nmax_sessions = 1\n",
            with_greeting("third greeting")
        ));
        let log = hangup_and_wait(&daemon, RELOADED);
        assert!(
            log.lines().any(|line| line.contains("WARN")
                && line.contains("limits.max_sessions changed but needs a restart")),
            "{mode}: the restart-only setting is named:\n{log}"
        );
        let (mut second, greeting) = connect(&daemon);
        assert!(
            greeting.text().contains("third greeting"),
            "{mode}: {greeting:?}"
        );
        second.user_pass("alice", "secret");
        assert_eq!(second.cmd("QUIT").code, 221, "{mode}");
        assert_eq!(running.cmd("NOOP").code, 200, "{mode}");
        assert_eq!(running.cmd("QUIT").code, 221, "{mode}");
    }
}

/// A daemon's TLS files laid out as certbot does: `live/` holds symbolic links into
/// `archive/`, where each renewal adds numbered files; a renewal moves the links.
struct CertFiles {
    /// Holds `live/` and `archive/`.
    dir: tempfile::TempDir,
    /// Renewals so far (the number in the archived names).
    renewals: std::cell::Cell<u32>,
}

impl CertFiles {
    /// The files of `pki`.
    fn new(pki: &Pki) -> CertFiles {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["live", "archive"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        let files = CertFiles {
            dir,
            renewals: std::cell::Cell::new(0),
        };
        files.install(pki);
        files
    }

    /// Archives `pki`'s certificate and key under new names and moves the links to them (a
    /// new link renamed over the old one).
    fn install(&self, pki: &Pki) {
        let renewal = self.renewals.get() + 1;
        self.renewals.set(renewal);
        for (source, link) in [(&pki.cert, self.cert()), (&pki.key, self.key())] {
            let stem = link.file_stem().and_then(|s| s.to_str()).expect("name");
            let archived = self.dir.path().join(format!("archive/{stem}{renewal}.pem"));
            std::fs::copy(source, &archived).expect("archive");
            let next = link.with_extension("next");
            std::os::unix::fs::symlink(format!("../archive/{stem}{renewal}.pem"), &next)
                .expect("symlink");
            std::fs::rename(&next, &link).expect("move the link");
        }
    }

    /// The certificate chain's path (a link).
    fn cert(&self) -> PathBuf {
        self.dir.path().join("live/cert.pem")
    }

    /// The key's path (a link).
    fn key(&self) -> PathBuf {
        self.dir.path().join("live/key.pem")
    }

    /// A configuration offering FTPS with `cert`.
    fn config(&self, cert: &Path, greeting: &str) -> String {
        format!(
            "{}[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            with_greeting(greeting),
            cert.display(),
            self.key().display()
        )
    }
}

/// The leaf certificate `pki` made for the server, DER.
fn leaf(pki: &Pki) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(&pki.cert).expect("leaf certificate")
}

/// Connects, switches to TLS trusting `client`'s CA, and logs in; returns the session and
/// the certificate the server presented.
fn secure_session(
    daemon: &Daemon,
    client: &Arc<ClientConfig>,
) -> (TlsRaw, CertificateDer<'static>) {
    let (mut raw, greeting) = TlsRaw::connect(daemon.addr);
    assert_eq!(greeting.code, 220, "{}", daemon.mode);
    raw.secure_login(client, "alice", "secret");
    let (Channel::Tls(stream), _) = raw.transport() else {
        panic!("{}: not TLS after AUTH TLS", daemon.mode);
    };
    let presented = stream
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("server certificate")
        .clone()
        .into_owned();
    (raw, presented)
}

#[test]
fn sighup_serves_a_new_certificate_to_new_sessions() {
    let (old_pki, new_pki) = (pki(), pki());
    for mode in ["async", "forking"] {
        let files = CertFiles::new(&old_pki);
        let config = ConfigFile::new(&files.config(&files.cert(), "tls"));
        let daemon = Daemon::start_with(mode, &[("alice", "secret")], &config.flags(), &[]);
        let old_client = old_pki.client_config();
        let (mut running, presented) = secure_session(&daemon, &old_client);
        assert_eq!(presented, leaf(&old_pki), "{mode}");

        files.install(&new_pki);
        hangup_and_wait(&daemon, RELOADED);
        let new_client = new_pki.client_config();
        let (mut fresh, presented) = secure_session(&daemon, &new_client);
        assert_eq!(presented, leaf(&new_pki), "{mode}: the new certificate");
        assert_eq!(fresh.cmd("QUIT").code, 221, "{mode}");
        // Only the new certificate is served now: a client trusting the old CA alone fails.
        let (mut stranger, _) = TlsRaw::connect(daemon.addr);
        assert_eq!(stranger.cmd("AUTH TLS").code, 234, "{mode}");
        let (Channel::Clear(stream), _) = stranger.transport() else {
            panic!("clear before the handshake");
        };
        let stream = stream.try_clone().expect("clone");
        assert!(
            handshake(&old_client, stream).is_err(),
            "{mode}: the old certificate is no longer presented"
        );

        // The running session keeps its TLS: a protected upload on a data connection that
        // resumes the control connection's session, then a listing.
        let addr = running.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(running.cmd("STOR kept.txt").code, 150, "{mode}");
        let tls = handshake(&old_client, data).expect("data handshake on the old session");
        write_and_close(tls, b"old certificate session").expect("upload");
        assert_eq!(running.reply().code, 226, "{mode}: {}", daemon.log_text());
        let addr = running.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(running.cmd("NLST").code, 150, "{mode}");
        let mut tls = handshake(&old_client, data).expect("listing handshake");
        let names = read_all(&mut tls).expect("listing");
        assert_eq!(running.reply().code, 226, "{mode}");
        assert!(
            String::from_utf8_lossy(&names).contains("kept.txt"),
            "{mode}"
        );

        // A certificate that cannot be read is refused; the new one stays in force.
        let missing = files.dir.path().join("live/missing.pem");
        config.write(&files.config(&missing, "never"));
        let log = hangup_and_wait(&daemon, REFUSED);
        assert!(
            log.lines()
                .any(|line| line.contains(REFUSED) && line.contains("missing.pem")),
            "{mode}: the refusal names the file:\n{log}"
        );
        let (mut after, presented) = secure_session(&daemon, &new_client);
        assert_eq!(
            presented,
            leaf(&new_pki),
            "{mode}: still the new certificate"
        );
        assert_eq!(after.cmd("QUIT").code, 221, "{mode}");
        assert_eq!(running.cmd("NOOP").code, 200, "{mode}");
        assert_eq!(running.cmd("QUIT").code, 221, "{mode}");
    }
}

/// Starts `wharf-ftpd serve --config FILE` with no other flag (the listen address and the
/// mode come from the file too) and waits until it listens; stopped (SIGTERM, then SIGKILL)
/// on drop.
fn start_on_file(config: &ConfigFile) -> FtpdProcess {
    DaemonBuilder::new(ftpd::BIN)
        .args(["serve", "--config"])
        .arg(&config.path)
        .env("RUST_LOG", "info")
        .start_timeout(RELOAD_TIMEOUT)
        .start()
}

/// A whole configuration: listen address, mode, users and state under `root`, greeting.
fn full_config(root: &Path, listen: &str, mode: &str, greeting: &str) -> String {
    format!(
        "[server]\nlisten = [\"{listen}\"]\nmode = \"{mode}\"\nusers_file = \"{}\"\n\
         state_dir = \"{}\"\ngreeting = \"{greeting}\"\n",
        users::users_file(root).display(),
        users::state_dir(root).display()
    )
}

#[test]
fn sighup_names_a_changed_listen_address_and_mode_and_keeps_them() {
    for mode in ["async", "forking"] {
        let root = tempfile::tempdir().expect("temp dir");
        users::write_alice(root.path());
        let config = ConfigFile::new(&full_config(root.path(), "127.0.0.1:0", mode, "before"));
        let daemon = start_on_file(&config);
        let pid = daemon.pid().expect("the daemon runs");
        // A port nothing listens on, for the new (refused) address.
        let elsewhere = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port");
        let other_mode = if mode == "async" { "forking" } else { "async" };
        config.write(&full_config(
            root.path(),
            &elsewhere.to_string(),
            other_mode,
            "after",
        ));
        let log = hangup_pid_and_wait(pid, &|| daemon.log_text(), RELOADED);
        for setting in ["server.listen", "server.mode"] {
            assert!(
                log.lines().any(|line| line.contains("WARN")
                    && line.contains(&format!("{setting} changed but needs a restart"))),
                "{mode}: {setting} is named:\n{log}"
            );
        }
        assert!(
            TcpStream::connect(elsewhere).is_err(),
            "{mode}: nothing listens on the new address"
        );
        let (mut session, greeting) = Raw::connect(daemon.addr());
        assert!(greeting.text().contains("after"), "{mode}: {greeting:?}");
        session.user_pass("alice", "secret");
        // The running mode shows in the process tree: a forking daemon serves the session
        // in a child process, an async one in itself.
        let children = children(pid).len();
        assert_eq!(
            children > 0,
            mode == "forking",
            "{mode}: {children} child processes while a session runs"
        );
        assert_eq!(session.cmd("QUIT").code, 221, "{mode}");
    }
}
