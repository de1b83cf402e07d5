//! The color policy (admin role), spec §13: a form in plain words,
//! prefilled with the policy in force (or, before any was published, the
//! built-in default policy every phone uses), checked field by field with
//! the protocol's own rules.
//!
//! Publishing takes two steps (issue 21 item 20). "Preview the changes"
//! shows, rule by rule, what the new values change against the policy in
//! force and what that means for a phone ("a contact of 10 minutes at
//! about 5 m now turns a phone yellow"); only that page has the "Sign and
//! publish" button. Its form carries a confirmation tag — an HMAC under
//! the authority's code key of the previewed values and of the version
//! they were compared to — and `POST /portal/policy` publishes nothing
//! without a tag that matches: values nobody previewed, or a preview made
//! before another version was published, are shown as a preview again.
//! A published policy is signed with the next sequence number and listed
//! in the key server's index; every version is kept and can be
//! downloaded.

use crate::AuthorityState;
use crate::accounts::Role;
use crate::portal::flash::Flash;
use crate::portal::{Page, Staff, StaffForm, message, render, unavailable, when};
use crate::store::PolicyRow;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use greenlight_protocol::index::FileKind;
use greenlight_protocol::index::content_address_hex as content_hex;
use greenlight_protocol::policy::{ColorPolicy, PolicyParams, VenueOverlaps};
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::venue::VenueKind;
use std::collections::HashMap;
use std::sync::Arc;

/// What phones use before any policy is published, in the words of every
/// surface (portal, phone explanations).
pub const BUILT_IN_DEFAULT: &str = "the built-in default policy";

/// One input of the form.
pub struct Field {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
    error: String,
}

/// A group of inputs, with what it is about.
pub struct Group {
    title: &'static str,
    intro: &'static str,
    fields: Vec<Field>,
}

/// A policy in the history.
pub struct Version {
    sequence: i64,
    issued: String,
    by: String,
    sha256: String,
    summary: String,
}

/// One changed value in a preview.
pub struct Change {
    what: &'static str,
    before: String,
    after: String,
    meaning: String,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    page: Page,
    /// What is in force, in words.
    in_force: String,
    /// Its rules, one sentence each.
    in_force_rules: Vec<String>,
    groups: Vec<Group>,
    versions: Vec<Version>,
}

#[derive(Template)]
#[template(path = "policy_preview.html")]
struct PreviewPage {
    page: Page,
    /// What the new values are compared to.
    compared_to: String,
    changes: Vec<Change>,
    /// What the changes mean for a phone, one sentence each.
    effects: Vec<String>,
    /// The form's values, carried to the confirm and back-to-form forms.
    values: Vec<(&'static str, String)>,
    /// The confirmation tag (empty: nothing to publish).
    confirm: String,
    /// What to say when no value changes.
    no_change: String,
}

const DISTANCE: &str = "Distance bands";
const DISTANCE_INTRO: &str = "Phones estimate distance from how much weaker the Bluetooth signal arrives than it \
     was sent: the signal loss, in decibels (dB). The lower, the closer. As a rough guide in open space, 50 dB is \
     about 2 m, 63 dB about 6 m and 73 dB about 12 m; bodies, walls and pockets add loss, so the same distance can \
     read 10 to 20 dB higher. Each contact falls in one of four bands: closest, near, medium, far.";
const WEIGHTS: &str = "How much a minute in each band counts";
const WEIGHTS_INTRO: &str = "In percent of a full minute: 100 counts a minute as one minute, 50 as half a minute, \
     0 not at all (up to 1000, ten minutes).";
const EXPOSURE: &str = "What turns a phone yellow";
const EXPOSURE_INTRO: &str = "A phone turns yellow after enough counted Bluetooth minutes in one day with people \
     who later reported, or after enough minutes at a venue at the same time as a reported visit.";
const VENUES: &str = "Venue visits, by kind of venue";
const VENUES_INTRO: &str = "Minutes at a venue at the same time as a reported visit that turn a phone yellow, for \
     each kind of venue (the kind printed on the poster the visitor scanned): a bus is not a restaurant table. 0 \
     means visits of that kind never turn a phone yellow. A policy with the same number for every kind is also \
     understood by phones older than per-kind rules.";
const DURATIONS: &str = "How long colors last";
const DURATIONS_INTRO: &str = "";

/// How many inputs the form has.
const N: usize = 22;
/// The first of the nine venue-kind inputs, in `VenueKind::ALL` (wire)
/// order.
const VENUE_FIELD: usize = 9;
/// The venue-kind inputs' hint.
const VENUE_HINT: &str = "0 (never) or more.";

/// The form's fields: name, label, hint, group.
const FIELDS: [(&str, &str, &str, &str); N] = [
    (
        "t0",
        "Closest band: signal loss below (dB)",
        "Contacts heard with less loss than this are the closest.",
        DISTANCE,
    ),
    ("t1", "Near band: signal loss below (dB)", "Higher than the closest band's edge.", DISTANCE),
    (
        "t2",
        "Medium band: signal loss below (dB)",
        "Higher than the near band's edge; from it on, the far band.",
        DISTANCE,
    ),
    ("w0", "A minute in the closest band counts (%)", "0 to 1000.", WEIGHTS),
    ("w1", "A minute in the near band counts (%)", "0 to 1000.", WEIGHTS),
    ("w2", "A minute in the medium band counts (%)", "0 to 1000.", WEIGHTS),
    ("w3", "A minute in the far band counts (%)", "0 to 1000.", WEIGHTS),
    (
        "min_weighted_minutes",
        "Counted Bluetooth minutes in one day that turn a phone yellow",
        "At least 1, counted with the percentages above.",
        EXPOSURE,
    ),
    (
        "min_transmission_risk",
        "Ignore days on which the person who reported was less infectious than (level)",
        "0 to 8. Each reported day carries a level from 0 (not infectious) to 8 (most), from how far it is from \
         the test or symptom-onset date; 0 counts every day.",
        EXPOSURE,
    ),
    ("min_venue_overlap_other", "Other venues (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_shop", "Shops (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_restaurant", "Restaurants, cafés and bars (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_transit", "Buses, trains and stations (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_workplace", "Offices and workplaces (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_event", "Concerts, classes, services and other events (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_leisure", "Gyms, cinemas and other leisure venues (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_education", "Schools and universities (minutes)", VENUE_HINT, VENUES),
    ("min_venue_overlap_care", "Clinics and care homes (minutes)", VENUE_HINT, VENUES),
    ("lookback_days", "Days back that contacts count", "1 to 14 (the key server keeps 14 days).", DURATIONS),
    ("yellow_days", "Days a yellow lasts after the last contact", "1 to the days back that contacts count.", DURATIONS),
    ("red_days", "Days a red lasts after the positive test or diagnosis", "1 to 28.", DURATIONS),
    ("stale_hours", "Hours without an update before a phone shows stale", "1 to 336 (14 days).", DURATIONS),
];

fn values(p: &PolicyParams) -> [u32; N] {
    let [t0, t1, t2] = p.attenuation_thresholds_db;
    let [w0, w1, w2, w3] = p.bucket_weights_percent;
    let [v0, v1, v2, v3, v4, v5, v6, v7, v8] = p.min_venue_overlap_minutes.to_wire_order();
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
        v0.into(),
        v1.into(),
        v2.into(),
        v3.into(),
        v4.into(),
        v5.into(),
        v6.into(),
        v7.into(),
        v8.into(),
        p.lookback_days.into(),
        p.yellow_days.into(),
        p.red_days.into(),
        p.stale_after_hours.into(),
    ]
}

fn groups(values: &[String; N], errors: &HashMap<&'static str, String>) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (i, (name, label, hint, group)) in FIELDS.iter().enumerate() {
        let field =
            Field { name, label, hint, value: values[i].clone(), error: errors.get(name).cloned().unwrap_or_default() };
        match out.last_mut() {
            Some(g) if g.title == *group => g.fields.push(field),
            _ => {
                let intro = match *group {
                    DISTANCE => DISTANCE_INTRO,
                    WEIGHTS => WEIGHTS_INTRO,
                    EXPOSURE => EXPOSURE_INTRO,
                    VENUES => VENUES_INTRO,
                    _ => DURATIONS_INTRO,
                };
                out.push(Group { title: group, intro, fields: vec![field] });
            }
        }
    }
    out
}

fn summary(policy: &ColorPolicy) -> String {
    let p = policy.params();
    format!(
        "{} weighted min/day, venue {}, yellow {} d, red {} d, stale {} h",
        p.min_weighted_minutes_per_day,
        venue_summary(&p.min_venue_overlap_minutes),
        p.yellow_days,
        p.red_days,
        p.stale_after_hours
    )
}

/// The venue rule in a few words: "10 min" for every kind alike, else each
/// kind's minutes ("shop never, restaurant 30, …").
fn venue_summary(overlaps: &VenueOverlaps) -> String {
    let minutes = |kind| overlaps.minutes(kind).map_or("never".to_owned(), |m| format!("{m} min"));
    if overlaps.as_uniform().is_some() {
        return minutes(VenueKind::Other);
    }
    VenueKind::ALL.iter().map(|&k| format!("{} {}", k.as_str(), minutes(k))).collect::<Vec<_>>().join(", ")
}

/// A rough distance for a signal loss, for people: open space, 40 dB at
/// 1 m and 30 dB more for each tenfold distance (the log-distance model of
/// the town's simulated radio, `crates/ble`). Real phones in pockets and
/// rooms read higher at the same distance; the portal says so.
pub fn rough_distance(db: u8) -> String {
    let metres = 10f64.powf((f64::from(db) - 40.2) / 30.0);
    if metres < 1.0 { "under 1 m".to_owned() } else { format!("about {metres:.0} m") }
}

/// Minutes of contact in one day at signal loss `db` alone that turn a
/// phone yellow under `p` (`None`: such contacts never count). The phone
/// counts `seconds × weight / 100` and compares whole minutes
/// (`protocol::color`), so this is ⌈minimum × 100 / weight⌉.
fn minutes_to_yellow(p: &PolicyParams, db: u8) -> Option<u32> {
    let policy = ColorPolicy::new(*p).ok()?;
    let weight = u32::from(p.bucket_weights_percent[policy.bucket(db).index()]);
    (weight > 0).then(|| (u32::from(p.min_weighted_minutes_per_day) * 100).div_ceil(weight))
}

fn minutes(n: u32) -> String {
    if n == 1 { "1 minute".to_owned() } else { format!("{n} minutes") }
}

/// The rules of `p` in plain words, one sentence each.
fn rules_in_words(p: &PolicyParams) -> Vec<String> {
    let [t0, t1, t2] = p.attenuation_thresholds_db;
    let mut rules = Vec::new();
    let bands = [
        (format!("closer than {} (signal loss under {t0} dB)", rough_distance(t0)), t0.saturating_sub(1)),
        (format!("at {} to {} ({t0} to {t1} dB)", rough_distance(t0), rough_distance(t1)), t1.saturating_sub(1)),
        (format!("at {} to {} ({t1} to {t2} dB)", rough_distance(t1), rough_distance(t2)), t2.saturating_sub(1)),
        (format!("farther than {} ({t2} dB or more)", rough_distance(t2)), t2),
    ];
    for (i, (band, db)) in bands.iter().enumerate() {
        let weight = p.bucket_weights_percent[i];
        rules.push(match minutes_to_yellow(p, *db) {
            Some(n) => format!(
                "A contact {band}: a minute counts {weight} %; {} of it in one day turn a phone yellow.",
                minutes(n)
            ),
            None => format!("A contact {band} does not count."),
        });
    }
    rules.push(format!(
        "Days on which the person who reported was less infectious than level {} of 8 are ignored.",
        p.min_transmission_risk
    ));
    rules.extend(venue_rules(&p.min_venue_overlap_minutes));
    rules.push(format!(
        "Contacts of the last {} days count; a yellow lasts {} days after the last contact.",
        p.lookback_days, p.yellow_days
    ));
    rules.push(format!("A red lasts {} days after the positive test or diagnosis.", p.red_days));
    rules.push(format!("A phone that has not updated for {} hours shows stale.", p.stale_after_hours));
    rules
}

/// The venue rule in sentences: one for every kind alike, else one per
/// kind.
fn venue_rules(overlaps: &VenueOverlaps) -> Vec<String> {
    let rule = |what: &str, minutes: Option<u16>| match minutes {
        Some(m) => format!(
            "{} at {what} at the same time as a reported visit turn a phone yellow.",
            capitalised(&self::minutes(m.into()))
        ),
        None => format!("A visit to {what} never turns a phone yellow, however long."),
    };
    if overlaps.as_uniform().is_some() {
        return vec![rule("a venue of any kind", overlaps.minutes(VenueKind::Other))];
    }
    VenueKind::ALL.iter().map(|&k| rule(&format!("a venue of kind {}", k.as_str()), overlaps.minutes(k))).collect()
}

/// "30 minutes", or "never" for a kind whose visits never alert.
fn overlap_words(minutes: u32) -> String {
    if minutes == u32::from(VenueOverlaps::NEVER) { "never".to_owned() } else { self::minutes(minutes) }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// What changing `before` into `after` does, field by field.
fn changes(before: &PolicyParams, after: &PolicyParams) -> Vec<Change> {
    let (old, new) = (values(before), values(after));
    let mut out = Vec::new();
    for (i, (_, label, _, _)) in FIELDS.iter().enumerate() {
        let (o, n) = (old[i], new[i]);
        if o == n {
            continue;
        }
        let meaning = match i {
            0..=2 => format!(
                "The band's edge moves from {} to {}.",
                rough_distance(u8::try_from(o).unwrap_or(u8::MAX)),
                rough_distance(u8::try_from(n).unwrap_or(u8::MAX))
            ),
            3..=6 => format!(
                "A minute in this band now counts as {} of a minute (before: {}).",
                f64::from(n) / 100.0,
                f64::from(o) / 100.0
            ),
            7 => format!("{} of counted contact in one day now turn a phone yellow.", capitalised(&minutes(n))),
            8 => format!("Days below level {n} of 8 are now ignored (before: below {o})."),
            9..=17 => venue_change(VenueKind::ALL[i - VENUE_FIELD], o, n),
            18 => format!("Contacts of the last {n} days now count (before: {o})."),
            19 => format!("A yellow now ends {n} days after the last contact (before: {o})."),
            20 => format!("A red now ends {n} days after the positive test (before: {o})."),
            _ => format!("A phone now shows stale after {n} hours without an update (before: {o})."),
        };
        out.push(Change { what: label, before: o.to_string(), after: n.to_string(), meaning });
    }
    out
}

/// What changing the minimum overlap for visits of `kind` from `o` to `n`
/// minutes means (0: never).
fn venue_change(kind: VenueKind, o: u32, n: u32) -> String {
    let kind = kind.as_str();
    match (o, n) {
        (_, 0) => format!(
            "A visit to a venue of kind {kind} no longer turns a phone yellow, however long (before: {}).",
            overlap_words(o)
        ),
        (0, _) => format!(
            "A visit to a venue of kind {kind} overlapping a reported one by {} now turns a phone yellow (before: \
             never).",
            minutes(n)
        ),
        _ => format!(
            "A visit to a venue of kind {kind} overlapping a reported one by {} now turns a phone yellow (before: {}).",
            minutes(n),
            minutes(o)
        ),
    }
}

/// What the change means for a phone: for a contact at the edge of each
/// band (of either policy), how many minutes in one day turn a phone
/// yellow now and before; then the venue rule.
fn effects(before: &PolicyParams, after: &PolicyParams) -> Vec<String> {
    let mut points: Vec<u8> = Vec::new();
    for p in [before, after] {
        let [t0, t1, t2] = p.attenuation_thresholds_db;
        points.extend([t0.saturating_sub(1), t1.saturating_sub(1), t2.saturating_sub(1), t2]);
    }
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    for db in points {
        let at = format!("at {} (signal loss {db} dB)", rough_distance(db));
        match (minutes_to_yellow(before, db), minutes_to_yellow(after, db)) {
            (o, n) if o == n => {}
            (Some(o), Some(n)) => out.push(format!(
                "A contact of {} in one day {at} now turns a phone yellow (before: {}).",
                minutes(n),
                minutes(o)
            )),
            (Some(o), None) => out.push(format!(
                "A contact {at} no longer counts (before: {} in one day turned a phone yellow).",
                minutes(o)
            )),
            (None, Some(n)) => out.push(format!(
                "A contact {at} now counts: {} of it in one day turn a phone yellow (before: it did not count).",
                minutes(n)
            )),
            (None, None) => {}
        }
    }
    let (o, n) = (before.min_venue_overlap_minutes, after.min_venue_overlap_minutes);
    for kind in VenueKind::ALL.into_iter().filter(|&k| o.minutes(k) != n.minutes(k)) {
        let as_number = |m: Option<u16>| m.map_or(0, u32::from);
        out.push(venue_change(kind, as_number(o.minutes(kind)), as_number(n.minutes(kind))));
    }
    if before.min_transmission_risk != after.min_transmission_risk {
        let (o, n) = (before.min_transmission_risk, after.min_transmission_risk);
        out.push(if n > o {
            format!("Fewer contacts count: those on days a reporter was below level {n} of 8 are now ignored.")
        } else {
            format!("More contacts count: days a reporter was at level {n} of 8 or more now count (before: {o}).")
        });
    }
    out
}

/// The policies this authority published, newest first, with the
/// verified policy of each (none when another key signed it).
async fn versions(state: &AuthorityState) -> Result<Vec<(PolicyRow, Option<ColorPolicy>)>, Response> {
    let stored = state.store.policies().await.map_err(unavailable)?;
    // Every policy key this authority has had (a rotated one too), and the
    // root, which signed policies before key sets.
    let listed = state
        .keys
        .decoded_key_set()
        .map(|set| set.listed(greenlight_protocol::trust::Purpose::Policy).map(|e| e.key).collect::<Vec<_>>());
    let trusted = TrustedKeys::from_keys(
        [state.keys.policy.verifying_key(), state.keys.signing.verifying_key()]
            .into_iter()
            .chain(listed.into_iter().flatten()),
    );
    Ok(stored
        .into_iter()
        .map(|row| {
            let policy = ColorPolicy::verify(&row.file, &trusted).ok();
            (row, policy)
        })
        .collect())
}

/// The policy in force and how to name it: the newest published, or the
/// built-in default policy phones use until one is.
fn in_force(versions: &[(PolicyRow, Option<ColorPolicy>)]) -> (ColorPolicy, String) {
    match versions.iter().find_map(|(row, p)| p.map(|p| (row, p))) {
        Some((row, policy)) => {
            (policy, format!("policy {}, signed {} by {}", row.sequence, when(row.issued_at), row.created_by))
        }
        None => (ColorPolicy::recommended(0, UnixTime(0)), BUILT_IN_DEFAULT.to_owned()),
    }
}

async fn show(
    state: &AuthorityState,
    page: Page,
    status: StatusCode,
    form: Option<([String; N], HashMap<&'static str, String>)>,
) -> Response {
    let versions = match versions(state).await {
        Ok(versions) => versions,
        Err(response) => return response,
    };
    let (current, name) = in_force(&versions);
    let in_force_text = if versions.is_empty() {
        format!(
            "No policy has been published yet: every phone uses {name}, whose values are below (and prefill the \
             form). Publishing a policy replaces it at the phones' next sync."
        )
    } else {
        format!("In force: {name}. Phones apply it at their next sync.")
    };
    let (values, errors) = form.unwrap_or_else(|| (values(current.params()).map(|v| v.to_string()), HashMap::new()));
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
    render(
        status,
        &PolicyPage {
            page,
            in_force: in_force_text,
            in_force_rules: rules_in_words(current.params()),
            groups: groups(&values, &errors),
            versions,
        },
    )
}

fn page_for(staff: &Staff) -> Page {
    Page::for_staff(staff, "Color policy", "/portal/policy")
}

/// `GET /portal/policy`; the preview's "Change the values" comes back
/// here with the values in the query, to prefill the form.
pub async fn page(
    State(state): State<Arc<AuthorityState>>,
    staff: Staff,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = staff.require(Role::Admin) {
        return refused;
    }
    let flash = state.flashes.take(&staff.session_hash, state.now_i64());
    let mut page = page_for(&staff);
    if !flash.notice.is_empty() {
        page = page.notice(flash.notice);
    }
    let typed = FIELDS.iter().all(|(name, _, _, _)| query.contains_key(*name));
    let form =
        typed.then(|| (FIELDS.map(|(name, _, _, _)| query.get(name).cloned().unwrap_or_default()), HashMap::new()));
    show(&state, page, StatusCode::OK, form).await
}

/// Reads the form into policy fields, or per-field errors.
fn read(
    form: &HashMap<String, String>,
    sequence: u32,
    issued_at: UnixTime,
) -> Result<ColorPolicy, HashMap<&'static str, String>> {
    let mut errors = HashMap::new();
    let mut numbers = [0u32; N];
    for (i, (name, _, _, _)) in FIELDS.iter().enumerate() {
        let text = form.get(*name).map(|s| s.trim()).unwrap_or("");
        let max = match i {
            0..=2 | 8 | 18..=20 => 255,
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
        min_venue_overlap_minutes: VenueOverlaps::from_wire_order(core::array::from_fn(|k| short(VENUE_FIELD + k))),
        yellow_days: byte(19),
        red_days: byte(20),
        stale_after_hours: short(21),
        lookback_days: byte(18),
    };
    ColorPolicy::new(params).map_err(|e| {
        let (fields, text): (&[&'static str], &str) = match e {
            greenlight_protocol::Error::InvalidField("attenuation_thresholds_db") => {
                (&["t0", "t1", "t2"], "The band edges must rise: closest < near < medium.")
            }
            greenlight_protocol::Error::InvalidField("bucket_weights_percent") => {
                (&["w0", "w1", "w2", "w3"], "Each band counts 0 to 1000 %.")
            }
            greenlight_protocol::Error::InvalidField("min_weighted_minutes_per_day") => {
                (&["min_weighted_minutes"], "At least 1 minute.")
            }
            greenlight_protocol::Error::InvalidField("min_transmission_risk") => {
                (&["min_transmission_risk"], "A level from 0 to 8.")
            }
            greenlight_protocol::Error::InvalidField("lookback_days") => (&["lookback_days"], "1 to 14 days."),
            greenlight_protocol::Error::InvalidField("yellow_days") => {
                (&["yellow_days"], "1 day up to the days back that contacts count, so that a yellow never ends early.")
            }
            greenlight_protocol::Error::InvalidField("red_days") => (&["red_days"], "1 to 28 days: a red must end."),
            greenlight_protocol::Error::InvalidField("stale_after_hours") => (&["stale_hours"], "1 to 336 hours."),
            _ => (&["t0"], "This policy is not valid."),
        };
        fields.iter().map(|f| (*f, text.to_owned())).collect()
    })
}

/// The newest sequence number the key server or this authority used.
async fn newest_sequence(state: &AuthorityState, versions: &[(PolicyRow, Option<ColorPolicy>)]) -> u64 {
    let own = versions.first().map_or(0, |(p, _)| u64::try_from(p.sequence).unwrap_or(0));
    own.max(state.key_server.last_sequence(FileKind::ColorPolicy).await)
}

/// The confirmation tag of a preview of `params` against the newest
/// version `base`, as base64url.
fn confirmation(state: &AuthorityState, base: u64, params: &PolicyParams) -> String {
    let mut preview = base.to_be_bytes().to_vec();
    for v in values(params) {
        preview.extend_from_slice(&v.to_be_bytes());
    }
    greenlight_protocol::codec::to_base64url(&state.keys.code.policy_preview_tag(&preview))
}

/// A refused form, shown again with what was typed and each field's error.
async fn refused(
    state: &AuthorityState,
    staff: &Staff,
    form: &HashMap<String, String>,
    errors: HashMap<&'static str, String>,
) -> Response {
    let values: [String; N] = FIELDS.map(|(name, _, _, _)| form.get(name).cloned().unwrap_or_default());
    let page = page_for(staff).error("Nothing was published: correct the fields marked below.");
    show(state, page, StatusCode::BAD_REQUEST, Some((values, errors))).await
}

/// The preview of `policy` against the policy in force, with the confirm
/// button when it changes something.
fn preview_page(
    state: &AuthorityState,
    page: Page,
    status: StatusCode,
    versions: &[(PolicyRow, Option<ColorPolicy>)],
    base: u64,
    policy: &ColorPolicy,
) -> Response {
    let (current, name) = in_force(versions);
    let changes = changes(current.params(), policy.params());
    let effects = effects(current.params(), policy.params());
    // The first policy may repeat the built-in default: publishing it
    // changes no color but puts a signed, numbered policy in force.
    let first = versions.is_empty();
    let confirm = if changes.is_empty() && !first { String::new() } else { confirmation(state, base, policy.params()) };
    let no_change = if first {
        format!("These are the values of {BUILT_IN_DEFAULT}: publishing them changes no phone's color.")
    } else {
        "These values are the policy in force: publishing them would change nothing, so there is nothing to sign."
            .to_owned()
    };
    let values =
        FIELDS.iter().zip(values(policy.params())).map(|((name, _, _, _), v)| (*name, v.to_string())).collect();
    render(status, &PreviewPage { page, compared_to: name, changes, effects, values, confirm, no_change })
}

/// `POST /portal/policy/preview`: checks the form and shows what it
/// would change; publishes nothing.
pub async fn preview(State(state): State<Arc<AuthorityState>>, form: StaffForm<HashMap<String, String>>) -> Response {
    let StaffForm { staff, form } = form;
    // The preview numbers nothing: any valid sequence reads the form.
    let Draft { versions, base, policy } = match draft(&state, &staff, &form, |_| Some(1)).await {
        Ok(draft) => draft,
        Err(response) => return response,
    };
    let page = Page::for_staff(&staff, "Check the new color policy", "/portal/policy");
    preview_page(&state, page, StatusCode::OK, &versions, base, &policy)
}

/// What the preview and the publish forms both start from.
struct Draft {
    /// The versions this authority published, newest first.
    versions: Vec<(PolicyRow, Option<ColorPolicy>)>,
    /// The sequence the new version follows.
    base: u64,
    /// The form's values as a policy.
    policy: ColorPolicy,
}

/// The admin check, the versions published, the sequence the new one
/// follows, and the form read as a policy numbered `number(base)` (`None`:
/// the sequence numbers are used up).
async fn draft(
    state: &AuthorityState,
    staff: &Staff,
    form: &HashMap<String, String>,
    number: impl FnOnce(u64) -> Option<u32>,
) -> Result<Draft, Response> {
    staff.require(Role::Admin)?;
    let versions = versions(state).await?;
    let base = newest_sequence(state, &versions).await;
    let sequence = number(base).ok_or_else(|| unavailable("policy sequence numbers are used up"))?;
    match read(form, sequence, state.now()) {
        Ok(policy) => Ok(Draft { versions, base, policy }),
        Err(errors) => Err(refused(state, staff, form, errors).await),
    }
}

/// `POST /portal/policy`: signs and publishes the previewed version, then
/// redirects to the policy page. Without the preview's confirmation (or
/// with one for other values, or made before another version was
/// published) it publishes nothing and shows the preview.
pub async fn publish(State(state): State<Arc<AuthorityState>>, form: StaffForm<HashMap<String, String>>) -> Response {
    let StaffForm { staff, form } = form;
    let Draft { versions, base, policy } = match draft(&state, &staff, &form, |base| u32::try_from(base + 1).ok()).await
    {
        Ok(draft) => draft,
        Err(response) => return response,
    };
    let (next, sequence, now) = (base + 1, policy.sequence(), policy.params().issued_at);
    let expected = confirmation(&state, base, policy.params());
    let given = form.get("confirm").map(String::as_str).unwrap_or("");
    if given.is_empty() || !crate::accounts::tokens_match(given, &expected) {
        let why = if given.is_empty() {
            "Nothing was published: check what the new policy changes, then confirm."
        } else {
            "Nothing was published: the values or the policy in force changed since the preview. Check the changes \
             again, then confirm."
        };
        let page = Page::for_staff(&staff, "Check the new color policy", "/portal/policy").error(why);
        return preview_page(&state, page, StatusCode::CONFLICT, &versions, base, &policy);
    }
    let signed = policy.sign(&state.keys.policy);
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
    let notice = format!(
        "Policy {sequence} is signed and listed in the key server's index; phones apply it at their next sync."
    );
    state.flashes.put(&staff.session_hash, Flash { notice, ..Flash::default() }, state.now_i64());
    Redirect::to("/portal/policy").into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn recommended() -> PolicyParams {
        *ColorPolicy::recommended(1, UnixTime(0)).params()
    }

    #[test]
    fn fewer_minutes_for_yellow_is_told_as_what_a_contact_at_a_distance_now_does() {
        let before = recommended();
        let after = PolicyParams { min_weighted_minutes_per_day: 10, ..before };
        let effects = effects(&before, &after);
        assert!(
            effects.contains(
                &"A contact of 10 minutes in one day at about 5 m (signal loss 62 dB) now turns a phone \
                 yellow (before: 15 minutes)."
                    .to_owned()
            ),
            "{effects:#?}"
        );
        let changes = changes(&before, &after);
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].before.as_str(), changes[0].after.as_str()), ("15", "10"));
        assert!(super::effects(&before, &before).is_empty() && super::changes(&before, &before).is_empty());
    }

    #[test]
    fn a_band_that_stops_counting_says_so() {
        let before = recommended();
        let after = PolicyParams { bucket_weights_percent: [100, 100, 0, 0], ..before };
        let effects = effects(&before, &after);
        assert_eq!(
            effects,
            ["A contact at about 18 m (signal loss 78 dB) no longer counts (before: 150 minutes in one day turned a \
              phone yellow)."]
        );
    }

    #[test]
    fn signal_loss_reads_as_a_rough_distance() {
        assert_eq!(rough_distance(40), "under 1 m");
        assert_eq!(rough_distance(50), "about 2 m");
        assert_eq!(rough_distance(63), "about 6 m");
        assert_eq!(rough_distance(73), "about 12 m");
    }
}
