//! Times of header translation: parsing FITS ISO dates and MJDs in a time scale, and writing
//! ConsDB's TAI forms (ISO with microseconds, MJD).

use hifitime::{Duration, Epoch, TimeScale};

/// The time scale a `TIMESYS` value names (TAI, UTC, TT…; UTC when unknown).
pub fn scale(timesys: Option<&str>) -> TimeScale {
    match timesys.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("tai") => TimeScale::TAI,
        Some("tt") | Some("tdt") => TimeScale::TT,
        Some("tdb") => TimeScale::TDB,
        Some("gps") => TimeScale::GPST,
        _ => TimeScale::UTC,
    }
}

/// A FITS ISO date (`YYYY-MM-DDTHH:MM:SS[.f…]`, or a date alone) in `scale`.
pub fn parse_iso(text: &str, scale: TimeScale) -> Option<Epoch> {
    let dt = crate::convert::parse_iso(text)?;
    use chrono::{Datelike, Timelike};
    let midnight = Epoch::from_gregorian(
        dt.year(),
        u8::try_from(dt.month()).ok()?,
        u8::try_from(dt.day()).ok()?,
        0,
        0,
        0,
        0,
        scale,
    );
    let seconds = i64::from(dt.num_seconds_from_midnight());
    Some(
        midnight
            + Duration::from_seconds(seconds as f64)
            + Duration::from_total_nanoseconds(i128::from(dt.nanosecond())),
    )
}

/// An MJD in `scale`.
pub fn from_mjd(mjd: f64, scale: TimeScale) -> Option<Epoch> {
    mjd.is_finite()
        .then(|| Epoch::from_mjd_in_time_scale(mjd, scale))
}

/// TAI ISO text with six fraction digits, as ConsDB stores times.
pub fn tai_iso(epoch: Epoch) -> String {
    // Rounded to the microsecond first, so 59.9999996 s becomes the next minute.
    let micros = (epoch
        .to_duration_in_time_scale(TimeScale::TAI)
        .total_nanoseconds() as f64
        / 1000.0)
        .round();
    let rounded = Epoch::from_duration(
        Duration::from_total_nanoseconds((micros * 1000.0) as i128),
        TimeScale::TAI,
    );
    let (y, mo, d, h, mi, s, ns) = rounded.to_gregorian(TimeScale::TAI);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}",
        (ns + 500) / 1000 % 1_000_000
    )
}

/// TAI MJD.
pub fn tai_mjd(epoch: Epoch) -> f64 {
    epoch.to_mjd_tai_days()
}

/// UTC as a two-part Julian date (for the SOFA routines).
pub fn utc_jd(epoch: Epoch) -> (f64, f64) {
    (2_400_000.5, epoch.to_mjd_utc_days())
}

/// The calendar date (YYYYMMDD) of `epoch` in TAI after subtracting `hours`.
pub fn day_obs(epoch: Epoch, hours: f64) -> i64 {
    let shifted = epoch - Duration::from_seconds(hours * 3600.0);
    let (y, m, d, ..) = shifted.to_gregorian(TimeScale::TAI);
    i64::from(y) * 10_000 + i64::from(m) * 100 + i64::from(d)
}

/// The instant of a UTC calendar date and time, for date thresholds.
pub fn utc(y: i32, m: u8, d: u8, h: u8, mi: u8) -> Epoch {
    Epoch::from_gregorian(y, m, d, h, mi, 0, 0, TimeScale::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_tai() {
        let e = parse_iso("2024-05-28T22:18:26.874", TimeScale::TAI).expect("parse");
        assert_eq!(tai_iso(e), "2024-05-28T22:18:26.874000");
        let u = parse_iso("2024-05-28T22:18:26.874", TimeScale::UTC).expect("parse");
        assert_eq!(tai_iso(u), "2024-05-28T22:19:03.874000", "37 s TAI-UTC");
        let m = from_mjd(60458.929471360774, TimeScale::TAI).expect("mjd");
        assert!((tai_mjd(m) - 60458.929471360774).abs() < 1e-10);
        assert_eq!(day_obs(e, 12.0), 20240528);
    }
}
