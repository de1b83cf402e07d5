//! The resident commands of `greenlight`, one function each: they call the
//! library and print what a person reads.

use crate::now;
use greenlight_client::checkin::{self, CheckInError};
use greenlight_client::settings::{Settings, parse_server_url, read_key_arg};
use greenlight_client::status;
use greenlight_client::sync::{Progress, SyncError, sync_with_retry};
use greenlight_client::{Exposure, Phone, os_rng};
use greenlight_protocol::time::UnixTime;
use std::io::Write as _;

fn err(e: &dyn std::fmt::Display) -> String {
    e.to_string()
}

fn http() -> Result<reqwest::Client, String> {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().map_err(|e| err(&e))
}

/// `greenlight init`: checks the arguments and the server before anything
/// is written, refuses to switch a device set up for another deployment
/// unless `force`, and on any failure leaves the data directory as it was.
pub(crate) async fn init(
    dir: &std::path::Path,
    server: &str,
    server_key: &str,
    authority_key: &str,
    authority_url: Option<&str>,
    force: bool,
) -> Result<(), String> {
    let settings = Settings {
        server: parse_server_url(server, "--server")?,
        authority: authority_url.map(|url| parse_server_url(url, "--authority-url")).transpose()?,
        export_key: read_key_arg(server_key, "--server-key")?,
        authority_key: read_key_arg(authority_key, "--authority-key")?,
    };
    let existed = greenlight_client::has_store(dir);
    if existed {
        let phone = greenlight_client::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Ok(old) = Settings::load(phone.store()) {
            if old == settings {
                say!("already set up: this device syncs with {}", old.server);
                return Ok(());
            }
            if !force {
                return Err(format!(
                    "this device is already set up for {} (with other keys or addresses); nothing was changed. \
                     Switching erases its keys, check-ins and visits: add --force to do so",
                    old.server
                ));
            }
        }
    }
    check_server(&settings).await?;
    if existed && force {
        greenlight_client::erase(dir)?;
    }
    let fresh = !greenlight_client::has_store(dir);
    let saved = greenlight_client::open(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|mut phone| settings.save(phone.store_mut()).map_err(|e| err(&e)));
    if let Err(e) = saved {
        if fresh {
            let _ = greenlight_client::erase(dir);
        }
        return Err(e);
    }
    say!("ready: this device syncs with {}", settings.server);
    if settings.authority.is_some() {
        say!("reports are certified by the health authority at {}", settings.authority_url());
    }
    Ok(())
}

/// Fetches and verifies the key server's index once, turning each way it
/// can fail into what to check.
async fn check_server(settings: &Settings) -> Result<(), String> {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().map_err(|e| err(&e))?;
    match greenlight_client::sync::check_server(settings, &http).await {
        Ok(()) => Ok(()),
        Err(SyncError::Phone(greenlight_phone::SyncError::Rejected(why))) => Err(format!(
            "the key server at {} does not sign with the --server-key given ({why}): give this server's \
             export-key.pub (not the health authority's key); nothing was set up",
            settings.server
        )),
        Err(e) => Err(format!("{e}; nothing was set up")),
    }
}

/// `greenlight sync`.
pub(crate) async fn sync(phone: &mut Phone) -> Result<(), String> {
    let settings = Settings::load(phone.store())?;
    let http = http()?;
    let mut bar = progress_bar();
    let report = sync_with_retry(phone, &settings, &http, now, 5, &mut bar).await.map_err(|e| err(&e))?;
    if report.unchanged {
        say!("up to date");
    } else {
        say!(
            "synced: {} files, {} published keys checked, {} new exposures{}",
            report.files,
            report.keys,
            report.exposures,
            if report.rejected_sightings > 0 {
                format!(", {} relayed or tampered sightings refused", report.rejected_sightings)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `greenlight status`.
pub(crate) fn status(phone: &mut Phone, json: bool, history: bool) -> Result<(), String> {
    let t = now();
    let decision = phone.status_and_record(t).map_err(|e| err(&e))?;
    let changes =
        if history { greenlight_phone::Store::color_history(phone.store()).map_err(|e| err(&e))? } else { Vec::new() };
    let alerts = venue_alerts(phone).map_err(|e| err(&e))?;
    if json {
        let mut value = status::to_json(&decision, t);
        value["venue_alerts"] = serde_json::Value::Array(
            alerts
                .iter()
                .map(|(venue, start, end, message)| {
                    serde_json::json!({ "venue": venue, "arrival": start, "departure": end, "message": message })
                })
                .collect(),
        );
        if history {
            value["history"] = serde_json::to_value(&changes).map_err(|e| err(&e))?;
        }
        say!("{value}");
    } else {
        say!("{decision}");
        for (venue, start, end, message) in &alerts {
            say!(
                "Alert for your visit to {venue} ({}){}",
                span(UnixTime(*start), UnixTime(*end)),
                if message.is_empty() { String::new() } else { format!(": {message}") }
            );
        }
        if history {
            say!("Color history:");
            for c in changes {
                let until = c.until.map(|u| format!(" until {} UTC", UnixTime(u).iso_minute())).unwrap_or_default();
                say!("  {} UTC  {}{until}", UnixTime(c.at).iso_minute(), c.color);
            }
        }
    }
    Ok(())
}

/// `greenlight pass`: the address of the daemon's pass page, the pass as
/// JSON, or (`serve`) the page served from here until SIGINT or SIGTERM.
pub(crate) async fn pass(
    phone: &mut Phone,
    dir: &std::path::Path,
    serve: bool,
    listen: std::net::SocketAddr,
    json: bool,
) -> Result<(), String> {
    use greenlight_client::pass;
    if json {
        say!("{}", pass::current(phone, now())?);
        return Ok(());
    }
    if !serve {
        return match pass::running_url(dir).await? {
            Some(url) => {
                say!("{url}");
                Ok(())
            }
            None => Err("no pass page is running on this device: start the daemon (`greenlight run`), or serve \
                         the page from here with `greenlight pass --serve`"
                .into()),
        };
    }
    let page = Phone::new(phone.store().clone(), phone.calibration());
    let served = pass::serve(page, now, listen, None).await?;
    say!("Your pass: {} (open it on this device; Ctrl-C to stop)", served.url);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| err(&e))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    served.stop();
    Ok(())
}

/// `greenlight checkin`.
pub(crate) fn check_in(phone: &mut Phone, poster: &str) -> Result<(), String> {
    let t = now();
    let text = checkin::read_poster_text(poster).map_err(|e| err(&e))?;
    let poster = checkin::verify_poster(&text, t).map_err(|e| err(&e))?;
    let done = phone.check_in(&poster, t, &mut os_rng()).map_err(|e| err(&e))?;
    let what = if done.extended {
        format!("Stay extended at {} (since {} UTC)", done.venue, done.arrival.iso_minute())
    } else {
        format!("Checked in at {} at {} UTC", done.venue, done.arrival.iso_minute())
    };
    say!("{what}; automatic check-out at {} UTC (`greenlight checkout` to leave earlier)", done.departure.iso_minute());
    Ok(())
}

/// `greenlight checkout`.
pub(crate) fn check_out(phone: &mut Phone) -> Result<(), String> {
    match phone.check_out(now(), &mut os_rng()) {
        Ok(done) => say!("Checked out of {} at {} UTC", done.venue, done.departure.iso_minute()),
        Err(CheckInError::NoActiveVisit) => say!("You are not checked in anywhere."),
        Err(e) => return Err(err(&e)),
    }
    Ok(())
}

/// `greenlight report`.
pub(crate) async fn report(phone: &mut Phone, code: &str, reveal: Option<&str>) -> Result<(), String> {
    // The code is checked first, so that a typing mistake is said as such
    // and not hidden behind "nothing to report".
    let code = &greenlight_api::device::upload_code(code).map_err(|e| e.message)?;
    greenlight_api::device::check_upload_code(code).map_err(|e| e.message)?;
    let settings = Settings::load(phone.store())?;
    let http = http()?;
    let t = now();
    let visits = phone.revealable_visits(t).map_err(|e| err(&e))?;
    let reveal_all = match reveal {
        Some("all") => true,
        Some(_) => false,
        None if visits.is_empty() => false,
        None => ask_consent(&visits)?,
    };
    let chosen = if reveal_all { visits } else { Vec::new() };
    let done =
        greenlight_client::report::report(phone, &settings, &http, code, &chosen, t).await.map_err(|e| err(&e))?;
    say!(
        "Reported: {}{}. Your diagnosis: {}, {} {}. Thank you: your contacts will be warned without learning who \
         you are.",
        published_keys(&done.days, t),
        if done.checkins > 0 { format!(", {} visits revealed", done.checkins) } else { String::new() },
        match done.report_type {
            greenlight_protocol::report::ReportType::ConfirmedTest => "confirmed test",
            greenlight_protocol::report::ReportType::ClinicalDiagnosis => "clinical diagnosis",
        },
        if done.symptom_onset { "symptom onset" } else { "test date" },
        done.diagnosis_day.iso_date()
    );
    let decision = phone.status(t).map_err(|e| err(&e))?;
    say!("{decision}");
    Ok(())
}

/// What became of the uploaded keys: a key is published only once its day
/// is over plus the embargo (spec §10.4), so today's waits.
fn published_keys(days: &[greenlight_protocol::time::DayNumber], now: UnixTime) -> String {
    let embargo = greenlight_protocol::matcher::MatchConfig::default().embargo_secs;
    let ready = |d: &&greenlight_protocol::time::DayNumber| d.end().plus(embargo) <= now;
    let published = days.iter().filter(ready).count();
    let waiting_until = days.iter().map(|d| d.end().plus(embargo)).filter(|t| *t > now).max();
    match (days.len(), waiting_until) {
        (0, _) => "no Bluetooth keys (this device has not been broadcasting)".to_owned(),
        (n, None) => format!("keys of {n} days uploaded, published with the key server's next export"),
        (n, Some(until)) if published == 0 => {
            format!("keys of {n} days uploaded, waiting for the embargo until {} UTC", until.iso_minute())
        }
        (n, Some(until)) => format!(
            "keys of {n} days uploaded: {published} published with the key server's next export, {} waiting for \
             the embargo until {} UTC",
            n - published,
            until.iso_minute()
        ),
    }
}

/// `greenlight visits`: a visit in progress says so, with its automatic
/// check-out, instead of presenting the planned check-out as its end.
pub(crate) fn visits(phone: &Phone) -> Result<(), String> {
    let visits = phone.visits().map_err(|e| err(&e))?;
    if visits.is_empty() {
        say!("No visits in the diary.");
    }
    let t = now();
    for v in visits {
        let info = v.poster.info();
        let place =
            if info.address.is_empty() { info.name.clone() } else { format!("{}, {}", info.name, info.address) };
        // Departures are whole minutes: one ending within this minute (just
        // checked out of) is over, as check-out judges it.
        let when = if v.arrival <= t && t.plus(60) < v.departure {
            let until = if v.departure.day() == t.day() {
                v.departure.clock().to_string()
            } else {
                v.departure.iso_minute().to_string()
            };
            format!("{} UTC, checked in, automatic check-out at {until} UTC", v.arrival.iso_minute())
        } else {
            span(v.arrival, v.departure)
        };
        say!("{when}  {place}");
    }
    Ok(())
}

/// `greenlight diary on|off`.
pub(crate) fn diary(phone: &mut Phone, state: &str) -> Result<(), String> {
    phone.set_diary(state == "on").map_err(|e| err(&e))?;
    if state == "off" {
        say!("Visit diary off and deleted. Check-ins are still recorded, sealed, for alerts.");
    } else {
        say!("Visit diary on.");
    }
    Ok(())
}

/// `greenlight calibration`: shows this device's calibration, or sets it
/// (used from the next start of the daemon or command).
pub(crate) fn calibration(phone: &mut Phone, set: Option<(i8, i8)>) -> Result<(), String> {
    if let Some((tx_power_dbm, rssi_correction_db)) = set {
        let calibration = greenlight_protocol::calibration::Calibration { tx_power_dbm, rssi_correction_db };
        greenlight_client::set_device_calibration(phone.store_mut(), calibration)?;
        say!("Calibration set: advertises {tx_power_dbm} dBm, corrects what it hears by {rssi_correction_db:+} dB.");
        return Ok(());
    }
    let current = greenlight_client::device_calibration(phone.store()).map_err(|e| err(&e))?;
    let origin = if current == greenlight_client::DEVICE_CALIBRATION { " (the default)" } else { "" };
    say!(
        "Advertises {} dBm, corrects what it hears by {:+} dB{origin}.",
        current.tx_power_dbm,
        current.rssi_correction_db
    );
    Ok(())
}

/// The venue alerts among the exposures: venue, arrival, departure and the
/// health authority's message, one per visit.
fn venue_alerts(phone: &Phone) -> Result<Vec<(String, u64, u64, String)>, greenlight_client::StoreError> {
    let mut alerts: Vec<(String, u64, u64, String)> = phone
        .venue_alerts()?
        .into_iter()
        .filter_map(|e| match e {
            Exposure::Venue { venue, start, end, message, .. } => Some((venue, start, end, message)),
            Exposure::Ble { .. } => None,
        })
        .collect();
    alerts.sort();
    alerts.dedup();
    Ok(alerts)
}

/// A stay for people ([`UnixTime::span_to`]).
fn span(start: UnixTime, end: UnixTime) -> String {
    start.span_to(end)
}

/// Lists the visits and asks, on the terminal, whether to reveal them.
fn ask_consent(visits: &[greenlight_protocol::trace::RevealedCheckIn]) -> Result<bool, String> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(
            "you have visits in your diary: say whether to reveal them with --reveal all or --reveal none".into()
        );
    }
    say!("Your visits of the last 14 days:");
    for v in visits {
        say!("  {}  {}", span(v.arrival, v.departure), v.poster.info().name);
    }
    say_inline!("Reveal these visits to the health authority, so that other visitors can be warned? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| e.to_string())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn progress_bar() -> impl FnMut(Progress) {
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    move |p: Progress| {
        if interactive && p.total > 1 {
            let width = 30;
            let filled = p.done * width / p.total.max(1);
            eprint!("\r[{}{}] {}/{} files", "#".repeat(filled), ".".repeat(width - filled), p.done, p.total);
            if p.done == p.total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    }
}
