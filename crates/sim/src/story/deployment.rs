//! The real deployment the walkthrough's residents live with: the combined
//! `greenlight-server` (key server, health authority and staff portal)
//! in-process on loopback through the test kit, on a fresh SQLite database,
//! with a clock the story moves. Staff work through the portal's pages
//! ([`Portal`]); phones call the device API with the JSON bodies of
//! `greenlight-api`, padded as the client pads them; everyone fetches the
//! signed index and files over HTTP.

use crate::error::{During, SimError};
use greenlight_api::device::{CertificateRequest, CertificateResponse, Verified, VerifyRequest, VerifyResponse};
use greenlight_api::padding::{PUBLISH_REQUEST_SIZE, SMALL_REQUEST_SIZE, padded};
use greenlight_api::publish::{PublishRequest, PublishResponse};
use greenlight_phone::Trust;
use greenlight_protocol::export::Region;
use greenlight_protocol::index::IndexEntry;
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_server::key_server::publisher::Sealed;
use greenlight_testkit::{CodeKind, LoopbackConfig, Portal, TestClock, TestServer, between};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The first admin of the throw-away authority, holding every role.
const STAFF: &str = "admin";
const STAFF_PASSWORD: &str = "walkthrough staff password";

/// A venue case a tracer opened, with the release request for its owner.
pub(crate) struct OpenCase {
    /// The case's page in the portal.
    pub(crate) path: String,
    /// The signed release request, as downloaded for the owner.
    pub(crate) request: Vec<u8>,
    /// The authority's key set, downloaded with it.
    pub(crate) key_set: Vec<u8>,
}

/// A refusal by the server, as a phone reads it.
pub(crate) struct Refusal {
    /// The HTTP status.
    pub(crate) http: u16,
    /// The error code of the body.
    pub(crate) code: String,
}

/// The running server and the phones' HTTP client.
pub(crate) struct Deployment {
    server: TestServer,
    http: reqwest::Client,
    /// What every phone trusts: the key server's export key, the
    /// authority's signing key.
    pub(crate) trust: Trust,
    /// The authority's public keys, as venue owners set up their tool.
    pub(crate) authority: greenlight_venue::AuthorityKeys,
    /// The export batch padding's floor, from the server's configuration.
    pub(crate) min_batch_keys: usize,
    /// The embargo after a key's day ends, seconds.
    pub(crate) embargo_secs: u64,
}

impl Deployment {
    /// Runs `authority init` and starts the combined server for `region`
    /// with its clock at `now`; signs the staff member in.
    pub(crate) async fn start(region: &str, now: UnixTime) -> Result<Self, SimError> {
        let step = "starting the server";
        let loopback = LoopbackConfig::default().region(Region::new(region).during(step)?);
        let server = TestServer::builder()
            .clock(TestClock::at(now.0))
            .authority(STAFF, STAFF_PASSWORD)
            .loopback(loopback)
            .start()
            .await
            .during(step)?;
        let keys = server.authority_keys().ok_or_else(|| SimError::story(step, "no health authority"))?;
        let export = server.export_key().during(step)?;
        let trust =
            Trust { export: TrustedKeys::from_keys([export]), authority: TrustedKeys::from_keys([keys.signing]) };
        let authority = greenlight_venue::AuthorityKeys::new(keys.signing.to_bytes(), keys.trace).during(step)?;
        let http = reqwest::Client::new();
        let min_batch_keys = server.config().min_batch_keys;
        let embargo_secs = server.config().embargo;
        Ok(Deployment { server, http, trust, authority, min_batch_keys, embargo_secs })
    }

    /// A staff member signs in to the portal (a session lasts at most 12
    /// hours and ends after 30 idle minutes, so each task starts with one).
    pub(crate) async fn staff(&self) -> Result<Portal, SimError> {
        self.server.portal().await.during("a staff member signs in to the portal")
    }

    /// Moves the server's clock.
    pub(crate) fn set_now(&self, now: UnixTime) {
        self.server.clock.set(now.0);
    }

    /// An admin fills in the portal's policy form with `policy`'s values;
    /// the portal signs it and lists it in the index.
    pub(crate) async fn publish_policy(&self, policy: &ColorPolicy) -> Result<(), SimError> {
        let step = "an admin publishes the color policy";
        self.staff().await?.publish_policy(policy.params()).await.during(step)
    }

    /// Staff issue a short upload code for a confirmed test taken on
    /// `test_day`, reading it off the portal's page.
    pub(crate) async fn issue_code(&self, test_day: DayNumber) -> Result<String, SimError> {
        let date = test_day.iso_date().to_string();
        Ok(self.staff().await?.issue_code(CodeKind::Short, &date).await.during("staff issue an upload code")?.code)
    }

    /// Posts `body` padded to `size`; the answer parsed, or the refusal.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        size: usize,
    ) -> Result<Result<T, Refusal>, SimError> {
        let step = format!("POST {path}");
        let response = self
            .http
            .post(format!("{}{path}", self.server.base))
            .header("content-type", "application/json")
            .body(padded(body, size))
            .send()
            .await
            .during(&step)?;
        let status = response.status();
        let text = response.text().await.during(&step)?;
        if !status.is_success() {
            let refusal: greenlight_api::Status = serde_json::from_str(&text).during(&step)?;
            return Ok(Err(Refusal { http: status.as_u16(), code: refusal.status }));
        }
        Ok(Ok(serde_json::from_str(&text).during(&step)?))
    }

    /// `POST /v1/verify`: the upload code for a token and what it certifies.
    pub(crate) async fn verify(&self, code: &str) -> Result<Verified, SimError> {
        let step = "the phone exchanges the upload code";
        let answer: VerifyResponse = self
            .post("/v1/verify", &VerifyRequest::new(code), SMALL_REQUEST_SIZE)
            .await?
            .map_err(|r| SimError::story(step, format!("refused: HTTP {} {}", r.http, r.code)))?;
        answer.verified().during(step)
    }

    /// `POST /v1/certificate`: the token and the upload's HMAC for a
    /// certificate, in its text form.
    pub(crate) async fn certify(&self, token: &str, hmac: &[u8; 32]) -> Result<String, SimError> {
        let step = "the authority certifies the upload's HMAC";
        let answer: CertificateResponse = self
            .post("/v1/certificate", &CertificateRequest::new(token, hmac), SMALL_REQUEST_SIZE)
            .await?
            .map_err(|r| SimError::story(step, format!("refused: HTTP {} {}", r.http, r.code)))?;
        answer.certificate.ok_or_else(|| SimError::story(step, "the answer has no certificate"))
    }

    /// `POST /v1/publish`: `Ok(())` when accepted, else the refusal.
    pub(crate) async fn publish(&self, request: &PublishRequest) -> Result<Result<PublishResponse, Refusal>, SimError> {
        self.post("/v1/publish", request, PUBLISH_REQUEST_SIZE).await
    }

    /// The venue keys (hex) the `tracer`'s queue of revealed visits lists.
    pub(crate) async fn venue_queue(tracer: &Portal) -> Result<Vec<String>, SimError> {
        let step = "a tracer opens the queue of revealed visits";
        let queue = tracer.get("/portal/venues").await.during(step)?;
        if queue.status != 200 {
            return Err(SimError::story(step, format!("HTTP {}", queue.status)));
        }
        let mut venues: Vec<String> = Vec::new();
        let mut rest = queue.body.as_str();
        while let Some(key) = between(rest, "name=\"venue\" value=\"", "\"") {
            if !venues.iter().any(|v| v == key) {
                venues.push(key.to_owned());
            }
            rest = &rest[rest.find(key).map_or(rest.len(), |i| i + key.len())..];
        }
        Ok(venues)
    }

    /// A tracer opens the case of the venue `venue_hex`, signs its release
    /// request and downloads it for the owner.
    pub(crate) async fn open_case(tracer: &Portal, venue_hex: &str) -> Result<OpenCase, SimError> {
        let path = tracer.open_venue_case(venue_hex).await.during("a tracer opens a venue case")?;
        let request = tracer.sign_release_request(&path).await.during("a tracer signs the release request")?;
        let key_set = tracer.key_set().await.during("a tracer downloads the authority's key set")?;
        Ok(OpenCase { path, request, key_set })
    }

    /// The tracer publishes the case with the owner's release bundle and
    /// the message for its visitors; returns the trace batch's sequence.
    pub(crate) async fn publish_case(
        tracer: &Portal,
        case: &OpenCase,
        bundle: &[u8],
        message: &str,
    ) -> Result<u64, SimError> {
        let text = greenlight_protocol::codec::to_base64url(bundle);
        tracer.publish_case(&case.path, &text, message).await.during("the tracer publishes the trace")
    }

    /// The key server's export run (hourly in production) at the clock's
    /// time.
    pub(crate) async fn seal(&self) -> Result<Option<Sealed>, SimError> {
        self.server.seal().await.during("the key server's export run")
    }

    async fn get(&self, path: &str, step: &str) -> Result<(Vec<u8>, Option<Vec<u8>>), SimError> {
        let response = self.http.get(format!("{}{path}", self.server.base)).send().await.during(step)?;
        if !response.status().is_success() {
            return Err(SimError::story(step, format!("HTTP {}", response.status())));
        }
        let etag = response.headers().get("etag").map(|v| v.as_bytes().to_vec());
        Ok((response.bytes().await.during(step)?.to_vec(), etag))
    }

    /// `GET /v1/index`: the signed index and its ETag.
    pub(crate) async fn index(&self) -> Result<(Vec<u8>, Option<Vec<u8>>), SimError> {
        self.get("/v1/index", "fetching the index").await
    }

    /// `GET /v1/files/…`: the file an index entry names.
    pub(crate) async fn file(&self, entry: &IndexEntry) -> Result<Vec<u8>, SimError> {
        let path = format!("/v1/files/{}", hex::encode(entry.sha256));
        Ok(self.get(&path, "fetching a listed file").await?.0)
    }

    /// Stops the server; its directory and database go with it.
    pub(crate) async fn stop(self) {
        self.server.shutdown().await;
    }
}
