//! Fuzzes the configuration parser with arbitrary bytes (read as lossy UTF-8, as the daemon
//! reads a file). Beyond "no panic" it asserts the parser's two promises:
//! - a text that parses prints to a canonical text that parses back to the same model (and
//!   prints identically again);
//! - a text that fails yields at least one diagnostic, and every diagnostic's line and column
//!   lie inside the text (a column may be one past the end of its line: end of line or file).
//!
//! Run: `cargo +nightly fuzz run config_parse fuzz/seeds/config_parse` (see docs/config.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match fulcrum_config::parse("fuzz.conf", &text) {
        Ok(config) => {
            let printed = fulcrum_config::print(&config, "fuzz");
            let again = match fulcrum_config::parse("printed.conf", &printed) {
                Ok(again) => again,
                Err(errors) => panic!("the printed text does not parse:\n{errors}\n{printed}"),
            };
            assert_eq!(again, config, "printed:\n{printed}");
            assert_eq!(fulcrum_config::print(&again, "fuzz"), printed);
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error without diagnostics");
            let lines: Vec<&str> = text.split('\n').collect();
            for d in &errors.0 {
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
                // Rendering never panics either.
                let _ = d.to_string();
            }
        }
    }
});
