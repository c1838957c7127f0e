//! RFC 3339 timestamps in JSON (`#[serde(with = "crate::timestamp")]`), written and read without
//! chrono's general-purpose formatter and parser: a feed page carries over a hundred of them, and
//! those two were a tenth of its CPU. The output is byte for byte what chrono's serde writes
//! (`2026-11-25T12:00:00.123Z`: UTC, `Z`, a fraction of 0, 3, 6 or 9 digits); anything else on
//! input goes to chrono's parser.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Deserializer, Serializer, de};

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write(t, &mut buf) {
        Some(len) => s.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
        None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(Visitor)
}

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<DateTime<Utc>, E> {
        parse(s).ok_or_else(|| E::custom(format!("not an RFC 3339 date and time: {s}")))
    }
}

/// Writes `t` into `buf`; `None` for what the fast path does not cover (years outside 0–9999, a
/// leap second), which chrono then writes.
fn write(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
    let (year, nano) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None;
    }
    let fraction = match nano {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    let fields = [
        (year as u32, 4, b'-'),
        (t.month(), 2, b'-'),
        (t.day(), 2, b'T'),
        (t.hour(), 2, b':'),
        (t.minute(), 2, b':'),
        (t.second(), 2, b'.'),
    ];
    let mut at = 0;
    for (value, width, separator) in fields.into_iter().chain(fraction.map(|(v, w)| (v, w, b'Z'))) {
        put_digits(&mut buf[at..at + width], value);
        buf[at + width] = separator;
        at += width + 1;
    }
    // Without a fraction the seconds end the time: their separator becomes the `Z`.
    if fraction.is_none() {
        buf[at - 1] = b'Z';
    }
    Some(at)
}

/// `value` in decimal, zero-padded to fill `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` by hand; anything else by chrono.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    parse_fast(s.as_bytes()).or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc)))
}

fn parse_fast(b: &[u8]) -> Option<DateTime<Utc>> {
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter()
            .try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b.last() != Some(&b'Z') || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let nano = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => number(20..b.len() - 1)? * 10u32.pow(9 - digits.len() as u32),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let time = date.and_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nano)?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_json(t: &DateTime<Utc>) -> String {
        serde_json::to_string(t).unwrap()
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wrapped(#[serde(with = "super")] DateTime<Utc>);

    #[test]
    fn writes_what_chrono_writes_and_reads_it_back() {
        let base = DateTime::parse_from_rfc3339("2026-11-25T09:05:07Z").unwrap().with_timezone(&Utc);
        for nanos in [0, 1, 7_000, 120_000_000, 123_456_000, 999_999_999, 5_000_000, 10] {
            for t in [base, DateTime::<Utc>::UNIX_EPOCH, base + chrono::Duration::days(4000)] {
                let t = t + chrono::Duration::nanoseconds(nanos);
                let ours = serde_json::to_string(&Wrapped(t)).unwrap();
                assert_eq!(ours, chrono_json(&t), "{t:?}");
                let back: Wrapped = serde_json::from_str(&ours).unwrap();
                assert_eq!(back.0, t);
            }
        }
        let now = Utc::now();
        assert_eq!(serde_json::to_string(&Wrapped(now)).unwrap(), chrono_json(&now));
    }

    #[test]
    fn reads_other_rfc3339_forms_and_refuses_the_rest() {
        let t = parse("2026-11-25T10:00:00+01:00").unwrap();
        assert_eq!(t, parse("2026-11-25T09:00:00Z").unwrap());
        assert_eq!(parse("2026-11-25t09:00:00.5z").unwrap(), parse("2026-11-25T09:00:00.500Z").unwrap());
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-11-25T25:00:00Z",
            "2026-11-25T09:00:00.Z",
            "x026-11-25T09:00:00Z",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
            assert!(serde_json::from_str::<Wrapped>(&format!("\"{bad}\"")).is_err(), "{bad}");
        }
    }
}
