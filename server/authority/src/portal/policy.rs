//! The color policy (admin role), spec §13: a form prefilled with the
//! policy in force (or the recommended one), checked field by field with
//! the protocol's own rules, signed with the next sequence number and
//! listed in the key server's index. Every version is kept and can be
//! downloaded.

use crate::AuthorityState;
use crate::accounts::Role;
use crate::portal::{Page, Staff, StaffForm, message, render, unavailable, when};
use crate::store::PolicyRow;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use greenlight_protocol::index::FileKind;
use greenlight_protocol::index::content_address_hex as content_hex;
use greenlight_protocol::policy::{ColorPolicy, PolicyParams};
use greenlight_protocol::signing::TrustedKeys;
use std::collections::HashMap;
use std::sync::Arc;

/// One input of the form.
pub struct Field {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
    error: String,
}

/// A policy in the history.
pub struct Version {
    sequence: i64,
    issued: String,
    by: String,
    sha256: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    page: Page,
    groups: Vec<(&'static str, Vec<Field>)>,
    versions: Vec<Version>,
}

/// The form's fields: name, label, hint, its group, and the value of a
/// policy.
const FIELDS: [(&str, &str, &str, &str); 14] = [
    ("t0", "Immediate below (dB)", "Attenuation under this is 'immediate'.", "Bluetooth distance buckets"),
    ("t1", "Near below (dB)", "Must be higher than the previous threshold.", "Bluetooth distance buckets"),
    (
        "t2",
        "Medium below (dB)",
        "Must be higher than the previous threshold; above is 'other'.",
        "Bluetooth distance buckets",
    ),
    ("w0", "Weight of immediate (%)", "0 to 1000.", "Bluetooth weights"),
    ("w1", "Weight of near (%)", "0 to 1000.", "Bluetooth weights"),
    ("w2", "Weight of medium (%)", "0 to 1000.", "Bluetooth weights"),
    ("w3", "Weight of other (%)", "0 to 1000.", "Bluetooth weights"),
    ("min_weighted_minutes", "Weighted minutes a day for yellow", "At least 1.", "What counts as an exposure"),
    ("min_transmission_risk", "Lowest transmission risk counted", "0 to 8.", "What counts as an exposure"),
    ("min_venue_overlap", "Minutes at a traced venue for yellow", "At least 1.", "What counts as an exposure"),
    ("lookback_days", "Days looked back", "1 to 14 (the key server keeps 14 days).", "How long colors last"),
    ("yellow_days", "Yellow lasts (days after the exposure)", "1 to the days looked back.", "How long colors last"),
    ("red_days", "Red lasts (days after the diagnosis)", "1 to 28.", "How long colors last"),
    ("stale_hours", "Stale after (hours without a sync)", "1 to 336.", "How long colors last"),
];

fn values(p: &PolicyParams) -> [u32; 14] {
    let [t0, t1, t2] = p.attenuation_thresholds_db;
    let [w0, w1, w2, w3] = p.bucket_weights_percent;
    [
        t0.into(),
        t1.into(),
        t2.into(),
        w0.into(),
        w1.into(),
        w2.into(),
        w3.into(),
        p.min_weighted_minutes_per_day.into(),
        p.min_transmission_risk.into(),
        p.min_venue_overlap_minutes.into(),
        p.lookback_days.into(),
        p.yellow_days.into(),
        p.red_days.into(),
        p.stale_after_hours.into(),
    ]
}

fn groups(values: &[String; 14], errors: &HashMap<&'static str, String>) -> Vec<(&'static str, Vec<Field>)> {
    let mut out: Vec<(&'static str, Vec<Field>)> = Vec::new();
    for (i, (name, label, hint, group)) in FIELDS.iter().enumerate() {
        let field =
            Field { name, label, hint, value: values[i].clone(), error: errors.get(name).cloned().unwrap_or_default() };
        match out.last_mut() {
            Some((g, fields)) if g == group => fields.push(field),
            _ => out.push((group, vec![field])),
        }
    }
    out
}

fn summary(policy: &ColorPolicy) -> String {
    let p = policy.params();
    format!(
        "{} weighted min/day, venue {} min, yellow {} d, red {} d, stale {} h",
        p.min_weighted_minutes_per_day, p.min_venue_overlap_minutes, p.yellow_days, p.red_days, p.stale_after_hours
    )
}

async fn show(
    state: &AuthorityState,
    page: Page,
    status: StatusCode,
    form: Option<([String; 14], HashMap<&'static str, String>)>,
) -> Response {
    let stored = match state.store.policies().await {
        Ok(stored) => stored,
        Err(e) => return unavailable(e),
    };
    let trusted = TrustedKeys::from_keys([state.keys.signing.verifying_key()]);
    let versions: Vec<(PolicyRow, Option<ColorPolicy>)> = stored
        .into_iter()
        .map(|row| {
            let policy = ColorPolicy::verify(&row.file, &trusted).ok();
            (row, policy)
        })
        .collect();
    let (values, errors) = form.unwrap_or_else(|| {
        let current = versions.iter().find_map(|(_, p)| *p).unwrap_or_else(|| ColorPolicy::recommended(0, state.now()));
        (values(current.params()).map(|v| v.to_string()), HashMap::new())
    });
    let versions = versions
        .iter()
        .map(|(row, policy)| Version {
            sequence: row.sequence,
            issued: when(row.issued_at),
            by: row.created_by.clone(),
            sha256: row.sha256.clone(),
            summary: policy.as_ref().map(summary).unwrap_or_else(|| "(not signed by the current key)".into()),
        })
        .collect();
    render(status, &PolicyPage { page, groups: groups(&values, &errors), versions })
}

fn page_for(staff: &Staff) -> Page {
    Page::for_staff(staff, "Color policy", "/portal/policy")
}

/// `GET /portal/policy`
pub async fn page(State(state): State<Arc<AuthorityState>>, staff: Staff) -> Response {
    if let Err(refused) = staff.require(Role::Admin) {
        return refused;
    }
    show(&state, page_for(&staff), StatusCode::OK, None).await
}

/// Reads the form into policy fields, or per-field errors.
fn read(
    form: &HashMap<String, String>,
    sequence: u32,
    issued_at: greenlight_protocol::time::UnixTime,
) -> Result<ColorPolicy, HashMap<&'static str, String>> {
    let mut errors = HashMap::new();
    let mut numbers = [0u32; 14];
    for (i, (name, _, _, _)) in FIELDS.iter().enumerate() {
        let text = form.get(*name).map(|s| s.trim()).unwrap_or("");
        let max = match i {
            0..=2 | 8 | 10..=12 => 255,
            _ => 65_535,
        };
        match text.parse::<u32>() {
            Ok(n) if n <= max => numbers[i] = n,
            _ => {
                errors.insert(*name, format!("Enter a whole number from 0 to {max}."));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let byte = |i: usize| u8::try_from(numbers[i]).unwrap_or(u8::MAX);
    let short = |i: usize| u16::try_from(numbers[i]).unwrap_or(u16::MAX);
    let params = PolicyParams {
        sequence,
        issued_at,
        attenuation_thresholds_db: [byte(0), byte(1), byte(2)],
        bucket_weights_percent: [short(3), short(4), short(5), short(6)],
        min_weighted_minutes_per_day: short(7),
        min_transmission_risk: byte(8),
        min_venue_overlap_minutes: short(9),
        yellow_days: byte(11),
        red_days: byte(12),
        stale_after_hours: short(13),
        lookback_days: byte(10),
    };
    ColorPolicy::new(params).map_err(|e| {
        let (fields, text): (&[&'static str], &str) = match e {
            greenlight_protocol::Error::InvalidField("attenuation_thresholds_db") => {
                (&["t0", "t1", "t2"], "The thresholds must rise: immediate < near < medium.")
            }
            greenlight_protocol::Error::InvalidField("bucket_weights_percent") => {
                (&["w0", "w1", "w2", "w3"], "Each weight is 0 to 1000 %.")
            }
            greenlight_protocol::Error::InvalidField("min_weighted_minutes_per_day") => {
                (&["min_weighted_minutes"], "At least 1 minute.")
            }
            greenlight_protocol::Error::InvalidField("min_transmission_risk") => {
                (&["min_transmission_risk"], "0 to 8.")
            }
            greenlight_protocol::Error::InvalidField("min_venue_overlap_minutes") => {
                (&["min_venue_overlap"], "At least 1 minute.")
            }
            greenlight_protocol::Error::InvalidField("lookback_days") => (&["lookback_days"], "1 to 14 days."),
            greenlight_protocol::Error::InvalidField("yellow_days") => {
                (&["yellow_days"], "1 day up to the days looked back, so that a yellow never ends early.")
            }
            greenlight_protocol::Error::InvalidField("red_days") => (&["red_days"], "1 to 28 days: a red must end."),
            greenlight_protocol::Error::InvalidField("stale_after_hours") => (&["stale_hours"], "1 to 336 hours."),
            _ => (&["t0"], "This policy is not valid."),
        };
        fields.iter().map(|f| (*f, text.to_owned())).collect()
    })
}

/// `POST /portal/policy`: checks, signs and publishes a new version.
pub async fn publish(State(state): State<Arc<AuthorityState>>, form: StaffForm<HashMap<String, String>>) -> Response {
    let StaffForm { staff, form } = form;
    if let Err(refused) = staff.require(Role::Admin) {
        return refused;
    }
    let stored = match state.store.policies().await {
        Ok(stored) => stored,
        Err(e) => return unavailable(e),
    };
    let own = stored.first().map_or(0, |p| u64::try_from(p.sequence).unwrap_or(0));
    let next = own.max(state.key_server.last_sequence(FileKind::ColorPolicy).await) + 1;
    let Ok(sequence) = u32::try_from(next) else {
        return unavailable("policy sequence numbers are used up");
    };
    let now = state.now();
    let policy = match read(&form, sequence, now) {
        Ok(policy) => policy,
        Err(errors) => {
            let values: [String; 14] = FIELDS.map(|(name, _, _, _)| form.get(name).cloned().unwrap_or_default());
            let page = page_for(&staff).error("Nothing was published: correct the fields marked below.");
            return show(&state, page, StatusCode::BAD_REQUEST, Some((values, errors))).await;
        }
    };
    let signed = policy.sign(&state.keys.signing);
    if let Err(error) = state.key_server.publish(FileKind::ColorPolicy, next, signed.clone(), now).await {
        return show(
            &state,
            page_for(&staff).error(format!("Nothing was published: {error}")),
            StatusCode::BAD_GATEWAY,
            None,
        )
        .await;
    }
    let row = PolicyRow {
        sequence: i64::from(sequence),
        issued_at: i64::try_from(now.0).unwrap_or(i64::MAX),
        sha256: content_hex(&signed),
        file: signed,
        created_by: staff.username.clone(),
    };
    if let Err(e) = state.store.insert_policy(&row, staff.id).await {
        return unavailable(e);
    }
    let detail = format!("policy {sequence} ({})", summary(&policy));
    if let Err(e) = state.store.audit(row.issued_at, Some(staff.id), &staff.username, "policy_published", &detail).await
    {
        return unavailable(e);
    }
    let page = page_for(&staff).notice(format!(
        "Policy {sequence} is signed and listed in the key server's index; phones apply it at their next sync."
    ));
    show(&state, page, StatusCode::OK, None).await
}

/// `GET /portal/policy/{sequence}`: a signed version as a file.
pub async fn download(State(state): State<Arc<AuthorityState>>, staff: Staff, Path(sequence): Path<i64>) -> Response {
    if let Err(refused) = staff.require(Role::Admin) {
        return refused;
    }
    match state.store.policies().await {
        Ok(policies) => match policies.into_iter().find(|p| p.sequence == sequence) {
            Some(policy) => (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"policy-{sequence}.bin\"")),
                ],
                policy.file,
            )
                .into_response(),
            None => message(StatusCode::NOT_FOUND, page_for(&staff), "There is no such policy.", "/portal/policy"),
        },
        Err(e) => unavailable(e),
    }
}
