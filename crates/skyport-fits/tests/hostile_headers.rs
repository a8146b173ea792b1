//! Header records found by fuzzing (`fuzz/found/fits_header/`) and their relatives.

use skyport_fits::{format_card, parse_card, Header, HeaderValue};

fn records(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(80)
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect()
}

#[test]
fn a_lower_case_hierarch_keyword_keeps_its_value_and_reads_back() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/found/fits_header/lowercase-hierarch"
    );
    let record = std::fs::read_to_string(path).expect("the found record");
    let card = parse_card(&record).expect("a card");
    assert_eq!(card.key, "ESO DET WIN1 BINX");
    assert_eq!(card.value, Some(HeaderValue::Int(2)));
    let again = parse_card(&format_card(&card)).expect("written back");
    assert_eq!(again, card);
}

#[test]
fn an_absurd_znaxis_is_not_looped_over() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/found/fits_header/znaxis-loop"
    );
    let header =
        Header::from_records(records(&std::fs::read(path).expect("found"))).expect("header");
    let view = header.decompressed_view();
    assert_eq!(view.i64("NAXIS"), Some(999), "FITS allows at most 999 axes");
}

/// The chain's cost was quadratic (20,000 cards took 30 s under the fuzzer); the join is now in
/// place. What is asserted is the joined value; the time is for benchmarks, not tests.
#[test]
fn a_long_continue_chain_joins_into_one_value() {
    let mut cards = vec![format!("{:<80}", "LONGSTR = 'start&'")];
    for _ in 0..20_000 {
        cards.push(format!("{:<80}", "CONTINUE  'ab&'"));
    }
    cards.push(format!("{:<80}", "CONTINUE  'end'"));
    let header = Header::from_records(&cards).expect("header");
    let value = header.str("LONGSTR").expect("the joined string");
    assert_eq!(value.len(), "start".len() + 2 * 20_000 + "end".len());
    assert!(value.starts_with("startabab") && value.ends_with("abend"));
}
