//! Sky coverage of the archive's collections (IVOA MOC 2.0), kept current as images arrive.
//!
//! Every image with a footprint gets a row in `skyport.image_coverage` — the cells its footprint
//! touches — written in the transaction that writes its ObsCore row, so coverage never lags
//! discovery. The same transaction raises its collection's counter in `skyport.coverage_epoch`
//! and stamps the row with it; the counter's row lock makes concurrent writers take turns, so
//! epochs rise in commit order and a reader holding a collection "through epoch N" only needs
//! the rows above N. [`Coverage`] keeps each collection's map in memory that way: folded once,
//! then only what is new.
//!
//! Two maps per collection and band, because a map shows where data is: **everything** (what
//! rights holders see, and what the early "nothing here" answers of SIA rely on) and
//! **released** (rows whose `obs_release_date` has passed: what everyone else may see). Rows
//! released later wait in memory and join the released map when their date passes.
//!
//! A replaced image's old footprint stays in the folded map until the server restarts: the map
//! may show a little more than is there, never less, which is the safe side for an early answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use skyport_sky::{MocError, Observed, Shape, SkyPoint, SpaceMoc, SpaceTimeMoc};
use tokio::sync::Mutex;

use crate::{ddl, Dialect, Statement, Store, StoreError, Value};

/// The HEALPix order of stored image coverage (cells of 3.4′).
pub const SPACE_ORDER: u8 = 10;

/// The space order of space-time maps (cells of 13.7′), which hold a space map per time cell.
pub const SPACE_TIME_SPACE_ORDER: u8 = 8;

/// The time order of space-time maps (cells of 2^26 µs, about 67 s).
pub const TIME_ORDER: u8 = 35;

/// The `skyport.image_coverage` row of one image.
#[derive(Debug, Clone)]
pub struct ImageCoverage {
    /// Publisher DID of the image.
    pub publisher_did: String,
    /// Its collection.
    pub collection: String,
    /// Its band's name, if known.
    pub band: Option<String>,
    /// `obs_release_date` as ObsCore holds it.
    pub release_date: Option<String>,
    /// Exposure start and end (MJD), when both are known.
    pub time: Option<(f64, f64)>,
    /// The cells its footprint touches.
    pub moc: SpaceMoc,
}

impl ImageCoverage {
    /// The coverage of an image whose footprint is `footprint`, at [`SPACE_ORDER`].
    pub fn of_footprint(
        publisher_did: &str,
        collection: &str,
        band: Option<&str>,
        release_date: Option<&str>,
        time: Option<(f64, f64)>,
        footprint: &Shape,
    ) -> Result<ImageCoverage, MocError> {
        Ok(ImageCoverage {
            publisher_did: publisher_did.to_string(),
            collection: collection.to_string(),
            band: band.map(str::to_string),
            release_date: release_date.map(str::to_string),
            time,
            moc: SpaceMoc::of_shape(footprint, SPACE_ORDER)?,
        })
    }

    /// The statements writing this row (replacing any earlier one of the image) and raising
    /// the collection's epoch, for the image's own transaction.
    pub fn statements(&self, dialect: Dialect) -> Result<Vec<Statement>, MocError> {
        let epochs = ddl::table_name(dialect, "skyport", "coverage_epoch");
        let p = |n| ddl::placeholder(dialect, n);
        let mut out = delete_statement(dialect, &self.publisher_did);
        out.push(Statement::new(
            format!(
                "INSERT INTO {epochs} (obs_collection, epoch) VALUES ({}, 1) \
                 ON CONFLICT (obs_collection) DO UPDATE SET epoch = {epochs}.epoch + 1",
                p(1)
            ),
            vec![Value::Text(self.collection.clone())],
        ));
        out.push(Statement::new(
            format!(
                "INSERT INTO {} (obs_publisher_did, obs_collection, band, obs_release_date, \
                 t_min, t_max, s_moc, epoch) VALUES ({}, {}, {}, {}, {}, {}, {}, \
                 (SELECT epoch FROM {epochs} WHERE obs_collection = {}))",
                ddl::table_name(dialect, "skyport", "image_coverage"),
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(8)
            ),
            vec![
                Value::Text(self.publisher_did.clone()),
                Value::Text(self.collection.clone()),
                Value::opt_text(self.band.clone()),
                Value::opt_text(self.release_date.clone()),
                Value::opt_float(self.time.map(|t| t.0)),
                Value::opt_float(self.time.map(|t| t.1)),
                Value::Text(self.moc.to_ascii()?),
                Value::Text(self.collection.clone()),
            ],
        ));
        Ok(out)
    }
}

/// The statements removing an image's coverage row. They raise its collection's epoch without
/// adding a row, and that gap is how a reader holding the collection's maps learns that they
/// hold an image that is gone (replaced or without a footprint now): it folds the collection
/// again from its rows ([`Coverage::refresh`]).
pub fn delete_statement(dialect: Dialect, publisher_did: &str) -> Vec<Statement> {
    let coverage = ddl::table_name(dialect, "skyport", "image_coverage");
    vec![
        Statement::new(
            format!(
                "UPDATE {epochs} SET epoch = epoch + 1 WHERE obs_collection IN \
                 (SELECT obs_collection FROM {coverage} WHERE obs_publisher_did = {})",
                ddl::placeholder(dialect, 1),
                epochs = ddl::table_name(dialect, "skyport", "coverage_epoch"),
            ),
            vec![Value::Text(publisher_did.to_string())],
        ),
        Statement::new(
            format!(
                "DELETE FROM {coverage} WHERE obs_publisher_did = {}",
                ddl::placeholder(dialect, 1)
            ),
            vec![Value::Text(publisher_did.to_string())],
        ),
    ]
}

/// Which of a collection's maps a caller may see (decided by [`crate::Rights::coverage_view`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverageView {
    /// Every image's coverage: rights holders.
    Everything,
    /// Coverage of images whose metadata is released.
    Released,
}

/// One image's coverage as the folds hold it.
#[derive(Debug, Clone)]
struct Piece {
    time: Option<(f64, f64)>,
    moc: SpaceMoc,
}

/// A piece with its release date (`None`: always released).
type Dated = (Option<DateTime<Utc>>, Piece);

/// The maps of one collection and band.
#[derive(Debug, Clone)]
struct Maps {
    everything: SpaceMoc,
    released: SpaceMoc,
    everything_st: Option<SpaceTimeMoc>,
    released_st: Option<SpaceTimeMoc>,
    /// Images not yet released, by release date.
    pending: Vec<(DateTime<Utc>, Piece)>,
}

impl Maps {
    fn new() -> Result<Maps, MocError> {
        Ok(Maps {
            everything: SpaceMoc::empty(SPACE_ORDER)?,
            released: SpaceMoc::empty(SPACE_ORDER)?,
            everything_st: None,
            released_st: None,
            pending: Vec::new(),
        })
    }

    /// Adds `pieces` (with their release dates) as of `now`.
    fn fold(&mut self, pieces: Vec<Dated>, now: DateTime<Utc>) -> Result<(), MocError> {
        let mut released = Vec::new();
        let mut all = Vec::with_capacity(pieces.len());
        for (release, piece) in pieces {
            match release {
                Some(at) if at > now => self.pending.push((at, piece.clone())),
                _ => released.push(piece.clone()),
            }
            all.push(piece);
        }
        self.everything = union(&self.everything, &all);
        self.everything_st = union_st(self.everything_st.take(), &all)?;
        self.add_released(released)
    }

    /// Moves pending images whose release date has passed into the released maps.
    fn release_due(&mut self, now: DateTime<Utc>) -> Result<(), MocError> {
        if !self.pending.iter().any(|(at, _)| *at <= now) {
            return Ok(());
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.pending = later;
        self.add_released(due.into_iter().map(|(_, p)| p).collect())
    }

    fn add_released(&mut self, pieces: Vec<Piece>) -> Result<(), MocError> {
        if pieces.is_empty() {
            return Ok(());
        }
        self.released = union(&self.released, &pieces);
        self.released_st = union_st(self.released_st.take(), &pieces)?;
        Ok(())
    }

    fn view(&self, view: CoverageView) -> (&SpaceMoc, Option<&SpaceTimeMoc>) {
        match view {
            CoverageView::Everything => (&self.everything, self.everything_st.as_ref()),
            CoverageView::Released => (&self.released, self.released_st.as_ref()),
        }
    }
}

fn union(base: &SpaceMoc, pieces: &[Piece]) -> SpaceMoc {
    SpaceMoc::union_all(
        std::iter::once(base).chain(pieces.iter().map(|p| &p.moc)),
        SPACE_ORDER,
    )
}

fn union_st(
    base: Option<SpaceTimeMoc>,
    pieces: &[Piece],
) -> Result<Option<SpaceTimeMoc>, MocError> {
    let observed: Vec<Observed<'_>> = pieces
        .iter()
        .filter_map(|p| p.time.map(|mjd| Observed { mjd, space: &p.moc }))
        .collect();
    if observed.is_empty() {
        return Ok(base);
    }
    let new = SpaceTimeMoc::build(&observed, TIME_ORDER, SPACE_TIME_SPACE_ORDER)?;
    Ok(Some(match base {
        Some(b) => b.union(&new),
        None => new,
    }))
}

/// How many coverage rows (as [`Coverage::rows_since`] reads them) have an epoch up to `seen`.
fn rows_within(rows: &[Vec<Value>], seen: i64) -> i64 {
    let within = rows
        .iter()
        .filter(|r| r.get(5).and_then(Value::as_i64).is_some_and(|e| e <= seen))
        .count();
    i64::try_from(within).unwrap_or(i64::MAX)
}

/// Folds the coverage rows of `collection` (as [`Coverage::rows_since`] reads them) into
/// `held` as of `now`; returns the highest epoch among them (0 for none).
fn fold_rows(
    held: &mut Held,
    collection: &str,
    rows: Vec<Vec<Value>>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let read = read_rows(collection, &rows);
    for (band, pieces) in read.by_band {
        let maps = match held.bands.get_mut(&band) {
            Some(m) => m,
            None => held
                .bands
                .entry(band)
                .or_insert(Maps::new().map_err(moc_error)?),
        };
        maps.fold(pieces, now).map_err(moc_error)?;
    }
    Ok(read.top)
}

/// Whether `test` holds for a space map the caller sees (`view_of`: the caller's view of each
/// collection, `None` for a hidden one), of any collection and band.
fn any_visible(
    held: &BTreeMap<String, Held>,
    view_of: &(dyn Fn(&str) -> Option<CoverageView> + Send + Sync),
    test: impl Fn(&SpaceMoc) -> bool,
) -> bool {
    held.iter().any(|(collection, h)| {
        view_of(collection).is_some_and(|view| h.bands.values().any(|maps| test(maps.view(view).0)))
    })
}

/// Coverage rows by band, their footprints parsed.
fn read_rows(collection: &str, rows: &[Vec<Value>]) -> RowsRead {
    let mut read = RowsRead {
        by_band: BTreeMap::new(),
        top: 0,
    };
    for r in rows {
        if let Some(row_epoch) = r.get(5).and_then(Value::as_i64) {
            read.top = read.top.max(row_epoch);
        }
        let moc = match r.get(4).and_then(Value::as_str).map(SpaceMoc::from_ascii) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(collection, error = %e, "unreadable image coverage skipped");
                continue;
            }
            None => continue,
        };
        let band = r.first().and_then(Value::as_str).map(str::to_string);
        // A date that cannot be read keeps the image out of the released map.
        let release = r
            .get(1)
            .and_then(Value::as_str)
            .map(|text| parse_time(text).unwrap_or(DateTime::<Utc>::MAX_UTC));
        let time = match (
            r.get(2).and_then(Value::as_f64),
            r.get(3).and_then(Value::as_f64),
        ) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => Some((a, b)),
            _ => None,
        };
        read.by_band
            .entry(band)
            .or_default()
            .push((release, Piece { time, moc }));
    }
    read
}

/// Coverage rows read for one collection.
struct RowsRead {
    by_band: BTreeMap<Option<String>, Vec<Dated>>,
    /// The highest epoch read.
    top: i64,
}

/// What is held of one collection.
#[derive(Debug, Default)]
struct Held {
    /// Rows up to this epoch are folded in.
    epoch: i64,
    /// Maps by band (`None`: images of no known band).
    bands: BTreeMap<Option<String>, Maps>,
}

/// A collection's coverage map as served.
#[derive(Debug, Clone)]
pub struct CoverageMap {
    /// Where.
    pub space: SpaceMoc,
    /// When and where (absent when no image has exposure times).
    pub space_time: Option<SpaceTimeMoc>,
}

/// The coverage maps of every collection, folded from `skyport.image_coverage` as it grows.
pub struct Coverage {
    store: Arc<dyn Store>,
    held: Arc<Mutex<BTreeMap<String, Held>>>,
}

impl Coverage {
    /// Coverage read from `store`; nothing is read until first asked.
    pub fn new(store: Arc<dyn Store>) -> Coverage {
        Coverage {
            store,
            held: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Folds in every coverage row written since the last call (one small query when there
    /// are none) and releases what has come due at `now`.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let dialect = self.store.dialect();
        let epochs = self
            .store
            .query(
                format!(
                    "SELECT obs_collection, epoch FROM {}",
                    ddl::table_name(dialect, "skyport", "coverage_epoch")
                ),
                Vec::new(),
            )
            .await?;
        // Owned, so that the blocking fold below can take the lock with it.
        let mut held = Arc::clone(&self.held).lock_owned().await;
        for row in &epochs.rows {
            let (Some(collection), Some(epoch)) = (
                row.first().and_then(Value::as_str),
                row.get(1).and_then(Value::as_i64),
            ) else {
                continue;
            };
            let since = held.get(collection).map_or(0, |h| h.epoch);
            if epoch <= since {
                continue;
            }
            let mut rows = self.rows_since(collection, since).await?;
            // Every epoch up to the one seen above belongs to a row already visible, unless
            // a row was removed (an image replaced, or without a footprint now): then the
            // maps hold cells of what is gone, and the collection is folded again whole.
            let whole = since > 0 && rows_within(&rows, epoch) < epoch - since;
            if whole {
                rows = self.rows_since(collection, 0).await?;
            }
            // Reading a million footprints and folding them takes seconds of CPU (and the moc
            // crate's unions use rayon, whose pool a caller waits on): done on a blocking
            // thread, which holds the lock until it is done, so the runtime's workers go on
            // serving, callers wanting the maps wait for them, and a caller that gives up
            // meanwhile leaves the fold to finish.
            let name = collection.to_string();
            held = tokio::task::spawn_blocking(move || {
                if whole {
                    held.remove(&name);
                }
                let entry = held.entry(name.clone()).or_default();
                let top = fold_rows(entry, &name, rows, now)?;
                // Every row of an epoch up to `epoch` was committed before it was read, so
                // all of them are in; rows committed while the read ran may be above it.
                entry.epoch = top.max(epoch);
                Ok::<_, StoreError>(held)
            })
            .await
            .map_err(|e| StoreError::Backend(format!("coverage map: {e}")))??;
        }
        for h in held.values_mut() {
            for maps in h.bands.values_mut() {
                maps.release_due(now).map_err(moc_error)?;
            }
        }
        Ok(())
    }

    /// The coverage rows of `collection` above epoch `since`, as read (see [`fold_rows`]).
    async fn rows_since(
        &self,
        collection: &str,
        since: i64,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let dialect = self.store.dialect();
        let rows = self
            .store
            .query(
                format!(
                    "SELECT band, obs_release_date, t_min, t_max, s_moc, epoch FROM {} \
                     WHERE obs_collection = {} AND epoch > {}",
                    ddl::table_name(dialect, "skyport", "image_coverage"),
                    ddl::placeholder(dialect, 1),
                    ddl::placeholder(dialect, 2)
                ),
                vec![Value::Text(collection.to_string()), Value::Int(since)],
            )
            .await?;
        Ok(rows.rows)
    }

    /// Whether a region may meet an image that a caller sees: the maps of each collection as
    /// `view_of` gives the caller's view of it (`None`: the collection is hidden from the
    /// caller). The answer depends only on what the caller may see, so a "no" (and the time
    /// it takes) tells nothing of hidden images.
    ///
    /// `inside` is a point of the region (its centre): when a visible map holds its cell, the
    /// answer is "yes" without the region's cells, which `cells` counts only otherwise (a cone
    /// of half a degree has hundreds at [`SPACE_ORDER`]; most regions asked about lie where
    /// images are). A "yes" only lets the caller's query run, so a centre outside a concave
    /// polygon does no harm; `cells` giving `None` (a region it cannot tell) is a "yes" too.
    /// The maps are refreshed before a "no". While they are being folded (at a start, from
    /// every image of a large archive: seconds) the answer is "maybe" at once, and the
    /// caller's query, not the maps, finds what there is.
    pub async fn may_meet_visible(
        &self,
        inside: SkyPoint,
        cells: impl FnOnce() -> Option<SpaceMoc>,
        now: DateTime<Utc>,
        view_of: &(dyn Fn(&str) -> Option<CoverageView> + Send + Sync),
    ) -> Result<bool, StoreError> {
        match self.held.try_lock() {
            Ok(held) if any_visible(&held, view_of, |m| m.contains(inside.ra, inside.dec)) => {
                return Ok(true)
            }
            Ok(_) => {}
            Err(_) => return Ok(true),
        }
        // Counted without the lock, so that other callers meanwhile are not told "maybe".
        let Some(region) = cells() else {
            return Ok(true);
        };
        let meets =
            |held: &BTreeMap<String, Held>| any_visible(held, view_of, |m| m.intersects(&region));
        match self.held.try_lock() {
            Ok(held) if meets(&held) => return Ok(true),
            Ok(_) => {}
            Err(_) => return Ok(true),
        }
        self.refresh(now).await?;
        Ok(meets(&*self.held.lock().await))
    }

    /// The collections with coverage, each with the bands it has (`None`: no known band).
    pub async fn collections(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Vec<Option<String>>)>, StoreError> {
        self.refresh(now).await?;
        let held = self.held.lock().await;
        Ok(held
            .iter()
            .map(|(c, h)| (c.clone(), h.bands.keys().cloned().collect()))
            .collect())
    }

    /// The map of `collection` (of one `band`, or of all) in `view`, refreshed first; `None`
    /// when the collection or band has no coverage.
    pub async fn map(
        &self,
        collection: &str,
        band: Option<&str>,
        view: CoverageView,
        now: DateTime<Utc>,
    ) -> Result<Option<CoverageMap>, StoreError> {
        self.refresh(now).await?;
        let held = self.held.lock().await;
        let Some(h) = held.get(collection) else {
            return Ok(None);
        };
        let chosen: Vec<&Maps> = match band {
            Some(b) => h
                .bands
                .iter()
                .filter(|(k, _)| k.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(b)))
                .map(|(_, m)| m)
                .collect(),
            None => h.bands.values().collect(),
        };
        // A map with nothing the caller may see is no map: a collection whose images are all
        // hidden looks like one that does not exist.
        let views: Vec<(&SpaceMoc, Option<&SpaceTimeMoc>)> = chosen
            .iter()
            .map(|m| m.view(view))
            .filter(|(space, _)| !space.is_empty())
            .collect();
        if views.is_empty() {
            return Ok(None);
        }
        let space = SpaceMoc::union_all(views.iter().map(|v| v.0), SPACE_ORDER);
        let space_time =
            views
                .iter()
                .filter_map(|v| v.1)
                .fold(None, |acc: Option<SpaceTimeMoc>, m| {
                    Some(match acc {
                        Some(a) => a.union(m),
                        None => m.clone(),
                    })
                });
        Ok(Some(CoverageMap { space, space_time }))
    }

    /// Writes coverage rows for ObsCore rows with a footprint and none (archives built before
    /// coverage was kept, or rows written by other means), `band_of` naming the band of
    /// `(em_min, em_max)`. Returns how many were written.
    pub async fn backfill(
        &self,
        band_of: &(dyn Fn(Option<f64>, Option<f64>) -> Option<String> + Sync),
    ) -> Result<usize, StoreError> {
        let dialect = self.store.dialect();
        let rows = self
            .store
            .query(
                format!(
                    "SELECT o.obs_publisher_did, o.obs_collection, o.obs_release_date, o.t_min, \
                     o.t_max, o.s_region, o.em_min, o.em_max FROM {} o WHERE o.s_region IS NOT NULL \
                     AND NOT EXISTS (SELECT 1 FROM {} c WHERE c.obs_publisher_did = o.obs_publisher_did)",
                    ddl::table_name(dialect, "ivoa", "ObsCore"),
                    ddl::table_name(dialect, "skyport", "image_coverage"),
                ),
                Vec::new(),
            )
            .await?;
        let mut written = 0;
        for chunk in rows.rows.chunks(500) {
            let mut statements = Vec::new();
            for r in chunk {
                let text = |i: usize| r.get(i).and_then(Value::as_str);
                let float = |i: usize| r.get(i).and_then(Value::as_f64);
                let (Some(did), Some(collection), Some(region)) = (text(0), text(1), text(5))
                else {
                    continue;
                };
                let Ok(shape) = skyport_sky::parse_stcs(region) else {
                    tracing::warn!(did, "footprint does not parse; no coverage for it");
                    continue;
                };
                let time = float(3).zip(float(4));
                let band = band_of(float(6), float(7));
                let coverage = ImageCoverage::of_footprint(
                    did,
                    collection,
                    band.as_deref(),
                    text(2),
                    time,
                    &shape,
                )
                .map_err(moc_error)?;
                statements.extend(coverage.statements(dialect).map_err(moc_error)?);
                written += 1;
            }
            self.store.write("skyport", statements).await?;
        }
        Ok(written)
    }
}

fn moc_error(e: MocError) -> StoreError {
    StoreError::Backend(format!("coverage map: {e}"))
}

/// Reads a timestamp as the backends return them (ISO 8601 with `T` or a space, with or
/// without a zone; a bare date is its midnight UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    let bare = t.trim_end_matches('Z');
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(bare, format) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(bare, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At a start the maps of a large archive take seconds to fold. A query arriving then is
    /// not held up: the maps are busy, so the answer is "maybe" at once and the query itself
    /// looks. Once they are free, a region that misses them is a "no" again.
    #[tokio::test]
    async fn while_the_maps_are_folded_the_answer_is_maybe_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let store =
            crate::sqlite::SqliteStore::open(&dir.path().join("db.sqlite"), 1).expect("open");
        store
            .migrate(&skyport_schema::builtin_schemas())
            .await
            .expect("migrate");
        let coverage = Coverage::new(Arc::new(store));
        let region = SpaceMoc::of_shape(
            &skyport_sky::parse_dali(skyport_sky::DaliKind::Circle, "10 20 1").expect("circle"),
            8,
        )
        .expect("region");
        let everything = |_: &str| Some(CoverageView::Everything);
        let now = Utc::now();
        let centre = SkyPoint::new(10.0, 20.0).expect("point");
        let cells = || Some(region.clone());
        assert!(
            !coverage
                .may_meet_visible(centre, cells, now, &everything)
                .await
                .expect("answer"),
            "no image anywhere"
        );
        let folding = coverage.held.lock().await;
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            coverage.may_meet_visible(centre, cells, now, &everything),
        )
        .await
        .expect("answered without waiting for the fold")
        .expect("answer");
        assert!(answer, "maybe, while the maps are busy");
        drop(folding);
        assert!(!coverage
            .may_meet_visible(centre, cells, now, &everything)
            .await
            .expect("answer"));
    }

    #[test]
    fn times_in_every_stored_shape_parse() {
        let want = parse_time("2026-01-02T03:04:05Z").expect("rfc3339");
        for t in [
            "2026-01-02T03:04:05",
            "2026-01-02 03:04:05",
            "2026-01-02T03:04:05.000000",
        ] {
            assert_eq!(parse_time(t), Some(want), "{t}");
        }
        assert_eq!(parse_time("2026-01-02"), parse_time("2026-01-02T00:00:00Z"));
        assert_eq!(parse_time("soon"), None);
    }
}
