//! `--tls` and `--connect-per-request`: load over TLS, and the cost of opening connections.
//!
//! With `--tls` every connection is opened through quasar-net's [`TlsConnector`] (rustls),
//! verified against `--tls-ca` (plus the platform's roots) or not at all with `--insecure`
//! (a self-signed benchmark server); the handshake happens before the measured window, so
//! the figures are the steady-state cost of encrypted echo. `--connect-per-request` measures
//! the opposite: each connection task opens a connection, sends one request, checks the
//! reply and closes it (`close_notify` over TLS), again and again, so requests/s is
//! connections per second, or TLS handshakes per second with `--tls`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use quasar_net::tls::tokio_rustls::client::TlsStream;
use quasar_net::tls::{PemSource, TlsConnector};
use quasar_net::transport::Connector;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bench::runner::WorkerCtx;
use crate::bench::stats::ErrorKind;
use crate::bench::workload::StreamWorkload;

/// The TLS flags of `quasar bench`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct TlsFlags {
    /// Connect over TLS (echo, http).
    #[arg(long)]
    tls: bool,
    /// With --tls: also trust the CA certificates in this PEM file (a self-signed server's
    /// own certificate works too).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls",
        conflicts_with = "insecure"
    )]
    tls_ca: Option<PathBuf>,
    /// With --tls: do not verify the server's certificate (load tests only).
    #[arg(long, requires = "tls")]
    insecure: bool,
    /// With --tls: the name verified and sent with SNI (default: the host of --addr).
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_server_name: Option<String>,
}

impl TlsFlags {
    /// Whether `--tls` was given.
    pub(crate) fn is_on(&self) -> bool {
        self.tls
    }

    /// The connector these flags ask for, if any; `addr` is the `--addr` text.
    pub(crate) fn connector(&self, addr: &str) -> Result<Option<TlsConnector>, String> {
        if !self.tls {
            return Ok(None);
        }
        let name = match &self.tls_server_name {
            Some(name) => name.clone(),
            None => host_of(addr).to_owned(),
        };
        let mut builder = TlsConnector::builder()
            .server_name(name)
            .danger_accept_invalid_certs(self.insecure);
        if let Some(ca) = &self.tls_ca {
            builder = builder.ca(PemSource::file(ca));
        }
        builder.build().map(Some).map_err(|e| e.to_string())
    }
}

/// The host of `host:port` (IPv6 without its brackets).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Opens a TLS connection (TCP_NODELAY set: requests are written whole).
pub(crate) async fn connect(
    tls: &TlsConnector,
    addr: SocketAddr,
) -> io::Result<TlsStream<TcpStream>> {
    let stream = tls.connect(addr).await.map_err(io::Error::other)?;
    stream.get_ref().0.set_nodelay(true)?;
    Ok(stream)
}

/// Why one connect-per-request exchange failed.
enum Failure {
    Connect(io::Error),
    Io(io::Error),
    Eof,
    Timeout,
    Reply(crate::bench::workload::ReplyError),
}

impl Failure {
    fn kind(&self) -> ErrorKind {
        match self {
            Failure::Connect(_) => ErrorKind::Connect,
            Failure::Io(_) => ErrorKind::Io,
            Failure::Eof => ErrorKind::Eof,
            Failure::Timeout => ErrorKind::Timeout,
            Failure::Reply(e) => e.kind(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Io(e) => write!(f, "I/O: {e}"),
            Failure::Eof => f.write_str("server closed before the reply"),
            Failure::Timeout => f.write_str("no reply before the drain deadline"),
            Failure::Reply(e) => e.fmt(f),
        }
    }
}

/// `--connect-per-request`: a new connection for each request until the window closes (or
/// the request budget is spent); the task stops at its first failure. A request is the whole
/// exchange: connect (and handshake), request, reply, close.
pub(crate) async fn run_per_request<W: StreamWorkload>(
    mut workload: W,
    id: u32,
    ctx: Rc<WorkerCtx>,
) {
    let schedule = ctx.schedule;
    let mut wbuf = Vec::with_capacity(workload.request_size());
    let mut rbuf = vec![0u8; workload.read_buffer_size().max(1)];
    let mut seq = 0u64;
    while ctx.sending(Instant::now()) {
        let sent = Instant::now();
        wbuf.clear();
        workload.write_request(seq, &mut wbuf);
        let once = one_exchange(&ctx, &mut workload, seq, &wbuf, &mut rbuf);
        let outcome = tokio::select! {
            outcome = once => outcome,
            () = ctx.drain_passed() => Err(Failure::Timeout),
        };
        match outcome {
            Ok(n) => {
                ctx.stats.borrow_mut().record(
                    &schedule,
                    &ctx.budget,
                    Instant::now(),
                    sent,
                    sent,
                    n,
                );
                ctx.progress.completed.fetch_add(1, Ordering::Relaxed);
            }
            Err(failure) => {
                ctx.stats.borrow_mut().error(
                    &ctx.progress,
                    failure.kind(),
                    1,
                    format_args!("connection {id}, request {seq}: {failure}"),
                );
                return;
            }
        }
        seq += 1;
    }
}

async fn one_exchange<W: StreamWorkload>(
    ctx: &WorkerCtx,
    workload: &mut W,
    seq: u64,
    request: &[u8],
    rbuf: &mut Vec<u8>,
) -> Result<usize, Failure> {
    let addr = ctx.cfg.addr;
    match &ctx.cfg.tls {
        Some(tls) => {
            let stream = connect(tls, addr).await.map_err(Failure::Connect)?;
            exchange(stream, workload, seq, request, rbuf).await
        }
        None => {
            let stream = TcpStream::connect(addr).await.map_err(Failure::Connect)?;
            stream.set_nodelay(true).map_err(Failure::Connect)?;
            exchange(stream, workload, seq, request, rbuf).await
        }
    }
}

/// Sends `request`, reads its whole reply, closes (TLS: `close_notify`); returns the reply's size.
async fn exchange<S, W>(
    mut stream: S,
    workload: &mut W,
    seq: u64,
    request: &[u8],
    rbuf: &mut Vec<u8>,
) -> Result<usize, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
    W: StreamWorkload,
{
    stream.write_all(request).await.map_err(Failure::Io)?;
    let mut filled = 0;
    let n = loop {
        if filled == rbuf.len() {
            rbuf.resize(rbuf.len() * 2, 0);
        }
        match stream
            .read(&mut rbuf[filled..])
            .await
            .map_err(Failure::Io)?
        {
            0 => return Err(Failure::Eof),
            n => filled += n,
        }
        if let Some(n) = workload
            .check_reply(seq, &rbuf[..filled])
            .map_err(Failure::Reply)?
        {
            break n;
        }
    };
    // Close politely but do not wait for the server's side: that is not the server's work.
    let _ = stream.shutdown().await;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_defaults_to_the_host_of_the_address() {
        assert_eq!(host_of("localhost:8060"), "localhost");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(host_of("[::1]:443"), "::1");
    }
}
