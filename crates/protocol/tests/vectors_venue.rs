//! Known-answer vectors for venues: posters, authority shares, sealed
//! check-ins, releases, trace entries and batches:
//! `spec/vectors/venue.json`.
//!
//! Every random input an operation consumed is recorded, so the assertion
//! test replays it and recomputes every output from the JSON alone.

mod common;

use common::{RecordingRng, ReplayRng, hex, uint, unhex, unhex_array};
use greenlight_protocol::Error;
use greenlight_protocol::checkin::{CheckInDayKey, SealedCheckIn, VenueMatcher};
use greenlight_protocol::export::Region;
use greenlight_protocol::signing::{SigningKey, TrustedKeys};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{
    FeedRequest, ReleaseBundle, ReleaseRequest, RevealedCheckIn, TraceBatch, TraceEntry, TraceSecret,
};
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
use rand_core::Rng;
use serde_json::{Value, json};

const NAME: &str = "venue";
const EPOCH_START: u64 = 1_728_000_000; // 2024-10-04T00:00:00Z, day 20000
const MESSAGE: &str = "A visitor later tested positive. Watch for symptoms for 10 days.";

fn info() -> VenueInfo {
    VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant }
}

/// The longest name and address a poster holds: 40 ideographs each, 120
/// bytes of UTF-8 (protocol §7.2).
fn longest_info() -> VenueInfo {
    VenueInfo {
        name: "朝阳区人民医院门诊部".repeat(4),
        address: "北京市朝阳区工人体育场北路甲二号".repeat(3)[..120].to_owned(),
        kind: VenueKind::Care,
    }
}

fn generate() -> Value {
    let mut rng = RecordingRng::new(NAME);
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let authority_signing = SigningKey::from_bytes(&seed);
    let mut trace_secret = [0u8; 32];
    rng.fill_bytes(&mut trace_secret);
    let authority = AuthorityShareKey::from_bytes(&trace_secret).expect("any 32 bytes");
    let venue = VenueMasterSecret::generate(&mut rng);
    rng.take();

    let epoch = Epoch::new(UnixTime(EPOCH_START), 1440).expect("epoch");
    let opened = venue.open_epoch(epoch, &authority.public_key(), &mut rng).expect("open");
    let hpke_randomness = rng.take();
    let poster = venue.poster(&info(), &opened, epoch.start(), epoch.end()).expect("poster");
    let longest = venue.poster(&longest_info(), &opened, epoch.start(), epoch.end()).expect("longest poster");

    let owner_share = venue.owner_share(&epoch);
    let authority_share = authority.open_share(&venue.public_key(), &opened).expect("share");
    let secret = TraceSecret::combine(&owner_share, &authority_share, &opened).expect("combine");

    let mut day_secret = [0u8; 32];
    rng.fill_bytes(&mut day_secret);
    rng.take();
    let day_key = CheckInDayKey::from_bytes(epoch.day(), day_secret);
    let arrival = UnixTime(EPOCH_START + 18 * 3600);
    let departure = UnixTime(EPOCH_START + 20 * 3600);
    let record = poster.check_in(&day_key, arrival, departure, &mut rng).expect("check in");
    let checkin_randomness = rng.take();

    let window = (UnixTime(EPOCH_START + 19 * 3600), UnixTime(EPOCH_START + 21 * 3600));
    let entry = TraceEntry::new(&secret, &opened, window.0, window.1, MESSAGE, &mut rng).expect("entry");
    let entry_randomness = rng.take();
    let batch =
        TraceBatch::new(Region::new("XA").expect("region"), 1, UnixTime(EPOCH_START + 3 * 86_400), vec![entry.clone()])
            .expect("batch");

    let request =
        ReleaseRequest::new(venue.public_key(), UnixTime(EPOCH_START + 2 * 86_400), vec![epoch]).expect("request");
    let bundle = venue.release(&request, &[opened]).expect("release");
    let revealed = RevealedCheckIn { poster: poster.clone(), arrival, departure };

    json!({
        "description": "Greenlight v1 venue vectors: see spec/protocol.md §7-§9. Scalars are 32-byte little-endian; randomness fields list the bytes each operation drew from its RNG, in order.",
        "authority": {
            "signing_seed": hex(seed),
            "signing_public": hex(authority_signing.verifying_key().as_bytes()),
            "share_key_secret": hex(trace_secret),
            "share_key_public": hex(authority.public_key().0),
        },
        "venue": {
            "master_secret": hex(venue.expose_secret()),
            "public_key": hex(venue.public_key().as_bytes()),
            "info": {"name": info().name, "address": info().address, "kind": info().kind.to_byte()},
        },
        "epoch": {
            "start": EPOCH_START,
            "minutes": 1440,
            "hpke_randomness": hpke_randomness,
            "owner_share": hex(*owner_share.to_bytes()),
            "share_enc": hex(opened.share_enc),
            "authority_share": hex(*authority_share.to_bytes()),
            "trace_secret": hex(*secret.to_bytes()),
            "trace_key": hex(opened.trace_key),
        },
        "poster": {
            "live_from": EPOCH_START,
            "live_until": EPOCH_START + 86_400,
            "bytes": hex(poster.to_bytes()),
            "text": poster.to_text(),
            "checks": [
                {"now": EPOCH_START + 3600, "tolerance": 120, "result": "ok"},
                {"now": EPOCH_START + 86_400 + 121, "tolerance": 120, "result": "expired"},
                {"now": EPOCH_START - 121, "tolerance": 120, "result": "not_yet_valid"},
            ],
        },
        "poster_longest": {
            "info": {"name": longest_info().name, "address": longest_info().address, "kind": longest_info().kind.to_byte()},
            "text": longest.to_text(),
        },
        "check_in": {
            "day": epoch.day().0,
            "day_secret": hex(day_secret),
            "day_public": hex(day_key.public().public),
            "arrival": arrival.0,
            "departure": departure.0,
            "randomness": checkin_randomness,
            "tag": hex(record.tag),
            "record": hex(record.to_bytes()),
        },
        "trace_entry": {
            "window_start": window.0.0,
            "window_end": window.1.0,
            "message": MESSAGE,
            "randomness": entry_randomness,
            "bytes": hex(entry.to_bytes()),
            "expected_overlap_minutes": 60,
            "shared_unclamped": hex(shared(&secret.to_bytes(), &day_key.public().public, false)),
            "shared_if_clamped": hex(shared(&secret.to_bytes(), &day_key.public().public, true)),
        },
        "trace_batch": {
            "region": "XA",
            "sequence": 1,
            "created_at": EPOCH_START + 3 * 86_400,
            "signed": hex(batch.sign(&authority_signing)),
        },
        "release": {
            "issued_at": EPOCH_START + 2 * 86_400,
            "request": hex(request.sign(&authority_signing)),
            "bundle": hex(&bundle),
        },
        "revealed_check_in": hex(revealed.to_bytes()),
        "feed_request": feed_request(&authority_signing),
    })
}

/// §9.7: the authority's signed request for revealed check-ins, and what
/// a key server's clock makes of it (300 seconds either way).
fn feed_request(authority: &SigningKey) -> Value {
    let at = EPOCH_START + 2 * 86_400 + 3600;
    let request = FeedRequest { since: UnixTime(EPOCH_START + 2 * 86_400 - 3600), at: UnixTime(at) };
    let checks: Vec<Value> =
        [(at, "ok"), (at + 300, "ok"), (at + 301, "expired"), (at - 300, "ok"), (at - 301, "not_yet_valid")]
            .iter()
            .map(|(now, result)| json!({ "now": now, "result": result }))
            .collect();
    json!({
        "since": request.since.0,
        "at": request.at.0,
        "signed": hex(request.sign(authority)),
        "checks": checks,
    })
}

/// §8.3 `Z' = u([t]·E_d)`: the Montgomery ladder by the canonical scalar
/// `t` as it is (`clamped = false`), or what a library's X25519 function
/// computes after clamping `t` (`clamped = true`), which is wrong here.
fn shared(t: &[u8; 32], day_public: &[u8; 32], clamped: bool) -> [u8; 32] {
    let point = curve25519_dalek::montgomery::MontgomeryPoint(*day_public);
    if clamped {
        point.mul_clamped(*t).to_bytes()
    } else {
        let scalar = Option::<curve25519_dalek::Scalar>::from(curve25519_dalek::Scalar::from_canonical_bytes(*t))
            .expect("t is canonical");
        (point * scalar).to_bytes()
    }
}

#[test]
fn vectors_regenerate_without_drift() {
    common::check_or_bless(NAME, &generate());
}

#[test]
fn committed_venue_vectors_hold() {
    let v = common::load(NAME);
    let (a, ven, ep, po, ci, te) =
        (&v["authority"], &v["venue"], &v["epoch"], &v["poster"], &v["check_in"], &v["trace_entry"]);

    let authority_signing = SigningKey::from_bytes(&unhex_array(a, "signing_seed"));
    assert_eq!(authority_signing.verifying_key().as_bytes().to_vec(), unhex(a, "signing_public"));
    let authority = AuthorityShareKey::from_bytes(&unhex_array(a, "share_key_secret")).expect("key");
    assert_eq!(authority.public_key().0.to_vec(), unhex(a, "share_key_public"));
    let venue = VenueMasterSecret::from_bytes(unhex_array(ven, "master_secret"));
    assert_eq!(venue.public_key().as_bytes().to_vec(), unhex(ven, "public_key"));
    let info = VenueInfo {
        name: ven["info"]["name"].as_str().expect("name").into(),
        address: ven["info"]["address"].as_str().expect("address").into(),
        kind: VenueKind::from_byte(u8::try_from(uint(&ven["info"], "kind")).expect("kind")).expect("kind"),
    };

    let epoch = Epoch::new(UnixTime(uint(ep, "start")), u16::try_from(uint(ep, "minutes")).expect("m")).expect("epoch");
    assert_eq!(venue.owner_share(&epoch).to_bytes().to_vec(), unhex(ep, "owner_share"));
    let mut hpke_rng = ReplayRng::new(ep, "hpke_randomness");
    let opened = venue.open_epoch(epoch, &authority.public_key(), &mut hpke_rng).expect("open");
    hpke_rng.finish();
    assert_eq!(opened.share_enc.to_vec(), unhex(ep, "share_enc"));
    assert_eq!(opened.trace_key.to_vec(), unhex(ep, "trace_key"));
    let authority_share = authority.open_share(&venue.public_key(), &opened).expect("share");
    assert_eq!(authority_share.to_bytes().to_vec(), unhex(ep, "authority_share"));
    let secret = TraceSecret::combine(&venue.owner_share(&epoch), &authority_share, &opened).expect("combine");
    assert_eq!(secret.to_bytes().to_vec(), unhex(ep, "trace_secret"));

    let poster = venue
        .poster(&info, &opened, UnixTime(uint(po, "live_from")), UnixTime(uint(po, "live_until")))
        .expect("poster");
    assert_eq!(poster.to_bytes(), unhex(po, "bytes"));
    assert_eq!(poster.to_text(), po["text"].as_str().expect("text"));
    let scanned = Poster::from_text(po["text"].as_str().expect("text")).expect("poster verifies");

    // The longest poster: 40 ideographs of name and of address, each 120
    // bytes, read back exactly.
    let pl = &v["poster_longest"];
    let longest = VenueInfo {
        name: pl["info"]["name"].as_str().expect("name").into(),
        address: pl["info"]["address"].as_str().expect("address").into(),
        kind: VenueKind::from_byte(u8::try_from(uint(&pl["info"], "kind")).expect("kind")).expect("kind"),
    };
    assert_eq!((longest.name.chars().count(), longest.name.len()), (40, 120));
    assert_eq!((longest.address.chars().count(), longest.address.len()), (40, 120));
    let longest_poster =
        venue.poster(&longest, &opened, UnixTime(uint(po, "live_from")), UnixTime(uint(po, "live_until")));
    assert_eq!(longest_poster.expect("the longest poster").to_text(), pl["text"].as_str().expect("text"));
    let read = Poster::from_text(pl["text"].as_str().expect("text")).expect("the longest poster verifies");
    assert_eq!(read.info(), &longest);
    for check in po["checks"].as_array().expect("array") {
        let result = match scanned.check_live(UnixTime(uint(check, "now")), uint(check, "tolerance")) {
            Ok(()) => "ok",
            Err(Error::Expired) => "expired",
            Err(Error::NotYetValid) => "not_yet_valid",
            Err(e) => panic!("unexpected {e}"),
        };
        assert_eq!(result, check["result"].as_str().expect("result"));
    }

    let day_key = CheckInDayKey::from_bytes(
        DayNumber(u32::try_from(uint(ci, "day")).expect("day")),
        unhex_array(ci, "day_secret"),
    );
    assert_eq!(day_key.public().public.to_vec(), unhex(ci, "day_public"));
    let mut nonce_rng = ReplayRng::new(ci, "randomness");
    let record = scanned
        .check_in(&day_key, UnixTime(uint(ci, "arrival")), UnixTime(uint(ci, "departure")), &mut nonce_rng)
        .expect("check in");
    nonce_rng.finish();
    assert_eq!(record.to_bytes(), unhex(ci, "record"));
    assert_eq!(record.tag.to_vec(), unhex(ci, "tag"));
    // Restored with the public half a store kept beside the secret, the
    // key seals the same record.
    let restored = CheckInDayKey::from_parts(unhex_array(ci, "day_secret"), &day_key.public());
    assert_eq!(restored.public(), day_key.public());
    let mut nonce_rng = ReplayRng::new(ci, "randomness");
    let again = scanned
        .check_in(&restored, UnixTime(uint(ci, "arrival")), UnixTime(uint(ci, "departure")), &mut nonce_rng)
        .expect("check in");
    nonce_rng.finish();
    assert_eq!(again.to_bytes(), unhex(ci, "record"));

    let mut entry_rng = ReplayRng::new(te, "randomness");
    let entry = TraceEntry::new(
        &secret,
        &opened,
        UnixTime(uint(te, "window_start")),
        UnixTime(uint(te, "window_end")),
        te["message"].as_str().expect("message"),
        &mut entry_rng,
    )
    .expect("entry");
    entry_rng.finish();
    assert_eq!(entry.to_bytes(), unhex(te, "bytes"));

    let tb = &v["trace_batch"];
    let batch = TraceBatch::new(
        Region::new(tb["region"].as_str().expect("region")).expect("region"),
        uint(tb, "sequence"),
        UnixTime(uint(tb, "created_at")),
        vec![entry],
    )
    .expect("batch");
    assert_eq!(batch.sign(&authority_signing), unhex(tb, "signed"));
    let authority_keys = TrustedKeys::from_keys([authority_signing.verifying_key()]);
    let published = TraceBatch::verify(&unhex(tb, "signed"), &authority_keys).expect("batch verifies");

    // The visitor's phone finds its record with only the published batch.
    let stored = SealedCheckIn::from_bytes(&unhex(ci, "record")).expect("record parses");
    let found = VenueMatcher::new(&[day_key.public()], vec![stored]).match_entries(&published.entries);
    assert_eq!(found.len(), 1);
    assert_eq!(u64::from(found[0].overlap_minutes), uint(te, "expected_overlap_minutes"));
    // §8.3: the unclamped product is what found the record; a clamped
    // X25519 call gives another value, with which nothing would be found.
    let t: [u8; 32] = unhex_array(ep, "trace_secret");
    let e_d: [u8; 32] = unhex_array(ci, "day_public");
    assert_eq!(shared(&t, &e_d, false).to_vec(), unhex(te, "shared_unclamped"));
    assert_eq!(shared(&t, &e_d, true).to_vec(), unhex(te, "shared_if_clamped"));
    assert_ne!(unhex(te, "shared_unclamped"), unhex(te, "shared_if_clamped"));
    assert_eq!(found[0].message, te["message"].as_str().expect("message"));

    let rel = &v["release"];
    let request =
        ReleaseRequest::new(venue.public_key(), UnixTime(uint(rel, "issued_at")), vec![epoch]).expect("request");
    assert_eq!(request.sign(&authority_signing), unhex(rel, "request"));
    assert_eq!(ReleaseRequest::verify(&unhex(rel, "request"), &authority_keys).expect("verifies"), request);
    assert_eq!(venue.release(&request, &[opened]).expect("release"), unhex(rel, "bundle"));
    let bundle = ReleaseBundle::verify(&unhex(rel, "bundle")).expect("bundle verifies");
    assert_eq!(bundle.releases[0].owner_share.to_bytes().to_vec(), unhex(ep, "owner_share"));

    let revealed = RevealedCheckIn::from_bytes(&unhex(&v, "revealed_check_in")).expect("reveal parses");
    assert_eq!(revealed.poster, scanned);
    assert_eq!(revealed.arrival.0, uint(ci, "arrival"));

    let feed = &v["feed_request"];
    let request = FeedRequest { since: UnixTime(uint(feed, "since")), at: UnixTime(uint(feed, "at")) };
    let signed = unhex(feed, "signed");
    assert_eq!(request.sign(&authority_signing), signed);
    for check in feed["checks"].as_array().expect("array") {
        let result = match FeedRequest::verify(&signed, &authority_keys, UnixTime(uint(check, "now"))) {
            Ok(verified) => {
                assert_eq!(verified, request);
                "ok"
            }
            Err(Error::Expired) => "expired",
            Err(Error::NotYetValid) => "not_yet_valid",
            Err(e) => panic!("unexpected {e}"),
        };
        assert_eq!(result, check["result"].as_str().expect("result"), "{check}");
    }
}
