//! Running code of the test process inside a lab's network namespace: `setns` moves only the
//! calling thread, so each helper starts a thread of its own, enters the namespace there and
//! runs the work (sockets made there live in the namespace while the test drives them).

use std::thread::JoinHandle;

use netlab::Ns;
use nix::sched::{setns, CloneFlags};

/// Enters the network namespace named `name` on the calling thread.
fn enter(name: &str) -> Result<(), String> {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns into {path}: {e}"))
}

/// Starts `work` on a thread of its own inside the namespace named `name`; not entering it is
/// the thread's error.
pub fn spawn_in<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> JoinHandle<Result<T, String>> {
    let name = name.to_string();
    std::thread::spawn(move || {
        enter(&name)?;
        work()
    })
}

/// Runs `work` on a thread inside `ns` and returns what it returned (panics if the namespace
/// cannot be entered or the work panics).
pub fn run_in<T: Send + 'static>(ns: &Ns, work: impl FnOnce() -> T + Send + 'static) -> T {
    let name = ns.name().to_string();
    std::thread::spawn(move || {
        enter(&name).unwrap_or_else(|e| panic!("{e}"));
        work()
    })
    .join()
    .unwrap_or_else(|_| panic!("the thread inside namespace {} panicked", ns.name()))
}
