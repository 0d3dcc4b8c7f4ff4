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
//!   `timer.rs`: a microsecond wake-up timer for the open-loop timetable.
//! - `workload.rs` (echo), `http.rs`, `ws.rs` (WebSocket echo after a handshake): what a stream request is and how its reply is checked;
//!   `payload.rs`: request bodies that differ per request.
//! - `stats.rs`: histograms and error counts; `report.rs`: text and JSON output.
//! - `idle.rs`: memory per idle connection; `proc_stat.rs`: `/proc` sampling.

use std::process::ExitCode;

mod args;
mod http;
mod idle;
mod pacing;
mod payload;
mod proc_stat;
mod report;
mod runner;
mod stats;
mod tcp;
mod timer;
mod udp;
mod workload;
mod ws;

pub(crate) use args::BenchArgs;

use args::{Config, Protocol};

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

    let (text, samples, passed, written) = match cfg.idle_connections {
        Some(count) => {
            let report = idle::run_idle(&cfg, count);
            let written = args
                .json
                .as_ref()
                .map(|path| (path, report::write_json(path, &report)));
            (
                report.to_text(),
                report.error_samples.clone(),
                report.is_success(),
                written,
            )
        }
        None => {
            let outcome = runner::run_load(cfg.clone());
            let report = report::Report::new(&cfg, &outcome);
            let written = args
                .json
                .as_ref()
                .map(|path| (path, report::write_json(path, &report)));
            (
                report.to_text(),
                report.error_samples.clone(),
                report.is_success(),
                written,
            )
        }
    };
    print!("{text}");
    for sample in &samples {
        eprintln!("quasar bench: {sample}");
    }
    if let Some((path, Err(e))) = written {
        eprintln!("quasar bench: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
