//! `quasar serve udp-echo`: pulsar's echoudp example; each line of a datagram comes back
//! as its own datagram.

use quasar_echo::udp::EchoUdpConfig;
use serde::{Deserialize, Serialize};

use super::{DemoServer, Listen, Running, Start};
use crate::bind::Bind;

/// The UDP echo server.
pub(crate) struct UdpEcho;

/// The `[udp_echo]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct UdpEchoSection {
    bind: Bind,
    /// Echo each datagram unchanged instead of line by line.
    raw: bool,
    /// 0 = one socket on the multi-thread runtime; N = N SO_REUSEPORT workers.
    workers: usize,
    /// Largest datagram in bytes; longer ones are counted and dropped.
    max_datagram_size: usize,
    /// recvmmsg/sendmmsg on Linux.
    batching: bool,
}

impl Default for UdpEchoSection {
    fn default() -> Self {
        UdpEchoSection {
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 8060)).into(),
            raw: false,
            workers: 0,
            max_datagram_size: 65536,
            batching: true,
        }
    }
}

/// Flags of `quasar serve udp-echo`.
#[derive(Debug, clap::Args)]
pub(crate) struct UdpEchoFlags {
    /// Addresses to listen on, host:port, comma-separated (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    bind: Option<Bind>,
    /// Echo each datagram unchanged instead of line by line.
    #[arg(long)]
    raw: bool,
    /// Current-thread worker runtimes with SO_REUSEPORT sockets (0 = one socket).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Largest datagram in bytes; longer ones are counted and dropped.
    #[arg(long, value_name = "BYTES")]
    max_datagram_size: Option<usize>,
    /// Use the portable recv_from/send_to path instead of recvmmsg/sendmmsg.
    #[arg(long)]
    no_batching: bool,
}

impl DemoServer for UdpEcho {
    const NAME: &'static str = "udp-echo";
    const ABOUT: &'static str =
        "pulsar's UDP echo: each line of a datagram comes back as a datagram";
    type Section = UdpEchoSection;
    type Flags = UdpEchoFlags;

    fn apply(f: UdpEchoFlags, s: &mut UdpEchoSection) {
        if let Some(b) = f.bind {
            s.bind = b;
        }
        s.raw |= f.raw;
        s.workers = f.workers.unwrap_or(s.workers);
        s.max_datagram_size = f.max_datagram_size.unwrap_or(s.max_datagram_size);
        s.batching &= !f.no_batching;
    }

    fn listen(s: &UdpEchoSection) -> Listen<'_> {
        Listen::Udp(&s.bind)
    }

    fn validate(s: &UdpEchoSection) -> Result<(), String> {
        if s.max_datagram_size == 0 || s.max_datagram_size > 65536 {
            return Err(format!(
                "--max-datagram-size must be between 1 and 65536, got {}",
                s.max_datagram_size
            ));
        }
        Ok(())
    }

    async fn start(s: &UdpEchoSection, at: Start<'_>) -> quasar_net::Result<Running> {
        EchoUdpConfig {
            max_datagram_size: s.max_datagram_size,
            raw: s.raw,
        }
        .server()
        .name(Self::NAME)
        .bind(at.addr())
        .workers(s.workers)
        .batching(s.batching)
        .start()
        .await
        .map(Running::Datagram)
    }
}
