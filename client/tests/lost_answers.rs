//! A report whose answers are lost (issue 19 item 6): the phone sends the
//! same request again and the real servers recognise it — the same code
//! with the same request id gets its token back, the same token and upload
//! a certificate with the same id, the same upload `already_accepted` —
//! and nothing is stored twice; when every publish answer is lost, the
//! phone says the upload may have been published, never that nothing was
//! uploaded.

mod common;

use common::Dir;
use greenlight_client::os_rng;
use greenlight_client::report::{PUBLISH_ATTEMPTS, ReportError};
use greenlight_client::settings::Settings;
use greenlight_protocol::time::UnixTime;
use greenlight_testkit::{CodeKind, LosingProxy, TestServer};

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
}

/// Reports through a proxy that loses the first `lose` answers to `path`;
/// returns the outcome, the requests sent to `path` and the keys stored.
async fn report_losing(
    path: &'static str,
    lose: u32,
) -> (Result<greenlight_client::report::Reported, ReportError>, u32, usize) {
    let server = TestServer::builder().authority("admin", "lost answers staff password").start().await.expect("server");
    let proxy = LosingProxy::start(server.base.clone(), path, lose).await;
    let settings = Settings {
        server: proxy.base.clone(),
        authority: None,
        export_key: server.export_key().expect("export key"),
        authority_key: server.authority_keys().expect("an authority").signing,
    };
    let portal = server.portal().await.expect("staff portal");
    let code =
        portal.issue_code(CodeKind::Long, &now().day().minus(1).iso_date().to_string()).await.expect("code").code;
    let dir = Dir::new("lost-answers");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    settings.save(phone.store_mut()).expect("settings");
    for back in 0..3 {
        phone.daily_key(now().day().minus(back), &mut os_rng()).expect("a daily key");
    }
    let http = reqwest::Client::new();
    let outcome = greenlight_client::report::report(&mut phone, &settings, &http, &code, &[], now()).await;
    let stored = server
        .state()
        .store
        .dump()
        .await
        .expect("dump")
        .iter()
        .filter(|row| row.starts_with("diagnosis_keys:"))
        .count();
    let sent = proxy.sent();
    drop(proxy);
    server.shutdown().await;
    (outcome, sent, stored)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_publish_answer_is_retried_and_recognised() {
    let (outcome, sent, stored) = report_losing("/v1/publish", 1).await;
    let reported = outcome.unwrap_or_else(|e| panic!("the retry completes the report: {e}"));
    assert_eq!(reported.days.len(), 3);
    assert_eq!(sent, 2, "the upload was sent twice");
    assert_eq!(stored, 3, "and stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_publish_answer_lost_is_reported_as_unknown_not_as_nothing_uploaded() {
    let (outcome, sent, stored) = report_losing("/v1/publish", PUBLISH_ATTEMPTS).await;
    assert_eq!(sent, PUBLISH_ATTEMPTS);
    assert_eq!(stored, 3, "the server did store the keys");
    let error = outcome.expect_err("no answer, no success");
    assert!(matches!(error, ReportError::Unconfirmed(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("may have been published") && !text.contains("nothing was uploaded"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_verify_answer_is_retried_and_the_code_still_works() {
    let (outcome, sent, stored) = report_losing("/v1/verify", 1).await;
    let reported = outcome.unwrap_or_else(|e| panic!("the retry gets the token the lost answer held: {e}"));
    assert_eq!(reported.days.len(), 3);
    assert_eq!(sent, 2, "the code was sent twice");
    assert_eq!(stored, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_certificate_answer_is_retried_and_the_token_still_works() {
    let (outcome, sent, stored) = report_losing("/v1/certificate", 2).await;
    let reported = outcome.unwrap_or_else(|e| panic!("the retry gets its certificate again: {e}"));
    assert_eq!(reported.days.len(), 3);
    assert_eq!(sent, 3, "the certificate was asked for three times");
    assert_eq!(stored, 3);
}
