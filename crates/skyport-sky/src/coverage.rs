//! Coverage maps (IVOA MOC 2.0): which HEALPix cells of the sky, and which moments of time
//! with which cells, hold data. Built with CDS's `moc` crate (and its `cdshealpix`); this
//! module gives skyport's shapes a way in and MOC 2.0's FITS, JSON and ASCII ways out.
//!
//! A shape's MOC holds every cell the shape touches, so it is never smaller than the shape:
//! "the coverage does not meet this region" is then a proof that no footprint does.

use std::ops::Range;

use moc::deser::ascii::from_ascii_ivoa;
use moc::deser::fits::ranges_st_to_fits_ivoa;
use moc::elemset::range::{HpxRanges, MocRanges};
use moc::hpxranges2d::TimeSpaceMoc;
use moc::moc::range::{CellSelection, RangeMOC};
use moc::moc::{
    CellMOCIterator, CellOrCellRangeMOCIntoIterator, CellOrCellRangeMOCIterator, HasMaxDepth,
    RangeMOCIntoIterator, RangeMOCIterator,
};
use moc::moc2d::range::RangeMOC2;
use moc::moc2d::{
    CellMOC2IntoIterator, CellMOC2Iterator, RangeMOC2IntoIterator, RangeMOC2Iterator,
};
use moc::qty::{Hpx, MocQty, Time};

use crate::Shape;

/// The deepest HEALPix order a space MOC may have (MOC 2.0: 29).
pub const MAX_SPACE_ORDER: u8 = 29;

/// The deepest time order (MOC 2.0: 61, one microsecond).
pub const MAX_TIME_ORDER: u8 = 61;

/// Errors reading or writing a MOC.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MocError {
    /// An order beyond what MOC 2.0 allows.
    #[error("order {0} is beyond the deepest allowed ({1})")]
    Order(u8, u8),
    /// A stored MOC that does not parse.
    #[error("not a MOC: {0}")]
    Parse(String),
    /// Writing a serialisation failed.
    #[error("writing the MOC failed: {0}")]
    Write(String),
}

/// A space MOC: a set of HEALPix cells (nested scheme, ICRS), kept as ranges at its order.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceMoc(RangeMOC<u64, Hpx<u64>>);

impl SpaceMoc {
    /// The empty coverage at `order`.
    pub fn empty(order: u8) -> Result<SpaceMoc, MocError> {
        check(order, MAX_SPACE_ORDER)?;
        Ok(SpaceMoc(RangeMOC::new(
            order,
            MocRanges::new_unchecked(Vec::new()),
        )))
    }

    /// Every cell at `order` that `shape` touches. Cells only partly inside count, so the
    /// result covers the whole shape.
    pub fn of_shape(shape: &Shape, order: u8) -> Result<SpaceMoc, MocError> {
        check(order, MAX_SPACE_ORDER)?;
        let moc = match shape {
            Shape::Point(p) => {
                let cell = cdshealpix::nested::hash(order, p.ra.to_radians(), p.dec.to_radians());
                let shift = 2 * (MAX_SPACE_ORDER - order) as u32;
                RangeMOC::new(
                    order,
                    MocRanges::new_unchecked(
                        std::iter::once((cell << shift)..((cell + 1) << shift)).collect(),
                    ),
                )
            }
            Shape::Circle { center, radius } => RangeMOC::from_cone(
                center.ra.to_radians(),
                center.dec.to_radians(),
                radius.to_radians().max(1e-12),
                order,
                2,
                CellSelection::All,
            ),
            Shape::Polygon(polygon) => {
                let vertices: Vec<(f64, f64)> = polygon
                    .vertices()
                    .iter()
                    .map(|v| (v.ra.to_radians(), v.dec.to_radians()))
                    .collect();
                guarded(|| RangeMOC::from_polygon(&vertices, false, order, CellSelection::All))?
            }
        };
        Ok(SpaceMoc(moc))
    }

    /// Every cell at `order` that a longitude/latitude range touches (degrees; longitudes east
    /// from `lon_min` for `lon_span`, which may cross RA = 0).
    pub fn of_zone(
        lon_min: f64,
        lon_span: f64,
        lat_min: f64,
        lat_max: f64,
        order: u8,
    ) -> Result<SpaceMoc, MocError> {
        check(order, MAX_SPACE_ORDER)?;
        let finite = [lon_min, lon_span, lat_min, lat_max]
            .iter()
            .all(|x| x.is_finite());
        if !finite || lon_span <= 0.0 || lat_min >= lat_max {
            return Err(MocError::Parse("not a range of the sky".into()));
        }
        let (lat_lo, lat_hi) = (lat_min.max(-90.0), lat_max.min(90.0));
        // cdshealpix takes west in [0, 2π), east in (0, 2π] (west > east: across RA = 0).
        let (west, east) = if lon_span >= 360.0 {
            (0.0, 360.0)
        } else {
            let west = lon_min.rem_euclid(360.0);
            let east = (west + lon_span).rem_euclid(360.0);
            (west, if east == 0.0 { 360.0 } else { east })
        };
        guarded(|| {
            RangeMOC::from_zone(
                west.to_radians(),
                lat_lo.to_radians(),
                east.to_radians().min(2.0 * std::f64::consts::PI),
                lat_hi.to_radians().min(std::f64::consts::FRAC_PI_2),
                order,
                CellSelection::All,
            )
        })
        .map(SpaceMoc)
    }

    /// The union of many MOCs at once (sorting all ranges together, not one union after
    /// another), at the deepest of their orders; `order` when there are none.
    pub fn union_all<'a>(mocs: impl IntoIterator<Item = &'a SpaceMoc>, order: u8) -> SpaceMoc {
        let mut depth = order;
        let mut ranges: Vec<Range<u64>> = Vec::new();
        for m in mocs {
            depth = depth.max(m.0.depth_max());
            ranges.extend(m.0.moc_ranges().0 .0.iter().cloned());
        }
        SpaceMoc(RangeMOC::new(depth, MocRanges::new_from(ranges)))
    }

    /// Cells in either.
    pub fn union(&self, other: &SpaceMoc) -> SpaceMoc {
        SpaceMoc(self.0.or(&other.0))
    }

    /// Whether the two share any cell.
    pub fn intersects(&self, other: &SpaceMoc) -> bool {
        !self.0.and(&other.0).is_empty()
    }

    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The MOC's order.
    pub fn order(&self) -> u8 {
        self.0.depth_max()
    }

    /// The same coverage at a coarser `order` (a cell is kept when any part of it is covered);
    /// unchanged when `order` is not coarser.
    pub fn degraded(&self, order: u8) -> SpaceMoc {
        if order >= self.order() {
            self.clone()
        } else {
            SpaceMoc(self.0.degraded(order))
        }
    }

    /// The fraction of the sky covered, in [0, 1].
    pub fn sky_fraction(&self) -> f64 {
        self.0.coverage_percentage()
    }

    /// The ranges of cells at order 29 (MOC 2.0's range serialisation), sorted and disjoint.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.0.moc_ranges().0 .0
    }

    /// Whether the cell holding this position (degrees) is covered.
    pub fn contains(&self, ra: f64, dec: f64) -> bool {
        self.0.is_in(ra.to_radians(), dec.to_radians())
    }

    /// MOC 2.0 ASCII (`order/cells … order/`), the form skyport stores.
    pub fn to_ascii(&self) -> Result<String, MocError> {
        let mut out = Vec::new();
        (&self.0)
            .into_range_moc_iter()
            .cells()
            .cellranges()
            .to_ascii_ivoa(None, false, &mut out)
            .map_err(|e| MocError::Write(e.to_string()))?;
        String::from_utf8(out).map_err(|e| MocError::Write(e.to_string()))
    }

    /// Reads MOC 2.0 ASCII (as written by [`to_ascii`](Self::to_ascii)).
    pub fn from_ascii(text: &str) -> Result<SpaceMoc, MocError> {
        let parsed = from_ascii_ivoa::<u64, Hpx<u64>>(text.trim())
            .map_err(|e| MocError::Parse(e.to_string()))?;
        let depth = parsed.depth_max();
        check(depth, MAX_SPACE_ORDER)?;
        Ok(SpaceMoc(
            parsed
                .into_cellcellrange_moc_iter()
                .ranges()
                .into_range_moc(),
        ))
    }

    /// MOC 2.0 FITS (`MOCDIM = SPACE`, range serialisation).
    pub fn to_fits(&self) -> Result<Vec<u8>, MocError> {
        let mut out = Vec::new();
        (&self.0)
            .into_range_moc_iter()
            .to_fits_ivoa(None, None, &mut out)
            .map_err(|e| MocError::Write(e.to_string()))?;
        Ok(out)
    }

    /// MOC JSON (`{"order": [cells…], …}`, as Aladin and mocpy read it).
    pub fn to_json(&self) -> Result<String, MocError> {
        let mut out = Vec::new();
        (&self.0)
            .into_range_moc_iter()
            .cells()
            .to_json_aladin(None, &mut out)
            .map_err(|e| MocError::Write(e.to_string()))?;
        String::from_utf8(out).map_err(|e| MocError::Write(e.to_string()))
    }
}

/// One observation of a space-time MOC: when (MJD, start ≤ end) and where.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// Start and end (MJD, UTC).
    pub mjd: (f64, f64),
    /// Where.
    pub space: &'a SpaceMoc,
}

/// A space-time MOC: for time cells (µs since JD 0, at its time order), the sky cells observed.
#[derive(Debug, Clone)]
pub struct SpaceTimeMoc(RangeMOC2<u64, Time<u64>, u64, Hpx<u64>>);

impl SpaceTimeMoc {
    /// The coverage of `observations` at `time_order` × `space_order`.
    pub fn build(
        observations: &[Observed<'_>],
        time_order: u8,
        space_order: u8,
    ) -> Result<SpaceTimeMoc, MocError> {
        check(time_order, MAX_TIME_ORDER)?;
        check(space_order, MAX_SPACE_ORDER)?;
        let mut times = Vec::with_capacity(observations.len());
        let mut spaces: Vec<HpxRanges<u64>> = Vec::with_capacity(observations.len());
        for o in observations {
            let (start, end) = (mjd_to_microseconds(o.mjd.0), mjd_to_microseconds(o.mjd.1));
            // A time range is half-open; an instant still covers its microsecond.
            times.push(start.min(end)..start.max(end).max(start.min(end) + 1));
            let space = o.space.degraded(space_order);
            spaces.push(MocRanges::new_unchecked(space.ranges().to_vec()));
        }
        let moc = TimeSpaceMoc::<u64, u64>::create_from_time_ranges_spatial_coverage(
            times, spaces, time_order,
        );
        Ok(SpaceTimeMoc(
            moc.time_space_iter(time_order, space_order)
                .into_range_moc2(),
        ))
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Observed in either.
    pub fn union(&self, other: &SpaceTimeMoc) -> SpaceTimeMoc {
        SpaceTimeMoc(self.0.or(&other.0))
    }

    /// MOC 2.0 FITS (`MOCDIM = TIME.SPACE`).
    pub fn to_fits(&self) -> Result<Vec<u8>, MocError> {
        let mut out = Vec::new();
        ranges_st_to_fits_ivoa((&self.0).into_range_moc2_iter(), None, None, &mut out)
            .map_err(|e| MocError::Write(e.to_string()))?;
        Ok(out)
    }

    /// MOC JSON of a space-time MOC (`[{"t": {…}, "s": {…}}, …]`).
    pub fn to_json(&self) -> Result<String, MocError> {
        let mut out = Vec::new();
        (&self.0)
            .into_range_moc2_iter()
            .into_cell_moc2_iter()
            .to_json_aladin(&None, &mut out)
            .map_err(|e| MocError::Write(e.to_string()))?;
        String::from_utf8(out).map_err(|e| MocError::Write(e.to_string()))
    }
}

/// The MOC 2.0 time of a Modified Julian Date in UTC: microseconds since JD 0 in TCB, as MOC 2.0
/// §4.2 counts time. UTC becomes TT through the leap-second table (hifitime), TT becomes TCB
/// by IAU 2006 Resolution B3's rate (TDB and TT differ by under 2 ms, far below a time cell).
/// Dates outside JD 0 to year 9999 are clamped.
pub fn mjd_to_microseconds(mjd: f64) -> u64 {
    const L_B: f64 = 1.550519768e-8;
    const T0_JD: f64 = 2_443_144.500_372_5;
    if !mjd.is_finite() {
        return 0;
    }
    // JD 0 to the end of year 9999.
    let mjd = mjd.clamp(-2_400_000.5, 2_973_483.0);
    let tt_jd = hifitime::Epoch::from_mjd_utc(mjd).to_jde_tt_days();
    let tcb_jd = tt_jd + L_B * (tt_jd - T0_JD);
    let us = tcb_jd * 86_400_000_000.0;
    if us > 0.0 {
        (us as u64).min(Time::<u64>::n_cells_max() - 1)
    } else {
        0
    }
}

/// Runs a cdshealpix coverage, which panics (rather than failing) on input it does not take:
/// a request must get an error, not a dead worker.
fn guarded<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, MocError> {
    std::panic::catch_unwind(f).map_err(|_| MocError::Parse("a region HEALPix cannot cover".into()))
}

fn check(order: u8, max: u8) -> Result<(), MocError> {
    if order > max {
        Err(MocError::Order(order, max))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SkyPoint;

    fn cone(ra: f64, dec: f64, r: f64) -> Shape {
        Shape::circle(SkyPoint::new(ra, dec).expect("point"), r).expect("circle")
    }

    #[test]
    fn a_shape_is_inside_its_moc() {
        let moc = SpaceMoc::of_shape(&cone(10.0, -30.0, 0.5), 10).expect("moc");
        assert!(moc.contains(10.0, -30.0));
        assert!(moc.contains(10.0, -30.49));
        assert!(!moc.contains(10.0, -31.0));
        assert!(!moc.contains(190.0, 30.0));
    }

    #[test]
    fn ascii_round_trips_and_unions_agree() {
        let a = SpaceMoc::of_shape(&cone(10.0, -30.0, 0.5), 10).expect("a");
        let b = SpaceMoc::of_shape(&cone(200.0, 45.0, 1.0), 9).expect("b");
        let back = SpaceMoc::from_ascii(&a.to_ascii().expect("ascii")).expect("parse");
        assert_eq!(back.ranges(), a.ranges());
        let pairwise = a.union(&b);
        let at_once = SpaceMoc::union_all([&a, &b], 0);
        assert_eq!(pairwise.ranges(), at_once.ranges());
        assert!(pairwise.intersects(&a) && pairwise.intersects(&b));
        assert!(!a.intersects(&b));
        assert!(SpaceMoc::from_ascii("7/ nonsense").is_err());
    }

    #[test]
    fn degrading_keeps_every_covered_cell() {
        let a = SpaceMoc::of_shape(&cone(10.0, -30.0, 0.5), 10).expect("a");
        let coarse = a.degraded(5);
        assert_eq!(coarse.order(), 5);
        assert!(coarse.sky_fraction() >= a.sky_fraction());
        assert_eq!(
            SpaceMoc::union_all([&coarse, &a], 0).ranges(),
            coarse.ranges()
        );
    }

    #[test]
    fn zones_cover_their_inside_even_across_ra_zero() {
        let z = SpaceMoc::of_zone(350.0, 20.0, -10.0, 10.0, 8).expect("zone");
        assert!(z.contains(355.0, 0.0) && z.contains(5.0, 9.9));
        assert!(!z.contains(180.0, 0.0) && !z.contains(0.0, 20.0));
        let band = SpaceMoc::of_zone(0.0, 360.0, 80.0, 90.0, 6).expect("cap");
        assert!(band.contains(123.0, 85.0) && !band.contains(123.0, 70.0));
        assert!(SpaceMoc::of_zone(0.0, 10.0, 5.0, 5.0, 6).is_err());
    }

    #[test]
    fn moc_time_is_tcb() {
        // 2026-01-01T00:00:00 UTC: TT is 69.184 s later (37 leap seconds + 32.184 s), TCB
        // another L_B·(JD − T0)·86400 ≈ 23.9 s (astropy: Time('2026-01-01', scale='utc').tcb).
        let mjd = 61_041.0;
        let utc_us = (mjd + 2_400_000.5) * 86_400_000_000.0;
        let ahead = (mjd_to_microseconds(mjd) as f64 - utc_us) / 1e6;
        assert!((ahead - 93.1).abs() < 0.2, "{ahead}");
        assert_eq!(mjd_to_microseconds(f64::NAN), 0);
        assert!(mjd_to_microseconds(1e300) < Time::<u64>::n_cells_max());
    }

    #[test]
    fn orders_beyond_the_standard_are_refused() {
        assert!(SpaceMoc::empty(30).is_err());
        assert!(SpaceMoc::of_shape(&cone(0.0, 0.0, 1.0), 30).is_err());
    }

    #[test]
    fn space_time_moc_serialises() {
        let a = SpaceMoc::of_shape(&cone(10.0, -30.0, 0.5), 8).expect("a");
        let st = SpaceTimeMoc::build(
            &[Observed {
                mjd: (60_000.0, 60_000.001),
                space: &a,
            }],
            35,
            8,
        )
        .expect("st");
        assert!(!st.is_empty());
        let fits = st.to_fits().expect("fits");
        assert_eq!(fits.len() % 2880, 0);
        assert!(String::from_utf8_lossy(&fits[..2880 * 2]).contains("TIME.SPACE"));
        assert!(st.to_json().expect("json").contains("\"t\""));
    }
}
