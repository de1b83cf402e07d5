//! A staff member's browser for the health authority's portal, reduced to
//! HTTP: reqwest's cookie jar keeps the session (and the login form's
//! cookie), forms are encoded by reqwest, redirects are not followed (the
//! caller sees each `303` and its `Location`), and the session's CSRF token
//! is read off every page behind the login and sent with every form.
//!
//! Every call returns a [`Result`]: [`PortalError`] says which step failed
//! and what the portal answered. The plain calls ([`Portal::get`],
//! [`Portal::post`], …) fail only when there is no answer; the domain
//! helpers ([`Portal::issue_code`], [`Portal::open_venue_case`], …) also fail
//! when the answer is not the one a working portal gives.

use greenlight_server::authority::portal::session::SESSION_COOKIE;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::{Client, Url, header, redirect};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// What precedes the CSRF token in every form of the portal.
const CSRF_FIELD: &str = "name=\"csrf\" value=\"";

/// How much of a page an error message quotes.
const EXCERPT: usize = 600;

/// The text between `start` and the next `end` after it, if any.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT).collect()
}

/// A page (or any answer) as the portal gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// Where a redirect points (the `Location` header).
    pub location: Option<String>,
    /// The body, as text.
    pub body: String,
}

impl Page {
    /// The text between `start` and the next `end` in the body.
    pub fn between(&self, start: &str, end: &str) -> Option<&str> {
        between(&self.body, start, end)
    }
}

/// Why a portal step failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PortalError {
    /// The portal's address is not an `http` or `https` URL.
    BadUrl {
        /// The address given.
        url: String,
    },
    /// No answer: the connection, a timeout, or reading the body failed.
    Http {
        /// The path asked for.
        path: String,
        /// What reqwest reported.
        source: reqwest::Error,
    },
    /// The portal answered, with another status than the step needs.
    Status {
        /// The path asked for.
        path: String,
        /// The status it answered.
        status: u16,
        /// The body it answered.
        body: String,
    },
    /// The portal refused to sign the staff member in.
    LoginRefused {
        /// The user name.
        username: String,
        /// The status of the answer to the login form.
        status: u16,
        /// The error the login page shows.
        message: String,
    },
    /// The page lacks what the step reads from it.
    Missing {
        /// The path asked for.
        path: String,
        /// What was looked for.
        what: &'static str,
        /// The body it answered.
        body: String,
    },
}

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortalError::BadUrl { url } => write!(f, "the portal's address {url:?} is not an http(s) URL"),
            PortalError::Http { path, source } => write!(f, "portal {path}: {source}"),
            PortalError::Status { path, status, body } => {
                write!(f, "portal {path}: HTTP {status}: {}", excerpt(body))
            }
            PortalError::LoginRefused { username, status, message } => {
                write!(f, "the portal refused to sign {username} in (HTTP {status}): {message}")
            }
            PortalError::Missing { path, what, body } => {
                write!(f, "portal {path}: the page shows no {what}: {}", excerpt(body))
            }
        }
    }
}

impl std::error::Error for PortalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PortalError::Http { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The kind of upload code staff issue: the authority's own type, whose
/// stable name is the form's value.
pub use greenlight_server::authority::codes::CodeKind;

/// A code as the portal showed it after issuing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    /// The code, as the patient types it.
    pub code: String,
    /// The reference staff use for it (to expire it, in the audit log).
    pub handle: String,
}

/// A staff member's browser session in the portal. Every method takes
/// `&self`: the cookie jar and the CSRF token are shared behind locks, so
/// one session can be used from several tasks.
pub struct Portal {
    base: String,
    portal_url: Url,
    http: Client,
    jar: Arc<Jar>,
    csrf: Mutex<String>,
}

impl fmt::Debug for Portal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portal").field("base", &self.base).finish_non_exhaustive()
    }
}

impl Portal {
    /// A browser with an empty cookie jar, for the portal of the server at
    /// `base` (`http://host:port`).
    pub fn new(base: &str) -> Result<Self, PortalError> {
        let base = base.trim_end_matches('/').to_owned();
        let bad = || PortalError::BadUrl { url: base.clone() };
        let url = Url::parse(&base).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad());
        }
        let portal_url = url.join("/portal/").map_err(|_| bad())?;
        let jar = Arc::new(Jar::default());
        let http = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(redirect::Policy::none())
            .build()
            .map_err(|source| PortalError::Http { path: String::new(), source })?;
        Ok(Portal { base, portal_url, http, jar, csrf: Mutex::new(String::new()) })
    }

    /// The server's address, as given (without a trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client with this session's cookie jar (it sends the
    /// session's cookies unless a request sets its own `Cookie` header),
    /// for requests the methods here do not make.
    pub fn http(&self) -> &Client {
        &self.http
    }

    /// The session's CSRF token, as last read off a page (empty before).
    pub fn csrf(&self) -> String {
        self.csrf.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The value of the portal cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.portal_url)?;
        header.to_str().ok()?.split("; ").find_map(|pair| match pair.split_once('=') {
            Some((n, value)) if n == name => Some(value.to_owned()),
            _ => None,
        })
    }

    /// Puts cookie `name` in the jar, as if the portal had set it.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.add_cookie_str(&format!("{name}={value}; Path=/portal"), &self.portal_url);
    }

    /// Whether the jar holds a session cookie.
    pub fn has_session(&self) -> bool {
        self.cookie(SESSION_COOKIE).is_some()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Reads the answer; keeps the CSRF token of a page behind the login.
    async fn finish(&self, path: &str, response: reqwest::Response) -> Result<Page, PortalError> {
        let status = response.status().as_u16();
        let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.text().await.map_err(|source| PortalError::Http { path: path.to_owned(), source })?;
        // The login form's token is the login cookie's, not the session's.
        if let Some(csrf) = between(&body, CSRF_FIELD, "\"")
            && !body.contains("action=\"/portal/login\"")
        {
            *self.csrf.lock().unwrap_or_else(PoisonError::into_inner) = csrf.to_owned();
        }
        Ok(Page { status, location, body })
    }

    /// `GET path`, whatever the status.
    pub async fn get(&self, path: &str) -> Result<Page, PortalError> {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(|source| PortalError::Http { path: path.to_owned(), source })?;
        self.finish(path, response).await
    }

    /// Posts a form exactly as given (no CSRF token added), whatever the
    /// status.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Result<Page, PortalError> {
        let response = self
            .http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .map_err(|source| PortalError::Http { path: path.to_owned(), source })?;
        self.finish(path, response).await
    }

    /// Posts a form with the session's CSRF token first, whatever the
    /// status.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Result<Page, PortalError> {
        let csrf = self.csrf();
        let mut all = Vec::with_capacity(fields.len() + 1);
        all.push(("csrf", csrf.as_str()));
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// A file the portal offers for download; any status but 2xx is an
    /// error.
    pub async fn download(&self, path: &str) -> Result<Vec<u8>, PortalError> {
        let http = |source| PortalError::Http { path: path.to_owned(), source };
        let response = self.http.get(self.url(path)).send().await.map_err(http)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(http)?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes).into_owned();
            return Err(PortalError::Status { path: path.to_owned(), status: status.as_u16(), body });
        }
        Ok(bytes.to_vec())
    }

    /// Logs in through the login form (and its cookie) and returns the
    /// answer to the login post, whatever it is. On success (`303`) the
    /// browser lands on the page it is sent to, which carries the
    /// session's CSRF token.
    pub async fn login(&self, username: &str, password: &str) -> Result<Page, PortalError> {
        const LOGIN: &str = "/portal/login";
        let form = self.get(LOGIN).await?;
        let token = form.between(CSRF_FIELD, "\"").map(str::to_owned).ok_or_else(|| PortalError::Missing {
            path: LOGIN.to_owned(),
            what: "login form token",
            body: form.body.clone(),
        })?;
        let answer = self.post_raw(LOGIN, &[("csrf", &token), ("username", username), ("password", password)]).await?;
        if answer.status == 303 {
            let Some(to) = answer.location.clone() else {
                return Err(PortalError::Missing { path: LOGIN.to_owned(), what: "redirect", body: answer.body });
            };
            self.get(&to).await?;
        }
        Ok(answer)
    }

    /// Signs in, or says why the portal refused.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<(), PortalError> {
        let answer = self.login(username, password).await?;
        if answer.status != 303 || !self.has_session() {
            let message = answer.between("role=\"alert\">", "<").unwrap_or("no session cookie").trim().to_owned();
            return Err(PortalError::LoginRefused { username: username.to_owned(), status: answer.status, message });
        }
        Ok(())
    }

    /// Posts a form and requires the status a working portal answers.
    async fn submit(&self, path: &str, fields: &[(&str, &str)], status: u16) -> Result<Page, PortalError> {
        let page = self.post(path, fields).await?;
        if page.status != status {
            return Err(PortalError::Status { path: path.to_owned(), status: page.status, body: page.body });
        }
        Ok(page)
    }

    /// Issues an upload code for a confirmed test (report type 1) taken on
    /// `test_date` (`YYYY-MM-DD`, day kind 2: the test date), and reads it
    /// and its reference off the page.
    pub async fn issue_code(&self, kind: CodeKind, test_date: &str) -> Result<IssuedCode, PortalError> {
        self.issue_code_dated(kind, false, test_date).await
    }

    /// [`Portal::issue_code`] with the date the symptom onset (day kind 1)
    /// when `symptom_onset`, else the test date.
    pub async fn issue_code_dated(
        &self,
        kind: CodeKind,
        symptom_onset: bool,
        date: &str,
    ) -> Result<IssuedCode, PortalError> {
        const CODES: &str = "/portal/codes";
        let day_kind = if symptom_onset { "1" } else { "2" };
        let form = [("kind", kind.as_str()), ("report_type", "1"), ("day_kind", day_kind), ("date", date)];
        // Issued, then redirected to the page that shows the code once.
        const ISSUED: &str = "/portal/codes/issued";
        let answer = self.post(CODES, &form).await?;
        if answer.status != 303 || answer.location.as_deref() != Some(ISSUED) {
            // A refusal, or a redirect to the login page.
            return Err(PortalError::Status { path: CODES.to_owned(), status: answer.status, body: answer.body });
        }
        let page = self.get(ISSUED).await?;
        let read = |what: &'static str, start: &str| {
            page.between(start, "<").map(str::to_owned).ok_or_else(|| PortalError::Missing {
                path: ISSUED.to_owned(),
                what,
                body: page.body.clone(),
            })
        };
        Ok(IssuedCode { code: read("code", "id=\"issued-code\">")?, handle: read("reference", "id=\"code-handle\">")? })
    }

    /// An admin fills in the colour-policy form with `params` (one minimum
    /// overlap per kind of venue), previews
    /// what it changes and confirms; the portal signs it and lists it in
    /// the index.
    pub async fn publish_policy(&self, params: &greenlight_protocol::policy::PolicyParams) -> Result<(), PortalError> {
        const POLICY: &str = "/portal/policy";
        let [t0, t1, t2] = params.attenuation_thresholds_db.map(|v| v.to_string());
        let [w0, w1, w2, w3] = params.bucket_weights_percent.map(|v| v.to_string());
        let venue_fields: Vec<(String, String)> = greenlight_protocol::venue::VenueKind::ALL
            .iter()
            .zip(params.min_venue_overlap_minutes.to_wire_order())
            .map(|(kind, minutes)| (format!("min_venue_overlap_{}", kind.as_str()), minutes.to_string()))
            .collect();
        let fields = [
            ("t0", t0),
            ("t1", t1),
            ("t2", t2),
            ("w0", w0),
            ("w1", w1),
            ("w2", w2),
            ("w3", w3),
            ("min_weighted_minutes", params.min_weighted_minutes_per_day.to_string()),
            ("min_transmission_risk", params.min_transmission_risk.to_string()),
            ("lookback_days", params.lookback_days.to_string()),
            ("yellow_days", params.yellow_days.to_string()),
            ("red_days", params.red_days.to_string()),
            ("stale_hours", params.stale_after_hours.to_string()),
        ];
        let mut fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(venue_fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        // The portal publishes only what was previewed: preview, then
        // confirm with the preview's tag.
        const PREVIEW: &str = "/portal/policy/preview";
        let preview = self.submit(PREVIEW, &fields, 200).await?;
        let confirm = preview.between("name=\"confirm\" value=\"", "\"").map(str::to_owned).ok_or_else(|| {
            PortalError::Missing {
                path: PREVIEW.to_owned(),
                what: "Sign and publish button",
                body: preview.body.clone(),
            }
        })?;
        fields.push(("confirm", &confirm));
        self.submit(POLICY, &fields, 303).await?;
        let page = self.get(POLICY).await?;
        if !page.body.contains("is signed and listed") {
            return Err(PortalError::Missing { path: POLICY.to_owned(), what: "signed policy", body: page.body });
        }
        Ok(())
    }

    /// A tracer opens a case for the venue whose public key is
    /// `venue_key_hex` (from the queue of revealed visits); returns the
    /// case page's path.
    pub async fn open_venue_case(&self, venue_key_hex: &str) -> Result<String, PortalError> {
        const OPEN: &str = "/portal/venues/open";
        let page = self.submit(OPEN, &[("venue", venue_key_hex)], 303).await?;
        page.location.ok_or(PortalError::Missing { path: OPEN.to_owned(), what: "case page", body: page.body })
    }

    /// A tracer signs the case's release request and downloads it for the
    /// venue's owner.
    pub async fn sign_release_request(&self, case: &str) -> Result<Vec<u8>, PortalError> {
        self.submit(&format!("{case}/request"), &[], 303).await?;
        self.download(&format!("{case}/request.bin")).await
    }

    /// The authority's key set, as a tracer downloads it for a venue owner
    /// next to a release request (protocol §2.3).
    pub async fn key_set(&self) -> Result<Vec<u8>, PortalError> {
        self.download("/portal/key-set.bin").await
    }

    /// A tracer publishes the case with the owner's release bundle (as
    /// text) and the message for its visitors; returns the trace batch's
    /// sequence number.
    pub async fn publish_case(&self, case: &str, bundle: &str, message: &str) -> Result<u64, PortalError> {
        let path = format!("{case}/publish");
        // Answered with a redirect to the case page, which says it once.
        self.submit(&path, &[("bundle", bundle), ("message", message)], 303).await?;
        let page = self.get(case).await?;
        page.between("Published: trace batch ", " ").and_then(|n| n.parse().ok()).ok_or(PortalError::Missing {
            path,
            what: "published trace batch",
            body: page.body,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The client against the real portal, in-process on SQLite.

    use super::*;
    use crate::server::{TestClock, TestServer};

    const PASSWORD: &str = "test kit staff password";
    /// Noon UTC of 2026-05-10.
    const T0: u64 = 20_583 * 86_400 + 12 * 3600;

    async fn server() -> TestServer {
        TestServer::builder()
            .clock(TestClock::at(T0))
            .authority("admin", PASSWORD)
            .start()
            .await
            .expect("the server starts")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logs_in_keeps_the_session_and_issues_a_code() {
        let server = server().await;
        let portal = Portal::new(&server.base).expect("client");
        assert!(!portal.has_session() && portal.csrf().is_empty());
        let answer = portal.login("admin", PASSWORD).await.expect("the portal answers");
        assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/portal")), "{}", answer.body);
        assert!(portal.has_session(), "the session cookie is in the jar");
        assert!(portal.cookie("__Host-gl_login").is_none(), "the login form's cookie is deleted");
        assert_eq!(portal.csrf().len(), 43, "the session's token, read off the page landed on");
        assert_eq!(portal.get("/portal").await.expect("home").status, 200);

        let issued = portal.issue_code(CodeKind::Short, "2026-05-09").await.expect("a code is issued");
        assert_eq!(issued.code.chars().filter(char::is_ascii_digit).count(), 8, "{issued:?}");
        assert!(!issued.handle.is_empty());
        let long = portal.issue_code(CodeKind::Long, "2026-05-09").await.expect("a long code");
        assert_ne!(long.code, issued.code);
        // The code works at the device endpoint.
        let verified = Client::new()
            .post(format!("{}/v1/verify", server.base))
            .json(&serde_json::json!({ "code": issued.code, "padding": "" }))
            .send()
            .await
            .expect("verify");
        assert_eq!(verified.status(), 200);

        // Staff expire the unused long code by its reference; the audit log
        // names it.
        let expired = portal.post("/portal/codes/expire", &[("handle", &long.handle)]).await.expect("expire");
        assert_eq!(expired.status, 303, "{}", expired.body);
        let audit = portal.get("/portal/audit").await.expect("audit");
        assert!(audit.body.contains("code expired") && audit.body.contains(&long.handle), "{}", audit.body);

        // The server's own convenience signs in the same way.
        let other = server.portal().await.expect("signed in");
        assert!(other.has_session());
        assert_ne!(other.cookie(SESSION_COOKIE), portal.cookie(SESSION_COOKIE), "a session of its own");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_csrf_token_changes_nothing_and_errors_say_why() {
        let server = server().await;
        let portal = server.portal().await.expect("signed in");
        let form = [("kind", "short"), ("report_type", "1"), ("day_kind", "2"), ("date", "2026-05-09")];
        let missing = portal.post_raw("/portal/codes", &form).await.expect("answers");
        assert_eq!(missing.status, 403);
        assert!(missing.body.contains("nothing was changed"), "{}", missing.body);
        let mut wrong = vec![("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")];
        wrong.extend_from_slice(&form);
        assert_eq!(portal.post_raw("/portal/codes", &wrong).await.expect("answers").status, 403);
        let codes = server.authority_state().expect("authority").store.recent_codes(10).await.expect("db");
        assert!(codes.is_empty(), "no code was issued");

        // A made-up session gets a domain step sent to the login page: an
        // error, with the status.
        let stranger = Portal::new(&server.base).expect("client");
        stranger.set_cookie(SESSION_COOKIE, "not-a-session");
        assert_eq!(stranger.cookie(SESSION_COOKIE).as_deref(), Some("not-a-session"));
        let refused = stranger.issue_code(CodeKind::Short, "2026-05-09").await.expect_err("refused");
        assert!(matches!(refused, PortalError::Status { status: 303, .. }), "{refused:?}");
        assert!(refused.to_string().starts_with("portal /portal/codes: HTTP 303"), "{refused}");

        // A wrong password is an error naming the account and the reason.
        let wrong = Portal::new(&server.base).expect("client");
        let error = wrong.sign_in("admin", "not the password").await.expect_err("refused");
        assert!(matches!(&error, PortalError::LoginRefused { status: 401, .. }), "{error:?}");
        assert!(error.to_string().contains("Wrong user name or password"), "{error}");
        assert!(!wrong.has_session());

        // Downloads need success; nothing answering is an error too.
        let error = portal.download("/portal/policy/99").await.expect_err("no such policy");
        assert!(matches!(error, PortalError::Status { status: 404, .. }), "{error:?}");
        assert!(matches!(Portal::new("ftp://example.invalid"), Err(PortalError::BadUrl { .. })));
        let gone = Portal::new("http://127.0.0.1:1").expect("client");
        assert!(matches!(gone.get("/portal").await, Err(PortalError::Http { .. })));

        // With its token the same form works.
        assert_eq!(portal.post("/portal/codes", &form).await.expect("answers").status, 303);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logging_out_empties_the_jar() {
        let server = server().await;
        let portal = server.portal().await.expect("signed in");
        let out = portal.post("/portal/logout", &[]).await.expect("logout");
        assert_eq!(out.location.as_deref(), Some("/portal/login"));
        assert!(!portal.has_session(), "Max-Age=0 removes the cookie");
        let again = portal.get("/portal").await.expect("answers");
        assert_eq!(again.status, 303, "signed out");
    }
}
