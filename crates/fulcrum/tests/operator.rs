//! What an operator sees around the daemon, with the real binary: log lines carry their syslog
//! priority under journald (`JOURNAL_STREAM` set) and are JSON with `--log-format json`; a
//! control socket opened to a group with `--socket-group` (mode 0660) lets its members `show`
//! but not change anything (the client runs as nobody:nogroup through setpriv); `fulcrum control reload` answers
//! with the diagnostics and fails on a broken file; `save` keeps the previous file as `.bak`;
//! `fulcrum --version` names the commit; under systemd, READY=1 waits for VRRP (a VRRP
//! interface that does not exist keeps it back, and SIGTERM still stops the daemon with
//! STOPPING=1). Needs root (to switch to nobody).

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::control::{stderr, stdout};
use testkit::daemon::{loopback_config, setup, Daemon};
use testkit::fulcrum;
use testkit::process::wait_exit;

/// `fulcrum run` on a broken file: the errors it logs before exiting, with `extra` arguments
/// and environment.
fn errors_logged(extra: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.conf");
    std::fs::write(&config, "server 1 {\n}\n").unwrap();
    let mut command = Command::new(fulcrum());
    command
        .arg("run")
        .arg("-c")
        .arg(&config)
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .args(extra)
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn under_journald_every_line_carries_its_priority() {
    let logs = errors_logged(&[], &[("JOURNAL_STREAM", "8:12345")]);
    assert!(!logs.is_empty());
    for line in logs.lines() {
        assert!(line.starts_with("<3>"), "{line:?} in\n{logs}");
        // The journal stamps lines itself: no timestamp of our own.
        assert!(line.starts_with("<3>ERROR "), "{line:?}");
    }
    assert!(logs.contains("server 1 has no ipaddr"), "{logs}");
    let plain = errors_logged(&[], &[]);
    assert!(!plain.contains("<3>"), "{plain}");
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let logs = errors_logged(&["--log-format", "json"], &[]);
    assert!(!logs.is_empty());
    for line in logs.lines() {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line:?}");
        assert!(line.contains("\"level\":\"ERROR\""), "{line:?}");
    }
}

#[test]
fn version_names_the_commit() {
    let output = Command::new(fulcrum()).arg("--version").output().unwrap();
    let text = stdout(&output);
    let commit = text
        .trim()
        .rsplit_once(" (")
        .map(|(_, c)| c.trim_end_matches(')'));
    let commit = commit.unwrap_or_else(|| panic!("no commit in {text:?}"));
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{text:?}"
    );
}

#[test]
fn members_of_the_socket_group_may_only_show() {
    assert!(nix::unistd::geteuid().is_root(), "run as root (setpriv)");
    let (dir, config, socket) = setup();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let daemon = Daemon::start_with(&config, &socket, &["--socket-group", "nogroup"]);
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(
        std::os::unix::fs::MetadataExt::gid(&meta),
        65534,
        "group nogroup"
    );

    let as_nobody = |command: &str| {
        Command::new("setpriv")
            .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
            .arg(fulcrum())
            .arg("control")
            .arg("--socket")
            .arg(&socket)
            .args(["-e", command])
            .output()
            .unwrap()
    };
    let shown = as_nobody("show targets");
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("127.0.0.2"), "{}", stdout(&shown));
    for command in ["disable target 1", "save", "reload"] {
        let refused = as_nobody(command);
        assert_eq!(refused.status.code(), Some(1), "{command}");
        assert!(
            stdout(&refused).starts_with("ERROR: read-only connection"),
            "{command}: {}",
            stdout(&refused)
        );
    }
    // Nothing changed; the owner (root here) still may.
    assert_eq!(daemon.target_state(1), Some((true, true)));
    let changed = daemon.control_output(&["disable target 1"]);
    assert!(changed.status.success(), "{}", stdout(&changed));
    assert_eq!(daemon.target_state(1), Some((true, false)));
}

#[test]
fn control_reload_answers_with_the_diagnostics_and_fails_on_a_broken_file() {
    let (_dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);
    let reload = || {
        Command::new(fulcrum())
            .args(["control", "--socket"])
            .arg(&socket)
            .arg("reload")
            .output()
            .unwrap()
    };
    std::fs::write(&config, "target 1 {\n  ipaddr 127.0.0.999\n}\nbogus\n").unwrap();
    let output = reload();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    let file = config.display().to_string();
    assert!(text.contains(&format!("{file}:2:10: error: ")), "{text}");
    assert!(text.contains(&format!("{file}:4:1: error: ")), "{text}");
    assert!(text.contains("keeping the running configuration"), "{text}");
    let shown = stdout(&daemon.control_output(&["show config"]));
    assert!(shown.contains("hostname LOOPTEST"), "{shown}");

    std::fs::write(&config, loopback_config().replace("LOOPTEST", "RELOADED")).unwrap();
    let output = reload();
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("loaded"), "{}", stdout(&output));
    let shown = stdout(&daemon.control_output(&["show config"]));
    assert!(shown.contains("hostname RELOADED"), "{shown}");
}

#[test]
fn save_keeps_the_previous_file_as_bak() {
    let (_dir, config, socket) = setup();
    let original = std::fs::read_to_string(&config).unwrap();
    let daemon = Daemon::start(&config, &socket);
    let output = daemon.control_output(&["hostname SAVED", "save"]);
    assert!(output.status.success(), "{}", stdout(&output));
    let backup = config.with_file_name(format!(
        "{}.bak",
        config.file_name().unwrap().to_string_lossy()
    ));
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("hostname SAVED"));
}

#[test]
fn ready_waits_for_vrrp_and_a_daemon_that_never_gets_ready_still_stops() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vrrp.conf");
    // The VRRP interface does not exist, so the driver keeps retrying to open it.
    std::fs::write(
        &config,
        "hostname VRTEST\ninterface fulcrumnone0\n\
         vrrp {\n vrid 9\n priority 100\n network 1\n}\n\
         network 1 {\n addr 10.99.0.0\n mask 255.255.255.0\n real 10.99.0.5\n interface fulcrumnone0\n}\n\
         register network 1\nenable network 1\n",
    )
    .unwrap();
    let mut notify = testkit::package::NotifyListener::bind(dir.path());
    let log = dir.path().join("run.log");
    let mut child = Command::new(fulcrum())
        .arg("run")
        .arg("-c")
        .arg(&config)
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .env("NOTIFY_SOCKET", &notify.path)
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let end = Instant::now() + Duration::from_secs(60);
    while !logs().contains("not ready yet: waiting for VRRP") {
        assert!(Instant::now() < end, "no waiting line:\n{}", logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    notify.collect(Duration::from_millis(300));
    assert!(
        !notify.messages().iter().any(|m| m == "READY=1"),
        "READY=1 without VRRP: {:?}",
        notify.messages()
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        logs()
    );
    notify.collect(Duration::from_millis(300));
    assert!(
        notify.messages().iter().any(|m| m == "STOPPING=1"),
        "{:?}",
        notify.messages()
    );
}
