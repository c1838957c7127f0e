//! Campaign reports: the time range and its buckets, the figures per bucket, JSON and CSV.

use crate::error::{Error, FieldError, Result};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn step(self) -> Duration {
        match self {
            Granularity::Hour => Duration::hours(1),
            Granularity::Day => Duration::days(1),
        }
    }

    /// The start of the bucket holding `t` (UTC).
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let hour = t.date_naive().and_hms_opt(t.hour(), 0, 0).unwrap_or_default();
        let day = t.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
        Utc.from_utc_datetime(&match self {
            Granularity::Hour => hour,
            Granularity::Day => day,
        })
    }

    /// The smallest bucket start not before `t`.
    pub fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(t);
        if floor == t { t } else { floor + self.step() }
    }

    /// The name of the bucket starting at `start`, as used in counter keys.
    pub fn bucket_id(self, start: DateTime<Utc>) -> String {
        match self {
            Granularity::Hour => start.format("h%Y%m%d%H").to_string(),
            Granularity::Day => start.format("d%Y%m%d").to_string(),
        }
    }

    /// The most buckets one report may hold.
    pub fn max_buckets(self) -> usize {
        match self {
            Granularity::Hour => MAX_HOUR_BUCKETS,
            Granularity::Day => MAX_DAY_BUCKETS,
        }
    }
}

/// 92 days of hours.
pub const MAX_HOUR_BUCKETS: usize = 92 * 24;
pub const MAX_DAY_BUCKETS: usize = 366;
pub const DEFAULT_RANGE_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum ReportFormat {
    Json,
    Csv,
}

/// The buckets a report covers: `[from, to)`, both on bucket boundaries.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub format: ReportFormat,
}

/// One of a closed set of words, `default` when absent.
fn parse_choice<T: std::str::FromStr + Copy>(
    field: &str,
    value: Option<&str>,
    default: T,
    expected: &str,
    errors: &mut Vec<FieldError>,
) -> T {
    match value.map(str::parse::<T>) {
        None => default,
        Some(Ok(choice)) => choice,
        Some(Err(_)) => {
            errors.push(FieldError::new(field, expected));
            default
        }
    }
}

/// An RFC 3339 time, or a date (midnight UTC).
fn parse_time(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t));
    }
    errors.push(FieldError::new(
        field,
        "an RFC 3339 time (2026-11-25T12:00:00Z) or a date (2026-11-25)",
    ));
    None
}

impl ReportRange {
    /// `from` defaults to 7 days before `to`, `to` to now, `granularity` to `day`, `format` to
    /// `json`. `from` is rounded down and `to` up to bucket boundaries.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        granularity: Option<&str>,
        format: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ReportRange> {
        let mut errors = Vec::new();
        let granularity = parse_choice("granularity", granularity, Granularity::Day, "hour or day", &mut errors);
        let format = parse_choice("format", format, ReportFormat::Json, "json or csv", &mut errors);
        let to = match to {
            Some(t) => parse_time("to", t, &mut errors),
            None => Some(now),
        };
        let from = match from {
            Some(f) => parse_time("from", f, &mut errors),
            None => to.map(|t| t - Duration::days(DEFAULT_RANGE_DAYS)),
        };
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                errors.push(FieldError::new("from", "must be before to"));
            } else {
                let buckets = (granularity.ceil(t) - granularity.floor(f)).num_seconds() / granularity.step().num_seconds();
                if buckets > granularity.max_buckets() as i64 {
                    errors.push(FieldError::new(
                        "to",
                        format!(
                            "a report holds at most {} {} buckets",
                            granularity.max_buckets(),
                            if granularity == Granularity::Hour { "hourly" } else { "daily" }
                        ),
                    ));
                }
            }
        }
        match (from, to) {
            (Some(f), Some(t)) if errors.is_empty() => Ok(ReportRange {
                from: granularity.floor(f),
                to: granularity.ceil(t),
                granularity,
                format,
            }),
            _ => Err(Error::Validation(errors)),
        }
    }

    /// The start of every bucket, oldest first.
    pub fn starts(&self) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = self.from;
        while t < self.to {
            out.push(t);
            t += self.granularity.step();
        }
        out
    }
}

/// What the counters hold for one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketCounts {
    pub impressions: u64,
    pub clicks: u64,
    pub spend_micros: i64,
    pub hides: u64,
    pub reports: u64,
    pub unique_reach: u64,
    pub unbilled: u64,
}

/// The figures of one bucket, or of the whole range (where `unique_reach` counts each viewer once
/// over the range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportFigures {
    pub impressions: u64,
    pub clicks: u64,
    /// clicks ÷ impressions (0 without impressions).
    pub ctr: f64,
    /// Distinct viewers with a counted impression (HyperLogLog estimate, ~1% error).
    pub unique_reach: u64,
    pub spend_micros: i64,
    pub hides: u64,
    pub reports: u64,
    /// Impressions of cards handed out before the budget (or the day's budget) ran out, shown
    /// after it did: not charged, not in `impressions`, `unique_reach` or `spend_micros`.
    pub unbilled: u64,
}

impl From<&BucketCounts> for ReportFigures {
    fn from(c: &BucketCounts) -> ReportFigures {
        ReportFigures {
            impressions: c.impressions,
            clicks: c.clicks,
            ctr: ctr(c.clicks, c.impressions),
            unique_reach: c.unique_reach,
            spend_micros: c.spend_micros,
            hides: c.hides,
            reports: c.reports,
            unbilled: c.unbilled,
        }
    }
}

/// One bucket: its start and its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportBucket {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: ReportFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub campaign_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub buckets: Vec<ReportBucket>,
    pub total: ReportFigures,
}

fn ctr(clicks: u64, impressions: u64) -> f64 {
    if impressions == 0 {
        0.0
    } else {
        clicks as f64 / impressions as f64
    }
}

pub const CSV_HEADER: &str = "start,impressions,clicks,ctr,unique_reach,spend_micros,hides,reports,unbilled";

impl Report {
    /// `counts` holds one entry per bucket of `range`, in order; `total_reach` is the reach over
    /// the whole range (not the sum of the buckets' reach).
    pub fn build(campaign_id: &str, range: &ReportRange, counts: &[BucketCounts], total_reach: u64) -> Report {
        let buckets: Vec<ReportBucket> = range
            .starts()
            .into_iter()
            .zip(counts)
            .map(|(start, c)| ReportBucket { start, figures: c.into() })
            .collect();
        let all = counts.iter().fold(BucketCounts::default(), |sum, c| BucketCounts {
            impressions: sum.impressions + c.impressions,
            clicks: sum.clicks + c.clicks,
            spend_micros: sum.spend_micros + c.spend_micros,
            hides: sum.hides + c.hides,
            reports: sum.reports + c.reports,
            unbilled: sum.unbilled + c.unbilled,
            // Not the sum of the buckets' reach: a viewer seen in two buckets counts once.
            unique_reach: total_reach,
        });
        let total = ReportFigures::from(&all);
        Report {
            campaign_id: campaign_id.to_owned(),
            from: range.from,
            to: range.to,
            granularity: range.granularity,
            buckets,
            total,
        }
    }

    /// One header row and one row per bucket (no total row: every column but `unique_reach` and
    /// `ctr` sums to it, and a different row would trip up spreadsheet imports).
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(64 * (self.buckets.len() + 1));
        out.push_str(CSV_HEADER);
        out.push_str("\r\n");
        for ReportBucket { start, figures: b } in &self.buckets {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\r\n",
                start.to_rfc3339_opts(SecondsFormat::Secs, true),
                b.impressions,
                b.clicks,
                b.ctr,
                b.unique_reach,
                b.spend_micros,
                b.hides,
                b.reports,
                b.unbilled
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_and_alignment() {
        let now = t("2026-11-25T12:34:56Z");
        let r = ReportRange::parse(None, None, None, None, now).unwrap();
        assert_eq!((r.from, r.to), (t("2026-11-18T00:00:00Z"), t("2026-11-26T00:00:00Z")));
        assert_eq!(r.starts().len(), 8);
        assert_eq!(r.format, ReportFormat::Json);
        let r = ReportRange::parse(
            Some("2026-11-25T10:30:00Z"),
            Some("2026-11-25T12:00:00Z"),
            Some("hour"),
            Some("csv"),
            now,
        )
        .unwrap();
        assert_eq!(r.starts(), [t("2026-11-25T10:00:00Z"), t("2026-11-25T11:00:00Z")]);
        assert_eq!(r.format, ReportFormat::Csv);
        let r = ReportRange::parse(Some("2026-11-01"), Some("2026-11-03"), None, None, now).unwrap();
        assert_eq!(r.starts().len(), 2);
        assert_eq!(Granularity::Hour.bucket_id(t("2026-11-25T09:00:00Z")), "h2026112509");
        assert_eq!(Granularity::Day.bucket_id(t("2026-11-25T00:00:00Z")), "d20261125");
    }

    #[test]
    fn bad_ranges() {
        let now = t("2026-11-25T12:00:00Z");
        let fields = |r: Result<ReportRange>| match r {
            Err(Error::Validation(e)) => e.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fields(ReportRange::parse(Some("2026-11-25"), Some("2026-11-24"), None, None, now)),
            ["from"]
        );
        assert_eq!(
            fields(ReportRange::parse(Some("2026-11-25"), Some("2026-11-25"), None, None, now)),
            ["from"]
        );
        assert_eq!(
            fields(ReportRange::parse(Some("soon"), Some("later"), Some("week"), Some("xml"), now)),
            ["granularity", "format", "to", "from"]
        );
        assert_eq!(
            fields(ReportRange::parse(Some("2025-01-01"), Some("2026-11-25"), None, None, now)),
            ["to"]
        );
        assert!(ReportRange::parse(Some("2025-11-25"), Some("2026-11-25"), None, None, now).is_ok());
        assert_eq!(
            fields(ReportRange::parse(Some("2026-08-01"), Some("2026-11-25"), Some("hour"), None, now)),
            ["to"]
        );
    }

    #[test]
    fn totals_and_csv() {
        let now = t("2026-11-25T12:00:00Z");
        let range = ReportRange::parse(Some("2026-11-24"), Some("2026-11-26"), None, Some("csv"), now).unwrap();
        let counts = [
            BucketCounts {
                impressions: 4,
                clicks: 1,
                spend_micros: 40,
                hides: 1,
                reports: 0,
                unique_reach: 3,
                unbilled: 2,
            },
            BucketCounts::default(),
        ];
        let r = Report::build("k1", &range, &counts, 3);
        assert_eq!(r.buckets[0].figures.ctr, 0.25);
        assert_eq!(r.buckets[1].figures.ctr, 0.0);
        assert_eq!(r.total.impressions, 4);
        assert_eq!(r.total.unique_reach, 3);
        assert_eq!(r.total.unbilled, 2);
        assert_eq!(
            r.to_csv(),
            format!("{CSV_HEADER}\r\n2026-11-24T00:00:00Z,4,1,0.25,3,40,1,0,2\r\n2026-11-25T00:00:00Z,0,0,0,0,0,0,0,0\r\n")
        );
    }
}
