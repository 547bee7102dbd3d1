//! The pure parts of the safety envelope: the warm-up ramp and calendar
//! days in the account's time zone.

use crate::clock::{DAY_MS, Millis};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The daily cap after the warm-up ramp: day 1 of warm-up is
/// `ramp[0] * cap` (at least 1 when cap > 0), and so on; the full cap
/// once the ramp list ends.
pub fn ramped_cap(cap: i64, warmup_started_at: Millis, now: Millis, ramp: &[f64]) -> i64 {
    if cap <= 0 {
        return 0;
    }
    let day = ((now - warmup_started_at).max(0) / DAY_MS) as usize;
    match ramp.get(day) {
        Some(fraction) => ((cap as f64 * fraction.clamp(0.0, 1.0)).floor() as i64).clamp(1, cap),
        None => cap,
    }
}

/// Midnight (local) of the day containing `at` in `tz`, and the next
/// midnight, as instants. DST-correct: a local day may be 23 or 25 hours.
pub fn local_day(tz: &str, at: Millis) -> (Millis, Millis) {
    let zone = TimeZone::get(tz).unwrap_or(TimeZone::UTC);
    let Ok(ts) = Timestamp::from_millisecond(at) else {
        return (at, at + DAY_MS);
    };
    let zoned = ts.to_zoned(zone.clone());
    let start = zoned
        .start_of_day()
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(at);
    let end = zoned
        .date()
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(zone).ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(start + DAY_MS);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_is_conservative_then_full() {
        let ramp = [0.25, 0.5];
        assert_eq!(ramped_cap(20, 0, 0, &ramp), 5);
        assert_eq!(ramped_cap(20, 0, DAY_MS + 1, &ramp), 10);
        assert_eq!(ramped_cap(20, 0, 2 * DAY_MS, &ramp), 20);
        assert_eq!(
            ramped_cap(2, 0, 0, &ramp),
            1,
            "never zero while the cap is not"
        );
        assert_eq!(ramped_cap(0, 0, 0, &ramp), 0);
    }

    #[test]
    fn local_days_follow_dst() {
        // Paris, 2026-10-25 (clocks go back): a 25-hour day.
        let at = "2026-10-25T12:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        let (start, end) = local_day("Europe/Paris", at);
        assert_eq!(end - start, 25 * 3_600_000);
    }
}
