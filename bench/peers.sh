#!/usr/bin/env bash
# Runs the FTP benchmark in one command: installs the peers, builds wharf-ftpd and the load
# generator, then measures vsftpd, pure-ftpd, ProFTPD, pyftpdlib and wharf-ftpd in every concurrency
# mode side by side, with the loopback limit (own TCP sink and iperf3), on 127.0.0.1 only.
#
# Prints the tables (as recorded in docs/benchmarks.md), writes target/bench/ftp.json and
# target/bench/ftp.md, and regenerates the chart docs/ftp-benchmark.svg (a whole run only; a
# partial one draws target/bench/ftp.svg). Extra arguments go to the benchmark, e.g.
# `bench/peers.sh --quick` or `bench/peers.sh --servers wharf-async`.
#
# Needs root: it installs Debian packages, creates the system user the C servers serve
# (wharfbench, no shell, a fresh random password each run) and a PAM service for vsftpd.
# Nothing runs as a system service: vsftpd, pure-ftpd and ProFTPD are unpacked from their Debian
# packages into target/bench/peers-bin (their maintainer scripts, which would start them on
# port 21 of every interface, never run) and started by the benchmark as foreground
# processes on 127.0.0.1, each on a port of its own, and stopped at the end of their turn.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
peers_bin="$target/bench/peers-bin"
debs="$target/bench/debs"
user=wharfbench
home=/var/lib/wharf-bench

if [ "$(id -u)" != 0 ]; then
    echo "bench/peers.sh must run as root (packages, the test user, vsftpd's PAM service)" >&2
    exit 1
fi

echo "== installing the peers" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# iperf3 for the loopback limit; curl and lftp, the clients of `--compare clients`; the
# libraries vsftpd, pure-ftpd and ProFTPD link against.
apt-get install -y -qq --no-install-recommends \
    iperf3 curl lftp libcap2 libpam0g libpam-modules libssl3 libwrap0 libcrypt1 libsodium23 \
    libacl1 libhiredis0.14 libidn2-0 libmemcached11 libmemcachedutil2 libpcre2-8-0 \
    libpcre2-posix3 >/dev/null
# The three servers conflict as packages (all provide ftp-server) and their maintainer scripts
# start system services: unpack the binaries instead of installing the packages.
mkdir -p "$debs" "$peers_bin"
rm -f "$debs"/*.deb
# apt downloads as its sandbox user where it may write (else as root, with a warning).
if id _apt >/dev/null 2>&1; then chown _apt "$debs"; fi
# ProFTPD's binary is in proftpd-core (Debian's proftpd-basic only depends on it); the modules
# the bench's configuration uses are built into it, so none of its .so modules is loaded.
(cd "$debs" && apt-get download -qq vsftpd pure-ftpd pure-ftpd-common proftpd-core)
for deb in "$debs"/vsftpd_*.deb "$debs"/pure-ftpd_*.deb "$debs"/pure-ftpd-common_*.deb \
    "$debs"/proftpd-core_*.deb; do
    dpkg-deb -x "$deb" "$peers_bin"
done
python3 -m pip install --quiet --disable-pip-version-check pyftpdlib 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyftpdlib

echo "== preparing the test user" >&2
if ! id "$user" >/dev/null 2>&1; then
    useradd --system --home-dir "$home" --shell /usr/sbin/nologin "$user"
fi
mkdir -p "$home"
chown "$user:" "$home"
password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
# SHA-512 crypt rather than Debian's default yescrypt: vsftpd checks this hash through PAM on
# every login, and at yescrypt's cost (about 45 ms of CPU here) its 10,000 idle sessions alone
# would take eight minutes to log in. docs/benchmarks.md states this with the login figures.
echo "$user:$password" | chpasswd -c SHA512
install -m 644 bench/peers/vsftpd.pam /etc/pam.d/wharf-bench-vsftpd

echo "== building wharf-ftpd and the load generator" >&2
cargo build --release --quiet -p wharf-ftp --bin wharf-ftpd -p wharf-bench --bin wharf-ftp-bench

echo "== measuring" >&2
# 10,000 idle sessions need 10,000 descriptors on each side: the benchmark raises its soft
# limit to the hard limit (and the servers inherit it), so only a low hard limit matters.
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 12000 ]; then
    echo "warning: hard open-file limit $(ulimit -Hn) is below 12000; 10,000 sessions will not fit" >&2
fi
# Only a whole run redraws the recorded chart; a partial one (some servers or scenarios, a
# quick run) draws target/bench/ftp.svg, the benchmark's default.
chart=(--chart docs/ftp-benchmark.svg)
for arg in "$@"; do
    case "$arg" in
        --servers* | --skip* | --idle* | --quick) chart=() ;;
    esac
done
exec "$target/release/wharf-ftp-bench" \
    --ftpd "$target/release/wharf-ftpd" \
    --peers-bin "$peers_bin" \
    --user "$user" --password "$password" \
    "${chart[@]}" \
    "$@"
