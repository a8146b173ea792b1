//! DataLink service descriptors (DataLink 1.1 §4): the `RESOURCE type="meta"
//! utype="adhoc:service"` blocks that tell a client how to call a service for a row of a table.
//!
//! Every TAP and SIA result holding publisher DIDs carries two: the `{links}` service and the
//! SODA cutout service, both taking `ID` from the DID column (which gets an XML `ID` for the
//! `ref`). DataLink responses carry three SODA descriptors per image, one per
//! `CUTOUTDETAIL` under Rubin's names (`cutout-sync`, `cutout-sync-maskedimage`,
//! `cutout-sync-exposure`), with the image's DID fixed and its footprint as the limits of
//! `CIRCLE` and `POLYGON`.

use skyport_sky::{fmt_coord as fmt, Polygon};

use crate::soda::request::Detail;
use skyport_votable::{escape_xml, Field};

/// The DataLink response MIME type (DataLink 1.1 §3.3).
pub const DATALINK_MIME: &str = "application/x-votable+xml;content=datalink";
/// standardID of DataLink `{links}` 1.1.
pub const DATALINK_STANDARD_ID: &str = "ivo://ivoa.net/std/DataLink#links-1.1";
/// standardID of SODA sync 1.0.
pub const SODA_SYNC_STANDARD_ID: &str = "ivo://ivoa.net/std/SODA#sync-1.0";
/// XML ID given to the FIELD holding publisher DIDs.
pub const PUBDID_FIELD_ID: &str = "skyport_pubdid";

/// Marks the column holding publisher DIDs (by name `obs_publisher_did`, else by UCD
/// `meta.ref.ivoid`) with [`PUBDID_FIELD_ID`] and returns the descriptors that refer to it;
/// an empty string when the result has no such column.
pub fn for_results(fields: &mut [Field], public_url: &str) -> String {
    let position = fields
        .iter()
        .position(|f| f.name.eq_ignore_ascii_case("obs_publisher_did"))
        .or_else(|| {
            fields
                .iter()
                .position(|f| f.meta.ucd.as_deref() == Some("meta.ref.ivoid"))
        });
    let Some(position) = position else {
        return String::new();
    };
    fields[position].id = Some(PUBDID_FIELD_ID.to_string());
    let mut out = links_descriptor(public_url);
    out.push_str(&soda_descriptor(
        "cutout-sync",
        public_url,
        &IdParam::Column(PUBDID_FIELD_ID),
        &FootprintLimits::default(),
        Detail::Image,
    ));
    out
}

/// The `{links}` descriptor whose ID input comes from the DID column.
pub fn links_descriptor(public_url: &str) -> String {
    let mut out = String::from(
        "<RESOURCE type=\"meta\" utype=\"adhoc:service\" ID=\"skyport_links\" name=\"links\">\n\
         <DESCRIPTION>DataLink: the file, previews, cutout service, planes and metadata of each image</DESCRIPTION>\n",
    );
    out.push_str(&char_param("standardID", DATALINK_STANDARD_ID));
    out.push_str(&char_param(
        "accessURL",
        &format!("{public_url}/datalink/links"),
    ));
    out.push_str(&char_param("contentType", DATALINK_MIME));
    out.push_str("<GROUP name=\"inputParams\">\n");
    out.push_str(&format!(
        "<PARAM name=\"ID\" datatype=\"char\" arraysize=\"*\" ucd=\"meta.id;meta.main\" value=\"\" ref=\"{PUBDID_FIELD_ID}\"/>\n"
    ));
    out.push_str("</GROUP>\n</RESOURCE>\n");
    out
}

/// Where a descriptor's `ID` input comes from.
pub enum IdParam<'a> {
    /// From a column of the table, by the FIELD's XML ID.
    Column(&'a str),
    /// A fixed value (one image).
    Fixed(&'a str),
}

/// An image's footprint as a SODA descriptor's `CIRCLE` and `POLYGON` inputs carry it, as their
/// `MAX` (SODA 1.0 §3.3): the circle around the image and its outline. Written once for the
/// several descriptors of one image (its numbers are most of a descriptor's cost).
#[derive(Debug, Default)]
pub struct FootprintLimits {
    circle: String,
    polygon: String,
}

impl FootprintLimits {
    /// The limits of `footprint` (none without one).
    pub fn of(footprint: Option<&Polygon>) -> FootprintLimits {
        let Some(f) = footprint else {
            return FootprintLimits::default();
        };
        let c = f.bounding_circle();
        let values: Vec<String> = f.to_dali().into_iter().map(fmt).collect();
        FootprintLimits {
            circle: format!(
                "<VALUES><MAX value=\"{} {} {}\"/></VALUES>",
                fmt(c.center.ra),
                fmt(c.center.dec),
                fmt(c.radius)
            ),
            polygon: format!("<VALUES><MAX value=\"{}\"/></VALUES>", values.join(" ")),
        }
    }
}

/// A SODA sync descriptor with `ID`, `POS`, `CIRCLE` and `POLYGON` inputs (bounded by
/// `limits`), skyport's `BRECT` and `COMPRESSION`, and Rubin's `CUTOUTDETAIL` set to `detail`.
pub fn soda_descriptor(
    xml_id: &str,
    public_url: &str,
    id: &IdParam<'_>,
    limits: &FootprintLimits,
    detail: Detail,
) -> String {
    // The name repeats the XML ID: VOTable names should be unique in a document.
    let mut out = format!(
        "<RESOURCE type=\"meta\" utype=\"adhoc:service\" ID=\"{0}\" name=\"{0}\">\n\
         <DESCRIPTION>SODA: cut a region out of the image (POS, CIRCLE or POLYGON in ICRS degrees)</DESCRIPTION>\n",
        escape_xml(xml_id)
    );
    out.push_str(&char_param("standardID", SODA_SYNC_STANDARD_ID));
    out.push_str(&char_param("accessURL", &format!("{public_url}/soda/sync")));
    out.push_str("<GROUP name=\"inputParams\">\n");
    match id {
        IdParam::Column(field_id) => out.push_str(&format!(
            "<PARAM name=\"ID\" datatype=\"char\" arraysize=\"*\" ucd=\"meta.id;meta.main\" value=\"\" ref=\"{}\"/>\n",
            escape_xml(field_id)
        )),
        IdParam::Fixed(did) => out.push_str(&format!(
            "<PARAM name=\"ID\" datatype=\"char\" arraysize=\"*\" ucd=\"meta.id;meta.main\" value=\"{}\"/>\n",
            escape_xml(did)
        )),
    }
    out.push_str(
        "<PARAM name=\"POS\" datatype=\"char\" arraysize=\"*\" ucd=\"pos.outline;obs\" value=\"\">\
         <DESCRIPTION>A region in DALI shape syntax: CIRCLE ra dec r, RANGE ra1 ra2 dec1 dec2 or POLYGON ra1 dec1 …</DESCRIPTION></PARAM>\n",
    );
    out.push_str(
        "<PARAM name=\"CIRCLE\" datatype=\"double\" arraysize=\"3\" xtype=\"circle\" unit=\"deg\" ucd=\"phys.angArea;obs\" value=\"\">\
         <DESCRIPTION>A circle: ra dec radius</DESCRIPTION>",
    );
    out.push_str(&limits.circle);
    out.push_str("</PARAM>\n");
    out.push_str(
        "<PARAM name=\"POLYGON\" datatype=\"double\" arraysize=\"*\" xtype=\"polygon\" unit=\"deg\" ucd=\"pos.outline;obs\" value=\"\">\
         <DESCRIPTION>A polygon: ra1 dec1 ra2 dec2 ra3 dec3 …</DESCRIPTION>",
    );
    out.push_str(&limits.polygon);
    out.push_str("</PARAM>\n");
    out.push_str(
        "<PARAM name=\"BRECT\" datatype=\"char\" arraysize=\"*\" value=\"\">\
         <DESCRIPTION>A box: ra dec width height unit (deg, arcmin, arcsec, or pix for whole pixels centred on the position)</DESCRIPTION></PARAM>\n\
         <PARAM name=\"COMPRESSION\" datatype=\"char\" arraysize=\"*\" value=\"none\">\
         <DESCRIPTION>Lossless tile compression of the cutout: none, gzip or rice</DESCRIPTION>\
         <VALUES><OPTION value=\"none\"/><OPTION value=\"gzip\"/><OPTION value=\"rice\"/></VALUES></PARAM>\n",
    );
    out.push_str(&format!(
        "<PARAM name=\"CUTOUTDETAIL\" datatype=\"char\" arraysize=\"*\" value=\"{}\">\
         <DESCRIPTION>Planes to cut: Image (the science plane), MaskedImage (image, mask and variance) or Exposure (every image plane of the file)</DESCRIPTION>\
         <VALUES><OPTION value=\"Image\"/><OPTION value=\"MaskedImage\"/><OPTION value=\"Exposure\"/></VALUES></PARAM>\n",
        detail.name()
    ));
    out.push_str("</GROUP>\n</RESOURCE>\n");
    out
}

/// A descriptive `char` PARAM.
pub fn char_param(name: &str, value: &str) -> String {
    format!(
        "<PARAM name=\"{}\" datatype=\"char\" arraysize=\"*\" value=\"{}\"/>\n",
        escape_xml(name),
        escape_xml(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ucd: Option<&str>) -> Field {
        let mut f = Field::new(name, "char").with_arraysize("*");
        f.meta.ucd = ucd.map(str::to_string);
        f
    }

    #[test]
    fn the_did_column_gets_an_id_and_descriptors_refer_to_it() {
        let mut fields = vec![field("obs_id", None), field("OBS_PUBLISHER_DID", None)];
        let xml = for_results(&mut fields, "http://h:1");
        assert_eq!(fields[1].id.as_deref(), Some(PUBDID_FIELD_ID));
        assert!(fields[0].id.is_none());
        assert_eq!(xml.matches("ref=\"skyport_pubdid\"").count(), 2, "{xml}");
        assert!(xml.contains("value=\"http://h:1/datalink/links\""));
        assert!(xml.contains("value=\"http://h:1/soda/sync\""));
        assert!(xml.contains(DATALINK_STANDARD_ID) && xml.contains(SODA_SYNC_STANDARD_ID));
    }

    #[test]
    fn a_did_column_is_also_found_by_ucd_and_none_means_no_descriptor() {
        let mut fields = vec![field("did", Some("meta.ref.ivoid"))];
        assert!(!for_results(&mut fields, "http://h").is_empty());
        assert_eq!(fields[0].id.as_deref(), Some(PUBDID_FIELD_ID));
        let mut fields = vec![field("s_ra", Some("pos.eq.ra"))];
        assert!(for_results(&mut fields, "http://h").is_empty());
        assert!(fields[0].id.is_none());
    }
}
