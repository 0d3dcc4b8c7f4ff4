//! `quasar serve --metrics ADDR` (or `[metrics] bind = "ADDR"`): Prometheus metrics of
//! every demo server over HTTP.
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

/// The `[metrics]` section: where the endpoint listens, if anywhere. Not a demo server,
/// but a setting of `quasar serve` like theirs, in every layer (`QUASAR_METRICS_BIND`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub(crate) struct MetricsSection {
    /// `""` (the default): no endpoint.
    #[serde(with = "address_or_empty")]
    pub(crate) bind: Option<SocketAddr>,
}

/// The section's name in files and variables.
pub(crate) const SECTION: &str = "metrics";

/// An address written as a string, `""` meaning none (TOML has no null).
mod address_or_empty {
    use std::net::SocketAddr;

    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        a: &Option<SocketAddr>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.collect_str(a),
            None => s.serialize_str(""),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        let text = crate::config::lenient_string(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|e| {
            serde::de::Error::custom(format!("metrics bind {text:?}: {e} (want ip:port)"))
        })
    }
}

/// The content type of the OpenMetrics text format that `prometheus_client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Starts the endpoint on `addr`, exposing whatever `metrics` lists at scrape time.
pub(crate) async fn start(addr: SocketAddr, metrics: &Metrics) -> quasar_net::Result<TcpServer> {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    super::proxy::register_metrics(&mut registry);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_reads_an_address_or_nothing() {
        let off: MetricsSection = toml::from_str("bind = \"\"").unwrap();
        assert_eq!(off, MetricsSection::default());
        let on: MetricsSection = toml::from_str("bind = \"127.0.0.1:9100\"").unwrap();
        assert_eq!(on.bind, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(
            toml::to_string(&on).unwrap().trim(),
            "bind = \"127.0.0.1:9100\""
        );
        let err = toml::from_str::<MetricsSection>("bind = \"localhost\"").unwrap_err();
        assert!(err.to_string().contains("metrics bind"), "{err}");
    }
}
