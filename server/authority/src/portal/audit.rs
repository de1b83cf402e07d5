//! The audit log and the statistics (auditor role).

use crate::AuthorityState;
use crate::accounts::Role;
use crate::portal::{Page, Staff, render, unavailable, when};
use crate::store::counter;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use greenlight_protocol::time::DayNumber;
use std::sync::Arc;

/// Audit entries shown.
pub const AUDIT_PAGE_LIMIT: i64 = 500;
/// Days of statistics shown.
pub const STATS_DAYS: u32 = 14;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Page,
    limit: i64,
    entries: Vec<(String, String, String, String)>,
}

/// `GET /portal/audit`
pub async fn audit_page(State(state): State<Arc<AuthorityState>>, staff: Staff) -> Response {
    if let Err(refused) = staff.require(Role::Auditor) {
        return refused;
    }
    let entries = match state.store.audit_log(AUDIT_PAGE_LIMIT).await {
        Ok(rows) => rows.into_iter().map(|r| (when(r.at), r.username, r.action.replace('_', " "), r.detail)).collect(),
        Err(e) => return unavailable(e),
    };
    let page = Page::for_staff(&staff, "Audit log", "/portal/audit");
    render(StatusCode::OK, &AuditPage { page, limit: AUDIT_PAGE_LIMIT, entries })
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    page: Page,
    days: u32,
    rows: Vec<(String, i64, i64, i64, i64)>,
}

/// `GET /portal/stats`
pub async fn stats_page(State(state): State<Arc<AuthorityState>>, staff: Staff) -> Response {
    if let Err(refused) = staff.require(Role::Auditor) {
        return refused;
    }
    let today = state.now().day();
    let first = today.minus(STATS_DAYS - 1);
    let counters = match state.store.counters(i64::from(first.0), i64::from(today.0)).await {
        Ok(counters) => counters,
        Err(e) => return unavailable(e),
    };
    let get = |day: u32, name: &str| {
        counters.iter().find(|(d, c, _)| *d == i64::from(day) && c == name).map_or(0, |(_, _, n)| *n)
    };
    let rows = (first.0..=today.0)
        .rev()
        .map(|day| {
            (
                DayNumber(day).iso_date().to_string(),
                get(day, counter::SHORT_ISSUED),
                get(day, counter::LONG_ISSUED),
                get(day, counter::CLAIMED),
                get(day, counter::CERTIFIED),
            )
        })
        .collect();
    let page = Page::for_staff(&staff, "Statistics", "/portal/stats");
    render(StatusCode::OK, &StatsPage { page, days: STATS_DAYS, rows })
}
