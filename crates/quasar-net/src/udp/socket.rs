//! Binding UDP sockets with the options a server wants: the UDP twin of the TCP
//! listener's `bind` in `server/accept.rs`.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::{Error, Result};

/// Socket buffer sizes asked of the kernel (`None` keeps the system default).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BufferSizes {
    pub(crate) recv: Option<usize>,
    pub(crate) send: Option<usize>,
}

/// Binds a non-blocking UDP socket to `addr`. With `reuse_port`, several sockets (one per
/// worker) share the address and the kernel spreads peers across them by their 4-tuple,
/// so each peer's datagrams, and the replies to it, stay on one socket.
pub(crate) fn bind(
    addr: SocketAddr,
    reuse_port: bool,
    sizes: BufferSizes,
) -> Result<std::net::UdpSocket> {
    let make = || -> io::Result<std::net::UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        #[cfg(unix)]
        if reuse_port {
            socket.set_reuse_port(true)?;
        }
        #[cfg(not(unix))]
        let _ = reuse_port;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        // Best effort: the kernel clamps to its maximum, and a refusal is no reason to fail.
        if let Some(n) = sizes.recv {
            let _ = socket.set_recv_buffer_size(n);
        }
        if let Some(n) = sizes.send {
            let _ = socket.set_send_buffer_size(n);
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        Ok(socket.into())
    };
    make().map_err(|e| Error::new_bind(addr, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_a_used_address_is_a_bind_error_naming_it() {
        let first = bind(
            "127.0.0.1:0".parse().unwrap(),
            false,
            BufferSizes::default(),
        )
        .unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind(addr, false, BufferSizes::default()).unwrap_err();
        assert!(err.is_bind());
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn reuse_port_sockets_share_a_port() {
        let first = bind("127.0.0.1:0".parse().unwrap(), true, BufferSizes::default()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = bind(addr, true, BufferSizes::default()).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
    }
}
