//! quasar-http's integration tests, one module per file, built as one test binary (one
//! build and link instead of one per file). `app_cost` (its own global allocator) and
//! `proxy_fds` (it counts the process's open files) stay binaries of their own.
//!
//! One file's tests: `cargo test -p quasar-http --test it FILE::`.

mod client_support;
mod common;
mod proxy_support;

mod app_extract;
mod axum_router;
mod chat_room_slow;
mod client_auth;
mod client_cookies;
mod client_decompress;
mod client_expect;
mod client_http;
mod client_https;
mod client_limits;
mod client_properties;
mod client_proxy;
mod client_ws;
mod client_ws_deflate;
mod client_ws_python;
mod demo_bench_routes;
mod peers;
mod properties;
mod proxy_backpressure;
mod proxy_forward;
mod request_rules;
mod rpc_client;
mod rpc_jsonrpsee;
mod rpc_properties;
mod rpc_wire;
mod server_big_body;
mod server_budget;
mod server_fixed;
mod server_keep_alive;
mod server_raw;
mod server_shutdown;
mod server_stream;
mod server_ws;
mod ws_broadcast;
mod ws_deflate;
mod ws_protocol;
mod ws_split;
