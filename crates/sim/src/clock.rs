//! How the walkthrough writes protocol time for people: UTC dates and
//! clock times in the same style as the color explanations
//! (`2026-05-11 09:00 UTC`).
//!
//! The calendar arithmetic is the protocol crate's (`DayNumber::civil`);
//! this adds the weekday the narration shows.

use greenlight_protocol::time::{DayNumber, UnixTime};

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `2026-05-11`.
pub(crate) fn date(day: DayNumber) -> String {
    day.iso_date().to_string()
}

/// `Mon 2026-05-11`.
pub(crate) fn weekday_date(day: DayNumber) -> String {
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[usize::try_from((u64::from(day.0) + 3) % 7).expect("below 7")];
    format!("{weekday} {}", date(day))
}

/// `09:05`, the UTC time of day.
pub(crate) fn clock(t: UnixTime) -> String {
    t.clock().to_string()
}

/// `2026-05-11 09:05`, a UTC instant to the minute.
pub(crate) fn time(t: UnixTime) -> String {
    t.iso_minute().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_weekdays_are_gregorian_utc() {
        assert_eq!(weekday_date(DayNumber(0)), "Thu 1970-01-01");
        assert_eq!(weekday_date(DayNumber(20_584)), "Mon 2026-05-11");
        assert_eq!(date(DayNumber(11_016)), "2000-02-29");
        assert_eq!(time(DayNumber(20_584).start().plus(9 * 3600 + 5 * 60 + 59)), "2026-05-11 09:05");
    }
}
