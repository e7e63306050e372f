//! Fuzzes the configuration parser with arbitrary bytes (read as lossy UTF-8, as the daemon
//! reads a file). Beyond "no panic" it asserts the parser's two promises:
//! - a text that parses prints to a canonical text that parses back to the same model (and
//!   prints identically again);
//! - a text that fails yields at least one diagnostic, and every diagnostic's line and column
//!   lie inside the text (a column may be one past the end of its line: end of line or file);
//!   so do the warnings of a text that loads (statements accepted and ignored), which are all
//!   warnings.
//!
//! Run: `cargo +nightly fuzz run config_parse fuzz/seeds/config_parse` (see docs/config.md).

#![no_main]

use fulcrum_config::{Diagnostics, Severity};
use libfuzzer_sys::fuzz_target;

/// Every diagnostic points inside `text` and renders without a panic.
fn inside(text: &str, diagnostics: &Diagnostics) {
    let lines: Vec<&str> = text.split('\n').collect();
    for d in &diagnostics.0 {
        let index = (d.line as usize).checked_sub(1).expect("lines are 1-based");
        let line = lines
            .get(index)
            .unwrap_or_else(|| panic!("line {} outside the text: {d:?}", d.line));
        assert!(d.col >= 1, "columns are 1-based: {d:?}");
        assert!(
            d.col as usize <= line.chars().count() + 1,
            "column outside line {}: {d:?}",
            d.line
        );
        let _ = d.to_string();
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match fulcrum_config::load("fuzz.conf", &text) {
        Ok(loaded) => {
            inside(&text, &loaded.warnings);
            assert!(loaded.warnings.0.iter().all(|d| d.severity == Severity::Warning));
            let config = loaded.config;
            let printed = fulcrum_config::print(&config, "fuzz");
            let again = match fulcrum_config::load("printed.conf", &printed) {
                Ok(again) => {
                    // What prints back is what the text gave, so a warning of the printed text
                    // (licence, modules, gateway) was one of the text's too.
                    assert!(
                        again.warnings.0.is_empty() || !loaded.warnings.0.is_empty(),
                        "printed:\n{printed}"
                    );
                    again.config
                }
                Err(errors) => panic!("the printed text does not parse:\n{errors}\n{printed}"),
            };
            assert_eq!(again, config, "printed:\n{printed}");
            assert_eq!(fulcrum_config::print(&again, "fuzz"), printed);
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error without diagnostics");
            assert!(errors.0.iter().all(|d| d.severity == Severity::Error));
            inside(&text, &errors);
        }
    }
});
