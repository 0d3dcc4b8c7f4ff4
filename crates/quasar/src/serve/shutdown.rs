//! Closing the servers: the first SIGTERM/SIGINT closes every server gracefully, logging
//! how many connections are open and the deadline; a second one closes them at once; the
//! last line reports what the close did.

use std::time::Duration;

use quasar_net::{CloseReport, DatagramServer, TcpServer};

/// How long a signal-triggered close lets requests in flight finish.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// The graceful close after a first signal; a second one aborts every connection.
pub(crate) async fn shutdown(
    servers: &[TcpServer],
    udp_servers: &[DatagramServer],
    signals: &mut Signals,
) -> CloseReport {
    let open: u64 = servers.iter().map(TcpServer::connected).sum();
    tracing::info!(
        open_connections = open,
        deadline_secs = SHUTDOWN_DEADLINE.as_secs_f64(),
        "signal received: closing gracefully; a second signal closes every connection now"
    );
    let tcp = futures_util::future::join_all(servers.iter().map(|s| s.close(SHUTDOWN_DEADLINE)));
    let udp =
        futures_util::future::join_all(udp_servers.iter().map(|s| s.close(SHUTDOWN_DEADLINE)));
    let closing = futures_util::future::join(tcp, udp);
    tokio::pin!(closing);
    let mut aborted = 0u64;
    let (reports, _) = tokio::select! {
        done = &mut closing => done,
        _ = signals.wait() => {
            let open: u64 = servers.iter().map(TcpServer::connected).sum();
            tracing::warn!(open_connections = open, "second signal: closing every connection now");
            for s in servers {
                for c in s.connections() {
                    c.abort();
                    aborted += 1;
                }
            }
            closing.await
        }
    };
    // The servers count an aborted connection as finished (it ended before the
    // deadline); the operator forced it.
    let mut report = sum(reports.iter());
    let moved = aborted.min(report.finished_in_flight + report.closed_idle);
    let from_busy = moved.min(report.finished_in_flight);
    report.finished_in_flight -= from_busy;
    report.closed_idle -= moved - from_busy;
    report.forced += moved;
    report
}

pub(crate) fn sum<'a>(reports: impl Iterator<Item = &'a CloseReport>) -> CloseReport {
    reports.fold(CloseReport::default(), |mut t, r| {
        t.finished_in_flight += r.finished_in_flight;
        t.closed_idle += r.closed_idle;
        t.forced += r.forced;
        t
    })
}

/// SIGTERM and SIGINT handlers, installed before the servers announce themselves.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next SIGTERM or SIGINT.
    pub(crate) async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
