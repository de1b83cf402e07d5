//! The venue owner's library (spec §7–§9): the venue master secret and its
//! printable backup, the log of opened epochs, printed day posters
//! ([`sheet`]), the rotating codes of a door screen ([`screen`]), and the
//! owner's half of a two-party trace (the release). [`cli`] is the
//! `greenlight venue …` command line built on it.
//!
//! A venue needs no account on any server and works offline: the owner
//! creates it from the health authority's two public keys, prints posters
//! and runs the door screen without any network; only a release, when the
//! authority asks for one, goes back to it (as a file or text the owner
//! sends).
//!
//! A venue lives in two files of the data directory:
//!
//! - `venue.key` (mode 0600): the 32-byte master secret, hex. It signs
//!   posters and derives every owner share. It never leaves this file but
//!   for the printed backup.
//! - `venue.json`: the venue's public record — name, address, kind, the
//!   health authority's keys, and the log of every epoch opened (its public
//!   keys, which a release must repeat). Nothing in it is secret: every
//!   logged epoch is printed on a poster anyway.
//!
//! An epoch is opened once and logged before any poster of it is shown, so
//! that printing the same day twice gives the same trace key and the owner
//! can always answer a release for it. Writers hold `venue.lock`, so a
//! screen and a poster run can open epochs at the same time.
#![forbid(unsafe_code)]

pub mod cli;
pub mod font;
pub mod screen;
pub mod sheet;

use greenlight_protocol::codec::from_base64url;
use greenlight_protocol::signing::{TrustedKeys, VerifyingKey};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::ReleaseRequest;
use greenlight_protocol::trust::{KeySet, Keyring, Purpose};
use greenlight_protocol::venue::{
    AuthorityPublicKey, Epoch, Poster, PosterEpoch, VenueInfo, VenueKind, VenueMasterSecret,
};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The master secret's file.
pub const KEY_FILE: &str = "venue.key";
/// The public record's file.
pub const RECORD_FILE: &str = "venue.json";
/// The printable backup written by `venue create`.
pub const BACKUP_FILE: &str = "venue-backup.txt";
const LOCK_FILE: &str = "venue.lock";

/// Minutes of a printed sheet's epoch: one UTC day.
pub const SHEET_EPOCH_MINUTES: u16 = 24 * 60;
/// Minutes of a door screen's epoch: one hour.
pub const SCREEN_EPOCH_MINUTES: u16 = 60;

/// What went wrong, in words for the venue owner.
#[derive(Debug)]
pub enum VenueError {
    /// No venue in this data directory.
    NotCreated(PathBuf),
    /// A venue exists already; creating another would orphan its posters.
    Exists(PathBuf),
    /// A file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// The files are damaged or were edited.
    Corrupt(String),
    /// The owner's input is not acceptable.
    Invalid(String),
    /// The release request is not acceptable.
    Request(String),
}

impl fmt::Display for VenueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VenueError::NotCreated(dir) => write!(
                f,
                "no venue in {}: create one with `greenlight venue create --name … --type …` or restore a backup with `greenlight venue restore --backup FILE`",
                dir.display()
            ),
            VenueError::Exists(path) => write!(
                f,
                "a venue already exists in {}; its posters stay traceable only with its secret, so it is not replaced (use another --data-dir for another venue)",
                path.display()
            ),
            VenueError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            VenueError::Corrupt(e) | VenueError::Invalid(e) => f.write_str(e),
            VenueError::Request(e) => write!(f, "nothing was released: {e}"),
        }
    }
}

impl std::error::Error for VenueError {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VenueError + '_ {
    move |e| VenueError::Io(path.to_owned(), e)
}

/// Why an epoch was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochUse {
    /// A printed day sheet.
    Sheet,
    /// A door screen's hour.
    Screen,
}

/// One opened epoch, as logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoggedEpoch {
    /// What it was opened for.
    #[serde(rename = "use")]
    purpose: EpochUse,
    /// When it was opened (Unix seconds).
    opened_at: u64,
    /// The 70-byte public epoch, hex.
    epoch: String,
}

/// The public record in `venue.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    version: u8,
    name: String,
    address: String,
    kind: String,
    venue_key: String,
    authority_key: String,
    trace_key: String,
    epochs: Vec<LoggedEpoch>,
}

/// The health authority's public keys a venue needs: its signing key (to
/// check release requests) and its trace key (to seal authority shares).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorityKeys {
    /// Ed25519: signs release requests.
    pub signing: VerifyingKey,
    /// X25519: receives the authority share of every epoch.
    pub trace: AuthorityPublicKey,
}

/// An opened epoch with what it was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedEpoch {
    /// The public epoch, as posters carry it.
    pub epoch: PosterEpoch,
    /// Sheet or screen.
    pub purpose: EpochUse,
    /// When it was opened.
    pub opened_at: UnixTime,
}

/// A venue, opened from its data directory.
pub struct Venue {
    dir: PathBuf,
    secret: VenueMasterSecret,
    info: VenueInfo,
    authority: AuthorityKeys,
    log: Vec<OpenedEpoch>,
}

impl fmt::Debug for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Venue").field("dir", &self.dir).field("info", &self.info).finish_non_exhaustive()
    }
}

/// Parses a venue kind as the command line writes it (`restaurant`, …).
pub fn parse_kind(text: &str) -> Result<VenueKind, VenueError> {
    let wanted = text.trim().to_ascii_lowercase();
    VenueKind::ALL.into_iter().find(|k| k.as_str() == wanted).ok_or_else(|| {
        let all: Vec<_> = VenueKind::ALL.iter().map(|k| k.as_str()).collect();
        VenueError::Invalid(format!("unknown venue type {text:?}; choose one of: {}", all.join(", ")))
    })
}

/// Reads a 32-byte key given as 64 hex digits, or as a file holding them
/// (such as the authority's `trace-key.pub`).
pub fn read_key_arg(arg: &str, what: &str) -> Result<[u8; 32], VenueError> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg).map_err(io(Path::new(arg)))?
    } else if looks_like_path(arg) {
        return Err(VenueError::Invalid(format!("the {what} file {arg}: no such file")));
    } else {
        arg.to_owned()
    };
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| VenueError::Invalid(format!("the {what} must be 64 hex digits (or a file holding them)")))?;
    Ok(key)
}

impl AuthorityKeys {
    /// Checks and wraps the authority's two public keys.
    pub fn new(signing: [u8; 32], trace: [u8; 32]) -> Result<Self, VenueError> {
        let signing = greenlight_protocol::signing::decode_public_key(&signing)
            .map_err(|_| VenueError::Invalid("the authority key is not a valid Ed25519 public key".into()))?;
        if trace == [0; 32] {
            return Err(VenueError::Invalid("the trace key is not a valid X25519 public key".into()));
        }
        Ok(AuthorityKeys { signing, trace: AuthorityPublicKey(trace) })
    }
}

/// Whether `request` is signed by one of `root` (an authority from before
/// key sets), by its key id alone.
fn trusted_root_signed(request: &[u8], root: &TrustedKeys) -> bool {
    greenlight_protocol::signing::SignedFile::parse(greenlight_protocol::trace::RELEASE_REQUEST_MAGIC, request)
        .is_ok_and(|file| root.get(file.key_id).is_some())
}

/// The first 8 bytes of a venue key in hex, as the portal shows it.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(&key.as_bytes()[..8])
}

fn checksum(secret: &[u8; 32]) -> String {
    hex::encode(&sha2::Sha256::digest(secret)[..4])
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename) with
/// `mode` on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), VenueError> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl Venue {
    /// Creates a venue in `dir`: a fresh master secret (0600) and its
    /// record. Refuses if a venue exists there.
    pub fn create<R: CryptoRng>(
        dir: &Path,
        info: VenueInfo,
        authority: AuthorityKeys,
        rng: &mut R,
    ) -> Result<Venue, VenueError> {
        Venue::install(dir, VenueMasterSecret::generate(rng), info, authority)
    }

    fn install(
        dir: &Path,
        secret: VenueMasterSecret,
        info: VenueInfo,
        authority: AuthorityKeys,
    ) -> Result<Venue, VenueError> {
        info.validate().map_err(|_| VenueError::Invalid(why_invalid(&info)))?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let _lock = Lock::take(dir)?;
        let key_path = dir.join(KEY_FILE);
        if key_path.exists() {
            return Err(VenueError::Exists(key_path));
        }
        let venue = Venue { dir: dir.to_owned(), secret, info, authority, log: Vec::new() };
        venue.save_record()?;
        let hex_secret = Zeroizing::new(format!("{}\n", hex::encode(venue.secret.expose_secret())));
        write_atomic(&key_path, hex_secret.as_bytes(), 0o600)?;
        Ok(venue)
    }

    /// Opens the venue in `dir`.
    pub fn open(dir: &Path) -> Result<Venue, VenueError> {
        let key_path = dir.join(KEY_FILE);
        if !key_path.exists() {
            return Err(VenueError::NotCreated(dir.to_owned()));
        }
        let text = Zeroizing::new(std::fs::read_to_string(&key_path).map_err(io(&key_path))?);
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), bytes.as_mut_slice())
            .map_err(|_| VenueError::Corrupt(format!("{} does not hold a venue secret", key_path.display())))?;
        let secret = VenueMasterSecret::from_bytes(*bytes);
        let record = read_record(dir)?;
        let corrupt = |what: &str| VenueError::Corrupt(format!("{}: {what}", dir.join(RECORD_FILE).display()));
        let kind = parse_kind(&record.kind).map_err(|_| corrupt("unknown venue type"))?;
        let info = VenueInfo { name: record.name.clone(), address: record.address.clone(), kind };
        if record.venue_key != hex::encode(secret.public_key().as_bytes()) {
            return Err(corrupt("it belongs to another venue than venue.key"));
        }
        let signing = read_key_arg(&record.authority_key, "authority key").map_err(|_| corrupt("bad authority key"))?;
        let trace = read_key_arg(&record.trace_key, "trace key").map_err(|_| corrupt("bad trace key"))?;
        let authority = AuthorityKeys::new(signing, trace).map_err(|_| corrupt("bad authority keys"))?;
        let log = parse_log(&record).map_err(|e| corrupt(&e))?;
        Ok(Venue { dir: dir.to_owned(), secret, info, authority, log })
    }

    /// The venue's name, address and kind.
    pub fn info(&self) -> &VenueInfo {
        &self.info
    }

    /// The venue's public key: its identity on every poster.
    pub fn public_key(&self) -> VerifyingKey {
        self.secret.public_key()
    }

    /// The authority keys this venue was set up with.
    pub fn authority(&self) -> AuthorityKeys {
        self.authority
    }

    /// Every epoch opened so far, in the order they were opened.
    pub fn epochs(&self) -> &[OpenedEpoch] {
        &self.log
    }

    fn record(&self) -> Record {
        Record {
            version: 1,
            name: self.info.name.clone(),
            address: self.info.address.clone(),
            kind: self.info.kind.as_str().to_owned(),
            venue_key: hex::encode(self.public_key().as_bytes()),
            authority_key: hex::encode(self.authority.signing.as_bytes()),
            trace_key: hex::encode(self.authority.trace.0),
            epochs: self
                .log
                .iter()
                .map(|e| LoggedEpoch {
                    purpose: e.purpose,
                    opened_at: e.opened_at.0,
                    epoch: hex::encode(e.epoch.to_bytes()),
                })
                .collect(),
        }
    }

    /// Reads the log again (under the lock): another process may have
    /// opened epochs since this one read it.
    fn reload_log(&mut self) -> Result<(), VenueError> {
        self.log = parse_log(&read_record(&self.dir)?).map_err(VenueError::Corrupt)?;
        Ok(())
    }

    fn save_record(&self) -> Result<(), VenueError> {
        let mut json = serde_json::to_vec_pretty(&self.record()).expect("the record serializes");
        json.push(b'\n');
        write_atomic(&self.dir.join(RECORD_FILE), &json, 0o600)
    }

    /// The epochs given, each opened (sealing a fresh authority share) and
    /// logged unless it was opened before, in which case the logged one is
    /// returned: one trace key per epoch, however often it is printed.
    pub fn open_epochs<R: CryptoRng>(
        &mut self,
        epochs: &[Epoch],
        purpose: EpochUse,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Vec<PosterEpoch>, VenueError> {
        let _lock = Lock::take(&self.dir)?;
        self.reload_log()?;
        let mut out = Vec::with_capacity(epochs.len());
        let mut changed = false;
        for epoch in epochs {
            if let Some(logged) = self.log.iter().find(|e| e.epoch.epoch == *epoch) {
                out.push(logged.epoch);
                continue;
            }
            let opened = self
                .secret
                .open_epoch(*epoch, &self.authority.trace, rng)
                .map_err(|e| VenueError::Invalid(format!("cannot open the epoch: {e}")))?;
            self.log.push(OpenedEpoch { epoch: opened, purpose, opened_at: now });
            out.push(opened);
            changed = true;
        }
        if changed {
            self.save_record()?;
        }
        Ok(out)
    }

    /// Signs a poster of `epoch`, live from `from` until `until`.
    pub fn poster(&self, epoch: &PosterEpoch, from: UnixTime, until: UnixTime) -> Result<Poster, VenueError> {
        self.secret
            .poster(&self.info, epoch, from, until)
            .map_err(|e| VenueError::Invalid(format!("cannot sign the poster: {e}")))
    }

    /// The printed sheets' posters of `days` consecutive UTC days from
    /// `first`: one day epoch each, live all day.
    pub fn day_posters<R: CryptoRng>(
        &mut self,
        first: DayNumber,
        days: u32,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Vec<Poster>, VenueError> {
        if !(1..=366).contains(&days) {
            return Err(VenueError::Invalid("print 1 to 366 days at a time".into()));
        }
        let epochs = (0..days)
            .map(|i| Epoch::new(first.plus(i).start(), SHEET_EPOCH_MINUTES))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| VenueError::Invalid(format!("bad day: {e}")))?;
        let opened = self.open_epochs(&epochs, EpochUse::Sheet, now, rng)?;
        opened.iter().map(|e| self.poster(e, e.epoch.start(), e.epoch.end())).collect()
    }

    /// The printable backup: everything needed to restore this venue,
    /// with a checksum against typing errors.
    pub fn backup_text(&self) -> Zeroizing<String> {
        let secret = hex::encode(self.secret.expose_secret());
        let groups: Vec<&str> = (0..16).map(|i| &secret[i * 4..i * 4 + 4]).collect();
        Zeroizing::new(format!(
            "GREENLIGHT VENUE BACKUP\n\
             \n\
             Keep this sheet locked away. Whoever holds it can sign posters for\n\
             your venue; without it, a lost computer means the posters you have\n\
             printed can no longer be traced. Restore with:\n\
             \n\
             \x20   greenlight venue restore --backup venue-backup.txt\n\
             \n\
             venue:          {name}\n\
             address:        {address}\n\
             type:           {kind}\n\
             venue key:      {fp}\n\
             authority key:  {authority}\n\
             trace key:      {trace}\n\
             secret:         {s1}\n\
             \x20               {s2}\n\
             checksum:       {check}\n",
            name = self.info.name,
            address = self.info.address,
            kind = self.info.kind.as_str(),
            fp = fingerprint(&self.public_key()),
            authority = hex::encode(self.authority.signing.as_bytes()),
            trace = hex::encode(self.authority.trace.0),
            s1 = groups[..8].join(" "),
            s2 = groups[8..].join(" "),
            check = checksum(self.secret.expose_secret()),
        ))
    }

    /// Restores a venue from its printed backup (typed back in or the
    /// file). The epoch log starts empty: a release for an epoch opened
    /// before the loss needs that epoch's poster (`--poster`).
    pub fn restore(dir: &Path, backup: &str) -> Result<Venue, VenueError> {
        let field = |name: &str| -> Option<String> {
            backup.lines().find_map(|l| l.trim_start().strip_prefix(&format!("{name}:")).map(|v| v.trim().to_owned()))
        };
        let missing = |name: &str| VenueError::Invalid(format!("the backup has no {name:?} line"));
        let mut secret_text = Zeroizing::new(field("secret").ok_or_else(|| missing("secret"))?);
        // The secret's second line follows the `secret:` line.
        let lines: Vec<&str> = backup.lines().collect();
        if let Some(i) = lines.iter().position(|l| l.trim_start().starts_with("secret:"))
            && let Some(next) = lines.get(i + 1)
            && !next.contains(':')
        {
            secret_text.push_str(next);
        }
        let digits: Zeroizing<String> = Zeroizing::new(secret_text.chars().filter(|c| !c.is_whitespace()).collect());
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(digits.as_str(), bytes.as_mut_slice()).map_err(|_| {
            VenueError::Invalid("the backup's secret is not 64 hex digits: check for typing errors".into())
        })?;
        let check = field("checksum").ok_or_else(|| missing("checksum"))?;
        if !check.eq_ignore_ascii_case(&checksum(&bytes)) {
            return Err(VenueError::Invalid(
                "the backup's checksum does not match its secret: a digit was mistyped".into(),
            ));
        }
        let secret = VenueMasterSecret::from_bytes(*bytes);
        let kind = parse_kind(&field("type").ok_or_else(|| missing("type"))?)?;
        let info = VenueInfo {
            name: field("venue").ok_or_else(|| missing("venue"))?,
            address: field("address").unwrap_or_default(),
            kind,
        };
        let signing = read_key_arg(&field("authority key").ok_or_else(|| missing("authority key"))?, "authority key")?;
        let trace = read_key_arg(&field("trace key").ok_or_else(|| missing("trace key"))?, "trace key")?;
        let venue = Venue::install(dir, secret, info, AuthorityKeys::new(signing, trace)?)?;
        if field("venue key").is_some_and(|fp| fp != fingerprint(&venue.public_key())) {
            return Err(VenueError::Corrupt("the restored secret does not match the backup's venue key".into()));
        }
        Ok(venue)
    }

    /// Adds epochs to the log from this venue's own posters (for a
    /// restored venue). Posters of other venues are refused.
    pub fn learn_posters(&mut self, posters: &[Poster], now: UnixTime) -> Result<(), VenueError> {
        let _lock = Lock::take(&self.dir)?;
        self.reload_log()?;
        for poster in posters {
            if *poster.venue_key() != self.public_key() {
                return Err(VenueError::Invalid(format!(
                    "the poster of {:?} belongs to another venue",
                    poster.info().name
                )));
            }
            if !self.log.iter().any(|e| e.epoch.epoch == poster.epoch()) {
                let purpose =
                    if poster.epoch().minutes() == SHEET_EPOCH_MINUTES { EpochUse::Sheet } else { EpochUse::Screen };
                self.log.push(OpenedEpoch { epoch: *poster.poster_epoch(), purpose, opened_at: now });
            }
        }
        self.save_record()
    }

    /// Answers the authority's signed release request: checks the
    /// signature, that it names this venue, and that every epoch was
    /// opened here; then releases the owner shares of exactly those
    /// epochs (never the master secret). Returns the request and the
    /// signed bundle.
    ///
    /// The authority signs requests with its tracing key, which its key
    /// set names (protocol §2.3): `key_set` is that set, checked here
    /// against the authority (root) key this venue was created with, and
    /// the tracing keys it trusts at `now` verify the request. Without a
    /// key set, only a request signed by the root key itself (an authority
    /// from before key sets) is accepted.
    pub fn release(
        &self,
        request: &[u8],
        key_set: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<(ReleaseRequest, Vec<u8>), VenueError> {
        let root = TrustedKeys::from_keys([self.authority.signing]);
        let mut keys = Keyring::new(TrustedKeys::new(), root.clone());
        if let Some(bytes) = key_set {
            let set = KeySet::verify(bytes, &root).map_err(|e| {
                VenueError::Request(format!(
                    "the key set is not signed by your health authority or is damaged ({e}); download it again from the authority"
                ))
            })?;
            keys.restore(set);
        }
        let trusted = keys.trusted(Purpose::Tracing, now);
        let request = ReleaseRequest::verify(request, &trusted).map_err(|e| match e {
            greenlight_protocol::Error::BadSignature if key_set.is_none() && !trusted_root_signed(request, &root) => {
                VenueError::Request(
                    "the request is signed by the health authority's tracing key, which this tool learns from the \
                     authority's key set: give it with --key-set key-set.bin (the portal offers it next to the request)"
                        .into(),
                )
            }
            e => VenueError::Request(format!(
                "the request is not signed by your health authority or is damaged ({e}); ask the authority to send it again"
            )),
        })?;
        if request.venue != self.public_key() {
            return Err(VenueError::Request(format!(
                "the request is for another venue ({}), not this one ({})",
                fingerprint(&request.venue),
                fingerprint(&self.public_key())
            )));
        }
        let log: Vec<PosterEpoch> = self.log.iter().map(|e| e.epoch).collect();
        let unknown: Vec<String> = request
            .epochs
            .iter()
            .filter(|e| !log.iter().any(|l| l.epoch == **e))
            .map(|e| format!("{} – {} UTC", e.start().iso_minute(), e.end().iso_minute()))
            .collect();
        if !unknown.is_empty() {
            return Err(VenueError::Request(format!(
                "these epochs were never opened by this venue (or its log was lost; give their posters with --poster): {}",
                unknown.join(", ")
            )));
        }
        let bundle = self
            .secret
            .release(&request, &log)
            .map_err(|e| VenueError::Request(format!("cannot build the release: {e}")))?;
        Ok((request, bundle))
    }
}

/// Reads a release request given as a file (binary, or text) or as the
/// base64url text the portal shows.
pub fn read_request(arg: &str) -> Result<Vec<u8>, VenueError> {
    read_signed(arg, "--request", "the request file the portal gave you")
}

/// Reads a signed file given as `flag`: a path, or the file's text
/// (base64url or hex).
pub fn read_signed(arg: &str, flag: &str, what: &str) -> Result<Vec<u8>, VenueError> {
    let path = Path::new(arg);
    let bytes = if path.is_file() { std::fs::read(path).map_err(io(path))? } else { arg.as_bytes().to_vec() };
    if let Ok(text) = std::str::from_utf8(&bytes) {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(decoded) = from_base64url(&compact) {
            return Ok(decoded);
        }
        if compact.len().is_multiple_of(2)
            && let Ok(decoded) = hex::decode(&compact)
        {
            return Ok(decoded);
        }
    }
    if path.is_file() {
        return Ok(bytes);
    }
    if looks_like_path(arg) {
        return Err(VenueError::Invalid(format!("{flag} {arg}: no such file")));
    }
    Err(VenueError::Invalid(format!("{flag} takes {what}, or its text (base64url)")))
}

/// Whether an argument that is not an existing file was meant as one: it
/// has a directory separator or ends in a file extension (`nope.bin`,
/// `keys/trace-key.pub`); hex and base64url have neither. (The resident
/// client's `settings::looks_like_path` is the same rule.)
fn looks_like_path(arg: &str) -> bool {
    let arg = arg.trim();
    if arg.contains('/') || arg.contains('\\') {
        return true;
    }
    arg.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

fn read_record(dir: &Path) -> Result<Record, VenueError> {
    let path = dir.join(RECORD_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let record: Record = serde_json::from_slice(&bytes)
        .map_err(|e| VenueError::Corrupt(format!("{}: damaged ({e})", path.display())))?;
    if record.version != 1 {
        return Err(VenueError::Corrupt(format!("{}: unknown version {}", path.display(), record.version)));
    }
    Ok(record)
}

fn parse_log(record: &Record) -> Result<Vec<OpenedEpoch>, String> {
    record
        .epochs
        .iter()
        .map(|e| {
            let bytes = hex::decode(&e.epoch).map_err(|_| "an epoch is not hex".to_owned())?;
            let epoch = PosterEpoch::from_bytes(&bytes).map_err(|e| format!("an epoch is damaged ({e})"))?;
            Ok(OpenedEpoch { epoch, purpose: e.purpose, opened_at: UnixTime(e.opened_at) })
        })
        .collect()
}

/// An exclusive lock on the venue's files, released on drop.
struct Lock(std::fs::File);

impl Lock {
    fn take(dir: &Path) -> Result<Lock, VenueError> {
        let path = dir.join(LOCK_FILE);
        let file =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The date of a UTC day for people: `Monday 23 November 2026`.
pub fn long_date(day: DayNumber) -> String {
    const WEEKDAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (year, month, d) = day.civil();
    let weekday = WEEKDAYS[usize::try_from(day.0 % 7).expect("below 7")];
    format!("{weekday} {d} {} {year}", MONTHS[usize::from(month - 1)])
}

/// Parses `YYYY-MM-DD` into a UTC day.
pub fn parse_date(text: &str) -> Result<DayNumber, VenueError> {
    let bad = || VenueError::Invalid(format!("{text:?} is not a date like 2026-11-23"));
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    let (year, m, d): (i64, i64, i64) =
        (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Howard Hinnant's `days_from_civil`.
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = DayNumber(u32::try_from(era * 146_097 + doe - 719_468).map_err(|_| bad())?);
    // 31 February comes back as 3 March: not a date of the calendar.
    let civil = day.civil();
    if (i64::try_from(civil.0).ok(), i64::from(civil.1), i64::from(civil.2)) != (Some(year), m, d) {
        return Err(VenueError::Invalid(format!("{text:?} is not a date of the calendar")));
    }
    Ok(day)
}

/// Says what is wrong with a name or address [`VenueInfo::validate`]
/// refused, in the owner's terms.
fn why_invalid(info: &VenueInfo) -> String {
    use greenlight_protocol::venue::{MAX_ADDRESS_BYTES, MAX_ADDRESS_CHARS, MAX_NAME_BYTES, MAX_NAME_CHARS};
    let check = |what: &str, text: &str, chars: usize, bytes: usize| -> Option<String> {
        let count = text.chars().count();
        if count > chars {
            return Some(format!("the {what} has {count} characters: at most {chars} fit on a poster"));
        }
        if text.len() > bytes {
            return Some(format!(
                "the {what} takes {} bytes of UTF-8: at most {bytes} fit in the poster's QR code \
                 ({} Chinese characters, fewer emoji)",
                text.len(),
                bytes / 3
            ));
        }
        text.chars()
            .position(|c| {
                c.is_control() || greenlight_protocol::codec::check_text(c.encode_utf8(&mut [0; 4]), 4, "x").is_err()
            })
            .map(|at| {
                format!(
                    "the {what} holds a control or invisible format character at character {} (a line break, tab, \
                 direction override, zero-width space or joiner): type it again without",
                    at + 1
                )
            })
    };
    if info.name.trim().is_empty() {
        return "the name is empty: give the venue the name visitors know it by".into();
    }
    check("name", &info.name, MAX_NAME_CHARS, MAX_NAME_BYTES)
        .or_else(|| check("address", &info.address, MAX_ADDRESS_CHARS, MAX_ADDRESS_BYTES))
        .unwrap_or_else(|| "the name or address is not valid".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_and_print_as_people_write_them() {
        let day = parse_date("2026-11-23").expect("a date");
        assert_eq!(day.iso_date().to_string(), "2026-11-23");
        assert_eq!(long_date(day), "Monday 23 November 2026");
        assert_eq!(long_date(parse_date("2024-02-29").expect("leap day")), "Thursday 29 February 2024");
        for bad in ["2026-02-30", "2026-13-01", "23.11.2026", "2025-02-29", ""] {
            assert!(parse_date(bad).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn a_name_too_long_with_hidden_format_characters_or_only_spaces_creates_no_venue_and_says_why() {
        use greenlight_protocol::signing::SigningKey;
        use greenlight_protocol::venue::AuthorityShareKey;
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let signing = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
        let trace = AuthorityShareKey::generate(&mut rng).public_key().0;
        let base = std::env::temp_dir().join(format!("greenlight-venue-text-{}", std::process::id()));
        // A right-to-left override shows "Café Aurora" for these bytes; a
        // zero-width space makes a second "Café Aurora" that differs; an
        // ideographic space and a no-break space are only white space.
        let hidden = "holds a control or invisible format character at character";
        for (i, (name, why)) in [
            ("Café \u{202E}arorua", format!("{hidden} 6")),
            ("Café\u{200B} Aurora", format!("{hidden} 5")),
            ("\u{3000}\u{00A0}", "the name is empty".to_owned()),
            ("Café\u{FEFF}", format!("{hidden} 5")),
            (&"x".repeat(41), "the name has 41 characters: at most 40".to_owned()),
            (&"🍜".repeat(31), "the name takes 124 bytes of UTF-8: at most 120".to_owned()),
        ]
        .iter()
        .enumerate()
        {
            let dir = base.join(i.to_string());
            let info = VenueInfo { name: (*name).into(), address: String::new(), kind: VenueKind::Restaurant };
            let keys = AuthorityKeys::new(signing, trace).expect("authority keys");
            let error = Venue::create(&dir, info, keys, &mut rng).expect_err(name);
            assert!(error.to_string().contains(why.as_str()), "{name:?}: {error}");
            assert!(!dir.exists(), "{name:?}: nothing is written");
        }
        let info = VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
        let keys = AuthorityKeys::new(signing, trace).expect("authority keys");
        Venue::create(&base.join("ok"), info, keys, &mut rng).expect("an ordinary name is accepted");
        // 40 ideographs (120 bytes) in name and address: the longest accepted.
        let info =
            VenueInfo {
                name: "朝阳区人民医院门诊部".repeat(4), address: "院".repeat(40), kind: VenueKind::Care
            };
        let keys = AuthorityKeys::new(signing, trace).expect("authority keys");
        Venue::create(&base.join("longest"), info, keys, &mut rng).expect("40 Chinese characters are accepted");
        std::fs::remove_dir_all(&base).expect("clean up");
    }

    #[test]
    fn venue_types_are_named_as_on_the_command_line() {
        assert_eq!(parse_kind("Restaurant").expect("known"), VenueKind::Restaurant);
        let error = parse_kind("pub").expect_err("unknown").to_string();
        assert!(error.contains("restaurant") && error.contains("shop"), "{error}");
    }
}
