//! The proleptic Gregorian calendar Postgres uses, counted in days, and
//! the one implementation of its conversions every crate shares: the
//! units, Postgres's epoch and ranges, civil dates and the text Postgres
//! reads back.
//!
//! Postgres counts dates in days and timestamps in microseconds from
//! 2000-01-01; [`days_from_civil`] and [`civil_from_days`] count days from
//! 1970-01-01, as most other software does.

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Seconds in a day: Postgres timestamps have no leap seconds.
pub const SECONDS_PER_DAY: i64 = 86_400;
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;

/// 2000-01-01, Postgres's epoch for dates and timestamps, counted in days
/// from 1970-01-01.
pub const PG_EPOCH_UNIX_DAYS: i64 = 10_957;
/// 2000-01-01 00:00 UTC in seconds since 1970-01-01 00:00 UTC.
pub const PG_EPOCH_UNIX_SECONDS: i64 = PG_EPOCH_UNIX_DAYS * SECONDS_PER_DAY;
/// The julian day number of 2000-01-01, Postgres's epoch for dates and
/// timestamps in its binary formats.
pub const PG_EPOCH_JULIAN_DAY: i64 = 2_451_545;

/// The first day Postgres dates hold, in days since 2000-01-01: 4714-11-24
/// BC, julian day 0 (`DATETIME_MIN_JULIAN` in Postgres's
/// `datatype/timestamp.h`).
pub const MIN_DATE: i64 = -PG_EPOCH_JULIAN_DAY;
/// One past the last day Postgres dates hold: julian day 2147483494
/// (`DATE_END_JULIAN`).
pub const END_DATE: i64 = 2_147_483_494 - PG_EPOCH_JULIAN_DAY;
/// The first microsecond Postgres timestamps hold: 4714-11-24 BC 00:00
/// (`MIN_TIMESTAMP`).
pub const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
/// One past the last microsecond Postgres timestamps hold: 294277-01-01
/// 00:00 (`END_TIMESTAMP`).
pub const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

/// Days from 1970-01-01 to a date (`year` astronomical: 0 is 1 BC).
///
/// Howard Hinnant's `days_from_civil`
/// (<https://howardhinnant.github.io/date_algorithms.html>): shifting the
/// year to start in March puts the leap day last, so every other month has
/// a fixed place in a 400-year era of 146 097 days.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01: the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153; // 0 = March
                                  // Day and month are small and positive by construction.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A date and time of day in the calendar Postgres uses, as Postgres
/// counts them apart: what a timestamp's microseconds since 2000-01-01
/// (or a date's days) name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilDateTime {
    /// Astronomical year: 0 is 1 BC, -1 is 2 BC.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
    /// Microseconds past the second, 0 to 999 999.
    pub micros: u32,
}

impl CivilDateTime {
    /// The date and time `micros` microseconds after 2000-01-01 00:00.
    pub fn from_micros(micros: i64) -> CivilDateTime {
        let of_day = micros.rem_euclid(MICROS_PER_DAY);
        let seconds = of_day / MICROS_PER_SECOND;
        CivilDateTime {
            // All below are in range by construction (of_day < a day).
            hour: (seconds / 3600) as u32,
            minute: (seconds / 60 % 60) as u32,
            second: (seconds % 60) as u32,
            micros: (of_day % MICROS_PER_SECOND) as u32,
            ..CivilDateTime::from_days(micros.div_euclid(MICROS_PER_DAY))
        }
    }

    /// Midnight starting the day `days` days after 2000-01-01.
    pub fn from_days(days: i64) -> CivilDateTime {
        let (year, month, day) = civil_from_days(days + PG_EPOCH_UNIX_DAYS);
        CivilDateTime {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        }
    }

    /// The year as Postgres writes it, and the era suffix that goes with
    /// it: `(2024, "")`, or `(1, " BC")` for astronomical year 0.
    pub fn year_and_era(&self) -> (i64, &'static str) {
        if self.year > 0 {
            (self.year, "")
        } else {
            (1 - self.year, " BC")
        }
    }
}

/// `YYYY-MM-DD` of a day counted from 2000-01-01, with ` BC` for years
/// before 1: the text Postgres writes and reads for a date.
///
/// ```
/// assert_eq!(ferry_model::format_date(-1), "1999-12-31");
/// assert_eq!(ferry_model::format_date(ferry_model::MIN_DATE), "4714-11-24 BC");
/// ```
pub fn format_date(days: i64) -> String {
    let date = CivilDateTime::from_days(days);
    let (year, era) = date.year_and_era();
    format!("{year:04}-{:02}-{:02}{era}", date.month, date.day)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` of microseconds since 2000-01-01, with
/// ` BC` for years before 1: text Postgres reads back as the same
/// `timestamp`, the fraction written only when there is one.
///
/// ```
/// assert_eq!(ferry_model::format_timestamp(1), "2000-01-01 00:00:00.000001");
/// assert_eq!(ferry_model::format_timestamp(-3_600_000_000), "1999-12-31 23:00:00");
/// ```
pub fn format_timestamp(micros: i64) -> String {
    let t = CivilDateTime::from_micros(micros);
    let (year, era) = t.year_and_era();
    let mut out = format!(
        "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.month, t.day, t.hour, t.minute, t.second
    );
    if t.micros != 0 {
        out.push_str(&format!(".{:06}", t.micros));
    }
    out.push_str(era);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_ranges_are_its_calendar_dates() {
        let pg_days = |y, m, d| days_from_civil(y, m, d) - PG_EPOCH_UNIX_DAYS;
        assert_eq!(PG_EPOCH_UNIX_SECONDS, 946_684_800);
        assert_eq!(pg_days(-4713, 11, 24), MIN_DATE);
        assert_eq!(MIN_DATE * MICROS_PER_DAY, MIN_TIMESTAMP);
        assert_eq!(pg_days(294_277, 1, 1) * MICROS_PER_DAY, END_TIMESTAMP);
        assert_eq!(pg_days(5_874_898, 1, 1), END_DATE);
    }

    #[test]
    fn formats_for_sql() {
        assert_eq!(format_date(0), "2000-01-01");
        assert_eq!(format_date(8825), "2024-02-29");
        assert_eq!(format_date(MIN_DATE), "4714-11-24 BC");
        assert_eq!(format_date(END_DATE - 1), "5874897-12-31");
        assert_eq!(format_timestamp(0), "2000-01-01 00:00:00");
        assert_eq!(format_timestamp(1), "2000-01-01 00:00:00.000001");
        assert_eq!(format_timestamp(-1), "1999-12-31 23:59:59.999999");
        assert_eq!(format_timestamp(MIN_TIMESTAMP), "4714-11-24 00:00:00 BC");
        assert_eq!(
            format_timestamp(END_TIMESTAMP - 1),
            "294276-12-31 23:59:59.999999"
        );
        assert_eq!(
            format_timestamp(-MICROS_PER_DAY * 730_119 + 45_296_000_001),
            "0001-01-01 12:34:56.000001"
        );
        assert_eq!(
            format_timestamp(-MICROS_PER_DAY * 730_120 + 45_296_000_001),
            "0001-12-31 12:34:56.000001 BC"
        );
    }

    #[test]
    fn splits_timestamps_into_fields() {
        let t = CivilDateTime::from_micros(8825 * MICROS_PER_DAY + 45_296_000_007);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.micros),
            (2024, 2, 29, 12, 34, 56, 7)
        );
        assert_eq!(t.year_and_era(), (2024, ""));
        let t = CivilDateTime::from_micros(i64::MIN);
        assert!(t.micros < 1_000_000 && t.hour < 24);
        assert_eq!(
            CivilDateTime::from_days(-730_120).year_and_era(),
            (1, " BC")
        );
    }

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_UNIX_DAYS);
        assert_eq!(days_from_civil(2024, 2, 29), PG_EPOCH_UNIX_DAYS + 8825);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(days_from_civil(0, 2, 29)), (0, 2, 29));
    }

    #[test]
    fn round_trips_across_eras() {
        for days in (-1_000_000..1_000_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn calendar_round_trips_day_by_day() {
        // Walk 800 years across the 400-year cycle, checking each day
        // follows the one before it.
        let (mut year, mut month, mut day) = civil_from_days(-200 * 366 - 10_957);
        for days in (-200 * 366 - 10_957 + 1)..(600 * 366) {
            let next = civil_from_days(days);
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            let month_len = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let expected = if day < month_len {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
            assert_eq!(next, expected, "day {days}");
            (year, month, day) = next;
        }
    }
}
