//! Known-answer vectors for the color policy (`spec/vectors/policy.json`)
//! and the color function (`spec/vectors/color.json`).
//!
//! For each file one test regenerates it from the fixed seed and compares
//! it with the committed bytes (no drift), and one reads the committed file
//! and recomputes every output from its inputs alone (the vectors are
//! asserted). `GREENLIGHT_BLESS=1` rewrites the files.

mod common;

use greenlight_protocol::color::{
    BleContact, Color, ColorDecision, ColorInputs, Diagnosis, Evidence, VenueExposure, decide,
};
use greenlight_protocol::policy::{ColorPolicy, POLICY_MAGIC, PolicyParams, VenueOverlaps};
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::{KeyId, SigningKey, TrustedKeys, VerifyingKey, seal_file};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::venue::VenueKind;
use rand_core::Rng;
use serde_json::{Value, json};

/// 2026-05-10, the "today" of the color cases.
const TODAY: DayNumber = DayNumber(20_583);
const HOUR: u64 = 3600;
/// When the vector policies were issued: 2026-04-01T00:00:00Z.
const ISSUED_AT: UnixTime = UnixTime(1_775_001_600);

// ---------------------------------------------------------------- policy.json

fn signing_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    common::rng("policy").fill_bytes(&mut seed);
    seed
}

fn recommended_policy() -> ColorPolicy {
    ColorPolicy::recommended(1, ISSUED_AT)
}

/// A policy unlike the recommended one in every field, so that a
/// reimplementation that hard-codes the defaults fails; its venue overlap
/// differs by kind (shops never alert), so it is format version 2.
fn custom_policy() -> ColorPolicy {
    ColorPolicy::new(PolicyParams {
        sequence: 2,
        issued_at: ISSUED_AT.plus(7 * 24 * HOUR),
        attenuation_thresholds_db: [50, 55, 70],
        bucket_weights_percent: [200, 100, 50, 0],
        min_weighted_minutes_per_day: 20,
        min_transmission_risk: 0,
        min_venue_overlap_minutes: VenueOverlaps::from_wire_order([15, 0, 30, 45, 60, 20, 25, 50, 5]),
        yellow_days: 7,
        red_days: 14,
        stale_after_hours: 24,
        lookback_days: 10,
    })
    .expect("the custom vector policy is valid")
}

/// The custom policy with one overlap, 15 minutes, for every kind: format
/// version 1, which phones that predate per-kind rules read.
fn uniform_policy() -> ColorPolicy {
    ColorPolicy::new(PolicyParams {
        sequence: 3,
        min_venue_overlap_minutes: VenueOverlaps::uniform(15),
        ..*custom_policy().params()
    })
    .expect("the uniform vector policy is valid")
}

fn fields_json(p: &PolicyParams) -> Value {
    json!({
        "sequence": p.sequence,
        "issued_at": p.issued_at.0,
        "attenuation_thresholds_db": p.attenuation_thresholds_db,
        "bucket_weights_percent": p.bucket_weights_percent,
        "min_weighted_minutes_per_day": p.min_weighted_minutes_per_day,
        "min_transmission_risk": p.min_transmission_risk,
        "min_venue_overlap_minutes": p.min_venue_overlap_minutes.to_wire_order(),
        "yellow_days": p.yellow_days,
        "red_days": p.red_days,
        "stale_after_hours": p.stale_after_hours,
        "lookback_days": p.lookback_days,
    })
}

fn small<T: TryFrom<u64>>(v: &Value, field: &str) -> T {
    T::try_from(common::uint(v, field)).unwrap_or_else(|_| panic!("field {field} is out of range for its type"))
}

fn small_array<T: TryFrom<u64>, const N: usize>(v: &Value, field: &str) -> [T; N] {
    let items = v[field].as_array().unwrap_or_else(|| panic!("field {field} is not an array"));
    let values: Vec<T> = items
        .iter()
        .map(|x| {
            let n = x.as_u64().unwrap_or_else(|| panic!("field {field} holds a non-integer"));
            T::try_from(n).unwrap_or_else(|_| panic!("field {field} is out of range"))
        })
        .collect();
    values.try_into().unwrap_or_else(|_| panic!("field {field} does not hold {N} items"))
}

fn fields_from_json(v: &Value) -> PolicyParams {
    PolicyParams {
        sequence: small(v, "sequence"),
        issued_at: UnixTime(common::uint(v, "issued_at")),
        attenuation_thresholds_db: small_array(v, "attenuation_thresholds_db"),
        bucket_weights_percent: small_array(v, "bucket_weights_percent"),
        min_weighted_minutes_per_day: small(v, "min_weighted_minutes_per_day"),
        min_transmission_risk: small(v, "min_transmission_risk"),
        min_venue_overlap_minutes: VenueOverlaps::from_wire_order(small_array(v, "min_venue_overlap_minutes")),
        yellow_days: small(v, "yellow_days"),
        red_days: small(v, "red_days"),
        stale_after_hours: small(v, "stale_after_hours"),
        lookback_days: small(v, "lookback_days"),
    }
}

/// Bodies that must be refused, each with exactly one defect: a version-1
/// body (the uniform policy) and a version-2 body (the custom policy),
/// whose fields after the venue overlaps sit 16 bytes further on.
fn invalid_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let v1 = uniform_policy().encode_body();
    let v2 = custom_policy().encode_body();
    assert_eq!((v1[0], v2[0]), (1, 2));
    let patch = |good: &[u8], offset: usize, bytes: &[u8]| {
        let mut body = good.to_vec();
        body[offset..offset + bytes.len()].copy_from_slice(bytes);
        body
    };
    let extended = |good: &[u8]| [good, &[0]].concat();
    // yellow_days, red_days, stale_after_hours, lookback_days.
    let (y1, y2) = (29, 45);
    vec![
        ("empty", Vec::new()),
        ("truncated_by_one_byte", v1[..v1.len() - 1].to_vec()),
        ("one_trailing_byte", extended(&v1)),
        ("v2_truncated_by_one_byte", v2[..v2.len() - 1].to_vec()),
        ("v2_one_trailing_byte", extended(&v2)),
        ("v1_body_marked_version_2", patch(&v1, 0, &[2])),
        ("v2_body_marked_version_1", patch(&v2, 0, &[1])),
        ("format_version_0", patch(&v1, 0, &[0])),
        ("format_version_3", patch(&v2, 0, &[3])),
        ("thresholds_not_strictly_ascending", patch(&v1, 13, &[63, 73, 73])),
        ("bucket_weight_above_1000", patch(&v1, 22, &1001u16.to_le_bytes())),
        ("min_weighted_minutes_zero", patch(&v1, 24, &[0, 0])),
        ("min_transmission_risk_9", patch(&v1, 26, &[9])),
        ("v1_min_venue_overlap_zero", patch(&v1, 27, &[0, 0])),
        ("yellow_days_zero", patch(&v1, y1, &[0])),
        ("yellow_days_above_lookback", patch(&v1, y1 + 4, &[6])),
        ("red_days_29", patch(&v1, y1 + 1, &[29])),
        ("stale_after_337_hours", patch(&v1, y1 + 2, &337u16.to_le_bytes())),
        ("lookback_15_days", patch(&v1, y1 + 4, &[15])),
        ("lookback_zero_days", patch(&v1, y1 + 4, &[0])),
        ("v2_thresholds_not_strictly_ascending", patch(&v2, 13, &[70, 55, 50])),
        ("v2_yellow_days_zero", patch(&v2, y2, &[0])),
        ("v2_red_days_29", patch(&v2, y2 + 1, &[29])),
        ("v2_stale_after_337_hours", patch(&v2, y2 + 2, &337u16.to_le_bytes())),
        ("v2_lookback_15_days", patch(&v2, y2 + 4, &[15])),
        ("v2_same_overlap_for_every_kind", patch(&v2, 27, &[15, 0].repeat(9))),
    ]
}

/// Signed files that must be refused.
fn invalid_files(key: &SigningKey) -> Vec<(&'static str, Vec<u8>)> {
    let file = recommended_policy().sign(key);
    let mut flipped_body = file.clone();
    flipped_body[POLICY_MAGIC.len() + 1] ^= 0x01;
    let mut flipped_signature = file.clone();
    *flipped_signature.last_mut().expect("non-empty") ^= 0x80;
    let other_key = SigningKey::from_bytes(&[0x11; 32]);
    let lookback_15 = invalid_bodies().into_iter().find(|(name, _)| *name == "lookback_15_days").expect("listed").1;
    vec![
        ("bit_flip_in_body", flipped_body),
        ("bit_flip_in_signature", flipped_signature),
        ("signed_by_an_untrusted_key", recommended_policy().sign(&other_key)),
        ("export_batch_magic", seal_file(b"GL_KEYS_", &recommended_policy().encode_body(), key)),
        ("validly_signed_invalid_body", seal_file(&POLICY_MAGIC, &lookback_15, key)),
        ("truncated_signature", file[..file.len() - 1].to_vec()),
    ]
}

fn generate_policy_vectors() -> Value {
    let seed = signing_seed();
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key();
    let policies: Vec<Value> =
        [("recommended", recommended_policy()), ("custom", custom_policy()), ("uniform", uniform_policy())]
            .into_iter()
            .map(|(name, policy)| {
                json!({
                    "name": name,
                    "format_version": policy.format_version(),
                    "fields": fields_json(policy.params()),
                    "body": common::hex(policy.encode_body()),
                    "signed_file": common::hex(policy.sign(&key)),
                })
            })
            .collect();
    let invalid_bodies: Vec<Value> = invalid_bodies()
        .into_iter()
        .map(|(name, body)| {
            let error = ColorPolicy::decode_body(&body).expect_err("invalid body is refused");
            json!({ "name": name, "body": common::hex(&body), "error": common::error_name(&error) })
        })
        .collect();
    let trusted = TrustedKeys::from_keys([public]);
    let invalid_files: Vec<Value> = invalid_files(&key)
        .into_iter()
        .map(|(name, file)| {
            let error = ColorPolicy::verify(&file, &trusted).expect_err("invalid file is refused");
            json!({ "name": name, "signed_file": common::hex(&file), "error": common::error_name(&error) })
        })
        .collect();
    json!({
        "description": "Greenlight color policy (spec/protocol.md §13). Each policy's body \
            encodes its fields in the format version given (1 when every venue kind has the same \
            non-zero minimum overlap, else 2); `min_venue_overlap_minutes` lists one value per \
            venue kind in wire order (other, shop, restaurant, transit, workplace, event, leisure, \
            education, care), 0 meaning never; its signed file is magic ‖ body ‖ key_id ‖ Ed25519 signature \
            by the key with `signing_key_seed` (RFC 8032 secret key), and verifies under \
            `public_key`. Invalid bodies must be refused by the decoder and invalid files by \
            verification, with the error named (the check order is normative).",
        "magic": common::hex(POLICY_MAGIC),
        "signing_key_seed": common::hex(seed),
        "public_key": common::hex(public.as_bytes()),
        "key_id": common::hex(KeyId::of(&public).0),
        "policies": policies,
        "invalid_bodies": invalid_bodies,
        "invalid_files": invalid_files,
    })
}

#[test]
fn policy_vectors_match_the_generator() {
    common::check_or_bless("policy", &generate_policy_vectors());
}

#[test]
fn committed_policy_vectors_verify() {
    let v = common::load("policy");
    assert_eq!(common::unhex(&v, "magic"), POLICY_MAGIC);
    let seed: [u8; 32] = common::unhex_array(&v, "signing_key_seed");
    let key = SigningKey::from_bytes(&seed);
    let public = VerifyingKey::from_bytes(&common::unhex_array(&v, "public_key")).expect("public key decodes");
    assert_eq!(key.verifying_key(), public, "the seed gives the public key");
    assert_eq!(common::unhex(&v, "key_id"), KeyId::of(&public).0);
    let trusted = TrustedKeys::from_keys([public]);

    let policies = v["policies"].as_array().expect("policies");
    assert!(!policies.is_empty());
    for case in policies {
        let name = case["name"].as_str().expect("name");
        let body = common::unhex(case, "body");
        let file = common::unhex(case, "signed_file");
        let expected = ColorPolicy::new(fields_from_json(&case["fields"]))
            .unwrap_or_else(|e| panic!("{name}: fields are invalid: {e}"));
        assert_eq!(ColorPolicy::decode_body(&body).as_ref(), Ok(&expected), "{name}: decode");
        assert_eq!(u64::from(body[0]), common::uint(case, "format_version"), "{name}: format version");
        assert_eq!(expected.encode_body(), body, "{name}: encode");
        assert_eq!(ColorPolicy::verify(&file, &trusted).as_ref(), Ok(&expected), "{name}: verify");
        assert_eq!(expected.sign(&key), file, "{name}: deterministic signature");
    }

    for case in v["invalid_bodies"].as_array().expect("invalid_bodies") {
        let name = case["name"].as_str().expect("name");
        let error = ColorPolicy::decode_body(&common::unhex(case, "body")).expect_err("invalid body is refused");
        assert_eq!(common::error_name(&error), case["error"].as_str().expect("error"), "{name}");
    }
    for case in v["invalid_files"].as_array().expect("invalid_files") {
        let name = case["name"].as_str().expect("name");
        let error =
            ColorPolicy::verify(&common::unhex(case, "signed_file"), &trusted).expect_err("invalid file is refused");
        assert_eq!(common::error_name(&error), case["error"].as_str().expect("error"), "{name}");
    }
}

// ----------------------------------------------------------------- color.json

fn noon() -> UnixTime {
    TODAY.start().plus(12 * HOUR)
}

fn risk(level: u8) -> TransmissionRisk {
    TransmissionRisk::new(level).expect("valid level")
}

fn ble(day: DayNumber, attenuation_db: u8, seconds: u32) -> BleContact {
    BleContact { day, attenuation_db, seconds, transmission_risk: risk(5) }
}

/// A visit to a restaurant (the kind matters only under the custom policy
/// and the recommended one's per-kind rules).
fn venue(day: DayNumber, overlap_minutes: u16) -> VenueExposure {
    let start = day.start().plus(18 * HOUR);
    VenueExposure { day, start, end: start.plus(90 * 60), overlap_minutes, kind: VenueKind::Restaurant }
}

/// The same visit to a venue of `kind`.
fn visit(kind: VenueKind, day: DayNumber, overlap_minutes: u16) -> VenueExposure {
    VenueExposure { kind, ..venue(day, overlap_minutes) }
}

/// Synced an hour before noon of `TODAY`, nothing else.
fn base() -> ColorInputs {
    ColorInputs { now: noon(), last_sync: Some(noon().minus(HOUR)), ..ColorInputs::default() }
}

struct Case {
    name: &'static str,
    description: &'static str,
    policy: &'static str,
    inputs: ColorInputs,
}

fn case(name: &'static str, description: &'static str, change: impl FnOnce(&mut ColorInputs)) -> Case {
    let mut inputs = base();
    change(&mut inputs);
    Case { name, description, policy: "recommended", inputs }
}

fn color_cases() -> Vec<Case> {
    let until_recommended_yellow = TODAY.minus(3).plus(14).end();
    vec![
        case("nothing_recently_synced", "no exposure, synced an hour ago: green until stale", |_| {}),
        case("never_synced", "a phone that never synced is stale, never a silent green", |i| i.last_sync = None),
        case("synced_exactly_48h_ago", "at exactly the limit the phone is not stale yet", |i| {
            i.last_sync = Some(noon().minus(48 * HOUR))
        }),
        case("synced_48h_and_1s_ago", "one second past the limit is stale", |i| {
            i.last_sync = Some(noon().minus(48 * HOUR + 1))
        }),
        case("sync_in_the_future", "a last sync after now counts as now", |i| {
            i.last_sync = Some(noon().plus(5 * HOUR))
        }),
        case("ble_exactly_15_weighted_minutes", "900 s immediate at 100 % is 15 minutes", |i| {
            i.ble = vec![ble(TODAY.minus(3), 50, 900)]
        }),
        case("ble_one_second_short", "899 s rounds down to 14 weighted minutes", |i| {
            i.ble = vec![ble(TODAY.minus(3), 50, 899)]
        }),
        case(
            "ble_bucket_edges",
            "62 dB immediate, 63 near, 73 medium (10 %), 79 other (0 %): 5 + 7 + 3 + 0 = 15",
            |i| {
                let day = TODAY.minus(2);
                i.ble = vec![ble(day, 62, 300), ble(day, 63, 420), ble(day, 73, 1800), ble(day, 79, 3600)]
            },
        ),
        case("ble_days_are_not_added_up", "10 minutes on each of two days is not yellow", |i| {
            i.ble = vec![ble(TODAY.minus(1), 50, 600), ble(TODAY.minus(2), 50, 600)]
        }),
        case("ble_low_transmission_risk", "keys below risk level 3 are ignored", |i| {
            i.ble = vec![
                BleContact { transmission_risk: risk(2), ..ble(TODAY.minus(1), 50, 3600) },
                BleContact { transmission_risk: risk(3), ..ble(TODAY.minus(2), 50, 60) },
            ]
        }),
        case("venue_overlap_at_minimum", "10 overlap minutes qualify", |i| i.venues = vec![venue(TODAY.minus(3), 10)]),
        case("venue_overlap_below_minimum", "9 overlap minutes do not", |i| i.venues = vec![venue(TODAY.minus(3), 9)]),
        case("future_dated_exposures", "a contact tomorrow and a visit starting after now are ignored", |i| {
            i.ble = vec![ble(TODAY.plus(1), 50, 3600)];
            i.venues = vec![VenueExposure {
                day: TODAY,
                start: noon().plus(1),
                end: noon().plus(HOUR),
                overlap_minutes: 59,
                kind: VenueKind::Shop,
            }];
        }),
        case("lookback_first_day", "an exposure 14 days ago still counts, until midnight", |i| {
            i.ble = vec![ble(TODAY.minus(14), 50, 3600)]
        }),
        case("lookback_exceeded", "an exposure 15 days ago is ignored", |i| {
            i.ble = vec![ble(TODAY.minus(15), 50, 3600)];
            i.venues = vec![venue(TODAY.minus(15), 60)];
        }),
        case("yellow_last_second", "one second before the end of yellow", |i| {
            i.now = until_recommended_yellow.minus(1);
            i.last_sync = Some(i.now);
            i.venues = vec![venue(TODAY.minus(3), 30)];
        }),
        case("yellow_ended", "yellow ends exactly at its until", |i| {
            i.now = until_recommended_yellow;
            i.last_sync = Some(i.now);
            i.venues = vec![venue(TODAY.minus(3), 30)];
        }),
        case("last_qualifying_day_decides", "the latest qualifying day sets the end of yellow", |i| {
            i.ble = vec![ble(TODAY.minus(6), 50, 3600), ble(TODAY.minus(1), 50, 60)];
            i.venues = vec![venue(TODAY.minus(4), 12), venue(TODAY.minus(2), 3)];
        }),
        case("yellow_and_stale", "yellow wins over stale, and the decision says it is stale", |i| {
            i.last_sync = Some(noon().minus(72 * HOUR));
            i.ble = vec![ble(TODAY.minus(4), 50, 1200)];
        }),
        case("red_over_everything", "a diagnosis is red even with exposures and no sync", |i| {
            i.last_sync = None;
            i.diagnosis =
                Some(Diagnosis { day: TODAY.minus(2), report_type: ReportType::ConfirmedTest, symptom_onset: false });
            i.ble = vec![ble(TODAY.minus(1), 50, 3600)];
        }),
        case("red_ended_yellow_remains", "after red ends, a later exposure still shows", |i| {
            i.now = TODAY.minus(2).plus(10).end();
            i.last_sync = Some(i.now.minus(HOUR));
            i.diagnosis = Some(Diagnosis {
                day: TODAY.minus(2),
                report_type: ReportType::ClinicalDiagnosis,
                symptom_onset: false,
            });
            i.ble = vec![ble(TODAY, 50, 3600)];
        }),
        case(
            "diagnosis_listed_after_red_and_lookback",
            "the phone's own diagnosis is listed whenever it is given, even after red ended and its day left the \
             lookback window; an exposure that old is not",
            |i| {
                i.diagnosis = Some(Diagnosis {
                    day: TODAY.minus(20),
                    report_type: ReportType::ConfirmedTest,
                    symptom_onset: false,
                });
                i.ble = vec![ble(TODAY.minus(20), 50, 3600)];
            },
        ),
        Case {
            name: "custom_policy_weights",
            description: "a custom policy: 8 min at 45 dB weighs 200 % (16) + 8 min at 60 dB at 50 % (4) = 20",
            policy: "custom",
            inputs: ColorInputs {
                ble: vec![
                    BleContact { transmission_risk: risk(0), ..ble(TODAY.minus(1), 45, 480) },
                    ble(TODAY.minus(1), 60, 480),
                    ble(TODAY.minus(11), 45, 3600),
                ],
                venues: vec![venue(TODAY.minus(2), 14)],
                ..base()
            },
        },
        Case {
            name: "custom_policy_overlap_by_kind",
            description: "the custom policy's overlap depends on the poster's kind: a bus (transit) needs 45 minutes, \
                 so 44 do not qualify; a shop never qualifies, even after 600 minutes; a care home needs 5",
            policy: "custom",
            inputs: ColorInputs {
                venues: vec![
                    visit(VenueKind::Transit, TODAY.minus(4), 44),
                    visit(VenueKind::Shop, TODAY.minus(3), 600),
                    visit(VenueKind::Care, TODAY.minus(2), 5),
                ],
                ..base()
            },
        },
        Case {
            name: "custom_policy_never_kind_alone",
            description: "under the custom policy, visits of a kind that never alerts leave the phone green and are \
                 listed with no threshold",
            policy: "custom",
            inputs: ColorInputs { venues: vec![visit(VenueKind::Shop, TODAY.minus(1), 90)], ..base() },
        },
        Case {
            name: "custom_policy_stale_after_24h",
            description: "the custom policy turns stale after 24 hours",
            policy: "custom",
            inputs: ColorInputs { last_sync: Some(noon().minus(24 * HOUR + 1)), ..base() },
        },
    ]
}

fn policy_named(name: &str) -> ColorPolicy {
    match name {
        "recommended" => recommended_policy(),
        "custom" => custom_policy(),
        other => panic!("unknown policy {other}"),
    }
}

fn inputs_json(i: &ColorInputs) -> Value {
    json!({
        "now": i.now.0,
        "last_sync": i.last_sync.map(|t| t.0),
        "diagnosis": i.diagnosis.map(|d| json!({
            "day": d.day.0,
            "report_type": d.report_type.to_byte(),
        })),
        "ble": i.ble.iter().map(|c| json!({
            "day": c.day.0,
            "attenuation_db": c.attenuation_db,
            "seconds": c.seconds,
            "transmission_risk": c.transmission_risk.level(),
        })).collect::<Vec<_>>(),
        "venues": i.venues.iter().map(|v| json!({
            "day": v.day.0,
            "start": v.start.0,
            "end": v.end.0,
            "overlap_minutes": v.overlap_minutes,
            "venue_kind": v.kind.to_byte(),
        })).collect::<Vec<_>>(),
    })
}

fn inputs_from_json(v: &Value) -> ColorInputs {
    let list = |field: &str| v[field].as_array().unwrap_or_else(|| panic!("{field} is a list")).clone();
    ColorInputs {
        now: UnixTime(common::uint(v, "now")),
        last_sync: v["last_sync"].as_u64().map(UnixTime),
        diagnosis: (!v["diagnosis"].is_null()).then(|| {
            let d = &v["diagnosis"];
            Diagnosis {
                day: DayNumber(small(d, "day")),
                report_type: ReportType::from_byte(small(d, "report_type")).expect("report type"),
                // The vectors date diagnoses by the test (the rules do not look).
                symptom_onset: false,
            }
        }),
        ble: list("ble")
            .iter()
            .map(|c| BleContact {
                day: DayNumber(small(c, "day")),
                attenuation_db: small(c, "attenuation_db"),
                seconds: small(c, "seconds"),
                transmission_risk: TransmissionRisk::new(small(c, "transmission_risk")).expect("transmission risk"),
            })
            .collect(),
        venues: list("venues")
            .iter()
            .map(|e| VenueExposure {
                day: DayNumber(small(e, "day")),
                start: UnixTime(common::uint(e, "start")),
                end: UnixTime(common::uint(e, "end")),
                overlap_minutes: small(e, "overlap_minutes"),
                kind: VenueKind::from_byte(small(e, "venue_kind")).expect("venue kind"),
            })
            .collect(),
    }
}

fn evidence_json(e: &Evidence) -> Value {
    match e {
        Evidence::Diagnosis { day, report_type, until, .. } => json!({
            "kind": "diagnosis",
            "day": day.0,
            "report_type": report_type.to_byte(),
            "until": until.0,
        }),
        Evidence::BleDay { day, seconds_per_bucket, weighted_minutes, threshold_minutes, qualifies } => {
            json!({
                "kind": "ble_day",
                "day": day.0,
                "seconds_per_bucket": seconds_per_bucket,
                "weighted_minutes": weighted_minutes,
                "threshold_minutes": threshold_minutes,
                "qualifies": qualifies,
            })
        }
        Evidence::Venue { day, start, end, overlap_minutes, kind, threshold_minutes, qualifies } => json!({
            "kind": "venue",
            "day": day.0,
            "start": start.0,
            "end": end.0,
            "overlap_minutes": overlap_minutes,
            "venue_kind": kind.to_byte(),
            "threshold_minutes": threshold_minutes,
            "qualifies": qualifies,
        }),
        Evidence::Ignored { future, too_old, low_risk } => json!({
            "kind": "ignored",
            "future": future,
            "too_old": too_old,
            "low_risk": low_risk,
        }),
        Evidence::Stale { last_sync, limit_hours } => json!({
            "kind": "stale",
            "last_sync": last_sync.map(|t| t.0),
            "limit_hours": limit_hours,
        }),
    }
}

fn decision_json(d: &ColorDecision) -> Value {
    json!({
        "color": d.color.as_str(),
        "until": d.until.map(|t| t.0),
        "stale": d.stale,
        "policy_sequence": d.policy_sequence,
        "evidence": d.evidence.iter().map(evidence_json).collect::<Vec<_>>(),
    })
}

fn generate_color_vectors() -> Value {
    let policies: Vec<Value> = ["recommended", "custom"]
        .into_iter()
        .map(|name| json!({ "name": name, "body": common::hex(policy_named(name).encode_body()) }))
        .collect();
    let cases: Vec<Value> = color_cases()
        .into_iter()
        .map(|c| {
            let decision = decide(&policy_named(c.policy), &c.inputs);
            json!({
                "name": c.name,
                "description": c.description,
                "policy": c.policy,
                "inputs": inputs_json(&c.inputs),
                "expected": decision_json(&decision),
            })
        })
        .collect();
    json!({
        "description": "Greenlight color function (spec/protocol.md §14). For each case, decode \
            the named policy body, run the color function on the inputs and compare every \
            expected field, evidence included and in order. Times are Unix seconds, days are \
            Unix seconds / 86400, report_type is the wire byte (1 confirmed test, 2 clinical), \
            seconds_per_bucket is ordered immediate, near, medium, other, venue_kind is the \
            poster's kind byte (0 other, 1 shop, 2 restaurant, 3 transit, 4 workplace, 5 event, \
            6 leisure, 7 education, 8 care) and a venue's threshold_minutes is null when the policy \
            says visits of that kind never count.",
        "policies": policies,
        "cases": cases,
    })
}

#[test]
fn color_vectors_match_the_generator() {
    common::check_or_bless("color", &generate_color_vectors());
}

#[test]
fn committed_color_vectors_verify() {
    let v = common::load("color");
    let policies: Vec<(String, ColorPolicy)> = v["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("name").to_owned();
            let policy = ColorPolicy::decode_body(&common::unhex(p, "body"))
                .unwrap_or_else(|e| panic!("policy {name} decodes: {e}"));
            (name, policy)
        })
        .collect();
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    let mut colors_seen = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let policy_name = case["policy"].as_str().expect("policy");
        let policy = &policies
            .iter()
            .find(|(n, _)| n == policy_name)
            .unwrap_or_else(|| panic!("{name}: unknown policy {policy_name}"))
            .1;
        let inputs = inputs_from_json(&case["inputs"]);
        let decision = decide(policy, &inputs);
        assert_eq!(decision_json(&decision), case["expected"], "{name}");
        colors_seen.push(decision.color);
    }
    for color in [Color::Green, Color::Yellow, Color::Red, Color::Stale] {
        assert!(colors_seen.contains(&color), "the vectors exercise {color}");
    }
}
