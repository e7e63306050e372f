//! The dispatcher's JSON format: one document of [`fulcrum_control::show`] per command. Each
//! `show` builds its typed document from the same source its text form renders (the tables'
//! rows, the planes' newest sessions, the drivers' published statuses, the metrics snapshot for
//! `show stats`, whose document is the status JSON of `docs/metrics.md`); every other command
//! runs exactly as in the text format and its answer is wrapped: `{"ok":true}` (with the text in
//! `message` when there is one) or `{"error":"..."}`.

use std::time::SystemTime;

use fulcrum_control::command::{parse_command, Command};
use fulcrum_control::show::{
    to_text, ConfigDoc, DsrPathDoc, ErrorDoc, LicenseDoc, NetworksDoc, OkDoc, ServersDoc,
    SessionRowDoc, SessionsDoc, TargetDoc, TargetsDoc, VersionDoc,
};
use fulcrum_control::{Format, PROTOCOL_VERSION};
use fulcrum_core::balance::client_hash;

use crate::plane::sessions::NewestSessions;

use super::asctime::asctime;
use super::dispatch::{dispatch, Reply};
use super::state::Daemon;
use super::tables;

/// Runs one command line against the daemon and answers in `format`.
pub fn dispatch_as(daemon: &Daemon, line: &str, format: Format, now: SystemTime) -> Reply {
    match format {
        Format::Text => dispatch(daemon, line, now),
        Format::Json => dispatch_json(daemon, line, now),
    }
}

/// Runs one command line and answers its JSON document.
pub fn dispatch_json(daemon: &Daemon, line: &str, now: SystemTime) -> Reply {
    let document = match parse_command(line) {
        Command::ShowVersion => to_text(&VersionDoc {
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: env!("FULCRUM_GIT_COMMIT").to_string(),
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
        }),
        Command::ShowLicense => to_text(&LicenseDoc {
            licence_needed: false,
            serial: daemon.config().license.as_ref().map(|l| l.serial.clone()),
        }),
        Command::ShowConfig => to_text(&ConfigDoc {
            config: fulcrum_config::print(&daemon.config(), &asctime(now)),
        }),
        Command::ShowServers => to_text(&ServersDoc {
            servers: tables::server_rows(&daemon.config(), daemon.planes()),
        }),
        Command::ShowTargets => to_text(&TargetsDoc {
            targets: tables::target_rows(&daemon.config(), daemon.planes(), daemon.health()),
        }),
        Command::ShowTarget(id) => match show_target(daemon, id) {
            Ok(document) => to_text(&document),
            Err(error) => return error_reply(error),
        },
        Command::ShowNetworks => to_text(&NetworksDoc {
            networks: tables::network_rows(&daemon.config()),
        }),
        Command::ShowSessions(limit) => to_text(&sessions(daemon, limit)),
        Command::ShowVrrp => {
            let published = daemon.published();
            let v4 = published.vrrp.borrow().clone();
            let v6 = published.vrrp6.borrow().clone();
            to_text(&crate::vrrp::document(v4.as_ref(), v6.as_ref(), now))
        }
        Command::ShowSync => to_text(&crate::sync::document(
            &daemon.published().sync.borrow(),
            now,
        )),
        Command::ShowTcp => to_text(&daemon.proxy().tcp_document()),
        Command::ShowAnnounce => to_text(&crate::announce::document(
            &daemon.config(),
            &super::drivers::announce_inputs(daemon),
        )),
        Command::ShowStats => {
            let mut status = fulcrum_metrics::status(&super::metrics::collect(daemon));
            status.push('\n');
            status
        }
        _ => return wrap(dispatch(daemon, line, now)),
    };
    Reply {
        ok: true,
        text: document,
        close: false,
    }
}

/// A text answer as `{"ok":true}` or `{"error":"..."}`.
pub fn wrap(reply: Reply) -> Reply {
    let message = reply.text.trim_end().to_string();
    if !reply.ok {
        return Reply {
            close: reply.close,
            ..error_reply(message)
        };
    }
    Reply {
        ok: true,
        text: to_text(&OkDoc {
            ok: true,
            message: (!message.is_empty()).then_some(message),
        }),
        close: reply.close,
    }
}

fn error_reply(error: String) -> Reply {
    Reply {
        ok: false,
        text: to_text(&ErrorDoc { error }),
        close: false,
    }
}

fn sessions(daemon: &Daemon, limit: Option<usize>) -> SessionsDoc {
    sessions_document(&daemon.planes().newest_sessions(limit))
}

/// The rows the text form lists, in its order, with the same `hash` and `age`.
fn sessions_document(newest: &NewestSessions) -> SessionsDoc {
    SessionsDoc {
        total: newest.total as u64,
        sessions: newest
            .rows
            .iter()
            .map(|row| SessionRowDoc {
                hash: client_hash(row.client),
                client: row.client.to_string(),
                port: row.port,
                server: row.server,
                target: row.target,
                age_s: newest.now.saturating_sub(row.last_seen),
                timeout_s: row.timeout,
            })
            .collect(),
    }
}

fn show_target(daemon: &Daemon, id: u32) -> Result<TargetDoc, String> {
    let config = daemon.config();
    let Some(target) = config.targets.get(&id) else {
        return Err(format!("show target: no target {id}"));
    };
    let only = fulcrum_core::model::Config {
        targets: [(id, target.clone())].into(),
        ..Default::default()
    };
    let row = tables::target_rows(&only, daemon.planes(), daemon.health())
        .pop()
        .ok_or_else(|| format!("show target: no target {id}"))?;
    let (probed, foreign_icmp_ignored, alert_scripts_not_run) = daemon.health().detail_counts(id);
    let dsr_path = daemon.planes().dsr().current().map(|dsr| {
        let path = dsr.path_totals();
        DsrPathDoc {
            sent: path.sent,
            answers: path.answers,
            ignored: path.ignored,
        }
    });
    Ok(TargetDoc {
        target: row,
        proxy_protocol: target.proxy_protocol,
        alert: target.alert.clone(),
        upalert: target.upalert.clone(),
        probed,
        foreign_icmp_ignored,
        alert_scripts_not_run,
        dsr_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Proxy;
    use fulcrum_core::session::SessionRow;
    use serde_json::Value;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    const TWO_TARGETS: &str = "server 1 { ipaddr 127.0.0.1 port 5300 targets 1,2 }\n\
        register server 1\nenable server 1\n\
        target 1 { ipaddr 127.0.0.2 port 53 ping 5,12 }\ntarget 2 { ipaddr 127.0.0.3 }\n\
        register targets 1,2\nenable target 1\n\
        network 1 { name \"local network\" addr 127.0.0.0 mask 255.0.0.0 real 127.0.0.1 }\n";

    fn daemon() -> Daemon {
        let config = fulcrum_config::parse("t.conf", TWO_TARGETS).unwrap();
        Daemon::start(config, "t.conf".into(), Arc::new(Proxy::new())).0
    }

    fn seed_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_209_674_849)
    }

    /// The reply's document, parsed; the reply must be `ok` as asked.
    fn json(daemon: &Daemon, line: &str, ok: bool) -> Value {
        let reply = dispatch_json(daemon, line, seed_time());
        assert_eq!(reply.ok, ok, "{line}: {}", reply.text);
        assert!(reply.text.ends_with("}\n"), "{line}: {}", reply.text);
        assert_eq!(reply.text.lines().count(), 1, "{line}: one line");
        serde_json::from_str(&reply.text).unwrap_or_else(|e| panic!("{line}: {e}: {}", reply.text))
    }

    #[test]
    fn servers_and_targets_have_typed_rows() {
        let daemon = daemon();
        let servers = json(&daemon, "show servers", true);
        let s = &servers["servers"][0];
        assert_eq!(s["id"], 1);
        assert_eq!(s["address"], "127.0.0.1");
        assert_eq!(s["port"], 5300);
        assert_eq!(s["protocol"], "any");
        assert_eq!(s["method"], "session");
        assert_eq!(s["targets"], serde_json::json!([1, 2]));
        assert_eq!(
            (s["registered"].clone(), s["enabled"].clone()),
            (true.into(), true.into())
        );
        assert_eq!(s["operational"], true);
        for counter in ["queries", "responses", "timeouts", "drops", "sessions"] {
            assert_eq!(s[counter], 0, "{counter}");
        }
        let targets = json(&daemon, "show targets", true);
        let t = &targets["targets"];
        assert_eq!(t[0]["id"], 1);
        assert_eq!(t[0]["address"], "127.0.0.2");
        assert_eq!(t[0]["port"], 53);
        assert_eq!(t[0]["weight"], 1);
        assert_eq!(t[0]["dsr"], false);
        assert_eq!(t[0]["queries"], 0);
        assert!(t[1]["port"].is_null());
        assert_eq!(t[1]["enabled"], false);
        assert_eq!(t[1]["operational"], false);
        assert_eq!(t[1]["checks"], serde_json::json!([]));
        // The readers' own types parse the same text.
        let reply = dispatch_json(&daemon, "show targets", seed_time());
        let typed: fulcrum_control::show::TargetsDoc = serde_json::from_str(&reply.text).unwrap();
        assert_eq!(typed.targets.len(), 2);
    }

    #[test]
    fn a_check_row_has_its_state_times_and_counts() {
        use fulcrum_core::health::{CheckSpec, CheckState, CheckStatus, LastResult, Probe};
        let now = std::time::Instant::now();
        let check = CheckStatus {
            spec: CheckSpec::new(Probe::Agent { port: 439 }, 5, 13),
            state: CheckState::Up,
            since: now - Duration::from_secs(35),
            last_result: Some(LastResult {
                at: now - Duration::from_secs(2),
                ok: true,
                detail: "value 3".into(),
            }),
            last_rtt: Some(Duration::from_micros(400)),
            failures: 3,
            consecutive_failures: 0,
            agent_value: Some(3),
        };
        let row = tables::check_row(&check, now);
        let json: Value = serde_json::from_str(&to_text(&row)).unwrap();
        assert_eq!(json["check"], "agent 439,5,13");
        assert_eq!(json["kind"], "agent");
        assert_eq!(json["state"], "up");
        assert_eq!(json["state_age_s"], 35);
        assert_eq!(json["last_ok"], true);
        assert_eq!(json["last_detail"], "value 3");
        assert_eq!(json["last_age_s"], 2);
        assert_eq!(json["rtt_ms"], 0.4);
        assert_eq!(json["failures"], 3);
        assert_eq!(json["consecutive_failures"], 0);
        assert_eq!(json["agent_value"], 3);
    }

    #[test]
    fn one_target_has_its_row_and_detail() {
        let daemon = daemon();
        let doc = json(&daemon, "show target 1", true);
        assert_eq!(doc["target"]["id"], 1);
        assert_eq!(doc["target"]["address"], "127.0.0.2");
        assert!(doc["alert"].is_null());
        assert!(doc["dsr_path"].is_null());
        assert_eq!(doc["foreign_icmp_ignored"], 0);
        let missing = json(&daemon, "show target 9", false);
        assert_eq!(missing["error"], "show target: no target 9");
    }

    #[test]
    fn networks_sessions_and_the_small_documents() {
        let daemon = daemon();
        let networks = json(&daemon, "show networks", true);
        let n = &networks["networks"][0];
        assert_eq!(n["name"], "local network");
        assert_eq!(n["address"], "127.0.0.0");
        assert_eq!(n["mask"], "255.0.0.0");
        assert_eq!(n["real"], "127.0.0.1");
        assert!(n["virt"].is_null() && n["interface"].is_null());
        let sessions = json(&daemon, "show sessions all", true);
        assert_eq!(sessions, serde_json::json!({"total": 0, "sessions": []}));
        let version = json(&daemon, "show version", true);
        assert_eq!(version["pid"], std::process::id());
        assert_eq!(version["protocol"], PROTOCOL_VERSION);
        assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
        let license = json(&daemon, "show license", true);
        assert_eq!(
            license,
            serde_json::json!({"licence_needed": false, "serial": null})
        );
        let config = json(&daemon, "show config", true);
        let text = config["config"].as_str().unwrap();
        assert_eq!(
            fulcrum_config::parse("shown.conf", text).unwrap(),
            *daemon.config()
        );
    }

    #[test]
    fn drivers_that_do_not_run_answer_typed_nothing() {
        let daemon = daemon();
        let vrrp = json(&daemon, "show vrrp", true);
        assert_eq!(vrrp, serde_json::json!({"ipv4": null, "ipv6": null}));
        let sync = json(&daemon, "show sync", true);
        assert_eq!(sync["state"], "off");
        assert!(sync["reason"].is_string() && sync["detail"].is_null());
        let announce = json(&daemon, "show announce", true);
        assert_eq!(announce["configured"], false);
        let tcp = json(&daemon, "show tcp", true);
        assert_eq!(tcp["open"], 0);
        assert_eq!(tcp["cap"].as_u64().map(|c| c > 0), Some(true));
        assert_eq!(tcp["idle_timeout_s"].as_u64().map(|s| s > 0), Some(true));
        let stats = json(&daemon, "show stats", true);
        assert_eq!(stats["targets"][0]["target"], 1);
        assert_eq!(stats["targets"][0]["queries"], 0);
        assert!(stats["vrrp"].is_null());
    }

    #[test]
    fn other_commands_answer_ok_or_error() {
        let daemon = daemon();
        assert_eq!(
            json(&daemon, "disable target 1", true),
            serde_json::json!({"ok": true})
        );
        assert!(!daemon.config().targets[&1].enabled);
        let help = json(&daemon, "help", true);
        assert!(help["message"].as_str().unwrap().contains("show targets"));
        let warned = json(&daemon, "modules vrrp,arp", true);
        assert!(warned["message"]
            .as_str()
            .unwrap()
            .starts_with("WARNING: 1:1: modules"));
        let invalid = json(&daemon, "frobnicate", false);
        assert_eq!(
            invalid,
            serde_json::json!({"error": "ERROR: invalid command (try help)"})
        );
        let bad = json(&daemon, "enable target 7", false);
        assert!(
            bad["error"].as_str().unwrap().starts_with("<control>:1:"),
            "{bad}"
        );
        let quit = dispatch_json(&daemon, "quit", seed_time());
        assert!(quit.ok && quit.close, "{:?}", quit);
        assert_eq!(quit.text, "{\"ok\":true}\n");
    }

    #[test]
    fn sessions_are_listed_as_the_text_lists_them() {
        let row = |client: &str, last_seen, target| SessionRow {
            server: 1,
            client: client.parse().unwrap(),
            port: None,
            target,
            last_seen,
            timeout: 600,
        };
        let newest = NewestSessions {
            total: 71,
            now: 100,
            rows: vec![row("10.85.134.135", 82, 1), row("10.85.134.136", 80, 2)],
        };
        let doc = sessions_document(&newest);
        let json: Value = serde_json::from_str(&to_text(&doc)).unwrap();
        assert_eq!(json["total"], 71);
        let first = &json["sessions"][0];
        assert_eq!(first["hash"], 5_604_999);
        assert_eq!(first["client"], "10.85.134.135");
        assert!(first["port"].is_null());
        assert_eq!(
            (first["server"].clone(), first["target"].clone()),
            (1.into(), 1.into())
        );
        assert_eq!(first["age_s"], 18);
        assert_eq!(first["timeout_s"], 600);
        assert_eq!(json["sessions"][1]["target"], 2);
        let text = newest.render();
        assert!(
            text.starts_with("71 sessions\n")
                && text.contains("\n 5604999 10.85.134.135     any   1   1   18     600\n")
                && text.ends_with("... remaining sessions not shown\n"),
            "{text}"
        );
    }
}
