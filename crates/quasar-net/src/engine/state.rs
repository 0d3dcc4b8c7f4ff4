//! The engine's states: three orthogonal enums grouped in one [`State`], as hyper's
//! `proto::h1::conn::State`.

/// Where the connection is: each side, its life, and the flags that decide when the
/// front consumer is fed again.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) reading: Reading,
    pub(crate) writing: Writing,
    pub(crate) lifecycle: Lifecycle,
    /// The front consumer said `NeedMore` and no byte arrived since.
    pub(crate) starved: bool,
    /// The front consumer stopped while writing was paused: call it again on resume.
    pub(crate) refeed: bool,
    /// The peer's EOF came with complete requests still unparsed: close once they are
    /// answered (see `settle_eof`).
    pub(crate) eof_unsettled: bool,
}

impl Default for State {
    fn default() -> State {
        State {
            reading: Reading::Open,
            writing: Writing::Open,
            lifecycle: Lifecycle::Open,
            starved: false,
            refeed: false,
            eof_unsettled: false,
        }
    }
}

/// The reading side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Reading as long as output and parsing limits allow.
    Open,
    /// A consumer cannot take more input now (`Context::pause_reading`); bytes already
    /// read wait until `Connection::resume_reading`.
    PausedByConsumer,
    /// The peer closed its side.
    Eof,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Serving: new exchanges start as input (or calls) arrive.
    Open,
    /// Draining: the exchange in flight (or, on a fresh connection, the first one) is
    /// served, then the connection closes.
    CloseAfterExchange,
    /// No new input or exchange; close once the output is written.
    Closing,
}

/// The writing side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writing {
    /// Writing as output is queued.
    Open,
    /// `Connection::shutdown_write`: shut the sending side once the queue is written.
    ShutdownPending,
    /// The sending side is shut (a FIN is out); reading may go on.
    Shutdown,
}
