//! The JSON documents `show` commands answer when a request asks for [`Format::Json`]: one
//! typed struct per command, shared by the daemon that fills them and by readers (the demo, the
//! tests) that parse them back, so neither side spells a field name on its own.
//!
//! Contract: every document is one JSON object; counts are numbers, states and addresses are
//! strings, times are numbers whose unit ends the key (`_s`, `_ms`), absent values are `null`.
//! Field names are stable: a later version may add fields, never rename or retype one (readers
//! ignore fields they do not know). `docs/control.md` documents each field. `show stats` answers
//! the status document of `docs/metrics.md` and `show config` [`ConfigDoc`]; every command that
//! is not a `show` answers [`OkDoc`] or [`ErrorDoc`].
//!
//! [`Format::Json`]: crate::message::Format::Json

use serde::{Deserialize, Serialize};

/// The answer to a command that is not a `show` (and to `help`): `{"ok":true}`, with the text
/// the shell would print (warnings, what `save` or `reload` did) in `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OkDoc {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Any failed command: `{"error":"..."}`, the text mode's error without its trailing newline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDoc {
    pub error: String,
}

/// `show version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDoc {
    pub version: String,
    pub commit: String,
    pub protocol: u32,
    pub pid: u32,
}

/// `show license`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseDoc {
    /// Always false: Fulcrum is free software.
    pub licence_needed: bool,
    /// The `license` statement's serial, kept and never checked.
    pub serial: Option<String>,
}

/// `show config`: the configuration is text in the configuration language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDoc {
    pub config: String,
}

/// The counters `show servers` and `show targets` end their rows with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounters {
    pub queries: u64,
    pub responses: u64,
    pub timeouts: u64,
    /// Drops of every reason.
    pub drops: u64,
    /// Sessions held now.
    pub sessions: u64,
}

/// `show servers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServersDoc {
    pub servers: Vec<ServerRow>,
}

/// One server: configuration, state and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRow {
    pub id: u32,
    pub address: String,
    pub port: u16,
    /// `udp`, `tcp` or `any`.
    pub protocol: String,
    /// The balancing method's keyword (`session`, `rr`, `hash`...).
    pub method: String,
    pub targets: Vec<u32>,
    pub registered: bool,
    pub enabled: bool,
    pub operational: bool,
    #[serde(flatten)]
    pub counters: RowCounters,
}

/// `show targets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetsDoc {
    pub targets: Vec<TargetRow>,
}

/// One target: configuration, state, counters and its health checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRow {
    pub id: u32,
    pub address: String,
    /// `null`: the server's port.
    pub port: Option<u16>,
    pub protocol: String,
    pub weight: u32,
    pub dsr: bool,
    pub registered: bool,
    pub enabled: bool,
    /// Registered, enabled and passing its health checks.
    pub operational: bool,
    #[serde(flatten)]
    pub counters: RowCounters,
    pub checks: Vec<CheckRow>,
}

/// One health check of a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    /// The check as the configuration writes it (`ping 5,12`, `agent 439,5,13`).
    pub check: String,
    /// Its kind's keyword (`ping`, `tcpopen`, `agent`, `dns`...).
    pub kind: String,
    /// `pending`, `up` or `down`.
    pub state: String,
    /// Seconds since `state` last changed.
    pub state_age_s: u64,
    /// The last result: passed or not (`null` before the first).
    pub last_ok: Option<bool>,
    /// What the probe said (`connection refused`, `value 3`, `no reply`).
    pub last_detail: Option<String>,
    pub last_age_s: Option<u64>,
    /// The last successful probe's round trip.
    pub rtt_ms: Option<f64>,
    pub failures: u64,
    pub consecutive_failures: u64,
    /// The last agent value (agent checks only).
    pub agent_value: Option<u32>,
}

/// `show target N`: the target's row and the health checks' detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDoc {
    pub target: TargetRow,
    /// `proxyprotocol enable`: proxied queries start with a PROXY protocol v2 header.
    #[serde(default)]
    pub proxy_protocol: bool,
    pub alert: Option<String>,
    pub upalert: Option<String>,
    /// Whether the health checks probe it (false: not registered).
    pub probed: bool,
    /// ICMP messages the ping probes ignored, all targets together.
    pub foreign_icmp_ignored: u64,
    /// Alert scripts not run because their queue was full, all targets together.
    pub alert_scripts_not_run: u64,
    /// The DSR plane's path probes, all targets together (`null`: no DSR plane runs).
    pub dsr_path: Option<DsrPathDoc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsrPathDoc {
    pub sent: u64,
    pub answers: u64,
    /// Foreign or late answers ignored.
    pub ignored: u64,
}

/// `show networks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworksDoc {
    pub networks: Vec<NetworkRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRow {
    pub id: u32,
    pub name: Option<String>,
    pub address: Option<String>,
    pub mask: Option<String>,
    pub real: Option<String>,
    pub virt: Option<String>,
    /// An interface name, or its id as a string.
    pub interface: Option<String>,
    pub registered: bool,
    pub enabled: bool,
    pub operational: bool,
}

/// `show sessions [N|all]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsDoc {
    /// Every session of the table shown, listed or not.
    pub total: u64,
    /// Most recently active first.
    pub sessions: Vec<SessionRowDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRowDoc {
    /// The seed's `hash` column.
    pub hash: u32,
    pub client: String,
    /// `null`: every port of the client (`any`).
    pub port: Option<u16>,
    pub server: u32,
    pub target: u32,
    /// Seconds since the client was last seen.
    pub age_s: u32,
    /// Idle seconds after which the session expires.
    pub timeout_s: u32,
}

/// `show vrrp`: one block per address family, `null` where that instance does not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpDoc {
    pub ipv4: Option<VrrpInstance>,
    pub ipv6: Option<VrrpInstance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpInstance {
    /// `init`, `backup`, `master` or `fault`.
    pub state: String,
    pub vrid: u8,
    pub priority: u8,
    pub addresses: Vec<String>,
    pub version: u8,
    pub advert_interval_ms: u32,
    /// The master's interval as this node uses it.
    pub master_advert_interval_ms: u32,
    pub master: Option<String>,
    pub interface: String,
    /// `dsr` or `proxy`.
    pub mode: String,
    /// Whether this node holds the virtual addresses now.
    pub holding: bool,
    pub transitions: u64,
    pub last_transition_unix_s: Option<f64>,
    pub last_transition_age_s: Option<f64>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub adverts_outranked: u64,
    pub priority_zero_received: u64,
    pub inputs_ignored: u64,
    pub send_errors: u64,
    /// Received packets dropped, all reasons.
    pub dropped: u64,
    /// Drops by reason (every reason, zero included).
    pub dropped_by_reason: std::collections::BTreeMap<String, u64>,
    /// Unicast peers; empty: multicast.
    pub peers: Vec<String>,
    /// `none`, `pass` or `other` (never the password).
    pub auth: String,
    pub adverts_new_sender: u64,
    pub adverts_not_a_peer: u64,
    pub adverts_address_mismatch: u64,
}

/// `show sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncDoc {
    /// `running` (a peer is known), `waiting` (no peer yet) or `off`.
    pub state: String,
    /// Why sync is off or waiting; `null` while running.
    pub reason: Option<String>,
    /// `null` while off.
    pub detail: Option<SyncDetail>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncDetail {
    pub transport: String,
    pub local: String,
    pub port: u16,
    pub peer: Option<String>,
    /// Where the peer's address came from: `syncpeer`, `vrrp-master` or `full-request`.
    pub peer_source: Option<String>,
    /// `master`, `backup` or `peer`.
    pub role: String,
    pub role_age_s: f64,
    /// `hmac-sha256` or `none`.
    pub authentication: String,
    /// `not-receiving` (master), `wanted`, `requested`, `receiving` or `in-sync`.
    pub resync: String,
    /// Sessions received so far while `receiving`.
    pub resync_sessions: Option<u64>,
    pub resync_age_s: Option<f64>,
    /// (sent, total) of a full table being sent.
    pub full_dump_sent: Option<u64>,
    pub full_dump_total: Option<u64>,
    pub sent: SyncSent,
    pub received: SyncReceived,
    pub dropped: SyncDropped,
    pub events_lost: u64,
    pub last_datagram_unix_s: Option<f64>,
    pub last_datagram_age_s: Option<f64>,
    /// Whether the node has the others' sessions (announcing waits for it): `alone` (no peer to
    /// wait for), `synced` (a peer's full table arrived: `joined_from`), `nobody-answered`
    /// (first node up) or `waiting`.
    #[serde(default)]
    pub joined: String,
    #[serde(default)]
    pub joined_from: Option<String>,
    /// Each configured peer with its own resync state and counters (several `syncpeer`s).
    #[serde(default)]
    pub peers: Vec<SyncPeer>,
}

/// One peer of `show sync`'s `peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncPeer {
    pub peer: Option<String>,
    /// `wanted`, `requested`, `receiving` or `in-sync`.
    pub resync: String,
    pub sent_datagrams: u64,
    pub received_datagrams: u64,
    pub applied: u64,
    pub last_datagram_age_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSent {
    pub datagrams: u64,
    pub entries: u64,
    pub full_dumps: u64,
    pub errors: u64,
    pub requests_coalesced: u64,
    pub requests_deferred: u64,
    pub cookies: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReceived {
    pub datagrams: u64,
    pub applied: u64,
    pub gaps: u64,
    pub peer_restarts: u64,
    pub full_requests: u64,
}

/// Datagrams and entries the receiver dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDropped {
    pub malformed: u64,
    pub authentication: u64,
    pub stale: u64,
    pub unexpected: u64,
    pub not_from_peer: u64,
    pub out_of_window: u64,
    pub old_boot: u64,
    pub replayed: u64,
    pub unknown_boot: u64,
    pub entries_unknown_server: u64,
    pub entries_unknown_target: u64,
    pub entries_bad_timeout: u64,
}

/// `show announce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceDoc {
    /// Whether the configuration has an `announce` block.
    pub configured: bool,
    pub interface: Option<String>,
    /// Whether that interface exists now.
    pub interface_present: bool,
    pub servers: Vec<AnnounceRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceRow {
    pub server: u32,
    pub vip: Option<String>,
    /// `announced`, `pending` (servable, not yet held) or `withdrawn`.
    pub state: String,
    /// Why it is withdrawn (`no target up`, `server disabled`, ...).
    pub reason: Option<String>,
    pub targets_up: u64,
}

/// `show tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpDoc {
    pub open: u64,
    pub clients: u64,
    /// Open connections at most: the smaller of the two below.
    pub cap: u64,
    pub tcpmaxconn: u64,
    pub descriptor_budget: u64,
    pub per_client_cap: u64,
    pub idle_timeout_s: u64,
    pub write_timeout_s: u64,
    pub lifetime_s: u64,
    pub descriptors_soft: u64,
    pub descriptors_hard: u64,
    pub descriptors_reserved: u64,
    pub accepted: u64,
    pub refused_cap: u64,
    pub refused_client_cap: u64,
    pub closed_idle: u64,
    pub closed_write_timeout: u64,
    pub closed_lifetime: u64,
}

/// A response's text read back as a document (the readers' side of [`to_text`]).
pub fn from_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("{e} in {text:?}"))
}

/// One document as the JSON text a response carries (with a final newline, like every answer).
pub fn to_text<T: Serialize>(document: &T) -> String {
    // Structs of numbers, strings, options and maps with string keys always serialize.
    let mut text = serde_json::to_string(document)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialize the answer: {e}\"}}"));
    text.push('\n');
    text
}
