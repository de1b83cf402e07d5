//! Protocol time: Unix seconds, 10-minute intervals and UTC days.
//!
//! The protocol never reads a clock. Callers pass the current time as a
//! [`UnixTime`]; everything here is arithmetic on it. An interval is the
//! lifetime of one ephemeral ID; a day (UTC-aligned, 144 intervals) is the
//! lifetime of one daily key.

use core::fmt;

/// Seconds in one interval (the lifetime of one ephemeral ID).
pub const INTERVAL_SECONDS: u64 = 600;
/// Intervals in one day.
pub const INTERVALS_PER_DAY: u32 = 144;
/// Seconds in one (UTC) day.
pub const DAY_SECONDS: u64 = INTERVAL_SECONDS * INTERVALS_PER_DAY as u64;

/// A point in time: whole seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The interval this instant falls in.
    ///
    /// Saturates at `u32::MAX` (the year 83,000), so it never panics.
    pub fn interval(self) -> IntervalNumber {
        IntervalNumber(u32::try_from(self.0 / INTERVAL_SECONDS).unwrap_or(u32::MAX))
    }

    /// The UTC day this instant falls in.
    pub fn day(self) -> DayNumber {
        DayNumber(u32::try_from(self.0 / DAY_SECONDS).unwrap_or(u32::MAX))
    }

    /// This instant plus `secs` seconds, saturating.
    pub fn plus(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }

    /// This instant minus `secs` seconds, saturating at the epoch.
    pub fn minus(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_sub(secs))
    }

    /// Whole minutes since the epoch, as used by venue formats.
    pub fn minutes(self) -> u64 {
        self.0 / 60
    }

    /// The instant `minutes` whole minutes after the epoch.
    pub fn from_minutes(minutes: u32) -> UnixTime {
        UnixTime(u64::from(minutes) * 60)
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

/// A 10-minute interval: `unix_seconds / 600`, as in GAEN's ENIntervalNumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IntervalNumber(pub u32);

impl IntervalNumber {
    /// The day this interval belongs to.
    pub fn day(self) -> DayNumber {
        DayNumber(self.0 / INTERVALS_PER_DAY)
    }

    /// The position of this interval inside its day, `0..144`.
    pub fn slot(self) -> u8 {
        u8::try_from(self.0 % INTERVALS_PER_DAY).expect("slot is below 144")
    }

    /// The first second of this interval.
    pub fn start(self) -> UnixTime {
        UnixTime(u64::from(self.0) * INTERVAL_SECONDS)
    }

    /// The first second after this interval.
    pub fn end(self) -> UnixTime {
        UnixTime((u64::from(self.0) + 1) * INTERVAL_SECONDS)
    }
}

/// A UTC day: `unix_seconds / 86400`. Daily keys are bound to one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DayNumber(pub u32);

impl DayNumber {
    /// The interval at `slot` (`0..144`) of this day.
    ///
    /// # Panics
    /// If `slot >= 144`; slots come from [`IntervalNumber::slot`] or loops
    /// bounded by [`INTERVALS_PER_DAY`].
    pub fn interval(self, slot: u8) -> IntervalNumber {
        assert!(u32::from(slot) < INTERVALS_PER_DAY, "slot out of range");
        IntervalNumber(self.0 * INTERVALS_PER_DAY + u32::from(slot))
    }

    /// The first second of this day.
    pub fn start(self) -> UnixTime {
        UnixTime(u64::from(self.0) * DAY_SECONDS)
    }

    /// The first second of the next day.
    pub fn end(self) -> UnixTime {
        UnixTime((u64::from(self.0) + 1) * DAY_SECONDS)
    }

    /// The day `n` days earlier, saturating at day 0.
    pub fn minus(self, n: u32) -> DayNumber {
        DayNumber(self.0.saturating_sub(n))
    }

    /// The day `n` days later, saturating.
    pub fn plus(self, n: u32) -> DayNumber {
        DayNumber(self.0.saturating_add(n))
    }
}

impl fmt::Display for DayNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "day {}", self.0)
    }
}

impl DayNumber {
    /// The proleptic Gregorian date `(year, month, day)` of this UTC day.
    pub fn civil(self) -> (u64, u8, u8) {
        // Howard Hinnant's `civil_from_days`, for non-negative days only, so
        // it stays in unsigned arithmetic and cannot overflow.
        let z = u64::from(self.0) + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let small = |v: u64| u8::try_from(v).expect("months and days are below 32");
        (yoe + era * 400 + u64::from(m <= 2), small(m), small(d))
    }

    /// The date for people: `2026-05-10`.
    pub fn iso_date(self) -> impl fmt::Display {
        IsoDate(self)
    }
}

impl UnixTime {
    /// The UTC time of day for people: `09:05`.
    pub fn clock(self) -> impl fmt::Display {
        Clock(self)
    }

    /// The UTC instant to the minute for people: `2026-05-10 09:05`.
    pub fn iso_minute(self) -> impl fmt::Display {
        IsoMinute(self)
    }

    /// From this instant to `end`, for people: `2026-05-10 09:05 – 10:30
    /// UTC`, with the end's date only when it falls on a later day. A span
    /// ending at midnight ends at 24:00 of its own day, so a day epoch
    /// reads `2026-05-10 00:00 – 24:00 UTC`, never `00:00 – 00:00`.
    pub fn span_to(self, end: UnixTime) -> String {
        if end > self && self.day() == end.minus(1).day() {
            let until = if end.day() == self.day() { end.clock().to_string() } else { "24:00".to_owned() };
            format!("{} – {until} UTC", self.iso_minute())
        } else if end == self {
            format!("{} UTC", self.iso_minute())
        } else {
            format!("{} – {} UTC", self.iso_minute(), end.iso_minute())
        }
    }
}

struct IsoDate(DayNumber);

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.0.civil();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

struct Clock(UnixTime);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.0 % DAY_SECONDS;
        write!(f, "{:02}:{:02}", secs / 3600, secs % 3600 / 60)
    }
}

struct IsoMinute(UnixTime);

impl fmt::Display for IsoMinute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.day().iso_date(), self.0.clock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_names_the_end_date_only_on_a_later_day_and_ends_a_day_at_24_00() {
        let midnight = UnixTime(20_601 * DAY_SECONDS); // 2026-05-28 00:00 UTC
        assert_eq!(midnight.plus(43_200).span_to(midnight.plus(46_800)), "2026-05-28 12:00 – 13:00 UTC");
        assert_eq!(midnight.span_to(midnight.plus(DAY_SECONDS)), "2026-05-28 00:00 – 24:00 UTC");
        assert_eq!(
            midnight.plus(43_200).span_to(midnight.plus(DAY_SECONDS + 43_200)),
            "2026-05-28 12:00 – 2026-05-29 12:00 UTC"
        );
    }

    #[test]
    fn gaen_interval_numbering_matches() {
        // GAEN's published test vector: 1585785600 is interval 2642976.
        assert_eq!(UnixTime(1_585_785_600).interval(), IntervalNumber(2_642_976));
        assert_eq!(UnixTime(1_585_785_600).interval().slot(), 0);
    }

    #[test]
    fn day_edges() {
        let day = DayNumber(20_000);
        assert_eq!(day.interval(0).start(), day.start());
        assert_eq!(day.interval(143).end(), day.end());
        assert_eq!(day.end().interval().day(), day.plus(1));
        assert_eq!(day.end().minus(1).interval().slot(), 143);
        assert_eq!(day.end().minus(1).day(), day);
    }

    #[test]
    fn dates_are_proleptic_gregorian_utc() {
        assert_eq!(DayNumber(0).civil(), (1970, 1, 1));
        assert_eq!(DayNumber(11_016).iso_date().to_string(), "2000-02-29");
        assert_eq!(DayNumber(11_017).iso_date().to_string(), "2000-03-01");
        assert_eq!(DayNumber(20_583).civil(), (2026, 5, 10));
        assert_eq!(DayNumber(u32::MAX).civil().0, 11_761_191);
        let t = DayNumber(20_584).start().plus(9 * 3600 + 5 * 60 + 59);
        assert_eq!(t.iso_minute().to_string(), "2026-05-11 09:05");
        assert_eq!(t.clock().to_string(), "09:05");
    }

    #[test]
    fn far_future_saturates_instead_of_panicking() {
        assert_eq!(UnixTime(u64::MAX).interval(), IntervalNumber(u32::MAX));
        assert_eq!(UnixTime(u64::MAX).day(), DayNumber(u32::MAX));
    }
}
