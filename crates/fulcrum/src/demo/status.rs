//! What the view shows of one node, read from its control socket: the JSON documents of `show
//! vrrp`, `show targets`, `show sessions all` and `show sync` (a command that got no answer or
//! no document leaves its part empty; the view shows what it could read).

use std::collections::BTreeMap;

use fulcrum_control::show::{SessionsDoc, SyncDoc, TargetsDoc, VrrpDoc};

/// One target as a node sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetRow {
    pub id: u32,
    pub addr: String,
    /// The health verdict (`op` column).
    pub up: bool,
    /// Frames forwarded to it (DSR).
    pub queries: u64,
    pub sessions: u64,
    /// (kind, state) of each check: `("agent", "up")`.
    pub checks: Vec<(String, String)>,
}

/// One node's state; the default is a node whose Fulcrum is not running.
#[derive(Debug, Clone, Default)]
pub struct NodeStatus {
    pub running: bool,
    /// `MASTER`, `BACKUP`, `INIT`.
    pub state: String,
    /// Whether it holds (answers for) the VIP now.
    pub holding: bool,
    /// The IPv6 instance's state and holding, in a dual-stack lab (empty otherwise).
    pub state6: String,
    pub holding6: bool,
    pub targets: Vec<TargetRow>,
    /// Client address -> target id, from `show sessions all`.
    pub sessions: BTreeMap<String, u32>,
    /// `show sync`'s role word (`master`, `backup`, `peer`) and resync state.
    pub sync_role: String,
    pub sync_state: String,
    /// Session entries sent (master) and applied (backup) by sync.
    pub sync_sent: u64,
    pub sync_applied: u64,
    /// Session events the data plane could not queue for sync.
    pub sync_lost: u64,
}

impl NodeStatus {
    /// The node's state from its JSON documents (`None`: that command got no answer).
    pub fn from_documents(
        vrrp: Option<VrrpDoc>,
        targets: Option<TargetsDoc>,
        sessions: Option<SessionsDoc>,
        sync: Option<SyncDoc>,
    ) -> NodeStatus {
        // Any answer at all: the daemon runs (its VRRP may not, yet).
        let running = vrrp.is_some();
        let vrrp6 = vrrp.as_ref().and_then(|doc| doc.ipv6.as_ref());
        let vrrp = vrrp.as_ref().and_then(|doc| doc.ipv4.as_ref());
        let sync = sync.and_then(|doc| doc.detail);
        NodeStatus {
            running,
            // The seed's spelling, as the text form prints it.
            state: vrrp
                .map(|v| v.state.to_ascii_uppercase())
                .unwrap_or_default(),
            holding: vrrp.is_some_and(|v| v.holding),
            state6: vrrp6
                .map(|v| v.state.to_ascii_uppercase())
                .unwrap_or_default(),
            holding6: vrrp6.is_some_and(|v| v.holding),
            targets: targets
                .map(|doc| doc.targets.iter().map(target_row).collect())
                .unwrap_or_default(),
            sessions: sessions
                .map(|doc| {
                    doc.sessions
                        .into_iter()
                        .map(|s| (s.client, s.target))
                        .collect()
                })
                .unwrap_or_default(),
            sync_role: sync.as_ref().map(|d| d.role.clone()).unwrap_or_default(),
            sync_state: sync
                .as_ref()
                .map(|d| d.resync.replace('-', " "))
                .unwrap_or_default(),
            sync_sent: sync.as_ref().map_or(0, |d| d.sent.entries),
            sync_applied: sync.as_ref().map_or(0, |d| d.received.applied),
            sync_lost: sync.as_ref().map_or(0, |d| d.events_lost),
        }
    }

    /// Sessions per target id.
    pub fn sessions_per_target(&self) -> BTreeMap<u32, usize> {
        let mut per = BTreeMap::new();
        for target in self.sessions.values() {
            *per.entry(*target).or_default() += 1;
        }
        per
    }
}

fn target_row(row: &fulcrum_control::show::TargetRow) -> TargetRow {
    TargetRow {
        id: row.id,
        addr: row.address.clone(),
        up: row.operational,
        queries: row.counters.queries,
        sessions: row.counters.sessions,
        checks: row
            .checks
            .iter()
            .map(|c| (c.kind.clone(), c.state.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_control::show::from_text;

    const VRRP: &str = r#"{"ipv4":{"state":"backup","vrid":7,"priority":200,
        "addresses":["10.235.210.1"],"version":2,"advert_interval_ms":1000,
        "master_advert_interval_ms":1000,"master":"10.235.210.45","interface":"eth1",
        "mode":"dsr","holding":false,"transitions":1,"last_transition_unix_s":5.0,
        "last_transition_age_s":1.0,"adverts_sent":0,"adverts_received":9,
        "adverts_outranked":0,"priority_zero_received":0,"inputs_ignored":0,"send_errors":0,
        "dropped":0,"dropped_by_reason":{},"peers":[],"auth":"none","adverts_new_sender":0,
        "adverts_not_a_peer":0,"adverts_address_mismatch":0},"ipv6":null}"#;
    const TARGETS: &str = r#"{"targets":[
        {"id":1,"address":"10.235.210.43","port":53,"protocol":"any","weight":1,"dsr":true,
         "registered":true,"enabled":true,"operational":true,"queries":17,"responses":0,
         "timeouts":0,"drops":0,"sessions":3,"checks":[
           {"check":"ping 5,12","kind":"ping","state":"up","state_age_s":9,"last_ok":true,
            "last_detail":"echo reply","last_age_s":1,"rtt_ms":0.1,"failures":0,
            "consecutive_failures":0,"agent_value":null},
           {"check":"agent 439,5,13","kind":"agent","state":"pending","state_age_s":2,
            "last_ok":null,"last_detail":null,"last_age_s":null,"rtt_ms":null,"failures":0,
            "consecutive_failures":0,"agent_value":null}]},
        {"id":2,"address":"10.235.210.44","port":53,"protocol":"any","weight":1,"dsr":true,
         "registered":true,"enabled":true,"operational":false,"queries":5,"responses":0,
         "timeouts":0,"drops":0,"sessions":1,"checks":[
           {"check":"tcpopen 53,5,12","kind":"tcpopen","state":"down","state_age_s":1,
            "last_ok":false,"last_detail":"connection refused","last_age_s":0,"rtt_ms":null,
            "failures":2,"consecutive_failures":2,"agent_value":null}]}]}"#;
    const SESSIONS: &str = r#"{"total":2,"sessions":[
        {"hash":5604999,"client":"10.99.1.1","port":null,"server":1,"target":1,"age_s":0,
         "timeout_s":600},
        {"hash":5604998,"client":"10.99.1.2","port":null,"server":1,"target":2,"age_s":1,
         "timeout_s":600}]}"#;
    const SYNC: &str = r#"{"state":"running","reason":null,"detail":{"transport":"kernel-udp",
        "local":"10.235.210.46","port":10439,"peer":"10.235.210.45","peer_source":"vrrp-master",
        "role":"backup","role_age_s":3.0,"authentication":"none","resync":"in-sync",
        "resync_sessions":null,"resync_age_s":null,"full_dump_sent":null,"full_dump_total":null,
        "sent":{"datagrams":0,"entries":0,"full_dumps":0,"errors":0,"requests_coalesced":0,
                "requests_deferred":0,"cookies":0},
        "received":{"datagrams":9,"applied":14,"gaps":0,"peer_restarts":0,"full_requests":0},
        "dropped":{"malformed":0,"authentication":0,"stale":0,"unexpected":0,"not_from_peer":0,
                   "out_of_window":0,"old_boot":0,"replayed":0,"unknown_boot":0,
                   "entries_unknown_server":0,"entries_unknown_target":0,
                   "entries_bad_timeout":0},
        "events_lost":3,"last_datagram_unix_s":null,"last_datagram_age_s":null}}"#;

    #[test]
    fn reads_state_targets_checks_sessions_and_sync() {
        let s = NodeStatus::from_documents(
            from_text(VRRP).ok(),
            from_text(TARGETS).ok(),
            from_text(SESSIONS).ok(),
            from_text(SYNC).ok(),
        );
        assert!(s.running);
        assert_eq!(s.state, "BACKUP");
        assert!(!s.holding);
        assert_eq!(s.targets.len(), 2);
        assert_eq!(
            s.targets[0],
            TargetRow {
                id: 1,
                addr: "10.235.210.43".into(),
                up: true,
                queries: 17,
                sessions: 3,
                checks: vec![
                    ("ping".into(), "up".into()),
                    ("agent".into(), "pending".into())
                ],
            }
        );
        assert!(!s.targets[1].up);
        assert_eq!(s.targets[1].checks, vec![("tcpopen".into(), "down".into())]);
        assert_eq!(s.sessions.get("10.99.1.2"), Some(&2));
        assert_eq!(s.sessions_per_target().get(&1), Some(&1));
        assert_eq!(s.sync_role, "backup");
        assert_eq!(s.sync_state, "in sync");
        assert_eq!((s.sync_sent, s.sync_applied, s.sync_lost), (0, 14, 3));
    }

    #[test]
    fn a_node_that_does_not_answer_is_not_running() {
        let s = NodeStatus::from_documents(None, None, None, None);
        assert!(!s.running);
        assert!(s.targets.is_empty() && s.sessions.is_empty());
    }
}
