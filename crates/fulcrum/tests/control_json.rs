//! End-to-end tests of the control socket's JSON format: the real `fulcrum run` in front of two
//! real Bind9 instances on loopback, queried with the real `dig` from distinct 127.0.71.x
//! sources, then every `show` of the command table asked through the real `fulcrum control
//! --json`: each answer is one JSON document whose typed fields agree with the traffic sent, the
//! text tables still answer without `--json`, other commands answer `{"ok":true}` or
//! `{"error":...}`, and a client that sends no `format` (one older than the field) gets text.
//! Beside `control.rs` (the text shell's tests) to keep each file short.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;

use fulcrum_control::show::{
    ErrorDoc, OkDoc, ServersDoc, SessionsDoc, SyncDoc, TargetDoc, TargetsDoc, TcpDoc, VrrpDoc,
};
use fulcrum_control::COMMANDS;
use netlab::bind9::Bind9;
use serde_json::Value;
use testkit::control::{control_json, stdout};
use testkit::daemon::Daemon;
use testkit::dns::{dig_instance, loopback_bind9, Ask};
use testkit::free_port;

fn config(vip: SocketAddr, a: &Bind9, b: &Bind9) -> String {
    format!(
        "hostname JSONTEST\n\
         server 1 {{\n  ipaddr {ip}\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.1\n  port {pa}\n  dsr disable\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port {pb}\n  dsr disable\n}}\n\
         register targets 1,2\nenable targets 1,2\n",
        ip = vip.ip(),
        port = vip.port(),
        pa = a.addr().port(),
        pb = b.addr().port(),
    )
}

/// Every `show` of the command table, with arguments where it needs them.
fn every_show() -> Vec<String> {
    COMMANDS
        .iter()
        .filter(|c| c.words.first() == Some(&"show"))
        .map(|c| match c.words.get(1).copied() {
            Some("target") => "show target 1".to_string(),
            Some("sessions") => "show sessions all".to_string(),
            _ => c.words.join(" "),
        })
        .collect()
}

#[test]
fn every_show_answers_one_typed_json_document() {
    let (a, b) = (
        loopback_bind9("inst-a", free_port()),
        loopback_bind9("inst-b", free_port()),
    );
    let vip = SocketAddr::from(([127, 0, 71, 10], free_port()));
    let daemon = Daemon::with_config(&config(vip, &a, &b));
    const CLIENTS: u8 = 12;
    for i in 1..=CLIENTS {
        let source = Ipv4Addr::new(127, 0, 71, 100 + i);
        dig_instance(
            vip,
            source,
            Ask {
                tcp: false,
                time: 2,
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.logs()));
    }

    // Every show answers, exits 0, and prints exactly one JSON object on one line.
    let shows = every_show();
    assert!(shows.len() >= 13, "{shows:?}");
    for line in &shows {
        let output = control_json(&daemon.socket, line);
        let text = stdout(&output);
        assert!(output.status.success(), "{line}: {text}\n{}", daemon.logs());
        assert_eq!(text.lines().count(), 1, "{line}: {text}");
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(value.is_object(), "{line}: {text}");
    }

    // The typed fields agree with the traffic: every query counted once, per server and per
    // target, and one sticky session per client.
    let targets: TargetsDoc = daemon.show("show targets");
    let per_target: Vec<u64> = targets.targets.iter().map(|t| t.counters.queries).collect();
    assert_eq!(
        per_target.iter().sum::<u64>(),
        u64::from(CLIENTS),
        "{targets:?}"
    );
    assert!(targets
        .targets
        .iter()
        .all(|t| t.operational && t.port.is_some()));
    let answered: u64 = targets.targets.iter().map(|t| t.counters.responses).sum();
    assert_eq!(answered, u64::from(CLIENTS), "{targets:?}");
    let servers: ServersDoc = daemon.show("show servers");
    assert_eq!(servers.servers[0].address, vip.ip().to_string());
    assert_eq!(servers.servers[0].port, vip.port());
    assert_eq!(servers.servers[0].counters.queries, u64::from(CLIENTS));
    assert_eq!(servers.servers[0].method, "session");
    let sessions: SessionsDoc = daemon.show("show sessions all");
    assert_eq!(sessions.total, u64::from(CLIENTS));
    assert_eq!(sessions.sessions.len(), usize::from(CLIENTS));
    for s in &sessions.sessions {
        let client: Ipv4Addr = s.client.parse().expect("an address");
        assert_eq!(s.hash, u32::from(client) & 0xff_ffff, "{s:?}");
        assert!(s.target == 1 || s.target == 2, "{s:?}");
        assert_eq!((s.server, s.port), (1, None), "{s:?}");
        assert!(s.age_s <= 60 && s.timeout_s > 0, "{s:?}");
    }
    let two: SessionsDoc = daemon.show("show sessions 2");
    assert_eq!((two.total, two.sessions.len()), (u64::from(CLIENTS), 2));
    let one: TargetDoc = daemon.show("show target 1");
    assert_eq!(one.target.id, 1);
    assert!(one.probed, "{one:?}");
    let stats: Value = daemon.show("show stats");
    let counted: u64 = (stats["targets"].as_array().expect("targets"))
        .iter()
        .map(|t| t["queries"].as_u64().expect("a number"))
        .sum();
    assert_eq!(counted, u64::from(CLIENTS), "{stats}");
    let tcp: TcpDoc = daemon.show("show tcp");
    assert!(tcp.cap > 0 && tcp.idle_timeout_s > 0, "{tcp:?}");
    let vrrp: VrrpDoc = daemon.show("show vrrp");
    assert!(vrrp.ipv4.is_none() && vrrp.ipv6.is_none(), "{vrrp:?}");
    let sync: SyncDoc = daemon.show("show sync");
    assert_eq!(sync.state, "off", "{sync:?}");
    let config: Value = daemon.show("show config");
    assert!(config["config"]
        .as_str()
        .is_some_and(|c| c.contains("hostname JSONTEST")));

    // Without --json the tables are as they were.
    let table = daemon.control("show targets");
    assert!(table.starts_with("2 targets\ntgt ip-address      port  proto weight dsr reg ena op"));
}

#[test]
fn other_commands_answer_ok_or_error_documents() {
    let (a, b) = (
        loopback_bind9("inst-a", free_port()),
        loopback_bind9("inst-b", free_port()),
    );
    let vip = SocketAddr::from(([127, 0, 71, 20], free_port()));
    let daemon = Daemon::with_config(&config(vip, &a, &b));

    let ok: OkDoc = daemon.show("disable target 2");
    assert_eq!(
        ok,
        OkDoc {
            ok: true,
            message: None
        }
    );
    let targets: TargetsDoc = daemon.show("show targets");
    assert!(!targets.targets[1].enabled && !targets.targets[1].operational);

    // A failing command: exit 1, and the error as a document.
    for (line, starts) in [
        ("frobnicate", "ERROR: invalid command (try help)"),
        ("show target 9", "show target: no target 9"),
        ("enable target 7", "<control>:1:"),
    ] {
        let output = control_json(&daemon.socket, line);
        assert_eq!(output.status.code(), Some(1), "{line}");
        let error: ErrorDoc = serde_json::from_str(&stdout(&output))
            .unwrap_or_else(|e| panic!("{line}: {e}: {}", stdout(&output)));
        assert!(error.error.starts_with(starts), "{line}: {error:?}");
    }
}

/// One request as a client older than the `format` field writes it, and the response's text.
fn old_client_request(socket: &std::path::Path, line: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("connect");
    let read_frame = |stream: &mut UnixStream| {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).expect("frame header");
        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut payload).expect("frame payload");
        serde_json::from_slice::<Value>(&payload).expect("a JSON message")
    };
    let hello = read_frame(&mut stream);
    assert_eq!(hello["type"], "hello");
    let request = format!(r#"{{"v":1,"type":"request","line":"{line}"}}"#);
    let mut frame = (request.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(request.as_bytes());
    stream.write_all(&frame).expect("send");
    let response = read_frame(&mut stream);
    assert_eq!(response["type"], "response");
    response["text"].as_str().expect("text").to_string()
}

#[test]
fn a_client_that_names_no_format_gets_the_text() {
    let (a, b) = (
        loopback_bind9("inst-a", free_port()),
        loopback_bind9("inst-b", free_port()),
    );
    let vip = SocketAddr::from(([127, 0, 71, 30], free_port()));
    let daemon = Daemon::with_config(&config(vip, &a, &b));
    // The health checks' first verdict comes a moment after the start: compare after it.
    for target in [1, 2] {
        daemon.wait_for(target, true, std::time::Duration::from_secs(5));
    }
    for line in ["show targets", "show servers", "show sessions", "show vrrp"] {
        assert_eq!(
            old_client_request(&daemon.socket, line),
            daemon.control(line),
            "{line}"
        );
    }
}
