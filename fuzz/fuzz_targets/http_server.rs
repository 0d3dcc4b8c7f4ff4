//! The HTTP/1.1 server consumer, fed arbitrary bytes split at arbitrary points: it must never
//! panic, and what it writes must stay bounded by what it was given (every response is small
//! or an echo of the input) and be HTTP/1.1 responses.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use quasar_http::server::{HttpFactory, Router, ServerConfig};
use quasar_http::Body;
use quasar_net::harness::ConsumerHarness;

/// Largest response head or small body any route writes (the echo excepted).
const SMALL_RESPONSE: usize = 1024;

fn app() -> Router {
    Router::new()
        .fixed("/", http::Response::new(Bytes::from_static(b"Hello, World!")))
        .get("/p/:x", |req: http::Request<Body>| async move {
            http::Response::new(Body::from(req.uri().path().len().to_string()))
        })
        // Streams the body back: its output grows with the input only.
        .post("/echo", |req: http::Request<Body>| async move {
            http::Response::new(req.into_body())
        })
        .websocket("/ws", |_ws| async {})
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // WebSocket handlers are spawned: they need a runtime context (never driven here).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _enter = rt.enter();
    let mut config = ServerConfig::default();
    config.limits.max_headers = 8;
    config.limits.max_head_bytes = 512;
    config.limits.max_request_line = 128;
    config.limits.max_body = 4096;
    config.limits.max_chunk_line = 64;
    config.limits.max_trailer_bytes = 256;
    // As a server connection runs it: pipelined requests, each through the one head parser.
    let mut h = ConsumerHarness::server(HttpFactory::new(app(), config));
    // Piece sizes cycle through a pattern drawn from the seed: 1..=16 bytes, varied.
    let mut rest = input;
    let mut i = 0usize;
    while !rest.is_empty() {
        let size = (usize::from(seed.rotate_left(i as u32 % 8)) % 16 + 1).min(rest.len());
        let (piece, tail) = rest.split_at(size);
        rest = tail;
        i += 1;
        if h.feed(piece).is_err() {
            break;
        }
    }
    let out = h.take_output();
    // Each request gets at most one small response (plus a 100 Continue), or an echo whose
    // chunked framing costs at most a few bytes per input byte.
    let bound = SMALL_RESPONSE * (input.len() / 16 + 2) + 16 * input.len();
    assert!(out.len() <= bound, "{} bytes out for {} in", out.len(), input.len());
    if !out.is_empty() {
        assert!(out.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&out));
    }
});
