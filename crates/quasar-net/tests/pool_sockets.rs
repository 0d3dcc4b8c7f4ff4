//! The pool over real loopback TCP: peers that close idle connections, a restarted
//! server, a server that never answers, a full backlog and a refused connect.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quasar_net::pool::{Manager, Pool};
use quasar_net::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

/// Opens TCP connections to one address.
struct Tcp {
    addr: SocketAddr,
}

impl Manager for Tcp {
    type Connection = TcpStream;

    async fn connect(&self) -> Result<TcpStream, Error> {
        TcpStream::connect(self.addr)
            .await
            .map_err(|e| Error::connect(self.addr, e))
    }

    /// A non-blocking peek: EOF, an error, or bytes nobody asked for (a stale exchange)
    /// all mean the connection must not be reused.
    fn is_closed(&self, conn: &TcpStream) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit()];
        match socket2::SockRef::from(conn).peek(&mut byte) {
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
            Ok(_) => true,
        }
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    Echo,
    Silent,
}

/// A test server; each accepted socket lives until its kill switch is dropped.
struct Server {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    conns: Arc<Mutex<Vec<(oneshot::Sender<()>, JoinHandle<()>)>>>,
}

async fn start_server(addr: SocketAddr, behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(Mutex::new(Vec::new()));
    let accept = tokio::spawn({
        let conns = conns.clone();
        async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let (kill, killed) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    let serve = async {
                        let mut buf = [0u8; 1024];
                        loop {
                            match behaviour {
                                Behaviour::Silent => std::future::pending::<()>().await,
                                Behaviour::Echo => match sock.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => {
                                        if sock.write_all(&buf[..n]).await.is_err() {
                                            return;
                                        }
                                    }
                                },
                            }
                        }
                    };
                    tokio::select! {
                        _ = killed => {}
                        _ = serve => {}
                    }
                });
                conns.lock().unwrap().push((kill, task));
            }
        }
    });
    Server {
        addr,
        accept,
        conns,
    }
}

impl Server {
    fn accepted(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Closes the server side of the `i`th accepted connection.
    async fn kill(&self, i: usize) {
        let (kill, task) = self.conns.lock().unwrap().remove(i);
        drop(kill);
        task.await.unwrap();
    }

    /// Stops accepting and closes every connection.
    async fn stop(self) {
        self.accept.abort();
        let _ = self.accept.await;
        let conns = std::mem::take(&mut *self.conns.lock().unwrap());
        for (kill, task) in conns {
            drop(kill);
            task.await.unwrap();
        }
    }
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// One request: marked in progress, so a cancelled or failed exchange is discarded.
async fn echo(pool: &Pool<Tcp>, msg: &[u8]) -> Result<Vec<u8>, Error> {
    let mut conn = pool.connect().await?;
    conn.start_request();
    conn.write_all(msg).await?;
    let mut buf = vec![0; msg.len()];
    conn.read_exact(&mut buf).await?;
    conn.finish_request();
    Ok(buf)
}

/// Polls `cond` every few milliseconds for up to two seconds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_server_is_never_handed_out_and_is_replaced() {
    let server = start_server(localhost(), Behaviour::Echo).await;
    let pool = Pool::builder(Tcp { addr: server.addr })
        .pool_size(2)
        .build()
        .unwrap();
    let (a, b) = tokio::join!(echo(&pool, b"one"), echo(&pool, b"two"));
    assert_eq!((a.unwrap(), b.unwrap()), (b"one".to_vec(), b"two".to_vec()));
    assert_eq!((pool.sessions(), pool.available()), (2, 2));

    server.kill(0).await;
    eventually("the EOF to show", || pool.available() == 1).await;
    assert_eq!(
        pool.state().idle,
        2,
        "still parked until checkout or a reaper pass"
    );

    let (a, b) = tokio::join!(echo(&pool, b"three"), echo(&pool, b"four"));
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        (b"three".to_vec(), b"four".to_vec())
    );
    assert_eq!(pool.sessions(), 3, "the closed connection was replaced");
    assert_eq!(pool.stats().closed_broken, 1);
    assert_eq!((pool.in_use(), pool.available()), (0, 2));
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_server_restart_while_connections_sit_idle_is_invisible_to_callers() {
    let server = start_server(localhost(), Behaviour::Echo).await;
    let addr = server.addr;
    let pool = Pool::builder(Tcp { addr }).pool_size(3).build().unwrap();
    let (a, b, c) = tokio::join!(echo(&pool, b"a"), echo(&pool, b"b"), echo(&pool, b"c"));
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(pool.available(), 3);

    server.stop().await;
    let server = start_server(addr, Behaviour::Echo).await;
    eventually("every idle connection to show EOF", || {
        pool.available() == 0
    })
    .await;

    let (a, b, c) = tokio::join!(echo(&pool, b"x"), echo(&pool, b"y"), echo(&pool, b"z"));
    assert_eq!(
        (a.unwrap(), b.unwrap(), c.unwrap()),
        (b"x".to_vec(), b"y".to_vec(), b"z".to_vec())
    );
    assert_eq!(pool.sessions(), 6);
    assert_eq!(pool.stats().closed_broken, 3);
    assert_eq!(server.accepted(), 3);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_gives_the_slots_back() {
    let server = start_server(localhost(), Behaviour::Silent).await;
    let pool = Pool::builder(Tcp { addr: server.addr })
        .pool_size(1)
        .acquire_timeout(Duration::from_millis(200))
        .build()
        .unwrap();

    // The request times out mid-exchange: the connection is discarded, not reused.
    let res = timeout(Duration::from_millis(200), echo(&pool, b"ping")).await;
    assert!(res.is_err(), "the silent server answered");
    assert_eq!((pool.in_use(), pool.available()), (0, 0));
    assert_eq!(pool.stats().closed_broken, 1);

    // With the one slot held, the next caller's acquire timeout fires.
    let held = pool.connect().await.unwrap();
    let started = Instant::now();
    let err = pool.connect().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(pool.state().waiters, 0);
    drop(held);

    let state = pool.state();
    assert_eq!((state.in_use, state.connecting, state.available), (0, 0, 1));
    assert_eq!(pool.stats().timeouts, 1);
    assert_eq!(pool.sessions(), 2);
}

#[tokio::test]
async fn connect_timeout_fires_when_the_listener_backlog_is_full() {
    use socket2::{Domain, Socket, Type};
    // A listener that never accepts: once its queue is full, SYNs are dropped.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&localhost().into()).unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let pool = Pool::builder(Tcp { addr })
        .pool_size(8)
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut held = Vec::new();
    let err = loop {
        match pool.connect().await {
            Ok(conn) => held.push(conn),
            Err(err) => break err,
        }
        assert!(held.len() < 8, "the backlog never filled");
    };
    assert!(
        err.is_timeout() && err.to_string().contains("connect"),
        "{err}"
    );
    assert_eq!(
        pool.state().connecting,
        0,
        "the timed-out connect gave its slot back"
    );
    assert_eq!(pool.in_use(), held.len());
    assert_eq!(pool.stats().connect_errors, 1);
}

#[tokio::test]
async fn a_refused_connect_names_the_address_and_the_cause() {
    let addr = {
        let listener = TcpListener::bind(localhost()).await.unwrap();
        listener.local_addr().unwrap()
    };
    let pool = Pool::builder(Tcp { addr }).pool_size(2).build().unwrap();
    let err = pool.connect().await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&addr.to_string()) && msg.contains("refused"),
        "{msg}"
    );
    assert_eq!(
        err.io_error().map(io::Error::kind),
        Some(io::ErrorKind::ConnectionRefused)
    );
    let state = pool.state();
    assert_eq!((state.in_use, state.connecting), (0, 0));
    assert_eq!(pool.stats().connect_errors, 1);
}
