//! Service discovery in the shape Rubin's clients read: `GET /repertoire/discovery` answers the
//! JSON document of Rubin's Repertoire service (its `Discovery` model, which `rubin-repertoire`'s
//! `DiscoveryClient` and `lsst-rsp`'s `RSPDiscovery` parse), so that those clients find this
//! archive's TAP, SIA, DataLink, SODA and ConsDB from its base URL alone.
//!
//! The archive is one dataset (`[server] dataset`), whose services carry Rubin's names:
//! `tap`, `sia`, `datalink` and `cutout` (SODA), each with the versions Rubin lists
//! (`sia-query-2.0`, `datalink-links-1.1`, `soda-sync-1.0`…). As on Rubin's platform, ConsDB's
//! tables are also the `tap` service of dataset `efd`, and the ConsDB REST API is the internal
//! service `consdb`. Every URL is built from the public URL of the moment.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::AppState;

/// The standardIDs given with each version, for clients that match on them.
const SIA_QUERY: &str = "ivo://ivoa.net/std/SIA#query-2.0";
const DATALINK_LINKS: &str = "ivo://ivoa.net/std/DataLink#links-1.1";
const SODA_SYNC: &str = "ivo://ivoa.net/std/SODA#sync-1.0";
const SODA_ASYNC: &str = "ivo://ivoa.net/std/SODA#async-1.0";
const VOSI_TABLES: &str = "ivo://ivoa.net/std/VOSI#tables-1.1";

/// The discovery document of an archive served under `base` (no trailing slash) as dataset
/// `dataset`; `consdb` when it holds ConsDB's schemas.
pub fn document(base: &str, dataset: &str, consdb: bool) -> Value {
    let version = |path: &str, standard: &str| json!({ "url": format!("{base}{path}"), "ivoa_standard_id": standard });
    // One TAP service serves the archive's and ConsDB's tables.
    let tap = json!({
        "url": format!("{base}/tap"),
        "versions": { "tables": version("/tap/tables", VOSI_TABLES) },
    });
    let mut datasets = serde_json::Map::new();
    datasets.insert(
        dataset.to_string(),
        json!({
            "description": "Images, their metadata and cutouts, served by skyport",
            "services": {
                "tap": tap.clone(),
                "sia": {
                    "url": format!("{base}/sia"),
                    "versions": { "sia-query-2.0": version("/sia/query", SIA_QUERY) },
                },
                "datalink": {
                    "url": format!("{base}/datalink"),
                    "versions": { "datalink-links-1.1": version("/datalink/links", DATALINK_LINKS) },
                },
                "cutout": {
                    "url": format!("{base}/soda"),
                    "versions": {
                        "soda-sync-1.0": version("/soda/sync", SODA_SYNC),
                        "soda-async-1.0": version("/soda/async", SODA_ASYNC),
                    },
                },
            },
        }),
    );
    let mut internal = serde_json::Map::new();
    if consdb {
        datasets.insert(
            "efd".into(),
            json!({
                "description": "The consolidated database (ConsDB) through TAP",
                "services": { "tap": tap },
            }),
        );
        internal.insert(
            "consdb".into(),
            json!({
                "url": format!("{base}/consdb"),
                "openapi": format!("{base}/consdb/openapi.json"),
            }),
        );
    }
    json!({
        "datasets": datasets,
        "services": { "internal": internal, "ui": {} },
    })
}

/// `GET /repertoire/discovery`.
pub async fn discovery(State(state): State<Arc<AppState>>) -> Json<Value> {
    let consdb = !state.consdb.catalog().instruments().is_empty();
    Json(document(
        &state.settings.public_url,
        &state.settings.dataset,
        consdb,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_under_the_base_and_consdb_only_when_held() {
        let doc = document("https://a.example/sky", "dp1", true);
        let services = &doc["datasets"]["dp1"]["services"];
        assert_eq!(services["tap"]["url"], "https://a.example/sky/tap");
        assert_eq!(
            services["tap"]["versions"]["tables"]["ivoa_standard_id"],
            VOSI_TABLES
        );
        assert_eq!(
            services["sia"]["versions"]["sia-query-2.0"]["url"],
            "https://a.example/sky/sia/query"
        );
        assert_eq!(
            services["cutout"]["versions"]["soda-sync-1.0"]["url"],
            "https://a.example/sky/soda/sync"
        );
        assert_eq!(
            doc["services"]["internal"]["consdb"]["url"],
            "https://a.example/sky/consdb"
        );
        assert_eq!(
            doc["datasets"]["efd"]["services"]["tap"]["url"],
            "https://a.example/sky/tap"
        );
        let without = document("http://h", "dp1", false);
        assert!(without["datasets"].get("efd").is_none());
        assert!(without["services"]["internal"].get("consdb").is_none());
    }
}
