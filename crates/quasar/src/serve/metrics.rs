//! `quasar serve --metrics ADDR`: Prometheus metrics of every demo server over HTTP.
//!
//! `GET /metrics` answers the OpenMetrics text of a [`prometheus_client`] registry into
//! which [`quasar_net::metrics::Metrics`] put each server; the numbers are read from the
//! servers' `info()` at each scrape. The endpoint is quasar-http's own server, so it adds
//! no HTTP stack of its own.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use prometheus_client::registry::Registry;
use quasar_http::server::{builder, Router, ServerConfig};
use quasar_http::Body;
use quasar_net::metrics::Metrics;
use quasar_net::TcpServer;

/// The content type of the OpenMetrics text format that `prometheus_client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Starts the endpoint on `addr`, exposing whatever `metrics` lists at scrape time.
pub(crate) async fn start(addr: SocketAddr, metrics: &Metrics) -> quasar_net::Result<TcpServer> {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let registry = Arc::new(registry);
    let app = Router::new().get("/metrics", move |_req| {
        let registry = Arc::clone(&registry);
        async move {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, &registry) {
                Ok(()) => {
                    let mut resp = Response::new(Body::from(text));
                    resp.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
                    resp
                }
                Err(_) => {
                    let mut resp = Response::new(Body::from("encoding failed"));
                    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    resp
                }
            }
        }
    });
    builder(app, ServerConfig::default())
        .name("metrics")
        .bind(addr)
        .start()
        .await
}
