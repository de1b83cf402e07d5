//! Export batches: sealing a million keys, and serving a batch and the
//! index under load beside nginx serving the same bytes.
//!
//! Sealing: the key server's hourly job on `KEYS` stored keys (default 1M,
//! SQLite), beside encoding and signing the same records in-process (no
//! database) and the signature alone, measured in the same run; bytes per
//! key on the wire against DESIGN.md's ≤ 24.
//!
//! Serving: `wrk` (Debian's package) against the server running in-process
//! on loopback — an hourly batch (`SERVE_KEYS`, default 15,000 keys) and the
//! index answered `304 Not Modified` — then against nginx with a private
//! configuration on another loopback port serving the same two files. The
//! figure is our requests per second over nginx's. Skipped, saying so, when
//! `wrk` or `nginx` is missing (`bench/run` installs them).
//!
//! `cargo bench -p greenlight-server --bench exports`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../bench/summary.rs"]
mod summary;

use common::{Db, TestServer};
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::export::{EXPORT_MAGIC, ExportBatch, ExportRecord, Region};
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::{SigningKey, seal_file};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_server::key_server::store::{KeyRow, NewUpload};
use rand_core::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use summary::{Figure, record, size, verdict};

/// `n` random keys spread over the 14 days before `today`, as the store keeps them.
fn key_rows(n: usize, today: DayNumber, seed: u64) -> Vec<KeyRow> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut key = vec![0u8; 16];
            rng.fill_bytes(&mut key);
            KeyRow {
                key,
                day: i64::from(today.0) - 1 - (i % 14) as i64,
                transmission_risk: 5,
                report_type: i64::from(ReportType::ConfirmedTest.to_byte()),
            }
        })
        .collect()
}

/// Stores `rows` as accepted uploads of 10,000 keys each (setup, untimed).
async fn store_keys(server: &TestServer, rows: &[KeyRow]) {
    let now = i64::try_from(server.clock.now().0).expect("time");
    for (i, chunk) in rows.chunks(10_000).enumerate() {
        let mut certificate_id = [0u8; 16];
        certificate_id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let upload = NewUpload {
            certificate_id,
            certificate_expires_at: now + 900,
            received_hour: greenlight_server::key_server::publisher::hour(now - 86_400),
            keys: chunk.iter().map(|r| (r.clone(), (r.day + 1) * 86_400 + 7200)).collect(),
            checkins: Vec::new(),
        };
        server.state().store.store_upload(&upload).await.expect("store keys");
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let started = Instant::now();
        let result = f();
        best = best.min(started.elapsed().as_secs_f64());
        out = Some(result);
    }
    (best, out.expect("at least one run"))
}

async fn sealing(n: usize) {
    let server = TestServer::start(Db::Sqlite).await;
    let now = server.clock.now();
    let rows = key_rows(n, now.day(), 1);
    let setup = Instant::now();
    store_keys(&server, &rows).await;
    println!("stored {n} keys in {:.1} s (setup)", setup.elapsed().as_secs_f64());

    let started = Instant::now();
    let sealed = server.seal().await.expect("a batch");
    let seal_secs = started.elapsed().as_secs_f64();
    assert_eq!(sealed.keys, n, "every stored key is sealed");
    let bytes_per_key = sealed.file.size as f64 / (sealed.keys + sealed.padding) as f64;

    // The same records encoded and signed in-process: what sealing costs
    // without the database and file storage.
    let records: Vec<ExportRecord> = rows
        .iter()
        .map(|r| ExportRecord {
            key: PublishedKey(r.key.as_slice().try_into().expect("16 bytes")),
            day: DayNumber(u32::try_from(r.day).expect("day")),
            transmission_risk: TransmissionRisk::new(5).expect("risk"),
            report_type: ReportType::ConfirmedTest,
        })
        .collect();
    let key = SigningKey::from_bytes(&[9; 32]);
    let region = Region::new("GL-TEST").expect("region");
    let (encode_secs, file) = best_of(3, || {
        ExportBatch::new(region.clone(), 1, UnixTime(now.0 - 3600), now, records.clone()).expect("batch").sign(&key)
    });
    let body =
        ExportBatch::new(region.clone(), 1, UnixTime(now.0 - 3600), now, records.clone()).expect("batch").encode_body();
    let (sign_secs, _) = best_of(3, || seal_file(&EXPORT_MAGIC, &body, &key));

    println!(
        "seal {n} keys: server {seal_secs:.3} s, in-process encode+sign {encode_secs:.3} s, signature alone \
         {sign_secs:.3} s; {} bytes, {bytes_per_key:.2} B/key (in-process file {} bytes)",
        sealed.file.size,
        file.len()
    );
    let group = "exports";
    record(&Figure {
        group,
        measurement: format!("seal {n} stored keys (server, SQLite)"),
        value: format!("{seal_secs:.3}"),
        unit: "s",
        baseline: format!("encode+sign in-process {encode_secs:.3} s"),
        ratio: format!("{:.1}x", seal_secs / encode_secs),
        target: if n >= 1_000_000 { "< 2 s for 1M".into() } else { "(1M in the full run)".into() },
        verdict: if n >= 1_000_000 { verdict(seal_secs < 2.0) } else { "" },
    });
    record(&Figure {
        group,
        measurement: format!("encode + sign {n} keys in-process"),
        value: format!("{encode_secs:.3}"),
        unit: "s",
        baseline: format!("signature alone {sign_secs:.3} s"),
        ratio: format!("{:.1}x", encode_secs / sign_secs),
        target: String::new(),
        verdict: "",
    });
    record(&Figure {
        group,
        measurement: format!("export size ({} bytes)", sealed.file.size),
        value: format!("{bytes_per_key:.2}"),
        unit: "B/key",
        baseline: "GAEN ≈ 29 B/key (DESIGN.md)".into(),
        ratio: format!("{:.2}x", bytes_per_key / 29.0),
        target: "≤ 24 B/key".into(),
        verdict: verdict(bytes_per_key <= 24.0),
    });
    server.shutdown().await;
}

/// What `wrk` reported.
struct Wrk {
    rate: f64,
    bad: u64,
    p99: String,
}

fn have(program: &str) -> bool {
    Command::new(program).arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn wrk(url: &str, header: Option<&str>, secs: u64, connections: usize) -> Wrk {
    let mut command = Command::new("wrk");
    command.args(["-t2", &format!("-c{connections}"), &format!("-d{secs}s"), "--latency"]);
    if let Some(h) = header {
        command.args(["-H", h]);
    }
    let out = command.arg(url).output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let field = |name: &str| text.lines().find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()));
    let rate = field("Requests/sec:").and_then(|v| v.parse().ok()).expect("wrk prints Requests/sec");
    let non_ok: u64 = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket: u64 = field("Socket errors:")
        .map(|v| v.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    let p99 = field("99%").unwrap_or_default();
    Wrk { rate, bad: non_ok + socket, p99 }
}

/// nginx on `port` with a private prefix, serving `root`; stopped on drop.
struct Nginx(Child);

impl Nginx {
    fn start(prefix: &Path, root: &Path, port: u16) -> Self {
        // nginx's workers run as another user: the scratch directory, made
        // private like every server data directory, must let them in.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(prefix, std::fs::Permissions::from_mode(0o755)).expect("open the nginx directory");
        let conf = prefix.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes 2;\nerror_log {p}/error.log;\npid {p}/nginx.pid;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  \
                 fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  \
                 server {{\n    listen 127.0.0.1:{port};\n    root {r};\n    \
                 location / {{ default_type application/octet-stream; }}\n  }}\n}}\n",
                p = prefix.display(),
                r = root.display()
            ),
        )
        .expect("nginx.conf");
        let nginx = Nginx(
            Command::new("nginx")
                .args(["-p", &prefix.display().to_string(), "-c", &conf.display().to_string(), "-g", "daemon off;"])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start nginx"),
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx did not start on port {port}; see {}/error.log", prefix.display());
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn serving(n: usize, secs: u64, connections: usize) {
    if !have("wrk") || !have("nginx") {
        println!("serving: skipped, wrk or nginx is missing (apt-get install -y wrk nginx)");
        record(&Figure {
            group: "serving",
            measurement: "batch and index under wrk".into(),
            value: "skipped: no wrk/nginx".into(),
            unit: "",
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
            verdict: "",
        });
        return;
    }
    let server = TestServer::start(Db::Sqlite).await;
    let rows = key_rows(n, server.clock.now().day(), 2);
    store_keys(&server, &rows).await;
    let sealed = server.seal().await.expect("a batch");
    let name = sealed.file.sha256.clone();
    let batch = server.get(&format!("/v1/files/{name}")).await.bytes().await.expect("batch").to_vec();
    let index_response = server.get("/v1/index").await;
    let etag = index_response.headers().get("etag").expect("etag").to_str().expect("etag").to_owned();
    let index = index_response.bytes().await.expect("index").to_vec();
    let not_modified = server
        .client
        .get(format!("{}/v1/index", server.base))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("index");
    assert_eq!(not_modified.status(), 304, "the index answers 304 to its ETag");

    // nginx serves the very same bytes.
    let prefix = common::TempDir::new("nginx");
    let root = prefix.0.join("www");
    std::fs::create_dir_all(root.join("v1/files")).expect("www");
    std::fs::write(root.join("v1/files").join(&name), &batch).expect("batch");
    std::fs::write(root.join("v1/index"), &index).expect("index");
    let port = free_port();
    let nginx = Nginx::start(&prefix.0, &root, port);
    let nginx_base = format!("http://127.0.0.1:{port}");
    let nginx_index = reqwest::get(format!("{nginx_base}/v1/index")).await.expect("nginx index");
    let nginx_etag = nginx_index.headers().get("etag").expect("nginx etag").to_str().expect("etag").to_owned();
    assert_eq!(nginx_index.bytes().await.expect("index").as_ref(), index.as_slice(), "nginx serves the same index");

    println!(
        "serving a {}-byte batch ({n} keys) and the index (304), {secs} s each, {connections} connections",
        batch.len()
    );
    let ours_url = format!("{}/v1/files/{name}", server.base);
    let nginx_url = format!("{nginx_base}/v1/files/{name}");
    let (ours_index, nginx_index_url) = (format!("{}/v1/index", server.base), format!("{nginx_base}/v1/index"));
    let (ours_etag_h, nginx_etag_h) = (format!("If-None-Match: {etag}"), format!("If-None-Match: {nginx_etag}"));
    let runs = tokio::task::spawn_blocking(move || {
        [
            (wrk(&ours_url, None, secs, connections), wrk(&nginx_url, None, secs, connections)),
            (
                wrk(&ours_index, Some(&ours_etag_h), secs, connections),
                wrk(&nginx_index_url, Some(&nginx_etag_h), secs, connections),
            ),
        ]
    })
    .await
    .expect("wrk runs");
    drop(nginx);
    for ((label, bytes), (ours, theirs)) in [("batch (200)", batch.len()), ("index (304)", 0)].iter().zip(&runs) {
        println!(
            "{label}: ours {:.0} req/s (p99 {}, bad {}), nginx {:.0} req/s (p99 {}, bad {})",
            ours.rate, ours.p99, ours.bad, theirs.rate, theirs.p99, theirs.bad
        );
        let what = if *bytes > 0 { format!("GET {n}-key batch ({bytes} B)") } else { "GET index, 304".into() };
        record(&Figure {
            group: "serving",
            measurement: format!("{what}, wrk {connections} conns; errors {}", ours.bad),
            value: format!("{:.0}", ours.rate),
            unit: "req/s",
            baseline: format!("nginx {:.0}/s", theirs.rate),
            ratio: format!("{:.2}x", ours.rate / theirs.rate),
            target: "0 errors".into(),
            verdict: verdict(ours.bad == 0 && theirs.bad == 0),
        });
    }
    server.shutdown().await;
}

fn main() {
    let keys = size("KEYS", 1_000_000, 50_000);
    let serve_keys = size("SERVE_KEYS", 15_000, 15_000);
    let secs = size("SERVE_SECS", 10, 2) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        sealing(keys).await;
        serving(serve_keys, secs, 32).await;
    });
}
