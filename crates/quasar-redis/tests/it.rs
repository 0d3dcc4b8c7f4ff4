//! quasar-redis's integration tests, one module per file, built as one test binary (one
//! build and link instead of one per file).
//!
//! One file's tests: `cargo test -p quasar-redis --test it FILE::`.

mod client_support;
mod server_support;

mod client_concurrency;
mod client_faults;
mod client_pubsub;
mod client_store;
mod client_tls;
mod commands;
mod decode;
mod properties;
mod pubsub_redis;
mod server_bad_input;
mod server_behaviour;
mod server_clients;
mod server_differential;
mod server_maxmemory;
