//! Two wharf-ftpd nodes behind HAProxy, driven by curl, lftp and Python's ftplib through the
//! balancer only: the control port arrives with a PROXY v2 header, each node has its own
//! passive range (forwarded without a header) and advertises the balancer's address; EPSV and
//! PASV both work; FTPS passes through with the TLS session-reuse check on; logs and xferlog
//! name the client, never the balancer. The nodes share one users file, state directory and
//! home on this machine's disk.

mod support;
mod tls_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use support::common::ftpd::{self, FtpdProcess};
use support::common::users;
use support::{have, random_bytes};
use tls_support::pki;
use wharf_testkit::haproxy::Haproxy;
use wharf_testkit::port::DistinctPorts;

/// The balancer's address: clients see only this one.
const BALANCER: &str = "127.0.0.10";
/// Where the test clients connect from.
const CLIENT: &str = "127.0.0.5";
/// Passive ports per node.
const RANGE: u16 = 8;

/// Two nodes over one root and HAProxy in front of them.
struct Fleet {
    nodes: Vec<FtpdProcess>,
    _haproxy: Haproxy,
    control: SocketAddr,
    root: tempfile::TempDir,
    xferlog: std::path::PathBuf,
}

fn fleet(extra: &[&str]) -> Fleet {
    let root = tempfile::tempdir().unwrap();
    let users_file = users::write_alice(root.path());
    let xferlog = root.path().join("xferlog");
    let mut nodes = Vec::new();
    let mut ranges = Vec::new();
    // The frontends (the control one, one per passive range) bind only when HAProxy starts.
    let mut ports = DistinctPorts::default();
    for _ in 0..2 {
        let low = ports.range(BALANCER, RANGE);
        let range = format!("{low}-{}", low + RANGE - 1);
        let mut flags = vec![
            "--proxy-protocol-from",
            "127.0.0.1/32",
            "--passive-address",
            BALANCER,
            "--passive-ports",
            &range,
        ];
        flags.extend_from_slice(extra);
        nodes.push(ftpd::serve(
            "async",
            &users_file,
            &users::state_dir(root.path()),
            &flags,
            &[("WHARF_FTPD__LOG__XFERLOG", xferlog.to_str().unwrap())],
        ));
        ranges.push(low);
    }
    let control = SocketAddr::new(BALANCER.parse().unwrap(), ports.one());
    let mut config = format!(
        "frontend control\n    bind {control}\n    default_backend nodes\n\n\
         backend nodes\n    balance roundrobin\n"
    );
    for (index, node) in nodes.iter().enumerate() {
        config.push_str(&format!(
            "    server n{index} {} send-proxy-v2 source 127.0.0.1\n",
            node.addr()
        ));
    }
    for (index, low) in ranges.iter().enumerate() {
        config.push_str(&format!(
            "\nfrontend passive{index}\n    bind {BALANCER}:{low}-{}\n    default_backend passive{index}\n\n\
             backend passive{index}\n    server n{index} 127.0.0.1 source 127.0.0.1\n",
            low + RANGE - 1
        ));
    }
    let haproxy = Haproxy::start(&config, control);
    Fleet {
        nodes,
        _haproxy: haproxy,
        control,
        root,
        xferlog,
    }
}

impl Fleet {
    fn home(&self) -> std::path::PathBuf {
        users::home(self.root.path(), "alice")
    }

    fn url(&self, path: &str) -> String {
        format!("ftp://alice:secret@{}{path}", self.control)
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--interface",
            CLIENT,
            "--max-time",
            "60",
        ])
        .args(args)
        .output()
        .expect("run curl")
}

fn assert_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn curl_through_the_balancer_with_epsv_and_pasv_reaches_both_nodes() {
    let fleet = fleet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let payload = random_bytes(3 << 20, 5);
    let local = dir.path().join("payload.bin");
    std::fs::write(&local, &payload).unwrap();
    // Round robin: four sessions alternate between the nodes.
    for round in 0..4 {
        let name = format!("/up-{round}.bin");
        let epsv = round % 2 == 0;
        let mode: &[&str] = if epsv { &[] } else { &["--disable-epsv"] };
        let up = curl(&[mode, &["-T", local.to_str().unwrap(), &fleet.url(&name)]].concat());
        assert_ok(&up, &format!("upload {round}"));
        let back = dir.path().join(format!("back-{round}.bin"));
        let down = curl(&[mode, &["-o", back.to_str().unwrap(), &fleet.url(&name)]].concat());
        assert_ok(&down, &format!("download {round}"));
        assert!(
            std::fs::read(&back).unwrap() == payload,
            "round {round}: bytes differ"
        );
    }
    for (index, node) in fleet.nodes.iter().enumerate() {
        assert!(
            node.log_text().contains(&format!("peer={CLIENT}:")),
            "node {index} served the client: {}",
            node.log_text()
        );
        assert!(
            !node.log_text().contains("peer=127.0.0.1:"),
            "never the balancer"
        );
    }
    let xferlog = std::fs::read_to_string(&fleet.xferlog).unwrap();
    assert_eq!(xferlog.lines().count(), 8, "{xferlog}");
    assert!(
        xferlog
            .lines()
            .all(|line| line.contains(&format!(" {CLIENT} "))),
        "{xferlog}"
    );
}

#[test]
fn lftp_and_ftplib_through_the_balancer() {
    if !have("lftp") {
        panic!("lftp is not installed: scripts/test installs it");
    }
    let fleet = fleet(&[]);
    std::fs::write(fleet.home().join("hello.txt"), b"hello through haproxy\n").unwrap();
    let script = format!(
        "set ftp:passive-mode on; set net:max-retries 1; set ftp:ssl-allow no; \
         open -u alice,secret ftp://{}; cat hello.txt; put {} -o uploaded.txt; ls; bye",
        fleet.control,
        fleet.home().join("hello.txt").display()
    );
    let output = Command::new("lftp")
        .args(["-c", &script])
        .output()
        .expect("run lftp");
    assert_ok(&output, "lftp");
    assert!(String::from_utf8_lossy(&output.stdout).contains("hello through haproxy"));
    assert_eq!(
        std::fs::read(fleet.home().join("uploaded.txt")).unwrap(),
        b"hello through haproxy\n"
    );
    let ftplib = format!(
        r#"
import ftplib, io, socket, sys
for epsv in (False, True):
    ftp = ftplib.FTP(source_address=("{CLIENT}", 0), timeout=30)
    ftp.connect("{host}", {port})
    ftp.login("alice", "secret")
    if epsv:
        # ftplib sends EPSV instead of PASV for a connection it believes is IPv6.
        ftp.af = socket.AF_INET6
    ftp.storbinary("STOR py-%d.bin" % epsv, io.BytesIO(b"x" * 100000))
    data = io.BytesIO()
    ftp.retrbinary("RETR py-%d.bin" % epsv, data.write)
    if data.getvalue() != b"x" * 100000:
        sys.exit("bytes differ")
    if "{CLIENT}" not in ftp.sendcmd("STAT"):
        sys.exit("STAT does not name the client")
    ftp.quit()
print("ftplib ok")
"#,
        host = fleet.control.ip(),
        port = fleet.control.port()
    );
    let output = support::common::python::script(&ftplib)
        .output()
        .expect("run python3");
    assert_ok(&output, "ftplib");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ftplib ok");
}

#[test]
fn ftps_passes_through_the_balancer_with_session_reuse_required() {
    let pki = pki();
    let flags = pki.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let fleet = fleet(&flags);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("secret.bin");
    let payload = random_bytes(1 << 20, 9);
    std::fs::write(&local, &payload).unwrap();
    let ca = pki.ca.to_str().unwrap().to_string();
    for round in 0..2 {
        let name = format!("/tls-{round}.bin");
        let up = curl(&[
            "--ssl-reqd",
            "--cacert",
            &ca,
            "-T",
            local.to_str().unwrap(),
            &fleet.url(&name),
        ]);
        assert_ok(&up, &format!("FTPS upload {round}"));
        let back = dir.path().join("back.bin");
        let down = curl(&[
            "--ssl-reqd",
            "--cacert",
            &ca,
            "-o",
            back.to_str().unwrap(),
            &fleet.url(&name),
        ]);
        assert_ok(&down, &format!("FTPS download {round}"));
        assert!(std::fs::read(&back).unwrap() == payload);
    }
    for node in &fleet.nodes {
        assert!(
            !node.log_text().contains("did not resume"),
            "{}",
            node.log_text()
        );
    }
    assert!(Path::new(&fleet.home().join("tls-1.bin")).exists());
}

#[test]
fn the_documented_haproxy_configuration_is_valid() {
    let binary = wharf_testkit::haproxy::binary().expect("haproxy: scripts/test installs it");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cluster/haproxy.cfg");
    let output = Command::new(binary)
        .args(["-c", "-f", config])
        .output()
        .expect("run haproxy -c");
    assert_ok(&output, "haproxy -c docs/cluster/haproxy.cfg");
}
