#!/usr/bin/env bash
# Runs the echo benchmark: every Wharf mode side by side with Python's socketserver and a bare
# tokio loop, at 1, 10, 100 and 1000 connections. Prints Markdown tables (as recorded in
# docs/benchmarks.md) and writes target/bench/echo.json. Extra arguments go to the benchmark,
# e.g. `bench/echo.sh --quick` or `bench/echo.sh --servers bare-tokio,wharf-async`.
set -euo pipefail
cd "$(dirname "$0")/.."
# 1000 client sockets plus the server's need more than the usual soft limit of 1024; the
# benchmark raises its soft limit to the hard limit itself, so only a low hard limit matters.
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 5064 ]; then
    echo "warning: hard open-file limit $(ulimit -Hn) is below 5064; 1000 connections may fail" >&2
fi
exec cargo run --release --quiet -p wharf-bench --bin wharf-echo-bench -- "$@"
