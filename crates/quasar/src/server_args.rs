//! The flags every TCP server of `quasar serve` shares (echo, http, resp): where it
//! listens, its workers, its timeouts, its connection limit, TLS and overload
//! protection. One clap struct, flattened into each server's own flags, so a new
//! server flag is added once and every server gets it with the same name and help.
//!
//! Flags are the last configuration layer: [`ServerArgs::apply`] overrides the fields
//! a flag was given for and leaves the file/environment value of every other one.

use crate::bind::Bind;

/// Flags shared by the TCP servers.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ServerArgs {
    /// Addresses to listen on, host:port, comma-separated (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    bind: Option<Bind>,
    /// Current-thread worker runtimes with SO_REUSEPORT listeners (0 = one multi-thread runtime).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Idle timeout between requests in seconds (0 disables it).
    #[arg(long, value_name = "SECS")]
    keep_alive: Option<f64>,
    /// Timeout of a request in flight, response included, in seconds (0 disables it;
    /// the progress timeouts still close a peer that stops moving bytes).
    #[arg(long, value_name = "SECS")]
    request_timeout: Option<f64>,
    /// Most connections open at once (0 = no limit); see --overflow.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    #[command(flatten)]
    pub(crate) tls: crate::serve_tls::TlsArgs,
    #[command(flatten)]
    pub(crate) overload: crate::serve_overload::OverloadArgs,
}

/// The fields of a configuration section that [`ServerArgs`] may override.
#[derive(Debug)]
pub(crate) struct Common<'a> {
    pub(crate) bind: &'a mut Bind,
    pub(crate) workers: &'a mut usize,
    pub(crate) keep_alive: &'a mut f64,
    pub(crate) request_timeout: &'a mut f64,
    pub(crate) max_connections: &'a mut usize,
}

/// Borrows the [`Common`] fields of a configuration section (`[echo]`, `[http]`, `[resp]`
/// share their names, not a type).
macro_rules! common_of {
    ($s:expr) => {
        $crate::server_args::Common {
            bind: &mut $s.bind,
            workers: &mut $s.workers,
            keep_alive: &mut $s.keep_alive,
            request_timeout: &mut $s.request_timeout,
            max_connections: &mut $s.max_connections,
        }
    };
}
pub(crate) use common_of;

impl ServerArgs {
    /// Overrides the fields a flag was given for; remembers the overload flags for
    /// [`serve_overload::apply`](crate::serve_overload::apply).
    pub(crate) fn apply(self, c: Common<'_>) {
        if let Some(b) = self.bind {
            *c.bind = b;
        }
        *c.workers = self.workers.unwrap_or(*c.workers);
        *c.keep_alive = self.keep_alive.unwrap_or(*c.keep_alive);
        *c.request_timeout = self.request_timeout.unwrap_or(*c.request_timeout);
        *c.max_connections = self.max_connections.unwrap_or(*c.max_connections);
        self.overload.remember();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    fn section() -> (Bind, usize, f64, f64, usize) {
        let bind: Bind = "127.0.0.1:1".parse().unwrap();
        (bind, 1, 2.0, 3.0, 4)
    }

    #[test]
    fn given_flags_override_and_the_rest_stay() {
        let cli = Cli::parse_from(["x", "--keep-alive", "9", "--max-connections", "7"]);
        let (mut bind, mut workers, mut ka, mut rt, mut mc) = section();
        cli.server.apply(Common {
            bind: &mut bind,
            workers: &mut workers,
            keep_alive: &mut ka,
            request_timeout: &mut rt,
            max_connections: &mut mc,
        });
        assert_eq!(
            (bind.to_string().as_str(), workers, ka, rt, mc),
            ("127.0.0.1:1", 1, 9.0, 3.0, 7)
        );
    }

    #[test]
    fn overload_and_tls_flags_parse_in_the_shared_struct() {
        let cli = Cli::try_parse_from([
            "x",
            "--memory-budget",
            "64MiB",
            "--overflow",
            "reject",
            "--max-queue-time",
            "2",
        ]);
        assert!(cli.is_ok());
        assert!(Cli::try_parse_from(["x", "--memory-budget", "lots"]).is_err());
        assert!(
            Cli::try_parse_from(["x", "--tls-cert", "a.pem"]).is_err(),
            "needs --tls-key"
        );
    }
}
