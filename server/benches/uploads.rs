//! Authorized uploads under load, on SQLite and on PostgreSQL, beside
//! `GET /health` on the same server under the same load generator.
//!
//! A bounded load generator on loopback: a fixed number of real uploads
//! (certificate signed by the health authority + HMAC over the keys, made
//! in setup, outside the timed part), sent by a fixed number of concurrent
//! connections. It counts every answer that is not `200 accepted` as an
//! error and, afterwards, reads the database to check that every accepted
//! upload was stored (certificates and keys).
//!
//! `cargo bench -p greenlight-server --bench uploads`; `UPLOADS=N`,
//! `CONCURRENCY=N` change the load. PostgreSQL is `GREENLIGHT_TEST_POSTGRES`
//! or the machine's (as for the tests); it is skipped, and says so, when none
//! answers.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../bench/summary.rs"]
mod summary;

use common::{Authority, Db, TestServer};
use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::time::UnixTime;
use rand_core::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use summary::{Figure, record, size, verdict};

/// Keys per upload: ten days of a diagnosed person's keys.
const KEYS_PER_UPLOAD: usize = 10;

/// Upload number `i`: its own keys, HMAC key and certificate (drawn from a
/// generator seeded with `i`, so every certificate id differs), valid for 15
/// minutes from `now`. Like the test harness's `upload`, whose certificate
/// ids repeat after a few hundred uploads made at the same time.
fn authorized_upload(authority: &Authority, now: UnixTime, i: u64) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(i);
    let keys: Vec<UploadedKey> = (0..KEYS_PER_UPLOAD)
        .map(|d| {
            let mut key = [0u8; 16];
            rng.fill_bytes(&mut key);
            UploadedKey {
                key: PublishedKey(key),
                day: now.day().minus(2 + u32::try_from(d).expect("few keys")),
                transmission_risk: TransmissionRisk::new(5).expect("risk"),
            }
        })
        .collect();
    let hmac_key = UploadHmacKey::generate(&mut rng);
    let hmac = upload_hmac(&hmac_key, &keys, &[]).expect("hmac");
    let certificate = Certificate::new(
        ReportType::ConfirmedTest,
        DayKind::TestDate,
        now.day(),
        hmac,
        now,
        now.plus(900),
        CertificateId::generate(&mut rng),
    )
    .expect("certificate")
    .sign_text(&authority.key);
    let body = serde_json::json!({
        "keys": keys.iter().map(|k| serde_json::json!({
            "key": to_base64url(&k.key.0), "day": k.day.0, "transmission_risk": k.transmission_risk.level()
        })).collect::<Vec<_>>(),
        "revealed_checkins": [],
        "certificate": certificate,
        "hmac_key": to_base64url(hmac_key.expose_secret()),
    });
    serde_json::to_vec(&body).expect("json")
}

/// What one load run measured.
struct Load {
    /// Requests per second over the whole run.
    rate: f64,
    p50: Duration,
    p99: Duration,
    /// Answers other than the expected one (or failed requests).
    errors: usize,
    /// Answers that were the expected one.
    ok: usize,
}

/// Sends `n` requests made by `request(i)` over `concurrency` connections;
/// an answer counts as good when `good(status, body)`.
async fn load<F, G>(n: usize, concurrency: usize, request: F, good: G) -> Load
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
    G: Fn(u16, &[u8]) -> bool + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let good = Arc::new(good);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (request, good, next) = (request.clone(), good.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let sent = Instant::now();
                    let ok = match request(i).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            response.bytes().await.is_ok_and(|body| good(status, &body))
                        }
                        Err(_) => false,
                    };
                    latencies.push(sent.elapsed());
                    errors += usize::from(!ok);
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await.expect("load worker");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |percent: usize| latencies[(latencies.len() * percent / 100).min(latencies.len() - 1)];
    Load { rate: n as f64 / elapsed, p50: at(50), p99: at(99), errors, ok: n - errors }
}

async fn count(url: &str, table: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect to the server's database");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&pool)
        .await
        .expect("count rows");
    pool.close().await;
    n
}

async fn postgres_answers() -> bool {
    sqlx::any::install_default_drivers();
    let url = common::postgres_admin_url();
    tokio::time::timeout(Duration::from_secs(5), <sqlx::AnyConnection as sqlx::Connection>::connect(&url))
        .await
        .is_ok_and(|c| c.is_ok())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(db: Db, n: usize, concurrency: usize) {
    let name = match db {
        Db::Sqlite => "SQLite",
        Db::Postgres => "PostgreSQL",
    };
    let server = TestServer::start(db).await;
    let now = server.clock.now();
    // Setup, untimed: every upload with its own keys and certificate.
    let bodies: Arc<Vec<Vec<u8>>> =
        Arc::new((0..n as u64).map(|i| authorized_upload(&server.authority, now, i)).collect());
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");

    let (c, url) = (client.clone(), format!("{}/health", server.base));
    let health = load(n, concurrency, move |_| c.get(&url), |status, _| status == 200).await;

    let (c, url, bodies2) = (client.clone(), format!("{}/v1/publish", server.base), bodies.clone());
    let uploads = load(
        n,
        concurrency,
        move |i| c.post(&url).header("content-type", "application/json").body(bodies2[i].clone()),
        |status, body| status == 200 && body.windows(10).any(|w| w == b"\"accepted\""),
    )
    .await;

    let certificates = count(server.database_url(), "used_certificates").await;
    let stored_keys = count(server.database_url(), "diagnosis_keys").await;
    let accepted = uploads.ok as i64;
    let consistent = certificates == accepted && stored_keys == accepted * KEYS_PER_UPLOAD as i64;

    println!(
        "{name:<11} uploads: {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  accepted {}  stored {} ({} keys)",
        uploads.rate,
        ms(uploads.p50),
        ms(uploads.p99),
        uploads.errors,
        accepted,
        certificates,
        stored_keys
    );
    println!(
        "{name:<11} /health: {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
        health.rate,
        ms(health.p50),
        ms(health.p99),
        health.errors
    );
    let group = "uploads";
    record(&Figure {
        group,
        measurement: format!("{name}: {n} uploads ({KEYS_PER_UPLOAD} keys), {concurrency} connections"),
        value: format!("{:.0}", uploads.rate),
        unit: "uploads/s",
        baseline: format!("GET /health {:.0}/s", health.rate),
        ratio: format!("{:.2}x", uploads.rate / health.rate),
        target: "≥ 1000/s".into(),
        verdict: verdict(uploads.rate >= 1000.0),
    });
    record(&Figure {
        group,
        measurement: format!("{name}: upload latency p50 / p99"),
        value: format!("{:.1} / {:.1}", ms(uploads.p50), ms(uploads.p99)),
        unit: "ms",
        baseline: format!("/health {:.1} / {:.1} ms", ms(health.p50), ms(health.p99)),
        ratio: format!("{:.1}x", uploads.p99.as_secs_f64() / health.p99.as_secs_f64()),
        target: "p99 < 100 ms".into(),
        verdict: verdict(uploads.p99 < Duration::from_millis(100)),
    });
    record(&Figure {
        group,
        measurement: format!("{name}: errors; accepted = stored"),
        value: format!("{} errors; {accepted} = {certificates} ({stored_keys} keys)", uploads.errors),
        unit: "",
        baseline: format!("/health errors {}", health.errors),
        ratio: String::new(),
        target: "0 errors, nothing lost".into(),
        verdict: verdict(uploads.errors == 0 && health.errors == 0 && consistent),
    });
    server.shutdown().await;
}

fn main() {
    let n = size("UPLOADS", 20_000, 2_000);
    let concurrency = size("CONCURRENCY", 32, 16);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("{n} authorized uploads of {KEYS_PER_UPLOAD} keys over {concurrency} connections, loopback");
        run(Db::Sqlite, n, concurrency).await;
        if postgres_answers().await {
            run(Db::Postgres, n, concurrency).await;
        } else {
            println!("PostgreSQL: skipped, none answers at {}", common::postgres_admin_url());
            record(&Figure {
                group: "uploads",
                measurement: "PostgreSQL".into(),
                value: "skipped".into(),
                unit: "",
                baseline: String::new(),
                ratio: String::new(),
                target: "≥ 1000/s".into(),
                verdict: "",
            });
        }
    });
}
