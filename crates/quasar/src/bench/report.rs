//! The figures of a run, as text for people (stdout) and JSON for scripts (`--json FILE`).

use std::fmt::{self, Write as _};
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::bench::args::{Config, Protocol};
use crate::bench::runner::Outcome;
use crate::bench::stats::ErrorCounts;

/// What the command prints, checks and writes of a finished run, whichever kind it was.
pub(crate) trait RunReport: Serialize {
    /// Whether the run passed.
    fn is_success(&self) -> bool;
    /// The errors counted, and the first few as text.
    fn failures(&self) -> (&ErrorCounts, &[String]);
    /// The report for people.
    fn to_text(&self) -> String;
}

/// The figures of one load run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) protocol: Protocol,
    /// `closed` or `open` loop.
    pub(crate) mode: &'static str,
    pub(crate) raw: bool,
    /// Over TLS (`--tls`).
    pub(crate) tls: bool,
    /// A new connection per request (`--connect-per-request`): requests/s is connections
    /// (with TLS, handshakes) per second.
    pub(crate) connect_per_request: bool,
    pub(crate) addr: String,
    pub(crate) connections: u32,
    pub(crate) pipeline: u32,
    /// Bytes per request (echo, udp); http sends a fixed GET of `path` instead.
    pub(crate) size: Option<usize>,
    /// http only: the request target.
    pub(crate) path: Option<String>,
    pub(crate) threads: u32,
    /// Length of the measured window: `--duration`, or less when the request budget ran out
    /// first.
    pub(crate) duration_secs: f64,
    /// `--requests`, if given.
    pub(crate) requests_budget: Option<u64>,
    pub(crate) warmup_secs: f64,
    /// Open loop: the requested total rate.
    pub(crate) target_rate: Option<f64>,
    /// Replies verified inside the measured window.
    pub(crate) requests: u64,
    pub(crate) requests_per_sec: f64,
    /// Reply bytes verified inside the window.
    pub(crate) bytes: u64,
    /// Reply megabytes (10^6 bytes) per second.
    pub(crate) mb_per_sec: f64,
    /// From intended send time to reply (closed loop: the actual send time).
    pub(crate) latency_us: Latency,
    /// Open loop only: from actual send time to reply.
    pub(crate) service_time_us: Option<Latency>,
    pub(crate) errors: ErrorCounts,
    /// The first few error messages.
    pub(crate) error_samples: Vec<String>,
    /// With `--server-pid`: the server's CPU time over the window.
    pub(crate) server: Option<ServerCpu>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Latency {
    pub(crate) count: u64,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

/// The server's CPU use over the measured window.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ServerCpu {
    pub(crate) pid: u32,
    pub(crate) cpu_seconds: f64,
    /// `cpu_seconds / requests * 1000`.
    pub(crate) cpu_seconds_per_1000_requests: Option<f64>,
    /// `requests / cpu_seconds`: the deciding figure when server and tool share few cores.
    pub(crate) requests_per_cpu_second: Option<f64>,
}

/// The figures of one `--idle-connections` run.
#[derive(Debug, Serialize)]
pub(crate) struct IdleReport {
    pub(crate) mode: &'static str,
    pub(crate) addr: String,
    /// Connections asked for.
    pub(crate) connections: u32,
    /// Connections opened and verified with one echo.
    pub(crate) opened: u32,
    pub(crate) hold_secs: f64,
    pub(crate) errors: ErrorCounts,
    pub(crate) error_samples: Vec<String>,
    pub(crate) server: Option<ServerMemory>,
}

/// The server's resident memory before and after opening the idle connections.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ServerMemory {
    pub(crate) pid: u32,
    pub(crate) rss_before_kib: u64,
    pub(crate) rss_after_kib: u64,
    /// `(after - before) * 1024 / opened`.
    pub(crate) rss_bytes_per_connection: Option<f64>,
}

// ===== impl Latency =====

impl Latency {
    fn from_histogram(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1_000.0;
        Latency {
            count: h.len(),
            mean: h.mean() / 1_000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            Micros(self.p50),
            Micros(self.p90),
            Micros(self.p99),
            Micros(self.p999),
            Micros(self.max)
        )
    }
}

/// Microseconds printed with a unit that keeps 3-4 significant digits.
struct Micros(f64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            us if us >= 1_000_000.0 => write!(f, "{:.2} s", us / 1e6),
            us if us >= 1_000.0 => write!(f, "{:.2} ms", us / 1e3),
            us => write!(f, "{us:.1} us"),
        }
    }
}

// ===== impl Report =====

impl Report {
    pub(crate) fn new(cfg: &Config, outcome: &Outcome) -> Report {
        let stats = &outcome.stats;
        let window = outcome.schedule.window().as_secs_f64();
        let requests = stats.completed;
        let server = outcome.cpu.map(|cpu| ServerCpu {
            pid: cpu.pid,
            cpu_seconds: cpu.seconds,
            cpu_seconds_per_1000_requests: (requests > 0)
                .then(|| cpu.seconds / requests as f64 * 1_000.0),
            requests_per_cpu_second: (cpu.seconds > 0.0).then(|| requests as f64 / cpu.seconds),
        });
        Report {
            protocol: cfg.protocol,
            mode: if cfg.rate.is_some() { "open" } else { "closed" },
            raw: cfg.raw,
            tls: cfg.tls.is_some(),
            connect_per_request: cfg.connect_per_request,
            addr: cfg.addr_text.clone(),
            connections: cfg.connections,
            pipeline: cfg.pipeline,
            size: (cfg.protocol != Protocol::Http).then_some(cfg.size),
            path: matches!(cfg.protocol, Protocol::Http | Protocol::Ws).then(|| cfg.path.clone()),
            threads: cfg.threads,
            duration_secs: window,
            requests_budget: cfg.requests,
            warmup_secs: cfg.warmup.as_secs_f64(),
            target_rate: cfg.rate,
            requests,
            requests_per_sec: requests as f64 / window,
            bytes: stats.bytes,
            mb_per_sec: stats.bytes as f64 / window / 1e6,
            latency_us: Latency::from_histogram(&stats.latency),
            service_time_us: cfg.rate.map(|_| Latency::from_histogram(&stats.service)),
            errors: stats.errors,
            error_samples: stats.samples.clone(),
            server,
        }
    }
}

impl RunReport for Report {
    /// Whether the run passed: some requests verified and none failed.
    fn is_success(&self) -> bool {
        self.errors.total == 0 && self.requests > 0
    }

    fn failures(&self) -> (&ErrorCounts, &[String]) {
        (&self.errors, &self.error_samples)
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        let framing = match (self.protocol, self.raw) {
            (Protocol::Echo, true) => " (raw)",
            (Protocol::Echo, false) => " (framed)",
            _ => "",
        };
        let requests = match (&self.path, self.size) {
            (Some(path), _) => format!("GET {path}"),
            (None, Some(size)) => format!("{size}-byte requests"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{}{framing}{}{} at {}: {} connections, pipeline {}, {requests}, {} loop{}, {:.2} s measured{}, {} thread{}",
            self.protocol.name(),
            if self.tls { " over TLS" } else { "" },
            if self.connect_per_request { ", a new connection per request" } else { "" },
            self.addr,
            self.connections,
            self.pipeline,
            self.mode,
            self.target_rate.map(|r| format!(" at {r} req/s")).unwrap_or_default(),
            self.duration_secs,
            self.requests_budget.map(|n| format!(" (budget {n} requests)")).unwrap_or_default(),
            self.threads,
            if self.threads == 1 { "" } else { "s" },
        );
        let _ = writeln!(out, "  requests      {}", self.requests);
        let _ = writeln!(out, "  requests/s    {:.1}", self.requests_per_sec);
        let _ = writeln!(out, "  MB/s          {:.2} (reply bytes)", self.mb_per_sec);
        let _ = writeln!(out, "  latency       {}", self.latency_us);
        if let Some(service) = &self.service_time_us {
            let _ = writeln!(out, "  service time  {service}");
        }
        let _ = writeln!(
            out,
            "  errors        {}{}",
            self.errors.total,
            error_breakdown(&self.errors)
        );
        if let Some(server) = &self.server {
            let _ = write!(
                out,
                "  server cpu    {:.2} s (pid {})",
                server.cpu_seconds, server.pid
            );
            if let Some(per) = server.cpu_seconds_per_1000_requests {
                let _ = write!(out, ", {per:.5} s per 1000 requests");
            }
            if let Some(rate) = server.requests_per_cpu_second {
                let _ = write!(out, ", {rate:.0} requests per cpu-second");
            }
            out.push('\n');
        }
        out
    }
}

impl RunReport for IdleReport {
    /// Whether every connection opened and echoed.
    fn is_success(&self) -> bool {
        self.errors.total == 0 && self.opened == self.connections
    }

    fn failures(&self) -> (&ErrorCounts, &[String]) {
        (&self.errors, &self.error_samples)
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "idle echo connections at {}: {} of {} opened, held {:.1} s",
            self.addr, self.opened, self.connections, self.hold_secs
        );
        let _ = writeln!(
            out,
            "  errors        {}{}",
            self.errors.total,
            error_breakdown(&self.errors)
        );
        if let Some(m) = &self.server {
            let _ = writeln!(
                out,
                "  server rss    {} KiB -> {} KiB (pid {})",
                m.rss_before_kib, m.rss_after_kib, m.pid
            );
            if let Some(per) = m.rss_bytes_per_connection {
                let _ = writeln!(out, "  per connection {per:.0} bytes");
            }
        }
        out
    }
}

fn error_breakdown(e: &ErrorCounts) -> String {
    let kinds = [
        ("mismatch", e.mismatch),
        ("eof", e.eof),
        ("io", e.io),
        ("timeout", e.timeout),
        ("unexpected", e.unexpected),
        ("status", e.status),
        ("parse", e.parse),
        ("connect", e.connect),
    ];
    let parts: Vec<String> = kinds
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Writes `value` as pretty JSON to `path`.
///
/// # Errors
///
/// The file cannot be written.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}
