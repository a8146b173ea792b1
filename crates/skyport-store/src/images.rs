//! The image index: the one place where images, their files, HDUs and ConsDB relations are
//! found — by publisher DID (many at once), by data-root path, by visit — for every service
//! that hands out images (DataLink, SODA, files, previews, visit documents) and for ingest.
//!
//! Every lookup that can reach a client takes the [`Caller`] it is made for. This is where
//! data rights are enforced: a hidden image is answered exactly like an absent one. Lookups
//! are batched: [`ImageIndex::images`] answers N DIDs with one query per [`BATCH`] of them
//! (images joined with ObsCore, their relations and their HDUs), not one per DID.

use std::collections::HashMap;
use std::sync::Arc;

use crate::rights::{Access, Rights};
use crate::{ddl, Dialect, Store, StoreError, Value};

/// DIDs asked for in one query (well under SQLite's and PostgreSQL's parameter limits).
pub const BATCH: usize = 500;

/// Keys up to which finding images is a [`Store::lookup`].
const LOOKUP_KEYS: usize = 8;

/// Who a lookup is made for. Carried through every lookup so that data rights can be
/// enforced here, in one place, rather than route by route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The verified user name; `None` for an anonymous caller.
    pub user: Option<String>,
    /// The groups the user belongs to, or belonged to (a membership may have ended: the
    /// user then keeps what was released before its end).
    pub groups: Vec<Membership>,
    /// What the caller may do (`read:tap`, `admin:jobs`…; Gafaelfawr's scope names).
    pub scopes: std::collections::BTreeSet<String>,
}

/// A user's membership of a group, possibly ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The group.
    pub group: String,
    /// When the membership ended (or will end); `None`: it has not.
    pub ends: Option<chrono::DateTime<chrono::Utc>>,
}

impl Membership {
    /// A membership with no end.
    pub fn lasting(group: &str) -> Membership {
        Membership {
            group: group.to_string(),
            ends: None,
        }
    }
}

impl Caller {
    /// An anonymous caller with no scopes.
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Whether the caller is the (named) user `user`; an anonymous caller is nobody.
    pub fn is_user(&self, user: Option<&str>) -> bool {
        self.user.is_some() && self.user.as_deref() == user
    }
}

/// One HDU of an ingested file, as `skyport.image_hdu` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hdu {
    /// 0-based index in the file.
    pub index: i64,
    /// `image`, `mask`, `variance` or `other`.
    pub role: String,
    /// EXTNAME, if any.
    pub extname: Option<String>,
}

/// Which ConsDB exposure and detector an image holds (`skyport.image_exposure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureOf {
    /// ConsDB instrument (`lsstcam`…).
    pub instrument: String,
    /// Exposure id (the visit id of a single-exposure visit).
    pub exposure_id: i64,
    /// Detector number.
    pub detector: i64,
    /// Detector-exposure id.
    pub ccdexposure_id: i64,
}

/// What the archive knows of one image: its file, HDUs, ObsCore extent and ConsDB relations.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Publisher DID.
    pub did: String,
    /// Data root name.
    pub root: String,
    /// ObsCore `obs_collection`.
    pub collection: String,
    /// Path below the root.
    pub rel_path: String,
    /// File size in bytes (-1 when unknown).
    pub file_size: i64,
    /// SHA-256 of the file (hex).
    pub sha256: String,
    /// Index of the science HDU.
    pub science_hdu: i64,
    /// ObsCore `dataproduct_type`.
    pub dataproduct_type: Option<String>,
    /// ObsCore `s_region` (STC-S).
    pub s_region: Option<String>,
    /// ObsCore `em_min`, `em_max` (m).
    pub em: (Option<f64>, Option<f64>),
    /// ObsCore `t_min`, `t_max` (MJD).
    pub t: (Option<f64>, Option<f64>),
    /// The file's HDUs, in file order.
    pub hdus: Vec<Hdu>,
    /// The ConsDB exposures and detectors the image holds, by detector; empty for images
    /// ingested without their headers.
    pub exposures: Vec<ExposureOf>,
    /// Whether the caller it was looked up for may read its pixels (its metadata they may
    /// see, or it would not have been found).
    pub data_readable: bool,
    /// Whether anyone, even without credentials, may read its pixels.
    pub data_public: bool,
}

impl Image {
    /// The first HDU of `role` other than the science HDU.
    pub fn plane(&self, role: &str) -> Option<usize> {
        self.hdus
            .iter()
            .find(|h| h.role == role && h.index != self.science_hdu && h.index >= 0)
            .map(|h| h.index as usize)
    }
}

/// A detector image of a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorImage {
    /// The image's publisher DID.
    pub did: String,
    /// Detector number.
    pub detector: i64,
    /// ConsDB detector-exposure id.
    pub ccdexposure_id: i64,
}

/// Typed, batched lookups of images over a [`Store`].
#[derive(Clone)]
pub struct ImageIndex {
    store: Arc<dyn Store>,
    rights: Arc<Rights>,
}

impl std::fmt::Debug for ImageIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageIndex").finish_non_exhaustive()
    }
}

/// The columns every image query reads, in [`Image`] order; `f` is `image_file`, `o`
/// ObsCore, `e` the ConsDB relation.
const IMAGE_COLUMNS: &str = "f.obs_publisher_did, f.root_name, f.rel_path, f.file_size, \
     f.content_sha256, f.science_hdu, o.dataproduct_type, o.s_region, o.em_min, o.em_max, \
     o.t_min, o.t_max, e.instrument, e.exposure_id, e.detector, e.ccdexposure_id, \
     f.obs_collection";

impl ImageIndex {
    /// An index over `store` with no collection restricted (rows released in the future are
    /// still hidden).
    pub fn new(store: Arc<dyn Store>) -> ImageIndex {
        ImageIndex::with_rights(store, Arc::new(Rights::default()))
    }

    /// An index over `store` enforcing `rights`.
    pub fn with_rights(store: Arc<dyn Store>, rights: Arc<Rights>) -> ImageIndex {
        ImageIndex { store, rights }
    }

    /// The data-rights policy it enforces.
    pub fn rights(&self) -> &Arc<Rights> {
        &self.rights
    }

    /// The condition over ObsCore alias `o` that rows `caller` may see (or read the pixels
    /// of) meet now.
    fn visible(&self, caller: &Caller, access: Access) -> String {
        self.rights
            .row_condition(caller, access, "o.", self.dialect(), chrono::Utc::now())
    }

    fn dialect(&self) -> Dialect {
        self.store.dialect()
    }

    fn table(&self, schema: &str, table: &str) -> String {
        ddl::table_name(self.dialect(), schema, table)
    }

    fn marks(&self, from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| ddl::placeholder(self.dialect(), i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The images `dids` name that `caller` may see, by DID; a DID absent from the answer is
    /// unknown (or hidden: the two are not told apart). One query per [`BATCH`] DIDs.
    pub async fn images(
        &self,
        caller: &Caller,
        dids: &[&str],
    ) -> Result<HashMap<String, Image>, StoreError> {
        let mut found = HashMap::new();
        let mut unique: Vec<&str> = dids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        for chunk in unique.chunks(BATCH) {
            let condition = format!("f.obs_publisher_did IN ({})", self.marks(1, chunk.len()));
            let params = chunk.iter().map(|d| Value::Text(d.to_string())).collect();
            for image in self.select(caller, &condition, params).await? {
                found.insert(image.did.clone(), image);
            }
        }
        Ok(found)
    }

    /// The image stored at `rel_path` below data root `root`, if `caller` may see it.
    pub async fn image_at(
        &self,
        caller: &Caller,
        root: &str,
        rel_path: &str,
    ) -> Result<Option<Image>, StoreError> {
        let condition = format!(
            "f.root_name = {} AND f.rel_path = {}",
            ddl::placeholder(self.dialect(), 1),
            ddl::placeholder(self.dialect(), 2)
        );
        let params = vec![
            Value::Text(root.to_string()),
            Value::Text(rel_path.to_string()),
        ];
        Ok(self
            .select(caller, &condition, params)
            .await?
            .into_iter()
            .next())
    }

    /// The detector images of exposure (or single-exposure visit) `exposure_id` of
    /// `instrument` that `caller` may see, by detector number.
    pub async fn visit_images(
        &self,
        caller: &Caller,
        instrument: &str,
        exposure_id: i64,
    ) -> Result<Vec<DetectorImage>, StoreError> {
        let rows = self
            .store
            .query(
                format!(
                    "SELECT e.obs_publisher_did, e.detector, e.ccdexposure_id FROM {} e \
                     JOIN {} f ON f.obs_publisher_did = e.obs_publisher_did \
                     LEFT JOIN {} o ON o.obs_publisher_did = e.obs_publisher_did \
                     WHERE e.instrument = {} AND e.exposure_id = {} AND {} \
                     ORDER BY e.detector, e.obs_publisher_did",
                    self.table("skyport", "image_exposure"),
                    self.table("skyport", "image_file"),
                    self.table("ivoa", "ObsCore"),
                    ddl::placeholder(self.dialect(), 1),
                    ddl::placeholder(self.dialect(), 2),
                    self.visible(caller, Access::Metadata),
                ),
                vec![Value::Text(instrument.to_string()), Value::Int(exposure_id)],
            )
            .await?;
        Ok(rows
            .rows
            .iter()
            .filter_map(|r| {
                Some(DetectorImage {
                    did: r.first()?.as_str()?.to_string(),
                    detector: r.get(1)?.as_i64()?,
                    ccdexposure_id: r.get(2)?.as_i64()?,
                })
            })
            .collect())
    }

    /// Whether ConsDB observation `id` of `instrument` holds an image `caller` may not see
    /// (its rows are then hidden from them like its images). `detector_level`: `id` is a
    /// detector-exposure (or detector-visit) id rather than an exposure (or visit) id.
    pub async fn observation_hidden(
        &self,
        caller: &Caller,
        instrument: &str,
        detector_level: bool,
        id: i64,
    ) -> Result<bool, StoreError> {
        let column = if detector_level {
            "ccdexposure_id"
        } else {
            "exposure_id"
        };
        let rows = self
            .store
            .query(
                format!(
                    "SELECT 1 FROM {} e JOIN {} o ON o.obs_publisher_did = e.obs_publisher_did \
                     WHERE e.instrument = {} AND e.{column} = {} AND ({}) IS NOT TRUE",
                    self.table("skyport", "image_exposure"),
                    self.table("ivoa", "ObsCore"),
                    ddl::placeholder(self.dialect(), 1),
                    ddl::placeholder(self.dialect(), 2),
                    self.visible(caller, Access::Metadata),
                ),
                vec![Value::Text(instrument.to_ascii_lowercase()), Value::Int(id)],
            )
            .await?;
        Ok(!rows.rows.is_empty())
    }

    /// The content hashes stored for `dids` (absent: not in the archive yet), for ingest to
    /// skip unchanged images. Not filtered: only the archive itself asks.
    pub async fn stored_hashes(
        &self,
        dids: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut found = HashMap::new();
        for chunk in dids.chunks(BATCH) {
            let sql = format!(
                "SELECT obs_publisher_did, content_sha256 FROM {} WHERE obs_publisher_did IN ({})",
                self.table("skyport", "image_file"),
                self.marks(1, chunk.len())
            );
            let params = chunk.iter().map(|d| Value::Text(d.to_string())).collect();
            for row in self.store.query(sql, params).await?.rows {
                if let (Some(did), Some(hash)) = (
                    row.first().and_then(Value::as_str),
                    row.get(1).and_then(Value::as_str),
                ) {
                    found.insert(did.to_string(), hash.to_string());
                }
            }
        }
        Ok(found)
    }

    /// The images matching `condition` (over `f`, `o`, `e`) with their relations and HDUs,
    /// in one query: a row per relation and HDU of each image. One statement rather than a
    /// second for the HDUs, because beginning and ending a read, not the rows, is most of
    /// what a lookup of one image costs (a DataLink request is little else). An image holds
    /// one detector of one exposure, or a few: the product stays a handful of rows.
    async fn select(
        &self,
        caller: &Caller,
        condition: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Image>, StoreError> {
        // Rights: only rows whose metadata the caller may see; whether they may read the
        // pixels, and whether anyone may, come back as columns. The order makes each image's
        // rows consecutive, each relation's HDUs consecutive and in file order (a relation's
        // detector is unique within its image).
        let sql = format!(
            "SELECT {IMAGE_COLUMNS}, CASE WHEN {} THEN 1 ELSE 0 END, \
             CASE WHEN {} THEN 1 ELSE 0 END, h.hdu_index, h.role, h.extname FROM {} f \
             LEFT JOIN {} o ON o.obs_publisher_did = f.obs_publisher_did \
             LEFT JOIN {} e ON e.obs_publisher_did = f.obs_publisher_did \
             LEFT JOIN {} h ON h.obs_publisher_did = f.obs_publisher_did \
             WHERE ({condition}) AND {} ORDER BY f.obs_publisher_did, e.detector, h.hdu_index",
            self.visible(caller, Access::Data),
            self.visible(&Caller::anonymous(), Access::Data),
            self.table("skyport", "image_file"),
            self.table("ivoa", "ObsCore"),
            self.table("skyport", "image_exposure"),
            self.table("skyport", "image_hdu"),
            self.visible(caller, Access::Metadata),
        );
        // A few keys are a lookup of a few rows, run without a thread hand-off.
        let rows = if params.len() <= LOOKUP_KEYS {
            self.store.lookup(sql, params).await?.rows
        } else {
            self.store.query(sql, params).await?.rows
        };
        let mut images: Vec<Image> = Vec::new();
        for row in &rows {
            let Some(did) = row.first().and_then(Value::as_str) else {
                continue;
            };
            if images.last().is_none_or(|last| last.did != did) {
                images.push(image_of(did, row));
            }
            let Some(image) = images.last_mut() else {
                continue;
            };
            // Each relation comes once per HDU, and the HDUs once per relation.
            if let Some(exposure) = exposure_of(row) {
                if image.exposures.last() != Some(&exposure) {
                    image.exposures.push(exposure);
                }
            }
            if let Some(hdu) = hdu_of(row) {
                if image.hdus.last().is_none_or(|last| last.index < hdu.index) {
                    image.hdus.push(hdu);
                }
            }
        }
        Ok(images)
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn image_of(did: &str, row: &[Value]) -> Image {
    let float = |i: usize| row.get(i).and_then(Value::as_f64);
    Image {
        did: did.to_string(),
        root: text(row.get(1)).unwrap_or_default(),
        rel_path: text(row.get(2)).unwrap_or_default(),
        file_size: row.get(3).and_then(Value::as_i64).unwrap_or(-1),
        sha256: text(row.get(4)).unwrap_or_default(),
        science_hdu: row.get(5).and_then(Value::as_i64).unwrap_or(0),
        dataproduct_type: text(row.get(6)),
        s_region: text(row.get(7)),
        em: (float(8), float(9)),
        t: (float(10), float(11)),
        hdus: Vec::new(),
        exposures: Vec::new(),
        collection: text(row.get(16)).unwrap_or_default(),
        data_readable: row.get(17).and_then(Value::as_i64) == Some(1),
        data_public: row.get(18).and_then(Value::as_i64) == Some(1),
    }
}

/// The HDU in a row of [`ImageIndex::select`], if the image has one.
fn hdu_of(row: &[Value]) -> Option<Hdu> {
    Some(Hdu {
        index: row.get(19)?.as_i64()?,
        role: text(row.get(20))?,
        extname: text(row.get(21)),
    })
}

fn exposure_of(row: &[Value]) -> Option<ExposureOf> {
    Some(ExposureOf {
        instrument: text(row.get(12))?,
        exposure_id: row.get(13)?.as_i64()?,
        detector: row.get(14)?.as_i64()?,
        ccdexposure_id: row.get(15)?.as_i64()?,
    })
}
