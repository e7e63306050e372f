//! What the view shows of one node, read from its control socket: `show vrrp`, `show targets`,
//! `show sessions all` and `show sync`, parsed leniently (a line that does not parse is left
//! out; the view shows what it could read).

use std::collections::BTreeMap;

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
    pub fn parse(vrrp: &str, targets: &str, sessions: &str, sync: &str) -> NodeStatus {
        let field = |text: &str, key: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|rest| rest.trim().to_string())
                .unwrap_or_default()
        };
        let number_after = |line: &str, word: &str| -> u64 {
            let mut cells = line.split_whitespace();
            cells
                .position(|c| c == word)
                .and_then(|_| cells.next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let sent = field(sync, "sent ");
        let received = field(sync, "received ");
        NodeStatus {
            running: !vrrp.is_empty(),
            state: field(vrrp, "state "),
            holding: field(vrrp, "holding ") == "yes",
            targets: parse_targets(targets),
            sessions: parse_sessions(sessions),
            sync_role: field(sync, "role ")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
            sync_state: field(sync, "resync "),
            sync_sent: number_after(&sent, "entries"),
            sync_applied: number_after(&received, "applied"),
            sync_lost: field(sync, "events-lost ").parse().unwrap_or(0),
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

/// Rows of `show targets`: `id ip port proto weight dsr reg ena op queries responses timeouts
/// drops sessions`, each followed by its indented check lines (`agent 439,5,13 up for 35 s; ...`).
fn parse_targets(text: &str) -> Vec<TargetRow> {
    let mut rows: Vec<TargetRow> = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("    ") {
            if let (Some(row), [kind, _, state, ..]) = (rows.last_mut(), cells.as_slice()) {
                row.checks.push((kind.to_string(), state.to_string()));
            }
            continue;
        }
        let [id, addr, _port, _proto, _weight, _dsr, _reg, _ena, op, queries, _responses, _timeouts, _drops, sessions] =
            cells.as_slice()
        else {
            continue;
        };
        let Ok(id) = id.parse() else { continue };
        rows.push(TargetRow {
            id,
            addr: addr.to_string(),
            up: *op == "yes",
            queries: queries.parse().unwrap_or(0),
            sessions: sessions.parse().unwrap_or(0),
            checks: Vec::new(),
        });
    }
    rows
}

/// Rows of `show sessions all`: `hash ip-address port srv tgt age stout`.
fn parse_sessions(text: &str) -> BTreeMap<String, u32> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let [hash, addr, _port, _srv, tgt, _age, _stout] = cells.as_slice() else {
                return None;
            };
            hash.parse::<u64>().ok()?;
            Some((addr.to_string(), tgt.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VRRP: &str = "state BACKUP\nvrid 7\npriority 200\nipaddr0 10.235.210.1\nversion 2\n\
                        master 10.235.210.45\ninterface eth1 (dsr)\nholding no\n";
    const TARGETS: &str = "\
2 targets
tgt ip-address      port  proto weight dsr reg ena op    queries responses timeouts  drops sessions
--- --------------- ----- ----- ------ --- --- --- --- --------- --------- -------- ------ --------
1   10.235.210.43   53    any        1 yes yes yes yes        17         0        0      0        3
    ping 5,12 up for 9 s; last ok (echo reply) 1 s ago, rtt 0.1 ms; 0 failures (0 in a row)
    agent 439,5,13 pending for 2 s; never probed
2   10.235.210.44   53    any        1 yes yes yes no          5         0        0      0        1
    tcpopen 53,5,12 down for 1 s; last failed (connection refused) 0 s ago; 2 failures (2 in a row)
";
    const SESSIONS: &str = "\
2 sessions
hash ip-address port srv tgt age stout
-------- --------------- ----- --- --- ---- -------
5604999  10.99.1.1       any   1   1   0    600
5604998  10.99.1.2       any   1   2   1    600
";
    const SYNC: &str =
        "peer 10.235.210.45:10439 (from the vrrp master)\nlocal 10.235.210.46:10439\n\
                        role backup (receives)\nauthentication none\nresync in sync\n\
                        full-dump idle\nsent datagrams 0 entries 0 full-dumps 0 errors 0\n\
                        received datagrams 9 applied 14 gaps 0 peer-restarts 0 full-requests 0\n\
                        events-lost 3\n";

    #[test]
    fn reads_state_targets_checks_sessions_and_sync() {
        let s = NodeStatus::parse(VRRP, TARGETS, SESSIONS, SYNC);
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
        let s = NodeStatus::parse("", "", "", "");
        assert!(!s.running);
        assert!(s.targets.is_empty() && s.sessions.is_empty());
    }
}
