//! Parameters found by fuzzing (`fuzz/found/dali_params/`): refused with a clear error and
//! without memory out of proportion to the request.
//!
//! The heap is counted by this binary's global allocator, so the tests take `ONE_AT_A_TIME`:
//! a test running beside another would add to its count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use skyport_server::sia::query::adql;
use skyport_server::{DaliParams, Limits};

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = IN_USE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn found(name: &str) -> DaliParams {
    let path = format!(
        "{}/../../fuzz/found/dali_params/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    DaliParams::read_urlencoded(&body).expect("parameters")
}

fn sia(params: &DaliParams) -> Result<String, skyport_server::DaliError> {
    adql(
        &|name| params.all(name).into_iter().map(str::to_string).collect(),
        Limits::default().query_max_bytes,
        false,
    )
}

#[test]
fn many_sia_ranges_are_refused_before_their_adql_is_built() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 2 000 values of `POS=RANGE 0 360 44 46` (44 kB): each is some 35 kB of ADQL, 70 MB in
    // all, which SIA built before TAP refused the query for its length.
    let params = found("sia-many-ranges");
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let e = sia(&params).expect_err("too long");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(e.message().contains("would be over"), "{}", e.message());
    let max = Limits::default().query_max_bytes;
    assert!(peak < 4 * max, "{peak} bytes of heap to refuse it");
}

#[test]
fn a_southern_range_is_a_query_that_parses() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // `POS=RANGE 59 54 -29 -27`: 355° of longitude south of the equator, 23 polygons of some
    // 60 vertices, every latitude negative; each sign was counted as an ADQL operator, and the
    // query was refused for having more than 1 000.
    for name in ["sia-southern-range", "sia-southern-range.fuzzer"] {
        let q = sia(&found(name)).expect("SIA's query");
        if let Err(e) = skyport_adql::parse(&q) {
            panic!("{name}: {e}");
        }
    }
}
