//! The check pass: a resumable walk over a partial frame that finds where it ends.
//!
//! mini-redis checks a frame from its first byte on every read, which is quadratic when a big
//! array trickles in. [`Cursor`] instead remembers how far it got — the start of the first
//! unchecked element, the open aggregates' remaining element counts, how far the current
//! line was searched, and the end of a bulk payload whose header it has read — so each byte
//! is looked at a constant number of times across calls. Every size cap is applied the
//! moment the header declaring the size is complete.
//!
//! The cursor only looks; it never consumes. Once it reports a complete frame, the parse pass
//! reads it again from the start (each byte once more) to build the [`Frame`](crate::Frame).

use crate::resp::error::DecodeError;
use crate::resp::limits::Limits;
use crate::resp::line::{find_line, line_value, parse_len, Kind, Line};

/// What the cursor is checking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// Any RESP2/RESP3 frame.
    #[default]
    Frame,
    /// A client command: an array whose elements are all non-null bulk strings.
    Command,
    /// An inline command line; only `scanned` is used.
    Inline,
}

/// A bulk payload whose header was checked and whose bytes have not all arrived.
#[derive(Debug, Clone, Copy)]
struct PendingBlob {
    ty: u8,
    /// Index of the first payload byte.
    start: usize,
    /// Index just past the payload's `\r\n`.
    end: usize,
}

/// Resumable progress through one frame at the front of a buffer.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    mode: Mode,
    /// Start of the next unchecked element; the bytes before it are complete elements.
    pos: usize,
    /// How far the line at `pos` has been searched without finding its end.
    scanned: usize,
    blob: Option<PendingBlob>,
    /// Child frames still expected by each open aggregate, innermost last.
    open: Vec<u64>,
}

impl Cursor {
    /// Whether no frame is partly checked (the next check starts at the buffer's front).
    pub(crate) fn is_fresh(&self) -> bool {
        self.pos == 0 && self.scanned == 0 && self.blob.is_none() && self.open.is_empty()
    }

    /// Forgets all progress, ready for a new frame.
    pub(crate) fn reset(&mut self) {
        self.pos = 0;
        self.scanned = 0;
        self.blob = None;
        self.open.clear();
    }

    /// How far a partial inline line has been searched for its `\n`; the inline decoder has
    /// no elements but wants the same linear-time guarantee.
    pub(crate) fn resume_inline(&mut self, buf_len: usize) -> usize {
        if self.mode != Mode::Inline || self.scanned > buf_len {
            self.reset();
            self.mode = Mode::Inline;
        }
        self.scanned
    }

    pub(crate) fn set_scanned(&mut self, scanned: usize) {
        self.scanned = scanned;
    }

    /// Continues checking the frame at the front of `buf`.
    ///
    /// Returns the frame's length once all of it is present. `buf` must be the same buffer as
    /// on the previous call with bytes only appended, or the cursor must have been reset.
    pub(crate) fn check(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        mode: Mode,
    ) -> Result<Option<usize>, DecodeError> {
        if mode != self.mode || buf.len() < self.pos || buf.len() < self.scanned {
            self.reset();
            self.mode = mode;
        }
        let result = self.advance(buf, limits);
        if !matches!(result, Ok(None)) {
            self.reset();
        }
        result
    }

    fn advance(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, DecodeError> {
        loop {
            if let Some(blob) = self.blob {
                if buf.len() < blob.end {
                    return Ok(None);
                }
                finish_blob(buf, blob)?;
                self.blob = None;
                self.pos = blob.end;
                if self.close_element() {
                    return Ok(Some(self.pos));
                }
                continue;
            }

            let Some(&ty) = buf.get(self.pos) else {
                return Ok(None);
            };
            if self.mode == Mode::Command && !self.open.is_empty() && ty != b'$' {
                return Err(DecodeError::ExpectedBulk { found: ty });
            }
            let kind = Kind::of(ty)?;
            let start = self.pos + 1;
            let end = match find_line(buf, start, self.scanned, limits.max_line_len)? {
                Line::Complete(end) => end,
                Line::Partial(scanned) => {
                    // Everything buffered belongs to this frame, since its current line has
                    // not ended yet.
                    check_frame_len(buf.len(), limits)?;
                    self.scanned = scanned;
                    return Ok(None);
                }
            };
            self.scanned = 0;
            let content = &buf[start..end];
            let next = end + 2;
            check_frame_len(next, limits)?;

            match kind {
                Kind::Line => {
                    line_value(ty, content)?;
                    self.pos = next;
                }
                Kind::Blob => match parse_len(content)? {
                    None if ty == b'$' && self.mode == Mode::Command => {
                        return Err(DecodeError::NullBulkInCommand)
                    }
                    None if ty == b'$' => self.pos = next,
                    None => return Err(DecodeError::NegativeLength(-1)),
                    Some(len) => {
                        if len > limits.max_bulk_len as u64 {
                            return Err(DecodeError::BulkTooLarge {
                                len,
                                limit: limits.max_bulk_len,
                            });
                        }
                        // len <= max_bulk_len (a usize), so this only overflows near usize::MAX.
                        let end = (len as usize).checked_add(next + 2).ok_or(
                            DecodeError::FrameTooLarge {
                                limit: limits.max_frame_len,
                            },
                        )?;
                        check_frame_len(end, limits)?;
                        self.blob = Some(PendingBlob {
                            ty,
                            start: next,
                            end,
                        });
                        continue;
                    }
                },
                Kind::Aggregate { .. } | Kind::Attribute => {
                    match command_len(content, self.mode)? {
                        None if ty == b'*' => self.pos = next,
                        None => return Err(DecodeError::NegativeLength(-1)),
                        Some(len) => {
                            if len > limits.max_aggregate_len as u64 {
                                return Err(DecodeError::AggregateTooLarge {
                                    len,
                                    limit: limits.max_aggregate_len,
                                });
                            }
                            // len fits a usize, so doubling it (plus one) cannot overflow a u64.
                            let children = match kind {
                                Kind::Aggregate { per_entry } => len * per_entry,
                                _ => len * 2 + 1,
                            };
                            self.pos = next;
                            if children > 0 {
                                if self.open.len() >= limits.max_depth {
                                    return Err(DecodeError::TooDeep {
                                        limit: limits.max_depth,
                                    });
                                }
                                self.open.push(children);
                                continue;
                            }
                        }
                    }
                }
            }
            if self.close_element() {
                return Ok(Some(self.pos));
            }
        }
    }

    /// Records that one element ended at `pos`; returns whether that ended the frame.
    fn close_element(&mut self) -> bool {
        while let Some(remaining) = self.open.last_mut() {
            *remaining -= 1;
            if *remaining > 0 {
                return false;
            }
            // The aggregate's last child ended, so the aggregate itself ended too.
            self.open.pop();
        }
        true
    }
}

/// Reads an aggregate's length; Redis ignores a command array of any negative length (`*-10`)
/// as it does `*0`, so in command mode every negative length is the null marker.
pub(crate) fn command_len(content: &[u8], mode: Mode) -> Result<Option<u64>, DecodeError> {
    match parse_len(content) {
        Err(DecodeError::NegativeLength(_)) if mode == Mode::Command => Ok(None),
        other => other,
    }
}

fn check_frame_len(len: usize, limits: &Limits) -> Result<(), DecodeError> {
    if len > limits.max_frame_len {
        Err(DecodeError::FrameTooLarge {
            limit: limits.max_frame_len,
        })
    } else {
        Ok(())
    }
}

/// Validates a blob whose bytes have all arrived.
fn finish_blob(buf: &[u8], blob: PendingBlob) -> Result<(), DecodeError> {
    if buf.get(blob.end - 2..blob.end) != Some(&b"\r\n"[..]) {
        return Err(DecodeError::BulkMissingCrlf);
    }
    if blob.ty == b'=' {
        let payload = buf.get(blob.start..blob.end - 2).unwrap_or(&[]);
        if payload.len() < 4 || payload[3] != b':' {
            return Err(DecodeError::InvalidVerbatim);
        }
    }
    Ok(())
}
