//! Logs on stderr: `--log-format text|json`, `RUST_LOG` filtering, colour only on a
//! terminal.
//!
//! Text lines are coloured only when stderr is a terminal and `NO_COLOR` is unset or
//! empty (<https://no-color.org>), so a redirected log holds no escape codes. JSON lines
//! (one object per line, for log shippers) carry the fields and the spans: a line logged
//! by a server's worker has `"span":{"id":N,"name":"worker"}`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The log flags, global to every subcommand.
#[derive(Debug, clap::Args)]
pub(crate) struct LogArgs {
    /// Log line format on stderr; filter with RUST_LOG (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether text logs may use colour: stderr is a terminal and `NO_COLOR` is not set.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber.
pub(crate) fn init(args: &LogArgs) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so stdout carries only what scripts read (bound addresses, reports).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
