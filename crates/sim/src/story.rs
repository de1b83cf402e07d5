//! The scenario: a small town over three UTC days, run in-process through
//! the real protocol API, step by step, with narration.
//!
//! - **Day 1** (Mon 2026-05-11). Alice and Bob share an office 09–12 at
//!   arm's length. Alice and Erin check in at Café Aurora with overlapping
//!   visits; Carol passes through the café for five minutes, across the
//!   room from Alice. Grace checks in at Library Lumen, where Dave also
//!   sits. Dave never meets Alice, but a relay attacker captures Alice's
//!   advertisements in the office: it re-broadcasts one next to Dave at
//!   once with the TX-power byte altered, and replays another, unchanged,
//!   two hours after its interval.
//! - **Day 2**. Frank checks in at the café (the day-2 epoch). At 15:00
//!   Alice tests positive: her phone releases its keys and reveals her café
//!   visit, the authority certifies the upload's HMAC, the key server
//!   verifies and holds the keys. At 18:00 the authority and the café's
//!   owner trace Alice's epoch together.
//! - **Day 3**. At 02:00, two hours after Alice's last key's day ended, the
//!   key server seals the export batch and signs the index. At 09:00 every
//!   phone syncs and derives its color.
//!
//! Every key is drawn from one seeded ChaCha20 RNG, so a seed gives the same
//! bytes every time; times and places are fixed.

use crate::authority::{CERTIFICATE_LIFETIME_SECS, HealthAuthority};
use crate::clock::{clock, date, time, weekday_date};
use crate::error::{During, SimError};
use crate::key_server::{EMBARGO_SECS, KeyServer};
use crate::narration::{Narrator, plural};
use crate::phone::{Phone, PhoneTrust, RejectedSighting, SyncReport};
use crate::radio::{Distance, SCAN_PERIOD_SECS, TX_POWER_DBM, scan_times};
use crate::venue_owner::VenueOwner;
use greenlight_protocol::certificate::DayKind;
use greenlight_protocol::color::Diagnosis;
use greenlight_protocol::export::{RECORD_LEN, Region};
use greenlight_protocol::index::FileKind;
use greenlight_protocol::matcher::Rejection;
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::signing::{KeyId, TrustedKeys, VerifyingKey};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::venue::VenueKind;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The region code of every published file.
pub(crate) const REGION: &str = "GL-DEMO";
/// Monday 2026-05-11, the story's first day.
const FIRST_DAY: DayNumber = DayNumber(20_584);
/// How many days the story runs.
const DAYS: u32 = 3;
/// The authority's message to the traced epoch's visitors.
const TRACE_MESSAGE: &str = "A visitor later tested positive. Watch for symptoms for 14 days.";

/// The residents, in the order the table lists them.
pub(crate) const RESIDENTS: [&str; 7] = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace"];
const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;
const DAVE: usize = 3;
const ERIN: usize = 4;
const FRANK: usize = 5;
const GRACE: usize = 6;

/// The venues: name, address, kind.
const VENUES: [(&str, &str, VenueKind); 2] =
    [("Café Aurora", "Main St 5", VenueKind::Restaurant), ("Library Lumen", "Quay 2", VenueKind::Leisure)];

/// A place people can be in; a venue has posters to scan.
#[derive(Debug, Clone, Copy)]
struct Place {
    name: &'static str,
    /// Index into [`VENUES`].
    venue: Option<usize>,
}

const OFFICE: Place = Place { name: "the harbour office", venue: None };
const CAFE: Place = Place { name: "Café Aurora", venue: Some(0) };
const LIBRARY: Place = Place { name: "Library Lumen", venue: Some(1) };

/// Someone at a spot of a place for a while, maybe checked in.
#[derive(Debug, Clone, Copy)]
struct Stay {
    who: usize,
    place: Place,
    /// Where in the place, as a phrase ("at table 1"). People at the same
    /// spot are at arm's length, others across the room.
    spot: &'static str,
    from: UnixTime,
    until: UnixTime,
    checks_in: bool,
}

/// `hour:minute` UTC on story day `day` (1-based).
fn at(day: u32, hour: u64, minute: u64) -> UnixTime {
    FIRST_DAY.plus(day - 1).start().plus(hour * 3600 + minute * 60)
}

fn stays() -> Vec<Stay> {
    let stay = |who, place, spot, day, from: (u64, u64), until: (u64, u64), checks_in| Stay {
        who,
        place,
        spot,
        from: at(day, from.0, from.1),
        until: at(day, until.0, until.1),
        checks_in,
    };
    let mut stays = vec![
        stay(ALICE, OFFICE, "at the window desks", 1, (9, 0), (12, 0), false),
        stay(BOB, OFFICE, "at the window desks", 1, (9, 0), (12, 0), false),
        stay(DAVE, LIBRARY, "in the reading room", 1, (12, 0), (14, 0), false),
        stay(ALICE, CAFE, "at table 1", 1, (12, 30), (13, 30), true),
        stay(GRACE, LIBRARY, "in the reading room", 1, (12, 30), (13, 30), true),
        stay(CAROL, CAFE, "at the counter", 1, (12, 40), (12, 45), false),
        stay(ERIN, CAFE, "at table 4", 1, (13, 0), (14, 30), true),
        stay(FRANK, CAFE, "at table 2", 2, (12, 0), (13, 0), true),
    ];
    stays.sort_by_key(|s| s.from);
    stays
}

/// A relay attacker's move: capture Alice's advertisement at one time and
/// broadcast it next to Dave at another, maybe altered.
#[derive(Debug, Clone, Copy)]
struct Relay {
    captured_at: UnixTime,
    delivered_at: UnixTime,
    tamper: bool,
}

/// The attacker's transmitter is right next to Dave.
const RELAY_RSSI_DBM: i8 = -55;
/// Offset of the encrypted TX-power byte in the 31-byte packet (11 bytes
/// of headers, the 16-byte ID, then the encrypted version byte).
const TX_POWER_BYTE: usize = 28;

/// The relay attacker's two moves on day 1.
struct RelayAttack {
    /// Re-broadcast at once, TX-power byte altered.
    tampered: Relay,
    /// Re-broadcast unchanged, two hours after its interval.
    replayed: Relay,
}

fn relay_attack() -> RelayAttack {
    RelayAttack {
        tampered: Relay { captured_at: at(1, 10, 14), delivered_at: at(1, 10, 14), tamper: true },
        replayed: Relay { captured_at: at(1, 10, 4), delivered_at: at(1, 12, 4), tamper: false },
    }
}

/// Who the relay attacker targeted, and when Dave's phone heard each move.
pub(crate) struct RelayFacts {
    /// The target's name.
    pub(crate) target: &'static str,
    /// When the target heard the replay of an old advertisement.
    pub(crate) replayed_at: UnixTime,
    /// When the target heard the advertisement with altered metadata.
    pub(crate) tampered_at: UnixTime,
}

/// One resident at the end of the story.
pub(crate) struct ResidentOutcome {
    /// The resident's name.
    pub(crate) name: &'static str,
    /// What the final sync verified, matched and decided.
    pub(crate) sync: SyncReport,
}

/// Everything the story produced, for the report and the expectations.
pub(crate) struct Outcome {
    /// The RNG seed.
    pub(crate) seed: u64,
    /// When the phones synced and decided.
    pub(crate) now: UnixTime,
    /// Every resident, in [`RESIDENTS`] order.
    pub(crate) residents: Vec<ResidentOutcome>,
    /// The relay attack.
    pub(crate) relay: RelayFacts,
    /// Whether the key server refused a second upload under one certificate.
    pub(crate) reused_certificate_refused: bool,
}

impl Outcome {
    /// The resident called `name`.
    pub(crate) fn resident(&self, name: &str) -> Option<&ResidentOutcome> {
        self.residents.iter().find(|r| r.name == name)
    }
}

/// Runs the whole story with `seed`, narrating through `narrator`.
pub(crate) fn run(seed: u64, narrator: Narrator) -> Result<Outcome, SimError> {
    narrator.say(&format!("Greenlight protocol walkthrough (seed {seed})"));
    narrator.say(
        "Everything runs in this one process through the real protocol API: \
         no network, no server, no radio. Phones, the health authority, the \
         key server and the venue owners exchange bytes in memory.",
    );
    let mut town = Town::set_up(seed, narrator)?;
    town.day_one()?;
    let reused_certificate_refused = town.day_two()?;
    let (now, residents) = town.day_three()?;
    let attack = relay_attack();
    Ok(Outcome {
        seed,
        now,
        residents,
        relay: RelayFacts {
            target: RESIDENTS[DAVE],
            replayed_at: attack.replayed.delivered_at,
            tampered_at: attack.tampered.delivered_at,
        },
        reused_certificate_refused,
    })
}

/// Every party and the shared RNG.
struct Town {
    rng: ChaCha20Rng,
    say: Narrator,
    authority: HealthAuthority,
    key_server: KeyServer,
    venues: Vec<VenueOwner>,
    phones: Vec<Phone>,
    stays: Vec<Stay>,
    /// Revealed check-ins the key server passed on to the authority.
    revealed: Vec<Vec<u8>>,
}

fn key_id(key: &VerifyingKey) -> String {
    KeyId::of(key).0.iter().map(|b| format!("{b:02x}")).collect()
}

fn report_type_name(report_type: ReportType) -> &'static str {
    match report_type {
        ReportType::ConfirmedTest => "confirmed test",
        ReportType::ClinicalDiagnosis => "clinical diagnosis",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Town {
    fn set_up(seed: u64, say: Narrator) -> Result<Self, SimError> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let now = at(1, 6, 0);
        say.heading(&format!("Set-up, {} {} UTC", weekday_date(now.day()), clock(now)));

        let authority = HealthAuthority::generate(&mut rng);
        say.step(&format!(
            "Health authority: an Ed25519 signing key (key id {}) and an HPKE X25519 trace key.",
            key_id(&authority.verifying_key())
        ));
        let region = Region::new(REGION).during("key server sets its region")?;
        let mut key_server = KeyServer::generate(region, now, &mut rng);
        say.step(&format!(
            "Key server for region {REGION}: an Ed25519 export key (key id {}).",
            key_id(&key_server.verifying_key())
        ));

        let policy = ColorPolicy::recommended(1, now);
        let signed_policy = authority.sign_policy(&policy);
        say.step(&format!(
            "Color policy v1 (the recommended one) signed by the authority: {} bytes; the key server lists it.",
            signed_policy.len()
        ));
        key_server.list(FileKind::ColorPolicy, 1, now, now.plus(1), signed_policy)?;

        let mut venues = Vec::new();
        let mut qr_chars = 0;
        for (name, address, kind) in VENUES {
            let mut venue = VenueOwner::generate(name, address, kind, &mut rng);
            for day in 0..DAYS {
                let poster = venue.print_daily_poster(FIRST_DAY.plus(day), &authority.trace_public_key(), &mut rng)?;
                qr_chars = qr_chars.max(poster.to_text().len());
            }
            venues.push(venue);
        }
        say.step(&format!(
            "{} and {} each open {DAYS} daily epochs (a fresh authority share sealed to the authority's \
             trace key in each) and sign one printed poster per day. Poster QR text: up to {qr_chars} \
             characters (\"GL1:\" and base64url).",
            VENUES[0].0, VENUES[1].0
        ));
        say.step(
            "Trust: phones trust the key server's key for the index and export batches and the \
             authority's key for trace batches and the policy; the key server trusts the authority \
             for certificates; venue owners trust it for release requests.",
        );

        let days: Vec<DayNumber> = (0..DAYS).map(|d| FIRST_DAY.plus(d)).collect();
        let phones = RESIDENTS.iter().map(|_| Phone::new(&days, &mut rng)).collect();
        say.step(&format!(
            "{} residents: {}. Each phone draws a random 16-byte daily key for each of the {DAYS} days.",
            RESIDENTS.len(),
            RESIDENTS.join(", ")
        ));
        Ok(Town { rng, say, authority, key_server, venues, phones, stays: stays(), revealed: Vec::new() })
    }

    fn trust(&self) -> PhoneTrust {
        PhoneTrust {
            key_server: TrustedKeys::from_keys([self.key_server.verifying_key()]),
            authority: self.authority.trusted(),
        }
    }

    fn day_heading(&self, day: u32) {
        self.say.heading(&format!("Day {day}, {}", weekday_date(FIRST_DAY.plus(day - 1))));
    }

    fn describe_stays(&self, day: DayNumber) {
        for stay in self.stays.iter().filter(|s| s.from.day() == day) {
            let check_in = if stay.checks_in { ", checks in" } else { "" };
            self.say.step(&format!(
                "{}–{} {}: {} {}{check_in}.",
                clock(stay.from),
                clock(stay.until),
                stay.place.name,
                RESIDENTS[stay.who],
                stay.spot
            ));
        }
    }

    fn day_one(&mut self) -> Result<(), SimError> {
        self.day_heading(1);
        self.say.step(&format!(
            "Radio stand-in: phones scan every {} min and hear everyone in the same place: {} → RSSI {} \
             dBm; {} → RSSI {} dBm; every phone advertises TX power {TX_POWER_DBM} dBm. This is a table, \
             not a radio model (the simulated radio arrives with the Bluetooth issue).",
            SCAN_PERIOD_SECS / 60,
            Distance::ArmsLength.describe(),
            Distance::ArmsLength.rssi_dbm(),
            Distance::AcrossTheRoom.describe(),
            Distance::AcrossTheRoom.rssi_dbm(),
        ));
        self.describe_stays(FIRST_DAY);
        if let Some(packet) = self.phones[ALICE].advertise(at(1, 9, 2)) {
            self.say.step(
                "Each phone broadcasts a new 16-byte ID every 10 min with its TX power sealed \
                 (encrypted and authenticated) beside it, in a 31-byte packet that receivers parse \
                 with Advertisement::decode. Alice's at 09:02 — flags, UUID list, service-data \
                 header, ID, sealed metadata:",
            );
            self.say.detail(&format!(
                "{} {} {} {} {}",
                hex(&packet[..3]),
                hex(&packet[3..7]),
                hex(&packet[7..11]),
                hex(&packet[11..27]),
                hex(&packet[27..])
            ));
        }
        self.live(at(1, 0, 0), at(2, 0, 0))?;
        Ok(())
    }

    /// Lets time pass over `[from, until)`: check-ins at their arrival,
    /// radio at every scan, and the relay attacker's moves.
    fn live(&mut self, from: UnixTime, until: UnixTime) -> Result<(), SimError> {
        let in_window = |t: UnixTime| from <= t && t < until;
        for stay in self.stays.iter().filter(|s| s.checks_in && in_window(s.from)) {
            let venue = &self.venues[stay.place.venue.ok_or_else(|| SimError::story("check-in", "not a venue"))?];
            let text = venue
                .poster_text(stay.from.day())
                .ok_or_else(|| SimError::story("check-in", "no poster printed for that day"))?;
            let checked = self.phones[stay.who].check_in(&text, stay.from, stay.until, &mut self.rng)?;
            self.say.step(&format!(
                "{} {} scans the {} poster ({} characters of QR text): signature and live window check \
                 out; the visit {}–{} is sealed to the trace key of the epoch starting {} and kept \
                 in the visit diary.",
                clock(stay.from),
                RESIDENTS[stay.who],
                checked.venue,
                checked.qr_chars,
                clock(stay.from),
                clock(stay.until),
                time(checked.epoch.start()),
            ));
        }

        let before: Vec<usize> = self.phones.iter().map(Phone::sighting_count).collect();
        for t in scan_times(from, until) {
            let present: Vec<&Stay> = self.stays.iter().filter(|s| s.from <= t && t < s.until).collect();
            for speaker in &present {
                let Some(packet) = self.phones[speaker.who].advertise(t) else { continue };
                for listener in present.iter().filter(|l| l.who != speaker.who && l.place.name == speaker.place.name) {
                    let rssi = Distance::between(speaker.spot, listener.spot).rssi_dbm();
                    self.phones[listener.who].hear(&packet, rssi, t)?;
                }
            }
        }
        let heard: Vec<String> = self
            .phones
            .iter()
            .zip(&before)
            .zip(RESIDENTS)
            .filter(|&((phone, &b), _)| phone.sighting_count() > b)
            .map(|((phone, &b), name)| format!("{name} {}", phone.sighting_count() - b))
            .collect();
        if !heard.is_empty() {
            self.say.step(&format!("Sightings recorded: {}.", heard.join(", ")));
        }

        let attack = relay_attack();
        for relay in [attack.tampered, attack.replayed].into_iter().filter(|r| in_window(r.delivered_at)) {
            let mut packet = self.phones[ALICE]
                .advertise(relay.captured_at)
                .ok_or_else(|| SimError::story("relay attack", "Alice was not advertising"))?;
            if relay.tamper {
                packet[TX_POWER_BYTE] ^= 0x10;
                self.say.step(&format!(
                    "{} Relay attack: a device near the office captures Alice's advertisement and \
                     re-broadcasts it next to Dave at once, with the sealed TX-power byte altered \
                     (to make the contact look closer). Dave's phone decodes a well-formed packet \
                     and records it.",
                    clock(relay.delivered_at)
                ));
            } else {
                self.say.step(&format!(
                    "{} Relay attack: the device replays Alice's advertisement captured at {}, \
                     unchanged, next to Dave — two hours after its interval. Dave's phone records it.",
                    clock(relay.delivered_at),
                    clock(relay.captured_at)
                ));
            }
            self.phones[DAVE].hear(&packet, RELAY_RSSI_DBM, relay.delivered_at)?;
        }
        Ok(())
    }

    /// Day 2; returns whether re-using the certificate was refused.
    fn day_two(&mut self) -> Result<bool, SimError> {
        self.day_heading(2);
        let day2 = FIRST_DAY.plus(1);
        self.describe_stays(day2);
        let test_time = at(2, 15, 0);
        self.live(day2.start(), test_time)?;
        let reused_certificate_refused = self.report_positive_test(test_time)?;
        self.trace_venue(at(2, 18, 0))?;
        self.live(test_time, day2.end())?;
        Ok(reused_certificate_refused)
    }

    fn report_positive_test(&mut self, now: UnixTime) -> Result<bool, SimError> {
        let say = self.say;
        let (day1, day2) = (FIRST_DAY, FIRST_DAY.plus(1));
        say.step(&format!("{} Alice tests positive (confirmed test). At protocol level:", clock(now)));
        let prepared = self.phones[ALICE].prepare_upload(&[day1, day2], now, &mut self.rng)?;
        say.detail(&format!(
            "Alice's phone releases its daily keys of {} and {} (transmission risk {}), draws a fresh \
             key for the rest of today, reveals {}, and sends the authority only the \
             HMAC-SHA256 of that upload under a one-time key ({}…).",
            date(day1),
            date(day2),
            prepared.keys().first().map_or(0, |k| k.transmission_risk.level()),
            plural(prepared.revealed_checkins().len(), "diary visit"),
            hex(&prepared.hmac[..6])
        ));
        let certificate = self.authority.certify(
            prepared.hmac,
            ReportType::ConfirmedTest,
            DayKind::TestDate,
            day2,
            now,
            &mut self.rng,
        )?;
        say.detail(&format!(
            "The authority signs a certificate over the HMAC ({} bytes): confirmed test, test date \
             {}, valid {}–{}. It never sees the keys.",
            certificate.len(),
            date(day2),
            clock(now),
            clock(now.plus(CERTIFICATE_LIFETIME_SECS))
        ));
        let upload = prepared.certified(certificate);
        let received = now.plus(60);
        let authorities = self.authority.trusted();
        let accepted = self.key_server.accept(&upload, &authorities, received)?;
        say.detail(&format!(
            "The key server verifies the certificate's signature and validity, that its id is \
             unused, and that the HMAC covers exactly the uploaded keys and check-in: accepted; {} \
             held for publication, stamped \"{}\" from the certificate. The revealed check-in goes \
             to the authority.",
            plural(accepted.keys, "key"),
            report_type_name(accepted.report_type)
        ));
        let reused = self.key_server.accept(&upload, &authorities, received.plus(60));
        if let Err(refusal) = &reused {
            say.detail(&format!("The same certificate sent again is refused ({refusal})."));
        }
        let diagnosis = Diagnosis { day: day2, report_type: accepted.report_type };
        self.phones[ALICE].record_diagnosis(diagnosis);
        say.detail(&format!("Alice's phone records her diagnosis of {}.", date(day2)));
        self.revealed = upload.revealed_checkins;
        Ok(reused.is_err())
    }

    fn trace_venue(&mut self, now: UnixTime) -> Result<(), SimError> {
        let say = self.say;
        say.step(&format!("{} Venue trace of Alice's revealed visit:", clock(now)));
        let revealed = self.revealed.first().ok_or_else(|| SimError::story("venue trace", "nothing revealed"))?;
        let pending = self.authority.request_release(revealed, now)?;
        let poster = &pending.revealed.poster;
        let venue = self
            .venues
            .iter()
            .find(|v| v.public_key() == *poster.venue_key())
            .ok_or_else(|| SimError::story("venue trace", "no such venue in town"))?;
        say.detail(&format!(
            "The authority parses the revealed check-in (the poster's signature verifies: {}, epoch \
             from {}, {} min), recomputes its share of the epoch's trace secret from the poster's \
             HPKE encapsulation, and sends the owner a signed release request for that one epoch.",
            poster.info().name,
            time(poster.epoch().start()),
            poster.epoch().minutes()
        ));
        let (request, release) = venue.answer(&pending.request, &self.authority.trusted())?;
        say.detail(&format!(
            "The owner of {} verifies the request against the authority's key and releases the owner \
             share of exactly {}, signed with the venue key ({} bytes). Neither share alone \
             can trace.",
            venue.name(),
            plural(request.epochs.len(), "epoch"),
            release.len()
        ));
        let trace = self.authority.publish_trace(&pending, &release, TRACE_MESSAGE, now, &mut self.rng)?;
        say.detail(&format!(
            "The authority checks the release; TraceSecret::combine confirms the two shares open the \
             poster's trace key. Trace entry: window {} {}–{}, with a message only visitors can \
             read. Trace batch #{} signed by the authority: {} bytes; the key server lists it.",
            date(pending.revealed.arrival.day()),
            clock(pending.revealed.arrival),
            clock(pending.revealed.departure),
            trace.batch.sequence,
            trace.bytes.len()
        ));
        let created = trace.batch.created_at;
        self.key_server.list(FileKind::TraceBatch, trace.batch.sequence, created, created.plus(1), trace.bytes)?;
        Ok(())
    }

    fn day_three(&mut self) -> Result<(UnixTime, Vec<ResidentOutcome>), SimError> {
        self.day_heading(3);
        let say = self.say;
        let day3 = FIRST_DAY.plus(2);
        let publish_at = at(3, 2, 0);
        self.live(day3.start(), publish_at)?;
        let publication = self.key_server.publish(publish_at)?;
        let last_key_day = FIRST_DAY.plus(1);
        say.step(&format!(
            "{} The key server publishes. Alice's newest key is for {}, a day that ended {} min \
             ago; keys are published no earlier than {} min after their day ends (embargo), so all may go out \
             now ({} held back).",
            clock(publish_at),
            date(last_key_day),
            (publish_at.0 - last_key_day.end().0) / 60,
            EMBARGO_SECS / 60,
            publication.held_back
        ));
        if publication.keys > 0 {
            let fixed = publication.export_bytes - publication.keys * RECORD_LEN;
            say.detail(&format!(
                "Export batch #1: {}, {} bytes signed, {:.1} bytes per key: {RECORD_LEN} per record \
                 plus {fixed} bytes of header and signature per batch, so at most 24 per key once a \
                 batch holds {} keys.",
                plural(publication.keys, "key"),
                publication.export_bytes,
                publication.export_bytes as f64 / publication.keys as f64,
                fixed.div_ceil(24 - RECORD_LEN)
            ));
        }
        let listed: Vec<String> = publication
            .entries
            .iter()
            .map(|e| {
                let kind = match e.kind {
                    FileKind::ExportBatch => "export batch",
                    FileKind::TraceBatch => "trace batch",
                    FileKind::ColorPolicy => "policy",
                };
                format!("{kind} #{} ({} B, {}…)", e.sequence, e.size, &e.file_name()[..8])
            })
            .collect();
        say.detail(&format!(
            "Signed index ({} bytes) lists {} content-addressed files: {}.",
            publication.index_bytes,
            listed.len(),
            listed.join(", ")
        ));

        let now = at(3, 9, 0);
        self.live(publish_at, now)?;
        say.step(&format!(
            "{} Every phone syncs: it verifies the index against the key server's key, checks each \
             file's size and SHA-256 against its entry, verifies the export batch (key server), the \
             trace batch and the policy (authority), then matches published keys against its own \
             sightings and trace entries against its own sealed check-ins, and decides its color.",
            clock(now)
        ));
        let trust = self.trust();
        let mut residents = Vec::new();
        for (name, phone) in RESIDENTS.iter().zip(&self.phones) {
            let sync = phone.sync(&self.key_server, &trust, now)?;
            say.detail(&describe_sync(name, &sync));
            residents.push(ResidentOutcome { name, sync });
        }
        Ok((now, residents))
    }
}

/// One resident's sync in a sentence or two.
fn describe_sync(name: &str, sync: &SyncReport) -> String {
    let mut text = format!(
        "{name}: {} files ✓; {} of {} published keys heard, {} accepted",
        sync.files,
        sync.keys_matched,
        sync.keys,
        plural(sync.accepted, "sighting")
    );
    for rejected in &sync.rejected {
        text.push_str(&format!(", 1 rejected ({})", describe_rejection(rejected)));
    }
    text.push_str(&format!(
        "; {} trace {} opened {} of {}",
        sync.trace_entries,
        if sync.trace_entries == 1 { "entry" } else { "entries" },
        sync.venue_hits.len(),
        plural(sync.check_ins, "check-in")
    ));
    for hit in &sync.venue_hits {
        text.push_str(&format!(
            " ({}, {}–{}, {} min inside the traced {}–{}; message: \"{}\")",
            hit.venue,
            clock(hit.arrival),
            clock(hit.departure),
            hit.overlap_minutes,
            clock(hit.window.0),
            clock(hit.window.1),
            hit.message
        ));
    }
    text.push('.');
    text
}

/// Why a sighting was refused, for people.
pub(crate) fn describe_rejection(rejected: &RejectedSighting) -> String {
    let heard = clock(rejected.seen_at);
    let interval = rejected
        .interval
        .map(|i| format!("{}–{}", clock(i.start()), clock(i.end())))
        .unwrap_or_else(|| "unknown".to_owned());
    match rejected.reason {
        Rejection::OutsideInterval => format!("heard {heard}, outside its interval {interval}: replay"),
        Rejection::TamperedMetadata => format!("heard {heard} in its interval {interval}, tag fails: tampered"),
        Rejection::UnknownVersion => format!("heard {heard}, metadata of an unknown major version"),
    }
}
