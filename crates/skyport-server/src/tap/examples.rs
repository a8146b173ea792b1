//! DALI examples (`/tap/examples`): XHTML with RDFa Lite markup, one example per query, each a
//! real query over the archive's ObsCore table that runs as written.

use skyport_votable::escape_xml;

/// An example query.
pub struct Example {
    /// Fragment id.
    pub id: &'static str,
    /// Title.
    pub name: &'static str,
    /// What it shows.
    pub description: &'static str,
    /// The ADQL.
    pub query: &'static str,
}

/// The examples, in the order they are shown.
pub const EXAMPLES: [Example; 6] = [
    Example {
        id: "cone",
        name: "Images around a position",
        description: "Every image whose centre lies within 1 degree of the Extended Chandra Deep Field South, nearest first.",
        query: "SELECT TOP 100 obs_id, s_ra, s_dec, t_min, em_min, access_url,\n  DISTANCE(POINT('ICRS', s_ra, s_dec), POINT('ICRS', 53.16, -28.10)) AS dist\nFROM ivoa.ObsCore\nWHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 53.16, -28.10, 1.0))\nORDER BY dist",
    },
    Example {
        id: "overlap",
        name: "Images that overlap a region",
        description: "Images whose footprint intersects a small box in COSMOS, with their footprints.",
        query: "SELECT obs_id, s_region, s_fov\nFROM ivoa.ObsCore\nWHERE 1 = INTERSECTS(s_region, BOX('ICRS', 150.12, 2.21, 0.3, 0.3))",
    },
    Example {
        id: "position",
        name: "Images that contain a point",
        description: "Images whose footprint contains a given position; the test uses the exact footprint, not the centre.",
        query: "SELECT obs_id, s_ra, s_dec, t_min\nFROM ivoa.ObsCore\nWHERE 1 = CONTAINS(POINT('ICRS', 53.16, -28.10), s_region)",
    },
    Example {
        id: "per_collection",
        name: "How many images each collection holds",
        description: "An aggregate over the whole table.",
        query: "SELECT obs_collection, COUNT(*) AS n_images, MIN(t_min) AS first_mjd, MAX(t_max) AS last_mjd\nFROM ivoa.ObsCore\nGROUP BY obs_collection\nORDER BY n_images DESC",
    },
    Example {
        id: "time_band",
        name: "Images by time and wavelength",
        description: "Images taken after MJD 60000 whose band reaches past 600 nm.",
        query: "SELECT obs_id, t_min, t_exptime, em_min, em_max\nFROM ivoa.ObsCore\nWHERE t_min > 60000 AND em_max > 6.0e-7\nORDER BY t_min",
    },
    Example {
        id: "columns",
        name: "The columns of the ObsCore table",
        description: "TAP_SCHEMA describes every table; this lists the ObsCore columns with units and UCDs.",
        query: "SELECT column_name, datatype, unit, ucd, description\nFROM TAP_SCHEMA.columns\nWHERE table_name = 'ivoa.ObsCore'\nORDER BY column_index",
    },
];

/// The examples document.
pub fn page(title: &str) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE html>\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
         <meta http-equiv=\"Content-Type\" content=\"application/xhtml+xml; charset=UTF-8\"/>\n",
    );
    s.push_str(&format!(
        "<title>TAP examples — {}</title>\n</head>\n<body vocab=\"http://www.ivoa.net/rdf/examples#\">\n\
         <h1>TAP query examples for {}</h1>\n\
         <p>Each query runs as written against this service's <code>/tap/sync</code> or <code>/tap/async</code>.</p>\n",
        escape_xml(title),
        escape_xml(title)
    ));
    for e in &EXAMPLES {
        s.push_str(&format!(
            "<div typeof=\"example\" id=\"{id}\" resource=\"#{id}\">\n\
             <h2 property=\"name\">{name}</h2>\n\
             <p>{desc}</p>\n\
             <pre property=\"query\">{query}</pre>\n\
             </div>\n",
            id = e.id,
            name = escape_xml(e.name),
            desc = escape_xml(e.description),
            query = escape_xml(e.query)
        ));
    }
    s.push_str("</body>\n</html>\n");
    s
}
