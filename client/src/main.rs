//! `greenlight`: the resident client's command line. It parses arguments,
//! opens the store in the data directory and calls the library; every
//! failure becomes one clear sentence and a non-zero exit code.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use greenlight_client::checkin::{self, CheckInError};
use greenlight_client::settings::{Settings, parse_key};
use greenlight_client::store::Store;
use greenlight_client::sync::{Progress, sync_with_retry};
use greenlight_client::{home, status};
use greenlight_protocol::time::UnixTime;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "greenlight", version, about = "Greenlight: your health code, computed on your own device")]
struct Cli {
    /// Data directory [default: $GREENLIGHT_HOME, else the platform's user data directory].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sets up this device for a deployment.
    Init {
        /// The key server's base URL.
        #[arg(long)]
        server: String,
        /// The key server's export public key (64 hex digits, its export-key.pub).
        #[arg(long)]
        server_key: String,
        /// The health authority's signing public key (64 hex digits).
        #[arg(long)]
        authority_key: String,
    },
    /// Runs in the background: broadcasts rotating IDs, listens, syncs
    /// every hour, until SIGINT or SIGTERM.
    Run {
        /// Bluetooth adapter [default: hci0, else the first].
        #[arg(long)]
        adapter: Option<String>,
    },
    /// Downloads what was published and matches it on this device.
    Sync,
    /// Shows your color, why, and until when.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Also list when the color changed over the last 14 days.
        #[arg(long)]
        history: bool,
    },
    /// Checks in at a venue: the poster's QR text, or a photo/screenshot of it.
    Checkin {
        /// `GL1:…` text, a file with it, or a PNG/JPEG of the QR code.
        poster: String,
    },
    /// Checks out of the venue you are checked in at.
    Checkout,
    /// Reports your positive test with the code the health authority gave
    /// you: publishes your keys (and, if you agree, your visits) so that
    /// your contacts are warned. Nobody learns who you are.
    Report {
        /// The upload code (8 digits or 16 characters).
        #[arg(long)]
        code: String,
        /// Reveal your visits of the last 14 days (`all`) or not (`none`);
        /// without it you are asked.
        #[arg(long, value_parser = ["all", "none"])]
        reveal: Option<String>,
    },
    /// Lists your visits (from the visit diary on this device).
    Visits,
    /// Turns the visit diary on or off (off deletes it).
    Diary {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Bluetooth LE: diagnose this machine's radio.
    Ble {
        #[command(subcommand)]
        command: BleCommand,
    },
    /// Venue owners: create a venue, print posters, run the door screen,
    /// answer the health authority's release request.
    Venue {
        #[command(subcommand)]
        command: greenlight_venue::cli::VenueCommand,
    },
    /// Erases everything this device stored (a venue's files are kept).
    Wipe {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BleCommand {
    /// Checks D-Bus, BlueZ, the adapter, its power and LE advertising, and
    /// says what is missing.
    Doctor,
}

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = match home::data_dir(cli.data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    match runtime.block_on(run(cli.command, dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("greenlight: {message}");
    ExitCode::FAILURE
}

async fn run(command: Command, dir: PathBuf) -> Result<(), String> {
    match command {
        Command::Wipe { yes } => return wipe(&dir, yes),
        Command::Ble { command: BleCommand::Doctor } => return ble_doctor(),
        Command::Venue { command } => {
            return greenlight_venue::cli::run(command, &dir, now, |p| {
                checkin::read_poster_text(p).map_err(|e| e.to_string())
            })
            .await;
        }
        _ => {}
    }
    let store = Store::open(&dir).await.map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = dispatch(command, &store).await;
    store.close().await;
    result
}

async fn dispatch(command: Command, store: &Store) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match command {
        Command::Init { server, server_key, authority_key } => {
            let settings =
                Settings { server, export_key: parse_key(&server_key)?, authority_key: parse_key(&authority_key)? };
            settings.save(store).await.map_err(|e| err(&e))?;
            println!("ready: this device syncs with {}", settings.server.trim_end_matches('/'));
        }
        Command::Run { adapter } => return run_daemon(store, adapter).await,
        Command::Sync => {
            let settings = Settings::load(store).await?;
            let http =
                reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().map_err(|e| err(&e))?;
            let mut bar = progress_bar();
            let report = sync_with_retry(store, &settings, &http, now, 5, &mut bar).await.map_err(|e| err(&e))?;
            if report.unchanged {
                println!("up to date");
            } else {
                println!(
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
        }
        Command::Status { json, history } => {
            let t = now();
            let decision = status::status_and_record(store, t).await.map_err(|e| err(&e))?;
            let changes = if history { store.color_history().await.map_err(|e| err(&e))? } else { Vec::new() };
            let alerts = venue_alerts(store).await.map_err(|e| err(&e))?;
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
                println!("{value}");
            } else {
                println!("{decision}");
                for (venue, start, end, message) in &alerts {
                    println!(
                        "Alert for your visit to {venue} ({} – {} UTC){}",
                        UnixTime(*start).iso_minute(),
                        UnixTime(*end).clock(),
                        if message.is_empty() { String::new() } else { format!(": {message}") }
                    );
                }
                if history {
                    println!("Color history:");
                    for c in changes {
                        let until =
                            c.until.map(|u| format!(" until {} UTC", UnixTime(u).iso_minute())).unwrap_or_default();
                        println!("  {} UTC  {}{until}", UnixTime(c.at).iso_minute(), c.color);
                    }
                }
            }
        }
        Command::Checkin { poster } => {
            let t = now();
            let text = checkin::read_poster_text(&poster).map_err(|e| err(&e))?;
            let poster = checkin::verify_poster(&text, t).map_err(|e| err(&e))?;
            let done = checkin::check_in(store, &poster, t).await.map_err(|e| err(&e))?;
            let what = if done.extended {
                format!("Stay extended at {} (since {} UTC)", done.venue, done.arrival.iso_minute())
            } else {
                format!("Checked in at {} at {} UTC", done.venue, done.arrival.iso_minute())
            };
            println!(
                "{what}; automatic check-out at {} UTC (`greenlight checkout` to leave earlier)",
                done.departure.iso_minute()
            );
        }
        Command::Checkout => match checkin::check_out(store, now()).await {
            Ok(done) => println!("Checked out of {} at {} UTC", done.venue, done.departure.iso_minute()),
            Err(CheckInError::NoActiveVisit) => println!("You are not checked in anywhere."),
            Err(e) => return Err(err(&e)),
        },
        Command::Report { code, reveal } => {
            let settings = Settings::load(store).await?;
            let http =
                reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().map_err(|e| err(&e))?;
            let t = now();
            let visits = greenlight_client::report::revealable_visits(store, t).await.map_err(|e| err(&e))?;
            let reveal_all = match reveal.as_deref() {
                Some("all") => true,
                Some(_) => false,
                None if visits.is_empty() => false,
                None => ask_consent(&visits)?,
            };
            let chosen = if reveal_all { visits } else { Vec::new() };
            let done = greenlight_client::report::report(store, &settings, &http, &code, &chosen, t)
                .await
                .map_err(|e| err(&e))?;
            println!(
                "Reported: keys of {} days published{}. Thank you: your contacts will be warned without learning who you are.",
                done.days.len(),
                if done.checkins > 0 { format!(", {} visits revealed", done.checkins) } else { String::new() }
            );
            let decision = status::status(store, t).await.map_err(|e| err(&e))?;
            println!("{decision}");
        }
        Command::Visits => {
            let visits = checkin::visits(store).await.map_err(|e| err(&e))?;
            if visits.is_empty() {
                println!("No visits in the diary.");
            }
            for v in visits {
                let info = v.poster.info();
                let place = if info.address.is_empty() {
                    info.name.clone()
                } else {
                    format!("{}, {}", info.name, info.address)
                };
                println!("{} – {} UTC  {place}", v.arrival.iso_minute(), v.departure.clock());
            }
        }
        Command::Diary { state } => {
            store.set_setting("diary", &state).await.map_err(|e| err(&e))?;
            if state == "off" {
                store.clear_diary().await.map_err(|e| err(&e))?;
                println!("Visit diary off and deleted. Check-ins are still recorded, sealed, for alerts.");
            } else {
                println!("Visit diary on.");
            }
        }
        Command::Wipe { .. } | Command::Ble { .. } | Command::Venue { .. } => {
            unreachable!("handled before opening the store")
        }
    }
    Ok(())
}

/// The venue alerts among the exposures: venue, arrival, departure and the
/// health authority's message, one per visit.
async fn venue_alerts(store: &Store) -> Result<Vec<(String, u64, u64, String)>, greenlight_client::store::StoreError> {
    let mut alerts: Vec<(String, u64, u64, String)> = store
        .exposures()
        .await?
        .into_iter()
        .filter_map(|e| match e {
            greenlight_client::store::Exposure::Venue { venue, start, end, message, .. } => {
                Some((venue, start, end, message))
            }
            greenlight_client::store::Exposure::Ble { .. } => None,
        })
        .collect();
    alerts.sort();
    alerts.dedup();
    Ok(alerts)
}

/// Prints the radio check; fails (exit 1) when this machine cannot both
/// scan and advertise, so scripts can test it.
fn ble_doctor() -> Result<(), String> {
    #[cfg(feature = "bluez")]
    {
        let report = greenlight_ble::bluez::doctor();
        print!("{report}");
        match report.scanning_problem(None).or_else(|| report.advertising_problem(None)) {
            None => Ok(()),
            Some(missing) => Err(missing.to_string()),
        }
    }
    #[cfg(not(feature = "bluez"))]
    Err("this greenlight was built without the BlueZ backend (feature `bluez`)".into())
}

/// `greenlight run`: the daemon on the real radio, ticking every second.
async fn run_daemon(store: &Store, adapter: Option<String>) -> Result<(), String> {
    #[cfg(feature = "bluez")]
    {
        use greenlight_client::daemon::{Daemon, DaemonConfig};
        let settings = match Settings::load(store).await {
            Ok(settings) => Some(settings),
            Err(why) => {
                eprintln!("greenlight: not syncing: {why}");
                None
            }
        };
        let config = greenlight_ble::bluez::BluezConfig { adapter, ..Default::default() };
        let radio = greenlight_ble::bluez::BluezRadio::open(config)
            .await
            .map_err(|e| format!("Bluetooth: {e} (`greenlight ble doctor` explains)"))?;
        let mut daemon = Daemon::start(store.clone(), radio, settings, DaemonConfig::default(), now())
            .await
            .map_err(|e| e.to_string())?;
        eprintln!("greenlight: running (Ctrl-C to stop)");
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = every_second.tick() => { daemon.tick(now()).await.map_err(|e| e.to_string())?; }
            }
        }
        daemon.stop(now()).await.map_err(|e| e.to_string())?;
        eprintln!("greenlight: stopped");
        Ok(())
    }
    #[cfg(not(feature = "bluez"))]
    {
        let _ = (store, adapter);
        Err("this greenlight was built without the BlueZ backend (feature `bluez`)".into())
    }
}

/// Lists the visits and asks, on the terminal, whether to reveal them.
fn ask_consent(visits: &[greenlight_protocol::trace::RevealedCheckIn]) -> Result<bool, String> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(
            "you have visits in your diary: say whether to reveal them with --reveal all or --reveal none".into()
        );
    }
    println!("Your visits of the last 14 days:");
    for v in visits {
        println!("  {} – {} UTC  {}", v.arrival.iso_minute(), v.departure.clock(), v.poster.info().name);
    }
    print!("Reveal these visits to the health authority, so that other visitors can be warned? [y/N] ");
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

fn wipe(dir: &std::path::Path, yes: bool) -> Result<(), String> {
    if !dir.exists() {
        println!("Nothing to erase in {}.", dir.display());
        return Ok(());
    }
    if !yes {
        eprint!("Erase every key, sighting, check-in and visit in {}? Type yes: ", dir.display());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|e| e.to_string())?;
        if answer.trim() != "yes" {
            return Err("not erased".into());
        }
    }
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(greenlight_client::store::DATABASE_FILE)
            || name == greenlight_client::vault::DEVICE_KEY_FILE
        {
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let _ = std::fs::remove_dir(dir);
    println!("Erased.");
    Ok(())
}
