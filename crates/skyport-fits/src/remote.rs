//! FITS files that are not on the local disk (objects in an object store), read by cfitsio
//! through an I/O driver of our own, registered under the prefix [`PREFIX`].
//!
//! A name `skyobj://ROOT/KEY` reaches the driver, which asks the installed [`RemoteFiles`] for
//! the object's size and for the byte ranges cfitsio reads: the header records, a compressed
//! image's tile index, the tiles a cutout touches. Everything else in this crate opens such a
//! name as it opens a path, so cutouts, previews, planes and HiPS read only what they need.
//!
//! Why a driver and not reading tiles ourselves: cfitsio already knows which bytes each
//! operation needs (tile-compressed images, scaled and quantised pixels, every BITPIX) and
//! reads them through its driver table, 2,880-byte records at a time or larger; a driver
//! keeps one code path for local and remote files and their outputs bit for bit the same.
//! cfitsio's own `https://` driver would copy the whole file into memory first.
//!
//! The driver's functions are called by cfitsio with its own lock held (`--enable-reentrant`)
//! or from the thread using the handle; they block until the bytes arrive, so they must run
//! on threads that may block (the server runs FITS work on its blocking pool).

use std::ffi::{c_char, c_int, c_long, c_void, CStr};
use std::path::Path;
use std::sync::{Arc, Mutex, Once, RwLock};

/// The prefix of names read through the installed [`RemoteFiles`].
pub const PREFIX: &str = "skyobj://";

/// Where remote files' bytes come from.
pub trait RemoteFiles: Send + Sync {
    /// The size in bytes of the file `name` (what follows [`PREFIX`]).
    fn size(&self, name: &str) -> std::io::Result<u64>;
    /// Fills `buf` with the bytes of `name` starting at `offset`.
    fn read_at(&self, name: &str, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

static FILES: RwLock<Option<Arc<dyn RemoteFiles>>> = RwLock::new(None);
static REGISTER: Once = Once::new();
static REGISTERED: Mutex<Option<c_int>> = Mutex::new(None);

/// An open remote file. Its size is asked for when cfitsio first wants it (right after the
/// open, outside cfitsio's global lock), never in `driver_open`, which cfitsio calls holding
/// that lock: a slow store must not stall every other file's open.
struct Open {
    name: String,
    size: Option<u64>,
    position: u64,
}

static OPEN: Mutex<Vec<Option<Open>>> = Mutex::new(Vec::new());

/// Makes `files` the source of every `skyobj://` name (replacing an earlier one) and
/// registers the driver with cfitsio the first time. Fails when cfitsio refuses the driver.
pub fn install(files: Arc<dyn RemoteFiles>) -> Result<(), String> {
    *FILES.write().unwrap_or_else(|e| e.into_inner()) = Some(files);
    REGISTER.call_once(|| {
        let status = register();
        *REGISTERED.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
    });
    match *REGISTERED.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(0) => Ok(()),
        Some(status) => Err(format!(
            "cfitsio refused the object-store driver (status {status})"
        )),
        None => Err("the object-store driver was not registered".into()),
    }
}

/// The name `path` stands for when it is a remote file's (`skyobj://…`), without the prefix.
pub fn remote_name(path: &Path) -> Option<&str> {
    path.to_str().and_then(|s| s.strip_prefix(PREFIX))
}

fn files() -> std::io::Result<Arc<dyn RemoteFiles>> {
    FILES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| std::io::Error::other("no object store is configured"))
}

/// The size of the remote file `name`.
pub fn size(name: &str) -> std::io::Result<u64> {
    files()?.size(name)
}

/// Reads `buf.len()` bytes of the remote file `name` at `offset`.
pub fn read_at(name: &str, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    files()?.read_at(name, offset, buf)
}

// cfitsio status codes the driver answers with.
const FILE_NOT_OPENED: c_int = 104;
const END_OF_FILE: c_int = 107;
const READ_ERROR: c_int = 108;
const READONLY_FILE: c_int = 112;
const BAD_FILEPTR: c_int = 114;

extern "C" {
    // In cfitsio's fitsio2.h, which fitsio-sys does not bind.
    #[allow(clippy::too_many_arguments)]
    fn fits_register_driver(
        prefix: *const c_char,
        init: Option<extern "C" fn() -> c_int>,
        shutdown: Option<extern "C" fn() -> c_int>,
        setoptions: Option<extern "C" fn(c_int) -> c_int>,
        getoptions: Option<extern "C" fn(*mut c_int) -> c_int>,
        getversion: Option<extern "C" fn(*mut c_int) -> c_int>,
        checkfile: Option<extern "C" fn(*mut c_char, *mut c_char, *mut c_char) -> c_int>,
        open: Option<extern "C" fn(*mut c_char, c_int, *mut c_int) -> c_int>,
        create: Option<extern "C" fn(*mut c_char, *mut c_int) -> c_int>,
        truncate: Option<extern "C" fn(c_int, i64) -> c_int>,
        close: Option<extern "C" fn(c_int) -> c_int>,
        remove: Option<extern "C" fn(*mut c_char) -> c_int>,
        size: Option<extern "C" fn(c_int, *mut i64) -> c_int>,
        flush: Option<extern "C" fn(c_int) -> c_int>,
        seek: Option<extern "C" fn(c_int, i64) -> c_int>,
        read: Option<extern "C" fn(c_int, *mut c_void, c_long) -> c_int>,
        write: Option<extern "C" fn(c_int, *mut c_void, c_long) -> c_int>,
    ) -> c_int;
}

fn register() -> c_int {
    // SAFETY: initialising cfitsio's tables is what every open does first; idempotent.
    let status = unsafe { fitsio::sys::fits_init_cfitsio() };
    if status != 0 {
        return status;
    }
    let prefix = c"skyobj://";
    // SAFETY: a NUL-terminated prefix (cfitsio copies it) and functions that live as long as
    // the program; called once, before any open of a `skyobj://` name can need the driver.
    unsafe {
        fits_register_driver(
            prefix.as_ptr(),
            None,
            Some(no_op),
            Some(no_options),
            Some(get_options),
            Some(get_version),
            None,
            Some(driver_open),
            None,
            None,
            Some(driver_close),
            None,
            Some(driver_size),
            Some(driver_flush),
            Some(driver_seek),
            Some(driver_read),
            Some(driver_write),
        )
    }
}

extern "C" fn no_op() -> c_int {
    0
}

extern "C" fn no_options(_: c_int) -> c_int {
    0
}

extern "C" fn get_options(options: *mut c_int) -> c_int {
    if !options.is_null() {
        // SAFETY: cfitsio passes a valid out-pointer.
        unsafe { *options = 0 };
    }
    0
}

extern "C" fn get_version(version: *mut c_int) -> c_int {
    if !version.is_null() {
        // SAFETY: cfitsio passes a valid out-pointer.
        unsafe { *version = 10 };
    }
    0
}

fn open_files() -> std::sync::MutexGuard<'static, Vec<Option<Open>>> {
    OPEN.lock().unwrap_or_else(|e| e.into_inner())
}

extern "C" fn driver_open(filename: *mut c_char, rwmode: c_int, handle: *mut c_int) -> c_int {
    if filename.is_null() || handle.is_null() {
        return FILE_NOT_OPENED;
    }
    if rwmode != 0 {
        return READONLY_FILE;
    }
    // SAFETY: cfitsio passes a NUL-terminated name.
    let Ok(name) = unsafe { CStr::from_ptr(filename) }.to_str() else {
        return FILE_NOT_OPENED;
    };
    let name = name.strip_prefix(PREFIX).unwrap_or(name).to_string();
    let mut open = open_files();
    let slot = match open.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            open.push(None);
            open.len() - 1
        }
    };
    let Ok(id) = c_int::try_from(slot) else {
        return FILE_NOT_OPENED;
    };
    open[slot] = Some(Open {
        name,
        size: None,
        position: 0,
    });
    // SAFETY: a valid out-pointer, checked above.
    unsafe { *handle = id };
    0
}

fn with_open<T>(handle: c_int, f: impl FnOnce(&mut Open) -> T) -> Option<T> {
    let mut open = open_files();
    let slot = usize::try_from(handle).ok()?;
    open.get_mut(slot)?.as_mut().map(f)
}

/// The size of the file behind `handle`, asked of the source the first time (without holding
/// the handle table's lock while it answers).
fn size_of(handle: c_int) -> Result<u64, c_int> {
    let (name, known) = with_open(handle, |o| (o.name.clone(), o.size)).ok_or(BAD_FILEPTR)?;
    if let Some(s) = known {
        return Ok(s);
    }
    match size(&name) {
        Ok(s) => {
            with_open(handle, |o| o.size = Some(s));
            Ok(s)
        }
        Err(e) => {
            tracing::warn!(object = %name, "cannot open: {e}");
            Err(FILE_NOT_OPENED)
        }
    }
}

extern "C" fn driver_close(handle: c_int) -> c_int {
    let mut open = open_files();
    match usize::try_from(handle).ok().and_then(|i| open.get_mut(i)) {
        Some(slot) if slot.is_some() => {
            *slot = None;
            0
        }
        _ => BAD_FILEPTR,
    }
}

extern "C" fn driver_size(handle: c_int, size: *mut i64) -> c_int {
    if size.is_null() {
        return BAD_FILEPTR;
    }
    match size_of(handle) {
        Ok(s) => {
            // SAFETY: a valid out-pointer, checked above.
            unsafe { *size = i64::try_from(s).unwrap_or(i64::MAX) };
            0
        }
        Err(status) => status,
    }
}

extern "C" fn driver_flush(_: c_int) -> c_int {
    0
}

extern "C" fn driver_seek(handle: c_int, offset: i64) -> c_int {
    let Ok(offset) = u64::try_from(offset) else {
        return END_OF_FILE;
    };
    let size = match size_of(handle) {
        Ok(s) => s,
        Err(status) => return status,
    };
    match with_open(handle, |o| {
        if offset > size {
            END_OF_FILE
        } else {
            o.position = offset;
            0
        }
    }) {
        Some(status) => status,
        None => BAD_FILEPTR,
    }
}

extern "C" fn driver_read(handle: c_int, buffer: *mut c_void, nbytes: c_long) -> c_int {
    let Ok(n) = usize::try_from(nbytes) else {
        return READ_ERROR;
    };
    if buffer.is_null() && n > 0 {
        return READ_ERROR;
    }
    // The name and position are taken out of the table so that reads of several files wait
    // on the store together, not one behind the other on the table's lock.
    let size = match size_of(handle) {
        Ok(s) => s,
        Err(status) => return status,
    };
    let Some((name, position)) = with_open(handle, |o| (o.name.clone(), o.position)) else {
        return BAD_FILEPTR;
    };
    if position.saturating_add(n as u64) > size {
        return END_OF_FILE;
    }
    if n == 0 {
        return 0;
    }
    // SAFETY: cfitsio passes a buffer of at least `nbytes` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), n) };
    match read_at(&name, position, out) {
        Ok(()) => {
            with_open(handle, |o| o.position = position + n as u64);
            0
        }
        Err(e) => {
            tracing::warn!(object = %name, offset = position, bytes = n, "read failed: {e}");
            READ_ERROR
        }
    }
}

extern "C" fn driver_write(_: c_int, _: *mut c_void, _: c_long) -> c_int {
    READONLY_FILE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files held in memory, counting the bytes read.
    struct InMemory {
        files: std::collections::HashMap<String, Vec<u8>>,
        read: std::sync::atomic::AtomicU64,
    }

    impl RemoteFiles for InMemory {
        fn size(&self, name: &str) -> std::io::Result<u64> {
            self.files
                .get(name)
                .map(|f| f.len() as u64)
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, name.to_string()))
        }

        fn read_at(&self, name: &str, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
            let f = self
                .files
                .get(name)
                .ok_or_else(|| std::io::Error::other("gone"))?;
            let start = offset as usize;
            buf.copy_from_slice(&f[start..start + buf.len()]);
            self.read
                .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    }

    #[test]
    fn a_remote_file_reads_as_the_local_one_does() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/fits/pypi_astroquery/first_vla_image.fits");
        let bytes = std::fs::read(&file).expect("read");
        let files = Arc::new(InMemory {
            files: [("root/a.fits".to_string(), bytes.clone())].into(),
            read: Default::default(),
        });
        install(files.clone()).expect("installed");
        assert_eq!(c"skyobj://".to_str(), Ok(PREFIX));
        let remote = crate::read_summary(Path::new("skyobj://root/a.fits")).expect("remote");
        let here = crate::read_summary(&file).expect("local");
        assert_eq!(remote.file_size, here.file_size);
        assert_eq!(remote.hdus.len(), here.hdus.len());
        for (r, h) in remote.hdus.iter().zip(&here.hdus) {
            assert_eq!(r.header.cards(), h.header.cards());
        }
        assert!(files.read.load(std::sync::atomic::Ordering::Relaxed) > 0);
        // A missing object is an error, not a hang or a panic.
        assert!(crate::read_summary(Path::new("skyobj://root/none.fits")).is_err());
    }
}
