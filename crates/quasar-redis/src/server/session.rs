//! One client connection's state, kept across its commands.
//!
//! The engine builds a fresh consumer per command, so what Redis keeps in its `client`
//! struct lives here, behind an `Arc` the consumers share. The `state` mutex is only ever
//! taken by the connection's own consumer (and by the clean-up after it closes), so it is
//! uncontended; what other connections read (`CLIENT LIST`, `PUBLISH`) sits in atomics and
//! in `meta`, a leaf lock under which nothing else is locked.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use quasar_net::Connection;

use crate::{Decoder, Limits};

/// A scratch buffer grown past this is replaced after use rather than kept.
pub(crate) const SCRATCH_KEEP: usize = 64 * 1024;
/// An argument vector grown past this many entries (a big `MSET`) is dropped after use
/// rather than kept by the connection.
pub(crate) const ARGS_KEEP: usize = 64;

/// A client connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: u64,
    pub(crate) conn: Connection,
    pub(crate) created: Instant,
    /// Speaks RESP3 (after `HELLO 3`); read by publishers to frame messages.
    pub(crate) resp3: AtomicBool,
    pub(crate) db: AtomicUsize,
    pub(crate) subs: AtomicUsize,
    pub(crate) psubs: AtomicUsize,
    /// The last command run, as an index into the command table (`usize::MAX`: none
    /// yet), and the batch clock (ms since the epoch) of the last read that ran one: for
    /// `CLIENT LIST`. Atomics rather than `meta` fields, so a command takes no lock
    /// for them.
    pub(crate) last_cmd: AtomicUsize,
    pub(crate) last_active_ms: AtomicU64,
    pub(crate) meta: Mutex<Meta>,
    pub(crate) state: Mutex<State>,
}

/// What `CLIENT LIST` shows besides the atomics.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) name: Option<Bytes>,
    pub(crate) in_multi: Option<usize>,
}

/// The connection's own state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) decoder: Decoder,
    pub(crate) db: usize,
    pub(crate) authed: bool,
    /// Commands queued by `MULTI`.
    pub(crate) multi: Option<Vec<Vec<Bytes>>>,
    /// Bytes held by `multi`, capped at the largest command size.
    pub(crate) multi_bytes: usize,
    /// A command was refused while queuing: `EXEC` answers `EXECABORT`.
    pub(crate) multi_error: bool,
    /// Set when a watched key changes.
    pub(crate) watch_flag: Arc<AtomicBool>,
    pub(crate) watched: Vec<(usize, Bytes)>,
    pub(crate) channels: HashSet<Bytes>,
    pub(crate) patterns: HashSet<Bytes>,
    /// The clock (ms since the epoch) for the batch of commands being run: read once
    /// per read rather than once per command.
    pub(crate) now: u64,
    /// Replies are encoded here, then copied into the write queue in one `write`.
    pub(crate) scratch: BytesMut,
    /// The arguments of the command being run: one vector reused for every command, so
    /// a command costs no allocation of its own.
    pub(crate) args: Vec<Bytes>,
}

impl State {
    /// The channels (or, with `pattern`, the patterns) this connection is subscribed to.
    pub(crate) fn subscribed(&mut self, pattern: bool) -> &mut HashSet<Bytes> {
        if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
        }
    }
}

impl Session {
    pub(crate) fn new(id: u64, conn: Connection, limits: Limits, authed: bool) -> Session {
        let now = Instant::now();
        Session {
            id,
            conn,
            created: now,
            resp3: AtomicBool::new(false),
            db: AtomicUsize::new(0),
            subs: AtomicUsize::new(0),
            psubs: AtomicUsize::new(0),
            last_cmd: AtomicUsize::new(usize::MAX),
            last_active_ms: AtomicU64::new(super::store::now_ms()),
            meta: Mutex::new(Meta {
                name: None,
                in_multi: None,
            }),
            state: Mutex::new(State {
                decoder: Decoder::new(limits),
                db: 0,
                authed,
                multi: None,
                multi_bytes: 0,
                multi_error: false,
                watch_flag: Arc::new(AtomicBool::new(false)),
                watched: Vec::new(),
                channels: HashSet::new(),
                patterns: HashSet::new(),
                now: 0,
                scratch: BytesMut::with_capacity(256),
                args: Vec::new(),
            }),
        }
    }

    pub(crate) fn is_resp3(&self) -> bool {
        self.resp3.load(Ordering::Relaxed)
    }

    pub(crate) fn subscriptions(&self) -> usize {
        self.subs.load(Ordering::Relaxed) + self.psubs.load(Ordering::Relaxed)
    }
}
