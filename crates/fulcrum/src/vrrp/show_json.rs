//! `show vrrp` in the JSON format: the drivers' published [`Status`] of each instance as a
//! [`VrrpInstance`], under `ipv4` and `ipv6` (`null` where that instance does not run). The
//! text form ([`super::show`]) reads the same statuses.

use std::time::SystemTime;

use fulcrum_control::show::{VrrpDoc, VrrpInstance};
use fulcrum_core::vrrp::AdvertDrop;

use super::setup::Mode;
use super::show::Status;

/// The document of `show vrrp`, ages taken at `now`.
pub fn document(v4: Option<&Status>, v6: Option<&Status>, now: SystemTime) -> VrrpDoc {
    VrrpDoc {
        ipv4: v4.map(|s| instance(s, now)),
        ipv6: v6.map(|s| instance(s, now)),
    }
}

fn instance(s: &Status, now: SystemTime) -> VrrpInstance {
    let c = &s.counters;
    VrrpInstance {
        state: s.state.name().to_ascii_lowercase(),
        vrid: s.vrid,
        priority: s.priority,
        addresses: s.addresses.iter().map(ToString::to_string).collect(),
        version: s.version,
        advert_interval_ms: u32::from(s.advert_interval_cs) * 10,
        master_advert_interval_ms: u32::from(s.master_advert_interval_cs) * 10,
        master: s.master.map(|m| m.to_string()),
        interface: s.interface.clone(),
        mode: match s.mode {
            Mode::Dsr => "dsr",
            Mode::Proxy => "proxy",
        }
        .to_string(),
        holding: s.holds_vip,
        transitions: c.transitions,
        last_transition_unix_s: s.last_transition.map(|at| {
            at.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        }),
        last_transition_age_s: s
            .last_transition
            .map(|at| now.duration_since(at).unwrap_or_default().as_secs_f64()),
        adverts_sent: c.adverts_sent,
        adverts_received: c.adverts_received,
        adverts_outranked: c.adverts_outranked,
        priority_zero_received: c.priority_zero_received,
        inputs_ignored: c.inputs_ignored,
        send_errors: s.send_errors,
        dropped: s.drops.total(),
        dropped_by_reason: AdvertDrop::ALL
            .iter()
            .map(|&reason| (reason.name().to_string(), s.drops.get(reason)))
            .collect(),
        peers: s.peers.iter().map(ToString::to_string).collect(),
        auth: s.auth.to_string(),
        adverts_new_sender: s.senders.new_sender,
        adverts_not_a_peer: s.senders.not_a_peer,
        adverts_address_mismatch: s.senders.address_mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::show::IpFamily;
    use fulcrum_core::vrrp::group::DropCounters;
    use fulcrum_core::vrrp::{Counters, SenderCounters, State};
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    fn status() -> Status {
        let mut drops = DropCounters::default();
        drops.count(AdvertDrop::BadTtl);
        Status {
            family: IpFamily::V4,
            state: State::Master,
            vrid: 7,
            priority: 200,
            addresses: vec![Ipv4Addr::new(10, 235, 210, 1).into()],
            version: 2,
            advert_interval_cs: 100,
            master_advert_interval_cs: 100,
            master: Some(Ipv4Addr::new(10, 235, 210, 45).into()),
            interface: "eth1".into(),
            mode: Mode::Dsr,
            holds_vip: true,
            last_transition: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100)),
            counters: Counters {
                transitions: 2,
                adverts_sent: 30,
                ..Counters::default()
            },
            drops,
            send_errors: 0,
            peers: Vec::new(),
            auth: "pass",
            senders: SenderCounters::default(),
        }
    }

    #[test]
    fn the_document_has_typed_fields_per_family() {
        let v4 = status();
        let mut v6 = status();
        v6.family = IpFamily::V6;
        v6.state = State::Backup;
        v6.addresses = vec![Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into()];
        v6.master = None;
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(102_500);
        let text = fulcrum_control::show::to_text(&document(Some(&v4), Some(&v6), now));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let a = &json["ipv4"];
        assert_eq!(a["state"], "master");
        assert_eq!(a["vrid"], 7);
        assert_eq!(a["priority"], 200);
        assert_eq!(a["addresses"][0], "10.235.210.1");
        assert_eq!(a["advert_interval_ms"], 1000);
        assert_eq!(a["master"], "10.235.210.45");
        assert_eq!(a["mode"], "dsr");
        assert_eq!(a["holding"], true);
        assert_eq!(a["transitions"], 2);
        assert_eq!(a["adverts_sent"], 30);
        assert_eq!(a["last_transition_unix_s"], 100.0);
        assert_eq!(a["last_transition_age_s"], 2.5);
        assert_eq!(a["dropped"], 1);
        assert_eq!(a["dropped_by_reason"]["bad-ttl"], 1);
        assert_eq!(a["peers"], serde_json::json!([]));
        assert_eq!(a["auth"], "pass");
        let b = &json["ipv6"];
        assert_eq!(b["state"], "backup");
        assert_eq!(b["addresses"][0], "fd00::1");
        assert!(b["master"].is_null());
        // The reader's own types parse it back.
        let doc: VrrpDoc = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.ipv4.map(|i| i.vrid), Some(7));
        let none = fulcrum_control::show::to_text(&document(None, None, now));
        assert_eq!(none, "{\"ipv4\":null,\"ipv6\":null}\n");
    }
}
