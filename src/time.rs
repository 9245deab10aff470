//! Dates as the server writes them: RFC 3339 UTC for JSON and logs, IMF-fixdate for `Date`;
//! and RFC 3339 read back, for the client's cache (`expiresAt`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch now (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A text that depends only on the current second, formatted once per second: the `Date`
/// header and the access log's time are written on every request. One per thread (in a
/// `thread_local!`), so no lock.
pub(crate) struct PerSecond {
    secs: u64,
    text: String,
}

impl PerSecond {
    pub(crate) const EMPTY: PerSecond = PerSecond {
        secs: u64::MAX,
        text: String::new(),
    };

    /// The text for `secs`, formatted by `format` when the second changed.
    pub(crate) fn get(&mut self, secs: u64, format: impl FnOnce(u64) -> String) -> &str {
        if self.secs != secs {
            self.text = format(secs);
            self.secs = secs;
        }
        &self.text
    }
}

/// A point in time as RFC 3339 UTC, optionally with milliseconds.
pub(crate) fn rfc3339(time: SystemTime, with_millis: bool) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let mut out = String::with_capacity(24);
    let millis = with_millis.then(|| since.subsec_millis());
    push_rfc3339(&mut out, since.as_secs() as i64, millis);
    out
}

/// Seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub(crate) fn rfc3339_unix(secs: i64) -> String {
    let mut out = String::with_capacity(20);
    push_rfc3339(&mut out, secs, None);
    out
}

/// Appends RFC 3339 UTC, digit by digit: `/token` writes two dates and its audit line two more,
/// and `format!` cost more than the rest of the answer's formatting.
fn push_rfc3339(out: &mut String, secs: i64, millis: Option<u32>) {
    let (y, m, d, hh, mm, ss) = fields(secs);
    let Ok(year @ 0..=9999) = u64::try_from(y) else {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
        if let Some(ms) = millis {
            let _ = write!(out, ".{ms:03}");
        }
        out.push('Z');
        return;
    };
    push_digits(out, year, 4);
    for (separator, value) in [('-', u64::from(m)), ('-', u64::from(d))] {
        out.push(separator);
        push_digits(out, value, 2);
    }
    for (separator, value) in [('T', hh), (':', mm), (':', ss)] {
        out.push(separator);
        push_digits(out, value.unsigned_abs(), 2);
    }
    if let Some(ms) = millis {
        out.push('.');
        push_digits(out, u64::from(ms), 3);
    }
    out.push('Z');
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
pub(crate) fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let width = width.min(digits.len());
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // Digits are ASCII, so the check cannot fail.
    out.push_str(std::str::from_utf8(&digits[..width]).unwrap_or_default());
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    let width = n.checked_ilog10().map_or(1, |log| log as usize + 1);
    push_digits(out, n, width);
}

/// `duration` as `{:?}` writes it (`3s`, `1.5s`, `250ms`, `10µs`, `7ns`): std's `Debug` carries
/// rounding and padding this binary never uses, about 1.5 KB for one message (the
/// healthcheck's timeout).
pub(crate) fn duration_text(duration: Duration) -> String {
    let nanos = duration.subsec_nanos();
    // The whole number of the largest unit that is not zero, and the rest as `width` digits.
    let (whole, mut fraction, mut width, unit) = match (duration.as_secs(), nanos) {
        (0, 1_000_000..) => (u64::from(nanos / 1_000_000), nanos % 1_000_000, 6, "ms"),
        (0, 1_000..) => (u64::from(nanos / 1_000), nanos % 1_000, 3, "µs"),
        (0, _) => (u64::from(nanos), 0, 0, "ns"),
        (secs, _) => (secs, nanos, 9, "s"),
    };
    let mut out = String::new();
    push_decimal(&mut out, whole);
    if fraction > 0 {
        // Without a precision, `Debug` writes the fraction without its trailing zeros.
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        out.push('.');
        push_digits(&mut out, u64::from(fraction), width);
    }
    out.push_str(unit);
    out
}

/// Year, month, day, hour, minute and second of seconds since the epoch.
fn fields(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// IMF-fixdate (RFC 9110 §5.6.7) of seconds since the epoch.
pub(crate) fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let weekday = DAYS[(days % 7) as usize];
    let month = MONTHS[(m as usize).saturating_sub(1) % 12];
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{weekday}, {d:02} {month} {y:04} {hh:02}:{mm:02}:{ss:02} GMT")
}

/// Seconds since the epoch of an RFC 3339 date-time (§5.6): `T` or `t`, optional fraction
/// (truncated), `Z`, `z` or a `+hh:mm`/`-hh:mm` offset. `None` for anything else, out-of-range
/// fields included; a leap second (`:60`) is read as the next second.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0i64, |n, d| Some(n * 10 + i64::from(d - b'0')))
    };
    let punctuated = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')]
        .iter()
        .all(|&(i, c)| b.get(i) == Some(&c));
    if !punctuated || !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        rest = &fraction[len..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let field = |hi: &u8, lo: &u8| {
                (hi.is_ascii_digit() && lo.is_ascii_digit())
                    .then(|| i64::from(hi - b'0') * 10 + i64::from(lo - b'0'))
            };
            let (h, m) = (field(h1, h2)?, field(m1, m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            (h * 60 + m) * 60 * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let leap_year = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap_year { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid = (1..=12).contains(&month)
        && (1..=month_days[(month as usize).saturating_sub(1).min(11)]).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// (year, month, day) to days since 1970-01-01, the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_text_is_debug() {
        let cases = [
            (Duration::ZERO, "0ns"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_000), "1µs"),
            (Duration::from_nanos(10_500), "10.5µs"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_nanos(1_000_001), "1.000001ms"),
            (Duration::from_secs(3), "3s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::new(2, 1), "2.000000001s"),
            (Duration::MAX, "18446744073709551615.999999999s"),
        ];
        for (duration, want) in cases {
            assert_eq!(duration_text(duration), want);
            assert_eq!(duration_text(duration), format!("{duration:?}"));
        }
    }

    proptest::proptest! {
        #[test]
        fn duration_text_matches_debug(secs in 0u64..3, nanos in 0u32..1_000_000_000) {
            let duration = Duration::new(secs, nanos);
            proptest::prop_assert_eq!(duration_text(duration), format!("{duration:?}"));
        }
    }

    #[test]
    fn digits_and_dates_by_hand() {
        let mut out = String::new();
        for n in [0, 7, 10, 99, 1000, 65_535, u64::MAX] {
            out.clear();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        out.clear();
        push_digits(&mut out, 7, 3);
        assert_eq!(out, "007");
        assert_eq!(rfc3339_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_unix(253_402_300_799), "9999-12-31T23:59:59Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(rfc3339(t, true), "2023-11-14T22:13:20.250Z");
        assert_eq!(rfc3339(t, false), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_unix(-62_167_219_201), "-001-12-31T23:59:59Z");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn rfc3339_known_answers() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t, false), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(t, true), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_unix(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn imf_fixdate_known_answers() {
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
        assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(imf_fixdate(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn parse_rfc3339_reads_what_rfc3339_writes() {
        for secs in [
            0,
            951_782_400,
            1_700_000_000,
            253_402_300_799,
            4_102_444_800,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339_unix(secs)), Some(secs));
        }
        for days in [-800_000, -1, 0, 59, 11_016, 20_513, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parse_rfc3339_offsets_fractions_and_case() {
        let base = 1_700_000_000;
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123456789Z"), Some(base));
        assert_eq!(parse_rfc3339("2023-11-14t22:13:20z"), Some(base));
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(base));
        assert_eq!(parse_rfc3339("2023-11-14T17:43:20-04:30"), Some(base));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn parse_rfc3339_refuses_malformed() {
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0200",
            "2023-11-14T22:13:20+24:00",
            "2023-13-14T22:13:20Z",
            "2023-02-29T22:13:20Z",
            "2023-11-31T22:13:20Z",
            "2023-11-14T24:00:00Z",
            "+023-11-14T22:13:20Z",
            "2023-11-14T22:13:20Zjunk",
            "2023-11-14T22:1a:20Z",
            "２023-11-14T22:13:20Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
