//! Calendar math and the datetime text forms SQLite programs write.
//!
//! Dates count days and timestamps microseconds from 2000-01-01, Postgres's
//! own epoch, in the proleptic Gregorian calendar Postgres uses.

/// 1970-01-01 counted in days from 2000-01-01.
pub(crate) const UNIX_EPOCH_DAYS: i64 = -ferry_model::PG_EPOCH_UNIX_DAYS;

/// Days from 2000-01-01 to a proleptic Gregorian date (`year` astronomical:
/// 0 is 1 BC).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    ferry_model::days_from_civil(year, month, day) + UNIX_EPOCH_DAYS
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// How a UTC offset was written, for format profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OffsetForm {
    /// `Z` or `z`.
    Zulu,
    /// `+02:00`.
    Colon,
    /// `+0200`.
    Compact,
    /// `+02`.
    Hours,
}

/// A datetime text split into its fields, before calendar validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DateTimeFields {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    /// `b'T'` or `b' '`, when a time follows.
    pub separator: Option<u8>,
    pub hour: u32,
    pub minute: u32,
    /// Seconds were written.
    pub has_seconds: bool,
    pub second: u32,
    /// Number of fraction digits written (0 when none).
    pub frac_digits: u8,
    /// The fraction in nanoseconds.
    pub nanos: u32,
    /// The offset as written.
    pub offset: Option<(OffsetForm, i32)>,
    /// Offset hours and minutes as written, for validation.
    pub offset_hm: (u32, u32),
}

fn digits(bytes: &[u8], at: usize, count: usize) -> Option<u32> {
    bytes.get(at..at + count)?.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// Splits `YYYY-MM-DD[( |T)HH:MM[:SS[.f{1,9}]][Z|±HH[:MM|MM]]]`; `None` when
/// the text has any other shape.
pub(crate) fn scan(bytes: &[u8]) -> Option<DateTimeFields> {
    let mut f = DateTimeFields {
        year: digits(bytes, 0, 4)?,
        month: 0,
        day: 0,
        separator: None,
        hour: 0,
        minute: 0,
        has_seconds: false,
        second: 0,
        frac_digits: 0,
        nanos: 0,
        offset: None,
        offset_hm: (0, 0),
    };
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    f.month = digits(bytes, 5, 2)?;
    f.day = digits(bytes, 8, 2)?;
    if bytes.len() == 10 {
        return Some(f);
    }
    let separator = *bytes.get(10)?;
    if separator != b'T' && separator != b' ' {
        return None;
    }
    f.separator = Some(separator);
    f.hour = digits(bytes, 11, 2)?;
    if bytes.get(13) != Some(&b':') {
        return None;
    }
    f.minute = digits(bytes, 14, 2)?;
    let mut pos = 16;
    if bytes.get(pos) == Some(&b':') {
        f.has_seconds = true;
        f.second = digits(bytes, pos + 1, 2)?;
        pos += 3;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            let run = bytes[pos..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if run == 0 || run > 9 {
                return None;
            }
            let value = digits(bytes, pos, run)?;
            f.nanos = value * 10u32.pow(9 - run as u32);
            f.frac_digits = run as u8;
            pos += run;
        }
    }
    match bytes.get(pos) {
        None => return Some(f),
        Some(b'Z' | b'z') => {
            f.offset = Some((OffsetForm::Zulu, 0));
            pos += 1;
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(bytes, pos + 1, 2)?;
            pos += 3;
            let (form, minutes) = if bytes.get(pos) == Some(&b':') {
                pos += 3;
                (OffsetForm::Colon, digits(bytes, pos - 2, 2)?)
            } else if bytes.len() > pos {
                pos += 2;
                (OffsetForm::Compact, digits(bytes, pos - 2, 2)?)
            } else {
                (OffsetForm::Hours, 0)
            };
            let seconds = (hours * 3600 + minutes * 60) as i32;
            f.offset = Some((form, if sign == b'-' { -seconds } else { seconds }));
            f.offset_hm = (hours, minutes);
        }
        Some(_) => return None,
    }
    (pos == bytes.len()).then_some(f)
}

/// Why valid-looking fields are not a real point in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Not a calendar date or clock time (`February has 28 days in 2023`).
    Calendar(String),
    /// Digits beyond microseconds that are not zero.
    Nanoseconds,
}

/// A validated datetime: days since 2000-01-01, microseconds into the day
/// and the offset written, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DateTime {
    pub days: i64,
    pub micros_of_day: i64,
    pub offset_seconds: Option<i32>,
}

/// Validates fields strictly: real calendar days, hours 0-23, minutes and
/// seconds 0-59, offsets up to ±15:59 as Postgres allows.
pub(crate) fn validate(f: &DateTimeFields) -> Result<DateTime, Invalid> {
    let calendar = |why: String| Err(Invalid::Calendar(format!("is not a valid date ({why})")));
    if f.year == 0 {
        return calendar("year 0000 does not exist; years run from 0001".to_owned());
    }
    if !(1..=12).contains(&f.month) {
        return calendar(format!("month {:02} does not exist", f.month));
    }
    let year = i64::from(f.year);
    let month_days = days_in_month(year, f.month);
    if f.day == 0 || f.day > month_days {
        return calendar(format!(
            "{} has {month_days} days in {}",
            MONTH_NAMES[f.month as usize - 1],
            f.year
        ));
    }
    let time = |why: String| Err(Invalid::Calendar(format!("is not a valid time ({why})")));
    if f.hour > 23 {
        return time(format!("hour {:02} is out of range 00-23", f.hour));
    }
    if f.minute > 59 {
        return time(format!("minute {:02} is out of range 00-59", f.minute));
    }
    if f.second > 59 {
        return time(format!(
            "second {:02} is out of range 00-59; leap seconds are not kept",
            f.second
        ));
    }
    if f.offset_hm.0 > 15 || f.offset_hm.1 > 59 {
        return time(format!(
            "UTC offset {:02}:{:02} is out of range; Postgres allows up to ±15:59",
            f.offset_hm.0, f.offset_hm.1
        ));
    }
    if !f.nanos.is_multiple_of(1000) {
        return Err(Invalid::Nanoseconds);
    }
    let micros_of_day = ((i64::from(f.hour) * 60 + i64::from(f.minute)) * 60 + i64::from(f.second))
        * ferry_model::MICROS_PER_SECOND
        + i64::from(f.nanos / 1000);
    Ok(DateTime {
        days: days_from_civil(year, f.month, f.day),
        micros_of_day,
        offset_seconds: f.offset.map(|(_, s)| s),
    })
}

/// The format of a datetime text for profiles: `YYYY-MM-DD HH:MM:SS.ffffff+HH:MM`.
pub(crate) fn shape(f: &DateTimeFields) -> String {
    let mut out = String::from("YYYY-MM-DD");
    if let Some(separator) = f.separator {
        out.push(char::from(separator));
        out.push_str("HH:MM");
        if f.has_seconds {
            out.push_str(":SS");
        }
        if f.frac_digits > 0 {
            out.push('.');
            for _ in 0..f.frac_digits {
                out.push('f');
            }
        }
    }
    out.push_str(match f.offset {
        None => "",
        Some((OffsetForm::Zulu, _)) => "Z",
        Some((OffsetForm::Colon, _)) => "±HH:MM",
        Some((OffsetForm::Compact, _)) => "±HHMM",
        Some((OffsetForm::Hours, _)) => "±HH",
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_days_from_2000() {
        assert_eq!(days_from_civil(2000, 1, 1), 0);
        assert_eq!(days_from_civil(1970, 1, 1), UNIX_EPOCH_DAYS);
        assert_eq!(days_from_civil(2024, 2, 29), 8825);
        assert_eq!(days_from_civil(-4713, 11, 24), ferry_model::MIN_DATE);
    }

    #[test]
    fn scans_forms_and_shapes() {
        let cases = [
            ("2024-02-29", "YYYY-MM-DD"),
            ("2024-02-29 12:30", "YYYY-MM-DD HH:MM"),
            ("2024-02-29T12:30:59.123456Z", "YYYY-MM-DDTHH:MM:SS.ffffffZ"),
            ("2024-02-29 12:30:59+02:00", "YYYY-MM-DD HH:MM:SS±HH:MM"),
            ("2024-02-29 12:30:59-0530", "YYYY-MM-DD HH:MM:SS±HHMM"),
            ("2024-02-29 12:30:59+02", "YYYY-MM-DD HH:MM:SS±HH"),
        ];
        for (text, expected) in cases {
            let fields = scan(text.as_bytes()).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(shape(&fields), expected);
        }
        for bad in [
            "2024-2-29",
            "24-02-29",
            "2024-02-29x",
            "2024-02-29 12",
            "2024-02-29 12:30:59.",
            "2024-02-29 12:30:59.1234567890",
            "2024-02-29 12:30:59+2",
            "2024-02-29 12:30:59+02:0",
            " 2024-02-29",
        ] {
            assert_eq!(scan(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn validates_strictly() {
        let check = |t: &str| validate(&scan(t.as_bytes()).unwrap());
        assert!(check("2024-02-29").is_ok());
        assert_eq!(
            check("2023-02-29"),
            Err(Invalid::Calendar(
                "is not a valid date (February has 28 days in 2023)".into()
            ))
        );
        assert!(check("1900-02-29").is_err());
        assert!(check("2000-02-29").is_ok());
        assert!(check("0000-01-01").is_err());
        assert!(check("2024-13-01").is_err());
        assert!(check("2024-01-01 24:00").is_err());
        assert!(check("2024-01-01 23:60").is_err());
        assert!(check("2024-01-01 23:59:60").is_err());
        assert!(check("2024-01-01 23:59:59+16:00").is_err());
        assert_eq!(
            check("2024-01-01 00:00:00.0000001"),
            Err(Invalid::Nanoseconds)
        );
        assert_eq!(
            check("2000-01-01 00:00:00.123456000-01:30"),
            Ok(DateTime {
                days: 0,
                micros_of_day: 123_456,
                offset_seconds: Some(-5400)
            })
        );
    }
}
