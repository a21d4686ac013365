//! The jute primitive encodings and the [`Encode`]/[`Decode`] traits every record implements.
//!
//! Owns: big-endian integers, booleans, `ustring`, `buffer` and `vector<T>` as Apache's
//! `BinaryOutputArchive`/`BinaryInputArchive` write and read them. Does not own framing
//! (see [`crate::frame`]) or any record layout.
//!
//! Decoding never panics and never allocates more than the bytes actually present: every
//! length is checked against [`Buf::remaining`] before a buffer is reserved, so a hostile
//! `len = 0x7fffffff` costs nothing.

use bytes::{Buf, BufMut, Bytes};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the record did.
    #[error("unexpected end of record: needed {needed} more bytes, {remaining} left")]
    UnexpectedEof {
        /// Bytes the next field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count prefix was negative (other than -1, which means null).
    #[error("invalid length {0}")]
    InvalidLength(i32),
    /// A field held a value outside its enumeration.
    #[error("invalid {field}: {value}")]
    InvalidValue {
        /// Which field.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// Bytes were left over after a record that must fill its frame.
    #[error("{0} trailing bytes after record")]
    TrailingBytes(usize),
}

/// Result of a decode.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// A record that can be written in jute binary form.
pub trait Encode {
    /// Appends the record's encoding to `buf`.
    fn encode<B: BufMut>(&self, buf: &mut B);
}

/// A record that can be read from jute binary form.
pub trait Decode: Sized {
    /// The smallest number of bytes an encoding can take; vector counts are checked against
    /// it before anything is allocated.
    const MIN_LEN: usize = 1;

    /// Reads one record from the front of `buf`, advancing it.
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self>;
}

fn need<B: Buf>(buf: &B, needed: usize) -> DecodeResult<()> {
    if buf.remaining() < needed {
        Err(DecodeError::UnexpectedEof {
            needed,
            remaining: buf.remaining(),
        })
    } else {
        Ok(())
    }
}

/// Reads a big-endian `int`.
pub fn read_i32<B: Buf>(buf: &mut B) -> DecodeResult<i32> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

/// Reads a big-endian `long`.
pub fn read_i64<B: Buf>(buf: &mut B) -> DecodeResult<i64> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

/// Reads a `boolean`: any non-zero byte is true, as Java's `readBoolean`.
pub fn read_bool<B: Buf>(buf: &mut B) -> DecodeResult<bool> {
    need(buf, 1)?;
    Ok(buf.get_u8() != 0)
}

/// Reads a length prefix; `Ok(None)` means null (`-1`).
fn read_len<B: Buf>(buf: &mut B) -> DecodeResult<Option<usize>> {
    match read_i32(buf)? {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::InvalidLength(n)),
        n => Ok(Some(n as usize)),
    }
}

/// Reads a `buffer`; `None` is the null buffer (length `-1`).
///
/// The bytes are copied into an allocation of their own, never shared with the input:
/// a caller keeping a small value must not keep a whole read buffer alive with it.
pub fn read_buffer<B: Buf>(buf: &mut B) -> DecodeResult<Option<Bytes>> {
    match read_len(buf)? {
        None => Ok(None),
        Some(len) => {
            need(buf, len)?;
            let mut data = vec![0u8; len];
            buf.copy_to_slice(&mut data);
            Ok(Some(Bytes::from(data)))
        }
    }
}

/// Reads a `ustring`; a null string reads as `None`. Invalid UTF-8 is replaced with U+FFFD,
/// as Java's `new String(bytes, UTF_8)` does.
pub fn read_opt_string<B: Buf>(buf: &mut B) -> DecodeResult<Option<String>> {
    match read_len(buf)? {
        None => Ok(None),
        Some(len) => {
            need(buf, len)?;
            let mut bytes = vec![0u8; len];
            buf.copy_to_slice(&mut bytes);
            Ok(Some(match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }))
        }
    }
}

/// Reads a `ustring`, mapping null to the empty string.
pub fn read_string<B: Buf>(buf: &mut B) -> DecodeResult<String> {
    Ok(read_opt_string(buf)?.unwrap_or_default())
}

/// Reads a `vector<T>`; null (`-1`) reads as empty. `min_size` is the smallest encoding of
/// one element, used to refuse counts that cannot fit in what is left before allocating.
pub fn read_vec<B: Buf, T>(
    buf: &mut B,
    min_size: usize,
    mut item: impl FnMut(&mut B) -> DecodeResult<T>,
) -> DecodeResult<Vec<T>> {
    let Some(count) = read_len(buf)? else {
        return Ok(Vec::new());
    };
    need(buf, count.saturating_mul(min_size.max(1)))?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(item(buf)?);
    }
    Ok(out)
}

/// Reads a `vector<ustring>`.
pub fn read_string_vec<B: Buf>(buf: &mut B) -> DecodeResult<Vec<String>> {
    read_vec(buf, 4, read_string)
}

/// Writes a `boolean`.
pub fn write_bool<B: BufMut>(buf: &mut B, v: bool) {
    buf.put_u8(v as u8);
}

/// Writes a `ustring`.
pub fn write_string<B: BufMut>(buf: &mut B, s: &str) {
    buf.put_i32(s.len() as i32);
    buf.put_slice(s.as_bytes());
}

/// Writes an optional `ustring`, `None` as null.
pub fn write_opt_string<B: BufMut>(buf: &mut B, s: Option<&str>) {
    match s {
        Some(s) => write_string(buf, s),
        None => buf.put_i32(-1),
    }
}

/// Writes a `buffer`, `None` as null.
pub fn write_buffer<B: BufMut>(buf: &mut B, data: Option<&[u8]>) {
    match data {
        Some(d) => {
            buf.put_i32(d.len() as i32);
            buf.put_slice(d);
        }
        None => buf.put_i32(-1),
    }
}

/// Writes a `vector<ustring>`.
pub fn write_string_vec<B: BufMut, S: AsRef<str>>(buf: &mut B, items: &[S]) {
    buf.put_i32(items.len() as i32);
    for s in items {
        write_string(buf, s.as_ref());
    }
}

/// Writes a `vector<T>` of records.
pub fn write_vec<B: BufMut, T: Encode>(buf: &mut B, items: &[T]) {
    buf.put_i32(items.len() as i32);
    for item in items {
        item.encode(buf);
    }
}

impl Encode for i32 {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(*self);
    }
}

impl Decode for i32 {
    const MIN_LEN: usize = 4;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        read_i32(buf)
    }
}

impl Encode for i64 {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i64(*self);
    }
}

impl Decode for i64 {
    const MIN_LEN: usize = 8;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        read_i64(buf)
    }
}

impl Encode for bool {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        write_bool(buf, *self);
    }
}

impl Decode for bool {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        read_bool(buf)
    }
}

/// A `ustring` (null reads as empty).
impl Encode for String {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        write_string(buf, self);
    }
}

impl Decode for String {
    const MIN_LEN: usize = 4;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        read_string(buf)
    }
}

/// A `buffer`, `None` being null.
impl Encode for Option<Bytes> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        write_buffer(buf, self.as_deref());
    }
}

impl Decode for Option<Bytes> {
    const MIN_LEN: usize = 4;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        read_buffer(buf)
    }
}

/// A `vector<T>` (null reads as empty).
impl<T: Encode> Encode for Vec<T> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        write_vec(buf, self);
    }
}

impl<T: Decode> Decode for Vec<T> {
    const MIN_LEN: usize = 4;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        read_vec(buf, T::MIN_LEN, T::decode)
    }
}

/// Decodes a record that must span all of `bytes`.
pub fn decode_exact<T: Decode>(mut bytes: &[u8]) -> DecodeResult<T> {
    let v = T::decode(&mut bytes)?;
    if !bytes.is_empty() {
        return Err(DecodeError::TrailingBytes(bytes.len()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_buffers_are_distinct() {
        let mut out = Vec::new();
        write_buffer(&mut out, None);
        write_buffer(&mut out, Some(b""));
        let mut input = &out[..];
        assert_eq!(read_buffer(&mut input).unwrap(), None);
        assert_eq!(read_buffer(&mut input).unwrap(), Some(Bytes::new()));
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let input = [0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(
            read_buffer(&mut &input[..]),
            Err(DecodeError::UnexpectedEof { .. })
        ));
        assert!(matches!(
            read_string_vec(&mut &input[..]),
            Err(DecodeError::UnexpectedEof { .. })
        ));
    }

    #[test]
    fn negative_length_other_than_minus_one_is_invalid() {
        let input = (-2i32).to_be_bytes();
        assert_eq!(
            read_buffer(&mut &input[..]),
            Err(DecodeError::InvalidLength(-2))
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let input = [0, 0, 0, 2, 0xff, b'a'];
        assert_eq!(read_string(&mut &input[..]).unwrap(), "\u{fffd}a");
    }
}
