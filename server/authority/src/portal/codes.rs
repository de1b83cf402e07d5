//! Upload codes (issuer role): issue one within the daily quota, show it
//! once (with a QR code of the long code, printable), check a code's state
//! by its reference, expire it by hand.
//!
//! Issuing answers with a redirect to `/portal/codes/issued`, which shows
//! the code from the [flash](crate::portal::flash) once: reloading that
//! page issues nothing more (and no longer shows the code).

use crate::AuthorityState;
use crate::accounts::Role;
use crate::codes::{self, CodeKind, IssueError};
use crate::portal::flash::Flash;
use crate::portal::{Page, Staff, StaffForm, message, parse_date, render, unavailable, when};
use crate::store::{CodeRow, counter};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use greenlight_protocol::certificate::DayKind;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::time::DayNumber;
use serde::Deserialize;
use std::sync::Arc;

/// Oldest accepted symptom-onset or test date, in days before today: the
/// key server keeps keys this long.
pub const MAX_DIAGNOSIS_AGE_DAYS: u32 = 14;

/// A code in the list.
pub struct CodeLine {
    handle: String,
    kind: String,
    issued: String,
    expires: String,
    state: String,
    css: &'static str,
    open: bool,
}

fn line(code: &CodeRow, now: i64) -> CodeLine {
    let (state, css, open) = if let Some(at) = code.claimed_at {
        // Only the day is kept (see `AuthorityStore::claim_code`).
        let day = greenlight_protocol::time::UnixTime(u64::try_from(at).unwrap_or(0)).day();
        (format!("used by a phone on {}", day.iso_date()), "claimed", false)
    } else if let Some(at) = code.revoked_at {
        (format!("expired by staff at {}", when(at)), "expired", false)
    } else if code.expires_at <= now {
        ("expired unused".to_owned(), "expired", false)
    } else {
        ("waiting to be used".to_owned(), "open", true)
    };
    CodeLine {
        handle: code.handle.clone(),
        kind: code.kind.clone(),
        issued: when(code.issued_at),
        expires: when(code.expires_at),
        state,
        css,
        open,
    }
}

#[derive(Template)]
#[template(path = "codes.html")]
struct CodesPage {
    page: Page,
    issued_today: i64,
    quota: u64,
    short_minutes: u64,
    long_hours: u64,
    today: String,
    oldest: String,
    handle: String,
    found: Option<CodeLine>,
    recent: Vec<CodeLine>,
}

/// Query of the codes page: a status check.
#[derive(Debug, Default, Deserialize)]
pub struct StatusQuery {
    #[serde(default)]
    handle: String,
}

fn page_for(staff: &Staff) -> Page {
    Page::for_staff(staff, "Upload codes", "/portal/codes")
}

async fn show(state: &AuthorityState, page: Page, status: StatusCode, handle: &str, audit: Option<&Staff>) -> Response {
    let now = state.now_i64();
    let today = state.now().day();
    let mut page = page;
    let mut found = None;
    let handle = handle.trim().to_lowercase();
    if !handle.is_empty() {
        match state.store.code_by_handle(&handle).await {
            Ok(Some(code)) => found = Some(line(&code, now)),
            Ok(None) => page = page.error(format!("No code has the reference {handle:?}.")),
            Err(e) => return unavailable(e),
        }
        if let Some(staff) = audit {
            let _ = state
                .store
                .audit(now, Some(staff.id), &staff.username, "code_status_checked", &format!("code {handle}"))
                .await;
        }
    }
    let recent = match state.store.recent_codes(50).await {
        Ok(codes) => codes.iter().map(|c| line(c, now)).collect(),
        Err(e) => return unavailable(e),
    };
    let day = i64::from(today.0);
    let issued_today = match (
        state.store.counter(day, counter::SHORT_ISSUED).await,
        state.store.counter(day, counter::LONG_ISSUED).await,
    ) {
        (Ok(a), Ok(b)) => a + b,
        (Err(e), _) | (_, Err(e)) => return unavailable(e),
    };
    render(
        status,
        &CodesPage {
            page,
            issued_today,
            quota: state.settings.daily_code_quota,
            short_minutes: state.settings.short_code_secs / 60,
            long_hours: state.settings.long_code_secs / 3600,
            today: today.iso_date().to_string(),
            oldest: today.minus(MAX_DIAGNOSIS_AGE_DAYS).iso_date().to_string(),
            handle,
            found,
            recent,
        },
    )
}

/// `GET /portal/codes`
pub async fn page(
    State(state): State<Arc<AuthorityState>>,
    staff: Staff,
    Query(query): Query<StatusQuery>,
) -> Response {
    if let Err(refused) = staff.require(Role::Issuer) {
        return refused;
    }
    let notice = state.flashes.take(&staff.session_hash, state.now_i64()).notice;
    show(&state, page_for(&staff).notice(notice), StatusCode::OK, &query.handle, Some(&staff)).await
}

/// The issue form.
#[derive(Debug, Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    report_type: String,
    #[serde(default)]
    day_kind: String,
    #[serde(default)]
    date: String,
}

#[derive(Template)]
#[template(path = "code_issued.html")]
struct IssuedPage {
    page: Page,
    code: String,
    expires: String,
    qr_svg: String,
    handle: String,
    kind: &'static str,
    diagnosis: String,
}

/// An issued code waiting to be shown once (the code itself is zeroized
/// when dropped).
pub struct IssuedCode {
    code: zeroize::Zeroizing<String>,
    expires: String,
    qr_svg: String,
    handle: String,
    kind: &'static str,
    diagnosis: String,
}

/// The QR code of `text` as an inline SVG element (no image codec).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    // Inline in HTML: drop the XML declaration.
    Some(svg.find("<svg").map_or(svg.clone(), |i| svg[i..].to_owned()))
}

/// The issue form's values, checked: kind, report type, day kind, day.
fn check_issue(form: &IssueForm, today: DayNumber) -> Result<(CodeKind, ReportType, DayKind, DayNumber), &'static str> {
    let kind = CodeKind::parse(&form.kind).ok_or("choose a short or a long code.")?;
    let report_type = match form.report_type.as_str() {
        "1" => ReportType::ConfirmedTest,
        "2" => ReportType::ClinicalDiagnosis,
        _ => return Err("choose how the diagnosis was made."),
    };
    let day_kind = match form.day_kind.as_str() {
        "1" => DayKind::SymptomOnset,
        "2" => DayKind::TestDate,
        _ => return Err("say whether the date is the start of symptoms or the test."),
    };
    let day = DayNumber(parse_date(&form.date).ok_or("the date is not a valid date (YYYY-MM-DD).")?);
    if day > today {
        return Err("the date is in the future.");
    }
    if day < today.minus(MAX_DIAGNOSIS_AGE_DAYS) {
        return Err("the date is more than 14 days ago; such a diagnosis cannot be reported anymore.");
    }
    Ok((kind, report_type, day_kind, day))
}

/// `POST /portal/codes`: issues a code ([`codes::issue`]) and shows it once.
pub async fn issue(State(state): State<Arc<AuthorityState>>, form: StaffForm<IssueForm>) -> Response {
    let StaffForm { staff, form } = form;
    if let Err(refused) = staff.require(Role::Issuer) {
        return refused;
    }
    let (kind, report_type, day_kind, day) = match check_issue(&form, state.now().day()) {
        Ok(checked) => checked,
        Err(text) => {
            let page = page_for(&staff).error(format!("No code was issued: {text}"));
            return show(&state, page, StatusCode::BAD_REQUEST, "", None).await;
        }
    };
    let issued = match codes::issue(&state, kind, report_type, day_kind, day, staff.id, &staff.username).await {
        Ok(issued) => issued,
        Err(IssueError::QuotaReached) => {
            let text = format!(
                "today's quota of {} codes is used up. It resets at midnight UTC; an operator can raise it \
                 (--daily-code-quota).",
                state.settings.daily_code_quota
            );
            return show(&state, page_for(&staff).error(text), StatusCode::TOO_MANY_REQUESTS, "", None).await;
        }
        Err(IssueError::Unavailable(cause)) => return unavailable(cause),
    };
    let qr = match kind {
        CodeKind::Long => qr_svg(&codes::link(state.region.as_str(), &issued.code)).unwrap_or_default(),
        CodeKind::Short => String::new(),
    };
    let diagnosis = format!(
        "{}, {} {}",
        match report_type {
            ReportType::ConfirmedTest => "confirmed by a test",
            ReportType::ClinicalDiagnosis => "clinical diagnosis",
        },
        match day_kind {
            DayKind::SymptomOnset => "symptoms since",
            DayKind::TestDate => "tested on",
        },
        day.iso_date()
    );
    let shown = IssuedCode {
        code: zeroize::Zeroizing::new(codes::display(kind, &issued.code)),
        expires: when(issued.expires_at),
        qr_svg: qr,
        handle: issued.handle,
        kind: kind.as_str(),
        diagnosis,
    };
    let flash = Flash { issued_code: Some(shown), ..Flash::default() };
    state.flashes.put(&staff.session_hash, flash, state.now_i64());
    Redirect::to("/portal/codes/issued").into_response()
}

/// `GET /portal/codes/issued`: the code just issued, once.
pub async fn issued(State(state): State<Arc<AuthorityState>>, staff: Staff) -> Response {
    if let Err(refused) = staff.require(Role::Issuer) {
        return refused;
    }
    match state.flashes.take(&staff.session_hash, state.now_i64()).issued_code {
        Some(shown) => render(
            StatusCode::OK,
            &IssuedPage {
                page: Page::for_staff(&staff, "Upload code issued", "/portal/codes"),
                code: shown.code.to_string(),
                expires: shown.expires,
                qr_svg: shown.qr_svg,
                handle: shown.handle,
                kind: shown.kind,
                diagnosis: shown.diagnosis,
            },
        ),
        None => message(
            StatusCode::NOT_FOUND,
            page_for(&staff),
            "An upload code is shown only once and is not kept. If it was lost, expire it by its reference below \
             and issue a new one.",
            "/portal/codes",
        ),
    }
}

/// The expire form.
#[derive(Debug, Deserialize)]
pub struct ExpireForm {
    #[serde(default)]
    handle: String,
}

/// `POST /portal/codes/expire`
pub async fn expire(State(state): State<Arc<AuthorityState>>, form: StaffForm<ExpireForm>) -> Response {
    let StaffForm { staff, form } = form;
    if let Err(refused) = staff.require(Role::Issuer) {
        return refused;
    }
    let handle = form.handle.trim().to_lowercase();
    let now = state.now_i64();
    match state.store.revoke_code(&handle, now).await {
        Ok(true) => {
            if let Err(e) =
                state.store.audit(now, Some(staff.id), &staff.username, "code_expired", &format!("code {handle}")).await
            {
                return unavailable(e);
            }
            // Redirect-after-POST: a reload shows the codes page, it
            // expires nothing again (issue 21 item 19).
            let notice = format!("Code {handle} has expired; it can no longer be used.");
            state.flashes.put(&staff.session_hash, Flash { notice, ..Flash::default() }, now);
            Redirect::to("/portal/codes").into_response()
        }
        Ok(false) => message(
            StatusCode::CONFLICT,
            page_for(&staff),
            format!("Code {handle:?} was not changed: it does not exist, was used, or has expired already."),
            "/portal/codes",
        ),
        Err(e) => unavailable(e),
    }
}
