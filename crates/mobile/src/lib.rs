#![doc = include_str!("../README.md")]

mod error;
mod types;

pub use error::GreenlightError;
pub use types::{
    Advertisement, CheckIn, Color, DeviceCalibration, Pass, Reason, RecordedSightings, ReportSummary,
    ScannedAdvertisement, ServerConfig, Status, SyncSummary, VenueAlert, Visit,
};

use greenlight_client::settings::{Settings, parse_key};
use greenlight_client::store::{DATABASE_FILE, SqliteStore};
use greenlight_client::{DEVICE_CALIBRATION, os_rng};
use greenlight_phone::checkin::verify_poster;
use greenlight_protocol::advert::{ADVERTISEMENT_LEN, ADVERTISEMENT_LEN_WITHOUT_FLAGS, SERVICE_DATA_LEN, ServiceUuid};
use greenlight_protocol::calibration::Calibration;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::RevealedCheckIn;
use rand_core::Rng as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use zeroize::Zeroizing;

uniffi::setup_scaffolding!();

/// Length of a device key, bytes.
pub const DEVICE_KEY_LEN: u32 = 32;

/// The file next to the store that holds the passphrase's salt.
pub const PASSPHRASE_SALT_FILE: &str = "passphrase.salt";

/// How long one HTTP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The time, for the SDK. Apps leave it unset (the system clock); tests set
/// one to play days in minutes. Returns Unix seconds.
#[uniffi::export(with_foreign)]
pub trait Clock: Send + Sync {
    /// Unix seconds now.
    fn now(&self) -> u64;
}

/// A fresh random device key (32 bytes) for the platform keystore.
#[uniffi::export]
pub fn generate_device_key() -> Vec<u8> {
    let mut key = vec![0u8; DEVICE_KEY_LEN as usize];
    os_rng().fill_bytes(&mut key);
    key
}

/// A resident's phone: the resident core over the sealed store in one
/// directory, with the SDK's own HTTPS. Every method is blocking: call it
/// off the UI thread. Methods may be called from any thread; calls on one
/// phone run one at a time.
#[derive(uniffi::Object)]
pub struct GreenlightPhone {
    inner: Mutex<Option<greenlight_client::Phone>>,
    dir: PathBuf,
    clock: Mutex<Option<Arc<dyn Clock>>>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for GreenlightPhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GreenlightPhone").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn calibration_of(calibration: Option<DeviceCalibration>) -> Calibration {
    calibration.map_or(DEVICE_CALIBRATION, |c| Calibration {
        tx_power_dbm: c.tx_power_dbm,
        rssi_correction_db: c.rssi_correction_db,
    })
}

fn storage(e: std::io::Error) -> GreenlightError {
    GreenlightError::Storage { detail: e.to_string() }
}

/// At open, a seal that does not open means the wrong key.
fn open_error(e: greenlight_phone::StoreError) -> GreenlightError {
    match e {
        greenlight_phone::StoreError::Tampered => {
            GreenlightError::WrongKey { detail: "the store does not open with this device key or passphrase".into() }
        }
        other => other.into(),
    }
}

/// The passphrase's key: Argon2id (RFC 9106's second recommended
/// parameters, 19 MiB, 2 passes) over a random salt kept beside the store.
fn passphrase_key(dir: &Path, passphrase: &str) -> Result<Zeroizing<[u8; 32]>, GreenlightError> {
    if passphrase.is_empty() {
        return Err(GreenlightError::InvalidArgument { detail: "the passphrase is empty".into() });
    }
    let salt_path = dir.join(PASSPHRASE_SALT_FILE);
    let salt = match std::fs::read(&salt_path) {
        Ok(salt) => salt,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(DATABASE_FILE).exists() {
                return Err(GreenlightError::WrongKey {
                    detail: "this store was not created with a passphrase (open it with its device key)".into(),
                });
            }
            std::fs::create_dir_all(dir).map_err(storage)?;
            let mut salt = vec![0u8; 16];
            os_rng().fill_bytes(&mut salt);
            std::fs::write(&salt_path, &salt).map_err(storage)?;
            salt
        }
        Err(e) => return Err(storage(e)),
    };
    let mut key = Zeroizing::new([0u8; 32]);
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), &salt, key.as_mut())
        .map_err(|e| GreenlightError::Corrupt { detail: format!("{PASSPHRASE_SALT_FILE}: {e}") })?;
    Ok(key)
}

impl GreenlightPhone {
    fn open(dir: String, key: &[u8; 32], calibration: Option<DeviceCalibration>) -> Result<Arc<Self>, GreenlightError> {
        let dir = PathBuf::from(dir);
        // One worker thread for the HTTP connections: `block_on` runs the
        // sync on the caller's thread, which verifies and matches each file
        // as it arrives; on a current-thread runtime the connection was not
        // read meanwhile, and a slow phone's download was cut off by the
        // server (crates/mobile/benches/sdk.rs at 1M keys, dev profile).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("greenlight-http")
            .enable_all()
            .build()
            .map_err(storage)?;
        let store = SqliteStore::open_with_key(&dir, key).map_err(open_error)?;
        let phone = greenlight_client::Phone::new(store, calibration_of(calibration));
        Ok(Arc::new(GreenlightPhone { inner: Mutex::new(Some(phone)), dir, clock: Mutex::new(None), runtime }))
    }

    fn phone(&self) -> Result<MutexGuard<'_, Option<greenlight_client::Phone>>, GreenlightError> {
        // A panic cannot leave the store half-written (every store call is
        // one transaction), so a poisoned lock is still usable.
        let guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            return Err(GreenlightError::Closed);
        }
        Ok(guard)
    }

    /// Runs `f` on the open phone.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut greenlight_client::Phone) -> Result<T, GreenlightError>,
    ) -> Result<T, GreenlightError> {
        let mut guard = self.phone()?;
        match guard.as_mut() {
            Some(phone) => f(phone),
            None => Err(GreenlightError::Closed),
        }
    }

    fn time(&self) -> UnixTime {
        let clock = self.clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match clock {
            Some(clock) => UnixTime(clock.now()),
            None => {
                UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
            }
        }
    }

    fn settings(phone: &greenlight_client::Phone) -> Result<Settings, GreenlightError> {
        Settings::load(phone.store()).map_err(|detail| GreenlightError::NotConfigured {
            detail: if detail.starts_with("not set up") {
                "call configure() with the deployment's servers and keys first".into()
            } else {
                detail
            },
        })
    }

    fn http() -> Result<reqwest::Client, GreenlightError> {
        reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| GreenlightError::Network { detail: format!("cannot start HTTPS: {e}") })
    }
}

/// Parses what the OS scanner handed over: the service data or the whole
/// advertising payload.
fn parse_scanned(payload: &[u8]) -> Result<greenlight_protocol::advert::Advertisement, GreenlightError> {
    use greenlight_protocol::advert::Advertisement as Core;
    let parsed = match payload.len() {
        SERVICE_DATA_LEN => Core::from_service_data(payload),
        ADVERTISEMENT_LEN | ADVERTISEMENT_LEN_WITHOUT_FLAGS => Core::decode(payload, ServiceUuid::PLACEHOLDER),
        n => {
            return Err(GreenlightError::InvalidArgument {
                detail: format!(
                    "a scanned payload of {n} bytes: expected the {SERVICE_DATA_LEN}-byte service data or the \
                     {ADVERTISEMENT_LEN}-byte advertisement"
                ),
            });
        }
    };
    parsed.map_err(|e| GreenlightError::InvalidArgument { detail: format!("not a Greenlight advertisement: {e}") })
}

#[uniffi::export]
impl GreenlightPhone {
    /// Opens (creating) the phone in `dir` with a 32-byte device key the
    /// platform keystore holds ([`generate_device_key`] makes one). A store
    /// sealed with another key is refused with `WrongKey`, untouched.
    #[uniffi::constructor]
    pub fn open_with_key(
        dir: String,
        device_key: Vec<u8>,
        calibration: Option<DeviceCalibration>,
    ) -> Result<Arc<Self>, GreenlightError> {
        let key: Zeroizing<[u8; 32]> =
            Zeroizing::new(device_key.as_slice().try_into().map_err(|_| GreenlightError::InvalidArgument {
                detail: format!("a device key is {DEVICE_KEY_LEN} bytes, not {}", device_key.len()),
            })?);
        Self::open(dir, &key, calibration)
    }

    /// Opens (creating) the phone in `dir` with a passphrase (for
    /// platforms without a keystore, and for tests): the device key is
    /// derived from it with Argon2id. A wrong passphrase is refused with
    /// `WrongKey`, the store untouched.
    #[uniffi::constructor]
    pub fn open_with_passphrase(
        dir: String,
        passphrase: String,
        calibration: Option<DeviceCalibration>,
    ) -> Result<Arc<Self>, GreenlightError> {
        let key = passphrase_key(Path::new(&dir), &passphrase)?;
        Self::open(dir, &key, calibration)
    }

    /// Replaces the system clock (`None` restores it). For tests: the
    /// embargo on published keys passes when the test says so.
    pub fn set_clock(&self, clock: Option<Arc<dyn Clock>>) {
        *self.clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = clock;
    }

    /// The SDK's time now (Unix seconds), from the clock in use.
    pub fn now(&self) -> u64 {
        self.time().0
    }

    /// Sets the deployment: servers and signing keys. Checked before
    /// anything is stored.
    pub fn configure(&self, config: ServerConfig) -> Result<(), GreenlightError> {
        let url = |u: &str| -> Result<String, GreenlightError> {
            let u = u.trim();
            if reqwest::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "https" | "http")) {
                Ok(u.trim_end_matches('/').to_owned())
            } else {
                Err(GreenlightError::InvalidArgument { detail: format!("{u:?} is not an http(s) URL") })
            }
        };
        let invalid = |detail| GreenlightError::InvalidArgument { detail };
        let settings = Settings {
            server: url(&config.key_server_url)?,
            authority: config.authority_url.as_deref().map(url).transpose()?,
            export_key: parse_key(&config.export_key_hex).map_err(invalid)?,
            authority_key: parse_key(&config.authority_key_hex).map_err(invalid)?,
        };
        self.with(|phone| Ok(settings.save(phone.store_mut())?))
    }

    /// Whether [`GreenlightPhone::configure`] was called.
    pub fn is_configured(&self) -> Result<bool, GreenlightError> {
        self.with(|phone| Ok(Self::settings(phone).is_ok()))
    }

    /// What to broadcast now, and until when; `None` once today's key was
    /// published by a report (stop advertising until tomorrow).
    pub fn advertisement(&self) -> Result<Option<Advertisement>, GreenlightError> {
        let now = self.time();
        self.with(|phone| {
            Ok(phone.advertisement(now, &mut os_rng())?.map(|ad| Advertisement {
                service_uuid: ServiceUuid::PLACEHOLDER.to_uuid_string(),
                service_data: ad.service_data().to_vec(),
                packet: ad.encode(ServiceUuid::PLACEHOLDER).to_vec(),
                valid_until: now.interval().end().0,
            }))
        })
    }

    /// Records what the OS scanner heard. Every payload is checked first:
    /// one malformed payload refuses the whole call and records nothing.
    pub fn record_sightings(&self, sightings: Vec<ScannedAdvertisement>) -> Result<RecordedSightings, GreenlightError> {
        let parsed = sightings
            .iter()
            .map(|s| {
                let ad = parse_scanned(&s.payload)?;
                Ok(Sighting { id: ad.id, metadata: ad.metadata, rssi: s.rssi, seen_at: UnixTime(s.seen_at) })
            })
            .collect::<Result<Vec<_>, GreenlightError>>()?;
        self.with(|phone| {
            let recorded = phone.record_sightings(&parsed)?;
            Ok(RecordedSightings {
                stored: u32::try_from(recorded.stored).unwrap_or(u32::MAX),
                behind_clock_floor: u32::try_from(recorded.behind_clock_floor).unwrap_or(u32::MAX),
            })
        })
    }

    /// Checks in at the poster whose QR code the camera read.
    pub fn check_in(&self, qr_text: String) -> Result<CheckIn, GreenlightError> {
        let now = self.time();
        let poster = verify_poster(&qr_text, now)?;
        self.with(|phone| Ok(checked_in(phone.check_in(&poster, now, &mut os_rng())?)))
    }

    /// Checks out of the visit in progress.
    pub fn check_out(&self) -> Result<CheckIn, GreenlightError> {
        let now = self.time();
        self.with(|phone| Ok(checked_in(phone.check_out(now, &mut os_rng())?)))
    }

    /// The visit diary, oldest first.
    pub fn visits(&self) -> Result<Vec<Visit>, GreenlightError> {
        self.with(|phone| Ok(phone.visits()?.iter().map(Visit::of).collect()))
    }

    /// Turns the visit diary on or off (off deletes it; check-ins are kept
    /// sealed for matching).
    pub fn set_diary(&self, on: bool) -> Result<(), GreenlightError> {
        self.with(|phone| Ok(phone.set_diary(on)?))
    }

    /// Downloads what is new from the key server over HTTPS, verifies it,
    /// matches it against what this phone saw and visited, and forgets
    /// what is older than 14 days. An interrupted sync resumes.
    pub fn sync(&self) -> Result<SyncSummary, GreenlightError> {
        let now = self.time();
        self.with(|phone| {
            let settings = Self::settings(phone)?;
            let http = Self::http()?;
            let report =
                self.runtime.block_on(greenlight_client::sync::sync(phone, &settings, &http, now, &mut |_| {}))?;
            phone.housekeeping(now)?;
            Ok(SyncSummary {
                unchanged: report.unchanged,
                files: u32::try_from(report.files).unwrap_or(u32::MAX),
                keys: u64::try_from(report.keys).unwrap_or(u64::MAX),
                exposures: u32::try_from(report.exposures).unwrap_or(u32::MAX),
                rejected_sightings: u32::try_from(report.rejected_sightings).unwrap_or(u32::MAX),
            })
        })
    }

    /// The color now, its end and its reasons (recorded in the color
    /// history when it changed).
    pub fn status(&self) -> Result<Status, GreenlightError> {
        let now = self.time();
        self.with(|phone| {
            let decision = phone.status_and_record(now)?;
            let alerts = venue_alerts(phone)?;
            Ok(Status::of(&decision, alerts))
        })
    }

    /// The pass to show at a door: the color as [`GreenlightPhone::status`]
    /// decides it (nothing is recorded: showing it changes nothing), the
    /// region, the freshness and the visit in progress.
    pub fn current_pass(&self) -> Result<Pass, GreenlightError> {
        let now = self.time();
        self.with(|phone| {
            let pass = phone.pass(now)?;
            let alerts = venue_alerts(phone)?;
            Ok(Pass {
                at: now.0,
                word: pass.word(),
                admits: pass.admits(),
                status: Status::of(&pass.decision, alerts),
                region: pass.region.map(|r| r.as_str().to_owned()),
                fresh_as_of: pass.fresh_as_of.map(|t| t.0),
                check_in: pass.check_in.as_ref().map(Visit::of),
            })
        })
    }

    /// The visits a report may reveal (the last 14 days), for the user to
    /// choose from.
    pub fn revealable_visits(&self) -> Result<Vec<Visit>, GreenlightError> {
        let now = self.time();
        self.with(|phone| Ok(phone.revealable_visits(now)?.iter().map(Visit::of).collect()))
    }

    /// Reports a diagnosis with the upload code the health authority gave,
    /// revealing exactly the visits whose ids are given (from
    /// [`GreenlightPhone::revealable_visits`]; none to reveal none). The
    /// keys of the last 14 days are published and never broadcast again.
    pub fn report(&self, code: String, reveal_visit_ids: Vec<String>) -> Result<ReportSummary, GreenlightError> {
        let now = self.time();
        self.with(|phone| {
            let settings = Self::settings(phone)?;
            let offered = phone.revealable_visits(now)?;
            let reveal = reveal_visit_ids
                .iter()
                .map(|id| {
                    offered.iter().find(|v| Visit::of(v).id == *id).cloned().ok_or_else(|| {
                        GreenlightError::InvalidArgument {
                            detail: "a visit id that is not among revealable_visits()".into(),
                        }
                    })
                })
                .collect::<Result<Vec<RevealedCheckIn>, _>>()?;
            let http = Self::http()?;
            let reported = self.runtime.block_on(greenlight_client::report::report(
                phone,
                &settings,
                &http,
                code.trim(),
                &reveal,
                now,
            ))?;
            Ok(ReportSummary {
                days: reported.days.iter().map(|d| d.0).collect(),
                revealed_visits: u32::try_from(reported.checkins).unwrap_or(u32::MAX),
                report_type: reported.report_type.to_byte(),
            })
        })
    }

    /// Deletes everything this phone keeps (keys, sightings, visits,
    /// exposures, settings) for good. The object is closed afterwards:
    /// every later call fails with `Closed`.
    pub fn wipe(&self) -> Result<(), GreenlightError> {
        let mut guard = self.phone()?;
        // Close the database before deleting its files.
        drop(guard.take());
        SqliteStore::wipe(&self.dir)?;
        match std::fs::remove_file(self.dir.join(PASSPHRASE_SALT_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(storage(e)),
            _ => Ok(()),
        }
    }
}

fn checked_in(c: greenlight_phone::CheckedIn) -> CheckIn {
    CheckIn { venue: c.venue, arrival: c.arrival.0, departure: c.departure.0, extended: c.extended }
}

/// The venue alerts among a phone's exposures, with the authority's
/// messages.
fn venue_alerts(phone: &greenlight_client::Phone) -> Result<Vec<VenueAlert>, greenlight_phone::StoreError> {
    Ok(phone
        .venue_alerts()?
        .into_iter()
        .filter_map(|e| match e {
            greenlight_phone::Exposure::Venue { start, end, venue, message, .. } => {
                Some(VenueAlert { venue, start, end, message })
            }
            greenlight_phone::Exposure::Ble { .. } => None,
        })
        .collect())
}
