//! Export batches: the signed, append-only files in which the key server
//! publishes diagnosed people's daily keys.
//!
//! A batch is a signed file (see [`crate::signing`]) of kind
//! [`EXPORT_MAGIC`] whose body is
//!
//! ```text
//! format_version u8 (= 1) ‖ region short text ‖ sequence u64 ‖ start u64 ‖ end u64
//!   ‖ first_day u32 ‖ count u32 ‖ count × record
//! record = key [16] ‖ day_offset u8 ‖ risk u8 (report type << 4 | transmission risk)
//! ```
//!
//! all integers little-endian. Records are sorted strictly ascending by key
//! bytes: the order then says nothing about which keys arrived together in
//! one upload, and a batch has exactly one encoding, so re-sealing it gives
//! byte-identical output (Ed25519 is deterministic) and the file can be
//! content-addressed. Each record costs 18 bytes; the fixed part is at most
//! 58 bytes of header plus 72 bytes of key id and signature, so a batch of
//! `n` keys costs `18 + 130 / n` bytes per key: at most 24 once `n ≥ 22`,
//! and ≈ 18.1 at `n = 1000` (GAEN's protobuf export costs ≈ 29).
//!
//! The key server pads batches with fake keys whose metadata is cloned from
//! real records; a padding record is an ordinary record and nothing in the
//! format tells it apart, so this module neither adds nor detects padding.

use crate::codec::{Reader, Writer, check_text};
use crate::daily_key::{DAILY_KEY_LEN, PublishedKey};
use crate::error::{Error, Result};
use crate::report::{ReportType, TransmissionRisk};
use crate::signing::{SigningKey, TrustedKeys, open_file, seal_file};
use crate::time::{DayNumber, UnixTime};
use core::fmt;

/// The magic bytes that open a signed export batch.
pub const EXPORT_MAGIC: [u8; 8] = *b"GL_KEYS_";
/// The export body format this implementation reads and writes.
pub const EXPORT_FORMAT_VERSION: u8 = 1;
/// Encoded length of one [`ExportRecord`].
pub const RECORD_LEN: usize = DAILY_KEY_LEN + 2;
/// The largest allowed distance between a batch's first day and the day of
/// any of its records. Keys are retained for 14 days, so 20 leaves room for
/// an embargoed key published late without letting a batch span months.
pub const MAX_DAY_OFFSET: u8 = 20;
/// The longest region code, in bytes.
pub const MAX_REGION_LEN: usize = 16;

/// The region a key server publishes for, such as `DE-BY`: 1 to 16 bytes of
/// upper-case ASCII letters, digits and `-`.
///
/// The narrow alphabet keeps region codes usable verbatim in URLs and file
/// names, and gives every region exactly one spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(String);

impl Region {
    /// A region code, refusing empty, overlong or non-`[A-Z0-9-]` text.
    pub fn new(code: &str) -> Result<Self> {
        check_text(code, MAX_REGION_LEN, "region")?;
        let allowed = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-';
        if code.is_empty() || !code.bytes().all(allowed) {
            return Err(Error::InvalidField("region"));
        }
        Ok(Region(code.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a region written by [`Region::write`].
    pub(crate) fn read(reader: &mut Reader<'_>) -> Result<Self> {
        Region::new(reader.short_text(MAX_REGION_LEN, "region")?)
    }

    /// Appends the one-byte length and the code.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_short_text(&self.0);
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One published daily key with what a matcher needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExportRecord {
    /// The released daily key.
    pub key: PublishedKey,
    /// The UTC day the key was used on.
    pub day: DayNumber,
    /// How infectious its owner probably was on that day.
    pub transmission_risk: TransmissionRisk,
    /// How the diagnosis was established (from the upload's certificate).
    pub report_type: ReportType,
}

impl ExportRecord {
    /// Whether publishing this key at `published_at` respects the embargo:
    /// its day has ended at least `margin_secs` seconds earlier.
    ///
    /// A key whose day is still running (or ended less than the margin ago)
    /// could be replayed by someone who learns it to broadcast its remaining
    /// IDs and raise false alerts ("time travel"). The key server applies
    /// this before sealing; the matcher applies it again with the time it
    /// first saw the batch and drops records that fail.
    pub fn is_embargo_safe(&self, published_at: UnixTime, margin_secs: u64) -> bool {
        self.day.end().plus(margin_secs) <= published_at
    }

    fn risk_byte(&self) -> u8 {
        (self.report_type.to_byte() << 4) | self.transmission_risk.level()
    }

    fn write(&self, first_day: DayNumber, out: &mut Vec<u8>) {
        let offset = u8::try_from(self.day.0 - first_day.0).expect("ExportBatch::new bounds every day offset");
        out.put(&self.key.0);
        out.put_u8(offset);
        out.put_u8(self.risk_byte());
    }

    fn read(reader: &mut Reader<'_>, first_day: DayNumber) -> Result<Self> {
        let key = PublishedKey(reader.array()?);
        let offset = reader.u8()?;
        if offset > MAX_DAY_OFFSET {
            return Err(Error::InvalidField("day_offset"));
        }
        let day = first_day.0.checked_add(u32::from(offset)).ok_or(Error::InvalidField("day_offset"))?;
        let risk = reader.u8()?;
        Ok(ExportRecord {
            key,
            day: DayNumber(day),
            transmission_risk: TransmissionRisk::new(risk & 0x0f)?,
            report_type: ReportType::from_byte(risk >> 4)?,
        })
    }
}

/// A validated export batch: the records are sorted by key with no key
/// twice, all days lie within [`MAX_DAY_OFFSET`] of the first, the sequence
/// number is at least 1 and `start < end`.
///
/// The fields are private so that every value of this type has exactly one
/// valid encoding; build one with [`ExportBatch::new`] or
/// [`ExportBatch::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportBatch {
    region: Region,
    sequence: u64,
    start: UnixTime,
    end: UnixTime,
    first_day: DayNumber,
    records: Vec<ExportRecord>,
}

impl ExportBatch {
    /// A batch of `records` for `region`, number `sequence` (from 1), covering
    /// uploads received in `[start, end)`.
    ///
    /// Sorts the records by key. Fails if a key appears twice (even with
    /// different metadata), if the days span more than [`MAX_DAY_OFFSET`],
    /// if `sequence` is 0, if `start >= end`, or if there are more than
    /// `u32::MAX` records.
    pub fn new(
        region: Region,
        sequence: u64,
        start: UnixTime,
        end: UnixTime,
        mut records: Vec<ExportRecord>,
    ) -> Result<Self> {
        check_header(sequence, start, end)?;
        u32::try_from(records.len()).map_err(|_| Error::InvalidField("count"))?;
        records.sort_unstable_by_key(|r| r.key);
        check_strictly_ascending(&records)?;
        let first_day = first_day_of(&records)?;
        Ok(ExportBatch { region, sequence, start, end, first_day, records })
    }

    /// The region the batch belongs to.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The batch number: batches of a region are numbered 1, 2, 3, … in the
    /// order they are sealed, and never change once published.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The start of the span of upload time this batch covers (inclusive).
    pub fn start(&self) -> UnixTime {
        self.start
    }

    /// The end of the span of upload time this batch covers (exclusive).
    pub fn end(&self) -> UnixTime {
        self.end
    }

    /// The earliest day of any record (day 0 for an empty batch).
    pub fn first_day(&self) -> DayNumber {
        self.first_day
    }

    /// The records, sorted strictly ascending by key bytes.
    pub fn records(&self) -> &[ExportRecord] {
        &self.records
    }

    /// The body of the signed file.
    pub fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(34 + self.region.0.len() + RECORD_LEN * self.records.len());
        out.put_u8(EXPORT_FORMAT_VERSION);
        self.region.write(&mut out);
        out.put_u64(self.sequence);
        out.put_u64(self.start.0);
        out.put_u64(self.end.0);
        out.put_u32(self.first_day.0);
        let count = u32::try_from(self.records.len()).expect("ExportBatch::new bounds the count");
        out.put_u32(count);
        for record in &self.records {
            record.write(self.first_day, &mut out);
        }
        out
    }

    /// Decodes a body written by [`ExportBatch::encode_body`], strictly:
    /// any encoding other than the one `encode_body` would produce for the
    /// same batch is refused.
    pub fn decode_body(body: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(body);
        let version = reader.u8()?;
        if version != EXPORT_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let region = Region::read(&mut reader)?;
        let sequence = reader.u64()?;
        let start = UnixTime(reader.u64()?);
        let end = UnixTime(reader.u64()?);
        check_header(sequence, start, end)?;
        let first_day = DayNumber(reader.u32()?);
        let count = reader.u32()?;
        // Check the length before allocating, so a forged count cannot make
        // the reader reserve gigabytes.
        let needed = u64::from(count) * RECORD_LEN as u64;
        if (reader.remaining() as u64) < needed {
            return Err(Error::Truncated);
        }
        let mut records = Vec::with_capacity(usize::try_from(count).map_err(|_| Error::InvalidField("count"))?);
        for _ in 0..count {
            records.push(ExportRecord::read(&mut reader, first_day)?);
        }
        reader.finish()?;
        check_strictly_ascending(&records)?;
        if first_day_of(&records)? != first_day {
            return Err(Error::InvalidField("first_day"));
        }
        Ok(ExportBatch { region, sequence, start, end, first_day, records })
    }

    /// Seals the batch into a signed file with the key server's export key.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        seal_file(&EXPORT_MAGIC, &self.encode_body(), key)
    }

    /// Checks a signed batch against the trusted export keys and decodes it.
    ///
    /// This checks the format and the signature only; whether each record's
    /// day is over is a question about time, answered by
    /// [`ExportRecord::is_embargo_safe`].
    pub fn verify(bytes: &[u8], trusted: &TrustedKeys) -> Result<Self> {
        ExportBatch::decode_body(open_file(&EXPORT_MAGIC, bytes, trusted)?)
    }
}

fn check_header(sequence: u64, start: UnixTime, end: UnixTime) -> Result<()> {
    if sequence == 0 {
        return Err(Error::InvalidField("sequence"));
    }
    if start >= end {
        return Err(Error::InvalidField("end"));
    }
    Ok(())
}

/// Strict order rejects both duplicates and unsorted input: either would
/// leak how keys were grouped on upload and give a batch two encodings.
fn check_strictly_ascending(records: &[ExportRecord]) -> Result<()> {
    if records.windows(2).all(|pair| pair[0].key < pair[1].key) { Ok(()) } else { Err(Error::InvalidField("records")) }
}

/// The earliest day of `records` (day 0 when there are none), checking that
/// every day is within [`MAX_DAY_OFFSET`] of it.
fn first_day_of(records: &[ExportRecord]) -> Result<DayNumber> {
    let Some(first) = records.iter().map(|r| r.day).min() else {
        return Ok(DayNumber(0));
    };
    let last = records.iter().map(|r| r.day).max().unwrap_or(first);
    if last.0 - first.0 > u32::from(MAX_DAY_OFFSET) {
        return Err(Error::InvalidField("day"));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::TRAILER_LEN;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[1; 32])
    }

    fn trusted() -> TrustedKeys {
        TrustedKeys::from_keys([key().verifying_key()])
    }

    fn record(first: u8, day: u32) -> ExportRecord {
        let mut key = [0x55; 16];
        key[0] = first;
        ExportRecord {
            key: PublishedKey(key),
            day: DayNumber(day),
            transmission_risk: TransmissionRisk::new(4).expect("4 is a valid risk"),
            report_type: ReportType::ConfirmedTest,
        }
    }

    fn batch(records: Vec<ExportRecord>) -> Result<ExportBatch> {
        ExportBatch::new(Region::new("DE-BY")?, 7, UnixTime(1_700_000_000), UnixTime(1_700_003_600), records)
    }

    #[test]
    fn records_come_out_sorted_and_round_trip() {
        let b = batch(vec![record(9, 20_001), record(3, 20_000), record(5, 20_003)]).expect("valid batch");
        let firsts: Vec<u8> = b.records().iter().map(|r| r.key.0[0]).collect();
        assert_eq!(firsts, [3, 5, 9]);
        assert_eq!(b.first_day(), DayNumber(20_000));
        let signed = b.sign(&key());
        assert_eq!(ExportBatch::verify(&signed, &trusted()), Ok(b.clone()));
        // Re-sealing is byte-identical, so the file can be content-addressed.
        assert_eq!(b.sign(&key()), signed);
    }

    #[test]
    fn a_record_costs_eighteen_bytes() {
        let one = batch(vec![record(1, 20_000)]).expect("valid batch");
        let two = batch(vec![record(1, 20_000), record(2, 20_000)]).expect("valid batch");
        assert_eq!(two.sign(&key()).len() - one.sign(&key()).len(), RECORD_LEN);
        assert_eq!(RECORD_LEN, 18);
        // Fixed part with a 5-byte region: 8 magic + 39 header + 72 trailer.
        assert_eq!(one.sign(&key()).len(), 8 + 39 + TRAILER_LEN + RECORD_LEN);
    }

    #[test]
    fn duplicate_keys_are_rejected_even_with_different_days() {
        assert_eq!(batch(vec![record(3, 20_000), record(3, 20_001)]), Err(Error::InvalidField("records")));
    }

    #[test]
    fn unsorted_or_duplicate_bodies_are_rejected() {
        let b = batch(vec![record(3, 20_000), record(5, 20_000)]).expect("valid batch");
        let body = b.encode_body();
        let records_at = body.len() - 2 * RECORD_LEN;
        let (head, recs) = body.split_at(records_at);
        let mut swapped = head.to_vec();
        swapped.extend_from_slice(&recs[RECORD_LEN..]);
        swapped.extend_from_slice(&recs[..RECORD_LEN]);
        assert_eq!(ExportBatch::decode_body(&swapped), Err(Error::InvalidField("records")));
        let mut doubled = head.to_vec();
        doubled.extend_from_slice(&recs[..RECORD_LEN]);
        doubled.extend_from_slice(&recs[..RECORD_LEN]);
        assert_eq!(ExportBatch::decode_body(&doubled), Err(Error::InvalidField("records")));
    }

    #[test]
    fn days_further_apart_than_the_offset_limit_are_rejected() {
        assert!(batch(vec![record(1, 20_000), record(2, 20_020)]).is_ok());
        assert_eq!(batch(vec![record(1, 20_000), record(2, 20_021)]), Err(Error::InvalidField("day")));
    }

    #[test]
    fn non_canonical_first_day_is_rejected() {
        let b = batch(vec![record(1, 20_000)]).expect("valid batch");
        let mut body = b.encode_body();
        // Lower first_day by one and raise the offset by one: same day,
        // second encoding.
        let first_day_at = body.len() - RECORD_LEN - 8;
        body[first_day_at..first_day_at + 4].copy_from_slice(&19_999u32.to_le_bytes());
        let offset_at = body.len() - 2;
        body[offset_at] = 1;
        assert_eq!(ExportBatch::decode_body(&body), Err(Error::InvalidField("first_day")));
    }

    #[test]
    fn bad_header_values_are_rejected() {
        let region = || Region::new("DE").expect("valid region");
        let (t0, t1) = (UnixTime(100), UnixTime(200));
        assert_eq!(ExportBatch::new(region(), 0, t0, t1, vec![]), Err(Error::InvalidField("sequence")));
        assert_eq!(ExportBatch::new(region(), 1, t1, t1, vec![]), Err(Error::InvalidField("end")));
        for bad in ["", "de", "DE BY", "ABCDEFGHIJKLMNOPQ", "DE\n"] {
            assert_eq!(Region::new(bad), Err(Error::InvalidField("region")), "{bad:?}");
        }
        assert!(Region::new("ABCDEFGHIJKLMNOP").is_ok());
    }

    #[test]
    fn bad_risk_byte_is_rejected() {
        let b = batch(vec![record(1, 20_000)]).expect("valid batch");
        let mut body = b.encode_body();
        let last = body.len() - 1;
        for (byte, field) in [(0x19, "transmission_risk"), (0x04, "report_type"), (0x34, "report_type")] {
            body[last] = byte;
            assert_eq!(ExportBatch::decode_body(&body), Err(Error::InvalidField(field)));
        }
    }

    #[test]
    fn wrong_magic_or_key_is_rejected() {
        let b = batch(vec![record(1, 20_000)]).expect("valid batch");
        let mut signed = b.sign(&key());
        let other = TrustedKeys::from_keys([SigningKey::from_bytes(&[2; 32]).verifying_key()]);
        assert_eq!(ExportBatch::verify(&signed, &other), Err(Error::BadSignature));
        assert_eq!(ExportBatch::verify(&signed, &TrustedKeys::new()), Err(Error::BadSignature));
        signed[..8].copy_from_slice(b"GL_INDEX");
        assert_eq!(ExportBatch::verify(&signed, &trusted()), Err(Error::BadMagic));
    }

    #[test]
    fn forged_count_does_not_allocate() {
        let b = batch(vec![]).expect("empty batch is valid");
        let mut body = b.encode_body();
        let count_at = body.len() - 4;
        body[count_at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(ExportBatch::decode_body(&body), Err(Error::Truncated));
    }

    #[test]
    fn embargo_needs_the_day_over_plus_margin() {
        let r = record(1, 20_000);
        let day_end = DayNumber(20_000).end();
        assert!(!r.is_embargo_safe(day_end.minus(1), 0));
        assert!(r.is_embargo_safe(day_end, 0));
        assert!(!r.is_embargo_safe(day_end.plus(7_199), 7_200));
        assert!(r.is_embargo_safe(day_end.plus(7_200), 7_200));
    }
}
