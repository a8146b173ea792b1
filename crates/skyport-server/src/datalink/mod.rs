//! DataLink 1.1 `{links}`: `/datalink/links?ID=…` lists, for each image, its file (`#this`),
//! PNG preview and thumbnail, a SODA cutout descriptor bounded by the image's footprint, its
//! mask and variance planes (`#auxiliary`), and its metadata as TAP queries; an image taken
//! as one detector of a visit links the visit (`#derivation`), whose own ID lists its detector
//! images (`#progenitor`) — see [`visit`].
//!
//! All rows of one ID are consecutive and in the order of the IDs given. An unknown ID gives a
//! `NotFoundFault` row and one that is not an IVOID a `UsageFault` row, never an HTTP error.
//! More IDs than `[limits] datalink_max_ids` are not processed: the table ends with
//! `QUERY_STATUS=OVERFLOW` after the last ID that was, so no ID's rows are ever cut.
//! IDs are matched exactly (they are the DIDs the archive published).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use skyport_schema::ColumnMeta;
use skyport_sky::{parse_stcs, Shape};
use skyport_store::images::{Hdu, Image};
use skyport_store::ImageIndex;
use skyport_votable::{Cell, Ending, Field, Format, Info, Prelude, TableWriter};
use std::sync::Arc;

use crate::caller::Caller;
use crate::dali::DaliError;
use crate::descriptors::{
    char_param, soda_descriptor, FootprintLimits, IdParam, DATALINK_MIME, DATALINK_STANDARD_ID,
};
use crate::hips::HipsService;
use crate::soda::request::Detail;

pub mod http;
pub mod visit;

/// Characters kept as they are in URL path segments (RFC 3986 unreserved).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A URL path below a data root, each segment percent-encoded.
pub fn encode_path(rel_path: &str) -> String {
    rel_path
        .split('/')
        .map(|s| utf8_percent_encode(s, PATH_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// A query-string value, form-encoded.
pub fn encode_query(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The URL of a TAP sync query of this service.
pub fn tap_query(base: &str, adql: &str) -> String {
    format!("{base}/tap/sync?LANG=ADQL&QUERY={}", encode_query(adql))
}

/// One row of the links table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    /// The ID asked for.
    pub id: String,
    /// URL of the linked resource.
    pub access_url: Option<String>,
    /// XML ID of the service descriptor to use.
    pub service_def: Option<String>,
    /// Why there is no link (`NotFoundFault: …`).
    pub error_message: Option<String>,
    /// For people.
    pub description: Option<String>,
    /// DataLink core vocabulary term.
    pub semantics: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// Size in bytes.
    pub content_length: Option<i64>,
    /// Product type of the linked resource (`#image`).
    pub content_qualifier: Option<String>,
    /// Service-local tag telling links with the same semantics apart.
    pub local_semantics: Option<String>,
    /// DataLink 1.1 `link_auth`: whether the link needs credentials (`false`, `optional`,
    /// `true`).
    pub link_auth: Option<&'static str>,
    /// DataLink 1.1 `link_authorized`: whether this caller may use it.
    pub link_authorized: Option<bool>,
}

/// The XML ID of the cutout descriptor for `detail`: Rubin's names (`cutout-sync`,
/// `cutout-sync-maskedimage`, `cutout-sync-exposure`, which its notebooks look up), with
/// `suffix` telling apart the descriptors of the second and later images of a document.
pub fn cutout_descriptor_id(detail: Detail, suffix: &str) -> String {
    match detail {
        Detail::Image => format!("cutout-sync{suffix}"),
        Detail::Masked => format!("cutout-sync-maskedimage{suffix}"),
        Detail::Full => format!("cutout-sync-exposure{suffix}"),
    }
}

/// The links of one found image, and its cutout descriptors, one per [`Detail`] (XML IDs from
/// [`cutout_descriptor_id`] with `suffix`); `hips` names the HiPS of its collection and band
/// when there is one the caller may see.
pub fn image_links(
    base: &str,
    info: &Image,
    suffix: &str,
    hips: Option<&str>,
) -> (Vec<Link>, String) {
    let path = format!(
        "{}/{}",
        encode_path(&info.root),
        encode_path(&info.rel_path)
    );
    let qualifier = info.dataproduct_type.as_ref().map(|t| format!("#{t}"));
    // Pixels need credentials unless they are public; the metadata links (TAP queries) are
    // readable by whoever sees this row.
    let pixels = |semantics: &str| Link {
        id: info.did.clone(),
        semantics: semantics.to_string(),
        link_auth: Some(if info.data_public { "optional" } else { "true" }),
        link_authorized: Some(info.data_readable),
        ..Link::default()
    };
    let link = |semantics: &str| Link {
        link_auth: Some("optional"),
        link_authorized: Some(true),
        ..pixels(semantics)
    };
    let mut links = vec![
        Link {
            access_url: Some(format!("{base}/files/{path}")),
            description: Some("The whole FITS file, every HDU".into()),
            content_type: Some("application/fits".into()),
            content_length: Some(info.file_size),
            content_qualifier: qualifier.clone(),
            ..pixels("#this")
        },
        Link {
            access_url: Some(format!("{base}/previews/{path}")),
            description: Some(
                "PNG preview of the science plane, north up where the WCS allows, asinh stretch (add stretch=zscale for a zscale one)"
                    .into(),
            ),
            content_type: Some("image/png".into()),
            ..pixels("#preview")
        },
        // `#thumbnail` is the newer (preliminary) term, but the STILTS datalinklint that checks
        // this service (Debian's 3.4.7) knows only the 2014 vocabulary and calls it an error;
        // `#preview-image` is its stable parent, and local_semantics tells the two apart.
        Link {
            access_url: Some(format!("{base}/previews/{path}?size=thumbnail")),
            description: Some("Small PNG thumbnail of the science plane".into()),
            content_type: Some("image/png".into()),
            local_semantics: Some("thumbnail".into()),
            ..pixels("#preview-image")
        },
    ];
    for detail in Detail::ALL {
        let what = match detail {
            Detail::Image => "the image pixels only",
            Detail::Masked => "the image with its mask and variance planes",
            Detail::Full => "every image plane of the file",
        };
        links.push(Link {
            service_def: Some(cutout_descriptor_id(detail, suffix)),
            description: Some(format!("Cutout service (SODA sync): {what}")),
            content_type: Some("application/fits".into()),
            content_qualifier: qualifier.clone(),
            local_semantics: Some(detail.name().into()),
            ..pixels("#cutout")
        });
    }
    for Hdu {
        index,
        role,
        extname,
    } in &info.hdus
    {
        if role != "mask" && role != "variance" {
            continue;
        }
        let name = extname.clone().unwrap_or_else(|| role.clone());
        links.push(Link {
            access_url: Some(format!("{base}/files/{path}?hdu={index}")),
            description: Some(format!(
                "The {role} plane (HDU {index}, EXTNAME {name}) alone, as a FITS file"
            )),
            content_type: Some("application/fits".into()),
            local_semantics: Some(role.clone()),
            ..pixels("#auxiliary")
        });
    }
    let quoted = info.did.replace('\'', "''");
    // `#detached-header` and `#documentation` would say more, but are unknown to that
    // datalinklint too; local_semantics names what each query gives.
    for (local, what, adql) in [
        (
            "header",
            "The FITS headers of every HDU, as a TAP query",
            format!(
                "SELECT hdu_index, extname, role, header FROM skyport.image_hdu WHERE obs_publisher_did = '{quoted}' ORDER BY hdu_index"
            ),
        ),
        (
            "obscore",
            "The image's ObsCore record, as a TAP query",
            format!("SELECT * FROM ivoa.ObsCore WHERE obs_publisher_did = '{quoted}'"),
        ),
    ] {
        links.push(Link {
            access_url: Some(tap_query(base, &adql)),
            description: Some(what.into()),
            content_type: Some("application/x-votable+xml".into()),
            local_semantics: Some(local.into()),
            ..link("#auxiliary")
        });
    }
    if let Some(id) = hips {
        links.push(Link {
            access_url: Some(format!("{base}/hips/{}", encode_path(id))),
            description: Some(
                "HiPS sky map of the image's collection and band (a HiPS 1.0 base URL, for \
                 Aladin and other HiPS viewers)"
                    .into(),
            ),
            local_semantics: Some("hips".into()),
            ..pixels("#auxiliary")
        });
    }
    let footprint = info.s_region.as_deref().and_then(|r| match parse_stcs(r) {
        Ok(Shape::Polygon(p)) => Some(p),
        _ => None,
    });
    let limits = FootprintLimits::of(footprint.as_ref());
    let descriptors = Detail::ALL
        .into_iter()
        .map(|detail| {
            soda_descriptor(
                &cutout_descriptor_id(detail, suffix),
                base,
                &IdParam::Fixed(&info.did),
                &limits,
                detail,
            )
        })
        .collect();
    (links, descriptors)
}

/// The fault row of an ID that cannot be answered.
fn fault(id: &str, message: String) -> Link {
    Link {
        id: id.to_string(),
        error_message: Some(message),
        semantics: "#this".into(),
        ..Link::default()
    }
}

/// Why an ID cannot be a DID of this archive, if it cannot.
fn malformed(id: &str) -> Option<String> {
    if id.trim().is_empty() {
        return Some("UsageFault: the ID is empty".into());
    }
    if id.len() > 512 {
        return Some("UsageFault: the ID is longer than 512 characters".into());
    }
    if !id
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("ivo://"))
    {
        return Some(format!(
            "UsageFault: {id:?} is not an IVOA identifier (ivo://authority/path?local)"
        ));
    }
    None
}

/// The FIELDs of the links table (DataLink 1.1 §3.2).
fn fields() -> Vec<Field> {
    let f = |name: &str, datatype: &str, ucd: Option<&str>, description: &str| {
        Field::of(
            name,
            ColumnMeta {
                datatype: datatype.into(),
                arraysize: (datatype == "char").then(|| "*".to_string()),
                ucd: ucd.map(str::to_string),
                description: Some(description.into()),
                ..ColumnMeta::default()
            },
        )
    };
    let mut length = f(
        "content_length",
        "long",
        Some("phys.size;meta.file"),
        "Size of the linked resource",
    );
    length.meta.unit = Some("byte".into());
    vec![
        f(
            "ID",
            "char",
            Some("meta.id;meta.main"),
            "The identifier asked for",
        ),
        f(
            "access_url",
            "char",
            Some("meta.ref.url"),
            "URL of the linked resource",
        ),
        f(
            "service_def",
            "char",
            Some("meta.ref"),
            "Service descriptor to use",
        ),
        f(
            "error_message",
            "char",
            Some("meta.code.error"),
            "Why there is no link",
        ),
        f("description", "char", Some("meta.note"), "What the link is"),
        f(
            "semantics",
            "char",
            Some("meta.code"),
            "Relation to the dataset (DataLink vocabulary)",
        ),
        f(
            "content_type",
            "char",
            Some("meta.code.mime"),
            "MIME type of the linked resource",
        ),
        length,
        f(
            "content_qualifier",
            "char",
            None,
            "Product type of the linked resource",
        ),
        f(
            "local_semantics",
            "char",
            Some("meta.id.assoc"),
            "Tells links with the same semantics apart",
        ),
        f(
            "link_auth",
            "char",
            Some("meta.code"),
            "Whether the link needs credentials: false, optional or true",
        ),
        f(
            "link_authorized",
            "boolean",
            Some("meta.code"),
            "Whether the caller of this request may use the link",
        ),
    ]
}

/// The DataLink service: the links of images and visits, found through the image index.
pub struct DataLink {
    images: ImageIndex,
    public_url: String,
    /// Where ConsDB's records and the logs are queried: the live archive's base URL.
    records_url: String,
    max_ids: usize,
    hips: Arc<HipsService>,
    bands: Vec<skyport_consdb::Band>,
}

impl DataLink {
    /// A service over `images`; links point below `public_url` (no trailing slash); at most
    /// `max_ids` IDs of one request are answered. An image links to the HiPS of its collection
    /// and band (one of `bands`, by its wavelengths) where `hips` has one.
    pub fn new(
        images: ImageIndex,
        public_url: &str,
        max_ids: usize,
        hips: Arc<HipsService>,
        bands: Vec<skyport_consdb::Band>,
    ) -> DataLink {
        DataLink {
            images,
            public_url: public_url.to_string(),
            records_url: public_url.to_string(),
            max_ids,
            hips,
            bands,
        }
    }

    /// The service with ConsDB's records and the logs linked below `url` (the live archive's
    /// base URL, when this service answers for a data release).
    pub fn with_records_url(mut self, url: &str) -> DataLink {
        self.records_url = url.to_string();
        self
    }

    /// The links of every ID, in order, and the descriptors they refer to; `true` when the IDs
    /// were cut at the limit. The images are found in one batched lookup, not one per ID.
    pub async fn collect(
        &self,
        caller: &Caller,
        ids: &[&str],
    ) -> Result<(Vec<Link>, String, bool), DaliError> {
        let base = &self.public_url;
        let max = self.max_ids;
        let overflow = ids.len() > max;
        let ids = &ids[..ids.len().min(max)];
        let wellformed: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| malformed(id).is_none())
            .collect();
        let found = self
            .images
            .images(caller, &wellformed)
            .await
            .map_err(|e| DaliError::internal(format!("looking up the IDs: {e}")))?;
        let mut links = Vec::new();
        let mut descriptors = String::new();
        let mut images = 0;
        for id in ids {
            if let Some(message) = malformed(id) {
                links.push(fault(id, message));
                continue;
            }
            match found.get(*id) {
                Some(info) => {
                    // The first image's descriptors have Rubin's plain names.
                    let suffix = match images {
                        0 => String::new(),
                        n => format!("-{n}"),
                    };
                    images += 1;
                    let band = skyport_consdb::band_of_range(&self.bands, info.em.0, info.em.1);
                    let hips = self.hips.id_for(
                        self.images.rights(),
                        caller,
                        &info.collection,
                        band.as_deref(),
                    );
                    let (rows, descriptor) = image_links(base, info, &suffix, hips.as_deref());
                    links.extend(rows);
                    links.extend(visit::image_visit_links(
                        base,
                        &self.records_url,
                        id,
                        &info.exposures,
                    ));
                    descriptors.push_str(&descriptor);
                }
                None => match visit::VisitId::parse(id) {
                    Some(Ok(v)) => {
                        let images = visit::detector_images(&self.images, caller, &v).await?;
                        if images.is_empty() {
                            links.push(fault(
                                id,
                                format!(
                                    "NotFoundFault: no image of {} visit {} in this archive",
                                    v.instrument, v.visit_id
                                ),
                            ));
                        } else {
                            links.extend(visit::visit_links(base, &self.records_url, &v, &images));
                        }
                    }
                    Some(Err(message)) => links.push(fault(id, message)),
                    None => links.push(fault(
                        id,
                        format!("NotFoundFault: no image with the ID {id:?} in this archive"),
                    )),
                },
            }
        }
        Ok((links, descriptors, overflow))
    }

    /// The links document of `ids` for `caller` in `format`; without IDs, the service's
    /// self-description (DataLink 1.1 §4.1).
    pub async fn document(
        &self,
        caller: &Caller,
        ids: &[&str],
        format: Format,
    ) -> Result<Vec<u8>, DaliError> {
        let (links, mut resources, overflow) = self.collect(caller, ids).await?;
        if ids.is_empty() {
            resources.push_str(&self_description(&self.public_url));
        }
        let mut writer = TableWriter::new(
            format,
            fields(),
            Prelude {
                infos: vec![Info::new("standardID", DATALINK_STANDARD_ID)],
                extra_resources: resources,
                ..Prelude::default()
            },
        );
        let mut out = Vec::with_capacity(4096 + links.len() * 256);
        writer.begin(&mut out);
        for l in &links {
            writer.row(
                &mut out,
                &[
                    Cell::Text(&l.id),
                    opt(&l.access_url),
                    opt(&l.service_def),
                    opt(&l.error_message),
                    opt(&l.description),
                    Cell::Text(&l.semantics),
                    opt(&l.content_type),
                    l.content_length.map_or(Cell::Null, Cell::Int),
                    opt(&l.content_qualifier),
                    opt(&l.local_semantics),
                    l.link_auth.map_or(Cell::Null, Cell::Text),
                    l.link_authorized.map_or(Cell::Null, Cell::Bool),
                ],
            );
        }
        let ending = match overflow {
            true => Ending::Overflow,
            false => Ending::Complete,
        };
        writer.end(&mut out, ending);
        Ok(out)
    }
}

fn opt(s: &Option<String>) -> Cell<'_> {
    s.as_deref().map_or(Cell::Null, Cell::Text)
}

/// The self-description given when no ID is sent (DataLink 1.1 §4.1, `adhoc:this`).
fn self_description(base: &str) -> String {
    let mut out = String::from(
        "<RESOURCE type=\"meta\" utype=\"adhoc:this\" name=\"this\">\n\
         <DESCRIPTION>DataLink links of the archive's images</DESCRIPTION>\n",
    );
    out.push_str(&char_param("standardID", DATALINK_STANDARD_ID));
    out.push_str(&char_param("accessURL", &format!("{base}/datalink/links")));
    out.push_str(&char_param("contentType", DATALINK_MIME));
    out.push_str(
        "<GROUP name=\"inputParams\">\n\
         <PARAM name=\"ID\" datatype=\"char\" arraysize=\"*\" ucd=\"meta.id;meta.main\" value=\"\"><DESCRIPTION>Publisher DID of an image, or the ID of a visit (ivo://authority/consdb/instrument/visit?visit_id); repeatable</DESCRIPTION></PARAM>\n\
         <PARAM name=\"RESPONSEFORMAT\" datatype=\"char\" arraysize=\"*\" ucd=\"meta.code.mime\" value=\"\"><DESCRIPTION>votable (default), votable/b2, csv, tsv, json or parquet</DESCRIPTION></PARAM>\n\
         </GROUP>\n</RESOURCE>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_are_encoded() {
        assert_eq!(encode_path("a b/c#d/e.fits"), "a%20b/c%23d/e.fits");
        assert_eq!(encode_query("ivo://a/b?c d"), "ivo%3A%2F%2Fa%2Fb%3Fc+d");
    }

    #[test]
    fn ids_that_are_not_ivoids_are_usage_faults() {
        assert!(malformed("ivo://x/y?z").is_none());
        assert!(malformed("IVO://x/y?z").is_none());
        assert!(malformed("").is_some_and(|m| m.starts_with("UsageFault")));
        assert!(malformed("http://x").is_some_and(|m| m.starts_with("UsageFault")));
        assert!(malformed(&"ivo://".repeat(100)).is_some());
    }

    #[test]
    fn an_image_has_this_previews_cutout_planes_and_metadata() {
        let info = Image {
            did: "ivo://a/c?d/e's".into(),
            root: "r".into(),
            collection: "c".into(),
            rel_path: "d/e's.fits".into(),
            file_size: 2880,
            sha256: "0".repeat(64),
            science_hdu: 1,
            dataproduct_type: Some("image".into()),
            s_region: Some("POLYGON ICRS 10 10 11 10 11 11 10 11".into()),
            em: (None, None),
            t: (None, None),
            exposures: Vec::new(),
            data_readable: false,
            data_public: false,
            hdus: [
                (0, "other", None),
                (1, "image", Some("IMAGE")),
                (2, "mask", Some("MASK")),
                (3, "variance", Some("VARIANCE")),
            ]
            .into_iter()
            .map(|(index, role, extname)| Hdu {
                index,
                role: role.into(),
                extname: extname.map(str::to_string),
            })
            .collect(),
        };
        let (links, descriptor) = image_links("http://h", &info, "-7", Some("c-r"));
        let semantics: Vec<&str> = links.iter().map(|l| l.semantics.as_str()).collect();
        assert_eq!(
            semantics,
            [
                "#this",
                "#preview",
                "#preview-image",
                "#cutout",
                "#cutout",
                "#cutout",
                "#auxiliary",
                "#auxiliary",
                "#auxiliary",
                "#auxiliary",
                "#auxiliary"
            ]
        );
        let hips = links
            .iter()
            .find(|l| l.local_semantics.as_deref() == Some("hips"));
        assert_eq!(
            hips.and_then(|l| l.access_url.as_deref()),
            Some("http://h/hips/c-r")
        );
        assert_eq!(
            links[0].access_url.as_deref(),
            Some("http://h/files/r/d/e%27s.fits")
        );
        assert_eq!(links[0].content_length, Some(2880));
        // One cutout row per CUTOUTDETAIL, each naming its descriptor by Rubin's ids.
        let cutouts: Vec<(Option<&str>, Option<&str>)> = links[3..6]
            .iter()
            .map(|l| (l.service_def.as_deref(), l.local_semantics.as_deref()))
            .collect();
        assert_eq!(
            cutouts,
            [
                (Some("cutout-sync-7"), Some("Image")),
                (Some("cutout-sync-maskedimage-7"), Some("MaskedImage")),
                (Some("cutout-sync-exposure-7"), Some("Exposure")),
            ]
        );
        assert!(links[3..6].iter().all(|l| l.access_url.is_none()));
        assert_eq!(
            links[6].access_url.as_deref(),
            Some("http://h/files/r/d/e%27s.fits?hdu=2")
        );
        assert!(links[8]
            .access_url
            .as_deref()
            .is_some_and(|u| u.contains("e%27%27s")));
        // Pixels this caller may not read need credentials; the metadata queries do not.
        let auth: Vec<(Option<&str>, Option<bool>)> = links
            .iter()
            .map(|l| (l.link_auth, l.link_authorized))
            .collect();
        assert_eq!(auth[..6], [(Some("true"), Some(false)); 6]);
        assert_eq!(auth[8..10], [(Some("optional"), Some(true)); 2]);
        assert_eq!(auth[10], (Some("true"), Some(false)));
        for (id, detail) in [
            ("cutout-sync-7", "Image"),
            ("cutout-sync-maskedimage-7", "MaskedImage"),
            ("cutout-sync-exposure-7", "Exposure"),
        ] {
            let block = descriptor
                .split("<RESOURCE ")
                .find(|r| r.contains(&format!("ID=\"{id}\"")))
                .unwrap_or_else(|| panic!("{id}: {descriptor}"));
            assert!(
                block.contains(&format!(
                    "name=\"CUTOUTDETAIL\" datatype=\"char\" arraysize=\"*\" value=\"{detail}\""
                )),
                "{block}"
            );
        }
        assert!(
            descriptor.contains("value=\"ivo://a/c?d/e&apos;s\""),
            "{descriptor}"
        );
        // The footprint's corners, in whatever order the DALI orientation gives them.
        let max = descriptor
            .split("<MAX value=\"")
            .nth(2)
            .and_then(|m| m.split('"').next())
            .expect("the POLYGON's MAX");
        let numbers: Vec<&str> = max.split(' ').collect();
        let mut corners: Vec<String> = numbers.chunks(2).map(|c| c.join(" ")).collect();
        corners.sort();
        assert_eq!(
            corners,
            ["10 10", "10 11", "11 10", "11 11"],
            "{descriptor}"
        );
    }
}
