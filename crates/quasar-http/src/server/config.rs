//! Settings of the HTTP server consumer and its WebSocket connections.

use std::time::Duration;

use crate::ws::{DeflateConfig, WsLimits};
use crate::Limits;

/// Default [`ServerConfig::header_timeout`]: 10 s from a request's first byte to the end of
/// its head.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServerConfig::body_channel`]: request body chunks queued for the handler.
pub const DEFAULT_BODY_CHANNEL: usize = 4;
/// Default [`WsConfig::channel`]: received messages queued for the handler.
pub const DEFAULT_WS_CHANNEL: usize = 16;
/// Default [`WsConfig::close_timeout`].
pub const DEFAULT_WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the HTTP/1.1 server consumer.
///
/// Connection-wide timers belong to the `TcpServer` builder: `keep_alive` is the idle
/// timeout between requests, `request_timeout` bounds a whole exchange (head, body,
/// handler and the response still owed). The header timeout here is the slowloris guard.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Parser limits (head, request line, headers, body sizes).
    pub limits: Limits,
    /// Most time from a request's first byte to the end of its head; zero disables it.
    /// Expired: `408 Request Timeout` and close.
    pub header_timeout: Duration,
    /// Requests per connection; the last response says `Connection: close` (0 = no limit).
    /// [`builder`](crate::server::builder) also sets the engine's limit to this.
    pub max_requests: u64,
    /// Request body chunks (each at most one socket read) queued for the handler before the
    /// connection stops reading (request-side back-pressure). At least 1.
    pub body_channel: usize,
    /// The `Server` header value (`None`: no header).
    pub server_name: Option<&'static str>,
    /// Close the connection after every response with a status >= 400 (pulsar's rule).
    ///
    /// Off by default: an error response keeps the connection, as hyper does, whenever the
    /// request allows it (HTTP/1.1 without `Connection: close`, or HTTP/1.0 with
    /// `keep-alive`) and its end is known. A request body the handler did not read is read
    /// to its end and dropped (within [`Limits::max_body`](crate::Limits::max_body)). The
    /// connection still closes when the request could not be read (a malformed head or
    /// body, the server's own 400/408/413/417 answers) or the response carries
    /// `Connection: close`. Turn this on for peers that expect the old behaviour.
    pub close_on_error: bool,
    /// WebSocket settings.
    pub ws: WsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_requests: 0,
            body_channel: DEFAULT_BODY_CHANNEL,
            server_name: Some("quasar"),
            close_on_error: false,
            ws: WsConfig::default(),
        }
    }
}

/// Settings of server-side WebSocket connections.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Frame and message size caps.
    pub limits: WsLimits,
    /// Send a ping this often (`None`: never).
    pub ping_interval: Option<Duration>,
    /// Close after this long without a byte either way (zero: never, as pulsar did).
    pub idle_timeout: Duration,
    /// After sending a close frame, how long to wait for the peer's before closing.
    pub close_timeout: Duration,
    /// Received messages queued for the handler before the connection stops reading.
    pub channel: usize,
    /// permessage-deflate (RFC 7692): accepted when a client offers it, unless
    /// `deflate.enabled` is false ([`DeflateConfig::disabled`]).
    pub deflate: DeflateConfig,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            limits: WsLimits::default(),
            ping_interval: None,
            idle_timeout: Duration::ZERO,
            close_timeout: DEFAULT_WS_CLOSE_TIMEOUT,
            channel: DEFAULT_WS_CHANNEL,
            deflate: DeflateConfig::default(),
        }
    }
}
