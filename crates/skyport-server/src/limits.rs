//! The `[limits]` section of the configuration: what the services announce in their
//! capabilities and enforce.

/// Limits announced in capabilities and enforced by the services (the `[limits]` section of
/// the configuration file).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Default MAXREC.
    pub maxrec_default: u64,
    /// Hard MAXREC cap.
    pub maxrec_hard: u64,
    /// Default execution duration of a query, seconds.
    pub execution_seconds_default: u64,
    /// Hard execution duration, seconds.
    pub execution_seconds_hard: u64,
    /// How long async results are kept, seconds.
    pub retention_seconds: u64,
    /// Largest request body accepted, bytes.
    pub max_request_bytes: usize,
    /// Time limit of one HTTP request, seconds.
    pub request_timeout_seconds: u64,
    /// Seconds a query keeps its database connection while its client takes none of the
    /// result; then the query stops and the result ends with an error (a stalled reader must
    /// not hold one of the few reader connections).
    pub result_stall_seconds: u64,
    /// Largest uploaded table, bytes.
    pub upload_max_bytes: usize,
    /// Most rows of an uploaded table.
    pub upload_max_rows: usize,
    /// Most uploaded tables in one request.
    pub upload_max_tables: usize,
    /// Time limit of fetching one upload from a URL (every redirect and the body), seconds.
    pub upload_fetch_seconds: u64,
    /// Most redirects followed when fetching one upload from a URL.
    pub upload_max_redirects: usize,
    /// Longest ADQL query accepted, in bytes (checked before it is parsed).
    pub query_max_bytes: usize,
    /// Async jobs executing at once.
    pub async_workers: usize,
    /// Most IDs one DataLink request answers; the rest are left out with an OVERFLOW.
    pub datalink_max_ids: usize,
    /// Most pixels in one plane of one cutout.
    pub soda_max_pixels: u64,
    /// Most cutouts one sync SODA request makes.
    pub soda_sync_max_cutouts: usize,
    /// Most cutouts one async SODA job makes.
    pub soda_async_max_cutouts: usize,
    /// Most rows of one ConsDB bulk insert (`POST /consdb/insert/{instrument}/{table}`),
    /// counted before any row is parsed.
    pub consdb_bulk_max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            maxrec_default: 100_000,
            maxrec_hard: 10_000_000,
            execution_seconds_default: 600,
            execution_seconds_hard: 3600,
            retention_seconds: 172_800,
            max_request_bytes: 100 * 1024 * 1024,
            request_timeout_seconds: 3600,
            result_stall_seconds: 10,
            upload_max_bytes: 16 * 1024 * 1024,
            upload_max_rows: 100_000,
            upload_max_tables: 16,
            upload_fetch_seconds: 60,
            upload_max_redirects: 5,
            query_max_bytes: 256 * 1024,
            async_workers: 2,
            datalink_max_ids: 1000,
            soda_max_pixels: 64 * 1024 * 1024,
            soda_sync_max_cutouts: 1000,
            soda_async_max_cutouts: 100_000,
            consdb_bulk_max_rows: 1_000_000,
        }
    }
}

/// When the request must be answered by (`request_timeout_seconds` after it arrived): set by
/// the deadline middleware as a request extension, so that work running beside the response
/// (a streamed package of cutouts) stops at the same time.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub std::time::Instant);
