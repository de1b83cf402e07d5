//! What a copy of the health authority's database tells about who reported
//! when (issue: "the authority's records link a code to the upload and the
//! visits"). Two residents get codes from staff, then claim them, certify
//! and upload minutes apart, each revealing a visit; the tracer's queue
//! takes the visits in. An attacker holding the database joins the code,
//! token and revealed-visit tables by time: every time the authority keeps
//! of a phone's steps is a whole day or hour, none of them the minute a
//! phone acted, and the portal shows no such minute either. On SQLite and
//! on the real PostgreSQL.

mod common;

use common::{ADMIN_PASSWORD, Db, Key, Portal, T0};
use greenlight_protocol::certificate::{UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::time::DayNumber;
use greenlight_protocol::trace::RevealedCheckIn;
use greenlight_protocol::venue::{AuthorityPublicKey, Epoch, VenueInfo, VenueKind, VenueMasterSecret};
use greenlight_testkit::CodeKind;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

common::on_both_databases!(a_copy_of_the_authoritys_database_ties_no_code_to_the_minute_of_its_upload);

/// Tables of the key server in the shared database (not the authority's).
const KEY_SERVER_TABLES: [&str; 4] = ["diagnosis_keys", "used_certificates", "revealed_checkins", "published_files"];

/// Minutes past `T0` at which the phones act (claim, certify, upload).
const PHONE_MINUTES: [u64; 6] = [9, 10, 11, 37, 38, 39];

fn visit(name: &str, seed: u64, trace_key: &AuthorityPublicKey, today: DayNumber) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let master = VenueMasterSecret::generate(&mut rng);
    let day = today.minus(1);
    let epoch = Epoch::new(day.start(), 24 * 60).expect("epoch");
    let opened = master.open_epoch(epoch, trace_key, &mut rng).expect("opens");
    let info = VenueInfo { name: name.into(), address: String::new(), kind: VenueKind::Shop };
    let poster = master.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster");
    let arrival = day.start().plus(10 * 3600);
    RevealedCheckIn { poster, arrival, departure: arrival.plus(1800) }.to_bytes()
}

async fn post(server: &common::TestServer, path: &str, body: Value) -> Value {
    let response = server.client.post(format!("{}{path}", server.base)).json(&body).send().await.expect("answers");
    let status = response.status();
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

async fn a_copy_of_the_authoritys_database_ties_no_code_to_the_minute_of_its_upload(db: Db) {
    let server = common::TestServer::start_custom(db, true, |config, _| config.reveal_delay_secs = 3600).await;
    let trace_key = server.authority_state().keys.trace.public_key();
    let today = server.clock.now().day();

    // Staff issue two codes in the first minutes of the hour.
    server.clock.set(T0 + 60);
    let portal = Portal::new(&server.base).expect("portal client");
    assert_eq!(portal.login("admin", ADMIN_PASSWORD).await.expect("answers").status, 303);
    let mut codes = Vec::new();
    for minute in [2, 3] {
        server.clock.set(T0 + minute * 60);
        codes.push(portal.issue_code(CodeKind::Long, &today.minus(1).iso_date().to_string()).await.expect("code").code);
    }

    // Two phones claim, certify and upload minutes apart, each revealing a
    // visit; the first to upload reveals the visit whose bytes sort last,
    // so a table kept in arrival order would give the uploads away.
    let mut visits = [visit("Shop Alpha", 60, &trace_key, today), visit("Shop Beta", 61, &trace_key, today)];
    if visits[0] < visits[1] {
        visits.swap(0, 1);
    }
    for (i, code) in codes.iter().enumerate() {
        let [claim, certify, upload] = [PHONE_MINUTES[3 * i], PHONE_MINUTES[3 * i + 1], PHONE_MINUTES[3 * i + 2]];
        server.clock.set(T0 + claim * 60 + 17);
        let verified = post(&server, "/v1/verify", json!({ "code": code })).await;
        let keys: Vec<Key> = common::keys(50 + i as u64, 2, today);
        let uploaded: Vec<UploadedKey> = keys.iter().map(Key::uploaded).collect();
        let revealed = visits[i].clone();
        let hmac_key = UploadHmacKey::generate(&mut ChaCha20Rng::seed_from_u64(70 + i as u64));
        let hmac = upload_hmac(&hmac_key, &uploaded, &[revealed.as_slice()]).expect("hmac");
        server.clock.set(T0 + certify * 60 + 29);
        let certified =
            post(&server, "/v1/certificate", json!({ "token": verified["token"], "upload_hmac": to_base64url(&hmac) }))
                .await;
        server.clock.set(T0 + upload * 60 + 41);
        let body = greenlight_api::publish::PublishRequest::new(
            &uploaded,
            &[revealed],
            certified["certificate"].as_str().expect("certificate"),
            &hmac_key,
        );
        post(&server, "/v1/publish", serde_json::to_value(&body).expect("JSON")).await;
    }

    // The next hour the tracer's queue takes both visits in.
    server.clock.set(T0 + 3600 + 120);
    let portal = Portal::new(&server.base).expect("portal client");
    assert_eq!(portal.login("admin", ADMIN_PASSWORD).await.expect("answers").status, 303);
    let queue = portal.get("/portal/venues").await.expect("answers").body;
    assert!(queue.contains("Shop Alpha") && queue.contains("Shop Beta"), "{queue}");

    // The attacker's copy: every row of every table of the authority.
    let rows: Vec<String> = server
        .dump_everything()
        .await
        .into_iter()
        .filter(|row| !KEY_SERVER_TABLES.iter().any(|t| row.starts_with(&format!("{t}:"))))
        .collect();
    for expected in ["upload_codes", "verification_tokens", "authority_revealed", "staff_sessions"] {
        assert!(rows.iter().any(|r| r.starts_with(&format!("{expected}:"))), "{expected} is dumped: {rows:?}");
    }
    assert!(rows.iter().any(|r| r.starts_with("upload_codes:")), "{rows:?}");
    // A time the phones' steps left, to the second or the minute, within
    // a day either way (a token's expiry is a day after its claim).
    let phone_minute = |v: i64| {
        let Ok(v) = u64::try_from(v) else { return false };
        let (from, to) = (T0 - 86_400, T0 + 2 * 86_400);
        (from..to).contains(&v) && PHONE_MINUTES.contains(&((v % 3600) / 60))
    };
    for row in &rows {
        let (table, cells) = row.split_once(": ").expect("table: cells");
        for cell in cells.split(" | ") {
            if let Ok(v) = cell.parse::<i64>() {
                assert!(!phone_minute(v), "{table} keeps a time of a phone's step ({v}): {row}");
            }
        }
    }
    let used = rows.iter().filter(|r| r.starts_with("upload_codes:")).count();
    assert_eq!(used, 2, "{rows:?}");

    // Nor does any order: the revealed visits, in the tracer's queue (by
    // its row ids) and in the key server's table (as an SQLite file holds
    // them; PostgreSQL's heap keeps insertion order, see the attack
    // matrix), come in the order of their bytes, not of their uploads.
    let in_arrival_order: Vec<String> = visits.iter().map(hex::encode).collect();
    let mut by_bytes = in_arrival_order.clone();
    by_bytes.sort();
    assert_ne!(in_arrival_order, by_bytes, "the test reveals visits against their byte order");
    let all = server.dump_everything().await;
    let mut queue: Vec<(i64, String)> = all
        .iter()
        .filter_map(|r| r.strip_prefix("authority_revealed: "))
        .map(|cells| {
            let cells: Vec<&str> = cells.split(" | ").collect();
            (cells[0].parse().expect("id"), cells[1].to_owned())
        })
        .collect();
    queue.sort();
    assert_eq!(queue.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(), by_bytes, "the queue's ids follow the bytes");
    let key_server: Vec<String> = all
        .iter()
        .filter_map(|r| r.strip_prefix("revealed_checkins: "))
        .map(|cells| cells.split(" | ").next().expect("checkin").to_owned())
        .collect();
    assert_eq!(key_server.len(), 2, "{all:?}");
    assert!(
        !all.iter().any(|r| r.starts_with("revealed_checkins: ") && r.split(" | ").count() != 2),
        "the key server keeps a visit and its hour, no id: {all:?}"
    );
    if db == Db::Sqlite {
        assert_eq!(key_server, by_bytes, "the key server's file keeps visits by their bytes");
    }

    // The portal shows the day a code was used, not the minute.
    let page = portal.get("/portal/codes").await.expect("answers").body;
    assert!(page.contains("used by a phone on"), "{page}");
    let hour = (T0 % 86_400) / 3600;
    for minute in PHONE_MINUTES {
        let shown = format!("{hour:02}:{minute:02}");
        assert!(!page.contains(&shown), "the portal shows {shown}: {page}");
    }
}
