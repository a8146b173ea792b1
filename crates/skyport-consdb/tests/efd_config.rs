//! Rubin's real transformed-EFD configs load, and the tables they imply match the Felis
//! schemas Rubin generated from the same configs (sdm_schemas `efd_<instrument>.yaml`, read
//! independently here with serde).

use std::path::PathBuf;

use skyport_consdb::efd::{config::Target, schema, EfdConfig, EfdError};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

fn config(instrument: &str) -> EfdConfig {
    let path = shared(&format!(
        "consdb/transformed_efd_config/config_{instrument}.yaml"
    ));
    EfdConfig::load(&path).unwrap_or_else(|e| panic!("{instrument}: {e}"))
}

#[test]
fn the_real_configs_load_with_every_column() {
    for (instrument, columns, topics) in [
        ("latiss", 267, 13),
        ("lsstcam", 491, 31),
        ("lsstcomcam", 489, 31),
    ] {
        let c = config(instrument);
        assert_eq!(c.columns.len(), columns, "{instrument}");
        let mut names: Vec<&str> = c
            .columns
            .iter()
            .flat_map(|col| col.topics.iter().map(|t| t.name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), topics, "{instrument}");
    }
    // YAML 1.1 would read the field `y` as a boolean; it is the hexapod's Y position.
    let c = config("lsstcam");
    let y = c
        .column("mt_hexapod_uncompensated_position_y_mean")
        .expect("column");
    assert_eq!(y.topics[0].fields, ["y"]);
}

/// (table, column) → (datatype, unit, ucd) of a Felis file.
fn felis(instrument: &str) -> Vec<(String, String, String, String, String)> {
    let text = std::fs::read_to_string(shared(&format!(
        "schemas/sdm_schemas/efd_{instrument}.yaml"
    )))
    .expect("felis file");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    let mut out = Vec::new();
    for t in doc["tables"].as_array().expect("tables") {
        for c in t["columns"].as_array().expect("columns") {
            let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
            out.push((
                t["name"].as_str().unwrap_or("").to_string(),
                s("name"),
                s("datatype"),
                s("ivoa:unit").trim_matches('"').to_string(),
                s("ivoa:ucd"),
            ));
        }
    }
    out
}

#[test]
fn every_column_rubin_declares_is_created_with_its_unit_and_ucd() {
    for instrument in ["latiss", "lsstcam"] {
        let c = config(instrument);
        let ours = schema::schema(instrument, &c).expect("schema");
        assert_eq!(ours.name, format!("efd_{instrument}"));
        let theirs = felis(instrument);
        assert!(theirs.len() > 500, "{instrument}: {}", theirs.len());
        for (table, column, datatype, unit, ucd) in &theirs {
            let t = ours
                .table(table)
                .unwrap_or_else(|| panic!("{instrument}: no table {table}"));
            let col = t
                .column(column)
                .unwrap_or_else(|| panic!("{instrument}: no column {table}.{column}"));
            let our_type = format!("{:?}", col.datatype).to_lowercase();
            assert_eq!(&our_type, datatype, "{instrument}: {table}.{column}");
            if ![
                "day_obs",
                "seq_num",
                "exposure_id",
                "visit_id",
                "created_at",
            ]
            .contains(&column.as_str())
            {
                assert_eq!(col.unit.as_deref().unwrap_or(""), unit, "{table}.{column}");
                assert_eq!(col.ucd.as_deref().unwrap_or(""), ucd, "{table}.{column}");
            }
        }
        // And nothing more than Rubin's (besides history tables and the scheduler).
        for t in ours
            .tables
            .iter()
            .filter(|t| Target::ALL.iter().any(|x| x.table() == t.name))
        {
            for col in &t.columns {
                assert!(
                    theirs
                        .iter()
                        .any(|(tn, cn, ..)| *tn == t.name && *cn == col.name),
                    "{instrument}: {}.{} is not in Rubin's schema",
                    t.name,
                    col.name
                );
            }
        }
    }
}

#[test]
fn unknown_keys_and_functions_are_errors_naming_the_column() {
    let base = "version: 1.0.0\ncolumns:\n- name: mt_x_mean\n  function: mean\n  datatype: float\n  description: x\n  packed_series: false\n  topics:\n  - name: lsst.sal.X.y\n    fields:\n    - name: x\n";
    assert!(EfdConfig::parse(base, "t").is_ok());
    for (change, says) in [
        (
            base.replace("function: mean", "function: average"),
            "unknown function \"average\"",
        ),
        (
            base.replace(
                "  packed_series: false\n",
                "  packed_series: false\n  colour: red\n",
            ),
            "unknown key \"colour\"",
        ),
        (
            base.replace(
                "function: mean",
                "function: stddev\n  function_args: {degree: 2}",
            ),
            "takes no argument \"degree\"",
        ),
        (
            base.replace(
                "  datatype: float\n",
                "  datatype: float\n  tables: [exposure_efd, night_efd]\n",
            ),
            "unknown table",
        ),
        (
            base.replace(
                "function: mean",
                "function: median\n  pre_aggregate_interval: 1s",
            ),
            "pre_aggregate_interval works with mean",
        ),
        (
            base.replace(
                "  datatype: float\n",
                "  datatype: float\n  subset_field: salIndex\n",
            ),
            "subset_field without subset_value",
        ),
    ] {
        match EfdConfig::parse(&change, "t") {
            Err(EfdError::Config { column, reason }) => {
                assert_eq!(column, "mt_x_mean", "{reason}");
                assert!(reason.contains(says), "{reason} vs {says}");
            }
            other => panic!("{says}: {other:?}"),
        }
    }
}
