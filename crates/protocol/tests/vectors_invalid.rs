//! Negative vectors for every decoder: `spec/vectors/invalid.json`.
//!
//! Each case names a decoder, gives an input that breaks exactly one rule
//! of the spec, and the error the spec documents for it. The inputs are
//! written from the spec's byte layouts (not through the encoders, which
//! cannot produce invalid values), and signed files are signed again after
//! the change, so the decoder reaches the rule under test instead of
//! stopping at the signature. Each decoder also gets one valid input, so a
//! decoder that refused everything would fail too.

mod common;

use common::{hex, unhex, unhex_array};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use greenlight_protocol::advert::{Advertisement, ServiceUuid};
use greenlight_protocol::certificate::Certificate;
use greenlight_protocol::codec::{Writer, to_base64url};
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::index::Index;
use greenlight_protocol::signing::{SigningKey, TrustedKeys, VerifyingKey, seal_file};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::{ReleaseBundle, ReleaseRequest, RevealedCheckIn, TraceBatch};
use greenlight_protocol::trust::KeySet;
use greenlight_protocol::venue::Poster;
use rand_core::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

const REGION: &str = "GL-DEMO";
/// 2026-05-10 00:00 UTC, day 20583.
const DAY: u32 = 20_583;
const T0: u64 = DAY as u64 * 86_400;
const POSTER_LABEL: &[u8] = b"greenlight/v1 poster";

// ------------------------------------------------------------- helpers

fn bytes32(rng: &mut impl Rng) -> [u8; 32] {
    let mut out = [0u8; 32];
    rng.fill_bytes(&mut out);
    out
}

fn short_text(out: &mut Vec<u8>, text: &[u8]) {
    out.put_u8(u8::try_from(text.len()).expect("short"));
    out.put(text);
}

fn signed(magic: &[u8; 8], body: &[u8], key: &SigningKey) -> Vec<u8> {
    seal_file(magic, body, key)
}

/// Flips one bit of the signature (the last byte's lowest).
fn flip_last(mut file: Vec<u8>) -> Vec<u8> {
    *file.last_mut().expect("not empty") ^= 1;
    file
}

fn with_trailing(mut body: Vec<u8>) -> Vec<u8> {
    body.push(0);
    body
}

fn random_scalar(rng: &mut impl Rng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// A key of small order (the identity) and a signature valid for every
/// message under the lenient Ed25519 reading: `R = [r]B`, `S = r`.
fn identity_key_forgery(rng: &mut impl Rng) -> ([u8; 32], [u8; 64]) {
    let mut key = [0u8; 32];
    key[0] = 1;
    let r = random_scalar(rng);
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(EdwardsPoint::mul_base(&r).compress().as_bytes());
    sig[32..].copy_from_slice(r.as_bytes());
    (key, sig)
}

/// A mixed-order key `[a]B + T` and a signature of `message` for which
/// only the cofactored equation holds (retrying `r` until `k ≢ 0 mod 8`).
fn mixed_order_signature(
    rng: &mut impl Rng,
    message_of: impl Fn(&[u8; 32]) -> Vec<u8>,
) -> ([u8; 32], Vec<u8>, [u8; 64]) {
    let a = random_scalar(rng);
    let key = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1]).compress().to_bytes();
    let message = message_of(&key);
    loop {
        let r = random_scalar(rng);
        let r_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let digest: [u8; 64] =
            Sha512::new().chain_update(r_bytes).chain_update(key).chain_update(&message).finalize().into();
        let k = Scalar::from_bytes_mod_order_wide(&digest);
        if !k.as_bytes()[0].is_multiple_of(8) {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r_bytes);
            sig[32..].copy_from_slice((r + k * a).as_bytes());
            return (key, message, sig);
        }
    }
}

struct Cases(Vec<Value>);

impl Cases {
    fn bytes(&mut self, decoder: &str, name: &str, input: &[u8], expected: &str) {
        self.0.push(json!({ "decoder": decoder, "name": name, "input": hex(input), "expected": expected }));
    }
    fn text(&mut self, decoder: &str, name: &str, input: &str, expected: &str) {
        self.0.push(json!({ "decoder": decoder, "name": name, "text": input, "expected": expected }));
    }
}

// ------------------------------------------------------------- formats

/// §10.1 body; `records` are `(key, day offset, risk byte)`.
struct ExportBody<'a> {
    version: u8,
    region: &'a [u8],
    sequence: u64,
    start: u64,
    end: u64,
    first_day: u32,
    count: Option<u32>,
    records: Vec<([u8; 16], u8, u8)>,
}

impl ExportBody<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u8(self.version);
        short_text(&mut out, self.region);
        out.put_u64(self.sequence);
        out.put_u64(self.start);
        out.put_u64(self.end);
        out.put_u32(self.first_day);
        out.put_u32(self.count.unwrap_or(u32::try_from(self.records.len()).expect("few")));
        for (key, offset, risk) in &self.records {
            out.put(key);
            out.put_u8(*offset);
            out.put_u8(*risk);
        }
        out
    }
}

/// §11.2 entry: `(kind, size, start, end, sequence)`.
fn index_body(version: u8, region: &[u8], entries: &[(u8, u32, u64, u64, u64)], hash: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u8(version);
    short_text(&mut out, region);
    out.put_u64(T0 + 7200);
    out.put_u16(u16::try_from(entries.len()).expect("few"));
    for &(kind, size, start, end, sequence) in entries {
        out.put_u8(kind);
        out.put(hash);
        out.put_u32(size);
        out.put_u64(start);
        out.put_u64(end);
        out.put_u64(sequence);
    }
    out
}

/// §12.2.1 body.
fn certificate_body(version: u8, report_type: u8, day_kind: u8, issued_at: u64, expires_at: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u8(version);
    out.put_u8(report_type);
    out.put_u8(day_kind);
    out.put_u32(DAY - 3);
    out.put(&[0x5a; 32]);
    out.put_u64(issued_at);
    out.put_u64(expires_at);
    out.put(&[0xc3; 16]);
    out
}

/// §7.5 poster fields before the signature.
#[derive(Clone)]
struct PosterFields {
    version: u8,
    start_minute: u32,
    minutes: u16,
    live_from: u16,
    live_until: u16,
    venue: [u8; 32],
    trace_key: [u8; 32],
    enc: [u8; 32],
    kind: u8,
    name: Vec<u8>,
    address: Vec<u8>,
}

impl PosterFields {
    fn signed_part(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u8(self.version);
        out.put_u32(self.start_minute);
        out.put_u16(self.minutes);
        out.put_u16(self.live_from);
        out.put_u16(self.live_until);
        out.put(&self.venue);
        out.put(&self.trace_key);
        out.put(&self.enc);
        out.put_u8(self.kind);
        short_text(&mut out, &self.name);
        short_text(&mut out, &self.address);
        out
    }

    /// Sets the venue key to `key`'s and signs.
    fn sign(mut self, key: &SigningKey) -> Vec<u8> {
        self.venue = key.verifying_key().to_bytes();
        let mut out = self.signed_part();
        let mut message = POSTER_LABEL.to_vec();
        message.extend_from_slice(&out);
        out.put(&ed25519_dalek::Signer::sign(key, &message).to_bytes());
        out
    }

    fn with_signature(&self, sig: &[u8; 64]) -> Vec<u8> {
        let mut out = self.signed_part();
        out.put(sig);
        out
    }
}

fn poster_text(bytes: &[u8]) -> String {
    format!("GL1:{}", to_base64url(bytes))
}

/// §9.4 trace entry with a given secret and window (minutes).
fn trace_entry(secret: &[u8; 32], window: (u32, u32), message_len: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u32(DAY * 1440);
    out.put_u16(1440);
    out.put(secret);
    out.put_u32(window.0);
    out.put_u32(window.1);
    out.put(&[7u8; 12]);
    out.put_u16(message_len);
    out.put(&vec![0x42u8; usize::from(message_len)]);
    out
}

fn trace_body(sequence: u64, entries: &[Vec<u8>], count: Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u8(1);
    short_text(&mut out, REGION.as_bytes());
    out.put_u64(sequence);
    out.put_u64(T0 + 86_400);
    out.put_u32(count.unwrap_or(u32::try_from(entries.len()).expect("few")));
    for entry in entries {
        out.put(entry);
    }
    out
}

/// A canonical scalar encoding with a chosen first byte (small, so < ℓ).
fn scalar_bytes(first: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[0] = first;
    out[1] = 0x10;
    out
}

fn epoch_bytes(day_offset: u32, minutes: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u32((DAY + day_offset) * 1440);
    out.put_u16(minutes);
    out
}

fn request_body(venue: &[u8; 32], epochs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u8(1);
    out.put(venue);
    out.put_u64(T0 + 2 * 86_400);
    out.put_u16(u16::try_from(epochs.len()).expect("few"));
    for epoch in epochs {
        out.put(epoch);
    }
    out
}

/// §9.3 body: each release is `(epoch bytes, owner share)`.
fn key_set_body(
    version: u8,
    region: &[u8],
    sequence: u64,
    entries: &[(u8, [u8; 32], u64, u64)],
    count: Option<u8>,
) -> Vec<u8> {
    let mut out = vec![version];
    short_text(&mut out, region);
    out.put_u64(sequence);
    out.put_u64(T0);
    out.put_u8(count.unwrap_or(u8::try_from(entries.len()).expect("few entries")));
    for (purpose, key, not_before, not_after) in entries {
        out.put_u8(*purpose);
        out.put(key);
        out.put_u64(*not_before);
        out.put_u64(*not_after);
    }
    out
}

fn bundle_body(venue: &[u8; 32], releases: &[(Vec<u8>, [u8; 32])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u8(1);
    out.put(venue);
    out.put_u16(u16::try_from(releases.len()).expect("few"));
    for (epoch, share) in releases {
        out.put(epoch);
        out.put(&[0x11; 32]);
        out.put(&[0x22; 32]);
        out.put(share);
    }
    out
}

// ---------------------------------------------------------- generation

fn generate() -> Value {
    let mut rng = common::rng("invalid");
    let export_key = SigningKey::from_bytes(&bytes32(&mut rng));
    let authority_key = SigningKey::from_bytes(&bytes32(&mut rng));
    let venue_key = SigningKey::from_bytes(&bytes32(&mut rng));
    let stranger = SigningKey::from_bytes(&bytes32(&mut rng));
    let mut cases = Cases(Vec::new());

    // §2.1 envelope and §10 export batch.
    let mut keys = [[0u8; 16]; 3];
    for key in &mut keys {
        rng.fill_bytes(key);
    }
    keys.sort_unstable();
    let export = |f: &dyn Fn(&mut ExportBody<'_>)| {
        let mut body = ExportBody {
            version: 1,
            region: REGION.as_bytes(),
            sequence: 7,
            start: T0,
            end: T0 + 3600,
            first_day: DAY - 3,
            count: None,
            records: vec![(keys[0], 0, 0x18), (keys[1], 2, 0x16), (keys[2], 3, 0x23)],
        };
        f(&mut body);
        body.encode()
    };
    let d = "export";
    let good = signed(b"GL_KEYS_", &export(&|_| {}), &export_key);
    cases.bytes(d, "valid", &good, "ok");
    cases.bytes(d, "shorter_than_80_bytes", &good[..79], "truncated");
    cases.bytes(d, "other_magic", &signed(b"GL_INDEX", &export(&|_| {}), &export_key), "bad_magic");
    cases.bytes(d, "unknown_key_id", &signed(b"GL_KEYS_", &export(&|_| {}), &stranger), "bad_signature");
    cases.bytes(d, "signature_bit_flipped", &flip_last(good.clone()), "bad_signature");
    let resign = |body: Vec<u8>| signed(b"GL_KEYS_", &body, &export_key);
    cases.bytes(d, "version_2", &resign(export(&|b| b.version = 2)), "unsupported_version:2");
    cases.bytes(d, "region_lower_case", &resign(export(&|b| b.region = b"gl-demo")), "invalid_field:region");
    cases.bytes(d, "region_empty", &resign(export(&|b| b.region = b"")), "invalid_field:region");
    cases.bytes(d, "region_17_bytes", &resign(export(&|b| b.region = b"ABCDEFGHIJKLMNOPQ")), "invalid_field:region");
    cases.bytes(d, "sequence_0", &resign(export(&|b| b.sequence = 0)), "invalid_field:sequence");
    cases.bytes(d, "start_equals_end", &resign(export(&|b| b.end = b.start)), "invalid_field:end");
    cases.bytes(d, "count_beyond_the_records", &resign(export(&|b| b.count = Some(4))), "truncated");
    cases.bytes(d, "count_short_of_the_records", &resign(export(&|b| b.count = Some(2))), "trailing_bytes");
    cases.bytes(d, "trailing_byte", &resign(with_trailing(export(&|_| {}))), "trailing_bytes");
    cases.bytes(d, "keys_not_ascending", &resign(export(&|b| b.records.swap(0, 1))), "invalid_field:records");
    cases.bytes(d, "key_twice", &resign(export(&|b| b.records[1].0 = b.records[0].0)), "invalid_field:records");
    cases.bytes(d, "day_offset_21", &resign(export(&|b| b.records[2].1 = 21)), "invalid_field:day_offset");
    cases.bytes(d, "first_day_not_the_earliest", &resign(export(&|b| b.records[0].1 = 1)), "invalid_field:first_day");
    cases.bytes(
        d,
        "transmission_risk_9",
        &resign(export(&|b| b.records[0].2 = 0x19)),
        "invalid_field:transmission_risk",
    );
    cases.bytes(d, "report_type_0", &resign(export(&|b| b.records[0].2 = 0x08)), "invalid_field:report_type");

    // §11 index.
    let hash = bytes32(&mut rng);
    let entries =
        [(1u8, 1_000u32, T0, T0 + 3600, 7u64), (1, 900, T0 + 3600, T0 + 7200, 8), (3, 151, T0, T0 + 86_400, 2)];
    let index = |entries: &[(u8, u32, u64, u64, u64)]| {
        signed(b"GL_INDEX", &index_body(1, b"GL-DEMO", entries, &hash), &export_key)
    };
    let d = "index";
    cases.bytes(d, "valid", &index(&entries), "ok");
    cases.bytes(
        d,
        "version_2",
        &signed(b"GL_INDEX", &index_body(2, b"GL-DEMO", &entries, &hash), &export_key),
        "unsupported_version:2",
    );
    cases.bytes(
        d,
        "region_with_space",
        &signed(b"GL_INDEX", &index_body(1, b"GL DEMO", &entries, &hash), &export_key),
        "invalid_field:region",
    );
    let mut e = entries;
    e[0].0 = 5;
    cases.bytes(d, "kind_5", &index(&e), "invalid_field:kind");
    let mut e = entries;
    e[0].1 = 79;
    cases.bytes(d, "size_79", &index(&e), "invalid_field:size");
    let mut e = entries;
    e[1].3 = e[1].2;
    cases.bytes(d, "start_equals_end", &index(&e), "invalid_field:end");
    let mut e = entries;
    e[0].4 = 0;
    cases.bytes(d, "sequence_0", &index(&e), "invalid_field:sequence");
    cases.bytes(d, "entries_not_ascending", &index(&[entries[1], entries[0], entries[2]]), "invalid_field:entries");
    let mut e = entries;
    e[1].4 = 7;
    cases.bytes(d, "kind_and_sequence_twice", &index(&e), "invalid_field:entries");
    let mut body = index_body(1, b"GL-DEMO", &entries, &hash);
    body.truncate(body.len() - 1);
    cases.bytes(d, "entry_cut_short", &signed(b"GL_INDEX", &body, &export_key), "truncated");
    cases.bytes(
        d,
        "trailing_byte",
        &signed(b"GL_INDEX", &with_trailing(index_body(1, b"GL-DEMO", &entries, &hash)), &export_key),
        "trailing_bytes",
    );

    // §12.2 certificate, verified at `now = T0 + 600`.
    let d = "certificate";
    let cert = |body: Vec<u8>| signed(b"GL_CERT_", &body, &authority_key);
    cases.bytes(d, "valid", &cert(certificate_body(1, 1, 1, T0, T0 + 900)), "ok");
    cases.bytes(d, "version_2", &cert(certificate_body(2, 1, 1, T0, T0 + 900)), "unsupported_version:2");
    cases.bytes(d, "report_type_0", &cert(certificate_body(1, 0, 1, T0, T0 + 900)), "invalid_field:report_type");
    cases.bytes(d, "report_type_3", &cert(certificate_body(1, 3, 1, T0, T0 + 900)), "invalid_field:report_type");
    cases.bytes(d, "day_kind_3", &cert(certificate_body(1, 1, 3, T0, T0 + 900)), "invalid_field:day_kind");
    cases.bytes(
        d,
        "expires_when_issued",
        &cert(certificate_body(1, 1, 1, T0 + 600, T0 + 600)),
        "invalid_field:expires_at",
    );
    cases.bytes(d, "trailing_byte", &cert(with_trailing(certificate_body(1, 1, 1, T0, T0 + 900))), "trailing_bytes");
    let mut short = certificate_body(1, 1, 1, T0, T0 + 900);
    short.pop();
    cases.bytes(d, "body_70_bytes", &cert(short), "truncated");
    cases.bytes(d, "issued_61_s_ahead", &cert(certificate_body(1, 1, 1, T0 + 661, T0 + 1500)), "not_yet_valid");
    cases.bytes(d, "expired_at_now", &cert(certificate_body(1, 1, 1, T0 - 300, T0 + 600)), "expired");
    cases.bytes(
        d,
        "signed_by_a_stranger",
        &signed(b"GL_CERT_", &certificate_body(1, 1, 1, T0, T0 + 900), &stranger),
        "bad_signature",
    );
    let text = to_base64url(&cert(certificate_body(1, 1, 1, T0, T0 + 900)));
    let d = "certificate_text";
    cases.text(d, "valid", &text, "ok");
    cases.text(d, "one_character_short", &text[1..], "bad_encoding");
    cases.text(d, "padded", &format!("{}=", &text[1..]), "bad_encoding");
    cases.text(d, "standard_alphabet_character", &format!("+{}", &text[1..]), "bad_encoding");

    // §7.5 posters (text form), signed by `venue_key` unless said.
    let fields = PosterFields {
        version: 1,
        start_minute: DAY * 1440,
        minutes: 1440,
        live_from: 0,
        live_until: 1440,
        venue: [0; 32],
        trace_key: bytes32(&mut rng),
        enc: bytes32(&mut rng),
        kind: 2,
        name: "Café Aurora".as_bytes().to_vec(),
        address: b"Main St 5".to_vec(),
    };
    let poster = |f: &dyn Fn(&mut PosterFields)| {
        let mut p = fields.clone();
        f(&mut p);
        poster_text(&p.sign(&venue_key))
    };
    let d = "poster";
    let good = poster(&|_| {});
    cases.text(d, "valid", &good, "ok");
    cases.text(d, "no_prefix", &good[4..], "bad_magic");
    cases.text(d, "lower_case_prefix", &good.replacen("GL1:", "gl1:", 1), "bad_magic");
    cases.text(d, "padded", &format!("{good}="), "bad_encoding");
    cases.text(d, "standard_alphabet_character", &format!("{}+", &good[..good.len() - 1]), "bad_encoding");
    cases.text(d, "version_2", &poster(&|p| p.version = 2), "unsupported_version:2");
    cases.text(d, "epoch_0_minutes", &poster(&|p| p.minutes = 0), "invalid_field:epoch_minutes");
    cases.text(
        d,
        "epoch_1441_minutes",
        &poster(&|p| {
            p.minutes = 1441;
            p.live_until = 1441;
        }),
        "invalid_field:epoch_minutes",
    );
    cases.text(d, "live_window_empty", &poster(&|p| p.live_from = 1440), "invalid_field:live_window");
    cases.text(d, "live_until_past_the_epoch", &poster(&|p| p.live_until = 1441), "invalid_field:live_window");
    cases.text(d, "kind_9", &poster(&|p| p.kind = 9), "invalid_field:venue_kind");
    cases.text(d, "name_empty", &poster(&|p| p.name.clear()), "invalid_field:venue_name");
    cases.text(
        d,
        "name_only_white_space",
        &poster(&|p| p.name = "\u{3000}\u{a0} ".as_bytes().to_vec()),
        "invalid_field:venue_name",
    );
    cases.text(d, "name_41_characters", &poster(&|p| p.name = vec![b'a'; 41]), "invalid_field:venue_name");
    cases.text(
        d,
        "name_41_ideographs",
        &poster(&|p| p.name = "院".repeat(41).into_bytes()),
        "invalid_field:venue_name",
    );
    cases.text(
        d,
        "name_31_emoji_124_bytes",
        &poster(&|p| p.name = "\u{1f35c}".repeat(31).into_bytes()),
        "invalid_field:venue_name",
    );
    cases.text(
        d,
        "address_41_characters",
        &poster(&|p| p.address = "路".repeat(41).into_bytes()),
        "invalid_field:venue_address",
    );
    cases.text(d, "name_invalid_utf8", &poster(&|p| p.name = b"Caf\xe9".to_vec()), "bad_encoding");
    cases.text(d, "name_with_line_feed", &poster(&|p| p.name = b"Caf\nAurora".to_vec()), "invalid_field:venue_name");
    cases.text(
        d,
        "name_with_right_to_left_override",
        &poster(&|p| p.name = "Café \u{202e}arorua".as_bytes().to_vec()),
        "invalid_field:venue_name",
    );
    cases.text(
        d,
        "name_with_zero_width_space",
        &poster(&|p| p.name = "Café\u{200b} Aurora".as_bytes().to_vec()),
        "invalid_field:venue_name",
    );
    cases.text(
        d,
        "name_with_byte_order_mark",
        &poster(&|p| p.name = "\u{feff}Café Aurora".as_bytes().to_vec()),
        "invalid_field:venue_name",
    );
    cases.text(
        d,
        "address_with_first_strong_isolate",
        &poster(&|p| p.address = "\u{2068}Main St 5".as_bytes().to_vec()),
        "invalid_field:venue_address",
    );
    let mut trailing = poster_bytes_of(&good);
    trailing.push(0);
    cases.text(d, "trailing_byte", &poster_text(&trailing), "trailing_bytes");
    cases.text(d, "signature_bit_flipped", &poster_text(&flip_last(poster_bytes_of(&good))), "bad_signature");
    let (small, forgery) = identity_key_forgery(&mut rng);
    let mut p = fields.clone();
    p.venue = small;
    cases.text(d, "venue_key_of_small_order", &poster_text(&p.with_signature(&forgery)), "bad_public_key");
    let (mixed, _, sig) = mixed_order_signature(&mut rng, |key| {
        let mut p = fields.clone();
        p.venue = *key;
        [POSTER_LABEL, &p.signed_part()].concat()
    });
    let mut p = fields.clone();
    p.venue = mixed;
    cases.text(
        d,
        "venue_key_of_mixed_order_cofactored_signature",
        &poster_text(&p.with_signature(&sig)),
        "bad_signature",
    );

    // §5.2 advertisement, raw (31 or 28 bytes) and service data (20 bytes).
    let mut full = vec![0x02, 0x01, 0x06, 0x03, 0x03, 0xe7, 0xf1, 0x17, 0x16, 0xe7, 0xf1];
    let mut id = [0u8; 20];
    rng.fill_bytes(&mut id);
    full.extend_from_slice(&id);
    let d = "advertisement";
    cases.bytes(d, "valid_31_bytes_any_flags", &full, "ok");
    cases.bytes(d, "valid_28_bytes_without_flags", &full[3..], "ok");
    cases.bytes(d, "30_bytes", &full[1..], "invalid_field:length");
    cases.bytes(d, "29_bytes", &full[2..], "invalid_field:length");
    cases.bytes(d, "27_bytes", &full[4..], "truncated");
    cases.bytes(d, "32_bytes", &[full.as_slice(), &[0]].concat(), "trailing_bytes");
    let mut bad = full.clone();
    bad[1] = 0xff;
    cases.bytes(d, "flags_structure_of_another_type", &bad, "invalid_field:flags");
    let mut bad = full.clone();
    bad[5] = 0x6f;
    bad[6] = 0xfd;
    cases.bytes(d, "another_uuid_in_the_list", &bad, "invalid_field:service_uuid_list");
    let mut bad = full.clone();
    bad[7] = 0x18;
    cases.bytes(d, "service_data_length_24", &bad, "invalid_field:service_data");
    let mut bad = full.clone();
    bad[9] = 0x6f;
    bad[10] = 0xfd;
    cases.bytes(d, "service_data_of_another_uuid", &bad, "invalid_field:service_data");
    let swapped = [&full[7..], &full[3..7]].concat();
    cases.bytes(d, "28_bytes_service_data_first", &swapped, "invalid_field:service_uuid_list");
    let d = "service_data";
    cases.bytes(d, "valid_20_bytes", &id, "ok");
    cases.bytes(d, "19_bytes", &id[..19], "truncated");
    cases.bytes(d, "21_bytes", &[id.as_slice(), &[0]].concat(), "trailing_bytes");

    // §9.4–9.5 trace batch: entries strictly ascending by the bytes of t.
    let mut secrets = [scalar_bytes(1), scalar_bytes(2), scalar_bytes(3)];
    // Bytewise order differs from numeric order (little-endian): the
    // second secret has a smaller first byte but a larger last byte.
    secrets[1][0] = 0;
    secrets[1][31] = 0x01;
    secrets.sort_unstable();
    let window = (DAY * 1440 + 600, DAY * 1440 + 720);
    let entry = |s: &[u8; 32]| trace_entry(s, window, 16);
    let d = "trace_batch";
    let trace = |body: Vec<u8>| signed(b"GL_TRACE", &body, &authority_key);
    let sorted: Vec<Vec<u8>> = secrets.iter().map(entry).collect();
    cases.bytes(d, "valid", &trace(trace_body(1, &sorted, None)), "ok");
    cases.bytes(
        d,
        "entries_not_ascending",
        &trace(trace_body(1, &[sorted[1].clone(), sorted[0].clone(), sorted[2].clone()], None)),
        "invalid_field:entries",
    );
    // Numeric order of the little-endian scalars, which is not the rule.
    let mut numeric = secrets;
    numeric.sort_unstable_by(|a, b| a.iter().rev().cmp(b.iter().rev()));
    assert_ne!(numeric, secrets, "the two orders differ");
    cases.bytes(
        d,
        "entries_in_numeric_order",
        &trace(trace_body(1, &numeric.iter().map(entry).collect::<Vec<_>>(), None)),
        "invalid_field:entries",
    );
    cases.bytes(
        d,
        "secret_twice",
        &trace(trace_body(1, &[sorted[0].clone(), sorted[0].clone()], None)),
        "invalid_field:entries",
    );
    cases.bytes(d, "sequence_0", &trace(trace_body(0, &sorted, None)), "invalid_field:sequence");
    cases.bytes(d, "count_beyond_the_entries", &trace(trace_body(1, &sorted, Some(4))), "truncated");
    cases.bytes(d, "trailing_byte", &trace(with_trailing(trace_body(1, &sorted, None))), "trailing_bytes");
    let mut big = secrets[0];
    big[31] = 0xff;
    cases.bytes(d, "secret_not_canonical", &trace(trace_body(1, &[entry(&big)], None)), "invalid_field:trace_secret");
    cases.bytes(
        d,
        "window_empty",
        &trace(trace_body(1, &[trace_entry(&secrets[0], (window.0, window.0), 16)], None)),
        "invalid_field:window",
    );
    cases.bytes(
        d,
        "message_shorter_than_its_tag",
        &trace(trace_body(1, &[trace_entry(&secrets[0], window, 15)], None)),
        "invalid_field:message",
    );
    cases.bytes(
        d,
        "message_over_280_bytes",
        &trace(trace_body(1, &[trace_entry(&secrets[0], window, 16 + 281)], None)),
        "invalid_field:message",
    );
    cases.bytes(
        d,
        "signed_by_the_export_key",
        &signed(b"GL_TRACE", &trace_body(1, &sorted, None), &export_key),
        "bad_signature",
    );

    // §9.6 revealed check-in.
    let poster_bytes = poster_bytes_of(&good);
    let revealed = |poster: &[u8], len: Option<u16>, arrival: u32, departure: u32| {
        let mut out = Vec::new();
        out.put_u16(len.unwrap_or(u16::try_from(poster.len()).expect("short")));
        out.put(poster);
        out.put_u32(arrival);
        out.put_u32(departure);
        out
    };
    let arrive = DAY * 1440 + 600;
    let d = "revealed_checkin";
    cases.bytes(d, "valid", &revealed(&poster_bytes, None, arrive, arrive + 45), "ok");
    cases.bytes(d, "departure_at_arrival", &revealed(&poster_bytes, None, arrive, arrive), "invalid_field:departure");
    cases.bytes(
        d,
        "departure_before_arrival",
        &revealed(&poster_bytes, None, arrive, arrive - 1),
        "invalid_field:departure",
    );
    let len = u16::try_from(poster_bytes.len()).expect("short");
    cases.bytes(
        d,
        "length_beyond_the_input",
        &revealed(&poster_bytes, Some(len + 9), arrive, arrive + 45),
        "truncated",
    );
    cases.bytes(
        d,
        "trailing_byte",
        &with_trailing(revealed(&poster_bytes, None, arrive, arrive + 45)),
        "trailing_bytes",
    );
    cases.bytes(
        d,
        "poster_signature_bit_flipped",
        &revealed(&flip_last(poster_bytes.clone()), None, arrive, arrive + 45),
        "bad_signature",
    );

    // §9.2 release request, signed by the authority.
    let venue = venue_key.verifying_key().to_bytes();
    let request = |body: Vec<u8>| signed(b"GL_RQST_", &body, &authority_key);
    let d = "release_request";
    let two = [epoch_bytes(0, 1440), epoch_bytes(1, 1440)];
    cases.bytes(d, "valid", &request(request_body(&venue, &two)), "ok");
    cases.bytes(d, "no_epoch", &request(request_body(&venue, &[])), "invalid_field:epochs");
    cases.bytes(
        d,
        "epochs_not_ascending",
        &request(request_body(&venue, &[two[1].clone(), two[0].clone()])),
        "invalid_field:epochs",
    );
    cases.bytes(
        d,
        "epoch_twice",
        &request(request_body(&venue, &[two[0].clone(), two[0].clone()])),
        "invalid_field:epochs",
    );
    cases.bytes(
        d,
        "257_epochs",
        &request(request_body(&venue, &(0..257).map(|i| epoch_bytes(i, 60)).collect::<Vec<_>>())),
        "invalid_field:epochs",
    );
    cases.bytes(d, "venue_key_of_small_order", &request(request_body(&small, &two)), "bad_public_key");
    cases.bytes(d, "trailing_byte", &request(with_trailing(request_body(&venue, &two))), "trailing_bytes");
    cases.bytes(
        d,
        "signed_by_the_venue",
        &signed(b"GL_RQST_", &request_body(&venue, &two), &venue_key),
        "bad_signature",
    );

    // §9.3 release bundle, signed by the venue key it names.
    let shares = [scalar_bytes(9), scalar_bytes(10)];
    let releases = vec![(two[0].clone(), shares[0]), (two[1].clone(), shares[1])];
    let bundle = |body: Vec<u8>| signed(b"GL_RELSE", &body, &venue_key);
    let d = "release_bundle";
    cases.bytes(d, "valid", &bundle(bundle_body(&venue, &releases)), "ok");
    cases.bytes(
        d,
        "signed_by_another_key_than_it_names",
        &signed(b"GL_RELSE", &bundle_body(&venue, &releases), &stranger),
        "bad_signature",
    );
    // The identity key names itself, and a lenient verifier accepts the
    // forgery (R = [r]B, S = r) over any bytes; the key rule refuses it.
    let mut forged = b"GL_RELSE".to_vec();
    forged.extend_from_slice(&bundle_body(&small, &releases));
    let small_key = VerifyingKey::from_bytes(&small).expect("the upstream decoder takes the identity");
    forged.extend_from_slice(&greenlight_protocol::signing::KeyId::of(&small_key).0);
    forged.extend_from_slice(&forgery);
    cases.bytes(d, "venue_key_of_small_order", &forged, "bad_public_key");
    cases.bytes(
        d,
        "version_2",
        &bundle([&[2u8][..], &bundle_body(&venue, &releases)[1..]].concat()),
        "unsupported_version:2",
    );
    cases.bytes(d, "no_release", &bundle(bundle_body(&venue, &[])), "invalid_field:epochs");
    cases.bytes(
        d,
        "epochs_not_ascending",
        &bundle(bundle_body(&venue, &[releases[1].clone(), releases[0].clone()])),
        "invalid_field:epochs",
    );
    let mut high = shares[0];
    high[31] = 0x20;
    cases.bytes(
        d,
        "owner_share_not_canonical",
        &bundle(bundle_body(&venue, &[(two[0].clone(), high)])),
        "invalid_field:owner_share",
    );
    cases.bytes(d, "trailing_byte", &bundle(with_trailing(bundle_body(&venue, &releases))), "trailing_bytes");

    // §2.3 key set, signed by the root key (the authority key here). The
    // entries name keys drawn above, so no case changes the others.
    let (a, b) = (*venue_key.verifying_key().as_bytes(), *stranger.verifying_key().as_bytes());
    let (policy, tracing) = if a < b { (a, b) } else { (b, a) };
    let good: Vec<(u8, [u8; 32], u64, u64)> = vec![(4, policy, T0, u64::MAX), (5, tracing, T0, T0 + 86_400)];
    let root_set = |body: Vec<u8>| signed(b"GL_TRUST", &body, &authority_key);
    let d = "key_set";
    cases.bytes(d, "valid", &root_set(key_set_body(1, REGION.as_bytes(), 1, &good, None)), "ok");
    cases.bytes(
        d,
        "signed_by_a_listed_key_not_the_root",
        &signed(b"GL_TRUST", &key_set_body(1, REGION.as_bytes(), 1, &good, None), &venue_key),
        "bad_signature",
    );
    cases.bytes(d, "version_2", &root_set(key_set_body(2, REGION.as_bytes(), 1, &good, None)), "unsupported_version:2");
    cases.bytes(d, "lower_case_region", &root_set(key_set_body(1, b"gl-demo", 1, &good, None)), "invalid_field:region");
    cases.bytes(
        d,
        "sequence_0",
        &root_set(key_set_body(1, REGION.as_bytes(), 0, &good, None)),
        "invalid_field:sequence",
    );
    cases.bytes(d, "no_entry", &root_set(key_set_body(1, REGION.as_bytes(), 1, &[], None)), "invalid_field:count");
    cases.bytes(
        d,
        "count_beyond_the_entries",
        &root_set(key_set_body(1, REGION.as_bytes(), 1, &good, Some(3))),
        "truncated",
    );
    cases.bytes(
        d,
        "unknown_purpose",
        &root_set(key_set_body(1, REGION.as_bytes(), 1, &[(6, policy, T0, u64::MAX)], None)),
        "invalid_field:purpose",
    );
    cases.bytes(
        d,
        "empty_window",
        &root_set(key_set_body(1, REGION.as_bytes(), 1, &[(4, policy, T0, T0)], None)),
        "invalid_field:not_after",
    );
    cases.bytes(
        d,
        "entries_not_ascending",
        &root_set(key_set_body(1, REGION.as_bytes(), 1, &[good[1], good[0]], None)),
        "invalid_field:entries",
    );
    cases.bytes(
        d,
        "a_key_twice_for_one_purpose",
        &root_set(key_set_body(1, REGION.as_bytes(), 1, &[good[0], (4, policy, T0, T0 + 60)], None)),
        "invalid_field:entries",
    );
    cases.bytes(
        d,
        "key_of_small_order",
        &root_set(key_set_body(1, REGION.as_bytes(), 1, &[(4, small, T0, u64::MAX)], None)),
        "bad_public_key",
    );
    cases.bytes(
        d,
        "trailing_byte",
        &root_set(with_trailing(key_set_body(1, REGION.as_bytes(), 1, &good, None))),
        "trailing_bytes",
    );

    json!({
        "description": "Negative vectors for every decoder (protocol §16). Each case names the decoder, the input \
                        (hex `input`, or `text` for text forms) and the error the spec documents for it; each \
                        decoder also has a valid case (`ok`). Signed files are signed by the keys below after the \
                        change, so the decoder reaches the broken rule. Certificates are verified at `now`.",
        "export_public_key": hex(export_key.verifying_key().as_bytes()),
        "authority_public_key": hex(authority_key.verifying_key().as_bytes()),
        "now": T0 + 600,
        "service_uuid": 0xf1e7,
        "cases": cases.0,
    })
}

fn poster_bytes_of(text: &str) -> Vec<u8> {
    greenlight_protocol::codec::from_base64url(&text[4..]).expect("base64url")
}

// ---------------------------------------------------------------- tests

fn public_key(v: &Value, field: &str) -> VerifyingKey {
    VerifyingKey::from_bytes(&unhex_array(v, field)).expect("a public key")
}

/// Runs the named decoder the way a reader of that format does.
fn decode(v: &Value, case: &Value) -> Result<(), greenlight_protocol::Error> {
    let export = TrustedKeys::from_keys([public_key(v, "export_public_key")]);
    let authority = TrustedKeys::from_keys([public_key(v, "authority_public_key")]);
    let now = UnixTime(v["now"].as_u64().expect("now"));
    let uuid = ServiceUuid(u16::try_from(v["service_uuid"].as_u64().expect("uuid")).expect("u16"));
    let text = || case["text"].as_str().expect("text");
    let input = || unhex(case, "input");
    match case["decoder"].as_str().expect("decoder") {
        "export" => ExportBatch::verify(&input(), &export).map(drop),
        "index" => Index::verify(&input(), &export).map(drop),
        "certificate" => Certificate::verify(&input(), &authority, now).map(drop),
        "certificate_text" => Certificate::verify_text(text(), &authority, now).map(drop),
        "poster" => Poster::from_text(text()).map(drop),
        "advertisement" => Advertisement::decode(&input(), uuid).map(drop),
        "service_data" => Advertisement::from_service_data(&input()).map(drop),
        "trace_batch" => TraceBatch::verify(&input(), &authority).map(drop),
        "revealed_checkin" => RevealedCheckIn::from_bytes(&input()).map(drop),
        "release_request" => ReleaseRequest::verify(&input(), &authority).map(drop),
        "release_bundle" => ReleaseBundle::verify(&input()).map(drop),
        "key_set" => KeySet::verify(&input(), &authority).map(drop),
        other => panic!("unknown decoder {other}"),
    }
}

#[test]
fn invalid_vectors_do_not_drift() {
    common::check_or_bless("invalid", &generate());
}

#[test]
fn every_decoder_refuses_each_committed_invalid_input_with_the_documented_error() {
    let v = common::load("invalid");
    let cases = v["cases"].as_array().expect("cases");
    let mut decoders = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let decoder = case["decoder"].as_str().expect("decoder");
        let expected = case["expected"].as_str().expect("expected");
        let got = match decode(&v, case) {
            Ok(()) => "ok".to_owned(),
            Err(error) => common::error_name(&error),
        };
        assert_eq!(got, expected, "{decoder}/{name}");
        let counts = decoders.entry(decoder).or_default();
        if expected == "ok" {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }
    let names: Vec<_> = decoders.keys().copied().collect();
    assert_eq!(
        names,
        [
            "advertisement",
            "certificate",
            "certificate_text",
            "export",
            "index",
            "key_set",
            "poster",
            "release_bundle",
            "release_request",
            "revealed_checkin",
            "service_data",
            "trace_batch"
        ]
    );
    for (decoder, (valid, invalid)) in decoders {
        assert!(valid >= 1 && invalid >= 2, "{decoder}: {valid} valid and {invalid} invalid cases");
    }
}
