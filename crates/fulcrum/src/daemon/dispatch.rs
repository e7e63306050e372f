//! The daemon's dispatcher: a plain function from (state, command line, format, time) to a
//! reply. The socket layer only carries its input and output, so every command is tested here
//! without one. The text format is here; the JSON format's documents are in [`super::documents`].

use std::time::SystemTime;

use fulcrum_control::command::{help_text, parse_command, Command, INVALID_COMMAND};
use fulcrum_control::PROTOCOL_VERSION;

use super::asctime::asctime;
use super::save::save_atomically;
use super::state::Daemon;
use super::tables;

/// The name configuration errors from the shell carry instead of a file name.
pub const CONTROL_SOURCE: &str = "<control>";

/// What the daemon answers to one command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    /// Printed as is by the shell; ends with a newline unless empty.
    pub text: String,
    /// The session ends after this reply (`quit`).
    pub close: bool,
}

impl Reply {
    fn ok(text: impl Into<String>) -> Reply {
        Reply {
            ok: true,
            text: text.into(),
            close: false,
        }
    }

    fn error(text: impl Into<String>) -> Reply {
        let mut text = text.into();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Reply {
            ok: false,
            text,
            close: false,
        }
    }
}

/// Runs one command line against the daemon. `now` dates `show config` and `save`.
pub fn dispatch(daemon: &Daemon, line: &str, now: SystemTime) -> Reply {
    match parse_command(line) {
        Command::Empty => Reply::ok(""),
        Command::Help => Reply::ok(help_text()),
        Command::ShowVersion => Reply::ok(version_text()),
        Command::ShowLicense => Reply::ok(license_text(daemon)),
        Command::ShowConfig => Reply::ok(fulcrum_config::print(&daemon.config(), &asctime(now))),
        Command::ShowServers => Reply::ok(tables::show_servers(&daemon.config(), daemon.planes())),
        Command::ShowTargets => Reply::ok(tables::show_targets(
            &daemon.config(),
            daemon.planes(),
            daemon.health(),
        )),
        Command::ShowTarget(id) => show_target(daemon, id),
        Command::ShowNetworks => Reply::ok(tables::show_networks(&daemon.config())),
        Command::ShowSessions(limit) => Reply::ok(daemon.planes().show_sessions(limit)),
        Command::ShowVrrp => {
            let published = daemon.published();
            let v4 = published.vrrp.borrow().clone();
            let v6 = published.vrrp6.borrow().clone();
            Reply::ok(crate::vrrp::show(v4.as_ref(), v6.as_ref()))
        }
        Command::ShowSync => Reply::ok(crate::sync::show(&daemon.published().sync.borrow())),
        Command::ShowTcp => Reply::ok(daemon.proxy().show_tcp()),
        Command::ShowAnnounce => Reply::ok(crate::announce::show(
            &daemon.config(),
            &super::drivers::announce_inputs(daemon),
        )),
        Command::ShowStats => Reply::ok(super::stats::show_stats(&super::metrics::collect(daemon))),
        Command::Save => save(daemon, now),
        Command::Reload => match super::reload::reload(daemon) {
            Ok(text) => Reply::ok(text),
            Err(text) => Reply::error(text),
        },
        Command::Quit => Reply {
            ok: true,
            text: String::new(),
            close: true,
        },
        Command::Statement(statement) => apply_statement(daemon, &statement),
        Command::BadArguments(message) => Reply::error(format!("ERROR: {message}")),
        Command::Invalid => Reply::error(INVALID_COMMAND),
    }
}

/// `show target N`: its `show targets` row, then the health checks' detail.
fn show_target(daemon: &Daemon, id: u32) -> Reply {
    let config = daemon.config();
    let Some(target) = config.targets.get(&id) else {
        return Reply::error(format!("ERROR: show target: no target {id}"));
    };
    let only = fulcrum_core::model::Config {
        targets: [(id, target.clone())].into(),
        ..Default::default()
    };
    let mut text = tables::show_targets(&only, daemon.planes(), daemon.health());
    let dsr_path = daemon.planes().dsr().current().map(|dsr| dsr.path_totals());
    if let Ok(detail) = daemon.health().show_target(&config, id, dsr_path) {
        text.push_str(&detail);
    }
    Reply::ok(text)
}

fn version_text() -> String {
    format!(
        "fulcrum {} (control protocol {PROTOCOL_VERSION}), commit {}, PID {}\n\
         Copyright the Fulcrum authors; licensed under the Apache License, Version 2.0\n",
        env!("CARGO_PKG_VERSION"),
        env!("FULCRUM_GIT_COMMIT"),
        std::process::id()
    )
}

fn license_text(daemon: &Daemon) -> String {
    let serial = daemon
        .config()
        .license
        .as_ref()
        .map(|l| l.serial.clone())
        .unwrap_or_else(|| "none".into());
    format!(
        "status: no licence needed (Fulcrum is free software)\n\
         serial: {serial} (kept from the configuration, never checked)\n\
         type \"show version\" for version and copyright information\n"
    )
}

fn save(daemon: &Daemon, now: SystemTime) -> Reply {
    let path = daemon.config_path();
    let saved = daemon.while_unchanged(|config| {
        save_atomically(path, &fulcrum_config::print(config, &asctime(now)))
    });
    match saved {
        Ok(backup) => {
            tracing::info!("control: configuration saved to {}", path.display());
            let kept = backup
                .map(|b| format!(" (the previous one kept as {})", b.display()))
                .unwrap_or_default();
            Reply::ok(format!("configuration saved to {}{kept}\n", path.display()))
        }
        Err(e) => {
            tracing::error!("control: save failed: {e}");
            Reply::error(format!(
                "ERROR: save failed, the old file is unchanged: {e}"
            ))
        }
    }
}

fn apply_statement(daemon: &Daemon, statement: &str) -> Reply {
    let mut ignored = Vec::new();
    let applied = daemon.update(|current| {
        fulcrum_config::apply_loaded(current, CONTROL_SOURCE, statement).map(|loaded| {
            ignored = loaded.warnings.0;
            loaded.config
        })
    });
    match applied {
        Ok(warnings) => {
            // Keys never reach the log.
            let shown = fulcrum_config::redacted(statement);
            tracing::info!("control: applied {shown:?}");
            let ignored = ignored
                .iter()
                .map(|d| format!("{}:{}: {}", d.line, d.col, d.message));
            let text: String = ignored
                .chain(warnings)
                .map(|w| format!("WARNING: {w}\n"))
                .collect();
            Reply::ok(text)
        }
        Err(diagnostics) => Reply::error(diagnostics.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Proxy;
    use fulcrum_core::model::{Config, License};
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    fn seed_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_209_674_849)
    }

    fn daemon_with(config: Config, path: &std::path::Path) -> Daemon {
        Daemon::start(config, path.to_path_buf(), Arc::new(Proxy::new())).0
    }

    fn daemon() -> Daemon {
        daemon_with(Config::default(), std::path::Path::new("unused.conf"))
    }

    #[test]
    fn unknown_input_gets_the_seeds_error() {
        let reply = dispatch(&daemon(), "shown sessions", seed_time());
        assert_eq!(reply.text, "ERROR: invalid command (try help)\n");
        assert!(!reply.ok);
    }

    #[test]
    fn wrong_arguments_say_what_was_expected() {
        let reply = dispatch(&daemon(), "show sessions lots", seed_time());
        assert!(!reply.ok);
        assert_eq!(
            reply.text,
            "ERROR: show sessions: expected a number or \"all\", found \"lots\"\n"
        );
    }

    #[test]
    fn show_target_of_an_unknown_id_is_an_error() {
        let reply = dispatch(&daemon(), "show target 9", seed_time());
        assert!(!reply.ok, "{}", reply.text);
    }

    #[test]
    fn show_target_shows_that_target() {
        let reply = dispatch(&two_targets(), "show target 2", seed_time());
        assert!(reply.ok, "{}", reply.text);
        assert!(reply.text.contains("127.0.0.3"), "{}", reply.text);
        assert!(!reply.text.contains("127.0.0.2"), "{}", reply.text);
    }

    #[test]
    fn empty_line_is_a_quiet_success() {
        assert_eq!(dispatch(&daemon(), "   ", seed_time()), Reply::ok(""));
    }

    #[test]
    fn quit_closes() {
        let reply = dispatch(&daemon(), "quit", seed_time());
        assert!(reply.ok && reply.close);
    }

    #[test]
    fn license_shows_the_kept_serial() {
        let config = Config {
            license: Some(License {
                serial: "NS0ATEST".into(),
                key: "17d17854ad3d234d1e8603629f0ae5ae".into(),
            }),
            ..Config::default()
        };
        let reply = dispatch(
            &daemon_with(config, std::path::Path::new("x")),
            "show license",
            seed_time(),
        );
        assert!(reply.text.contains("no licence needed"), "{}", reply.text);
        assert!(reply.text.contains("serial: NS0ATEST"), "{}", reply.text);
    }

    #[test]
    fn version_names_the_pid() {
        let reply = dispatch(&daemon(), "show version", seed_time());
        assert!(reply.text.contains(&format!("PID {}", std::process::id())));
    }

    #[test]
    fn show_config_is_dated_in_the_seeds_style() {
        let reply = dispatch(&daemon(), "show config", seed_time());
        assert!(
            reply
                .text
                .starts_with("// configuration taken Thu May  1 20:47:29 2008\n"),
            "{}",
            reply.text
        );
        assert!(reply.text.ends_with("// end of configuration\n"));
    }

    #[test]
    fn save_writes_the_canonical_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.conf");
        std::fs::write(&path, "old").unwrap();
        let daemon = daemon_with(Config::default(), &path);
        let reply = dispatch(&daemon, "save", seed_time());
        assert!(reply.ok, "{}", reply.text);
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(saved, dispatch(&daemon, "show config", seed_time()).text);
    }

    const TWO_TARGETS: &str = "server 1 { ipaddr 127.0.0.1 port 5300 targets 1,2 }\n\
        register server 1\nenable server 1\n\
        target 1 { ipaddr 127.0.0.2 }\ntarget 2 { ipaddr 127.0.0.3 }\n\
        register targets 1,2\nenable targets 1,2\n";

    fn two_targets() -> Daemon {
        let config = fulcrum_config::parse("t.conf", TWO_TARGETS).unwrap();
        daemon_with(config, std::path::Path::new("t.conf"))
    }

    #[test]
    fn statements_change_the_running_configuration() {
        let daemon = two_targets();
        let reply = dispatch(&daemon, "disable target 2", seed_time());
        assert_eq!(reply, Reply::ok(""));
        assert!(!daemon.config().targets[&2].enabled);
        let reply = dispatch(&daemon, "target 3 { ipaddr 127.0.0.4 }", seed_time());
        assert!(reply.ok, "{}", reply.text);
        assert!(dispatch(&daemon, "register target 3", seed_time()).ok);
        assert!(daemon.config().targets[&3].registered);
    }

    #[test]
    fn statements_accepted_and_ignored_are_named_in_a_warning() {
        let daemon = two_targets();
        let reply = dispatch(&daemon, "modules vrrp,arp", seed_time());
        assert_eq!(
            reply,
            Reply::ok(
                "WARNING: 1:1: modules is accepted and ignored: every part of Fulcrum is built in\n"
            )
        );
        assert_eq!(daemon.config().modules, ["vrrp", "arp"]);
    }

    #[test]
    fn show_config_loads_back_to_the_running_model() {
        let daemon = two_targets();
        assert!(dispatch(&daemon, "disable target 1", seed_time()).ok);
        let text = dispatch(&daemon, "show config", seed_time()).text;
        let reloaded = fulcrum_config::parse("shown.conf", &text).unwrap();
        assert_eq!(reloaded, *daemon.config());
    }

    #[test]
    fn statement_errors_name_the_control_source_and_change_nothing() {
        let daemon = two_targets();
        let before = daemon.config();
        let reply = dispatch(&daemon, "enable target 7", seed_time());
        assert!(!reply.ok);
        assert!(reply.text.starts_with("<control>:1:"), "{}", reply.text);
        assert!(reply.text.contains(": error: "), "{}", reply.text);
        assert_eq!(*daemon.config(), *before);
    }

    #[test]
    fn failed_save_reports_and_keeps_nothing_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = daemon_with(Config::default(), &dir.path().join("missing/f.conf"));
        let reply = dispatch(&daemon, "save", seed_time());
        assert!(!reply.ok);
        assert!(
            reply.text.starts_with("ERROR: save failed"),
            "{}",
            reply.text
        );
    }
}
