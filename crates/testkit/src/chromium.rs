//! A real headless Chromium (Debian package `chromium`) loading a page the test serves on
//! loopback: [`dump_dom`] returns the DOM after the page's scripts ran for a virtual-time budget,
//! [`screenshot`] writes a PNG of it for a person to look at. Each call starts its own browser
//! with a fresh profile in a temporary directory, in a process group of its own, and kills that
//! group by the browser's PID when it is done (or after [`WALL_LIMIT`]), so no renderer or helper
//! process outlives the call. The browser only reaches loopback: every other address goes to a
//! proxy at a closed loopback port, and its background services are off.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

use crate::process::{read, wait_exit, KillOnDrop};

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Real time a browser run may take before it is killed and the test fails.
pub const WALL_LIMIT: Duration = Duration::from_secs(60);

/// The browser run with `output_flags` on `url`; its stdout.
fn run(url: &str, budget: Duration, output_flags: &[String]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install the Debian package chromium (scripts/install-deps.sh)"
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let stdout = dir.path().join("stdout");
    let stderr = dir.path().join("stderr");
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .args([
            "--disable-sync",
            "--disable-default-apps",
            "--disable-breakpad",
        ])
        // Anything but loopback (which Chromium never proxies) goes nowhere.
        .arg("--proxy-server=http://127.0.0.1:9")
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--window-size=1100,520")
        .args(output_flags)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("create the stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("create the stderr file"))
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut browser = KillOnDrop(child);
    let group = browser.pid();
    let status = wait_exit(&mut browser.0, WALL_LIMIT);
    // The renderer and helpers share the browser's group: gone with it.
    let _ = killpg(Pid::from_raw(group.as_raw()), Signal::SIGKILL);
    browser.kill();
    match status {
        Some(status) if status.success() => read(&stdout),
        other => panic!(
            "chromium on {url} ended {other:?} (None: killed after {WALL_LIMIT:?}):\n{}",
            read(&stderr)
        ),
    }
}

/// The DOM of `url` once its scripts ran for `budget` of virtual time (timers run without
/// waiting in real time; network fetches pause virtual time until they complete).
pub fn dump_dom(url: &str, budget: Duration) -> String {
    run(url, budget, &["--dump-dom".to_string()])
}

/// Writes a PNG of `url` after `budget` of virtual time to `file`.
pub fn screenshot(url: &str, budget: Duration, file: &Path) {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).expect("create the screenshot's directory");
    }
    run(url, budget, &[format!("--screenshot={}", file.display())]);
    let png = std::fs::read(file).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG"),
        "chromium wrote no PNG to {}",
        file.display()
    );
}
