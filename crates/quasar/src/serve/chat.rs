//! `quasar serve chat`: pulsar's chat example over TCP lines. A client is greeted at once
//! (`welcome, you are userN`), every member hears `* userN joined` / `* userN left`, and
//! every line a member sends reaches the others as `userN: text`.

use std::time::Duration;

use quasar_echo::chat::{self, ChatConfig};
use quasar_net::group::SlowMember;
use quasar_net::TcpServer;
use serde::{Deserialize, Serialize};

use super::{DemoServer, Listen, Running, Start, TcpFlags, TcpSettings};

/// The line chat.
pub(crate) struct Chat;

/// The `[chat]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct ChatSection {
    #[serde(flatten)]
    tcp: TcpSettings,
    /// Longest line in bytes; a longer one gets an error line and closes its member.
    max_line: usize,
    /// A member that stops reading: "close" it, or "skip" the lines it cannot take.
    slow_member: String,
}

impl Default for ChatSection {
    fn default() -> Self {
        ChatSection {
            // Members are quiet most of the time: no keep-alive closes them.
            tcp: TcpSettings {
                keep_alive: 0.0,
                ..TcpSettings::on(8061)
            },
            max_line: ChatConfig::default().get_max_line(),
            slow_member: "close".into(),
        }
    }
}

/// Flags of `quasar serve chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatFlags {
    #[command(flatten)]
    tcp: TcpFlags,
    /// Longest line in bytes.
    #[arg(long, value_name = "BYTES")]
    max_line: Option<usize>,
    /// What to do with a member that stops reading: close or skip.
    #[arg(long, value_name = "POLICY")]
    slow_member: Option<String>,
}

fn policy(name: &str) -> Option<SlowMember> {
    match name {
        "close" => Some(SlowMember::Close),
        "skip" => Some(SlowMember::Skip),
        _ => None,
    }
}

impl DemoServer for Chat {
    const NAME: &'static str = "chat";
    const ABOUT: &'static str = "pulsar's chat over TCP lines: greets, announces joins and leaves, relays lines";
    type Section = ChatSection;
    type Flags = ChatFlags;

    fn apply(f: ChatFlags, s: &mut ChatSection) {
        f.tcp.apply(&mut s.tcp);
        s.max_line = f.max_line.unwrap_or(s.max_line);
        if let Some(p) = f.slow_member {
            s.slow_member = p;
        }
    }

    fn listen(s: &ChatSection) -> Listen<'_> {
        Listen::Tcp(&s.tcp)
    }

    fn validate(s: &ChatSection) -> Result<(), String> {
        if s.max_line == 0 {
            return Err("--max-line must be positive".into());
        }
        if policy(&s.slow_member).is_none() {
            return Err(format!(
                "--slow-member must be close or skip, got {:?}",
                s.slow_member
            ));
        }
        Ok(())
    }

    async fn start(s: &ChatSection, at: Start<'_>) -> quasar_net::Result<Running> {
        let config = ChatConfig::default()
            .max_line(s.max_line)
            .slow_member(policy(&s.slow_member).unwrap_or(SlowMember::Close))
            .idle_timeout(Duration::from_secs_f64(s.tcp.keep_alive));
        let builder = at.configure(TcpServer::builder(chat::factory(config)));
        at.start_tcp(builder).await.map(Running::Tcp)
    }
}
