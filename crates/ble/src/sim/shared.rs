//! The simulated world behind the async [`Radio`] interface, for testing the
//! client as it will run on a phone.
//!
//! The test owns the time: it calls [`SharedWorld::advance_to`], which runs
//! the scan windows up to then, delivers each device's sightings to its open
//! [`Sightings`] stream and moves the shared [`SimClock`]. Radio calls take
//! effect at the world's current time, so a test that drives the world the
//! same way gets the same sightings, whatever the task scheduling.

use super::{DeviceId, DeviceSpec, Position, SimWorld, ZoneId};
use crate::clock::SimClock;
use crate::radio::{Radio, RadioError, ScanDutyCycle, SightingSender, Sightings};
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::time::UnixTime;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug)]
struct Inner {
    world: SimWorld,
    /// The open sightings stream of each scanning device, by device index.
    outlets: Vec<Option<SightingSender>>,
}

/// A [`SimWorld`] shared by many [`SimRadio`]s and the test driving it.
#[derive(Debug, Clone)]
pub struct SharedWorld {
    inner: Arc<Mutex<Inner>>,
    clock: SimClock,
}

impl SharedWorld {
    /// Shares `world`; the clock starts at the world's time.
    pub fn new(world: SimWorld) -> Self {
        let clock = SimClock::new(world.now());
        SharedWorld { inner: Arc::new(Mutex::new(Inner { world, outlets: Vec::new() })), clock }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic in another test task must not hide this one's result.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The world's clock, for the code under test.
    pub fn clock(&self) -> SimClock {
        self.clock.clone()
    }

    /// Runs `f` on the world (to move devices, add zones, read state).
    pub fn with<R>(&self, f: impl FnOnce(&mut SimWorld) -> R) -> R {
        f(&mut self.lock().world)
    }

    /// Adds a device and returns its radio.
    pub fn add_device(&self, spec: DeviceSpec) -> SimRadio {
        let device = self.with(|w| w.add_device(spec));
        SimRadio { world: self.clone(), device }
    }

    /// Moves a device.
    pub fn move_device(&self, device: DeviceId, position: Position, zone: ZoneId) {
        self.with(|w| w.move_device(device, position, zone));
    }

    /// Runs the world to `t`, delivers the sightings and sets the clock to
    /// `t`. Returns how many sightings were delivered. Scans whose stream
    /// was dropped stop here.
    pub fn advance_to(&self, t: UnixTime) -> usize {
        let mut guard = self.lock();
        let Inner { world, outlets } = &mut *guard;
        let mut delivered = 0;
        world.advance_to(t, |reception| {
            if let Some(Some(outlet)) = outlets.get(reception.scanner.0 as usize)
                && outlet.send(Ok(reception.sighting)).is_ok()
            {
                delivered += 1;
            }
        });
        for (index, outlet) in outlets.iter_mut().enumerate() {
            if outlet.as_ref().is_some_and(SightingSender::is_closed) {
                *outlet = None;
                world.stop_scanning(DeviceId(u32::try_from(index).expect("device index")));
            }
        }
        self.clock.set(world.now());
        delivered
    }

    /// Runs the world `secs` seconds further.
    pub fn advance(&self, secs: u64) -> usize {
        let now = self.with(|w| w.now());
        self.advance_to(now.plus(secs))
    }
}

/// One device of a [`SharedWorld`], as a [`Radio`].
#[derive(Debug, Clone)]
pub struct SimRadio {
    world: SharedWorld,
    device: DeviceId,
}

impl SimRadio {
    /// The device this radio belongs to.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The world it lives in.
    pub fn world(&self) -> &SharedWorld {
        &self.world
    }
}

impl Radio for SimRadio {
    async fn advertise(&self, advertisement: Advertisement) -> Result<(), RadioError> {
        self.world.with(|w| w.advertise(self.device, advertisement));
        Ok(())
    }

    async fn stop_advertising(&self) -> Result<(), RadioError> {
        self.world.with(|w| w.stop_advertising(self.device));
        Ok(())
    }

    async fn scan(&self, duty: ScanDutyCycle) -> Result<Sightings, RadioError> {
        let (tx, sightings) = Sightings::channel();
        let mut guard = self.world.lock();
        let Inner { world, outlets } = &mut *guard;
        let index = self.device.0 as usize;
        if outlets.len() <= index {
            outlets.resize(index + 1, None);
        }
        // Replacing the sender ends the previous scan's stream.
        outlets[index] = Some(tx);
        world.start_scanning(self.device, duty);
        Ok(sightings)
    }
}
