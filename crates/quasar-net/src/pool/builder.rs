//! [`PoolBuilder`], the one-shot configuration of a [`Pool`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::api::Pool;
use super::engine::{self, Config, Shared};
use super::Manager;
use crate::{Error, Result};

/// pulsar's default `pool_size`.
const DEFAULT_POOL_SIZE: usize = 10;
/// The reaper's default period (bb8's too); shortened to half the shortest timeout.
const DEFAULT_REAP_INTERVAL: Duration = Duration::from_secs(30);

/// Configures and builds a [`Pool`]; start from [`Pool::builder`].
///
/// Every setting is optional: the defaults are a size of 10, no timeouts, no waiter cap,
/// `min_idle` 0 and no reaping, which is pulsar's pool without its bugs.
///
/// # Examples
///
/// ```
/// # use quasar_net::{pool::{Manager, Pool}, Error};
/// # struct M;
/// # impl Manager for M {
/// #     type Connection = ();
/// #     async fn connect(&self) -> Result<(), Error> { Ok(()) }
/// #     fn is_closed(&self, _: &()) -> bool { false }
/// # }
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let pool = Pool::builder(M)
///     .pool_size(32)
///     .min_idle(2)
///     .acquire_timeout(Duration::from_secs(5))
///     .connect_timeout(Duration::from_secs(1))
///     .idle_timeout(Duration::from_secs(60))
///     .max_waiters(1024)
///     .build()?;
/// assert_eq!(pool.prewarm().await?, 2);
/// assert_eq!(pool.available(), 2);
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder<M> {
    manager: M,
    pool_size: usize,
    config: Config,
    reap_interval: Option<Duration>,
}

// ===== impl PoolBuilder =====

impl<M: Manager> PoolBuilder<M> {
    pub(crate) fn new(manager: M) -> PoolBuilder<M> {
        PoolBuilder {
            manager,
            pool_size: DEFAULT_POOL_SIZE,
            config: Config {
                min_idle: 0,
                acquire_timeout: None,
                connect_timeout: None,
                idle_timeout: None,
                max_lifetime: None,
                max_waiters: None,
                reap_interval: DEFAULT_REAP_INTERVAL,
                measure_wait_time: false,
            },
            reap_interval: None,
        }
    }

    /// The most connections the pool holds (default 10).
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// Idle connections the pool opens up front and keeps through reaping (default 0).
    pub fn min_idle(mut self, min_idle: usize) -> Self {
        self.config.min_idle = min_idle;
        self
    }

    /// The longest [`Pool::connect`] may take, waiting and connecting included (default
    /// none: wait forever, as pulsar does).
    pub fn acquire_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.acquire_timeout = timeout.into();
        self
    }

    /// The longest one [`Manager::connect`] may take (default none).
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.connect_timeout = timeout.into();
        self
    }

    /// Closes connections idle this long, keeping `min_idle` (default none).
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.idle_timeout = timeout.into();
        self
    }

    /// Closes connections this old when idle or returned; the reaper refills `min_idle`
    /// (default none).
    pub fn max_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.config.max_lifetime = lifetime.into();
        self
    }

    /// The most callers that may wait for a connection; more fail at once with
    /// [`Error::is_pool_full`] (default none).
    pub fn max_waiters(mut self, max: impl Into<Option<usize>>) -> Self {
        self.config.max_waiters = max.into();
        self
    }

    /// Whether to time each queued checkout for [`PoolStats::wait_time_us`] (default
    /// off: it reads the clock twice per wait, a measurable share of a contended
    /// checkout; the count of waits is always kept).
    ///
    /// [`PoolStats::wait_time_us`]: super::PoolStats::wait_time_us
    pub fn measure_wait_time(mut self, enabled: bool) -> Self {
        self.config.measure_wait_time = enabled;
        self
    }

    /// How often the reaper runs (default 30 s, or half the shorter of `idle_timeout`
    /// and `max_lifetime` when that is less).
    pub fn reap_interval(mut self, every: Duration) -> Self {
        self.reap_interval = Some(every);
        self
    }

    /// Builds the pool; with `min_idle`, `idle_timeout` or `max_lifetime` set, also
    /// spawns its reaper, which starts by opening `min_idle` connections.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if `pool_size` is zero, `min_idle` exceeds it, a duration is
    /// zero, or a reaper is needed outside a tokio runtime.
    pub fn build(self) -> Result<Pool<M>> {
        let PoolBuilder {
            manager,
            pool_size,
            mut config,
            reap_interval,
        } = self;
        if pool_size == 0 {
            return Err(Error::config("pool_size must be at least 1"));
        }
        if config.min_idle > pool_size {
            return Err(Error::config(format!(
                "min_idle ({}) exceeds pool_size ({pool_size})",
                config.min_idle
            )));
        }
        let durations = [
            config.acquire_timeout,
            config.connect_timeout,
            config.idle_timeout,
            config.max_lifetime,
            reap_interval,
        ];
        if durations.contains(&Some(Duration::ZERO)) {
            return Err(Error::config("pool durations must be non-zero"));
        }
        let shortest = [config.idle_timeout, config.max_lifetime]
            .into_iter()
            .flatten()
            .min();
        config.reap_interval = reap_interval.unwrap_or_else(|| match shortest {
            Some(d) => DEFAULT_REAP_INTERVAL
                .min(d / 2)
                .max(Duration::from_millis(1)),
            None => DEFAULT_REAP_INTERVAL,
        });
        let needs_reaper = config.min_idle > 0 || shortest.is_some();
        let every = config.reap_interval;
        let shared = Arc::new(Shared::new(manager, pool_size, config));
        if needs_reaper {
            let handle = tokio::runtime::Handle::try_current().map_err(|_| {
                Error::config("min_idle, idle_timeout and max_lifetime need a tokio runtime")
            })?;
            let (stop, stopped) = tokio::sync::oneshot::channel();
            shared.set_reaper_stop(stop);
            handle.spawn(engine::reaper(Arc::downgrade(&shared), stopped, every));
        }
        Ok(Pool { shared })
    }
}

impl<M> fmt::Debug for PoolBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("pool_size", &self.pool_size)
            .field("config", &self.config)
            .finish()
    }
}
