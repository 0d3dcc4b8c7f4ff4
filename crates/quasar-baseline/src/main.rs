//! Hand-written tokio baselines for quasar's benchmarks.
//!
//! Each subcommand is the least code that serves a protocol correctly on tokio: the floor that
//! quasar's own servers are measured against in the same run (`scripts/bench.sh`). Each prints
//! `<name> <bound address>` on stdout once listening (so `--bind 127.0.0.1:0` works) and exits
//! with status 0 on SIGTERM or Ctrl-C.
//!
//! # Layout
//!
//! - `tcp_echo.rs`: accept, read into a per-connection buffer, `write_all` it back
//!   (`--drop-byte`: a deliberately broken echo for the load tool's own tests).
//! - `udp_echo.rs`: one `recv_from`/`send_to` loop splitting datagrams on `\n`.
//! - `http.rs`: a minimal hyper 1.x server (`service_fn`): `/plaintext`, `/json`, and
//!   "Hello, World!" for any other path.
//! - `http_axum.rs`: axum 0.8 with the same routes, served by `axum::serve`.
//! - `tls_echo.rs`: the TCP echo loop over tokio-rustls.
//! - `ws_echo.rs`: a tokio-tungstenite WebSocket echo.
//! - `http_actix.rs`: actix-web 4 hello-world on one worker thread.
//! - `http_may.rs`: may_minihttp hello-world on one coroutine worker.
//! - `ws_chat.rs`: a tokio-tungstenite WebSocket chat on a tokio `broadcast` channel.
//! - `chat.rs`: a line chat on a tokio `broadcast` channel and tokio-util's `LinesCodec`.
//! - `relay.rs`: a TCP relay to one upstream, `copy_bidirectional` per connection.
//! - `rpc_jsonrpsee.rs`: the JSON-RPC calculator on jsonrpsee's server (HTTP and WebSocket).
//! - `proxy.rs`: a forward HTTP proxy, hyper server + hyper-util legacy client,
//!   `copy_bidirectional` for `CONNECT`.
//! - `shutdown.rs`: the SIGTERM / Ctrl-C signal and the address line.
#![forbid(unsafe_code)]
#![warn(rust_2018_idioms, unreachable_pub)]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod chat;
mod http;
mod http_actix;
mod http_axum;
mod http_may;
mod proxy;
mod relay;
mod rpc_jsonrpsee;
mod shutdown;
mod tcp_echo;
mod tls_echo;
mod udp_echo;
mod ws_chat;
mod ws_echo;

/// Zero-abstraction tokio servers to compare quasar against.
#[derive(Debug, Parser)]
#[command(name = "quasar-baseline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// TCP echo: every byte read is written back as it arrives (serves framed and raw clients).
    TcpEcho(TcpEchoArgs),
    /// UDP line echo: each `\n`-separated line of a datagram comes back as its own datagram.
    UdpEcho(CommonArgs),
    /// HTTP/1.1: a hyper 1.x server answering every request with 200 "Hello, World!".
    Http(CommonArgs),
    /// HTTP/1.1: axum 0.8 (`axum::serve`) with `/plaintext`, `/json` and "Hello, World!" elsewhere.
    HttpAxum(CommonArgs),
    /// HTTP/1.1: actix-web 4 on one worker thread answering every request with "Hello, World!".
    HttpActix(CommonArgs),
    /// HTTP/1.1: may_minihttp on one coroutine worker answering with "Hello, World!".
    HttpMay(CommonArgs),
    /// WebSocket echo: tokio-tungstenite echoing text and binary messages on any path.
    WsEcho(CommonArgs),
    /// TLS echo: the tcp-echo loop over a hand-written tokio-rustls acceptor.
    TlsEcho(TlsEchoArgs),
    /// WebSocket chat: each text message to every member as `{"message", "from"}` JSON.
    WsChat(ws_chat::WsChatArgs),
    /// Line chat: greets `userN`, announces joins and leaves, sends each line to the others.
    Chat(ChatArgs),
    /// TCP relay: each connection dials --upstream and `copy_bidirectional`s until both ends close.
    Relay(RelayArgs),
    /// JSON-RPC 2.0: the calculator (`calc.add`, ...) on jsonrpsee's server, HTTP and WebSocket.
    RpcJsonrpsee(CommonArgs),
    /// Forward HTTP proxy: hyper server + hyper-util pooled client, CONNECT tunnels.
    Proxy(CommonArgs),
}

/// Flags of `chat`.
#[derive(Debug, Args)]
struct ChatArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Longest line accepted, in bytes; a longer one gets `! line too long` and closes its member.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    max_line: u32,
    /// Lines the broadcast channel holds; a member further behind misses the oldest.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    capacity: u32,
}

/// Flags of `relay`.
#[derive(Debug, Args)]
struct RelayArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The address every connection is relayed to (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    upstream: String,
}

/// Flags of `tls-echo`.
#[derive(Debug, Args)]
struct TlsEchoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// PEM certificate chain, leaf first.
    #[arg(long, value_name = "FILE")]
    cert: std::path::PathBuf,
    /// PEM private key of --cert.
    #[arg(long, value_name = "FILE")]
    key: std::path::PathBuf,
}

/// Flags every baseline takes.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Run on a current-thread runtime instead of the multi-thread one.
    #[arg(long)]
    current_thread: bool,
}

/// Flags of `tcp-echo`.
#[derive(Debug, Args)]
struct TcpEchoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Deliberately broken: drop the first byte of every read before echoing it.
    #[arg(long)]
    drop_byte: bool,
    /// Bytes of the per-connection read buffer.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..))]
    buffer_size: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // actix-web brings its own runtime (`actix_rt::System`), so it runs outside tokio's.
    if let Command::HttpActix(args) = &cli.command {
        return match http_actix::serve(args.bind) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("quasar-baseline: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let common = match &cli.command {
        Command::TcpEcho(args) => &args.common,
        Command::TlsEcho(args) => &args.common,
        Command::Chat(args) => &args.common,
        Command::WsChat(args) => &args.common,
        Command::Relay(args) => &args.common,
        Command::UdpEcho(args)
        | Command::Http(args)
        | Command::WsEcho(args)
        | Command::HttpActix(args)
        | Command::HttpAxum(args)
        | Command::HttpMay(args)
        | Command::RpcJsonrpsee(args)
        | Command::Proxy(args) => args,
    };
    let runtime = if common.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("quasar-baseline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        match cli.command {
            Command::TcpEcho(args) => {
                tcp_echo::serve(args.common.bind, args.buffer_size as usize, args.drop_byte).await
            }
            Command::UdpEcho(args) => udp_echo::serve(args.bind).await,
            Command::Http(args) => http::serve(args.bind).await,
            Command::TlsEcho(args) => {
                tls_echo::serve(args.common.bind, &args.cert, &args.key).await
            }
            Command::WsEcho(args) => ws_echo::serve(args.bind).await,
            Command::HttpMay(args) => http_may::serve(args.bind).await,
            Command::HttpAxum(args) => http_axum::serve(args.bind).await,
            Command::Chat(args) => {
                chat::serve(
                    args.common.bind,
                    args.max_line as usize,
                    args.capacity as usize,
                )
                .await
            }
            Command::WsChat(args) => ws_chat::serve(args.common.bind, args.capacity as usize).await,
            Command::Relay(args) => relay::serve(args.common.bind, args.upstream).await,
            Command::RpcJsonrpsee(args) => rpc_jsonrpsee::serve(args.bind).await,
            Command::Proxy(args) => proxy::serve(args.bind).await,
            // Served above, before the tokio runtime.
            Command::HttpActix(_) => Ok(()),
        }
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quasar-baseline: {e}");
            ExitCode::FAILURE
        }
    }
}
