//! `bench-wharf-echo`: the Wharf echo server as the benchmark runs it (any mode, with
//! `--max-threads` and `--max-children`).

use clap::Parser;
use wharf_bench::peers::wharf::{self, WharfArgs};

fn main() -> anyhow::Result<()> {
    wharf::serve(&WharfArgs::parse())
}
