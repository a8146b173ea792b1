//! TAP 1.1: the query service behind `/tap/sync` and `/tap/async`, VOSI tables, examples.
//!
//! [`TapService::execute`] turns a checked [`TapRequest`] into a stream of bytes in the chosen
//! format: uploads are read and become temporary tables, the ADQL is translated against the
//! catalogue (plus the uploads), and rows flow from the store's cursor through the writer in
//! batches. Nothing here knows about HTTP.

pub(crate) mod early;
pub mod examples;
mod fetch;
pub mod http;
pub mod jobs;
pub mod request;
pub mod tables;
mod translations;
mod upload;
pub mod user_loads;
pub mod user_tables;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use skyport_adql::{Catalogue, OutputColumn, SpatialIndex};
use skyport_store::{
    Caller, QueryRequest, Rights, RowStream, Store, StoreError, TableShape, Value,
};
use skyport_votable::{Cell, Ending, Field, Info, Prelude, TableWriter};

pub use fetch::{AllowEntry, AllowError, UploadAllow};
pub use request::{TapRequest, UploadSpec};

use crate::dali::DaliError;
use crate::limits::Limits;

/// The catalogue ADQL queries are resolved against: the built-in schemas and the store's
/// spatial indexes.
pub fn catalogue() -> Catalogue {
    catalogue_with(&[])
}

/// The catalogue of the built-in schemas and `extra` ones (ConsDB's).
pub fn catalogue_with(extra: &[skyport_schema::Schema]) -> Catalogue {
    let mut schemas = skyport_schema::builtin_schemas();
    // An extra schema of a built-in one's name (ivoa with an extended ObsCore) replaces it.
    schemas.retain(|s| !extra.iter().any(|e| e.name == s.name));
    schemas.extend(extra.iter().cloned());
    let mut cat = Catalogue::from_schemas(&schemas);
    for spec in skyport_store::spatial::spatial_indexes() {
        cat.set_spatial_index(
            spec.schema,
            spec.table,
            SpatialIndex {
                point: Some((
                    spec.point.0.to_string(),
                    spec.point.1.to_string(),
                    spec.point_table(),
                )),
                region: Some((spec.region.to_string(), spec.region_table())),
            },
        );
    }
    for (table, order) in skyport_store::tap_schema::LISTING_ORDER {
        cat.set_listing_order("TAP_SCHEMA", table, order);
    }
    cat
}

/// The ADQL dialect matching a store.
pub fn adql_dialect(store: &dyn Store) -> skyport_adql::Dialect {
    match store.dialect() {
        skyport_store::Dialect::Sqlite => skyport_adql::Dialect::Sqlite,
        skyport_store::Dialect::Postgres => skyport_adql::Dialect::Postgres,
    }
}

/// A query result on its way out.
pub struct QueryOutput {
    /// The Content-Type to answer with.
    pub content_type: String,
    /// The bytes, produced as the rows arrive.
    pub body: BoxStream<'static, Bytes>,
    /// Set when an error ended the stream after it started (the document then ends with it).
    pub failure: Arc<Mutex<Option<String>>>,
}

/// Answers up to this size are sent whole, with a Content-Length; longer ones stream.
pub const WHOLE_ANSWER_BYTES: usize = 64 * 1024;

/// How long the rest of an answer is waited for, after its first piece, before it streams: a
/// query that has ended is ready at once, a slow one should not hold its first rows back.
const WHOLE_ANSWER_WAIT: Duration = Duration::from_millis(20);

impl QueryOutput {
    /// The body of the response: what is ready within [`WHOLE_ANSWER_WAIT`] of the first
    /// piece is read ahead, up to [`WHOLE_ANSWER_BYTES`], and when the answer ended within
    /// them it is sent whole (one write with its headers, no chunked encoding: most answers
    /// are small, and a stream of two or three chunks cost a system call and a thread wake-up
    /// each); otherwise what was read, then the rest as it comes. `hold` (a caller's turn) is
    /// kept until the body has been sent or dropped, in both cases.
    pub async fn into_body(self, hold: impl Send + Sync + Unpin + 'static) -> axum::body::Body {
        let mut body = self.body;
        let mut head: Vec<Bytes> = Vec::new();
        let mut size = 0;
        let mut deadline = None;
        while size < WHOLE_ANSWER_BYTES {
            let next = match deadline {
                None => body.next().await,
                // Dropping a pending `next` loses nothing: the stream keeps its own state.
                Some(at) => match tokio::time::timeout_at(at, body.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
            };
            match next {
                Some(chunk) => {
                    size += chunk.len();
                    head.push(chunk);
                    deadline.get_or_insert_with(|| tokio::time::Instant::now() + WHOLE_ANSWER_WAIT);
                }
                None => {
                    return axum::body::Body::new(WholeBody {
                        bytes: Some(concat(head, size)),
                        _hold: hold,
                    })
                }
            }
        }
        let rest = body.map(move |chunk| {
            let _held = &hold;
            Ok::<_, std::convert::Infallible>(chunk)
        });
        axum::body::Body::from_stream(
            futures_util::stream::iter(head.into_iter().map(Ok)).chain(rest),
        )
    }
}

/// An answer in one piece, of known length, that keeps `_hold` until it is dropped.
struct WholeBody<H> {
    bytes: Option<Bytes>,
    _hold: H,
}

impl<H: Unpin> http_body::Body for WholeBody<H> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.bytes.take().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// `chunks` (of `size` bytes in all) as one piece, copied only when there are several.
fn concat(mut chunks: Vec<Bytes>, size: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut whole = Vec::with_capacity(size);
    for c in &chunks {
        whole.extend_from_slice(c);
    }
    Bytes::from(whole)
}

/// A table's schema, name and column names.
type OwnedShape = (String, String, Vec<String>);

/// The TAP query service.
pub struct TapService {
    store: Arc<dyn Store>,
    catalogue: Catalogue,
    /// Each catalogue table's schema, name and columns, by `schema.table`, for its row filter.
    shapes: Arc<HashMap<String, OwnedShape>>,
    rights: Arc<Rights>,
    limits: Limits,
    public_url: String,
    fetcher: fetch::Fetcher,
    /// The coverage maps, once given: a query whose rows must meet a region where no image is
    /// asks the database for nothing (`early`).
    coverage: std::sync::OnceLock<Arc<skyport_store::coverage::Coverage>>,
    /// Queries answered that way.
    early_answers: std::sync::atomic::AtomicU64,
    /// Users' tables, where the archive keeps them: a query naming one sees those the caller
    /// may read.
    user_tables: std::sync::OnceLock<Arc<user_tables::UserTableService>>,
    /// Recent queries' translations, by text and the caller's rights.
    translations: translations::Translations,
}

impl TapService {
    /// A service over `store`; `public_url` (no trailing slash) goes into the DataLink and
    /// SODA descriptors of results, and is the base queries see service-relative links
    /// (ObsCore's `access_url`) under. `extra_ca_pem` holds certificates (PEM) trusted for https
    /// uploads besides the system's roots (a private CA, or a test's); uploads by URL come
    /// from public addresses and those `upload_allow` names.
    pub fn new(
        store: Arc<dyn Store>,
        limits: Limits,
        public_url: &str,
        extra_ca_pem: Option<&[u8]>,
        upload_allow: UploadAllow,
        extra_schemas: &[skyport_schema::Schema],
        rights: Arc<Rights>,
    ) -> TapService {
        let mut catalogue = catalogue_with(extra_schemas);
        for (schema, table, column) in skyport_store::links::RELATIVE_LINK_COLUMNS {
            catalogue.set_url_base(schema, table, column, public_url);
        }
        let shapes = catalogue
            .tables()
            .iter()
            .map(|t| {
                (
                    t.qualified_name(),
                    (
                        t.schema.clone(),
                        t.name.clone(),
                        t.columns.iter().map(|c| c.name.clone()).collect(),
                    ),
                )
            })
            .collect();
        TapService {
            store,
            shapes: Arc::new(shapes),
            catalogue,
            rights,
            limits,
            public_url: public_url.to_string(),
            fetcher: fetch::Fetcher::new(extra_ca_pem, upload_allow),
            coverage: std::sync::OnceLock::new(),
            early_answers: std::sync::atomic::AtomicU64::new(0),
            user_tables: std::sync::OnceLock::new(),
            translations: Default::default(),
        }
    }

    /// Answers queries over ObsCore whose rows must meet a region where `coverage` has no
    /// image without reading the table (see the `early` module). Set once; later calls are
    /// ignored.
    pub fn answer_early_from(&self, coverage: Arc<skyport_store::coverage::Coverage>) {
        let _ = self.coverage.set(coverage);
    }

    /// Lets queries name the users' tables `service` keeps (those each caller may read). Set
    /// once; later calls are ignored.
    pub fn serve_user_tables(&self, service: Arc<user_tables::UserTableService>) {
        let _ = self.user_tables.set(service);
    }

    /// How many queries were answered from the coverage maps without reading ObsCore.
    pub fn early_answers(&self) -> u64 {
        self.early_answers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether some region `query`'s rows must meet lies where no image `caller` may see is:
    /// then the query can only answer nothing. Decided from what the caller sees, so that
    /// neither the answer nor its speed tells of hidden images; the maps are refreshed before
    /// saying so.
    async fn outside_coverage(
        &self,
        caller: &Caller,
        query: &skyport_adql::ast::Query,
    ) -> Result<bool, DaliError> {
        let Some(coverage) = self.coverage.get() else {
            return Ok(false);
        };
        let now = chrono::Utc::now();
        let view_of = |collection: &str| self.rights.coverage_view(caller, collection, now);
        for shape in early::required_regions(query) {
            let meets = coverage
                .may_meet_visible(
                    shape.centroid(),
                    || early::region_cells(&shape),
                    now,
                    &view_of,
                )
                .await
                .map_err(|e| DaliError::internal(format!("coverage maps: {e}")))?;
            if !meets {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The data-rights policy its queries obey.
    pub fn rights(&self) -> &Arc<Rights> {
        &self.rights
    }

    /// The tables `caller` may not name (`schema.table`).
    pub fn hidden_tables(&self, caller: &Caller) -> std::collections::BTreeSet<String> {
        self.hidden_tables_at(caller, chrono::Utc::now())
    }

    fn hidden_tables_at(
        &self,
        caller: &Caller,
        now: chrono::DateTime<chrono::Utc>,
    ) -> std::collections::BTreeSet<String> {
        self.rights.hidden_tables(
            caller,
            self.catalogue
                .tables()
                .iter()
                .map(|t| (t.schema.as_str(), t.name.as_str())),
            now,
        )
    }

    /// The translation options that make a query by `caller` see only what they may: hidden
    /// tables are absent, and every reference to a table with rows they may not see reads
    /// it through a filter (so joins, subqueries, unions and counts never meet those rows).
    /// Filters are made only for the tables a query names.
    pub fn options_for(&self, caller: &Caller) -> skyport_adql::Options {
        self.options_hiding(caller, Default::default(), chrono::Utc::now())
    }

    /// [`TapService::options_for`] at `now`, with `also_hidden` (users' tables the caller
    /// may not read) kept out of TAP_SCHEMA too.
    fn options_hiding(
        &self,
        caller: &Caller,
        also_hidden: std::collections::BTreeSet<String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> skyport_adql::Options {
        let mut hidden = self.hidden_tables_at(caller, now);
        hidden.extend(also_hidden);
        let source = {
            let rights = Arc::clone(&self.rights);
            let shapes = Arc::clone(&self.shapes);
            let caller = caller.clone();
            let hidden = hidden.clone();
            let dialect = self.store.dialect();
            move |name: &str| {
                let (schema, table, columns) = shapes.get(name)?;
                let shape = TableShape {
                    schema,
                    table,
                    columns: columns.iter().map(String::as_str).collect(),
                };
                rights.row_filter(
                    &caller,
                    &shape,
                    &hidden,
                    dialect,
                    now,
                    skyport_adql::ROW_FILTER_TABLE,
                )
            }
        };
        skyport_adql::Options {
            row_filter: Some(skyport_adql::RowFilterSource(Arc::new(source))),
            hidden_tables: hidden.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Runs a request. `inline` holds the multipart file parts `param:` uploads refer to;
    /// `timeout` limits the query. Errors found before the first byte come back as a
    /// [`DaliError`]; later ones end the document (and are recorded in `failure`).
    pub async fn execute(
        &self,
        caller: &Caller,
        request: &TapRequest,
        inline: &HashMap<String, Bytes>,
        timeout: Option<Duration>,
    ) -> Result<QueryOutput, DaliError> {
        self.run(caller, request, inline, timeout, String::new(), true)
            .await
    }

    /// [`TapService::execute`] with a `RESOURCE` before the results (a service's
    /// self-description, placed first as Rubin's SIA service places it), for a service that
    /// has already decided from the coverage maps whether its query can find anything (SIA
    /// does, for every `POS` form): the query is not read for an early answer again.
    pub async fn execute_with(
        &self,
        caller: &Caller,
        request: &TapRequest,
        inline: &HashMap<String, Bytes>,
        timeout: Option<Duration>,
        leading_resources: String,
    ) -> Result<QueryOutput, DaliError> {
        self.run(caller, request, inline, timeout, leading_resources, false)
            .await
    }

    /// Runs a request; `early_answer` lets a query that can only find nothing skip the table.
    async fn run(
        &self,
        caller: &Caller,
        request: &TapRequest,
        inline: &HashMap<String, Bytes>,
        timeout: Option<Duration>,
        leading_resources: String,
        early_answer: bool,
    ) -> Result<QueryOutput, DaliError> {
        if request.query.contains('\0') {
            return Err(DaliError::usage("the query contains a NUL character"));
        }
        if request.query.len() > self.limits.query_max_bytes {
            return Err(DaliError::usage(format!(
                "the query is {} bytes long; this service takes queries of at most {} bytes",
                request.query.len(),
                self.limits.query_max_bytes
            )));
        }
        let mut uploaded = Vec::new();
        for spec in &request.uploads {
            uploaded.push(upload::load(spec, inline, &self.fetcher, &self.limits).await?);
        }
        // Users' tables are looked up only for a query that may name one (their schemas all
        // start with `user_`): the archive's own queries pay nothing for them.
        let lower = request.query.to_ascii_lowercase();
        let (mine, not_mine) = match self.user_tables.get() {
            Some(service) if lower.contains("user_") || lower.contains("tap_schema") => {
                service.partition(caller).await.map_err(|e| {
                    tracing::error!("reading the user tables: {e}");
                    DaliError::internal("the user tables could not be read (logged)")
                })?
            }
            _ => Default::default(),
        };
        let catalogue = if uploaded.is_empty() && mine.is_empty() {
            std::borrow::Cow::Borrowed(&self.catalogue)
        } else {
            let mut c = self.catalogue.clone();
            for u in &uploaded {
                c.add_table(u.info.clone());
            }
            for t in &mine {
                c.add_table(user_tables::table_info(t));
            }
            std::borrow::Cow::Owned(c)
        };
        let invalid = |e| DaliError::usage(format!("the ADQL query is invalid: {e}"));
        let dialect = adql_dialect(self.store.as_ref());
        let now = chrono::Utc::now();
        skyport_adql::log_query(&request.query);
        // Translated as written first, so every name and type is checked (an error in the
        // WHERE clause must not become an empty answer).
        let translate = || -> Result<translations::Translated, DaliError> {
            let options = self.options_hiding(caller, not_mine.clone(), now);
            let parsed = skyport_adql::parse(&request.query).map_err(invalid)?;
            let translation =
                skyport_adql::translate(&parsed, &catalogue, dialect, &options).map_err(invalid)?;
            Ok(translations::Translated {
                parsed,
                translation,
            })
        };
        // The catalogue is the service's own unless there are uploads or users' tables.
        let translated = if uploaded.is_empty() && mine.is_empty() && not_mine.is_empty() {
            let key = self.rights.key(caller, now);
            self.translations
                .get_or_make(&request.query, key, translate)?
        } else {
            Arc::new(translate()?)
        };
        let mut asks_nothing = None;
        if early_answer
            && uploaded.is_empty()
            && self.outside_coverage(caller, &translated.parsed).await?
        {
            let mut parsed = translated.parsed.clone();
            early::ask_for_nothing(&mut parsed);
            self.early_answers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let options = self.options_hiding(caller, not_mine.clone(), now);
            asks_nothing = Some(
                skyport_adql::translate(&parsed, &catalogue, dialect, &options).map_err(invalid)?,
            );
        }
        let translation = asks_nothing.as_ref().unwrap_or(&translated.translation);
        let mut fields: Vec<Field> = translation.columns.iter().map(field).collect();
        let resources = crate::descriptors::for_results(&mut fields, &self.public_url);
        let prelude = Prelude {
            infos: vec![Info::new("QUERY", request.query.clone())],
            leading_resources,
            extra_resources: resources,
        };
        let writer = TableWriter::new(request.format.format, fields, prelude);
        let failure = Arc::new(Mutex::new(None));
        if request.maxrec == 0 {
            // DALI: MAXREC=0 gives the metadata and an overflow, without running the query.
            let mut out = Vec::new();
            let mut writer = writer;
            writer.begin(&mut out);
            writer.end(&mut out, Ending::Overflow);
            return Ok(QueryOutput {
                content_type: request.format.content_type.clone(),
                body: futures_util::stream::once(async move { Bytes::from(out) }).boxed(),
                failure,
            });
        }
        let sql = format!(
            "SELECT * FROM ({}) AS _maxrec LIMIT {}",
            translation.sql,
            request.maxrec.saturating_add(1).min(i64::MAX as u64)
        );
        let query = QueryRequest {
            sql,
            params: Vec::new(),
            temp_tables: uploaded.into_iter().map(|u| u.table).collect(),
            timeout,
            stall: Some(Duration::from_secs(
                self.limits().result_stall_seconds.max(1),
            )),
        };
        let mut rows = self.store.stream(query).await.map_err(|e| match e {
            StoreError::Timeout(_) => timeout_error(timeout),
            StoreError::Query(m) => DaliError::usage(format!("the query failed: {m}")),
            other => {
                // The database's own words may quote the SQL: logged, not sent.
                tracing::error!("a query could not be started: {other}");
                DaliError::internal("the query could not be started (the reason has been logged)")
            }
        })?;
        // The first batch decides between an error document and a result.
        let first = match rows.next_batch().await {
            None => Vec::new(),
            Some(Ok(batch)) => batch,
            Some(Err(StoreError::Timeout(_))) => return Err(timeout_error(timeout)),
            Some(Err(e)) => return Err(DaliError::usage(format!("the query failed: {e}"))),
        };
        let integers = translation
            .columns
            .iter()
            .map(|c| {
                matches!(
                    c.ty,
                    skyport_adql::AdqlType::SmallInt
                        | skyport_adql::AdqlType::Integer
                        | skyport_adql::AdqlType::BigInt
                )
            })
            .collect();
        let names = translation.columns.iter().map(|c| c.name.clone()).collect();
        let streamer = Streamer {
            integers,
            names,
            rows: Some(rows),
            writer,
            remaining: request.maxrec,
            pending: Some(first),
            peeked: None,
            started: false,
            done: false,
            failure: Arc::clone(&failure),
            timeout,
        };
        // A value the first rows cannot hold truthfully is an error answer, not a document.
        if let Some(message) = streamer
            .pending
            .as_deref()
            .and_then(|rows| rows.iter().find_map(|r| streamer.overflow(r)))
        {
            return Err(DaliError::usage(
                message.trim_start_matches("Error: ").to_string(),
            ));
        }
        // Fused: the HTTP layers may poll once more after the end.
        let body = futures_util::stream::unfold(streamer, |mut s| async move {
            s.next_chunk().await.map(|chunk| (chunk, s))
        })
        .fuse()
        .boxed();
        Ok(QueryOutput {
            content_type: request.format.content_type.clone(),
            body,
            failure,
        })
    }

    /// Runs a small ADQL query for `caller` to completion (service metadata such as the
    /// values a column takes), returning its rows.
    pub async fn rows(&self, caller: &Caller, adql: &str) -> Result<Vec<Vec<Value>>, DaliError> {
        let translation = skyport_adql::parse_and_translate(
            adql,
            &self.catalogue,
            adql_dialect(self.store.as_ref()),
            &self.options_for(caller),
        )
        .map_err(|e| DaliError::internal(format!("service query {adql:?}: {e}")))?;
        self.store
            .query(translation.sql, Vec::new())
            .await
            .map(|r| r.rows)
            .map_err(|e| DaliError::internal(format!("service query {adql:?}: {e}")))
    }
}

fn timeout_error(timeout: Option<Duration>) -> DaliError {
    DaliError::usage(format!(
        "the query ran longer than the limit of {} s and was stopped; make it more selective, or run it through /tap/async with a longer EXECUTIONDURATION",
        timeout.map_or(0, |t| t.as_secs())
    ))
}

/// The FIELD of a result column.
pub fn field(c: &OutputColumn) -> Field {
    Field::of(c.name.clone(), (*c.meta).clone())
}

fn cell(v: &Value) -> Cell<'_> {
    match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Int(i) => Cell::Int(*i),
        Value::Float(f) => Cell::Float(*f),
        Value::Text(t) => Cell::Text(t),
    }
}

/// Output gathered into one chunk at most, unless a single batch of rows is longer.
const CHUNK_BYTES: usize = 64 * 1024;

/// Turns batches of rows into chunks of output.
struct Streamer {
    /// Which result columns are integers: SQLite turns an integer overflow into a double,
    /// which must not be written as a (saturated) integer.
    integers: Vec<bool>,
    /// The result column names, for messages.
    names: Vec<String>,
    rows: Option<RowStream>,
    writer: TableWriter,
    remaining: u64,
    pending: Option<Vec<Vec<Value>>>,
    /// What the row stream had ready at once after the last batch (`Some(None)`: its end).
    peeked: Option<Option<skyport_store::Batch>>,
    started: bool,
    done: bool,
    failure: Arc<Mutex<Option<String>>>,
    timeout: Option<Duration>,
}

impl Streamer {
    /// The message for a row holding a value its integer column cannot hold, if it does.
    fn overflow(&self, row: &[Value]) -> Option<String> {
        row.iter().zip(&self.integers).zip(&self.names).find_map(|((v, integer), name)| {
            match v {
                // i64::MAX as f64 rounds up to 2^63, which is out of range too.
                Value::Float(f) if *integer && (f.is_nan() || f.abs() >= i64::MAX as f64) => Some(format!(
                    "Error: integer overflow: a value of column {name} is beyond the range of a 64-bit integer"
                )),
                _ => None,
            }
        })
    }

    /// Writes rows while MAXREC allows; `Ok(true)` when a row beyond MAXREC was seen, an error
    /// for a row that cannot be written truthfully.
    fn write_rows(&mut self, out: &mut Vec<u8>, batch: &[Vec<Value>]) -> Result<bool, String> {
        let mut cells: Vec<Cell<'_>> = Vec::new();
        for row in batch {
            if self.remaining == 0 {
                return Ok(true);
            }
            if let Some(message) = self.overflow(row) {
                return Err(message);
            }
            cells.clear();
            cells.extend(row.iter().map(cell));
            self.writer.row(out, &cells);
            self.remaining -= 1;
        }
        Ok(false)
    }

    fn finish(&mut self, out: &mut Vec<u8>, ending: Ending<'_>) {
        self.writer.end(out, ending);
        if let Some(message) = self.writer.failure() {
            tracing::error!("{message}");
            if let Ok(mut f) = self.failure.lock() {
                f.get_or_insert_with(|| format!("Error: {message}"));
            }
        }
        self.done = true;
        // Dropping the row stream stops the query on the database side.
        self.rows = None;
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK_BYTES / 4);
        if !self.started {
            self.started = true;
            self.writer.begin(&mut out);
        }
        loop {
            let batch = match (self.pending.take(), self.peeked.take()) {
                (Some(b), _) => Some(Ok(b)),
                (None, Some(ready)) => ready,
                (None, None) => match self.rows.as_mut() {
                    Some(r) => r.next_batch().await,
                    None => None,
                },
            };
            match batch {
                None => {
                    self.finish(&mut out, Ending::Complete);
                    return Some(Bytes::from(out));
                }
                Some(Ok(rows)) => {
                    match self.write_rows(&mut out, &rows) {
                        Ok(true) => {
                            self.finish(&mut out, Ending::Overflow);
                            return Some(Bytes::from(out));
                        }
                        Ok(false) => {}
                        Err(message) => {
                            if let Ok(mut f) = self.failure.lock() {
                                *f = Some(message.clone());
                            }
                            self.finish(&mut out, Ending::Error(&message));
                            return Some(Bytes::from(out));
                        }
                    }
                    if !out.is_empty() {
                        // What is ready already (all of a query that has ended) joins this
                        // chunk, so a small answer is one piece; nothing is waited for.
                        if out.len() < CHUNK_BYTES {
                            if let Some(ready) = self
                                .rows
                                .as_mut()
                                .and_then(|r| r.next_batch().now_or_never())
                            {
                                self.peeked = Some(ready);
                                continue;
                            }
                        }
                        return Some(Bytes::from(out));
                    }
                }
                Some(Err(e)) => {
                    let message = match e {
                        StoreError::Timeout(_) => timeout_error(self.timeout).message(),
                        other => format!("Error: the query failed while streaming: {other}"),
                    };
                    tracing::warn!("{message}");
                    if let Ok(mut f) = self.failure.lock() {
                        *f = Some(message.clone());
                    }
                    self.finish(&mut out, Ending::Error(&message));
                    return Some(Bytes::from(out));
                }
            }
        }
    }
}
