//! Heartbeats: how the watchdog learns that every worker still makes progress.
//!
//! Each long-running loop (a UDP or DSR worker thread, the TCP runtime) holds a [`Beat`] from
//! [`register`] and calls [`Beat::bump`] once per pass of its loop (every pass ends within a
//! poll tick, so an idle worker still beats). [`stalled`] names every registered beat whose count
//! did not move since the previous call: the notifier sends `WATCHDOG=1` only when that list is
//! empty. Dropping a `Beat` (a worker that ended on purpose) unregisters it.
//!
//! The test hook: [`stall_first`] makes the first registered beat's owner block inside `bump`
//! until [`release_stalls`] (the daemon calls it when it stops, so shutdown still joins the
//! worker): a real stuck worker for the watchdog test (see [`super::hooks`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

struct Entry {
    name: String,
    count: AtomicU64,
    /// The count [`stalled`] saw last time.
    seen: AtomicU64,
    stall: AtomicBool,
}

static REGISTRY: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());

/// One worker's heartbeat; see the module contract.
pub struct Beat {
    entry: Arc<Entry>,
}

/// Registers a new heartbeat named `name` (shown in the log when it stalls).
pub fn register(name: impl Into<String>) -> Beat {
    let entry = Arc::new(Entry {
        name: name.into(),
        count: AtomicU64::new(0),
        seen: AtomicU64::new(u64::MAX),
        stall: AtomicBool::new(false),
    });
    lock().push(entry.clone());
    Beat { entry }
}

impl Beat {
    /// Records one pass of the owner's loop. Costs one relaxed add (and one load for the hook).
    pub fn bump(&self) {
        self.entry.count.fetch_add(1, Ordering::Relaxed);
        while self.entry.stall.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Beat {
    fn drop(&mut self) {
        lock().retain(|e| !Arc::ptr_eq(e, &self.entry));
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Arc<Entry>>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The names of the beats that did not move since the last call (a new beat counts as moved
/// once, so a worker gets one whole period before it can be called stalled).
pub fn stalled() -> Vec<String> {
    lock()
        .iter()
        .filter_map(|e| {
            let now = e.count.load(Ordering::Relaxed);
            let before = e.seen.swap(now, Ordering::Relaxed);
            (now == before).then(|| e.name.clone())
        })
        .collect()
}

/// Lets every stalled owner go on (at shutdown).
pub fn release_stalls() {
    for entry in lock().iter() {
        entry.stall.store(false, Ordering::Relaxed);
    }
}

/// Test hook: the first registered beat's owner blocks from its next `bump` on. Returns its
/// name, or None when nothing is registered.
pub fn stall_first() -> Option<String> {
    let registry = lock();
    let entry = registry.first()?;
    entry.stall.store(true, Ordering::Relaxed);
    Some(entry.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test for the whole registry: it is process-wide and tests run in parallel.
    #[test]
    fn a_beat_that_stops_moving_is_named_until_it_moves_again() {
        let beat = register("test worker");
        let is_stalled = || stalled().iter().any(|n| n == "test worker");
        assert!(!is_stalled(), "a new beat gets one period");
        assert!(is_stalled(), "no bump since the last look");
        beat.bump();
        assert!(!is_stalled());
        drop(beat);
        assert!(!is_stalled(), "a dropped beat is no longer watched");
    }
}
