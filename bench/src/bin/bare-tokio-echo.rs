//! `bare-tokio-echo`: a bare tokio echo server, the floor for framework overhead.

use clap::Parser;
use wharf_bench::peers::bare::{self, BareArgs};

fn main() -> anyhow::Result<()> {
    bare::serve(&BareArgs::parse())
}
