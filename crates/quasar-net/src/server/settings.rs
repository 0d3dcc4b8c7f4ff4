//! The settings every server has, whatever it serves: its name, its worker threads, its
//! request limit and how long the close that limit starts may drain.
//! [`TcpServerBuilder`](super::TcpServerBuilder) and
//! [`DatagramServerBuilder`](crate::udp::DatagramServerBuilder) both hold one, and get
//! their setters from [`server_settings!`].

use std::time::Duration;

use super::DEFAULT_SHUTDOWN_TIMEOUT;

/// The settings shared by the TCP and datagram server builders.
#[derive(Debug, Clone)]
pub(crate) struct ServerSettings {
    pub(crate) name: String,
    /// Worker threads (0: the caller's runtime).
    pub(crate) workers: usize,
    /// Stop after this many sessions (TCP) or datagrams (UDP), then drain; 0: no limit.
    pub(crate) max_requests: u64,
    /// How long the drain that `max_requests` starts may take.
    pub(crate) shutdown_timeout: Duration,
}

impl ServerSettings {
    pub(crate) fn new(name: &str) -> Self {
        ServerSettings {
            name: name.into(),
            workers: 0,
            max_requests: 0,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// Generates the setters of [`ServerSettings`] on a builder whose `settings` field holds
/// them (`max_requests` stays with each builder: what it counts differs).
macro_rules! server_settings {
    () => {
        /// The name used in logs and `info()`.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.settings.name = name.into();
            self
        }

        /// Runs `n` worker threads, each with a current-thread runtime and its own
        /// `SO_REUSEPORT` socket per address. 0 (the default) serves on the caller's
        /// runtime.
        pub fn workers(mut self, n: usize) -> Self {
            self.settings.workers = n;
            self
        }

        /// How long the close started by `max_requests` lets the work in flight finish
        /// (default 10 s).
        pub fn shutdown_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.shutdown_timeout = timeout;
            self
        }
    };
}
pub(crate) use server_settings;
