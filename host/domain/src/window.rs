//! Sending windows in an IANA time zone, correct across DST changes.

use crate::clock::{MINUTE_MS, Millis};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A weekly sending window: `[start_minute, end_minute)` local time on the
/// listed ISO weekdays (1 = Monday … 7 = Sunday).
#[derive(Debug, Clone)]
pub struct SendingWindow {
    tz: TimeZone,
    start_minute: u16,
    end_minute: u16,
    days: [bool; 8],
}

/// Why a window definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not an IANA time zone name.
    #[error("unknown time zone `{0}` (use an IANA name such as Europe/Paris)")]
    TimeZone(String),
    /// Start must be before end, both within a day.
    #[error("the window must satisfy 0 <= start < end <= 1440 minutes, got {0}..{1}")]
    Bounds(i64, i64),
    /// Days must be ISO weekdays.
    #[error("window days must be ISO weekdays 1-7 (Monday = 1), got `{0}`")]
    Days(String),
}

impl SendingWindow {
    /// Builds a window; `days` is a comma-separated list such as `1,2,3,4,5`.
    pub fn new(
        time_zone: &str,
        start_minute: i64,
        end_minute: i64,
        days: &str,
    ) -> Result<Self, WindowError> {
        let tz =
            TimeZone::get(time_zone).map_err(|_| WindowError::TimeZone(time_zone.to_string()))?;
        if !(0..1440).contains(&start_minute)
            || !(1..=1440).contains(&end_minute)
            || start_minute >= end_minute
        {
            return Err(WindowError::Bounds(start_minute, end_minute));
        }
        let mut set = [false; 8];
        for part in days.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let day: usize = part
                .parse()
                .map_err(|_| WindowError::Days(days.to_string()))?;
            if !(1..=7).contains(&day) {
                return Err(WindowError::Days(days.to_string()));
            }
            set[day] = true;
        }
        if !set.iter().any(|d| *d) {
            return Err(WindowError::Days(days.to_string()));
        }
        Ok(SendingWindow {
            tz,
            start_minute: start_minute as u16,
            end_minute: end_minute as u16,
            days: set,
        })
    }

    /// Whether `at` falls inside the window.
    pub fn is_open(&self, at: Millis) -> bool {
        self.next_open(at) == at
    }

    /// `at` itself when the window is open then, otherwise the start of the
    /// next window. Local times that do not exist (a DST gap) resolve to
    /// the first instant after the gap.
    pub fn next_open(&self, at: Millis) -> Millis {
        let Ok(now) = Timestamp::from_millisecond(at) else {
            return at;
        };
        let today = now.to_zoned(self.tz.clone()).date();
        for offset in 0..15 {
            let Ok(date) = today.checked_add(offset.days()) else {
                break;
            };
            if !self.days[date.weekday().to_monday_one_offset() as usize] {
                continue;
            }
            let (Some(start), Some(end)) = (
                self.instant(date, self.start_minute),
                self.instant(date, self.end_minute),
            ) else {
                continue;
            };
            if at < start {
                return start;
            }
            if at < end {
                return at;
            }
        }
        at
    }

    /// The next window start at or after `at` plus a per-prospect jitter
    /// (deterministic from `seed`, under `max_jitter_ms`) when the window is
    /// closed at `at`; `at` itself when it is open.
    pub fn next_slot(&self, at: Millis, seed: &str, max_jitter_ms: Millis) -> Millis {
        let open = self.next_open(at);
        if open == at {
            return at;
        }
        let end = self.window_end_after(open);
        let room = (end - open - 1).max(0);
        open + jitter(seed, max_jitter_ms.min(room))
    }

    fn window_end_after(&self, open: Millis) -> Millis {
        let Ok(ts) = Timestamp::from_millisecond(open) else {
            return open;
        };
        let date = ts.to_zoned(self.tz.clone()).date();
        self.instant(date, self.end_minute)
            .unwrap_or(open + MINUTE_MS)
    }

    fn instant(&self, date: Date, minute: u16) -> Option<Millis> {
        let midnight = date.to_zoned(self.tz.clone()).ok()?;
        // Add wall-clock minutes through a civil datetime so DST shifts are
        // resolved by the zone's rules, not by adding fixed milliseconds.
        let civil = midnight
            .datetime()
            .checked_add((minute as i64).minutes())
            .ok()?;
        let zoned = civil.to_zoned(self.tz.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }
}

/// A deterministic jitter in `[0, max)` derived from `seed` (FNV-1a), so a
/// prospect keeps its jitter across retries and prospects spread out.
pub fn jitter(seed: &str, max: Millis) -> Millis {
    if max <= 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % max as u64) as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        s.parse::<Timestamp>()
            .map(|t| t.as_millisecond())
            .unwrap_or_default()
    }

    #[test]
    fn clamps_to_the_next_window_start() {
        let w = SendingWindow::new("Europe/Paris", 9 * 60, 17 * 60, "1,2,3,4,5").unwrap();
        // Saturday 2026-10-10 14:30 UTC (16:30 Paris) → Monday 09:00 Paris (07:00 UTC).
        assert_eq!(
            w.next_open(ms("2026-10-10T14:30:00Z")),
            ms("2026-10-12T07:00:00Z")
        );
        // Monday 2026-10-12 12:30 UTC is open.
        assert!(w.is_open(ms("2026-10-12T12:30:00Z")));
        // Monday 23:00 Paris → Tuesday 09:00.
        assert_eq!(
            w.next_open(ms("2026-10-12T21:00:00Z")),
            ms("2026-10-13T07:00:00Z")
        );
    }

    #[test]
    fn follows_dst_changes() {
        let w = SendingWindow::new("Europe/Paris", 9 * 60, 17 * 60, "1,2,3,4,5,6,7").unwrap();
        // Paris leaves summer time on 2026-10-25: 09:00 is 07:00 UTC before, 08:00 UTC after.
        assert_eq!(
            w.next_open(ms("2026-10-24T20:00:00Z")),
            ms("2026-10-25T08:00:00Z")
        );
        assert_eq!(
            w.next_open(ms("2026-10-23T20:00:00Z")),
            ms("2026-10-24T07:00:00Z")
        );
        // New York enters summer time 2026-03-08 at 02:00: a 02:30 start does not exist.
        let ny = SendingWindow::new("America/New_York", 150, 600, "1,2,3,4,5,6,7").unwrap();
        assert_eq!(
            ny.next_open(ms("2026-03-08T05:00:00Z")),
            ms("2026-03-08T07:30:00Z")
        );
    }

    #[test]
    fn jitter_is_stable_and_bounded() {
        let w = SendingWindow::new("UTC", 540, 1020, "1,2,3,4,5").unwrap();
        let at = ms("2026-10-10T20:00:00Z");
        let a = w.next_slot(at, "enrollment-a", 10 * MINUTE_MS);
        assert_eq!(a, w.next_slot(at, "enrollment-a", 10 * MINUTE_MS));
        assert!(a >= ms("2026-10-12T09:00:00Z") && a < ms("2026-10-12T09:10:00Z"));
    }

    #[test]
    fn refuses_bad_definitions() {
        assert!(matches!(
            SendingWindow::new("Mars/Olympus", 0, 10, "1"),
            Err(WindowError::TimeZone(_))
        ));
        assert!(matches!(
            SendingWindow::new("UTC", 600, 500, "1"),
            Err(WindowError::Bounds(..))
        ));
        assert!(matches!(
            SendingWindow::new("UTC", 0, 10, "0,8"),
            Err(WindowError::Days(_))
        ));
        assert!(matches!(
            SendingWindow::new("UTC", 0, 10, ""),
            Err(WindowError::Days(_))
        ));
    }
}
