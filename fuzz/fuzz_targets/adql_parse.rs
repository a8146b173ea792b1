//! Fuzz target: any text through the ADQL parser; whatever parses must print and re-parse to
//! the same text, and translate (or be refused) without panicking on both targets.
//! The heap it takes at its peak is bounded by the text's size (`CEILING`).
//! Run: `scripts/fuzz adql_parse SECONDS` (or `scripts/fuzz-adql SECONDS`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skyport_adql::{parse, translate, Catalogue, Dialect, Options};
use skyport_fuzz::{within_ceiling, Ceiling};

/// Heap per input byte, for parsing, printing, parsing again and translating twice. A token
/// can be one byte (`a+a+a…`), and each becomes a boxed expression node of about a hundred
/// bytes in each of the two trees, with the printed text and the translations beside them.
/// 1 024 bytes per byte leaves room for that; a parser or translator that copies subtrees per
/// level (quadratic in the nesting) does not fit.
const CEILING: Ceiling = Ceiling {
    per_byte: 1024,
    slack: 1 << 20,
};

fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| Catalogue::from_schemas(&skyport_schema::builtin_schemas()))
}

fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tree) = parse(text) {
        let printed = tree.to_string();
        let again = parse(&printed).expect("printed ADQL parses again");
        assert_eq!(again.to_string(), printed);
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let _ = translate(&tree, catalogue(), d, &Options::default());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Built once, before anything is measured.
    catalogue();
    within_ceiling(
        "adql_parse",
        data.len(),
        CEILING,
        || run(data),
        |_| String::new(),
    );
});
