//! The DNS probe shared by the balancer's `dns` and `dsr-path` health checks and by
//! `fulcrum dns-check`: how a query is encoded, which datagram counts as its answer, and the
//! per-server SOA check.
//!
//! Contract: [`answer`] is pure (bytes in, verdict out, no panic whatever the bytes) and is all
//! a probe reads from the network; [`query`] (feature `net`, on by default) sends queries with
//! the retry and timeout rules of mon's `dns.monitor` and judges what comes back with
//! [`answer`]. The crate names no driver and no tool, so the health driver and the `dns-check`
//! tool both depend on it rather than on each other.

pub mod answer;
#[cfg(feature = "net")]
pub mod query;

pub use answer::{rcode_name, soa_verdict, type_name, CheckFailure, SoaInfo};
#[cfg(feature = "net")]
pub use query::{check_zone, query, Lookup, QueryOptions, DEFAULT_TCP_TIMEOUT};
