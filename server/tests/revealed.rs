//! How the visits diagnosed people reveal reach the health authority
//! (spec/authority.md §5.1): in hourly batches, sorted by their bytes,
//! only for a request signed by a trusted authority key; and the same with
//! the authority in a process and database of its own, asking the key
//! server over HTTP. Each test on SQLite and on the real PostgreSQL.

mod common;

use common::{ADMIN_PASSWORD, Authority, Db, Key, LoopbackConfig, Portal, T0, TempDir, TestClock, TestDatabase};
use greenlight_api::revealed::{AUTHORITY_HEADER, RevealedPage};
use greenlight_protocol::codec::{from_base64url, to_base64url};
use greenlight_protocol::signing::SigningKey;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{FeedRequest, RevealedCheckIn};
use greenlight_protocol::venue::{AuthorityPublicKey, Epoch, VenueInfo, VenueKind, VenueMasterSecret};
use greenlight_server::config::Mode;
use greenlight_testkit::CodeKind;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;

common::on_both_databases!(
    visits_are_handed_over_by_the_hour_sorted_and_only_to_the_authority,
    a_standalone_authority_gets_the_visits_over_http,
);

/// A revealed visit to a venue of its own (named `name`), yesterday.
fn revealed(name: &str, seed: u64, trace_key: &AuthorityPublicKey, today: DayNumber) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let master = VenueMasterSecret::generate(&mut rng);
    let day = today.minus(1);
    let epoch = Epoch::new(day.start(), 24 * 60).expect("epoch");
    let opened = master.open_epoch(epoch, trace_key, &mut rng).expect("opens");
    let info = VenueInfo { name: name.into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
    let poster = master.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster");
    let arrival = day.start().plus(18 * 3600);
    RevealedCheckIn { poster, arrival, departure: arrival.plus(3600) }.to_bytes()
}

/// The tracer's venue queue, logged in afresh (the test's clock moves by
/// hours, past any session's idle limit).
async fn queue(base: &str) -> String {
    let portal = Portal::new(base).expect("portal client");
    assert_eq!(portal.login("admin", ADMIN_PASSWORD).await.expect("the portal answers").status, 303);
    let page = portal.get("/portal/venues").await.expect("the portal answers");
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
}

/// `GET /v1/authority/revealed?since=…` with `header` (if any).
async fn feed(client: &reqwest::Client, base: &str, since: u64, header: Option<String>) -> (u16, String) {
    let mut request = client.get(format!("{base}/v1/authority/revealed?since={since}"));
    if let Some(header) = header {
        request = request.header(AUTHORITY_HEADER, header);
    }
    let response = request.send().await.expect("the key server answers");
    (response.status().as_u16(), response.text().await.expect("body"))
}

fn signed(key: &SigningKey, since: u64, at: UnixTime) -> Option<String> {
    Some(to_base64url(&FeedRequest { since: UnixTime(since), at }.sign(key)))
}

async fn visits_are_handed_over_by_the_hour_sorted_and_only_to_the_authority(db: Db) {
    let server = common::TestServer::start_custom(db, true, |config, _| config.reveal_delay_secs = 3600).await;
    let client = reqwest::Client::new();
    let trace_key = server.authority_state().keys.trace.public_key();
    // Feed requests are signed with the certificate key (protocol §2.3).
    let signing = server.authority_state().keys.certificate.clone();
    let today = server.clock.now().day();

    // Three uploads in the noon hour, each revealing one visit.
    let names = ["Café Aurora", "Bistro Borealis", "Canteen Celeste"];
    let mut uploaded = Vec::new();
    for (i, name) in names.iter().enumerate() {
        server.clock.set(T0 + 600 * (i as u64 + 1));
        let visit = revealed(name, 10 + i as u64, &trace_key, today);
        let keys: Vec<Key> = common::keys(20 + i as u64, 1, today);
        let (status, body, _) = server
            .post(&common::upload(&server.authority, server.clock.now(), &keys, std::slice::from_ref(&visit)))
            .await;
        assert_eq!(status, 200, "{body}");
        uploaded.push(visit);
    }

    // During that hour nothing is handed over, through HTTP or in-process.
    server.clock.set(T0 + 3599);
    let (status, body) = feed(&client, &server.base, 0, signed(&signing, 0, server.clock.now())).await;
    assert_eq!(status, 200, "{body}");
    let page: RevealedPage = serde_json::from_str(&body).expect("a page");
    assert!(page.visits.is_empty(), "the noon hour is not over: {body}");
    let shown = queue(&server.base).await;
    assert!(!names.iter().any(|n| shown.contains(n)), "{shown}");

    // Once it is over, all three come together, sorted by their bytes.
    server.clock.set(T0 + 3600);
    let (status, body) = feed(&client, &server.base, 0, signed(&signing, 0, server.clock.now())).await;
    assert_eq!(status, 200, "{body}");
    let page: RevealedPage = serde_json::from_str(&body).expect("a page");
    let got: Vec<Vec<u8>> = page.visits.iter().map(|v| from_base64url(&v.checkin).expect("base64url")).collect();
    let mut sorted = uploaded.clone();
    sorted.sort();
    assert_eq!(got, sorted, "every visit of the hour, in byte order, not upload order");
    assert!(page.visits.iter().all(|v| v.received_hour == T0), "only the hour is told");
    assert_eq!(page.next, T0 - 3600, "the next request looks an hour back");
    let shown = queue(&server.base).await;
    assert!(names.iter().all(|n| shown.contains(n)), "{shown}");

    // A visit uploaded in the next hour waits for that hour to end; asking
    // again from `next` hands the noon hour over again (kept once). This
    // one comes from a phone that only checks in: no key, the visit alone.
    server.clock.set(T0 + 3600 + 600);
    let late = revealed("Diner Dorado", 30, &trace_key, today);
    let (status, body, _) = server.post(&common::upload(&server.authority, server.clock.now(), &[], &[late])).await;
    assert_eq!(status, 200, "an upload of a revealed visit alone is accepted: {body}");
    let (_, body) = feed(&client, &server.base, page.next, signed(&signing, page.next, server.clock.now())).await;
    let again: RevealedPage = serde_json::from_str(&body).expect("a page");
    assert_eq!(again.visits.len(), 3, "{body}");
    let shown = queue(&server.base).await;
    assert_eq!(shown.matches("Open a case for").count(), 3, "each visit once, the late one not yet: {shown}");
    server.clock.set(T0 + 2 * 3600);
    let shown = queue(&server.base).await;
    assert!(shown.contains("Diner Dorado"), "{shown}");

    // Nobody else gets them: no request, a stranger's signature, another
    // `since`, a stale or early request, garbage.
    let now = server.clock.now();
    let stranger = SigningKey::from_bytes(&[99; 32]);
    for (header, since, expected) in [
        (None, 0, 401),
        (Some("not base64url!".to_owned()), 0, 401),
        (signed(&stranger, 0, now), 0, 401),
        (signed(&signing, 3600, now), 0, 400),
        (signed(&signing, 0, UnixTime(now.0 - 301)), 0, 403),
        (signed(&signing, 0, now.plus(301)), 0, 403),
    ] {
        let (status, body) = feed(&client, &server.base, since, header).await;
        assert_eq!(status, expected, "{body}");
        assert!(!body.contains("checkin"), "{body}");
    }
    // The key configured with --authority-key is a root: once the region's
    // key set is adopted, the keys it names sign feed requests, the root
    // itself no longer does (protocol §2.3).
    let (status, body) = feed(&client, &server.base, 0, signed(&Authority::new(7).key, 0, now)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = feed(&client, &server.base, 0, signed(&signing, 0, now)).await;
    assert_eq!(status, 200, "the key set's certificate key asks: {body}");
}

async fn a_standalone_authority_gets_the_visits_over_http(db: Db) {
    let clock = TestClock::at(T0);
    // The authority: its own data directory and database, set up first.
    let authority_dir = TempDir::new("authority");
    let authority_db = TestDatabase::new(db).await;
    let database = greenlight_server::connect_database(&authority_db.url).await.expect("the authority's database");
    let init = greenlight_server::authority::keys::init(
        &authority_dir.0,
        &database,
        "admin",
        Some(ADMIN_PASSWORD.to_owned().into()),
        i64::try_from(T0).expect("small"),
    )
    .await
    .expect("authority init");
    database.close().await;
    // The key server: another database, trusting the authority's key.
    let key_server = greenlight_testkit::TestServer::builder()
        .database(db)
        .clock(clock.clone())
        .loopback(LoopbackConfig::default().trust(init.signing_public))
        .configure(|config, _| config.reveal_delay_secs = 3600)
        .start()
        .await
        .expect("the key server starts");
    assert!(key_server.authority_state().is_none(), "no authority in the key server's process");
    let url = key_server.base.clone();
    let authority = greenlight_testkit::TestServer::builder()
        .database_url(&authority_db.url)
        .data_dir(&authority_dir.0)
        .clock(clock.clone())
        .configure(move |_, options| options.mode = Mode::AuthorityOnly { key_server_url: url })
        .start()
        .await
        .expect("the authority starts");

    // Each serves its own OpenAPI document.
    let client = reqwest::Client::new();
    let doc = |base: String| {
        let client = client.clone();
        async move {
            client.get(format!("{base}/v1/openapi.json")).send().await.expect("answers").text().await.expect("text")
        }
    };
    let key_doc = doc(key_server.base.clone()).await;
    assert!(key_doc.contains("/v1/publish") && !key_doc.contains("/v1/verify"), "{key_doc}");
    let authority_doc = doc(authority.base.clone()).await;
    assert!(authority_doc.contains("/v1/verify") && !authority_doc.contains("/v1/publish"), "{authority_doc}");
    let missing = client.post(format!("{}/v1/verify", key_server.base)).body("{}").send().await.expect("answers");
    assert_eq!(missing.status(), 404, "the key server alone has no device API");

    // A resident: code from the authority's staff, token and certificate
    // from the authority, upload to the key server.
    let portal = Portal::new(&authority.base).expect("portal client");
    assert_eq!(portal.login("admin", ADMIN_PASSWORD).await.expect("the portal answers").status, 303);
    let issued = portal.issue_code(CodeKind::Short, "2026-05-09").await.expect("a code");
    let today = clock.now().day();
    let visit = revealed("Café Aurora", 5, &AuthorityPublicKey(init.trace_public), today);
    let keys = common::keys(6, 2, today);
    let phone = PhoneReport { authority: &authority.base, key_server: &key_server.base, client: &client };
    phone.report(&issued.code, &keys, &visit).await;

    // Nothing in the authority's queue during the hour; after it, the
    // visit, fetched over HTTP into the authority's own database.
    clock.advance(1800);
    let waiting = queue(&authority.base).await;
    assert!(!waiting.contains("Café Aurora"), "{waiting}");
    clock.set(T0 + 3600);
    let portal = Portal::new(&authority.base).expect("portal client");
    assert_eq!(portal.login("admin", ADMIN_PASSWORD).await.expect("the portal answers").status, 303);
    let queue = portal.get("/portal/venues").await.expect("the portal answers").body;
    assert!(queue.contains("Café Aurora") && queue.contains("18:00 – 19:00"), "{queue}");
    let opened = portal.post("/portal/venues/open", &[("venue", &hex_key(&visit))]).await.expect("the portal answers");
    assert_eq!(opened.status, 303, "a case opens from the handed-over visit: {}", opened.body);

    // With the key server gone, the queue still shows what it has.
    key_server.shutdown().await;
    let queue = portal.get("/portal/venues").await.expect("the portal answers");
    assert_eq!(queue.status, 200, "{}", queue.body);
    authority.shutdown().await;
}

fn hex_key(visit: &[u8]) -> String {
    let checkin = RevealedCheckIn::from_bytes(visit).expect("a revealed check-in");
    checkin.poster.venue_key().as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// What the phone does, with the authority and the key server at two URLs.
struct PhoneReport<'a> {
    authority: &'a str,
    key_server: &'a str,
    client: &'a reqwest::Client,
}

impl PhoneReport<'_> {
    async fn report(&self, code: &str, keys: &[Key], visit: &[u8]) {
        let post = |url: String, body: serde_json::Value| async move {
            let response = self.client.post(url).json(&body).send().await.expect("answers");
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.expect("JSON"))
        };
        let (status, verified) = post(format!("{}/v1/verify", self.authority), json!({ "code": code })).await;
        assert_eq!(status, 200, "{verified}");
        let hmac_key = greenlight_protocol::certificate::UploadHmacKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let uploaded: Vec<_> = keys.iter().map(Key::uploaded).collect();
        let hmac = greenlight_protocol::certificate::upload_hmac(&hmac_key, &uploaded, &[visit]).expect("hmac");
        let request = json!({ "token": verified["token"], "upload_hmac": to_base64url(&hmac) });
        let (status, certified) = post(format!("{}/v1/certificate", self.authority), request).await;
        assert_eq!(status, 200, "{certified}");
        let certificate = certified["certificate"].as_str().expect("certificate");
        let body = greenlight_api::publish::PublishRequest::new(&uploaded, &[visit.to_vec()], certificate, &hmac_key);
        let (status, published) =
            post(format!("{}/v1/publish", self.key_server), serde_json::to_value(&body).expect("JSON")).await;
        assert_eq!(status, 200, "{published}");
    }
}
