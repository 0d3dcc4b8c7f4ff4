//! `quasar serve`: the demo servers, as a registry.
//!
//! Each demo server is one file of this folder implementing [`DemoServer`]: its name, its
//! section of the configuration with its defaults, its flags, whether plain `quasar serve`
//! starts it, and how it starts on one address. [`SERVERS`] lists them (one line each in
//! `servers!` below); the command, the configuration layers, `quasar config show`,
//! `--help` defaults, address lines, logs, metrics and shutdown all iterate that list, so
//! adding a server is a new file here and one line in the list.
//!
//! With no protocol named, every server that [starts by default](DemoServer::STARTS_BY_DEFAULT)
//! starts; naming one starts that one alone, with its flags over its section. Each server
//! prints one line on stdout per listener once it listens, `<name> <transport> <address>`,
//! so scripts can read the bound port (`--bind 127.0.0.1:0`). Ctrl-C or SIGTERM closes
//! every server gracefully (see [`shutdown`]).

use std::future::Future;
use std::net::SocketAddr;

use quasar_net::{ConsumerFactory, DatagramServer, TcpServer, TcpServerBuilder};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bind::Bind;

mod common;
pub(crate) mod metrics;
mod overload;
mod registry;
mod run;
mod shutdown;
mod tls;

pub(crate) use common::{TcpFlags, TcpSettings};
pub(crate) use registry::{section_of, sections as registry_sections, Entry};
pub(crate) use run::{run, ServeArgs};

/// Declares each server's module and lists it in [`SERVERS`], in the order the servers
/// start, print their address and appear in `quasar config show`.
macro_rules! servers {
    ($($module:ident :: $server:ident),* $(,)?) => {
        $(mod $module;)*
        /// Every demo server of `quasar serve`.
        pub(crate) static SERVERS: &[&dyn Entry] = &[$(&$module::$server),*];
    };
}

servers! {
    echo::Echo,
    chat::Chat,
    udp_echo::UdpEcho,
    http::Http,
    resp::Resp,
    tunnel::Tunnel,
    proxy::Proxy,
}

/// One demo server of `quasar serve`.
///
/// A server is a unit struct implementing this trait, in its own file of `src/serve/`,
/// listed in [`SERVERS`] (one line of `servers!`). Everything else (subcommand,
/// configuration section, `QUASAR_<SECTION>_<FIELD>` variables, `config show`, address
/// lines, metrics, shutdown) follows from it.
///
/// # Examples
///
/// A TCP server with one setting of its own and one flag for it:
///
/// ```ignore
/// pub(crate) struct Shout;
///
/// #[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
/// pub(crate) struct ShoutSection {
///     #[serde(flatten)]
///     tcp: TcpSettings,
///     volume: u32,
/// }
///
/// impl Default for ShoutSection {
///     fn default() -> Self {
///         ShoutSection { tcp: TcpSettings::on(8063), volume: 11 }
///     }
/// }
///
/// #[derive(Debug, clap::Args)]
/// pub(crate) struct ShoutFlags {
///     #[command(flatten)]
///     tcp: TcpFlags,
///     /// How loud.
///     #[arg(long, value_name = "N")]
///     volume: Option<u32>,
/// }
///
/// impl DemoServer for Shout {
///     const NAME: &'static str = "shout";
///     const ABOUT: &'static str = "Answers every line in capitals.";
///     type Section = ShoutSection;
///     type Flags = ShoutFlags;
///
///     fn apply(flags: ShoutFlags, s: &mut ShoutSection) {
///         flags.tcp.apply(&mut s.tcp);
///         s.volume = flags.volume.unwrap_or(s.volume);
///     }
///
///     fn listen(s: &ShoutSection) -> Listen<'_> {
///         Listen::Tcp(&s.tcp)
///     }
///
///     async fn start(s: &ShoutSection, at: Start<'_>) -> quasar_net::Result<Running> {
///         let builder = at.configure(TcpServer::builder(ShoutFactory::new(s.volume)));
///         at.start_tcp(builder).await.map(Running::Tcp)
///     }
/// }
/// ```
pub(crate) trait DemoServer: Sync + 'static {
    /// The subcommand (`quasar serve NAME`) and the first word of its address line and
    /// log lines. Its configuration section is the name with `-` written `_`
    /// (`udp-echo` reads `[udp_echo]` and `QUASAR_UDP_ECHO_*`).
    const NAME: &'static str;
    /// One line for `quasar serve --help`; the default address is appended.
    const ABOUT: &'static str;
    /// Whether plain `quasar serve` starts it (a server that needs a setting with no
    /// sensible default, such as an upstream address, says `false`).
    const STARTS_BY_DEFAULT: bool = true;

    /// Its configuration section. `Default` holds the defaults, and the keys it
    /// serializes are the keys a file may set (any other is refused, naming the file).
    /// A TCP server flattens [`TcpSettings`] into it (`#[serde(flatten)]`).
    type Section: Default + Serialize + DeserializeOwned;
    /// Its flags, the last configuration layer: `Option`s (or `bool`s that only turn a
    /// setting on), so an unset flag keeps the file's value. A TCP server flattens
    /// [`TcpFlags`] into them. A setting the server cannot start without is an `Option`
    /// flag too, required in [`validate`](Self::validate), so that the file and the
    /// environment can give it as well.
    type Flags: clap::Args;

    /// Overrides the section's fields with the flags that were given.
    fn apply(flags: Self::Flags, section: &mut Self::Section);

    /// What the server listens with.
    fn listen(section: &Self::Section) -> Listen<'_>;

    /// Checks the server's own settings before anything listens (the shared TCP ones
    /// are checked already); an error is a usage error (exit 2) and should name the flag.
    /// Runs only for servers that start.
    fn validate(section: &Self::Section) -> Result<(), String> {
        let _ = section;
        Ok(())
    }

    /// Starts one listener at [`Start::addr`] (a `bind` list gets one call per address).
    fn start(
        section: &Self::Section,
        at: Start<'_>,
    ) -> impl Future<Output = quasar_net::Result<Running>>;
}

/// What a server listens with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Listen<'a> {
    /// TCP, optionally TLS, with the shared settings.
    Tcp(&'a TcpSettings),
    /// UDP on these addresses.
    Udp(&'a Bind),
}

/// A running listener, as [`DemoServer::start`] returns it.
#[derive(Debug)]
pub(crate) enum Running {
    /// A TCP (or TLS) server.
    Tcp(TcpServer),
    /// A UDP server.
    Datagram(DatagramServer),
}

/// Where and how one listener starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start<'a> {
    name: &'static str,
    addr: SocketAddr,
    tcp: Option<&'a TcpSettings>,
    tls: Option<&'a tls::Tls>,
}

impl Start<'_> {
    /// The address to listen on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `builder` named after the server, bound to [`addr`](Self::addr), with the shared
    /// TCP settings applied; the server's own settings go on after.
    pub(crate) fn configure<F: ConsumerFactory>(
        &self,
        builder: TcpServerBuilder<F>,
    ) -> TcpServerBuilder<F> {
        let builder = builder.name(self.name).bind(self.addr);
        match self.tcp {
            Some(tcp) => tcp.configure(builder),
            None => builder,
        }
    }

    /// Starts `builder` over TLS when the section asks for it, over plain TCP otherwise.
    pub(crate) async fn start_tcp<F: ConsumerFactory>(
        &self,
        builder: TcpServerBuilder<F>,
    ) -> quasar_net::Result<TcpServer> {
        match self.tls {
            Some(tls) => builder.acceptor(tls.acceptor.clone()).start().await,
            None => builder.start().await,
        }
    }
}
