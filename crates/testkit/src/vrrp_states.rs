//! Watching the VRRP state of two running nodes: `state_of` reads the state from `show vrrp`'s
//! JSON document through the real `fulcrum control --json`, and `watch` polls both nodes every 50 ms in a thread until
//! told to stop (or `max_polls` are done), returning every (A, B) pair seen, so a test can assert
//! that no moment had two masters.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The IPv4 VRRP state of the daemon at `socket` as the seed spells it (`MASTER`), from `show
/// vrrp`'s JSON document (empty if it cannot be read).
pub fn state_of(socket: &Path) -> String {
    crate::control::show(socket, "show vrrp")
        .map(|doc| crate::show::vrrp_state(&doc))
        .unwrap_or_default()
}

/// Polls both nodes every 50 ms until `stop` is set or `max_polls` polls are done (a bound
/// whatever happens to the test); the thread returns every (A, B) pair of states seen.
pub fn watch(
    a: PathBuf,
    b: PathBuf,
    stop: Arc<AtomicBool>,
    max_polls: usize,
) -> JoinHandle<Vec<(String, String)>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..max_polls {
            if stop.load(Ordering::Acquire) {
                break;
            }
            seen.push((state_of(&a), state_of(&b)));
            std::thread::sleep(Duration::from_millis(50));
        }
        seen
    })
}
