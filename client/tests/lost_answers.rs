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
use greenlight_testkit::{CodeKind, TestServer};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A proxy in front of the real server that forwards every request and
/// its answer, except that it hangs up instead of answering the first
/// `lose` requests to `path` — after the server has handled them.
struct LosingProxy {
    base: String,
    /// Requests sent to `path`.
    sent: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl LosingProxy {
    async fn start(upstream: String, lost_path: &'static str, lose: u32) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let sent = Arc::new(AtomicU32::new(0));
        let counter = sent.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let (client, upstream, counter) = (client.clone(), upstream.clone(), counter.clone());
                tokio::spawn(async move {
                    let Some((path, headers, body)) = read_request(&mut stream).await else { return };
                    let mut forward = client.post(format!("{upstream}{path}")).body(body);
                    for (name, value) in &headers {
                        forward = forward.header(name.as_str(), value.as_str());
                    }
                    let Ok(answer) = forward.send().await else { return };
                    let status = answer.status().as_u16();
                    let bytes = answer.bytes().await.unwrap_or_default();
                    if path == lost_path && counter.fetch_add(1, Ordering::SeqCst) < lose {
                        // Handled by the server; the phone never hears back.
                        return;
                    }
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&bytes).await;
                });
            }
        });
        LosingProxy { base, sent, task }
    }
}

/// One HTTP/1.1 request: its path, the headers worth forwarding, its body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, Vec<(String, String)>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    let mut length = 0;
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
            if name == "content-length" {
                length = value.parse().ok()?;
            }
            if name == "content-type" || name == "x-chaff" {
                headers.push((name, value));
            }
        }
    }
    let mut body = buffer[end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((path, headers, body))
}

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
    let sent = proxy.sent.load(Ordering::SeqCst);
    proxy.task.abort();
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
