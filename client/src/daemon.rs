//! The background daemon: broadcast, listen, remember, sync.
//!
//! [`Daemon::tick`] does whatever is due at a given time, so the same code
//! runs against the real radio (driven every second by the system clock)
//! and against the simulated radio (driven by the simulation's clock):
//!
//! - at each 10-minute interval boundary, advertise the new ephemeral ID
//!   (the radio rotates the Bluetooth address with it), or stop
//!   advertising once the day's key has been released by a report;
//! - store what the radio heard, unless the clock is behind the newest
//!   signed time the phone has seen (spec §6.5: no time travel);
//! - sync on a schedule, backing off when the server is unreachable;
//! - send chaff (dummy reports, padded like real ones) at random times,
//!   so that a real report cannot be told apart on the network.

use crate::settings::Settings;
use crate::sync::sync;
use crate::{Phone, os_rng};
use greenlight_api::device::{CertificateRequest, VerifyRequest};
use greenlight_api::padding::{PUBLISH_REQUEST_SIZE, SMALL_REQUEST_SIZE, padded};
use greenlight_api::publish::PublishRequest;
use greenlight_ble::radio::{Radio, RadioError, ScanDutyCycle, Sightings};
use greenlight_phone::StoreError;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use rand_core::Rng;

/// How the daemon behaves.
#[derive(Debug, Clone, Copy)]
pub struct DaemonConfig {
    /// Scan duty cycle (default: 4 s every 5 minutes, as GAEN).
    pub duty: ScanDutyCycle,
    /// Seconds between syncs (default: 1 hour).
    pub sync_every_secs: u64,
    /// Average chaff reports per day (default 1).
    pub chaff_per_day: u32,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig { duty: ScanDutyCycle::DEFAULT, sync_every_secs: 3600, chaff_per_day: 1 }
    }
}

/// Why the daemon stopped.
#[derive(Debug)]
pub enum DaemonError {
    /// The radio failed (with what is missing, for an absent adapter).
    Radio(RadioError),
    /// The local store failed.
    Store(StoreError),
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DaemonError::Radio(e) => write!(f, "Bluetooth: {e} (`greenlight ble doctor` explains)"),
            DaemonError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DaemonError {}

impl From<StoreError> for DaemonError {
    fn from(e: StoreError) -> Self {
        DaemonError::Store(e)
    }
}

impl From<RadioError> for DaemonError {
    fn from(e: RadioError) -> Self {
        DaemonError::Radio(e)
    }
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Sightings stored.
    pub stored: usize,
    /// Sightings dropped because the clock is behind the clock floor.
    pub dropped_clock_behind: usize,
    /// A sync ran (successfully or not).
    pub synced: bool,
    /// Chaff was sent.
    pub chaff: bool,
}

/// The running daemon.
pub struct Daemon<R: Radio> {
    phone: Phone,
    radio: R,
    settings: Option<Settings>,
    config: DaemonConfig,
    http: reqwest::Client,
    sightings: Sightings,
    advertising: Option<(DayNumber, u8)>,
    next_sync: UnixTime,
    sync_backoff: u64,
    next_chaff: UnixTime,
}

impl<R: Radio> Daemon<R> {
    /// Starts scanning; the first [`Daemon::tick`] starts advertising.
    /// Without `settings` (not set up yet) it exchanges IDs but does not sync.
    pub async fn start(
        phone: Phone,
        radio: R,
        settings: Option<Settings>,
        config: DaemonConfig,
        now: UnixTime,
    ) -> Result<Self, DaemonError> {
        let sightings = radio.scan(config.duty).await?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| DaemonError::Radio(RadioError::Stack { operation: "http", message: e.to_string() }))?;
        let mut daemon = Daemon {
            phone,
            radio,
            settings,
            config,
            http,
            sightings,
            advertising: None,
            next_sync: now,
            sync_backoff: 60,
            next_chaff: now,
        };
        daemon.next_chaff = daemon.draw_chaff_time(now);
        Ok(daemon)
    }

    /// Does everything due at `now`.
    pub async fn tick(&mut self, now: UnixTime) -> Result<Tick, DaemonError> {
        let mut tick = Tick::default();
        self.rotate(now).await?;
        let mut heard: Vec<Sighting> = Vec::new();
        while let Some(sighting) = self.sightings.try_recv() {
            heard.push(sighting?);
        }
        let recorded = self.phone.record_sightings(&heard)?;
        tick.stored = recorded.stored;
        tick.dropped_clock_behind = recorded.behind_clock_floor;
        if let Some(settings) = &self.settings {
            if now >= self.next_sync {
                tick.synced = true;
                match sync(&mut self.phone, settings, &self.http, now, &mut |_| {}).await {
                    Ok(_) => {
                        self.sync_backoff = 60;
                        self.next_sync = now.plus(self.config.sync_every_secs);
                    }
                    Err(crate::sync::SyncError::Phone(greenlight_phone::SyncError::Store(e))) => return Err(e.into()),
                    // The server being away (or serving a bad file) is
                    // normal for a phone: try again later, backing off up
                    // to the normal period.
                    Err(_) => {
                        self.next_sync = now.plus(self.sync_backoff);
                        self.sync_backoff = (self.sync_backoff * 2).min(self.config.sync_every_secs);
                    }
                }
            }
            if now >= self.next_chaff {
                send_chaff(&self.http, settings).await;
                tick.chaff = true;
                self.next_chaff = self.draw_chaff_time(now);
            }
        }
        Ok(tick)
    }

    async fn rotate(&mut self, now: UnixTime) -> Result<(), DaemonError> {
        let current = (now.day(), now.interval().slot());
        if self.advertising == Some(current) {
            return Ok(());
        }
        match self.phone.advertisement(now, &mut os_rng())? {
            Some(advertisement) => self.radio.advertise(advertisement).await?,
            // A released key is public: never broadcast under it again.
            None => self.radio.stop_advertising().await?,
        }
        self.advertising = Some(current);
        Ok(())
    }

    /// A time for the next chaff report: exponentially distributed, so the
    /// times are memoryless and look like any other report's.
    fn draw_chaff_time(&self, now: UnixTime) -> UnixTime {
        let mean = 86_400 / u64::from(self.config.chaff_per_day.max(1));
        let u = (f64::from(rand_core::UnwrapErr(getrandom::SysRng).next_u32()) + 1.0) / (f64::from(u32::MAX) + 2.0);
        // -ln(u) is at most about 22, so the delay stays far below overflow.
        now.plus(std::time::Duration::from_secs_f64(-u.ln() * mean as f64).as_secs())
    }

    /// The phone the daemon runs.
    pub fn phone(&self) -> &Phone {
        &self.phone
    }

    /// Stores what is left, stops advertising and scanning, and gives the
    /// phone back.
    pub async fn stop(mut self, now: UnixTime) -> Result<Phone, DaemonError> {
        self.settings = None;
        self.next_chaff = UnixTime(u64::MAX);
        self.tick(now).await?;
        self.radio.stop_advertising().await?;
        drop(self.sightings);
        Ok(self.phone)
    }
}

/// One chaff report: the same three requests as a real report, the same
/// sizes, marked `X-Chaff` (inside TLS, invisible on the network).
pub async fn send_chaff(http: &reqwest::Client, settings: &Settings) {
    let authority = settings.authority_url();
    let requests = [
        (format!("{authority}/v1/verify"), padded(&VerifyRequest::chaff(), SMALL_REQUEST_SIZE)),
        (format!("{authority}/v1/certificate"), padded(&CertificateRequest::chaff(), SMALL_REQUEST_SIZE)),
        (format!("{}/v1/publish", settings.server), padded(&PublishRequest::chaff(), PUBLISH_REQUEST_SIZE)),
    ];
    for (url, body) in requests {
        let _ = http
            .post(url)
            .header("content-type", "application/json")
            .header(greenlight_api::CHAFF_HEADER, "1")
            .body(body)
            .send()
            .await;
    }
}
