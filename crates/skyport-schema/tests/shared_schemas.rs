//! Every real Felis file in the shared data loads (Rubin's sdm_schemas).

use std::path::PathBuf;

#[test]
fn every_shared_felis_schema_loads() {
    let dir = std::env::var_os("SKYPORT_SHARED_DATA")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
            PathBuf::from,
        )
        .join("schemas/sdm_schemas");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is the shared data beside the repository?)",
            dir.display()
        )
    });
    let mut loaded = Vec::new();
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("read");
            // obscore_nominal.yaml is a metadata overlay for ObsCore with no datatypes, not a
            // complete Felis schema: it must be refused, saying what is missing.
            if path
                .file_name()
                .is_some_and(|n| n == "obscore_nominal.yaml")
            {
                let err = skyport_schema::Schema::from_yaml(&text, "obscore_nominal.yaml")
                    .expect_err("no datatypes");
                assert!(err.to_string().contains("datatype"), "{err}");
                continue;
            }
            let schema = skyport_schema::Schema::from_yaml(&text, &path.display().to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(!schema.tables.is_empty(), "{}", path.display());
            loaded.push(schema.name);
        }
    }
    for must in [
        "ivoa",
        "cdb_lsstcam",
        "cdb_latiss",
        "dp02_dc2_catalogs",
        "efd_lsstcam",
        "HscSchema",
        "cdb_startrackerwide",
    ] {
        assert!(
            loaded.iter().any(|n| n == must),
            "{must} not loaded: {loaded:?}"
        );
    }
}
