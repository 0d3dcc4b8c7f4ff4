//! The zero-abstraction UDP line echo.
//!
//! One task, one socket: `recv_from` a datagram, split it on `\n` as pulsar's echo does, and
//! `send_to` each line back to the sender as its own datagram (without the `\n`; a trailing
//! `\n` does not add an empty datagram).

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

use crate::shutdown;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Serves UDP line echo on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr) -> io::Result<()> {
    let socket = UdpSocket::bind(bind).await?;
    shutdown::announce("udp-echo", socket.local_addr()?);
    tokio::select! {
        () = echo_loop(socket) => Ok(()),
        () = shutdown::signal() => Ok(()),
    }
}

async fn echo_loop(socket: UdpSocket) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        // An error here is about one datagram (or an ICMP report on an earlier send): go on.
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        for line in lines(&buf[..n]) {
            let _ = socket.send_to(line, peer).await;
        }
    }
}

/// The `\n`-separated lines of a datagram, without a trailing empty one.
fn lines(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = datagram.strip_suffix(b"\n").unwrap_or(datagram);
    body.split(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_splits_into_its_lines() {
        let got: Vec<&[u8]> = lines(b"one\ntwo\n").collect();
        assert_eq!(got, vec![&b"one"[..], &b"two"[..]]);
        let got: Vec<&[u8]> = lines(b"single").collect();
        assert_eq!(got, vec![&b"single"[..]]);
    }
}
