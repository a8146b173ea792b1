//! Fuzz target: any text through the ADQL parser; whatever parses must print and re-parse to
//! the same text, and translate (or be refused) without panicking on both targets.
//! Run: `scripts/fuzz-adql 600` (needs the nightly toolchain and cargo-fuzz).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skyport_adql::{parse, translate, Catalogue, Dialect, Options};

fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| Catalogue::from_schemas(&skyport_schema::builtin_schemas()))
}

fuzz_target!(|data: &[u8]| {
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
});
