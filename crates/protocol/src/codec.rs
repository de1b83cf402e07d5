//! Hand-written readers and writers for the binary formats.
//!
//! All integers are little-endian. Variable-length fields carry an explicit
//! length prefix whose width is part of each format's specification. Decoding
//! is strict: [`Reader::finish`] rejects trailing bytes, so every byte string
//! has at most one meaning.

use crate::error::{Error, Result};

/// A cursor over untrusted bytes. Every read is bounds-checked and returns
/// [`Error::Truncated`] instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes` from the beginning.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(Error::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a UTF-8 string prefixed by a one-byte length, refusing strings
    /// longer than `max` bytes or with control or format characters.
    pub fn short_text(&mut self, max: usize, field: &'static str) -> Result<&'a str> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(Error::InvalidField(field));
        }
        let text = core::str::from_utf8(self.take(len)?).map_err(|_| Error::BadEncoding)?;
        check_text(text, max, field)?;
        Ok(text)
    }

    /// Succeeds only if every byte has been consumed.
    pub fn finish(self) -> Result<()> {
        if self.bytes.is_empty() { Ok(()) } else { Err(Error::TrailingBytes) }
    }
}

/// Checks a human-readable text field (protocol §2, short text): at most
/// `max` bytes of UTF-8, no control character (general category Cc: they
/// would let a poster spoof lines on a screen) and no format character
/// (Cf: bidi overrides, zero-width spaces and joiners would let a poster
/// show one name and hold another).
pub fn check_text(text: &str, max: usize, field: &'static str) -> Result<()> {
    if text.len() > max || text.chars().any(|c| c.is_control() || is_format_char(c)) {
        return Err(Error::InvalidField(field));
    }
    Ok(())
}

/// The code points of Unicode general category Cf (format), as of Unicode
/// 15.1, listed in protocol §2. The list is fixed by the protocol, not by
/// whichever Unicode version a platform ships.
const FORMAT_CHARS: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is a format character (protocol §2).
pub fn is_format_char(c: char) -> bool {
    let c = u32::from(c);
    FORMAT_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Appends encodings to a byte vector.
pub trait Writer {
    /// Appends one byte.
    fn put_u8(&mut self, v: u8);
    /// Appends a little-endian `u16`.
    fn put_u16(&mut self, v: u16);
    /// Appends a little-endian `u32`.
    fn put_u32(&mut self, v: u32);
    /// Appends a little-endian `u64`.
    fn put_u64(&mut self, v: u64);
    /// Appends raw bytes.
    fn put(&mut self, bytes: &[u8]);
    /// Appends a string with a one-byte length prefix. The caller has
    /// already checked it with [`check_text`], so it is at most 255 bytes.
    fn put_short_text(&mut self, text: &str);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_short_text(&mut self, text: &str) {
        let len = u8::try_from(text.len()).expect("text fields are checked to be short");
        self.push(len);
        self.extend_from_slice(text.as_bytes());
    }
}

/// Encodes bytes as unpadded base64url (RFC 4648 §5), the text form used in
/// QR codes and JSON.
pub fn to_base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url strictly: padding, other alphabets and
/// non-canonical trailing bits are all refused.
pub fn from_base64url(text: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|_| Error::BadEncoding)
}
