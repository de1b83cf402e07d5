//! Known-answer vectors for the one Ed25519 verification rule of protocol
//! §2.1: `spec/vectors/ed25519.json`.
//!
//! Each case is a public key, a message and a signature with the verdict
//! the strict, cofactorless rule gives (`ok`, `bad_public_key` or
//! `bad_signature`). Every refused case is built so that a *lenient*
//! verifier — the cofactored equation of RFC 8032 §5.1.7 with lenient
//! point decoding, or an `S` only checked for its top bits — accepts it:
//! the vectors are exactly where two readings of the RFC disagree, and the
//! test proves it by running that lenient verifier too.

mod common;

use common::{hex, unhex, unhex_array};
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use greenlight_protocol::signing::{SigningKey, decode_public_key, verify_signature};
use rand_core::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

/// ℓ, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The encoding of the identity point (y = 1).
const IDENTITY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

/// A non-canonical encoding of the identity: y = p + 1 = 2^255 − 18.
const IDENTITY_NON_CANONICAL: [u8; 32] = {
    let mut b = [0xffu8; 32];
    b[0] = 0xee;
    b[31] = 0x7f;
    b
};

fn random_scalar(rng: &mut impl Rng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// `k = SHA-512(R ‖ A ‖ M) mod ℓ`, over the bytes as given.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let digest: [u8; 64] = Sha512::new().chain_update(r).chain_update(a).chain_update(message).finalize().into();
    Scalar::from_bytes_mod_order_wide(&digest)
}

fn signature(r: &[u8; 32], s: &Scalar) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s.as_bytes());
    out
}

/// `s + ℓ` as 32 little-endian bytes (it fits: `s < ℓ < 2^253`).
fn plus_ell(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(ELL[i]) + carry;
        out[i] = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    out
}

/// The lenient reading of RFC 8032 §5.1.7 that the strict rule refuses:
/// points decoded without the canonical check, `S` only required to have
/// its top three bits clear (then reduced), and the cofactored equation
/// `[8][S]B = [8]R + [8][k]A`.
fn lenient_accepts(public_key: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    let (Some(a), Some(r)) = (
        CompressedEdwardsY(*public_key).decompress(),
        CompressedEdwardsY(sig[..32].try_into().expect("32 bytes")).decompress(),
    ) else {
        return false;
    };
    let s_bytes: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    if s_bytes[31] & 0xe0 != 0 {
        return false;
    }
    let s = Scalar::from_bytes_mod_order(s_bytes);
    let k = challenge(&sig[..32].try_into().expect("32 bytes"), public_key, message);
    (EdwardsPoint::mul_base(&s) - r - k * a).mul_by_cofactor().is_identity()
}

/// The verdict of the protocol's rule: decode the key, then verify.
fn judge(public_key: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> String {
    match decode_public_key(public_key).and_then(|key| verify_signature(&key, message, sig)) {
        Ok(()) => "ok".into(),
        Err(error) => common::error_name(&error),
    }
}

fn case(name: &str, why: &str, public_key: &[u8; 32], message: &[u8], sig: &[u8; 64], expected: &str) -> Value {
    json!({
        "name": name,
        "why": why,
        "public_key": hex(public_key),
        "message": hex(message),
        "signature": hex(sig),
        "expected": expected,
    })
}

fn generate() -> Value {
    let mut rng = common::rng("ed25519");
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let signer = SigningKey::from_bytes(&seed);
    let public = signer.verifying_key().to_bytes();
    let message = b"greenlight/v1 ed25519 vector".to_vec();
    let valid = ed25519_dalek::Signer::sign(&signer, &message).to_bytes();
    let mut cases = vec![case("valid", "an RFC 8032 signature by an ordinary key", &public, &message, &valid, "ok")];

    let mut high_s = valid;
    high_s[32..].copy_from_slice(&plus_ell(&valid[32..]));
    cases.push(case(
        "s_not_reduced",
        "the valid signature with S + ℓ in place of S: S must be < ℓ",
        &public,
        &message,
        &high_s,
        "bad_signature",
    ));

    // Any (R, S = r) verifies under the identity key: [S]B = R + [k]·0.
    let r = random_scalar(&mut rng);
    let r_point = EdwardsPoint::mul_base(&r).compress().to_bytes();
    cases.push(case(
        "small_order_key",
        "the key is the identity point, so R = [r]B, S = r signs every message",
        &IDENTITY,
        &message,
        &signature(&r_point, &r),
        "bad_public_key",
    ));
    cases.push(case(
        "non_canonical_key",
        "the key encodes the identity as y = p + 1, a non-canonical encoding",
        &IDENTITY_NON_CANONICAL,
        &message,
        &signature(&r_point, &r),
        "bad_public_key",
    ));

    // A real key a, R the identity: S = k·a satisfies [S]B = R + [k]A.
    let a = random_scalar(&mut rng);
    let a_bytes = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let k = challenge(&IDENTITY, &a_bytes, &message);
    cases.push(case(
        "small_order_r",
        "R is the identity point and S = k·a",
        &a_bytes,
        &message,
        &signature(&IDENTITY, &(k * a)),
        "bad_signature",
    ));
    let k = challenge(&IDENTITY_NON_CANONICAL, &a_bytes, &message);
    cases.push(case(
        "non_canonical_r",
        "R encodes the identity as y = p + 1 and S = k·a",
        &a_bytes,
        &message,
        &signature(&IDENTITY_NON_CANONICAL, &(k * a)),
        "bad_signature",
    ));

    // A mixed-order key A = [a]B + T (T of order 8): S = r + k·a satisfies
    // the cofactored equation always, the cofactorless one only when
    // [k]T = 0, that is k ≡ 0 (mod 8). One message of each kind.
    let mixed = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1]).compress().to_bytes();
    let r_point_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let mut found = [false, false];
    for counter in 0u32.. {
        let mut m = b"greenlight/v1 mixed-order key ".to_vec();
        m.extend_from_slice(&counter.to_le_bytes());
        let k = challenge(&r_point_bytes, &mixed, &m);
        let cofactorless = k.as_bytes()[0].is_multiple_of(8);
        let slot = usize::from(cofactorless);
        if found[slot] {
            continue;
        }
        found[slot] = true;
        let sig = signature(&r_point_bytes, &(r + k * a));
        cases.push(if cofactorless {
            case(
                "mixed_order_key_cofactorless_holds",
                "A = [a]B + T with T of order 8; k ≡ 0 (mod 8) so [S]B = R + [k]A holds exactly: a mixed-order key \
                 is not refused for itself",
                &mixed,
                &m,
                &sig,
                "ok",
            )
        } else {
            case(
                "mixed_order_key_cofactored_only",
                "A = [a]B + T with T of order 8; k ≢ 0 (mod 8): only the cofactored equation holds",
                &mixed,
                &m,
                &sig,
                "bad_signature",
            )
        });
        if found == [true, true] {
            break;
        }
    }
    // The identity really is small order, so the vectors mean what they say.
    assert!(CompressedEdwardsY(IDENTITY).decompress().expect("decodes") == EdwardsPoint::identity());
    assert!(ED25519_BASEPOINT_POINT.compress().to_bytes() != IDENTITY);

    json!({
        "description": "Protocol §2.1: the strict, cofactorless Ed25519 rule. Each case gives a public key, a \
                        message and a signature (hex) and the verdict: ok, bad_public_key (the key is refused \
                        when decoded) or bad_signature.",
        "cases": cases,
    })
}

#[test]
fn ed25519_vectors_do_not_drift() {
    common::check_or_bless("ed25519", &generate());
}

#[test]
fn committed_ed25519_cases_get_the_documented_verdict() {
    let v = common::load("ed25519");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 8);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let public_key: [u8; 32] = unhex_array(case, "public_key");
        let message = unhex(case, "message");
        let sig: [u8; 64] = unhex_array(case, "signature");
        let expected = case["expected"].as_str().expect("expected");
        assert_eq!(judge(&public_key, &message, &sig), expected, "{name}");
        // Every case verifies under the lenient reading: the refused ones
        // are exactly where the two readings of the RFC disagree.
        assert!(lenient_accepts(&public_key, &message, &sig), "{name} is not accepted by the lenient reading");
    }
}

#[test]
fn a_small_order_key_is_refused_wherever_a_format_carries_one() {
    // The key decoder is the one every format (poster, release request and
    // bundle) and every configured trust set goes through.
    let v = common::load("ed25519");
    for name in ["small_order_key", "non_canonical_key"] {
        let case = v["cases"].as_array().expect("cases").iter().find(|c| c["name"] == name).expect("case");
        let key: [u8; 32] = unhex_array(case, "public_key");
        assert!(decode_public_key(&key).is_err(), "{name}");
        // The upstream decoder alone takes it: the extra check is ours.
        assert!(ed25519_dalek::VerifyingKey::from_bytes(&key).is_ok(), "{name}");
    }
}
