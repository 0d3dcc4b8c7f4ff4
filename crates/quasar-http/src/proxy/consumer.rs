//! The proxy's consumer: `CONNECT` requests are its own; every other request goes to the
//! HTTP server's consumer, whose handler forwards it.
//!
//! A `CONNECT` is answered only once the upstream accepted the TCP connection (so a
//! refused or silent upstream gets `502`/`504`, not a `200` followed by a close). Until
//! then the client's connection runs a [`TunnelSide`] that reads nothing; the dial task
//! writes the `200`, starts the upstream connection with a [`Relay`] towards the client
//! and hands its [`Connection`] to the `TunnelSide`, which from then on is a `Relay`
//! towards the upstream.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use http::{Method, StatusCode};
use quasar_net::relay::Relay;
use quasar_net::{
    serve_connection, Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer,
    Result,
};

use super::forward::{authorized, looped, with_peer};
use super::rules::host_allowed;
use super::stats::ProxyStats;
use super::Shared;
use crate::server::HttpConsumer;
use crate::RequestParser;

const CONNECT: &[u8] = b"CONNECT ";

/// The consumer of one request on a proxy's client connection.
pub struct ProxyConsumer {
    shared: Arc<Shared>,
    http: HttpConsumer,
    mode: Mode,
}

enum Mode {
    /// Not yet known whether the request is a `CONNECT`.
    Sniff,
    /// Anything but `CONNECT`: the HTTP server's consumer.
    Http,
    /// Reading a `CONNECT` head; `timer`: the header timeout is armed.
    Connect {
        parser: RequestParser,
        timer: bool,
    },
    Done,
}

impl std::fmt::Debug for ProxyConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.mode {
            Mode::Sniff => "sniff",
            Mode::Http => "http",
            Mode::Connect { .. } => "connect",
            Mode::Done => "done",
        };
        f.debug_struct("ProxyConsumer")
            .field("mode", &mode)
            .finish()
    }
}

impl ProxyConsumer {
    pub(crate) fn new(shared: Arc<Shared>, http: HttpConsumer) -> Self {
        ProxyConsumer {
            shared,
            http,
            mode: Mode::Sniff,
        }
    }

    fn http_data(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let peer = cx.connection().address();
        let http = &mut self.http;
        with_peer(peer, || http.data_received(cx, buf))
    }

    /// Writes the proxy's own answer to a `CONNECT` and closes.
    fn refuse(&mut self, cx: &mut Context<'_>, status: StatusCode, text: &str) -> Result<Progress> {
        ProxyStats::add(&self.shared.stats.inner.refused, 1);
        let mut dst = BytesMut::new();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            headers.insert(
                http::header::PROXY_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"quasar proxy\""),
            );
        }
        let head = crate::ResponseHead::new(
            status,
            &headers,
            crate::BodyLength::Length(text.len() as u64),
        )
        .close(true);
        crate::encode_response(&mut dst, &head);
        dst.put_slice(text.as_bytes());
        cx.write(&dst)?;
        cx.close();
        self.mode = Mode::Done;
        Ok(Progress::Finished(()))
    }

    fn connect(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Mode::Connect { parser, timer } = &mut self.mode else {
            return Ok(Progress::NeedMore);
        };
        let parsed = match parser.parse(buf) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => {
                let timeout = self.shared.header_timeout;
                if !*timer && !timeout.is_zero() {
                    cx.set_tick(timeout);
                    *timer = true;
                }
                return Ok(Progress::NeedMore);
            }
            Err(e) => return self.refuse(cx, e.status(), "malformed CONNECT request\n"),
        };
        if *timer {
            cx.set_tick(Duration::ZERO);
        }
        let parts = parsed.parts;
        let shared = Arc::clone(&self.shared);
        if parts.method != Method::CONNECT {
            return self.refuse(cx, StatusCode::BAD_REQUEST, "malformed CONNECT request\n");
        }
        // Authority-form only: `host:port`, nothing else.
        let uri = &parts.uri;
        let target = match (uri.scheme(), uri.authority(), uri.path_and_query()) {
            (None, Some(a), None) if a.port_u16().is_some() && !a.as_str().contains('@') => {
                a.clone()
            }
            (None, Some(a), Some(p))
                if p.as_str().is_empty() && a.port_u16().is_some() && !a.as_str().contains('@') =>
            {
                a.clone()
            }
            _ => {
                return self.refuse(
                    cx,
                    StatusCode::BAD_REQUEST,
                    "CONNECT target must be host:port\n",
                )
            }
        };
        let port = target.port_u16().unwrap_or(0);
        if target.host().is_empty() || port == 0 {
            return self.refuse(
                cx,
                StatusCode::BAD_REQUEST,
                "CONNECT target must be host:port\n",
            );
        }
        if looped(&shared, &parts.headers) {
            return self.refuse(
                cx,
                StatusCode::LOOP_DETECTED,
                "request looped back to this proxy\n",
            );
        }
        if !authorized(&shared, &parts.headers) {
            return self.refuse(
                cx,
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                "proxy credentials required\n",
            );
        }
        if !shared.ports.allows(port) {
            return self.refuse(
                cx,
                StatusCode::FORBIDDEN,
                "CONNECT to this port is not allowed\n",
            );
        }
        if !host_allowed(&shared.allow, target.host()) {
            return self.refuse(
                cx,
                StatusCode::FORBIDDEN,
                "destination not allowed by this proxy\n",
            );
        }
        // The tunnel outlives any request timeout; the bytes after the head (a client that
        // did not wait for the `200`) are the tunnel's first bytes.
        cx.set_long_lived(true);
        let slot = Arc::new(OnceLock::new());
        dial(
            shared,
            target.as_str().to_owned(),
            cx.connection().clone(),
            Arc::clone(&slot),
        );
        cx.upgrade(TunnelFactory {
            slot,
            stats: self.shared.stats.clone(),
        });
        self.mode = Mode::Done;
        Ok(Progress::Finished(()))
    }
}

impl ProtocolConsumer for ProxyConsumer {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.http.connection_made(cx);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        if let Mode::Sniff = self.mode {
            let n = buf.len().min(CONNECT.len());
            if buf[..n] != CONNECT[..n] {
                self.mode = Mode::Http;
            } else if n < CONNECT.len() {
                return Ok(Progress::NeedMore);
            } else {
                self.mode = Mode::Connect {
                    parser: RequestParser::new(self.shared.limits),
                    timer: false,
                };
            }
        }
        match self.mode {
            Mode::Http => self.http_data(cx, buf),
            Mode::Connect { .. } => self.connect(cx, buf),
            Mode::Sniff | Mode::Done => Ok(Progress::Finished(())),
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) -> Result<()> {
        match self.mode {
            Mode::Http | Mode::Sniff => self.http.eof_received(cx),
            _ => {
                cx.close();
                Ok(())
            }
        }
    }

    fn connection_lost(&mut self, error: Option<&Error>) -> Option<()> {
        match self.mode {
            Mode::Http | Mode::Sniff => self.http.connection_lost(error),
            _ => None,
        }
    }

    fn tick(&mut self, cx: &mut Context<'_>) -> Result<()> {
        match self.mode {
            Mode::Connect { timer: true, .. } => {
                cx.set_tick(Duration::ZERO);
                let _ = self.refuse(cx, StatusCode::REQUEST_TIMEOUT, "CONNECT head timed out\n")?;
                Ok(())
            }
            Mode::Http | Mode::Sniff => self.http.tick(cx),
            _ => Ok(()),
        }
    }

    fn shutdown(&mut self, cx: &mut Context<'_>) {
        match self.mode {
            Mode::Http | Mode::Sniff => self.http.shutdown(cx),
            _ => cx.close(),
        }
    }
}

/// Dials `target` for the client `client`; on success answers `200`, starts the upstream
/// side and puts its connection into `slot`; on failure answers `502`/`504` and closes.
fn dial(shared: Arc<Shared>, target: String, client: Connection, slot: Arc<OnceLock<Connection>>) {
    tokio::spawn(async move {
        let dialed = tokio::time::timeout(
            shared.connect_timeout,
            tokio::net::TcpStream::connect(target.as_str()),
        )
        .await;
        let failed = |counter: &std::sync::atomic::AtomicU64, status: StatusCode, why: String| {
            ProxyStats::add(counter, 1);
            tracing::debug!(%target, error = %why, "CONNECT: upstream unreachable");
            let mut dst = BytesMut::new();
            let headers = http::HeaderMap::new();
            let head = crate::ResponseHead::new(
                status,
                &headers,
                crate::BodyLength::Length(why.len() as u64),
            )
            .close(true);
            crate::encode_response(&mut dst, &head);
            dst.put_slice(why.as_bytes());
            let _ = client.write(dst.freeze());
            client.begin_close();
        };
        let c = &shared.stats.inner;
        let stream = match dialed {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return failed(
                    &c.connect_failed,
                    StatusCode::BAD_GATEWAY,
                    format!("upstream connect failed: {e}\n"),
                )
            }
            Err(_) => {
                return failed(
                    &c.connect_timeout,
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream connect timed out\n".into(),
                )
            }
        };
        let _ = stream.set_nodelay(true);
        if client
            .write(&b"HTTP/1.1 200 Connection established\r\n\r\n"[..])
            .is_err()
        {
            return; // the client left while we dialed
        }
        ProxyStats::add(&c.tunnels, 1);
        let down = shared.stats.down.clone();
        let back = client.clone();
        let factory = move || Relay::with_stats(back.clone(), down.clone());
        let (upstream, serving) = serve_connection(stream, factory, shared.tunnel_config.clone());
        let _ = slot.set(upstream.clone());
        if client.is_closed() {
            upstream.begin_close();
        }
        client.resume_reading();
        let _ = serving.await;
    });
}

/// Builds the [`TunnelSide`] a `CONNECT` upgrades its client connection to.
struct TunnelFactory {
    slot: Arc<OnceLock<Connection>>,
    stats: ProxyStats,
}

impl ConsumerFactory for TunnelFactory {
    type Consumer = TunnelSide;

    fn build(&self, _conn: &Connection) -> TunnelSide {
        TunnelSide {
            slot: Arc::clone(&self.slot),
            stats: self.stats.clone(),
            relay: None,
            eof: false,
        }
    }
}

/// The client side of a tunnel: waits for the dial, then relays to the upstream.
struct TunnelSide {
    slot: Arc<OnceLock<Connection>>,
    stats: ProxyStats,
    relay: Option<Relay>,
    /// The client half-closed before the upstream was there.
    eof: bool,
}

impl TunnelSide {
    /// The relay, once the upstream is connected.
    fn relay(&mut self, cx: &mut Context<'_>) -> Option<&mut Relay> {
        if self.relay.is_none() {
            let peer = self.slot.get()?.clone();
            let mut relay = Relay::with_stats(peer.clone(), self.stats.up.clone());
            relay.connection_made(cx);
            if self.eof {
                peer.shutdown_write();
            }
            self.relay = Some(relay);
        }
        self.relay.as_mut()
    }
}

impl ProtocolConsumer for TunnelSide {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_long_lived(true);
        cx.set_full_duplex(true);
        if self.relay(cx).is_none() {
            // Nothing is read until the upstream is there to take it.
            cx.pause_reading();
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        match self.relay(cx) {
            Some(relay) => relay.data_received(cx, buf),
            None => {
                cx.pause_reading();
                Ok(Progress::NeedMore)
            }
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) -> Result<()> {
        match self.relay(cx) {
            Some(relay) => relay.eof_received(cx),
            None => {
                self.eof = true;
                Ok(())
            }
        }
    }

    fn connection_lost(&mut self, error: Option<&Error>) -> Option<()> {
        match &mut self.relay {
            Some(relay) => relay.connection_lost(error),
            None => Some(()),
        }
    }
}

impl Drop for TunnelSide {
    fn drop(&mut self) {
        // The client left before the upstream was there: the dial's upstream closes.
        if self.relay.is_none() {
            if let Some(peer) = self.slot.get() {
                peer.begin_close();
            }
        }
    }
}
