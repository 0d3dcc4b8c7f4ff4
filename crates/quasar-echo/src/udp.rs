//! The UDP echo protocol (pulsar's `examples/echoudp`).
//!
//! Every datagram is split on `\n`; each non-empty line is sent back to its sender as a
//! datagram of its own, without the separator, in order. A datagram without a newline is
//! one line, so an 8 KiB payload comes back intact. Datagrams longer than
//! [`EchoUdpConfig::max_datagram_size`] are counted by the server
//! (`info().datagrams.oversize`), logged and dropped: the server's receive slots are one
//! byte longer than the maximum, so such a datagram can never pass for a shorter one.
//!
//! [`EchoUdpConfig::server`] gives a configured [`DatagramServerBuilder`]; [`echo`] and
//! [`echo_lines`] are the client side over a [`UdpEndpoint`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use quasar_echo::udp::{echo_lines, EchoUdpConfig};
//! use quasar_net::udp::UdpEndpoint;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! let server = EchoUdpConfig::default().server().start().await?;
//! let mut ep = UdpEndpoint::connect(server.address(), Duration::from_secs(1)).await?;
//! let replies = echo_lines(&mut ep, b"one\ntwo\n", Duration::from_secs(5)).await?;
//! assert_eq!(replies, vec![&b"one"[..], &b"two"[..]]);
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use quasar_net::udp::{
    DatagramConsumer, DatagramConsumerFactory, DatagramContext, DatagramServer,
    DatagramServerBuilder, SocketInfo, UdpEndpoint,
};
use quasar_net::Result;

/// The line separator.
pub const SEPARATOR: u8 = b'\n';

/// The default largest datagram echoed (64 KiB: above any UDP payload, so nothing is
/// oversize by default).
pub const DEFAULT_MAX_DATAGRAM_SIZE: usize = quasar_net::udp::DEFAULT_MAX_DATAGRAM_SIZE;

/// Settings of the UDP echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoUdpConfig {
    /// Largest datagram echoed; longer ones are counted and dropped.
    pub max_datagram_size: usize,
    /// Echo each datagram unchanged, as one reply, instead of line by line (for generic
    /// UDP load tools whose payloads may hold `\n` bytes).
    pub raw: bool,
}

impl Default for EchoUdpConfig {
    fn default() -> Self {
        EchoUdpConfig {
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
            raw: false,
        }
    }
}

impl EchoUdpConfig {
    /// A server builder for this configuration, named `echoudp`, bound to `127.0.0.1:0`
    /// unless the caller binds elsewhere; add `.bind(..)`, `.workers(n)` etc. and start it.
    pub fn server(self) -> DatagramServerBuilder<EchoUdpFactory> {
        DatagramServer::builder(EchoUdpFactory::new(self))
            .name("echoudp")
            .max_datagram_size(self.max_datagram_size)
    }
}

/// Builds [`EchoUdpConsumer`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoUdpFactory {
    config: EchoUdpConfig,
}

impl EchoUdpFactory {
    /// A factory for servers with `config`.
    pub fn new(config: EchoUdpConfig) -> Self {
        EchoUdpFactory { config }
    }

    /// The configuration.
    pub fn config(&self) -> EchoUdpConfig {
        self.config
    }
}

impl DatagramConsumerFactory for EchoUdpFactory {
    type Consumer = EchoUdpConsumer;

    fn build(&self, _socket: &SocketInfo) -> EchoUdpConsumer {
        EchoUdpConsumer {
            raw: self.config.raw,
        }
    }
}

/// The server side: echoes each non-empty line of a datagram as its own datagram, or
/// (with `raw`) each non-empty datagram unchanged.
#[derive(Debug)]
pub struct EchoUdpConsumer {
    raw: bool,
}

impl DatagramConsumer for EchoUdpConsumer {
    fn datagram_received(
        &mut self,
        cx: &mut DatagramContext<'_>,
        data: &[u8],
        _peer: SocketAddr,
    ) -> Result<()> {
        if self.raw {
            if !data.is_empty() {
                cx.reply(data)?;
            }
            return Ok(());
        }
        for line in lines(data) {
            cx.reply(line)?;
        }
        Ok(())
    }
}

/// The non-empty lines of `datagram`, as the server echoes them.
pub fn lines(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    datagram
        .split(|&b| b == SEPARATOR)
        .filter(|line| !line.is_empty())
}

/// Echoes one message: sends `message` (a line; a trailing `\n` is optional) and returns
/// the reply.
///
/// # Errors
///
/// As [`UdpEndpoint::request`]: a timeout when the server does not answer.
///
/// # Cancel safety
///
/// Cancel safe, as [`UdpEndpoint::request`].
pub async fn echo(endpoint: &mut UdpEndpoint, message: &[u8], timeout: Duration) -> Result<Bytes> {
    endpoint.request(message, timeout).await
}

/// Sends one datagram of several lines and collects one reply per non-empty line, each
/// within `timeout` of the previous one.
///
/// # Errors
///
/// As [`UdpEndpoint::request`] and [`UdpEndpoint::recv`]: a timeout when a reply is
/// missing.
///
/// # Cancel safety
///
/// Not cancel safe: replies that arrive after a dropped call are discarded by the
/// endpoint's next request, not returned.
pub async fn echo_lines(
    endpoint: &mut UdpEndpoint,
    datagram: &[u8],
    timeout: Duration,
) -> Result<Vec<Bytes>> {
    let expected = lines(datagram).count();
    if expected == 0 {
        endpoint.send(datagram).await?;
        return Ok(Vec::new());
    }
    let mut replies = Vec::with_capacity(expected);
    replies.push(endpoint.request(datagram, timeout).await?);
    while replies.len() < expected {
        replies.push(endpoint.recv(timeout).await?);
    }
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_skip_empty_ones_and_drop_separators() {
        let got: Vec<&[u8]> = lines(b"\none\n\ntwo\nthree").collect();
        assert_eq!(got, vec![&b"one"[..], b"two", b"three"]);
        assert_eq!(lines(b"\n\n").count(), 0);
        assert_eq!(lines(b"").count(), 0);
    }
}
