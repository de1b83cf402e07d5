//! The town: homes, offices, buses, restaurants and shops, who lives and
//! works where, and where every resident is at every five-minute step.
//!
//! Everything here is a pure function of the seed (counter-based hashing,
//! no mutable random state), so the ground-truth pass and the radio pass
//! see exactly the same positions without storing them.

use greenlight_ble::sim::Position;

/// Length of one step of the simulation, seconds. Positions hold for a
/// whole step; the radio's scan windows fall anywhere inside it.
pub(crate) const STEP_SECS: u64 = 300;
/// Steps in a UTC day.
pub(crate) const STEPS_PER_DAY: u32 = 288;
/// Steps in an hour.
pub(crate) const STEPS_PER_HOUR: u32 = 12;

/// A 64-bit hash of the seed and three counters (SplitMix64 finaliser,
/// chained): the town's only source of randomness.
pub(crate) fn mix(seed: u64, a: u64, b: u64, c: u64) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for v in [a, b, c] {
        h = h.wrapping_add(v).wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}

/// A hash as a uniform number in [0, 1).
pub(crate) fn unit(h: u64) -> f32 {
    let top = u32::try_from(h >> 40).expect("24 bits");
    top as f32 / (1u32 << 24) as f32
}

/// `h` reduced to `0..n`.
pub(crate) fn pick(h: u64, n: usize) -> usize {
    usize::try_from(h % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
}

// Draw labels: each kind of random choice hashes its own label.
const DRAW_HOUSEHOLD: u64 = 1;
const DRAW_WORKER: u64 = 2;
const DRAW_BUS: u64 = 3;
const DRAW_LUNCH: u64 = 4;
const DRAW_LUNCH_PLACE: u64 = 5;
const DRAW_SHOP: u64 = 6;
const DRAW_SHOP_TIME: u64 = 7;
const DRAW_HOME_SPOT: u64 = 8;
const DRAW_SEAT: u64 = 9;
const DRAW_DINNER: u64 = 10;
const DRAW_AISLE: u64 = 11;
const DRAW_OFFICE: u64 = 12;
const DRAW_SHIFT: u64 = 13;
const DRAW_LUNCH_TIME: u64 = 14;

/// Working days start at one of `SHIFTS` quarter hours from `FIRST_SHIFT`
/// (minutes after midnight): 08:00 to 09:30.
const FIRST_SHIFT: u32 = 480;
const SHIFTS: u64 = 7;
/// Riders a bus carries at most.
const BUS_RIDERS: usize = 20;

/// What a place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PlaceKind {
    /// A flat, 10 × 8 m, one household.
    Home,
    /// An office floor with rows of desks.
    Office,
    /// A bus, 12 × 2.5 m, on one route.
    Bus,
    /// A restaurant, 15 × 15 m, tables on a 3 m grid.
    Restaurant,
    /// A shop, 20 × 20 m; shoppers move every five minutes.
    Shop,
}

impl PlaceKind {
    /// Every kind, in the order reports list them.
    pub(crate) const ALL: [PlaceKind; 5] =
        [PlaceKind::Home, PlaceKind::Office, PlaceKind::Bus, PlaceKind::Restaurant, PlaceKind::Shop];

    /// Its name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PlaceKind::Home => "home",
            PlaceKind::Office => "office",
            PlaceKind::Bus => "bus",
            PlaceKind::Restaurant => "restaurant",
            PlaceKind::Shop => "shop",
        }
    }

    /// The kind of venue its posters name, for places that have posters
    /// at the door (or, on buses, at every door): every bus, restaurant
    /// and shop.
    pub(crate) fn venue_kind(self) -> Option<greenlight_protocol::venue::VenueKind> {
        use greenlight_protocol::venue::VenueKind;
        match self {
            PlaceKind::Home | PlaceKind::Office => None,
            PlaceKind::Bus => Some(VenueKind::Transit),
            PlaceKind::Restaurant => Some(VenueKind::Restaurant),
            PlaceKind::Shop => Some(VenueKind::Shop),
        }
    }

    /// Attenuation by the carrier's body, dB: phones lie on tables at home,
    /// at the office and in restaurants, and sit in pockets and bags on
    /// buses and in shops.
    pub(crate) fn body_loss_db(self) -> f32 {
        match self {
            PlaceKind::Home | PlaceKind::Office => 0.0,
            PlaceKind::Restaurant => 2.0,
            PlaceKind::Bus | PlaceKind::Shop => 5.0,
        }
    }
}

/// A place: an enclosed space with its own radio zone.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// What it is.
    pub(crate) kind: PlaceKind,
    /// Its south-west corner in the world, m.
    pub(crate) origin: Position,
    /// The building it belongs to, for flats (flats of one building share
    /// one wall between them).
    pub(crate) building: Option<u32>,
}

/// A resident and their fixed arrangements.
#[derive(Debug, Clone)]
pub(crate) struct Resident {
    /// Their flat.
    pub(crate) home: u32,
    /// Their place in the household (0 and 1 share a bed).
    pub(crate) member: u8,
    /// Their office and desk, if they work.
    pub(crate) work: Option<(u32, Position)>,
    /// Their bus, if they ride to work.
    pub(crate) bus: Option<u32>,
    /// When their working day starts, minutes after midnight (08:00–09:30;
    /// it lasts eight hours).
    pub(crate) shift: u32,
}

/// The town.
#[derive(Debug, Clone)]
pub(crate) struct Town {
    seed: u64,
    /// Every place; a place's index is its id.
    pub(crate) places: Vec<Place>,
    /// Every resident; a resident's index is their id.
    pub(crate) residents: Vec<Resident>,
    restaurants: Vec<u32>,
    shops: Vec<u32>,
}

/// Side of the square the town covers, m (the radio's spatial grid).
pub(crate) const AREA_M: f32 = 2_000.0;
const FLAT: (f32, f32) = (10.0, 8.0);
const BUS: (f32, f32) = (12.0, 2.5);
const SHOP_SIDE: f32 = 20.0;
/// Desks per row and the spacing along a row and between rows, m: desk
/// neighbours sit closer than 2 m, the next row farther.
const DESKS_PER_ROW: u32 = 4;
const DESK_SPACING_M: f32 = 1.8;
const ROW_SPACING_M: f32 = 3.5;

impl Town {
    /// A town of `residents` people drawn from `seed`.
    pub(crate) fn new(residents: u32, seed: u64) -> Self {
        let mut town =
            Town { seed, places: Vec::new(), residents: Vec::new(), restaurants: Vec::new(), shops: Vec::new() };
        // Households of 1–4 (30/35/20/15 %) in buildings of six flats on a
        // 40 m grid in the south of the town.
        let mut r = 0u32;
        let mut household = 0u64;
        while r < residents {
            let u = unit(mix(seed, DRAW_HOUSEHOLD, household, 0));
            let size = if u < 0.30 {
                1
            } else if u < 0.65 {
                2
            } else if u < 0.85 {
                3
            } else {
                4
            };
            let flat = u32::try_from(household).expect("fewer than 2^32 households");
            let building = flat / 6;
            let within = flat % 6;
            let origin = Position::new(
                20.0 + (building % 45) as f32 * 40.0 + (within % 3) as f32 * FLAT.0,
                20.0 + (building / 45) as f32 * 40.0 + (within / 3) as f32 * FLAT.1,
            );
            let home = town.add(PlaceKind::Home, origin, Some(building));
            for member in 0..size {
                if r == residents {
                    break;
                }
                town.residents.push(Resident { home, member, work: None, bus: None, shift: 0 });
                r += 1;
            }
            household += 1;
        }
        // Seven in ten work, in offices of 6–30 people; a quarter of the
        // workers ride a bus of about 30.
        let workers: Vec<u32> =
            (0..residents).filter(|&r| unit(mix(seed, DRAW_WORKER, u64::from(r), 0)) < 0.7).collect();
        let mut i = 0usize;
        let mut office_no = 0u64;
        while i < workers.len() {
            let size = 6 + pick(mix(seed, DRAW_OFFICE, office_no, 0), 25);
            let office = town.add_business(PlaceKind::Office);
            for (desk, &w) in workers[i..(i + size).min(workers.len())].iter().enumerate() {
                let desk = u32::try_from(desk).expect("small");
                let spot = Position::new(
                    1.0 + (desk % DESKS_PER_ROW) as f32 * DESK_SPACING_M,
                    1.0 + (desk / DESKS_PER_ROW) as f32 * ROW_SPACING_M,
                );
                town.residents[w as usize].work = Some((office, spot));
            }
            i += size;
            office_no += 1;
        }
        for &w in &workers {
            let slot = u32::try_from(mix(seed, DRAW_SHIFT, u64::from(w), 0) % SHIFTS).expect("small");
            town.residents[w as usize].shift = FIRST_SHIFT + 15 * slot;
        }
        // A quarter of the workers ride a bus; each departure (one per
        // shift start) runs as many buses of up to 20 riders as it needs.
        let mut riders: Vec<u32> =
            workers.iter().copied().filter(|&w| unit(mix(seed, DRAW_BUS, u64::from(w), 0)) < 0.25).collect();
        riders.sort_by_key(|&w| town.residents[w as usize].shift);
        let shifts: Vec<u32> = riders.iter().map(|&w| town.residents[w as usize].shift).collect();
        let mut at = 0;
        for departure in shifts.chunk_by(|a, b| a == b) {
            let departure = &riders[at..at + departure.len()];
            at += departure.len();
            for group in departure.chunks(BUS_RIDERS) {
                let bus = town.add_business(PlaceKind::Bus);
                for &w in group {
                    town.residents[w as usize].bus = Some(bus);
                }
            }
        }
        for _ in 0..(residents / 130).max(2) {
            let p = town.add_business(PlaceKind::Restaurant);
            town.restaurants.push(p);
        }
        for _ in 0..(residents / 100).max(2) {
            let p = town.add_business(PlaceKind::Shop);
            town.shops.push(p);
        }
        town
    }

    fn add(&mut self, kind: PlaceKind, origin: Position, building: Option<u32>) -> u32 {
        self.places.push(Place { kind, origin, building });
        u32::try_from(self.places.len() - 1).expect("fewer than 2^32 places")
    }

    /// A non-home place on a 30 m grid in the north of the town.
    fn add_business(&mut self, kind: PlaceKind) -> u32 {
        let n = self.places.iter().filter(|p| p.kind != PlaceKind::Home).count();
        let n = u32::try_from(n).expect("few places");
        let origin = Position::new(10.0 + (n % 66) as f32 * 30.0, AREA_M - 400.0 + (n / 66) as f32 * 30.0);
        self.add(kind, origin, None)
    }

    /// How many places of `kind` the town has.
    pub(crate) fn count(&self, kind: PlaceKind) -> usize {
        self.places.iter().filter(|p| p.kind == kind).count()
    }

    /// Where resident `r` is at `step` (0–287) of sim day `day` (0 is a
    /// Monday), and in which place. `isolated` residents stay home.
    pub(crate) fn whereabouts(&self, r: u32, day: u32, step: u32, isolated: bool) -> (u32, Position) {
        let (place, local) = if isolated { self.at_home(r, day, step) } else { self.schedule(r, day, step) };
        let origin = self.places[place as usize].origin;
        (place, Position::new(origin.x + local.x, origin.y + local.y))
    }

    fn schedule(&self, r: u32, day: u32, step: u32) -> (u32, Position) {
        let res = &self.residents[r as usize];
        let seed = self.seed;
        let (r64, d64) = (u64::from(r), u64::from(day));
        let minute = step * 5;
        let weekend = day % 7 >= 5;
        if !weekend {
            if let Some((office, desk)) = res.work {
                let (start, end) = (res.shift, res.shift + 480);
                if let Some(bus) = res.bus
                    && ((start - 30..start).contains(&minute) || (end..end + 30).contains(&minute))
                {
                    let trip = u64::from(minute >= start);
                    return (bus, self.spot(BUS, mix(seed, DRAW_SEAT, r64, d64 * 4 + trip)));
                }
                if (start..end).contains(&minute) {
                    if !(690..690 + 90 + 50).contains(&minute) {
                        return (office, desk);
                    }
                    // Four in ten eat out, six of them with their colleagues
                    // at one table; lunch starts between 11:30 and 13:00.
                    let with_colleagues = unit(mix(seed, DRAW_LUNCH_PLACE, r64, d64)) < 0.6;
                    let group = if with_colleagues { u64::from(office) } else { 1_000_000 + r64 };
                    let lunch = 690 + 15 * u32::try_from(mix(seed, DRAW_LUNCH_TIME, group, d64) % 7).expect("small");
                    if (lunch..lunch + 50).contains(&minute) && unit(mix(seed, DRAW_LUNCH, r64, d64)) < 0.4 {
                        return self.at_table(group, d64, r64);
                    }
                    return (office, desk);
                }
            }
            if res.work.is_none()
                && (660..660 + 135 + 60).contains(&minute)
                && unit(mix(seed, DRAW_LUNCH, r64, d64)) < 0.2
            {
                let group = 1_000_000 + r64;
                let lunch = 660 + 15 * u32::try_from(mix(seed, DRAW_LUNCH_TIME, group, d64) % 10).expect("small");
                if (lunch..lunch + 60).contains(&minute) {
                    return self.at_table(group, d64, r64);
                }
            }
        } else if (1140..1230).contains(&minute) && unit(mix(seed, DRAW_DINNER, u64::from(res.home), d64)) < 0.3 {
            // Weekend dinner out with the household.
            return self.at_table(2_000_000 + u64::from(res.home), d64, r64);
        }
        // One shop visit a day for some, of 10 to 35 minutes: weekdays from
        // 17:00 to 20:00 (after work), weekends from 10:00 to 18:00.
        let (shop_chance, base, slots) = if weekend { (0.5, 600, 96) } else { (0.3, 1020, 36) };
        let shopping_hours = base..base + 5 * u32::try_from(slots).expect("small") + 35;
        if shopping_hours.contains(&minute) && unit(mix(seed, DRAW_SHOP, r64, d64)) < shop_chance {
            let h = mix(seed, DRAW_SHOP_TIME, r64, d64);
            let start = base + 5 * u32::try_from(h % slots).expect("small");
            let length = 10 + 5 * u32::try_from((h >> 8) % 6).expect("small");
            let after_work =
                res.work.is_none() || weekend || start >= res.shift + 480 + if res.bus.is_some() { 30 } else { 0 };
            if after_work && (start..start + length).contains(&minute) {
                let shop = self.shops[pick(h >> 16, self.shops.len())];
                return (
                    shop,
                    self.spot((SHOP_SIDE, SHOP_SIDE), mix(seed, DRAW_AISLE, r64, d64 * 288 + u64::from(step))),
                );
            }
        }
        self.at_home(r, day, step)
    }

    /// At home: the two first members of a household share a bed at night;
    /// by day everyone moves around the flat, hour by hour.
    fn at_home(&self, r: u32, day: u32, step: u32) -> (u32, Position) {
        let res = &self.residents[r as usize];
        let minute = step * 5;
        let night = !(420..1380).contains(&minute);
        let spot = if night {
            match res.member {
                0 => Position::new(2.0, 2.0),
                1 => Position::new(2.6, 2.0),
                m => Position::new(5.0 + 2.0 * f32::from(m), 6.0),
            }
        } else {
            let hour = u64::from(day) * 24 + u64::from(minute / 60);
            self.spot(FLAT, mix(self.seed, DRAW_HOME_SPOT, u64::from(r), hour))
        };
        (res.home, spot)
    }

    /// A seat at the table of `group` on `day`, in the restaurant the group
    /// chose that day.
    fn at_table(&self, group: u64, day: u64, r: u64) -> (u32, Position) {
        let h = mix(self.seed, DRAW_LUNCH_PLACE, group, day);
        let restaurant = self.restaurants[pick(h, self.restaurants.len())];
        let table = u32::try_from((h >> 20) % 25).expect("small");
        let angle = unit(mix(self.seed, DRAW_SEAT, r, day)) * core::f32::consts::TAU;
        let centre = Position::new(1.5 + (table % 5) as f32 * 3.0, 1.5 + (table / 5) as f32 * 3.0);
        (restaurant, Position::new(centre.x + 0.6 * angle.cos(), centre.y + 0.6 * angle.sin()))
    }

    /// A uniform point in a `size` rectangle.
    fn spot(&self, size: (f32, f32), h: u64) -> Position {
        Position::new(unit(h) * size.0, unit(h.rotate_left(29)) * size.1)
    }
}
