//! `skyport.toml`: the archive's configuration.
//!
//! Unknown keys are errors (a typo must not be silently ignored), and every error names the key.
//! Relative paths are resolved against the directory of the config file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use skyport_consdb::{default_bands, Band, DataRoot, IngestSettings};
use skyport_server::{Limits, ServerSettings};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`
    #[serde(default)]
    pub server: ServerSection,
    /// `[database]`
    pub database: DatabaseSection,
    /// `[archive]`
    pub archive: ArchiveSection,
    /// `[limits]`
    #[serde(default)]
    pub limits: Limits,
    /// `[consdb]`
    #[serde(default)]
    pub consdb: ConsDbSection,
    /// The ConsDB schemas `[consdb]` asks for, read once at load (not a key).
    #[serde(skip)]
    pub consdb_schemas: Vec<skyport_schema::Schema>,
    /// The archive's `ivoa` schema when `archive.obscore` extends ObsCore, read once at load
    /// (not a key).
    #[serde(skip)]
    pub obscore_schema: Option<skyport_schema::Schema>,
    /// Each root's ObsCore templates with their columns' kinds, checked at load (not a key).
    #[serde(skip)]
    pub obscore_templates: Vec<Vec<skyport_consdb::obscore_values::ColumnTemplate>>,
    /// `[auth]`: identity, scopes, restricted tables.
    #[serde(default)]
    pub auth: crate::auth_config::AuthSection,
    /// `[quotas]`: per-user limits.
    #[serde(default)]
    pub quotas: skyport_server::access::Quotas,
    /// `[[efd]]`: one transformed-EFD summary per instrument.
    #[serde(default)]
    pub efd: Vec<EfdSection>,
    /// `[[releases]]`: named groups of collections (data releases, or labels of unreleased
    /// data), each servable under `/releases/<name>/` and freezable as a snapshot.
    #[serde(default)]
    pub releases: Vec<ReleaseEntry>,
    /// `[hips]`: how HiPS sky maps are built and where they are kept.
    #[serde(default)]
    pub hips: HipsSection,
    /// `[workspace]`: users' own files.
    #[serde(default)]
    pub workspace: WorkspaceSection,
    /// `[object_store]`: how roots in an object store are reached.
    #[serde(default)]
    pub object_store: crate::objects_config::ObjectStoreSection,
    /// The configs and schemas of `[[efd]]`, read once at load (not a key).
    #[serde(skip)]
    pub efd_loaded: Vec<(skyport_consdb::efd::EfdConfig, skyport_schema::Schema)>,
    /// Directory of the config file (not a key).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The certificates of `server.upload_ca_file`, read and checked (not a key).
    #[serde(skip)]
    pub upload_ca_pem: Option<Vec<u8>>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address to listen on.
    pub listen: String,
    /// Public base URL; defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Title of the landing page.
    pub title: String,
    /// The archive's dataset label in service discovery (`/repertoire/discovery`), the name
    /// Rubin's clients ask for (`RSPDiscovery("<dataset>", …)`).
    pub dataset: String,
    /// Read-only database connections.
    pub readers: usize,
    /// Certificates (PEM) trusted for https uploads besides the system's roots.
    pub upload_ca_file: Option<PathBuf>,
    /// Hosts and networks (`10.1.0.0/16`, `vo.internal.example`) uploads may be fetched from
    /// although they are not public; none by default.
    pub upload_allow: skyport_server::UploadAllow,
    /// Addresses of authenticating proxies whose `X-Auth-Request-User` header is believed
    /// (none by default: the header is then ignored).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a client has to send a request's headers; also how long a kept-alive
    /// connection may stay idle.
    pub header_timeout_seconds: u64,
    /// Seconds a response may wait for its client to read it before the connection ends.
    pub write_stall_seconds: u64,
    /// Connections one client address may hold open at once (0: no limit).
    pub connections_per_address: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            title: "skyport archive".into(),
            dataset: "skyport".into(),
            readers: 4,
            upload_ca_file: None,
            upload_allow: Default::default(),
            trusted_proxies: Vec::new(),
            header_timeout_seconds: skyport_server::ConnectionSettings::default().header_seconds,
            write_stall_seconds: skyport_server::ConnectionSettings::default().write_stall_seconds,
            connections_per_address: skyport_server::ConnectionSettings::default()
                .connections_per_address,
        }
    }
}

impl ServerSection {
    /// The bounds of the accept loop.
    pub fn connections(&self) -> skyport_server::ConnectionSettings {
        skyport_server::ConnectionSettings {
            header_seconds: self.header_timeout_seconds,
            write_stall_seconds: self.write_stall_seconds,
            connections_per_address: self.connections_per_address,
            uncapped: self.trusted_proxies.clone(),
        }
    }
}

/// `[consdb]`: the Consolidated Database's schemas in this archive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsDbSection {
    /// Create (and migrate) the `cdb_<instrument>` schemas, served through TAP.
    #[serde(default)]
    pub enabled: bool,
    /// A directory of `cdb_*.yaml` Felis files to use instead of the seven that ship with
    /// skyport (a new instrument is a new file).
    pub schemas: Option<PathBuf>,
}

/// `[workspace]`: each user's own files, served over WebDAV at `/webdav/<user>/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceSection {
    /// Whether users may keep files (default yes).
    pub enabled: bool,
    /// Where (relative to the config); default `workspace`.
    pub dir: PathBuf,
    /// Bytes each user may keep (default 1 GiB; 0: no limit).
    pub quota_bytes: u64,
    /// Files and directories each user may keep (default 100,000; 0: no limit).
    pub quota_entries: u64,
    /// Rows each user may keep in their tables (default 100 million; 0: no limit).
    pub quota_table_rows: u64,
}

impl Default for WorkspaceSection {
    fn default() -> WorkspaceSection {
        WorkspaceSection {
            enabled: true,
            dir: PathBuf::from("workspace"),
            quota_bytes: 1 << 30,
            quota_entries: 100_000,
            quota_table_rows: 100_000_000,
        }
    }
}

/// `[hips]`: HiPS sky maps (one per collection and band), built by `skyport hips build` and
/// brought up to date after every ingest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HipsSection {
    /// Where HiPS are kept (relative to the config); default `hips`.
    pub dir: PathBuf,
    /// Tile width in pixels (a power of two, 8 to 4096).
    pub tile_width: usize,
    /// How overlapping images combine: `mean`, `min` or `max`.
    pub combine: String,
    /// The PNG tiles' stretch: `asinh` or `zscale`.
    pub stretch: String,
    /// The deepest order chosen automatically (from the images' pixel scale).
    pub max_order: u8,
    /// Images kept in memory at once while building, in MiB of pixels.
    pub cache_mb: usize,
    /// Mask planes whose pixels are left out (names of the mask's `MP_*` keywords).
    pub mask_planes: Vec<String>,
    /// Bring existing HiPS up to date after `skyport ingest` and `skyport consdb
    /// ingest-headers`.
    pub after_ingest: bool,
    /// While serving, bring existing HiPS up to date when an image's release date passes.
    pub follow_releases: bool,
}

impl Default for HipsSection {
    fn default() -> HipsSection {
        let built = skyport_hips::BuildSettings::default();
        HipsSection {
            dir: PathBuf::from("hips"),
            tile_width: built.tile_width,
            combine: "mean".into(),
            stretch: "asinh".into(),
            max_order: built.max_order,
            cache_mb: built.cache_bytes >> 20,
            mask_planes: built.mask.planes,
            after_ingest: true,
            follow_releases: true,
        }
    }
}

/// `[[efd]]`: engineering telemetry summarised per exposure and visit for one instrument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfdSection {
    /// The ConsDB instrument (its `cdb_<instrument>` gives the exposures and visits).
    pub instrument: String,
    /// Rubin's transformed-EFD config (`config_<instrument>.yaml`).
    pub config: PathBuf,
    /// Window length (`5m`, `1h`…).
    #[serde(default = "default_window")]
    pub window: String,
    /// Failed attempts before a window is left alone.
    #[serde(default = "default_retries")]
    pub max_retries: i64,
    /// Wait after the first failure (`1m`); doubles per further failure.
    #[serde(default = "default_backoff")]
    pub backoff: String,
    /// InfluxDB 1.x URL (`http://127.0.0.1:8086`) — or `exports` for CSV files.
    pub influxdb_url: Option<String>,
    /// InfluxDB database.
    #[serde(default = "default_influx_db")]
    pub influxdb_database: String,
    /// InfluxDB user (the password comes from SKYPORT_EFD_PASSWORD).
    pub influxdb_user: Option<String>,
    /// A directory of `<topic>.csv` exports, instead of InfluxDB.
    pub exports: Option<PathBuf>,
}

fn default_window() -> String {
    "5m".into()
}
fn default_retries() -> i64 {
    5
}
fn default_backoff() -> String {
    "1m".into()
}
fn default_influx_db() -> String {
    "efd".into()
}

/// Which database holds the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// SQLite database file (the embedded backend).
    pub sqlite: Option<PathBuf>,
    /// PostgreSQL database, `postgres://user:password@host:port/database` (instead of `sqlite`).
    pub url: Option<String>,
    /// The archive is a read-only replica (fed by `skyport replicate subscribe`): skyport
    /// serves it but never writes archive rows.
    #[serde(default)]
    pub read_only: bool,
    /// Directory of async job files (uploads, results); default `jobs` beside the config.
    #[serde(default = "default_jobs_dir")]
    pub jobs: PathBuf,
    /// Directory of rendered previews and extracted planes; default `cache` beside the config.
    #[serde(default = "default_cache_dir")]
    pub cache: PathBuf,
    /// Directory of frozen releases' snapshots; default `releases` beside the config.
    #[serde(default = "default_releases_dir")]
    pub releases: PathBuf,
    /// SQLite only: MiB of the database file the query readers read through a memory map
    /// (0, the default: none; at most 2047). Faster for queries that read pages scattered
    /// over a file much larger than SQLite's cache; the mapped pages count in the server's
    /// resident memory (docs/performance.md).
    #[serde(default)]
    pub sqlite_mmap_mb: u64,
}

fn default_releases_dir() -> PathBuf {
    PathBuf::from("releases")
}

/// `[[releases]]`: a named group of collections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseEntry {
    /// Its name, used in URLs (`dr1`, `prompt`): lower-case letters, digits, `_`, `-`, `.`.
    pub name: String,
    /// What it is, for people.
    #[serde(default)]
    pub description: String,
    /// The collections (`obs_collection`, named by `[[archive.roots]]`) it holds.
    pub collections: Vec<String>,
}

fn default_jobs_dir() -> PathBuf {
    PathBuf::from("jobs")
}

fn default_cache_dir() -> PathBuf {
    PathBuf::from("cache")
}

/// `[archive]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    /// Publisher authority of DIDs (`ivo://<authority>/…`).
    pub authority: String,
    /// Refuse images without a celestial WCS.
    #[serde(default = "yes")]
    pub require_wcs: bool,
    /// A Felis file declaring ObsCore (Rubin's `ivoa_obscore.yaml`, say) whose columns the
    /// built-in ObsCore lacks are added to the archive's: created, shown in TAP_SCHEMA, and
    /// filled at ingest by the roots' `obscore` templates.
    #[serde(default)]
    pub obscore: Option<PathBuf>,
    /// Data roots.
    pub roots: Vec<RootEntry>,
    /// Band table; defaults to LSST ugrizy.
    #[serde(default)]
    pub bands: Vec<BandEntry>,
}

fn yes() -> bool {
    true
}

/// `[[archive.roots]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootEntry {
    /// Short name used in `/files/<name>/…`.
    pub name: String,
    /// Directory (or `url`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `s3://BUCKET/PREFIX`: the root's images are objects in a store (`[object_store]`).
    #[serde(default)]
    pub url: Option<String>,
    /// ObsCore collection.
    pub collection: String,
    /// ObsCore calib_level.
    #[serde(default = "one")]
    pub calib_level: i64,
    /// The groups holding data rights to the collection (see docs/security.md).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Who sees its metadata rows: `public` (default) or `groups`.
    #[serde(default)]
    pub metadata: Audience,
    /// Who reads its pixels: `public` (default) or `groups`.
    #[serde(default)]
    pub data: Audience,
    /// ObsCore `obs_release_date` of its images (ISO 8601, UTC): proprietary until then.
    #[serde(default)]
    pub release_date: Option<String>,
    /// The header translator of its files (ConsDB's instrument names: `lsstcam`, `latiss`…),
    /// whose exposure and detector fields its `obscore` templates may use.
    #[serde(default)]
    pub instrument: Option<String>,
    /// ObsCore values for its files, by column: templates over what ingest knows of a file
    /// (`lsst_visit = "{exposure_id}"`, `dataproduct_subtype = "lsst.raw"`). They fill only
    /// columns ingest leaves empty.
    #[serde(default)]
    pub obscore: std::collections::BTreeMap<String, String>,
}

/// Who may read something of a collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Anyone (its released rows).
    #[default]
    Public,
    /// The collection's `groups` only.
    Groups,
}

fn one() -> i64 {
    1
}

/// `[[archive.bands]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandEntry {
    /// Band name as in headers.
    pub name: String,
    /// Shortest wavelength, metres.
    pub em_min: f64,
    /// Longest wavelength, metres.
    pub em_max: f64,
}

/// A configuration problem, naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The config file.
    pub file: String,
    /// What is wrong, naming the key.
    pub message: String,
}

impl Config {
    /// Reads, parses and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            file: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.check().map_err(err)?;
        if config.consdb.enabled {
            config.consdb_schemas = match &config.consdb.schemas {
                None => skyport_consdb::schemas::builtin(),
                Some(dir) => skyport_consdb::schemas::from_dir(&config.resolve(dir))
                    .map_err(|e| err(format!("consdb.schemas: {e}")))?,
            };
        }
        let mut efd_loaded = Vec::new();
        for (i, e) in config.efd.iter().enumerate() {
            let at = |m: String| err(format!("efd[{i}] ({}): {m}", e.instrument));
            if !config.consdb.enabled
                || !config
                    .consdb_schemas
                    .iter()
                    .any(|s| s.name == format!("cdb_{}", e.instrument))
            {
                return Err(at(format!(
                    "needs [consdb] enabled with cdb_{} (exposure and visit times come from it)",
                    e.instrument
                )));
            }
            if e.influxdb_url.is_some() == e.exports.is_some() {
                return Err(at("give exactly one of influxdb_url and exports".into()));
            }
            for (key, value) in [("window", &e.window), ("backoff", &e.backoff)] {
                if skyport_consdb::efd::config::parse_duration_ns(value).is_none() {
                    return Err(at(format!("{key} = {value:?} is not a duration like 5m")));
                }
            }
            let c = skyport_consdb::efd::EfdConfig::load(&config.resolve(&e.config))
                .map_err(|m| at(m.to_string()))?;
            let s = skyport_consdb::efd::schema::schema(&e.instrument, &c)
                .map_err(|m| at(m.to_string()))?;
            efd_loaded.push((c, s));
        }
        config.efd_loaded = efd_loaded;
        if let Some(file) = &config.archive.obscore {
            let path = config.resolve(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err(format!("archive.obscore = {file:?}: cannot read: {e}")))?;
            let schema =
                skyport_schema::obscore_with_extensions(&text, &path.display().to_string())
                    .map_err(|e| err(format!("archive.obscore: {e}")))?;
            config.obscore_schema = Some(schema);
        }
        config.obscore_templates = config.root_templates().map_err(err)?;
        if let Some(file) = &config.server.upload_ca_file {
            let pem = std::fs::read(config.resolve(file)).map_err(|e| {
                err(format!(
                    "server.upload_ca_file = {file:?}: cannot read: {e}"
                ))
            })?;
            match reqwest::Certificate::from_pem_bundle(&pem) {
                Ok(certs) if !certs.is_empty() => config.upload_ca_pem = Some(pem),
                Ok(_) => {
                    return Err(err(format!(
                        "server.upload_ca_file = {file:?} holds no certificate"
                    )))
                }
                Err(e) => {
                    return Err(err(format!(
                        "server.upload_ca_file = {file:?} is not PEM: {e}"
                    )))
                }
            }
        }
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        self.listen_addr()?;
        let a = &self.archive;
        if a.authority.trim().is_empty() || a.authority.contains(['/', '?', '#', ' ']) {
            return Err(format!(
                "archive.authority = {:?} must be a bare authority like \"example.org\"",
                a.authority
            ));
        }
        self.auth.check()?;
        self.check_releases()?;
        self.object_store.check()?;
        if a.roots.is_empty() {
            return Err("archive.roots: at least one [[archive.roots]] is needed".into());
        }
        for (i, r) in a.roots.iter().enumerate() {
            let valid_name = !r.name.is_empty()
                && r.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(format!(
                    "archive.roots[{i}].name = {:?}: use letters, digits, '_' and '-'",
                    r.name
                ));
            }
            if a.roots[..i].iter().any(|o| o.name == r.name) {
                return Err(format!(
                    "archive.roots[{i}].name = {:?} is used twice",
                    r.name
                ));
            }
            if r.collection.trim().is_empty() || r.collection.contains(['?', '#', ' ']) {
                return Err(format!(
                    "archive.roots[{i}].collection = {:?} must be a non-empty word",
                    r.collection
                ));
            }
            if !(0..=4).contains(&r.calib_level) {
                return Err(format!(
                    "archive.roots[{i}].calib_level = {} must be 0 to 4 (ObsCore)",
                    r.calib_level
                ));
            }
            if let Some(date) = &r.release_date {
                if skyport_schema::time::parse_iso(date).is_none() {
                    return Err(format!(
                        "archive.roots[{i}].release_date = {date:?} is not an ISO 8601 date or time"
                    ));
                }
            }
            if (r.metadata == Audience::Groups || r.data == Audience::Groups) && r.groups.is_empty()
            {
                return Err(format!(
                    "archive.roots[{i}]: metadata or data restricted to `groups` needs `groups = [...]`"
                ));
            }
            match (&r.path, &r.url) {
                (Some(path), None) => {
                    let dir = self.resolve(path);
                    if !dir.is_dir() {
                        return Err(format!(
                            "archive.roots[{i}].path = {path:?}: {} is not a directory",
                            dir.display()
                        ));
                    }
                }
                (None, Some(url)) => {
                    let root = skyport_objects::ObjectRoot::parse(&r.name, url)
                        .map_err(|e| format!("archive.roots[{i}].url: {e}"))?;
                    // An object would belong to two roots (two collections, two sets of
                    // rights), and listing the outer would take the inner's objects.
                    for (j, other) in a.roots[..i].iter().enumerate() {
                        let Some(o) = other
                            .url
                            .as_deref()
                            .and_then(|u| skyport_objects::ObjectRoot::parse(&other.name, u).ok())
                        else {
                            continue;
                        };
                        let within = |outer: &str, inner: &str| {
                            outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"))
                        };
                        if o.bucket == root.bucket
                            && (within(&o.prefix, &root.prefix) || within(&root.prefix, &o.prefix))
                        {
                            return Err(format!(
                                "archive.roots[{i}].url = {url:?} overlaps archive.roots[{j}]'s: an object would be in two roots"
                            ));
                        }
                    }
                }
                _ => {
                    return Err(format!(
                        "archive.roots[{i}]: give either `path` (a directory) or `url` (s3://BUCKET/PREFIX)"
                    ))
                }
            }
        }
        for (i, b) in a.bands.iter().enumerate() {
            if !(b.em_min.is_finite()
                && b.em_max.is_finite()
                && 0.0 < b.em_min
                && b.em_min < b.em_max)
            {
                return Err(format!(
                    "archive.bands[{i}] ({}): need 0 < em_min < em_max in metres, got {} and {}",
                    b.name, b.em_min, b.em_max
                ));
            }
        }
        self.hips_settings()?;
        let l = &self.limits;
        if l.maxrec_default > l.maxrec_hard {
            return Err(format!(
                "limits.maxrec_default = {} exceeds limits.maxrec_hard = {}",
                l.maxrec_default, l.maxrec_hard
            ));
        }
        if l.execution_seconds_default > l.execution_seconds_hard {
            return Err(
                "limits.execution_seconds_default exceeds limits.execution_seconds_hard".into(),
            );
        }
        match (&self.database.sqlite, &self.database.url) {
            (Some(_), Some(_)) => {
                return Err(
                    "database: give either sqlite (a file) or url (PostgreSQL), not both".into(),
                )
            }
            (None, None) => {
                return Err(
                    "database: give sqlite = \"FILE\" (embedded) or url = \"postgres://…\"".into(),
                )
            }
            (None, Some(url))
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) =>
            {
                return Err(format!(
                    "database.url must be a postgres:// URL, got {:?}",
                    skyport_store::postgres::redact(url)
                ))
            }
            _ => {}
        }
        if self.database.sqlite_mmap_mb > skyport_store::SQLITE_MMAP_MB_MAX {
            return Err(format!(
                "database.sqlite_mmap_mb = {} must be at most {} (SQLite maps at most 2 GiB)",
                self.database.sqlite_mmap_mb,
                skyport_store::SQLITE_MMAP_MB_MAX
            ));
        }
        if self.server.readers == 0 || self.server.readers > 64 {
            return Err(format!(
                "server.readers = {} must be 1 to 64",
                self.server.readers
            ));
        }
        Ok(())
    }

    /// `[[releases]]`: names fit for a URL and used once, known collections.
    fn check_releases(&self) -> Result<(), String> {
        for (i, r) in self.releases.iter().enumerate() {
            let at = |m: String| format!("releases[{i}] ({}): {m}", r.name);
            let valid_name = (1..=64).contains(&r.name.len())
                && r.name
                    .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && r.name.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')
                });
            if !valid_name {
                return Err(at(
                    "name: use 1 to 64 lower-case letters, digits, '_', '-' and '.', from a letter or digit".into(),
                ));
            }
            if self.releases[..i].iter().any(|o| o.name == r.name) {
                return Err(at("name is used twice".into()));
            }
            if r.collections.is_empty() {
                return Err(at("collections: name at least one".into()));
            }
            for c in &r.collections {
                if !self.archive.roots.iter().any(|root| &root.collection == c) {
                    return Err(at(format!(
                        "collections: {c:?} is no collection of [[archive.roots]]"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The release called `name`.
    pub fn release(&self, name: &str) -> Option<&ReleaseEntry> {
        self.releases.iter().find(|r| r.name == name)
    }

    /// Where frozen releases' snapshots are kept.
    pub fn releases_dir(&self) -> PathBuf {
        self.resolve(&self.database.releases)
    }

    /// The schemas a release's snapshot holds: the built-in ones, ObsCore as the archive
    /// declares it (ConsDB and the EFD stay with the live archive).
    pub fn release_schemas(&self) -> Vec<skyport_schema::Schema> {
        let mut schemas = skyport_schema::builtin_schemas();
        if let Some(ivoa) = &self.obscore_schema {
            for s in schemas.iter_mut().filter(|s| s.name == ivoa.name) {
                *s = ivoa.clone();
            }
        }
        schemas
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.server.listen.parse().map_err(|_| {
            format!(
                "server.listen = {:?} is not an address like 127.0.0.1:8080",
                self.server.listen
            )
        })
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// Every schema the archive holds: skyport's own (ObsCore extended when `archive.obscore`
    /// says so), and the ConsDB ones when enabled.
    pub fn schemas(&self) -> Vec<skyport_schema::Schema> {
        let mut schemas = self.release_schemas();
        schemas.extend(self.consdb_schemas.iter().cloned());
        schemas.extend(self.efd_loaded.iter().map(|(_, s)| s.clone()));
        schemas
    }

    /// Each root's ObsCore templates, checked against the archive's ObsCore columns (which
    /// give each its kind) and for their syntax; the roots' instruments must have a header
    /// translator.
    fn root_templates(
        &self,
    ) -> Result<Vec<Vec<skyport_consdb::obscore_values::ColumnTemplate>>, String> {
        use skyport_consdb::obscore_values::{check, ColumnTemplate, ValueKind};
        use skyport_schema::Datatype;
        let ivoa = self
            .schemas()
            .into_iter()
            .find(|s| s.name == "ivoa")
            .ok_or("the ivoa schema is missing")?;
        let obscore = ivoa.table("ObsCore").ok_or("ivoa.ObsCore is missing")?;
        let mut all = Vec::new();
        for (i, root) in self.archive.roots.iter().enumerate() {
            let at = |m: String| format!("archive.roots[{i}] ({}): {m}", root.name);
            if let Some(instrument) = &root.instrument {
                if !skyport_consdb::headers::INSTRUMENTS.contains(&instrument.as_str()) {
                    return Err(at(format!(
                        "instrument = {instrument:?} has no header translator; known: {}",
                        skyport_consdb::headers::INSTRUMENTS.join(", ")
                    )));
                }
            }
            let mut templates = Vec::new();
            for (column, template) in &root.obscore {
                let declared = obscore
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(column))
                    .ok_or_else(|| {
                        at(format!(
                            "obscore.{column}: ObsCore has no such column (archive.obscore adds columns)"
                        ))
                    })?;
                check(template).map_err(|e| at(format!("obscore.{column}: {e}")))?;
                let kind = match declared.datatype {
                    Datatype::Boolean
                    | Datatype::Byte
                    | Datatype::Short
                    | Datatype::Int
                    | Datatype::Long => ValueKind::Integer,
                    Datatype::Float | Datatype::Double => ValueKind::Real,
                    _ => ValueKind::Text,
                };
                templates.push(ColumnTemplate {
                    column: declared.name.clone(),
                    template: template.clone(),
                    kind,
                });
            }
            all.push(templates);
        }
        Ok(all)
    }

    /// The archive database.
    pub fn database(&self) -> Database {
        match (&self.database.url, &self.database.sqlite) {
            (Some(url), _) => Database::Postgres(url.clone()),
            (None, Some(path)) => Database::Sqlite(self.resolve(path)),
            // Refused by validate.
            (None, None) => Database::Sqlite(self.resolve(Path::new("archive.sqlite"))),
        }
    }

    /// What ingest needs.
    pub fn ingest_settings(&self) -> IngestSettings {
        IngestSettings {
            authority: self.archive.authority.clone(),
            roots: self
                .archive
                .roots
                .iter()
                .enumerate()
                .map(|(i, r)| DataRoot {
                    name: r.name.clone(),
                    path: self.root_dir(r),
                    collection: r.collection.clone(),
                    calib_level: r.calib_level,
                    instrument: r.instrument.clone(),
                    obscore: self.obscore_templates.get(i).cloned().unwrap_or_default(),
                    release_date: r.release_date.as_deref().and_then(|d| {
                        skyport_schema::time::parse_iso(d)
                            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
                    }),
                })
                .collect(),
            bands: self.bands(),
            require_wcs: self.archive.require_wcs,
        }
    }

    /// Where root `r`'s images are: its directory, or for a root in an object store the
    /// `skyobj://NAME` prefix cfitsio reads its objects by (`skyport_fits::remote`).
    pub fn root_dir(&self, r: &RootEntry) -> PathBuf {
        match &r.path {
            Some(path) => self.resolve(path),
            None => PathBuf::from(format!("{}{}", skyport_fits::remote::PREFIX, r.name)),
        }
    }

    /// The roots in an object store.
    pub fn object_roots(&self) -> Vec<skyport_objects::ObjectRoot> {
        self.archive
            .roots
            .iter()
            .filter_map(|r| {
                let url = r.url.as_deref()?;
                skyport_objects::ObjectRoot::parse(&r.name, url).ok()
            })
            .collect()
    }

    /// The band table: `[[archive.bands]]`, else LSST ugrizy.
    pub fn bands(&self) -> Vec<Band> {
        if self.archive.bands.is_empty() {
            return default_bands();
        }
        self.archive
            .bands
            .iter()
            .map(|b| Band {
                name: b.name.clone(),
                em_min: b.em_min,
                em_max: b.em_max,
            })
            .collect()
    }

    /// The data-rights policy: the collections' rights from `[[archive.roots]]`.
    pub fn rights(&self) -> skyport_store::Rights {
        skyport_store::Rights::new(
            self.archive
                .roots
                .iter()
                .map(|r| skyport_store::CollectionRights {
                    collection: r.collection.clone(),
                    groups: r.groups.clone(),
                    metadata_public: r.metadata == Audience::Public,
                    data_public: r.data == Audience::Public,
                }),
            self.auth.table_rights(),
        )
    }

    /// Where and how users keep their own files; `None` when `[workspace] enabled = false`.
    pub fn workspace_settings(&self) -> Option<skyport_workspace::WorkspaceSettings> {
        let w = &self.workspace;
        w.enabled.then(|| skyport_workspace::WorkspaceSettings {
            dir: self.resolve(&w.dir),
            quota_bytes: w.quota_bytes,
            quota_entries: w.quota_entries,
            quota_table_rows: w.quota_table_rows,
        })
    }

    /// Where HiPS are kept.
    pub fn hips_dir(&self) -> PathBuf {
        self.resolve(&self.hips.dir)
    }

    /// How HiPS are built (`[hips]`, checked at load).
    pub fn hips_settings(&self) -> Result<skyport_hips::BuildSettings, String> {
        let h = &self.hips;
        if skyport_hips::tile::width_bits(h.tile_width).is_none() {
            return Err(format!(
                "hips.tile_width = {} is not a power of two from 8 to 4096",
                h.tile_width
            ));
        }
        let stretch = match h.stretch.to_ascii_lowercase().as_str() {
            "asinh" => skyport_fits::preview::Stretch::Asinh,
            "zscale" | "linear" => skyport_fits::preview::Stretch::Zscale,
            other => return Err(format!("hips.stretch = {other:?}: use asinh or zscale")),
        };
        if !(3..=20).contains(&h.max_order) {
            return Err(format!(
                "hips.max_order = {} is not between 3 and 20",
                h.max_order
            ));
        }
        Ok(skyport_hips::BuildSettings {
            tile_width: h.tile_width,
            combine: h
                .combine
                .parse()
                .map_err(|e| format!("hips.combine: {e}"))?,
            stretch,
            mask: skyport_hips::resample::MaskRule {
                planes: h.mask_planes.clone(),
            },
            max_order: h.max_order,
            cache_bytes: h.cache_mb.max(16) << 20,
            authority: self.archive.authority.clone(),
            title: self.server.title.clone(),
        })
    }

    /// What the server needs.
    pub fn server_settings(&self) -> ServerSettings {
        let l = &self.limits;
        ServerSettings {
            public_url: self.public_url(),
            title: self.server.title.clone(),
            roots: self
                .archive
                .roots
                .iter()
                .map(|r| (r.name.clone(), self.root_dir(r)))
                .collect(),
            limits: l.clone(),
            jobs_dir: self.resolve(&self.database.jobs),
            cache_dir: self.resolve(&self.database.cache),
            upload_ca_pem: self.upload_ca_pem.clone(),
            upload_allow: self.server.upload_allow.clone(),
            trusted_proxies: self.server.trusted_proxies.clone(),
            rights: std::sync::Arc::new(self.rights()),
            auth: skyport_server::access::AuthSettings {
                readers: self.server.readers,
                ..self.auth.settings(&self.quotas, |p| self.resolve(p))
            },
            extra_schemas: self
                .obscore_schema
                .iter()
                .chain(&self.consdb_schemas)
                .cloned()
                .chain(self.efd_loaded.iter().map(|(_, s)| s.clone()))
                .collect(),
            bands: self.bands(),
            dataset: self.server.dataset.clone(),
            hips_dir: Some(self.hips_dir()),
            workspace: self.workspace_settings(),
            objects: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_consdb::obscore_values::ValueKind;

    #[test]
    fn consdb_schemas_join_when_enabled() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("data")).expect("mkdir");
        let rest = "[archive]\nauthority = \"a\"\n[[archive.roots]]\nname = \"d\"\npath = \"data\"\ncollection = \"c\"\n";
        let names = |extra: &str| {
            let p = write(
                dir.path(),
                &format!("[database]\nsqlite = \"a.sqlite\"\n{extra}{rest}"),
            );
            Config::load(&p)
                .map(|c| c.schemas())
                .map(|s| s.into_iter().map(|s| s.name).collect::<Vec<_>>())
        };
        let plain = names("").expect("plain");
        assert!(!plain.iter().any(|n| n.starts_with("cdb_")));
        let with = names("[consdb]\nenabled = true\n").expect("consdb");
        assert_eq!(with.iter().filter(|n| n.starts_with("cdb_")).count(), 7);
        // A directory of one's own: only its instruments.
        let own = dir.path().join("cdb");
        std::fs::create_dir(&own).expect("mkdir");
        let (file, text) = skyport_consdb::schemas::BUILTIN[0];
        std::fs::write(own.join(file), text).expect("write");
        let one = names("[consdb]\nenabled = true\nschemas = \"cdb\"\n").expect("dir");
        assert_eq!(
            one.iter()
                .filter(|n| n.starts_with("cdb_"))
                .collect::<Vec<_>>(),
            ["cdb_latiss"]
        );
        let bad =
            names("[consdb]\nenabled = true\nschemas = \"nowhere\"\n").expect_err("missing dir");
        assert!(bad.to_string().contains("consdb.schemas"), "{bad}");
    }

    #[test]
    fn one_database_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("data")).expect("mkdir");
        let rest = "[archive]\nauthority = \"a\"\n[[archive.roots]]\nname = \"d\"\npath = \"data\"\ncollection = \"c\"\n";
        for (database, problem) in [
            (
                "sqlite = \"a.sqlite\"\nurl = \"postgres://h/db\"",
                Some("not both"),
            ),
            ("jobs = \"j\"", Some("give sqlite")),
            ("url = \"mysql://h/db\"", Some("postgres:// URL")),
            ("url = \"postgres://ann:pw@h:5432/db\"", None),
        ] {
            let p = write(dir.path(), &format!("[database]\n{database}\n{rest}"));
            match (Config::load(&p), problem) {
                (Ok(c), None) => assert_eq!(
                    c.database(),
                    Database::Postgres("postgres://ann:pw@h:5432/db".into())
                ),
                (Err(e), Some(p)) => assert!(e.to_string().contains(p), "{e}"),
                (other, _) => panic!("{database}: {:?}", other.map(|c| c.database())),
            }
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("skyport.toml");
        std::fs::write(&p, text).expect("write");
        p
    }

    const GOOD: &str = r#"
[database]
sqlite = "db/archive.sqlite"
[archive]
authority = "example.org"
[[archive.roots]]
name = "demo"
path = "data"
collection = "demo"
"#;

    #[test]
    fn releases_name_known_collections_once_with_names_fit_for_a_url() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
        let with = |releases: &str| Config::load(&write(dir.path(), &format!("{GOOD}{releases}")));
        let config =
            with("[[releases]]\nname = \"dr1\"\ncollections = [\"demo\"]\n").expect("loads");
        assert_eq!(config.release("dr1").map(|r| r.collections.len()), Some(1));
        assert_eq!(config.releases_dir(), dir.path().join("releases"));
        assert!(config
            .release_schemas()
            .iter()
            .all(|s| !s.name.starts_with("cdb_")));
        for (releases, message) in [
            ("name = \"DR 1\"\ncollections = [\"demo\"]", "releases[0] (DR 1): name: use"),
            ("name = \"../x\"\ncollections = [\"demo\"]", "releases[0] (../x): name: use"),
            ("name = \"dr1\"\ncollections = []", "collections: name at least one"),
            ("name = \"dr1\"\ncollections = [\"demos\"]", "\"demos\" is no collection"),
            ("name = \"dr1\"\ncollections = [\"demo\"]\n[[releases]]\nname = \"dr1\"\ncollections = [\"demo\"]", "releases[1] (dr1): name is used twice"),
            ("name = \"dr1\"\ncollections = [\"demo\"]\nfrozen = true", "unknown field `frozen`"),
        ] {
            let e = with(&format!("[[releases]]\n{releases}\n")).expect_err(releases);
            assert!(e.message.contains(message), "{releases}: {}", e.message);
        }
    }

    #[test]
    fn rubins_obscore_extends_the_archive_and_roots_fill_it_from_checked_templates() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let rubin = repo.join("testdata/schemas/pypi_lsst_sdm_schemas/ivoa_obscore.yaml");
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
        let with = |root_extra: &str| {
            GOOD.replace(
                "authority = \"example.org\"",
                &format!(
                    "authority = \"example.org\"\nobscore = {:?}",
                    rubin.display().to_string()
                ),
            ) + root_extra
        };
        let good = with(
            "instrument = \"lsstcam\"\n[archive.roots.obscore]\nlsst_visit = \"{exposure_id}\"\nlsst_band = \"{band}\"\nS_RESOLUTION = \"0.7\"\n",
        );
        let config = Config::load(&write(dir.path(), &good)).expect("loads");
        let ivoa = config
            .schemas()
            .into_iter()
            .find(|s| s.name == "ivoa")
            .expect("ivoa");
        let obscore = ivoa.table("ObsCore").expect("ObsCore");
        assert!(obscore.columns.iter().any(|c| c.name == "lsst_patch"));
        let root = &config.ingest_settings().roots[0];
        assert_eq!(root.instrument.as_deref(), Some("lsstcam"));
        let kinds: Vec<(&str, ValueKind)> = root
            .obscore
            .iter()
            .map(|t| (t.column.as_str(), t.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("s_resolution", ValueKind::Real),
                ("lsst_band", ValueKind::Text),
                ("lsst_visit", ValueKind::Integer),
            ]
        );
        // The server serves the extended schema in place of the built-in one.
        assert!(config
            .server_settings()
            .extra_schemas
            .iter()
            .any(|s| s.name == "ivoa"));
        for (extra, says) in [
            (
                "[archive.roots.obscore]\nlsst_nothing = \"x\"\n",
                "ObsCore has no such column",
            ),
            (
                "[archive.roots.obscore]\nlsst_band = \"{band\"\n",
                "is not closed",
            ),
            ("instrument = \"hubble\"\n", "no header translator"),
        ] {
            let e = Config::load(&write(dir.path(), &with(extra))).expect_err(extra);
            assert!(e.to_string().contains(says), "{extra}: {e}");
        }
        // Without archive.obscore, Rubin's columns are not there to fill.
        let plain = GOOD.to_string() + "[archive.roots.obscore]\nlsst_band = \"{band}\"\n";
        let e = Config::load(&write(dir.path(), &plain)).expect_err("no such column");
        assert!(e.to_string().contains("lsst_band"), "{e}");
    }

    #[test]
    fn example_config_in_the_repository_loads() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
        let text =
            std::fs::read_to_string(repo.join("skyport.example.toml")).expect("example config");
        let config = Config::load(&write(dir.path(), &text)).expect("example loads");
        assert_eq!(config.archive.roots[0].name, "demo");
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
        let c = Config::load(&write(dir.path(), GOOD)).expect("valid");
        assert_eq!(
            c.database(),
            Database::Sqlite(dir.path().join("db/archive.sqlite"))
        );
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
        assert_eq!(c.ingest_settings().bands.len(), 6, "LSST ugrizy by default");
    }

    #[test]
    fn upload_allow_reaches_the_server() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
        let strict = Config::load(&write(dir.path(), GOOD)).expect("valid");
        assert!(strict.server_settings().upload_allow.entries().is_empty());
        let text =
            format!("{GOOD}[server]\nupload_allow = [\"10.1.0.0/16\", \"VO.internal.example\"]\n");
        let c = Config::load(&write(dir.path(), &text)).expect("valid");
        assert_eq!(
            c.server_settings().upload_allow.entries(),
            [
                skyport_server::tap::AllowEntry::Network {
                    addr: std::net::Ipv4Addr::new(10, 1, 0, 0).into(),
                    prefix: 16
                },
                skyport_server::tap::AllowEntry::Host("vo.internal.example".into()),
            ]
        );
    }

    #[test]
    fn every_mistake_names_its_key() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
        let cases = [
            (GOOD.replace("authority", "authorty"), "authorty"),
            (
                GOOD.replace("\"data\"", "\"missing\""),
                "archive.roots[0].path",
            ),
            (
                GOOD.replace("example.org", "ivo://x/y"),
                "archive.authority",
            ),
            (
                format!("{GOOD}[server]\nlisten = \"localhost\"\n"),
                "server.listen",
            ),
            (
                format!("{GOOD}[limits]\nmaxrec_default = 10\nmaxrec_hard = 5\n"),
                "limits.maxrec_default",
            ),
            (
                format!("{GOOD}[server]\nupload_allow = [\"10.0.0.0/33\"]\n"),
                "upload_allow",
            ),
            (
                format!("{GOOD}[[archive.bands]]\nname = \"r\"\nem_min = 7e-7\nem_max = 5e-7\n"),
                "archive.bands[0]",
            ),
            ("this is = = not toml".to_string(), "skyport.toml"),
            // Object-store roots: a path and a url, a bad url, two that overlap, bad settings.
            (
                GOOD.replace("path = \"data\"", "path = \"data\"\nurl = \"s3://bucket/a\""),
                "either `path`",
            ),
            (
                GOOD.replace("path = \"data\"", "url = \"s3://B/a\""),
                "archive.roots[0].url",
            ),
            (
                format!("{}[[archive.roots]]\nname = \"o1\"\nurl = \"s3://bucket/raw\"\ncollection = \"o1\"\n[[archive.roots]]\nname = \"o2\"\nurl = \"s3://bucket/raw/lsst\"\ncollection = \"o2\"\n", GOOD),
                "overlaps archive.roots[1]",
            ),
            (
                format!("{GOOD}[object_store]\nblock_kb = 1\n"),
                "object_store.block_kb",
            ),
            (
                format!("{GOOD}[object_store]\nendpoint = \"http://127.0.0.1:9000\"\n"),
                "object_store.endpoint",
            ),
            (
                GOOD.replace(
                    "collection = \"demo\"",
                    "collection = \"demo\"\ncalib_level = 9",
                ),
                "calib_level",
            ),
        ];
        for (text, key) in cases {
            let err = Config::load(&write(dir.path(), &text))
                .expect_err(key)
                .to_string();
            assert!(err.contains(key), "error for {key} should name it: {err}");
        }
    }
}
