//! `HttpClient` through an HTTP proxy: plain requests in absolute form, `https://` and
//! `ws://`/`wss://` through `CONNECT` tunnels to quasar's own servers, `no_proxy` bypass,
//! proxies from environment-style variables (and from the real environment of a child
//! process), proxy Basic credentials, and a `407` to `CONNECT` as a typed error.
//!
//! The proxy is a few lines of raw tokio here (it records the heads it saw, then relays
//! bytes), so these tests do not depend on `quasar serve proxy`.

use crate::client_support;
use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use client_support::{response, serve, within};
use common::T;
use common::{pki, Pki};
use quasar_http::client::{ClientError, HttpClient, NoProxy, Proxy};
use quasar_http::proxy::{ForwardProxy, PortRule};
use quasar_http::server::ServerConfig;
use quasar_http::ws::{CloseCode, Message};
use quasar_net::tls::PemSource;
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A forward proxy that records the request heads it gets.
struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    accepted: Arc<AtomicUsize>,
}

impl TestProxy {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Starts a proxy; with `auth` (`user:pass`) it answers `407` to requests without them.
async fn proxy(auth: Option<&'static str>) -> TestProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (log, count) = (Arc::clone(&seen), Arc::clone(&accepted));
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(relay(sock, Arc::clone(&log), auth));
        }
    });
    TestProxy {
        addr,
        seen,
        accepted,
    }
}

/// One proxied connection: a `CONNECT` tunnel, or absolute-form requests to one origin.
async fn relay(mut sock: TcpStream, log: Arc<Mutex<Vec<String>>>, auth: Option<&'static str>) {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let rest = buf[end..].to_vec();
    log.lock().unwrap().push(head.clone());
    if let Some(creds) = auth {
        let want = format!(
            "proxy-authorization: basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
        .to_ascii_lowercase();
        if !head.to_ascii_lowercase().contains(&want) {
            let _ = sock
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      proxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n",
                )
                .await;
            return;
        }
    }
    let mut line = head.lines().next().unwrap().split(' ');
    let (method, target) = (line.next().unwrap(), line.next().unwrap());
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            let _ = sock.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        };
        let _ = sock
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = tokio::io::copy_bidirectional(&mut sock, &mut upstream).await;
        return;
    }
    // Absolute form: `GET http://host:port/path HTTP/1.1`.
    let uri: http::Uri = target.parse().unwrap();
    let authority = uri.authority().unwrap().as_str().to_owned();
    let mut upstream = TcpStream::connect(&authority).await.unwrap();
    let origin_form = head.replacen(target, uri.path_and_query().unwrap().as_str(), 1);
    upstream.write_all(origin_form.as_bytes()).await.unwrap();
    upstream.write_all(&rest).await.unwrap();
    let _ = tokio::io::copy_bidirectional(&mut sock, &mut upstream).await;
}

/// An origin that answers every request with its own request line and headers.
async fn origin() -> client_support::Server {
    serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let uri = &req.head.parts.uri;
            let mut seen = format!("{} {}\n", req.method(), uri.path_and_query().unwrap());
            for (name, value) in &req.head.parts.headers {
                seen.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
            }
            conn.write(response(200, "", &seen).as_bytes()).await;
        }
    })
    .await
}

/// quasar's demo app (`/`, `/echo`, `/ws`), over TLS when given a certificate and key.
async fn demo_server(tls: Option<(&str, &str)>) -> TcpServer {
    let builder = quasar_http::server::builder(
        quasar_http::demo::app(|| serde_json::json!({})),
        ServerConfig::default(),
    )
    .bind("127.0.0.1:0".parse::<SocketAddr>().unwrap());
    match tls {
        None => builder.start().await.expect("server starts"),
        Some((cert, key)) => builder
            .acceptor(common::tls_acceptor(cert, key))
            .start()
            .await
            .expect("server starts"),
    }
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let proxy = proxy(Some("al:s3cret")).await;
    let origin = origin().await;
    let proxy_url = format!("http://al:s3cret@{}", proxy.addr);
    let client = HttpClient::builder()
        .proxy(Proxy::all(&proxy_url).unwrap())
        .build()
        .unwrap();
    for path in ["/one?x=1", "/two"] {
        let res = within("GET", client.get(&origin.url(path))).await.unwrap();
        assert_eq!(res.status(), 200);
        let seen = String::from_utf8(res.body().to_vec()).unwrap();
        assert!(seen.starts_with(&format!("GET {path}\n")), "{seen}");
    }
    let heads = proxy.seen();
    assert_eq!(
        heads.len(),
        1,
        "one proxy connection, kept alive: {heads:?}"
    );
    assert!(
        heads[0].starts_with(&format!("GET http://{}/one?x=1 HTTP/1.1\r\n", origin.addr)),
        "{}",
        heads[0]
    );
    assert_eq!(client.sessions(), 1);
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_and_tls_is_verified_inside_it() {
    let Pki { ca, cert, key } = pki(&["127.0.0.1"]);
    let server = demo_server(Some((&cert, &key))).await;
    let proxy = proxy(None).await;
    let client = HttpClient::builder()
        .ca(PemSource::bytes(ca))
        .proxy(Proxy::https(&proxy.url()).unwrap())
        .build()
        .unwrap();
    let port = server.address().port();
    let url = format!("https://127.0.0.1:{port}/");
    let res = within("GET", client.get(&url)).await.unwrap();
    assert_eq!(
        (res.status().as_u16(), &res.body()[..]),
        (200, &b"Hello, World!"[..])
    );
    let res = within("POST", client.post(&format!("{url}echo"), "tunnelled"))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"tunnelled");
    let heads = proxy.seen();
    assert_eq!(heads.len(), 1, "one tunnel, reused: {heads:?}");
    assert!(
        heads[0].starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
        "{}",
        heads[0]
    );
    // An http proxy scope leaves https alone: this one is https-only, so http goes direct.
    let plain = demo_server(None).await;
    let res = within(
        "direct",
        client.get(&format!("http://{}/", plain.address())),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(proxy.accepted(), 1);
    client.close().await;
    server.close(T).await;
    plain.close(T).await;
}

#[tokio::test]
async fn websockets_go_through_a_connect_tunnel_plain_and_over_tls() {
    let Pki { ca, cert, key } = pki(&["127.0.0.1"]);
    let plain = demo_server(None).await;
    let secure = demo_server(Some((&cert, &key))).await;
    let proxy = proxy(Some("u:p")).await;
    let client = HttpClient::builder()
        .ca(PemSource::bytes(ca))
        .proxy(Proxy::all(&proxy.url()).unwrap().basic_auth("u", "p"))
        .build()
        .unwrap();
    for url in [
        format!("ws://{}/ws", plain.address()),
        format!("wss://127.0.0.1:{}/ws", secure.address().port()),
        // An `http://` URL for a WebSocket takes a tunnel too, not the absolute form.
        format!("http://{}/ws", plain.address()),
    ] {
        let mut ws = within("handshake", client.websocket(&url)).await.unwrap();
        ws.send(Message::Text("through the proxy".into()))
            .await
            .unwrap();
        let echoed = within("echo", ws.recv()).await.expect("a message").unwrap();
        assert_eq!(echoed, Message::Text("through the proxy".into()));
        within("close", ws.close(CloseCode::NORMAL, "bye"))
            .await
            .unwrap();
    }
    let heads = proxy.seen();
    assert_eq!(heads.len(), 3, "{heads:?}");
    assert!(heads[0].starts_with(&format!("CONNECT {} HTTP/1.1", plain.address())));
    assert!(heads[1].starts_with(&format!(
        "CONNECT 127.0.0.1:{} HTTP/1.1",
        secure.address().port()
    )));
    assert!(heads[2].starts_with(&format!("CONNECT {} HTTP/1.1", plain.address())));
    plain.close(T).await;
    secure.close(T).await;
}

/// The client and quasar's own forward proxy together: plain HTTP in absolute form, HTTPS
/// and WebSocket (plain and TLS) through `CONNECT` tunnels, all on one `ForwardProxy`.
#[tokio::test]
async fn the_client_reaches_plain_tls_and_websocket_servers_through_forward_proxy() {
    let Pki { ca, cert, key } = pki(&["127.0.0.1"]);
    let plain = demo_server(None).await;
    let secure = demo_server(Some((&cert, &key))).await;
    let forward = ForwardProxy::builder()
        .connect_ports(PortRule::Any)
        .auth("u", "p")
        .build();
    let stats = forward.stats();
    let proxy = TcpServer::builder(forward)
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("proxy starts");
    let client = HttpClient::builder()
        .ca(PemSource::bytes(ca))
        .proxy(Proxy::all(&format!("http://u:p@{}", proxy.address())).unwrap())
        .build()
        .unwrap();
    let res = within(
        "plain GET",
        client.get(&format!("http://{}/", plain.address())),
    )
    .await
    .unwrap();
    assert_eq!(
        (res.status().as_u16(), &res.body()[..]),
        (200, &b"Hello, World!"[..])
    );
    let https = format!("https://127.0.0.1:{}/echo", secure.address().port());
    let res = within("https POST", client.post(&https, "tunnelled"))
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), &res.body()[..]),
        (200, &b"tunnelled"[..])
    );
    for url in [
        format!("ws://{}/ws", plain.address()),
        format!("wss://127.0.0.1:{}/ws", secure.address().port()),
    ] {
        let mut ws = within("handshake", client.websocket(&url)).await.unwrap();
        ws.send(Message::Text("via quasar's proxy".into()))
            .await
            .unwrap();
        let echoed = within("echo", ws.recv()).await.expect("a message").unwrap();
        assert_eq!(echoed, Message::Text("via quasar's proxy".into()));
        within("close", ws.close(CloseCode::NORMAL, "bye"))
            .await
            .unwrap();
    }
    // One forwarded request; two tunnels: one to the plain server (the `ws://` socket),
    // one to the TLS server, opened by the `https` POST and taken again from the pool for
    // the `wss://` handshake.
    let seen = stats.snapshot();
    assert_eq!((seen.requests, seen.tunnels), (1, 2), "{seen:?}");
    client.close().await;
    proxy.close(T).await;
    plain.close(T).await;
    secure.close(T).await;
}

#[tokio::test]
async fn a_407_to_connect_is_a_typed_error_carrying_the_status() {
    let Pki { ca, cert, key } = pki(&["127.0.0.1"]);
    let server = demo_server(Some((&cert, &key))).await;
    let proxy = proxy(Some("right:creds")).await;
    let url = format!("https://127.0.0.1:{}/", server.address().port());
    for proxy_url in [proxy.url(), format!("http://wrong:creds@{}", proxy.addr)] {
        let client = HttpClient::builder()
            .ca(PemSource::bytes(ca.clone()))
            .proxy(Proxy::all(&proxy_url).unwrap())
            .build()
            .unwrap();
        let err = within("GET", client.get(&url)).await.unwrap_err();
        assert!(
            matches!(err, ClientError::ProxyConnect(s) if s == 407),
            "{err:?}"
        );
        assert_eq!(
            client.open_connections(),
            0,
            "the refused connection is gone"
        );
    }
    // Plain http through a refusing proxy: the 407 is the response, as curl returns it.
    let client = HttpClient::builder()
        .proxy(Proxy::all(&proxy.url()).unwrap())
        .build()
        .unwrap();
    let res = within("GET", client.get("http://127.0.0.1:9/"))
        .await
        .unwrap();
    assert_eq!(res.status(), 407);
    server.close(T).await;
}

#[tokio::test]
async fn no_proxy_hosts_go_direct() {
    let proxy = proxy(None).await;
    let origin = origin().await;
    let rules = format!("example.test, 127.0.0.1:{}", origin.addr.port());
    // On the proxy itself, and as the environment's `no_proxy`.
    let explicit = HttpClient::builder()
        .proxy(
            Proxy::all(&proxy.url())
                .unwrap()
                .no_proxy(NoProxy::parse(&rules)),
        )
        .build()
        .unwrap();
    let from_env = HttpClient::builder()
        .proxy_env([("http_proxy", proxy.url()), ("NO_PROXY", rules)])
        .build()
        .unwrap();
    for client in [explicit, from_env] {
        let res = within("GET", client.get(&origin.url("/direct")))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    assert_eq!(proxy.accepted(), 0, "{:?}", proxy.seen());
    assert_eq!(origin.accepted(), 2);
}

#[tokio::test]
async fn proxies_come_from_environment_variables_by_scheme() {
    let Pki { ca, cert, key } = pki(&["127.0.0.1"]);
    let tls = demo_server(Some((&cert, &key))).await;
    let http_proxy = proxy(None).await;
    let https_proxy = proxy(None).await;
    let origin = origin().await;
    let client = HttpClient::builder()
        .ca(PemSource::bytes(ca))
        .proxy_env([
            ("http_proxy", http_proxy.url()),
            ("HTTPS_PROXY", https_proxy.addr.to_string()),
            ("unrelated", "x".to_string()),
        ])
        .build()
        .unwrap();
    within("http", client.get(&origin.url("/"))).await.unwrap();
    let url = format!("https://127.0.0.1:{}/", tls.address().port());
    within("https", client.get(&url)).await.unwrap();
    assert!(http_proxy.seen()[0].starts_with("GET http://"));
    assert!(https_proxy.seen()[0].starts_with("CONNECT "));
    assert_eq!((http_proxy.seen().len(), https_proxy.seen().len()), (1, 1));
    // No proxy unless asked for, whatever the environment says.
    let err = HttpClient::builder()
        .proxy_env([("all_proxy", "socks5://127.0.0.1:1")])
        .build()
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidProxy(_)), "{err:?}");
    tls.close(T).await;
}

/// The child half of `proxy_from_env_reads_the_real_environment`: run only when the parent
/// sets the variables.
#[tokio::test]
async fn child_fetches_through_the_environment_proxy() {
    let Ok(url) = std::env::var("QUASAR_PROXY_TEST_URL") else {
        return; // run as the parent's child only
    };
    let client = HttpClient::builder().proxy_from_env().build().unwrap();
    let res = within("GET", client.get(&url)).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn proxy_from_env_reads_the_real_environment() {
    let proxy = proxy(None).await;
    let origin = origin().await;
    // The variables are set in a child process: this process' environment stays untouched.
    // The harness names a test by its module path without the crate's name.
    let child = match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::child_fetches_through_the_environment_proxy"),
        None => "child_fetches_through_the_environment_proxy".to_string(),
    };
    let status = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &child, "--nocapture"])
        .env("QUASAR_PROXY_TEST_URL", origin.url("/via-env"))
        .env("http_proxy", proxy.url())
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with(&format!("GET http://{}/via-env HTTP/1.1", origin.addr)));
}

#[tokio::test]
async fn a_proxy_that_never_answers_connect_hits_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts, reads, never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let client = HttpClient::builder()
        .proxy(Proxy::all(&format!("http://{addr}")).unwrap())
        .connect_timeout(std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let err = within("GET", client.get("https://127.0.0.1:9/"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(client.open_connections(), 0);
}
