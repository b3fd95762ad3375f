//! Julian-day REALs land on the nearest microsecond (issue 12), checked
//! against Postgres's own exact `numeric` arithmetic; and the copy's
//! coercion agrees with the verifier's independent route on every value
//! whose conversion does arithmetic.

use ferry_model::{ColumnPlan, PgType, PgValue, SourceValueRef};
use proptest::prelude::*;

use crate::util::{copy, TempSqlite, TestDb};

/// A finite double as `(mantissa, exponent)`, `value = mantissa × 2^exponent`
/// with a signed mantissa: the raw material the SQL below computes from.
fn mantissa_exponent(r: f64) -> (i64, i32) {
    let bits = r.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = (bits & ((1 << 52) - 1)) as i64;
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    (if r < 0.0 { -mantissa } else { mantissa }, exponent)
}

/// Julian days to copy: the cases the unit tests pin down (ties, values a
/// few millionths of a microsecond either side of a half, values float
/// arithmetic put 1 µs off, both ends of Postgres's range), then seeded
/// random ones: millisecond timestamps as SQLite's `julianday()` writes
/// them, arbitrary doubles from 1900 to 2100, and from the whole range.
fn julian_days() -> Vec<f64> {
    let mut days = vec![
        2_451_545.000_000_1,
        2_440_587.5,
        2451545.000061035,
        2451545.0000610347,
        2451545.0000610356,
        2451544.000061035,
        2460000.5001831055,
        2460310.500086969,
        2460310.500035101,
        2440000.250086969,
        2440000.250035101,
        2442141.1127198115,
        2444040.389465518,
        2441918.0138748745,
        2465099.792075176,
        2441198.3078861427,
        2465182.6204816457,
        -0.5,
        -0.5000000000000001,
        -0.25,
        5e-324,
        109203527.49999999,
    ];
    let mut state = 0x0123_4567_89AB_CDEFu64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let unit = |n: u64| (n >> 11) as f64 / (1u64 << 53) as f64;
    for _ in 0..3_000 {
        let millis = next() % (200 * 365 * 86_400_000);
        days.push(2_415_020.5 + millis as f64 / 86_400_000.0);
        days.push(2_415_020.5 + unit(next()) * 73_049.0);
        days.push(-0.5 + unit(next()) * 109_203_527.0);
    }
    // A DATETIME column has NUMERIC affinity: SQLite stores an integral
    // REAL as an INTEGER, which ferry then reads as unix seconds.
    days.retain(|jd| jd.fract() != 0.0);
    days
}

#[test]
fn issue_12_julian_days_land_on_the_nearest_microsecond() {
    let source = TempSqlite::new("CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME);");
    let days = julian_days();
    {
        let mut conn = rusqlite::Connection::open(&source.path).unwrap();
        let tx = conn.transaction().unwrap();
        for (id, jd) in days.iter().enumerate() {
            tx.execute(
                "INSERT INTO events (id, at) VALUES (?1, ?2)",
                rusqlite::params![id as i64, jd],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    let reals: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE typeof(at) = 'real'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reals, days.len() as i64, "every value is stored as a REAL");
    drop(conn);
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();

    let mut client = db.client();
    client
        .batch_execute("CREATE TABLE julian (id bigint PRIMARY KEY, mantissa bigint, exponent int)")
        .unwrap();
    let mut rows = Vec::new();
    for (id, jd) in days.iter().enumerate() {
        let (mantissa, exponent) = mantissa_exponent(*jd);
        rows.push(format!("({id}, {mantissa}, {exponent})"));
    }
    client
        .batch_execute(&format!("INSERT INTO julian VALUES {}", rows.join(",")))
        .unwrap();
    // The double's exact value, mantissa × 2^exponent, in numeric (2^-k as
    // 5^k × 10^-k keeps it exact), then the mapping's rule: microseconds
    // since 2000-01-01 = floor((jd - 2451544.5) × 86400000000 + 1/2). The
    // target's are read back as the interval since 2000-01-01, whose epoch
    // is exact (a timestamptz's own epoch goes through float8 near the end
    // of the range, where the unix epoch offset overflows int64).
    let differences = client
        .query(
            "WITH exact AS (
                 SELECT id, CASE WHEN exponent >= 0
                     THEN mantissa::numeric * power(2::numeric, exponent::numeric)
                     ELSE mantissa::numeric * power(5::numeric, (-exponent)::numeric)
                          * ('1e' || exponent)::numeric
                 END AS jd
                 FROM julian
             ), expected AS (
                 SELECT id, jd, floor((jd - 2451544.5) * 86400000000 + 0.5) AS micros FROM exact
             )
             , target AS (
                 SELECT id, extract(epoch FROM at - '2000-01-01 00:00:00+00') * 1000000 AS micros
                 FROM events
             )
             SELECT e.id, e.jd::text, e.micros::text, t.micros::text
               FROM expected e LEFT JOIN target t ON t.id = e.id
              WHERE t.micros IS DISTINCT FROM e.micros
              ORDER BY e.id",
            &[],
        )
        .unwrap();
    let shown: Vec<String> = differences
        .iter()
        .take(10)
        .map(|row| {
            let (id, jd, want, got): (i64, String, String, Option<String>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            format!("id {id}: julian day {jd}: want {want} µs, target holds {got:?}")
        })
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} julian days landed elsewhere than Postgres computes:\n{}",
        differences.len(),
        days.len(),
        shown.join("\n")
    );
    let count: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, days.len() as i64);
}

/// The copy's coercion and the verifier's independent route agree on
/// whether `source` is accepted, and on the value if it is.
fn agree(pg_type: PgType, source: SourceValueRef<'_>) -> Result<(), TestCaseError> {
    let column = ColumnPlan::new("c", "", pg_type);
    let copied = ferry_transformer::coerce(&column, source)
        .ok()
        .map(PgValue::into_owned);
    let independent = ferry_verifier::independent_value(&column, source);
    prop_assert_eq!(copied, independent, "{} <- {:?}", pg_type, source);
    Ok(())
}

const TIME_TYPES: [PgType; 3] = [PgType::Timestamptz, PgType::Timestamp, PgType::Date];
const NUMERIC_TYPES: [PgType; 4] = [
    PgType::Numeric(None),
    PgType::Numeric(Some((10, 2))),
    PgType::Numeric(Some((20, 10))),
    PgType::Numeric(Some((1000, 500))),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn coercion_and_independent_route_agree_on_julian_days(jd in -0.6f64..109_203_528.0) {
        for pg_type in TIME_TYPES {
            agree(pg_type, SourceValueRef::Real(jd))?;
        }
    }

    #[test]
    fn coercion_and_independent_route_agree_on_julian_midnights(day in -2i64..2_147_483_500) {
        let jd = day as f64 - 0.5;
        for pg_type in TIME_TYPES {
            agree(pg_type, SourceValueRef::Real(jd))?;
        }
    }

    #[test]
    fn coercion_and_independent_route_agree_on_any_double(bits in any::<u64>()) {
        let r = f64::from_bits(bits);
        for pg_type in TIME_TYPES.into_iter().chain(NUMERIC_TYPES) {
            agree(pg_type, SourceValueRef::Real(r))?;
        }
    }

    #[test]
    fn coercion_and_independent_route_agree_on_short_decimals(
        units in -10_000_000_000i64..10_000_000_000,
        scale in 0i32..12,
    ) {
        let r = units as f64 / 10f64.powi(scale);
        for pg_type in NUMERIC_TYPES {
            agree(pg_type, SourceValueRef::Real(r))?;
        }
    }

    #[test]
    fn coercion_and_independent_route_agree_on_unix_seconds(
        seconds in prop_oneof![any::<i64>(), -210_866_803_300i64..9_224_318_016_100],
        midnight in any::<bool>(),
    ) {
        let seconds = if midnight { seconds / 86_400 * 86_400 } else { seconds };
        for pg_type in TIME_TYPES {
            agree(pg_type, SourceValueRef::Integer(seconds))?;
        }
    }
}
