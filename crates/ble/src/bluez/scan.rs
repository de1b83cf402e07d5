//! The scanning task of the BlueZ radio: opens and closes discovery on the
//! duty cycle, turns BlueZ's device reports into receptions while a window
//! is open, and sends one sighting per advertisement per window.
//!
//! btleplug's event stream is read all the time, also between windows, so
//! that a report queued while the scan was off is never mistaken for a
//! reception in the next window.

use crate::clock::Clock;
use crate::radio::{RadioError, ScanDutyCycle, SightingSender, mean_rssi};
use btleplug::api::{Central as _, CentralEvent, Peripheral as _, ScanFilter};
use btleplug::platform::{Adapter, PeripheralId};
use core::pin::Pin;
use futures_core::Stream;
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::UnixTime;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};

pub(crate) type Events = Pin<Box<dyn Stream<Item = CentralEvent> + Send>>;

pub(crate) struct Scanner {
    pub(crate) central: Adapter,
    pub(crate) uuid: bluer::Uuid,
    pub(crate) duty: ScanDutyCycle,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) tx: SightingSender,
}

/// The receptions of one window, by advertisement, in order of first
/// reception.
#[derive(Default)]
struct Window {
    heard: Vec<(Advertisement, UnixTime, i32, i32)>,
}

impl Window {
    fn add(&mut self, advertisement: Advertisement, rssi: i8, at: UnixTime) {
        match self.heard.iter_mut().find(|(a, ..)| *a == advertisement) {
            Some((_, _, sum, count)) => {
                *sum += i32::from(rssi);
                *count += 1;
            }
            None => self.heard.push((advertisement, at, i32::from(rssi), 1)),
        }
    }

    fn flush(&mut self, tx: &SightingSender) {
        for (advertisement, first, sum, count) in self.heard.drain(..) {
            let rssi = mean_rssi(sum, count);
            let _ =
                tx.send(Ok(Sighting { id: advertisement.id, metadata: advertisement.metadata, rssi, seen_at: first }));
        }
    }
}

async fn next(events: &mut Events) -> Option<CentralEvent> {
    std::future::poll_fn(|cx| events.as_mut().poll_next(cx)).await
}

/// What the scanner last learnt about a device (an address): its current
/// advertisement, if it carries ours, and its current RSSI.
struct Device {
    advertisement: Option<Advertisement>,
    rssi: Option<i8>,
    touched: Instant,
}

/// Devices not heard of for this long are forgotten (addresses rotate, so
/// BlueZ keeps creating new ones).
const FORGET_AFTER: std::time::Duration = std::time::Duration::from_secs(3_600);

impl Scanner {
    /// Our advertisement in a device's service data, if it is there and
    /// exactly 20 bytes long.
    fn ours(&self, service_data: &HashMap<bluer::Uuid, Vec<u8>>) -> Option<Advertisement> {
        Advertisement::from_service_data(service_data.get(&self.uuid)?).ok()
    }

    /// The device's current advertisement and RSSI, read from BlueZ.
    async fn snapshot(&self, id: &PeripheralId) -> Option<Device> {
        let peripheral = self.central.peripheral(id).await.ok()?;
        let properties = peripheral.properties().await.ok()??;
        Some(Device {
            advertisement: self.ours(&properties.service_data),
            rssi: properties.rssi.map(clamp),
            touched: Instant::now(),
        })
    }

    /// Updates what is known of a device from one BlueZ report, and returns
    /// the reception the report stands for, if the device carries our
    /// advertisement and has an RSSI.
    ///
    /// A report carries only what changed, so the other half comes from the
    /// device's earlier reports, in the order BlueZ sent them; a device with
    /// none is read from BlueZ once.
    async fn report(
        &self,
        devices: &mut HashMap<PeripheralId, Device>,
        event: CentralEvent,
    ) -> Option<(Advertisement, i8)> {
        let (id, advertisement, rssi) = match event {
            CentralEvent::DeviceDiscovered(id) => {
                let device = self.snapshot(&id).await?;
                (id, device.advertisement, device.rssi)
            }
            CentralEvent::ServiceDataAdvertisement { id, service_data } => {
                let rssi = match devices.get(&id) {
                    Some(known) => known.rssi,
                    None => self.snapshot(&id).await.and_then(|d| d.rssi),
                };
                let advertisement = self.ours(&service_data);
                (id, advertisement, rssi)
            }
            CentralEvent::RssiUpdate { id, rssi } => {
                let advertisement = match devices.get(&id) {
                    Some(known) => known.advertisement,
                    None => self.snapshot(&id).await.and_then(|d| d.advertisement),
                };
                (id, advertisement, Some(clamp(rssi)))
            }
            _ => return None,
        };
        devices.insert(id, Device { advertisement, rssi, touched: Instant::now() });
        Some((advertisement?, rssi?))
    }

    pub(crate) async fn run(self, mut events: Events, mut stop: oneshot::Receiver<()>) {
        // btleplug opens the stream with a "discovered" event for every
        // device BlueZ already knew: old news, not receptions.
        // Remember what they carry, so later reports complete it.
        let mut devices = HashMap::new();
        while let Ok(Some(event)) = tokio::time::timeout(std::time::Duration::ZERO, next(&mut events)).await {
            let _ = self.report(&mut devices, event).await;
        }
        let filter = ScanFilter { services: vec![self.uuid] };
        let mut discovering = false;
        let mut window = Window::default();
        let mut open_until: Option<Instant> = None;
        let mut next_start = Instant::now();
        loop {
            let deadline = open_until.unwrap_or(next_start);
            tokio::select! {
                biased;
                _ = &mut stop => break,
                () = self.tx.closed() => break,
                () = sleep_until(deadline) => {
                    if open_until.take().is_some() {
                        if !self.duty.is_continuous() {
                            if let Err(e) = self.central.stop_scan().await {
                                let _ = self.tx.send(Err(RadioError::stack("stopping a scan", e)));
                            }
                            discovering = false;
                        }
                        window.flush(&self.tx);
                        devices.retain(|_, d| d.touched.elapsed() < FORGET_AFTER);
                    } else {
                        // After a stall (a suspended laptop), skip the missed windows.
                        while next_start <= Instant::now() {
                            next_start += self.duty.period();
                        }
                        if !discovering {
                            match self.central.start_scan(filter.clone()).await {
                                Ok(()) => discovering = true,
                                Err(e) => {
                                    let _ = self.tx.send(Err(RadioError::stack("starting a scan", e)));
                                    continue;
                                }
                            }
                        }
                        open_until = Some(Instant::now() + self.duty.window());
                    }
                }
                event = next(&mut events) => {
                    let Some(event) = event else {
                        let _ = self.tx.send(Err(RadioError::stack("listening to BlueZ", "the event stream ended")));
                        break;
                    };
                    // Reports between windows (another program scanning) keep
                    // the devices current but are not our receptions.
                    if let Some((advertisement, rssi)) = self.report(&mut devices, event).await
                        && open_until.is_some()
                    {
                        window.add(advertisement, rssi, self.clock.now());
                    }
                }
            }
        }
        window.flush(&self.tx);
        if discovering {
            let _ = self.central.stop_scan().await;
        }
    }
}

fn clamp(rssi: i16) -> i8 {
    i8::try_from(rssi.clamp(i16::from(i8::MIN), i16::from(i8::MAX))).expect("clamped to the i8 range")
}
