#!/usr/bin/env bash
# Runs one comparison of wharf-ftpd set-ups in one command, on 127.0.0.1 only:
#
#   bench/compare.sh s3           wharf-ftpd on Garage against rclone's and curl's direct S3
#                                 PUT and GET, and the daemon's peak RSS under 50 concurrent
#                                 100 MiB uploads
#   bench/compare.sh postgres     login storm and 300 concurrent uploads, PostgreSQL users and
#                                 quotas against the TOML users file and local quotas
#   bench/compare.sh durability   durable_uploads = true against false, beside vsftpd,
#                                 pure-ftpd and pyftpdlib (through bench/peers.sh, which
#                                 installs the peers)
#   bench/compare.sh clients      single-session STOR and RETR with the bench's own client, curl
#                                 and lftp, wharf-ftpd (async, threading, forking) beside vsftpd,
#                                 pure-ftpd, ProFTPD and pyftpdlib, with server CPU per GiB
#                                 (through bench/peers.sh, which installs the peers)
#   bench/compare.sh fleet        300 concurrent 10 MiB downloads and uploads through HAProxy
#                                 and one, two or three nodes (users in PostgreSQL, files on
#                                 Garage) against one such node reached directly
#
# Installs what is missing (curl, rclone, PostgreSQL and haproxy with apt, Garage with cargo
# install), builds wharf-ftpd and the load generator in release mode, and runs `wharf-ftp-bench
# --compare SUITE`: it starts its own Garage, PostgreSQL and HAProxy (as the suite needs) in a
# temporary folder, prints the tables (as recorded in docs/benchmarks.md) and writes
# target/bench/ftp-SUITE.json and .md. Extra arguments go to the benchmark, e.g.
# `bench/compare.sh s3 --rounds 3` or `--quick`.
set -euo pipefail
cd "$(dirname "$0")/.."

suite="${1:-}"
case "$suite" in
    s3 | postgres | durability | fleet | clients) shift ;;
    *)
        echo "usage: bench/compare.sh s3|postgres|durability|fleet|clients [benchmark flags]" >&2
        exit 2
        ;;
esac

if [ "$suite" = durability ] || [ "$suite" = clients ]; then
    exec bench/peers.sh --compare "$suite" "$@"
fi

export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
target="${CARGO_TARGET_DIR:-target}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ "$suite" = s3 ] && ! command -v rclone >/dev/null 2>&1; then need_apt+=(rclone); fi
if [ "$suite" = fleet ] && ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    need_apt+=(haproxy)
fi
if { [ "$suite" = postgres ] || [ "$suite" = fleet ]; } && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 &&
    ! command -v pg_config >/dev/null 2>&1; then
    need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing: ${need_apt[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if { [ "$suite" = s3 ] || [ "$suite" = fleet ]; } && ! command -v garage >/dev/null 2>&1; then
    echo "== installing: garage (cargo install, several minutes)" >&2
    cargo install --locked garage --no-default-features --features bundled-libs,lmdb
fi

echo "== building wharf-ftpd and the load generator" >&2
cargo build --release --quiet -p wharf-ftp --bin wharf-ftpd -p wharf-bench --bin wharf-ftp-bench

echo "== measuring" >&2
exec "$target/release/wharf-ftp-bench" --compare "$suite" --ftpd "$target/release/wharf-ftpd" "$@"
