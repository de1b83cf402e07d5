//! Faults injected into a running key server, each in a bounded loop that
//! stops by itself: SIGKILL while uploads arrive and while a batch is being
//! sealed (the real binary), the database going away (a TCP proxy cut in
//! front of PostgreSQL; another process holding SQLite's write lock), and
//! the export directory full or read-only (a small tmpfs in a private mount
//! namespace, which only the server sees). Through all of it, nothing
//! accepted is lost or published twice, and every failure is a clean
//! answer followed by recovery.
//!
//! `server/tests/process.rs` covers the single SIGKILL between an upload and
//! the next export; these tests repeat kills at moments that sweep the
//! upload and sealing paths.

mod common;

use common::{Authority, Db, Key, TempDir, TestDatabase, TestServer, keys, upload};
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

common::on_both_databases!(
    uploads_survive_kill_9_in_a_loop,
    sealing_survives_kill_9_in_a_loop,
    a_lost_database_answers_503_then_recovers,
    a_full_export_directory_fails_cleanly_and_sealing_retries,
);

/// The real binary, its log, and its address.
struct Server {
    child: Child,
    log: PathBuf,
    base: String,
}

impl Server {
    /// Starts `greenlight-server` on `dir` and `database_url`, trusting
    /// `authority`, with small batches and `args`; `wrap` runs before it
    /// (e.g. `unshare`). Waits until it listens.
    fn start(dir: &Path, database_url: &str, authority: &Authority, wrap: &[&str], args: &[&str]) -> Server {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = dir.join(format!("server-{}.log", N.fetch_add(1, Ordering::SeqCst)));
        let program = env!("CARGO_BIN_EXE_greenlight-server");
        let (first, rest) = wrap.split_first().map_or((program, &[][..]), |(f, r)| (*f, r));
        let mut command = Command::new(first);
        command.args(rest);
        if !wrap.is_empty() {
            command.arg(program);
        }
        let child = command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(["--database-url", database_url, "--region", "GL-TEST", "--min-batch-keys", "10"])
            .args(["--authority-key", &hex::encode(authority.public().as_bytes())])
            .args(args)
            .env("GREENLIGHT_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the binary starts");
        let mut server = Server { child, log, base: String::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = server.log_text();
            if let Some(addr) = text.split_whitespace().find_map(|w| w.strip_prefix("addr=")) {
                server.base = format!("http://{addr}");
                return server;
            }
            assert!(server.child.try_wait().expect("wait").is_none(), "the server exited:\n{text}");
            assert!(Instant::now() < deadline, "the server did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Waits (bounded) until the log contains `text`.
    async fn wait_for_log(&self, text: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log_text().contains(text) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("log of the server at {}:\n{}", self.base, self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
}

/// An upload of two fresh keys with a certificate id of its own: the
/// harness derives the id from the time and the first key byte, so every
/// upload here has the same first byte and its own issue time (`number`
/// seconds before `base`).
fn numbered_upload(authority: &Authority, base: UnixTime, number: u64) -> (Value, Vec<Key>) {
    assert!(number < 600, "certificates live 15 minutes");
    let mut uploaded = keys(10_000 + number, 2, base.day());
    for key in &mut uploaded {
        key.bytes[0] = 0;
    }
    (upload(authority, UnixTime(base.0 - number), &uploaded, &[]), uploaded)
}

/// Every record of every export batch the server lists, after checking each
/// file against its index entry and signature.
async fn published_keys(base: &str, dir: &Path) -> Vec<[u8; 16]> {
    let text = std::fs::read_to_string(dir.join("export-key.pub")).expect("public key");
    let trusted = TrustedKeys::from_keys([greenlight_server::config::parse_public_key(text.trim()).expect("key")]);
    let client = reqwest::Client::new();
    let bytes = client.get(format!("{base}/v1/index")).send().await.expect("index").bytes().await.expect("body");
    let index = Index::verify(&bytes, &trusted).expect("a signed index");
    let mut out = Vec::new();
    for entry in index.entries_after(FileKind::ExportBatch, 0) {
        let response = client.get(format!("{base}/v1/files/{}", hex::encode(entry.sha256))).send().await.expect("file");
        assert_eq!(response.status(), 200, "a listed batch is missing");
        let bytes = response.bytes().await.expect("body");
        entry.check(&bytes).expect("the file matches its index entry");
        out.extend(ExportBatch::verify(&bytes, &trusted).expect("a signed batch").records().iter().map(|r| r.key.0));
    }
    out
}

/// Waits (bounded) until every key of `expected` is published, then checks
/// each is published exactly once.
async fn assert_published_once(base: &str, dir: &Path, expected: &[Key]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut published = published_keys(base, dir).await;
    while expected.iter().any(|k| !published.contains(&k.bytes)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        published = published_keys(base, dir).await;
    }
    for key in expected {
        let n = published.iter().filter(|k| **k == key.bytes).count();
        assert_eq!(n, 1, "an accepted key is published {n} times, not once");
    }
}

async fn post(client: &reqwest::Client, base: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
    client.post(format!("{base}/v1/publish")).json(body).send().await
}

/// Clients upload without pause while the server is killed, round after
/// round at later and later moments. An upload answered 200 is published
/// exactly once; one that got no answer is retried by its client after the
/// restart and is then either accepted (200 `accepted`) or recognised
/// (200 `already_accepted`), never stored twice.
///
/// The kill must interrupt uploads, or the test proves nothing: each round
/// has its own budget of upload numbers, larger than what its clients can
/// send before the kill (which comes after a set number of this round's
/// uploads have started, so requests are in flight), and the loop runs
/// until kills have interrupted uploads, bounded in rounds and time; it
/// fails if they never did.
async fn uploads_survive_kill_9_in_a_loop(db: Db) {
    const MIN_ROUNDS: usize = 4;
    const MAX_ROUNDS: usize = 12;
    const CLIENTS: usize = 3;
    // Upload numbers per round: numbered_upload takes fewer than 600 in all.
    const PER_ROUND: usize = 600 / MAX_ROUNDS;
    let database = TestDatabase::new(db).await;
    let dir = TempDir::new("faults-uploads");
    let authority = Arc::new(Authority::new(7));
    let base_time = now();
    let started = Instant::now();
    let mut accepted: Vec<Key> = Vec::new();
    let mut unanswered: Vec<(Value, Vec<Key>)> = Vec::new();
    let mut rounds = 0;
    let mut interrupting_rounds = 0;
    while rounds < MIN_ROUNDS || unanswered.is_empty() {
        assert!(
            rounds < MAX_ROUNDS && started.elapsed() < Duration::from_secs(120),
            "in {rounds} rounds ({:?}) no kill interrupted an upload: the test never reached its critical window",
            started.elapsed()
        );
        let round = rounds;
        rounds += 1;
        let server = Server::start(&dir.0, &database.url, &authority, &[], &["--export-interval", "3600"]);
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (base, authority, next, stop) = (server.base.clone(), authority.clone(), next.clone(), stop.clone());
            clients.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut ok, mut lost) = (Vec::new(), Vec::new());
                // Bounded: this round's numbers, and the server dies.
                while !stop.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= PER_ROUND {
                        break;
                    }
                    let number = (round * PER_ROUND + n) as u64;
                    let (body, uploaded) = numbered_upload(&authority, base_time, number);
                    match post(&client, &base, &body).await {
                        Ok(response) if response.status() == 200 => ok.extend(uploaded),
                        Ok(response) => {
                            panic!("upload {number} refused: {}", response.text().await.unwrap_or_default())
                        }
                        Err(_) => {
                            lost.push((body, uploaded));
                            break;
                        }
                    }
                }
                (ok, lost)
            }));
        }
        // Kill once this round's first 5, 15, 25 or 35 uploads have started
        // (all clients are still busy then), or after 5 s at the latest.
        let kill_after = 5 + 10 * (round % 4);
        let deadline = Instant::now() + Duration::from_secs(5);
        while next.load(Ordering::SeqCst) < kill_after && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill();
        stop.store(true, Ordering::SeqCst);
        let lost_before = unanswered.len();
        for client in clients {
            let (ok, lost) = client.await.expect("client");
            accepted.extend(ok);
            unanswered.extend(lost);
        }
        if unanswered.len() > lost_before {
            interrupting_rounds += 1;
        }
    }
    assert!(!accepted.is_empty(), "no upload was accepted between the kills");
    assert!(!unanswered.is_empty(), "no kill interrupted an upload");

    let server = Server::start(&dir.0, &database.url, &authority, &[], &["--export-interval", "1"]);
    let client = reqwest::Client::new();
    let mut recognised = 0;
    for (body, uploaded) in &unanswered {
        let response = post(&client, &server.base, body).await.expect("the restarted server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        match (status, serde_json::from_str::<Value>(&text).ok().and_then(|v| v["status"].as_str().map(str::to_owned)))
        {
            (200, Some(s)) if s == "accepted" => {}
            (200, Some(s)) if s == "already_accepted" => recognised += 1,
            _ => panic!("a retried upload got {status}: {text}"),
        }
        accepted.extend(uploaded);
    }
    assert_published_once(&server.base, &dir.0, &accepted).await;
    eprintln!(
        "{rounds} kills, {interrupting_rounds} of them during uploads: {} keys published once each; {} uploads \
         unanswered, {recognised} of them already stored",
        accepted.len(),
        unanswered.len()
    );
    server.kill();
}

/// Each round uploads keys to a server that seals every second, and kills it
/// as soon as its log says a batch is being sealed. Whether the kill lands
/// before the commit (the keys wait for the next batch) or after it (the
/// file is restored at start-up), every key is published exactly once and
/// every listed file is there and intact.
///
/// Both windows must be hit, or the test proves nothing: the loop runs
/// until a kill landed inside a seal (after its start, before its end was
/// logged) and a start-up restored a batch committed before a kill, bounded
/// in rounds and time; it fails if either never happened.
async fn sealing_survives_kill_9_in_a_loop(db: Db) {
    const MIN_ROUNDS: u64 = 4;
    const MAX_ROUNDS: u64 = 30;
    const RESTORED: &str = "restored export batches sealed before a crash";
    let database = TestDatabase::new(db).await;
    let dir = TempDir::new("faults-sealing");
    let authority = Authority::new(7);
    let base_time = now();
    let started = Instant::now();
    let client = reqwest::Client::new();
    let mut accepted = Vec::new();
    let mut killed_while_sealing = 0;
    let mut restored = 0;
    let mut rounds = 0;
    while rounds < MIN_ROUNDS || killed_while_sealing == 0 || restored == 0 {
        assert!(
            rounds < MAX_ROUNDS && started.elapsed() < Duration::from_secs(120),
            "in {rounds} rounds ({:?}), {killed_while_sealing} kills landed inside a seal and {restored} start-ups \
             restored a batch committed before a kill: the test must hit both windows at least once",
            started.elapsed()
        );
        let round = rounds;
        rounds += 1;
        let server = Server::start(&dir.0, &database.url, &authority, &[], &["--export-interval", "1"]);
        // Repair runs before the server listens: the log already says
        // whether the previous kill left a committed batch without its file.
        if server.log_text().contains(RESTORED) {
            restored += 1;
        }
        for i in 0..5 {
            let (body, uploaded) = numbered_upload(&authority, base_time, round * 5 + i);
            assert_eq!(post(&client, &server.base, &body).await.expect("upload").status(), 200);
            accepted.extend(uploaded);
        }
        // Poll the log every millisecond and kill on the first sign of sealing.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.log_text().contains("sealing an export batch") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let sealing = server.log_text().contains("sealing an export batch");
        let sealed = server.log_text().contains("export batch sealed");
        server.kill();
        assert!(sealing, "no export run began within 10 s");
        if !sealed {
            killed_while_sealing += 1;
        }
    }
    let server = Server::start(&dir.0, &database.url, &authority, &[], &["--export-interval", "1"]);
    assert_published_once(&server.base, &dir.0, &accepted).await;
    let restored_in_logs = std::fs::read_dir(&dir.0)
        .expect("dir")
        .filter_map(|e| std::fs::read_to_string(e.expect("entry").path()).ok())
        .filter(|log| log.contains(RESTORED))
        .count();
    assert!(killed_while_sealing > 0, "no kill landed inside a seal");
    assert!(restored_in_logs >= restored && restored > 0, "no start-up restored a batch committed before a kill");
    eprintln!(
        "{rounds} kills while sealing ({killed_while_sealing} before the run logged its end); \
         {restored_in_logs} start-ups restored a batch committed before a kill; {} keys published once each",
        accepted.len()
    );
    server.kill();
}

/// A TCP proxy in front of PostgreSQL that the test can cut (every
/// connection closed, new ones refused) and restore.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
    done: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (open, live, done) = (Arc::new(AtomicBool::new(true)), Arc::new(Mutex::new(Vec::new())), Arc::default());
        let proxy = Proxy { port, open: open.clone(), live: live.clone(), done: Arc::clone(&done) };
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let Ok((inbound, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                if !open.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(&target) else { continue };
                inbound.set_nonblocking(false).expect("blocking");
                let mut live = live.lock().expect("lock");
                for (from, to) in [(&inbound, &outbound), (&outbound, &inbound)] {
                    let (mut from, mut to) = (from.try_clone().expect("clone"), to.try_clone().expect("clone"));
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
                live.extend([inbound, outbound]);
            }
        });
        proxy
    }

    /// The database is gone: every connection closes, new ones are refused.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.live.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        self.cut();
    }
}

/// The database is out of reach (PostgreSQL behind a cut connection; SQLite
/// write-locked by another process, such as a backup): an upload answers
/// 503 with `Retry-After`, stores nothing and keeps its certificate usable;
/// once the database is back, the same upload is accepted and published.
async fn a_lost_database_answers_503_then_recovers(db: Db) {
    let proxy = (db == Db::Postgres).then(|| {
        let admin = common::postgres_admin_url();
        let host = admin.split_once('@').map_or("127.0.0.1:5432", |(_, rest)| rest.split('/').next().unwrap_or(""));
        let host = if host.contains(':') { host.to_owned() } else { format!("{host}:5432") };
        Proxy::start(host)
    });
    let port = proxy.as_ref().map(|p| p.port);
    let server = TestServer::start_custom(db, true, |config, _| {
        if let Some(port) = port
            && let Some((user, rest)) = config.database_url.split_once('@')
            && let Some((_, name)) = rest.split_once('/')
        {
            config.database_url = format!("{user}@127.0.0.1:{port}/{name}");
        }
    })
    .await;
    let today = server.clock.now().day();
    let first = keys(31, 2, today);
    let second = keys(32, 2, today);
    assert_eq!(server.post(&upload(&server.authority, server.clock.now(), &first, &[])).await.0, 200);

    // The fault.
    let mut lock = None;
    match &proxy {
        Some(proxy) => proxy.cut(),
        None => {
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(server.database_url())
                .await
                .expect("a second SQLite connection");
            sqlx::Executor::execute(&mut conn, "BEGIN EXCLUSIVE").await.expect("the write lock");
            lock = Some(conn);
        }
    }
    let body = upload(&server.authority, server.clock.now(), &second, &[]);
    let response = server.client.post(format!("{}/v1/publish", server.base)).json(&body).send().await.expect("post");
    assert_eq!(response.status(), 503);
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap_or("").to_owned());
    assert!(retry_after.as_deref().is_some_and(|s| s.parse::<u64>().is_ok()), "Retry-After: {retry_after:?}");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["status"], "unavailable", "{answer}");
    if proxy.is_some() {
        let health = server.get("/health").await;
        assert_eq!(health.status(), 503, "health says the database is gone");
        assert!(health.headers().contains_key("retry-after"));
        // The health authority's device endpoints ask phones to come back too.
        for (path, body) in [
            ("/v1/verify", json!({ "code": "0123456789abcdef", "padding": "" })),
            ("/v1/certificate", json!({ "token": "t".repeat(32), "upload_hmac": "h".repeat(43), "padding": "" })),
        ] {
            let response = server.client.post(format!("{}{path}", server.base)).json(&body).send().await.expect("post");
            assert_eq!(response.status(), 503, "{path}");
            let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
            assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok()), "{path}: Retry-After");
        }
    }

    // Recovery, without a restart.
    match &proxy {
        Some(proxy) => proxy.restore(),
        None => {
            let mut conn = lock.take().expect("lock");
            sqlx::Executor::execute(&mut conn, "ROLLBACK").await.expect("release");
        }
    }
    assert_eq!(server.get("/health").await.status(), 200);
    let (status, answer, _) = server.post(&body).await;
    assert_eq!(status, 200, "the certificate was not used up by the failed attempt: {answer}");
    assert_eq!(server.stored_keys().await, 4);
    server.clock.advance(1);
    server.seal().await.expect("a batch");
    let trusted = TrustedKeys::from_keys([server.export_key()]);
    let index = Index::verify(&server.get("/v1/index").await.bytes().await.expect("index"), &trusted).expect("index");
    let entry = index.entries_after(FileKind::ExportBatch, 0).first().expect("a batch");
    let bytes = server.get(&format!("/v1/files/{}", hex::encode(entry.sha256))).await.bytes().await.expect("file");
    let batch = ExportBatch::verify(&bytes, &trusted).expect("batch");
    for key in first.iter().chain(&second) {
        assert_eq!(batch.records().iter().filter(|r| r.key.0 == key.bytes).count(), 1);
    }
}

/// Runs `command` in the server's mount namespace.
fn in_namespace(server: &Server, command: &str) {
    let status = Command::new("nsenter")
        .args(["-t", &server.child.id().to_string(), "-m", "sh", "-c", command])
        .status()
        .expect("nsenter");
    assert!(status.success(), "{command} failed in the server's mount namespace");
}

/// The export directory (a 1 MiB tmpfs only the server sees) fills up, then
/// turns read-only: each time the export run fails with a clear error in
/// the log, the index lists nothing that is missing, uploads are still
/// accepted, and once space (or write access) is back the next run
/// publishes every key exactly once.
async fn a_full_export_directory_fails_cleanly_and_sealing_retries(db: Db) {
    let probe = Command::new("unshare").args(["-m", "true"]).status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "this test needs `unshare -m` and `mount` (root, or CAP_SYS_ADMIN) to give the server a tmpfs of its own"
    );
    let database = TestDatabase::new(db).await;
    let dir = TempDir::new("faults-disk");
    let files = dir.0.join("files");
    std::fs::create_dir_all(&files).expect("files dir");
    let authority = Authority::new(7);
    let mount = format!("mount -t tmpfs -o size=1m greenlight-test {} && exec \"$0\" \"$@\"", files.display());
    let wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c", &mount];
    let server = Server::start(&dir.0, &database.url, &authority, &wrap, &["--export-interval", "1"]);
    let client = reqwest::Client::new();
    let base_time = now();
    let mut accepted = Vec::new();

    for (round, (fault, repair, error)) in [
        ("cat /dev/zero > {files}/filler 2>/dev/null; true", "rm {files}/filler", "No space left on device"),
        ("mount -o remount,ro {files}", "mount -o remount,rw {files}", "Read-only file system"),
    ]
    .into_iter()
    .enumerate()
    {
        let with_dir = |c: &str| c.replace("{files}", &files.display().to_string());
        in_namespace(&server, &with_dir(fault));
        let mut keys_now = Vec::new();
        for i in 0..3 {
            let (body, uploaded) = numbered_upload(&authority, base_time, (round * 3 + i) as u64);
            let response = post(&client, &server.base, &body).await.expect("upload");
            assert_eq!(response.status(), 200, "uploads go to the database, not the export directory");
            keys_now.extend(uploaded);
        }
        assert!(
            server.wait_for_log(error, Duration::from_secs(10)).await,
            "no export run reported {error:?}:\n{}",
            server.log_text()
        );
        // Every file the index lists is there, and the new keys are not listed yet.
        let published = published_keys(&server.base, &dir.0).await;
        assert!(keys_now.iter().all(|k| !published.contains(&k.bytes)), "a key is listed in a file that failed");
        in_namespace(&server, &with_dir(repair));
        accepted.extend(keys_now);
        assert_published_once(&server.base, &dir.0, &accepted).await;
    }
    assert!(server.log_text().contains("will retry"), "the failure is logged with what happens next");
    server.kill();
}
