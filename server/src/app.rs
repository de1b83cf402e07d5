//! Start-up, background jobs and shutdown.

use crate::config::{AuthorityConfig, Config, Mode};
use greenlight_api::revealed::RevealedPage;
use greenlight_authority::error::AuthorityError;
use greenlight_authority::{self as authority, AuthorityState, BoxFuture, HttpKeyServer, KeyServer};
use greenlight_key_server::api;
use greenlight_key_server::files::FsStore;
use greenlight_key_server::metrics::Metrics;
use greenlight_key_server::publisher::{Listing, Publisher, listing_span};
use greenlight_key_server::state::{AppState, Attempts, Clock};
use greenlight_key_server::store::Store;
use greenlight_protocol::index::FileKind;
use greenlight_protocol::index::Index;
use greenlight_protocol::signing::{KeyId, SigningKey, TrustedKeys};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trust::Keyring;
pub use greenlight_service::StartError;
use greenlight_service::db::{Db, redact};
use greenlight_service::request::Connection;
use greenlight_service::write_private;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rand_core::Rng;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// A running server.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when `--metrics-listen` was given.
    pub metrics_addr: Option<SocketAddr>,
    /// The key server's state, when it runs in this process (not with
    /// `authority serve`).
    pub state: Option<Arc<AppState>>,
    /// The health authority's state, when it runs in this process.
    pub authority: Option<Arc<AuthorityState>>,
    db: Db,
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
        self.db.close().await;
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

/// Starts the server with the health authority's default settings.
pub async fn start(config: Config, clock: Clock) -> Result<Running, StartError> {
    start_with(config, AuthorityConfig::default(), clock).await
}

/// Starts the server: data directory, keys, database and migrations, crash
/// repair, the index, the HTTP listener and the background jobs. The health
/// authority joins in when `authority init` was run in the data directory
/// (and is all that runs in [`Mode::AuthorityOnly`]).
pub async fn start_with(config: Config, options: AuthorityConfig, clock: Clock) -> Result<Running, StartError> {
    greenlight_service::private_data_dir(&config.data_dir, config.allow_shared_data_dir)?;
    // The authority's purpose keys and the key set naming them (protocol
    // §2.3), made or completed at every start.
    let key_server = options.mode == Mode::Combined;
    let authority_keys = match authority::keys::load(&config.data_dir)? {
        // A combined server names its own export key in the key set too,
        // so that phones follow a change of it (server/README.md).
        Some(_) => {
            let export =
                if key_server { Some(load_or_create_export_key(&config.data_dir)?.verifying_key()) } else { None };
            Some(authority::keys::ensure_key_set(&config.data_dir, &config.region, export, clock())?)
        }
        None => None,
    };
    if !key_server && authority_keys.is_none() {
        return Err(StartError(format!(
            "no health authority in {}: run `greenlight-server authority init` first",
            config.data_dir.display()
        )));
    }
    let db = crate::connect_database(&config.database_url)
        .await
        .map_err(|e| StartError(format!("database {}: {e}", redact(&config.database_url))))?;
    let state =
        if key_server { Some(start_key_server(&config, &db, authority_keys.as_ref(), &clock).await?) } else { None };

    let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener.local_addr().map_err(|e| StartError(e.to_string()))?;
    tracing::info!(
        %addr,
        database = %redact(&config.database_url),
        export_key_id = state.as_ref().map(|s| hex::encode(KeyId::of(&s.publisher.verifying_key()).0)).unwrap_or_default(),
        authority = authority_keys.is_some(),
        key_server,
        tls = tls.is_some(),
        "greenlight-server listening"
    );
    // What an operator needs next, in words: where staff sign in and the
    // file residents and venue owners are given.
    if authority_keys.is_some() {
        if tls.is_some() || addr.ip().is_loopback() {
            tracing::info!("staff portal: {scheme}://{addr}/portal");
        } else {
            // Browsers keep the portal's Secure cookies only over HTTPS
            // (or on this machine): from elsewhere, every login fails.
            tracing::warn!(
                "staff portal: http://{addr}/portal is plain HTTP on a network address: browsers on other \
                 computers will refuse its login cookie and no one can log in. Serve the portal over HTTPS: \
                 --tls-cert FILE --tls-key FILE, or an HTTPS proxy in front"
            );
        }
    }
    if key_server {
        tracing::info!(
            "export public key for `greenlight init --server-key`: {}",
            config.data_dir.join("export-key.pub").display()
        );
    }
    if authority_keys.is_some() {
        tracing::info!(
            "health authority public keys: {} (--authority-key) and {} (venues' --trace-key)",
            authority::keys::authority_dir(&config.data_dir).join("signing-key.pub").display(),
            authority::keys::authority_dir(&config.data_dir).join("trace-key.pub").display()
        );
    }

    let authority = authority_keys.map(|keys| {
        let link: Arc<dyn KeyServer> = match (&options.mode, &state) {
            (Mode::AuthorityOnly { key_server_url }, _) => Arc::new(HttpKeyServer::new(key_server_url)),
            (Mode::Combined, Some(state)) => Arc::new(InProcessKeyServer(state.clone())),
            (Mode::Combined, None) => unreachable!("a combined process runs the key server"),
        };
        Arc::new(AuthorityState {
            settings: options.settings.clone(),
            region: config.region.clone(),
            store: authority::store::AuthorityStore::new(db.clone()),
            keys,
            key_server: link,
            clock: clock.clone(),
            secure_cookies: tls.is_some() || !config.listen.ip().is_loopback(),
            verify_latency: Default::default(),
            certificate_latency: Default::default(),
            flashes: Default::default(),
        })
    });
    let services = match (&state, &authority) {
        (Some(_), Some(_)) => Services::Both,
        (Some(_), None) => Services::KeyServer,
        (None, _) => Services::Authority,
    };
    let mut router = api::openapi_router(openapi_document(services))
        .route("/", axum::routing::get(move || async move { front_page(services) }));
    if let Some(state) = &state {
        router = router.merge(api::router(state.clone()));
    }
    if let Some(authority) = &authority {
        router = router.merge(authority::router(authority.clone()));
        if state.is_none() {
            router = router.merge(authority::device::health_router(authority.clone()));
        }
    }
    let router = router.layer((
        // Log method, route and status only: never an address, a user agent
        // or a query string.
        TraceLayer::new_for_http()
            .make_span_with(|request: &axum::http::Request<_>| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", axum::extract::MatchedPath::as_str)
                    .to_owned();
                tracing::info_span!("request", method = %request.method(), route)
            })
            // The status, never the latency: a real upload's database work
            // takes longer than chaff's, so a per-request duration in the logs
            // would tell them apart (issue 19 item 5).
            .on_request(())
            .on_response(|response: &axum::http::Response<_>, _latency: Duration, _span: &tracing::Span| {
                tracing::debug!(status = response.status().as_u16(), "answered");
            })
            .on_failure(
                |class: tower_http::classify::ServerErrorsFailureClass, _latency: Duration, _span: &tracing::Span| {
                    tracing::error!(%class, "request failed");
                },
            ),
        axum::middleware::from_fn_with_state(
            EarlyRefusals { max_body: config.max_body, timeout: Duration::from_secs(config.request_timeout) },
            early_refusals,
        ),
        axum::extract::DefaultBodyLimit::max(config.max_body),
        TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout),
        ),
    ));
    // The key set first, before anything signed with the keys it names.
    // With the key server in this process it is listed and adopted before
    // the first request is served, so no upload is ever judged by the
    // configured root keys alone. A key server elsewhere is asked once the
    // portal listens (it may be down; the jobs below ask again).
    let mut key_set_listed = match (&authority, &state) {
        (Some(authority), Some(_)) => authority::publish_key_set(authority).await,
        (Some(_), None) => false,
        (None, _) => true,
    };
    let (shutdown, mut stop) = watch::channel(false);
    let timeout = Duration::from_secs(config.request_timeout);
    let mut tasks = vec![tokio::spawn(serve(listener, router, timeout, stop.clone(), tls))];
    let mut metrics_addr = None;
    if let (Some(at), Some(state)) = (config.metrics_listen, &state) {
        let listener =
            TcpListener::bind(at).await.map_err(|e| StartError(format!("cannot listen for metrics on {at}: {e}")))?;
        metrics_addr = Some(listener.local_addr().map_err(|e| StartError(e.to_string()))?);
        tracing::info!(addr = ?metrics_addr, "metrics served apart from the public API");
        tasks.push(tokio::spawn(serve(listener, api::metrics_router(state.clone()), timeout, stop.clone(), None)));
    }
    if !key_set_listed && let Some(authority) = &authority {
        key_set_listed = authority::publish_key_set(authority).await;
    }
    let jobs = {
        let state = state.clone();
        let authority = authority.clone();
        let export_interval = config.export_interval;
        tokio::spawn(async move {
            // First runs after one period: start-up has already repaired and
            // re-signed everything.
            let every = |secs| {
                tokio::time::interval_at(
                    tokio::time::Instant::now() + Duration::from_secs(secs),
                    Duration::from_secs(secs),
                )
            };
            let mut export = every(export_interval);
            let mut retention = every(3600);
            let mut revealed = every(REVEALED_PULL_SECS);
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = export.tick(), if state.is_some() => {
                        if let Some(state) = &state {
                            run_export(state).await;
                        }
                    }
                    _ = revealed.tick(), if authority.is_some() => {
                        if let Some(authority) = &authority {
                            if !key_set_listed {
                                key_set_listed = authority::publish_key_set(authority).await;
                            }
                            match authority::pull_revealed(authority).await {
                                Ok(n) if n > 0 => tracing::info!(visits = n, "revealed visits handed over"),
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "fetching revealed visits failed; will retry"),
                            }
                        }
                    }
                    _ = retention.tick() => {
                        if let Some(state) = &state {
                            run_retention(state).await;
                        }
                        if let Some(authority) = &authority {
                            run_authority_retention(authority).await;
                        }
                    }
                }
            }
        })
    };
    tasks.push(jobs);
    Ok(Running { addr, metrics_addr, state, authority, db, shutdown, tasks })
}

/// What [`early_refusals`] needs to know.
#[derive(Debug, Clone, Copy)]
struct EarlyRefusals {
    max_body: usize,
    timeout: Duration,
}

/// Most bytes of a refused body read and thrown away before the 413, so
/// that a client that sent it without `Expect: 100-continue` reads the
/// answer instead of a connection reset; beyond this the connection is
/// simply closed.
const DRAIN_LIMIT: usize = 16 << 20;

/// Refusals made before a handler runs (a body over `--max-body`, a
/// request over `--request-timeout`) answered as their endpoint answers
/// everything: the padded JSON of `/v1/publish`, `/v1/verify` and
/// `/v1/certificate` (issue 19 item 8), plain text elsewhere. A body
/// declared too large is read and discarded (up to [`DRAIN_LIMIT`]) before
/// the answer, so the client that is still sending it gets the 413.
async fn early_refusals(
    axum::extract::State(limits): axum::extract::State<EarlyRefusals>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse as _;
    let path = request.uri().path().to_owned();
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    // The device endpoints of the authority take less than `--max-body`.
    let limit = match path.as_str() {
        "/v1/verify" | "/v1/certificate" => limits.max_body.min(authority::device::MAX_DEVICE_BODY),
        _ => limits.max_body,
    };
    let response = match declared {
        Some(length) if length > limit as u64 => {
            if length <= DRAIN_LIMIT as u64 {
                let mut body = request.into_body().into_data_stream();
                let drain = async {
                    while let Some(Ok(_)) =
                        std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut body), cx))
                            .await
                    {}
                };
                let _ = tokio::time::timeout(limits.timeout, drain).await;
            }
            StatusCode::PAYLOAD_TOO_LARGE.into_response()
        }
        _ => next.run(request).await,
    };
    let status = response.status();
    let early = matches!(status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT);
    let json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == b"application/json");
    if !early || json {
        return response;
    }
    let (code, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ("payload_too_large", format!("the body is larger than {limit} bytes"))
    } else {
        ("request_timeout", format!("the request took longer than {} s", limits.timeout.as_secs()))
    };
    match path.as_str() {
        "/v1/publish" => api::KeyServerError::new(status, code, message).publish_answer(),
        "/v1/verify" => AuthorityError::new(status, code, message).verify_answer(),
        "/v1/certificate" => AuthorityError::new(status, code, message).certificate_answer(),
        _ => (status, format!("{message}\n")).into_response(),
    }
}

/// `GET /`: what this server is and where to go, instead of an empty 404.
fn front_page(services: Services) -> axum::response::Response {
    let mut lines = vec!["Greenlight server.".to_owned()];
    if services != Services::Authority {
        lines.push("Key server for phones: /v1/index (set up with `greenlight init --server <this URL>`).".into());
    }
    if services != Services::KeyServer {
        lines.push("Health authority staff: sign in at /portal.".into());
    }
    lines.push("API description: /v1/openapi.json".into());
    axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        lines.join("\n") + "\n",
    ))
}

/// Serves `router` on `listener` over HTTP/1.1 (inside TLS when `tls` is
/// given) until `stop` turns true, then stops accepting and lets the
/// requests in flight finish. Every request carries its [`Connection`].
///
/// A client gets `timeout` to send a request's headers, counted from the
/// moment the connection is ready for them: when it opens (after the TLS
/// handshake, which gets as long), and after each answer on a kept-alive
/// connection. So a slow client trickling headers (a slowloris) and an
/// idle kept-alive connection are both closed within `timeout`; the
/// request itself (body and handler) is bounded by the same timeout in
/// the router's layers. (`axum::serve` sets no timer, so hyper's
/// header-read timeout would not run.)
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    // A connection that failed before it was accepted.
                    Err(e) if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::ConnectionReset
                    ) => continue,
                    // Out of file descriptors, for instance: wait, do not spin.
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let connection = Connection { peer, tls: tls.is_some() };
                let service = TowerToHyperService::new(tower::ServiceExt::map_request(
                    router.clone(),
                    move |mut request: axum::http::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(connection);
                        request
                    },
                ));
                match &tls {
                    None => {
                        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                        tokio::spawn(async move {
                            if let Err(e) = connection.await {
                                tracing::debug!(error = %e, "connection closed");
                            }
                        });
                    }
                    Some(acceptor) => {
                        let (acceptor, http, watcher) = (acceptor.clone(), http.clone(), graceful.watcher());
                        tokio::spawn(async move {
                            let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                            let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                            if let Err(e) = connection.await {
                                tracing::debug!(error = %e, "connection closed");
                            }
                        });
                    }
                }
            }
            () = async {
                let _ = stop.wait_for(|s| *s).await;
            } => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The key server's state: its export key, store, file storage, crash
/// repair and index. It trusts the authority in this data directory (if
/// any) in addition to `--authority-key`.
async fn start_key_server(
    config: &Config,
    db: &Db,
    authority_keys: Option<&authority::keys::AuthorityKeys>,
    clock: &Clock,
) -> Result<Arc<AppState>, StartError> {
    let key = load_or_create_export_key(&config.data_dir)?;
    let store = Store::new(db.clone());
    let files = FsStore::new(config.data_dir.join("files"))
        .map_err(|e| StartError(format!("cannot create file storage: {e}")))?;
    let publisher = Arc::new(Publisher::new(
        store.clone(),
        Arc::new(files),
        key,
        config.region.clone(),
        config.min_batch_keys,
        config.export_interval,
    ));
    let restored = publisher.repair().await.map_err(|e| StartError(format!("repairing published files: {e}")))?;
    if restored > 0 {
        tracing::warn!(restored, "restored export batches sealed before a crash");
    }
    publisher.rebuild_index(clock()).await.map_err(|e| StartError(format!("building the index: {e}")))?;
    let mut trusted = config.authority_keys.clone();
    if let Some(keys) = authority_keys {
        // The authority in this data directory is trusted like --authority-key.
        trusted.push(keys.signing.verifying_key());
    }
    if trusted.is_empty() {
        tracing::warn!("no --authority-key given: uploads will be refused until one is configured");
    }
    let export = TrustedKeys::from_keys([publisher.verifying_key()]);
    let state = Arc::new(AppState {
        config: config.clone(),
        store,
        publisher,
        keyring: std::sync::RwLock::new(Keyring::new(export.clone(), TrustedKeys::from_keys(trusted))),
        key_set_file: std::sync::RwLock::new(None),
        metrics: Metrics::new(),
        latency: Default::default(),
        attempts: Attempts::default(),
        clock: clock.clone(),
    });
    // The key sets listed before a restart decide again (protocol §2.3).
    let index = Index::verify(&state.publisher.index().bytes, &export)
        .map_err(|e| StartError(format!("reading the index just built: {e}")))?;
    for entry in index.entries_after(FileKind::KeySet, 0) {
        let name = hex::encode(entry.sha256);
        match state.publisher.file(&name).await {
            Ok(Some(bytes)) => state.adopt_key_set(&bytes, clock()),
            Ok(None) => tracing::warn!(file = %name, "a listed key set is missing from storage"),
            Err(e) => return Err(StartError(format!("reading key set {name}: {e}"))),
        }
    }
    Ok(state)
}

/// The authority's [`KeyServer`] when the key server runs in this process:
/// the same rules as over HTTP, without the network.
struct InProcessKeyServer(Arc<AppState>);

impl KeyServer for InProcessKeyServer {
    fn publish<'a>(
        &'a self,
        kind: FileKind,
        sequence: u64,
        bytes: Vec<u8>,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<String, AuthorityError>> {
        Box::pin(async move {
            let bytes_for_adoption = if kind == FileKind::KeySet { bytes.clone() } else { Vec::new() };
            let (start, end) = listing_span(kind, now);
            match self.0.publisher.publish_file(kind, sequence, start, end, bytes, now).await {
                Ok(Listing::Listed(file) | Listing::AlreadyListed(file)) => {
                    if kind == FileKind::KeySet {
                        self.0.adopt_key_set(&bytes_for_adoption, now);
                    }
                    Ok(file.sha256)
                }
                Ok(Listing::Conflict) => Err(AuthorityError::new(
                    axum::http::StatusCode::CONFLICT,
                    "sequence_taken",
                    format!("the key server already lists another file with sequence {sequence}"),
                )),
                Err(e) => Err(AuthorityError::key_server(
                    "listing an authority file failed",
                    e,
                    "the key server could not store the file; nothing was published",
                )),
            }
        })
    }

    fn last_sequence(&self, kind: FileKind) -> BoxFuture<'_, u64> {
        Box::pin(async move { self.0.publisher.last_sequence(kind).await.unwrap_or(0) })
    }

    fn revealed<'a>(
        &'a self,
        since: u64,
        now: UnixTime,
        _signing: &'a SigningKey,
    ) -> BoxFuture<'a, Result<RevealedPage, AuthorityError>> {
        Box::pin(async move {
            greenlight_key_server::revealed::page(&self.0.store, since, now, self.0.config.reveal_delay_secs)
                .await
                .map_err(|e| AuthorityError::unavailable("reading revealed visits", e))
        })
    }
}

/// Which services a process serves, for its OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// The key server alone.
    KeyServer,
    /// The health authority alone.
    Authority,
    /// Both (the default deployment; the document committed as
    /// `spec/openapi.json`).
    Both,
}

/// The OpenAPI document of `services`, as pretty JSON.
pub fn openapi_document(services: Services) -> String {
    let mut doc = match services {
        Services::KeyServer => api::openapi_doc(),
        Services::Authority => authority::device::openapi_doc(),
        Services::Both => {
            let mut doc = api::openapi_doc().merge_from(authority::device::openapi_doc());
            doc.info.title = "Greenlight key server and health authority".to_owned();
            doc.info.description = Some(
                "Authorized uploads and signed, content-addressed export files (spec/protocol.md); upload codes \
                 exchanged for certificates (spec/authority.md). The staff portal under /portal is HTML and not \
                 described here."
                    .to_owned(),
            );
            doc
        }
    };
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut text = doc.to_pretty_json().expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

/// The OpenAPI document of both services (committed as `spec/openapi.json`).
pub fn openapi_json() -> String {
    openapi_document(Services::Both)
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
    if let Ok((pending, publishable)) = state.store.pending_keys(i64::try_from(state.now().0).unwrap_or(i64::MAX)).await
    {
        state.metrics.pending_keys.set(pending);
        // Every run is logged, so an operator sees that exports run and why
        // reported keys are not published yet.
        tracing::info!(
            waiting = pending,
            past_embargo = publishable,
            embargoed = pending - publishable,
            "export run: {} key(s) waiting, {} still under embargo",
            pending,
            pending - publishable
        );
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
