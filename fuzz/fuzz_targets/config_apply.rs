//! Fuzzes live statements (as typed in the shell) applied to a running configuration, the
//! seed's NS0A. Beyond "no panic" it asserts what `save` and the daemon rely on:
//! - an accepted change leaves a configuration that prints to a text that loads back to the
//!   same model: whatever the shell accepted, `save` writes a file the next start reads;
//! - a refused change yields at least one error, every one inside the typed text, and loading
//!   the running configuration's own text still gives the running configuration (nothing half
//!   applied: `apply` never changes its base).
//!
//! Run: `cargo +nightly fuzz run config_apply fuzz/seeds/config_apply`.

#![no_main]

use std::sync::OnceLock;

use fulcrum_config::Severity;
use fulcrum_core::model::Config;
use libfuzzer_sys::fuzz_target;

fn running() -> &'static Config {
    static RUNNING: OnceLock<Config> = OnceLock::new();
    RUNNING.get_or_init(|| {
        fulcrum_config::parse("ns0a.conf", include_str!("../../tests/fixtures/ns0a.conf"))
            .expect("the seed's configuration loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let statement = String::from_utf8_lossy(data);
    let base = running();
    match fulcrum_config::apply(base, "control", &statement) {
        Ok(changed) => {
            let printed = fulcrum_config::print(&changed, "fuzz");
            let saved = fulcrum_config::parse("saved.conf", &printed)
                .unwrap_or_else(|e| panic!("saved text does not load:\n{e}\n{printed}"));
            assert_eq!(saved, changed, "saved:\n{printed}");
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error without diagnostics");
            assert!(errors.0.iter().all(|d| d.severity == Severity::Error));
            let lines = statement.split('\n').count();
            assert!(errors.0.iter().all(|d| d.line >= 1 && d.line as usize <= lines));
            let printed = fulcrum_config::print(base, "fuzz");
            assert_eq!(&fulcrum_config::parse("base.conf", &printed).unwrap(), base);
        }
    }
});
