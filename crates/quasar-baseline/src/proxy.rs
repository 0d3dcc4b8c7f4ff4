//! The hand-written hyper forward proxy: the floor `quasar serve proxy` is compared with.
//!
//! hyper's own `http_proxy` example, grown to do the same work as quasar's: a hyper 1.x
//! server (with upgrades) in front of hyper-util's pooled legacy client. Absolute-form
//! requests go through the client after the hop-by-hop headers are removed and `Via` and
//! `X-Forwarded-For` added (and the hop-by-hop headers of the response removed); `CONNECT
//! host:port` dials, answers `200`, and `copy_bidirectional`s the upgraded connection with
//! the upstream. Any port is allowed: the benchmark tunnels to a local server.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

use crate::shutdown;

type Body = BoxBody<Bytes, hyper::Error>;
type HttpClient = Client<HttpConnector, Incoming>;

/// Proxies on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector);
    shutdown::accept_until_signal("proxy", listener, |stream, peer| {
        let client = client.clone();
        async move {
            let service = service_fn(move |req| proxy(client.clone(), peer, req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        }
    })
    .await
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
    ] {
        headers.remove(name);
    }
}

async fn proxy(
    client: HttpClient,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    if req.method() == Method::CONNECT {
        let Some(target) = req.uri().authority().map(|a| a.to_string()) else {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "CONNECT target must be host:port\n",
            ));
        };
        let upstream = match TcpStream::connect(&target).await {
            Ok(s) => s,
            Err(_) => return Ok(text(StatusCode::BAD_GATEWAY, "upstream connect failed\n")),
        };
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                let mut client = TokioIo::new(upgraded);
                let mut upstream = upstream;
                let _ = upstream.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
        return Ok(Response::new(Empty::new().map_err(|e| match e {}).boxed()));
    }
    if req.uri().scheme().is_none() {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "absolute-form requests only\n",
        ));
    }
    let headers = req.headers_mut();
    strip_hop_by_hop(headers);
    let ip = peer.ip().to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(before) => format!("{before}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.append(header::VIA, HeaderValue::from_static("1.1 hyper-baseline"));
    match client.request(req).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            parts
                .headers
                .append(header::VIA, HeaderValue::from_static("1.1 hyper-baseline"));
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Err(_) => Ok(text(StatusCode::BAD_GATEWAY, "upstream failed\n")),
    }
}
