//! What the fuzz targets share: a counting global allocator and the per-input heap ceiling.
//!
//! libFuzzer's `-rss_limit_mb` bounds the whole process and its `-malloc_limit_mb` needs a
//! sanitizer's malloc hooks (absent with `--sanitizer none`, which the stable toolchain
//! builds), so neither catches a parser that turns a small input into a large heap and gives
//! it back before the process grows past the limit. Every target therefore runs the code under
//! test through [`within_ceiling`]: the heap it uses at its peak (counted by the global
//! allocator below, bytes asked for, not the allocator's overhead) must stay within
//! `per_byte × input length + slack`. `per_byte` is chosen per target and justified there: it is
//! what an honest input can cost, so a parser that makes rows, cells or vertices out of
//! nothing, or copies what it has read over and over, fails it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes in use and their peak.
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

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
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

/// A heap ceiling: at most `per_byte` bytes of heap per input byte, plus `slack`.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Bytes of heap one input byte may cost at the peak.
    pub per_byte: usize,
    /// Bytes allowed whatever the input (tables, reserved buffers, the first allocations).
    pub slack: usize,
}

impl Ceiling {
    /// The most heap an input of `len` bytes may take.
    pub fn limit(&self, len: usize) -> usize {
        self.per_byte.saturating_mul(len).saturating_add(self.slack)
    }
}

/// Runs `f` and returns what it returns with the peak heap it took (above what was in use
/// before).
pub fn peak_heap<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    (out, peak)
}

/// Runs `f` on an input of `len` bytes and panics (a libFuzzer crash) when its peak heap is
/// above `ceiling`; `what` describes the outcome for the message.
pub fn within_ceiling<R>(
    target: &str,
    len: usize,
    ceiling: Ceiling,
    f: impl FnOnce() -> R,
    what: impl FnOnce(&R) -> String,
) -> R {
    let (out, peak) = peak_heap(f);
    if peak > ceiling.limit(len) {
        panic!(
            "{target}: a {len}-byte input took {peak} bytes of heap at its peak, over the \
             ceiling of {} ({} per byte + {}): {}",
            ceiling.limit(len),
            ceiling.per_byte,
            ceiling.slack,
            what(&out)
        );
    }
    if show() {
        eprintln!("{target}: {len} bytes of input, {peak} bytes of heap at the peak");
    }
    out
}

/// True when `SKYPORT_FUZZ_SHOW` is set: targets print what they made of an input (run the
/// built target on one file to see it).
pub fn show() -> bool {
    use std::sync::OnceLock;
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("SKYPORT_FUZZ_SHOW").is_some())
}
