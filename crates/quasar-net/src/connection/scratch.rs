//! A per-thread read buffer lent to connections while they parse.
//!
//! An idle keep-alive connection has nothing to parse, so it should hold no read buffer:
//! a 16 KiB buffer per idle connection is most of a connection's memory. A connection
//! whose own buffer is empty borrows this thread's scratch buffer for the read, feeds its
//! consumers from it, and gives it back before its next `.await` if they consumed
//! everything. Only a connection left holding a partial request keeps the buffer (the
//! thread makes a new scratch buffer on its next borrow). Borrow and return happen in
//! one poll of the task, so the buffer never crosses threads while lent.

use std::cell::RefCell;

use bytes::BytesMut;

thread_local! {
    // `None` while lent (or before the first borrow): taking and returning move the
    // buffer in and out with no empty `BytesMut` built and dropped per read.
    static SCRATCH: RefCell<Option<BytesMut>> = const { RefCell::new(None) };
}

/// Takes this thread's scratch buffer (empty, possibly without capacity yet).
pub(crate) fn borrow() -> BytesMut {
    SCRATCH.with(|s| s.borrow_mut().take()).unwrap_or_default()
}

/// Returns an empty buffer for the next connection on this thread to borrow; a larger
/// one already there is kept instead.
pub(crate) fn give_back(buf: BytesMut) {
    debug_assert!(buf.is_empty());
    SCRATCH.with(|s| {
        let mut slot = s.borrow_mut();
        match &*slot {
            Some(kept) if kept.capacity() >= buf.capacity() => {}
            _ => *slot = Some(buf),
        }
    });
}
