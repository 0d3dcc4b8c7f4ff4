//! The `quasar` command: serve pulsar's demo protocols and load-test them.
//!
//! `quasar serve` starts every demo server with the embedded default configuration;
//! `quasar serve <protocol> [flags]` starts one; `quasar bench <protocol> [flags]` is the
//! load tool behind the benchmark tables.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod config;
mod serve;
mod serve_http;
mod serve_overload;
mod serve_resp;
mod serve_tls;

/// pulsar's protocol layer for async Rust: demo servers and a load tool.
#[derive(Debug, Parser)]
#[command(name = "quasar", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the demo protocols (all of them with no protocol named).
    Serve(serve::ServeArgs),
    /// Load-test a server and report throughput and latency.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so stdout carries only what scripts read (bound addresses, reports).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
