//! The end-to-end harness: the workspace's real binaries, started as
//! processes with their own data directories, talking over loopback: the
//! server ([`Server`]), residents' clients ([`Resident`]) and a staff
//! member's browser session in the portal ([`staff_portal`], the test
//! kit's [`Portal`]).
//!
//! The binaries are those `cargo test --workspace` builds next to this
//! test (`target/<profile>/`); run `cargo build --bins` first when testing
//! this package alone.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a part of the harness")]

use greenlight_protocol::time::UnixTime;
pub use greenlight_testkit::{Portal, between};
use serde_json::Value;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The first admin's password (`authority init --password-stdin`); the
/// first admin holds every role, the tracer's too.
pub const PASSWORD: &str = "end to end staff password";

/// The path of workspace binary `name`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --bins`; `cargo test --workspace` does)",
        path.display()
    );
    path
}

/// A scratch directory, removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(label: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "greenlight-e2e-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        // Owner only: the server refuses a data directory others can read.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).expect("scratch directory");
        Dir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command to completion; panics with its output if it fails.
pub fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs a command to completion.
pub fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("the binary starts")
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A background process, killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers 200, for at most a minute.
pub async fn wait_for(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = reqwest::Client::new();
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not come up within a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The wall clock, as the binaries read it.
pub fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs())
}

/// `greenlight-server authority init` in `dir` with [`PASSWORD`]; returns
/// the authority's public signing key as printed.
fn authority_init(dir: &Dir) -> String {
    let data = dir.0.to_str().expect("UTF-8 path");
    let mut init = Command::new(bin("greenlight-server"))
        .args(["authority", "init", "--data-dir", data, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("authority init starts");
    writeln!(init.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    let output = init.wait_with_output().expect("authority init ends");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    between(&text, "--authority-key): ", "\n").expect("the signing key is printed").to_owned()
}

/// `greenlight-server` with `args` on a free port, its output discarded,
/// once `/health` answers; returns the process and its URL.
async fn serve(args: &[&str]) -> (Process, String) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let process = Process(
        Command::new(bin("greenlight-server"))
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // Revealed visits reach the tracer's queue at once, not at
            // the end of their hour (as the test kit's servers do).
            .env("GREENLIGHT_REVEAL_DELAY_SECS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts"),
    );
    wait_for(&format!("{url}/health")).await;
    (process, url)
}

/// How the key server and the health authority are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// One `greenlight-server` process runs both, on one database.
    Combined,
    /// Two processes, each with its own data directory and database: the
    /// key server, and `greenlight-server authority serve --key-server-url`.
    Split,
}

/// The server: `authority init`, then `greenlight-server` serving with
/// exports every second, no padding minimum worth waiting for, and revealed
/// visits handed to the authority at once; as one process or two.
pub struct Server {
    _processes: Vec<Process>,
    /// The key server's URL (what residents sync with and upload to).
    pub url: String,
    /// The health authority's URL (device API and portal): the same as
    /// `url` in a combined deployment.
    pub authority_url: String,
    pub export_key: String,
    pub authority_key: String,
    /// The authority's data directory (`authority/signing-key.pub`,
    /// `authority/trace-key.pub`, its database; in a combined deployment
    /// also the key server's database and exports).
    pub dir: Dir,
    /// The key server's own data directory in a split deployment.
    pub key_server_dir: Option<Dir>,
}

impl Server {
    /// Both services in one process.
    pub async fn start() -> Self {
        Self::deploy(Deployment::Combined).await
    }

    pub async fn deploy(deployment: Deployment) -> Self {
        let dir = Dir::new("server");
        let authority_key = authority_init(&dir);
        let data = dir.0.to_str().expect("UTF-8 path").to_owned();
        let exports = ["--export-interval", "1", "--min-batch-keys", "1"];
        match deployment {
            Deployment::Combined => {
                let (process, url) = serve(&[&["--data-dir", &data][..], &exports].concat()).await;
                let export_key =
                    std::fs::read_to_string(dir.join("export-key.pub")).expect("export key").trim().to_owned();
                Server {
                    _processes: vec![process],
                    authority_url: url.clone(),
                    url,
                    export_key,
                    authority_key,
                    dir,
                    key_server_dir: None,
                }
            }
            Deployment::Split => {
                let key_dir = Dir::new("key-server");
                let keys = key_dir.0.to_str().expect("UTF-8 path").to_owned();
                let (key_server, url) =
                    serve(&[&["--data-dir", &keys, "--authority-key", &authority_key][..], &exports].concat()).await;
                let (authority, authority_url) =
                    serve(&["authority", "serve", "--key-server-url", &url, "--data-dir", &data]).await;
                let export_key =
                    std::fs::read_to_string(key_dir.join("export-key.pub")).expect("export key").trim().to_owned();
                assert!(!dir.join("export-key").exists(), "the authority alone keeps no export key");
                Server {
                    _processes: vec![authority, key_server],
                    url,
                    authority_url,
                    export_key,
                    authority_key,
                    dir,
                    key_server_dir: Some(key_dir),
                }
            }
        }
    }

    /// Every data directory of the deployment.
    pub fn dirs(&self) -> Vec<&Path> {
        std::iter::once(self.dir.0.as_path()).chain(self.key_server_dir.as_ref().map(|d| d.0.as_path())).collect()
    }
}

/// A resident's `greenlight` with its own data directory.
pub struct Resident {
    pub dir: Dir,
}

impl Resident {
    pub fn new(name: &str, server: &Server) -> Self {
        let resident = Resident { dir: Dir::new(name) };
        let mut args = vec![
            "init",
            "--server",
            &server.url,
            "--server-key",
            &server.export_key,
            "--authority-key",
            &server.authority_key,
        ];
        if server.authority_url != server.url {
            args.extend(["--authority-url", &server.authority_url]);
        }
        resident.ok(&args);
        resident
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin("greenlight"));
        command.arg("--data-dir").arg(&self.dir.0).args(args);
        command
    }

    pub fn ok(&self, args: &[&str]) -> String {
        run_ok(&mut self.command(args))
    }

    pub fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status --json prints JSON")
    }
}

/// A staff member's browser session in the portal of the server at `url`,
/// signed in as the first admin (who holds every role, the tracer's too).
pub async fn staff_portal(url: &str) -> Portal {
    let portal = Portal::new(url).expect("portal client");
    portal.sign_in("admin", PASSWORD).await.expect("staff login");
    portal
}
