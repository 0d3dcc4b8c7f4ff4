//! `quasar serve`: the demo servers.

use std::process::ExitCode;

/// Flags of `quasar serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {}

/// Runs the demo servers until Ctrl-C or SIGTERM.
pub(crate) fn run(_args: ServeArgs) -> ExitCode {
    ExitCode::SUCCESS
}
