//! ISO 8601 / DALI times as they arrive in parameters, REST bodies, FITS headers and stored
//! timestamps: the one parser every crate uses.
//!
//! Accepted: a date and time separated by `T` or a blank, with or without a fraction (any
//! number of digits up to nanoseconds) and seconds, with an optional trailing `Z`; or a date
//! alone (midnight). [`parse_utc_millis`] also honours an RFC 3339 zone offset.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// A date-time without zone (the caller knows its scale: UTC, TAI…), or `None` when the text
/// is not one of the accepted forms.
pub fn parse_iso(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim().trim_end_matches('Z');
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
}

/// Milliseconds since 1970 of a UTC time: an RFC 3339 offset is applied, text without zone
/// is UTC.
pub fn parse_utc_millis(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp_millis());
    }
    parse_iso(t).map(|d| d.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_form_reads_the_same_instant() {
        let want = NaiveDate::from_ymd_opt(2025, 12, 2)
            .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 123_456))
            .expect("date");
        for text in [
            "2025-12-02T03:04:05.123456",
            "2025-12-02 03:04:05.123456",
            " 2025-12-02T03:04:05.123456Z ",
        ] {
            assert_eq!(parse_iso(text), Some(want), "{text}");
        }
        let minute = NaiveDate::from_ymd_opt(2025, 12, 2).and_then(|d| d.and_hms_opt(3, 4, 0));
        assert_eq!(parse_iso("2025-12-02T03:04"), minute);
        let midnight = NaiveDate::from_ymd_opt(2025, 12, 2).and_then(|d| d.and_hms_opt(0, 0, 0));
        assert_eq!(parse_iso("2025-12-02"), midnight);
        let nanos = parse_iso("2025-12-02T03:04:05.123456789").expect("nanoseconds");
        assert_eq!(nanos.and_utc().timestamp_subsec_nanos(), 123_456_789);
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-12-02T25:00:00",
            "02/12/25",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn zones_are_honoured_and_no_zone_means_utc() {
        // 1970-01-01T01:00:00+01:00 is the epoch itself.
        assert_eq!(parse_utc_millis("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_utc_millis("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_utc_millis("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_utc_millis("soon"), None);
    }
}
