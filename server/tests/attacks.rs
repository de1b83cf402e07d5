//! Attacks on the key server and the staff portal from the threat model
//! (spec/protocol.md §15, spec/attack-matrix.md) that no other suite covers,
//! each run on SQLite and on PostgreSQL.

mod common;

use common::{ADMIN_PASSWORD, Db, Portal, TestServer, keys, upload};
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::signing::TrustedKeys;

common::on_both_databases!(
    an_export_batch_does_not_group_keys_by_upload,
    a_certificate_replayed_after_a_restart_is_refused,
    a_session_cookie_planted_before_login_is_never_signed_in,
);

/// §15.6: two people upload; the published batch lists every key sorted by
/// its bytes, among padding with the same days and risks, so neither the
/// order nor the metadata says which keys came together.
async fn an_export_batch_does_not_group_keys_by_upload(db: Db) {
    let server = TestServer::start(db).await;
    let today = server.clock.now().day();
    let first = keys(21, 4, today);
    let second = keys(22, 4, today);
    assert_eq!(server.post(&upload(&server.authority, server.clock.now(), &first, &[])).await.0, 200);
    assert_eq!(server.post(&upload(&server.authority, server.clock.now().plus(1), &second, &[])).await.0, 200);
    server.seal().await.expect("a batch is sealed");

    let trusted = TrustedKeys::from_keys([server.export_key()]);
    let index = Index::verify(&server.get("/v1/index").await.bytes().await.expect("index"), &trusted).expect("index");
    let entry = index.entries_after(FileKind::ExportBatch, 0).first().expect("one batch listed");
    let bytes = server.get(&format!("/v1/files/{}", hex::encode(entry.sha256))).await.bytes().await.expect("file");
    let batch = ExportBatch::verify(&bytes, &trusted).expect("signed batch");
    let records = batch.records();

    assert!(records.len() >= 50, "{} records: padded to the minimum batch size", records.len());
    assert!(records.windows(2).all(|w| w[0].key.0 < w[1].key.0), "records are sorted by key, not by upload");
    let real: Vec<[u8; 16]> = first.iter().chain(&second).map(|k| k.bytes).collect();
    let positions: Vec<usize> =
        real.iter().map(|k| records.iter().position(|r| r.key.0 == *k).expect("every key is published")).collect();
    // The two uploads' keys are interleaved with each other and with padding.
    let (lo, hi) = (positions.iter().min().expect("keys"), positions.iter().max().expect("keys"));
    assert!(hi - lo + 1 > real.len(), "the real keys form one block: padding must fall between them");
    // Padding cannot be told apart by its metadata.
    for record in records.iter().filter(|r| !real.contains(&r.key.0)) {
        assert!(
            first.iter().chain(&second).any(|k| k.day == record.day.0 && k.risk == record.transmission_risk.level()),
            "a padding record has a day and risk no upload had"
        );
    }
}

/// §15.11: a certificate is single-use across restarts: used ids live in
/// the database, not in memory. Sent again, the same upload is answered
/// "already accepted" (its first answer may have been lost) and stores
/// nothing, revealed visits included.
async fn a_certificate_replayed_after_a_restart_is_refused(db: Db) {
    let mut server = TestServer::start(db).await;
    let body = upload(&server.authority, server.clock.now(), &keys(23, 2, server.clock.now().day()), &[]);
    assert_eq!(server.post(&body).await.0, 200);
    server.restart().await;
    let (status, answer, _) = server.post(&body).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("already_accepted")), "{answer}");
    assert_eq!(server.stored_keys().await, 2, "the replay stored nothing");
}

/// Session fixation: a session cookie planted in a staff member's browser
/// before they log in is replaced by a fresh one, and never becomes a
/// signed-in session for whoever planted it.
async fn a_session_cookie_planted_before_login_is_never_signed_in(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let planted = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let victim = Portal::new(&server.base).expect("portal client");
    victim.set_cookie("gl_session", planted);
    let answer = victim.login("admin", ADMIN_PASSWORD).await.expect("the portal answers");
    assert_eq!(answer.status, 303, "{}", answer.body);
    let session = victim.cookie("gl_session").expect("a session cookie");
    assert_ne!(session, planted, "the login kept the planted session id");
    assert_eq!(victim.get("/portal").await.expect("the portal answers").status, 200, "the victim is signed in");

    let attacker = Portal::new(&server.base).expect("portal client");
    attacker.set_cookie("gl_session", planted);
    let page = attacker.get("/portal").await.expect("the portal answers");
    assert_eq!(page.status, 303, "the planted cookie is not a session");
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/portal/login")), "{page:?}");
}
