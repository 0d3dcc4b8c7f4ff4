//! Client connections: a driver in client mode and the handle that sends it requests.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::driver::{Call, ClientSide, Driver, Shutdown};
use super::{Connection, ConnectionConfig};
use crate::{ConsumerFactory, Error, Producer, ProtocolConsumer, Result};

/// How many requests may queue on one client connection before `request` waits.
const CALL_QUEUE: usize = 16;

type Req<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Request;
type Resp<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Response;

/// A client connection: a [`Connection`] whose consumers start requests.
///
/// Requests run one at a time, in the order they were made (one current consumer per
/// connection, as in pulsar). It dereferences to its [`Connection`].
pub struct ClientConnection<Req, Resp> {
    conn: Connection,
    calls: mpsc::Sender<Call<Req, Resp>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> ClientConnection<Req, Resp> {
    /// Sends `request` through a fresh consumer and waits for its response: builds the
    /// consumer, fires `pre_request`, calls `start_request`, and resolves when the
    /// consumer finishes (pulsar's `start(request)` then `on_finished`).
    ///
    /// # Errors
    ///
    /// [`Error::is_connection_lost`] when the connection ends first; the consumer's own
    /// error when it rejects the response; [`Error::is_aborted`] when a `pre_request` hook
    /// aborted it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future after the request was handed to the connection aborts the
    /// connection: a half-finished exchange leaves the stream in an unknown state, so the
    /// connection is never reused (a pool sees it closed and discards it).
    pub async fn request(&self, request: Req) -> Result<Resp> {
        let (reply, rx) = oneshot::channel();
        self.calls
            .send(Call { request, reply })
            .await
            .map_err(|_| Error::connection_lost(None))?;
        let guard = AbortOnDrop(Some(&self.conn));
        let outcome = rx.await.map_err(|_| Error::connection_lost(None));
        guard.disarm();
        outcome?
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl<Req, Resp> Deref for ClientConnection<Req, Resp> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl<Req, Resp> Clone for ClientConnection<Req, Resp> {
    fn clone(&self) -> Self {
        ClientConnection {
            conn: self.conn.clone(),
            calls: self.calls.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for ClientConnection<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientConnection").field(&self.conn).finish()
    }
}

struct AbortOnDrop<'a>(Option<&'a Connection>);

impl AbortOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.0 {
            conn.abort();
        }
    }
}

/// Opens a client connection to `addr` whose consumers come from `factory`, counts it
/// as a session of `producer`, and waits for `connection_made` (pulsar's
/// `create_connection`).
///
/// # Errors
///
/// [`Error::is_connect`] naming the address and the cause when the connection cannot be
/// opened, or [`Error::is_timeout`] when `connect_timeout` (if non-zero) passes first.
///
/// # Cancel safety
///
/// Cancel safe: a dropped call leaves nothing behind (the socket, if any, is closed).
pub async fn connect<F: ConsumerFactory>(
    addr: SocketAddr,
    factory: Arc<F>,
    cfg: Arc<ConnectionConfig>,
    producer: Producer,
    connect_timeout: Duration,
) -> Result<ClientConnection<Req<F>, Resp<F>>> {
    let open = TcpStream::connect(addr);
    let io = if connect_timeout.is_zero() {
        open.await
    } else {
        tokio::time::timeout(connect_timeout, open)
            .await
            .map_err(|_| Error::timeout(format!("connect to {addr}")))?
    }
    .map_err(|e| Error::connect(addr, e))?;
    let local = io.local_addr().map_err(|e| Error::connect(addr, e))?;
    let session = producer.next_session();
    let conn = Connection::new(session, addr, local);
    let (tx, rx) = mpsc::channel(CALL_QUEUE);
    let driver = Driver::new(
        io,
        conn.clone(),
        factory,
        cfg,
        producer,
        Some(ClientSide::new(rx)),
    );
    tokio::spawn(driver.run(Shutdown::default()));
    conn.connection_made().wait().await?;
    Ok(ClientConnection { conn, calls: tx })
}
