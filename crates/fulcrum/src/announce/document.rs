//! `show announce` in the JSON format: the same decisions and held addresses as the text form
//! ([`super::show`]), one [`AnnounceRow`] per announced server.

use std::net::IpAddr;

use fulcrum_control::show::{AnnounceDoc, AnnounceRow};
use fulcrum_core::announce::Decision;
use fulcrum_core::model::Config;

/// The document of `show announce`; `held(vip)`: the VIP is on the interface now.
pub fn document(
    config: &Config,
    decisions: &[Decision],
    held: impl Fn(IpAddr) -> bool,
    interface_present: bool,
) -> AnnounceDoc {
    let Some(announce) = &config.announce else {
        return AnnounceDoc {
            configured: false,
            interface: None,
            interface_present: false,
            servers: Vec::new(),
        };
    };
    let servers = decisions
        .iter()
        .map(|d| {
            let (state, reason) = match d.verdict {
                Ok(()) if d.vip.is_some_and(&held) => ("announced", None),
                Ok(()) => ("pending", None),
                Err(why) => ("withdrawn", Some(why.to_string())),
            };
            AnnounceRow {
                server: d.server,
                vip: d.vip.map(|v| v.to_string()),
                state: state.to_string(),
                reason,
                targets_up: d.targets_up as u64,
            }
        })
        .collect();
    AnnounceDoc {
        configured: true,
        interface: Some(announce.interface.clone()),
        interface_present,
        servers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_core::announce::Withheld;
    use fulcrum_core::model::Announce;

    #[test]
    fn each_server_has_its_state_and_reason() {
        let config = Config {
            announce: Some(Announce {
                interface: "fulcrum-vip".into(),
                servers: vec![1, 2, 3],
            }),
            ..Config::default()
        };
        let vip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let decisions = [
            Decision {
                server: 1,
                vip: vip("10.235.210.1"),
                targets_up: 2,
                verdict: Ok(()),
            },
            Decision {
                server: 2,
                vip: vip("fd00:235::1"),
                targets_up: 0,
                verdict: Err(Withheld::NoTargetUp),
            },
            Decision {
                server: 3,
                vip: vip("10.235.210.3"),
                targets_up: 1,
                verdict: Ok(()),
            },
        ];
        let held = |a: IpAddr| a == "10.235.210.1".parse::<IpAddr>().unwrap();
        let text = fulcrum_control::show::to_text(&document(&config, &decisions, held, true));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["configured"], true);
        assert_eq!(json["interface"], "fulcrum-vip");
        assert_eq!(json["interface_present"], true);
        let s = &json["servers"];
        assert_eq!(s[0]["state"], "announced");
        assert_eq!(s[0]["vip"], "10.235.210.1");
        assert_eq!(s[0]["targets_up"], 2);
        assert_eq!(s[1]["state"], "withdrawn");
        assert_eq!(s[1]["reason"], "no target up");
        assert_eq!(s[2]["state"], "pending");
        let off = document(&Config::default(), &[], |_| false, false);
        assert!(!off.configured && off.servers.is_empty());
    }
}
