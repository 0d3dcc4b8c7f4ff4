//! `quasar serve`: the demo servers.
//!
//! With no protocol named, every server of the configuration starts; naming one starts
//! that one alone, with flags overriding its section. Each server prints one line on
//! stdout once it listens, `<name> <transport> <address>`, so scripts can read the bound
//! port (`--bind 127.0.0.1:0`). Ctrl-C or SIGTERM closes every server gracefully,
//! logging how many connections are open and the deadline; a second signal closes them
//! at once; the last line reports what the close did.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use quasar_net::metrics::Metrics;
use quasar_net::CloseReport;

use quasar_echo::tcp::{EchoConfig, EchoServerFactory};
use quasar_echo::udp::EchoUdpConfig;
use quasar_net::{DatagramServer, TcpServer};

use crate::bind::Bind;
use crate::config::{Config, EchoSection, UdpEchoSection};
use crate::serve_resp;

/// How long a signal-triggered close lets requests in flight finish.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Flags of `quasar serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// A configuration file over the embedded default: any subset of quasar.toml's fields.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics of every server at http://ADDR/metrics (off by default).
    #[arg(long, global = true, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    #[command(subcommand)]
    protocol: Option<Protocol>,
}

#[derive(Debug, clap::Subcommand)]
enum Protocol {
    /// pulsar's TCP echo: messages end with "\r\n\r\n" (default 127.0.0.1:8060).
    Echo(EchoArgs),
    /// pulsar's UDP echo: each line of a datagram comes back as a datagram (default 127.0.0.1:8060).
    UdpEcho(UdpEchoArgs),
    /// HTTP/1.1 and WebSocket demo routes (default 127.0.0.1:8070).
    Http(crate::serve_http::HttpArgs),
    /// pulsar's pulsards: a Redis-protocol key-value server (default 127.0.0.1:6410).
    Resp(serve_resp::RespArgs),
}

#[derive(Debug, clap::Args)]
struct UdpEchoArgs {
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

impl UdpEchoArgs {
    fn apply(self, s: &mut UdpEchoSection) {
        if let Some(b) = self.bind {
            s.bind = b;
        }
        s.raw |= self.raw;
        s.workers = self.workers.unwrap_or(s.workers);
        s.max_datagram_size = self.max_datagram_size.unwrap_or(s.max_datagram_size);
        s.batching &= !self.no_batching;
    }
}

#[derive(Debug, clap::Args)]
struct EchoArgs {
    #[command(flatten)]
    server: crate::server_args::ServerArgs,
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

impl EchoArgs {
    fn apply(self, s: &mut EchoSection) {
        self.server.apply(crate::server_args::common_of!(s));
        s.raw |= self.raw;
        s.max_requests = self.max_requests.unwrap_or(s.max_requests);
        s.max_requests_per_connection = self
            .max_requests_per_connection
            .unwrap_or(s.max_requests_per_connection);
        s.max_message_size = self.max_message_size.unwrap_or(s.max_message_size);
    }
}

/// Runs the demo servers until Ctrl-C or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let mut config = match load(args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (mut echo_tls, mut http_tls, mut resp_tls) = (None, None, None);
    let (echo, udp_echo, http, resp) = match args.protocol {
        None => (true, true, true, true),
        Some(Protocol::Echo(a)) => {
            echo_tls = match a.server.tls.load_or_exit() {
                Ok(tls) => tls,
                Err(code) => return code,
            };
            a.apply(&mut config.echo);
            (true, false, false, false)
        }
        Some(Protocol::UdpEcho(a)) => {
            a.apply(&mut config.udp_echo);
            (false, true, false, false)
        }
        Some(Protocol::Http(a)) => {
            http_tls = match a.server.tls.load_or_exit() {
                Ok(tls) => tls,
                Err(code) => return code,
            };
            a.apply(&mut config.http);
            (false, false, true, false)
        }
        Some(Protocol::Resp(a)) => {
            resp_tls = match a.server.tls.load_or_exit() {
                Ok(tls) => tls,
                Err(code) => return code,
            };
            a.apply(&mut config.resp);
            (false, false, false, true)
        }
    };
    if let Err(msg) = validate(&config).and_then(|()| serve_resp::validate(&config.resp)) {
        eprintln!("quasar: {msg}");
        return ExitCode::from(2);
    }
    // Names resolve before anything listens, so a bad one is a usage error (exit 2).
    let resolve = |on: bool, bind: &Bind| if on { bind.resolve() } else { Ok(Vec::new()) };
    let binds = (|| {
        Ok::<_, String>((
            resolve(echo, &config.echo.bind)?,
            resolve(udp_echo, &config.udp_echo.bind)?,
            resolve(http, &config.http.bind)?,
            resolve(resp, &config.resp.bind)?,
        ))
    })();
    let (echo_addrs, udp_addrs, http_addrs, resp_addrs) = match binds {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("quasar: {msg}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("quasar: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Listen for signals before announcing any address: a script that reads the
        // address and sends SIGTERM at once must get a graceful close, not the default
        // action (found by a parallel stress run of tests/serve.rs).
        let mut signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("quasar: cannot listen for signals: {e}");
                return ExitCode::FAILURE;
            }
        };
        let metrics = Metrics::new();
        let mut servers = Vec::new();
        if echo {
            log_settings("echo", &config.echo);
            for addr in echo_addrs {
                match start_echo(&config.echo, addr, echo_tls.as_ref()).await {
                    Ok(s) => {
                        // Before the address is announced: a SIGHUP with no handler kills.
                        if let Some(tls) = &echo_tls {
                            tls.reload_on_sighup("echo");
                        }
                        let transport = if echo_tls.is_some() { "tls" } else { "tcp" };
                        announce("echo", transport, s.address());
                        servers.push(s);
                    }
                    Err(e) => return fail("echo", e),
                }
            }
        }
        if http {
            log_settings("http", &config.http);
            for addr in http_addrs {
                match crate::serve_http::start_http(&config.http, addr, http_tls.as_ref()).await {
                    Ok(s) => {
                        let transport = crate::serve_tls::transport(http_tls.as_ref());
                        announce("http", transport, s.address());
                        servers.push(s);
                    }
                    Err(e) => return fail("http", e),
                }
            }
        }
        let mut udp_servers = Vec::new();
        if udp_echo {
            log_settings("udp-echo", &config.udp_echo);
            for addr in udp_addrs {
                match start_udp_echo(&config.udp_echo, addr).await {
                    Ok(s) => {
                        announce("udp-echo", "udp", s.address());
                        metrics.add_datagram_server(&s);
                        udp_servers.push(s);
                    }
                    Err(e) => return fail("udp-echo", e),
                }
            }
        }
        if resp {
            log_settings("resp", &config.resp);
            for addr in resp_addrs {
                match serve_resp::start(&config.resp, addr, resp_tls.as_ref()).await {
                    Ok(s) => {
                        let transport = crate::serve_tls::transport(resp_tls.as_ref());
                        announce("resp", transport, s.address());
                        servers.push(s);
                    }
                    Err(e) => return fail("resp", e),
                }
            }
        }
        for s in &servers {
            metrics.add_server(s);
        }
        let mut metrics_server = None;
        if let Some(addr) = args.metrics {
            match crate::serve_metrics::start(addr, &metrics).await {
                Ok(s) => {
                    announce("metrics", "http", s.address());
                    metrics_server = Some(s);
                }
                Err(e) => return fail("metrics", e),
            }
        }
        let all_stopped = async {
            let reports = futures_util::future::join_all(servers.iter().map(|s| s.wait())).await;
            futures_util::future::join_all(udp_servers.iter().map(|s| s.wait())).await;
            reports
        };
        let report = tokio::select! {
            _ = signals.wait() => {
                shutdown(&servers, &udp_servers, &mut signals).await
            }
            reports = all_stopped => {
                tracing::info!("every server stopped");
                sum(reports.iter())
            }
        };
        if let Some(m) = metrics_server {
            m.close(Duration::ZERO).await;
        }
        tracing::info!(
            finished_in_flight = report.finished_in_flight,
            closed_idle = report.closed_idle,
            forced = report.forced,
            "closed"
        );
        ExitCode::SUCCESS
    })
}

/// Default, file and environment layers; a bad file is a usage error (exit 2).
fn load(file: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    match Config::load(file) {
        Ok((config, ignored)) => {
            for name in ignored {
                tracing::warn!(variable = %name, "environment variable names no setting; ignored");
            }
            Ok(config)
        }
        Err(e) => {
            eprintln!("quasar: bad configuration: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn fail(name: &str, e: quasar_net::Error) -> ExitCode {
    eprintln!("quasar: {name} server: {e}");
    ExitCode::FAILURE
}

/// Logs a server's effective settings once, after every layer was applied.
fn log_settings(server: &str, section: &impl serde::Serialize) {
    let settings = serde_json::to_string(section).unwrap_or_default();
    tracing::info!(server, %settings, "effective settings");
}

/// The graceful close after a first signal; a second one aborts every connection.
async fn shutdown(
    servers: &[TcpServer],
    udp_servers: &[DatagramServer],
    signals: &mut Signals,
) -> CloseReport {
    let open: u64 = servers.iter().map(TcpServer::connected).sum();
    tracing::info!(
        open_connections = open,
        deadline_secs = SHUTDOWN_DEADLINE.as_secs_f64(),
        "signal received: closing gracefully; a second signal closes every connection now"
    );
    let tcp = futures_util::future::join_all(servers.iter().map(|s| s.close(SHUTDOWN_DEADLINE)));
    let udp =
        futures_util::future::join_all(udp_servers.iter().map(|s| s.close(SHUTDOWN_DEADLINE)));
    let closing = futures_util::future::join(tcp, udp);
    tokio::pin!(closing);
    let mut aborted = 0u64;
    let (reports, _) = tokio::select! {
        done = &mut closing => done,
        _ = signals.wait() => {
            let open: u64 = servers.iter().map(TcpServer::connected).sum();
            tracing::warn!(open_connections = open, "second signal: closing every connection now");
            for s in servers {
                for c in s.connections() {
                    c.abort();
                    aborted += 1;
                }
            }
            closing.await
        }
    };
    // The servers count an aborted connection as finished (it ended before the
    // deadline); the operator forced it.
    let mut report = sum(reports.iter());
    let moved = aborted.min(report.finished_in_flight + report.closed_idle);
    let from_busy = moved.min(report.finished_in_flight);
    report.finished_in_flight -= from_busy;
    report.closed_idle -= moved - from_busy;
    report.forced += moved;
    report
}

fn sum<'a>(reports: impl Iterator<Item = &'a CloseReport>) -> CloseReport {
    reports.fold(CloseReport::default(), |mut t, r| {
        t.finished_in_flight += r.finished_in_flight;
        t.closed_idle += r.closed_idle;
        t.forced += r.forced;
        t
    })
}

fn validate(config: &Config) -> Result<(), String> {
    let e = &config.echo;
    for (name, v) in [
        ("keep-alive", e.keep_alive),
        ("request-timeout", e.request_timeout),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "--{name} must be a non-negative number of seconds, got {v}"
            ));
        }
    }
    crate::serve_http::validate(&config.http)?;
    if e.max_message_size == 0 {
        return Err("--max-message-size must be positive".into());
    }
    if config.udp_echo.max_datagram_size == 0 || config.udp_echo.max_datagram_size > 65536 {
        return Err(format!(
            "--max-datagram-size must be between 1 and 65536, got {}",
            config.udp_echo.max_datagram_size
        ));
    }
    Ok(())
}

/// Prints a bound address on stdout, where scripts look for it.
fn announce(name: &str, transport: &str, addr: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{name} {transport} {addr}");
    let _ = out.flush();
}

async fn start_echo(
    s: &EchoSection,
    addr: SocketAddr,
    tls: Option<&crate::serve_tls::Tls>,
) -> quasar_net::Result<TcpServer> {
    let echo = EchoConfig {
        max_message_size: s.max_message_size,
        raw: s.raw,
    };
    let builder = crate::serve_overload::apply(TcpServer::builder(EchoServerFactory::new(echo)))
        .name("echo")
        .bind(addr)
        .keep_alive(Duration::from_secs_f64(s.keep_alive))
        .request_timeout(Duration::from_secs_f64(s.request_timeout))
        .max_connections(s.max_connections)
        .max_requests(s.max_requests)
        .max_requests_per_connection(s.max_requests_per_connection)
        .workers(s.workers)
        .connection_config(|c| {
            let marks = c.get_water_marks();
            if let Ok(m) = marks.with_cap(echo.write_buffer_cap(marks.high())) {
                c.water_marks(m);
            }
        });
    match tls {
        Some(tls) => builder.acceptor(tls.acceptor.clone()).start().await,
        None => builder.start().await,
    }
}

async fn start_udp_echo(
    s: &UdpEchoSection,
    addr: SocketAddr,
) -> quasar_net::Result<DatagramServer> {
    EchoUdpConfig {
        max_datagram_size: s.max_datagram_size,
        raw: s.raw,
    }
    .server()
    .name("udp-echo")
    .bind(addr)
    .workers(s.workers)
    .batching(s.batching)
    .start()
    .await
}

/// SIGTERM and SIGINT handlers, installed before the servers announce themselves.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next SIGTERM or SIGINT.
    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
