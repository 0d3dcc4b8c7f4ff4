//! Running the servers of the registry: layers, checks, listeners, address lines,
//! metrics, and the wait for a signal.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use quasar_net::metrics::Metrics;

use super::metrics::{self, MetricsSection};
use super::registry::{Loaded, Selected};
use super::shutdown::{shutdown, sum, Signals};
use super::{Running, SERVERS};

/// Flags of `quasar serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// A configuration file over the defaults: any subset of `quasar config show`'s fields.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics of every server at http://ADDR/metrics (off by default;
    /// `[metrics] bind` in a file).
    #[arg(long, global = true, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    #[command(subcommand)]
    protocol: Option<Selected>,
}

/// A server about to start: its name, its settings, and what it needs to listen.
struct Chosen {
    name: &'static str,
    settings: Box<dyn Loaded>,
    prepared: super::registry::Prepared,
}

/// Runs the demo servers until Ctrl-C or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let (chosen, metrics) = match choose(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("quasar: {msg}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("quasar: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(chosen, metrics))
}

/// Reads every section (a bad value anywhere is a usage error), applies the flags to the
/// server named, and prepares the servers that start: checked, resolved, TLS loaded.
/// Returns them and the metrics endpoint's address, if any.
fn choose(args: &ServeArgs) -> Result<(Vec<Chosen>, Option<SocketAddr>), String> {
    let (layers, ignored) = crate::config::layers(args.config.as_deref())
        .map_err(|e| format!("bad configuration: {e}"))?;
    for name in ignored {
        tracing::warn!(variable = %name, "environment variable names no setting; ignored");
    }
    let metrics: MetricsSection = layers
        .extract_inner(metrics::SECTION)
        .map_err(|e| format!("bad configuration: {}", crate::config::describe(e)))?;
    let metrics = args.metrics.or(metrics.bind);
    let mut chosen = Vec::new();
    for entry in SERVERS {
        let named = args.protocol.as_ref().map(|p| p.name == entry.name());
        let flags = args
            .protocol
            .as_ref()
            .filter(|_| named == Some(true))
            .map(|p| &p.matches);
        let settings = entry
            .load(&layers, flags)
            .map_err(|e| format!("bad configuration: {e}"))?;
        if named.unwrap_or_else(|| entry.starts_by_default()) {
            chosen.push((entry.name(), settings));
        }
    }
    let chosen = chosen
        .into_iter()
        .map(|(name, settings)| {
            let prepared = settings.prepare().map_err(|e| format!("{name}: {e}"))?;
            Ok(Chosen {
                name,
                settings,
                prepared,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok((chosen, metrics))
}

/// Starts every chosen server, announces its addresses and waits for a signal or for
/// every server to stop.
async fn serve(chosen: Vec<Chosen>, metrics_addr: Option<SocketAddr>) -> ExitCode {
    // Listen for signals before announcing any address: a script that reads the address
    // and sends SIGTERM at once must get a graceful close, not the default action.
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("quasar: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let metrics = Metrics::new();
    let (mut servers, mut udp_servers) = (Vec::new(), Vec::new());
    for c in &chosen {
        tracing::info!(server = c.name, settings = %c.settings.json(), "effective settings");
        let tls = c.prepared.tls.as_ref();
        if let Some(tls) = tls {
            // Before the address is announced: a SIGHUP with no handler kills.
            tls.reload_on_sighup(c.name);
        }
        for &addr in &c.prepared.addrs {
            match c.settings.start(addr, tls).await {
                Ok(Running::Tcp(s)) => {
                    let transport = if tls.is_some() { "tls" } else { "tcp" };
                    announce(c.name, transport, s.address());
                    servers.push(s);
                }
                Ok(Running::Datagram(s)) => {
                    announce(c.name, "udp", s.address());
                    metrics.add_datagram_server(&s);
                    udp_servers.push(s);
                }
                Err(e) => return fail(c.name, e),
            }
        }
    }
    for s in &servers {
        metrics.add_server(s);
    }
    let mut metrics_server = None;
    if let Some(addr) = metrics_addr {
        match super::metrics::start(addr, &metrics).await {
            Ok(s) => {
                announce("metrics", "http", s.address());
                metrics_server = Some(s);
            }
            Err(e) => return fail("metrics", e),
        }
    }
    let all_stopped = async {
        let reports = futures_util::future::join_all(servers.iter().map(|s| s.wait())).await;
        futures_util::future::join_all(udp_servers.iter().map(|s| s.wait())).await;
        reports
    };
    let report = tokio::select! {
        _ = signals.wait() => {
            shutdown(&servers, &udp_servers, &mut signals).await
        }
        reports = all_stopped => {
            tracing::info!("every server stopped");
            sum(reports.iter())
        }
    };
    if let Some(m) = metrics_server {
        m.close(Duration::ZERO).await;
    }
    tracing::info!(
        finished_in_flight = report.finished_in_flight,
        closed_idle = report.closed_idle,
        forced = report.forced,
        "closed"
    );
    ExitCode::SUCCESS
}

fn fail(name: &str, e: quasar_net::Error) -> ExitCode {
    eprintln!("quasar: {name} server: {e}");
    ExitCode::FAILURE
}

/// Prints a bound address on stdout, where scripts look for it.
fn announce(name: &str, transport: &str, addr: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{name} {transport} {addr}");
    let _ = out.flush();
}
