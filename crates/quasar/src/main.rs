//! The `quasar` command: serve pulsar's demo protocols and load-test them.
//!
//! `quasar serve` starts every demo server with the embedded default configuration;
//! `quasar serve <protocol> [flags]` starts one; `quasar bench <protocol> [flags]` is the
//! load tool behind the benchmark tables; `quasar config show` prints the effective
//! configuration.

// The one `unsafe` call of `quasar serve` is in `malloc` and the load tool's in
// `bench::{proc_stat, timer}`; each is allowed where it is, with its SAFETY note.
#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod bench;
mod bind;
mod config;
mod config_cmd;
mod logging;
mod malloc;
mod serve;

/// pulsar's protocol layer for async Rust: demo servers and a load tool.
#[derive(Debug, Parser)]
#[command(name = "quasar", version, about)]
struct Cli {
    #[command(flatten)]
    log: logging::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the demo protocols (every default one with no protocol named).
    Serve(serve::ServeArgs),
    /// Load-test a server and report throughput and latency.
    Bench(bench::BenchArgs),
    /// Inspect the configuration `quasar serve` would use.
    Config(config_cmd::ConfigArgs),
}

fn main() -> ExitCode {
    let command = config_cmd::with_defaults_in_help(Cli::command());
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if matches!(cli.command, Command::Serve(_)) {
        // Before any thread starts (see the module): nothing has spawned one yet.
        malloc::fix_mmap_threshold();
    }
    logging::init(&cli.log);
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Config(args) => config_cmd::run(args),
    }
}
