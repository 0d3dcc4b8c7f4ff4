//! `quasar bench`: the load tool behind the benchmark tables.
//!
//! It opens `--connections` connections (one task each, on `--threads` current-thread
//! runtimes), keeps `--pipeline` requests outstanding on each (closed loop) or sends at a fixed
//! total `--rate` (open loop, latency from each request's intended send time), verifies every
//! reply byte for byte, and reports requests/s, MB/s, latency percentiles from an HDR histogram,
//! errors and, with `--server-pid`, the server's CPU seconds per 1,000 requests. Any failed
//! request makes the exit status 1; bad flags exit with 2. `docs/load-tool.md` describes the
//! method in full.
//!
//! # Layout
//!
//! - `args.rs`: the flags and their checks.
//! - `runner.rs`: worker threads, the shared timetable, progress bar, CPU sampling.
//! - `tcp.rs`, `udp.rs`: the per-connection engines; `pacing.rs`: closed and open loop;
//!   `tls.rs`: `--tls` and `--connect-per-request` (a new connection, or TLS handshake, per
//!   request);
//!   `timer.rs`: a microsecond wake-up timer for the open-loop timetable.
//! - `workload.rs` (echo), `http.rs`, `ws.rs` (WebSocket echo after a handshake): what a stream request is and how its reply is checked;
//!   `payload.rs`: request bodies that differ per request.
//! - `stats.rs`: histograms and error counts; `report.rs`: text and JSON output.
//! - `idle.rs`: memory per idle connection; `proc_stat.rs`: `/proc` sampling.

use std::process::ExitCode;
use std::time::Duration;

mod args;
mod faults;
mod http;
mod idle;
mod pacing;
mod payload;
#[allow(unsafe_code)] // getrlimit, setrlimit and sysconf, each with its SAFETY note
mod proc_stat;
mod report;
mod runner;
mod stats;
mod tcp;
#[allow(unsafe_code)] // timerfd, each call with its SAFETY note
mod timer;
mod tls;
mod udp;
mod workload;
mod ws;

pub(crate) use args::BenchArgs;

use args::{Config, Protocol};
use report::RunReport;

/// Runs the load tool; exit status 0 when every request passed, 1 when any failed, 2 when the
/// flags or the target are unusable.
pub(crate) fn run(args: BenchArgs) -> ExitCode {
    if args.protocol == Protocol::Resp {
        eprintln!("quasar bench: resp is not implemented yet");
        return ExitCode::from(2);
    }
    let cfg = match Config::from_args(&args) {
        Ok(cfg) => cfg,
        Err(message) => {
            eprintln!("quasar bench: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(pid) = cfg.server_pid {
        if let Err(e) = proc_stat::cpu_seconds(pid) {
            eprintln!("quasar bench: --server-pid {pid}: {e}");
            return ExitCode::from(2);
        }
    }

    if let Err(message) = probe(&cfg) {
        eprintln!("quasar bench: {message}");
        return ExitCode::FAILURE;
    }
    if args.faults.is_some() && cfg.protocol == Protocol::Udp {
        eprintln!("quasar bench: --faults applies to tcp protocols only");
        return ExitCode::from(2);
    }
    let stop_faults = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let injector = args
        .faults
        .map(|rate| faults::start(&cfg, rate, stop_faults.clone()));

    match cfg.idle_connections {
        Some(count) => {
            let report = idle::run_idle(&cfg, count);
            conclude(&cfg, &args, &report, injector, &stop_faults)
        }
        None => {
            let outcome = runner::run_load(cfg.clone());
            let report = report::Report::new(&cfg, &outcome);
            conclude(&cfg, &args, &report, injector, &stop_faults)
        }
    }
}

/// Prints the report, stops the fault injector, writes the JSON copy and picks the exit
/// status, the same for a load run and an idle run.
fn conclude(
    cfg: &Config,
    args: &BenchArgs,
    report: &impl RunReport,
    injector: Option<std::thread::JoinHandle<std::sync::Arc<faults::FaultCounts>>>,
    stop_faults: &std::sync::atomic::AtomicBool,
) -> ExitCode {
    print!("{}", report.to_text());
    if let Some(injector) = injector {
        stop_faults.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Ok(counts) = injector.join() {
            print!("{}", counts.line());
        }
    }
    let (errors, samples) = report.failures();
    for sample in samples {
        eprintln!("quasar bench: {sample}");
    }
    if let Some(hint) = framing_hint(cfg, errors) {
        eprintln!("quasar bench: {hint}");
    }
    if let Some(path) = &args.json {
        if let Err(e) = report::write_json(path, report) {
            eprintln!("quasar bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// How long the first connection may take before the run is called off.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// One TCP connection before the run, so a missing server fails in a second with a
/// clear message instead of a full run of errors. UDP has no connection to try.
fn probe(cfg: &Config) -> Result<(), String> {
    if cfg.protocol == Protocol::Udp {
        return Ok(());
    }
    match std::net::TcpStream::connect_timeout(&cfg.addr, PROBE_TIMEOUT) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "cannot connect to {} ({}): {e}; is a server listening there? (start one with `quasar serve {}`)",
            cfg.addr_text,
            cfg.addr,
            cfg.protocol.name()
        )),
    }
}

/// What to try when echo replies did not match or never came: most often the server's
/// framing and the load tool's differ.
fn framing_hint(cfg: &Config, errors: &stats::ErrorCounts) -> Option<String> {
    if cfg.protocol != Protocol::Echo || errors.mismatch + errors.timeout == 0 {
        return None;
    }
    let (sent, other) = if cfg.raw {
        ("raw bytes with no separator (--raw)", "drop --raw")
    } else {
        (
            "messages ending in \\r\\n\\r\\n (pulsar framing)",
            "add --raw",
        )
    };
    Some(format!(
        "expected each reply to equal its request; got {} mismatched and {} missing. \
         This run sent {sent}: if the server frames differently (`quasar serve echo` frames, \
         `quasar serve echo --raw` does not), {other}.",
        errors.mismatch, errors.timeout
    ))
}
