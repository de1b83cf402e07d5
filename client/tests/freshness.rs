//! Never a silent green, with the real key server and the client's sync
//! (issue 18 item 15). The client takes the time as an argument, so each
//! attack runs at the phone time it needs, no libfaketime: a bare `304`
//! forever, the same old index replayed, a server clock 14 hours ahead, a
//! phone clock 30 days ahead. A phone is fresh as of the signed time of the
//! newest index it accepted; none of these moves that time.

mod common;

use common::Dir;
use greenlight_client::settings::Settings;
use greenlight_client::sync::{SyncError, sync};
use greenlight_protocol::color::Color;
use greenlight_protocol::time::UnixTime;
use greenlight_testkit::{TestClock, TestServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// 2026-05-10 09:00 UTC.
const T0: u64 = 1_778_403_600;
/// The built-in policy's limit (no policy is published on these servers).
const STALE_AFTER: u64 = 48 * 3600;

/// A server that answers every request with the same bytes: what a broken
/// cache or someone in the middle sends in place of the key server.
async fn always(answer: Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(&answer).await;
            });
        }
    });
    (base, task)
}

async fn server_at(t: u64) -> TestServer {
    TestServer::builder()
        .clock(TestClock::at(t))
        .authority("admin", "freshness staff password")
        .start()
        .await
        .expect("server")
}

fn settings(server: &TestServer, url: &str) -> Settings {
    Settings {
        server: url.to_owned(),
        authority: None,
        export_key: server.export_key().expect("export key"),
        authority_key: server.authority_keys().expect("an authority").signing,
    }
}

async fn sync_at(
    phone: &mut greenlight_client::Phone,
    settings: &Settings,
    now: u64,
) -> Result<greenlight_client::sync::SyncReport, SyncError> {
    sync(phone, settings, &reqwest::Client::new(), UnixTime(now), &mut |_| {}).await
}

fn color(phone: &greenlight_client::Phone, now: u64) -> Color {
    phone.status(UnixTime(now)).expect("store").color
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_304_or_a_replayed_index_keeps_no_phone_green() {
    let server = server_at(T0).await;
    let real = settings(&server, &server.base);
    let dir = Dir::new("freshness-304");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    sync_at(&mut phone, &real, T0 + 60).await.expect("sync");
    assert_eq!(color(&phone, T0 + 60), Color::Green);
    let old_index =
        reqwest::get(format!("{}/v1/index", server.base)).await.expect("index").bytes().await.expect("body");

    // Past the limit, whatever answers "unchanged", unsigned, keeps saying so.
    let later = T0 + STALE_AFTER + 60;
    let (url, task) =
        always(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()).await;
    let report = sync_at(&mut phone, &settings(&server, &url), later).await.expect("a 304 is not an error");
    assert!(report.unchanged);
    assert_eq!(color(&phone, later), Color::Stale, "a 304 never makes a phone fresh");
    task.abort();

    // The same genuine old index, replayed under another ETag.
    let mut replay = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nETag: \"replayed\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        old_index.len()
    )
    .into_bytes();
    replay.extend_from_slice(&old_index);
    let (url, task) = always(replay).await;
    sync_at(&mut phone, &settings(&server, &url), later).await.expect("a replay rolls nothing back");
    assert_eq!(color(&phone, later), Color::Stale, "an old index replayed never makes a phone fresh");
    task.abort();

    // The real server signs a new index on its export run: fresh again.
    server.clock.set(later);
    assert!(server.seal().await.expect("export run").is_none());
    sync_at(&mut phone, &real, later).await.expect("sync");
    assert_eq!(color(&phone, later), Color::Green);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_from_a_server_clock_ahead_is_refused_and_locks_nothing_out() {
    // The server's clock is 14 hours ahead.
    let mut server = server_at(T0 + 14 * 3600).await;
    let dir = Dir::new("freshness-future");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    let refused = sync_at(&mut phone, &settings(&server, &server.base), T0).await;
    let said = refused.expect_err("refused").to_string();
    assert!(said.contains("ahead of this device's clock"), "{said}");
    assert_eq!(phone.clock_floor().expect("store"), UnixTime(0), "the floor was not raised");
    assert_eq!(color(&phone, T0), Color::Stale);

    // Its operator fixes the clock and restarts it: the phone syncs.
    server.clock.set(T0 + 3600);
    server.restart().await.expect("restart");
    sync_at(&mut phone, &settings(&server, &server.base), T0 + 3600).await.expect("sync");
    assert_eq!(color(&phone, T0 + 3600), Color::Green);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_clock_30_days_ahead_is_stale_right_after_its_sync() {
    let server = server_at(T0).await;
    let dir = Dir::new("freshness-ahead");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    let ahead = T0 + 30 * 86_400;
    sync_at(&mut phone, &settings(&server, &server.base), ahead).await.expect("the index is genuine");
    assert_eq!(color(&phone, ahead), Color::Stale, "no 30 days of green from one sync");
}
