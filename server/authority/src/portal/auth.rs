//! Logging in and out, changing one's password, and the home page.
//!
//! The login form is protected against cross-site posting by a
//! double-submit cookie (there is no session yet): the page sets a
//! `__Host-gl_login` cookie and puts the same value in the form, and a login
//! whose two values differ is refused. The value is a random nonce and an
//! expiry under an HMAC with a server secret, so a pair an attacker makes up
//! (`x` and `x`) is refused too. Wrong passwords count against the account;
//! after [`MAX_LOGIN_FAILURES`] it is locked for [`LOCK_SECS`]. The answer
//! to a wrong name and a wrong password is the same, and takes as long.
//!
//! Both cookies are `Secure`, which browsers keep only over HTTPS or on the
//! machine itself: over plain HTTP from another computer no login can
//! work, so the login page says so, and what to do, before anyone tries
//! ([`insecure_transport`]).

use crate::AuthorityState;
use crate::accounts::{self, DUMMY_HASH, LOCK_SECS, MAX_LOGIN_FAILURES, SESSION_MAX_SECS, token_hash, tokens_match};
use crate::portal::session::{LOGIN_COOKIE, SESSION_COOKIE, cookie, set_cookie, set_login_cookie};
use crate::portal::{Page, Staff, StaffForm, render, unavailable};
use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use greenlight_service::request::Connection;
use rand_core::Rng as _;
use serde::Deserialize;
use std::sync::Arc;

/// What the login page says when it is reached over plain HTTP from
/// another computer.
pub const INSECURE_LOGIN: &str = "This portal is served over plain HTTP to another computer, so your browser will \
     refuse its login cookie and logging in will fail. Ask the operator to serve the portal over HTTPS \
     (greenlight-server --tls-cert FILE --tls-key FILE, or an HTTPS proxy in front).";

/// Whether a login over this connection cannot work: plain HTTP from
/// another computer, where browsers drop the portal's `Secure` cookies. A
/// proxy in front that says which scheme it received
/// (`X-Forwarded-Proto`) is believed: this only decides a warning.
pub fn insecure_transport(connection: Option<&Connection>, headers: &HeaderMap) -> bool {
    if let Some(proto) = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
        return !proto.trim().eq_ignore_ascii_case("https");
    }
    connection.is_some_and(|c| !c.tls && !c.peer.ip().to_canonical().is_loopback())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    login_token: String,
    username: String,
}

/// Query of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Set when a session ended.
    #[serde(default)]
    ended: Option<String>,
}

/// How long a login form may be posted after it was shown.
const LOGIN_FORM_SECS: i64 = 3600;

/// A login form's token: 16 random bytes and the expiry (big-endian
/// seconds), then their HMAC under the server's secret; base64url.
fn login_token(state: &AuthorityState) -> String {
    let mut body = [0u8; 24];
    rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut body[..16]);
    body[16..].copy_from_slice(&(state.now_i64() + LOGIN_FORM_SECS).to_be_bytes());
    let tag = state.keys.code.login_form_tag(&body);
    let mut token = body.to_vec();
    token.extend_from_slice(&tag);
    greenlight_protocol::codec::to_base64url(&token)
}

/// Whether `token` is one this server made and has not expired.
fn login_token_valid(state: &AuthorityState, token: &str) -> bool {
    let Ok(bytes) = greenlight_protocol::codec::from_base64url(token) else {
        return false;
    };
    let Some((body, tag)) = bytes.split_at_checked(24) else {
        return false;
    };
    let expected = state.keys.code.login_form_tag(body);
    let expires = i64::from_be_bytes(body[16..24].try_into().expect("8 bytes"));
    tag.len() == 32 && bool::from(subtle::ConstantTimeEq::ct_eq(tag, &expected[..])) && state.now_i64() < expires
}

fn login_form(state: &AuthorityState, page: Page, username: &str, status: StatusCode) -> Response {
    let token = login_token(state);
    let mut response = render(status, &LoginPage { page, login_token: token.clone(), username: username.to_owned() });
    if let Ok(value) = set_login_cookie(&token, LOGIN_FORM_SECS).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /portal/login`
pub async fn login_page(
    State(state): State<Arc<AuthorityState>>,
    connection: Option<Extension<Connection>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let mut page = Page::public("Log in");
    if query.ended.is_some() {
        page = page.notice("Your session has ended. Log in again to continue.");
    }
    if insecure_transport(connection.as_deref(), &headers) {
        page = page.error(INSECURE_LOGIN);
    }
    login_form(&state, page, "", StatusCode::OK)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /portal/login`
pub async fn login(
    State(state): State<Arc<AuthorityState>>,
    connection: Option<Extension<Connection>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !tokens_match(&expected, &form.csrf) || !login_token_valid(&state, &form.csrf) {
        tracing::warn!("portal: a login without its form cookie was refused");
        let message = if expected.is_empty() && insecure_transport(connection.as_deref(), &headers) {
            INSECURE_LOGIN
        } else {
            "The login form expired or did not come from this portal. Try again."
        };
        let page = Page::public("Log in").error(message);
        return login_form(&state, page, &form.username, StatusCode::FORBIDDEN);
    }
    let now = state.now_i64();
    let username = form.username.trim().to_lowercase();
    let account = match state.store.staff_by_name(&username).await {
        Ok(account) => account,
        Err(e) => return unavailable(e),
    };
    let refuse = |state: &AuthorityState, message: &str| {
        login_form(state, Page::public("Log in").error(message), &username, StatusCode::UNAUTHORIZED)
    };
    let Some(account) = account else {
        let _ = accounts::verify_password(&form.password, DUMMY_HASH).await;
        let _ = state.store.audit(now, None, &username_for_log(&username), "login_failed", "unknown account").await;
        return refuse(&state, "Wrong user name or password.");
    };
    if account.disabled {
        let _ = accounts::verify_password(&form.password, DUMMY_HASH).await;
        let _ = state.store.audit(now, Some(account.id), &account.username, "login_failed", "account disabled").await;
        return refuse(&state, "Wrong user name or password.");
    }
    if account.locked_until > now {
        let _ = state.store.audit(now, Some(account.id), &account.username, "login_failed", "account locked").await;
        return refuse(&state, "Too many wrong passwords: this account is locked for 15 minutes.");
    }
    if !accounts::verify_password(&form.password, &account.password_hash).await {
        if let Err(e) = state.store.login_failed(account.id, MAX_LOGIN_FAILURES, now + LOCK_SECS).await {
            return unavailable(e);
        }
        let _ = state.store.audit(now, Some(account.id), &account.username, "login_failed", "wrong password").await;
        return refuse(&state, "Wrong user name or password.");
    }
    let token = accounts::new_token();
    if let Err(e) = state.store.create_session(&token_hash(&token), account.id, now, now + SESSION_MAX_SECS).await {
        return unavailable(e);
    }
    if let Err(e) = state.store.audit(now, Some(account.id), &account.username, "login", "").await {
        return unavailable(e);
    }
    let mut response =
        Redirect::to(if account.must_change_password { "/portal/password" } else { "/portal" }).into_response();
    let cookies = [set_cookie(SESSION_COOKIE, &token, SESSION_MAX_SECS, state.secure_cookies), set_login_cookie("", 0)];
    for value in cookies {
        if let Ok(value) = value.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// What the audit log records of a name typed at a failed login: only
/// well-formed user names, since people sometimes type a password there.
fn username_for_log(typed: &str) -> String {
    if accounts::check_username(typed).is_ok() && typed.len() <= 32 { typed.to_owned() } else { "?".to_owned() }
}

/// The logout form (only the CSRF token).
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /portal/logout`
pub async fn logout(State(state): State<Arc<AuthorityState>>, form: StaffForm<Empty>) -> Response {
    let staff = form.staff;
    if let Err(e) = state.store.delete_session(&staff.session_hash).await {
        return unavailable(e);
    }
    let _ = state.store.audit(state.now_i64(), Some(staff.id), &staff.username, "logout", "").await;
    let mut response = Redirect::to("/portal/login").into_response();
    if let Ok(value) = set_cookie(SESSION_COOKIE, "", 0, state.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Page,
    roles: String,
}

/// `GET /portal`
pub async fn home(staff: Staff) -> Response {
    let roles = staff.roles.roles().iter().map(|r| format!("{} ({})", r.as_str(), r.describe())).collect::<Vec<_>>();
    let roles = if roles.is_empty() { "none".to_owned() } else { roles.join(", ") };
    render(StatusCode::OK, &HomePage { page: Page::for_staff(&staff, "Health authority portal", "/portal"), roles })
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    page: Page,
    must_change: bool,
}

/// `GET /portal/password`
pub async fn password_page(staff: Staff) -> Response {
    let page = Page::for_staff(&staff, "Change your password", "/portal/password");
    render(StatusCode::OK, &PasswordPage { page, must_change: staff.must_change_password })
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

/// `POST /portal/password`: checks the current password, sets the new one
/// and ends every session of the account (so a stolen session dies too);
/// this one is replaced by a fresh session.
pub async fn change_password(State(state): State<Arc<AuthorityState>>, form: StaffForm<PasswordForm>) -> Response {
    let StaffForm { staff, form } = form;
    let again = |message: &str| {
        let page = Page::for_staff(&staff, "Change your password", "/portal/password").error(message);
        render(StatusCode::BAD_REQUEST, &PasswordPage { page, must_change: staff.must_change_password })
    };
    let account = match state.store.staff_by_id(staff.id).await {
        Ok(Some(account)) => account,
        Ok(None) => return Redirect::to("/portal/login").into_response(),
        Err(e) => return unavailable(e),
    };
    if !accounts::verify_password(&form.current, &account.password_hash).await {
        return again("The current password is wrong.");
    }
    if let Err(message) = accounts::check_password(&form.new) {
        return again(&format!("The new password is too weak: {message}."));
    }
    if form.new != form.repeat {
        return again("The two new passwords differ.");
    }
    if form.new == form.current {
        return again("The new password must differ from the current one.");
    }
    let hash = match accounts::hash_password(&form.new).await {
        Ok(hash) => hash,
        Err(e) => return unavailable(e),
    };
    let now = state.now_i64();
    if let Err(e) = state.store.set_password(staff.id, &hash, false).await {
        return unavailable(e);
    }
    let token = accounts::new_token();
    if let Err(e) = state.store.create_session(&token_hash(&token), staff.id, now, now + SESSION_MAX_SECS).await {
        return unavailable(e);
    }
    let _ = state.store.audit(now, Some(staff.id), &staff.username, "password_changed", "own password").await;
    let mut response = Redirect::to("/portal").into_response();
    if let Ok(value) = set_cookie(SESSION_COOKIE, &token, SESSION_MAX_SECS, state.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_from_another_computer_is_warned_about() {
        let at = |peer: &str, tls: bool| Connection { peer: peer.parse().expect("address"), tls };
        let none = HeaderMap::new();
        assert!(insecure_transport(Some(&at("192.0.2.7:5000", false)), &none));
        assert!(!insecure_transport(Some(&at("192.0.2.7:5000", true)), &none), "HTTPS");
        assert!(!insecure_transport(Some(&at("127.0.0.1:5000", false)), &none), "this machine");
        assert!(!insecure_transport(Some(&at("[::ffff:127.0.0.1]:5000", false)), &none), "this machine, IPv6 socket");
        assert!(!insecure_transport(None, &none), "no connection known");
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", "https".parse().expect("value"));
        assert!(!insecure_transport(Some(&at("192.0.2.9:443", false)), &proxied), "an HTTPS proxy in front");
        proxied.insert("x-forwarded-proto", "http".parse().expect("value"));
        assert!(insecure_transport(Some(&at("127.0.0.1:5000", false)), &proxied), "a plain HTTP proxy in front");
    }
}
