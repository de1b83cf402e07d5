//! The real radio on Linux: BlueZ over the D-Bus system bus. Scanning goes
//! through btleplug, advertising through bluer's LE advertising manager
//! (btleplug does not advertise), diagnosis through plain D-Bus calls.
//!
//! - **Advertising** registers a non-connectable ("broadcast")
//!   advertisement carrying our 16-bit service UUID and the 20 bytes of
//!   service data: the last 28 bytes of spec §5.2's packet. The Flags
//!   structure in front is the kernel's to write (for a broadcast it writes
//!   one only when it has flags to announce, e.g. on an LE-only controller).
//!   Each new payload is a new registration: the Linux kernel sets up every
//!   non-connectable advertising instance with a fresh non-resolvable
//!   private address, so the address rotates with the ID.
//! - **Scanning** asks BlueZ for LE discovery filtered on our service UUID
//!   during each window of the duty cycle. Each report BlueZ sends about a
//!   device (a new device, new service data, a new RSSI) counts as one
//!   reception, pairing the latest service data and RSSI it reported for that
//!   address, in the order it reported them; a window's receptions of one
//!   advertisement become one sighting with their mean RSSI, stamped with the
//!   first.
//! - **Missing pieces** (no system bus, no BlueZ, no adapter, adapter off,
//!   no LE advertising manager) are reported as [`RadioError::Unavailable`]
//!   with the same [`crate::Missing`] the doctor prints.

mod diagnose;
mod scan;

pub use diagnose::{doctor, doctor_on};

use crate::clock::{Clock, SystemClock};
use crate::doctor::DoctorReport;
use crate::radio::{Radio, RadioError, ScanDutyCycle, Sightings};
use btleplug::api::{Central as _, Manager as _, bleuuid::uuid_from_u16};
use greenlight_protocol::advert::{Advertisement, ServiceUuid};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

/// How the BlueZ radio is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BluezConfig {
    /// The adapter to use (`hci0`); `None` for `hci0` if it exists, else
    /// the first by name.
    pub adapter: Option<String>,
    /// The service UUID to advertise and scan for.
    pub service_uuid: ServiceUuid,
    /// Shortest and longest time between advertising packets. Default
    /// 200–270 ms, the range of the GAEN Bluetooth specification v1.1.
    pub advertising_interval: (Duration, Duration),
    /// Transmit power to ask the controller for, dBm; `None` leaves the
    /// adapter's default. The calibrated TX power in the metadata is the
    /// client's and does not depend on this.
    pub tx_power_dbm: Option<i16>,
}

impl Default for BluezConfig {
    fn default() -> Self {
        BluezConfig {
            adapter: None,
            service_uuid: ServiceUuid::default(),
            advertising_interval: (Duration::from_millis(200), Duration::from_millis(270)),
            tx_power_dbm: None,
        }
    }
}

struct ScanTask {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

/// A [`Radio`] on a Bluetooth adapter, through BlueZ.
pub struct BluezRadio {
    config: BluezConfig,
    adapter_name: String,
    clock: Arc<dyn Clock>,
    central: btleplug::platform::Adapter,
    advertiser: bluer::Adapter,
    advertising: Mutex<Option<(Advertisement, bluer::adv::AdvertisementHandle)>>,
    scan: Mutex<Option<ScanTask>>,
    // Keeps bluer's D-Bus connection (and so the registered advertisement) alive.
    _session: bluer::Session,
}

impl core::fmt::Debug for BluezRadio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BluezRadio").field("adapter", &self.adapter_name).field("config", &self.config).finish()
    }
}

async fn diagnose() -> Result<DoctorReport, RadioError> {
    tokio::task::spawn_blocking(doctor).await.map_err(|e| RadioError::stack("checking Bluetooth", e))
}

impl BluezRadio {
    /// Opens the configured adapter, stamping sightings with the system
    /// clock. Fails with [`RadioError::Unavailable`] naming what is missing
    /// if the adapter cannot scan (advertising is checked when first used).
    pub async fn open(config: BluezConfig) -> Result<Self, RadioError> {
        BluezRadio::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`BluezRadio::open`], with another clock for the sightings.
    pub async fn open_with_clock(config: BluezConfig, clock: Arc<dyn Clock>) -> Result<Self, RadioError> {
        let report = diagnose().await?;
        if let Some(missing) = report.scanning_problem(config.adapter.as_deref()) {
            return Err(missing.into());
        }
        let adapter_name = report.adapter(config.adapter.as_deref())?.name.clone();

        let manager = btleplug::platform::Manager::new()
            .await
            .map_err(|e| RadioError::stack("connecting btleplug to BlueZ", e))?;
        let adapters = manager.adapters().await.map_err(|e| RadioError::stack("listing adapters", e))?;
        let mut central = None;
        for adapter in adapters {
            // btleplug names an adapter "hci0 (modalias)".
            let info = adapter.adapter_info().await.map_err(|e| RadioError::stack("reading an adapter", e))?;
            if info.split(' ').next() == Some(adapter_name.as_str()) {
                central = Some(adapter);
                break;
            }
        }
        let central = central.ok_or_else(|| {
            RadioError::stack("finding the adapter", format!("btleplug does not list {adapter_name}"))
        })?;

        let session = bluer::Session::new().await.map_err(|e| RadioError::stack("connecting bluer to BlueZ", e))?;
        let advertiser = session.adapter(&adapter_name).map_err(|e| RadioError::stack("opening the adapter", e))?;
        Ok(BluezRadio {
            config,
            adapter_name,
            clock,
            central,
            advertiser,
            advertising: Mutex::new(None),
            scan: Mutex::new(None),
            _session: session,
        })
    }

    /// The adapter in use (`hci0`).
    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    fn le_advertisement(&self, advertisement: &Advertisement) -> bluer::adv::Advertisement {
        let uuid = uuid_from_u16(self.config.service_uuid.0);
        let (min, max) = self.config.advertising_interval;
        bluer::adv::Advertisement {
            advertisement_type: bluer::adv::Type::Broadcast,
            service_uuids: BTreeSet::from([uuid]),
            service_data: BTreeMap::from([(uuid, advertisement.service_data().to_vec())]),
            min_interval: Some(min),
            max_interval: Some(max),
            tx_power: self.config.tx_power_dbm,
            ..Default::default()
        }
    }

    /// Turns a failed registration into what is missing, if the doctor
    /// finds something missing, or else into BlueZ's own error.
    async fn advertising_failed(&self, error: bluer::Error) -> RadioError {
        match diagnose().await.ok().and_then(|r| r.advertising_problem(Some(&self.adapter_name))) {
            Some(missing) => missing.into(),
            None => RadioError::stack("registering the advertisement with BlueZ", error),
        }
    }
}

impl Radio for BluezRadio {
    async fn advertise(&self, advertisement: Advertisement) -> Result<(), RadioError> {
        let mut current = self.advertising.lock().await;
        if current.as_ref().is_some_and(|(a, _)| *a == advertisement) {
            return Ok(());
        }
        // Dropping the handle unregisters the old payload (bluer does it in
        // the background), so the new one goes out as a new instance with a
        // new address.
        let replaced = current.take().is_some();
        let le = self.le_advertisement(&advertisement);
        let handle = match self.advertiser.advertise(le.clone()).await {
            Ok(handle) => handle,
            Err(_) if replaced => {
                // The old instance may still hold the adapter's last slot.
                tokio::time::sleep(Duration::from_millis(200)).await;
                match self.advertiser.advertise(le).await {
                    Ok(handle) => handle,
                    Err(error) => return Err(self.advertising_failed(error).await),
                }
            }
            Err(error) => return Err(self.advertising_failed(error).await),
        };
        *current = Some((advertisement, handle));
        Ok(())
    }

    async fn stop_advertising(&self) -> Result<(), RadioError> {
        self.advertising.lock().await.take();
        Ok(())
    }

    async fn scan(&self, duty: ScanDutyCycle) -> Result<Sightings, RadioError> {
        let mut current = self.scan.lock().await;
        if let Some(old) = current.take() {
            // Let the old scan stop discovery before the new one starts it.
            let _ = old.stop.send(());
            let _ = old.handle.await;
        }
        let events = self.central.events().await.map_err(|e| RadioError::stack("subscribing to BlueZ events", e))?;
        let (tx, sightings) = Sightings::channel();
        let (stop, stopped) = oneshot::channel();
        let scanner = scan::Scanner {
            central: self.central.clone(),
            uuid: uuid_from_u16(self.config.service_uuid.0),
            duty,
            clock: self.clock.clone(),
            tx,
        };
        let handle = tokio::spawn(scanner.run(events, stopped));
        *current = Some(ScanTask { stop, handle });
        Ok(sightings)
    }
}
