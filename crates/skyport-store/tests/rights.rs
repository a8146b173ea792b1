//! Data rights on both backends (PostgreSQL when `SKYPORT_PG_URL` is set): the image index
//! and the row conditions hide restricted and proprietary images from those without rights,
//! keep pixels apart from metadata, and let a user whose membership ended keep exactly what
//! was released before the end. Expected sets are written out by hand from the model in
//! `docs/security.md`, not taken from the code.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use skyport_store::{ddl, Access, Caller, CollectionRights, ImageIndex, Membership, Rights, Value};

use common::text;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

/// (name, collection, release date)
const IMAGES: [(&str, &str, Option<&str>); 7] = [
    ("open-old", "open", None),
    ("open-released", "open", Some("2020-01-01T00:00:00")),
    ("open-future", "open", Some("2999-01-01T00:00:00")),
    ("closed-early", "closed", Some("2021-01-01T00:00:00")),
    ("closed-late", "closed", Some("2024-01-01T00:00:00")),
    ("pixels", "pixels", None),
    // Closed to everyone but another group: a member of `team` holds some closed collections
    // whole and not this one.
    ("inner-old", "inner", Some("2020-01-01T00:00:00")),
];

fn rights() -> Rights {
    Rights::new(
        [
            CollectionRights {
                collection: "closed".into(),
                groups: vec!["team".into()],
                metadata_public: false,
                data_public: false,
            },
            CollectionRights {
                collection: "pixels".into(),
                groups: vec!["team".into()],
                metadata_public: true,
                data_public: false,
            },
            CollectionRights {
                collection: "open".into(),
                groups: vec!["team".into()],
                metadata_public: true,
                data_public: true,
            },
            CollectionRights {
                collection: "inner".into(),
                groups: vec!["inner-circle".into()],
                metadata_public: false,
                data_public: false,
            },
        ],
        Vec::new(),
    )
}

fn caller(membership: Option<Membership>) -> Caller {
    Caller {
        user: membership.as_ref().map(|_| "someone".to_string()),
        groups: membership.into_iter().collect(),
        ..Caller::default()
    }
}

#[tokio::test]
async fn rows_and_pixels_follow_collections_release_dates_and_ended_memberships() {
    for b in common::backends("rights", Vec::new()).await {
        let store = b.store.as_ref();
        let backend = format!("{:?}", store.dialect());
        for (name, collection, release) in IMAGES {
            let did = format!("ivo://test/{collection}?{name}");
            let mut record = common::image(&did, &format!("{:064x}", name.len()), 10.0);
            for row in [&mut record.file, &mut record.obscore] {
                row.0.retain(|(c, _)| c != "obs_collection");
                row.push("obs_collection", text(collection));
            }
            record
                .obscore
                .push("obs_release_date", Value::opt_text(release));
            store.upsert_image(record).await.expect("upsert");
        }
        let rights = Arc::new(rights());
        let index = ImageIndex::with_rights(Arc::clone(&b.store), Arc::clone(&rights));
        let dids: Vec<String> = IMAGES
            .iter()
            .map(|(n, c, _)| format!("ivo://test/{c}?{n}"))
            .collect();
        let dids: Vec<&str> = dids.iter().map(String::as_str).collect();
        let now = at("2026-06-01T00:00:00Z");
        let ended = Membership {
            group: "team".into(),
            ends: Some(at("2022-06-01T00:00:00Z")),
        };
        let cases: [(&str, Caller, &[&str], &[&str]); 5] = [
            (
                "anonymous",
                caller(None),
                &["open-old", "open-released", "pixels"],
                &["open-old", "open-released"],
            ),
            (
                "member",
                caller(Some(Membership::lasting("team"))),
                &[
                    "open-old",
                    "open-released",
                    "open-future",
                    "closed-early",
                    "closed-late",
                    "pixels",
                ],
                &[
                    "open-old",
                    "open-released",
                    "open-future",
                    "closed-early",
                    "closed-late",
                    "pixels",
                ],
            ),
            (
                "former member",
                caller(Some(ended)),
                &["open-old", "open-released", "closed-early", "pixels"],
                &["open-old", "open-released", "closed-early", "pixels"],
            ),
            (
                "member of another group",
                caller(Some(Membership::lasting("others"))),
                &["open-old", "open-released", "pixels"],
                &["open-old", "open-released"],
            ),
            (
                "member of the inner circle only",
                caller(Some(Membership::lasting("inner-circle"))),
                &["open-old", "open-released", "pixels", "inner-old"],
                &["open-old", "open-released", "inner-old"],
            ),
        ];
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        for (who, caller, visible, readable) in cases {
            // Through the image index (its own clock: the release dates above sit far
            // enough from today for the answer not to depend on it).
            let found = index.images(&caller, &dids).await.expect("images");
            let seen: BTreeSet<String> = found
                .values()
                .map(|i| i.did.rsplit('?').next().unwrap_or_default().to_string())
                .collect();
            assert_eq!(seen, names(visible), "{} {who}: metadata", backend);
            let pixels: BTreeSet<String> = found
                .values()
                .filter(|i| i.data_readable)
                .map(|i| i.did.rsplit('?').next().unwrap_or_default().to_string())
                .collect();
            assert_eq!(pixels, names(readable), "{} {who}: pixels", backend);
            // The same rule as SQL at a fixed moment, as the query pipeline applies it.
            for (access, expected) in [(Access::Metadata, visible), (Access::Data, readable)] {
                let condition = rights.row_condition(&caller, access, "", store.dialect(), now);
                let rows = store
                    .query(
                        format!(
                            "SELECT obs_id FROM {} WHERE {condition} ORDER BY obs_id",
                            ddl::table_name(store.dialect(), "ivoa", "ObsCore")
                        ),
                        Vec::new(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{condition}: {e}"));
                let got: BTreeSet<String> = rows
                    .rows
                    .iter()
                    .filter_map(|r| r.first()?.as_str())
                    .map(|d| d.rsplit('?').next().unwrap_or_default().to_string())
                    .collect();
                assert_eq!(
                    got,
                    names(expected),
                    "{} {who}: {access:?} at {now}",
                    backend
                );
            }
        }
        // The image index of an unrestricted archive still hides rows released in the future.
        let plain = ImageIndex::new(Arc::clone(&b.store));
        let found = plain.images(&caller(None), &dids).await.expect("images");
        assert!(
            !found.keys().any(|d| d.ends_with("open-future")),
            "{}",
            backend
        );
        assert_eq!(found.len(), 6, "{}", backend);
    }
}

#[tokio::test]
async fn plans_of_a_closed_collection_are_hidden_from_those_outside_it() {
    for b in common::backends("rights_plans", Vec::new()).await {
        let store = b.store.as_ref();
        let d = store.dialect();
        let table = ddl::table_name(d, "ivoa", "obsplan");
        let mut statements = Vec::new();
        for (obs_id, collection) in [
            ("p-open", Some("open")),
            ("p-closed", Some("closed")),
            ("p-pixels", Some("pixels")),
            ("p-inner", Some("inner")),
            ("p-none", None),
        ] {
            statements.push(skyport_store::Statement::new(
                format!(
                    "INSERT INTO {table} (t_planning, obs_id, obs_collection, t_min, t_max, \
                     t_exptime, facility_name, category, priority, execution_status, tracking_type) \
                     VALUES (61000, {}, {}, 61010.2, 61010.21, 30, 'Rubin', 'Fixed', 1, 'Planned', 'Sidereal')",
                    ddl::placeholder(d, 1),
                    ddl::placeholder(d, 2)
                ),
                vec![text(obs_id), Value::opt_text(collection)],
            ));
        }
        store.write("test", statements).await.expect("plans");
        let rights = rights();
        let shape = skyport_store::TableShape {
            schema: "ivoa",
            table: "obsplan",
            columns: vec!["obs_id", "obs_collection"],
        };
        let now = at("2026-06-01T00:00:00Z");
        let ended = Membership {
            group: "team".into(),
            ends: Some(at("2022-06-01T00:00:00Z")),
        };
        for (who, c, expected) in [
            (
                "anonymous",
                caller(None),
                &["p-none", "p-open", "p-pixels"][..],
            ),
            (
                "member",
                caller(Some(Membership::lasting("team"))),
                &["p-closed", "p-none", "p-open", "p-pixels"][..],
            ),
            // A plan has no release date to keep what was released before the end.
            (
                "former member",
                caller(Some(ended)),
                &["p-none", "p-open", "p-pixels"][..],
            ),
            (
                "inner circle",
                caller(Some(Membership::lasting("inner-circle"))),
                &["p-inner", "p-none", "p-open", "p-pixels"][..],
            ),
        ] {
            let filter = rights
                .row_filter(&c, &shape, &BTreeSet::new(), d, now, "t.")
                .unwrap_or_else(|| "1 = 1".into());
            let rows = store
                .query(
                    format!("SELECT obs_id FROM {table} AS t WHERE {filter} ORDER BY obs_id"),
                    Vec::new(),
                )
                .await
                .unwrap_or_else(|e| panic!("{filter}: {e}"));
            let got: Vec<&str> = rows
                .rows
                .iter()
                .filter_map(|r| r.first()?.as_str())
                .collect();
            assert_eq!(got, expected, "{:?} {who}", d);
        }
    }
}
