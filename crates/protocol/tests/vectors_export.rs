//! Known-answer vectors for the key-server formats:
//! `spec/vectors/export.json` (a signed export batch), `index.json` (a
//! signed index listing it) and `certificate.json` (an upload HMAC and the
//! certificate binding it).
//!
//! For each file, one test regenerates it from a fixed seed and compares it
//! with the committed bytes, and one reads the committed inputs back and
//! recomputes every output from them alone.

mod common;

use common::{hex, uint, unhex, unhex_array};
use greenlight_protocol::certificate::{
    Certificate, CertificateId, DayKind, UploadHmacKey, UploadedKey, upload_hmac, upload_hmac_message,
};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::export::{ExportBatch, ExportRecord, Region};
use greenlight_protocol::index::{FileKind, Index, IndexEntry, content_address};
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::{KeyId, SigningKey, TrustedKeys, VerifyingKey};
use greenlight_protocol::time::{DayNumber, UnixTime};
use rand_core::Rng;
use serde_json::{Value, json};

const REGION: &str = "GL-DEMO";
const SEQUENCE: u64 = 42;
/// The batch covers uploads received on day 20,001 between 02:00 and 03:00 UTC.
const BATCH_START: u64 = 20_001 * 86_400 + 2 * 3600;
const BATCH_END: u64 = BATCH_START + 3600;

fn seed(rng: &mut impl Rng) -> [u8; 32] {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    seed
}

fn verifying_key(v: &Value, field: &str) -> VerifyingKey {
    VerifyingKey::from_bytes(&unhex_array(v, field)).expect("a valid Ed25519 public key")
}

fn risk(level: u64) -> TransmissionRisk {
    TransmissionRisk::new(u8::try_from(level).expect("risk fits a byte")).expect("valid risk")
}

fn day(v: &Value, field: &str) -> DayNumber {
    DayNumber(u32::try_from(uint(v, field)).expect("day fits u32"))
}

// ---------------------------------------------------------------- export

/// Regenerates `export.json`; also returns the signed batch for the index.
fn generate_export() -> (Value, Vec<u8>) {
    let mut rng = common::rng("export");
    let server_seed = seed(&mut rng);
    let server = SigningKey::from_bytes(&server_seed);
    // (day, transmission risk, report type) of the five records, in the
    // order their keys are drawn; the batch sorts them by key.
    let metadata = [(20_000, 8, 1), (19_999, 6, 1), (19_998, 4, 2), (19_996, 2, 1), (20_000, 0, 2)];
    let records: Vec<ExportRecord> = metadata
        .iter()
        .map(|&(day, risk, report_type)| {
            let mut key = [0u8; 16];
            rng.fill_bytes(&mut key);
            ExportRecord {
                key: PublishedKey(key),
                day: DayNumber(day),
                transmission_risk: TransmissionRisk::new(risk).expect("valid risk"),
                report_type: ReportType::from_byte(report_type).expect("valid report type"),
            }
        })
        .collect();
    let batch = ExportBatch::new(
        Region::new(REGION).expect("valid region"),
        SEQUENCE,
        UnixTime(BATCH_START),
        UnixTime(BATCH_END),
        records.clone(),
    )
    .expect("valid batch");
    let signed = batch.sign(&server);
    let value = json!({
        "description": "An export batch of five keys (given in upload order; the body lists them \
                        sorted by key bytes), sealed with the key server's Ed25519 key \
                        (RFC 8032, private key = server_seed). content_address = SHA-256(signed_file).",
        "server_seed": hex(server_seed),
        "server_public_key": hex(server.verifying_key().as_bytes()),
        "server_key_id": hex(KeyId::of(&server.verifying_key()).0),
        "region": REGION,
        "sequence": SEQUENCE,
        "start": BATCH_START,
        "end": BATCH_END,
        "records": records.iter().map(|r| json!({
            "key": hex(r.key.0),
            "day": r.day.0,
            "transmission_risk": r.transmission_risk.level(),
            "report_type": r.report_type.to_byte(),
        })).collect::<Vec<_>>(),
        "first_day": batch.first_day().0,
        "body": hex(batch.encode_body()),
        "signed_file": hex(&signed),
        "content_address": hex(content_address(&signed)),
    });
    (value, signed)
}

#[test]
fn export_vectors_do_not_drift() {
    common::check_or_bless("export", &generate_export().0);
}

#[test]
fn export_vectors_hold() {
    let v = common::load("export");
    let server = SigningKey::from_bytes(&unhex_array(&v, "server_seed"));
    let public = verifying_key(&v, "server_public_key");
    assert_eq!(server.verifying_key(), public);
    assert_eq!(KeyId::of(&public).0.to_vec(), unhex(&v, "server_key_id"));

    let records = v["records"]
        .as_array()
        .expect("records is an array")
        .iter()
        .map(|r| ExportRecord {
            key: PublishedKey(unhex_array(r, "key")),
            day: day(r, "day"),
            transmission_risk: risk(uint(r, "transmission_risk")),
            report_type: ReportType::from_byte(u8::try_from(uint(r, "report_type")).expect("report type fits a byte"))
                .expect("valid report type"),
        })
        .collect();
    let batch = ExportBatch::new(
        Region::new(v["region"].as_str().expect("region is text")).expect("valid region"),
        uint(&v, "sequence"),
        UnixTime(uint(&v, "start")),
        UnixTime(uint(&v, "end")),
        records,
    )
    .expect("valid batch");
    assert_eq!(u64::from(batch.first_day().0), uint(&v, "first_day"));

    let body = unhex(&v, "body");
    let signed = unhex(&v, "signed_file");
    assert_eq!(batch.encode_body(), body);
    assert_eq!(ExportBatch::decode_body(&body).as_ref(), Ok(&batch));
    assert_eq!(batch.sign(&server), signed);
    let trusted = TrustedKeys::from_keys([public]);
    assert_eq!(ExportBatch::verify(&signed, &trusted), Ok(batch));
    assert_eq!(content_address(&signed).to_vec(), unhex(&v, "content_address"));
}

// ----------------------------------------------------------------- index

fn generate_index() -> Value {
    let (_, batch) = generate_export();
    let mut rng = common::rng("export");
    let server = SigningKey::from_bytes(&seed(&mut rng));
    // The trace batch and color policy are stand-ins: only their hashes,
    // sizes and spans matter to the index.
    let mut rng = common::rng("index");
    let mut trace_hash = [0u8; 32];
    rng.fill_bytes(&mut trace_hash);
    let mut policy_hash = [0u8; 32];
    rng.fill_bytes(&mut policy_hash);
    let entries = vec![
        IndexEntry::for_file(FileKind::ExportBatch, SEQUENCE, UnixTime(BATCH_START), UnixTime(BATCH_END), &batch)
            .expect("valid entry"),
        IndexEntry {
            kind: FileKind::TraceBatch,
            sha256: trace_hash,
            size: 1_234,
            start: UnixTime(BATCH_START),
            end: UnixTime(BATCH_END),
            sequence: 17,
        },
        IndexEntry {
            kind: FileKind::ColorPolicy,
            sha256: policy_hash,
            size: 456,
            start: UnixTime(19_990 * 86_400),
            end: UnixTime(20_090 * 86_400),
            sequence: 3,
        },
    ];
    let index = Index::new(Region::new(REGION).expect("valid region"), UnixTime(BATCH_END + 300), entries)
        .expect("valid index");
    let signed = index.sign(&server);
    json!({
        "description": "A signed index listing the export batch of export.json, a trace batch \
                        and a color policy, sealed with the same key server key.",
        "server_seed": hex(server.to_bytes()),
        "server_public_key": hex(server.verifying_key().as_bytes()),
        "region": REGION,
        "generated_at": index.generated_at().0,
        "entries": index.entries().iter().map(|e| json!({
            "kind": e.kind.to_byte(),
            "sha256": hex(e.sha256),
            "size": e.size,
            "start": e.start.0,
            "end": e.end.0,
            "sequence": e.sequence,
        })).collect::<Vec<_>>(),
        "body": hex(index.encode_body()),
        "signed_file": hex(&signed),
        "content_address": hex(content_address(&signed)),
    })
}

#[test]
fn index_vectors_do_not_drift() {
    common::check_or_bless("index", &generate_index());
}

#[test]
fn index_vectors_hold() {
    let v = common::load("index");
    let server = SigningKey::from_bytes(&unhex_array(&v, "server_seed"));
    let public = verifying_key(&v, "server_public_key");
    assert_eq!(server.verifying_key(), public);

    let entries: Vec<IndexEntry> = v["entries"]
        .as_array()
        .expect("entries is an array")
        .iter()
        .map(|e| IndexEntry {
            kind: FileKind::from_byte(u8::try_from(uint(e, "kind")).expect("kind fits a byte")).expect("valid kind"),
            sha256: unhex_array(e, "sha256"),
            size: u32::try_from(uint(e, "size")).expect("size fits u32"),
            start: UnixTime(uint(e, "start")),
            end: UnixTime(uint(e, "end")),
            sequence: uint(e, "sequence"),
        })
        .collect();
    let index = Index::new(
        Region::new(v["region"].as_str().expect("region is text")).expect("valid region"),
        UnixTime(uint(&v, "generated_at")),
        entries,
    )
    .expect("valid index");

    let body = unhex(&v, "body");
    let signed = unhex(&v, "signed_file");
    assert_eq!(index.encode_body(), body);
    assert_eq!(Index::decode_body(&body).as_ref(), Ok(&index));
    assert_eq!(index.sign(&server), signed);
    assert_eq!(Index::verify(&signed, &TrustedKeys::from_keys([public])).as_ref(), Ok(&index));
    assert_eq!(content_address(&signed).to_vec(), unhex(&v, "content_address"));

    // The first entry names the committed export batch, byte for byte.
    let batch = unhex(&common::load("export"), "signed_file");
    let pending = index.entries_after(FileKind::ExportBatch, SEQUENCE - 1);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].check(&batch), Ok(()));
    assert!(index.entries_after(FileKind::ExportBatch, SEQUENCE).is_empty());
}

// ----------------------------------------------------------- certificate

const ISSUED_AT: u64 = BATCH_START - 1800;

fn generate_certificate() -> Value {
    let mut rng = common::rng("certificate");
    let authority = SigningKey::from_bytes(&seed(&mut rng));
    let keys: Vec<UploadedKey> = [(20_000, 8), (19_999, 6)]
        .iter()
        .map(|&(day, risk)| {
            let mut key = [0u8; 16];
            rng.fill_bytes(&mut key);
            UploadedKey {
                key: PublishedKey(key),
                day: DayNumber(day),
                transmission_risk: TransmissionRisk::new(risk).expect("valid risk"),
            }
        })
        .collect();
    // A stand-in for a revealed check-in record: its bytes are opaque here.
    let mut checkin = [0u8; 48];
    rng.fill_bytes(&mut checkin);
    let hmac_key = UploadHmacKey::generate(&mut rng);
    let certificate_id = CertificateId::generate(&mut rng);

    let checkins: [&[u8]; 1] = [&checkin];
    let message = upload_hmac_message(&keys, &checkins).expect("small upload");
    let mac = upload_hmac(&hmac_key, &keys, &checkins).expect("small upload");
    let certificate = Certificate::new(
        ReportType::ConfirmedTest,
        DayKind::SymptomOnset,
        DayNumber(19_998),
        mac,
        UnixTime(ISSUED_AT),
        UnixTime(ISSUED_AT + 900),
        certificate_id,
    )
    .expect("valid certificate");
    let signed = certificate.sign(&authority);
    json!({
        "description": "An upload of two keys and one revealed check-in (opaque bytes), its HMAC \
                        message and HMAC-SHA256, and the health authority's certificate binding \
                        the HMAC, as bytes and as text (unpadded base64url).",
        "authority_seed": hex(authority.to_bytes()),
        "authority_public_key": hex(authority.verifying_key().as_bytes()),
        "authority_key_id": hex(KeyId::of(&authority.verifying_key()).0),
        "uploaded_keys": keys.iter().map(|k| json!({
            "key": hex(k.key.0),
            "day": k.day.0,
            "transmission_risk": k.transmission_risk.level(),
        })).collect::<Vec<_>>(),
        "revealed_checkins": [hex(checkin)],
        "hmac_key": hex(hmac_key.expose_secret()),
        "hmac_message": hex(&message),
        "upload_hmac": hex(mac),
        "report_type": certificate.report_type().to_byte(),
        "day_kind": certificate.day_kind().to_byte(),
        "day": certificate.day().0,
        "issued_at": certificate.issued_at().0,
        "expires_at": certificate.expires_at().0,
        "certificate_id": hex(certificate.certificate_id().0),
        "body": hex(certificate.encode_body()),
        "signed_file": hex(&signed),
        "signed_text": to_base64url(&signed),
    })
}

#[test]
fn certificate_vectors_do_not_drift() {
    common::check_or_bless("certificate", &generate_certificate());
}

#[test]
fn certificate_vectors_hold() {
    let v = common::load("certificate");
    let authority = SigningKey::from_bytes(&unhex_array(&v, "authority_seed"));
    let public = verifying_key(&v, "authority_public_key");
    assert_eq!(authority.verifying_key(), public);
    assert_eq!(KeyId::of(&public).0.to_vec(), unhex(&v, "authority_key_id"));

    let keys: Vec<UploadedKey> = v["uploaded_keys"]
        .as_array()
        .expect("uploaded_keys is an array")
        .iter()
        .map(|k| UploadedKey {
            key: PublishedKey(unhex_array(k, "key")),
            day: day(k, "day"),
            transmission_risk: risk(uint(k, "transmission_risk")),
        })
        .collect();
    let checkins: Vec<Vec<u8>> = v["revealed_checkins"]
        .as_array()
        .expect("revealed_checkins is an array")
        .iter()
        .map(|c| ::hex::decode(c.as_str().expect("check-in is hex text")).expect("check-in is hex"))
        .collect();
    let checkin_refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
    let hmac_key = UploadHmacKey::from_bytes(unhex_array(&v, "hmac_key"));

    let mac = upload_hmac(&hmac_key, &keys, &checkin_refs).expect("small upload");
    assert_eq!(upload_hmac_message(&keys, &checkin_refs).expect("small upload"), unhex(&v, "hmac_message"));
    assert_eq!(mac.to_vec(), unhex(&v, "upload_hmac"));
    let reversed: Vec<UploadedKey> = keys.iter().rev().copied().collect();
    assert_eq!(upload_hmac(&hmac_key, &reversed, &checkin_refs), Ok(mac));

    let byte = |field| u8::try_from(uint(&v, field)).expect("fits a byte");
    let certificate = Certificate::new(
        ReportType::from_byte(byte("report_type")).expect("valid report type"),
        DayKind::from_byte(byte("day_kind")).expect("valid day kind"),
        day(&v, "day"),
        mac,
        UnixTime(uint(&v, "issued_at")),
        UnixTime(uint(&v, "expires_at")),
        CertificateId(unhex_array(&v, "certificate_id")),
    )
    .expect("valid certificate");

    let body = unhex(&v, "body");
    let signed = unhex(&v, "signed_file");
    let text = v["signed_text"].as_str().expect("signed_text is text");
    assert_eq!(certificate.encode_body(), body);
    assert_eq!(Certificate::decode_body(&body).as_ref(), Ok(&certificate));
    assert_eq!(certificate.sign(&authority), signed);
    assert_eq!(certificate.sign_text(&authority), text);
    assert_eq!(Certificate::parse_text(text).as_ref(), Ok(&signed));

    let trusted = TrustedKeys::from_keys([public]);
    let verified = Certificate::verify(&signed, &trusted, certificate.issued_at()).expect("valid when issued");
    assert_eq!(verified.certificate(), &certificate);
    assert_eq!(verified.check_upload(&hmac_key, &reversed, &checkin_refs), Ok(()));
    assert!(Certificate::verify_text(text, &trusted, certificate.expires_at()).is_err());
}
