//! Staff accounts (admin role): create one with a one-time password, change
//! roles, disable or enable, issue a new one-time password. Every change
//! obeys [`may_manage`]: nobody grants, removes or resets a role they do
//! not hold, and nobody changes their own account here (their password has
//! its own page), so an admin cannot lock everyone out by accident.
//!
//! An account without any role can sign in but do nothing, so creating one
//! takes a second, explicit tick. A refused form comes back with what was
//! typed and ticked; a form that changed something is answered with a
//! redirect to this page (the one-time password waits in the
//! [flash](crate::portal::flash)), so reloading never creates or resets
//! twice.

use crate::AuthorityState;
use crate::accounts::{self, Role, RoleSet, may_manage};
use crate::portal::flash::Flash;
use crate::portal::{Page, Staff, StaffForm, message, render, unavailable};
use crate::store::StaffRow;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

/// One account row on the page.
pub struct AccountRow {
    id: i64,
    username: String,
    role_text: String,
    roles: Vec<(&'static str, bool)>,
    status: String,
    disabled: bool,
    manageable: bool,
    own: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    page: Page,
    /// Roles the admin may grant: name, meaning, ticked in the new-account form.
    grantable: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<AccountRow>,
    one_time_password: String,
    one_time_for: String,
    /// The new-account form as it was posted (after a refusal).
    new_username: String,
    /// The form asks to confirm an account without roles.
    warn_no_roles: bool,
}

/// The new-account form's values to show again after a refusal.
#[derive(Default)]
struct Typed {
    username: String,
    roles: RoleSet,
    warn_no_roles: bool,
}

/// Account roles for people and the audit log: `admin, issuer`, or `none`.
pub fn roles_text(roles: RoleSet) -> String {
    if roles.is_empty() { "none".into() } else { roles.to_text().replace(',', ", ") }
}

async fn show(state: &AuthorityState, staff: &Staff, page: Page, status: StatusCode, otp: (&str, &str)) -> Response {
    show_typed(state, staff, page, status, otp, Typed::default()).await
}

async fn show_typed(
    state: &AuthorityState,
    staff: &Staff,
    page: Page,
    status: StatusCode,
    otp: (&str, &str),
    typed: Typed,
) -> Response {
    let accounts = match state.store.staff().await {
        Ok(accounts) => accounts,
        Err(e) => return unavailable(e),
    };
    let now = state.now_i64();
    let rows = accounts
        .iter()
        .map(|a| {
            let roles = RoleSet::parse(&a.roles);
            AccountRow {
                id: a.id,
                username: a.username.clone(),
                role_text: roles_text(roles),
                roles: Role::ALL.iter().filter(|r| staff.roles.has(**r)).map(|r| (r.as_str(), roles.has(*r))).collect(),
                status: status_of(a, now),
                disabled: a.disabled,
                manageable: a.id != staff.id && may_manage(staff.roles, roles, roles),
                own: a.id == staff.id,
            }
        })
        .collect();
    let grantable = staff.roles.roles().iter().map(|r| (r.as_str(), r.describe(), typed.roles.has(*r))).collect();
    render(
        status,
        &StaffPage {
            page,
            grantable,
            rows,
            one_time_password: otp.0.to_owned(),
            one_time_for: otp.1.to_owned(),
            new_username: typed.username,
            warn_no_roles: typed.warn_no_roles,
        },
    )
}

/// Answers a form that changed something: back to the staff page, which
/// shows `notice` (and the one-time password) once.
fn done(
    state: &AuthorityState,
    staff: &Staff,
    notice: String,
    one_time_password: Option<(zeroize::Zeroizing<String>, String)>,
) -> Response {
    state.flashes.put(&staff.session_hash, Flash { notice, one_time_password, ..Flash::default() }, state.now_i64());
    Redirect::to("/portal/staff").into_response()
}

fn status_of(account: &StaffRow, now: i64) -> String {
    if account.disabled {
        "disabled".into()
    } else if account.locked_until > now {
        "locked (too many wrong passwords)".into()
    } else if account.must_change_password {
        "active, must set a password".into()
    } else {
        "active".into()
    }
}

fn page_for(staff: &Staff) -> Page {
    Page::for_staff(staff, "Staff accounts", "/portal/staff")
}

/// `GET /portal/staff`
pub async fn page(State(state): State<Arc<AuthorityState>>, staff: Staff) -> Response {
    if let Err(refused) = staff.require(Role::Admin) {
        return refused;
    }
    let flash = state.flashes.take(&staff.session_hash, state.now_i64());
    let mut page = page_for(&staff);
    if !flash.notice.is_empty() {
        page = page.notice(flash.notice);
    }
    let (password, account) = flash.one_time_password.unwrap_or_default();
    show(&state, &staff, page, StatusCode::OK, (password.as_str(), &account)).await
}

/// The role checkboxes of a form (`role_admin=on`, …), as a set.
fn ticked(
    admin: &Option<String>,
    issuer: &Option<String>,
    tracer: &Option<String>,
    auditor: &Option<String>,
) -> RoleSet {
    let boxes = [(Role::Admin, admin), (Role::Issuer, issuer), (Role::Tracer, tracer), (Role::Auditor, auditor)];
    RoleSet::of(&boxes.iter().filter(|(_, v)| v.is_some()).map(|(r, _)| *r).collect::<Vec<_>>())
}

/// The new-account form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role_admin: Option<String>,
    #[serde(default)]
    role_issuer: Option<String>,
    #[serde(default)]
    role_tracer: Option<String>,
    #[serde(default)]
    role_auditor: Option<String>,
    /// Ticked to create an account without any role after the warning.
    #[serde(default)]
    no_roles: Option<String>,
}

fn refused_grant(staff: &Staff) -> Response {
    message(
        StatusCode::FORBIDDEN,
        page_for(staff),
        "Nothing was changed: you can grant, remove or reset only roles you hold yourself, and only admins manage \
         accounts.",
        "/portal/staff",
    )
}

/// `POST /portal/staff`
pub async fn create(State(state): State<Arc<AuthorityState>>, form: StaffForm<CreateForm>) -> Response {
    let StaffForm { staff, form } = form;
    let roles = ticked(&form.role_admin, &form.role_issuer, &form.role_tracer, &form.role_auditor);
    if !may_manage(staff.roles, RoleSet::default(), roles) {
        return refused_grant(&staff);
    }
    let username = form.username.trim().to_lowercase();
    let again = |error: String, status: StatusCode, warn_no_roles: bool| {
        let typed = Typed { username: form.username.trim().to_owned(), roles, warn_no_roles };
        show_typed(&state, &staff, page_for(&staff).error(error), status, ("", ""), typed)
    };
    if let Err(e) = accounts::check_username(&username) {
        return again(format!("Not created: {e}."), StatusCode::BAD_REQUEST, false).await;
    }
    if roles.is_empty() && form.no_roles.is_none() {
        return again(
            format!(
                "Not created: no role is ticked. An account without roles can sign in but do nothing until an admin \
                 grants it one. Tick its roles, or tick \"Create {username} without roles\" to create it anyway."
            ),
            StatusCode::BAD_REQUEST,
            true,
        )
        .await;
    }
    let password = accounts::one_time_password();
    let hash = match accounts::hash_password(&password).await {
        Ok(hash) => hash,
        Err(e) => return unavailable(e),
    };
    let now = state.now_i64();
    match state.store.create_staff(&username, &hash, &roles.to_text(), true, now).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return again(
                format!("Not created: an account named {username} exists already."),
                StatusCode::CONFLICT,
                false,
            )
            .await;
        }
        Err(e) => return unavailable(e),
    }
    let detail = format!("account {username}; roles {}", roles_text(roles));
    if let Err(e) = state.store.audit(now, Some(staff.id), &staff.username, "staff_created", &detail).await {
        return unavailable(e);
    }
    let notice = if roles.is_empty() {
        format!("Account {username} created without roles: it can sign in but do nothing until an admin grants it one.")
    } else {
        format!("Account {username} created with the roles {}.", roles_text(roles))
    };
    done(&state, &staff, notice, Some((password, username)))
}

/// A form naming an account.
#[derive(Debug, Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    id: i64,
    #[serde(default)]
    disabled: Option<String>,
    #[serde(default)]
    role_admin: Option<String>,
    #[serde(default)]
    role_issuer: Option<String>,
    #[serde(default)]
    role_tracer: Option<String>,
    #[serde(default)]
    role_auditor: Option<String>,
}

async fn target(state: &AuthorityState, staff: &Staff, id: i64) -> Result<StaffRow, Response> {
    match state.store.staff_by_id(id).await {
        Ok(Some(account)) if account.id != staff.id => Ok(account),
        Ok(Some(_)) => Err(message(
            StatusCode::FORBIDDEN,
            page_for(staff),
            "You cannot change your own account here; ask another admin.",
            "/portal/staff",
        )),
        Ok(None) => Err(message(StatusCode::NOT_FOUND, page_for(staff), "There is no such account.", "/portal/staff")),
        Err(e) => Err(unavailable(e)),
    }
}

/// `POST /portal/staff/roles`
pub async fn set_roles(State(state): State<Arc<AuthorityState>>, form: StaffForm<AccountForm>) -> Response {
    let StaffForm { staff, form } = form;
    let account = match target(&state, &staff, form.id).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let after = ticked(&form.role_admin, &form.role_issuer, &form.role_tracer, &form.role_auditor);
    let before = RoleSet::parse(&account.roles);
    if !may_manage(staff.roles, before, after) {
        return refused_grant(&staff);
    }
    if let Err(e) = state.store.set_roles(account.id, &after.to_text()).await {
        return unavailable(e);
    }
    let detail = format!("account {}; roles {} -> {}", account.username, roles_text(before), roles_text(after));
    if let Err(e) = state.store.audit(state.now_i64(), Some(staff.id), &staff.username, "roles_changed", &detail).await
    {
        return unavailable(e);
    }
    done(&state, &staff, format!("Roles of {} saved: {}.", account.username, roles_text(after)), None)
}

/// `POST /portal/staff/status`
pub async fn set_status(State(state): State<Arc<AuthorityState>>, form: StaffForm<AccountForm>) -> Response {
    let StaffForm { staff, form } = form;
    let account = match target(&state, &staff, form.id).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let roles = RoleSet::parse(&account.roles);
    if !may_manage(staff.roles, roles, roles) {
        return refused_grant(&staff);
    }
    let disable = form.disabled.as_deref() == Some("1");
    if let Err(e) = state.store.set_disabled(account.id, disable).await {
        return unavailable(e);
    }
    let action = if disable { "staff_disabled" } else { "staff_enabled" };
    let detail = format!("account {}", account.username);
    if let Err(e) = state.store.audit(state.now_i64(), Some(staff.id), &staff.username, action, &detail).await {
        return unavailable(e);
    }
    let what = if disable { "disabled; their sessions have ended" } else { "enabled" };
    done(&state, &staff, format!("Account {} {what}.", account.username), None)
}

/// `POST /portal/staff/reset`
pub async fn reset_password(State(state): State<Arc<AuthorityState>>, form: StaffForm<AccountForm>) -> Response {
    let StaffForm { staff, form } = form;
    let account = match target(&state, &staff, form.id).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let roles = RoleSet::parse(&account.roles);
    if !may_manage(staff.roles, roles, roles) {
        return refused_grant(&staff);
    }
    let password = accounts::one_time_password();
    let hash = match accounts::hash_password(&password).await {
        Ok(hash) => hash,
        Err(e) => return unavailable(e),
    };
    if let Err(e) = state.store.set_password(account.id, &hash, true).await {
        return unavailable(e);
    }
    let detail = format!("account {}", account.username);
    if let Err(e) = state.store.audit(state.now_i64(), Some(staff.id), &staff.username, "password_reset", &detail).await
    {
        return unavailable(e);
    }
    let notice = format!("{} has a new one-time password; their sessions have ended.", account.username);
    done(&state, &staff, notice, Some((password, account.username)))
}
