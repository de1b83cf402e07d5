//! The resident core driven the way its drivers drive it: a seeded RNG for
//! every random draw, a clock moved by hand, an in-memory store, and real
//! signed files, posters and advertisements from the protocol crate. Each
//! expectation is derived by hand beside it.

use greenlight_phone::checkin::verify_poster;
use greenlight_phone::report::CodeFacts;
use greenlight_phone::store::CheckInDayState;
use greenlight_phone::sync::verify_index;
use greenlight_phone::{
    Applied, CheckInError, CheckedIn, Exposure, MemoryStore, Phone, Recorded, ReportError, Reported, Store, SyncError,
    VerifiedFile,
};
use greenlight_protocol::certificate::upload_hmac;
use greenlight_protocol::color::{Color, Diagnosis};
use greenlight_protocol::daily_key::{Metadata, PublishedKey};
use greenlight_protocol::export::ExportRecord;
use greenlight_protocol::index::FileKind;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::RevealedCheckIn;
use greenlight_protocol::venue::VenueKind;
use std::collections::HashSet;
use support::*;

/// The time to verify with the anchors alone: they carry no validity
/// window, so any time gives the same answer.
const ANCHORS_ONLY: UnixTime = UnixTime(0);

/// A town in miniature: phones, a key server with its signing keys, venues
/// with their posters, and the driver loop of a sync.
mod support {
    use greenlight_phone::report::CodeFacts;
    use greenlight_phone::sync::verify_index;
    use greenlight_phone::{Applied, MemoryStore, Phone, SyncError, Trust};
    use greenlight_protocol::calibration::Calibration;
    use greenlight_protocol::color::ColorDecision;
    use greenlight_protocol::export::{ExportBatch, ExportRecord, Region};
    use greenlight_protocol::index::{FileKind, Index, IndexEntry};
    use greenlight_protocol::matcher::Sighting;
    use greenlight_protocol::policy::ColorPolicy;
    use greenlight_protocol::report::ReportType;
    use greenlight_protocol::signing::{SigningKey, TrustedKeys};
    use greenlight_protocol::time::{DayNumber, UnixTime};
    use greenlight_protocol::trace::{TraceBatch, TraceEntry, TraceSecret};
    use greenlight_protocol::venue::{AuthorityShareKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// The day of the encounters (2024-10-04, a Friday).
    pub(crate) const D: DayNumber = DayNumber(20_000);

    /// A loud sender that also hears 3 dB low: its own correction must
    /// play no part in what a receiver computes.
    pub(crate) const SENDER: Calibration = Calibration { tx_power_dbm: -20, rssi_correction_db: 3 };
    /// A quieter receiver that hears 7 dB low.
    pub(crate) const RECEIVER: Calibration = Calibration { tx_power_dbm: -30, rssi_correction_db: 7 };

    /// `hour:minute` UTC on `day`.
    pub(crate) fn at(day: DayNumber, hour: u64, minute: u64) -> UnixTime {
        day.start().plus(hour * 3600 + minute * 60)
    }

    pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    pub(crate) fn phone(calibration: Calibration) -> Phone<MemoryStore> {
        Phone::new(MemoryStore::new(), calibration)
    }

    /// A second phone with a copy of `phone`'s store.
    pub(crate) fn twin(phone: &Phone<MemoryStore>) -> Phone<MemoryStore> {
        Phone::new(phone.store().clone(), phone.calibration())
    }

    /// What a scanner records when it hears `sender` at `at` with `rssi`.
    pub(crate) fn heard(sender: &mut Phone<MemoryStore>, at: UnixTime, rssi: i8, rng: &mut ChaCha20Rng) -> Sighting {
        let ad = sender.advertisement(at, rng).expect("store").expect("the sender is broadcasting");
        Sighting { id: ad.id, metadata: ad.metadata, rssi, seen_at: at }
    }

    /// Reports `phone`'s keys at `now` (a confirmed test, symptoms from
    /// `onset`) and returns them as the key server publishes them.
    pub(crate) fn report(
        phone: &mut Phone<MemoryStore>,
        now: UnixTime,
        onset: DayNumber,
        rng: &mut ChaCha20Rng,
    ) -> Vec<ExportRecord> {
        let code = CodeFacts { report_type: ReportType::ConfirmedTest, day: onset, symptom_onset: true };
        let upload = phone.start_report(now).expect("keys to report").upload(&code, &[], rng).expect("an upload");
        phone.complete_report(&upload).expect("store");
        upload
            .keys
            .iter()
            .map(|k| ExportRecord {
                key: k.key,
                day: k.day,
                transmission_risk: k.transmission_risk,
                report_type: code.report_type,
            })
            .collect()
    }

    /// One signed file and its index entry.
    #[derive(Debug, Clone)]
    pub(crate) struct Published {
        pub(crate) entry: IndexEntry,
        pub(crate) bytes: Vec<u8>,
    }

    /// The key server (export key) and the health authority (authority key).
    pub(crate) struct KeyServer {
        pub(crate) export: SigningKey,
        authority: SigningKey,
        region: Region,
    }

    impl KeyServer {
        pub(crate) fn new() -> Self {
            KeyServer {
                export: SigningKey::from_bytes(&[1; 32]),
                authority: SigningKey::from_bytes(&[2; 32]),
                region: Region::new("XA").expect("region"),
            }
        }

        /// What a phone of this deployment trusts.
        pub(crate) fn trust(&self) -> Trust {
            Trust {
                export: TrustedKeys::from_keys([self.export.verifying_key()]),
                authority: TrustedKeys::from_keys([self.authority.verifying_key()]),
            }
        }

        /// An export batch of uploads received in `[start, end)`.
        pub(crate) fn export_batch(
            &self,
            sequence: u64,
            start: UnixTime,
            end: UnixTime,
            records: Vec<ExportRecord>,
        ) -> Published {
            let batch = ExportBatch::new(self.region.clone(), sequence, start, end, records).expect("batch");
            self.export_signed_by(&self.export, &batch)
        }

        /// `batch` signed by `key` (the export key, or a forger's).
        pub(crate) fn export_signed_by(&self, key: &SigningKey, batch: &ExportBatch) -> Published {
            let bytes = batch.sign(key);
            let entry =
                IndexEntry::for_file(FileKind::ExportBatch, batch.sequence(), batch.start(), batch.end(), &bytes)
                    .expect("entry");
            Published { entry, bytes }
        }

        /// The recommended policy as version `sequence`.
        pub(crate) fn policy(&self, sequence: u32, issued_at: UnixTime) -> Published {
            self.signed_policy(&ColorPolicy::recommended(sequence, issued_at))
        }

        /// `policy`, signed by the authority and listed.
        pub(crate) fn signed_policy(&self, policy: &ColorPolicy) -> Published {
            let (sequence, issued_at) = (policy.sequence(), policy.params().issued_at);
            let bytes = policy.sign(&self.authority);
            let entry = IndexEntry::for_file(
                FileKind::ColorPolicy,
                u64::from(sequence),
                issued_at,
                issued_at.plus(86_400),
                &bytes,
            )
            .expect("entry");
            Published { entry, bytes }
        }

        /// A trace batch of `entries`.
        pub(crate) fn trace_batch(&self, sequence: u64, created_at: UnixTime, entries: Vec<TraceEntry>) -> Published {
            let batch = TraceBatch::new(self.region.clone(), sequence, created_at, entries).expect("batch");
            let bytes = batch.sign(&self.authority);
            let entry =
                IndexEntry::for_file(FileKind::TraceBatch, sequence, created_at.minus(3600), created_at, &bytes)
                    .expect("entry");
            Published { entry, bytes }
        }

        /// The signed index of `files`.
        pub(crate) fn index(&self, generated_at: UnixTime, files: &[&Published]) -> Vec<u8> {
            Index::new(self.region.clone(), generated_at, files.iter().map(|f| f.entry).collect())
                .expect("index")
                .sign(&self.export)
        }
    }

    /// The bytes the key server serves for `entry`.
    pub(crate) fn fetch<'a>(files: &'a [&Published], entry: &IndexEntry) -> &'a [u8] {
        &files.iter().find(|f| f.entry == *entry).expect("the server has every listed file").bytes
    }

    /// A whole sync as a driver runs it: verify the index, fetch and apply
    /// each file in turn, finish.
    pub(crate) fn sync(
        phone: &mut Phone<MemoryStore>,
        server: &KeyServer,
        index: &[u8],
        files: &[&Published],
        now: UnixTime,
    ) -> Result<(Applied, ColorDecision), SyncError> {
        let trust = server.trust();
        let mut plan = phone.begin_sync(&verify_index(index, &trust.keyring(), crate::ANCHORS_ONLY)?, now)?;
        while let Some(entry) = plan.next_file().copied() {
            phone.apply_next(&mut plan, fetch(files, &entry), &trust, now)?;
        }
        phone.finish_sync(plan, None, now)
    }

    /// A venue, its owner's secret and the health authority's trace key.
    pub(crate) struct Venue {
        master: VenueMasterSecret,
        authority: AuthorityShareKey,
        pub(crate) info: VenueInfo,
    }

    impl Venue {
        pub(crate) fn new(name: &str, kind: VenueKind, rng: &mut ChaCha20Rng) -> Self {
            Venue {
                master: VenueMasterSecret::generate(rng),
                authority: AuthorityShareKey::generate(rng),
                info: VenueInfo { name: name.into(), address: "Main St 5".into(), kind },
            }
        }

        /// A poster of the epoch that is the whole of `day`, scannable from
        /// `from` until `until`: a printed sheet is live all day, a screen
        /// for a few minutes.
        pub(crate) fn poster(&self, day: DayNumber, from: UnixTime, until: UnixTime, rng: &mut ChaCha20Rng) -> Poster {
            let epoch = Epoch::new(day.start(), 24 * 60).expect("epoch");
            let opened = self.master.open_epoch(epoch, &self.authority.public_key(), rng).expect("opens");
            self.master.poster(&self.info, &opened, from, until).expect("signs")
        }

        /// The printed sheet of `day`.
        pub(crate) fn sheet(&self, day: DayNumber, rng: &mut ChaCha20Rng) -> Poster {
            self.poster(day, day.start(), day.end(), rng)
        }

        /// The door screen's code in the hourly epoch from `hour`, live
        /// the whole hour.
        pub(crate) fn screen(&self, hour: UnixTime, rng: &mut ChaCha20Rng) -> Poster {
            let epoch = Epoch::new(hour, 60).expect("epoch");
            let opened = self.master.open_epoch(epoch, &self.authority.public_key(), rng).expect("opens");
            self.master.poster(&self.info, &opened, hour, hour.plus(3600)).expect("signs")
        }

        /// The published trace of `poster`'s epoch for a case there in
        /// `[from, until)`, made by owner and authority together.
        pub(crate) fn trace(
            &self,
            poster: &Poster,
            from: UnixTime,
            until: UnixTime,
            message: &str,
            rng: &mut ChaCha20Rng,
        ) -> TraceEntry {
            let epoch = *poster.poster_epoch();
            let owner = self.master.owner_share(&epoch.epoch);
            let authority = self.authority.open_share(poster.venue_key(), &epoch).expect("share");
            let secret = TraceSecret::combine(&owner, &authority, &epoch).expect("secret");
            TraceEntry::new(&secret, &epoch, from, until, message, rng).expect("entry")
        }
    }
}

// ---------------------------------------------------------------------------
// Rotation

#[test]
fn the_broadcast_id_changes_every_ten_minutes_and_stops_once_the_day_key_is_published() {
    let mut rng = rng(1);
    let mut phone = phone(SENDER);
    // 09:00:30 is in slot 54 (9 × 6); 09:09:59 still is; 09:10:00 is slot 55.
    let first = phone.advertisement(at(D, 9, 0).plus(30), &mut rng).expect("store").expect("broadcasting");
    let same = phone.advertisement(at(D, 9, 9).plus(59), &mut rng).expect("store").expect("broadcasting");
    let next = phone.advertisement(at(D, 9, 10), &mut rng).expect("store").expect("broadcasting");
    assert_eq!(same, first, "one ID for the whole interval");
    assert_ne!(next.id, first.id, "a new ID in the next interval");

    let (key, released) = phone.store().daily_key(D).expect("store").expect("drawn on the first broadcast");
    assert!(!released);
    let schedule = key.schedule(D);
    assert_eq!(first.id, schedule.id(54));
    assert_eq!(next.id, schedule.id(55));
    // The metadata is sealed under the same key and carries the sender's power.
    assert_eq!(schedule.open_metadata(&next.id, &next.metadata).expect("authentic"), Metadata::v1(-20));

    // Another day, another key.
    let tomorrow = phone.advertisement(at(D.plus(1), 9, 0), &mut rng).expect("store").expect("broadcasting");
    let (key_tomorrow, _) = phone.store().daily_key(D.plus(1)).expect("store").expect("drawn");
    assert_ne!(key_tomorrow, key);
    assert_eq!(tomorrow.id, key_tomorrow.schedule(D.plus(1)).id(54));

    // Reported at 12:00: today's key is public and never broadcast again,
    // in this interval or a later one.
    let published = report(&mut phone, at(D, 12, 0), D, &mut rng);
    assert_eq!(published.iter().map(|r| r.day).collect::<Vec<_>>(), vec![D]);
    assert_eq!(published[0].key.0, *key.expose_secret());
    assert_eq!(phone.advertisement(at(D, 12, 0), &mut rng).expect("store"), None);
    assert_eq!(phone.advertisement(at(D, 23, 59), &mut rng).expect("store"), None);
}

// ---------------------------------------------------------------------------
// Clock floor

#[test]
fn sightings_timed_before_the_last_signed_index_are_refused() {
    let mut rng = rng(2);
    let server = KeyServer::new();
    let mut sender = phone(SENDER);
    let mut receiver = phone(RECEIVER);

    // No sync yet, no floor: anything is believed.
    assert_eq!(receiver.clock_floor().expect("store"), UnixTime(0));
    let before_sync = heard(&mut sender, at(D, 8, 0), -70, &mut rng);
    assert_eq!(
        receiver.record_sightings(&[before_sync]).expect("store"),
        Recorded { stored: 1, behind_clock_floor: 0 }
    );

    let generated = at(D, 10, 0);
    let index = server.index(generated, &[]);
    sync(&mut receiver, &server, &index, &[], at(D, 10, 5)).expect("sync");
    assert_eq!(receiver.clock_floor().expect("store"), generated);

    // The clock is set back: what it times before 10:00 is refused.
    let old = heard(&mut sender, generated.minus(1), -70, &mut rng);
    let older = heard(&mut sender, at(D, 8, 30), -70, &mut rng);
    let on_the_floor = heard(&mut sender, generated, -70, &mut rng);
    let later = heard(&mut sender, generated.plus(60), -70, &mut rng);
    let recorded = receiver.record_sightings(&[old, on_the_floor, older, later]).expect("store");
    assert_eq!(recorded, Recorded { stored: 2, behind_clock_floor: 2 });
    let stored = receiver.store().sightings().expect("store");
    assert_eq!(stored, vec![before_sync, on_the_floor, later], "nothing behind the floor was kept");
}

// ---------------------------------------------------------------------------
// Check-ins

#[test]
fn a_poster_that_is_not_genuine_or_not_live_is_refused_and_nothing_is_stored() {
    let mut rng = rng(3);
    let venue = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng);
    // A screen poster live 12:00–12:05; phones allow 2 minutes of clock error.
    let screen = venue.poster(D, at(D, 12, 0), at(D, 12, 5), &mut rng);
    let text = screen.to_text();

    assert!(verify_poster(&text, at(D, 12, 6)).is_ok(), "within the tolerance");
    assert!(matches!(verify_poster("not a poster", at(D, 12, 1)), Err(CheckInError::Forged(_))));
    assert!(matches!(verify_poster("GL1:AAAA", at(D, 12, 1)), Err(CheckInError::Forged(_))));
    // One character of the signed text changed: the signature fails.
    let mut edited = text.clone().into_bytes();
    let i = edited.len() / 2;
    edited[i] = if edited[i] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).expect("ascii");
    assert!(matches!(verify_poster(&edited, at(D, 12, 1)), Err(CheckInError::Forged(_))));
    // 12:07 is 2 minutes past the end: a photo of an old screen.
    assert!(matches!(verify_poster(&text, at(D, 12, 7)), Err(CheckInError::Stale(_))));
    // 11:57 is 3 minutes early: the phone's clock is wrong.
    assert!(matches!(verify_poster(&text, at(D, 11, 57)), Err(CheckInError::Stale(_))));

    let phone = phone(RECEIVER);
    assert!(phone.store().checkins().expect("store").is_empty());
    assert!(phone.visits().expect("store").is_empty());
}

#[test]
fn a_check_in_lasts_the_typical_stay_a_rescan_extends_it_and_check_out_records_the_real_departure() {
    let mut rng = rng(4);
    let venue = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng);
    let sheet = venue.sheet(D, &mut rng);
    let mut phone = phone(RECEIVER);

    // A restaurant's typical stay is 90 minutes: 12:00 → 13:30.
    let poster = verify_poster(&sheet.to_text(), at(D, 12, 0)).expect("genuine and live");
    let checked_in = phone.check_in(&poster, at(D, 12, 0), &mut rng).expect("check in");
    let record = phone.store().checkins().expect("store")[0].clone();
    assert_eq!(checked_in.record, (record.day, record.tag), "the stored record's day and tag");
    let expected = CheckedIn {
        venue: "Café Aurora".into(),
        arrival: at(D, 12, 0),
        departure: at(D, 13, 30),
        extended: false,
        record: checked_in.record,
    };
    assert_eq!(checked_in, expected);
    let visit = RevealedCheckIn { poster: sheet.clone(), arrival: at(D, 12, 0), departure: at(D, 13, 30) };
    assert_eq!(phone.visits().expect("store"), vec![visit]);

    // A rescan at 12:45 keeps the 12:00 arrival and plans 12:45 + 90 = 14:15.
    let rescan = phone.check_in(&poster, at(D, 12, 45), &mut rng).expect("rescan");
    assert_eq!(
        rescan,
        CheckedIn { arrival: at(D, 12, 0), departure: at(D, 14, 15), extended: true, ..expected.clone() }
    );
    assert_eq!(phone.store().checkins().expect("store").len(), 1, "one record, replaced");
    let visits = phone.visits().expect("store");
    assert_eq!((visits.len(), visits[0].arrival, visits[0].departure), (1, at(D, 12, 0), at(D, 14, 15)));

    // Leaving at 13:05 re-seals the visit with the real departure.
    let out = phone.check_out(at(D, 13, 5), &mut rng).expect("check out");
    assert_eq!(out, CheckedIn { arrival: at(D, 12, 0), departure: at(D, 13, 5), extended: false, ..expected });
    let visits = phone.visits().expect("store");
    assert_eq!((visits.len(), visits[0].arrival, visits[0].departure), (1, at(D, 12, 0), at(D, 13, 5)));
    assert_eq!(phone.store().checkins().expect("store").len(), 1);

    // Nothing is in progress any more.
    assert!(matches!(phone.check_out(at(D, 13, 6), &mut rng), Err(CheckInError::NoActiveVisit)));
}

#[test]
fn checking_out_with_no_visit_in_progress_is_refused() {
    let mut rng = rng(5);
    let mut phone = phone(RECEIVER);
    assert!(matches!(phone.check_out(at(D, 12, 0), &mut rng), Err(CheckInError::NoActiveVisit)));

    // A shop visit (30 minutes) has ended by itself by 12:31.
    let venue = Venue::new("Corner Shop", VenueKind::Shop, &mut rng);
    let sheet = venue.sheet(D, &mut rng);
    phone.check_in(&sheet, at(D, 12, 0), &mut rng).expect("check in");
    assert!(matches!(phone.check_out(at(D, 12, 31), &mut rng), Err(CheckInError::NoActiveVisit)));
    assert_eq!(phone.visits().expect("store")[0].departure, at(D, 12, 30), "the automatic check-out stands");
}

#[test]
fn with_the_diary_off_no_visit_is_kept_readable_but_rescan_and_check_out_still_work() {
    let mut rng = rng(6);
    let venue = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng);
    let sheet = venue.sheet(D, &mut rng);
    let mut phone = phone(RECEIVER);

    // A visit in the diary, then the diary turned off: the diary is gone,
    // the sealed record (for venue alerts) stays.
    phone.check_in(&sheet, at(D, 8, 0), &mut rng).expect("check in");
    phone.check_out(at(D, 8, 20), &mut rng).expect("check out");
    assert_eq!(phone.visits().expect("store").len(), 1);
    phone.set_diary(false).expect("store");
    assert!(!phone.diary_enabled().expect("store"));
    assert!(phone.visits().expect("store").is_empty(), "turning the diary off deletes it");
    assert_eq!(phone.store().checkins().expect("store").len(), 1);

    let other = Venue::new("Gym North", VenueKind::Leisure, &mut rng).sheet(D, &mut rng);
    // A leisure venue's typical stay is 120 minutes: 18:00 → 20:00.
    let checked_in = phone.check_in(&other, at(D, 18, 0), &mut rng).expect("check in");
    assert_eq!((checked_in.arrival, checked_in.departure, checked_in.extended), (at(D, 18, 0), at(D, 20, 0), false));
    let rescan = phone.check_in(&other, at(D, 18, 30), &mut rng).expect("rescan");
    assert_eq!((rescan.arrival, rescan.departure, rescan.extended), (at(D, 18, 0), at(D, 20, 30), true));
    let out = phone.check_out(at(D, 19, 0), &mut rng).expect("check out");
    assert_eq!((out.venue.as_str(), out.arrival, out.departure), ("Gym North", at(D, 18, 0), at(D, 19, 0)));

    assert!(phone.visits().expect("store").is_empty(), "nothing readable was kept");
    assert_eq!(phone.store().checkins().expect("store").len(), 2, "one sealed record per visit");
    assert!(matches!(phone.check_out(at(D, 19, 1), &mut rng), Err(CheckInError::NoActiveVisit)));
}

#[test]
fn turning_the_diary_off_during_a_visit_still_lets_the_resident_check_out() {
    let mut rng = rng(7);
    let sheet = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng).sheet(D, &mut rng);
    let mut phone = phone(RECEIVER);
    phone.check_in(&sheet, at(D, 12, 0), &mut rng).expect("check in");
    phone.set_diary(false).expect("store");
    let out = phone.check_out(at(D, 12, 20), &mut rng).expect("the visit is still in progress");
    assert_eq!((out.arrival, out.departure), (at(D, 12, 0), at(D, 12, 20)));
}

#[test]
#[ignore = "bug: with the diary off, visit_with_tag finds no earlier visit once it was checked out (the active \
            visit is cleared), so a rescan of the same epoch replaces the sealed record of the first visit instead \
            of merging with it, and a trace of the first visit's time no longer alerts \
            (crates/phone/src/checkin.rs, check_in / visit_with_tag)"]
fn with_the_diary_off_a_rescan_after_check_out_keeps_the_first_arrival() {
    let mut rng = rng(8);
    let server = KeyServer::new();
    let venue = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng);
    let sheet = venue.sheet(D, &mut rng);
    let mut phone = phone(RECEIVER);
    phone.set_diary(false).expect("store");
    phone.check_in(&sheet, at(D, 12, 0), &mut rng).expect("check in");
    phone.check_out(at(D, 12, 30), &mut rng).expect("check out");
    // Back at 15:00 under the same daily poster: the rule for a rescan of
    // the same epoch is the first arrival and the later departure, as with
    // the diary on (12:00 → 16:30).
    let again = phone.check_in(&sheet, at(D, 15, 0), &mut rng).expect("rescan");

    // Whatever the diary setting, a case there 12:00–12:30 alerts: 30
    // minutes of overlap, yellow.
    let trace = venue.trace(&sheet, at(D, 12, 0), at(D, 12, 30), "A case was here at lunch.", &mut rng);
    let trace = server.trace_batch(1, at(D, 19, 0), vec![trace]);
    let policy = server.policy(1, at(D, 0, 0));
    let index = server.index(at(D, 19, 0), &[&policy, &trace]);
    let (_, decision) = sync(&mut phone, &server, &index, &[&policy, &trace], at(D, 20, 0)).expect("sync");
    let overlaps: Vec<u32> = phone
        .venue_alerts()
        .expect("store")
        .iter()
        .map(|e| match e {
            Exposure::Venue { overlap_minutes, .. } => *overlap_minutes,
            Exposure::Ble { .. } => 0,
        })
        .collect();
    assert_eq!(overlaps, vec![30]);
    assert_eq!(decision.color, Color::Yellow);
    assert_eq!((again.arrival, again.departure, again.extended), (at(D, 12, 0), at(D, 16, 30), true));
}

// ---------------------------------------------------------------------------
// Sync

/// The Friday every sync test starts from. The receiver sat near sender A
/// from 10:00 to 10:20, passed a stranger at 11:00 who never reports, and
/// met sender F briefly at 11:30. A and E (whom the receiver never met)
/// report at 01:00 on Saturday, F at 08:00. The key server publishes:
///
/// - `policy`: the recommended policy, version 1;
/// - `batch1`: A's and E's keys, uploads of Saturday 00:00–03:00;
/// - `batch2`: F's key, uploads of Saturday 03:00–09:00;
/// - `index1` (Saturday 03:05): policy and batch 1; `index2` (09:05): all three.
struct Friday {
    server: KeyServer,
    receiver: Phone<MemoryStore>,
    /// Every key published, batch 1 then batch 2.
    published: Vec<ExportRecord>,
    policy: Published,
    batch1: Published,
    batch2: Published,
    index1: Vec<u8>,
    index2: Vec<u8>,
}

/// Receiver-measured RSSI of A each minute 10:00–10:19 (heard at :10 s).
///
/// Attenuation = A's −20 dBm − (RSSI + the receiver's +7 dB):
/// - 10:00–10:05: −75 → 48, mean 48;
/// - 10:05–10:10: −70, −80, −70, −80, −80 → 43, 53, 43, 53, 53, mean 245 / 5 = 49;
/// - 10:10–10:15: −60 → 33;
/// - 10:15–10:20: −90 → 63.
const A_RSSI: [i8; 20] =
    [-75, -75, -75, -75, -75, -70, -80, -70, -80, -80, -60, -60, -60, -60, -60, -90, -90, -90, -90, -90];

/// The exposures A's key gives the receiver: one per 5-minute scan window,
/// with A's transmission risk (symptoms on Friday itself: level 8).
fn exposures_from_a() -> Vec<Exposure> {
    [48, 49, 33, 63]
        .into_iter()
        .map(|attenuation_db| Exposure::Ble { day: D.0, attenuation_db, seconds: 300, transmission_risk: 8 })
        .collect()
}

/// F was heard once, at −75 dBm: 48 dB, one window.
fn exposure_from_f() -> Exposure {
    Exposure::Ble { day: D.0, attenuation_db: 48, seconds: 300, transmission_risk: 8 }
}

fn friday(seed: u64) -> Friday {
    let mut rng = rng(seed);
    let server = KeyServer::new();
    let mut receiver = phone(RECEIVER);
    let (mut a, mut stranger, mut e, mut f) = (phone(SENDER), phone(SENDER), phone(SENDER), phone(SENDER));

    let mut sightings: Vec<Sighting> = A_RSSI
        .iter()
        .zip(0u64..)
        .map(|(&rssi, minute)| heard(&mut a, at(D, 10, minute).plus(10), rssi, &mut rng))
        .collect();
    sightings.extend((0..5).map(|minute| heard(&mut stranger, at(D, 11, minute).plus(10), -60, &mut rng)));
    sightings.push(heard(&mut f, at(D, 11, 30).plus(10), -75, &mut rng));
    assert_eq!(receiver.record_sightings(&sightings).expect("store").stored, 26);
    e.advertisement(at(D, 15, 0), &mut rng).expect("store"); // E's Friday key

    let saturday = D.plus(1);
    let mut first = report(&mut a, at(saturday, 1, 0), D, &mut rng);
    first.extend(report(&mut e, at(saturday, 1, 0), D, &mut rng));
    let second = report(&mut f, at(saturday, 8, 0), D, &mut rng);
    let policy = server.policy(1, at(saturday, 0, 0));
    let batch1 = server.export_batch(1, at(saturday, 0, 0), at(saturday, 3, 0), first.clone());
    let batch2 = server.export_batch(2, at(saturday, 3, 0), at(saturday, 9, 0), second.clone());
    let index1 = server.index(at(saturday, 3, 5), &[&policy, &batch1]);
    let index2 = server.index(at(saturday, 9, 5), &[&policy, &batch1, &batch2]);
    first.extend(second);
    Friday { server, receiver, published: first, policy, batch1, batch2, index1, index2 }
}

#[test]
fn a_published_key_heard_nearby_gives_one_exposure_per_scan_window_and_turns_the_phone_yellow() {
    let Friday { server, mut receiver, policy, batch1, index1, .. } = friday(10);
    let saturday = D.plus(1);
    assert_eq!(receiver.status(at(saturday, 4, 0)).expect("store").color, Color::Stale, "never synced");

    let (applied, decision) =
        sync(&mut receiver, &server, &index1, &[&policy, &batch1], at(saturday, 4, 0)).expect("sync");
    // Two files; A's and E's keys checked; A's four windows found.
    assert_eq!(applied, Applied { files: 2, keys: 2, exposures: 4, rejected_sightings: 0 });
    assert_eq!(receiver.store().exposures().expect("store"), exposures_from_a());

    // 48, 49 and 33 dB are "immediate" (< 63), 63 dB "near" (< 73): both
    // weigh 100 %, so 4 × 300 s = 20 weighted minutes ≥ 15: yellow until
    // the end of Friday + 14 days, under the signed policy (version 1).
    assert_eq!(decision.color, Color::Yellow);
    assert_eq!(decision.until, Some(D.plus(14).end()));
    assert_eq!(decision.policy_sequence, 1);
    assert!(!decision.stale);
    assert_eq!(receiver.status(at(saturday, 4, 0)).expect("store"), decision);
    assert_eq!(receiver.clock_floor().expect("store"), at(saturday, 3, 5));
    assert_eq!(receiver.last_sync().expect("store"), Some(at(saturday, 4, 0)));
    assert_eq!(receiver.store().synced(FileKind::ExportBatch).expect("store"), 1);

    // A cached index from 03:00 would roll the phone back: refused.
    let stale = server.index(at(saturday, 3, 0), &[&policy, &batch1]);
    let refused = receiver.begin_sync(
        &verify_index(&stale, &server.trust().keyring(), ANCHORS_ONLY).expect("genuine"),
        at(saturday, 5, 0),
    );
    assert!(matches!(refused, Err(SyncError::Rejected(_))), "{refused:?}");
    assert_eq!(receiver.clock_floor().expect("store"), at(saturday, 3, 5));

    // The same index again applies nothing new.
    let (again, _) = sync(&mut receiver, &server, &index1, &[&policy, &batch1], at(saturday, 5, 0)).expect("sync");
    assert_eq!(again, Applied::default());
    assert_eq!(receiver.store().exposures().expect("store").len(), 4);
}

#[test]
fn the_pass_is_stale_before_a_sync_then_names_the_region_and_the_colour_and_changes_nothing() {
    let Friday { server, mut receiver, policy, batch1, index1, .. } = friday(11);
    let saturday = D.plus(1);
    let before = receiver.pass(at(saturday, 4, 0)).expect("store");
    assert_eq!(
        (before.word(), before.admits(), before.region.clone(), before.fresh_as_of),
        ("STALE".into(), false, None, None)
    );

    sync(&mut receiver, &server, &index1, &[&policy, &batch1], at(saturday, 4, 0)).expect("sync");
    let history = receiver.store().color_history().expect("store");
    let pass = receiver.pass(at(saturday, 6, 0)).expect("store");
    assert_eq!(pass.decision, receiver.status(at(saturday, 6, 0)).expect("store"), "the pass is the status");
    assert_eq!((pass.word(), pass.admits()), ("YELLOW".into(), false));
    assert_eq!(pass.region.as_ref().map(|r| r.as_str()), Some("XA"), "the index's region");
    assert_eq!(pass.fresh_as_of, Some(at(saturday, 3, 5)), "the signed time of the index applied");
    assert_eq!(pass.check_in, None);
    assert_eq!(receiver.store().color_history().expect("store"), history, "showing the pass records nothing");
}

#[test]
fn the_pass_confirms_the_visit_in_progress_with_the_diary_on_or_off_and_not_after_check_out() {
    for diary in [true, false] {
        let mut rng = rng(7);
        let sheet = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng).sheet(D, &mut rng);
        let mut phone = phone(RECEIVER);
        phone.set_diary(diary).expect("store");
        assert_eq!(phone.pass(at(D, 12, 0)).expect("store").check_in, None);
        phone.check_in(&sheet, at(D, 12, 0), &mut rng).expect("check in");
        let pass = phone.pass(at(D, 12, 5)).expect("store");
        let visit = pass.check_in.expect("the visit in progress");
        assert_eq!((visit.poster.info().name.as_str(), visit.arrival), ("Café Aurora", at(D, 12, 0)), "diary {diary}");
        assert!(visit.departure > at(D, 12, 5));
        phone.check_out(at(D, 12, 30), &mut rng).expect("check out");
        assert_eq!(phone.pass(at(D, 12, 31)).expect("store").check_in, None, "checked out (diary {diary})");
    }
}

#[test]
fn a_tampered_truncated_or_forged_file_is_rejected_and_changes_nothing() {
    let Friday { server, mut receiver, policy, batch1, batch2, index1, index2, published, .. } = friday(11);
    let saturday = D.plus(1);
    let trust = server.trust();
    sync(&mut receiver, &server, &index1, &[&policy, &batch1], at(saturday, 4, 0)).expect("first sync");
    let before = receiver.store().clone();

    let mut plan = receiver
        .begin_sync(&verify_index(&index2, &trust.keyring(), ANCHORS_ONLY).expect("genuine"), at(saturday, 9, 30))
        .expect("newer index");
    assert_eq!(plan.progress(), (0, 1), "only batch 2 is new");
    assert_eq!(plan.next_file(), Some(&batch2.entry));

    let mut tampered = batch2.bytes.clone();
    tampered[40] ^= 1;
    let truncated = &batch2.bytes[..batch2.bytes.len() - 1];
    for bad in [tampered.as_slice(), truncated] {
        let result = receiver.apply_next(&mut plan, bad, &trust, at(saturday, 9, 30));
        assert!(matches!(result, Err(SyncError::Rejected(_))), "{result:?}");
        assert_eq!(receiver.store().exposures().expect("store"), before.exposures().expect("store"));
        assert_eq!(receiver.store().synced(FileKind::ExportBatch).expect("store"), 1);
        assert_eq!(plan.next_file(), Some(&batch2.entry), "still to apply");
    }
    // The genuine bytes still apply: F's one window.
    receiver.apply_next(&mut plan, &batch2.bytes, &trust, at(saturday, 9, 30)).expect("genuine");
    receiver.finish_sync(plan, None, at(saturday, 9, 30)).expect("finish");
    let mut expected = exposures_from_a();
    expected.push(exposure_from_f());
    assert_eq!(receiver.store().exposures().expect("store"), expected);

    // A batch the index lists, but signed by a key the phone does not trust.
    let forger = greenlight_protocol::signing::SigningKey::from_bytes(&[9; 32]);
    let batch = greenlight_protocol::export::ExportBatch::new(
        greenlight_protocol::export::Region::new("XA").expect("region"),
        3,
        at(saturday, 9, 0),
        at(saturday, 12, 0),
        published[..1].to_vec(),
    )
    .expect("batch");
    let forged = server.export_signed_by(&forger, &batch);
    let index3 = server.index(at(saturday, 12, 5), &[&policy, &batch1, &batch2, &forged]);
    let floor = receiver.clock_floor().expect("store");
    let result = sync(&mut receiver, &server, &index3, &[&forged], at(saturday, 12, 30));
    assert!(matches!(result, Err(SyncError::Rejected(_))), "{result:?}");
    assert_eq!(receiver.store().exposures().expect("store"), expected);
    assert_eq!(receiver.store().synced(FileKind::ExportBatch).expect("store"), 2);
    assert_eq!(receiver.clock_floor().expect("store"), floor);

    // A tampered index is refused before anything starts.
    let mut index = index2.clone();
    index[12] ^= 1;
    assert!(matches!(verify_index(&index, &trust.keyring(), ANCHORS_ONLY), Err(SyncError::Rejected(_))));
}

#[test]
fn a_file_whose_own_region_sequence_or_span_differ_from_its_index_entry_is_refused() {
    // Spec §11.4: the index signs each file's hash, but a key server could
    // still list a genuine file under another number or span (or another
    // region's file): the phone would then skip the file really numbered
    // so, or match keys against the wrong publication time.
    let Friday { server, mut receiver, policy, batch1, published, index1, .. } = friday(13);
    let saturday = D.plus(1);
    sync(&mut receiver, &server, &index1, &[&policy, &batch1], at(saturday, 4, 0)).expect("first sync");
    let before = receiver.store().clone();
    let batch = |region: &str, sequence: u64| {
        greenlight_protocol::export::ExportBatch::new(
            greenlight_protocol::export::Region::new(region).expect("region"),
            sequence,
            at(saturday, 9, 0),
            at(saturday, 12, 0),
            published[..1].to_vec(),
        )
        .expect("batch")
    };
    // Listed as #2 over the span it covers: accepted below, after the bad ones.
    let genuine = server.export_signed_by(&server.export, &batch("XA", 2));
    // The same kind of file, listed under another sequence, span or region.
    let mut renumbered = server.export_signed_by(&server.export, &batch("XA", 3));
    renumbered.entry.sequence = 2;
    let mut respanned = server.export_signed_by(&server.export, &batch("XA", 2));
    respanned.entry.start = at(saturday, 6, 0);
    let elsewhere = server.export_signed_by(&server.export, &batch("XB", 2));
    for (what, bad) in [("sequence", &renumbered), ("span", &respanned), ("region", &elsewhere)] {
        let index = server.index(at(saturday, 12, 5), &[&policy, &batch1, bad]);
        let result = sync(&mut receiver, &server, &index, &[bad], at(saturday, 12, 30));
        assert!(matches!(result, Err(SyncError::Rejected(_))), "{what}: {result:?}");
        assert_eq!(receiver.store().exposures().expect("store"), before.exposures().expect("store"), "{what}");
        assert_eq!(receiver.store().synced(FileKind::ExportBatch).expect("store"), 1, "{what}");
    }
    let index = server.index(at(saturday, 12, 5), &[&policy, &batch1, &genuine]);
    sync(&mut receiver, &server, &index, &[&genuine], at(saturday, 12, 30)).expect("the honest listing applies");
    assert_eq!(receiver.store().synced(FileKind::ExportBatch).expect("store"), 2);
}

#[test]
fn sync_steps_out_of_order_are_refused_and_an_interrupted_sync_resumes_where_it_stopped() {
    let Friday { server, mut receiver, policy, batch1, batch2, index2, .. } = friday(12);
    let saturday = D.plus(1);
    let now = at(saturday, 9, 30);
    let trust = server.trust();
    let mut uninterrupted = twin(&receiver);
    let files = [&policy, &batch1, &batch2];

    // Finishing before every file is applied: refused, the floor stays.
    let plan = receiver
        .begin_sync(&verify_index(&index2, &trust.keyring(), ANCHORS_ONLY).expect("genuine"), now)
        .expect("begin");
    assert_eq!(plan.progress(), (0, 3));
    let early = receiver.finish_sync(plan, None, now);
    assert!(matches!(early, Err(SyncError::OutOfOrder(_))), "{early:?}");
    assert_eq!(receiver.clock_floor().expect("store"), UnixTime(0));
    assert_eq!(receiver.last_sync().expect("store"), None);

    // Policies come first, then export batches by sequence: batch 2 is not next.
    let mut plan = receiver
        .begin_sync(&verify_index(&index2, &trust.keyring(), ANCHORS_ONLY).expect("genuine"), now)
        .expect("begin");
    assert_eq!(plan.next_file(), Some(&policy.entry));
    let verified = VerifiedFile::verify(&batch2.entry, &batch2.bytes, &trust.keyring(), ANCHORS_ONLY).expect("genuine");
    let skipped = receiver.apply_verified(&mut plan, &batch2.entry, &verified, now);
    assert!(matches!(skipped, Err(SyncError::OutOfOrder(_))), "{skipped:?}");
    assert!(receiver.store().exposures().expect("store").is_empty());
    assert_eq!(receiver.store().synced(FileKind::ExportBatch).expect("store"), 0);

    // Policy and batch 1 applied, then the app is killed.
    receiver.apply_next(&mut plan, &policy.bytes, &trust, now).expect("policy");
    let applied = receiver.apply_next(&mut plan, &batch1.bytes, &trust, now).expect("batch 1");
    assert_eq!(applied.exposures, 4);
    drop(plan);

    // The next sync fetches batch 2 only.
    let mut plan = receiver
        .begin_sync(&verify_index(&index2, &trust.keyring(), ANCHORS_ONLY).expect("genuine"), now)
        .expect("begin");
    assert_eq!(plan.progress(), (0, 1));
    assert_eq!(plan.next_file(), Some(&batch2.entry));
    receiver.apply_next(&mut plan, &batch2.bytes, &trust, now).expect("batch 2");
    let (resumed, decision) = receiver.finish_sync(plan, None, now).expect("finish");
    assert_eq!(resumed, Applied { files: 1, keys: 1, exposures: 1, rejected_sightings: 0 });
    assert_eq!(decision.color, Color::Yellow);

    let mut expected = exposures_from_a();
    expected.push(exposure_from_f());
    assert_eq!(receiver.store().exposures().expect("store"), expected, "each file applied exactly once");
    let (all, _) = sync(&mut uninterrupted, &server, &index2, &files, now).expect("sync");
    assert_eq!(all, Applied { files: 3, keys: 3, exposures: 5, rejected_sightings: 0 });
    assert_eq!(uninterrupted.store().exposures().expect("store"), expected);
}

#[test]
fn matching_only_the_sightings_that_carry_a_published_id_finds_the_same_exposures() {
    let Friday { server, receiver, policy, batch1, batch2, index2, published, .. } = friday(13);
    let now = at(D.plus(1), 9, 30);
    let trust = server.trust();

    // The shared work: every ID of every published key, derived once.
    let published_ids: HashSet<_> = published.iter().flat_map(|r| r.key.schedule(r.day).all_ids()).collect();
    let stored = receiver.store().sightings().expect("store");
    let carrying: Vec<Sighting> = stored.iter().filter(|s| published_ids.contains(&s.id)).copied().collect();
    assert_eq!(carrying.len(), 21, "A's twenty and F's one, not the stranger's five");

    // ... and the keys that carry an ID of one of them.
    let carrying_keys: Vec<PublishedKey> = published
        .iter()
        .filter(|r| r.key.schedule(r.day).all_ids().iter().any(|id| carrying.iter().any(|s| s.id == *id)))
        .map(|r| r.key)
        .collect();
    assert_eq!(carrying_keys.len(), 2, "A's key and F's");

    let run = |mut phone: Phone<MemoryStore>, only: Option<Vec<Sighting>>, keys: Option<Vec<PublishedKey>>| {
        let mut plan = phone
            .begin_sync(&verify_index(&index2, &trust.keyring(), ANCHORS_ONLY).expect("genuine"), now)
            .expect("begin");
        if let Some(only) = only {
            plan.only_sightings(only);
        }
        if let Some(keys) = keys {
            plan.only_keys(keys);
        }
        while let Some(entry) = plan.next_file().copied() {
            phone.apply_next(&mut plan, fetch(&[&policy, &batch1, &batch2], &entry), &trust, now).expect("apply");
        }
        phone.finish_sync(plan, None, now).expect("finish");
        phone.store().exposures().expect("store")
    };
    let full = run(twin(&receiver), None, None);
    assert_eq!(full.len(), 5);
    assert_eq!(run(twin(&receiver), Some(carrying.clone()), None), full);
    assert_eq!(run(twin(&receiver), Some(carrying.clone()), Some(carrying_keys.clone())), full);
    // The hooks are what the matcher sees: with no sightings, or without
    // F's key, less matches.
    assert!(run(twin(&receiver), Some(Vec::new()), None).is_empty());
    let without_f = run(twin(&receiver), Some(carrying), Some(carrying_keys[..1].to_vec()));
    assert!(!without_f.is_empty() && without_f.len() < full.len(), "{without_f:?}");
}

// ---------------------------------------------------------------------------
// Venue alerts

/// A phone with the diary off that lunched at Café Aurora 12:30–13:10
/// (checked out) and shopped at the Corner Shop from 14:00, and a signed
/// trace of the café's Friday for a case there 12:00–14:00.
struct Lunch {
    server: KeyServer,
    rng: rand_chacha::ChaCha20Rng,
    phone: Phone<MemoryStore>,
    cafe: greenlight_protocol::venue::Poster,
    policy: Published,
    trace: Published,
    index: Vec<u8>,
}

const MESSAGE: &str = "A visitor later tested positive. Watch for symptoms for 10 days.";

fn lunch(seed: u64) -> Lunch {
    let mut rng = rng(seed);
    let server = KeyServer::new();
    let cafe_venue = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng);
    let cafe = cafe_venue.sheet(D, &mut rng);
    let shop = Venue::new("Corner Shop", VenueKind::Shop, &mut rng).sheet(D, &mut rng);
    let mut phone = phone(RECEIVER);
    phone.set_diary(false).expect("store");
    phone.check_in(&cafe, at(D, 12, 30), &mut rng).expect("check in");
    phone.check_out(at(D, 13, 10), &mut rng).expect("check out");
    phone.check_in(&shop, at(D, 14, 0), &mut rng).expect("check in");

    let entry = cafe_venue.trace(&cafe, at(D, 12, 0), at(D, 14, 0), MESSAGE, &mut rng);
    let trace = server.trace_batch(1, at(D, 19, 0), vec![entry]);
    let policy = server.policy(1, at(D, 0, 0));
    let index = server.index(at(D, 19, 0), &[&policy, &trace]);
    Lunch { server, rng, phone, cafe, policy, trace, index }
}

#[test]
fn a_traced_visit_raises_a_venue_alert_with_the_real_departure_even_with_the_diary_off() {
    let Lunch { server, mut phone, policy, trace, index, .. } = lunch(20);
    let (applied, decision) = sync(&mut phone, &server, &index, &[&policy, &trace], at(D, 20, 0)).expect("sync");
    assert_eq!(applied, Applied { files: 2, keys: 0, exposures: 1, rejected_sightings: 0 });

    // The re-sealed record says 12:30–13:10 (not the automatic 14:00):
    // 40 minutes inside 12:00–14:00. The shop is not traced.
    let alert = Exposure::Venue {
        day: D.0,
        start: at(D, 12, 30).0,
        end: at(D, 13, 10).0,
        overlap_minutes: 40,
        venue_kind: VenueKind::Restaurant.to_byte(),
        venue: "Café Aurora".into(),
        message: MESSAGE.into(),
    };
    assert_eq!(phone.venue_alerts().expect("store"), vec![alert]);
    // 40 ≥ 10 overlap minutes: yellow until the end of Friday + 14 days.
    assert_eq!((decision.color, decision.until), (Color::Yellow, Some(D.plus(14).end())));
}

/// Issue 22 item 5: the signed policy's minimum overlap for the kind on
/// the poster the phone scanned decides, and the explanation names it.
#[test]
fn the_policy_rule_for_the_venues_kind_decides_and_is_explained() {
    use greenlight_protocol::policy::{ColorPolicy, PolicyParams, VenueOverlaps};
    let Lunch { server, mut phone, trace, .. } = lunch(22);
    // Restaurants from 45 minutes, every other kind from 10: the 40
    // minutes at the café no longer qualify.
    let strict = ColorPolicy::new(PolicyParams {
        min_venue_overlap_minutes: VenueOverlaps::uniform(10).with(VenueKind::Restaurant, 45),
        ..*ColorPolicy::recommended(1, at(D, 0, 0)).params()
    })
    .expect("valid");
    let policy = server.signed_policy(&strict);
    let index = server.index(at(D, 19, 0), &[&policy, &trace]);
    let (applied, decision) = sync(&mut phone, &server, &index, &[&policy, &trace], at(D, 20, 0)).expect("sync");
    assert_eq!(applied.exposures, 1);
    assert!(matches!(phone.venue_alerts().expect("store")[..], [Exposure::Venue { overlap_minutes: 40, .. }]));
    assert_eq!(decision.color, Color::Green, "{decision}");
    let text = decision.to_string();
    assert!(text.contains("venue visit (restaurant) "), "{text}");
    assert!(text.contains("by 40 min (needs 45 for this kind) — below the threshold"), "{text}");
}

#[test]
fn opening_only_the_check_ins_at_traced_epochs_finds_the_same_alerts() {
    let Lunch { server, mut rng, phone, cafe, policy, trace, index, .. } = lunch(21);
    let now = at(D, 20, 0);
    let trust = server.trust();

    // The café record's tag depends only on the day key and the epoch: a
    // probe sealed with the same day key finds it.
    let CheckInDayState::Live(day_key) = phone.store().checkin_day_key(D).expect("store") else {
        panic!("Friday's check-in key is live on Friday");
    };
    let probe = cafe.check_in(&day_key, at(D, 12, 0), at(D, 12, 1), &mut rng).expect("probe");
    assert!(phone.store().checkins().expect("store").iter().any(|r| (r.day, r.tag) == (probe.day, probe.tag)));

    let run = |mut phone: Phone<MemoryStore>, only: Option<Vec<(DayNumber, [u8; 16])>>| {
        let mut plan = phone
            .begin_sync(&verify_index(&index, &trust.keyring(), ANCHORS_ONLY).expect("genuine"), now)
            .expect("begin");
        if let Some(only) = only {
            plan.only_checkins(only);
        }
        while let Some(entry) = plan.next_file().copied() {
            phone.apply_next(&mut plan, fetch(&[&policy, &trace], &entry), &trust, now).expect("apply");
        }
        phone.finish_sync(plan, None, now).expect("finish");
        phone.venue_alerts().expect("store")
    };
    let full = run(twin(&phone), None);
    assert_eq!(full.len(), 1);
    assert_eq!(run(twin(&phone), Some(vec![(probe.day, probe.tag)])), full);
    assert!(run(twin(&phone), Some(Vec::new())).is_empty(), "the hook is what the matcher opens");
}

// ---------------------------------------------------------------------------
// Reports

#[test]
fn a_phone_that_never_broadcast_has_nothing_to_report() {
    let phone = phone(SENDER);
    assert!(matches!(phone.start_report(at(D, 12, 0)), Err(ReportError::NothingToReport)));
}

#[test]
fn only_a_visit_the_phone_offered_can_be_revealed() {
    let mut rng = rng(30);
    let mut phone = phone(SENDER);
    phone.advertisement(at(D, 9, 0), &mut rng).expect("store");
    let sheet = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng).sheet(D, &mut rng);
    phone.check_in(&sheet, at(D, 12, 0), &mut rng).expect("check in");
    let code = CodeFacts { report_type: ReportType::ConfirmedTest, day: D, symptom_onset: false };

    let draft = phone.start_report(at(D, 18, 0)).expect("a key to report");
    let offered = RevealedCheckIn { poster: sheet.clone(), arrival: at(D, 12, 0), departure: at(D, 13, 30) };
    assert_eq!(draft.revealable(), std::slice::from_ref(&offered));
    // The same visit, one minute longer: not what the diary holds.
    let stretched = RevealedCheckIn { departure: at(D, 13, 31), ..offered.clone() };
    let refused = draft.upload(&code, &[stretched], &mut rng);
    assert!(matches!(refused, Err(ReportError::NotRevealable(_))), "{refused:?}");

    // Nothing was released: the report can still be made, with the offered visit.
    assert!(phone.advertisement(at(D, 18, 0), &mut rng).expect("store").is_some());
    let upload =
        phone.start_report(at(D, 18, 0)).expect("keys").upload(&code, std::slice::from_ref(&offered), &mut rng);
    assert_eq!(upload.expect("upload").checkins, vec![offered.to_bytes()]);
}

#[test]
fn a_report_publishes_only_keys_within_14_days_of_the_codes_day_and_keeps_the_others() {
    // Spec §12.2.3: a certificate authorizes keys of days within 14 days of
    // its signed day; the key server refuses the rest, so the phone sends
    // only those and keeps the others unreleased.
    let mut rng = rng(32);
    let mut phone = phone(SENDER);
    for back in [13, 8, 2, 0] {
        phone.advertisement(at(D.minus(back), 9, 0), &mut rng).expect("store");
    }
    let now = at(D, 18, 0);
    // A test 22 days ago reaches D − 8 at the latest.
    let old_test = CodeFacts { report_type: ReportType::ConfirmedTest, day: D.minus(22), symptom_onset: false };
    let upload = phone.start_report(now).expect("keys").upload(&old_test, &[], &mut rng).expect("upload");
    let mut days: Vec<_> = upload.keys.iter().map(|k| k.day).collect();
    days.sort();
    assert_eq!(days, [D.minus(13), D.minus(8)]);
    // A test 40 days ago authorizes none of them: no upload at all.
    let ancient = CodeFacts { day: D.minus(40), ..old_test };
    let result = phone.start_report(now).expect("keys").upload(&ancient, &[], &mut rng);
    assert!(
        matches!(result, Err(ReportError::NothingForCodeDay(day)) if day == D.minus(40)),
        "{:?}",
        result.map(|u| u.keys.len())
    );
}

#[test]
fn a_report_uploads_the_keys_under_the_hmac_the_authority_certifies_and_turns_the_phone_red() {
    let mut rng = rng(31);
    let mut phone = phone(SENDER);
    // Keys of Tuesday (D − 3) and Friday.
    phone.advertisement(at(D.minus(3), 9, 0), &mut rng).expect("store");
    phone.advertisement(at(D, 9, 0), &mut rng).expect("store");
    let sheet = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng).sheet(D, &mut rng);
    phone.check_in(&sheet, at(D, 12, 0), &mut rng).expect("check in");
    let now = at(D, 18, 0);

    // Symptoms since Friday: Tuesday is 3 days before (risk 5), Friday the day itself (risk 8).
    let code = CodeFacts { report_type: ReportType::ConfirmedTest, day: D, symptom_onset: true };
    let draft = phone.start_report(now).expect("keys to report");
    let visit = draft.revealable()[0].clone();
    let upload = draft.upload(&code, std::slice::from_ref(&visit), &mut rng).expect("upload");

    let mut keys: Vec<_> = upload.keys.iter().map(|k| (k.day, k.transmission_risk.level(), k.key.0)).collect();
    keys.sort();
    let stored = |day| *phone.store().daily_key(day).expect("store").expect("drawn").0.expose_secret();
    assert_eq!(keys, vec![(D.minus(3), 5, stored(D.minus(3))), (D, 8, stored(D))]);
    let checkin = visit.to_bytes();
    let recomputed = upload_hmac(&upload.hmac_key, &upload.keys, &[checkin.as_slice()]).expect("hmac");
    assert_eq!(upload.hmac, recomputed);
    assert_eq!(upload.diagnosis, Diagnosis { day: D, report_type: ReportType::ConfirmedTest, symptom_onset: true });

    // Before the upload went through, nothing changed.
    assert_ne!(phone.status(now).expect("store").color, Color::Red);

    let reported = phone.complete_report(&upload).expect("store");
    assert_eq!(
        reported,
        Reported {
            days: vec![D.minus(3), D],
            checkins: 1,
            report_type: ReportType::ConfirmedTest,
            diagnosis_day: D,
            symptom_onset: true
        }
    );
    // Red until the end of Friday + 10 days, even though the phone never synced.
    let decision = phone.status(now).expect("store");
    assert_eq!((decision.color, decision.until), (Color::Red, Some(D.plus(10).end())));
    assert_eq!(phone.diagnosis().expect("store"), Some(upload.diagnosis));
    // A second report has nothing new: it says when the first one was made.
    let again = phone.start_report(now.plus(600));
    assert!(matches!(again, Err(ReportError::AlreadyReported(at)) if at == now), "{again:?}");
    let said = again.expect_err("refused").to_string();
    assert!(said.starts_with("already reported on 2024-10-04 18:00 UTC"), "{said}");
    assert_eq!(phone.advertisement(now, &mut rng).expect("store"), None);
}

/// Issue 18 item 15, never a silent green: a phone is fresh as of the
/// signed time of the newest index it accepted, capped at its clock. A
/// `304` forever, an old index replayed, or a phone clock running ahead
/// leave it stale once the policy's limit has passed; an index signed in
/// the future is refused and does not raise the clock floor.
#[test]
fn freshness_is_the_newest_signed_index_never_a_304_a_replay_or_the_phones_clock() {
    let Friday { server, policy, batch1, index1, .. } = friday(12);
    let saturday = D.plus(1);
    let signed = at(saturday, 3, 5);

    // A phone that heard no one syncs at 04:00 the index signed at 03:05:
    // green until the limit after 03:05, not after 04:00.
    let mut quiet = phone(RECEIVER);
    let (_, decision) = sync(&mut quiet, &server, &index1, &[&policy, &batch1], at(saturday, 4, 0)).expect("sync");
    let limit = u64::from(quiet.policy().expect("store").expect("the signed policy").params().stale_after_hours) * 3600;
    assert_eq!(decision.color, Color::Green);
    assert_eq!(decision.until, Some(signed.plus(limit + 1)));
    assert_eq!(quiet.fresh_as_of(at(saturday, 4, 0)).expect("store"), Some(signed));

    // Past the limit, a 304 ("unchanged") moves nothing: stale.
    let later = signed.plus(limit + 1);
    let decision = quiet.sync_unchanged(later).expect("store");
    assert_eq!(decision.color, Color::Stale, "{decision:?}");
    // Nor does the same old index replayed, accepted as it rolls nothing back.
    let (_, decision) = sync(&mut quiet, &server, &index1, &[], later).expect("a replay is not an error");
    assert_eq!(decision.color, Color::Stale, "{decision:?}");
    // A newly signed index, with the same files, does.
    let renewed = server.index(later.minus(600), &[&policy, &batch1]);
    let (_, decision) = sync(&mut quiet, &server, &renewed, &[], later).expect("sync");
    assert_eq!(decision.color, Color::Green);

    // A phone whose clock is 30 days ahead syncs the same index: stale at
    // once, not 30 more days of green.
    let mut ahead = phone(RECEIVER);
    let (_, decision) =
        sync(&mut ahead, &server, &index1, &[&policy, &batch1], at(saturday, 4, 0).plus(30 * 86_400)).expect("sync");
    assert_eq!(decision.color, Color::Stale, "{decision:?}");

    // An index signed 14 hours after the phone's clock is refused and the
    // floor stays; one a few minutes ahead (clocks differ) is accepted.
    let mut phone_now = phone(RECEIVER);
    let future = server.index(signed.plus(14 * 3600), &[&policy, &batch1]);
    let refused = sync(&mut phone_now, &server, &future, &[&policy, &batch1], at(saturday, 4, 0));
    assert!(
        matches!(&refused, Err(SyncError::Rejected(why)) if why.contains("ahead of this device's clock")),
        "{refused:?}"
    );
    assert_eq!(phone_now.clock_floor().expect("store"), UnixTime(0));
    assert_eq!(phone_now.status(at(saturday, 4, 0)).expect("store").color, Color::Stale, "never synced");
    let (_, decision) = sync(&mut phone_now, &server, &index1, &[&policy, &batch1], at(saturday, 3, 0)).expect("5 min");
    assert_eq!(decision.color, Color::Green);
    assert_eq!(phone_now.fresh_as_of(at(saturday, 3, 0)).expect("store"), Some(at(saturday, 3, 0)), "capped at now");
}

#[test]
fn a_phone_that_only_checks_in_reports_its_visits_without_keys() {
    let mut rng = rng(33);
    let mut phone = phone(SENDER);
    let sheet = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng).sheet(D, &mut rng);
    phone.check_in(&sheet, at(D, 12, 0), &mut rng).expect("check in");
    let code = CodeFacts { report_type: ReportType::ConfirmedTest, day: D, symptom_onset: false };
    let now = at(D, 18, 0);

    // No key (Bluetooth was off), one visit: the report can be made.
    let draft = phone.start_report(now).expect("a visit to report");
    let visit = draft.revealable()[0].clone();
    let upload = draft.upload(&code, std::slice::from_ref(&visit), &mut rng).expect("upload");
    assert!(upload.keys.is_empty());
    assert_eq!(upload.checkins, vec![visit.to_bytes()]);
    let recomputed = upload_hmac(&upload.hmac_key, &[], &[visit.to_bytes().as_slice()]).expect("hmac");
    assert_eq!(upload.hmac, recomputed, "the certificate binds the visit alone");
    // Revealing nothing would upload nothing: refused.
    let empty = phone.start_report(now).expect("a visit").upload(&code, &[], &mut rng);
    assert!(matches!(empty, Err(ReportError::NothingForCodeDay(_))), "{:?}", empty.map(|u| u.checkins.len()));

    let reported = phone.complete_report(&upload).expect("store");
    assert_eq!((reported.days.len(), reported.checkins), (0, 1));
    assert_eq!(phone.status(now).expect("store").color, Color::Red);
    // The visit revealed is not offered again; nothing new: already reported.
    assert!(phone.revealable_visits(now).expect("store").is_empty());
    assert!(matches!(phone.start_report(now), Err(ReportError::AlreadyReported(at)) if at == now));

    // A phone with neither says what to do, and that the code was kept.
    let said = support::phone(SENDER).start_report(now).expect_err("nothing").to_string();
    assert!(said.starts_with("nothing to report") && said.contains("The code was not used"), "{said}");
}

/// A café with a printed sheet for `D`, and phones: the case (`A`), a
/// visitor there with her (`erin`) and one who came after she reported.
struct Cafe {
    server: KeyServer,
    rng: rand_chacha::ChaCha20Rng,
    venue: Venue,
    sheet: greenlight_protocol::venue::Poster,
    policy: Published,
}

fn cafe(seed: u64) -> Cafe {
    let mut rng = rng(seed);
    let server = KeyServer::new();
    let venue = Venue::new("Café Aurora", VenueKind::Restaurant, &mut rng);
    let sheet = venue.sheet(D, &mut rng);
    let policy = server.policy(1, at(D, 0, 0));
    Cafe { server, rng, venue, sheet, policy }
}

#[test]
fn a_visit_in_progress_is_revealed_as_ending_at_the_report_and_only_people_there_are_alerted() {
    let Cafe { server, mut rng, venue, sheet, policy } = cafe(40);
    let (mut case, mut erin, mut late) = (phone(SENDER), phone(RECEIVER), phone(RECEIVER));
    case.check_in(&sheet, at(D, 13, 5), &mut rng).expect("check in");
    erin.check_in(&sheet, at(D, 13, 10), &mut rng).expect("check in");

    // 13:22, still checked in (automatic check-out 14:35): the visit is
    // offered, and revealed, as ending now.
    let code = CodeFacts { report_type: ReportType::ConfirmedTest, day: D, symptom_onset: true };
    let draft = case.start_report(at(D, 13, 22)).expect("a visit");
    let offered = RevealedCheckIn { poster: sheet.clone(), arrival: at(D, 13, 5), departure: at(D, 13, 22) };
    assert_eq!(draft.revealable(), std::slice::from_ref(&offered));
    let upload = draft.upload(&code, std::slice::from_ref(&offered), &mut rng).expect("upload");
    case.complete_report(&upload).expect("store");

    // 13:29, after the report, another visitor comes in.
    late.check_in(&sheet, at(D, 13, 29), &mut rng).expect("check in");

    // The authority traces the revealed window, 13:05–13:22.
    let entry = venue.trace(&sheet, offered.arrival, offered.departure, MESSAGE, &mut rng);
    let trace = server.trace_batch(1, at(D, 13, 35), vec![entry]);
    let index = server.index(at(D, 13, 35), &[&policy, &trace]);
    let now = at(D, 13, 40);

    // Erin, there from 13:10 and still there: 12 minutes inside the
    // window, her visit counted up to now (13:40), not to 14:40.
    let (_, decision) = sync(&mut erin, &server, &index, &[&policy, &trace], now).expect("sync");
    let alert = Exposure::Venue {
        day: D.0,
        start: at(D, 13, 10).0,
        end: now.0,
        overlap_minutes: 12,
        venue_kind: VenueKind::Restaurant.to_byte(),
        venue: "Café Aurora".into(),
        message: MESSAGE.into(),
    };
    assert_eq!(erin.venue_alerts().expect("store"), vec![alert]);
    assert_eq!(decision.color, Color::Yellow, "{decision}");

    // The visitor who came after the case had left is not matched at all.
    let (applied, decision) = sync(&mut late, &server, &index, &[&policy, &trace], now).expect("sync");
    assert_eq!(applied.exposures, 0);
    assert!(late.venue_alerts().expect("store").is_empty());
    assert_eq!(decision.color, Color::Green, "{decision}");

    // The case is not alerted about her own visit, in status or explanation.
    let (applied, decision) = sync(&mut case, &server, &index, &[&policy, &trace], now).expect("sync");
    assert_eq!(applied.exposures, 0);
    assert!(case.venue_alerts().expect("store").is_empty());
    assert_eq!(decision.color, Color::Red);
    assert!(!decision.to_string().contains("venue visit"), "{decision}");
}

#[test]
fn an_overlap_never_counts_minutes_after_the_phones_own_clock() {
    let Cafe { server, mut rng, venue, sheet, policy } = cafe(41);
    let mut erin = phone(RECEIVER);
    erin.check_in(&sheet, at(D, 13, 10), &mut rng).expect("check in");
    // A guest list's window reaching into the afternoon, synced at 13:40
    // while Erin is still there (automatic check-out 14:40).
    let entry = venue.trace(&sheet, at(D, 13, 0), at(D, 16, 0), MESSAGE, &mut rng);
    let trace = server.trace_batch(1, at(D, 13, 35), vec![entry]);
    let index = server.index(at(D, 13, 35), &[&policy, &trace]);
    sync(&mut erin, &server, &index, &[&policy, &trace], at(D, 13, 40)).expect("sync");
    let alerts = erin.venue_alerts().expect("store");
    assert!(
        matches!(alerts[..], [Exposure::Venue { overlap_minutes: 30, end, .. }] if end == at(D, 13, 40).0),
        "30 minutes so far, not 90: {alerts:?}"
    );
}

#[test]
fn the_day_sheet_then_the_door_screen_of_one_venue_make_one_visit() {
    let Cafe { server, mut rng, venue, sheet, policy } = cafe(42);
    let mut phone = phone(RECEIVER);
    let screen = venue.screen(at(D, 13, 0), &mut rng);
    let first = phone.check_in(&sheet, at(D, 13, 5), &mut rng).expect("check in");
    assert_eq!((first.departure, first.extended), (at(D, 14, 35), false));
    let second = phone.check_in(&screen, at(D, 13, 6), &mut rng).expect("check in");
    // One visit: from the first arrival to the later automatic check-out.
    assert_eq!((second.arrival, second.departure, second.extended), (at(D, 13, 5), at(D, 14, 36), true));
    let visits = phone.visits().expect("store");
    assert_eq!(
        visits,
        vec![RevealedCheckIn { poster: sheet.clone(), arrival: at(D, 13, 5), departure: at(D, 14, 36) }]
    );
    // Each epoch has its sealed record, so tracing either finds the stay.
    assert_eq!(phone.store().checkins().expect("store").len(), 2);
    let entry = venue.trace(&screen, at(D, 13, 0), at(D, 14, 0), MESSAGE, &mut rng);
    let trace = server.trace_batch(1, at(D, 14, 10), vec![entry]);
    let index = server.index(at(D, 14, 10), &[&policy, &trace]);
    sync(&mut phone, &server, &index, &[&policy, &trace], at(D, 14, 10)).expect("sync");
    let alerts = phone.venue_alerts().expect("store");
    assert!(matches!(alerts[..], [Exposure::Venue { overlap_minutes: 54, .. }]), "13:06–14:00: {alerts:?}");

    // Checking out ends the one visit, in both epochs' records: a case
    // traced at the door screen after 14:20 was never met.
    let out = phone.check_out(at(D, 14, 15), &mut rng).expect("check out");
    assert_eq!((out.arrival, out.departure), (at(D, 13, 5), at(D, 14, 15)));
    assert_eq!(phone.visits().expect("store").len(), 1);
    assert_eq!(phone.store().checkins().expect("store").len(), 2, "re-sealed in place");
    let later = venue.trace(&screen, at(D, 14, 20), at(D, 15, 0), MESSAGE, &mut rng);
    let trace2 = server.trace_batch(2, at(D, 15, 10), vec![later]);
    let index = server.index(at(D, 15, 10), &[&policy, &trace, &trace2]);
    sync(&mut phone, &server, &index, &[&trace2], at(D, 15, 10)).expect("sync");
    let alerts = phone.venue_alerts().expect("store");
    assert!(
        alerts[1..].iter().all(|e| matches!(e, Exposure::Venue { overlap_minutes: 0, .. })),
        "no minute of 14:20–15:00 after leaving at 14:15: {alerts:?}"
    );
}
