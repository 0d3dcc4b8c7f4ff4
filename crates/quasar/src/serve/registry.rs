//! The object-safe face of [`DemoServer`], so that servers of different section and flag
//! types sit in one list, and the clap glue that turns the list into subcommands.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use figment::Figment;

use super::tls::Tls;
use super::{DemoServer, Listen, Running, Start};

use super::SERVERS;

/// A [`DemoServer`] without its types: every `DemoServer` is one.
pub(crate) trait Entry: Sync {
    /// [`DemoServer::NAME`].
    fn name(&self) -> &'static str;
    /// [`DemoServer::STARTS_BY_DEFAULT`].
    fn starts_by_default(&self) -> bool;
    /// The `quasar serve NAME` subcommand with its flags.
    fn command(&self) -> clap::Command;
    /// The section's defaults, as TOML.
    fn defaults(&self) -> toml::Table;
    /// Reads the section from the file and environment layers, then applies the flags
    /// (`quasar serve NAME`'s matches) if given.
    fn load(
        &self,
        layers: &Figment,
        flags: Option<&clap::ArgMatches>,
    ) -> Result<Box<dyn Loaded>, String>;
}

/// A section read with every layer applied, ready to start.
pub(crate) trait Loaded {
    /// The effective settings, as TOML (for `config show`).
    fn table(&self) -> Result<toml::Table, String>;
    /// The effective settings, as one JSON line (for the start log).
    fn json(&self) -> String;
    /// Checks every setting and resolves what must be ready before anything listens:
    /// the addresses and the TLS files. An error is a usage error (exit 2).
    fn prepare(&self) -> Result<Prepared, String>;
    /// Starts one listener.
    fn start<'a>(
        &'a self,
        addr: SocketAddr,
        tls: Option<&'a Tls>,
    ) -> Pin<Box<dyn Future<Output = quasar_net::Result<Running>> + 'a>>;
}

/// What a server needs before it listens.
pub(crate) struct Prepared {
    /// Every address of its `bind`, resolved.
    pub(crate) addrs: Vec<SocketAddr>,
    /// Its TLS acceptor, if its settings ask for one.
    pub(crate) tls: Option<Tls>,
}

/// Every server's `(section, defaults)`, in registry order.
pub(crate) fn sections() -> impl Iterator<Item = (String, toml::Table)> {
    SERVERS.iter().map(|e| (section_of(e.name()), e.defaults()))
}

/// The configuration section of a server: its name with `-` written `_`.
pub(crate) fn section_of(name: &str) -> String {
    name.replace('-', "_")
}

impl<D: DemoServer> Entry for D {
    fn name(&self) -> &'static str {
        D::NAME
    }

    fn starts_by_default(&self) -> bool {
        D::STARTS_BY_DEFAULT
    }

    fn command(&self) -> clap::Command {
        let defaults = D::Section::default();
        let about = match D::listen(&defaults) {
            Listen::Tcp(tcp) => format!("{} (default {})", D::ABOUT, tcp.bind),
            Listen::Udp(bind) => format!("{} (default {bind})", D::ABOUT),
        };
        // After the flags: clap takes the flag struct's doc comment as the about.
        <D::Flags as clap::Args>::augment_args(clap::Command::new(D::NAME)).about(about)
    }

    fn defaults(&self) -> toml::Table {
        // A section that cannot be written as TOML is a bug every test of `config show`
        // catches; an empty table keeps `--help` working meanwhile.
        toml::Table::try_from(D::Section::default()).unwrap_or_default()
    }

    fn load(
        &self,
        layers: &Figment,
        flags: Option<&clap::ArgMatches>,
    ) -> Result<Box<dyn Loaded>, String> {
        let mut section: D::Section = layers
            .extract_inner(&section_of(D::NAME))
            .map_err(crate::config::describe)?;
        if let Some(matches) = flags {
            let flags = <D::Flags as clap::FromArgMatches>::from_arg_matches(matches)
                .map_err(|e| e.to_string())?;
            D::apply(flags, &mut section);
        }
        Ok(Box::new(Section::<D>(section)))
    }
}

/// A typed section behind [`Loaded`].
struct Section<D: DemoServer>(D::Section);

impl<D: DemoServer> Loaded for Section<D> {
    fn table(&self) -> Result<toml::Table, String> {
        toml::Table::try_from(&self.0).map_err(|e| format!("[{}]: {e}", section_of(D::NAME)))
    }

    fn json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    fn prepare(&self) -> Result<Prepared, String> {
        let (bind, tls) = match D::listen(&self.0) {
            Listen::Tcp(tcp) => {
                tcp.validate()?;
                (&tcp.bind, Some(&tcp.tls))
            }
            Listen::Udp(bind) => (bind, None),
        };
        D::validate(&self.0)?;
        // Names resolve and files load before anything listens, so a bad one is a
        // usage error (exit 2), not a half-started process.
        let addrs = bind.resolve()?;
        let tls = match tls {
            Some(settings) => settings.load()?,
            None => None,
        };
        Ok(Prepared { addrs, tls })
    }

    fn start<'a>(
        &'a self,
        addr: SocketAddr,
        tls: Option<&'a Tls>,
    ) -> Pin<Box<dyn Future<Output = quasar_net::Result<Running>> + 'a>> {
        let tcp = match D::listen(&self.0) {
            Listen::Tcp(tcp) => Some(tcp),
            Listen::Udp(_) => None,
        };
        let at = Start {
            name: D::NAME,
            addr,
            tcp,
            tls,
        };
        Box::pin(D::start(&self.0, at))
    }
}

/// The server `quasar serve NAME` named, with its flags: the registry as a clap
/// subcommand set.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    pub(crate) name: &'static str,
    pub(crate) matches: clap::ArgMatches,
}

impl clap::FromArgMatches for Selected {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, sub)) = matches.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let Some(entry) = SERVERS.iter().find(|e| e.name() == name) else {
            return Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand));
        };
        Ok(Selected {
            name: entry.name(),
            matches: sub.clone(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Selected::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Subcommand for Selected {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        SERVERS
            .iter()
            .fold(cmd, |cmd, entry| cmd.subcommand(entry.command()))
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Selected::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        SERVERS.iter().any(|e| e.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Format;

    #[test]
    fn names_and_sections_are_unique() {
        let mut names: Vec<_> = SERVERS.iter().map(|e| section_of(e.name())).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "two servers share a section");
    }

    #[test]
    fn every_default_section_reads_back() {
        let layers = crate::config::layers(None).unwrap().0;
        for entry in SERVERS {
            let loaded = entry.load(&layers, None).unwrap();
            assert_eq!(
                loaded.table().unwrap(),
                entry.defaults(),
                "{}",
                entry.name()
            );
        }
    }

    #[test]
    fn every_server_has_a_subcommand_with_its_default_address() {
        for entry in SERVERS {
            let cmd = entry.command();
            assert_eq!(cmd.get_name(), entry.name());
            let about = cmd.get_about().unwrap().to_string();
            assert!(about.contains("(default "), "{about}");
        }
    }

    /// A server shaped like one that needs an upstream: not started by default, with a
    /// setting it cannot start without, given by a flag, a file or the environment.
    struct Needy;

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    struct NeedySection {
        #[serde(flatten)]
        tcp: super::super::TcpSettings,
        upstream: String,
    }

    impl Default for NeedySection {
        fn default() -> Self {
            NeedySection {
                tcp: super::super::TcpSettings::on(0),
                upstream: String::new(),
            }
        }
    }

    #[derive(Debug, clap::Args)]
    struct NeedyFlags {
        #[command(flatten)]
        tcp: super::super::TcpFlags,
        /// Where to forward, host:port.
        #[arg(long, value_name = "HOST:PORT")]
        upstream: Option<String>,
    }

    impl DemoServer for Needy {
        const NAME: &'static str = "needy";
        const ABOUT: &'static str = "Forwards to --upstream";
        const STARTS_BY_DEFAULT: bool = false;
        type Section = NeedySection;
        type Flags = NeedyFlags;

        fn apply(f: NeedyFlags, s: &mut NeedySection) {
            f.tcp.apply(&mut s.tcp);
            s.upstream = f.upstream.unwrap_or(std::mem::take(&mut s.upstream));
        }

        fn listen(s: &NeedySection) -> Listen<'_> {
            Listen::Tcp(&s.tcp)
        }

        fn validate(s: &NeedySection) -> Result<(), String> {
            if s.upstream.is_empty() {
                return Err("needs --upstream HOST:PORT (or upstream in [needy])".into());
            }
            Ok(())
        }

        async fn start(_: &NeedySection, _: Start<'_>) -> quasar_net::Result<Running> {
            unreachable!("the test prepares the server, it does not start it")
        }
    }

    #[test]
    fn a_server_can_require_a_setting_and_stay_off_by_default() {
        let entry: &dyn Entry = &Needy;
        assert!(!entry.starts_by_default());
        let mut defaults = toml::Table::new();
        defaults.insert("needy".into(), toml::Value::Table(entry.defaults()));
        let layers = Figment::from(figment::providers::Serialized::defaults(defaults));
        let matches = |args: &[&str]| entry.command().try_get_matches_from(args).unwrap();

        let bare = entry.load(&layers, Some(&matches(&["needy"]))).unwrap();
        let err = bare.prepare().err().expect("no upstream, no start");
        assert!(err.contains("--upstream"), "{err}");

        let flagged = matches(&["needy", "--upstream", "127.0.0.1:9"]);
        let given = entry.load(&layers, Some(&flagged)).unwrap();
        assert!(given.prepare().is_ok());
        assert!(given.json().contains("127.0.0.1:9"));

        let filed = layers.merge(figment::providers::Toml::string(
            "[needy]\nupstream = \"127.0.0.1:9\"\n",
        ));
        assert!(entry.load(&filed, None).unwrap().prepare().is_ok());
    }
}
