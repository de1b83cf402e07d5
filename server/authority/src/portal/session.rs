//! Who is asking: the session cookie turned into a [`Staff`] member, and
//! [`StaffForm`], the only way a portal handler receives a form — it checks
//! the session and the form's CSRF token before the handler runs.

use crate::AuthorityState;
use crate::accounts::{Role, RoleSet, SESSION_IDLE_SECS, csrf_token, token_hash, tokens_match};
use crate::portal::{Page, message};
use axum::body::{Body, Bytes};
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The login form's `Set-Cookie` value, as a `__Host-` cookie must be:
/// `Secure` (browsers and cookie stores treat loopback as secure, so this
/// works over plain HTTP on 127.0.0.1 too), `Path=/`, no domain.
pub fn set_login_cookie(value: &str, max_age: i64) -> String {
    format!("{LOGIN_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict; Secure")
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gl_session";
/// The login form's double-submit cookie. `__Host-`: browsers keep it only
/// when it is `Secure`, for the whole host (`Path=/`) and names no domain,
/// so a neighbouring subdomain cannot plant one (issue 19 item 11).
pub const LOGIN_COOKIE: &str = "__Host-gl_login";

/// The value of cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/portal`,
/// `Secure` when asked; `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/portal; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// A logged-in staff member, from a live session.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Account id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Roles.
    pub roles: RoleSet,
    /// The CSRF token of this session.
    pub csrf: String,
    /// The session's stored hash (for logout).
    pub session_hash: [u8; 32],
    /// The password must be changed before anything else.
    pub must_change_password: bool,
}

impl Staff {
    /// `Ok` if the member holds `role`, else the page saying they do not.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, role: Role) -> Result<(), Response> {
        if self.roles.has(role) {
            return Ok(());
        }
        Err(message(
            StatusCode::FORBIDDEN,
            Page::for_staff(self, "Not allowed", ""),
            format!(
                "Your account does not have the {} role ({}). Ask an admin if you need it.",
                role.as_str(),
                role.describe()
            ),
            "/portal",
        ))
    }
}

fn to_login(ended: bool) -> Response {
    Redirect::to(if ended { "/portal/login?ended=1" } else { "/portal/login" }).into_response()
}

impl FromRequestParts<Arc<AuthorityState>> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AuthorityState>) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(false));
        };
        let hash = token_hash(&token);
        let session = match state.store.session(&hash).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(to_login(true)),
            Err(e) => return Err(super::unavailable(e)),
        };
        let now = state.now_i64();
        if now >= session.expires_at || now - session.last_seen >= SESSION_IDLE_SECS || session.staff.disabled {
            if let Err(e) = state.store.delete_session(&hash).await {
                return Err(super::unavailable(e));
            }
            return Err(to_login(true));
        }
        // One write a minute at most: enough for the idle timeout.
        if now - session.last_seen >= 60
            && let Err(e) = state.store.touch_session(&hash, now).await
        {
            return Err(super::unavailable(e));
        }
        let staff = Staff {
            id: session.staff.id,
            username: session.staff.username.clone(),
            roles: RoleSet::parse(&session.staff.roles),
            csrf: csrf_token(&token),
            session_hash: hash,
            must_change_password: session.staff.must_change_password,
        };
        let path = parts.uri.path();
        if staff.must_change_password && path != "/portal/password" && path != "/portal/logout" {
            return Err(Redirect::to("/portal/password").into_response());
        }
        Ok(staff)
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A form posted by a logged-in staff member, whose `csrf` field matched
/// their session's token. Anything else is refused before the handler runs.
pub struct StaffForm<T> {
    /// Who posted it.
    pub staff: Staff,
    /// The form's fields.
    pub form: T,
}

async fn parse_form<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    let request = Request::builder()
        .method("POST")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(bytes.clone()))
        .map_err(|e| e.to_string())?;
    Form::<T>::from_request(request, &()).await.map(|Form(t)| t).map_err(|e| e.body_text())
}

impl<T: DeserializeOwned + Send> FromRequest<Arc<AuthorityState>> for StaffForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<AuthorityState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let staff = Staff::from_request_parts(&mut parts, state).await?;
        let bytes =
            Bytes::from_request(Request::from_parts(parts, body), state).await.map_err(IntoResponse::into_response)?;
        let csrf = parse_form::<CsrfField>(&bytes).await.map(|f| f.csrf).unwrap_or_default();
        if !tokens_match(&csrf, &staff.csrf) {
            tracing::warn!("portal: a form with a missing or wrong CSRF token was refused");
            return Err(message(
                StatusCode::FORBIDDEN,
                Page::for_staff(&staff, "Form refused", ""),
                "This form expired or did not come from this portal, so nothing was changed. \
                 Reload the page and try again.",
                "/portal",
            ));
        }
        let form = parse_form::<T>(&bytes).await.map_err(|e| {
            message(
                StatusCode::BAD_REQUEST,
                Page::for_staff(&staff, "Form refused", ""),
                format!("The form was incomplete: {e}"),
                "/portal",
            )
        })?;
        Ok(StaffForm { staff, form })
    }
}
