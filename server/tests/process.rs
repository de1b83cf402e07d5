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
        let key = hex::encode(authority.public().as_bytes());
        let mut args = vec!["--database-url", database_url, "--authority-key", &key];
        args.extend_from_slice(extra);
        Server::spawn(&[], data_dir, &args)
    }

    /// Runs the binary with `command` (a subcommand, or nothing), the
    /// common flags and `args`, and waits until it listens.
    fn spawn(command: &[&str], data_dir: &Path, args: &[&str]) -> Server {
        Server::spawn_at("127.0.0.1:0", command, data_dir, args)
    }

    /// [`Server::spawn`] listening on `listen`.
    fn spawn_at(listen: &str, command: &[&str], data_dir: &Path, args: &[&str]) -> Server {
        let log = data_dir.join(format!("server-{}.log", Instant::now().elapsed().as_nanos()));
        let log = unique(log);
        let child = Command::new(env!("CARGO_BIN_EXE_greenlight-server"))
            .args(command)
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(["--region", "GL-TEST", "--min-batch-keys", "10"])
            .args(args)
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
        200,
        "the same upload again is already accepted"
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
    // Even at debug level no statement is logged: one written only for
    // real uploads would tell them from chaff, with its time.
    for statement in ["INSERT INTO", "diagnosis_keys", "used_certificates"] {
        assert!(!log.contains(statement), "the log shows database statements ({statement}):\n{log}");
    }
    for key in &uploaded {
        let b64 = greenlight_protocol::codec::to_base64url(&key.bytes);
        assert!(!log.contains(&b64) && !log.contains(&hex::encode(key.bytes)), "a key is in the log:\n{log}");
    }
    // No request's duration, and times only to the second, even at debug
    // level: a real upload's database work would show in either
    // (issue 19 item 5).
    assert!(log.contains("answered"), "responses are logged at debug level:\n{log}");
    assert!(!log.contains("latency"), "a request's duration is logged:\n{log}");
    for line in log.lines().filter(|l| l.starts_with("20")) {
        let time = line.split_whitespace().next().unwrap_or_default();
        assert!(time.ends_with('Z') && !time.contains('.'), "a log time finer than a second: {line}");
    }
}

/// Runs the server on `dir` with `args` until it exits (a configuration
/// it refuses): its exit status and what it said.
fn refused_start(dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(args)
        .output()
        .expect("runs");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_configuration_gets_a_clear_message() {
    let dir = TempDir::new("config");
    let run = |args: &[&str]| refused_start(&dir.0, args);
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

fn init(data_dir: &Path, stdin: Option<&str>) -> (std::process::ExitStatus, String, String) {
    use std::io::Write as _;
    let mut command = Command::new(env!("CARGO_BIN_EXE_greenlight-server"));
    command.args(["authority", "init", "--data-dir"]).arg(data_dir);
    if stdin.is_some() {
        command.arg("--password-stdin");
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("init runs");
    if let Some(text) = stdin {
        // A process that fails before reading says why on stderr.
        let _ = child.stdin.take().expect("stdin").write_all(text.as_bytes());
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("init ends");
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// An operator's first start: `--listen localhost:PORT` is accepted, the
/// log says where the portal and the public key files are, `GET /` says
/// what the server is, and each export run is logged with the keys still
/// under embargo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_says_where_the_portal_and_keys_are_and_logs_export_runs() {
    let dir = TempDir::new("first-start");
    let (status, _, stderr) = init(&dir.0, Some("a long enough password\n"));
    assert!(status.success(), "{stderr}");
    let log = dir.0.join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_greenlight-server"))
        .args(["--listen", "localhost:0", "--data-dir"])
        .arg(&dir.0)
        .args(["--export-interval", "1"])
        .env("GREENLIGHT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("the binary starts");
    let mut server = Server { child, log: log.clone(), base: String::new() };
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("export run:") {
            break text;
        }
        assert!(Instant::now() < deadline, "no export run logged:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let addr = text.split_whitespace().find_map(|w| w.strip_prefix("addr=")).expect("the address is logged");
    assert!(addr.starts_with("127.0.0.1:"), "localhost is looked up: {addr}");
    server.base = format!("http://{addr}");
    assert!(text.contains(&format!("staff portal: http://{addr}/portal")), "{text}");
    assert!(text.contains(&dir.0.join("export-key.pub").display().to_string()), "{text}");
    assert!(text.contains(&dir.0.join("authority/signing-key.pub").display().to_string()), "{text}");
    assert!(text.contains("0 still under embargo"), "{text}");
    let front = reqwest::get(format!("{}/", server.base)).await.expect("GET /");
    assert_eq!(front.status(), 200);
    let body = front.text().await.expect("body");
    assert!(body.contains("/portal") && body.contains("/v1/index"), "{body}");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authority_init_makes_private_keys_an_admin_and_a_key_the_server_trusts() {
    use greenlight_protocol::certificate::{
        Certificate, CertificateId, DayKind, UploadHmacKey, UploadedKey, upload_hmac,
    };
    use greenlight_protocol::report::ReportType;
    let dir = TempDir::new("init");
    let (status, stdout, stderr) = init(&dir.0, None);
    assert!(status.success(), "{stderr}");
    let password = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("one-time password: "))
        .unwrap_or_else(|| panic!("a one-time password is printed: {stdout}"))
        .to_owned();
    assert_eq!(password.len(), 24);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        let keys = dir.0.join("authority");
        assert_eq!(mode(&keys), 0o700);
        for secret in ["signing-key", "certificate-key", "policy-key", "tracing-key", "trace-key", "code-key"] {
            assert_eq!(mode(&keys.join(secret)), 0o600, "{secret} is private");
        }
    }
    let (status, _, stderr) = init(&dir.0, None);
    assert!(!status.success() && stderr.contains("already initialized"), "{stderr}");
    let other = TempDir::new("init-short");
    let (status, _, stderr) = init(&other.0, Some("short\n"));
    assert!(!status.success() && stderr.contains("at least 12 characters"), "{stderr}");
    let (status, stdout, stderr) = init(&other.0, Some("a long enough password\n"));
    assert!(status.success() && !stdout.contains("one-time password"), "{stdout}{stderr}");
    // A data directory that does not exist yet is created, database and all.
    let fresh = other.0.join("not/there/yet");
    let (status, _, stderr) = init(&fresh, Some("a long enough password\n"));
    assert!(status.success() && fresh.join("authority/signing-key").exists(), "{stderr}");

    // The server on this data directory trusts the authority's certificate
    // key, which its key set names, without being told (the
    // --authority-key it gets is another one); the root key signs no
    // certificate (protocol §2.3).
    let database = format!("sqlite://{}", dir.0.join("greenlight.db").display());
    let server = Server::start(&dir.0, &database, &Authority::new(7), &[]);
    let secret = |name: &str| {
        let seed: [u8; 32] =
            hex::decode(std::fs::read_to_string(dir.0.join("authority").join(name)).expect("key").trim())
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        greenlight_protocol::signing::SigningKey::from_bytes(&seed)
    };
    let signing = secret("certificate-key");
    let root = secret("signing-key");
    let uploaded = keys(23, 2, now().day());
    let hmac_key = UploadHmacKey::from_bytes([5; 32]);
    let list: Vec<UploadedKey> = uploaded.iter().map(common::Key::uploaded).collect();
    let hmac = upload_hmac(&hmac_key, &list, &[]).expect("hmac");
    let certificate = Certificate::new(
        ReportType::ClinicalDiagnosis,
        DayKind::SymptomOnset,
        now().day(),
        hmac,
        now(),
        now().plus(900),
        CertificateId([9; 16]),
    )
    .expect("certificate");
    let mut body = upload(&Authority::new(7), now(), &uploaded, &[]);
    body["hmac_key"] = serde_json::json!(greenlight_protocol::codec::to_base64url(hmac_key.expose_secret()));
    let client = reqwest::Client::new();
    body["certificate"] = serde_json::json!(certificate.sign_text(&root));
    let response = client.post(format!("{}/v1/publish", server.base)).json(&body).send().await.expect("upload");
    assert_eq!(response.status(), 401, "the root key signs no certificate");
    body["certificate"] = serde_json::json!(certificate.sign_text(&signing));
    let response = client.post(format!("{}/v1/publish", server.base)).json(&body).send().await.expect("upload");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    // And the admin can log in with the printed password.
    let portal = common::Portal::new(&server.base).expect("portal client");
    let answer = portal.login("admin", &password).await.expect("the portal answers");
    assert_eq!(answer.location.as_deref(), Some("/portal/password"), "the one-time password must be changed");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_runs_alone_and_publishes_to_a_remote_key_server() {
    let authority_dir = TempDir::new("authority-alone");
    let (status, _, stderr) = init(&authority_dir.0, Some("a long enough password\n"));
    assert!(status.success(), "{stderr}");
    let public = std::fs::read_to_string(authority_dir.0.join("authority/signing-key.pub")).expect("public key");

    let key_server_dir = TempDir::new("key-server");
    let key_server_db = format!("sqlite://{}", key_server_dir.0.join("k.db").display());
    let key_server =
        Server::spawn(&[], &key_server_dir.0, &["--database-url", &key_server_db, "--authority-key", public.trim()]);
    let authority_db = format!("sqlite://{}", authority_dir.0.join("greenlight.db").display());
    let authority = Server::spawn(
        &["authority", "serve"],
        &authority_dir.0,
        &["--database-url", &authority_db, "--key-server-url", &key_server.base],
    );
    let client = reqwest::Client::new();
    assert_eq!(
        client.get(format!("{}/v1/index", authority.base)).send().await.expect("get").status(),
        404,
        "no key server routes"
    );
    assert_eq!(client.get(format!("{}/health", authority.base)).send().await.expect("get").status(), 200);

    let portal = common::Portal::new(&authority.base).expect("portal client");
    assert_eq!(portal.login("admin", "a long enough password").await.expect("the portal answers").status, 303);
    let recommended = greenlight_protocol::policy::ColorPolicy::recommended(1, UnixTime(0));
    portal.publish_policy(recommended.params()).await.expect("the admin previews and publishes the policy");

    let bytes =
        client.get(format!("{}/v1/index", key_server.base)).send().await.expect("index").bytes().await.expect("body");
    let index = Index::verify(&bytes, &export_key(&key_server_dir.0)).expect("signed");
    assert_eq!(index.entries_after(FileKind::ColorPolicy, 0).len(), 1, "the key server lists the policy");
    authority.kill();
    key_server.kill();
}

/// A slowloris: connections that trickle a request's headers one byte a
/// second, and one left idle after a request, are closed within the bound
/// (`--request-timeout`, here 2 s), while `/health` answers throughout.
/// Loopback only; the test stops by itself (well under a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed_and_health_answers_throughout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BOUND: Duration = Duration::from_secs(2);
    const SLOW: usize = 8;
    let database = TestDatabase::new(Db::Sqlite).await;
    let dir = TempDir::new("slowloris");
    let server = Server::start(&dir.0, &database.url, &Authority::new(7), &["--request-timeout", "2"]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    // Each slow client writes a byte a second until the server closes the
    // connection; it reports how long the connection lived.
    let mut slow = Vec::new();
    for i in 0..SLOW {
        let stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        let (mut read, mut write) = stream.into_split();
        slow.push(tokio::spawn(async move {
            let opened = Instant::now();
            let trickle = tokio::spawn(async move {
                let head = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ");
                let _ = write.write_all(head.as_bytes()).await;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if write.write_all(b"a").await.is_err() {
                        break;
                    }
                }
            });
            let mut sink = Vec::new();
            let closed = tokio::time::timeout(Duration::from_secs(15), read.read_to_end(&mut sink)).await;
            trickle.abort();
            (closed.is_ok(), opened.elapsed())
        }));
    }
    // A connection that asks once, then stays idle.
    let idle = tokio::spawn({
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("request");
            let opened = Instant::now();
            let mut sink = Vec::new();
            let closed = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut sink)).await;
            (closed.is_ok(), opened.elapsed(), String::from_utf8_lossy(&sink).into_owned())
        }
    });
    // Meanwhile, /health answers promptly, every half second.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    while !slow.iter().all(tokio::task::JoinHandle::is_finished) && started.elapsed() < Duration::from_secs(20) {
        let health = client.get(format!("{}/health", server.base)).send().await.expect("/health answers");
        assert_eq!(health.status(), 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let margin = Duration::from_secs(3);
    for task in slow {
        let (closed, lived) = task.await.expect("slow client");
        assert!(closed && lived <= BOUND + margin, "a slow client was kept for {lived:?} (bound {BOUND:?})");
    }
    let (closed, lived, answer) = idle.await.expect("idle client");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed && lived <= BOUND + margin, "an idle connection was kept for {lived:?} (bound {BOUND:?})");
    let (status, log) = server.terminate();
    assert!(status.success(), "SIGTERM is still a clean exit: {status}\n{log}");
}

/// Issue 19 item 4: the database holds staff password hashes, sessions,
/// the audit log and revealed visits; nobody but the server's user may
/// read it or its WAL files.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_files_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode();
    let chmod = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    let dir = TempDir::new("modes");
    let authority = Authority::new(7);
    let database = dir.0.join("greenlight.db");
    let url = format!("sqlite://{}", database.display());

    // A fresh data directory is made 0700 by the server, its database 0600.
    let fresh = dir.0.join("fresh/data");
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight-server"))
        .args(["authority", "init", "--password-stdin", "--data-dir"])
        .arg(&fresh)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    // (An empty password is refused, after the directory and database exist.)
    assert!(!out.status.success());
    assert_eq!(mode(&fresh) & 0o777, 0o700, "a new data directory is the owner's alone");
    assert_eq!(mode(&fresh.join("greenlight.db")) & 0o777, 0o600);

    // While the server runs and writes, the database, its WAL and its
    // shared-memory file are 0600.
    let server = Server::start(&dir.0, &url, &authority, &[]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/publish", server.base))
        .json(&upload(&authority, now(), &keys(24, 2, now().day()), &[]))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    for file in ["greenlight.db", "greenlight.db-wal", "greenlight.db-shm"] {
        assert_eq!(mode(&dir.0.join(file)) & 0o777, 0o600, "{file} is readable by its owner only");
    }
    server.kill();

    // A data directory others can read is refused, with what to do.
    chmod(&dir.0, 0o755);
    let refused = dir.0.join("refused.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .args(["--database-url", &url])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&refused).expect("log file"))
        .spawn()
        .expect("runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&refused).unwrap_or_default();
    assert!(status.is_some_and(|s| !s.success()), "started on a shared data directory: {stderr}");
    assert!(
        stderr.contains("can be read by other users")
            && stderr.contains("chmod 700")
            && stderr.contains("--allow-shared-data-dir"),
        "{stderr}"
    );

    // Told it is intended, the server starts, and takes the permissions
    // an older version left on the database away from others.
    chmod(&database, 0o644);
    let server = Server::start(&dir.0, &url, &authority, &["--allow-shared-data-dir"]);
    assert_eq!(mode(&database) & 0o777, 0o600, "an existing database is made private");
    server.kill();
    chmod(&dir.0, 0o700);
}

/// Issue 21 item 7: `--tls-cert` and `--tls-key` make the real binary
/// serve HTTPS. A client that trusts only the test's self-signed
/// certificate gets the signed index and the portal's login page (no
/// plain-HTTP warning) over TLS; a client that does not trust it, or that
/// speaks plain HTTP to the port, gets nothing. Without TLS on a network
/// address the start-up log warns that the portal cannot log anyone in;
/// missing or unusable files are a clear start-up error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_https_with_the_certificate_and_key_it_is_given() {
    let dir = TempDir::new("tls");
    let (status, _, stderr) = init(&dir.0, Some("a long enough password\n"));
    assert!(status.success(), "{stderr}");
    let files = TempDir::new("tls-files");
    let (cert, key, pem) = common::self_signed(&files.0, "localhost");
    let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));

    let server = Server::spawn(&[], &dir.0, &["--tls-cert", cert, "--tls-key", key]);
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(log.contains("staff portal: https://127.0.0.1:"), "{log}");
    let https = server.base.replacen("http://", "https://", 1);
    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("PEM")])
        .build()
        .expect("client");
    let bytes = trusting
        .get(format!("{https}/v1/index"))
        .send()
        .await
        .expect("the index over TLS")
        .bytes()
        .await
        .expect("body");
    Index::verify(&bytes, &export_key(&dir.0)).expect("the signed index");
    let login = trusting.get(format!("{https}/portal/login")).send().await.expect("the login page over TLS");
    assert_eq!(login.status(), 200);
    assert!(
        login.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap_or("").contains("; Secure")),
        "the login cookie is Secure"
    );
    assert!(!login.text().await.expect("page").contains("plain HTTP"), "no warning over HTTPS");
    assert!(reqwest::Client::new().get(format!("{https}/health")).send().await.is_err(), "an untrusted certificate");
    assert!(reqwest::Client::new().get(format!("{}/health", server.base)).send().await.is_err(), "plain HTTP");
    server.kill();

    // Plain HTTP on every address: a warning at start-up.
    let server = Server::spawn_at("0.0.0.0:0", &[], &dir.0, &[]);
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(
        log.contains("WARN") && log.contains("plain HTTP on a network address") && log.contains("--tls-cert"),
        "{log}"
    );
    server.kill();

    // Bad TLS flags: said at once, nothing served.
    let start = |args: &[&str]| refused_start(&dir.0, args);
    let (status, stderr) = start(&["--tls-cert", cert]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let missing = files.0.join("missing.pem");
    let (status, stderr) = start(&["--tls-cert", missing.to_str().expect("path"), "--tls-key", key]);
    assert!(!status.success());
    assert!(stderr.contains("--tls-cert") && stderr.contains("missing.pem"), "{stderr}");
    let (status, stderr) = start(&["--tls-cert", key, "--tls-key", key]);
    assert!(!status.success());
    assert!(stderr.contains("no certificate"), "{stderr}");
}
