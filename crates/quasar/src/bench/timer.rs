//! A wake-up timer with microsecond precision, for the open-loop timetable.
//!
//! tokio's timer wheel ticks in milliseconds, so a request due at some instant would leave up to
//! a millisecond late, and in open loop that lag would be charged to the server as latency
//! (loopback round trips take tens of microseconds). A Linux `timerfd` is a high-resolution
//! timer that epoll watches like a socket, so the connection task waits on it in the same
//! `select!` as its socket. One per connection; re-armed only when the next wake-up changes
//! (once per request in open loop, twice per run in closed loop).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A one-shot `CLOCK_MONOTONIC` timer the runtime can wait on.
#[derive(Debug)]
pub(crate) struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
    armed: Option<Instant>,
}

impl PreciseTimer {
    /// Creates a disarmed timer.
    ///
    /// # Errors
    ///
    /// The process is out of file descriptors, or not on Linux.
    pub(crate) fn new() -> io::Result<PreciseTimer> {
        // SAFETY: timerfd_create takes no pointers; a non-negative result is a new descriptor we
        // own from here on.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the `OwnedFd` stays open and unchanged until the `AsyncFd` holding it drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(PreciseTimer { fd, armed: None })
    }

    /// Makes the timer fire at `deadline` (at once if it has passed); a no-op when already set
    /// to that instant.
    ///
    /// # Errors
    ///
    /// `timerfd_settime` failed (it does not for a valid descriptor).
    pub(crate) fn arm(&mut self, deadline: Instant) -> io::Result<()> {
        if self.armed == Some(deadline) {
            return Ok(());
        }
        // A zero it_value would disarm the timer, so a deadline in the past waits 1 ns.
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: the descriptor is open for as long as `self`; `spec` outlives the call and a
        // null old-value pointer is allowed.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(deadline);
        Ok(())
    }

    /// Waits until the armed deadline passes.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses no expiry; the next call sees it.
    pub(crate) async fn fired(&mut self) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer from a descriptor we own.
            let n = unsafe {
                libc::read(
                    guard.get_inner().as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                self.armed = None;
                return;
            }
            // EAGAIN: the readiness was stale (the timer was re-armed after firing).
            guard.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn fires_close_to_its_deadline_and_can_be_rearmed() {
        let mut timer = PreciseTimer::new().unwrap();
        for _ in 0..3 {
            let deadline = Instant::now() + Duration::from_micros(300);
            timer.arm(deadline).unwrap();
            timer.fired().await;
            let now = Instant::now();
            assert!(now >= deadline);
            // Generous for a loaded CI machine; tokio's own timer would be ~1 ms late.
            assert!(now - deadline < Duration::from_millis(50));
        }
        timer.arm(Instant::now() - Duration::from_secs(1)).unwrap();
        timer.fired().await;
    }
}
