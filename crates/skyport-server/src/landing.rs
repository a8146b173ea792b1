//! The human landing page at `/`.

use skyport_votable::escape_xml;

/// One service line on the landing page.
pub struct ServiceLink {
    /// Service name.
    pub name: &'static str,
    /// Path below the root.
    pub path: &'static str,
    /// What it does.
    pub what: &'static str,
}

/// The services the landing page lists (those this build serves).
pub const SERVICES: [ServiceLink; 14] = [
    ServiceLink {
        name: "Portal",
        path: "/portal/",
        what: "the archive in a browser: sky view, search, previews, cutouts, ADQL, ConsDB",
    },
    ServiceLink {
        name: "TAP",
        path: "/tap",
        what: "Table Access Protocol 1.1: ADQL 2.1 queries, sync and async, uploads",
    },
    ServiceLink {
        name: "TAP capabilities",
        path: "/tap/capabilities",
        what: "VOSI capabilities of the TAP service",
    },
    ServiceLink {
        name: "TAP availability",
        path: "/tap/availability",
        what: "VOSI availability: whether the archive answers",
    },
    ServiceLink {
        name: "SIAv2",
        path: "/sia/query?MAXREC=0",
        what: "Simple Image Access 2.0 (this link shows its parameters)",
    },
    ServiceLink {
        name: "DataLink",
        path: "/datalink/links",
        what: "DataLink 1.1: each image's file, previews, planes, cutout service and metadata",
    },
    ServiceLink {
        name: "SODA",
        path: "/soda/capabilities",
        what: "SODA 1.0 cutouts: /soda/sync and /soda/async (circles, polygons, ranges, pixel boxes, bulk stamps)",
    },
    ServiceLink {
        name: "ConsDB",
        path: "/consdb",
        what: "Consolidated Database REST API (Rubin's pqserver): exposure and visit metadata, flex keys, history (as_of)",
    },
    ServiceLink {
        name: "ConsDB API",
        path: "/consdb/openapi.json",
        what: "OpenAPI description of the ConsDB REST API",
    },
    ServiceLink {
        name: "Previews",
        path: "/previews/",
        what: "PNG previews and thumbnails, north up (linked from DataLink)",
    },
    ServiceLink {
        name: "Files",
        path: "/files/",
        what: "whole images and their mask and variance planes (linked from DataLink)",
    },
    ServiceLink {
        name: "HiPS",
        path: "/hips/list",
        what: "HiPS 1.0 sky maps of each collection and band, for Aladin and other viewers",
    },
    ServiceLink {
        name: "MOC",
        path: "/moc",
        what: "MOC 2.0 coverage (space, space-time) of each collection: FITS, JSON, ASCII",
    },
    ServiceLink {
        name: "Metrics",
        path: "/metrics",
        what: "Prometheus counters",
    },
];

/// The landing page HTML.
pub fn page(title: &str, base: &str, images: Option<u64>) -> String {
    let mut rows = String::new();
    for s in &SERVICES {
        rows.push_str(&format!(
            "<tr><td><a href=\"{b}{p}\">{n}</a></td><td><code>{b}{p}</code></td><td>{w}</td></tr>\n",
            b = escape_xml(base),
            p = escape_xml(s.path),
            n = s.name,
            w = escape_xml(s.what)
        ));
    }
    let count = images.map_or_else(|| "unknown".to_string(), |n| n.to_string());
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td{{padding:.3em .8em}}</style></head>\n\
         <body><h1>{t}</h1><p>An astronomical image archive served through IVOA protocols. Images in the archive: {count}.</p>\n\
         <p><a href=\"{b}/portal/\">Open the portal</a> to see the sky, search, preview and cut out images, and run ADQL, in the browser.</p>\n\
         <table><tr><th>Service</th><th>URL</th><th>What</th></tr>\n{rows}</table></body></html>\n",
        t = escape_xml(title),
        b = escape_xml(base)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_the_portal_and_consdb_and_escapes_the_title() {
        let html = page("<b>x</b>", "http://h:1", Some(3));
        assert!(html.contains("href=\"http://h:1/portal/\""));
        assert!(html.contains("href=\"http://h:1/consdb\""));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!html.contains("<b>x"));
    }
}
