//! quasar-net's integration tests, one module per file, built as one test binary (one
//! build and link instead of one per file). `no_alloc_hot_path` (its own global allocator),
//! `accept_backoff` (it lowers the process's open-file limit) and `relay_fds` (it counts the
//! process's open files) stay binaries of their own.
//!
//! One file's tests: `cargo test -p quasar-net --test it FILE::`.

mod core_support;

mod abuse_events;
mod acceptor;
mod async_responses;
mod backpressure;
mod bad_input;
mod call_deadlines;
mod call_hand_off;
mod client_connection;
mod client_multiplexed;
mod client_on_connect;
mod counters;
mod detach;
mod duplex_engine;
mod engine_rules;
mod external_writes;
mod flow_control;
mod graceful_close;
mod group;
mod hooks;
mod long_lived;
mod memory_budget;
mod metrics;
mod multiplexed_client;
mod overflow;
mod pool_cancel;
mod pool_shared;
mod pool_sockets;
mod pool_thread_caches;
mod progress_timeouts;
mod pubsub_broker;
mod recycled_consumers;
mod relay;
mod speak_first;
mod streaming_output;
mod timeouts;
mod tls;
mod udp_amplification;
mod udp_client;
mod udp_server;
mod upgrade;
