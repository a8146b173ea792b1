//! Cutouts: a pixel box of one or more image planes, written as a new FITS file whose WCS
//! still gives every pixel its parent's sky position.
//!
//! Pixels are copied as stored: scaling is switched off on both sides, so integer images keep
//! their raw values with the parent's `BSCALE`/`BZERO`/`BLANK` cards, and float images keep
//! their bits (a quantised tile-compressed parent is dequantised exactly as cfitsio, and hence
//! astropy, reads it). cfitsio reads only the tiles of a compressed parent the box touches.
//!
//! Header cards are copied as records, so values keep their exact text; only the keywords
//! that depend on the pixel origin change: `CRPIXn` (and alternate `CRPIXna`) move by the box
//! offset, which keeps SIP (defined relative to `CRPIX`) valid, `LTVn` records the offset
//! (IRAF's physical coordinates), and the DSS plate solution's `CNPIXn` moves with it.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_long, c_void};
use std::path::{Path, PathBuf};

use fitsio::sys::{self as ffi, fitsfile};

use crate::cancel::Cancel;
use crate::file::{cfitsio_error, FitsError};
use crate::header::{format_card, parse_card, Card, HeaderValue};
use crate::region::PixelBox;

/// Tile compression for a cutout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `GZIP_2` for every plane: lossless for integers and floats alike.
    Gzip,
    /// `RICE_1` for integer planes; float planes get `GZIP_2`, because RICE would have to
    /// quantise them and a cutout must not change pixel values.
    Rice,
}

/// What to cut and how to write it.
#[derive(Debug, Clone)]
pub struct CutoutSpec<'a> {
    /// HDU indices (0-based) of the planes, all of the same size; the box applies to each.
    pub planes: &'a [usize],
    /// The pixels to keep.
    pub pixels: PixelBox,
    /// Tile compression of the output, or none.
    pub compression: Option<Compression>,
    /// Always put the planes in extensions after an empty primary HDU (for assembling several
    /// cutouts into one file). Otherwise a single uncompressed plane taken from a primary HDU
    /// stays in the primary HDU.
    pub extensions_only: bool,
    /// A `HISTORY` line recording where the cutout came from.
    pub history: Option<String>,
}

/// The written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Size of the file in bytes.
    pub size: u64,
    /// Byte offset where the first extension starts (the size of the primary HDU); equal to
    /// `size` when the file has none.
    pub first_extension: u64,
}

/// An open cfitsio handle, closed when dropped.
struct Handle {
    ptr: *mut fitsfile,
    path: PathBuf,
}

impl Handle {
    fn check(&self, operation: &str, status: c_int) -> Result<(), FitsError> {
        if status == 0 {
            Ok(())
        } else {
            Err(cfitsio_error(&self.path, operation, status))
        }
    }

    fn open(path: &Path) -> Result<Handle, FitsError> {
        let name = c_path(path)?;
        let (mut ptr, mut status) = (std::ptr::null_mut(), 0);
        // SAFETY: valid out-pointers and a NUL-terminated name; READONLY = 0.
        unsafe { ffi::ffopen(&mut ptr, name.as_ptr(), 0, &mut status) };
        if status != 0 || ptr.is_null() {
            return Err(FitsError::Open {
                path: path.to_path_buf(),
                reason: cfitsio_error(path, "opening", status).to_string(),
            });
        }
        Ok(Handle {
            ptr,
            path: path.to_path_buf(),
        })
    }

    fn create(path: &Path) -> Result<Handle, FitsError> {
        let name = c_path(path)?;
        let (mut ptr, mut status) = (std::ptr::null_mut(), 0);
        // SAFETY: as above; ffdkinit takes the name literally (no extended syntax).
        unsafe { ffi::ffdkinit(&mut ptr, name.as_ptr(), &mut status) };
        if status != 0 || ptr.is_null() {
            return Err(cfitsio_error(path, "creating the cutout file", status));
        }
        Ok(Handle {
            ptr,
            path: path.to_path_buf(),
        })
    }

    /// Moves to HDU `index` (0-based).
    fn move_to(&self, index: usize) -> Result<(), FitsError> {
        let (mut kind, mut status) = (0, 0);
        // SAFETY: live handle.
        unsafe { ffi::ffmahd(self.ptr, index as c_int + 1, &mut kind, &mut status) };
        self.check(&format!("moving to HDU {index}"), status)
    }

    /// The raw header records of the current HDU.
    fn records(&self) -> Result<Vec<String>, FitsError> {
        let (mut count, mut more, mut status) = (0, 0, 0);
        // SAFETY: live handle, valid out-pointers.
        unsafe { ffi::ffghsp(self.ptr, &mut count, &mut more, &mut status) };
        self.check("reading the header", status)?;
        let mut out = Vec::with_capacity(count.max(0) as usize);
        for i in 1..=count {
            let mut buf = [0 as c_char; 81];
            // SAFETY: an 81-byte buffer, the size of one record plus NUL.
            unsafe { ffi::ffgrec(self.ptr, i, buf.as_mut_ptr(), &mut status) };
            self.check("reading the header", status)?;
            // SAFETY: cfitsio NUL-terminates the record.
            out.push(
                unsafe { CStr::from_ptr(buf.as_ptr()) }
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        Ok(out)
    }

    /// BITPIX and axis lengths of the current (image) HDU, as the image it stores.
    fn image_shape(&self) -> Result<(c_int, Vec<i64>), FitsError> {
        let (mut bitpix, mut naxis, mut status) = (0, 0, 0);
        // SAFETY: live handle, valid out-pointers.
        unsafe {
            ffi::ffgidt(self.ptr, &mut bitpix, &mut status);
            ffi::ffgidm(self.ptr, &mut naxis, &mut status);
        }
        self.check("reading the image size", status)?;
        let mut axes = vec![0i64; naxis.max(0) as usize];
        if naxis > 0 {
            // SAFETY: `axes` holds `naxis` values.
            unsafe { ffi::ffgiszll(self.ptr, naxis, axes.as_mut_ptr(), &mut status) };
            self.check("reading the image size", status)?;
        }
        Ok((bitpix, axes))
    }

    fn write_record(&self, record: &str) -> Result<(), FitsError> {
        let c = CString::new(record).map_err(|_| FitsError::Cfitsio {
            path: self.path.clone(),
            operation: "writing a card".into(),
            reason: "NUL byte in a card".into(),
        })?;
        let mut status = 0;
        // SAFETY: a NUL-terminated record of at most 80 characters.
        unsafe { ffi::ffprec(self.ptr, c.as_ptr(), &mut status) };
        self.check("writing a card", status)
    }

    /// Byte offsets (header start, data start, data end) of the current HDU.
    fn offsets(&self) -> Result<(i64, i64, i64), FitsError> {
        let (mut head, mut data, mut end, mut status) = (0, 0, 0, 0);
        // SAFETY: live handle, valid out-pointers.
        unsafe { ffi::ffghadll(self.ptr, &mut head, &mut data, &mut end, &mut status) };
        self.check("locating an HDU", status)?;
        Ok((head, data, end))
    }

    fn close(mut self) -> Result<(), FitsError> {
        let mut status = 0;
        // SAFETY: the handle is live and closed once: `ptr` is nulled so Drop skips it.
        unsafe { ffi::ffclos(self.ptr, &mut status) };
        self.ptr = std::ptr::null_mut();
        self.check("closing", status)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            let mut status = 0;
            // SAFETY: the handle is live and not used after this.
            unsafe { ffi::ffclos(self.ptr, &mut status) };
        }
    }
}

fn c_path(path: &Path) -> Result<CString, FitsError> {
    CString::new(path.to_string_lossy().as_bytes()).map_err(|_| FitsError::Open {
        path: path.to_path_buf(),
        reason: "NUL byte in the path".into(),
    })
}

/// cfitsio data type code and bytes per pixel for a BITPIX.
fn pixel_type(bitpix: c_int) -> Option<(c_int, usize)> {
    Some(match bitpix {
        8 => (ffi::TBYTE as c_int, 1),
        16 => (ffi::TSHORT as c_int, 2),
        32 => (ffi::TINT as c_int, 4),
        64 => (ffi::TLONGLONG as c_int, 8),
        -32 => (ffi::TFLOAT as c_int, 4),
        -64 => (ffi::TDOUBLE as c_int, 8),
        _ => return None,
    })
}

/// Writes the cutout `spec` of `src` to the new file `dest` (which must not exist; it is
/// removed again if writing fails or is stopped).
///
/// `cancel` is looked at before every plane and every strip of rows (about a million pixels,
/// whole tiles of a compressed parent): once it is cancelled the work stops within a strip and
/// the answer is [`FitsError::Cancelled`].
pub fn write_cutout(
    src: &Path,
    spec: &CutoutSpec<'_>,
    dest: &Path,
    cancel: &Cancel,
) -> Result<Written, FitsError> {
    let result = write(src, spec, dest, cancel);
    if result.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    result
}

fn write(
    src: &Path,
    spec: &CutoutSpec<'_>,
    dest: &Path,
    cancel: &Cancel,
) -> Result<Written, FitsError> {
    cancel.check()?;
    let input = Handle::open(src)?;
    let output = Handle::create(dest)?;
    let in_primary = spec.planes == [0] && spec.compression.is_none() && !spec.extensions_only;
    if !in_primary {
        // An empty primary HDU carrying the parent's primary keywords when those describe the
        // whole file (a primary without data), as multi-extension archives have.
        let mut status = 0;
        // SAFETY: live handle; a zero-axis image needs no axis array.
        unsafe { ffi::ffcrimll(output.ptr, 8, 0, std::ptr::null_mut(), &mut status) };
        output.check("creating the primary HDU", status)?;
        input.move_to(0)?;
        let (_, axes) = input.image_shape()?;
        if axes.is_empty() && !spec.planes.contains(&0) {
            for record in input.records()? {
                if let Some(r) = copied_record(&record, None) {
                    output.write_record(&r)?;
                }
            }
        }
    }
    for &plane in spec.planes {
        cancel.check()?;
        copy_plane(&input, &output, plane, spec, cancel)?;
    }
    output.move_to(0)?;
    let (_, _, primary_end) = output.offsets()?;
    output.close()?;
    written(dest, primary_end)
}

fn copy_plane(
    input: &Handle,
    output: &Handle,
    plane: usize,
    spec: &CutoutSpec<'_>,
    cancel: &Cancel,
) -> Result<(), FitsError> {
    input.move_to(plane)?;
    let (bitpix, axes) = input.image_shape()?;
    let b = spec.pixels;
    match axes.as_slice() {
        [n1, n2] if b.x1 as i64 <= *n1 && b.y1 as i64 <= *n2 && b.x0 >= 1 && b.y0 >= 1 => {}
        _ => {
            return Err(FitsError::Cfitsio {
                path: input.path.clone(),
                operation: format!("cutting HDU {plane}"),
                reason: format!("the box {b} is not inside a 2-D image of size {axes:?}"),
            })
        }
    }
    let Some((datatype, size)) = pixel_type(bitpix) else {
        return Err(FitsError::Cfitsio {
            path: input.path.clone(),
            operation: format!("cutting HDU {plane}"),
            reason: format!("BITPIX {bitpix} is not an image type"),
        });
    };
    let float = bitpix < 0;
    let mut status = 0;
    if let Some(c) = spec.compression {
        let kind = match c {
            Compression::Rice if !float => ffi::RICE_1,
            _ => ffi::GZIP_2,
        };
        // SAFETY: live handle. Quantize level 0 keeps float pixels exact.
        unsafe {
            ffi::fits_set_compression_type(output.ptr, kind as c_int, &mut status);
            ffi::fits_set_quantize_level(output.ptr, 0.0, &mut status);
        }
        output.check("choosing the compression", status)?;
    }
    let mut naxes = [b.width() as i64, b.height() as i64];
    // SAFETY: live handle; `naxes` holds two lengths.
    unsafe { ffi::ffcrimll(output.ptr, bitpix, 2, naxes.as_mut_ptr(), &mut status) };
    output.check("creating the cutout HDU", status)?;
    let records = input.records()?;
    let tile_rows = tile_rows(&records);
    for record in records {
        if let Some(r) = copied_record(&record, Some(&b)) {
            output.write_record(&r)?;
        }
    }
    for (key, shift) in [("LTV1", b.x0), ("LTV2", b.y0)] {
        if !output_has(output, key) {
            output.write_record(&format_card(&Card {
                key: key.into(),
                value: Some(HeaderValue::Real(-((shift - 1) as f64))),
                comment: Some("offset of the cutout in the parent (IRAF LTV)".into()),
            }))?;
        }
    }
    if let Some(h) = &spec.history {
        let ascii: String = h
            .chars()
            .filter(|c| c.is_ascii() && !c.is_control())
            .collect();
        for chunk in ascii.as_bytes().chunks(70) {
            output.write_record(&format!("HISTORY {}", String::from_utf8_lossy(chunk)))?;
        }
    }

    // Raw values in, raw values out: the copied BSCALE/BZERO cards keep their meaning.
    // SAFETY: live handles.
    unsafe {
        ffi::ffrdef(output.ptr, &mut status);
        ffi::ffpscl(input.ptr, 1.0, 0.0, &mut status);
        ffi::ffpscl(output.ptr, 1.0, 0.0, &mut status);
    }
    output.check("preparing the pixels", status)?;
    let (mut nan32, mut nan64) = (f32::NAN, f64::NAN);
    let null: *mut c_void = match bitpix {
        -32 => (&mut nan32 as *mut f32).cast(),
        -64 => (&mut nan64 as *mut f64).cast(),
        _ => std::ptr::null_mut(),
    };
    // Strips of whole rows, about STRIP_PIXELS each, ending on the parent's tile rows so that
    // no tile is decompressed twice; the token is looked at between strips.
    let per_strip = {
        let rows = (STRIP_PIXELS / b.width()).max(1);
        rows.div_ceil(tile_rows).saturating_mul(tile_rows)
    };
    // u64 storage keeps the buffer aligned for every pixel type.
    let mut buffer = Vec::<u64>::new();
    let mut y = b.y0;
    while y <= b.y1 {
        cancel.check()?;
        let end = ((y - 1) / tile_rows * tile_rows)
            .saturating_add(per_strip)
            .min(b.y1);
        let count = (b.width() * (end + 1 - y)) as usize;
        buffer.resize((count * size).div_ceil(8), 0);
        let mut first = [b.x0 as c_long, y as c_long];
        let mut last = [b.x1 as c_long, end as c_long];
        let mut step = [1 as c_long, 1];
        let mut any_null = 0;
        // SAFETY: `buffer` holds `count` pixels of `datatype` (the strip's rows); the strip
        // lies inside the image (the box was checked above); `null` is null or points at a
        // value of the pixel type.
        unsafe {
            ffi::ffgsv(
                input.ptr,
                datatype,
                first.as_mut_ptr(),
                last.as_mut_ptr(),
                step.as_mut_ptr(),
                null,
                buffer.as_mut_ptr().cast(),
                &mut any_null,
                &mut status,
            )
        };
        input.check(&format!("reading {b} of HDU {plane}"), status)?;
        let mut out_first = [1 as c_long, (y + 1 - b.y0) as c_long];
        let mut out_last = [b.width() as c_long, (end + 1 - b.y0) as c_long];
        // SAFETY: `buffer` holds exactly the pixels of these rows of the new image.
        unsafe {
            ffi::ffpss(
                output.ptr,
                datatype,
                out_first.as_mut_ptr(),
                out_last.as_mut_ptr(),
                buffer.as_mut_ptr().cast(),
                &mut status,
            )
        };
        output.check("writing the cutout pixels", status)?;
        y = end + 1;
    }
    Ok(())
}

/// About how many pixels one strip of a cutout holds: large enough that a strip costs far
/// more than a look at the cancellation token, small enough that a stop is prompt (a few
/// milliseconds of copying) and the buffer stays small.
const STRIP_PIXELS: u64 = 1 << 20;

/// Rows per tile of a tile-compressed parent (`ZTILE2`; rows by default), 1 for a plain one.
fn tile_rows(records: &[String]) -> u64 {
    let value = |key: &str| {
        records
            .iter()
            .filter(|r| r.get(..8).unwrap_or(r).trim_end() == key)
            .find_map(|r| parse_card(r).ok()?.value?.as_f64())
    };
    if records
        .iter()
        .all(|r| r.get(..8).unwrap_or(r).trim_end() != "ZCMPTYPE")
    {
        return 1;
    }
    match value("ZTILE2") {
        Some(t) if (1.0..=1e9).contains(&t) => t as u64,
        _ => 1,
    }
}

fn output_has(output: &Handle, key: &str) -> bool {
    let Ok(k) = CString::new(key) else {
        return false;
    };
    let mut buf = [0 as c_char; 81];
    let mut status = 0;
    // SAFETY: an 81-byte buffer for one record.
    unsafe { ffi::ffgcrd(output.ptr, k.as_ptr(), buf.as_mut_ptr(), &mut status) };
    status == 0
}

/// The record to write for a parent's header record: `None` for structural and compression
/// keywords (cfitsio writes its own); with a box, origin-dependent keywords shifted by it; the
/// record itself otherwise.
fn copied_record(record: &str, cut: Option<&PixelBox>) -> Option<String> {
    let key = record.get(..8).unwrap_or(record).trim_end();
    if is_structural(key) {
        return None;
    }
    let shift = match (cut, origin_axis(key)) {
        (Some(b), Some((1, sign))) => sign * (b.x0 as f64 - 1.0),
        (Some(b), Some((_, sign))) => sign * (b.y0 as f64 - 1.0),
        _ => return Some(record.to_string()),
    };
    let Ok(mut card) = parse_card(record) else {
        return Some(record.to_string());
    };
    if let Some(v) = card.value.as_ref().and_then(HeaderValue::as_f64) {
        card.value = Some(HeaderValue::Real(v + shift));
    }
    Some(format_card(&card))
}

/// For a keyword that moves with the pixel origin, its axis and the sign of the move.
fn origin_axis(key: &str) -> Option<(u8, f64)> {
    let axis = |rest: &str, alt_ok: bool| -> Option<u8> {
        let mut chars = rest.chars();
        let a = match chars.next()? {
            '1' => 1,
            '2' => 2,
            _ => return None,
        };
        match chars.next() {
            None => Some(a),
            Some(c) if alt_ok && c.is_ascii_uppercase() && chars.next().is_none() => Some(a),
            _ => None,
        }
    };
    if let Some(rest) = key.strip_prefix("CRPIX") {
        return axis(rest, true).map(|a| (a, -1.0));
    }
    if let Some(rest) = key.strip_prefix("LTV") {
        return axis(rest, false).map(|a| (a, -1.0));
    }
    if let Some(rest) = key.strip_prefix("CNPIX") {
        return axis(rest, false).map(|a| (a, 1.0));
    }
    None
}

/// Keywords describing the parent HDU's structure (cfitsio writes the cutout's own), its
/// checksums (no longer true) and the compressed-table bookkeeping of a compressed parent.
fn is_structural(key: &str) -> bool {
    const EXACT: [&str; 10] = [
        "SIMPLE", "EXTEND", "GROUPS", "END", "CHECKSUM", "DATASUM", "NEXTEND", "ZBLANK", "ZSCALE",
        "ZZERO",
    ];
    EXACT.contains(&key) || crate::header::is_compression_bookkeeping(key)
}

/// One column of a table written by [`write_table`].
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Text values.
    Text(Vec<String>),
    /// 64-bit integers.
    Int(Vec<i64>),
}

/// Writes a FITS file holding an empty primary HDU and one binary table `extname` of the given
/// columns (all of the same length): the index of a file of many cutouts.
pub fn write_table(
    dest: &Path,
    extname: &str,
    columns: &[(&str, Column)],
) -> Result<Written, FitsError> {
    use fitsio::tables::{ColumnDataType, ColumnDescription};
    let err = |op: &str, e: fitsio::errors::Error| FitsError::Cfitsio {
        path: dest.to_path_buf(),
        operation: op.to_string(),
        reason: e.to_string(),
    };
    let mut descriptions = Vec::with_capacity(columns.len());
    for (name, values) in columns {
        let d = match values {
            Column::Text(v) => {
                let width = v.iter().map(String::len).max().unwrap_or(1).max(1);
                ColumnDescription::new(*name)
                    .with_type(ColumnDataType::String)
                    .that_repeats(width)
                    .create()
            }
            Column::Int(_) => ColumnDescription::new(*name)
                .with_type(ColumnDataType::Long)
                .create(),
        }
        .map_err(|e| err("describing a column", e))?;
        descriptions.push(d);
    }
    let filled = (|| {
        let mut file = fitsio::FitsFile::create(dest)
            .open()
            .map_err(|e| err("creating the file", e))?;
        let hdu = file
            .create_table(extname, &descriptions)
            .map_err(|e| err("creating the table", e))?;
        for (name, values) in columns {
            match values {
                Column::Text(v) => hdu.write_col(&mut file, *name, v),
                Column::Int(v) => hdu.write_col(&mut file, *name, v),
            }
            .map_err(|e| err(&format!("writing column {name}"), e))?;
        }
        Ok::<(), FitsError>(())
    })();
    if let Err(e) = filled {
        let _ = std::fs::remove_file(dest);
        return Err(e);
    }
    let file = Handle::open(dest)?;
    file.move_to(0)?;
    let (_, _, primary_end) = file.offsets()?;
    drop(file);
    written(dest, primary_end)
}

/// The layout of the finished file `dest` whose primary HDU ends at `primary_end`.
fn written(dest: &Path, primary_end: i64) -> Result<Written, FitsError> {
    let size = std::fs::metadata(dest)
        .map_err(|e| FitsError::Cfitsio {
            path: dest.to_path_buf(),
            operation: "reading the size".into(),
            reason: e.to_string(),
        })?
        .len();
    // The primary's data (none) ends its last header block.
    Ok(Written {
        size,
        first_extension: (primary_end.max(0) as u64).div_ceil(2880) * 2880,
    })
}

/// The header of HDU `hdu` (0-based) as the image it holds (a tile-compressed HDU's image
/// keywords, see [`crate::Header::decompressed_view`]).
pub fn read_header(path: &Path, hdu: usize) -> Result<crate::Header, FitsError> {
    let file = Handle::open(path)?;
    file.move_to(hdu)?;
    let records = file.records()?;
    let raw = crate::Header::from_records(&records).map_err(|source| FitsError::Header {
        path: path.to_path_buf(),
        hdu,
        source,
    })?;
    Ok(raw.decompressed_view())
}
