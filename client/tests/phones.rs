//! Several phones against the real key server on loopback: who turns
//! yellow, who stays green, what a diagnosis does, venue traces by epoch,
//! tampered files, interrupted syncs, and what the store on disk reveals.
//!
//! Radio stand-in: until the simulated radio is wired into the client's
//! daemon, a phone "hears" another by recording exactly the sighting the
//! radio delivers — the other phone's real advertisement (ID and sealed
//! metadata from its stored daily key) with an RSSI and a time.

mod common;

use common::Dir;
use greenlight_client::checkin;
use greenlight_client::settings::Settings;
use greenlight_client::store::SqliteStore;
use greenlight_client::sync;
use greenlight_client::{DEVICE_CALIBRATION, os_rng};
use greenlight_phone::Store as _;
use greenlight_phone::report::Upload;
use greenlight_phone::store::CheckInDayState;
use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::color::Color;
use greenlight_protocol::color::Diagnosis;
use greenlight_protocol::daily_key::{Metadata, PublishedKey};
use greenlight_protocol::export::Region;
use greenlight_protocol::index::FileKind;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::SigningKey;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{RevealedCheckIn, TraceBatch, TraceEntry, TraceSecret};
use greenlight_protocol::venue::{
    AuthorityShareKey, Epoch, Poster, PosterEpoch, VenueInfo, VenueKind, VenueMasterSecret,
};
use greenlight_testkit::{LoopbackConfig, TestClock, TestServer};
use rand_core::SeedableRng;
use serde_json::json;

/// Monday 2026-05-11, 00:00 UTC.
const MONDAY: u64 = 20_584 * 86_400;
const HOUR: u64 = 3600;

/// Export batches are padded to at least this many keys in these tests.
const MIN_BATCH_KEYS: usize = 20;

/// The key server (SQLite, in-process) and a health authority.
struct Town {
    server: TestServer,
    authority: SigningKey,
    trace_key: AuthorityShareKey,
    rng: rand_chacha::ChaCha20Rng,
}

impl Town {
    async fn new() -> Self {
        let authority = SigningKey::from_bytes(&[5; 32]);
        let server = TestServer::builder()
            .clock(TestClock::at(MONDAY + 8 * HOUR))
            .loopback(LoopbackConfig::default().trust(authority.verifying_key()).min_batch_keys(MIN_BATCH_KEYS))
            .start()
            .await
            .expect("server");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let trace_key = AuthorityShareKey::generate(&mut rng);
        Town { server, authority, trace_key, rng }
    }

    fn now(&self) -> UnixTime {
        self.server.clock.now()
    }

    fn set(&self, t: u64) {
        self.server.clock.set(t);
    }

    fn settings(&self) -> Settings {
        Settings {
            server: self.server.base.clone(),
            authority: None,
            export_key: self.server.export_key().expect("export key"),
            authority_key: self.authority.verifying_key(),
        }
    }

    async fn phone(&self, label: &str) -> Phone {
        let dir = Dir::new(label);
        let mut store = SqliteStore::open(&dir.0).expect("store");
        self.settings().save(&mut store).expect("settings");
        Phone { store, dir }
    }

    /// The authority signs and publishes the recommended policy.
    async fn publish_policy(&self) {
        let policy = ColorPolicy::recommended(1, self.now()).sign(&self.authority);
        let r = reqwest::Client::new()
            .post(format!("{}/v1/authority/files", self.server.base))
            .body(policy)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }

    /// What `greenlight report` will do once the authority's code flow is
    /// in: upload the phone's keys with a certificate for exactly them.
    async fn report(&self, phone: &Phone, days: &[DayNumber], checkins: &[Vec<u8>]) {
        let mut keys = Vec::new();
        for day in days {
            keys.push((*day, phone.core().daily_key(*day, &mut os_rng()).expect("key").expose_secret().to_owned()));
        }
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(self.now().0);
        let hmac_key = UploadHmacKey::generate(&mut rng);
        let uploaded: Vec<UploadedKey> = keys
            .iter()
            .map(|(d, k)| UploadedKey {
                key: PublishedKey(*k),
                day: *d,
                transmission_risk: TransmissionRisk::new(6).expect("risk"),
            })
            .collect();
        let refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
        let hmac = upload_hmac(&hmac_key, &uploaded, &refs).expect("hmac");
        let certificate = Certificate::new(
            ReportType::ConfirmedTest,
            DayKind::TestDate,
            self.now().day(),
            hmac,
            self.now(),
            self.now().plus(900),
            CertificateId::generate(&mut rng),
        )
        .expect("certificate")
        .sign_text(&self.authority);
        let body = json!({
            "keys": keys.iter().map(|(d, k)| json!({"key": to_base64url(k), "day": d.0, "transmission_risk": 6})).collect::<Vec<_>>(),
            "revealed_checkins": checkins.iter().map(|c| to_base64url(c)).collect::<Vec<_>>(),
            "certificate": certificate,
            "hmac_key": to_base64url(hmac_key.expose_secret()),
        });
        let r = reqwest::Client::new()
            .post(format!("{}/v1/publish", self.server.base))
            .json(&body)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        let diagnosis =
            Diagnosis { day: self.now().day(), report_type: ReportType::ConfirmedTest, symptom_onset: false };
        let upload = Upload {
            keys: uploaded,
            checkins: checkins.to_vec(),
            hmac_key,
            hmac,
            diagnosis,
            revealed_records: Vec::new(),
            reported_at: self.now(),
        };
        phone.core().complete_report(&upload).expect("released, diagnosis recorded");
    }

    /// The key server's hourly export, run now.
    async fn seal(&self) {
        self.server.seal().await.expect("seal").expect("a batch");
    }
}

struct Phone {
    store: SqliteStore,
    dir: Dir,
}

impl Phone {
    /// The resident core over this phone's store (the store is shared).
    fn core(&self) -> greenlight_client::Phone {
        greenlight_client::Phone::new(self.store.clone(), DEVICE_CALIBRATION)
    }

    /// The store, for a write.
    fn st(&self) -> SqliteStore {
        self.store.clone()
    }

    /// This phone hears `other` for `minutes` from `from`, once per scan
    /// (every 5 minutes), at `rssi` dBm.
    async fn hears(&self, other: &Phone, from: UnixTime, minutes: u64, rssi: i8) {
        let mut sightings = Vec::new();
        let mut t = from;
        while t < from.plus(minutes * 60) {
            let key = other.core().daily_key(t.day(), &mut os_rng()).expect("key");
            let schedule = key.schedule(t.day());
            let id = schedule.id(t.interval().slot());
            sightings.push(Sighting { id, metadata: schedule.seal_metadata(&id, Metadata::v1(-8)), rssi, seen_at: t });
            t = t.plus(300);
        }
        self.st().add_sightings(&sightings).expect("sightings");
    }

    async fn sync(&self, town: &Town) -> Result<sync::SyncReport, sync::SyncError> {
        sync::sync(&mut self.core(), &town.settings(), &reqwest::Client::new(), town.now(), &mut |_| {}).await
    }

    async fn color(&self, town: &Town) -> (Color, String) {
        let decision = self.core().status(town.now()).expect("status");
        (decision.color, decision.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_contact_turns_yellow_a_stranger_stays_green_and_the_diagnosed_turns_red() {
    let town = Town::new().await;
    town.publish_policy().await;
    let (alice, bob, carol) = (town.phone("alice").await, town.phone("bob").await, town.phone("carol").await);
    let monday = UnixTime(MONDAY);
    // Bob sits next to Alice 09:00-10:00; Carol is across the room (far).
    bob.hears(&alice, monday.plus(9 * HOUR), 60, -60).await;
    carol.hears(&alice, monday.plus(9 * HOUR), 60, -95).await;

    // Tuesday Alice tests positive and uploads Monday's key.
    town.set(MONDAY + 86_400 + 15 * HOUR);
    town.report(&alice, &[DayNumber(20_584)], &[]).await;
    // Wednesday 02:00 the key server publishes (Monday's embargo is long over).
    town.set(MONDAY + 2 * 86_400 + 2 * HOUR);
    town.seal().await;

    for phone in [&alice, &bob, &carol] {
        let report = phone.sync(&town).await.expect("sync");
        assert!(report.files >= 2, "{report:?}");
    }
    let (color, why) = bob.color(&town).await;
    assert_eq!(color, Color::Yellow, "{why}");
    assert!(why.contains("Bluetooth contact, 60 weighted min") && why.contains("2026-05-11"), "{why}");
    assert!(why.contains("until 2026-05-26"), "yellow ends 14 days after the exposure day: {why}");
    let (color, why) = carol.color(&town).await;
    assert_eq!(color, Color::Green, "far away does not count: {why}");
    let history: Vec<String> = bob.store.color_history().expect("history").into_iter().map(|c| c.color).collect();
    assert_eq!(history, vec!["yellow"], "the sync recorded the change to yellow");
    let (color, why) = alice.color(&town).await;
    assert_eq!(color, Color::Red, "{why}");

    // Red ends when the policy says: 10 days after the test day.
    town.set((20_585 + 11) * 86_400 + 12 * HOUR);
    alice.sync(&town).await.expect("sync");
    assert_ne!(alice.color(&town).await.0, Color::Red);

    // And a phone that stops syncing is never silently green.
    town.set(town.now().0 + 49 * HOUR);
    assert_eq!(carol.color(&town).await.0, Color::Stale);
}

/// A café with daily posters and its owner.
struct Cafe {
    master: VenueMasterSecret,
    info: VenueInfo,
    log: Vec<PosterEpoch>,
}

impl Cafe {
    fn new(town: &mut Town) -> Self {
        Cafe {
            master: VenueMasterSecret::generate(&mut town.rng),
            info: VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant },
            log: Vec::new(),
        }
    }

    fn poster(&mut self, town: &mut Town, day_start: u64) -> Poster {
        let epoch = Epoch::new(UnixTime(day_start), 1440).expect("epoch");
        let opened = self.master.open_epoch(epoch, &town.trace_key.public_key(), &mut town.rng).expect("open");
        self.log.push(opened);
        self.master.poster(&self.info, &opened, epoch.start(), epoch.end()).expect("poster")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_at_a_traced_epoch_turns_yellow_and_another_epoch_stays_green() {
    let mut town = Town::new().await;
    town.publish_policy().await;
    let mut cafe = Cafe::new(&mut town);
    let monday = cafe.poster(&mut town, MONDAY);
    let tuesday = cafe.poster(&mut town, MONDAY + 86_400);
    let (case, erin, frank) = (town.phone("case").await, town.phone("erin").await, town.phone("frank").await);

    let scan = |poster: &Poster, t: u64| checkin::verify_poster(&poster.to_text(), UnixTime(t)).expect("live poster");
    town.set(MONDAY + 12 * HOUR);
    case.core().check_in(&scan(&monday, town.now().0), town.now(), &mut os_rng()).expect("check in");
    town.set(MONDAY + 13 * HOUR);
    erin.core().check_in(&scan(&monday, town.now().0), town.now(), &mut os_rng()).expect("check in");
    town.set(MONDAY + 86_400 + 12 * HOUR);
    frank.core().check_in(&scan(&tuesday, town.now().0), town.now(), &mut os_rng()).expect("check in");

    // The case reveals the visit; the authority and the owner trace it.
    let revealed = case.core().visits().expect("diary").remove(0);
    let epoch = *revealed.poster.poster_epoch();
    let share = town.trace_key.open_share(revealed.poster.venue_key(), &epoch).expect("share");
    let secret = TraceSecret::combine(&cafe.master.owner_share(&epoch.epoch), &share, &epoch).expect("combine");
    let entry = TraceEntry::new(
        &secret,
        &epoch,
        UnixTime(MONDAY + 12 * HOUR),
        UnixTime(MONDAY + 14 * HOUR),
        "Get tested if you feel unwell.",
        &mut town.rng,
    )
    .expect("entry");
    town.set(MONDAY + 2 * 86_400);
    let batch = TraceBatch::new(Region::new("GL-TEST").expect("region"), 1, town.now(), vec![entry]).expect("batch");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/authority/files", town.server.base))
        .body(batch.sign(&town.authority))
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status(), 200);
    let _ = RevealedCheckIn::from_bytes(&revealed.to_bytes()).expect("the diary holds a revealable check-in");

    for phone in [&erin, &frank] {
        phone.sync(&town).await.expect("sync");
    }
    let (color, why) = erin.color(&town).await;
    assert_eq!(color, Color::Yellow, "{why}");
    assert!(why.contains("venue visit (restaurant) 2026-05-11 13:00"), "{why}");
    let (color, why) = frank.color(&town).await;
    assert_eq!(color, Color::Green, "another day's epoch is not traced: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_file_is_rejected_and_an_interrupted_sync_resumes_without_loss() {
    let town = Town::new().await;
    town.publish_policy().await;
    let (alice, bob) = (town.phone("alice").await, town.phone("bob").await);
    bob.hears(&alice, UnixTime(MONDAY + 9 * HOUR), 30, -55).await;
    town.set(MONDAY + 86_400 + 15 * HOUR);
    town.report(&alice, &[DayNumber(20_584)], &[]).await;
    town.set(MONDAY + 2 * 86_400 + 2 * HOUR);
    town.seal().await;

    // Someone on the path (or a broken CDN) changes the export batch.
    let files = town.server.data_dir().join("files");
    let batch_path = std::fs::read_dir(&files)
        .expect("files")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.len() == 64))
        .find(|p| std::fs::read(p).is_ok_and(|b| b.starts_with(b"GL_KEYS_")))
        .expect("the export batch");
    let original = std::fs::read(&batch_path).expect("read");
    let mut tampered = original.clone();
    let last = tampered.len() - 100;
    tampered[last] ^= 1;
    std::fs::write(&batch_path, &tampered).expect("tamper");

    let error = bob.sync(&town).await.expect_err("a tampered batch is refused");
    assert!(matches!(error, sync::SyncError::Phone(greenlight_phone::SyncError::Rejected(_))), "{error}");
    assert!(error.to_string().contains("does not match the index"), "{error}");
    assert_eq!(bob.store.exposures().expect("exposures").len(), 0, "nothing from it was kept");
    // The policy before it was applied and stays applied.
    assert_eq!(bob.store.synced(FileKind::ColorPolicy).expect("synced"), 1);

    // The phone restarts (the store is reopened) and the file is good again.
    std::fs::write(&batch_path, &original).expect("restore");
    let store = SqliteStore::open(&bob.dir.0).expect("reopen");
    let bob = Phone { store, dir: Dir(bob.dir.0.clone()) };
    let report = bob.sync(&town).await.expect("resumed sync");
    assert_eq!(report.files, 1, "only what was missing is downloaded");
    let exposures = bob.store.exposures().expect("exposures").len();
    assert_eq!(exposures, 6, "30 minutes = 6 scans");
    bob.sync(&town).await.expect("again");
    assert_eq!(bob.store.exposures().expect("exposures").len(), exposures, "nothing applied twice");
    assert_eq!(bob.color(&town).await.0, Color::Yellow);
    std::mem::forget(bob.dir); // the original Phone's Dir removes it
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_on_disk_holds_no_plaintext_ids_keys_or_venue_names() {
    let mut town = Town::new().await;
    let (alice, bob) = (town.phone("alice").await, town.phone("bob").await);
    bob.hears(&alice, UnixTime(MONDAY + 9 * HOUR), 30, -55).await;
    let mut cafe = Cafe::new(&mut town);
    let poster = cafe.poster(&mut town, MONDAY);
    town.set(MONDAY + 12 * HOUR);
    bob.core().check_in(&poster, town.now(), &mut os_rng()).expect("check in");
    let own_key = *bob.core().daily_key(DayNumber(20_584), &mut os_rng()).expect("key").expose_secret();

    let mut disk = Vec::new();
    for entry in std::fs::read_dir(&bob.dir.0).expect("dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n != greenlight_client::vault::DEVICE_KEY_FILE) {
            disk.extend(std::fs::read(&path).expect("read"));
        }
    }
    let contains = |needle: &[u8]| disk.windows(needle.len()).any(|w| w == needle);
    let heard =
        alice.core().daily_key(DayNumber(20_584), &mut os_rng()).expect("key").schedule(DayNumber(20_584)).id(54);
    assert!(!contains(&heard.0), "a heard ID is on disk in the clear");
    assert!(!contains(&own_key), "the phone's own daily key is on disk in the clear");
    for text in ["Café Aurora", "Main St", "Aurora"] {
        assert!(!contains(text.as_bytes()), "{text:?} is on disk in the clear");
    }
    // With the device key, the diary is readable: that is what it is for.
    let reopened = greenlight_client::open(&bob.dir.0).expect("reopen");
    assert_eq!(reopened.visits().expect("diary")[0].poster.info().name, "Café Aurora");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_forgets_what_is_older_than_14_days_and_erases_old_check_in_keys() {
    let mut town = Town::new().await;
    town.publish_policy().await;
    let (alice, bob) = (town.phone("alice").await, town.phone("bob").await);
    bob.hears(&alice, UnixTime(MONDAY + 9 * HOUR), 30, -55).await;
    let mut cafe = Cafe::new(&mut town);
    let poster = cafe.poster(&mut town, MONDAY);
    town.set(MONDAY + 12 * HOUR);
    bob.core().check_in(&poster, town.now(), &mut os_rng()).expect("check in");

    // Two days later the check-in day key's secret is gone: the record can
    // no longer be linked to the café by anyone, the phone included.
    town.set(MONDAY + 2 * 86_400 + HOUR);
    bob.sync(&town).await.expect("sync");
    assert!(matches!(bob.store.checkin_day_key(DayNumber(20_584)).expect("day key"), CheckInDayState::Erased));
    assert_eq!(bob.store.checkins().expect("records").len(), 1, "the sealed record stays for alerts");

    // Fifteen days later everything from that Monday is deleted.
    town.set(MONDAY + 15 * 86_400 + HOUR);
    bob.sync(&town).await.expect("sync");
    assert!(bob.store.sightings().expect("sightings").is_empty());
    assert!(bob.store.checkins().expect("records").is_empty());
    assert!(bob.core().visits().expect("diary").is_empty());
}

/// Staff issue an upload code: what the portal does after its checks (the
/// portal itself is tested in server/tests/authority.rs).
async fn issue_code(data_dir: &std::path::Path, database_url: &str, code: &str, day: DayNumber, now: UnixTime) {
    use greenlight_server::authority::store::{AuthorityStore, CodeRow, NewCode};
    let keys = greenlight_server::authority::keys::load(data_dir).expect("keys").expect("initialized");
    let store = AuthorityStore::new(greenlight_server::connect_database(database_url).await.expect("database"));
    let admin = store.staff_by_name("admin").await.expect("staff").expect("admin");
    let now = i64::try_from(now.0).expect("time");
    let row = CodeRow {
        code_hash: keys.code.hash("short", code).to_vec(),
        handle: "testhandle".into(),
        kind: "short".into(),
        report_type: 1,
        day_kind: 2,
        day: i64::from(day.0),
        issued_at: now,
        expires_at: now + 900,
        claimed_at: None,
        revoked_at: None,
        issued_by: admin.id,
    };
    assert_eq!(store.insert_code(&row, now / 86_400, 1000).await.expect("insert"), NewCode::Stored);
}

/// The key server with its health authority in-process (SQLite), as
/// `greenlight-server authority init` and a plain start give it.
struct AuthorityTown {
    server: TestServer,
    settings: Settings,
}

impl AuthorityTown {
    async fn start(t: u64) -> Self {
        // No --authority-key: it trusts its own authority.
        let server = TestServer::builder()
            .clock(TestClock::at(t))
            .authority("admin", "correct horse battery staple")
            .loopback(LoopbackConfig::default().min_batch_keys(MIN_BATCH_KEYS))
            .start()
            .await
            .expect("server with authority");
        let settings = Settings {
            server: server.base.clone(),
            authority: None,
            export_key: server.export_key().expect("export key"),
            authority_key: server.authority_keys().expect("initialized").signing,
        };
        AuthorityTown { server, settings }
    }

    fn now(&self) -> UnixTime {
        self.server.clock.now()
    }

    fn set(&self, t: u64) {
        self.server.clock.set(t);
    }

    async fn phone(&self, label: &str) -> Phone {
        let dir = Dir::new(label);
        let mut store = SqliteStore::open(&dir.0).expect("store");
        self.settings.save(&mut store).expect("settings");
        Phone { store, dir }
    }

    async fn sync(&self, phone: &Phone) {
        sync::sync(&mut phone.core(), &self.settings, &reqwest::Client::new(), self.now(), &mut |_| {})
            .await
            .expect("sync");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporting_with_a_code_turns_the_phone_red_and_warns_its_contacts() {
    let town = AuthorityTown::start(MONDAY + 86_400 + 15 * HOUR).await;
    let settings = town.settings.clone();
    let (alice, bob) = (town.phone("alice").await, town.phone("bob").await);
    bob.hears(&alice, UnixTime(MONDAY + 9 * HOUR), 45, -58).await;
    // Alice's phone broadcast on Tuesday morning too, under Tuesday's key.
    alice.core().daily_key(DayNumber(20_585), &mut os_rng()).expect("today's key");

    // Tuesday 15:00: a test confirms Alice's infection; staff give her a code.
    issue_code(town.server.data_dir(), town.server.database_url(), "31415926", DayNumber(20_585), town.now()).await;
    let http = reqwest::Client::new();
    let wrong =
        greenlight_client::report::report(&mut alice.core(), &settings, &http, "11111111", &[], town.now()).await;
    assert!(matches!(&wrong, Err(greenlight_client::report::ReportError::Refused { step: "verify", .. })), "{wrong:?}");
    assert_ne!(alice.core().status(town.now()).expect("status").color, Color::Red, "nothing happened");

    // A link without its code is refused on the phone (nothing is sent,
    // the code is not spent); the link the code's QR code holds works, as
    // a code does (issue 21 item 8: the SDK reports through this too).
    let typo = greenlight_client::report::report(
        &mut alice.core(),
        &settings,
        &http,
        "greenlight://report?r=GL-TEST",
        &[],
        town.now(),
    )
    .await;
    assert!(matches!(&typo, Err(greenlight_client::report::ReportError::Refused { step: "code", .. })), "{typo:?}");
    let link = "greenlight://report?r=GL-TEST&c=31415926";
    let done = greenlight_client::report::report(&mut alice.core(), &settings, &http, link, &[], town.now())
        .await
        .expect("report");
    assert_eq!(done.days, vec![DayNumber(20_584), DayNumber(20_585)], "Monday's and today's keys");
    assert!(alice.store.is_released(DayNumber(20_585)).expect("released"), "today's key is never broadcast again");
    let decision = alice.core().status(town.now()).expect("status");
    assert_eq!(decision.color, Color::Red, "{decision}");
    let again =
        greenlight_client::report::report(&mut alice.core(), &settings, &http, "31415926", &[], town.now()).await;
    // Nothing new to report: said as already reported, before the code is spent.
    let said = again.expect_err("nothing new").to_string();
    assert!(said.starts_with(&format!("already reported on {} UTC", town.now().iso_minute())), "{said}");

    // Wednesday 02:00 the key server publishes; Bob's phone finds Alice.
    town.set(MONDAY + 2 * 86_400 + 2 * HOUR);
    town.server.seal().await.expect("seal").expect("a batch");
    town.sync(&bob).await;
    let decision = bob.core().status(town.now()).expect("status");
    assert_eq!(decision.color, Color::Yellow, "{decision}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_on_the_simulated_radio_warn_a_close_contact_and_not_a_far_one() {
    use greenlight_ble::Clock as _;
    use greenlight_ble::calibration::Calibration;
    use greenlight_ble::sim::{DeviceSpec, Position, SharedWorld, SimConfig, SimWorld, ZoneId};
    use greenlight_client::daemon::{Daemon, DaemonConfig};

    let town = AuthorityTown::start(MONDAY + 8 * HOUR).await;
    let start = UnixTime(MONDAY + 8 * HOUR + 55 * 60);
    let world = SharedWorld::new(SimWorld::new(SimConfig { seed: 5, start, ..SimConfig::default() }).expect("world"));
    let at = |x| DeviceSpec::new(Calibration::DEFAULT).at(Position::new(x, 0.0), ZoneId::OUTDOORS);
    let (alice, bob, carol) = (town.phone("alice").await, town.phone("bob").await, town.phone("carol").await);
    // The daemons do not sync during the simulation (no network time).
    let config = DaemonConfig { sync_every_secs: u64::MAX / 4, ..DaemonConfig::default() };
    let mut daemons = Vec::new();
    for (phone, x) in [(&alice, 0.0), (&bob, 1.2), (&carol, 40.0)] {
        daemons.push(Daemon::start(phone.core(), world.add_device(at(x)), None, config, start).await.expect("daemon"));
    }
    // 09:00-10:30, ticking every 30 s as the daemon's one-second loop
    // would; Bob's phone restarts half-way.
    let mut stored = [0usize; 3];
    while world.clock().now() < UnixTime(MONDAY + 10 * HOUR + 30 * 60) {
        world.advance(30);
        let now = world.clock().now();
        for (i, daemon) in daemons.iter_mut().enumerate() {
            stored[i] += daemon.tick(now).await.expect("tick").stored;
        }
        if now == UnixTime(MONDAY + 9 * HOUR + 45 * 60) {
            let bob_daemon = daemons.remove(1);
            bob_daemon.stop(now).await.expect("stops cleanly");
            let radio = world.add_device(at(1.2));
            daemons.insert(1, Daemon::start(bob.core(), radio, None, config, now).await.expect("restart"));
        }
    }
    assert!(stored[1] >= 15, "Bob's phone heard Alice's through the radio: {stored:?}");
    let kept = bob.store.sightings().expect("sightings").len();
    assert_eq!(kept, stored[1], "nothing lost or doubled across the restart");

    // Tuesday Alice reports; Wednesday the batch is out; phones sync.
    town.set(MONDAY + 86_400 + 15 * HOUR);
    issue_code(town.server.data_dir(), town.server.database_url(), "27182818", DayNumber(20_585), town.now()).await;
    greenlight_client::report::report(
        &mut alice.core(),
        &town.settings,
        &reqwest::Client::new(),
        "27182818",
        &[],
        town.now(),
    )
    .await
    .expect("report");
    town.set(MONDAY + 2 * 86_400 + 2 * HOUR);
    town.server.seal().await.expect("seal").expect("a batch");
    for phone in [&bob, &carol] {
        town.sync(phone).await;
    }
    let bob_color = bob.core().status(town.now()).expect("status");
    assert_eq!(bob_color.color, Color::Yellow, "{bob_color}");
    assert!(bob_color.to_string().contains("2026-05-11: Bluetooth contact"), "{bob_color}");
    let carol_color = carol.core().status(town.now()).expect("status");
    assert_eq!(carol_color.color, Color::Green, "40 m away: {carol_color}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_whose_clock_was_set_back_records_nothing() {
    use greenlight_ble::calibration::Calibration;
    use greenlight_ble::sim::{DeviceSpec, Position, SharedWorld, SimConfig, SimWorld, ZoneId};
    use greenlight_client::daemon::{Daemon, DaemonConfig};
    // Bob's phone syncs on Wednesday with the real server and so has seen
    // an index signed on Wednesday (its clock floor, earned, not planted);
    // someone then sets its clock back to Monday to replay Monday's IDs.
    let town = Town::new().await;
    let (alice, bob) = (town.phone("alice").await, town.phone("bob").await);
    let wednesday = MONDAY + 2 * 86_400 + 9 * HOUR;
    town.set(wednesday);
    town.publish_policy().await;
    sync::sync(&mut bob.core(), &town.settings(), &reqwest::Client::new(), town.now(), &mut |_| {})
        .await
        .expect("Wednesday's sync");
    let floor = bob.store.time_state("clock_floor").expect("state").expect("a floor after a sync");
    assert_eq!(floor, UnixTime(wednesday), "the floor is the synced index's time");

    let start = UnixTime(MONDAY + 9 * HOUR);
    let world = SharedWorld::new(SimWorld::new(SimConfig { seed: 8, start, ..SimConfig::default() }).expect("world"));
    let at = |x| DeviceSpec::new(Calibration::DEFAULT).at(Position::new(x, 0.0), ZoneId::OUTDOORS);
    let config = DaemonConfig { sync_every_secs: u64::MAX / 4, ..DaemonConfig::default() };
    let mut a = Daemon::start(alice.core(), world.add_device(at(0.0)), None, config, start).await.expect("daemon");
    let mut b = Daemon::start(bob.core(), world.add_device(at(1.0)), None, config, start).await.expect("daemon");
    let (mut stored, mut dropped) = (0, 0);
    // Twenty minutes of Monday, the clock moving on with the radio.
    for i in 1..=40 {
        world.advance(30);
        let now = UnixTime(start.0 + 30 * i);
        a.tick(now).await.expect("tick");
        let tick = b.tick(now).await.expect("tick");
        stored += tick.stored;
        dropped += tick.dropped_clock_behind;
    }
    assert_eq!(stored, 0, "nothing recorded while the clock is behind the floor");
    assert!(dropped > 0, "but the radio did hear something: {dropped}");
    assert!(bob.store.sightings().expect("sightings").is_empty());
    // Alice's phone, never synced, has no floor and records as usual.
    assert!(!alice.store.sightings().expect("sightings").is_empty(), "the same radio, recorded");
}

/// A replayed older index (genuine, signed by the key server, but older
/// than one the phone already saw) is refused and changes nothing: a stale
/// cache or an attacker cannot roll the phone back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_index_than_one_already_seen_is_refused() {
    let town = Town::new().await;
    let phone = town.phone("rollback").await;
    let http = reqwest::Client::new();
    // Monday's index, as an attacker or a stale cache keeps it.
    let monday_index =
        http.get(format!("{}/v1/index", town.server.base)).send().await.expect("index").bytes().await.expect("bytes");
    let wednesday = MONDAY + 2 * 86_400 + 9 * HOUR;
    town.set(wednesday);
    town.publish_policy().await;
    sync::sync(&mut phone.core(), &town.settings(), &http, town.now(), &mut |_| {}).await.expect("Wednesday's sync");
    let floor = phone.store.time_state("clock_floor").expect("state");

    // The old index, served where the phone looks for its key server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let replay = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/v1/index",
        axum::routing::get(move || {
            let bytes = monday_index.clone();
            async move { bytes }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let settings = Settings { server: replay, ..town.settings() };
    let error = sync::sync(&mut phone.core(), &settings, &http, town.now(), &mut |_| {})
        .await
        .expect_err("an older index is refused");
    assert!(format!("{error}").contains("older"), "{error}");
    assert_eq!(phone.store.time_state("clock_floor").expect("state"), floor, "the floor did not move back");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_key_servers_are_spoken_to_over_tls() {
    // Nothing listens on port 1: the TLS connection fails, but it is tried
    // (a client without TLS would refuse the URL scheme instead).
    let town = Town::new().await;
    let phone = town.phone("tls").await;
    let settings = Settings { server: "https://127.0.0.1:1".into(), ..town.settings() };
    let error = sync::sync(&mut phone.core(), &settings, &reqwest::Client::new(), town.now(), &mut |_| {})
        .await
        .expect_err("nothing listens there");
    let text = format!("{error:?}").to_lowercase();
    assert!(matches!(error, sync::SyncError::Network(_)), "{error}");
    assert!(!text.contains("scheme"), "https is supported: {text}");
}
