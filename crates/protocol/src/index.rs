//! The signed index: the small file a phone fetches first to learn which
//! content-addressed files (export batches, trace batches, color policies)
//! exist and which of them it still has to download.
//!
//! An index is a signed file (see [`crate::signing`]) of kind
//! [`INDEX_MAGIC`] whose body is
//!
//! ```text
//! format_version u8 (= 1) ‖ region short text ‖ generated_at u64 ‖ count u16 ‖ count × entry
//! entry = kind u8 ‖ sha256 [32] ‖ size u32 ‖ start u64 ‖ end u64 ‖ sequence u64
//! ```
//!
//! all integers little-endian, entries strictly ascending by
//! `(kind, sequence)`. Every listed file is immutable and named by the
//! SHA-256 of its bytes ([`content_address`]); the index is the only
//! mutable file, so a CDN can cache everything else forever. Because the
//! index signature covers each file's hash, a phone that checks a download
//! with [`IndexEntry::check`] gets the file the key server signed, whatever
//! cache served it.

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};
use crate::export::Region;
use crate::signing::{SigningKey, TrustedKeys, open_file, seal_file};
use crate::time::UnixTime;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The magic bytes that open a signed index.
pub const INDEX_MAGIC: [u8; 8] = *b"GL_INDEX";
/// The index body format this implementation reads and writes.
pub const INDEX_FORMAT_VERSION: u8 = 1;
/// Encoded length of one [`IndexEntry`].
pub const ENTRY_LEN: usize = 1 + 32 + 4 + 8 + 8 + 8;
/// The smallest file an index can list: a signed file with an empty body
/// (8 bytes of magic and the 72-byte trailer).
pub const MIN_FILE_SIZE: u32 = 80;

/// What kind of signed file an index entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// An export batch of published daily keys ([`crate::export`]).
    ExportBatch,
    /// A batch of traced venue epochs.
    TraceBatch,
    /// A color policy signed by the health authority.
    ColorPolicy,
    /// The region's key set, signed by the authority's root key
    /// ([`crate::trust`]).
    KeySet,
}

impl FileKind {
    /// The wire value: 1 export batch, 2 trace batch, 3 color policy, 4
    /// key set.
    pub fn to_byte(self) -> u8 {
        match self {
            FileKind::ExportBatch => 1,
            FileKind::TraceBatch => 2,
            FileKind::ColorPolicy => 3,
            FileKind::KeySet => 4,
        }
    }

    /// Parses the wire value.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            1 => Ok(FileKind::ExportBatch),
            2 => Ok(FileKind::TraceBatch),
            3 => Ok(FileKind::ColorPolicy),
            4 => Ok(FileKind::KeySet),
            _ => Err(Error::InvalidField("kind")),
        }
    }
}

/// The content address of a file: SHA-256 of its bytes. The key server
/// uses its lower-case hex form ([`content_address_hex`]) as the file name
/// and ETag.
pub fn content_address(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The lower-case hex form of [`content_address`].
pub fn content_address_hex(bytes: &[u8]) -> String {
    to_hex(&content_address(bytes))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// One file listed in the index.
///
/// `sequence` numbers the files of one kind (from 1, increasing with every
/// new file); `[start, end)` is the span of time the file covers: upload
/// time for an export batch, and the meaning its own format gives for the
/// other kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// What the file is.
    pub kind: FileKind,
    /// SHA-256 of the whole signed file.
    pub sha256: [u8; 32],
    /// Length of the whole signed file in bytes.
    pub size: u32,
    /// Start of the span the file covers (inclusive).
    pub start: UnixTime,
    /// End of the span the file covers (exclusive).
    pub end: UnixTime,
    /// The file's number among files of its kind, from 1.
    pub sequence: u64,
}

impl IndexEntry {
    /// The entry describing the signed file `bytes`.
    ///
    /// Fails if the file is longer than `u32::MAX` bytes or the entry would
    /// be invalid (see [`Index::new`]).
    pub fn for_file(kind: FileKind, sequence: u64, start: UnixTime, end: UnixTime, bytes: &[u8]) -> Result<Self> {
        let size = u32::try_from(bytes.len()).map_err(|_| Error::InvalidField("size"))?;
        let entry = IndexEntry { kind, sha256: content_address(bytes), size, start, end, sequence };
        entry.validate()?;
        Ok(entry)
    }

    /// Checks that a downloaded file is the one this entry names: same
    /// length and same SHA-256 (compared in constant time).
    ///
    /// Fails with [`Error::BadSignature`]: the index signature covers the
    /// hash, so a file that does not match is not authenticated by it.
    pub fn check(&self, bytes: &[u8]) -> Result<()> {
        let size_ok = u32::try_from(bytes.len()).is_ok_and(|len| len == self.size);
        if !size_ok || !bool::from(content_address(bytes).ct_eq(&self.sha256)) {
            return Err(Error::BadSignature);
        }
        Ok(())
    }

    /// The file name (and ETag) the key server serves the file under: the
    /// lower-case hex of its SHA-256.
    pub fn file_name(&self) -> String {
        to_hex(&self.sha256)
    }

    fn validate(&self) -> Result<()> {
        if self.size < MIN_FILE_SIZE {
            return Err(Error::InvalidField("size"));
        }
        if self.start >= self.end {
            return Err(Error::InvalidField("end"));
        }
        if self.sequence == 0 {
            return Err(Error::InvalidField("sequence"));
        }
        Ok(())
    }

    fn order_key(&self) -> (FileKind, u64) {
        (self.kind, self.sequence)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.kind.to_byte());
        out.put(&self.sha256);
        out.put_u32(self.size);
        out.put_u64(self.start.0);
        out.put_u64(self.end.0);
        out.put_u64(self.sequence);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self> {
        let entry = IndexEntry {
            kind: FileKind::from_byte(reader.u8()?)?,
            sha256: reader.array()?,
            size: reader.u32()?,
            start: UnixTime(reader.u64()?),
            end: UnixTime(reader.u64()?),
            sequence: reader.u64()?,
        };
        entry.validate()?;
        Ok(entry)
    }
}

/// A validated index: entries strictly ascending by `(kind, sequence)`,
/// each with a size of at least [`MIN_FILE_SIZE`], `start < end` and a
/// sequence number of at least 1.
///
/// A phone should also refuse an index whose `generated_at` is older than
/// the last one it accepted, so that a stale cache cannot roll it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    region: Region,
    generated_at: UnixTime,
    entries: Vec<IndexEntry>,
}

impl Index {
    /// An index of `entries` for `region`, generated at `generated_at`.
    ///
    /// Sorts the entries by `(kind, sequence)`. Fails if two entries share
    /// a kind and sequence, if an entry is invalid, or if there are more
    /// than `u16::MAX` entries.
    pub fn new(region: Region, generated_at: UnixTime, mut entries: Vec<IndexEntry>) -> Result<Self> {
        u16::try_from(entries.len()).map_err(|_| Error::InvalidField("count"))?;
        for entry in &entries {
            entry.validate()?;
        }
        entries.sort_unstable_by_key(IndexEntry::order_key);
        check_strictly_ascending(&entries)?;
        Ok(Index { region, generated_at, entries })
    }

    /// The region the index belongs to.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// When the key server generated this index.
    pub fn generated_at(&self) -> UnixTime {
        self.generated_at
    }

    /// All entries, ascending by `(kind, sequence)`.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The entries of `kind` with a sequence number above `sequence`: what a
    /// phone that already holds files of that kind up to `sequence` still
    /// has to download (pass 0 on first sync).
    pub fn entries_after(&self, kind: FileKind, sequence: u64) -> &[IndexEntry] {
        let from = self.entries.partition_point(|e| e.order_key() <= (kind, sequence));
        let to = self.entries.partition_point(|e| e.kind <= kind);
        &self.entries[from..to]
    }

    /// The body of the signed file.
    pub fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.region.as_str().len() + ENTRY_LEN * self.entries.len());
        out.put_u8(INDEX_FORMAT_VERSION);
        self.region.write(&mut out);
        out.put_u64(self.generated_at.0);
        out.put_u16(u16::try_from(self.entries.len()).expect("Index::new bounds the count"));
        for entry in &self.entries {
            entry.write(&mut out);
        }
        out
    }

    /// Decodes a body written by [`Index::encode_body`], strictly.
    pub fn decode_body(body: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(body);
        let version = reader.u8()?;
        if version != INDEX_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let region = Region::read(&mut reader)?;
        let generated_at = UnixTime(reader.u64()?);
        let count = reader.u16()?;
        if reader.remaining() < usize::from(count) * ENTRY_LEN {
            return Err(Error::Truncated);
        }
        let mut entries = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            entries.push(IndexEntry::read(&mut reader)?);
        }
        reader.finish()?;
        check_strictly_ascending(&entries)?;
        Ok(Index { region, generated_at, entries })
    }

    /// Seals the index into a signed file with the key server's key.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        seal_file(&INDEX_MAGIC, &self.encode_body(), key)
    }

    /// Checks a signed index against the trusted keys and decodes it.
    pub fn verify(bytes: &[u8], trusted: &TrustedKeys) -> Result<Self> {
        Index::decode_body(open_file(&INDEX_MAGIC, bytes, trusted)?)
    }
}

fn check_strictly_ascending(entries: &[IndexEntry]) -> Result<()> {
    if entries.windows(2).all(|pair| pair[0].order_key() < pair[1].order_key()) {
        Ok(())
    } else {
        Err(Error::InvalidField("entries"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::TRAILER_LEN;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn trusted() -> TrustedKeys {
        TrustedKeys::from_keys([key().verifying_key()])
    }

    fn file(n: u8) -> Vec<u8> {
        vec![n; 100 + usize::from(n)]
    }

    fn entry(kind: FileKind, sequence: u64) -> IndexEntry {
        let bytes = file(u8::try_from(sequence % 100).expect("below 100"));
        IndexEntry::for_file(kind, sequence, UnixTime(1_000), UnixTime(4_600), &bytes).expect("valid entry")
    }

    fn index() -> Index {
        Index::new(
            Region::new("DE-BY").expect("valid region"),
            UnixTime(5_000),
            vec![
                entry(FileKind::ColorPolicy, 1),
                entry(FileKind::ExportBatch, 3),
                entry(FileKind::TraceBatch, 1),
                entry(FileKind::ExportBatch, 1),
                entry(FileKind::ExportBatch, 2),
            ],
        )
        .expect("valid index")
    }

    #[test]
    fn round_trips_sorted() {
        let idx = index();
        let order: Vec<(u8, u64)> = idx.entries().iter().map(|e| (e.kind.to_byte(), e.sequence)).collect();
        assert_eq!(order, [(1, 1), (1, 2), (1, 3), (2, 1), (3, 1)]);
        assert_eq!(Index::verify(&idx.sign(&key()), &trusted()), Ok(idx));
    }

    #[test]
    fn entries_after_lists_what_is_still_missing() {
        let idx = index();
        let seqs = |kind, after| -> Vec<u64> { idx.entries_after(kind, after).iter().map(|e| e.sequence).collect() };
        assert_eq!(seqs(FileKind::ExportBatch, 0), [1, 2, 3]);
        assert_eq!(seqs(FileKind::ExportBatch, 1), [2, 3]);
        assert_eq!(seqs(FileKind::ExportBatch, 3), Vec::<u64>::new());
        assert_eq!(seqs(FileKind::ExportBatch, u64::MAX), Vec::<u64>::new());
        assert_eq!(seqs(FileKind::TraceBatch, 0), [1]);
        assert_eq!(seqs(FileKind::ColorPolicy, 1), Vec::<u64>::new());
    }

    #[test]
    fn a_file_that_differs_from_its_entry_is_rejected() {
        let e = entry(FileKind::ExportBatch, 5);
        let good = file(5);
        assert_eq!(e.check(&good), Ok(()));
        let mut flipped = good.clone();
        flipped[17] ^= 1;
        assert_eq!(e.check(&flipped), Err(Error::BadSignature));
        assert_eq!(e.check(&good[1..]), Err(Error::BadSignature));
        assert_eq!(e.file_name(), content_address_hex(&good));
        assert_eq!(e.file_name().len(), 64);
    }

    #[test]
    fn min_file_size_is_an_empty_signed_file() {
        assert_eq!(usize::try_from(MIN_FILE_SIZE), Ok(8 + TRAILER_LEN));
    }

    #[test]
    fn content_address_is_sha256() {
        assert_eq!(content_address_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn duplicate_or_unsorted_entries_are_rejected() {
        let region = Region::new("DE").expect("valid region");
        let dup = vec![entry(FileKind::ExportBatch, 1), entry(FileKind::ExportBatch, 1)];
        assert_eq!(Index::new(region, UnixTime(1), dup), Err(Error::InvalidField("entries")));

        let body = index().encode_body();
        let first = body.len() - 5 * ENTRY_LEN;
        let mut swapped = body[..first].to_vec();
        swapped.extend_from_slice(&body[first + ENTRY_LEN..first + 2 * ENTRY_LEN]);
        swapped.extend_from_slice(&body[first..first + ENTRY_LEN]);
        swapped.extend_from_slice(&body[first + 2 * ENTRY_LEN..]);
        assert_eq!(Index::decode_body(&swapped), Err(Error::InvalidField("entries")));
    }

    #[test]
    fn invalid_entries_are_rejected() {
        let base = entry(FileKind::ExportBatch, 1);
        let region = || Region::new("DE").expect("valid region");
        for (bad, field) in [
            (IndexEntry { sequence: 0, ..base }, "sequence"),
            (IndexEntry { end: base.start, ..base }, "end"),
            (IndexEntry { size: MIN_FILE_SIZE - 1, ..base }, "size"),
        ] {
            assert_eq!(Index::new(region(), UnixTime(1), vec![bad]), Err(Error::InvalidField(field)));
        }
        let mut body = index().encode_body();
        let kind_at = body.len() - ENTRY_LEN;
        body[kind_at] = 5;
        assert_eq!(Index::decode_body(&body), Err(Error::InvalidField("kind")));
    }

    #[test]
    fn wrong_magic_or_key_is_rejected() {
        let mut signed = index().sign(&key());
        let other = TrustedKeys::from_keys([SigningKey::from_bytes(&[4; 32]).verifying_key()]);
        assert_eq!(Index::verify(&signed, &other), Err(Error::BadSignature));
        signed[..8].copy_from_slice(b"GL_KEYS_");
        assert_eq!(Index::verify(&signed, &trusted()), Err(Error::BadMagic));
    }
}
