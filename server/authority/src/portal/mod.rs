//! The staff portal: server-rendered pages (askama templates in
//! `server/authority/templates/`) under `/portal`, for logging in, managing staff,
//! issuing upload codes, venue alerts, the color policy, the audit log and
//! statistics.
//!
//! Pages need no JavaScript (one optional inline script reads a release
//! bundle file into its text box) and load nothing from elsewhere: the CSS
//! is inline and the Content-Security-Policy forbids every other source.
//! Every state-changing request is a POST form checked by [`session::StaffForm`]
//! (session and CSRF token) — there is no other way to write. The forms
//! that create or publish (staff, upload codes, policies) are answered
//! with a redirect (303) to a page, so that reloading the page never posts
//! the form again; what that page says once (a notice, a one-time
//! password, the issued code) waits in [`flash::Flashes`].

pub mod audit;
pub mod auth;
pub mod codes;
pub mod flash;
pub mod policy;
pub mod session;
pub mod staff;
pub mod venues;

use crate::AuthorityState;
use crate::accounts::{Role, RoleSet};
use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use greenlight_protocol::time::UnixTime;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

pub use session::{Staff, StaffForm};

/// The one inline script: reads a chosen release-bundle file into the text
/// box as base64url. Allowed by its hash in the Content-Security-Policy.
pub const BUNDLE_FILE_SCRIPT: &str = "document.querySelectorAll('input[data-fill]').forEach(function(i){i.addEventListener('change',function(){var f=i.files[0];if(!f)return;f.arrayBuffer().then(function(b){var s='';new Uint8Array(b).forEach(function(x){s+=String.fromCharCode(x)});var t=s.slice(0,8)==='GL_RELSE'?btoa(s).replace(/\\+/g,'-').replace(/\\//g,'_').replace(/=+$/,''):s.trim();document.getElementById(i.dataset.fill).value=t;});});});";

fn content_security_policy() -> &'static HeaderValue {
    static CSP: OnceLock<HeaderValue> = OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(BUNDLE_FILE_SCRIPT.as_bytes()));
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{hash}'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
    })
}

/// One navigation link.
#[derive(Debug, Clone)]
pub struct NavLink {
    /// Where.
    pub href: &'static str,
    /// Its text.
    pub label: &'static str,
    /// Whether it is the current page.
    pub current: bool,
}

/// What every page shows around its content.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The page's title.
    pub title: String,
    /// The logged-in staff member's name (empty when logged out).
    pub username: String,
    /// Their CSRF token, for the logout form.
    pub csrf: String,
    /// Navigation, by role.
    pub nav: Vec<NavLink>,
    /// A confirmation to show.
    pub notice: String,
    /// An error to show.
    pub error: String,
}

impl Page {
    /// A page for a logged-in staff member; `here` marks the current link.
    pub fn for_staff(staff: &Staff, title: &str, here: &str) -> Self {
        Page {
            title: title.to_owned(),
            username: staff.username.clone(),
            csrf: staff.csrf.clone(),
            nav: nav(staff.roles, here),
            ..Default::default()
        }
    }

    /// A page for someone not logged in.
    pub fn public(title: &str) -> Self {
        Page { title: title.to_owned(), ..Default::default() }
    }

    /// With a notice.
    pub fn notice(mut self, text: impl Into<String>) -> Self {
        self.notice = text.into();
        self
    }

    /// With an error.
    pub fn error(mut self, text: impl Into<String>) -> Self {
        self.error = text.into();
        self
    }
}

fn nav(roles: RoleSet, here: &str) -> Vec<NavLink> {
    let mut links = vec![("/portal", "Home", None)];
    links.push(("/portal/codes", "Upload codes", Some(Role::Issuer)));
    links.push(("/portal/venues", "Venue alerts", Some(Role::Tracer)));
    links.push(("/portal/policy", "Color policy", Some(Role::Admin)));
    links.push(("/portal/staff", "Staff", Some(Role::Admin)));
    links.push(("/portal/audit", "Audit log", Some(Role::Auditor)));
    links.push(("/portal/stats", "Statistics", Some(Role::Auditor)));
    links.push(("/portal/password", "Password", None));
    links
        .into_iter()
        .filter(|(_, _, role)| role.is_none_or(|r| roles.has(r)))
        .map(|(href, label, _)| NavLink { href, label, current: href == here })
        .collect()
}

/// Renders a template as a page with the portal's headers.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a portal page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered\n").into_response()
        }
    }
}

/// A page that only says something went wrong.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Frame.
    pub page: Page,
    /// What to say.
    pub message: String,
    /// Where to go next.
    pub back: String,
}

/// A full page saying `message`, with a link back.
pub fn message(status: StatusCode, page: Page, message: impl Into<String>, back: &str) -> Response {
    render(status, &MessagePage { page, message: message.into(), back: back.to_owned() })
}

/// The answer when the database fails: logged, and a clean message page
/// ([`AuthorityError::unavailable`](crate::error::AuthorityError::unavailable)).
pub fn unavailable(e: impl std::fmt::Display) -> Response {
    crate::error::AuthorityError::unavailable("portal: database error", e).into_response()
}

/// A time for people, UTC to the minute.
pub fn when(t: i64) -> String {
    format!("{} UTC", UnixTime(u64::try_from(t).unwrap_or(0)).iso_minute())
}

/// Parses `YYYY-MM-DD` into a UTC day number.
pub fn parse_date(text: &str) -> Option<u32> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's `days_from_civil`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let day = u32::try_from(days).ok()?;
    // Reject dates like 2026-02-31 by formatting back.
    (greenlight_protocol::time::DayNumber(day).iso_date().to_string() == text.trim()).then_some(day)
}

async fn security_headers(response: Response) -> Response {
    let mut response = response;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, content_security_policy().clone());
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The portal's routes.
pub fn router(state: Arc<AuthorityState>) -> Router {
    Router::new()
        .route("/portal", get(auth::home))
        .route("/portal/", get(|| async { Redirect::to("/portal") }))
        .route("/portal/login", get(auth::login_page).post(auth::login))
        .route("/portal/logout", post(auth::logout))
        .route("/portal/password", get(auth::password_page).post(auth::change_password))
        .route("/portal/staff", get(staff::page).post(staff::create))
        .route("/portal/staff/roles", post(staff::set_roles))
        .route("/portal/staff/status", post(staff::set_status))
        .route("/portal/staff/reset", post(staff::reset_password))
        .route("/portal/codes", get(codes::page).post(codes::issue))
        .route("/portal/codes/issued", get(codes::issued))
        .route("/portal/codes/expire", post(codes::expire))
        .route("/portal/venues", get(venues::page))
        .route("/portal/venues/open", post(venues::open_case))
        .route("/portal/venues/dismiss", post(venues::dismiss))
        .route("/portal/venues/paper", get(venues::paper_page).post(venues::paper_case))
        .route("/portal/venues/cases/{id}", get(venues::case_page))
        .route("/portal/venues/cases/{id}/request", post(venues::sign_request))
        .route("/portal/venues/cases/{id}/request.bin", get(venues::download_request))
        .route("/portal/key-set.bin", get(venues::download_key_set))
        .route("/portal/venues/cases/{id}/publish", post(venues::publish))
        .route("/portal/policy", get(policy::page).post(policy::publish))
        .route("/portal/policy/preview", post(policy::preview))
        .route("/portal/policy/{sequence}", get(policy::download))
        .route("/portal/audit", get(audit::audit_page))
        .route("/portal/stats", get(audit::stats_page))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_day_numbers_and_bad_ones_are_refused() {
        assert_eq!(parse_date("2026-05-10"), Some(20_583));
        assert_eq!(parse_date("1970-01-01"), Some(0));
        for bad in ["2026-02-31", "2026-13-01", "yesterday", "", "2026-5-10"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
