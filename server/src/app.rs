//! Start-up, background jobs and shutdown.

use crate::api;
use crate::authority::{self, AuthorityState, PublishTarget, RevealedSource};
use crate::config::{AuthorityConfig, Config, Mode};
use crate::files::FsStore;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::state::{AppState, Attempts, Clock};
use crate::store::{Store, redact};
use greenlight_protocol::signing::{KeyId, SigningKey, TrustedKeys};
use rand_core::Rng;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// A failure to start, with a message for the operator.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running server.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// Shared state, for tests and jobs.
    pub state: Arc<AppState>,
    /// The health authority's state, when it runs in this process.
    pub authority: Option<Arc<AuthorityState>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets running ones finish, stops the jobs
    /// and closes the database.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.state.store.close().await;
    }

    /// Waits until a shutdown signal (SIGINT or SIGTERM), then shuts down.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Loads the export signing key from the data directory, creating it (0600)
/// on first start.
pub fn load_or_create_export_key(data_dir: &Path) -> Result<SigningKey, StartError> {
    let path = data_dir.join("export-key");
    let fail = |what: &str, e: std::io::Error| StartError(format!("{what} {}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed)
                .map_err(|_| StartError(format!("{} does not hold 64 hex digits", path.display())))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut seed);
            write_private(&path, &format!("{}\n", hex::encode(seed))).map_err(|e| fail("cannot create", e))?;
            let key = SigningKey::from_bytes(&seed);
            std::fs::write(
                data_dir.join("export-key.pub"),
                format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
            )
            .map_err(|e| fail("cannot write the public key next to", e))?;
            Ok(key)
        }
        Err(e) => Err(fail("cannot read", e)),
    }
}

/// Writes a new file readable by its owner only (0600); refuses to replace one.
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Starts the server with the health authority's default settings.
pub async fn start(config: Config, clock: Clock) -> Result<Running, StartError> {
    start_with(config, AuthorityConfig::default(), clock).await
}

/// Starts the server: data directory, keys, database and migrations, crash
/// repair, the index, the HTTP listener and the background jobs. The health
/// authority joins in when `authority init` was run in the data directory
/// (and is all that runs in [`Mode::AuthorityOnly`]).
pub async fn start_with(config: Config, options: AuthorityConfig, clock: Clock) -> Result<Running, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError(format!("cannot create data directory {}: {e}", config.data_dir.display())))?;
    let authority_keys = authority::keys::load(&config.data_dir)?;
    let key_server = options.mode == Mode::Combined;
    if !key_server && authority_keys.is_none() {
        return Err(StartError(format!(
            "no health authority in {}: run `greenlight-server authority init` first",
            config.data_dir.display()
        )));
    }
    let key = load_or_create_export_key(&config.data_dir)?;
    let store = Store::connect(&config.database_url)
        .await
        .map_err(|e| StartError(format!("database {}: {e}", redact(&config.database_url))))?;
    let files = FsStore::new(config.data_dir.join("files"))
        .map_err(|e| StartError(format!("cannot create file storage: {e}")))?;
    let publisher = Arc::new(Publisher::new(
        store.clone(),
        Arc::new(files),
        key.clone(),
        config.region.clone(),
        config.min_batch_keys,
        config.export_interval,
    ));
    if key_server {
        let restored = publisher.repair().await.map_err(|e| StartError(format!("repairing published files: {e}")))?;
        if restored > 0 {
            tracing::warn!(restored, "restored export batches sealed before a crash");
        }
        publisher.rebuild_index(clock()).await.map_err(|e| StartError(format!("building the index: {e}")))?;
    }
    let mut trusted = config.authority_keys.clone();
    if let Some(keys) = &authority_keys {
        // The authority in this data directory is trusted like --authority-key.
        trusted.push(keys.signing.verifying_key());
    }
    if key_server && trusted.is_empty() {
        tracing::warn!("no --authority-key given: uploads will be refused until one is configured");
    }
    let trusted_keys = TrustedKeys::from_keys(trusted);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener.local_addr().map_err(|e| StartError(e.to_string()))?;
    tracing::info!(
        %addr,
        database = %redact(&config.database_url),
        export_key_id = %hex::encode(KeyId::of(&key.verifying_key()).0),
        authority = authority_keys.is_some(),
        key_server,
        "greenlight-server listening"
    );

    let authority = authority_keys.map(|keys| {
        let (target, revealed) = match &options.mode {
            Mode::Combined => (
                PublishTarget::InProcess(publisher.clone()),
                RevealedSource::InProcess { store: store.clone(), delay_secs: config.reveal_delay_secs },
            ),
            Mode::AuthorityOnly { key_server_url } => {
                let client = reqwest::Client::new();
                (
                    PublishTarget::KeyServer { url: key_server_url.clone(), client: client.clone() },
                    RevealedSource::KeyServer { url: key_server_url.clone(), client },
                )
            }
        };
        Arc::new(AuthorityState {
            settings: options.settings.clone(),
            region: config.region.clone(),
            store: authority::store::AuthorityStore::new(store.clone()),
            keys,
            target,
            revealed,
            clock: clock.clone(),
            secure_cookies: !config.listen.ip().is_loopback(),
            verify_latency: Default::default(),
            certificate_latency: Default::default(),
        })
    });
    let state = Arc::new(AppState {
        config,
        store,
        publisher,
        authority_keys: trusted_keys,
        metrics: Metrics::new(),
        latency: Default::default(),
        attempts: Attempts::default(),
        clock,
    });
    let services = match (key_server, authority.is_some()) {
        (true, true) => api::Services::Both,
        (true, false) => api::Services::KeyServer,
        (false, _) => api::Services::Authority,
    };
    let mut router = if key_server { api::router(state.clone()) } else { api::health_router(state.clone()) };
    router = router.merge(api::openapi_router(services));
    if let Some(authority) = &authority {
        router = router.merge(authority::router(authority.clone()));
    }
    let router = router.layer((
        // Log method, route and status only: never an address, a user agent
        // or a query string.
        TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", axum::extract::MatchedPath::as_str)
                .to_owned();
            tracing::info_span!("request", method = %request.method(), route)
        }),
        RequestBodyLimitLayer::new(state.config.max_body),
        TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.request_timeout),
        ),
    ));
    let (shutdown, mut stop) = watch::channel(false);
    let serve = {
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "server stopped");
            }
        })
    };
    let jobs = {
        let state = state.clone();
        let authority = authority.clone();
        tokio::spawn(async move {
            // First runs after one period: start-up has already repaired and
            // re-signed everything.
            let every = |secs| {
                tokio::time::interval_at(
                    tokio::time::Instant::now() + Duration::from_secs(secs),
                    Duration::from_secs(secs),
                )
            };
            let mut export = every(state.config.export_interval);
            let mut retention = every(3600);
            let mut revealed = every(REVEALED_PULL_SECS);
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = export.tick(), if key_server => run_export(&state).await,
                    _ = revealed.tick(), if authority.is_some() => {
                        if let Some(authority) = &authority {
                            match authority::pull_revealed(authority).await {
                                Ok(n) if n > 0 => tracing::info!(visits = n, "revealed visits handed over"),
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "fetching revealed visits failed; will retry"),
                            }
                        }
                    }
                    _ = retention.tick() => {
                        if key_server {
                            run_retention(&state).await;
                        }
                        if let Some(authority) = &authority {
                            run_authority_retention(authority).await;
                        }
                    }
                }
            }
        })
    };
    Ok(Running { addr, state, authority, shutdown, tasks: vec![serve, jobs] })
}

/// Deletes the health authority's expired sessions, tokens and codes, and
/// audit entries older than [`AUDIT_RETENTION_DAYS`].
pub async fn run_authority_retention(authority: &AuthorityState) {
    let now = authority.now_i64();
    let keep = i64::from(authority::portal::codes::MAX_DIAGNOSIS_AGE_DAYS) * 86_400;
    match authority.store.delete_expired(now, keep, AUDIT_RETENTION_DAYS * 86_400).await {
        Ok(n) if n > 0 => tracing::info!(rows = n, "authority retention deleted expired data"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "authority retention failed; will retry"),
    }
}

/// Seconds between the authority's requests for revealed visits (the
/// portal's venue pages also ask each time they are shown).
pub const REVEALED_PULL_SECS: u64 = 300;

/// How long the audit log is kept.
pub const AUDIT_RETENTION_DAYS: i64 = 400;

/// One export run; failures are logged and retried at the next run.
pub async fn run_export(state: &AppState) {
    match state.publisher.seal(state.now()).await {
        Ok(Some(sealed)) => {
            state.metrics.batches_sealed.inc();
            tracing::info!(
                sequence = sealed.sequence,
                keys = sealed.keys,
                padding = sealed.padding,
                "export batch sealed"
            );
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "sealing an export batch failed; will retry"),
    }
    if let Ok((pending, _)) = state.store.pending_keys(i64::try_from(state.now().0).unwrap_or(i64::MAX)).await {
        state.metrics.pending_keys.set(pending);
    }
}

/// One retention run.
pub async fn run_retention(state: &AppState) {
    let now = state.now();
    state.attempts.prune(now);
    match state.publisher.retention(now, state.config.retention_days).await {
        Ok(deleted) => {
            let rows = deleted.keys + deleted.checkins + deleted.certificates + deleted.files.len() as u64;
            state.metrics.retention_deleted.inc_by(rows);
            if rows > 0 {
                tracing::info!(keys = deleted.keys, files = deleted.files.len(), "retention deleted expired data");
            }
        }
        Err(e) => tracing::error!(error = %e, "retention failed; will retry"),
    }
}
