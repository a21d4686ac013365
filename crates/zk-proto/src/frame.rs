//! Length-prefixed framing: every message in both directions is a big-endian `int32` length
//! followed by that many bytes.
//!
//! Owns: splitting a byte stream into frames and writing the length prefix. The maximum frame
//! size (Apache's `jute.maxbuffer`, default `0xfffff`) is checked on the prefix, *before*
//! any buffer is grown for the body. Does not own what is inside a frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Apache ZooKeeper's default `jute.maxbuffer`: 1 MiB − 1.
pub const DEFAULT_MAX_FRAME: usize = 0xfffff;

/// A frame prefix that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix was negative.
    #[error("negative frame length {0}")]
    Negative(i32),
    /// The length prefix exceeded the configured maximum.
    #[error("frame length {len} exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
}

/// Splits a byte stream into frames.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max` bytes (excluding the prefix).
    pub fn new(max: usize) -> Self {
        Self { max }
    }

    /// The maximum accepted frame length.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Checks the prefix at the front of `buf` without consuming anything.
    ///
    /// # Returns
    /// `Ok(None)` if fewer than 4 bytes are buffered, otherwise the announced body length.
    pub fn peek_len(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len < 0 {
            return Err(FrameError::Negative(len));
        }
        let len = len as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        Ok(Some(len))
    }

    /// Takes the next complete frame body off the front of `buf`.
    ///
    /// # Returns
    /// `Ok(Some(body))` for a complete frame, `Ok(None)` when more bytes are needed (the
    /// buffer is then asked to hold the whole frame, at most the maximum plus the prefix:
    /// `BytesMut` may round that up, never past a small multiple), or an error
    /// when the prefix is unacceptable; the stream cannot be resynchronised after an error.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(len) = self.peek_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < 4 + len {
            buf.reserve(4 + len - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(len).freeze()))
    }
}

/// Appends one frame to `buf`: a length prefix, then whatever `body` writes.
pub fn write_frame(buf: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    buf.put_i32(0);
    body(buf);
    let len = (buf.len() - start - 4) as i32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_and_waits_for_partial_ones() {
        let mut buf = BytesMut::new();
        write_frame(&mut buf, |b| b.put_slice(b"abc"));
        write_frame(&mut buf, |b| b.put_slice(b"defg"));
        buf.truncate(buf.len() - 1);
        let d = FrameDecoder::default();
        assert_eq!(d.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        buf.put_u8(b'g');
        assert_eq!(d.decode(&mut buf).unwrap().unwrap(), &b"defg"[..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_prefix_is_refused_before_allocating() {
        let mut buf = BytesMut::from(&0x7fff_ffffi32.to_be_bytes()[..]);
        let cap = buf.capacity();
        let d = FrameDecoder::new(1024);
        assert!(matches!(
            d.decode(&mut buf),
            Err(FrameError::TooLarge {
                len: 0x7fff_ffff,
                max: 1024
            })
        ));
        assert_eq!(buf.capacity(), cap);
        let mut neg = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert_eq!(d.decode(&mut neg), Err(FrameError::Negative(-5)));
    }
}
