//! The ends of a connection's two directions: the peer's EOF (a half-close) and our own
//! write-side shutdown, and when the pair of them ends the connection.

use super::engine::Engine;
use super::exchange::with_consumer;
use super::state::{Lifecycle, Reading, Writing};
use crate::{ConsumerFactory, ProtocolConsumer, Result};

// ===== impl Engine: half-close =====

impl<F: ConsumerFactory> Engine<F> {
    /// The peer shut its sending side (a half-close, or the start of a close).
    pub(crate) fn on_eof(&mut self) -> Result<()> {
        self.state.reading = Reading::Eof;
        self.conn.shared().mark_read_closed();
        self.feed()?;
        match self.exchanges.front() {
            Some(ex) if ex.lifetime.long_lived => {
                // Half-close: the consumer decides; the write side stays open until it
                // closes, or shuts the write side too.
                tracing::trace!(session = self.conn.session(), "eof received");
                if let Err(err) =
                    self.call(0, |c, cx, _| with_consumer!(c, c => c.eof_received(cx)))
                {
                    self.finish_front(Err(err.clone()));
                    return Err(err);
                }
                self.apply_actions(false)?;
                if self.state.writing == Writing::Shutdown {
                    self.begin_closing();
                }
                return Ok(());
            }
            _ => {}
        }
        self.state.eof_unsettled = true;
        self.settle_eof();
        Ok(())
    }

    /// After the peer's EOF, a request/response connection closes once the input read
    /// before it is used up: every complete request in it is answered (a feed may stop
    /// short at its budget or at a full write queue, and go on in later rounds); a
    /// partial one can never complete, and its consumer decides whether the end
    /// completes it (an EOF-delimited body) or it fails.
    pub(super) fn settle_eof(&mut self) {
        if !self.state.eof_unsettled {
            return;
        }
        let more = !self.rbuf.is_empty() && !self.state.starved;
        if more && self.state.lifecycle != Lifecycle::Closing {
            return;
        }
        self.state.eof_unsettled = false;
        if self.exchanges.front().is_some_and(|ex| ex.started) {
            self.finish_lost(None);
        }
        self.begin_closing();
    }

    /// `Connection::shutdown_write`: shut the sending side once the queue is written.
    pub(crate) fn shutdown_write(&mut self) {
        if self.state.writing == Writing::Open {
            tracing::trace!(session = self.conn.session(), "-> write shutdown pending");
            self.state.writing = Writing::ShutdownPending;
        }
        // A writer waiting for room learns the side is shut.
        self.conn.shared().notify_writable();
    }

    /// Whether the driver should shut the sending side now: asked for, and everything
    /// owed before it written.
    pub(crate) fn wants_shutdown(&self) -> bool {
        self.state.writing == Writing::ShutdownPending && self.out.is_idle()
    }

    /// The driver shut the sending side. Once the peer's side is shut too, nothing can
    /// move any more: the connection closes.
    pub(crate) fn on_shutdown_written(&mut self) {
        self.state.writing = Writing::Shutdown;
        if self.state.reading == Reading::Eof {
            self.begin_closing();
        }
    }
}
