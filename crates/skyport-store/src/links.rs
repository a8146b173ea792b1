//! Links stored relative to the service. ObsCore's `access_url` holds `/datalink/links?ID=…`,
//! and queries see it under the URL the server is reached at now (the ADQL catalogue's
//! `url_base`), so an archive moved to another host, port or proxy keeps every link working
//! without being ingested again. Archives built before links were stored this way hold
//! absolute links; migrating the `skyport` schema from an older version cuts them back.

use crate::{ddl, Dialect, MigrationStep};

/// The columns holding service-relative links: (schema, table, column).
pub const RELATIVE_LINK_COLUMNS: [(&str, &str, &str); 1] = [("ivoa", "ObsCore", "access_url")];

/// The path every stored `access_url` starts with (followed by the encoded DID).
pub const DATALINK_PATH: &str = "/datalink/links?ID=";

/// The version of the `skyport` schema from which links are stored relative.
const RELATIVE_SINCE: &str = "1.2.0";

/// Whether `steps` migrated an archive whose links are absolute (its `skyport` schema is
/// older than the version that stores them relative).
pub fn absolute_links_to_cut(steps: &[MigrationStep]) -> bool {
    steps.iter().any(|s| {
        s.schema == "skyport"
            && s.from_version
                .as_deref()
                .is_some_and(|v| crate::version_cmp(v, RELATIVE_SINCE).is_lt())
    })
}

/// The statement cutting absolute `access_url` values (`http://host:port/base/datalink/…`)
/// back to the path from `/datalink/`; a value not of that form is left alone.
pub fn cut_absolute_links_sql(dialect: Dialect) -> String {
    let obscore = ddl::table_name(dialect, "ivoa", "ObsCore");
    let position = match dialect {
        Dialect::Sqlite => format!("instr(access_url, '{DATALINK_PATH}')"),
        Dialect::Postgres => format!("strpos(access_url, '{DATALINK_PATH}')"),
    };
    format!(
        "UPDATE {obscore} SET access_url = substr(access_url, {position}) \
         WHERE access_url NOT LIKE '/%' AND {position} > 0"
    )
}
