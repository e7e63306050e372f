//! The Debian package end to end, as an operator gets it: scripts/package.sh builds the .deb
//! (one release build, incremental afterwards), `dpkg -i` installs it on this machine, the files
//! land where Debian looks for them, `systemd-analyze verify` accepts both units and the shipped
//! example passes `fulcrum check`. Then the installed binary runs as fulcrum.service runs it:
//! user fulcrum with only the unit's capabilities (setpriv), `NOTIFY_SOCKET` pointed at this
//! test's listener, a proxy on port 53 of a loopback address in front of a real Bind9. The test
//! sees READY=1, STATUS= lines, WATCHDOG=1 pings, RELOADING=1/READY=1 around SIGHUP, no more
//! WATCHDOG=1 once a data-plane worker is stalled on purpose (the FULCRUM_TEST_HOOKS hook), and
//! STOPPING=1; a DNS query through port 53 is answered, and the agent started as
//! fulcrum-agent.service starts it (settings from /etc/default/fulcrum-agent, user nobody with
//! CAP_NET_BIND_SERVICE alone) passes the balancer's agent check. Finally `dpkg -r` keeps the
//! configuration and `dpkg -P` removes it. The package is purged on every exit (a guard), and
//! the test refuses to run where fulcrum is already installed. Needs root, dpkg-dev, systemd
//! (for systemd-analyze), man-db, bind9 and dig.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use netlab::bind9::{free_loopback_port, Bind9, Bind9Options, Zone};
use nix::sys::signal::Signal;
use testkit::package::*;

const CONFIG: &str = "/etc/fulcrum/fulcrum.conf";
const RUNTIME_DIR: &str = "/run/fulcrum";
/// WatchdogSec= for this run: pings every half of it.
const WATCHDOG: Duration = Duration::from_secs(4);
const ZONE: &str = "package.test";
/// Far beyond a start on a busy machine (seconds in practice).
const LIMIT: Duration = Duration::from_secs(60);

/// Purges the package (and the runtime directory this test made) however the test ends.
struct Purge {
    made_runtime_dir: bool,
}

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = run("dpkg", &["-P", "fulcrum"]);
        if self.made_runtime_dir {
            let _ = std::fs::remove_dir_all(RUNTIME_DIR);
        }
    }
}

#[test]
fn package_installs_runs_as_the_unit_and_is_removed_cleanly() {
    testkit::process::require_root();
    assert!(
        !installed("fulcrum"),
        "fulcrum is installed on this machine; this test installs and purges the package, \
         so it does not run here"
    );
    let deb = build_package();
    let mut purge = Purge {
        made_runtime_dir: false,
    };
    must("dpkg", &["-i", &deb.display().to_string()]);
    check_installed_files();
    check_units_and_example();

    purge.made_runtime_dir = !Path::new(RUNTIME_DIR).exists();
    run_as_the_unit();

    must("dpkg", &["-r", "fulcrum"]);
    assert!(!Path::new("/usr/sbin/fulcrum").exists());
    assert!(
        Path::new(CONFIG).exists(),
        "dpkg -r removed the configuration"
    );
    assert!(dpkg_status("fulcrum").contains("config-files"));
    must("dpkg", &["-P", "fulcrum"]);
    assert!(
        !Path::new("/etc/fulcrum").exists(),
        "dpkg -P left /etc/fulcrum"
    );
    assert!(!dpkg_status("fulcrum").contains("config-files"));
}

fn check_installed_files() {
    for path in [
        "/usr/sbin/fulcrum",
        CONFIG,
        "/etc/default/fulcrum-agent",
        "/lib/systemd/system/fulcrum.service",
        "/lib/systemd/system/fulcrum-agent.service",
        "/usr/lib/fulcrum/agent-load",
        "/usr/share/man/man8/fulcrum.8.gz",
        "/usr/share/man/man8/fulcrum-run.8.gz",
        "/usr/share/man/man8/fulcrum-check.8.gz",
        "/usr/share/man/man8/fulcrum-control.8.gz",
        "/usr/share/man/man8/fulcrum-agent.8.gz",
        "/usr/share/man/man8/fulcrum-dns-check.8.gz",
        "/usr/share/man/man5/fulcrum.conf.5.gz",
        "/usr/share/bash-completion/completions/fulcrum",
        "/usr/share/zsh/vendor-completions/_fulcrum",
        "/usr/share/fish/vendor_completions.d/fulcrum.fish",
    ] {
        assert!(Path::new(path).exists(), "{path} not installed");
    }
    assert!(
        !Path::new("/usr/share/man/man8/fulcrum-demo.8.gz").exists(),
        "the packaged binary has no demo"
    );
    let conffiles = must("dpkg-query", &["-W", "-f=${Conffiles}", "fulcrum"]);
    assert!(conffiles.contains(CONFIG), "{conffiles}");
    must("getent", &["passwd", "fulcrum"]);
    let owner = must("stat", &["-c", "%U:%G %a", "/etc/fulcrum", CONFIG]);
    assert_eq!(owner, "fulcrum:fulcrum 750\nfulcrum:fulcrum 640\n");
    let version = must("/usr/sbin/fulcrum", &["--version"]);
    assert!(version.starts_with("fulcrum 0."), "{version}");
    assert!(version.contains(" ("), "no commit in {version}");
    // The agent's default script prints an integer.
    let load = must("/usr/lib/fulcrum/agent-load", &[]);
    assert!(
        load.trim().parse::<u64>().is_ok_and(|value| value > 0),
        "agent-load printed {load:?} (0 means down)"
    );
}

fn check_units_and_example() {
    must(
        "systemd-analyze",
        &[
            "verify",
            "/lib/systemd/system/fulcrum.service",
            "/lib/systemd/system/fulcrum-agent.service",
        ],
    );
    // ExecStartPre= as the unit runs it: user fulcrum, the default path.
    let out = as_unit_user(&["check"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("{CONFIG}: ok: ")),
        "{}",
        text(&out.stdout)
    );
}

/// A loopback address of its own for this run (all of 127/8 is on lo).
fn service_address() -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 77, (pid >> 8) as u8 % 250 + 1, pid as u8 % 250 + 1)
}

fn run_as_the_unit() {
    let bind9 = Bind9::start(Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port: free_loopback_port().expect("a free port"),
        zones: vec![Zone::primary(ZONE, 2026120401, &["@ A 192.0.2.1"])],
        netns: None,
        extra_options: String::new(),
    })
    .expect("start Bind9");
    let _agent = start_agent_as_its_unit();
    let address = service_address();
    let config = format!(
        "hostname PKGTEST\n\
         server 1 {{ ipaddr {address} port 53 method session targets 1 }}\n\
         register server 1\nenable server 1\n\
         target 1 {{ ipaddr 127.0.0.1 port {} dns {ZONE},1,3 agent 439,1,3 }}\n\
         register target 1\nenable target 1\n",
        bind9.addr().port()
    );
    // Into the installed conffile, which keeps its owner and mode.
    std::fs::write(CONFIG, &config).unwrap();
    if !Path::new(RUNTIME_DIR).exists() {
        // What RuntimeDirectory=fulcrum does.
        std::fs::create_dir(RUNTIME_DIR).unwrap();
        must("chown", &["fulcrum:fulcrum", RUNTIME_DIR]);
        must("chmod", &["0750", RUNTIME_DIR]);
    }
    let out = as_unit_user(&["check", "-c", CONFIG]).output().unwrap();
    assert!(out.status.success(), "ExecStartPre: {}", text(&out.stderr));

    let dir = tempfile::tempdir().unwrap();
    let mut notify = NotifyListener::bind(dir.path());
    let start = Instant::now();
    let mut daemon = ServiceProcess::start(
        &["run", "-c", CONFIG, "--socket", "/run/fulcrum/fulcrum.sock"],
        &notify.path,
        &dir.path().join("fulcrum.log"),
        WATCHDOG,
    );
    let logs = || std::fs::read_to_string(dir.path().join("fulcrum.log")).unwrap_or_default();
    notify.wait_for(start, LIMIT, |m| m == "READY=1", "READY=1", logs);
    notify.wait_for(
        start,
        LIMIT,
        |m| m.starts_with("STATUS=") && m.contains("1/1 targets up"),
        "STATUS= with the target up",
        logs,
    );

    // Port 53, served by an unprivileged process.
    let answer = must(
        "dig",
        &[
            &format!("@{address}"),
            "-p",
            "53",
            ZONE,
            "SOA",
            "+short",
            "+time=2",
            "+tries=3",
        ],
    );
    assert!(
        answer.contains("2026120401"),
        "dig through fulcrum: {answer:?}"
    );
    notify.wait_for(
        start,
        LIMIT,
        |m| m == "STATUS=1/1 targets up, 1 session",
        "STATUS= counting the session",
        logs,
    );
    let pinging = Instant::now();
    notify.wait_for(pinging, LIMIT, |m| m == "WATCHDOG=1", "WATCHDOG=1", logs);

    // The shell finds the default socket; `save` may write /etc/fulcrum as user fulcrum.
    let shown = must("/usr/sbin/fulcrum", &["control", "show", "targets"]);
    assert!(shown.contains("127.0.0.1"), "{shown}");
    // The agent unit's script answered the balancer's agent check.
    let shown = must("/usr/sbin/fulcrum", &["control", "show", "target", "1"]);
    assert!(shown.contains("agent 439,1,3 up"), "{shown}");
    must("/usr/sbin/fulcrum", &["control", "save"]);
    assert_eq!(
        std::fs::read_to_string("/etc/fulcrum/fulcrum.conf.bak").unwrap(),
        config
    );

    let reload = Instant::now();
    daemon.signal(Signal::SIGHUP);
    notify.wait_for(reload, LIMIT, |m| m == "RELOADING=1", "RELOADING=1", logs);
    let reloading_at = notify
        .seen
        .iter()
        .find(|(at, m)| *at >= reload && m == "RELOADING=1")
        .map(|(at, _)| *at)
        .unwrap();
    notify.wait_for(
        reloading_at,
        LIMIT,
        |m| m == "READY=1",
        "READY=1 after reload",
        logs,
    );

    // A stuck worker: the pings stop.
    daemon.signal(Signal::SIGUSR2);
    testkit::process::wait_for_log(&daemon.log, "watchdog: no progress from", LIMIT);
    // Stamps are taken when the test reads; drain what was sent before the log line.
    notify.collect(Duration::from_millis(300));
    let stalled = Instant::now();
    notify.collect(WATCHDOG * 2);
    assert_eq!(
        notify.count_since(stalled, "WATCHDOG=1"),
        0,
        "pings went on with a stalled worker: {:?}",
        notify.messages()
    );

    let stop = Instant::now();
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait(LIMIT);
    notify.collect(Duration::from_millis(300));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?}\n{}",
        daemon.logs()
    );
    assert!(
        notify.count_since(stop, "STOPPING=1") == 1,
        "{:?}",
        notify.messages()
    );
    drop(bind9);
}

/// The agent as fulcrum-agent.service runs it: its settings from /etc/default/fulcrum-agent
/// (the default script and port 439), an unprivileged user holding only CAP_NET_BIND_SERVICE;
/// bound to 127.0.0.1 here (the unit's FULCRUM_AGENT_OPTIONS would say `-b ADDRESS`).
fn start_agent_as_its_unit() -> ServiceProcess {
    let caps = "+net_bind_service";
    let script = format!(
        ". /etc/default/fulcrum-agent; exec setpriv --reuid nobody --regid nogroup \
         --clear-groups --inh-caps {caps} --ambient-caps {caps} --bounding-set -all,{caps} \
         --no-new-privs /usr/sbin/fulcrum agent -c \"$FULCRUM_AGENT_SCRIPT\" \
         $FULCRUM_AGENT_OPTIONS -b 127.0.0.1 \"$FULCRUM_AGENT_PORT\""
    );
    let child = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the agent");
    ServiceProcess {
        child: testkit::process::KillOnDrop(child),
        log: std::path::PathBuf::from("/dev/null"),
    }
}
