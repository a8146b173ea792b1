//! Images in an object store (S3 protocol): data roots at `s3://BUCKET/PREFIX`, read through
//! the Arrow project's `object_store` client.
//!
//! - **Ranged reads.** [`Objects`] is what cfitsio's `skyobj://` driver
//!   (`skyport_fits::remote`) reads from: the byte ranges cfitsio asks for are read in blocks
//!   of [`StoreSettings::block_bytes`] through a bounded [`cache::BlockCache`]; the blocks a
//!   read lacks are fetched with one ranged GET per run of adjacent blocks. A cutout of a
//!   tile-compressed image reads its headers, its tile index and the tiles it touches.
//! - **Listing** for ingest, **streams** for proxying `/files/…`, and **pre-signed URLs** for
//!   handing a client the object directly.
//! - **Faults.** Every request has a timeout and bounded retries (`object_store`'s); errors
//!   name the object, never the credentials (which come only from the standard `AWS_*`
//!   environment variables).

pub mod cache;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};

use cache::{BlockCache, DiskCache};

/// How the object store is reached (`[object_store]` in the configuration).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The endpoint (`http://127.0.0.1:9000`); `None`: AWS itself (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// The region; `None`: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Whether a plain-http endpoint is allowed (a store on loopback).
    pub allow_http: bool,
    /// The memory the block cache may hold.
    pub cache_bytes: u64,
    /// The size of a block: the smallest ranged read.
    pub block_bytes: u64,
    /// The longest a request may take, each try.
    pub timeout: Duration,
    /// Retries of a failed request.
    pub retries: usize,
    /// How long an object's size and version are believed before they are asked again.
    pub meta_ttl: Duration,
    /// A directory for blocks on local disk and the bytes it may hold; none when `None`.
    pub disk_cache: Option<(std::path::PathBuf, u64)>,
}

impl Default for StoreSettings {
    fn default() -> StoreSettings {
        StoreSettings {
            endpoint: None,
            region: None,
            allow_http: false,
            cache_bytes: 256 << 20,
            block_bytes: 64 << 10,
            timeout: Duration::from_secs(30),
            retries: 3,
            meta_ttl: Duration::from_secs(10),
            disk_cache: None,
        }
    }
}

/// A data root in the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRoot {
    /// The root's name (`[[archive.roots]] name`).
    pub name: String,
    /// Its bucket.
    pub bucket: String,
    /// The prefix its objects' keys start with (no leading or trailing `/`; may be empty).
    pub prefix: String,
}

impl ObjectRoot {
    /// The root `name` at `url`, `s3://BUCKET/PREFIX`.
    pub fn parse(name: &str, url: &str) -> Result<ObjectRoot, ObjectError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            ObjectError::Config(format!(
                "{url:?}: an object-store root is s3://BUCKET/PREFIX"
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !bucket_ok {
            return Err(ObjectError::Config(format!(
                "{url:?}: {bucket:?} is not a bucket name (3 to 63 lower-case letters, digits, '-' and '.')"
            )));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            ObjectPath::parse(&prefix)
                .map_err(|e| ObjectError::Config(format!("{url:?}: the prefix: {e}")))?;
        }
        Ok(ObjectRoot {
            name: name.to_string(),
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// The name cfitsio opens the object `rel_path` of this root by.
    pub fn fits_name(&self, rel_path: &str) -> String {
        format!("{}{}/{rel_path}", skyport_fits::remote::PREFIX, self.name)
    }

    fn key(&self, rel_path: &str) -> Result<ObjectPath, ObjectError> {
        let key = if self.prefix.is_empty() {
            rel_path.to_string()
        } else {
            format!("{}/{rel_path}", self.prefix)
        };
        ObjectPath::parse(&key).map_err(|_| ObjectError::NotFound(rel_path.to_string()))
    }
}

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The configuration is wrong.
    #[error("object store: {0}")]
    Config(String),
    /// No such object (or root).
    #[error("no object {0}")]
    NotFound(String),
    /// The store failed or did not answer in time.
    #[error("object store: {0}")]
    Store(String),
}

impl ObjectError {
    fn of(name: &str, e: object_store::Error) -> ObjectError {
        match e {
            object_store::Error::NotFound { .. } => ObjectError::NotFound(name.to_string()),
            other => ObjectError::Store(format!("{name}: {other}")),
        }
    }
}

impl From<ObjectError> for std::io::Error {
    fn from(e: ObjectError) -> std::io::Error {
        match e {
            ObjectError::NotFound(_) => {
                std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string())
            }
            other => std::io::Error::other(other.to_string()),
        }
    }
}

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its path below the root's prefix.
    pub rel_path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its version: the ETag, or the last modification time where the store gives none.
    pub version: String,
}

/// An object's bytes on their way.
pub struct Streamed {
    /// The object's size.
    pub size: u64,
    /// The bytes `bytes` holds.
    pub range: Range<u64>,
    /// The bytes.
    pub bytes: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// What the store was asked, for metrics and tests.
#[derive(Debug, Default)]
pub struct Counters {
    /// Ranged GETs made for reads.
    pub range_requests: AtomicU64,
    /// Bytes those GETs brought.
    pub range_bytes: AtomicU64,
    /// Time spent waiting for them, microseconds.
    pub range_micros: AtomicU64,
    /// HEAD requests (an object's size and version).
    pub head_requests: AtomicU64,
    /// Blocks read from the local disk cache instead of the store.
    pub disk_hits: AtomicU64,
}

#[derive(Clone)]
struct Meta {
    size: u64,
    version: String,
    /// The ETag, when the store gives one: ranged reads require it (`If-Match`), so that a
    /// replaced object fails a read instead of mixing its bytes with the old one's.
    etag: Option<String>,
    asked: Instant,
}

struct Root {
    root: ObjectRoot,
    store: Arc<AmazonS3>,
}

/// The object-store roots of an archive.
pub struct Objects {
    roots: HashMap<String, Root>,
    cache: BlockCache,
    disk: Option<Arc<DiskCache>>,
    block: u64,
    /// The longest a read may wait for the runtime: every try of its requests, and a margin.
    wait_limit: Duration,
    meta_ttl: Duration,
    meta: Mutex<HashMap<String, Meta>>,
    /// The block after each object's last fetch: a fetch starting there is sequential.
    next_block: Mutex<HashMap<String, u64>>,
    runtime: tokio::runtime::Handle,
    counters: Counters,
}

impl Objects {
    /// Clients of `roots` as `settings` say, whose requests run on `runtime`.
    pub fn new(
        settings: &StoreSettings,
        roots: Vec<ObjectRoot>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Objects, ObjectError> {
        // TLS to the store (reqwest's rustls, built without a provider of its own) uses ring,
        // as the rest of the program does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut map = HashMap::new();
        for root in roots {
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(&root.bucket)
                .with_allow_http(settings.allow_http)
                .with_retry(RetryConfig {
                    max_retries: settings.retries,
                    retry_timeout: settings.timeout * (settings.retries as u32 + 1),
                    ..RetryConfig::default()
                })
                .with_client_options(
                    ClientOptions::new()
                        .with_timeout(settings.timeout)
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_allow_http(settings.allow_http),
                );
            if let Some(endpoint) = &settings.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &settings.region {
                builder = builder.with_region(region);
            }
            let store = builder
                .build()
                .map_err(|e| ObjectError::Config(format!("root {}: {e}", root.name)))?;
            map.insert(
                root.name.clone(),
                Root {
                    root,
                    store: Arc::new(store),
                },
            );
        }
        Ok(Objects {
            roots: map,
            cache: BlockCache::new(settings.cache_bytes),
            disk: match &settings.disk_cache {
                Some((dir, bytes)) => Some(Arc::new(DiskCache::new(dir.clone(), *bytes).map_err(
                    |e| ObjectError::Config(format!("the disk cache {}: {e}", dir.display())),
                )?)),
                None => None,
            },
            wait_limit: settings.timeout * (settings.retries as u32 + 2) + Duration::from_secs(10),
            block: settings.block_bytes.max(4096),
            meta_ttl: settings.meta_ttl,
            meta: Mutex::new(HashMap::new()),
            next_block: Mutex::new(HashMap::new()),
            runtime,
            counters: Counters::default(),
        })
    }

    /// The roots in the object store.
    pub fn roots(&self) -> impl Iterator<Item = &ObjectRoot> {
        self.roots.values().map(|r| &r.root)
    }

    /// The root named `name`, if it is in the object store.
    pub fn root(&self, name: &str) -> Option<&ObjectRoot> {
        self.roots.get(name).map(|r| &r.root)
    }

    /// What the store was asked so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn locate(&self, root: &str, rel_path: &str) -> Result<(&Root, ObjectPath), ObjectError> {
        let r = self
            .roots
            .get(root)
            .ok_or_else(|| ObjectError::NotFound(format!("{root}/{rel_path}")))?;
        Ok((r, r.root.key(rel_path)?))
    }

    /// Every object below root `root`'s prefix.
    pub async fn list(&self, root: &str) -> Result<Vec<Listed>, ObjectError> {
        let r = self
            .roots
            .get(root)
            .ok_or_else(|| ObjectError::Config(format!("no object-store root {root}")))?;
        let prefix = (!r.root.prefix.is_empty()).then(|| ObjectPath::from(r.root.prefix.as_str()));
        let listed: Vec<object_store::ObjectMeta> = r
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| {
                ObjectError::of(&format!("s3://{}/{}", r.root.bucket, r.root.prefix), e)
            })?;
        let skip = if r.root.prefix.is_empty() {
            0
        } else {
            r.root.prefix.len() + 1
        };
        let mut out: Vec<Listed> = listed
            .into_iter()
            .filter_map(|m| {
                let key = m.location.as_ref();
                let rel = key.get(skip..)?.to_string();
                Some(Listed {
                    rel_path: rel,
                    size: m.size,
                    version: m.e_tag.unwrap_or_else(|| m.last_modified.to_rfc3339()),
                })
            })
            .collect();
        out.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
        Ok(out)
    }

    /// The size and version of object `rel_path` of `root`, asked of the store at most once
    /// per `meta_ttl`.
    async fn meta(&self, root: &str, rel_path: &str) -> Result<Meta, ObjectError> {
        let name = format!("{root}/{rel_path}");
        if let Some(m) = self.lock_meta().get(&name) {
            if m.asked.elapsed() < self.meta_ttl {
                return Ok(m.clone());
            }
        }
        let (r, key) = self.locate(root, rel_path)?;
        self.counters.head_requests.fetch_add(1, Ordering::Relaxed);
        let head = r
            .store
            .head(&key)
            .await
            .map_err(|e| ObjectError::of(&name, e))?;
        let meta = Meta {
            size: head.size,
            version: head
                .e_tag
                .clone()
                .unwrap_or_else(|| head.last_modified.to_rfc3339()),
            etag: head.e_tag,
            asked: Instant::now(),
        };
        let mut all = self.lock_meta();
        if all.len() > 100_000 {
            all.clear();
        }
        all.insert(name, meta.clone());
        Ok(meta)
    }

    fn lock_meta(&self) -> std::sync::MutexGuard<'_, HashMap<String, Meta>> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The size and version of `name` (`ROOT/REL_PATH`) if asked of the store recently.
    fn fresh_meta(&self, name: &str) -> Option<Meta> {
        self.lock_meta()
            .get(name)
            .filter(|m| m.asked.elapsed() < self.meta_ttl)
            .cloned()
    }

    /// Fills `out` from the block cache alone, without waiting for anything: `false` when a
    /// block (or the object's size) is not at hand. cfitsio reads in 2,880-byte records, so
    /// most reads are served here.
    pub fn read_cached(&self, root: &str, rel_path: &str, offset: u64, out: &mut [u8]) -> bool {
        let name = format!("{root}/{rel_path}");
        let Some(meta) = self.fresh_meta(&name) else {
            return false;
        };
        let end = offset + out.len() as u64;
        if out.is_empty() || end > meta.size {
            return false;
        }
        let (first, last) = (offset / self.block, (end - 1) / self.block);
        let mut blocks = Vec::with_capacity((last - first + 1) as usize);
        for n in first..=last {
            match self.cache.get(&(name.clone(), meta.version.clone(), n)) {
                Some(b) => blocks.push(b),
                None => return false,
            }
        }
        copy_blocks(&blocks, first * self.block, self.block, offset, out)
    }

    /// Brings the blocks of `offset..offset + len` the memory cache lacks from the disk cache
    /// (blocking file I/O, for cfitsio's threads); `false` when some are on neither.
    pub fn fill_from_disk(&self, root: &str, rel_path: &str, offset: u64, len: u64) -> bool {
        let Some(disk) = &self.disk else {
            return false;
        };
        let name = format!("{root}/{rel_path}");
        let Some(meta) = self.fresh_meta(&name) else {
            return false;
        };
        let end = offset + len;
        if len == 0 || end > meta.size {
            return false;
        }
        let mut all = true;
        for n in offset / self.block..=(end - 1) / self.block {
            let key = (name.clone(), meta.version.clone(), n);
            if self.cache.get(&key).is_some() {
                continue;
            }
            let expected = self.block.min(meta.size - n * self.block);
            match disk.get(&key, expected) {
                Some(b) => {
                    self.counters.disk_hits.fetch_add(1, Ordering::Relaxed);
                    self.cache.put(key, b);
                }
                None => all = false,
            }
        }
        all
    }

    /// Fills `out` with the bytes of object `rel_path` of `root` from `offset`, through the
    /// block cache. A run of missing blocks is fetched with one ranged GET; when it starts
    /// where the object's previous fetch ended (a sequential read, as of a cutout's tiles),
    /// up to [`READ_AHEAD`] more blocks come with it.
    pub async fn read(
        &self,
        root: &str,
        rel_path: &str,
        offset: u64,
        out: &mut [u8],
    ) -> Result<(), ObjectError> {
        if out.is_empty() {
            return Ok(());
        }
        let meta = self.meta(root, rel_path).await?;
        let name = format!("{root}/{rel_path}");
        let end = offset + out.len() as u64;
        if end > meta.size {
            return Err(ObjectError::Store(format!(
                "{name}: a read to byte {end} of an object of {} bytes (it changed?)",
                meta.size
            )));
        }
        let (first, last) = (offset / self.block, (end - 1) / self.block);
        let blocks_in_object = meta.size.div_ceil(self.block);
        let key = |n: u64| (name.clone(), meta.version.clone(), n);
        let mut blocks: Vec<Option<Bytes>> =
            (first..=last).map(|n| self.cache.get(&key(n))).collect();
        let mut i = 0;
        while i < blocks.len() {
            if blocks[i].is_some() {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < blocks.len() && blocks[j + 1].is_none() {
                j += 1;
            }
            let (run_first, mut run_last) = (first + i as u64, first + j as u64);
            let sequential = self.lock_next().get(&name) == Some(&run_first);
            if sequential && j + 1 == blocks.len() {
                let mut ahead = 0;
                while ahead < READ_AHEAD
                    && run_last + 1 < blocks_in_object
                    && self.cache.get(&key(run_last + 1)).is_none()
                {
                    run_last += 1;
                    ahead += 1;
                }
            }
            let start = run_first * self.block;
            let stop = ((run_last + 1) * self.block).min(meta.size);
            let fetched = self.fetch(root, rel_path, &meta, start..stop).await?;
            if fetched.len() as u64 != stop - start {
                return Err(ObjectError::Store(format!(
                    "{name}: {} bytes came for a range of {} (truncated?)",
                    fetched.len(),
                    stop - start
                )));
            }
            {
                let mut next = self.lock_next();
                if next.len() > 10_000 {
                    next.clear();
                }
                next.insert(name.clone(), run_last + 1);
            }
            let mut to_disk = Vec::new();
            for n in run_first..=run_last {
                let from = (n - run_first) * self.block;
                let to = (from + self.block).min(fetched.len() as u64);
                let block = fetched.slice(from as usize..to as usize);
                if self.disk.is_some() {
                    to_disk.push((key(n), block.clone()));
                }
                self.cache.put(key(n), block.clone());
                if n <= last {
                    blocks[(n - first) as usize] = Some(block);
                }
            }
            if let Some(disk) = &self.disk {
                // Written on the blocking pool and not waited for: the reader has its bytes.
                let disk = Arc::clone(disk);
                tokio::task::spawn_blocking(move || {
                    for (k, b) in to_disk {
                        disk.put(&k, &b);
                    }
                });
            }
            i = j + 1;
        }
        let blocks: Option<Vec<Bytes>> = blocks.into_iter().collect();
        let copied =
            blocks.is_some_and(|b| copy_blocks(&b, first * self.block, self.block, offset, out));
        if !copied {
            return Err(ObjectError::Store(format!("{name}: short read")));
        }
        Ok(())
    }

    fn lock_next(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.next_block.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn fetch(
        &self,
        root: &str,
        rel_path: &str,
        meta: &Meta,
        range: Range<u64>,
    ) -> Result<Bytes, ObjectError> {
        let (r, key) = self.locate(root, rel_path)?;
        let name = format!("{root}/{rel_path}");
        self.counters.range_requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let got = r
            .store
            .get_opts(
                &key,
                GetOptions {
                    range: Some(GetRange::Bounded(range)),
                    if_match: meta.etag.clone(),
                    ..GetOptions::default()
                },
            )
            .await;
        let bytes = match got {
            Ok(got) => got.bytes().await.map_err(|e| ObjectError::of(&name, e))?,
            Err(object_store::Error::Precondition { .. }) => {
                // Replaced since its size and ETag were read: ask again next time.
                self.lock_meta().remove(&name);
                return Err(ObjectError::Store(format!(
                    "{name} changed while it was read; try again"
                )));
            }
            Err(e) => return Err(ObjectError::of(&name, e)),
        };
        self.counters.range_micros.fetch_add(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.counters
            .range_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    /// The bytes of object `rel_path` of `root` in `range` (all of it when `None`) as a
    /// stream, with the object's size and the range the stream holds (the store shortens a
    /// range past the object's end).
    pub async fn stream(
        &self,
        root: &str,
        rel_path: &str,
        range: Option<Range<u64>>,
    ) -> Result<Streamed, ObjectError> {
        let (r, key) = self.locate(root, rel_path)?;
        let name = format!("{root}/{rel_path}");
        let got = r
            .store
            .get_opts(
                &key,
                GetOptions {
                    range: range.map(GetRange::Bounded),
                    ..GetOptions::default()
                },
            )
            .await
            .map_err(|e| ObjectError::of(&name, e))?;
        let size = got.meta.size;
        let range = got.range.clone();
        let stream = got
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed();
        Ok(Streamed {
            size,
            range,
            bytes: stream,
        })
    }

    /// A URL that lets its holder GET object `rel_path` of `root` for `ttl`, signed with the
    /// server's credentials (which the URL does not reveal).
    pub async fn signed_url(
        &self,
        root: &str,
        rel_path: &str,
        ttl: Duration,
    ) -> Result<String, ObjectError> {
        use object_store::signer::Signer as _;
        let (r, key) = self.locate(root, rel_path)?;
        r.store
            .signed_url(object_store::signer::Method::GET, &key, ttl)
            .await
            .map(|u| u.to_string())
            .map_err(|e| ObjectError::of(&format!("{root}/{rel_path}"), e))
    }

    /// Runs `work` on the runtime and waits for it: for cfitsio's driver, which is called
    /// on blocking threads (never on a runtime worker, which this would stall).
    fn wait<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, ObjectError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = sender.send(work.await);
        });
        receiver.recv_timeout(self.wait_limit).map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => {
                ObjectError::Store("the object store did not answer in time".into())
            }
            std::sync::mpsc::RecvTimeoutError::Disconnected => {
                ObjectError::Store("the runtime stopped".into())
            }
        })
    }
}

/// Blocks fetched beyond a sequential read's end.
pub const READ_AHEAD: u64 = 4;

/// Copies the bytes `offset..offset + out.len()` out of consecutive `blocks` of `block` bytes,
/// the first starting at `blocks_start`; `false` if they do not hold them all.
fn copy_blocks(
    blocks: &[Bytes],
    blocks_start: u64,
    block: u64,
    offset: u64,
    out: &mut [u8],
) -> bool {
    let end = offset + out.len() as u64;
    let mut written = 0usize;
    for (k, b) in blocks.iter().enumerate() {
        let block_start = blocks_start + k as u64 * block;
        let from = offset.max(block_start) - block_start;
        let to = (end.saturating_sub(block_start)).min(b.len() as u64);
        if from >= to {
            continue;
        }
        let piece = &b[from as usize..to as usize];
        // A block longer than a block (a disk-cache file of another block) must not write past
        // `out`: this runs inside cfitsio's callbacks, where a panic aborts the process.
        let Some(slot) = out.get_mut(written..written + piece.len()) else {
            return false;
        };
        slot.copy_from_slice(piece);
        written += piece.len();
    }
    written == out.len()
}

/// `ROOT/REL_PATH` split.
fn split(name: &str) -> std::io::Result<(&str, &str)> {
    name.split_once('/')
        .filter(|(root, rel)| !root.is_empty() && !rel.is_empty())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, name.to_string()))
}

/// cfitsio's reads of `skyobj://ROOT/REL_PATH` names.
pub struct FitsReads(pub Arc<Objects>);

impl skyport_fits::remote::RemoteFiles for FitsReads {
    fn size(&self, name: &str) -> std::io::Result<u64> {
        if let Some(m) = self.0.fresh_meta(name) {
            return Ok(m.size);
        }
        let (root, rel) = split(name)?;
        let (objects, root, rel) = (Arc::clone(&self.0), root.to_string(), rel.to_string());
        let inner = Arc::clone(&objects);
        Ok(objects
            .wait(async move { inner.meta(&root, &rel).await })??
            .size)
    }

    fn read_at(&self, name: &str, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let (root, rel) = split(name)?;
        if self.0.read_cached(root, rel, offset, buf) {
            return Ok(());
        }
        if self.0.fill_from_disk(root, rel, offset, buf.len() as u64)
            && self.0.read_cached(root, rel, offset, buf)
        {
            return Ok(());
        }
        let (objects, root, rel) = (Arc::clone(&self.0), root.to_string(), rel.to_string());
        let inner = Arc::clone(&objects);
        let len = buf.len();
        let bytes = objects.wait(async move {
            let mut out = vec![0u8; len];
            inner
                .read(&root, &rel, offset, &mut out)
                .await
                .map(|()| out)
        })??;
        buf.copy_from_slice(&bytes);
        Ok(())
    }
}

/// Makes cfitsio read `skyobj://` names from `objects`.
pub fn install_fits_driver(objects: Arc<Objects>) -> Result<(), ObjectError> {
    skyport_fits::remote::install(Arc::new(FitsReads(objects))).map_err(ObjectError::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_of_an_https_store_is_made_with_ring() {
        let settings = StoreSettings {
            endpoint: Some("https://127.0.0.1:1".into()),
            timeout: Duration::from_secs(2),
            retries: 0,
            ..StoreSettings::default()
        };
        let root = ObjectRoot::parse("r", "s3://bucket/p").expect("root");
        let objects = Objects::new(&settings, vec![root], tokio::runtime::Handle::current())
            .expect("a client");
        // Nothing listens there: a clear error, quickly, not a panic for want of a provider.
        let e = objects.list("r").await.expect_err("no store");
        assert!(matches!(e, ObjectError::Store(_)), "{e}");
    }

    #[test]
    fn root_urls_are_parsed_and_checked() {
        let r = ObjectRoot::parse("lsst", "s3://skyport-demo/raw/lsst/").expect("parsed");
        assert_eq!(
            (r.bucket.as_str(), r.prefix.as_str()),
            ("skyport-demo", "raw/lsst")
        );
        assert_eq!(r.fits_name("a/b.fits"), "skyobj://lsst/a/b.fits");
        assert_eq!(
            r.key("a/b.fits").expect("key").as_ref(),
            "raw/lsst/a/b.fits"
        );
        let r = ObjectRoot::parse("x", "s3://bucket").expect("parsed");
        assert_eq!(r.key("b.fits").expect("key").as_ref(), "b.fits");
        for bad in [
            "/data/x",
            "s3://",
            "s3://Upper/x",
            "s3://ab/x",
            "gs://bucket/x",
        ] {
            assert!(ObjectRoot::parse("x", bad).is_err(), "{bad}");
        }
        // A key cfitsio or the store could read otherwise is no object.
        assert!(r.key("../x.fits").is_err());
    }
}
