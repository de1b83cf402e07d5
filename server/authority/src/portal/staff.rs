//! Staff accounts (admin role): create one with a one-time password, change
//! roles, disable or enable, issue a new one-time password. Every change
//! obeys [`may_manage`]: nobody grants, removes or resets a role they do
//! not hold, and nobody changes their own account here (their password has
//! its own page), so an admin cannot lock everyone out by accident.

use crate::AuthorityState;
use crate::accounts::{self, Role, RoleSet, may_manage};
use crate::portal::{Page, Staff, StaffForm, message, render, unavailable};
use crate::store::StaffRow;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
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
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    page: Page,
    grantable: Vec<(&'static str, &'static str)>,
    rows: Vec<AccountRow>,
    one_time_password: String,
    one_time_for: String,
}

async fn show(state: &AuthorityState, staff: &Staff, page: Page, status: StatusCode, otp: (&str, &str)) -> Response {
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
                role_text: if roles.is_empty() { "none".into() } else { roles.to_text().replace(',', ", ") },
                roles: Role::ALL.iter().filter(|r| staff.roles.has(**r)).map(|r| (r.as_str(), roles.has(*r))).collect(),
                status: status_of(a, now),
                disabled: a.disabled,
                manageable: a.id != staff.id && may_manage(staff.roles, roles, roles),
            }
        })
        .collect();
    let grantable = staff.roles.roles().iter().map(|r| (r.as_str(), r.describe())).collect();
    render(
        status,
        &StaffPage { page, grantable, rows, one_time_password: otp.0.to_owned(), one_time_for: otp.1.to_owned() },
    )
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
    show(&state, &staff, page_for(&staff), StatusCode::OK, ("", "")).await
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
    if let Err(e) = accounts::check_username(&username) {
        return show(
            &state,
            &staff,
            page_for(&staff).error(format!("Not created: {e}.")),
            StatusCode::BAD_REQUEST,
            ("", ""),
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
            let page = page_for(&staff).error(format!("Not created: an account named {username} exists already."));
            return show(&state, &staff, page, StatusCode::CONFLICT, ("", "")).await;
        }
        Err(e) => return unavailable(e),
    }
    let detail = format!("account {username}; roles {}", roles.to_text());
    if let Err(e) = state.store.audit(now, Some(staff.id), &staff.username, "staff_created", &detail).await {
        return unavailable(e);
    }
    let page = page_for(&staff).notice(format!("Account {username} created."));
    show(&state, &staff, page, StatusCode::OK, (&password, &username)).await
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
    let detail = format!("account {}; roles {} -> {}", account.username, before.to_text(), after.to_text());
    if let Err(e) = state.store.audit(state.now_i64(), Some(staff.id), &staff.username, "roles_changed", &detail).await
    {
        return unavailable(e);
    }
    let page = page_for(&staff).notice(format!("Roles of {} saved.", account.username));
    show(&state, &staff, page, StatusCode::OK, ("", "")).await
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
    let done = if disable { "disabled; their sessions have ended" } else { "enabled" };
    let page = page_for(&staff).notice(format!("Account {} {done}.", account.username));
    show(&state, &staff, page, StatusCode::OK, ("", "")).await
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
    let page = page_for(&staff)
        .notice(format!("{} has a new one-time password; their sessions have ended.", account.username));
    show(&state, &staff, page, StatusCode::OK, (&password, &account.username)).await
}
