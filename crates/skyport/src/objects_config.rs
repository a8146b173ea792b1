//! `[object_store]` in `skyport.toml`: how data roots with `url = "s3://BUCKET/PREFIX"` are
//! reached (docs/deploy.md). Credentials are never configured here: they come from the
//! standard `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) variables.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use skyport_objects::{ObjectRoot, Objects, StoreSettings};

/// How `/files/…` gives an object-store image to a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// A redirect to a short-lived pre-signed URL (after the data-rights check).
    #[default]
    Signed,
    /// The server reads the object and passes its bytes on.
    Proxy,
}

/// `[object_store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStoreSection {
    /// The S3 endpoint (`http://127.0.0.1:9000`); default AWS (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// The region; default `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Allow a plain-http endpoint (a store on loopback or a private network).
    pub allow_http: bool,
    /// Memory for the block cache, MiB (default 256).
    pub cache_mb: u64,
    /// The block: the smallest ranged read, KiB (default 64).
    pub block_kb: u64,
    /// Seconds a request may take, each try (default 30).
    pub timeout_seconds: u64,
    /// Retries of a failed request (default 3).
    pub retries: usize,
    /// `signed` (default): `/files/…` redirects to a pre-signed URL; `proxy`: the server
    /// passes the bytes on.
    pub links: LinkMode,
    /// Seconds a pre-signed URL lives (default 300).
    pub link_seconds: u64,
    /// Seconds an object's size and version are believed before they are asked again
    /// (default 10): an object replaced in the store is read anew within it.
    pub meta_seconds: u64,
    /// Local disk for a server's blocks under the memory cache, MiB (default 0: none); kept in
    /// `<[database] cache>/objects`, emptied when the server starts.
    pub disk_cache_mb: u64,
}

impl Default for ObjectStoreSection {
    fn default() -> ObjectStoreSection {
        ObjectStoreSection {
            endpoint: None,
            region: None,
            allow_http: false,
            cache_mb: 256,
            block_kb: 64,
            timeout_seconds: 30,
            retries: 3,
            links: LinkMode::Signed,
            link_seconds: 300,
            meta_seconds: 10,
            disk_cache_mb: 0,
        }
    }
}

impl ObjectStoreSection {
    /// Checks the values.
    pub fn check(&self) -> Result<(), String> {
        if !(4..=16_384).contains(&self.block_kb) {
            return Err(format!(
                "object_store.block_kb = {}: 4 to 16384",
                self.block_kb
            ));
        }
        if self.cache_mb.saturating_mul(1024) < self.block_kb.saturating_mul(16) {
            return Err("object_store.cache_mb must hold at least 16 blocks".into());
        }
        if self.cache_mb > 1 << 20 || self.disk_cache_mb > 1 << 30 {
            return Err(
                "object_store: cache_mb at most 1048576 (1 TiB), disk_cache_mb at most 2^30".into(),
            );
        }
        if !(1..=600).contains(&self.timeout_seconds) || self.retries > 10 {
            return Err("object_store: timeout_seconds is 1 to 600, retries at most 10".into());
        }
        if self.meta_seconds > 3600 {
            return Err("object_store.meta_seconds: at most 3600".into());
        }
        if !(1..=7 * 24 * 3600).contains(&self.link_seconds) {
            return Err("object_store.link_seconds: 1 to 604800 (S3's longest)".into());
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("https://") || (self.allow_http && e.starts_with("http://"))) {
                return Err(format!(
                    "object_store.endpoint = {e:?}: an https:// URL (http:// with allow_http = true)"
                ));
            }
        }
        Ok(())
    }

    fn settings(&self, cache_dir: Option<&std::path::Path>) -> StoreSettings {
        StoreSettings {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            allow_http: self.allow_http,
            cache_bytes: self.cache_mb << 20,
            block_bytes: self.block_kb << 10,
            timeout: Duration::from_secs(self.timeout_seconds),
            retries: self.retries,
            meta_ttl: Duration::from_secs(self.meta_seconds),
            disk_cache: cache_dir
                .filter(|_| self.disk_cache_mb > 0)
                .map(|dir| (dir.join("objects"), self.disk_cache_mb << 20)),
        }
    }

    /// Clients for `roots` (none: `None`), their requests run on `runtime`, and cfitsio made
    /// to read their images. A server passes its `cache_dir` for the disk cache (emptied at
    /// start, so one process per directory); commands that run beside it pass `None`.
    pub fn open(
        &self,
        roots: Vec<ObjectRoot>,
        cache_dir: Option<&std::path::Path>,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<Option<Arc<Objects>>> {
        if roots.is_empty() {
            return Ok(None);
        }
        let objects = Arc::new(Objects::new(&self.settings(cache_dir), roots, runtime)?);
        skyport_objects::install_fits_driver(Arc::clone(&objects))?;
        Ok(Some(objects))
    }
}
