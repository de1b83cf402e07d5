//! Known-answer vectors for time, daily keys, ephemeral IDs, metadata, the
//! advertisement and the matcher: `spec/vectors/proximity.json`.

mod common;

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use common::{hex, uint, unhex, unhex_array};
use greenlight_protocol::advert::{Advertisement, ServiceUuid};
use greenlight_protocol::daily_key::{DailyKey, EncryptedMetadata, EphemeralId, Metadata, PublishedKey};
use greenlight_protocol::matcher::{MatchConfig, Rejection, Sighting, SightingIndex};
use greenlight_protocol::time::{DayNumber, UnixTime};
use hkdf::Hkdf;
use serde_json::{Value, json};
use sha2::Sha256;

const NAME: &str = "proximity";
const SLOTS: [u8; 8] = [0, 1, 2, 3, 4, 71, 142, 143];

fn generate() -> Value {
    let mut rng = common::rng(NAME);
    let time: Vec<Value> = [1_585_785_600u64, 1_728_000_000, 1_728_086_399, 1_728_086_400, 1_728_086_999]
        .iter()
        .map(|&t| {
            let u = UnixTime(t);
            json!({"unix": t, "interval": u.interval().0, "day": u.day().0, "slot": u.interval().slot()})
        })
        .collect();

    let mut keys = Vec::new();
    for (day, tx_power) in [(20_000u32, -12i8), (20_001, 4)] {
        let key = DailyKey::generate(&mut rng);
        let day = DayNumber(day);
        let schedule = key.schedule(day);
        let hk = Hkdf::<Sha256>::new(Some(b"greenlight/v1 daily key"), key.expose_secret());
        let mut id_key = [0u8; 32];
        let mut metadata_key = [0u8; 32];
        hk.expand_multi_info(&[b"greenlight/v1 id key", &day.0.to_le_bytes()], &mut id_key).expect("hkdf");
        hk.expand_multi_info(&[b"greenlight/v1 metadata key", &day.0.to_le_bytes()], &mut metadata_key).expect("hkdf");
        let ids: Vec<Value> = SLOTS
            .iter()
            .map(|&s| json!({"slot": s, "interval": day.interval(s).0, "id": hex(schedule.id(s).0)}))
            .collect();
        let metadata: Vec<Value> = [5u8, 143]
            .iter()
            .map(|&s| {
                let sealed = schedule.seal_metadata(&schedule.id(s), Metadata::v1(tx_power));
                json!({"slot": s, "version": Metadata::VERSION_1_0, "tx_power": tx_power, "sealed": hex(sealed.0)})
            })
            .collect();
        let id = schedule.id(5);
        let ad = Advertisement { id, metadata: schedule.seal_metadata(&id, Metadata::v1(tx_power)) };
        keys.push(json!({
            "key": hex(key.expose_secret()),
            "day": day.0,
            "id_key": hex(id_key),
            "metadata_key": hex(metadata_key),
            "ids": ids,
            "metadata": metadata,
            "advertisement": {"slot": 5, "uuid": ServiceUuid::PLACEHOLDER.0, "bytes": hex(ad.encode(ServiceUuid::PLACEHOLDER))},
        }));
    }

    // A matching scenario: a key heard in time, the same ID replayed late,
    // a tampered copy, a key nobody heard, and a key published too early.
    let day = DayNumber(20_000);
    let met = DailyKey::generate(&mut rng);
    let unheard = DailyKey::generate(&mut rng);
    let early = DailyKey::generate(&mut rng);
    let s = met.schedule(day);
    let sealed = s.seal_metadata(&s.id(60), Metadata::v1(-12));
    let start = day.interval(60).start().0;
    let mut tampered = sealed;
    tampered.0[1] ^= 0x20;
    let e = early.schedule(day.plus(1));
    let sightings = json!([
        {"id": hex(s.id(60).0), "metadata": hex(sealed.0), "rssi": -60, "seen_at": start + 30},
        {"id": hex(s.id(60).0), "metadata": hex(sealed.0), "rssi": -62, "seen_at": start + 900},
        {"id": hex(s.id(60).0), "metadata": hex(tampered.0), "rssi": -40, "seen_at": start + 60},
        {"id": hex(e.id(0).0), "metadata": hex(e.seal_metadata(&e.id(0), Metadata::v1(0)).0), "rssi": -50,
         "seen_at": day.plus(1).start().0 + 10},
    ]);
    let matching = json!({
        "tolerance_secs": 300,
        "embargo_secs": 7200,
        "published_at": day.end().0 + 7200,
        "keys": [
            {"key": hex(met.expose_secret()), "day": day.0},
            {"key": hex(unheard.expose_secret()), "day": day.0},
            {"key": hex(early.expose_secret()), "day": day.0 + 1},
        ],
        "sightings": sightings,
        "expected": [{"key": 0, "accepted": [0], "rejected": [[1, "outside_interval"], [2, "tampered_metadata"]]}],
    });

    json!({
        "description": "Greenlight v1 proximity vectors: see spec/protocol.md §3-§6. Hex is lower-case; integers are as in the spec.",
        "time": time,
        "daily_keys": keys,
        "matching": matching,
    })
}

#[test]
fn vectors_regenerate_without_drift() {
    common::check_or_bless(NAME, &generate());
}

#[test]
fn committed_time_vectors_hold() {
    for case in common::load(NAME)["time"].as_array().expect("array") {
        let t = UnixTime(uint(case, "unix"));
        assert_eq!(u64::from(t.interval().0), uint(case, "interval"));
        assert_eq!(u64::from(t.day().0), uint(case, "day"));
        assert_eq!(u64::from(t.interval().slot()), uint(case, "slot"));
    }
}

#[test]
fn committed_key_vectors_hold_for_an_independent_derivation() {
    for case in common::load(NAME)["daily_keys"].as_array().expect("array") {
        let key_bytes: [u8; 16] = unhex_array(case, "key");
        let day = DayNumber(u32::try_from(uint(case, "day")).expect("day"));

        // Recompute the two keys with HKDF directly, as the spec states it.
        let hk = Hkdf::<Sha256>::new(Some(b"greenlight/v1 daily key"), &key_bytes);
        let mut id_key = [0u8; 32];
        hk.expand_multi_info(&[b"greenlight/v1 id key", &day.0.to_le_bytes()], &mut id_key).expect("hkdf");
        assert_eq!(id_key.to_vec(), unhex(case, "id_key"));
        let mut metadata_key = [0u8; 32];
        hk.expand_multi_info(&[b"greenlight/v1 metadata key", &day.0.to_le_bytes()], &mut metadata_key).expect("hkdf");
        assert_eq!(metadata_key.to_vec(), unhex(case, "metadata_key"));

        // IDs: the ChaCha20 keystream, 16 bytes per slot.
        let mut stream = vec![0u8; 144 * 16];
        ChaCha20::new(&id_key.into(), &[0u8; 12].into()).apply_keystream(&mut stream);
        let schedule = PublishedKey(key_bytes).schedule(day);
        for id in case["ids"].as_array().expect("array") {
            let slot = u8::try_from(uint(id, "slot")).expect("slot");
            let expected = unhex(id, "id");
            assert_eq!(&stream[usize::from(slot) * 16..usize::from(slot) * 16 + 16], expected.as_slice());
            assert_eq!(schedule.id(slot).0.to_vec(), expected);
            assert_eq!(u64::from(day.interval(slot).0), uint(id, "interval"));
        }

        for m in case["metadata"].as_array().expect("array") {
            let slot = u8::try_from(uint(m, "slot")).expect("slot");
            let tx = i8::try_from(m["tx_power"].as_i64().expect("tx")).expect("tx");
            let id = schedule.id(slot);
            let sealed = EncryptedMetadata(unhex_array(m, "sealed"));
            assert_eq!(schedule.seal_metadata(&id, Metadata::v1(tx)), sealed);
            let opened = schedule.open_metadata(&id, &sealed).expect("tag verifies");
            assert_eq!((u64::from(opened.version), opened.tx_power), (uint(m, "version"), tx));
        }

        let ad = &case["advertisement"];
        let uuid = ServiceUuid(u16::try_from(uint(ad, "uuid")).expect("uuid"));
        let bytes = unhex(ad, "bytes");
        let decoded = Advertisement::decode(&bytes, uuid).expect("advertisement decodes");
        assert_eq!(decoded.id, schedule.id(u8::try_from(uint(ad, "slot")).expect("slot")));
        assert_eq!(decoded.encode(uuid).to_vec(), bytes);
    }
}

#[test]
fn committed_matching_scenario_holds() {
    let m = &common::load(NAME)["matching"];
    let sightings: Vec<Sighting> = m["sightings"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| Sighting {
            id: EphemeralId(unhex_array(s, "id")),
            metadata: EncryptedMetadata(unhex_array(s, "metadata")),
            rssi: i8::try_from(s["rssi"].as_i64().expect("rssi")).expect("rssi"),
            seen_at: UnixTime(uint(s, "seen_at")),
        })
        .collect();
    let keys: Vec<(PublishedKey, DayNumber)> = m["keys"]
        .as_array()
        .expect("array")
        .iter()
        .map(|k| (PublishedKey(unhex_array(k, "key")), DayNumber(u32::try_from(uint(k, "day")).expect("day"))))
        .collect();
    let config = MatchConfig { tolerance_secs: uint(m, "tolerance_secs"), embargo_secs: uint(m, "embargo_secs") };
    let index = SightingIndex::new(sightings, config);
    let (matches, stats) = index.match_keys(keys, UnixTime(uint(m, "published_at")));
    let found: Vec<Value> = matches
        .iter()
        .map(|k| {
            json!({
                "key": k.key,
                "accepted": k.sightings.iter().map(|s| s.sighting).collect::<Vec<_>>(),
                "rejected": k.rejected.iter().map(|(i, why)| json!([i, match why {
                    Rejection::OutsideInterval => "outside_interval",
                    Rejection::TamperedMetadata => "tampered_metadata",
                    Rejection::UnknownVersion => "unknown_version",
                }])).collect::<Vec<_>>(),
            })
        })
        .collect();
    assert_eq!(Value::Array(found), m["expected"]);
    assert_eq!(stats.keys_violating_embargo, 1, "the early key is ignored");
}
