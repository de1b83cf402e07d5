//! The two-party venue story at protocol level: posters, check-ins, a
//! diagnosed visitor's reveal, the owner's release, the trace entry, and who
//! turns out to have been there.

use greenlight_protocol::Error;
use greenlight_protocol::checkin::{CheckInDayKey, VenueMatcher};
use greenlight_protocol::export::Region;
use greenlight_protocol::signing::{SigningKey, TrustedKeys};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::{ReleaseBundle, ReleaseRequest, RevealedCheckIn, TraceBatch, TraceEntry, TraceSecret};
use greenlight_protocol::venue::{
    AuthorityShareKey, Epoch, Poster, PosterEpoch, VenueInfo, VenueKind, VenueMasterSecret,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const DAY: u64 = 86_400;
const T0: u64 = 20_000 * DAY; // midnight UTC of day 20000

struct Town {
    rng: ChaCha20Rng,
    authority_signing: SigningKey,
    authority_trace: AuthorityShareKey,
    venue: VenueMasterSecret,
    info: VenueInfo,
    log: Vec<PosterEpoch>,
}

impl Town {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut seed32 = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut rng, &mut seed32);
        let authority_signing = SigningKey::from_bytes(&seed32);
        let authority_trace = AuthorityShareKey::generate(&mut rng);
        let venue = VenueMasterSecret::generate(&mut rng);
        let info = VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
        Town { rng, authority_signing, authority_trace, venue, info, log: Vec::new() }
    }

    /// A printed poster for the day starting at `start`.
    fn daily_poster(&mut self, start: u64) -> Poster {
        let epoch = Epoch::new(UnixTime(start), 24 * 60).expect("valid epoch");
        let opened = self.venue.open_epoch(epoch, &self.authority_trace.public_key(), &mut self.rng).expect("opens");
        self.log.push(opened);
        self.venue.poster(&self.info, &opened, epoch.start(), epoch.end()).expect("signs")
    }
}

fn at(secs: u64) -> UnixTime {
    UnixTime(T0 + secs)
}

#[test]
fn a_traced_epoch_reaches_its_visitors_and_only_them() {
    let mut town = Town::new(1);
    let monday = town.daily_poster(T0);
    let tuesday = town.daily_poster(T0 + DAY);

    // Three phones scan the QR codes (through their text form).
    let scanned_monday = Poster::from_text(&monday.to_text()).expect("genuine poster");
    scanned_monday.check_live(at(18 * 3600), 120).expect("live");
    let mut phones: Vec<(CheckInDayKey, Vec<_>)> = Vec::new();
    for (arrival_h, leave_h) in [(18, 20), (19, 21)] {
        let key = CheckInDayKey::generate(monday.epoch().day(), &mut town.rng);
        let record =
            scanned_monday.check_in(&key, at(arrival_h * 3600), at(leave_h * 3600), &mut town.rng).expect("check in");
        phones.push((key, vec![record]));
    }
    // The third phone was there on Tuesday.
    let key = CheckInDayKey::generate(tuesday.epoch().day(), &mut town.rng);
    let record = tuesday.check_in(&key, at(DAY + 19 * 3600), at(DAY + 21 * 3600), &mut town.rng).expect("check in");
    phones.push((key, vec![record]));

    // Phone 0 is diagnosed and reveals its Monday visit.
    let revealed = RevealedCheckIn { poster: monday.clone(), arrival: at(18 * 3600), departure: at(20 * 3600) };
    let bytes = revealed.to_bytes();
    // A phone reads a diary entry's times without parsing its poster, with
    // the same framing checks.
    assert_eq!(RevealedCheckIn::times_from_bytes(&bytes), Ok((at(18 * 3600), at(20 * 3600))));
    assert!(RevealedCheckIn::times_from_bytes(&bytes[..bytes.len() - 1]).is_err(), "truncated");
    assert!(RevealedCheckIn::times_from_bytes(&[bytes.as_slice(), &[0]].concat()).is_err(), "trailing byte");
    let revealed = RevealedCheckIn::from_bytes(&bytes).expect("authority parses the reveal");

    // The authority opens its share and asks the owner for that epoch only.
    let poster_epoch = *revealed.poster.poster_epoch();
    let authority_share = town.authority_trace.open_share(revealed.poster.venue_key(), &poster_epoch).expect("share");
    let request = ReleaseRequest::new(*revealed.poster.venue_key(), at(DAY * 2), vec![poster_epoch.epoch])
        .expect("request")
        .sign(&town.authority_signing);

    // The owner verifies the request and releases.
    let authority_keys = TrustedKeys::from_keys([town.authority_signing.verifying_key()]);
    let request = ReleaseRequest::verify(&request, &authority_keys).expect("genuine request");
    let bundle = ReleaseBundle::verify(&town.venue.release(&request, &town.log).expect("release")).expect("bundle");
    assert_eq!(bundle.releases.len(), 1, "exactly the requested epoch is released");
    assert_eq!(bundle.releases[0].epoch, poster_epoch);

    // Together they make the trace secret and publish it.
    let secret = TraceSecret::combine(&bundle.releases[0].owner_share, &authority_share, &poster_epoch)
        .expect("the two shares open the poster's trace key");
    let entry = TraceEntry::new(
        &secret,
        &poster_epoch,
        at(18 * 3600),
        at(20 * 3600),
        "A visitor later tested positive. Watch for symptoms until Friday.",
        &mut town.rng,
    )
    .expect("entry");
    let batch = TraceBatch::new(Region::new("XA").expect("region"), 1, at(2 * DAY), vec![entry])
        .expect("batch")
        .sign(&town.authority_signing);
    let batch = TraceBatch::verify(&batch, &authority_keys).expect("phones verify the batch");

    let outcomes: Vec<Vec<u32>> = phones
        .into_iter()
        .map(|(key, records)| {
            let matcher = VenueMatcher::new(&[key.public()], records);
            matcher.match_entries(&batch.entries).iter().map(|m| m.overlap_minutes).collect()
        })
        .collect();
    // Phone 1 overlapped 19:00–20:00 with the case; phone 2 was there on Tuesday.
    assert_eq!(outcomes, vec![vec![120], vec![60], vec![]]);

    // What phone 1 learns: the venue, its times and the message.
    let key = CheckInDayKey::generate(monday.epoch().day(), &mut town.rng);
    let record = monday.check_in(&key, at(19 * 3600), at(21 * 3600), &mut town.rng).expect("check in");
    let found = VenueMatcher::new(&[key.public()], vec![record]).match_entries(&batch.entries);
    assert_eq!(found[0].visit.info.name, "Café Aurora");
    assert!(found[0].message.starts_with("A visitor later tested positive"));
}

#[test]
fn neither_party_alone_can_make_the_trace_secret() {
    let mut town = Town::new(2);
    let poster = town.daily_poster(T0);
    let epoch = *poster.poster_epoch();
    let owner_share = town.venue.owner_share(&epoch.epoch);
    let authority_share = town.authority_trace.open_share(poster.venue_key(), &epoch).expect("share");

    // Another authority (or the owner guessing) has a different share.
    let impostor = AuthorityShareKey::generate(&mut town.rng);
    let wrong_authority_share = impostor.open_share(poster.venue_key(), &epoch).expect("opens to garbage");
    assert_eq!(
        TraceSecret::combine(&owner_share, &wrong_authority_share, &epoch).err(),
        Some(Error::InvalidField("trace_shares"))
    );
    // The owner share of another epoch does not fit either.
    let other_epoch = Epoch::new(UnixTime(T0 + DAY), 1440).expect("epoch");
    let wrong_owner_share = town.venue.owner_share(&other_epoch);
    assert!(TraceSecret::combine(&wrong_owner_share, &authority_share, &epoch).is_err());
    assert!(TraceSecret::combine(&owner_share, &authority_share, &epoch).is_ok());
}

#[test]
fn a_release_covers_exactly_the_requested_epochs() {
    let mut town = Town::new(3);
    let posters: Vec<Poster> = (0..5).map(|d| town.daily_poster(T0 + d * DAY)).collect();
    let wanted = vec![posters[1].epoch(), posters[3].epoch()];
    let request = ReleaseRequest::new(town.venue.public_key(), at(6 * DAY), wanted.clone()).expect("request");
    let bundle = ReleaseBundle::verify(&town.venue.release(&request, &town.log).expect("release")).expect("bundle");
    let released: Vec<Epoch> = bundle.releases.iter().map(|r| r.epoch.epoch).collect();
    assert_eq!(released, wanted);

    // A request naming an epoch the venue never opened is refused, not guessed.
    let unknown = Epoch::new(UnixTime(T0 + 10 * DAY), 1440).expect("epoch");
    let request = ReleaseRequest::new(town.venue.public_key(), at(6 * DAY), vec![unknown]).expect("request");
    assert_eq!(town.venue.release(&request, &town.log), Err(Error::InvalidField("epoch")));

    // A bundle listing the same epochs in another order is refused: one
    // release has one encoding.
    let request = ReleaseRequest::new(town.venue.public_key(), at(6 * DAY), wanted.clone()).expect("request");
    let bundle = town.venue.release(&request, &town.log).expect("release");
    let shuffled = reorder_bundle(&bundle, &town.venue);
    assert_eq!(ReleaseBundle::verify(&shuffled).err(), Some(Error::InvalidField("epochs")));

    // A request addressed to another venue is refused.
    let other = VenueMasterSecret::generate(&mut town.rng);
    let request = ReleaseRequest::new(other.public_key(), at(6 * DAY), wanted).expect("request");
    assert_eq!(town.venue.release(&request, &town.log), Err(Error::InvalidField("venue")));

    // A request signed by someone else than the authority does not verify.
    let forger = SigningKey::from_bytes(&[9; 32]);
    let authority_keys = TrustedKeys::from_keys([town.authority_signing.verifying_key()]);
    let forged = ReleaseRequest::new(town.venue.public_key(), at(6 * DAY), vec![posters[0].epoch()])
        .expect("request")
        .sign(&forger);
    assert_eq!(ReleaseRequest::verify(&forged, &authority_keys), Err(Error::BadSignature));
}

/// Re-signs `bundle` with its two releases swapped.
fn reorder_bundle(bundle: &[u8], venue: &VenueMasterSecret) -> Vec<u8> {
    let body = &bundle[8..bundle.len() - 72];
    let (head, items) = body.split_at(1 + 32 + 2);
    let (first, second) = items.split_at(102);
    let mut swapped = head.to_vec();
    swapped.extend_from_slice(second);
    swapped.extend_from_slice(first);
    greenlight_protocol::signing::seal_file(b"GL_RELSE", &swapped, &venue.signing_key())
}

#[test]
fn stale_future_and_forged_posters_are_refused() {
    let mut town = Town::new(4);
    let poster = town.daily_poster(T0);
    let tolerance = 120;
    assert_eq!(poster.check_live(at(DAY + 121), tolerance), Err(Error::Expired), "yesterday's sheet");
    assert_eq!(poster.check_live(UnixTime(T0 - 121), tolerance), Err(Error::NotYetValid));
    assert!(poster.check_live(at(DAY + 119), tolerance).is_ok(), "within the clock tolerance");

    // Editing a photo of the poster: any changed byte breaks the signature
    // or the format.
    let bytes = poster.to_bytes();
    for i in 0..bytes.len() {
        let mut edited = bytes.clone();
        edited[i] ^= 0x01;
        assert!(Poster::from_bytes(&edited).is_err(), "byte {i} edited unnoticed");
    }

    // A screen's rotating QR: live for 5 minutes only.
    let epoch = Epoch::new(at(10 * 3600), 60).expect("hourly epoch");
    let opened = town.venue.open_epoch(epoch, &town.authority_trace.public_key(), &mut town.rng).expect("opens");
    let live = town.venue.poster(&town.info, &opened, at(10 * 3600 + 600), at(10 * 3600 + 900)).expect("signs");
    assert!(live.check_live(at(10 * 3600 + 700), 60).is_ok());
    assert_eq!(live.check_live(at(10 * 3600 + 1000), 60), Err(Error::Expired), "a photo of the screen");
}

#[test]
fn a_rescan_extends_the_same_record_and_fits_a_small_qr() {
    let mut town = Town::new(5);
    let poster = town.daily_poster(T0);
    let key = CheckInDayKey::generate(poster.epoch().day(), &mut town.rng);
    let first = poster.check_in(&key, at(3600), at(5400), &mut town.rng).expect("check in");
    let again = poster.check_in(&key, at(3600), at(9000), &mut town.rng).expect("rescan");
    assert_eq!(first.tag, again.tag, "the phone can find and replace the record");
    assert_ne!(first.to_bytes(), again.to_bytes());

    // A key for the wrong day is refused rather than silently unmatchable.
    let wrong = CheckInDayKey::generate(poster.epoch().day().plus(1), &mut town.rng);
    assert_eq!(poster.check_in(&wrong, at(3600), at(5400), &mut town.rng), Err(Error::InvalidField("day_key")));

    // "Café Aurora" / "Main St 5": the QR text stays under 300 characters.
    assert!(poster.to_text().len() <= 300, "{} characters", poster.to_text().len());
}
