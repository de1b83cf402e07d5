//! `greenlight`: the resident client's command line. It parses arguments,
//! opens the store in the data directory and calls the library; every
//! failure becomes one clear sentence and a non-zero exit code.
#![forbid(unsafe_code)]

/// `println!` for the command's output, which fails with an error instead
/// of panicking when standard output is closed or full
/// (`greenlight status > /dev/full`, `… | head -1`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(|e| format!("cannot write the output: {e}"))?
    }};
}

/// `print!` (no newline, flushed) with the same error in place of a panic.
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout();
        write!(out, $($arg)*).and_then(|()| out.flush()).map_err(|e| format!("cannot write the output: {e}"))?
    }};
}

mod commands;

use clap::{Parser, Subcommand};
use greenlight_client::{Phone, home};
use greenlight_protocol::time::UnixTime;
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
    /// Sets up this device for a deployment: checks once that the key
    /// server answers and signs with the key given, then keeps the
    /// settings. Nothing is kept when a check fails.
    Init {
        /// The key server's base URL, with its scheme (https://keys.example,
        /// or http://127.0.0.1:18080 for a server on this machine).
        #[arg(long)]
        server: String,
        /// The key server's export public key: its export-key.pub file, or
        /// the 64 hex digits in it.
        #[arg(long)]
        server_key: String,
        /// The health authority's signing public key: its signing-key.pub
        /// file, or the 64 hex digits in it.
        #[arg(long)]
        authority_key: String,
        /// The health authority's base URL, where reports get their
        /// certificate [default: the key server's URL, for a server that
        /// runs both].
        #[arg(long)]
        authority_url: Option<String>,
        /// Switch a device already set up for another deployment: erases
        /// its keys, check-ins and visits first (as `greenlight wipe`).
        #[arg(long)]
        force: bool,
    },
    /// Runs in the background: broadcasts rotating IDs, listens, syncs
    /// every hour, until SIGINT or SIGTERM.
    Run {
        /// Bluetooth adapter [default: hci0, else the first].
        #[arg(long)]
        adapter: Option<String>,
        /// Where the pass page listens: a loopback address only
        /// (`greenlight pass` prints the page's address).
        #[arg(long, default_value = "127.0.0.1:0")]
        pass_listen: std::net::SocketAddr,
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
    /// The pass to show at a door: prints the address of the live pass
    /// page the daemon serves on this device (`--serve` serves it here
    /// instead, `--json` prints what it shows). The pass carries no name,
    /// number or code: a colour with its word, the region, when it ends,
    /// and the visit you are checked in to.
    Pass {
        /// Serve the pass page from this command until Ctrl-C (for a device
        /// without the daemon); prints its address first.
        #[arg(long, conflicts_with = "json")]
        serve: bool,
        /// With --serve: the loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:0", requires = "serve")]
        listen: std::net::SocketAddr,
        /// Print the pass as JSON instead.
        #[arg(long)]
        json: bool,
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
        /// The upload code (8 digits or 16 characters), or the link its QR
        /// code holds (greenlight://report?r=…&c=…).
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
    /// Shows or sets this device's Bluetooth calibration: the transmit
    /// power it declares and the correction it applies to what it hears
    /// (measure both against a calibrated phone; defaults −8 dBm and 0 dB).
    Calibration {
        /// The transmit power to declare in advertisements, dBm (−100…20).
        #[arg(long, allow_hyphen_values = true, requires = "rssi_correction")]
        tx_power: Option<i8>,
        /// The correction added to every RSSI heard, dB (−50…50).
        #[arg(long, allow_hyphen_values = true, requires = "tx_power")]
        rssi_correction: Option<i8>,
    },
    /// Bluetooth LE: diagnose this machine's radio.
    Ble {
        #[command(subcommand)]
        command: BleCommand,
    },
    #[cfg(feature = "venue")]
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
        #[cfg(feature = "venue")]
        Command::Venue { command } => {
            return greenlight_venue::cli::run(command, &dir, now, |p| {
                greenlight_client::checkin::read_poster_text(p).map_err(|e| e.to_string())
            })
            .await;
        }
        Command::Init { server, server_key, authority_key, authority_url, force } => {
            return commands::init(&dir, &server, &server_key, &authority_key, authority_url.as_deref(), force).await;
        }
        _ => {}
    }
    // Opening creates a store: on a device never set up (or wiped), say so
    // and leave nothing behind.
    if !greenlight_client::has_store(&dir) {
        return Err(greenlight_client::settings::NOT_SET_UP.into());
    }
    let mut phone = greenlight_client::open(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    greenlight_client::settings::Settings::load(phone.store())?;
    dispatch(command, &mut phone, &dir).await
}

async fn dispatch(command: Command, phone: &mut Phone, dir: &std::path::Path) -> Result<(), String> {
    match command {
        Command::Run { adapter, pass_listen } => run_daemon(phone, adapter, pass_listen, dir).await,
        Command::Pass { serve, listen, json } => commands::pass(phone, dir, serve, listen, json).await,
        Command::Sync => commands::sync(phone).await,
        Command::Status { json, history } => commands::status(phone, json, history),
        Command::Checkin { poster } => commands::check_in(phone, &poster),
        Command::Checkout => commands::check_out(phone),
        Command::Report { code, reveal } => commands::report(phone, &code, reveal.as_deref()).await,
        Command::Visits => commands::visits(phone),
        Command::Diary { state } => commands::diary(phone, &state),
        Command::Calibration { tx_power, rssi_correction } => {
            commands::calibration(phone, tx_power.zip(rssi_correction))
        }
        #[cfg(feature = "venue")]
        Command::Venue { .. } => unreachable!("handled before opening the store"),
        Command::Init { .. } | Command::Wipe { .. } | Command::Ble { .. } => {
            unreachable!("handled before opening the store")
        }
    }
}

/// Prints the radio check; fails (exit 1) when this machine cannot both
/// scan and advertise, so scripts can test it.
fn ble_doctor() -> Result<(), String> {
    #[cfg(feature = "bluez")]
    {
        let report = greenlight_ble::bluez::doctor();
        say_inline!("{report}");
        match report.scanning_problem(None).or_else(|| report.advertising_problem(None)) {
            None => Ok(()),
            Some(missing) => Err(missing.to_string()),
        }
    }
    #[cfg(not(feature = "bluez"))]
    Err("this greenlight was built without the BlueZ backend (feature `bluez`)".into())
}

/// `greenlight run`: the daemon on the real radio, ticking every second.
async fn run_daemon(
    phone: &mut Phone,
    adapter: Option<String>,
    pass_listen: std::net::SocketAddr,
    dir: &std::path::Path,
) -> Result<(), String> {
    #[cfg(feature = "bluez")]
    {
        use greenlight_client::daemon::{Daemon, DaemonConfig};
        let settings = match greenlight_client::settings::Settings::load(phone.store()) {
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
        greenlight_client::pass::check_loopback(pass_listen)?;
        let own = Phone::new(phone.store().clone(), phone.calibration());
        let mut daemon =
            Daemon::start(own, radio, settings, DaemonConfig::default(), now()).await.map_err(|e| e.to_string())?;
        let page = Phone::new(phone.store().clone(), phone.calibration());
        let pass = greenlight_client::pass::serve(page, now, pass_listen, Some(dir)).await?;
        eprintln!("greenlight: running (Ctrl-C to stop); your pass: {}", pass.url);
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
        pass.stop();
        daemon.stop(now()).await.map_err(|e| e.to_string())?;
        eprintln!("greenlight: stopped");
        Ok(())
    }
    #[cfg(not(feature = "bluez"))]
    {
        let _ = (phone, adapter, pass_listen, dir);
        Err("this greenlight was built without the BlueZ backend (feature `bluez`)".into())
    }
}

fn wipe(dir: &std::path::Path, yes: bool) -> Result<(), String> {
    if !dir.exists() {
        say!("Nothing to erase in {}.", dir.display());
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
    greenlight_client::erase(dir)?;
    say!("Erased.");
    Ok(())
}
