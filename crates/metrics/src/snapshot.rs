//! The plain values a scrape is rendered from. The daemon fills a [`Snapshot`] from its planes
//! and drivers when `/metrics` is asked for; nothing here holds a reference into the daemon.

use std::time::Duration;

/// Everything one scrape shows. Counters are totals since the daemon started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub build: BuildInfo,
    pub servers: Vec<ServerSample>,
    pub targets: Vec<TargetSample>,
    /// Drops by plane (`proxy`, `dsr`, `vrrp`, `sync`) and reason; a pair given twice is summed.
    pub drops: Vec<DropSample>,
    /// Sessions created and expired in the session tables of both planes.
    pub sessions_created: u64,
    pub sessions_expired: u64,
    /// `None` while no VRRP driver runs (the IPv4 instance, label `family="ipv4"`).
    pub vrrp: Option<VrrpSample>,
    /// The IPv6 instance of the same block (label `family="ipv6"`); `None` while it does not run.
    pub vrrp6: Option<VrrpSample>,
    /// `None` while no sync driver runs.
    pub sync: Option<SyncSample>,
    /// The DSR plane's frame events by name (empty while no DSR plane runs).
    pub dsr_frames: Vec<(String, u64)>,
    /// The rate-limit tables of each plane (empty while no server has a limit).
    pub rate_tables: Vec<RateTableSample>,
    /// Each announced server's verdict, as `show announce` gives it; `None` without an
    /// `announce` block.
    pub announce: Option<Vec<AnnounceSample>>,
    /// Whether a node that waits for its sync peers' session table before announcing has it;
    /// `None` where nothing is waited for (no `syncpeer`, or a `vrrp` block).
    pub sync_join: Option<SyncJoin>,
}

/// One announced server (active-active nodes): what the node tells its routing daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceSample {
    pub server: u32,
    /// The server's VIP (`None` when the `announce` block names a server the configuration
    /// lacks).
    pub vip: Option<String>,
    pub state: AnnounceState,
    /// Why it is withdrawn, in `show announce`'s words (`no target up`, ...).
    pub reason: Option<String>,
    /// Enabled targets of the server that are operational.
    pub targets_up: u64,
}

/// Where a server's VIP stands with the routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceState {
    /// Held on the announce interface: the routing daemon exports it.
    Announced,
    /// Servable, but not on the interface yet (the settle time, or the kernel refused it).
    Pending,
    /// Not announced, for the sample's reason.
    Withdrawn,
}

impl AnnounceState {
    pub const ALL: [AnnounceState; 3] = [
        AnnounceState::Announced,
        AnnounceState::Pending,
        AnnounceState::Withdrawn,
    ];

    /// The state's name as `show announce` and the metrics' `state` label give it.
    pub fn name(self) -> &'static str {
        match self {
            AnnounceState::Announced => "announced",
            AnnounceState::Pending => "pending",
            AnnounceState::Withdrawn => "withdrawn",
        }
    }

    /// The state of `show announce`'s JSON `state` word.
    pub fn from_name(name: &str) -> Option<AnnounceState> {
        AnnounceState::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A node's join state: whether it holds a sync peer's full session table (announcing waits
/// for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncJoin {
    pub state: JoinState,
    /// The peer whose full table arrived (`Synced`).
    pub from: Option<String>,
}

/// The join states, named as `show sync`'s JSON `joined` field names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinState {
    /// No peer to wait for.
    Alone,
    /// A peer's full table arrived.
    Synced,
    /// No peer answered in time: the first node up.
    NobodyAnswered,
    /// Still waiting (also while the sync driver cannot run): every VIP is withheld.
    Waiting,
}

impl JoinState {
    pub const ALL: [JoinState; 4] = [
        JoinState::Alone,
        JoinState::Synced,
        JoinState::NobodyAnswered,
        JoinState::Waiting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JoinState::Alone => "alone",
            JoinState::Synced => "synced",
            JoinState::NobodyAnswered => "nobody-answered",
            JoinState::Waiting => "waiting",
        }
    }

    /// The node may announce.
    pub fn joined(self) -> bool {
        self != JoinState::Waiting
    }
}

/// One rate-limit table: a server's `ratelimit` or `anylimit` on one plane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateTableSample {
    pub plane: &'static str,
    pub server: u32,
    /// `ratelimit` or `anylimit`.
    pub limit: &'static str,
    /// Client prefixes holding a bucket now.
    pub entries: u64,
    pub capacity: u64,
    /// Fixed at the table's creation.
    pub memory_bytes: u64,
    /// Buckets given to a new prefix by replacing another's.
    pub replaced: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSample {
    pub server: u32,
    pub queries: u64,
    /// Sessions held now.
    pub sessions: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetSample {
    pub target: u32,
    pub queries: u64,
    pub responses: u64,
    pub timeouts: u64,
    /// Query bytes sent to the target.
    pub bytes_sent: u64,
    /// Response bytes received from it.
    pub bytes_received: u64,
    /// Sticky sessions pointing at it now.
    pub sessions: u64,
    /// Registered, enabled and passing its health checks.
    pub up: bool,
    pub checks: Vec<CheckSample>,
    /// Time from forwarding a query to its answer, where the plane measures it.
    pub response_time: Option<Histogram>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckSample {
    /// The check's name as `show targets` prints it (`ping`, `dns`, `agent`...).
    pub check: String,
    pub up: bool,
    /// The last successful probe's round trip, if any.
    pub last_rtt: Option<Duration>,
}

/// A histogram: `buckets` are (upper bound in seconds, observations above the previous bound and
/// at or below this one), in increasing order, without the `+Inf` bucket (`count` holds every
/// observation, so those beyond the last bound are `count` minus the buckets' sum).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropSample {
    pub plane: &'static str,
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpState {
    Initialize,
    Backup,
    Master,
    Fault,
}

impl VrrpState {
    /// The state's name as the status JSON carries it.
    pub fn name(self) -> &'static str {
        match self {
            VrrpState::Initialize => "initialize",
            VrrpState::Backup => "backup",
            VrrpState::Master => "master",
            VrrpState::Fault => "fault",
        }
    }

    /// The gauge's value: 0 init, 1 backup, 2 master, 3 fault (link down).
    pub fn value(self) -> i64 {
        match self {
            VrrpState::Initialize => 0,
            VrrpState::Backup => 1,
            VrrpState::Master => 2,
            VrrpState::Fault => 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpSample {
    pub vrid: u8,
    pub state: VrrpState,
    /// The current master's address as this node knows it (`None` before the first advert).
    pub master: Option<String>,
    pub transitions: u64,
    pub adverts_sent: u64,
    pub adverts_received: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSample {
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    /// Session events from the peer applied to this node's tables.
    pub events_applied: u64,
    /// A backup holds the peer's whole table and has missed nothing since.
    pub in_sync: bool,
    /// Full-table transfers: dumps sent as master plus full tables asked for as backup.
    pub full_resyncs: u64,
}
