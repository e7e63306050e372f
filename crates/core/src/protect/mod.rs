//! Protection of the service from its clients, decided before any balancing: access lists per
//! server ([`acl`]) and per-client query rate limits in a table of fixed memory ([`ratelimit`]).
//! What a server asks for is a [`Policy`] (`policy`). Both are pure: built from the configuration, fed the client address and the time, they say
//! admit or refuse; the data planes count the refusals and carry out the action (drop, or
//! answer truncated to push the client to TCP).

pub mod acl;
pub mod policy;
pub mod ratelimit;

pub use acl::{Acl, Action, Prefix, Rule};
pub use policy::{OverLimit, Policy, Rate};
pub use ratelimit::{Decision, Limit, RateCounters, RateTable};
