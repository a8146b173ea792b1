//! Reading and writing FITS files through cfitsio.
//!
//! Header records are read with cfitsio's record calls (`ffghsp`/`ffgrec`), the only `unsafe`
//! in the crate, at the FFI boundary. Everything after that is the pure [`crate::header`] code.
//! cfitsio transparently opens gzip-wrapped files and tile-compressed HDUs.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::path::{Path, PathBuf};

use fitsio::images::{ImageDescription, ImageType};
use fitsio::FitsFile;

use crate::header::{Card, Header, HeaderError};

/// Why a FITS file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FitsError {
    /// The file cannot be opened (missing, unreadable, not FITS).
    #[error("{path}: cannot open as FITS: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// cfitsio's explanation.
        reason: String,
    },
    /// The file ends before the data its headers announce.
    #[error("{path}: truncated: HDU {hdu} needs {needed} bytes but the file has {actual}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// 0-based HDU index.
        hdu: usize,
        /// Bytes the HDU needs.
        needed: u64,
        /// Bytes in the file.
        actual: u64,
    },
    /// A header card cannot be parsed.
    #[error("{path}: HDU {hdu}: bad header: {source}")]
    Header {
        /// The file.
        path: PathBuf,
        /// 0-based HDU index.
        hdu: usize,
        /// The card problem.
        source: HeaderError,
    },
    /// cfitsio reported an error while reading or writing.
    #[error("{path}: {operation}: {reason}")]
    Cfitsio {
        /// The file.
        path: PathBuf,
        /// What was being done.
        operation: String,
        /// cfitsio's explanation.
        reason: String,
    },
    /// The work was stopped through its [`crate::Cancel`] token before it finished.
    #[error(transparent)]
    Cancelled(#[from] crate::Cancelled),
}

/// What an HDU holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HduKind {
    /// An image with at least one axis (plain or tile-compressed).
    Image,
    /// An image HDU with no data (`NAXIS = 0`), typically the primary of a MEF.
    Empty,
    /// An ASCII or binary table.
    Table,
}

/// What an image plane means, from its EXTNAME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaneRole {
    /// Science pixels.
    Image,
    /// A bit mask or data-quality plane.
    Mask,
    /// A variance (or error) plane.
    Variance,
    /// Anything else.
    Other,
}

impl PlaneRole {
    /// Classifies an EXTNAME.
    pub fn from_extname(extname: Option<&str>) -> PlaneRole {
        let Some(name) = extname else {
            return PlaneRole::Other;
        };
        match name.trim().to_ascii_uppercase().as_str() {
            "IMAGE" | "SCI" | "SCIENCE" | "PRIMARY" => PlaneRole::Image,
            "MASK" | "DQ" | "BPM" | "FLAGS" | "BADPIX" => PlaneRole::Mask,
            "VARIANCE" | "VAR" | "ERR" | "ERROR" | "SIGMA" | "WHT" | "WEIGHT" => {
                PlaneRole::Variance
            }
            _ => PlaneRole::Other,
        }
    }

    /// Lower-case name as stored in the archive.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaneRole::Image => "image",
            PlaneRole::Mask => "mask",
            PlaneRole::Variance => "variance",
            PlaneRole::Other => "other",
        }
    }
}

/// One HDU of a file.
#[derive(Debug, Clone)]
pub struct HduSummary {
    /// 0-based index in the file.
    pub index: usize,
    /// What it holds.
    pub kind: HduKind,
    /// The header as readers see it (compressed images shown as images).
    pub header: Header,
    /// Tile-compression algorithm (`RICE_1`…) for compressed images.
    pub compression: Option<String>,
    /// EXTNAME, if any.
    pub extname: Option<String>,
    /// Axis lengths NAXIS1, NAXIS2, … of the (decompressed) data.
    pub shape: Vec<u64>,
    /// BITPIX of the (decompressed) data.
    pub bitpix: i64,
    /// Role of the plane, from its EXTNAME.
    pub role: PlaneRole,
}

/// Every HDU of a file, with the file's size.
#[derive(Debug, Clone)]
pub struct FitsSummary {
    /// The HDUs in file order.
    pub hdus: Vec<HduSummary>,
    /// Size of the file on disk in bytes.
    pub file_size: u64,
}

/// Opens a FITS file and reads every HDU's header.
pub fn read_summary(path: &Path) -> Result<FitsSummary, FitsError> {
    let open_error = |e: std::io::Error| FitsError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // A remote file (an object) is not gzipped: the driver gives cfitsio its bytes as stored.
    let (file_size, gzipped) = match crate::remote::remote_name(path) {
        Some(name) => (crate::remote::size(name).map_err(open_error)?, false),
        None => (
            std::fs::metadata(path).map_err(open_error)?.len(),
            is_gzip(path),
        ),
    };
    let mut file = FitsFile::open(path).map_err(|e| FitsError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // SAFETY: the pointer is valid while `file` lives; cfitsio calls below only read.
    let fptr = unsafe { file.as_raw() };
    let mut hdus = Vec::new();
    for index in 0.. {
        let mut status: c_int = 0;
        let mut hdu_type: c_int = 0;
        // SAFETY: fptr is a live cfitsio handle; status/hdu_type are valid out-pointers.
        unsafe { fitsio::sys::ffmahd(fptr, (index + 1) as c_int, &mut hdu_type, &mut status) };
        if status == END_OF_FILE {
            break;
        }
        if status != 0 {
            return Err(cfitsio_error(
                path,
                &format!("moving to HDU {index}"),
                status,
            ));
        }
        let records = read_records(fptr).map_err(|status| {
            cfitsio_error(path, &format!("reading header of HDU {index}"), status)
        })?;
        let raw = Header::from_records(&records).map_err(|source| FitsError::Header {
            path: path.to_path_buf(),
            hdu: index,
            source,
        })?;
        if !gzipped {
            check_complete(path, fptr, index, &raw, file_size)?;
        }
        hdus.push(summarise(index, hdu_type, raw));
    }
    if hdus.is_empty() {
        return Err(FitsError::Open {
            path: path.to_path_buf(),
            reason: "no HDU found".into(),
        });
    }
    Ok(FitsSummary { hdus, file_size })
}

/// cfitsio's END_OF_FILE status: moving past the last HDU.
const END_OF_FILE: c_int = 107;

fn is_gzip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b]
}

fn read_records(fptr: *mut fitsio::sys::fitsfile) -> Result<Vec<String>, c_int> {
    let (mut nexist, mut nmore, mut status): (c_int, c_int, c_int) = (0, 0, 0);
    // SAFETY: live handle and valid out-pointers.
    unsafe { fitsio::sys::ffghsp(fptr, &mut nexist, &mut nmore, &mut status) };
    if status != 0 {
        return Err(status);
    }
    let mut records = Vec::with_capacity(nexist.max(0) as usize);
    for i in 1..=nexist {
        let mut buf = [0 as c_char; 81];
        // SAFETY: buf holds 81 bytes, the size cfitsio writes for one record plus NUL.
        unsafe { fitsio::sys::ffgrec(fptr, i, buf.as_mut_ptr(), &mut status) };
        if status != 0 {
            return Err(status);
        }
        // SAFETY: cfitsio NUL-terminates the record within the buffer.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
        records.push(text.to_string_lossy().into_owned());
    }
    Ok(records)
}

/// Fails when the file is shorter than the HDU's data (header start + header + data bytes).
fn check_complete(
    path: &Path,
    fptr: *mut fitsio::sys::fitsfile,
    index: usize,
    raw: &Header,
    file_size: u64,
) -> Result<(), FitsError> {
    let (mut head, mut data, mut end, mut status) = (0i64, 0i64, 0i64, 0 as c_int);
    // SAFETY: live handle and valid out-pointers.
    unsafe { fitsio::sys::ffghadll(fptr, &mut head, &mut data, &mut end, &mut status) };
    if status != 0 {
        return Err(cfitsio_error(
            path,
            &format!("locating HDU {index}"),
            status,
        ));
    }
    let naxis = raw.i64("NAXIS").unwrap_or(0);
    let elements: u64 = if naxis == 0 {
        0
    } else {
        (1..=naxis)
            .map(|i| raw.i64(&format!("NAXIS{i}")).unwrap_or(0).max(0) as u64)
            .product()
    };
    let bytes_per = raw.i64("BITPIX").unwrap_or(8).unsigned_abs() / 8;
    let gcount = raw.i64("GCOUNT").unwrap_or(1).max(1) as u64;
    let pcount = raw.i64("PCOUNT").unwrap_or(0).max(0) as u64;
    let needed = data.max(0) as u64 + bytes_per * gcount * (pcount + elements);
    if needed > file_size {
        return Err(FitsError::Truncated {
            path: path.to_path_buf(),
            hdu: index,
            needed,
            actual: file_size,
        });
    }
    Ok(())
}

fn summarise(index: usize, hdu_type: c_int, raw: Header) -> HduSummary {
    let compression = raw
        .is_compressed_image()
        .then(|| raw.str("ZCMPTYPE").unwrap_or_else(|| "UNKNOWN".into()));
    let header = raw.decompressed_view();
    let naxis = header.i64("NAXIS").unwrap_or(0).max(0);
    let shape: Vec<u64> = (1..=naxis)
        .map(|i| header.i64(&format!("NAXIS{i}")).unwrap_or(0).max(0) as u64)
        .collect();
    // cfitsio reports tile-compressed images as IMAGE_HDU (0).
    let kind = if hdu_type != 0 && compression.is_none() {
        HduKind::Table
    } else if shape.is_empty() || shape.contains(&0) {
        HduKind::Empty
    } else {
        HduKind::Image
    };
    let extname = header.str("EXTNAME");
    // LSST afw files name their planes with EXTTYPE and leave EXTNAME out.
    let plane_name = extname.clone().or_else(|| header.str("EXTTYPE"));
    let role = match (kind, plane_name.as_deref()) {
        (HduKind::Image, Some(name)) => PlaneRole::from_extname(Some(name)),
        (HduKind::Image, None) => PlaneRole::Image,
        _ => PlaneRole::Other,
    };
    HduSummary {
        index,
        kind,
        bitpix: header.i64("BITPIX").unwrap_or(0),
        header,
        compression,
        extname,
        shape,
        role,
    }
}

pub(crate) fn cfitsio_error(path: &Path, operation: &str, status: c_int) -> FitsError {
    let mut buf = [0 as c_char; 31];
    // SAFETY: ffgerr writes at most 30 characters plus NUL.
    unsafe { fitsio::sys::ffgerr(status, buf.as_mut_ptr()) };
    // SAFETY: NUL-terminated by ffgerr.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    FitsError::Cfitsio {
        path: path.to_path_buf(),
        operation: operation.to_string(),
        reason: format!("{text} (status {status})"),
    }
}

/// Pixel data of one plane to write.
pub enum PlaneData<'a> {
    /// 32-bit float pixels, row-major (NAXIS1 fastest).
    F32(&'a [f32]),
    /// 32-bit integer pixels.
    I32(&'a [i32]),
}

/// One image extension to write.
pub struct PlaneSpec<'a> {
    /// EXTNAME.
    pub extname: &'a str,
    /// The pixels.
    pub data: PlaneData<'a>,
    /// Extra header cards (WCS, metadata).
    pub cards: Vec<Card>,
}

/// Writes a multi-extension FITS file: an empty primary HDU with `primary_cards`, then one
/// image extension per plane, each `width` × `height`, RICE-compressed in `tile` × `tile`
/// tiles when `tile` is given. Float planes are quantised by cfitsio with subtractive
/// dithering seeded by `dither_seed` (1–10000), so the same input always gives the same file.
/// Fails if the file exists.
pub fn write_mef(
    path: &Path,
    primary_cards: &[Card],
    planes: &[PlaneSpec<'_>],
    width: usize,
    height: usize,
    tile: Option<usize>,
    dither_seed: i32,
) -> Result<(), FitsError> {
    let spec = match tile {
        Some(t) => format!("{}[compress R {t},{t}]", path.display()),
        None => path.display().to_string(),
    };
    let err = |op: &str, e: fitsio::errors::Error| FitsError::Cfitsio {
        path: path.to_path_buf(),
        operation: op.to_string(),
        reason: e.to_string(),
    };
    let mut file = FitsFile::create(&spec)
        .open()
        .map_err(|e| err("creating file", e))?;
    write_cards(path, &mut file, primary_cards)?;
    for plane in planes {
        let image_type = match plane.data {
            PlaneData::F32(_) => ImageType::Float,
            PlaneData::I32(_) => ImageType::Long,
        };
        let description = ImageDescription {
            data_type: image_type,
            dimensions: &[height, width],
        };
        if tile.is_some() {
            let mut status: c_int = 0;
            // SAFETY: live handle; sets a request parameter for the next compressed image.
            unsafe {
                fitsio::sys::fits_set_dither_seed(
                    file.as_raw(),
                    dither_seed.clamp(1, 10_000),
                    &mut status,
                )
            };
            if status != 0 {
                return Err(cfitsio_error(path, "setting the dither seed", status));
            }
        }
        let hdu = file
            .create_image(plane.extname, &description)
            .map_err(|e| err("creating image", e))?;
        match plane.data {
            PlaneData::F32(d) => hdu.write_image(&mut file, d),
            PlaneData::I32(d) => hdu.write_image(&mut file, d),
        }
        .map_err(|e| err("writing pixels", e))?;
        write_cards(path, &mut file, &plane.cards)?;
    }
    Ok(())
}

/// Appends raw cards to the current HDU.
fn write_cards(path: &Path, file: &mut FitsFile, cards: &[Card]) -> Result<(), FitsError> {
    // SAFETY: live handle, used only within this call.
    let fptr = unsafe { file.as_raw() };
    for card in cards {
        let record = crate::header::format_card(card);
        let c = CString::new(record).map_err(|_| FitsError::Cfitsio {
            path: path.to_path_buf(),
            operation: "formatting card".into(),
            reason: format!("NUL byte in card {}", card.key),
        })?;
        let mut status: c_int = 0;
        // SAFETY: c is a NUL-terminated 80-character card.
        unsafe { fitsio::sys::ffprec(fptr, c.as_ptr(), &mut status) };
        if status != 0 {
            return Err(cfitsio_error(
                path,
                &format!("writing card {}", card.key),
                status,
            ));
        }
    }
    Ok(())
}

/// Reads the pixels of a rectangular region `[x0, x1) × [y0, y1)` (0-based) of an image HDU as
/// f32, decompressing only the tiles it touches.
pub fn read_region_f32(
    path: &Path,
    hdu_index: usize,
    x: std::ops::Range<usize>,
    y: std::ops::Range<usize>,
) -> Result<Vec<f32>, FitsError> {
    let err = |op: &str, e: fitsio::errors::Error| FitsError::Cfitsio {
        path: path.to_path_buf(),
        operation: op.to_string(),
        reason: e.to_string(),
    };
    let mut file = FitsFile::open(path).map_err(|e| FitsError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let hdu = file.hdu(hdu_index).map_err(|e| err("moving to HDU", e))?;
    hdu.read_region(&mut file, &[&x, &y])
        .map_err(|e| err("reading region", e))
}

/// Writes HDU `hdu` (0-based, not the primary) of `src` alone to a new file `dest`, after an
/// empty primary HDU: a mask or variance plane as a FITS file of its own. The HDU is copied as
/// it is stored, so a tile-compressed plane stays compressed. `dest` must not exist.
pub fn copy_hdu(src: &Path, hdu: usize, dest: &Path) -> Result<(), FitsError> {
    let mut input = FitsFile::open(src).map_err(|e| FitsError::Open {
        path: src.to_path_buf(),
        reason: e.to_string(),
    })?;
    input.hdu(hdu).map_err(|e| FitsError::Cfitsio {
        path: src.to_path_buf(),
        operation: format!("moving to HDU {hdu}"),
        reason: e.to_string(),
    })?;
    let mut output = FitsFile::create(dest)
        .open()
        .map_err(|e| FitsError::Cfitsio {
            path: dest.to_path_buf(),
            operation: "creating the file".into(),
            reason: e.to_string(),
        })?;
    let mut status: c_int = 0;
    // SAFETY: both files are open; cfitsio appends a copy of the input's current HDU after the
    // output's (non-empty) primary.
    unsafe { fitsio::sys::ffcopy(input.as_raw(), output.as_raw(), 0, &mut status) };
    if status != 0 {
        return Err(cfitsio_error(dest, &format!("copying HDU {hdu}"), status));
    }
    Ok(())
}
