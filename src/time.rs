//! Time at the ground floor: timestamps and dates parsed from text and formatted
//! back, local dates and midnights in a time zone, and the calendar periods metrics
//! are cut by. Ingest, metrics and the report all use it; it uses nothing of theirs.
//!
//! Hand-written rather than format-guessing: the native format accepts exactly the
//! shapes `docs/tables.md` lists, and a value that fits none of them is a bad value
//! with a reason a person can act on.

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The Unix epoch as a date, for converting dates to days.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(value: &str) -> Result<i32, String> {
    let date = parse_ymd(value.as_bytes())
        .ok_or_else(|| format!("`{value}` is not a date (expected YYYY-MM-DD)"))?;
    Ok((date - epoch()).num_days() as i32)
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
}

fn parse_ymd(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )
}

/// The usual form of an exported timestamp, `YYYY-MM-DDTHH:MM:SSZ`, in seconds since
/// the epoch; None for any other text (which [`parse_timestamp`] reads or refuses). The
/// same value chrono gives, worked out without it: it is most of the typing of an
/// export's touches.
fn utc_seconds(b: &[u8]) -> Option<i64> {
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1, b'Z'] =
        b
    else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
    let two = |a, b| Some(digit(a)? * 10 + digit(b)?);
    let year = two(y0, y1)? * 100 + two(y2, y3)?;
    let (month, day) = (two(m0, m1)?, two(d0, d1)?);
    let (hour, minute, second) = (two(h0, h1)?, two(n0, n1)?, two(s0, s1)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    // `days_from_civil`), years counted from March so that leap days come last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Parses an ISO-8601 timestamp into microseconds since the epoch, UTC.
///
/// Accepted: `YYYY-MM-DD`, then optionally `T` or a space and `HH:MM[:SS[.fff…]]`,
/// then optionally `Z` or an offset `±HH:MM`, `±HHMM` or `±HH`. Without an offset the
/// time is local to `tz`: an ambiguous local time (DST fall-back) takes the earlier
/// instant; a time inside a DST gap is an error.
pub fn parse_timestamp(value: &str, tz: Tz) -> Result<i64, String> {
    let bad = || {
        format!(
            "`{value}` is not a timestamp (expected ISO-8601 such as 2025-03-01T09:30:00Z, 2025-03-01 09:30:00 or 2025-03-01)"
        )
    };
    let b = value.as_bytes();
    if let Some(us) = utc_seconds(b) {
        return Ok(us * MICROS_PER_SECOND);
    }
    if b.len() < 10 {
        return Err(bad());
    }
    let date = parse_ymd(&b[..10]).ok_or_else(bad)?;
    let mut rest = &b[10..];
    let mut time = NaiveTime::MIN;
    let mut micros_frac: i64 = 0;
    if !rest.is_empty() {
        if rest[0] != b'T' && rest[0] != b't' && rest[0] != b' ' {
            return Err(bad());
        }
        rest = &rest[1..];
        // HH:MM
        if rest.len() < 5 || rest[2] != b':' {
            return Err(bad());
        }
        let hour = digits(&rest[0..2]).ok_or_else(bad)?;
        let minute = digits(&rest[3..5]).ok_or_else(bad)?;
        rest = &rest[5..];
        let mut second = 0;
        if rest.first() == Some(&b':') {
            if rest.len() < 3 {
                return Err(bad());
            }
            second = digits(&rest[1..3]).ok_or_else(bad)?;
            rest = &rest[3..];
            if rest.first() == Some(&b'.') || rest.first() == Some(&b',') {
                let end = rest[1..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(rest.len(), |p| p + 1);
                let frac = &rest[1..end];
                if frac.is_empty() {
                    return Err(bad());
                }
                // Microsecond precision: further digits are truncated.
                let mut us: i64 = 0;
                for i in 0..6 {
                    us = us * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
                }
                micros_frac = us;
                rest = &rest[end..];
            }
        }
        time = NaiveTime::from_hms_opt(hour, minute, second).ok_or_else(bad)?;
    }
    let naive = NaiveDateTime::new(date, time);
    let seconds = if rest.is_empty() {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.timestamp(),
            LocalResult::Ambiguous(earlier, _) => earlier.timestamp(),
            LocalResult::None => {
                return Err(format!(
                "`{value}` does not exist in time zone {tz} (skipped by a daylight-saving change)"
            ))
            }
        }
    } else {
        let offset = parse_offset(rest).ok_or_else(bad)?;
        naive.and_utc().timestamp() - i64::from(offset)
    };
    Ok(seconds * MICROS_PER_SECOND + micros_frac)
}

/// `Z`, `±HH:MM`, `±HHMM` or `±HH` to seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<i32> {
    if b == b"Z" || b == b"z" {
        return Some(0);
    }
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let b = &b[1..];
    let (h, m) = match b.len() {
        2 => (digits(b)?, 0),
        4 => (digits(&b[0..2])?, digits(&b[2..4])?),
        5 if b[2] == b':' => (digits(&b[0..2])?, digits(&b[3..5])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h as i32 * 3600 + m as i32 * 60))
}

/// Parses a timestamp written in a declared chrono format (`%d/%m/%Y %H:%M`) in `tz`.
/// A format without a time of day gives local midnight.
pub fn parse_timestamp_with(value: &str, format: &str, tz: Tz) -> Result<i64, String> {
    let naive = match NaiveDateTime::parse_from_str(value, format) {
        Ok(t) => t,
        Err(_) => match NaiveDate::parse_from_str(value, format) {
            Ok(d) => d.and_time(NaiveTime::MIN),
            Err(_) => {
                // A format with an offset (%z) gives an instant directly.
                return chrono::DateTime::parse_from_str(value, format)
                    .map(|t| t.timestamp_micros())
                    .map_err(|_| {
                        format!("`{value}` does not match the declared format `{format}`")
                    });
            }
        },
    };
    local_micros(value, naive, tz)
}

/// Parses a date written in a declared chrono format; a format with a time of day
/// takes the date part.
pub fn parse_date_with(value: &str, format: &str) -> Result<i32, String> {
    let date = NaiveDate::parse_from_str(value, format)
        .or_else(|_| NaiveDateTime::parse_from_str(value, format).map(|t| t.date()))
        .map_err(|_| format!("`{value}` does not match the declared format `{format}`"))?;
    Ok((date - epoch()).num_days() as i32)
}

/// A date for a mapped source without a declared format: `YYYY-MM-DD`, or an ISO
/// timestamp whose local date in `tz` is taken (CRMs often export dates with a time).
pub fn parse_date_lenient(value: &str, tz: Tz) -> Result<i32, String> {
    if let Ok(days) = parse_date(value) {
        return Ok(days);
    }
    let micros = parse_timestamp(value, tz).map_err(|_| {
        format!("`{value}` is not a date (expected YYYY-MM-DD or declare `format`)")
    })?;
    let utc = chrono::DateTime::from_timestamp_micros(micros).expect("timestamp in range");
    let local = utc.with_timezone(&tz).date_naive();
    Ok((local - epoch()).num_days() as i32)
}

fn local_micros(value: &str, naive: NaiveDateTime, tz: Tz) -> Result<i64, String> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.timestamp_micros()),
        LocalResult::Ambiguous(earlier, _) => Ok(earlier.timestamp_micros()),
        LocalResult::None => Err(format!(
            "`{value}` does not exist in time zone {tz} (skipped by a daylight-saving change)"
        )),
    }
}

/// Formats UTC microseconds as RFC 3339 with `Z`; fractional seconds only when
/// non-zero (as in JSON output and the derived touch id).
pub fn format_timestamp(micros: i64) -> String {
    let secs = micros.div_euclid(MICROS_PER_SECOND);
    let frac = micros.rem_euclid(MICROS_PER_SECOND);
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp(secs, 0).expect("timestamp in range");
    let mut out = if (0..=9999).contains(&t.year()) {
        // Written by hand: derived touch ids format one per touch without an id.
        let mut out = String::with_capacity(28);
        let mut two = |n: u32, sep: Option<char>| {
            if let Some(sep) = sep {
                out.push(sep);
            }
            out.push(char::from(b'0' + (n / 10) as u8));
            out.push(char::from(b'0' + (n % 10) as u8));
        };
        let year = t.year() as u32;
        two(year / 100, None);
        two(year % 100, None);
        two(t.month(), Some('-'));
        two(t.day(), Some('-'));
        two(t.hour(), Some('T'));
        two(t.minute(), Some(':'));
        two(t.second(), Some(':'));
        out
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    };
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Formats days since the epoch as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    (epoch() + chrono::Duration::days(i64::from(days)))
        .format("%Y-%m-%d")
        .to_string()
}

/// UTC microseconds of local midnight starting `date` in `tz`. A midnight skipped by
/// a DST change starts at the first instant that exists (an hour later).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> i64 {
    let naive = date.and_hms_opt(0, 0, 0).expect("valid time");
    let t = match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(t, _) => t,
        LocalResult::None => {
            let later = naive + Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .expect("an hour later exists")
        }
    };
    t.timestamp() * MICROS_PER_SECOND
}

/// The local calendar date of an instant.
pub fn local_date(micros: i64, tz: Tz) -> NaiveDate {
    let utc = chrono::DateTime::from_timestamp_micros(micros).expect("timestamp in range");
    utc.with_timezone(&tz).date_naive()
}

/// How a calendar cuts time into periods: the first day of the week and the first
/// month of the fiscal year (the `[calendar]` section of `funnel.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// Days from Monday: 0 for Monday, 6 for Sunday.
    pub week_start: u32,
    /// 1 for January.
    pub fiscal_year_start_month: u32,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            week_start: 0,
            fiscal_year_start_month: 1,
        }
    }
}

/// A calendar period metrics are cut by (`--period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Week,
    Month,
    Quarter,
    FiscalQuarter,
    Year,
}

impl Period {
    pub const ALL: [Period; 5] = [
        Period::Week,
        Period::Month,
        Period::Quarter,
        Period::FiscalQuarter,
        Period::Year,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::FiscalQuarter => "fiscal_quarter",
            Period::Year => "year",
        }
    }

    pub fn parse(text: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.name() == text)
    }

    /// The first day of the period containing `date`.
    pub fn start_of(self, date: NaiveDate, calendar: &Calendar) -> NaiveDate {
        let month_start = |y: i32, m0: i32| {
            let total = y * 12 + m0;
            NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
                .expect("valid date")
        };
        match self {
            Period::Week => {
                let start = i64::from(calendar.week_start);
                let weekday = i64::from(date.weekday().num_days_from_monday());
                date - Duration::days((weekday - start).rem_euclid(7))
            }
            Period::Month => month_start(date.year(), date.month0() as i32),
            Period::Quarter => month_start(date.year(), date.month0() as i32 / 3 * 3),
            Period::FiscalQuarter => {
                let offset = calendar.fiscal_year_start_month as i32 - 1;
                let m = date.year() * 12 + date.month0() as i32 - offset;
                let q = m.div_euclid(3) * 3 + offset;
                month_start(0, q)
            }
            Period::Year => month_start(date.year(), 0),
        }
    }

    /// The first day of the period after the one starting at `start`.
    pub fn next(self, start: NaiveDate, calendar: &Calendar) -> NaiveDate {
        let probe = match self {
            Period::Week => start + Duration::days(7),
            Period::Month => start + Duration::days(32),
            Period::Quarter | Period::FiscalQuarter => start + Duration::days(95),
            Period::Year => start + Duration::days(370),
        };
        self.start_of(probe, calendar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> String {
        format_timestamp(parse_timestamp(s, Tz::UTC).unwrap())
    }

    #[test]
    fn usual_timestamps_read_as_chrono_reads_them() {
        let chrono_seconds = |y: i32, m: u32, d: u32, h: u32, n: u32, s: u32| {
            NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|date| date.and_hms_opt(h, n, s))
                .map(|t| t.and_utc().timestamp())
        };
        let years = (0..=3).chain(1896..=2104).chain(9996..=9999);
        let mut checked = 0;
        for y in years {
            for m in 0..=13 {
                for d in 0..=32 {
                    let (h, n, s) = ((y + d) as u32 % 25, (m * 7 + d) as u32 % 61, d as u32 * 2);
                    let text = format!("{y:04}-{m:02}-{d:02}T{h:02}:{n:02}:{s:02}Z");
                    let expected = chrono_seconds(y, m as u32, d as u32, h, n, s);
                    assert_eq!(utc_seconds(text.as_bytes()), expected, "{text}");
                    checked += usize::from(expected.is_some());
                }
            }
        }
        assert!(checked > 70_000, "{checked}");
        for other in [
            "2025-03-01T09:30:00",
            "2025-03-01 09:30:00Z",
            "2025-03-01T09:30:00.5Z",
            "2025-03-01T09:30:00+01:00",
            "2025-3-01T09:30:00Z0",
            "+025-03-01T09:30:00Z",
            "2025-03-01T09:3a:00Z",
        ] {
            assert_eq!(utc_seconds(other.as_bytes()), None, "{other}");
        }
        assert_eq!(utc("2024-02-29T23:59:59Z"), "2024-02-29T23:59:59Z");
        assert!(parse_timestamp("2023-02-29T00:00:00Z", Tz::UTC).is_err());
    }

    #[test]
    fn hand_written_timestamps_match_chrono() {
        // The fast path covers years 0–9999; chrono formats the rest.
        for micros in [
            -62_135_596_800_000_000i64, // 0001-01-01
            -30_610_224_000_000_000,    // 1000-01-01
            -1,
            0,
            1_740_821_400_250_000,   // 2025-03-01T09:30:00.25
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
            -62_167_219_200_000_000, // 0000-01-01
        ] {
            let t = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            let frac = micros.rem_euclid(1_000_000);
            let expected = if frac == 0 {
                format!("{base}Z")
            } else {
                format!("{base}.{}Z", format!("{frac:06}").trim_end_matches('0'))
            };
            assert_eq!(format_timestamp(micros), expected, "{micros}");
        }
    }

    #[test]
    fn iso_shapes() {
        assert_eq!(utc("2025-03-01T09:30:00Z"), "2025-03-01T09:30:00Z");
        assert_eq!(utc("2025-03-01 09:30:00"), "2025-03-01T09:30:00Z");
        assert_eq!(utc("2025-03-01"), "2025-03-01T00:00:00Z");
        assert_eq!(utc("2025-03-01T09:30"), "2025-03-01T09:30:00Z");
        assert_eq!(utc("2025-03-01T09:30:00+02:00"), "2025-03-01T07:30:00Z");
        assert_eq!(utc("2025-03-01T09:30:00-0130"), "2025-03-01T11:00:00Z");
        assert_eq!(utc("2025-03-01T09:30:00.25Z"), "2025-03-01T09:30:00.25Z");
        assert_eq!(
            utc("2025-03-01T09:30:00.1234567Z"),
            "2025-03-01T09:30:00.123456Z"
        );
    }

    #[test]
    fn bad_shapes() {
        for bad in [
            "2025-13-01",
            "2025-3-1",
            "yesterday",
            "2025-03-01T25:00:00",
            "2025-03-01X",
        ] {
            assert!(parse_timestamp(bad, Tz::UTC).is_err(), "{bad}");
        }
    }

    #[test]
    fn naive_in_zone_across_dst() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let p = |s| format_timestamp(parse_timestamp(s, paris).unwrap());
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(p("2025-01-15 10:00:00"), "2025-01-15T09:00:00Z");
        assert_eq!(p("2025-07-15 10:00:00"), "2025-07-15T08:00:00Z");
        // Fall-back: 02:30 happens twice on 2025-10-26; the earlier instant is +02:00.
        assert_eq!(p("2025-10-26 02:30:00"), "2025-10-26T00:30:00Z");
        // Spring-forward: 02:30 does not exist on 2025-03-30.
        let err = parse_timestamp("2025-03-30 02:30:00", paris).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        // An explicit offset ignores the zone.
        assert_eq!(p("2025-07-15T10:00:00Z"), "2025-07-15T10:00:00Z");
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn period_starts() {
        let mut c = Calendar::default();
        let start = |p: Period, day: &str, c: &Calendar| p.start_of(d(day), c);
        assert_eq!(start(Period::Week, "2025-05-15", &c), d("2025-05-12")); // Thursday -> Monday
        assert_eq!(start(Period::Month, "2025-05-15", &c), d("2025-05-01"));
        assert_eq!(start(Period::Quarter, "2025-05-15", &c), d("2025-04-01"));
        assert_eq!(start(Period::Year, "2025-05-15", &c), d("2025-01-01"));
        assert_eq!(
            start(Period::FiscalQuarter, "2025-05-15", &c),
            d("2025-04-01")
        );
        c.fiscal_year_start_month = 2;
        assert_eq!(
            start(Period::FiscalQuarter, "2025-05-15", &c),
            d("2025-05-01")
        );
        assert_eq!(
            start(Period::FiscalQuarter, "2025-01-15", &c),
            d("2024-11-01")
        );
        c.week_start = 6; // Sunday
        assert_eq!(start(Period::Week, "2025-05-15", &c), d("2025-05-11"));
        assert_eq!(Period::Month.next(d("2025-12-01"), &c), d("2026-01-01"));
        assert_eq!(Period::Week.next(d("2025-05-11"), &c), d("2025-05-18"));
    }

    #[test]
    fn midnights_in_zones() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(
            local_midnight(d("2025-07-01"), paris),
            1_751_320_800_000_000
        ); // 2025-06-30T22:00Z
        assert_eq!(local_date(1_751_320_800_000_000, paris), d("2025-07-01"));
        assert_eq!(
            local_date(1_751_320_800_000_000 - 1, paris),
            d("2025-06-30")
        );
    }
}
