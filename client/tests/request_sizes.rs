//! What a network observer could learn from a report's size: every request
//! of the real report flow (`/v1/verify`, `/v1/certificate`,
//! `/v1/publish`) and of the daemon's chaff is captured on its way to the
//! real server, and each endpoint's requests have one size and the same
//! headers, whether the upload holds one key or fourteen, with or without
//! revealed visits, or is chaff.

mod common;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::Dir;
use greenlight_api::padding::{PUBLISH_REQUEST_SIZE, SMALL_REQUEST_SIZE};
use greenlight_client::os_rng;
use greenlight_client::settings::Settings;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::RevealedCheckIn;
use greenlight_protocol::venue::{AuthorityPublicKey, Epoch, VenueInfo, VenueKind, VenueMasterSecret};
use greenlight_testkit::{CodeKind, TestServer};
use rand_core::SeedableRng;
use std::sync::{Arc, Mutex};

/// One request as it left the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    path: String,
    size: usize,
    content_type: Option<String>,
    chaff: bool,
}

/// A pass-through in front of the real server that notes each request.
struct Capture {
    upstream: String,
    client: reqwest::Client,
    seen: Mutex<Vec<Seen>>,
}

async fn pass(State(capture): State<Arc<Capture>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    capture.seen.lock().expect("lock").push(Seen {
        path: parts.uri.path().to_owned(),
        size: body.len(),
        content_type: header("content-type"),
        chaff: header("x-chaff").is_some(),
    });
    let mut forward = capture.client.post(format!("{}{}", capture.upstream, parts.uri.path())).body(body);
    for name in ["content-type", "x-chaff"] {
        if let Some(value) = header(name) {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let bytes = answer.bytes().await.unwrap_or_default();
            (axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY), Body::from(bytes))
                .into_response()
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
}

/// Yesterday's visit to a venue whose posters are sealed to `trace_key`.
fn visit(seed: u64, trace_key: [u8; 32]) -> RevealedCheckIn {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let master = VenueMasterSecret::generate(&mut rng);
    let day = now().day().minus(1);
    let epoch = Epoch::new(day.start(), 24 * 60).expect("epoch");
    let opened = master.open_epoch(epoch, &AuthorityPublicKey(trace_key), &mut rng).expect("opens");
    let info = VenueInfo { name: format!("Venue {seed}"), address: "Somewhere 1".into(), kind: VenueKind::Restaurant };
    let poster = master.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster");
    let arrival = day.start().plus(9 * 3600);
    RevealedCheckIn { poster, arrival, departure: arrival.plus(3600) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_request_and_its_chaff_have_one_size_per_endpoint() {
    let server =
        TestServer::builder().authority("admin", "request sizes staff password").start().await.expect("server");
    let keys = server.authority_keys().expect("an authority");
    let capture = Arc::new(Capture {
        upstream: server.base.clone(),
        client: reqwest::Client::new(),
        seen: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(pass).with_state(capture.clone());
    let proxy_task = tokio::spawn(async move { axum::serve(listener, app).await });

    let settings = Settings {
        server: proxy.clone(),
        authority: None,
        export_key: server.export_key().expect("export key"),
        authority_key: keys.signing,
    };
    let portal = server.portal().await.expect("staff portal");
    let http = reqwest::Client::new();
    let today = now().day();
    let test_date = today.minus(1).iso_date().to_string();

    // One phone with today's key only and nothing revealed; another with
    // fourteen days of keys revealing three visits.
    let cases: [(&str, u32, Vec<RevealedCheckIn>); 2] =
        [("one-key", 1, Vec::new()), ("fourteen-keys", 14, (1..=3).map(|s| visit(s, keys.trace)).collect())];
    for (label, days, reveal) in cases {
        let dir = Dir::new(label);
        let mut phone = greenlight_client::open(&dir.0).expect("store");
        settings.save(phone.store_mut()).expect("settings");
        for back in 0..days {
            phone.daily_key(today.minus(back), &mut os_rng()).expect("a daily key");
        }
        // The visits to reveal are the phone's own: checked in and out.
        for v in &reveal {
            phone.check_in(&v.poster, v.arrival, &mut os_rng()).expect("check in");
            phone.check_out(v.departure, &mut os_rng()).expect("check out");
        }
        let code = portal.issue_code(CodeKind::Long, &test_date).await.expect("a code").code;
        let done = greenlight_client::report::report(&mut phone, &settings, &http, &code, &reveal, now())
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!((done.days.len(), done.checkins), (days as usize, reveal.len()), "{label}");
    }
    greenlight_client::daemon::send_chaff(&http, &settings).await;

    let seen = capture.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 9, "two reports and one chaff, three requests each: {seen:#?}");
    for (path, size) in [
        ("/v1/verify", SMALL_REQUEST_SIZE),
        ("/v1/certificate", SMALL_REQUEST_SIZE),
        ("/v1/publish", PUBLISH_REQUEST_SIZE),
    ] {
        let of_path: Vec<&Seen> = seen.iter().filter(|s| s.path == path).collect();
        assert_eq!(of_path.len(), 3, "{path}: {seen:#?}");
        assert_eq!(of_path.iter().filter(|s| s.chaff).count(), 1, "{path}");
        for s in of_path {
            assert_eq!(s.size, size, "{path} requests are all {size} bytes: {s:?}");
            assert_eq!(s.content_type.as_deref(), Some("application/json"), "{s:?}");
        }
    }
    proxy_task.abort();
    server.shutdown().await;
}
