//! The real `greenlight-server` binary, as an operator runs it: nothing
//! accepted is lost or published twice when it is killed with SIGKILL; its
//! logs hold no client address, user agent or key; SIGTERM stops it
//! cleanly; bad configuration gets a clear message.

mod common;

use common::{Authority, Db, TempDir, TestDatabase, keys, upload};
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    log: PathBuf,
    base: String,
}

impl Server {
    fn start(data_dir: &Path, database_url: &str, authority: &Authority, extra: &[&str]) -> Server {
        let log = data_dir.join(format!("server-{}.log", Instant::now().elapsed().as_nanos()));
        let log = unique(log);
        let child = Command::new(env!("CARGO_BIN_EXE_greenlight-server"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--database-url", database_url, "--region", "GL-TEST", "--min-batch-keys", "10"])
            .args(["--authority-key", &hex::encode(authority.public().as_bytes())])
            .args(extra)
            .env("GREENLIGHT_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the binary starts");
        // From here on, Drop reaps the process even if the test fails.
        let mut server = Server { child, log, base: String::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(addr) = text.split_whitespace().find_map(|w| w.strip_prefix("addr=")) {
                server.base = format!("http://{addr}");
                return server;
            }
            assert!(Instant::now() < deadline, "server did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "SIGTERM did not stop the server within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already gone after kill() or terminate(); errors are expected then.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique(path: PathBuf) -> PathBuf {
    let mut n = 0;
    loop {
        let candidate = path.with_extension(format!("{n}.log"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
}

fn export_key(data_dir: &Path) -> TrustedKeys {
    let text = std::fs::read_to_string(data_dir.join("export-key.pub")).expect("public key");
    TrustedKeys::from_keys([greenlight_server::config::parse_public_key(text.trim()).expect("key")])
}

/// Every key in every published export batch.
async fn published_keys(base: &str, data_dir: &Path) -> Vec<[u8; 16]> {
    let client = reqwest::Client::new();
    let bytes = client.get(format!("{base}/v1/index")).send().await.expect("index").bytes().await.expect("body");
    let index = Index::verify(&bytes, &export_key(data_dir)).expect("signed index");
    let mut out = Vec::new();
    for entry in index.entries_after(FileKind::ExportBatch, 0) {
        let url = format!("{base}/v1/files/{}", hex::encode(entry.sha256));
        let bytes = client.get(url).send().await.expect("file").bytes().await.expect("body");
        entry.check(&bytes).expect("matches the index");
        let batch = ExportBatch::verify(&bytes, &export_key(data_dir)).expect("signed batch");
        out.extend(batch.records().iter().map(|r| r.key.0));
    }
    out
}

async fn killed_before_sealing_nothing_is_lost_or_doubled(db: Db) {
    let database = TestDatabase::new(db).await;
    let dir = TempDir::new("crash");
    let authority = Authority::new(7);
    let uploaded = keys(21, 3, now().day());

    // Accept an upload, then die before the hourly export runs.
    let server = Server::start(&dir.0, &database.url, &authority, &["--export-interval", "3600"]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/publish", server.base))
        .json(&upload(&authority, now(), &uploaded, &[]))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    server.kill();

    // The next life seals every second.
    let server = Server::start(&dir.0, &database.url, &authority, &["--export-interval", "1"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut published = Vec::new();
    while Instant::now() < deadline {
        published = published_keys(&server.base, &dir.0).await;
        if !published.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!published.is_empty(), "the restarted server sealed the keys accepted before the crash");
    // Let a few more export runs pass, then die again and come back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.kill();
    let server = Server::start(&dir.0, &database.url, &authority, &["--export-interval", "1"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let published = published_keys(&server.base, &dir.0).await;
    for key in &uploaded {
        assert_eq!(published.iter().filter(|k| **k == key.bytes).count(), 1, "each accepted key exactly once");
    }
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_before_sealing_nothing_is_lost_or_doubled() {
    killed_before_sealing_nothing_is_lost_or_doubled(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_before_sealing_nothing_is_lost_or_doubled() {
    killed_before_sealing_nothing_is_lost_or_doubled(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_address_user_agent_or_key_and_sigterm_stops_cleanly() {
    let database = TestDatabase::new(Db::Sqlite).await;
    let dir = TempDir::new("logs");
    let authority = Authority::new(7);
    let server = Server::start(&dir.0, &database.url, &authority, &[]);
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 4]))
        .user_agent("Distinctive-Agent/9.9")
        .build()
        .expect("client");
    let uploaded = keys(22, 2, now().day());
    let body = upload(&authority, now(), &uploaded, &[]);
    assert_eq!(
        client.post(format!("{}/v1/publish", server.base)).json(&body).send().await.expect("upload").status(),
        200
    );
    assert_eq!(
        client.post(format!("{}/v1/publish", server.base)).json(&body).send().await.expect("again").status(),
        409
    );
    let _ = client.get(format!("{}/v1/index", server.base)).send().await.expect("index");
    let _ = client.get(format!("{}/nowhere?user=alice", server.base)).send().await.expect("404");

    let (status, log) = server.terminate();
    assert!(status.success(), "SIGTERM is a clean exit: {status}\n{log}");
    assert!(log.contains("/v1/publish"), "requests are logged (by route):\n{log}");
    assert!(log.contains("shutting down"));
    for secret in ["127.0.0.4", "Distinctive-Agent", "user=alice", body["hmac_key"].as_str().expect("key")] {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
    for key in &uploaded {
        let b64 = greenlight_protocol::codec::to_base64url(&key.bytes);
        assert!(!log.contains(&b64) && !log.contains(&hex::encode(key.bytes)), "a key is in the log:\n{log}");
    }
}

#[test]
fn bad_configuration_gets_a_clear_message() {
    let dir = TempDir::new("config");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_greenlight-server"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir.0)
            .args(args)
            .output()
            .expect("runs");
        (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (status, stderr) = run(&["--region", "lower case"]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("--region"), "{stderr}");
    let (status, stderr) = run(&["--authority-key", "abcd"]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("64 hex digits"), "{stderr}");
    let (status, stderr) = run(&["--database-url", "postgres://gl:hunter2@127.0.0.1:1/none"]);
    assert!(!status.success());
    assert!(stderr.contains("database") && !stderr.contains("hunter2"), "no password in messages: {stderr}");
    let (status, stderr) = run(&["--database-url", "mysql://x"]);
    assert!(!status.success());
    assert!(stderr.contains("sqlite://") && stderr.contains("postgres://"), "{stderr}");
}
