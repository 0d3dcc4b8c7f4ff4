//! The batched fast path: `recvmmsg`/`sendmmsg` move up to [`BATCH_MAX`] datagrams per
//! syscall on Linux. Elsewhere [`AVAILABLE`] is false, these functions do not exist, and
//! the server uses the portable `recv_from`/`send_to` path.
//!
//! This is the only file of the crate with `unsafe` code (the crate root is
//! `deny(unsafe_code)`; the two functions here opt out locally). Why not a safe crate:
//! nix 0.32's `sendmmsg` result iterator reads the uninitialised address slots of its
//! preallocated headers (`MultiResults::next` -> `assume_init` -> `set_length` reads
//! `ss_family`), so the number of datagrams sent cannot be read soundly; quinn-udp has no
//! `sendmmsg` and configures its sockets for QUIC (DF bit with PMTU probing, receive
//! timestamps), which would make an 8 KiB reply fail with `EMSGSIZE` on a 1500-byte
//! link. The code below is two syscalls over stack arrays, in the style of both.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

/// The most datagrams one batched syscall moves.
pub(crate) const BATCH_MAX: usize = 64;

/// Whether the batched path exists on this platform.
pub(crate) const AVAILABLE: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// One received datagram: its length in its buffer slot, its sender, and whether the
/// kernel truncated it (it was longer than the slot).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecvMeta {
    pub(crate) len: usize,
    pub(crate) peer: SocketAddr,
    pub(crate) truncated: bool,
}

impl Default for RecvMeta {
    fn default() -> Self {
        RecvMeta {
            len: 0,
            peer: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            truncated: false,
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use imp::{recv, register, send};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::io;
    use std::mem::{self, MaybeUninit};
    use std::net::SocketAddr;
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{decode_addr, RecvMeta, BATCH_MAX};

    /// `UDP_SEGMENT` from Linux's `include/uapi/linux/udp.h` (libc lacks it for glibc).
    const UDP_SEGMENT: libc::c_int = 103;
    /// The kernel's limit on segments in one GSO send (`UDP_MAX_SEGMENTS`).
    const GSO_MAX_SEGMENTS: usize = 64;
    /// The largest datagram merged into a GSO send. A segment larger than the path MTU
    /// makes the send fail with `EINVAL`; this size fits every IPv6 link (1280 bytes
    /// minus 48 of headers), so only small datagrams, the ones that gain, are merged.
    const GSO_MAX_SEGMENT: usize = 1232;
    /// The most payload bytes in one GSO send (one IP packet's worth).
    const GSO_MAX_BYTES: usize = 65_000;
    /// The most iovecs (datagrams) one `send` call hands the kernel.
    const IOV_PER_CALL: usize = 256;
    /// Set when the kernel or a device refused a GSO send: from then on every datagram
    /// is its own message. Process-wide, since the cause (kernel, NIC) usually is.
    static GSO_OFF: AtomicBool = AtomicBool::new(false);

    /// Whether GSO sends are still in use (no device or kernel refused one).
    #[cfg(test)]
    pub(crate) fn gso_on() -> bool {
        !GSO_OFF.load(Ordering::Relaxed)
    }

    const EMPTY_IOV: libc::iovec = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };

    /// Registers `socket` with the current runtime's reactor for the batched path.
    ///
    /// Must run inside the runtime that will drive it.
    #[allow(unsafe_code)]
    pub(crate) fn register(
        socket: std::net::UdpSocket,
    ) -> io::Result<tokio::io::unix::AsyncFd<std::net::UdpSocket>> {
        // SAFETY: the `AsyncFd` takes ownership of the socket, which owns its descriptor:
        // the fd stays open, and `as_raw_fd` keeps returning it, until the `AsyncFd` is
        // dropped (we never take the socket back out).
        unsafe { tokio::io::unix::AsyncFd::register(socket) }.map_err(io::Error::from)
    }

    /// Receives up to `metas.len()` datagrams (at most [`BATCH_MAX`]) with one
    /// `recvmmsg`. Datagram `i` lands in `bufs[i * stride..][..stride]`; `metas[i]` says
    /// how long it is and who sent it. Returns how many arrived, or `WouldBlock`.
    #[allow(unsafe_code)]
    pub(crate) fn recv(
        fd: BorrowedFd<'_>,
        bufs: &mut [u8],
        stride: usize,
        metas: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let n = metas.len().min(BATCH_MAX).min(bufs.len() / stride.max(1));
        if n == 0 {
            return Ok(0);
        }
        let mut names = [MaybeUninit::<libc::sockaddr_storage>::uninit(); BATCH_MAX];
        let mut iovs = [EMPTY_IOV; BATCH_MAX];
        // SAFETY: `mmsghdr` is a plain C struct of integers and raw pointers, for which
        // all-zero bytes are a valid value (null pointers, zero lengths).
        let mut hdrs: [libc::mmsghdr; BATCH_MAX] = unsafe { mem::zeroed() };
        // Raw pointers are taken once, after which the arrays are only reached through
        // them, so no later reborrow invalidates a pointer the kernel will use.
        let base = bufs.as_mut_ptr();
        let iov_ptr = iovs.as_mut_ptr();
        let name_ptr = names.as_mut_ptr();
        for (i, hdr) in hdrs.iter_mut().enumerate().take(n) {
            // SAFETY: `i < n <= bufs.len() / stride`, so `[i*stride, (i+1)*stride)` lies
            // inside `bufs`; `i < BATCH_MAX`, the length of `iovs` and `names`.
            unsafe {
                *iov_ptr.add(i) = libc::iovec {
                    iov_base: base.add(i * stride).cast(),
                    iov_len: stride,
                };
                hdr.msg_hdr.msg_iov = iov_ptr.add(i);
                hdr.msg_hdr.msg_name = name_ptr.add(i).cast();
            }
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: `hdrs[..n]` point at `n` live iovecs, each covering a distinct, writable
        // `stride`-byte region of `bufs`, and at `n` writable `sockaddr_storage`s with their
        // true size; all of them outlive the call. The fd is a valid socket for the call
        // (`BorrowedFd`). No timeout pointer; the socket is non-blocking.
        let got = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = got as usize;
        for i in 0..got {
            let h = &hdrs[i].msg_hdr;
            let namelen = (h.msg_namelen as usize).min(mem::size_of::<libc::sockaddr_storage>());
            metas[i] = RecvMeta {
                len: hdrs[i].msg_len as usize,
                // SAFETY: the kernel initialised the first `msg_namelen` bytes of
                // `names[i]` (clamped to the storage size above).
                peer: unsafe { decode_addr(names[i].as_ptr(), namelen) },
                truncated: h.msg_flags & libc::MSG_TRUNC != 0,
            };
        }
        Ok(got)
    }

    /// Sends datagrams `msg(0)..msg(count)` with one `sendmmsg`; a `None` address sends
    /// on a connected socket. With `gso`, runs of datagrams to one address with one size
    /// (the last may be shorter) go as a single GSO message (`UDP_SEGMENT`): one trip
    /// down the stack, split into datagrams at the receiver. Returns how many datagrams were sent:
    /// fewer than asked when the socket buffer filled, the call's limits were reached,
    /// or the next datagram failed (its error then shows on the next call).
    pub(crate) fn send<'a>(
        fd: BorrowedFd<'_>,
        gso: bool,
        count: usize,
        msg: impl Fn(usize) -> (&'a [u8], Option<SocketAddr>),
    ) -> io::Result<usize> {
        let gso = gso && !GSO_OFF.load(Ordering::Relaxed);
        match send_with(fd, count, &msg, gso) {
            Err((e, true)) if matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) => {
                GSO_OFF.store(true, Ordering::Relaxed);
                tracing::info!(error = %e, "udp GSO send refused; sending datagrams one by one from now on");
                send_with(fd, count, &msg, false).map_err(|(e, _)| e)
            }
            r => r.map_err(|(e, _)| e),
        }
    }

    /// One `sendmmsg`; on error also says whether the first message was a GSO one.
    #[allow(unsafe_code)]
    fn send_with<'a>(
        fd: BorrowedFd<'_>,
        count: usize,
        msg: &impl Fn(usize) -> (&'a [u8], Option<SocketAddr>),
        gso: bool,
    ) -> Result<usize, (io::Error, bool)> {
        // Pass 1: plan the messages and fill the iovecs, names and control messages.
        let mut iovs = [EMPTY_IOV; IOV_PER_CALL];
        let mut names: [Option<socket2::SockAddr>; BATCH_MAX] = std::array::from_fn(|_| None);
        // Per message: first iovec, iovec count, GSO segment size (0 = none).
        let mut plan = [(0usize, 0usize, 0u16); BATCH_MAX];
        let (mut i, mut m) = (0, 0);
        while i < count && m < BATCH_MAX && i < IOV_PER_CALL {
            let (data, peer) = msg(i);
            // The kernel only reads through `iov_base` for a send; `*mut` is what the C
            // struct asks for.
            iovs[i] = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            let mut n = 1;
            if gso && !data.is_empty() && data.len() <= GSO_MAX_SEGMENT {
                let mut total = data.len();
                while i + n < count && n < GSO_MAX_SEGMENTS && i + n < IOV_PER_CALL {
                    let (next, to) = msg(i + n);
                    if to != peer
                        || next.is_empty()
                        || next.len() > data.len()
                        || total + next.len() > GSO_MAX_BYTES
                    {
                        break;
                    }
                    iovs[i + n] = libc::iovec {
                        iov_base: next.as_ptr() as *mut libc::c_void,
                        iov_len: next.len(),
                    };
                    total += next.len();
                    n += 1;
                    if next.len() < data.len() {
                        break; // only the last segment may be shorter
                    }
                }
            }
            names[m] = peer.map(socket2::SockAddr::from);
            plan[m] = (i, n, if n > 1 { data.len() as u16 } else { 0 });
            i += n;
            m += 1;
        }
        if m == 0 {
            return Ok(0);
        }
        // A control buffer per message, 8-byte aligned, large enough for one cmsg with a
        // u16 (CMSG_SPACE(2) is 24 bytes on 64-bit Linux).
        let mut cmsgs = [[0u64; 4]; BATCH_MAX];
        // SAFETY: as in `recv`, all-zero is a valid `mmsghdr`.
        let mut hdrs: [libc::mmsghdr; BATCH_MAX] = unsafe { mem::zeroed() };
        // Pass 2: point the headers at the filled arrays, through pointers taken once.
        let iov_ptr = iovs.as_mut_ptr();
        let cmsg_ptr = cmsgs.as_mut_ptr();
        for (k, hdr) in hdrs.iter_mut().enumerate().take(m) {
            let (first, n, seg) = plan[k];
            let h = &mut hdr.msg_hdr;
            if let Some(name) = &names[k] {
                h.msg_name = name.as_ptr() as *mut libc::c_void;
                h.msg_namelen = name.len();
            }
            // SAFETY: `first + n <= i <= IOV_PER_CALL`, inside `iovs`.
            h.msg_iov = unsafe { iov_ptr.add(first) };
            h.msg_iovlen = n as _;
            if seg > 0 {
                // SAFETY: `k < BATCH_MAX`, inside `cmsgs`; the buffer is 32 bytes and
                // 8-aligned, more than CMSG_SPACE(2), so CMSG_FIRSTHDR returns a non-null
                // header inside it and CMSG_DATA points at 2 writable bytes after it.
                unsafe {
                    h.msg_control = cmsg_ptr.add(k).cast();
                    h.msg_controllen = libc::CMSG_SPACE(mem::size_of::<u16>() as u32) as _;
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
                }
            }
        }
        // SAFETY: `hdrs[..m]` point at iovecs over the callers' byte slices (alive for
        // `'a`, only read by the kernel), at socket addresses owned by `names` with their
        // true lengths (or null/0), and at control buffers in `cmsgs`; everything outlives
        // the call. The fd is valid for the call (`BorrowedFd`).
        let sent =
            unsafe { libc::sendmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), m as libc::c_uint, 0) };
        if sent < 0 {
            return Err((io::Error::last_os_error(), plan[0].2 > 0));
        }
        Ok(plan[..sent as usize].iter().map(|p| p.1).sum())
    }
}

/// Reads the socket address the kernel wrote into `storage`.
///
/// # Safety
///
/// The first `len` bytes of `*storage` must be initialised, and `len` must not exceed
/// the size of `sockaddr_storage`.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
unsafe fn decode_addr(storage: *const libc::sockaddr_storage, len: usize) -> SocketAddr {
    use std::mem::size_of;
    use std::net::{Ipv6Addr, SocketAddrV4, SocketAddrV6};
    let unspecified = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    if len < size_of::<libc::sa_family_t>() {
        return unspecified;
    }
    // SAFETY (all three reads): the caller guarantees `len` initialised bytes, and each
    // read is guarded by a `len` check for its type; `sockaddr_storage` is aligned for
    // every socket address type.
    let family = unsafe { (*storage).ss_family } as libc::c_int;
    match family {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            let sin = unsafe { &*storage.cast::<libc::sockaddr_in>() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            let sin6 = unsafe { &*storage.cast::<libc::sockaddr_in6>() };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            ))
        }
        _ => unspecified,
    }
}

/// Whether an I/O error is a transient "try again" rather than a failure.
pub(crate) fn is_would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn recv_all(sock: &UdpSocket, bufs: &mut [u8], stride: usize, metas: &mut [RecvMeta]) -> usize {
        // Loopback delivery is synchronous with the send, but be patient anyway.
        for _ in 0..100 {
            match recv(sock.as_fd(), bufs, stride, metas) {
                Ok(n) => return n,
                Err(e) if is_would_block(&e) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        panic!("nothing arrived");
    }

    #[test]
    fn sendmmsg_then_recvmmsg_moves_every_datagram_with_its_sender() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; i as usize + 1]).collect();
        let sent = send(a.as_fd(), true, msgs.len(), |i| (&msgs[i][..], Some(to))).unwrap();
        assert_eq!(sent, 10);
        let stride = 32;
        let mut bufs = vec![0u8; stride * BATCH_MAX];
        let mut metas = [RecvMeta::default(); BATCH_MAX];
        let mut got = 0;
        while got < 10 {
            got += recv_all(&b, &mut bufs[got * stride..], stride, &mut metas[got..]);
        }
        for i in 0..10 {
            assert_eq!(metas[i].peer, a.local_addr().unwrap());
            assert!(!metas[i].truncated);
            assert_eq!(&bufs[i * stride..][..metas[i].len], &msgs[i][..]);
        }
        let e = recv(b.as_fd(), &mut bufs, stride, &mut metas).unwrap_err();
        assert!(is_would_block(&e));
    }

    #[test]
    fn runs_of_equal_datagrams_to_one_peer_arrive_as_separate_datagrams() {
        // Runs a GSO send may merge: 70 equal datagrams to b (more than one GSO send
        // holds) with a shorter last one, interleaved with a run to c.
        let (a, b) = pair();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_nonblocking(true).unwrap();
        let (tb, tc) = (b.local_addr().unwrap(), c.local_addr().unwrap());
        let mut msgs: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        for i in 0..70u8 {
            msgs.push((vec![i; 48], tb));
        }
        msgs.push((vec![200; 10], tb));
        for i in 0..5u8 {
            msgs.push((vec![i; 48], tc));
        }
        let mut done = 0;
        while done < msgs.len() {
            done += send(a.as_fd(), true, msgs.len() - done, |i| {
                (&msgs[done + i].0[..], Some(msgs[done + i].1))
            })
            .unwrap();
        }
        let stride = 64;
        let mut bufs = vec![0u8; stride * BATCH_MAX];
        let mut metas = [RecvMeta::default(); BATCH_MAX];
        for (sock, want) in [(&b, &msgs[..71]), (&c, &msgs[71..])] {
            let mut got: Vec<Vec<u8>> = Vec::new();
            while got.len() < want.len() {
                let n = recv_all(sock, &mut bufs, stride, &mut metas);
                got.extend((0..n).map(|i| bufs[i * stride..][..metas[i].len].to_vec()));
            }
            let want: Vec<Vec<u8>> = want.iter().map(|m| m.0.clone()).collect();
            assert_eq!(got, want);
        }
        assert!(
            imp::gso_on(),
            "the kernel refused GSO; the test passed on plain sends"
        );
    }

    #[test]
    fn recvmmsg_flags_a_datagram_longer_than_its_slot() {
        let (a, b) = pair();
        a.send_to(&[7u8; 100], b.local_addr().unwrap()).unwrap();
        let mut bufs = vec![0u8; 16 * 4];
        let mut metas = [RecvMeta::default(); 4];
        assert_eq!(recv_all(&b, &mut bufs, 16, &mut metas), 1);
        assert!(metas[0].truncated);
        assert_eq!(metas[0].len, 16);
    }

    #[test]
    fn ipv6_senders_are_decoded() {
        let Ok(a) = UdpSocket::bind("[::1]:0") else {
            return;
        }; // no IPv6 on this host
        let b = UdpSocket::bind("[::1]:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        assert_eq!(
            send(a.as_fd(), true, 1, |_| (&b"six"[..], Some(to))).unwrap(),
            1
        );
        let mut bufs = vec![0u8; 64];
        let mut metas = [RecvMeta::default(); 1];
        assert_eq!(recv_all(&b, &mut bufs, 64, &mut metas), 1);
        assert_eq!(metas[0].peer, a.local_addr().unwrap());
        assert_eq!(&bufs[..3], b"six");
    }
}
