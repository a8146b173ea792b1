//! SODA request parameters: which images (`ID`, or none to search ObsCore), which regions
//! (`POS`, `CIRCLE`, `POLYGON`, `BRECT`, `STAMPS`), the `BAND`/`TIME` filters, the planes
//! (`CUTOUTDETAIL`), the output (`COMPRESSION`, `RESPONSEFORMAT`).

use skyport_fits::{Compression, CutoutRegion};
use skyport_sky::Region;
use skyport_sky::{Shape, SkyPoint};
use skyport_votable::{read_votable, Datum};

use crate::dali::interval::{interval, Interval};
use crate::dali::shapes::{circle, number, point, polygon, pos};
use crate::dali::{DaliError, DaliParams};

/// Which planes of a multi-plane image are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The science image only.
    Image,
    /// Image, mask and variance.
    Masked,
    /// Every image HDU of the science image's size.
    Full,
}

impl Detail {
    /// Rubin's names (`Image`, `MaskedImage`, `Exposure`, as its cutout service takes them),
    /// or skyport's earlier ones (`image`, `masked`, `full`), in any case.
    pub fn parse(value: &str) -> Option<Detail> {
        match value.trim().to_ascii_lowercase().as_str() {
            "image" => Some(Detail::Image),
            "maskedimage" | "masked" => Some(Detail::Masked),
            "exposure" | "full" => Some(Detail::Full),
            _ => None,
        }
    }

    /// The name descriptors give it (Rubin's).
    pub fn name(self) -> &'static str {
        match self {
            Detail::Image => "Image",
            Detail::Masked => "MaskedImage",
            Detail::Full => "Exposure",
        }
    }

    /// Every detail, in the order descriptors list them.
    pub const ALL: [Detail; 3] = [Detail::Image, Detail::Masked, Detail::Full];
}

/// How several cutouts are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package {
    /// One FITS file per cutout (async results; a single sync cutout).
    Separate,
    /// One multi-extension FITS file with an `INDEX` table at the end.
    Mef,
    /// A tar of FITS files with an `index.csv`.
    Tar,
}

/// MIME type of tar output.
pub const TAR_MIME: &str = "application/x-tar";
/// MIME type of FITS output.
pub const FITS_MIME: &str = "application/fits";

/// A region to cut, as asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The parameter text it came from (for indexes and messages).
    pub label: String,
    /// The region.
    pub region: CutoutRegion,
    /// The image it is meant for (a `STAMPS` row with an `id`).
    pub id: Option<String>,
}

/// A parsed SODA request.
#[derive(Debug, Clone, PartialEq)]
pub struct SodaRequest {
    /// Dataset IDs, in order; empty means "every image holding the region's centre".
    pub ids: Vec<String>,
    /// Regions, in order.
    pub targets: Vec<Target>,
    /// BAND filters (any may match), metres.
    pub band: Vec<Interval>,
    /// TIME filters (any may match), MJD.
    pub time: Vec<Interval>,
    /// Planes to cut.
    pub detail: Detail,
    /// Tile compression of the output.
    pub compression: Option<Compression>,
    /// Packaging, when RESPONSEFORMAT chose one.
    pub package: Option<Package>,
}

/// Parses a request; `stamps` is the content of an uploaded `STAMPS` table, if any, of which
/// at most `max_stamps` rows are read (more are refused before they are parsed).
pub fn parse(
    params: &DaliParams,
    stamps: Option<&[u8]>,
    max_stamps: usize,
) -> Result<SodaRequest, DaliError> {
    let request = parse_parts(params, stamps, max_stamps)?;
    if request.targets.is_empty() {
        return Err(DaliError::usage(
            "no region: give POS, CIRCLE, POLYGON, BRECT or a STAMPS table",
        ));
    }
    Ok(request)
}

/// Parses and checks every parameter given, without asking for a region (an async job may
/// get its parameters in several steps).
pub fn parse_parts(
    params: &DaliParams,
    stamps: Option<&[u8]>,
    max_stamps: usize,
) -> Result<SodaRequest, DaliError> {
    let ids: Vec<String> = params.all("ID").into_iter().map(str::to_string).collect();
    if let Some(empty) = ids.iter().find(|i| i.trim().is_empty()) {
        return Err(DaliError::usage(format!("ID={empty:?} is empty")));
    }
    let mut targets = Vec::new();
    for v in params.all("POS") {
        targets.push(target(format!("POS={v}"), CutoutRegion::Sky(pos(v)?)));
    }
    for v in params.all("CIRCLE") {
        targets.push(target(
            format!("CIRCLE={v}"),
            CutoutRegion::Sky(circle("CIRCLE", v)?),
        ));
    }
    for v in params.all("POLYGON") {
        targets.push(target(
            format!("POLYGON={v}"),
            CutoutRegion::Sky(polygon("POLYGON", v)?),
        ));
    }
    for v in params.all("BRECT") {
        targets.push(target(format!("BRECT={v}"), brect(v)?));
    }
    let inline_stamps = params.all("STAMPS");
    if inline_stamps.len() > 1 {
        return Err(DaliError::usage("STAMPS may be given once"));
    }
    match (stamps, inline_stamps.first()) {
        (Some(bytes), _) => targets.extend(stamp_table(bytes, max_stamps)?),
        (None, Some(text)) => targets.extend(stamp_table(text.as_bytes(), max_stamps)?),
        (None, None) => {}
    }
    let band = params
        .all("BAND")
        .into_iter()
        .map(|v| interval("BAND", v))
        .collect::<Result<Vec<_>, _>>()?;
    let time = params
        .all("TIME")
        .into_iter()
        .map(|v| interval("TIME", v))
        .collect::<Result<Vec<_>, _>>()?;
    let detail = match params.single("CUTOUTDETAIL")? {
        None => Detail::Image,
        Some(d) => Detail::parse(d).ok_or_else(|| {
            DaliError::usage(format!(
                "CUTOUTDETAIL={d:?} is not known; use Image, MaskedImage or Exposure"
            ))
        })?,
    };
    let compression = match params.single("COMPRESSION")?.map(str::to_ascii_lowercase) {
        None => None,
        Some(c) => match c.as_str() {
            "none" => None,
            "gzip" => Some(Compression::Gzip),
            "rice" => Some(Compression::Rice),
            _ => {
                return Err(DaliError::usage(format!(
                    "COMPRESSION={c:?} is not known; use none, gzip or rice"
                )))
            }
        },
    };
    let package = match params.single("RESPONSEFORMAT")? {
        None => None,
        Some(f) => {
            let base = f
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match base.as_str() {
                "application/fits" | "image/fits" | "fits" => Some(Package::Mef),
                "application/x-tar" | "tar" => Some(Package::Tar),
                _ => {
                    return Err(DaliError::usage(format!(
                        "RESPONSEFORMAT={f:?} is not available; use {FITS_MIME} or {TAR_MIME}"
                    )))
                }
            }
        }
    };
    Ok(SodaRequest {
        ids,
        targets,
        band,
        time,
        detail,
        compression,
        package,
    })
}

fn target(label: String, region: CutoutRegion) -> Target {
    Target {
        label,
        region,
        id: None,
    }
}

/// A square or rectangle from a size and unit: whole pixels, or a box on the sky.
fn sized(
    param: &str,
    center: SkyPoint,
    (w, h): (f64, f64),
    unit: &str,
) -> Result<CutoutRegion, DaliError> {
    if !(w > 0.0 && h > 0.0) {
        return Err(DaliError::usage(format!(
            "{param}: width and height must be above 0"
        )));
    }
    let degrees = match unit.to_ascii_lowercase().as_str() {
        "pix" | "pixel" | "pixels" => {
            if w.fract() != 0.0 || h.fract() != 0.0 || w > 1e6 || h > 1e6 {
                return Err(DaliError::usage(format!(
                    "{param}: a size in pixels must be a whole number up to 1000000"
                )));
            }
            return Ok(CutoutRegion::Pixels {
                center,
                width: w as u64,
                height: h as u64,
            });
        }
        "deg" => 1.0,
        "arcmin" => 1.0 / 60.0,
        "arcsec" => 1.0 / 3600.0,
        other => {
            return Err(DaliError::usage(format!(
                "{param}: unit {other:?} is not known; use deg, arcmin, arcsec or pix"
            )))
        }
    };
    match Shape::box_shape(center, w * degrees, h * degrees) {
        Ok(Shape::Polygon(p)) => Ok(CutoutRegion::Sky(Region::Polygon(p))),
        Ok(_) => Err(DaliError::usage(format!("{param}: not a box"))),
        Err(e) => Err(DaliError::usage(format!("{param}: {e}"))),
    }
}

/// `BRECT lon lat width height unit` (the dax_imgserv extension): a box centred on a position,
/// its size in `deg`, `arcmin`, `arcsec` or `pix` (whole pixels, centred on the pixel holding
/// the position).
fn brect(text: &str) -> Result<CutoutRegion, DaliError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [lon, lat, w, h, unit] = words[..] else {
        return Err(DaliError::usage(format!(
            "BRECT={text:?}: takes longitude, latitude, width, height and a unit (deg, arcmin, arcsec or pix)"
        )));
    };
    let n = |t: &str| number("BRECT", t, false);
    let center = point("BRECT", n(lon)?, n(lat)?)?;
    sized("BRECT", center, (n(w)?, n(h)?), unit)
}

/// The cells of a line of a text table (comma-, tab- or space-separated).
fn cells(line: &str) -> impl Iterator<Item = &str> {
    line.split([',', '\t', ' ']).filter(|w| !w.is_empty())
}

/// The cells of a text row at the `wanted` positions, empty where a position is absent or
/// beyond the row.
fn pick<S: AsRef<str>>(cells: impl Iterator<Item = S>, wanted: [Option<usize>; 4]) -> [String; 4] {
    let mut out: [String; 4] = Default::default();
    for (k, cell) in cells.enumerate() {
        for (slot, want) in out.iter_mut().zip(wanted) {
            if want == Some(k) {
                *slot = cell.as_ref().to_string();
            }
        }
    }
    out
}

/// Rows of a `STAMPS` table: a VOTable, or text with a header line naming the columns
/// (comma-, tab- or space-separated). Columns: `ra`, `dec` (degrees), `size` (pixels, or
/// `size_deg`/`size_arcmin`/`size_arcsec`; a VOTable `size` column may carry the unit instead)
/// and optionally `id`. More than `max_rows` rows are refused as soon as the reader meets
/// them, and of each row only the cells of those columns are kept.
fn stamp_table(bytes: &[u8], max_rows: usize) -> Result<Vec<Target>, DaliError> {
    let bad = |m: String| DaliError::usage(format!("STAMPS: {m}"));
    let too_many = || {
        bad(format!(
            "the table has more than {max_rows} rows, more cutouts than this request may make"
        ))
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("the table is not UTF-8 text".into()))?;
    // Column names (lower case) with their units.
    type Columns = Vec<(String, Option<String>)>;
    let votable = if text.trim_start().starts_with('<') {
        let table = read_votable(bytes, max_rows).map_err(|e| match e {
            skyport_votable::ReadError::TooManyRows(_) => too_many(),
            e => bad(e.to_string()),
        })?;
        Some(table)
    } else {
        None
    };
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let columns: Columns = match &votable {
        Some(table) => table
            .fields
            .iter()
            .map(|f| (f.name.to_ascii_lowercase(), f.meta.unit.clone()))
            .collect(),
        None => {
            let header = lines
                .next()
                .ok_or_else(|| bad("the table is empty".into()))?;
            cells(header)
                .map(|c| (c.to_ascii_lowercase(), None))
                .collect()
        }
    };
    let find = |name: &str| columns.iter().position(|(c, _)| c == name);
    let (Some(ra), Some(dec)) = (find("ra"), find("dec")) else {
        return Err(bad("the table needs columns ra and dec".into()));
    };
    let (size, unit) = [
        ("size", None),
        ("size_pix", Some("pix")),
        ("size_deg", Some("deg")),
        ("size_arcmin", Some("arcmin")),
        ("size_arcsec", Some("arcsec")),
    ]
    .iter()
    .find_map(|(name, unit)| {
        find(name).map(|i| {
            let declared = columns[i].1.clone();
            (i, unit.map(str::to_string).or(declared))
        })
    })
    .ok_or_else(|| {
        bad("the table needs a size column (size, size_deg, size_arcmin or size_arcsec)".into())
    })?;
    let unit = unit.unwrap_or_else(|| "pix".into());
    let id = find("id");
    // The cells of each row that are read: ra, dec, size and id (empty when absent).
    let wanted = [Some(ra), Some(dec), Some(size), id];
    let rows: Vec<[String; 4]> = match &votable {
        Some(table) => table
            .rows
            .iter()
            // Cells are at hand by position: only the wanted ones become text.
            .map(|r| wanted.map(|k| k.and_then(|k| r.get(k)).map(datum_text).unwrap_or_default()))
            .collect(),
        None => {
            let mut rows = Vec::new();
            for line in lines {
                if rows.len() >= max_rows {
                    return Err(too_many());
                }
                rows.push(pick(cells(line), wanted));
            }
            rows
        }
    };
    if rows.is_empty() {
        return Err(bad("the table has no rows".into()));
    }
    rows.iter()
        .enumerate()
        .map(|(i, [ra, dec, size, id])| {
            let param = format!("STAMPS row {}", i + 1);
            let n = |cell: &str| number(&param, cell, false);
            let center = point(&param, n(ra)?, n(dec)?)?;
            let s = n(size)?;
            Ok(Target {
                label: format!("STAMP {ra} {dec} {size} {unit}"),
                region: sized(&param, center, (s, s), &unit)?,
                id: Some(id.clone()).filter(|v| !v.is_empty()),
            })
        })
        .collect()
}

fn datum_text(d: &Datum) -> String {
    match d {
        Datum::Int(i) => i.to_string(),
        Datum::Float(f) => f.to_string(),
        Datum::Text(t) => t.clone(),
        Datum::Bool(_) | Datum::Null => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&str, &str)]) -> Result<SodaRequest, DaliError> {
        parse(&DaliParams::from_pairs(pairs.iter().copied()), None, 1000)
    }

    #[test]
    fn cutout_details_take_rubins_names_in_any_case_and_skyports_earlier_ones() {
        for (value, detail) in [
            ("Image", Detail::Image),
            ("IMAGE", Detail::Image),
            ("MaskedImage", Detail::Masked),
            ("maskedimage", Detail::Masked),
            ("masked", Detail::Masked),
            ("Exposure", Detail::Full),
            (" full ", Detail::Full),
        ] {
            assert_eq!(Detail::parse(value), Some(detail), "{value}");
        }
        for value in ["", "Masked Image", "exposures", "calexp"] {
            assert_eq!(Detail::parse(value), None, "{value}");
        }
        for detail in Detail::ALL {
            assert_eq!(Detail::parse(detail.name()), Some(detail));
        }
    }

    #[test]
    fn shapes_parse_and_bad_ones_name_the_problem() {
        let r = req(&[
            ("ID", "a"),
            ("POS", "CIRCLE 10 20 0.5"),
            ("POS", "RANGE 350 10 -1 1"),
            ("POLYGON", "1 1 2 1 2 2"),
            ("BRECT", "10 20 51 51 pix"),
            ("CIRCLE", "10 20 0.1"),
        ])
        .expect("parse");
        assert_eq!(r.targets.len(), 5);
        assert_eq!(
            r.targets[1].region,
            CutoutRegion::Sky(Region::Range {
                lon_min: 350.0,
                lon_span: 20.0,
                lat_min: -1.0,
                lat_max: 1.0
            })
        );
        // POS values first, then CIRCLE, POLYGON and BRECT.
        assert!(matches!(
            r.targets[4].region,
            CutoutRegion::Pixels {
                width: 51,
                height: 51,
                ..
            }
        ));
        for (pairs, wanted) in [
            (vec![("POS", "CIRCLE 10 20 0")], "radius must be above 0"),
            (vec![("POS", "CIRCLE 10 20 181")], "at most 180"),
            (vec![("POS", "CIRCLE 10 20")], "three numbers"),
            (vec![("POLYGON", "1 1 2 2")], "at least three"),
            (vec![("POS", "POLYGON 1 1 1 1 2 2")], "3 distinct vertices"),
            (vec![("POS", "BOX 1 1 2 2")], "CIRCLE, RANGE or POLYGON"),
            (vec![("POS", "RANGE 1 2 5 3")], "latitudes must increase"),
            (vec![("CIRCLE", "10 95 1")], "latitude"),
            (vec![("BRECT", "10 20 5 5 furlong")], "furlong"),
            (vec![("BRECT", "10 20 5.5 5 pix")], "whole number"),
            (
                vec![("CUTOUTDETAIL", "most"), ("POS", "CIRCLE 1 1 1")],
                "CUTOUTDETAIL",
            ),
            (vec![("ID", "x")], "no region"),
        ] {
            let e = req(&pairs).expect_err(wanted);
            assert!(e.message().contains(wanted), "{pairs:?}: {}", e.message());
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn stamp_tables_in_text_and_votable() {
        let csv = "ra,dec,size,id\n10.0,20.0,51,ivo://x?a\n10.5,20.5,31,\n";
        let t = parse(
            &DaliParams::from_pairs([("ID", "y")]),
            Some(csv.as_bytes()),
            1000,
        )
        .expect("csv");
        assert_eq!(t.targets.len(), 2);
        assert_eq!(t.targets[0].id.as_deref(), Some("ivo://x?a"));
        assert_eq!(t.targets[1].id, None);
        let vot = r#"<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="RA" datatype="double"/><FIELD name="Dec" datatype="double"/><FIELD name="size" datatype="double" unit="arcsec"/>
<DATA><TABLEDATA><TR><TD>10</TD><TD>20</TD><TD>30</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;
        let v = parse(&DaliParams::default(), Some(vot.as_bytes()), 1000).expect("votable");
        assert!(matches!(
            v.targets[0].region,
            CutoutRegion::Sky(Region::Polygon(_))
        ));
        let e = parse(&DaliParams::default(), Some(b"ra dec\n1 2\n"), 1000).expect_err("no size");
        assert!(e.message().contains("size"), "{}", e.message());
    }

    #[test]
    fn stamp_tables_longer_than_the_request_may_cut_are_refused() {
        let rows = |n: usize| {
            let mut t = String::from("ra,dec,size\n");
            for i in 0..n {
                t.push_str(&format!("{}.0,1.0,10\n", i % 360));
            }
            t
        };
        assert_eq!(
            parse(&DaliParams::default(), Some(rows(3).as_bytes()), 3)
                .expect("at the limit")
                .targets
                .len(),
            3
        );
        let e = parse(&DaliParams::default(), Some(rows(4).as_bytes()), 3).expect_err("over");
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(e.message().contains("more than 3 rows"), "{}", e.message());
        let row = "<TR><TD>1</TD><TD>2</TD><TD>10</TD></TR>";
        let vot = format!(
            r#"<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="ra" datatype="double"/><FIELD name="dec" datatype="double"/><FIELD name="size" datatype="double"/>
<DATA><TABLEDATA>{}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#,
            row.repeat(4)
        );
        let e = parse(&DaliParams::default(), Some(vot.as_bytes()), 3).expect_err("over");
        assert!(e.message().contains("more than 3 rows"), "{}", e.message());
        // Columns the cutouts do not use cost nothing beyond their bytes.
        let wide = format!(
            "ra,dec,size,{}\n1,2,10,{}\n",
            "x,".repeat(5000),
            "7,".repeat(5000)
        );
        assert_eq!(
            parse(&DaliParams::default(), Some(wide.as_bytes()), 3)
                .expect("wide")
                .targets
                .len(),
            1
        );
    }
}
