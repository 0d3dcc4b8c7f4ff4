//! The flags of `quasar bench` and their checks.
//!
//! clap parses the flags (a malformed flag exits with status 2, clap's default); `Config::from_args`
//! then checks what clap cannot see one flag at a time (a UDP message too short to carry its
//! sequence number, `--raw` on a protocol without a raw mode) and reports those the same way.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::bench::payload::{SEPARATOR, SEQ_DIGITS};

/// Flags of `quasar bench`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Durations take a unit: 500ms, 5s, 1.5s, 2m (a bare number means seconds).\n\
Exit status: 0 when every reply was verified and none was missing, 1 when any request failed, \
2 on bad flags."
)]
pub(crate) struct BenchArgs {
    /// Protocol to load: echo (TCP, pulsar framing or --raw), udp (UDP echo), http (HTTP/1.1 GET),
    /// ws (WebSocket binary echo on --path), resp (not implemented yet).
    #[arg(value_enum)]
    pub(crate) protocol: Protocol,

    /// Server address, host:port.
    #[arg(long, short = 'a')]
    pub(crate) addr: String,

    /// Connections (TCP) or sockets (UDP) kept open, one task each.
    #[arg(long, short = 'c', default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) connections: u32,

    /// Requests kept outstanding per connection (in open loop: the most that may be outstanding).
    #[arg(long, short = 'p', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub(crate) pipeline: u32,

    /// Bytes per request on the wire; for echo this includes the `\r\n\r\n` separator (ignored by http).
    #[arg(long, short = 's', default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=16 * 1024 * 1024))]
    pub(crate) size: u32,

    /// How long to measure; with --requests, the longest the measured window may last.
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Stop after N verified requests, summed over all connections, or at --duration, whichever
    /// comes first. Only measured requests count (not --warmup ones); a request is one verified
    /// reply (with --connect-per-request: a whole connect, TLS handshake, request, reply and
    /// close). Rates then use the real measured window, and a run that ends by its budget counts
    /// exactly N.
    #[arg(long = "requests", short = 'n', value_name = "N", value_parser = parse_requests)]
    pub(crate) requests: Option<u64>,

    /// Load applied before measuring starts; its requests are verified but not counted.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,

    /// Open loop: total requests per second at a fixed arrival rate, latency measured from each
    /// request's intended send time. Without it the load is closed loop (as fast as replies come).
    #[arg(long, value_parser = parse_rate)]
    pub(crate) rate: Option<f64>,

    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,

    /// echo only: the server echoes raw bytes without framing, so send no separator.
    #[arg(long)]
    pub(crate) raw: bool,

    /// Server process to sample: CPU seconds (utime+stime) over the measured window, or RSS in
    /// --idle-connections mode.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) server_pid: Option<u32>,

    /// Threads of the load tool, each a current-thread tokio runtime owning its share of connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) threads: u32,

    /// After the run, how long to wait for replies still outstanding; those missing then are errors.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) drain: Duration,

    /// udp only: a datagram with no reply after this long counts as lost (an error).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,

    /// Memory mode (echo): open N idle connections, each verified with one echo, hold them for
    /// --duration and report the server's RSS growth per connection (needs --server-pid).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) idle_connections: Option<u32>,

    /// http and ws: the request target.
    #[arg(long, default_value = "/")]
    pub(crate) path: String,

    /// Do not draw the progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,

    #[command(flatten)]
    pub(crate) tls: crate::bench::tls::TlsFlags,

    /// Open a new connection for every request and close it after the reply (pipeline 1):
    /// requests/s is then connections (with --tls: handshakes) per second.
    #[arg(long)]
    pub(crate) connect_per_request: bool,
    /// Inject client faults on connections of their own, RATE a second in turn: resets
    /// mid-message, half-closes, stalls (soak runs; tcp protocols only).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub(crate) faults: Option<f64>,
}

/// The protocols `quasar bench` can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    /// TCP echo (pulsar framing, or `--raw`).
    Echo,
    /// UDP line echo.
    Udp,
    /// HTTP/1.1 keep-alive GET.
    Http,
    /// Redis RESP (not implemented yet).
    Resp,
    /// WebSocket binary echo (`--size` payload bytes per message, handshake on `--path`).
    Ws,
}

impl Protocol {
    /// The name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Protocol::Echo => "echo",
            Protocol::Udp => "udp",
            Protocol::Http => "http",
            Protocol::Resp => "resp",
            Protocol::Ws => "ws",
        }
    }
}

/// Checked settings of one run, shared read-only by every worker thread.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) protocol: Protocol,
    pub(crate) addr_text: String,
    pub(crate) addr: SocketAddr,
    pub(crate) connections: u32,
    pub(crate) pipeline: u32,
    pub(crate) size: usize,
    pub(crate) duration: Duration,
    /// `--requests`: the measured requests after which the run ends, if `--duration` has not.
    pub(crate) requests: Option<u64>,
    pub(crate) warmup: Duration,
    pub(crate) rate: Option<f64>,
    pub(crate) raw: bool,
    pub(crate) server_pid: Option<u32>,
    pub(crate) threads: u32,
    pub(crate) drain: Duration,
    pub(crate) timeout: Duration,
    pub(crate) idle_connections: Option<u32>,
    pub(crate) path: String,
    pub(crate) progress: bool,
    /// `--tls`: the connector every connection goes through.
    pub(crate) tls: Option<quasar_net::tls::TlsConnector>,
    pub(crate) connect_per_request: bool,
}

// ===== impl Config =====

impl Config {
    /// Checks the flags together and resolves the address.
    ///
    /// # Errors
    ///
    /// A message for the user when the flags do not fit together or the address does not resolve.
    pub(crate) fn from_args(args: &BenchArgs) -> Result<Config, String> {
        let size = args.size as usize;
        match args.protocol {
            Protocol::Echo if !args.raw && size <= SEPARATOR.len() => {
                return Err(format!(
                    "--size {size} leaves no room for a body before the {}-byte separator",
                    SEPARATOR.len()
                ));
            }
            Protocol::Udp if size < SEQ_DIGITS => {
                return Err(format!(
                    "udp needs --size of at least {SEQ_DIGITS} (the sequence number every datagram carries)"
                ));
            }
            Protocol::Udp if size > 65_507 => {
                return Err(format!("--size {size} does not fit in one UDP datagram"));
            }
            _ => {}
        }
        if args.raw && args.protocol != Protocol::Echo {
            return Err("--raw applies to echo only".into());
        }
        if args.idle_connections.is_some() && args.protocol != Protocol::Echo {
            return Err("--idle-connections applies to echo only".into());
        }
        if args.idle_connections.is_some() && args.requests.is_some() {
            return Err("--requests applies to load runs, not --idle-connections".into());
        }
        if args.duration.is_zero() {
            return Err("--duration must be more than zero".into());
        }
        if !args.path.starts_with('/') || args.path.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err("--path must start with / and hold no whitespace".into());
        }
        if args.connect_per_request
            && (args.pipeline != 1
                || args.idle_connections.is_some()
                || args.protocol == Protocol::Udp)
        {
            return Err(
                "--connect-per-request needs --pipeline 1 on a TCP protocol, without --idle-connections"
                    .into(),
            );
        }
        if args.tls.is_on() && (args.protocol == Protocol::Udp || args.idle_connections.is_some()) {
            return Err(
                "--tls applies to TCP load (echo, http), not udp or --idle-connections".into(),
            );
        }
        let tls = args.tls.connector(&args.addr)?;
        let addr = args
            .addr
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve --addr {}: {e}", args.addr))?
            .next()
            .ok_or_else(|| format!("--addr {} resolves to no address", args.addr))?;
        Ok(Config {
            protocol: args.protocol,
            addr_text: args.addr.clone(),
            addr,
            connections: args.connections,
            pipeline: args.pipeline,
            size,
            duration: args.duration,
            requests: args.requests,
            warmup: args.warmup,
            rate: args.rate,
            raw: args.raw,
            server_pid: args.server_pid,
            threads: args.threads.min(args.connections),
            drain: args.drain,
            timeout: args.timeout,
            idle_connections: args.idle_connections,
            path: args.path.clone(),
            progress: !args.no_progress,
            tls,
            connect_per_request: args.connect_per_request,
        })
    }
}

/// Parses `500ms`, `5s`, `1.5s`, `2m`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms, 5s or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown duration unit `{other}` (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// Parses a request budget: a whole number of at least 1.
fn parse_requests(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a whole number of requests of at least 1"
        )),
    }
}

/// Parses a positive, finite request rate.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a positive number of requests per second"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_or_default_to_seconds() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn a_request_budget_is_a_whole_number_of_at_least_one() {
        assert_eq!(parse_requests("20"), Ok(20));
        for bad in ["0", "-1", "1.5", "ten", "", "1e3"] {
            assert!(parse_requests(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates_must_be_positive() {
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-5").is_err());
        assert!(parse_rate("inf").is_err());
    }
}
