//! Peak memory of a phone's sync + match over 14 days of sightings.
//!
//! The key server runs in a child process (this same binary, started again
//! with `BENCH_ROLE=server`) so that its memory is not counted: it stores
//! `KEYS` published keys (default 1M: 14 daily batches of about 71,000)
//! and seals them, three of them being keys this phone met. The phone
//! (this process) holds 14 days of sightings — `PEERS` devices (default 20)
//! heard at every 5-minute scan from 07:00 to 23:00 — then syncs once:
//! index, every batch verified, matched, exposures recorded.
//!
//! Reported: the process's peak resident memory during the sync (`VmHWM`,
//! reset just before it through `/proc/self/clear_refs`), beside the resident
//! memory just before the sync (the baseline) and the bytes downloaded.
//! The target is DESIGN.md's 64 MB peak.
//!
//! `cargo bench -p greenlight --bench sync_memory`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../bench/summary.rs"]
mod summary;

use common::Dir;
use greenlight_client::settings::Settings;
use greenlight_client::sync;
use greenlight_protocol::daily_key::{DailyKey, EncryptedMetadata, EphemeralId, Metadata};
use greenlight_protocol::export::Region;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::signing::SigningKey;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_server::key_server::store::{KeyRow, NewUpload};
use greenlight_testkit::{LoopbackConfig, TestClock, TestServer};
use rand_core::{Rng, SeedableRng};
use std::io::{BufRead as _, Read as _};
use std::process::{Command, Stdio};
use summary::{Figure, memory, record, reset_peak, size, verdict};

/// Noon UTC of 2026-05-25: the phone syncs then.
const NOW: u64 = 20_598 * 86_400 + 12 * 3600;
const DAYS: u32 = 14;

fn today() -> DayNumber {
    UnixTime(NOW).day()
}

/// The health authority's key (trusted by both sides).
fn authority() -> SigningKey {
    SigningKey::from_bytes(&[5; 32])
}

/// Keys of three people this phone met, and the days it met them; both
/// processes derive them from the same seed.
fn met() -> Vec<(DailyKey, DayNumber)> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(77);
    (0..3).map(|i| (DailyKey::generate(&mut rng), today().minus(2 + 3 * i))).collect()
}

/// The child: a key server with `keys` published keys in 14 daily batches.
/// Prints `READY <base url> <export key> <bytes published>` and serves until
/// its standard input closes.
async fn serve(keys: usize) {
    let loopback = LoopbackConfig::default()
        .region(Region::new("GL-BENCH").expect("region"))
        .trust(authority().verifying_key())
        .request_timeout(30);
    let server =
        TestServer::builder().clock(TestClock::at(NOW)).loopback(loopback).start().await.expect("server starts");
    let state = &server.state();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let met = met();
    let now = i64::try_from(NOW).expect("time");
    let mut published = 0u64;
    for d in 0..DAYS {
        let day = today().minus(DAYS - d);
        let mut rows: Vec<KeyRow> = (0..keys / DAYS as usize)
            .map(|_| {
                let mut key = vec![0u8; 16];
                rng.fill_bytes(&mut key);
                KeyRow {
                    key,
                    day: i64::from(day.0),
                    transmission_risk: 6,
                    report_type: i64::from(ReportType::ConfirmedTest.to_byte()),
                }
            })
            .collect();
        for (key, met_day) in &met {
            if *met_day == day {
                rows.push(KeyRow { key: key.expose_secret().to_vec(), ..rows[0].clone() });
            }
        }
        for (i, chunk) in rows.chunks(10_000).enumerate() {
            let mut certificate_id = [0u8; 16];
            certificate_id[..4].copy_from_slice(&d.to_le_bytes());
            certificate_id[4..12].copy_from_slice(&(i as u64).to_le_bytes());
            let upload = NewUpload {
                certificate_id,
                certificate_expires_at: now + 900,
                received_hour: now - now % 3600,
                keys: chunk.iter().map(|r| (r.clone(), (r.day + 1) * 86_400 + 7200)).collect(),
                checkins: Vec::new(),
            };
            state.store.store_upload(&upload).await.expect("store keys");
        }
        let sealed = state.publisher.seal(UnixTime(NOW)).await.expect("seal").expect("a batch");
        published += u64::try_from(sealed.file.size).expect("size");
    }
    let export_key = std::fs::read_to_string(server.data_dir().join("export-key.pub")).expect("export key");
    println!("READY {} {} {published}", server.base, export_key.trim());
    // Serve until the parent closes our standard input.
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await
    .expect("stdin");
    server.shutdown().await;
}

/// 14 days of sightings: `peers` strangers at every 5-minute scan from 07:00
/// to 23:00, plus a quarter of an hour near each met key's owner.
fn sightings(peers: usize) -> Vec<Sighting> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let mut out = Vec::new();
    for d in 0..DAYS {
        let day = today().minus(DAYS - d);
        for scan in (7 * 3600..23 * 3600).step_by(300) {
            for _ in 0..peers {
                let mut id = [0u8; 16];
                rng.fill_bytes(&mut id);
                out.push(Sighting {
                    id: EphemeralId(id),
                    metadata: EncryptedMetadata([0; 4]),
                    rssi: -80,
                    seen_at: day.start().plus(scan),
                });
            }
        }
    }
    for (key, day) in met() {
        let schedule = key.schedule(day);
        for minute in (0..15).step_by(5) {
            let seen_at = day.start().plus(18 * 3600 + minute * 60);
            let id = schedule.id(seen_at.interval().slot());
            out.push(Sighting { id, metadata: schedule.seal_metadata(&id, Metadata::v1(-8)), rssi: -55, seen_at });
        }
    }
    out
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

async fn phone(keys: usize, peers: usize) {
    // The key server, in its own process.
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env("BENCH_ROLE", "server")
        .env("KEYS", keys.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the key server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("READY line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"READY"), "the key server did not start: {line:?}");
    let (base, export_key, published): (String, String, u64) =
        (fields[1].to_owned(), fields[2].to_owned(), fields[3].parse().expect("bytes"));

    let dir = Dir::new("phone");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    let settings = Settings {
        server: base,
        authority: None,
        export_key: greenlight_client::settings::parse_key(&export_key).expect("export key"),
        authority_key: authority().verifying_key(),
    };
    settings.save(phone.store_mut()).expect("settings");
    let seen = sightings(peers);
    let n_sightings = seen.len();
    greenlight_phone::Store::add_sightings(phone.store_mut(), &seen).expect("sightings");
    drop(seen);
    let http = reqwest::Client::new();

    let (_, before) = memory();
    reset_peak();
    let report = sync::sync(&mut phone, &settings, &http, UnixTime(NOW), &mut |_| {}).await.expect("sync");
    let (peak, _) = memory();
    drop(child.stdin.take());
    let _ = child.wait();

    assert_eq!(report.files, DAYS as usize, "every batch was downloaded");
    assert!(report.exposures > 0, "the met keys were found: {report:?}");
    println!(
        "sync + match: {} keys in {} files against {n_sightings} sightings; {} exposures",
        report.keys, report.files, report.exposures
    );
    println!(
        "peak RSS during sync {:.1} MB; RSS before sync {:.1} MB; downloaded {:.1} MB",
        mb(peak),
        mb(before),
        mb(published)
    );
    let group = "client";
    record(&Figure {
        group,
        measurement: format!("sync + match: {} keys, {n_sightings} sightings (14 d)", report.keys),
        value: format!("{:.1}", mb(peak)),
        unit: "MB peak RSS",
        baseline: format!("RSS before sync {:.1} MB", mb(before)),
        ratio: format!("+{:.1} MB", mb(peak.saturating_sub(before))),
        target: "< 64 MB".into(),
        verdict: verdict(peak < 64_000_000),
    });
    record(&Figure {
        group,
        measurement: "downloaded (index not counted)".into(),
        value: format!("{:.1}", mb(published)),
        unit: "MB",
        baseline: String::new(),
        ratio: format!("peak {:.2}x download", peak as f64 / published as f64),
        target: String::new(),
        verdict: "",
    });
}

fn main() {
    let keys = size("KEYS", 1_000_000, 70_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if std::env::var("BENCH_ROLE").is_ok_and(|r| r == "server") {
        runtime.block_on(serve(keys));
    } else {
        runtime.block_on(phone(keys, size("PEERS", 20, 20)));
    }
}
