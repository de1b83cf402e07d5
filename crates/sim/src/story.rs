//! The scenario: a small town over three UTC days on the real libraries,
//! step by step, with narration.
//!
//! Every resident's phone is the resident core (`greenlight_phone::Phone`
//! over its in-memory store); the key server, the health authority and its
//! staff portal are the real `greenlight-server`, in this process on a
//! loopback port ([`deployment`]); the venues are the venue owner's tool
//! (`greenlight_venue::Venue`). Only the radio is a stand-in: a table of
//! received signal strengths by distance, applied to the advertisements the
//! phones really broadcast.
//!
//! - **Day 1** (Mon 2026-05-11). Alice and Bob share an office 09–12 at
//!   arm's length. Alice and Erin check in at Café Aurora with overlapping
//!   visits; Carol passes through the café for five minutes, across the
//!   room from Alice. Grace checks in at Library Lumen, where Dave also
//!   sits. Dave never meets Alice, but a relay attacker captures Alice's
//!   advertisements in the office: it re-broadcasts one next to Dave at
//!   once with the sealed TX-power byte altered, and replays another,
//!   unchanged, two hours after its interval.
//! - **Day 2**. Frank checks in at the café (the day-2 epoch). At 15:00
//!   Alice tests positive: staff issue her an upload code in the portal, her
//!   phone exchanges it, has its upload's HMAC certified and publishes her
//!   keys and café visit. The hourly export run at 16:00 seals her Monday
//!   key. At 18:00 a tracer opens the café's case, the owner releases the
//!   owner share of Monday's epoch, and the tracer publishes the trace.
//! - **Day 3**. At 02:00, two hours after Tuesday ended, the export run
//!   seals Alice's Tuesday key. At 09:00 every phone syncs and derives its
//!   color.
//!
//! The phones' keys, the venues' secrets and every upload key are drawn
//! from one seeded ChaCha20 RNG; the server draws its own keys and codes
//! from the operating system, so the narration shows none of them.

mod deployment;

use crate::clock::{clock, date, time, weekday_date};
use crate::error::{During, SimError};
use crate::narration::{Narrator, plural};
use deployment::Deployment;
use greenlight_api::publish::PublishRequest;
use greenlight_phone::report::CodeFacts;
use greenlight_phone::sync::verify_index;
use greenlight_phone::{Applied, Exposure, MemoryStore, Phone, Store as _, VerifiedFile};
use greenlight_protocol::advert::{Advertisement, ServiceUuid};
use greenlight_protocol::calibration::Calibration;
use greenlight_protocol::certificate::DayKind;
use greenlight_protocol::color::{ColorDecision, Diagnosis};
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::matcher::{MatchConfig, Rejection, Sighting, SightingIndex};
use greenlight_protocol::policy::{AttenuationBucket, ColorPolicy};
use greenlight_protocol::report::ReportType;
use greenlight_protocol::time::{DayNumber, IntervalNumber, UnixTime};
use greenlight_protocol::venue::{Poster, VenueInfo, VenueKind};
use greenlight_testkit::TempDir;
use greenlight_venue::Venue;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The region code of every published file.
const REGION: &str = "GL-DEMO";
/// Monday 2026-05-11, the story's first day.
const FIRST_DAY: DayNumber = DayNumber(20_584);
/// How many days the story runs.
const DAYS: u32 = 3;
/// The tracer's message to the traced epoch's visitors.
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

/// The service UUID every phone advertises and scans for.
const SERVICE_UUID: ServiceUuid = ServiceUuid::PLACEHOLDER;
/// Every phone is of a model with the default calibration.
const CALIBRATION: Calibration = Calibration::DEFAULT;
/// How often a phone scans: the core's scan period.
const SCAN_PERIOD_SECS: u64 = greenlight_phone::SCAN_PERIOD_SECS;
/// Scans happen this far into each scan period, so a scan never sits on an
/// interval boundary (where "which ID was live" would be a coin toss).
const SCAN_OFFSET_SECS: u64 = 120;

/// How far apart two people in the same place are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Distance {
    /// The same spot of a place: about a metre.
    ArmsLength,
    /// Different spots of the same place, people and furniture between.
    AcrossTheRoom,
}

impl Distance {
    fn between(a: &str, b: &str) -> Distance {
        if a == b { Distance::ArmsLength } else { Distance::AcrossTheRoom }
    }

    /// The RSSI a phone records at this distance, dBm: a table, not a
    /// radio model.
    fn rssi_dbm(self) -> i8 {
        match self {
            Distance::ArmsLength => -70,
            Distance::AcrossTheRoom => -102,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Distance::ArmsLength => "at the same spot (≈1 m)",
            Distance::AcrossTheRoom => "elsewhere in the room, near the edge of hearing",
        }
    }
}

/// The scan instants in `[from, until)`.
fn scan_times(from: UnixTime, until: UnixTime) -> impl Iterator<Item = UnixTime> {
    let mut first = from.0 - from.0 % SCAN_PERIOD_SECS + SCAN_OFFSET_SECS;
    if first < from.0 {
        first += SCAN_PERIOD_SECS;
    }
    (first..until.0).step_by(usize::try_from(SCAN_PERIOD_SECS).expect("small")).map(UnixTime)
}

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

/// The relay attacker's two moves on day 1: re-broadcast at once with the
/// TX-power byte altered, and unchanged two hours after its interval.
fn relays() -> [Relay; 2] {
    [
        Relay { captured_at: at(1, 10, 14), delivered_at: at(1, 10, 14), tamper: true },
        Relay { captured_at: at(1, 10, 4), delivered_at: at(1, 12, 4), tamper: false },
    ]
}

/// Who the relay attacker targeted, and when the target's phone heard
/// each move.
pub(crate) struct RelayFacts {
    /// The target's name.
    pub(crate) target: &'static str,
    /// When the target heard the replay of an old advertisement.
    pub(crate) replayed_at: UnixTime,
    /// When the target heard the advertisement with altered metadata.
    pub(crate) tampered_at: UnixTime,
}

/// A sighting of a published key the matcher refused.
pub(crate) struct RejectedSighting {
    /// When the phone heard it.
    pub(crate) seen_at: UnixTime,
    /// The interval the ID belongs to, as the story knows it (the matcher
    /// reports only the sighting and the reason).
    pub(crate) interval: Option<IntervalNumber>,
    /// Why the matcher refused it.
    pub(crate) reason: Rejection,
}

/// A visit of the phone's that a trace opened.
pub(crate) struct VenueAlert {
    /// The venue, from the opened check-in.
    pub(crate) venue: String,
    /// The visit.
    pub(crate) arrival: UnixTime,
    /// The visit's end.
    pub(crate) departure: UnixTime,
    /// Minutes inside the traced window.
    pub(crate) overlap_minutes: u32,
    /// The tracer's message.
    pub(crate) message: String,
}

/// One resident at the end of the story, as their phone's core reports it.
pub(crate) struct ResidentOutcome {
    /// The resident's name.
    pub(crate) name: &'static str,
    /// The color, its explanation and its end.
    pub(crate) decision: ColorDecision,
    /// What the final sync applied.
    pub(crate) applied: Applied,
    /// The phone's own diagnosis, if it reported one.
    pub(crate) diagnosis: Option<Diagnosis>,
    /// Visits in the diary.
    pub(crate) check_ins: usize,
    /// Visits a trace opened.
    pub(crate) venue_alerts: Vec<VenueAlert>,
    /// Sightings of published keys the matcher refused, with the reason.
    pub(crate) rejected: Vec<RejectedSighting>,
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
pub(crate) async fn run(seed: u64, narrator: Narrator) -> Result<Outcome, SimError> {
    narrator.say(&format!("Greenlight protocol walkthrough (seed {seed})"));
    narrator.say(
        "Everything runs in this one process on the real libraries: each phone is \
         the resident core (greenlight-phone), the key server and health \
         authority are greenlight-server on a loopback port, staff use its \
         portal and venue owners the venue tool. Only the radio is a stand-in: \
         no Bluetooth, and no network beyond 127.0.0.1.",
    );
    let mut town = Town::set_up(seed, narrator).await?;
    let outcome = town.play(seed).await;
    town.deployment.stop().await;
    outcome
}

/// Every party and the shared RNG.
struct Town {
    rng: ChaCha20Rng,
    say: Narrator,
    deployment: Deployment,
    /// The venue owners' tools; their data lives in `_venue_dir`.
    venues: Vec<Venue>,
    /// Each venue's poster QR text, one per story day.
    posters: Vec<Vec<String>>,
    _venue_dir: TempDir,
    phones: Vec<Phone<MemoryStore>>,
    stays: Vec<Stay>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn report_type_name(report_type: ReportType) -> &'static str {
    match report_type {
        ReportType::ConfirmedTest => "confirmed test",
        ReportType::ClinicalDiagnosis => "clinical diagnosis",
    }
}

fn bucket_name(bucket: AttenuationBucket) -> &'static str {
    match bucket {
        AttenuationBucket::Immediate => "immediate",
        AttenuationBucket::Near => "near",
        AttenuationBucket::Medium => "medium",
        AttenuationBucket::Other => "other",
    }
}

impl Town {
    async fn set_up(seed: u64, say: Narrator) -> Result<Self, SimError> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let now = at(1, 6, 0);
        say.heading(&format!("Set-up, {} {} UTC", weekday_date(now.day()), clock(now)));

        let deployment = Deployment::start(REGION, now).await?;
        say.step(&format!(
            "greenlight-server starts on 127.0.0.1 with a fresh SQLite database and a clock the \
             story moves, for region {REGION}. `authority init` has made the health authority's \
             Ed25519 signing key, its X25519 trace key and a staff account; the key server has \
             its Ed25519 export key. The server draws these from the operating system, not from \
             the seed."
        ));

        let policy = ColorPolicy::recommended(1, now);
        deployment.publish_policy(&policy).await?;
        say.step(
            "An admin fills in the portal's color policy form with the recommended values; the \
             authority signs it as policy #1 and the key server lists it in its signed index.",
        );

        let venue_dir = TempDir::try_new("walkthrough-venues").during("a directory for the venues")?;
        let mut venues = Vec::new();
        let mut posters = Vec::new();
        for (n, (name, address, kind)) in VENUES.into_iter().enumerate() {
            let info = VenueInfo { name: name.to_owned(), address: address.to_owned(), kind };
            let step = format!("{name} sets up the venue tool");
            let mut venue =
                Venue::create(&venue_dir.0.join(format!("venue-{n}")), info, deployment.authority, &mut rng)
                    .during(&step)?;
            let printed = venue.day_posters(FIRST_DAY, DAYS, now, &mut rng).during(&step)?;
            posters.push(printed.iter().map(Poster::to_text).collect::<Vec<_>>());
            venues.push(venue);
        }
        let qr_chars = posters.iter().flatten().map(String::len).max().unwrap_or(0);
        say.step(&format!(
            "{} and {} set up the venue owner's tool (greenlight-venue) with the authority's two \
             public keys and print a poster for each of the {DAYS} days: one day epoch each, with \
             a fresh authority share sealed to the trace key, signed with the venue key. Poster QR \
             text: up to {qr_chars} characters (\"GL1:\" and base64url).",
            VENUES[0].0, VENUES[1].0
        ));
        say.step(
            "Trust: phones are set up with the key server's export key and the authority's root \
             key; the root key signs only the key set, which names one key per purpose (certificates, \
             the policy, trace batches and release requests). Phones fetch the key set first in every \
             sync; the key server checks certificates with the certificate key it names, venue owners \
             check release requests with the tracing key it names.",
        );

        let phones = RESIDENTS.iter().map(|_| Phone::new(MemoryStore::new(), CALIBRATION)).collect();
        say.step(&format!(
            "{} residents: {}. Each phone runs the resident core over an in-memory store and draws \
             each day's random 16-byte daily key when it first advertises that day.",
            RESIDENTS.len(),
            RESIDENTS.join(", ")
        ));
        Ok(Town { rng, say, deployment, venues, posters, _venue_dir: venue_dir, phones, stays: stays() })
    }

    async fn play(&mut self, seed: u64) -> Result<Outcome, SimError> {
        self.day_one()?;
        let reused_certificate_refused = self.day_two().await?;
        let (now, residents) = self.day_three().await?;
        let [tampered, replayed] = relays();
        Ok(Outcome {
            seed,
            now,
            residents,
            relay: RelayFacts {
                target: RESIDENTS[DAVE],
                replayed_at: replayed.delivered_at,
                tampered_at: tampered.delivered_at,
            },
            reused_certificate_refused,
        })
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
        let policy = ColorPolicy::recommended(1, UnixTime(0));
        let heard = |d: Distance| {
            let attenuation = CALIBRATION.attenuation_db(CALIBRATION.tx_power_dbm, d.rssi_dbm());
            format!(
                "{} at {} dBm, attenuation {attenuation} dB ({})",
                d.describe(),
                d.rssi_dbm(),
                bucket_name(policy.bucket(attenuation))
            )
        };
        self.say.step(&format!(
            "Radio stand-in: every {} min each phone scans and hears every phone in the same \
             place: {}; {}. Every phone is of a model with the default calibration (advertises \
             {} dBm, adds {} dB to what it hears), and the core computes attenuation with the \
             receiver's correction. This is a table, not a radio model: the town runs the \
             simulated radio (greenlight_ble::sim).",
            SCAN_PERIOD_SECS / 60,
            heard(Distance::ArmsLength),
            heard(Distance::AcrossTheRoom),
            CALIBRATION.tx_power_dbm,
            CALIBRATION.rssi_correction_db,
        ));
        self.describe_stays(FIRST_DAY);
        let t = at(1, 9, 2);
        let advertisement = self.phones[ALICE].advertisement(t, &mut self.rng).during("Alice's phone advertises")?;
        if let Some(advertisement) = advertisement {
            let packet = advertisement.encode(SERVICE_UUID);
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
        self.live(FIRST_DAY.start(), FIRST_DAY.end())
    }

    /// Lets time pass over `[from, until)`: check-ins and check-outs,
    /// every phone's advertisement and everyone's scans, and the relay
    /// attacker's moves.
    fn live(&mut self, from: UnixTime, until: UnixTime) -> Result<(), SimError> {
        let in_window = |t: UnixTime| from <= t && t < until;
        let stays: Vec<Stay> = self.stays.iter().filter(|s| s.checks_in).copied().collect();
        for stay in stays.iter().filter(|s| in_window(s.from)) {
            self.check_in(stay)?;
        }
        for stay in stays.iter().filter(|s| in_window(s.until)) {
            self.check_out(stay)?;
        }

        let mut heard: Vec<Vec<Sighting>> = vec![Vec::new(); self.phones.len()];
        for t in scan_times(from, until) {
            // Phones broadcast all day, whether anyone listens or not.
            let mut broadcasts = Vec::with_capacity(self.phones.len());
            for phone in &mut self.phones {
                broadcasts.push(phone.advertisement(t, &mut self.rng).during("a phone advertises")?);
            }
            let present: Vec<&Stay> = self.stays.iter().filter(|s| s.from <= t && t < s.until).collect();
            for speaker in &present {
                let Some(advertisement) = broadcasts[speaker.who] else { continue };
                for listener in present.iter().filter(|l| l.who != speaker.who && l.place.name == speaker.place.name) {
                    let rssi = Distance::between(speaker.spot, listener.spot).rssi_dbm();
                    heard[listener.who].push(received(advertisement, rssi, t)?);
                }
            }
        }
        let mut summary = Vec::new();
        for (who, sightings) in heard.iter().enumerate() {
            let recorded = self.phones[who].record_sightings(sightings).during("a phone records sightings")?;
            if recorded.stored > 0 {
                summary.push(format!("{} {}", RESIDENTS[who], recorded.stored));
            }
        }
        if !summary.is_empty() {
            self.say.step(&format!("Sightings recorded: {}.", summary.join(", ")));
        }

        for relay in relays().into_iter().filter(|r| in_window(r.delivered_at)) {
            self.relay(relay)?;
        }
        Ok(())
    }

    fn check_in(&mut self, stay: &Stay) -> Result<(), SimError> {
        let step = format!("{} checks in", RESIDENTS[stay.who]);
        let venue = stay.place.venue.ok_or_else(|| SimError::story(&step, "not a venue"))?;
        let day = stay.from.day().0 - FIRST_DAY.0;
        let text = self.posters[venue]
            .get(day as usize)
            .ok_or_else(|| SimError::story(&step, "no poster printed for that day"))?;
        let poster = greenlight_phone::checkin::verify_poster(text, stay.from).during(&step)?;
        let checked = self.phones[stay.who].check_in(&poster, stay.from, &mut self.rng).during(&step)?;
        self.say.step(&format!(
            "{} {} scans the {} poster ({} characters of QR text): signature and live window \
             check out. The visit is sealed under the phone's check-in key of the day with a \
             planned departure at {} (the typical stay at a venue of kind {}: the automatic check-out) and kept in \
             the visit diary.",
            clock(stay.from),
            RESIDENTS[stay.who],
            checked.venue,
            text.len(),
            clock(checked.departure),
            poster.info().kind.as_str(),
        ));
        Ok(())
    }

    fn check_out(&mut self, stay: &Stay) -> Result<(), SimError> {
        let phone = &mut self.phones[stay.who];
        let step = format!("{} checks out", RESIDENTS[stay.who]);
        let planned = phone
            .visits()
            .during(&step)?
            .into_iter()
            .filter(|v| v.arrival == stay.from)
            .map(|v| v.departure)
            .next_back()
            .ok_or_else(|| SimError::story(&step, "no visit in the diary"))?;
        if planned <= stay.until.plus(60) {
            self.say.step(&format!(
                "{} {} leaves; the automatic check-out ends the visit then.",
                clock(stay.until),
                RESIDENTS[stay.who]
            ));
            return Ok(());
        }
        let checked = phone.check_out(stay.until, &mut self.rng).during(&step)?;
        self.say.step(&format!(
            "{} {} checks out of {}: the record is sealed again with the real departure.",
            clock(checked.departure),
            RESIDENTS[stay.who],
            checked.venue
        ));
        Ok(())
    }

    fn relay(&mut self, relay: Relay) -> Result<(), SimError> {
        let captured = self.phones[ALICE]
            .advertisement(relay.captured_at, &mut self.rng)
            .during("the relay attacker listens")?
            .ok_or_else(|| SimError::story("relay attack", "Alice was not advertising"))?;
        let mut packet = captured.encode(SERVICE_UUID);
        if relay.tamper {
            packet[TX_POWER_BYTE] ^= 0x10;
            self.say.step(&format!(
                "{} Relay attack: a device near the office captures Alice's advertisement and \
                 re-broadcasts it next to Dave at once, with the sealed TX-power byte altered (to \
                 make the contact look closer). Dave's phone decodes a well-formed packet and \
                 records it.",
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
        let advertisement = Advertisement::decode(&packet, SERVICE_UUID).during("Dave's phone decodes the packet")?;
        let sighting = received(advertisement, RELAY_RSSI_DBM, relay.delivered_at)?;
        self.phones[DAVE].record_sightings(&[sighting]).during("Dave's phone records the sighting")?;
        Ok(())
    }

    /// Day 2; returns whether re-using the certificate was refused.
    async fn day_two(&mut self) -> Result<bool, SimError> {
        self.day_heading(2);
        let day2 = FIRST_DAY.plus(1);
        self.describe_stays(day2);
        let test_time = at(2, 15, 0);
        self.live(day2.start(), test_time)?;
        let reused_certificate_refused = self.report_positive_test(test_time).await?;
        self.export_runs(at(2, 16, 0), at(2, 17, 0)).await?;
        self.trace_venue(at(2, 18, 0)).await?;
        self.live(test_time, day2.end())?;
        Ok(reused_certificate_refused)
    }

    async fn report_positive_test(&mut self, now: UnixTime) -> Result<bool, SimError> {
        let say = self.say;
        let day2 = FIRST_DAY.plus(1);
        self.deployment.set_now(now);
        say.step(&format!("{} Alice tests positive (confirmed test).", clock(now)));
        let code = self.deployment.issue_code(day2).await?;
        say.detail(&format!(
            "A staff member signs in to the authority's portal and issues an 8-digit upload code \
             for a confirmed test taken on {}; Alice types it into her phone.",
            date(day2)
        ));
        let phone = &mut self.phones[ALICE];
        let draft = phone.start_report(now).during("Alice's phone starts the report")?;
        let verified = self.deployment.verify(&code).await?;
        let facts = CodeFacts {
            report_type: verified.report_type,
            day: verified.day,
            symptom_onset: verified.day_kind == DayKind::SymptomOnset,
        };
        // Alice agrees to reveal every visit her phone offers: the café.
        let reveal = draft.revealable().to_vec();
        let upload = draft.upload(&facts, &reveal, &mut self.rng).during("Alice's phone builds the upload")?;
        let days: Vec<String> = upload.keys.iter().map(|k| date(k.day)).collect();
        let risks: Vec<String> = upload.keys.iter().map(|k| k.transmission_risk.level().to_string()).collect();
        say.detail(&format!(
            "Alice's phone exchanges the code at POST /v1/verify for a token (a {}, test date \
             {}), releases its daily keys of {} (transmission risk {}), reveals {}, and sends the \
             authority only the HMAC-SHA256 of that upload under a one-time key (the revealed \
             visit carries the poster, whose share is sealed to the server's trace key, so the \
             HMAC differs from run to run).",
            report_type_name(facts.report_type),
            date(facts.day),
            days.join(" and "),
            risks.join(" and "),
            plural(upload.checkins.len(), "diary visit"),
        ));
        let certificate = self.deployment.certify(&verified.token, &upload.hmac).await?;
        say.detail(&format!(
            "POST /v1/certificate: the authority signs a certificate over the HMAC ({} characters \
             of text): confirmed test, test date {}. It never sees the keys.",
            certificate.len(),
            date(day2)
        ));
        let request = PublishRequest::new(&upload.keys, &upload.checkins, &certificate, &upload.hmac_key);
        self.deployment.set_now(now.plus(60));
        if let Err(refusal) = self.deployment.publish(&request).await? {
            return Err(SimError::story(
                "Alice's phone publishes",
                format!("refused: HTTP {} {}", refusal.http, refusal.code),
            ));
        }
        say.detail(&format!(
            "POST /v1/publish, padded like every upload: the key server verifies the certificate's \
             signature and validity, that it is unused, and that the HMAC covers exactly the \
             uploaded keys and check-in: accepted; {} held for publication. With no reveal delay \
             configured, the revealed visit goes to the authority's tracers at once (production \
             waits for the end of the hour).",
            plural(upload.keys.len(), "key"),
        ));
        let reported = self.phones[ALICE].complete_report(&upload).during("Alice's phone completes the report")?;
        say.detail(&format!(
            "Alice's phone records her diagnosis of {} and marks {} released: it stops \
             broadcasting for the rest of the day, and draws a fresh key tomorrow.",
            date(facts.day),
            plural(reported.days.len(), "key")
        ));
        // Her phone never got the answer and sends the same upload again:
        // the key server recognises it and stores nothing more.
        let again = self.deployment.publish(&request).await?;
        match &again {
            Ok(answer) if answer.status == "already_accepted" => say.detail(
                "The same upload sent again (as after a lost answer) is recognised: 200 \
                 already_accepted, nothing stored twice.",
            ),
            Ok(answer) => {
                return Err(SimError::story(
                    "Alice's phone sends the same upload again",
                    format!("answered {}, not already_accepted", answer.status),
                ));
            }
            Err(refusal) => {
                return Err(SimError::story(
                    "Alice's phone sends the same upload again",
                    format!("refused: HTTP {} {}", refusal.http, refusal.code),
                ));
            }
        }
        // Anyone holding her certificate cannot upload other keys with it.
        let mut other_keys = upload.keys.clone();
        other_keys[0].key.0[0] ^= 1;
        let other = PublishRequest::new(&other_keys, &upload.checkins, &certificate, &upload.hmac_key);
        let reused = self.deployment.publish(&other).await?;
        if let Err(refusal) = &reused {
            say.detail(&format!(
                "Other keys sent under the same certificate are refused (HTTP {}, {}).",
                refusal.http, refusal.code
            ));
        }
        Ok(reused.is_err())
    }

    /// The key server's hourly export runs from `first` to `last`
    /// (inclusive), each sealing a batch of whatever keys are publishable.
    async fn export_runs(&mut self, first: UnixTime, last: UnixTime) -> Result<(), SimError> {
        let mut empty = Vec::new();
        let mut t = first;
        while t <= last {
            self.deployment.set_now(t);
            match self.deployment.seal().await? {
                None => empty.push(clock(t)),
                Some(sealed) => {
                    self.nothing_sealed(&mut empty);
                    self.say.step(&format!(
                        "{} The key server's hourly export run seals export batch #{}: {} whose \
                         day ended at least {} h ago (the embargo), among fake keys that pad every \
                         batch to at least {} so its size does not tell how many people reported; \
                         it signs the batch and a new index.",
                        clock(t),
                        sealed.sequence,
                        plural(sealed.keys, "real key"),
                        self.deployment.embargo_secs / 3600,
                        self.deployment.min_batch_keys,
                    ));
                }
            }
            t = t.plus(3600);
        }
        self.nothing_sealed(&mut empty);
        Ok(())
    }

    /// Tells of the export runs that sealed nothing, and forgets them.
    fn nothing_sealed(&self, runs: &mut Vec<String>) {
        if !runs.is_empty() {
            self.say.step(&format!(
                "The export runs at {} find no key whose embargo is over and seal nothing.",
                runs.join(", ")
            ));
            runs.clear();
        }
    }

    async fn trace_venue(&mut self, now: UnixTime) -> Result<(), SimError> {
        let say = self.say;
        self.deployment.set_now(now);
        say.step(&format!("{} Venue trace of Alice's revealed visit:", clock(now)));
        let tracer = self.deployment.staff().await?;
        let queue = Deployment::venue_queue(&tracer).await?;
        let cafe = &self.venues[0];
        let cafe_hex = hex(cafe.public_key().as_bytes());
        if !queue.contains(&cafe_hex) {
            return Err(SimError::story("venue trace", "the queue does not list the café"));
        }
        say.detail(&format!(
            "A tracer signs in to the portal: the queue of revealed visits lists {}, {}. The \
             tracer opens its case and signs a release request for the epoch of the revealed visit \
             (the authority has opened its own share of that epoch's trace secret from the \
             poster's HPKE encapsulation).",
            plural(queue.len(), "venue"),
            cafe.info().name
        ));
        let case = Deployment::open_case(&tracer, &cafe_hex).await?;
        let (request, bundle) = cafe
            .release(&case.request, Some(&case.key_set), now)
            .during("the café's owner answers the release request")?;
        say.detail(&format!(
            "The owner of {} checks the request against the authority's key with the venue tool \
             and releases the owner share of exactly {} (from {}), signed with the venue key. \
             Neither share alone can trace.",
            cafe.info().name,
            plural(request.epochs.len(), "epoch"),
            request.epochs.first().map_or_else(String::new, |e| time(e.start())),
        ));
        let sequence = Deployment::publish_case(&tracer, &case, &bundle, TRACE_MESSAGE).await?;
        say.detail(&format!(
            "The tracer pastes the owner's release into the case and publishes: the portal checks \
             that the two shares open the poster's trace key and signs trace batch #{sequence} \
             with the revealed visit's window and a message only its visitors can read; the key \
             server lists it."
        ));
        Ok(())
    }

    async fn day_three(&mut self) -> Result<(UnixTime, Vec<ResidentOutcome>), SimError> {
        self.day_heading(3);
        let say = self.say;
        let day3 = FIRST_DAY.plus(2);
        let publish_at = at(3, 2, 0);
        self.live(day3.start(), publish_at)?;
        self.export_runs(at(2, 18, 0), publish_at).await?;

        let now = at(3, 9, 0);
        self.live(publish_at, now)?;
        self.deployment.set_now(now);
        say.step(&format!(
            "{} Every phone syncs: it fetches the signed index from GET /v1/index and verifies it \
             against the export key, then fetches each file it has not applied yet and hands it \
             to the core, which checks its size and SHA-256 against the index, verifies its \
             signature (policy and trace batch: the authority; export batches: the key server), \
             matches it (published keys against the phone's sightings, trace entries against its \
             sealed check-ins) and stores what it found with the new sync position in one step. \
             Then the core decides the color.",
            clock(now)
        ));
        let mut residents = Vec::new();
        for who in 0..self.phones.len() {
            let resident = self.sync(who, now).await?;
            say.detail(&describe_sync(&resident));
            residents.push(resident);
        }
        Ok((now, residents))
    }

    /// One phone's sync through the core, as a driver runs it.
    async fn sync(&mut self, who: usize, now: UnixTime) -> Result<ResidentOutcome, SimError> {
        let name = RESIDENTS[who];
        let step = format!("{name}'s phone syncs");
        let trust = self.deployment.trust.clone();
        let (bytes, etag) = self.deployment.index().await?;
        let phone = &mut self.phones[who];
        let index = verify_index(&bytes, &phone.keyring(&trust).during(&step)?, now).during(&step)?;
        let mut plan = phone.begin_sync(&index, now).during(&step)?;
        let mut exports = Vec::new();
        while let Some(entry) = plan.next_file().cloned() {
            let bytes = self.deployment.file(&entry).await?;
            let keys = phone.keyring(&trust).during(&step)?;
            let file = VerifiedFile::verify(&entry, &bytes, &keys, now).during(&step)?;
            phone.apply_verified(&mut plan, &entry, &file, now).during(&step)?;
            if let VerifiedFile::Export(batch) = file {
                exports.push(batch);
            }
        }
        let (applied, decision) = phone.finish_sync(plan, etag.as_deref(), now).during(&step)?;
        let rejected =
            if applied.rejected_sightings > 0 { refusals(phone, &exports, now).during(&step)? } else { Vec::new() };
        let venue_alerts = phone
            .venue_alerts()
            .during(&step)?
            .into_iter()
            .filter_map(|e| match e {
                Exposure::Venue { start, end, overlap_minutes, venue, message, .. } => Some(VenueAlert {
                    venue,
                    arrival: UnixTime(start),
                    departure: UnixTime(end),
                    overlap_minutes,
                    message,
                }),
                Exposure::Ble { .. } => None,
            })
            .collect();
        Ok(ResidentOutcome {
            name,
            decision,
            applied,
            diagnosis: phone.diagnosis().during(&step)?,
            check_ins: phone.visits().during(&step)?.len(),
            venue_alerts,
            rejected,
        })
    }
}

/// What a scanner records on hearing `advertisement` at `rssi` at `t`: the
/// packet encoded as broadcast and decoded as a receiver does.
fn received(advertisement: Advertisement, rssi: i8, t: UnixTime) -> Result<Sighting, SimError> {
    let packet = advertisement.encode(SERVICE_UUID);
    let heard = Advertisement::decode(&packet, SERVICE_UUID).during("a phone decodes an advertisement")?;
    Ok(Sighting { id: heard.id, metadata: heard.metadata, rssi, seen_at: t })
}

/// Which of the phone's sightings the protocol's matcher refused against
/// the synced export batches, and why. The core counts refusals
/// ([`Applied::rejected_sightings`]) but does not list them; this asks the
/// same matcher with the same configuration, for the narration.
fn refusals(
    phone: &Phone<MemoryStore>,
    exports: &[ExportBatch],
    now: UnixTime,
) -> Result<Vec<RejectedSighting>, greenlight_phone::StoreError> {
    let index = SightingIndex::new(phone.store().sightings()?, MatchConfig::default());
    let mut out = Vec::new();
    for batch in exports {
        let keys = batch.records().iter().map(|r| (r.key, r.day));
        let (matches, _) = index.match_keys(keys, batch.end().min(now));
        for (sighting, reason) in matches.iter().flat_map(|m| m.rejected.iter().copied()) {
            let seen_at = index.sightings()[sighting].seen_at;
            let interval = relays().into_iter().find(|r| r.delivered_at == seen_at).map(|r| r.captured_at.interval());
            out.push(RejectedSighting { seen_at, interval, reason });
        }
    }
    out.sort_by_key(|r| r.seen_at);
    Ok(out)
}

/// One resident's sync in a sentence or two.
fn describe_sync(resident: &ResidentOutcome) -> String {
    let applied = &resident.applied;
    let mut text = format!(
        "{}: {} ✓; {}",
        resident.name,
        plural(applied.files, "file"),
        plural(applied.exposures.saturating_sub(resident.venue_alerts.len()), "Bluetooth scan window")
    );
    text.push_str(" with a published key");
    for rejected in &resident.rejected {
        text.push_str(&format!(", 1 sighting refused ({})", describe_rejection(rejected)));
    }
    text.push_str(&format!(
        "; trace opened {} of {}",
        resident.venue_alerts.len(),
        plural(resident.check_ins, "check-in")
    ));
    for alert in &resident.venue_alerts {
        text.push_str(&format!(
            " ({}, {}–{}, {} min inside the traced visit; message: \"{}\")",
            alert.venue,
            clock(alert.arrival),
            clock(alert.departure),
            alert.overlap_minutes,
            alert.message
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_fall_inside_intervals_every_five_minutes() {
        let scans: Vec<u64> = scan_times(UnixTime(600), UnixTime(1800)).map(|t| t.0).collect();
        assert_eq!(scans, vec![720, 1020, 1320, 1620]);
        let scans: Vec<u64> = scan_times(UnixTime(721), UnixTime(1021)).map(|t| t.0).collect();
        assert_eq!(scans, vec![1020]);
    }

    #[test]
    fn the_distance_table_puts_close_contacts_in_the_closest_bucket() {
        let policy = ColorPolicy::recommended(1, UnixTime(0));
        let bucket = |d: Distance| policy.bucket(CALIBRATION.attenuation_db(CALIBRATION.tx_power_dbm, d.rssi_dbm()));
        assert_eq!(bucket(Distance::ArmsLength), AttenuationBucket::Immediate);
        assert_eq!(bucket(Distance::AcrossTheRoom), AttenuationBucket::Medium);
    }
}
