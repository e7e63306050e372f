//! Helpers shared by the keepalived interoperation tests: a scratch directory removed on drop,
//! a check that a tool is installed, and waiting for a line in keepalived's log.

// Not part of the pure library: these tests run real processes; waiting is their job.
#![allow(clippy::disallowed_methods, dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A scratch directory removed on drop (also during a panic).
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` installed (Debian package of the same name)"
    );
}

pub fn wait_for(log: &PathBuf, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "keepalived did not log {needle:?} within {limit:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
