//! `greenlight venue …`: the venue owner's commands. Each parses its
//! arguments, calls this crate's library and prints what happened in words;
//! every failure is one sentence. The `greenlight` binary embeds
//! [`VenueCommand`] as its `venue` subcommand and hands it to [`run`].

use crate::font::{FONT_HINT, Fonts};
use crate::screen::{Screen, ScreenConfig};
use crate::sheet::{self, Sheet, SheetFormat};
use crate::{
    AuthorityKeys, BACKUP_FILE, EpochUse, KEY_FILE, Venue, fingerprint, long_date, parse_date, parse_kind,
    read_key_arg, read_request, screen, write_atomic,
};
use clap::Subcommand;
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::venue::VenueInfo;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `println!` for the command's output, which fails with an error instead
/// of panicking when standard output is closed or full.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(|e| format!("cannot write the output: {e}"))?
    }};
}

/// `print!` (no newline, flushed) with the same error in place of a panic.
#[allow(unused_macros)]
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout();
        write!(out, $($arg)*).and_then(|()| out.flush()).map_err(|e| format!("cannot write the output: {e}"))?
    }};
}

/// The venue owner's commands.
#[derive(Debug, Subcommand)]
pub enum VenueCommand {
    /// Creates a venue: a new secret (kept in this data directory, mode
    /// 0600) and a printable backup of it.
    Create {
        /// The name on the posters (at most 40 characters, in any script).
        #[arg(long)]
        name: String,
        /// shop, restaurant, transit, workplace, event, leisure, education, care or other.
        #[arg(long = "type")]
        kind: String,
        /// Address or room (at most 40 characters).
        #[arg(long, default_value = "")]
        address: String,
        /// The health authority's signing key: 64 hex digits or its signing-key.pub file.
        #[arg(long, env = "GREENLIGHT_AUTHORITY_KEY")]
        authority_key: String,
        /// The health authority's trace key: 64 hex digits or its trace-key.pub file.
        #[arg(long, env = "GREENLIGHT_TRACE_KEY")]
        trace_key: String,
    },
    /// Restores a venue from its printed backup.
    Restore {
        /// The backup file (or the sheet typed back in).
        #[arg(long)]
        backup: PathBuf,
    },
    /// Shows the venue, its key and the epochs opened.
    Show,
    /// Makes printable posters: one A4 sheet per day, each valid on its own
    /// day only.
    Posters {
        /// How many days, starting with --from.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// First day, YYYY-MM-DD (UTC) [default: today].
        #[arg(long)]
        from: Option<String>,
        /// Output: a .pdf (one page per day), or .svg / .png (one file per day).
        #[arg(long)]
        out: PathBuf,
        /// A font file (.otf, .ttf or .ttc) to print the text in, tried before
        /// the installed Noto Sans CJK and DejaVu Sans (also
        /// GREENLIGHT_POSTER_FONT, `:`-separated). Repeat for more.
        #[arg(long)]
        font: Vec<PathBuf>,
    },
    /// Serves the full-screen page for a tablet at the door: a QR code that
    /// changes every few minutes and the live time.
    Screen {
        /// Address to listen on, IP:PORT or HOST:PORT (use 0.0.0.0:PORT to
        /// reach it from a tablet on the network). The default port is not
        /// 8080, the key server's.
        #[arg(long, default_value = "127.0.0.1:8090", value_parser = greenlight_api::listen_addr)]
        listen: SocketAddr,
        /// Minutes each code is shown (a divisor of 60).
        #[arg(long, default_value_t = 5)]
        rotate_minutes: u16,
        /// Minutes of codes the page keeps ahead, for when the network fails.
        #[arg(long, default_value_t = 120)]
        ahead_minutes: u16,
    },
    /// Prints the posters of past epochs, for a health authority tracing a
    /// paper guest list (paste them into its portal).
    Epochs {
        /// First day, YYYY-MM-DD [default: 14 days ago].
        #[arg(long)]
        from: Option<String>,
        /// Last day, YYYY-MM-DD [default: today].
        #[arg(long)]
        to: Option<String>,
    },
    /// Answers the health authority's release request: the secrets of
    /// exactly the epochs it asks for, never the venue's master secret.
    Release {
        /// The request file from the authority, or its text.
        #[arg(long)]
        request: String,
        /// The authority's key set (`key-set.bin` from the portal, or its
        /// text): names the key that signs requests.
        #[arg(long)]
        key_set: Option<String>,
        /// Posters (text, file or image) of requested epochs missing from
        /// the log, e.g. after restoring from the backup.
        #[arg(long)]
        poster: Vec<String>,
        /// Where to write the signed release [default: release-<venue>-<time>.bin].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Reads a poster's QR text from what the owner gave on the command line:
/// the text itself, a text file, or a photo of the poster. The resident
/// client's poster reader (the one a phone uses) is passed in, so that
/// posters are read one way everywhere.
pub type ReadPoster = fn(&str) -> Result<String, String>;

/// Runs one venue command in `dir`, at the clock `now`; `read_poster`
/// reads the `--poster` arguments of `venue release`.
pub async fn run(
    command: VenueCommand,
    dir: &Path,
    now: fn() -> UnixTime,
    read_poster: ReadPoster,
) -> Result<(), String> {
    let rng = &mut rand_core::UnwrapErr(getrandom::SysRng);
    match command {
        VenueCommand::Create { name, kind, address, authority_key, trace_key } => {
            let info = VenueInfo {
                name: name.trim().to_owned(),
                address: address.trim().to_owned(),
                kind: parse_kind(&kind).map_err(err)?,
            };
            let authority = AuthorityKeys::new(
                read_key_arg(&authority_key, "authority key").map_err(err)?,
                read_key_arg(&trace_key, "trace key").map_err(err)?,
            )
            .map_err(err)?;
            let venue = Venue::create(dir, info, authority, rng).map_err(err)?;
            let backup = dir.join(BACKUP_FILE);
            write_atomic(&backup, venue.backup_text().as_bytes(), 0o600).map_err(err)?;
            say!(
                "Created {} ({}), venue key {}.",
                venue.info().name,
                venue.info().kind.as_str(),
                fingerprint(&venue.public_key())
            );
            say!("Its secret is in {} (readable by you only).", dir.join(KEY_FILE).display());
            say!(
                "Print {} and lock it away, then delete the file: it restores the venue if this computer is lost.",
                backup.display()
            );
        }
        VenueCommand::Restore { backup } => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&backup).map_err(|e| format!("{}: {e}", backup.display()))?,
            );
            let venue = Venue::restore(dir, &text).map_err(err)?;
            say!("Restored {}, venue key {}.", venue.info().name, fingerprint(&venue.public_key()));
            say!(
                "Posters printed before keep working; to release their epochs, give their posters with `venue release --poster`."
            );
        }
        VenueCommand::Show => {
            let venue = Venue::open(dir).map_err(err)?;
            let info = venue.info();
            say!("venue:          {}", info.name);
            if !info.address.is_empty() {
                say!("address:        {}", info.address);
            }
            say!("type:           {}", info.kind.as_str());
            say!("venue key:      {}", hex::encode(venue.public_key().as_bytes()));
            say!("authority key:  {}", hex::encode(venue.authority().signing.as_bytes()));
            let sheets = venue.epochs().iter().filter(|e| e.purpose == EpochUse::Sheet).count();
            let hours = venue.epochs().len() - sheets;
            say!("epochs opened:  {sheets} printed day(s), {hours} screen hour(s)");
        }
        VenueCommand::Posters { days, from, out, font } => {
            let format = SheetFormat::from_path(&out).map_err(err)?;
            let fonts = Fonts::system(&font).map_err(err)?;
            let t = now();
            let first = match from {
                Some(date) => parse_date(&date).map_err(err)?,
                None => t.day(),
            };
            if first < t.day() {
                return Err("--from is in the past: a poster is only valid on its own day".into());
            }
            let mut venue = Venue::open(dir).map_err(err)?;
            let posters = venue.day_posters(first, days, t, rng).map_err(err)?;
            let sheets: Vec<Sheet> = posters
                .iter()
                .map(|p| Sheet {
                    venue: p.info().name.clone(),
                    address: p.info().address.clone(),
                    kind: p.info().kind.as_str().to_owned(),
                    date: long_date(p.epoch().day()),
                    valid: "Valid 00:00–24:00 UTC".to_owned(),
                    fingerprint: fingerprint(p.venue_key()),
                    qr_text: p.to_text(),
                })
                .collect();
            let text: String = sheets.iter().map(|s| format!("{} {} ", s.venue, s.address)).collect();
            let missing = fonts.missing(&text);
            if !fonts.is_empty() && !missing.is_empty() && format != SheetFormat::Svg {
                let missing: String = missing.into_iter().collect();
                say!(
                    "Note: no installed font has {missing}: the poster shows a box for each (the QR code holds the exact name); {FONT_HINT}."
                );
            }
            let mut written = Vec::new();
            match format {
                SheetFormat::Pdf => {
                    write_file(&out, &sheet::render_pdf(&sheets, &fonts).map_err(err)?)?;
                    written.push(out.clone());
                }
                SheetFormat::Svg | SheetFormat::Png => {
                    for (sheet, poster) in sheets.iter().zip(&posters) {
                        let path = if days == 1 {
                            out.clone()
                        } else {
                            dated(&out, &poster.epoch().day().iso_date().to_string())
                        };
                        let bytes = if format == SheetFormat::Svg {
                            sheet::render_svg(sheet, &fonts).map_err(err)?.into_bytes()
                        } else {
                            sheet::render_png(sheet, &fonts).map_err(err)?
                        };
                        write_file(&path, &bytes)?;
                        written.push(path);
                    }
                }
            }
            let last = first.plus(days - 1);
            say!("{} poster(s) for {} to {}:", days, first.iso_date(), last.iso_date());
            for path in written {
                say!("  {}", path.display());
            }
            say!("Put up each day's sheet on its day only; a sheet does not work on any other day.");
        }
        VenueCommand::Screen { listen, rotate_minutes, ahead_minutes } => {
            let venue = Venue::open(dir).map_err(err)?;
            let name = venue.info().name.clone();
            let screen = Screen::new(venue, ScreenConfig { rotate_minutes, ahead_minutes }, now).map_err(err)?;
            screen::serve(screen, listen, |addr| {
                // The screen keeps serving even if nobody reads this line.
                let mut out = std::io::stdout();
                let _ = writeln!(out, "Door screen of {name} at http://{addr}/ (Ctrl-C to stop)")
                    .and_then(|()| out.flush());
            })
            .await?;
            say!("Door screen stopped.");
        }
        VenueCommand::Epochs { from, to } => {
            let venue = Venue::open(dir).map_err(err)?;
            let t = now();
            let first = match from {
                Some(date) => parse_date(&date).map_err(err)?,
                None => t.day().minus(14),
            };
            let last = match to {
                Some(date) => parse_date(&date).map_err(err)?,
                None => t.day(),
            };
            let mut shown = 0;
            say!("# {} — venue key {}", venue.info().name, hex::encode(venue.public_key().as_bytes()));
            say!(
                "# Give all of this to the health authority (portal: Venue alerts → Trace a paper guest list), with the hours your guest list shows."
            );
            let mut epochs: Vec<_> = venue.epochs().to_vec();
            epochs.sort_by_key(|e| e.epoch.epoch);
            for opened in epochs {
                let epoch = opened.epoch.epoch;
                // Only epochs that have begun: a poster of a future epoch would be a live code.
                if epoch.day() < first || epoch.day() > last || epoch.start() > t {
                    continue;
                }
                let poster = venue.poster(&opened.epoch, epoch.start(), epoch.end()).map_err(err)?;
                say!(
                    "# {} ({})",
                    epoch.start().span_to(epoch.end()),
                    if opened.purpose == EpochUse::Sheet { "printed sheet" } else { "door screen" }
                );
                say!("{}", poster.to_text());
                shown += 1;
            }
            if shown == 0 {
                return Err(format!("no epochs were opened between {} and {}", first.iso_date(), last.iso_date()));
            }
        }
        VenueCommand::Release { request, key_set, poster, out, yes } => {
            let mut venue = Venue::open(dir).map_err(err)?;
            let t = now();
            if !poster.is_empty() {
                let posters = poster
                    .iter()
                    .map(|p| {
                        let text = read_poster(p)?;
                        greenlight_protocol::venue::Poster::from_text(&text)
                            .map_err(|e| format!("{p}: not a valid poster ({e})"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                venue.learn_posters(&posters, t).map_err(err)?;
            }
            let bytes = read_request(&request).map_err(err)?;
            let key_set = key_set
                .as_deref()
                .map(|arg| crate::read_signed(arg, "--key-set", "the key set file the portal gave you (key-set.bin)"))
                .transpose()
                .map_err(err)?;
            let (request, bundle) = venue.release(&bytes, key_set.as_deref(), t).map_err(err)?;
            say!(
                "The health authority asks (signed {} UTC) for the secrets of {} epoch(s) of {}:",
                request.issued_at.iso_minute(),
                request.epochs.len(),
                venue.info().name
            );
            for epoch in &request.epochs {
                say!("  {}", epoch.start().span_to(epoch.end()));
            }
            if !yes && !confirm("Release them? Only visitors of these epochs can then be alerted. [y/N] ")? {
                return Err("nothing was released".into());
            }
            let path = out
                .unwrap_or_else(|| PathBuf::from(format!("release-{}-{}.bin", fingerprint(&venue.public_key()), t.0)));
            write_file(&path, &bundle)?;
            say!("Released. Send {} to the health authority, or paste this text into its portal:", path.display());
            say!("{}", to_base64url(&bundle));
        }
    }
    Ok(())
}

fn confirm(question: &str) -> Result<bool, String> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err("confirm with --yes (no terminal to ask on)".into());
    }
    say_inline!("{question}");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(err)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `posters.png` → `posters-2026-11-23.png`.
fn dated(out: &Path, date: &str) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("poster");
    let ext = out.extension().and_then(|s| s.to_str()).unwrap_or("");
    out.with_file_name(format!("{stem}-{date}.{ext}"))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
