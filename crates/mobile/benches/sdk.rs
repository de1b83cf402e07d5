//! What the SDK costs beside the core it wraps, measured in one run (issue
//! 17's numbers).
//!
//! **FFI overhead.** `status()` and `advertisement()` called from Kotlin on
//! the JVM (the generated bindings over JNA, `bench/mobile/Bench.kt`), per
//! call, beside the same calls on the same phone from Rust (the SDK's Rust
//! API, which is what the FFI scaffolding calls): the ratio is what the FFI
//! adds (lowering, the RustBuffer round trip, JNA). Each figure is the
//! fastest of five rounds, on both sides. The Kotlin rows need
//! `GREENLIGHT_KOTLIN_CLASSPATH` (the compiled bindings and bench, JNA and
//! the Kotlin runtime) and `GREENLIGHT_MOBILE_LIBRARY` (the cdylib the
//! bindings load), which `bench/run` sets through `tests/mobile/kotlin.sh`;
//! without them only the Rust figures are printed.
//!
//! **Memory.** Sync + match of `KEYS` published keys (default 1M in 14 daily
//! batches) against 14 days of sightings, through the SDK
//! (`GreenlightPhone::sync`, the sightings fed in as the OS scanner's
//! payloads) and through the core (`greenlight_client::sync::sync` on the
//! same store type, a runtime like the SDK's): peak resident memory
//! of each phone, each in its own process (this binary again, with
//! `BENCH_ROLE`), so neither counts the other's. The key server is the one
//! of `client/benches/sync_memory.rs` (its executable with
//! `BENCH_ROLE=server`, named by `GREENLIGHT_SYNC_SERVER`, which `bench/run`
//! sets), in its own process too. Target: under 64 MB (DESIGN.md).
//!
//! `bench/run` runs it; alone: `cargo bench --workspace --bench sdk`.

#[path = "../../../bench/summary.rs"]
mod summary;

use greenlight_client::settings::Settings;
use greenlight_client::store::SqliteStore;
use greenlight_mobile::{Clock, GreenlightPhone, ScannedAdvertisement, ServerConfig};
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::daily_key::{EncryptedMetadata, EphemeralId};
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::signing::SigningKey;
use greenlight_protocol::time::{DayNumber, UnixTime};
use rand_core::{Rng as _, SeedableRng as _};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;
use summary::{Figure, memory, record, reset_peak, size, verdict};

/// The key server's clock in `client/benches/sync_memory.rs`: noon UTC of
/// 2026-05-25. The phones sync then.
const NOW: u64 = 20_598 * 86_400 + 12 * 3600;
const DAYS: u32 = 14;
/// The device key of every phone of this benchmark.
const DEVICE_KEY: [u8; 32] = [7; 32];

/// A fixed clock, as an app's test would set one.
struct Fixed(u64);

impl Clock for Fixed {
    fn now(&self) -> u64 {
        self.0
    }
}

/// The authority key `client/benches/sync_memory.rs` trusts.
fn authority_key_hex() -> String {
    hex::encode(SigningKey::from_bytes(&[5; 32]).verifying_key().to_bytes())
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("greenlight-bench-sdk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch directory");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 14 days of sightings before `today`: `peers` strangers at every 5-minute
/// scan from 07:00 to 23:00 (as in `sync_memory.rs`).
fn sightings(today: DayNumber, peers: usize) -> Vec<Sighting> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let mut out = Vec::new();
    for d in 0..DAYS {
        let day = today.minus(DAYS - d);
        for scan in (7 * 3600..23 * 3600).step_by(300) {
            for _ in 0..peers {
                let mut id = [0u8; 16];
                let mut metadata = [0u8; 4];
                rng.fill_bytes(&mut id);
                rng.fill_bytes(&mut metadata);
                out.push(Sighting {
                    id: EphemeralId(id),
                    metadata: EncryptedMetadata(metadata),
                    rssi: -80,
                    seen_at: day.start().plus(scan),
                });
            }
        }
    }
    out
}

/// The same sightings as the OS scanner hands them to the SDK.
fn scanned(sightings: &[Sighting]) -> Vec<ScannedAdvertisement> {
    sightings
        .iter()
        .map(|s| ScannedAdvertisement {
            payload: Advertisement { id: s.id, metadata: s.metadata }.service_data().to_vec(),
            rssi: s.rssi,
            seen_at: s.seen_at.0,
        })
        .collect()
}

/// Rounds of calls; the fastest round counts, so that other work on the
/// machine (a shared CI runner) slows neither side's figure.
const ROUNDS: usize = 5;

/// Nanoseconds per call of `f`: the fastest of [`ROUNDS`] rounds of `n /
/// ROUNDS` calls, after `n / 10` calls to warm up.
fn per_call(n: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let calls = (n / ROUNDS).max(1);
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                f();
            }
            started.elapsed().as_nanos() as f64 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// A phone with 14 days of sightings and today's key, for the call costs.
fn call_phone(dir: &Path) -> Arc<GreenlightPhone> {
    let phone = GreenlightPhone::open_with_key(dir.display().to_string(), DEVICE_KEY.to_vec(), None).expect("open");
    let now = UnixTime(phone.now());
    phone.record_sightings(scanned(&sightings(now.day(), 5))).expect("sightings");
    phone.advertisement().expect("advertisement").expect("today's key");
    phone
}

/// The Kotlin side: `bench/mobile/Bench.kt` on the same phone directory.
/// Returns nanoseconds per call by method name.
fn kotlin(dir: &Path, n: usize) -> Option<Vec<(String, f64)>> {
    let classpath = std::env::var("GREENLIGHT_KOTLIN_CLASSPATH").ok()?;
    let library = PathBuf::from(std::env::var("GREENLIGHT_MOBILE_LIBRARY").ok()?);
    let library_dir = library.parent().expect("the library's directory");
    let out = Command::new("java")
        .arg("-cp")
        .arg(&classpath)
        .arg(format!("-Djna.library.path={}", library_dir.display()))
        .arg("BenchKt")
        .arg(dir)
        .arg(hex::encode(DEVICE_KEY))
        .arg(n.to_string())
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "the Kotlin bench failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    Some(
        text.lines()
            .filter_map(|l| {
                let (name, ns) = l.split_once(' ')?;
                Some((name.to_owned(), ns.trim().parse().ok()?))
            })
            .collect(),
    )
}

fn calls() {
    let n = size("CALLS", 20_000, 2_000);
    let dir = Scratch::new("calls");
    let phone = call_phone(&dir.0);
    let rust = [
        ("status", per_call(n, || drop(phone.status().expect("status")))),
        ("advertisement", per_call(n, || drop(phone.advertisement().expect("advertisement")))),
    ];
    for (name, ns) in &rust {
        println!("rust {name}() {:.1} µs per call (best of {ROUNDS} rounds of {} calls)", ns / 1e3, n / ROUNDS);
    }
    // The Kotlin side opens the same store: close this one first.
    drop(phone);
    let Some(from_kotlin) = kotlin(&dir.0, n) else {
        println!("Kotlin figures skipped: GREENLIGHT_KOTLIN_CLASSPATH and GREENLIGHT_MOBILE_LIBRARY are not set");
        for (name, ns) in &rust {
            record(&Figure {
                group: "mobile",
                measurement: format!("{name}() from Kotlin (JNA)"),
                value: "skipped (no Kotlin classpath)".into(),
                unit: "",
                baseline: format!("Rust {:.1} µs", ns / 1e3),
                ratio: String::new(),
                target: "< 1 ms".into(),
                verdict: "",
            });
        }
        return;
    };
    for (name, ns) in &rust {
        let Some((_, kt)) = from_kotlin.iter().find(|(k, _)| k == name) else {
            panic!("the Kotlin bench printed no figure for {name}()")
        };
        record(&Figure {
            group: "mobile",
            measurement: format!("{name}() from Kotlin (JNA), per call"),
            value: format!("{:.1}", kt / 1e3),
            unit: "µs",
            baseline: format!("same call from Rust {:.1} µs", ns / 1e3),
            ratio: format!("{:.2}x", kt / ns),
            target: "< 1 ms".into(),
            verdict: verdict(*kt < 1e6),
        });
    }
    if let Some((_, floor)) = from_kotlin.iter().find(|(k, _)| k == "now") {
        record(&Figure {
            group: "mobile",
            measurement: "now() from Kotlin (the FFI floor: one u64 back)".into(),
            value: format!("{:.2}", floor / 1e3),
            unit: "µs",
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
            verdict: "",
        });
    }
}

/// One phone's sync, in this process (`BENCH_ROLE=sdk` or `core`): prints
/// `PEAK <bytes> BEFORE <bytes> KEYS <n> FILES <n>`.
fn phone_sync(role: &str) {
    let base = std::env::var("BENCH_SERVER_URL").expect("BENCH_SERVER_URL");
    let export_key = std::env::var("BENCH_EXPORT_KEY").expect("BENCH_EXPORT_KEY");
    let dir = Scratch::new(role);
    let seen = sightings(UnixTime(NOW).day(), size("PEERS", 20, 20));
    let (before, peak, keys, files) = if role == "sdk" {
        let phone =
            GreenlightPhone::open_with_key(dir.0.display().to_string(), DEVICE_KEY.to_vec(), None).expect("open");
        phone.set_clock(Some(Arc::new(Fixed(NOW))));
        phone
            .configure(ServerConfig {
                key_server_url: base,
                authority_url: None,
                export_key_hex: export_key,
                authority_key_hex: authority_key_hex(),
            })
            .expect("configure");
        phone.record_sightings(scanned(&seen)).expect("sightings");
        drop(seen);
        let (_, before) = memory();
        reset_peak();
        let summary = phone.sync().expect("sync");
        let (peak, _) = memory();
        (before, peak, summary.keys, u64::from(summary.files))
    } else {
        let store = SqliteStore::open_with_key(&dir.0, &DEVICE_KEY).expect("store");
        let mut phone = greenlight_client::Phone::new(store, greenlight_client::DEVICE_CALIBRATION);
        let settings = Settings {
            server: base,
            authority: None,
            export_key: greenlight_client::settings::parse_key(&export_key).expect("export key"),
            authority_key: greenlight_client::settings::parse_key(&authority_key_hex()).expect("authority key"),
        };
        settings.save(phone.store_mut()).expect("settings");
        phone.record_sightings(&seen).expect("sightings");
        drop(seen);
        // The SDK's runtime: the caller's thread and one worker.
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let http = reqwest::Client::new();
        let (_, before) = memory();
        reset_peak();
        let report = runtime
            .block_on(greenlight_client::sync::sync(&mut phone, &settings, &http, UnixTime(NOW), &mut |_| {}))
            .expect("sync");
        let (peak, _) = memory();
        (before, peak, u64::try_from(report.keys).expect("keys"), u64::try_from(report.files).expect("files"))
    };
    println!("PEAK {peak} BEFORE {before} KEYS {keys} FILES {files}");
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Both phones' syncs against one key server, each in its own process.
fn sync_memory() {
    let Ok(server_exe) = std::env::var("GREENLIGHT_SYNC_SERVER") else {
        println!("memory figures skipped: GREENLIGHT_SYNC_SERVER (the sync_memory bench's executable) is not set");
        return;
    };
    let keys = size("KEYS", 1_000_000, 70_000);
    let mut server = Command::new(&server_exe)
        .env("BENCH_ROLE", "server")
        .env("KEYS", keys.to_string())
        .env_remove("BENCH_SUMMARY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the key server");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("READY line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"READY"), "the key server did not start: {line:?}");
    let mut peaks = Vec::new();
    for role in ["core", "sdk"] {
        let out = Command::new(std::env::current_exe().expect("this binary"))
            .env("BENCH_ROLE", role)
            .env("BENCH_SERVER_URL", fields[1])
            .env("BENCH_EXPORT_KEY", fields[2])
            .output()
            .expect("run a phone");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "the {role} phone failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        let figures: Vec<u64> = text
            .lines()
            .find(|l| l.starts_with("PEAK "))
            .expect("a PEAK line")
            .split_whitespace()
            .skip(1)
            .step_by(2)
            .map(|n| n.parse().expect("a number"))
            .collect();
        let [peak, before, keys, files] = figures[..] else { panic!("PEAK line: {text}") };
        assert_eq!(files, u64::from(DAYS), "the {role} phone downloaded every batch");
        println!(
            "{role}: sync + match of {keys} keys in {files} files: peak RSS {:.1} MB (before {:.1} MB)",
            mb(peak),
            mb(before)
        );
        peaks.push((peak, before, keys));
    }
    drop(server.stdin.take());
    let _ = server.wait();
    let [(core, _, _), (sdk, sdk_before, keys)] = peaks[..] else { unreachable!("two phones") };
    record(&Figure {
        group: "mobile",
        measurement: format!("sync + match through the SDK: {keys} keys, 14 d of sightings"),
        value: format!("{:.1}", mb(sdk)),
        unit: "MB peak RSS",
        baseline: format!("through the core {:.1} MB", mb(core)),
        ratio: format!("{:.2}x (SDK before sync {:.1} MB)", sdk as f64 / core as f64, mb(sdk_before)),
        target: "< 64 MB".into(),
        verdict: verdict(sdk < 64_000_000),
    });
}

fn main() {
    match std::env::var("BENCH_ROLE").as_deref() {
        Ok(role @ ("sdk" | "core")) => phone_sync(role),
        _ => {
            calls();
            sync_memory();
        }
    }
}
