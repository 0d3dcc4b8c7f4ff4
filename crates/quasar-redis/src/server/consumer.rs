//! [`RespServerFactory`] and the consumer that serves one command (or a subscription).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use quasar_net::{Connection, ConsumerFactory, Context, Progress, ProtocolConsumer, Result};

use super::config::RespServerConfig;
use super::dispatch::{After, Call};
use super::session::{Session, ARGS_KEEP, SCRATCH_KEEP};
use super::shared::Shared;
use super::store::now_ms;

/// Replies up to this size are copied into the write queue; bigger ones are queued
/// whole as a ready response, so one large reply (`KEYS *`, a big `GET`) is not refused
/// by the queue's hard cap, which is for writers that ignore back-pressure.
const COPY_REPLY_MAX: usize = 64 * 1024;

/// Builds the consumers of a RESP server; one factory is one server's keyspace.
///
/// Cloning shares the keyspace. Pass it to `TcpServer::builder`, and apply
/// [`RespServerConfig::apply_to`] to the connections.
#[derive(Clone)]
pub struct RespServerFactory {
    shared: Arc<Shared>,
}

impl fmt::Debug for RespServerFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespServerFactory")
            .field("clients", &self.shared.clients.lock().len())
            .finish()
    }
}

impl RespServerFactory {
    /// A server with an empty keyspace.
    pub fn new(config: RespServerConfig) -> Self {
        RespServerFactory {
            shared: Arc::new(Shared::new(config)),
        }
    }

    /// The settings the server runs with.
    pub fn config(&self) -> &RespServerConfig {
        &self.shared.config
    }

    /// Clients connected now.
    pub fn connected_clients(&self) -> usize {
        self.shared.clients.lock().len()
    }
}

/// What a connection refused at `max_connections` hears, as Redis says it.
pub const BUSY_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

impl ConsumerFactory for RespServerFactory {
    type Consumer = RespConsumer;

    fn busy_reply(&self) -> Option<bytes::Bytes> {
        Some(bytes::Bytes::from_static(BUSY_REPLY))
    }

    /// Called once per connection: later consumers come from the session's own factory
    /// (installed with `upgrade`), so this is where a session starts.
    fn build(&self, conn: &Connection) -> RespConsumer {
        let sh = &self.shared;
        let authed = sh.config.requirepass.is_none();
        let session = Arc::new(Session::new(
            sh.next_client_id(),
            conn.clone(),
            sh.config.limits.clone(),
            authed,
        ));
        sh.clients.lock().insert(session.id, session.clone());
        sh.connections.fetch_add(1, Ordering::Relaxed);
        if tokio::runtime::Handle::try_current().is_ok() {
            sh.start_sweep();
            let (sh, s) = (sh.clone(), session.clone());
            tokio::spawn(async move {
                let _ = s.conn.connection_lost().wait().await;
                sh.remove_session(&s);
            });
        }
        RespConsumer {
            shared: sh.clone(),
            session,
            fresh: true,
            long_lived: false,
        }
    }
}

/// Builds the consumers after a session's first command.
struct SessionFactory {
    shared: Arc<Shared>,
    session: Arc<Session>,
}

impl ConsumerFactory for SessionFactory {
    type Consumer = RespConsumer;

    fn build(&self, _conn: &Connection) -> RespConsumer {
        RespConsumer {
            shared: self.shared.clone(),
            session: self.session.clone(),
            fresh: false,
            long_lived: false,
        }
    }
}

/// Serves one command, or every command while the connection is subscribed (a
/// long-lived exchange that publishers write into).
pub struct RespConsumer {
    shared: Arc<Shared>,
    session: Arc<Session>,
    /// Built by [`RespServerFactory`]: installs the session's factory when it finishes.
    fresh: bool,
    long_lived: bool,
}

impl fmt::Debug for RespConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespConsumer")
            .field("client", &self.session.id)
            .field("long_lived", &self.long_lived)
            .finish()
    }
}

impl ProtocolConsumer for RespConsumer {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        if cx.is_write_paused() {
            // The peer is not reading: take no more commands until the queue drains
            // (the engine calls again then).
            return Ok(Progress::NeedMore);
        }
        let session = self.session.clone();
        let mut guard = session.state.lock();
        let st = &mut *guard;
        let mut out = std::mem::take(&mut st.scratch);
        let mut args = std::mem::take(&mut st.args);
        st.now = now_ms();
        // Every complete command of the read runs in this one call and their replies
        // leave in one write: the per-exchange cost is paid once per read, not once
        // per pipelined command.
        let mut served = false;
        let result = loop {
            match st.decoder.decode_command_into(buf, &mut args) {
                Ok(false) => {
                    let flushed = flush(cx, &mut out);
                    break flushed.map(|()| {
                        if served && !self.long_lived {
                            Progress::Finished(())
                        } else {
                            Progress::NeedMore
                        }
                    });
                }
                Ok(true) => {}
                Err(e) => {
                    out.extend_from_slice(b"-ERR Protocol error: ");
                    out.extend_from_slice(e.to_string().replace(['\r', '\n'], " ").as_bytes());
                    out.extend_from_slice(b"\r\n");
                    let flushed = flush(cx, &mut out);
                    buf.clear();
                    st.decoder.reset();
                    cx.close();
                    break flushed.map(|()| Progress::Finished(()));
                }
            };
            served = true;
            if args.is_empty() {
                continue;
            }
            let after = Call {
                sh: &self.shared,
                sess: &session,
                st,
                cx: Some(cx),
                out: &mut out,
            }
            .command(&mut args);
            // Release the read buffer's bytes now, not at the next command (every path out
            // of the loop leaves `args` empty).
            args.clear();
            if after == After::Close {
                let flushed = flush(cx, &mut out);
                buf.clear();
                cx.close();
                break flushed.map(|()| Progress::Finished(()));
            }
            if out.len() >= COPY_REPLY_MAX {
                if let Err(e) = flush(cx, &mut out) {
                    break Err(e);
                }
            }
            let subscribed = session.subscriptions() > 0;
            if subscribed != self.long_lived {
                // Subscribed: this exchange lives on and publishers write into the
                // connection; unsubscribed again: it ends with this batch.
                self.long_lived = subscribed;
                cx.set_long_lived(subscribed);
            }
            if cx.is_write_paused() {
                let flushed = flush(cx, &mut out);
                break flushed.map(|()| {
                    if self.long_lived {
                        Progress::NeedMore
                    } else {
                        Progress::Finished(())
                    }
                });
            }
        };
        out.clear();
        if out.capacity() > SCRATCH_KEEP {
            out = BytesMut::with_capacity(256);
        }
        st.scratch = out;
        if args.capacity() <= ARGS_KEEP {
            st.args = args;
        }
        if served {
            session.last_active_ms.store(st.now, Ordering::Relaxed);
        }
        drop(guard);
        if self.fresh && matches!(result, Ok(Progress::Finished(()))) {
            self.fresh = false;
            cx.upgrade(SessionFactory {
                shared: self.shared.clone(),
                session: self.session.clone(),
            });
        }
        result
    }

    /// A finished exchange leaves nothing behind (the session holds the state and a
    /// subscribed exchange never finishes), so the session's consumer serves every read
    /// of the connection: no consumer boxed, built and dropped per read. The first
    /// consumer's `upgrade` to the session's factory drops it anyway.
    fn recycle(&mut self) -> bool {
        !self.long_lived
    }
}

/// Moves the replies encoded so far into the connection's write queue.
fn flush(cx: &mut Context<'_>, out: &mut BytesMut) -> Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    if out.len() <= COPY_REPLY_MAX {
        cx.write(out)?;
        out.clear();
    } else {
        let reply = out.split().freeze();
        cx.spawn_response(std::future::ready(Ok(reply)));
    }
    Ok(())
}
