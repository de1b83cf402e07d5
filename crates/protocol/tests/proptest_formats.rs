//! Property tests for the proximity and venue formats: every valid value
//! round-trips, and every truncated, extended or bit-flipped encoding is
//! refused with an error — at decoding, or at the authentication step that
//! follows it for the formats that carry no signature of their own — and
//! never with a panic.

use greenlight_protocol::advert::{Advertisement, ServiceUuid};
use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UploadHmacKey, upload_hmac};
use greenlight_protocol::checkin::{CheckInDayKey, SealedCheckIn, VenueMatcher};
use greenlight_protocol::daily_key::{DailyKey, EncryptedMetadata, EphemeralId, Metadata, PublishedKey};
use greenlight_protocol::error::Error;
use greenlight_protocol::export::Region;
use greenlight_protocol::matcher::{MatchConfig, Sighting, SightingIndex};
use greenlight_protocol::report::ReportType;
use greenlight_protocol::signing::{SignedFile, SigningKey, TrustedKeys, seal_file};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{
    RELEASE_BUNDLE_MAGIC, RELEASE_REQUEST_MAGIC, ReleaseBundle, ReleaseRequest, RevealedCheckIn, TRACE_BATCH_MAGIC,
    TraceBatch, TraceEntry, TraceSecret,
};
use greenlight_protocol::venue::{
    AuthorityShareKey, Epoch, Poster, PosterEpoch, VenueInfo, VenueKind, VenueMasterSecret,
};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One way to damage an encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Extend(u8),
    FlipBit(usize),
}

fn mutation(len: usize) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..len).prop_map(Mutation::Truncate),
        any::<u8>().prop_map(Mutation::Extend),
        (0..len * 8).prop_map(Mutation::FlipBit),
    ]
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match *m {
        Mutation::Truncate(n) => out.truncate(n),
        Mutation::Extend(b) => out.push(b),
        Mutation::FlipBit(bit) => out[bit / 8] ^= 1 << (bit % 8),
    }
    out
}

const T0: u64 = 1_728_000_000;

/// Keys, a poster, a check-in and a trace for it, built once.
struct Fixture {
    authority_signing: SigningKey,
    authority_keys: TrustedKeys,
    venue: VenueMasterSecret,
    opened: PosterEpoch,
    poster: Poster,
    day_key: CheckInDayKey,
    record: SealedCheckIn,
    entry: TraceEntry,
    batch: Vec<u8>,
    request: Vec<u8>,
    bundle: Vec<u8>,
    revealed: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let authority_signing = SigningKey::from_bytes(&[3; 32]);
        let authority_keys = TrustedKeys::from_keys([authority_signing.verifying_key()]);
        let authority = AuthorityShareKey::generate(&mut rng);
        let venue = VenueMasterSecret::generate(&mut rng);
        let epoch = Epoch::new(UnixTime(T0), 1440).expect("epoch");
        let opened = venue.open_epoch(epoch, &authority.public_key(), &mut rng).expect("open");
        let info = VenueInfo { name: "Bakery".into(), address: "1 Mill Lane".into(), kind: VenueKind::Shop };
        let poster = venue.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster");
        let day_key = CheckInDayKey::generate(epoch.day(), &mut rng);
        let record = poster.check_in(&day_key, UnixTime(T0 + 600), UnixTime(T0 + 3000), &mut rng).expect("check in");
        let share = authority.open_share(&venue.public_key(), &opened).expect("share");
        let secret = TraceSecret::combine(&venue.owner_share(&epoch), &share, &opened).expect("combine");
        let entry = TraceEntry::new(&secret, &opened, UnixTime(T0), UnixTime(T0 + 7200), "Get tested.", &mut rng)
            .expect("entry");
        let batch = TraceBatch::new(Region::new("XA").expect("region"), 1, UnixTime(T0 + 86_400), vec![entry.clone()])
            .expect("batch")
            .sign(&authority_signing);
        let request = ReleaseRequest::new(venue.public_key(), UnixTime(T0), vec![epoch]).expect("request");
        let bundle = venue.release(&request, &[opened]).expect("release");
        let request = request.sign(&authority_signing);
        let revealed =
            RevealedCheckIn { poster: poster.clone(), arrival: UnixTime(T0 + 600), departure: UnixTime(T0 + 3000) }
                .to_bytes();
        Fixture {
            authority_signing,
            authority_keys,
            venue,
            opened,
            poster,
            day_key,
            record,
            entry,
            batch,
            request,
            bundle,
            revealed,
        }
    })
}

/// Whether the fixture's phone still finds its check-in given these bytes
/// for the record.
fn record_still_matches(record_bytes: &[u8]) -> bool {
    let f = fixture();
    let Ok(record) = SealedCheckIn::from_bytes(record_bytes) else { return false };
    let matcher = VenueMatcher::new(&[f.day_key.public()], vec![record]);
    !matcher.match_entries(std::slice::from_ref(&f.entry)).is_empty()
}

/// The fixture's signed trace batch, release request and release bundle.
fn signed_file(which: usize) -> &'static [u8] {
    let f = fixture();
    [&f.batch, &f.request, &f.bundle][which]
}

/// Bytes that get past a format's first checks (magic, version, length) to
/// the parser behind them: a valid encoding with a random stretch
/// overwritten in place (same length), with its last few bytes replaced
/// (the fields after a signed inner part, such as a reveal's times), or cut
/// anywhere and continued with random bytes (the leading fields stay valid).
fn near(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    let cut = valid.clone();
    let end = valid.clone();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..=len.min(16)).prop_map(move |junk| {
            let mut out = end.clone();
            out[len - junk.len()..].copy_from_slice(&junk);
            out
        }),
        (0..len, proptest::collection::vec(any::<u8>(), 1..=len)).prop_map(move |(at, junk)| {
            let mut out = valid.clone();
            let end = (at + junk.len()).min(len);
            out[at..end].copy_from_slice(&junk[..end - at]);
            out
        }),
        (0..=len, proptest::collection::vec(any::<u8>(), 0..len + 16)).prop_map(move |(at, tail)| {
            let mut out = cut[..at].to_vec();
            out.extend(tail);
            out
        }),
    ]
}

/// The formats `decoders_reach_their_parsers_and_never_panic` feeds, by
/// number, and a valid encoding of each (for a signed file, its body).
const FORMATS: usize = 10;

fn valid_encoding(format: usize) -> Vec<u8> {
    let f = fixture();
    let body = |file: &[u8], magic: &[u8; 8]| SignedFile::parse(magic, file).expect("signed file").body.to_vec();
    let ad = Advertisement { id: EphemeralId([1; 16]), metadata: EncryptedMetadata([2; 4]) };
    match format {
        0 => f.poster.to_bytes(),
        1 => f.poster.to_text().into_bytes(),
        2 => f.record.to_bytes(),
        3 => f.entry.to_bytes(),
        4 => body(&f.batch, TRACE_BATCH_MAGIC),
        5 => body(&f.request, RELEASE_REQUEST_MAGIC),
        6 => body(&f.bundle, RELEASE_BUNDLE_MAGIC),
        7 => f.revealed.clone(),
        8 => f.opened.to_bytes().to_vec(),
        _ => ad.encode(ServiceUuid::PLACEHOLDER).to_vec(),
    }
}

/// Feeds `bytes` to the decoder of `format` (a body is sealed again with a
/// key the decoder trusts, as `fuzz/src/lib.rs::reseal` does, so the parser
/// behind the signature check sees it), and checks that what decodes is
/// the one encoding of its value.
fn decode(format: usize, bytes: &[u8]) -> Result<(), TestCaseError> {
    let f = fixture();
    let key = &f.authority_signing;
    match format {
        0 => {
            if let Ok(poster) = Poster::from_bytes(bytes) {
                prop_assert_eq!(poster.to_bytes(), bytes);
            }
        }
        1 => {
            if let Ok(poster) = Poster::from_text(&String::from_utf8_lossy(bytes)) {
                prop_assert_eq!(Poster::from_text(&poster.to_text()), Ok(poster));
            }
        }
        2 => {
            if let Ok(record) = SealedCheckIn::from_bytes(bytes) {
                prop_assert_eq!(record.to_bytes(), bytes);
            }
        }
        3 => {
            if let Ok(entry) = TraceEntry::from_bytes(bytes) {
                prop_assert_eq!(entry.to_bytes(), bytes);
            }
        }
        4 => {
            let file = seal_file(TRACE_BATCH_MAGIC, bytes, key);
            if let Ok(batch) = TraceBatch::verify(&file, &f.authority_keys) {
                prop_assert_eq!(batch.sign(key), file);
            }
        }
        5 => {
            let file = seal_file(RELEASE_REQUEST_MAGIC, bytes, key);
            if let Ok(request) = ReleaseRequest::verify(&file, &f.authority_keys) {
                prop_assert_eq!(request.sign(key), file);
            }
        }
        6 => {
            // A bundle names the key it is signed with (after the version
            // byte): name ours and sign with it.
            let mut body = bytes.to_vec();
            if body.len() >= 33 {
                body[1..33].copy_from_slice(key.verifying_key().as_bytes());
            }
            if let Ok(bundle) = ReleaseBundle::verify(&seal_file(RELEASE_BUNDLE_MAGIC, &body, key)) {
                prop_assert_eq!(bundle.venue, key.verifying_key());
            }
        }
        7 => {
            if let Ok(revealed) = RevealedCheckIn::from_bytes(bytes) {
                prop_assert_eq!(revealed.to_bytes(), bytes);
            }
        }
        8 => {
            if let Ok(epoch) = PosterEpoch::from_bytes(bytes) {
                prop_assert_eq!(epoch.to_bytes().to_vec(), bytes);
            }
        }
        _ => {
            if let Ok(ad) = Advertisement::decode(bytes, ServiceUuid::PLACEHOLDER) {
                prop_assert_eq!(&ad.service_data()[..], &bytes[bytes.len() - 20..]);
            }
            if let Ok(ad) = Advertisement::from_service_data(bytes) {
                prop_assert_eq!(&ad.service_data()[..], bytes);
            }
        }
    }
    Ok(())
}

/// The first day of the matcher property's 14-day window.
const FIRST_DAY: DayNumber = DayNumber(20_000);

fn venue_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9 .,'&äöüéß-]{0,40}")
        .expect("regex")
        .prop_filter("fits", move |s| s.len() <= max)
}

proptest! {
    #[test]
    fn advertisements_round_trip(id in any::<[u8; 16]>(), meta in any::<[u8; 4]>(), uuid in any::<u16>()) {
        let ad = Advertisement { id: EphemeralId(id), metadata: EncryptedMetadata(meta) };
        let uuid = ServiceUuid(uuid);
        prop_assert_eq!(Advertisement::decode(&ad.encode(uuid), uuid), Ok(ad));
        prop_assert_eq!(Advertisement::from_service_data(&ad.service_data()), Ok(ad));
    }

    #[test]
    fn damaged_advertisements_never_pass_decoding_and_authentication(
        key in any::<[u8; 16]>(), slot in 0u8..144, tx in any::<i8>(), m in mutation(31),
    ) {
        let schedule = DailyKey::from_bytes(key).schedule(DayNumber(20_000));
        let id = schedule.id(slot);
        let ad = Advertisement { id, metadata: schedule.seal_metadata(&id, Metadata::v1(tx)) };
        let damaged = apply(&ad.encode(ServiceUuid::PLACEHOLDER), &m);
        // The flags byte is the OS's to set: changing it is not damage.
        if matches!(m, Mutation::FlipBit(bit) if bit / 8 == 2) {
            return Ok(());
        }
        let accepted = Advertisement::decode(&damaged, ServiceUuid::PLACEHOLDER)
            .ok()
            .filter(|d| d.id == id)
            .map(|d| schedule.open_metadata(&d.id, &d.metadata));
        // Either decoding fails, the ID no longer belongs to the key (so it
        // never matches), or the metadata tag fails.
        prop_assert!(!matches!(accepted, Some(Ok(_))), "{:?} passed", m);
    }

    #[test]
    fn posters_round_trip(
        name in venue_text(40).prop_filter("non-empty", |s| !s.trim().is_empty()),
        address in venue_text(40),
        kind in 0u8..9,
        start_minute in 0u32..60_000_000,
        minutes in 1u16..=1440,
        window in any::<(u16, u16)>(),
    ) {
        let f = fixture();
        let (a, b) = (window.0 % minutes, window.1 % minutes);
        let (from, until) = (a.min(b), a.max(b) + 1);
        let epoch = Epoch::new(UnixTime::from_minutes(start_minute), minutes).expect("epoch");
        let opened = PosterEpoch { epoch, ..f.opened };
        let info = VenueInfo { name, address, kind: VenueKind::from_byte(kind).expect("kind") };
        let poster = f.venue.poster(
            &info,
            &opened,
            epoch.start().plus(u64::from(from) * 60),
            epoch.start().plus(u64::from(until) * 60),
        ).expect("valid poster");
        prop_assert_eq!(Poster::from_bytes(&poster.to_bytes()), Ok(poster.clone()));
        prop_assert_eq!(Poster::from_text(&poster.to_text()), Ok(poster.clone()));
        prop_assert!(poster.check_live(poster.live_from(), 0).is_ok());
        prop_assert!(poster.check_live(poster.live_until(), 0).is_err());
    }

    #[test]
    fn damaged_posters_are_refused(m in mutation(fixture().poster.to_bytes().len())) {
        let damaged = apply(&fixture().poster.to_bytes(), &m);
        prop_assert!(Poster::from_bytes(&damaged).is_err());
    }

    #[test]
    fn damaged_check_ins_are_never_opened(m in mutation(fixture().record.to_bytes().len())) {
        let f = fixture();
        prop_assert!(record_still_matches(&f.record.to_bytes()));
        prop_assert!(!record_still_matches(&apply(&f.record.to_bytes(), &m)), "{:?}", m);
    }

    #[test]
    fn damaged_trace_entries_match_nobody(m in mutation(fixture().entry.to_bytes().len())) {
        let f = fixture();
        let damaged = apply(&f.entry.to_bytes(), &m);
        if let Ok(entry) = TraceEntry::from_bytes(&damaged) {
            let matcher = VenueMatcher::new(&[f.day_key.public()], vec![f.record.clone()]);
            prop_assert!(matcher.match_entries(&[entry]).is_empty(), "{:?}", m);
        }
    }

    #[test]
    fn damaged_signed_trace_files_are_refused(
        (which, m) in (0usize..3).prop_flat_map(|w| (Just(w), mutation(signed_file(w).len()))),
    ) {
        let f = fixture();
        let bytes = signed_file(which);
        let damaged = apply(bytes, &m);
        let refused = match which {
            0 => TraceBatch::verify(&damaged, &f.authority_keys).is_err(),
            1 => ReleaseRequest::verify(&damaged, &f.authority_keys).is_err(),
            _ => ReleaseBundle::verify(&damaged).is_err(),
        };
        prop_assert!(refused, "{:?} of file {}", m, which);
    }

    #[test]
    fn damaged_reveals_are_refused_or_caught_by_the_upload_hmac(m in mutation(fixture().revealed.len())) {
        // The times are not signed by the venue: the upload HMAC in the
        // authority's certificate covers these bytes. Everything inside the
        // poster is signed, and the framing is strict.
        let f = fixture();
        let damaged = apply(&f.revealed, &m);
        match RevealedCheckIn::from_bytes(&damaged) {
            Err(_) => {}
            Ok(r) => {
                prop_assert_eq!(&r.poster, &f.poster);
                prop_assert!(matches!(m, Mutation::FlipBit(b) if b / 8 >= f.revealed.len() - 8), "{:?}", m);
            }
        }
        // The certificate was issued for the phone's upload of the intact
        // reveal; the key server's check of the damaged upload fails.
        let hmac_key = UploadHmacKey::from_bytes([5; 32]);
        let mac = upload_hmac(&hmac_key, &[], &[&f.revealed]).expect("mac");
        let certificate = Certificate::new(
            ReportType::ConfirmedTest,
            DayKind::TestDate,
            DayNumber(20_000),
            mac,
            UnixTime(T0),
            UnixTime(T0 + 3600),
            CertificateId([1; 16]),
        )
        .expect("certificate")
        .sign(&f.authority_signing);
        let verified = Certificate::verify(&certificate, &f.authority_keys, UnixTime(T0 + 60)).expect("verifies");
        prop_assert_eq!(verified.check_upload(&hmac_key, &[], &[&f.revealed]), Ok(()));
        prop_assert_eq!(verified.check_upload(&hmac_key, &[], &[&damaged]), Err(Error::BadMac), "{:?}", m);
    }

    #[test]
    fn the_matcher_never_panics_and_finds_only_heard_keys(
        heard in proptest::collection::vec(
            (any::<[u8; 16]>(), 0u32..14, proptest::collection::vec((0u8..144, 0u64..600, any::<i8>()), 1..4)),
            0..6,
        ),
        unheard in proptest::collection::vec((any::<[u8; 16]>(), 0u32..14), 0..20),
        noise in proptest::collection::vec(
            (any::<[u8; 16]>(), any::<[u8; 4]>(), any::<i8>(), 0..14 * 86_400u64),
            0..40,
        ),
        late in 0..3 * 86_400u64,
    ) {
        // Every time falls inside one 14-day window, so IDs are derived for
        // every key day that has sightings: keys really heard (their IDs at
        // their intervals, with sealed metadata) among unheard keys and
        // sightings of random IDs, all on the same days.
        let mut sightings = Vec::new();
        let mut keys: Vec<(PublishedKey, DayNumber, usize)> = Vec::new();
        for (key, day, heard_at) in &heard {
            let day = FIRST_DAY.plus(*day);
            let schedule = DailyKey::from_bytes(*key).schedule(day);
            for &(slot, offset, tx) in heard_at {
                let id = schedule.id(slot);
                sightings.push(Sighting {
                    id,
                    metadata: schedule.seal_metadata(&id, Metadata::v1(tx)),
                    rssi: -60,
                    seen_at: day.interval(slot).start().plus(offset),
                });
            }
            keys.push((PublishedKey(*key), day, heard_at.len()));
        }
        for (id, meta, rssi, t) in noise {
            sightings.push(Sighting {
                id: EphemeralId(id),
                metadata: EncryptedMetadata(meta),
                rssi,
                seen_at: FIRST_DAY.start().plus(t),
            });
        }
        keys.extend(unheard.iter().map(|(k, d)| (PublishedKey(*k), FIRST_DAY.plus(*d), 0)));
        // Heard and unheard keys mixed.
        keys.sort_by_key(|(k, _, _)| k.0);
        let index = SightingIndex::new(sightings, MatchConfig::default());
        // Published after the embargo of the window's last day.
        let published_at = FIRST_DAY.plus(14).start().plus(7200 + late);
        let input: Vec<(PublishedKey, DayNumber)> = keys.iter().map(|(k, d, _)| (*k, *d)).collect();
        let (matches, stats) = index.match_keys(input, published_at);
        prop_assert_eq!(stats.keys, keys.len() as u64);
        let found: BTreeMap<usize, usize> =
            matches.iter().filter(|m| !m.sightings.is_empty()).map(|m| (m.key, m.sightings.len())).collect();
        let expected: BTreeMap<usize, usize> =
            keys.iter().enumerate().filter(|(_, k)| k.2 > 0).map(|(i, k)| (i, k.2)).collect();
        prop_assert_eq!(found, expected, "{:?}", stats);
        prop_assert!(matches.iter().all(|m| m.rejected.is_empty()));
        if !heard.is_empty() {
            prop_assert!(stats.blocks_derived > 0, "{:?}", stats);
        }
    }
}

proptest! {
    // Enough cases that each of the ten formats is fed a few hundred inputs
    // that pass its first checks.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Arbitrary bytes to every decoder (signed files sealed again with a
    /// trusted key, so their bodies are parsed), and bytes that pass a
    /// format's magic, version and length checks to the parser behind them.
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        (format, near_valid) in (0..FORMATS).prop_flat_map(|format| (Just(format), near(valid_encoding(format)))),
    ) {
        for format in 0..FORMATS {
            decode(format, &bytes)?;
        }
        decode(format, &near_valid)?;
        let f = fixture();
        let _ = Poster::from_bytes(&bytes);
        let _ = Poster::from_text(&format!("GL1:{}", String::from_utf8_lossy(&bytes)));
        let _ = SealedCheckIn::from_bytes(&bytes);
        let _ = TraceEntry::from_bytes(&bytes);
        let _ = TraceBatch::verify(&bytes, &f.authority_keys);
        let _ = ReleaseRequest::verify(&bytes, &f.authority_keys);
        let _ = ReleaseBundle::verify(&bytes);
        let _ = RevealedCheckIn::from_bytes(&bytes);
        let _ = PosterEpoch::from_bytes(&bytes);
        let _ = Advertisement::decode(&bytes, ServiceUuid::PLACEHOLDER);
        let _ = Advertisement::from_service_data(&bytes);
    }
}

#[test]
fn the_fixture_is_consistent() {
    let f = fixture();
    assert!(record_still_matches(&f.record.to_bytes()));
    assert!(TraceBatch::verify(&f.batch, &f.authority_keys).is_ok());
    assert!(ReleaseRequest::verify(&f.request, &TrustedKeys::from_keys([f.authority_signing.verifying_key()])).is_ok());
    assert!(ReleaseBundle::verify(&f.bundle).is_ok());
}
