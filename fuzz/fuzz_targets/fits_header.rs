//! Fuzz target: arbitrary bytes, cut into 80-byte records, through the FITS header card parser
//! (`skyport_fits::parse_card`) and the header builder (`Header::from_records`), then through
//! what skyport does next with a header read from a file: the tile-compressed image view
//! (`Header::decompressed_view`), INHERIT (`Header::inherit_from`) and the celestial WCS
//! (`Wcs::from_header_tan_core`, its centre, footprint and sky→pixel inversion).
//!
//! Records are decoded as cfitsio's records are in `skyport_fits::file` (lossy UTF-8); the last
//! one may be shorter than 80 bytes, as `from_records` allows.
//!
//! Properties:
//! * nothing panics, and nothing runs away (libFuzzer's `-timeout` catches loops);
//! * a parsed card's keyword is upper case;
//! * a card that `format_card` can write (see `writable`) reads back from the written record as
//!   the same card;
//! * a header that builds has no more cards than records, and looking a keyword up gives the
//!   value of the last card that set it; a header that does not build names a record that does
//!   not parse;
//! * a WCS that builds gives finite, valid sky positions.
//!
//! Run: `scripts/fuzz fits_header SECONDS`.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use skyport_fits::{format_card, parse_card, Card, Header, HeaderError, HeaderValue, Wcs};
use skyport_fuzz::{within_ceiling, Ceiling};

/// Heap per input byte. A header is at most its records (80 bytes each, held as text), its
/// cards (a keyword, a value and a comment: under 200 bytes each) and the copies that the
/// compressed-image view and INHERIT make: under 16 bytes of heap per byte of records. 64 per
/// byte leaves room for vectors doubling; a `CONTINUE` chain joined by copying the string so
/// far is quadratic in time, not in memory, and is the timeout's to catch.
const CEILING: Ceiling = Ceiling {
    per_byte: 64,
    slack: 1 << 20,
};

/// Why `format_card` cannot write this card so that `parse_card` reads it back unchanged, or
/// `None` when it can. These are known limits of the writer, not of the parser:
/// * `CONTINUE` cards: the writer puts a value indicator (`= `) after the keyword, which
///   `CONTINUE` must not have;
/// * value cards with a blank keyword or the keyword `HIERARCH` (both come only from a
///   `HIERARCH` card with no words before its `=`): written back, they are no longer value cards;
/// * commentary cards whose text starts with `= `: written after the 8-character keyword, the
///   text becomes a value indicator;
/// * non-finite reals (`1E999` reads as infinity): written as `inf`, which is not a FITS number;
/// * cards too long for one 80-character record: the writer truncates them.
fn unwritable(card: &Card) -> Option<&'static str> {
    if card.key == "CONTINUE" {
        return Some("CONTINUE card");
    }
    match &card.value {
        Some(_) if card.key.is_empty() || card.key == "HIERARCH" => {
            return Some("value card with a blank or HIERARCH keyword")
        }
        None => {
            let text = card.comment.as_deref().unwrap_or("");
            if card.key.len() <= 8 && (text == "=" || text.starts_with("= ")) {
                return Some("commentary text starting with a value indicator");
            }
        }
        Some(HeaderValue::Real(r)) if !r.is_finite() => return Some("non-finite real"),
        Some(_) => {}
    }
    if written_length(card) >= 79 {
        return Some("longer than a record");
    }
    None
}

/// An upper bound on the length `format_card` gives a card before cutting it to 80 characters.
fn written_length(card: &Card) -> usize {
    let comment = card.comment.as_deref().map_or(0, str::len);
    let Some(value) = &card.value else {
        return card.key.len().max(8) + comment;
    };
    let key = if card.key.len() > 8 {
        9 + card.key.len()
    } else {
        8
    };
    let value = match value {
        HeaderValue::Str(s) => 2 + s.len() + s.matches('\'').count(),
        HeaderValue::Real(r) => format!("{r:?}").len() + 2,
        HeaderValue::Int(i) => i.to_string().len(),
        HeaderValue::Complex(c) | HeaderValue::Unparsed(c) => c.len(),
        HeaderValue::Logical(_) | HeaderValue::Undefined => 1,
    }
    .max(20);
    key + 2 + value + if comment > 0 { 3 + comment } else { 0 }
}

fn check_card(record: &str, card: &Card) {
    assert_eq!(
        card.key,
        card.key.to_ascii_uppercase(),
        "keyword of {record:?} is not upper case"
    );
    if unwritable(card).is_some() {
        return;
    }
    let written = format_card(card);
    assert_eq!(written.len(), 80, "{card:?} written as {written:?}");
    let back = parse_card(&written);
    assert_eq!(
        back.as_ref(),
        Ok(card),
        "{record:?} → {card:?} → {written:?} does not read back"
    );
}

/// Looking a keyword up gives the value of the last card that set it.
fn check_lookup(header: &Header) {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, card) in header.cards().iter().enumerate() {
        if card.value.is_some() {
            last.insert(&card.key, i);
        }
    }
    for (key, i) in last {
        assert_eq!(
            header.get(key),
            header.cards()[i].value.as_ref(),
            "lookup of {key:?} (card {i})"
        );
    }
}

fn check_wcs(header: &Header) {
    let Ok(wcs) = Wcs::from_header_tan_core(header) else {
        return;
    };
    assert!(wcs.naxis().0 > 0 && wcs.naxis().1 > 0);
    let _ = wcs.pixel_scale_arcsec();
    let _ = wcs.footprint();
    if let Some(c) = wcs.center() {
        assert!(c.ra.is_finite() && c.dec.is_finite(), "centre {c:?}");
        if let Some((x, y)) = wcs.sky_to_pixel(c) {
            assert!(x.is_finite() && y.is_finite(), "pixel ({x}, {y}) of {c:?}");
        }
    }
}

fn run(data: &[u8]) {
    let records: Vec<String> = data
        .chunks(80)
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    for record in &records {
        if let Ok(card) = parse_card(record) {
            check_card(record, &card);
        }
    }
    match Header::from_records(&records) {
        Ok(header) => {
            assert!(header.cards().len() <= records.len());
            check_lookup(&header);
            let view = header.decompressed_view();
            check_lookup(&view);
            let mut ext = Header::default();
            ext.inherit_from(&view);
            check_lookup(&ext);
            check_wcs(&view);
        }
        Err(HeaderError::BadCard { index, .. }) => {
            assert!((1..=records.len()).contains(&index), "bad card {index}");
            assert!(parse_card(&records[index - 1]).is_err());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    within_ceiling(
        "fits_header",
        data.len(),
        CEILING,
        || run(data),
        |_| String::new(),
    );
});
