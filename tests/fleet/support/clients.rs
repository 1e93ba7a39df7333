//! FTP clients nobody here wrote, each bound to a client address of its own on loopback (so
//! the nodes can tell clients apart, and HAProxy's own address stands out), reaching the fleet
//! through HAProxy only.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use super::PASSWORD;

/// curl from `from` with `args`; bounded in time.
pub fn curl(from: &str, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--interface", from])
        .args(["--max-time", "120"])
        .args(args)
        .output()
        .expect("run curl (scripts/test installs it)")
}

/// The URL of `path` for `user` at `control`.
pub fn url(user: &str, control: SocketAddr, path: &str) -> String {
    format!("ftp://{user}:{PASSWORD}@{control}/{path}")
}

/// Uploads `file` as `name` with curl (EPSV, the default); `extra` goes before the URL.
pub fn curl_put(
    from: &str,
    control: SocketAddr,
    user: &str,
    file: &Path,
    name: &str,
    extra: &[&str],
) -> Output {
    let file = file.to_string_lossy();
    let mut args = vec!["-T", &file];
    args.extend_from_slice(extra);
    let target = url(user, control, name);
    args.push(&target);
    curl(from, &args)
}

/// Downloads `name` into `out` with curl; `extra` goes before the URL.
pub fn curl_get(
    from: &str,
    control: SocketAddr,
    user: &str,
    name: &str,
    out: &Path,
    extra: &[&str],
) -> Output {
    let out = out.to_string_lossy();
    let mut args = vec!["-o", &out];
    args.extend_from_slice(extra);
    let source = url(user, control, name);
    args.push(&source);
    curl(from, &args)
}

/// lftp from `from`, logged in as `user` at `control`, running `commands` (PASV, lftp's
/// default) and stopping at the first that fails.
pub fn lftp(from: &str, control: SocketAddr, user: &str, commands: &str) -> Output {
    let script = format!(
        "set net:socket-bind-ipv4 {from}; set net:timeout 20; set net:max-retries 3; \
         set net:reconnect-interval-base 1; set net:reconnect-interval-max 2; \
         set ftp:ssl-allow no; set ftp:passive-mode true; set cmd:fail-exit yes; \
         set xfer:clobber yes; \
         open -u {user},{PASSWORD} -p {port} {host}; {commands}",
        port = control.port(),
        host = control.ip(),
    );
    Command::new("timeout")
        .args(["120", "lftp", "-c", &script])
        .output()
        .expect("run lftp (scripts/test installs it)")
}

/// Python's ftplib from `from` (control and data connections), logged in as `user` at
/// `control` as `ftp`; runs `body` with `sys.argv[1:] == args`.
pub fn ftplib(from: &str, control: SocketAddr, user: &str, body: &str, args: &[&str]) -> Output {
    let script = format!(
        "import ftplib, hashlib, sys\n\
         ftp = ftplib.FTP(source_address=({from:?}, 0), timeout=30)\n\
         ftp.connect({host:?}, {port})\n\
         ftp.login({user:?}, {PASSWORD:?})\n\
         {body}\n",
        host = control.ip().to_string(),
        port = control.port(),
    );
    wharf_testkit::python::script(&script)
        .args(args)
        .output()
        .expect("run python3")
}

/// The text of `output`'s standard output and standard error, for messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
