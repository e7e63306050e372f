//! End-to-end tests of `fulcrum check`, `fulcrum run` and `fulcrum control`: the real binary, a
//! real control socket in a per-test temporary directory, and a loopback-only configuration
//! (server on 127.0.0.1 with a free port, proxied targets on 127.0.0.x). Every daemon a test
//! starts is killed by PID when its guard drops, also on panic.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use testkit::control::{control, stderr, stdout};
use testkit::daemon::{loopback_config, setup, spawn_run, Daemon};
use testkit::process::{expect_exit, wait_exit};
use testkit::show::has_positioned_error;
use testkit::{fixture, fulcrum};

#[test]
fn check_accepts_both_seed_configurations() {
    // ns0a-v3.conf is NS0A written in BalanceNG V3's style.
    for name in ["ns0a.conf", "ns0b.conf", "ns0a-v3.conf"] {
        let path = fixture(name);
        let output = Command::new(fulcrum())
            .arg("check")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let expected = format!(
            "{}: ok: 1 server(s), 2 target(s), 1 network(s), vrrp vrid 7 priority 200\n",
            path.display()
        );
        assert_eq!(stdout(&output), expected);
        // The licence line (line 4 in each) is accepted and ignored, with a warning naming it.
        let warning = format!(
            "{}:4:1: warning: license is accepted and ignored",
            path.display()
        );
        assert!(stderr(&output).starts_with(&warning), "{}", stderr(&output));
        // The seed's nodes sync sessions without a key: said, not refused.
        assert!(
            stderr(&output).contains(&format!(
                "{}: warning: session sync runs without `set synckey`",
                path.display()
            )),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn check_rejects_a_broken_file_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.conf");
    std::fs::write(&path, "server 1 {\nipaddr 10.0.0.300\n}\nfoo\n").unwrap();
    let output = Command::new(fulcrum())
        .arg("check")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    let file = path.display().to_string();
    assert!(errors.contains(&format!("{file}:2:8: error: ")), "{errors}");
    assert!(has_positioned_error(&errors, &file), "{errors}");
    // Every error, not just the first.
    assert!(errors.contains(&format!("{file}:4:1: error: ")), "{errors}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn check_reports_an_unreadable_file() {
    let output = Command::new(fulcrum())
        .args(["check", "-c", "/nonexistent/fulcrum.conf"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot read /nonexistent/fulcrum.conf"),
        "{}",
        stderr(&output)
    );
}

/// An operator's session: show the canonical config, disable and re-enable a target, add one live,
/// save, restart, and find the saved state.
#[test]
fn live_changes_are_saved_and_survive_a_restart() {
    let (_dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);

    let shown = daemon.control_output(&["show config"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(text.starts_with("// configuration taken "), "{text}");
    assert!(text.ends_with("// end of configuration\n"), "{text}");
    assert!(text.contains("hostname LOOPTEST"), "{text}");
    assert!(stderr(&shown).contains(&format!("fulcrum: connected to PID {}", daemon.id())));

    assert_eq!(daemon.target_state(2), Some((true, true)));
    let disabled = daemon.control_output(&["disable target 2"]);
    assert!(disabled.status.success(), "{}", stdout(&disabled));
    assert_eq!(daemon.target_state(2), Some((true, false)));
    let enabled = daemon.control_output(&["enable target 2"]);
    assert!(enabled.status.success(), "{}", stdout(&enabled));
    assert_eq!(daemon.target_state(2), Some((true, true)));

    let added = daemon.control_output(&[
        "target 3 { ipaddr 127.0.0.4 port 5353 dsr disable }",
        "register target 3",
        "enable target 3",
        "disable target 2",
        "save",
    ]);
    assert!(
        added.status.success(),
        "{}{}",
        stdout(&added),
        stderr(&added)
    );
    assert!(
        stdout(&added).contains("configuration saved to"),
        "{}",
        stdout(&added)
    );
    assert_eq!(daemon.target_state(3), Some((true, true)));

    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(saved.starts_with("// configuration taken "), "{saved}");
    assert!(saved.contains("127.0.0.4"), "{saved}");
    let check = Command::new(fulcrum())
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "saved file does not check: {}",
        stderr(&check)
    );

    assert!(daemon.terminate().success());
    assert!(!socket.exists(), "socket left behind after SIGTERM");

    let restarted = Daemon::start(&config, &socket);
    assert_eq!(restarted.target_state(3), Some((true, true)));
    assert_eq!(restarted.target_state(2), Some((true, false)));
    assert_eq!(restarted.target_state(1), Some((true, true)));
}

#[test]
fn sighup_with_a_broken_file_keeps_the_running_configuration() {
    let (_dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);
    // The running configuration, without its `// configuration taken DATE` line.
    let running = || {
        let text = stdout(&daemon.control_output(&["show config"]));
        text.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    let before = running();
    assert!(before.contains("hostname LOOPTEST"), "{before}");

    std::fs::write(&config, "target 1 {\n  ipaddr 127.0.0.999\n}\nbogus\n").unwrap();
    daemon.signal(Signal::SIGHUP);
    let logs = daemon.wait_for_log("keeping the running configuration");
    let file = daemon.config.display().to_string();
    assert!(logs.contains(&format!("{file}:2:10: error: ")), "{logs}");
    assert!(logs.contains(&format!("{file}:4:1: error: ")), "{logs}");
    assert_eq!(running(), before);

    // A good file is picked up, so the check above could have failed.
    std::fs::write(&config, loopback_config().replace("LOOPTEST", "RELOADED")).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("reload: ");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stdout(&daemon.control_output(&["show config"])).contains("hostname RELOADED") {
        assert!(
            Instant::now() < deadline,
            "good file not reloaded:\n{}",
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_change_is_logged_with_who_made_it_and_keys_hidden() {
    let (_dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);
    let changed =
        daemon.control_output(&["show targets", "disable target 2", "set synckey s3cr3t"]);
    assert!(changed.status.success(), "{}", stderr(&changed));
    let logs = daemon.logs();
    assert!(
        logs.contains("control: uid 0 pid ") && logs.contains(" runs \"disable target 2\""),
        "{logs}"
    );
    assert!(logs.contains("runs \"set synckey <hidden>\""), "{logs}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
    assert!(!logs.contains("runs \"show targets\""), "{logs}");
}

#[test]
fn control_socket_is_private() {
    let (_dir, config, socket) = setup();
    let _daemon = Daemon::start(&config, &socket);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[test]
fn a_second_instance_on_the_same_socket_refuses_to_start() {
    let (dir, config, socket) = setup();
    let first = Daemon::start(&config, &socket);
    let log = dir.path().join("second.log");
    let status = expect_exit(
        spawn_run(&config, &socket, &log),
        "second instance kept running",
    );
    assert!(!status.success());
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains(&format!(
            "another fulcrum (PID {}) is already running",
            first.id()
        )),
        "{logs}"
    );
    assert!(first.control_output(&["show version"]).status.success());
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let (_dir, config, socket) = setup();
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let daemon = Daemon::start(&config, &socket);
    assert!(daemon.control_output(&["show version"]).status.success());
    assert!(
        daemon.logs().contains("replacing stale control socket"),
        "{}",
        daemon.logs()
    );
}

#[test]
fn a_regular_file_in_the_sockets_place_is_left_alone() {
    let (dir, config, socket) = setup();
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    std::fs::write(&socket, "precious").unwrap();
    let log = dir.path().join("run.log");
    let status = expect_exit(
        spawn_run(&config, &socket, &log),
        "daemon started over a regular file",
    );
    assert_eq!(status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("is not a socket"));
}

#[test]
fn unknown_commands_get_the_seeds_error_and_a_failing_exit() {
    let (_dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);
    let output = daemon.control_output(&["shown sessions"]);
    assert_eq!(stdout(&output), "ERROR: invalid command (try help)\n");
    assert_eq!(output.status.code(), Some(1));

    let output = daemon.control_output(&["show sessions x", "show version"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.starts_with("ERROR: show sessions: expected a number or \"all\", found \"x\"\n"),
        "{text}"
    );
    assert!(
        text.contains("fulcrum 0.1.0"),
        "later commands still run: {text}"
    );

    let output = daemon.control_output(&["target 9 { ipaddr 300.1.1.1 }"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        has_positioned_error(&stdout(&output), "<control>"),
        "{}",
        stdout(&output)
    );
    assert_eq!(daemon.target_state(9), None);
}

#[test]
fn commands_are_read_from_stdin_when_it_is_not_a_terminal() {
    let (_dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);
    let mut child = Command::new(fulcrum())
        .arg("control")
        .arg("--socket")
        .arg(&daemon.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script =
        "show license\ntarget 4 {\n  ipaddr 127.0.0.5\n}\nregister target 4\nquit\nshow version\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let text = stdout(&output);
    assert!(text.contains("no licence needed"), "{text}");
    assert!(
        !text.contains("fulcrum 0.1.0"),
        "commands after quit ran: {text}"
    );
    assert_eq!(daemon.target_state(4), Some((true, false)));
}

#[test]
fn control_without_a_daemon_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let output = control(&socket, &["show version"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!("cannot connect to {}: ", socket.display())),
        "{message}"
    );
    assert!(
        message
            .contains("is the daemon running? (systemctl status fulcrum, or fulcrum run -c FILE)"),
        "{message}"
    );
}

#[test]
fn run_refuses_a_broken_configuration() {
    let (dir, config, socket) = setup();
    std::fs::write(&config, "server 1 {\n}\n").unwrap();
    let log = dir.path().join("run.log");
    let status = expect_exit(
        spawn_run(&config, &socket, &log),
        "daemon started with a broken configuration",
    );
    assert_eq!(status.code(), Some(1));
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("not starting"), "{logs}");
    assert!(!socket.exists());
}

/// The interactive shell on a real terminal (util-linux `script` provides the pty): banner,
/// prompt from the configuration's hostname, tab completion and the history file.
#[test]
fn interactive_shell_has_banner_prompt_completion_and_history() {
    let script = Path::new("/usr/bin/script");
    assert!(
        script.exists(),
        "this test needs util-linux's `script` (Debian package bsdutils)"
    );
    let (dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);
    let state = dir.path().join("state");
    let shell = format!("{} control --socket {}", fulcrum(), daemon.socket.display());
    let mut child = Command::new(script)
        .args(["-qec", &shell, "/dev/null"])
        .env("XDG_STATE_HOME", &state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Type only once the prompt is up, so the line editor is already in raw mode.
    let mut terminal = child.stdout.take().unwrap();
    let (sender, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = std::io::Read::read(&mut terminal, &mut chunk) {
            if sender.send(chunk[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("LOOPTEST# ") {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(chunk) => seen.extend_from_slice(&chunk),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no prompt: {:?}", String::from_utf8_lossy(&seen));
            }
        }
    }
    // `show vers<TAB>` completes to `show version `; then end of input leaves the shell.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"show vers\t\r")
        .unwrap();
    if wait_exit(&mut child, Duration::from_secs(10)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("shell did not exit: {:?}", String::from_utf8_lossy(&seen));
    }
    let _ = reader.join();
    seen.extend(received.try_iter().flatten());
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        text.contains(&format!("fulcrum: connected to PID {}", daemon.id())),
        "{text}"
    );
    assert!(text.contains("LOOPTEST# "), "{text}");
    assert!(
        text.contains("fulcrum 0.1.0 (control protocol 1)"),
        "{text}"
    );
    let history = std::fs::read_to_string(state.join("fulcrum/history")).unwrap_or_default();
    assert!(history.contains("show version"), "history: {history:?}");
    let mode = std::fs::metadata(state.join("fulcrum/history"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "history mode {mode:o}");
}

/// A client that breaks the protocol gets an error response and a closed connection; the daemon
/// keeps serving others.
#[test]
fn protocol_violations_are_answered_and_the_connection_closed() {
    use fulcrum_control::message::{read_message, write_message, Message};
    use std::os::unix::net::UnixStream;

    let (_dir, config, socket) = setup();
    let daemon = Daemon::start(&config, &socket);
    let connect = || {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let hello = read_message(&mut stream).unwrap().unwrap();
        assert!(matches!(hello, Message::Hello { pid, .. } if pid == daemon.id()));
        stream
    };
    let expect_refusal = |stream: &mut UnixStream, why: &str| {
        match read_message(stream).unwrap() {
            Some(Message::Response { ok, text, close }) => {
                assert!(!ok && close, "{text}");
                assert!(text.contains(why), "{text}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(
            read_message(stream).unwrap().is_none(),
            "connection left open"
        );
    };

    // A length above 1 MiB, refused from the header alone.
    let mut stream = connect();
    stream.write_all(&0xffff_ffffu32.to_be_bytes()).unwrap();
    expect_refusal(&mut stream, "exceeds the maximum");

    // A message a client must not send.
    let mut stream = connect();
    let hello = Message::Hello {
        pid: 1,
        hostname: "x".into(),
        version: "0".into(),
    };
    write_message(&mut stream, &hello).unwrap();
    expect_refusal(&mut stream, "expected a request");

    // Another protocol version.
    let mut stream = connect();
    fulcrum_control::frame::write_frame(&mut stream, br#"{"v":9,"type":"request","line":"help"}"#)
        .unwrap();
    expect_refusal(&mut stream, "unsupported control protocol version 9");

    assert!(daemon.control_output(&["show version"]).status.success());
}
