//! `quasar serve echo`: pulsar's TCP echo example; messages end with `"\r\n\r\n"`.

use quasar_echo::tcp::{EchoConfig, EchoServerFactory};
use quasar_net::TcpServer;
use serde::{Deserialize, Serialize};

use super::{DemoServer, Listen, Running, Start, TcpFlags, TcpSettings};

/// The TCP echo server.
pub(crate) struct Echo;

/// The `[echo]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct EchoSection {
    #[serde(flatten)]
    tcp: TcpSettings,
    /// Echo bytes as they arrive, with no framing.
    raw: bool,
    /// Sessions served before the server drains and exits (0 = never).
    max_requests: u64,
    /// Requests per connection before it is closed (0 = no limit).
    max_requests_per_connection: u64,
    /// Largest message in bytes.
    max_message_size: usize,
}

impl Default for EchoSection {
    fn default() -> Self {
        EchoSection {
            tcp: TcpSettings::on(8060),
            raw: false,
            max_requests: 0,
            max_requests_per_connection: 0,
            max_message_size: 1 << 20,
        }
    }
}

/// Flags of `quasar serve echo`.
#[derive(Debug, clap::Args)]
pub(crate) struct EchoFlags {
    #[command(flatten)]
    tcp: TcpFlags,
    /// Echo bytes as they arrive, with no framing.
    #[arg(long)]
    raw: bool,
    /// Sessions served before the server drains and exits (0 = never).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// Requests per connection before it is closed (0 = no limit).
    #[arg(long, value_name = "N")]
    max_requests_per_connection: Option<u64>,
    /// Largest message in bytes.
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<usize>,
}

impl DemoServer for Echo {
    const NAME: &'static str = "echo";
    const ABOUT: &'static str = "pulsar's TCP echo: messages end with \"\\r\\n\\r\\n\"";
    type Section = EchoSection;
    type Flags = EchoFlags;

    fn apply(f: EchoFlags, s: &mut EchoSection) {
        f.tcp.apply(&mut s.tcp);
        s.raw |= f.raw;
        s.max_requests = f.max_requests.unwrap_or(s.max_requests);
        s.max_requests_per_connection = f
            .max_requests_per_connection
            .unwrap_or(s.max_requests_per_connection);
        s.max_message_size = f.max_message_size.unwrap_or(s.max_message_size);
    }

    fn listen(s: &EchoSection) -> Listen<'_> {
        Listen::Tcp(&s.tcp)
    }

    fn validate(s: &EchoSection) -> Result<(), String> {
        if s.max_message_size == 0 {
            return Err("--max-message-size must be positive".into());
        }
        Ok(())
    }

    async fn start(s: &EchoSection, at: Start<'_>) -> quasar_net::Result<Running> {
        let echo = EchoConfig {
            max_message_size: s.max_message_size,
            raw: s.raw,
        };
        let builder = at
            .configure(TcpServer::builder(EchoServerFactory::new(echo)))
            .max_requests(s.max_requests)
            .max_requests_per_connection(s.max_requests_per_connection)
            .connection_config(|c| {
                let marks = c.get_water_marks();
                if let Ok(m) = marks.with_cap(echo.write_buffer_cap(marks.high())) {
                    c.water_marks(m);
                }
            });
        at.start_tcp(builder).await.map(Running::Tcp)
    }
}
