//! Fulcrum's Prometheus metrics, as a unit of its own: the daemon hands in a function that
//! returns a plain [`Snapshot`] of what it counts (servers, targets, drops by plane and reason,
//! health checks, sessions, VRRP, sync, DSR plane events, VIP announcement and sync join state,
//! build), [`render`] turns one snapshot
//! into the Prometheus text exposition (format 0.0.4, through `prometheus-client`'s collector
//! interface, the families built afresh per scrape), [`status`] into the status JSON that the
//! self-contained status page polls, and [`Listener`] serves `GET /metrics`, `/api/v1/status`
//! and the page at `/` over HTTP/1.1 on tokio, answering 404 to every other path, with a bounded
//! number of connections and a time limit on each. The snapshot function runs once per scrape on a blocking thread: the
//! data planes' counters are only read then, so metrics cost the per-packet path nothing. This
//! crate knows nothing of the daemon: names and meanings are documented in `docs/metrics.md`.

mod http;
mod render;
mod snapshot;
mod status;

pub use http::{Listener, SnapshotSource, CONNECTION_LIFETIME, HEADER_TIMEOUT, MAX_CONNECTIONS};
pub use render::{render, CONTENT_TYPE};
pub use snapshot::{
    AnnounceSample, AnnounceState, BuildInfo, CheckSample, DropSample, Histogram, JoinState,
    RateTableSample, ServerSample, Snapshot, SyncJoin, SyncSample, TargetSample, VrrpSample,
    VrrpState,
};
pub use status::{status, JSON_CONTENT_TYPE, PAGE};
