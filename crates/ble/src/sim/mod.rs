//! The simulated radio: phones at positions in a shared world, hearing each
//! other through a physical model, deterministic from a seed.
//!
//! [`SimWorld`] is the synchronous core, built for the town simulation: it
//! holds every device, and [`SimWorld::advance_to`] runs every scan window
//! that starts before a given time and hands each reception to a callback.
//! [`SharedWorld`] wraps it for async code: each device gets a
//! [`SimRadio`] implementing [`crate::Radio`], and the world's
//! [`crate::SimClock`] moves as the test advances the world.
//!
//! What a scan window hears (see [`propagation`] for the formulas):
//!
//! 1. Nothing at all with probability [`SimConfig::missed_scan`] (the phone
//!    was busy or its OS delayed the scan).
//! 2. Otherwise every device advertising at the window's start, within
//!    range, whose RSSI — path loss over the distance, walls between their
//!    zones, both carriers' bodies, and one draw of shadowing per link and
//!    window — rounds to at least [`SimConfig::sensitivity_dbm`].
//! 3. Unless every packet of the window is lost: the advertiser sends one
//!    packet every [`SimConfig::advertising_interval`], and each is lost with
//!    probability [`SimConfig::packet_loss`].
//!
//! Positions, zones and advertisements hold from the call that sets them
//! until the next one; a window sees the world as it is when
//! [`SimWorld::advance_to`] reaches the window's start. Scan windows start on
//! whole seconds at a random phase per scan, so brief encounters are caught
//! in proportion to their length, as on real phones.
//!
//! Nothing is allocated per pair of devices: advertisers live in a spatial
//! grid, and a scan visits only the cells within the range at which a link
//! could still be heard (`tail_sigmas` standard deviations of shadowing
//! above the mean).

pub mod propagation;

mod calendar;
mod grid;
mod shared;

pub use propagation::Propagation;
pub use shared::{SharedWorld, SimRadio};

use crate::calibration::Calibration;
use crate::radio::{ScanDutyCycle, mean_rssi};
use calendar::Calendar;
use core::fmt;
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::UnixTime;
use grid::{Entry, Grid};
use propagation::{FastLog2, FastNormal, draw, mix64, unit};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::time::Duration;

/// A point in the simulated world, in metres.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    /// East, m.
    pub x: f32,
    /// North, m.
    pub y: f32,
}

impl Position {
    /// The point `(x, y)`.
    pub const fn new(x: f32, y: f32) -> Self {
        Position { x, y }
    }

    /// The distance to `other`, m.
    pub fn distance(self, other: Position) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// A space enclosed by walls: a room, a flat, a shop, a bus. Devices in
/// different zones hear each other through the walls between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ZoneId(pub u32);

impl ZoneId {
    /// The open air: no walls of its own.
    pub const OUTDOORS: ZoneId = ZoneId(0);
}

/// A device in a [`SimWorld`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(pub u32);

/// A simulated device's Bluetooth random address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceAddress(pub [u8; 6]);

impl fmt::Display for DeviceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

/// A device to add to the world.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceSpec {
    /// How the device's model transmits and hears; the simulation takes it
    /// as the physical truth.
    pub calibration: Calibration,
    /// Where it is.
    pub position: Position,
    /// The zone it is in.
    pub zone: ZoneId,
    /// Attenuation by its carrier's body on every link of the device, dB: 0
    /// for a phone on a table; a few up to about 10 dB for one in a pocket
    /// or bag with the body in the way (an estimate; it depends on how the
    /// carrier faces).
    pub body_loss_db: f32,
}

impl DeviceSpec {
    /// A device of `calibration` outdoors at the origin, with no body loss.
    pub fn new(calibration: Calibration) -> Self {
        DeviceSpec { calibration, position: Position::default(), zone: ZoneId::OUTDOORS, body_loss_db: 0.0 }
    }

    /// The same device at `position` in `zone`.
    pub fn at(self, position: Position, zone: ZoneId) -> Self {
        DeviceSpec { position, zone, ..self }
    }

    /// The same device with `db` of body loss.
    pub fn with_body_loss(self, db: f32) -> Self {
        DeviceSpec { body_loss_db: db, ..self }
    }
}

/// How the simulated radio behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// The world's time when it is created.
    pub start: UnixTime,
    /// Path loss, shadowing, walls.
    pub propagation: Propagation,
    /// The weakest signal a phone reports, dBm. Default −100, around the
    /// sensitivity of phone Bluetooth receivers.
    pub sensitivity_dbm: i8,
    /// Time between two advertising packets of one device. Default 250 ms,
    /// as Google's implementation (the GAEN specification asks for
    /// 200–270 ms).
    pub advertising_interval: Duration,
    /// Probability that one advertising packet is lost (collision, the
    /// scanner listening on another channel). Default 0.5, an estimate in
    /// the middle of the 30–70 % single-beacon reception measured for
    /// DESIRE (PRIOR-ART §1.5); with 16 packets in a 4 s window it rarely
    /// loses a whole window.
    pub packet_loss: f64,
    /// Probability that a scan window hears nothing at all (the OS delayed
    /// or skipped it). Default 0.02, an estimate.
    pub missed_scan: f64,
    /// How many shadowing standard deviations above the mean a link is
    /// still evaluated; links beyond are never heard. Default 3 (a link cut
    /// off would have been heard less than 0.14 % of the time).
    pub tail_sigmas: f32,
    /// Size of the area the spatial grid covers, m (width, height), from
    /// the origin. Devices outside still work, only slower.
    pub area_m: (f32, f32),
    /// Side of a grid cell, m.
    pub cell_m: f32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            start: UnixTime(0),
            propagation: Propagation::default(),
            sensitivity_dbm: -100,
            advertising_interval: Duration::from_millis(250),
            packet_loss: 0.5,
            missed_scan: 0.02,
            tail_sigmas: 3.0,
            area_m: (2_000.0, 2_000.0),
            cell_m: 10.0,
        }
    }
}

/// Why a [`SimConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSimConfig(&'static str);

impl fmt::Display for InvalidSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid simulation config: {}", self.0)
    }
}

impl std::error::Error for InvalidSimConfig {}

impl SimConfig {
    fn validate(&self) -> Result<(), InvalidSimConfig> {
        let p = &self.propagation;
        let finite =
            [p.loss_at_1m_db, p.exponent, p.shadowing_sigma_db, p.wall_loss_db, p.min_distance_m, self.tail_sigmas];
        if !finite.iter().all(|v| v.is_finite()) {
            return Err(InvalidSimConfig("a propagation parameter is not a finite number"));
        }
        if p.exponent <= 0.0 || p.min_distance_m <= 0.0 || p.shadowing_sigma_db < 0.0 || self.tail_sigmas < 0.0 {
            return Err(InvalidSimConfig(
                "exponent and minimum distance must be positive, sigma and tail not negative",
            ));
        }
        if !(0.0..=1.0).contains(&self.packet_loss) || !(0.0..=1.0).contains(&self.missed_scan) {
            return Err(InvalidSimConfig("probabilities must lie in [0, 1]"));
        }
        if self.advertising_interval.is_zero() {
            return Err(InvalidSimConfig("the advertising interval is zero"));
        }
        let (w, h) = self.area_m;
        if !(w > 0.0 && h > 0.0 && self.cell_m > 0.0 && w.is_finite() && h.is_finite() && self.cell_m.is_finite()) {
            return Err(InvalidSimConfig("area and cell size must be positive"));
        }
        Ok(())
    }

    /// Probability that every packet of a `window` is lost, given that the
    /// link is strong enough to be heard. A window holds `window / interval`
    /// packets on average: ⌊w/i⌋ or one more, depending on the phase.
    fn all_packets_lost(&self, window: Duration) -> f64 {
        let packets = window.as_secs_f64() / self.advertising_interval.as_secs_f64();
        let whole = packets.floor();
        let fraction = packets - whole;
        #[expect(clippy::cast_possible_truncation, reason = "a window holds far fewer than 2^31 packets")]
        let n = whole.min(f64::from(i32::MAX)) as i32;
        let p = self.packet_loss;
        p.powi(n) * (1.0 - fraction) + p.powi(n.saturating_add(1)) * fraction
    }
}

/// One advertisement heard in one scan window, with the ground truth the
/// scanning phone does not know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reception {
    /// The device that heard it.
    pub scanner: DeviceId,
    /// The device that sent it (the first, if several sent the same payload).
    pub advertiser: DeviceId,
    /// What the scanner records.
    pub sighting: Sighting,
    /// The true distance, m.
    pub distance_m: f32,
}

#[derive(Debug, Clone)]
struct Scan {
    duty: ScanDutyCycle,
    generation: u32,
    all_packets_lost: f64,
    /// The search ranges of the last window, by the loss budget and the
    /// walls between the scanner's zone and any other (they rarely change):
    /// `(budget, walls, same zone range, other zones range)`.
    ranges: (f32, u8, f32, f32),
}

#[derive(Debug, Clone)]
struct Device {
    calibration: Calibration,
    position: Position,
    zone: ZoneId,
    body_loss_db: f32,
    advertisement: Option<Advertisement>,
    address: DeviceAddress,
    rotations: u64,
    /// Its entry in the grid, while it advertises.
    slot: Option<u32>,
    /// Its index in its zone's list of advertisers, while it advertises
    /// indoors.
    member: Option<u32>,
    scan: Option<Scan>,
    scan_generation: u32,
}

/// Independent keys for each kind of random draw, derived from the seed.
#[derive(Debug, Clone, Copy)]
struct Keys {
    windows: u64,
    addresses: u64,
    phases: u64,
}

const DOMAIN_MISSED_SCAN: u64 = 0x6D69_7373_6564_5F73; // "missed_s"
const DOMAIN_PACKETS: u64 = 0x7061_636B_6574_735F; // "packets_"

/// The simulated world: devices, zones, time.
#[derive(Debug, Clone)]
pub struct SimWorld {
    config: SimConfig,
    keys: Keys,
    now: UnixTime,
    devices: Vec<Device>,
    zones: u32,
    /// Per zone: the zones with a set number of walls between, sorted by
    /// zone (a short list: looked up on every link between zones).
    walls: Vec<Vec<(u32, u8)>>,
    /// Per zone: the fewest walls between it and any other zone.
    min_walls: Vec<u8>,
    /// Per zone: the devices advertising in it (empty for the outdoors,
    /// whose advertisers are found through the grid).
    zone_members: Vec<Vec<u32>>,
    grid: Grid,
    /// Upcoming scan windows.
    calendar: Calendar,
    loudest_tx_dbm: f32,
    /// Scratch: the receptions of one window.
    heard: Vec<Reception>,
    /// Scratch: the windows of one [`SimWorld::advance_to`].
    planned: Vec<Window>,
    log2: FastLog2,
    normal: FastNormal,
}

impl SimWorld {
    /// An empty world at `config.start`.
    pub fn new(config: SimConfig) -> Result<Self, InvalidSimConfig> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let keys = Keys { windows: rng.next_u64(), addresses: rng.next_u64(), phases: rng.next_u64() };
        let grid = Grid::new(config.area_m.0, config.area_m.1, config.cell_m);
        Ok(SimWorld {
            now: config.start,
            keys,
            devices: Vec::new(),
            zones: 0,
            walls: Vec::new(),
            min_walls: vec![0],
            zone_members: vec![Vec::new()],
            grid,
            calendar: Calendar::new(config.start.0),
            loudest_tx_dbm: f32::NEG_INFINITY,
            heard: Vec::new(),
            planned: Vec::new(),
            log2: FastLog2::new(),
            normal: FastNormal::new(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The world's time: the last time it was advanced to.
    pub fn now(&self) -> UnixTime {
        self.now
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// A new enclosed zone. Two different zones are separated by one wall
    /// for each of them that is not [`ZoneId::OUTDOORS`] (two rooms of
    /// different buildings: two walls; a room and the street: one) unless
    /// [`SimWorld::set_walls_between`] says otherwise.
    pub fn add_zone(&mut self) -> ZoneId {
        self.zones += 1;
        let zone = ZoneId(self.zones);
        self.ensure_zone(zone);
        zone
    }

    /// Grows the per-zone tables to hold `zone` (zone ids are public, so a
    /// caller may use one it made up).
    fn ensure_zone(&mut self, zone: ZoneId) {
        let needed = zone.0 as usize + 1;
        if self.min_walls.len() < needed {
            // An indoor zone is one wall from the outdoors until told otherwise.
            self.min_walls.resize(needed, 1);
            self.zone_members.resize_with(needed, Vec::new);
        }
    }

    /// Sets how many walls separate zones `a` and `b` (say 1 for two rooms
    /// sharing a wall, 0 for an open doorway).
    pub fn set_walls_between(&mut self, a: ZoneId, b: ZoneId, walls: u8) {
        if a != b {
            for (from, to) in [(a, b), (b, a)] {
                let i = from.0 as usize;
                if self.walls.len() <= i {
                    self.walls.resize_with(i + 1, Vec::new);
                }
                let list = &mut self.walls[i];
                match list.binary_search_by_key(&to.0, |&(zone, _)| zone) {
                    Ok(k) => list[k].1 = walls,
                    Err(k) => list.insert(k, (to.0, walls)),
                }
            }
            for zone in [a, b] {
                self.ensure_zone(zone);
                let min = &mut self.min_walls[zone.0 as usize];
                *min = (*min).min(walls);
            }
        }
    }

    /// Lists `id` among its zone's advertisers, if it advertises indoors.
    fn join_zone(&mut self, id: DeviceId) {
        let zone = self.devices[id.0 as usize].zone;
        let d = &self.devices[id.0 as usize];
        if zone == ZoneId::OUTDOORS || d.slot.is_none() || d.member.is_some() {
            return;
        }
        self.ensure_zone(zone);
        let list = &mut self.zone_members[zone.0 as usize];
        list.push(id.0);
        self.devices[id.0 as usize].member = Some(u32::try_from(list.len() - 1).expect("fewer than 2^32 devices"));
    }

    /// Takes `id` off its zone's list of advertisers.
    fn leave_zone(&mut self, id: DeviceId) {
        let d = &mut self.devices[id.0 as usize];
        if let Some(index) = d.member.take() {
            let list = &mut self.zone_members[d.zone.0 as usize];
            list.swap_remove(index as usize);
            if let Some(&moved) = list.get(index as usize) {
                self.devices[moved as usize].member = Some(index);
            }
        }
    }

    /// How many walls separate zones `a` and `b`.
    pub fn walls_between(&self, a: ZoneId, b: ZoneId) -> u8 {
        if a == b {
            return 0;
        }
        if let Some(list) = self.walls.get(a.0 as usize)
            && let Ok(k) = list.binary_search_by_key(&b.0, |&(zone, _)| zone)
        {
            return list[k].1;
        }
        u8::from(a != ZoneId::OUTDOORS) + u8::from(b != ZoneId::OUTDOORS)
    }

    /// Adds a device, neither advertising nor scanning.
    pub fn add_device(&mut self, spec: DeviceSpec) -> DeviceId {
        let id = DeviceId(u32::try_from(self.devices.len()).expect("fewer than 2^32 devices"));
        self.loudest_tx_dbm = self.loudest_tx_dbm.max(f32::from(spec.calibration.tx_power_dbm));
        self.devices.push(Device {
            calibration: spec.calibration,
            position: spec.position,
            zone: spec.zone,
            body_loss_db: spec.body_loss_db,
            advertisement: None,
            address: DeviceAddress([0; 6]),
            rotations: 0,
            slot: None,
            member: None,
            scan: None,
            scan_generation: 0,
        });
        id
    }

    fn device(&self, id: DeviceId) -> &Device {
        &self.devices[id.0 as usize]
    }

    /// The grid entry of an advertising device.
    fn entry(&self, id: DeviceId, advertisement: Advertisement) -> Entry {
        let d = self.device(id);
        Entry {
            advertisement,
            position: d.position,
            device: id.0,
            zone: d.zone.0,
            tx_power_dbm: f32::from(d.calibration.tx_power_dbm),
            body_loss_db: d.body_loss_db,
        }
    }

    /// Keeps the grid entry of `id` (if it advertises) in step with it.
    fn refresh(&mut self, id: DeviceId) {
        let d = &self.devices[id.0 as usize];
        if let (Some(slot), Some(advertisement)) = (d.slot, d.advertisement) {
            self.grid.update(slot, self.entry(id, advertisement));
        }
    }

    /// Moves a device to `position` in `zone`.
    pub fn move_device(&mut self, id: DeviceId, position: Position, zone: ZoneId) {
        let changes_zone = self.devices[id.0 as usize].zone != zone;
        if changes_zone {
            self.leave_zone(id);
        }
        let d = &mut self.devices[id.0 as usize];
        d.position = position;
        d.zone = zone;
        self.refresh(id);
        if changes_zone {
            self.join_zone(id);
        }
    }

    /// Sets the body loss of a device (it went from the table to a pocket).
    pub fn set_body_loss(&mut self, id: DeviceId, db: f32) {
        self.devices[id.0 as usize].body_loss_db = db;
        self.refresh(id);
    }

    /// Where a device is.
    pub fn position(&self, id: DeviceId) -> (Position, ZoneId) {
        let d = self.device(id);
        (d.position, d.zone)
    }

    /// Broadcasts `advertisement` from `id`, replacing what it broadcast. A
    /// device that was silent or sent another payload takes a fresh random
    /// address.
    pub fn advertise(&mut self, id: DeviceId, advertisement: Advertisement) {
        let d = &mut self.devices[id.0 as usize];
        if d.advertisement == Some(advertisement) {
            return;
        }
        d.advertisement = Some(advertisement);
        d.rotations += 1;
        let word = draw(self.keys.addresses, u64::from(id.0), d.rotations);
        let mut address = [0u8; 6];
        address.copy_from_slice(&word.to_be_bytes()[..6]);
        // A non-resolvable private address: the two top bits are 0.
        address[0] &= 0x3F;
        d.address = DeviceAddress(address);
        if d.slot.is_none() {
            let slot = self.grid.insert(self.entry(id, advertisement));
            self.devices[id.0 as usize].slot = Some(slot);
            self.join_zone(id);
        } else {
            self.refresh(id);
        }
    }

    /// Stops broadcasting from `id`.
    pub fn stop_advertising(&mut self, id: DeviceId) {
        self.leave_zone(id);
        let d = &mut self.devices[id.0 as usize];
        d.advertisement = None;
        if let Some(slot) = d.slot.take()
            && let Some(moved) = self.grid.remove(slot)
        {
            self.devices[moved as usize].slot = Some(slot);
        }
    }

    /// What `id` is broadcasting.
    pub fn advertisement(&self, id: DeviceId) -> Option<Advertisement> {
        self.device(id).advertisement
    }

    /// The address `id` broadcasts from (meaningful while it advertises).
    pub fn address(&self, id: DeviceId) -> DeviceAddress {
        self.device(id).address
    }

    /// Starts scanning on `id` with `duty`, replacing any scan it had. The
    /// first window starts at a random whole second within one period.
    pub fn start_scanning(&mut self, id: DeviceId, duty: ScanDutyCycle) {
        let all_packets_lost = self.config.all_packets_lost(duty.window());
        let now = self.now.0;
        let d = &mut self.devices[id.0 as usize];
        d.scan_generation = d.scan_generation.wrapping_add(1);
        let generation = d.scan_generation;
        d.scan = Some(Scan { duty, generation, all_packets_lost, ranges: (f32::NAN, 0, 0.0, 0.0) });
        let phase = draw(self.keys.phases, u64::from(id.0), u64::from(generation)) % duty.period_secs();
        let at = now.saturating_add(phase).max(self.calendar.base());
        self.calendar.schedule(at, (id.0, generation));
    }

    /// Stops scanning on `id`.
    pub fn stop_scanning(&mut self, id: DeviceId) {
        let d = &mut self.devices[id.0 as usize];
        d.scan = None;
        d.scan_generation = d.scan_generation.wrapping_add(1);
    }

    /// Whether `id` is scanning.
    pub fn is_scanning(&self, id: DeviceId) -> bool {
        self.device(id).scan.is_some()
    }

    /// Runs every scan window that starts at or before `t`, in order of
    /// start (then device), calling `heard` for each reception. The world's
    /// time becomes `t` (it never moves back).
    pub fn advance_to(&mut self, t: UnixTime, heard: impl FnMut(&Reception)) {
        self.advance_to_where(t, |_| true, heard);
    }

    /// [`SimWorld::advance_to`], calling `heard` only for the receptions
    /// `wanted` accepts (it runs on every core, so a large world that keeps
    /// few receptions spends little time in `heard`). Returns the number of
    /// receptions, wanted or not.
    pub fn advance_to_where(
        &mut self,
        t: UnixTime,
        wanted: impl Fn(&Reception) -> bool + Sync,
        mut heard: impl FnMut(&Reception),
    ) -> u64 {
        let mut receptions = 0u64;
        self.grid.prepare();
        // Plan every window up to `t` (the part that changes the world's
        // state), then run them (reading the world only) on every core,
        // and hand the receptions over in window order: the same result
        // as running them one by one.
        let mut planned = std::mem::take(&mut self.planned);
        while let Some((second, windows)) = self.calendar.next_second(t.0) {
            for &(device, generation) in &windows {
                let Some(scan) = &self.devices[device as usize].scan else { continue };
                if scan.generation != generation {
                    continue;
                }
                let next = second.saturating_add(scan.duty.period_secs());
                self.calendar.schedule(next, (device, generation));
                if let Some(window) = self.plan_window(DeviceId(device), second) {
                    planned.push(window);
                }
            }
            self.calendar.recycle(windows);
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        if threads == 1 || planned.len() < PARALLEL_WINDOWS {
            let mut scratch = std::mem::take(&mut self.heard);
            for window in &planned {
                self.run_window(window, &mut scratch, &mut |r: &Reception| {
                    receptions += 1;
                    if wanted(r) {
                        heard(r);
                    }
                });
            }
            self.heard = scratch;
        } else {
            let (world, wanted) = (&*self, &wanted);
            let chunk = planned.len().div_ceil(threads);
            let parts: Vec<(u64, Vec<Reception>)> = std::thread::scope(|scope| {
                let handles: Vec<_> = planned
                    .chunks(chunk)
                    .map(|part| {
                        scope.spawn(move || {
                            let (mut scratch, mut out, mut all) = (Vec::new(), Vec::new(), 0u64);
                            for window in part {
                                world.run_window(window, &mut scratch, &mut |r: &Reception| {
                                    all += 1;
                                    if wanted(r) {
                                        out.push(*r);
                                    }
                                });
                            }
                            (all, out)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
            });
            for (all, kept) in &parts {
                receptions += all;
                kept.iter().for_each(&mut heard);
            }
        }
        planned.clear();
        self.planned = planned;
        self.now = self.now.max(t);
        receptions
    }

    /// Plans the scan window of `scanner` starting at `start` (the part
    /// that updates the scan's cached ranges): `None` if the scan is missed.
    fn plan_window(&mut self, scanner: DeviceId, start: u64) -> Option<Window> {
        let key = draw(self.keys.windows, u64::from(scanner.0), start);
        if unit(mix64(key ^ DOMAIN_MISSED_SCAN)) < self.config.missed_scan {
            return None;
        }
        let p = self.config.propagation;
        let tail = self.config.tail_sigmas * p.shadowing_sigma_db;
        let audible = audible_dbm(&self.config);
        let loudest = self.loudest_tx_dbm;
        let s = &mut self.devices[scanner.0 as usize];
        let correction = f32::from(s.calibration.rssi_correction_db);
        let zone = s.zone;
        // Inside, everyone else is behind at least this many walls.
        let walls_out =
            if zone == ZoneId::OUTDOORS { 0 } else { self.min_walls.get(zone.0 as usize).copied().unwrap_or(1) };
        let scan = s.scan.as_mut()?;
        // The largest loss a link can have and still be heard: loudest
        // sender, no walls, no sender body, shadowing `tail_sigmas` up.
        let budget = loudest - correction - s.body_loss_db - audible + tail;
        if scan.ranges.0 != budget || scan.ranges.1 != walls_out {
            let same = p.distance_for_loss_m(budget);
            let other = p.distance_for_loss_m(budget - f32::from(walls_out) * p.wall_loss_db);
            scan.ranges = (budget, walls_out, same, other);
        }
        Some(Window {
            scanner,
            start,
            key,
            here: s.position,
            zone,
            correction,
            body_loss_db: s.body_loss_db,
            all_packets_lost: scan.all_packets_lost,
            same_zone_range: scan.ranges.2,
            other_range: scan.ranges.3,
        })
    }

    /// Runs one planned window, handing its receptions to `heard`; reads
    /// the world only.
    fn run_window(&self, window: &Window, scratch: &mut Vec<Reception>, heard: &mut impl FnMut(&Reception)) {
        let p = self.config.propagation;
        let listener = Listener {
            window,
            propagation: p,
            tail: self.config.tail_sigmas * p.shadowing_sigma_db,
            audible: audible_dbm(&self.config),
            log2: &self.log2,
            normal: &self.normal,
        };
        let (zone, here) = (window.zone, window.here);
        let (same_zone_range, other_range) = (window.same_zone_range, window.other_range);
        let heard_here = scratch;
        if zone == ZoneId::OUTDOORS {
            for e in self.grid.near(here, same_zone_range).flatten() {
                let walls = if e.zone == 0 { 0 } else { self.walls_between(ZoneId(e.zone), ZoneId::OUTDOORS) };
                listener.hear(e, walls, same_zone_range * same_zone_range, heard_here);
            }
        } else {
            // Other zones are searched over the shorter range; the zone's
            // own advertisers come from its list.
            let range2 = other_range * other_range;
            for e in self.grid.near(here, other_range).flatten() {
                // The distance test first: most candidates of the grid's
                // cells are out of range, and the walls cost a look-up.
                let (dx, dy) = (e.position.x - here.x, e.position.y - here.y);
                if e.zone != zone.0 && dx * dx + dy * dy <= range2 {
                    listener.hear(e, self.walls_between(ZoneId(e.zone), zone), range2, heard_here);
                }
            }
            for &member in self.zone_members.get(zone.0 as usize).map_or(&[][..], Vec::as_slice) {
                if let Some(slot) = self.devices[member as usize].slot {
                    listener.hear(self.grid.get(slot), 0, same_zone_range * same_zone_range, heard_here);
                }
            }
        }
        // One sighting per distinct advertisement per window (a relay that
        // repeats someone's payload merges with it), in a fixed order.
        heard_here.sort_unstable_by_key(|r| (r.sighting.id, r.sighting.metadata.0, r.advertiser));
        let mut i = 0;
        while i < heard_here.len() {
            let first = heard_here[i];
            let same = heard_here[i..]
                .iter()
                .take_while(|r| r.sighting.id == first.sighting.id && r.sighting.metadata == first.sighting.metadata)
                .count();
            let mut merged = first;
            if same > 1 {
                let sum: i32 = heard_here[i..i + same].iter().map(|r| i32::from(r.sighting.rssi)).sum();
                merged.sighting.rssi = mean_rssi(sum, i32::try_from(same).expect("few receptions"));
            }
            heard(&merged);
            i += same;
        }
        heard_here.clear();
    }
}

/// Windows of one [`SimWorld::advance_to`] from which they run on every core.
const PARALLEL_WINDOWS: usize = 256;

/// A planned scan window: the scanner's side of every link of the window.
#[derive(Debug, Clone, Copy)]
struct Window {
    scanner: DeviceId,
    start: u64,
    key: u64,
    here: Position,
    zone: ZoneId,
    correction: f32,
    body_loss_db: f32,
    all_packets_lost: f64,
    /// How far a device in the scanner's zone (or anyone, outdoors) can be heard.
    same_zone_range: f32,
    /// How far a device in another zone can be heard.
    other_range: f32,
}

/// A reading is reported if it rounds to at least the sensitivity.
fn audible_dbm(config: &SimConfig) -> f32 {
    f32::from(config.sensitivity_dbm) - 0.5
}

/// A window being run, with the world's constants at hand.
struct Listener<'a> {
    window: &'a Window,
    propagation: Propagation,
    tail: f32,
    audible: f32,
    log2: &'a FastLog2,
    normal: &'a FastNormal,
}

impl Listener<'_> {
    /// Whether this window hears `e` through `walls` walls; if so, the
    /// reception goes to `heard`.
    #[inline(always)]
    fn hear(&self, e: &Entry, walls: u8, range2: f32, heard: &mut Vec<Reception>) {
        let w = self.window;
        let (dx, dy) = (e.position.x - w.here.x, e.position.y - w.here.y);
        let d2 = dx * dx + dy * dy;
        if d2 > range2 || e.device == w.scanner.0 {
            return;
        }
        let p = &self.propagation;
        // The mean RSSI of the link; most links in a town are hopeless even
        // with the luckiest shadowing, and cost no random draw.
        let mean = e.tx_power_dbm
            - (p.path_loss_db_squared(d2, self.log2)
                + f32::from(walls) * p.wall_loss_db
                + e.body_loss_db
                + w.body_loss_db)
            - w.correction;
        if mean + self.tail < self.audible {
            return;
        }
        let word = draw(w.key, u64::from(e.device), 0);
        let rssi = mean + self.normal.deviate(word) * p.shadowing_sigma_db;
        if rssi <= self.audible {
            return;
        }
        if w.all_packets_lost > 0.0 && unit(mix64(word ^ DOMAIN_PACKETS)) < w.all_packets_lost {
            return;
        }
        heard.push(Reception {
            scanner: w.scanner,
            advertiser: DeviceId(e.device),
            sighting: Sighting {
                id: e.advertisement.id,
                metadata: e.advertisement.metadata,
                rssi: round_dbm(rssi),
                seen_at: UnixTime(w.start),
            },
            distance_m: d2.sqrt(),
        });
    }
}

/// `dbm` rounded to a whole dBm (halves away from zero) and clamped to
/// what a phone reports. Truncating after adding ±0.5 compiles to one
/// instruction, where `f32::round` is a library call on baseline x86-64.
#[expect(clippy::cast_possible_truncation, reason = "clamped to the i8 range first")]
fn round_dbm(dbm: f32) -> i8 {
    let dbm = dbm.clamp(-128.0, 127.0);
    (if dbm < 0.0 { dbm - 0.5 } else { dbm + 0.5 }) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_protocol::daily_key::{EncryptedMetadata, EphemeralId};

    fn ad(byte: u8) -> Advertisement {
        Advertisement { id: EphemeralId([byte; 16]), metadata: EncryptedMetadata([byte; 4]) }
    }

    #[test]
    fn readings_round_half_away_from_zero() {
        assert_eq!(round_dbm(-74.49), -74);
        assert_eq!(round_dbm(-74.5), -75);
        assert_eq!(round_dbm(-300.0), -128);
        assert_eq!(round_dbm(2.5), 3);
        assert_eq!(round_dbm(f32::NAN), 0);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = |f: fn(&mut SimConfig)| {
            let mut c = SimConfig::default();
            f(&mut c);
            SimWorld::new(c).is_err()
        };
        assert!(bad(|c| c.packet_loss = 1.5));
        assert!(bad(|c| c.propagation.exponent = 0.0));
        assert!(bad(|c| c.propagation.shadowing_sigma_db = f32::NAN));
        assert!(bad(|c| c.advertising_interval = Duration::ZERO));
        assert!(bad(|c| c.cell_m = 0.0));
        assert!(!bad(|_| ()));
    }

    #[test]
    fn a_window_of_sixteen_packets_is_rarely_lost() {
        let c = SimConfig { packet_loss: 0.5, ..SimConfig::default() };
        assert!((c.all_packets_lost(Duration::from_secs(4)) - 0.5f64.powi(16)).abs() < 1e-12);
        // 1.1 s at 250 ms: 4 packets 60 % of the time, 5 packets 40 %.
        let expected = 0.6 * 0.5f64.powi(4) + 0.4 * 0.5f64.powi(5);
        assert!((c.all_packets_lost(Duration::from_millis(1_100)) - expected).abs() < 1e-12);
    }

    #[test]
    fn relayed_copies_of_one_payload_merge_into_one_sighting() {
        let config = SimConfig { missed_scan: 0.0, packet_loss: 0.0, ..SimConfig::default() };
        let mut world = SimWorld::new(config).expect("valid");
        let near = |x| DeviceSpec::new(Calibration::DEFAULT).at(Position::new(x, 0.0), ZoneId::OUTDOORS);
        let scanner = world.add_device(near(0.0));
        let original = world.add_device(near(1.0));
        let relay = world.add_device(near(1.5));
        world.advertise(original, ad(1));
        world.advertise(relay, ad(1));
        world.start_scanning(scanner, ScanDutyCycle::DEFAULT);
        let mut heard = Vec::new();
        world.advance_to(UnixTime(300), |r| heard.push(*r));
        assert_eq!(heard.len(), 1, "{heard:?}");
        assert_eq!(heard[0].advertiser, original);
    }

    /// A crowd in rooms: many windows per call run on every core; a
    /// second-by-second run of the same world runs them one by one. Both
    /// hear exactly the same, in the same order, and a filter keeps just
    /// what it accepts while counting everything.
    #[test]
    fn many_windows_at_once_hear_what_one_by_one_hears() {
        let crowd = || {
            let mut world = SimWorld::new(SimConfig { seed: 7, ..SimConfig::default() }).expect("valid");
            let rooms: Vec<ZoneId> = (0..8).map(|_| world.add_zone()).collect();
            for i in 0..400u32 {
                let room = rooms[(i % 8) as usize];
                let at = Position::new((i % 8) as f32 * 12.0 + (i / 8 % 5) as f32, (i / 40) as f32);
                let device = world.add_device(DeviceSpec::new(Calibration::DEFAULT).at(at, room));
                world.advertise(device, ad(u8::try_from(i % 251).expect("small")));
                world.start_scanning(device, ScanDutyCycle::DEFAULT);
            }
            world
        };
        let end = 600u64;
        let mut at_once = crowd();
        let mut all = Vec::new();
        let counted = at_once.advance_to_where(UnixTime(end), |_| true, |r| all.push(*r));
        assert!(all.len() > 10_000, "a crowd hears a lot: {}", all.len());
        assert_eq!(counted, all.len() as u64);
        let mut second_by_second = crowd();
        let mut one_by_one = Vec::new();
        for t in 1..=end {
            second_by_second.advance_to(UnixTime(t), |r| one_by_one.push(*r));
        }
        assert_eq!(all, one_by_one);
        let mut filtered = crowd();
        let mut kept = Vec::new();
        let counted = filtered.advance_to_where(UnixTime(end), |r| r.advertiser.0 % 3 == 0, |r| kept.push(*r));
        assert_eq!(counted, all.len() as u64);
        assert_eq!(kept, all.iter().filter(|r| r.advertiser.0 % 3 == 0).copied().collect::<Vec<_>>());
    }
}
