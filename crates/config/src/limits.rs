//! The ranges a configuration value may take. The value parsers ([`crate::values`]) and the
//! statement parser ([`crate::parser`]) both check against them; they live apart from either so
//! that neither parser module depends on the other for a number.

/// Ids of networks, servers, targets and interfaces run from 1 to this.
pub const MAX_ID: u64 = 65_535;
/// Intervals, timeouts and session timeouts are at most a year of seconds.
pub const MAX_SECONDS: u64 = 31_536_000;
pub const MAX_SESSIONS: u64 = 1_000_000_000;
pub const MAX_TCP_CONNECTIONS: u64 = 1_000_000;
pub const MAX_WEIGHT: u64 = 65_535;
/// The longest advertisement interval any VRRP version allows (v2: 255 s).
pub const MAX_ADVERT_MS: u64 = 255_000;
