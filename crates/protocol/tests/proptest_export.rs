//! Property tests of the key-server formats: export batches, the index and
//! upload certificates.
//!
//! - every valid value survives encode → decode and sign → verify unchanged;
//! - every truncation, one-byte extension and single-bit flip of a signed
//!   file is refused with an `Err` (never a panic, never a different value);
//! - arbitrary bytes fed to the decoders give an `Err` or a value, never a
//!   panic;
//! - the upload HMAC depends on the set of keys and check-ins, not their
//!   order;
//! - an export batch of 1000 keys or more costs at most 24 bytes per key.

use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::export::{ExportBatch, ExportRecord, MAX_DAY_OFFSET, RECORD_LEN, Region};
use greenlight_protocol::index::{FileKind, Index, IndexEntry, MIN_FILE_SIZE};
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::{SigningKey, TrustedKeys};
use greenlight_protocol::time::{DayNumber, UnixTime};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn region() -> impl Strategy<Value = Region> {
    "[A-Z0-9-]{1,16}".prop_map(|code| Region::new(&code).expect("generated codes are valid"))
}

fn report_type() -> impl Strategy<Value = ReportType> {
    prop_oneof![Just(ReportType::ConfirmedTest), Just(ReportType::ClinicalDiagnosis)]
}

fn risk() -> impl Strategy<Value = TransmissionRisk> {
    (0u8..=8).prop_map(|level| TransmissionRisk::new(level).expect("0..=8 is valid"))
}

/// A valid `[start, end)` span.
fn span() -> impl Strategy<Value = (UnixTime, UnixTime)> {
    (0..u64::MAX).prop_flat_map(|start| (Just(UnixTime(start)), (start + 1..=u64::MAX).prop_map(UnixTime)))
}

fn signing_key() -> impl Strategy<Value = SigningKey> {
    any::<[u8; 32]>().prop_map(|seed| SigningKey::from_bytes(&seed))
}

fn batch(max_records: usize) -> impl Strategy<Value = ExportBatch> {
    let records =
        proptest::collection::vec((any::<[u8; 16]>(), 0..=MAX_DAY_OFFSET, risk(), report_type()), 0..=max_records);
    (region(), 1..=u64::MAX, span(), 0..=u32::MAX - u32::from(MAX_DAY_OFFSET), records).prop_map(
        |(region, sequence, (start, end), base_day, records)| {
            // One record per key: duplicates are invalid by design.
            let unique: BTreeMap<_, _> = records.into_iter().map(|r| (r.0, r)).collect();
            let records = unique
                .into_values()
                .map(|(key, offset, transmission_risk, report_type)| ExportRecord {
                    key: PublishedKey(key),
                    day: DayNumber(base_day + u32::from(offset)),
                    transmission_risk,
                    report_type,
                })
                .collect();
            ExportBatch::new(region, sequence, start, end, records).expect("generated batches are valid")
        },
    )
}

fn file_kind() -> impl Strategy<Value = FileKind> {
    prop_oneof![Just(FileKind::ExportBatch), Just(FileKind::TraceBatch), Just(FileKind::ColorPolicy)]
}

fn index(max_entries: usize) -> impl Strategy<Value = Index> {
    let entry = (file_kind(), any::<[u8; 32]>(), MIN_FILE_SIZE..=u32::MAX, span(), 1..=u64::MAX).prop_map(
        |(kind, sha256, size, (start, end), sequence)| IndexEntry { kind, sha256, size, start, end, sequence },
    );
    (region(), any::<u64>(), proptest::collection::vec(entry, 0..=max_entries)).prop_map(
        |(region, generated_at, entries)| {
            let unique: BTreeMap<_, _> = entries.into_iter().map(|e| ((e.kind, e.sequence), e)).collect();
            Index::new(region, UnixTime(generated_at), unique.into_values().collect())
                .expect("generated indexes are valid")
        },
    )
}

fn certificate() -> impl Strategy<Value = Certificate> {
    let day_kind = prop_oneof![Just(DayKind::SymptomOnset), Just(DayKind::TestDate)];
    (report_type(), day_kind, any::<u32>(), any::<[u8; 32]>(), span(), any::<[u8; 16]>()).prop_map(
        |(report_type, day_kind, day, mac, (issued, expires), id)| {
            Certificate::new(report_type, day_kind, DayNumber(day), mac, issued, expires, CertificateId(id))
                .expect("generated certificates are valid")
        },
    )
}

/// One way of damaging a signed file.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(prop::sample::Index),
    Extend(u8),
    Flip(prop::sample::Index, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Damage::Truncate),
        any::<u8>().prop_map(Damage::Extend),
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip(at, bit)),
    ]
}

fn apply(file: &[u8], damage: &Damage) -> Vec<u8> {
    match damage {
        Damage::Truncate(at) => file[..at.index(file.len())].to_vec(),
        Damage::Extend(byte) => [file, &[*byte]].concat(),
        Damage::Flip(at, bit) => {
            let mut out = file.to_vec();
            out[at.index(file.len())] ^= 1 << bit;
            out
        }
    }
}

/// Every truncation, a one-byte extension with several byte values, and
/// every single-bit flip of `file`.
fn every_damage(file: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let truncations = (0..file.len()).map(move |len| file[..len].to_vec());
    let extensions = [0x00u8, 0x01, 0x80, 0xff].into_iter().map(move |b| [file, &[b]].concat());
    let flips = (0..file.len() * 8).map(move |bit| {
        let mut out = file.to_vec();
        out[bit / 8] ^= 1 << (bit % 8);
        out
    });
    truncations.chain(extensions).chain(flips)
}

proptest! {
    #[test]
    fn export_batches_round_trip(batch in batch(40), key in signing_key()) {
        prop_assert_eq!(ExportBatch::decode_body(&batch.encode_body()), Ok(batch.clone()));
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        let signed = batch.sign(&key);
        prop_assert_eq!(ExportBatch::verify(&signed, &trusted), Ok(batch.clone()));
        // Deterministic signatures: sealing again gives the same bytes.
        prop_assert_eq!(batch.sign(&key), signed);
    }

    #[test]
    fn indexes_round_trip(index in index(20), key in signing_key()) {
        prop_assert_eq!(Index::decode_body(&index.encode_body()), Ok(index.clone()));
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        prop_assert_eq!(Index::verify(&index.sign(&key), &trusted), Ok(index));
    }

    #[test]
    fn certificates_round_trip(cert in certificate(), key in signing_key()) {
        prop_assert_eq!(Certificate::decode_body(&cert.encode_body()), Ok(cert.clone()));
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        let verified = Certificate::verify(&cert.sign(&key), &trusted, cert.issued_at())
            .expect("a certificate verifies when it is issued");
        prop_assert_eq!(verified.certificate(), &cert);
        let from_text = Certificate::verify_text(&cert.sign_text(&key), &trusted, cert.issued_at())
            .expect("the text form verifies");
        prop_assert_eq!(from_text.certificate(), &cert);
    }

    #[test]
    fn damaged_export_batches_are_refused(batch in batch(8), key in signing_key(), damage in damage()) {
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        let damaged = apply(&batch.sign(&key), &damage);
        prop_assert!(ExportBatch::verify(&damaged, &trusted).is_err());
    }

    #[test]
    fn damaged_indexes_are_refused(index in index(4), key in signing_key(), damage in damage()) {
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        let damaged = apply(&index.sign(&key), &damage);
        prop_assert!(Index::verify(&damaged, &trusted).is_err());
    }

    #[test]
    fn damaged_certificates_are_refused(cert in certificate(), key in signing_key(), damage in damage()) {
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        let damaged = apply(&cert.sign(&key), &damage);
        prop_assert!(Certificate::verify(&damaged, &trusted, cert.issued_at()).is_err());
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), text in ".{0,210}") {
        let trusted = TrustedKeys::from_keys([SigningKey::from_bytes(&[1; 32]).verifying_key()]);
        let _ = ExportBatch::decode_body(&bytes);
        let _ = ExportBatch::verify(&bytes, &trusted);
        let _ = Index::decode_body(&bytes);
        let _ = Index::verify(&bytes, &trusted);
        let _ = Certificate::decode_body(&bytes);
        let _ = Certificate::verify(&bytes, &trusted, UnixTime(0));
        let _ = Certificate::parse_text(&text);
    }

    #[test]
    fn the_upload_hmac_ignores_order(
        key in any::<[u8; 32]>(),
        keys in proptest::collection::vec((any::<[u8; 16]>(), any::<u32>(), risk()), 0..20),
        checkins in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..10),
        seed in any::<u64>(),
    ) {
        let key = UploadHmacKey::from_bytes(key);
        let keys: Vec<UploadedKey> = keys
            .into_iter()
            .map(|(k, day, transmission_risk)| UploadedKey { key: PublishedKey(k), day: DayNumber(day), transmission_risk })
            .collect();
        let refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
        let expected = upload_hmac(&key, &keys, &refs).expect("small upload");
        let (keys2, refs2) = (shuffled(&keys, seed), shuffled(&refs, seed.rotate_left(17)));
        prop_assert_eq!(upload_hmac(&key, &keys2, &refs2), Ok(expected));
    }
}

/// A permutation of `items` chosen by `seed` (a small LCG-driven
/// Fisher–Yates; the property holds for every order, so any will do).
fn shuffled<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from((seed >> 33) % (i as u64 + 1)).expect("index fits");
        out.swap(i, j);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn large_batches_cost_at_most_24_bytes_per_key(
        region in region(),
        keys in proptest::collection::btree_set(any::<[u8; 16]>(), 1000..=3000),
        key in signing_key(),
    ) {
        let n = keys.len();
        let records = keys
            .into_iter()
            .map(|k| ExportRecord {
                key: PublishedKey(k),
                day: DayNumber(20_000 + u32::from(k[0] % 15)),
                transmission_risk: TransmissionRisk::MAX,
                report_type: ReportType::ConfirmedTest,
            })
            .collect();
        let batch = ExportBatch::new(region, 1, UnixTime(0), UnixTime(3600), records)
            .expect("valid batch");
        let signed = batch.sign(&key);
        prop_assert!(signed.len() <= 24 * n, "{} bytes for {n} keys", signed.len());
        // The exact cost: 18 bytes a key plus at most 130 fixed bytes.
        prop_assert!(signed.len() <= RECORD_LEN * n + 130);
    }
}

fn sample_batch(key: &SigningKey) -> Vec<u8> {
    let records = (0u8..5)
        .map(|i| ExportRecord {
            key: PublishedKey([i.wrapping_mul(37); 16]),
            day: DayNumber(20_000 + u32::from(i)),
            transmission_risk: TransmissionRisk::new(i).expect("valid risk"),
            report_type: ReportType::ClinicalDiagnosis,
        })
        .collect();
    let region = Region::new("DE-BY").expect("valid region");
    ExportBatch::new(region, 3, UnixTime(1_700_000_000), UnixTime(1_700_003_600), records)
        .expect("valid batch")
        .sign(key)
}

#[test]
fn every_damage_to_a_sample_batch_is_refused() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let trusted = TrustedKeys::from_keys([key.verifying_key()]);
    let signed = sample_batch(&key);
    assert!(ExportBatch::verify(&signed, &trusted).is_ok());
    for damaged in every_damage(&signed) {
        assert!(ExportBatch::verify(&damaged, &trusted).is_err());
    }
}

#[test]
fn every_damage_to_a_sample_index_is_refused() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let trusted = TrustedKeys::from_keys([key.verifying_key()]);
    let batch = sample_batch(&key);
    let entries = vec![
        IndexEntry::for_file(FileKind::ExportBatch, 3, UnixTime(1_700_000_000), UnixTime(1_700_003_600), &batch)
            .expect("valid entry"),
        IndexEntry::for_file(FileKind::TraceBatch, 1, UnixTime(1_700_000_000), UnixTime(1_700_003_600), &[7; 90])
            .expect("valid entry"),
        IndexEntry::for_file(FileKind::ColorPolicy, 2, UnixTime(1_690_000_000), UnixTime(1_710_000_000), &[8; 95])
            .expect("valid entry"),
    ];
    let region = Region::new("DE-BY").expect("valid region");
    let signed = Index::new(region, UnixTime(1_700_003_700), entries).expect("valid index").sign(&key);
    assert!(Index::verify(&signed, &trusted).is_ok());
    for damaged in every_damage(&signed) {
        assert!(Index::verify(&damaged, &trusted).is_err());
    }
}

#[test]
fn every_damage_to_a_sample_certificate_is_refused() {
    let key = SigningKey::from_bytes(&[43; 32]);
    let trusted = TrustedKeys::from_keys([key.verifying_key()]);
    let now = UnixTime(1_700_000_000);
    let cert = Certificate::new(
        ReportType::ConfirmedTest,
        DayKind::TestDate,
        DayNumber(19_675),
        [0x5a; 32],
        now,
        now.plus(900),
        CertificateId([0xc3; 16]),
    )
    .expect("valid certificate");
    let signed = cert.sign(&key);
    assert!(Certificate::verify(&signed, &trusted, now).is_ok());
    for damaged in every_damage(&signed) {
        assert!(Certificate::verify(&damaged, &trusted, now).is_err());
    }
}
