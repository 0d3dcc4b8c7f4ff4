//! `quasar bench`: the load tool.

use std::process::ExitCode;

/// Flags of `quasar bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {}

/// Runs the load tool.
pub(crate) fn run(_args: BenchArgs) -> ExitCode {
    ExitCode::from(2)
}
