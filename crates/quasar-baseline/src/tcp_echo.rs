//! The zero-abstraction TCP echo: the floor quasar's echo server is compared with.
//!
//! Per connection one task and one buffer: `read` what has arrived, `write_all` it back. With
//! epoll that is one `recv` and one `send` per batch of pipelined requests, the floor named in
//! the design notes. No framing: it serves pulsar-framed clients and raw clients alike, since
//! echoing bytes as they come echoes every whole message too.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::shutdown;

/// Pending connections the kernel queues before `accept`: enough for the 10,000-connection
/// memory test to connect in bursts.
const BACKLOG: i32 = 4096;

/// Serves TCP echo on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr, buffer_size: usize, drop_byte: bool) -> io::Result<()> {
    let listener = listen(bind)?;
    let name = if drop_byte {
        "tcp-echo-drop-byte"
    } else {
        "tcp-echo"
    };
    shutdown::announce(name, listener.local_addr()?);
    tokio::select! {
        () = accept_loop(listener, buffer_size, drop_byte) => Ok(()),
        () = shutdown::signal() => Ok(()),
    }
}

fn listen(bind: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&bind.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(listener: TcpListener, buffer_size: usize, drop_byte: bool) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream, buffer_size, drop_byte));
            }
            // Out of file descriptors or similar: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn echo(mut stream: TcpStream, buffer_size: usize, drop_byte: bool) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; buffer_size];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let start = usize::from(drop_byte);
        if stream.write_all(&buf[start..n]).await.is_err() {
            return;
        }
    }
}
