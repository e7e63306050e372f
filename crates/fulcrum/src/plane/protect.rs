//! The servers' protection on the data planes' receive path: each server's access list and
//! client rate limits, checked for every query before anything else is done with it.
//!
//! Contract: a plane keeps one [`Guards`] in its control state and calls [`Guards::refresh`]
//! with every configuration it rebuilds from and the servers it serves (a server another plane
//! serves costs it no table); its snapshot then carries, per protected server,
//! an `Arc<`[`ServerGuard`]`>` (none for a server without `allow`/`deny`/`ratelimit`/
//! `anylimit`/`bytelimit`, whose queries pay nothing). [`ServerGuard::check`] decides one
//! query: the access list first (a denied client is dropped, never answered), then `ratelimit`,
//! then, for a query of type ANY, `anylimit`, then the `bytelimit` budget of response bytes
//! (proxy only: [`ServerGuard::charge_answer`] charges each answer); a refusal names its
//! [`DropReason`] (`acl`, `ratelimit`, `any-limit`, `byte-limit`), which the plane counts in the
//! server's drop counters, and the server's
//! [`OverLimit`] action, which the proxy carries out over UDP ([`truncated_answer`]) and the
//! DSR plane, which builds no answers, treats as a drop.
//!
//! The hot path: an ACL decision is a scan of the server's few rules; a rate decision is one
//! SipHash of the client prefix and a compare-and-swap on one bucket of a table shared by the
//! plane's workers (`fulcrum_core::protect::ratelimit` says why shared atomics rather than
//! per-worker tables). No lock, no allocation per query. Tables live across rebuilds (a health
//! change or an unrelated edit keeps every client's bucket); a changed limit takes effect at
//! each bucket's next query, a changed grouping or `set ratetable` starts the table afresh.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_core::model::Config;
use fulcrum_core::protect::{Acl, Decision, OverLimit, Rate, RateTable};
use fulcrum_core::stats::DropReason;
use fulcrum_wire::dns;

/// QTYPE ANY (RFC 1035 3.2.3; RFC 8482 lets a server answer it minimally).
const QTYPE_ANY: [u8; 2] = [0, 255];

/// Which of a server's limits a table serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// `ratelimit`: every query.
    Rate,
    /// `anylimit`: queries of type ANY.
    Any,
    /// `bytelimit`: response bytes (the proxy only).
    Bytes,
}

impl LimitKind {
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Rate => "ratelimit",
            LimitKind::Any => "anylimit",
            LimitKind::Bytes => "bytelimit",
        }
    }
}

/// What [`ServerGuard::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// Refused for `reason`; `action` is what the configuration asks for (an ACL refusal is
    /// always [`OverLimit::Drop`]).
    Refuse {
        reason: DropReason,
        action: OverLimit,
    },
}

/// One server's checks, as a snapshot carries them.
#[derive(Debug)]
pub struct ServerGuard {
    acl: Acl,
    rate: Option<Arc<RateTable>>,
    any: Option<Arc<RateTable>>,
    bytes: Option<Arc<RateTable>>,
    over_limit: OverLimit,
}

impl ServerGuard {
    /// Whether the access list admits `client` (a TCP connection at accept, a segment that
    /// opens nothing new).
    pub fn admits(&self, client: IpAddr) -> bool {
        self.acl.admits(client)
    }

    /// One query from `client` at `now_ms` (any monotonic origin): the access list, then
    /// `ratelimit`, then `anylimit` if `message` (the DNS message, when the plane has it) asks
    /// for ANY, then whether the `bytelimit` budget is spent. A query refused by one limit
    /// takes no token from the next.
    pub fn check(&self, client: IpAddr, message: Option<&[u8]>, now_ms: u64) -> Verdict {
        if !self.acl.admits(client) {
            return Verdict::Refuse {
                reason: DropReason::Acl,
                action: OverLimit::Drop,
            };
        }
        if let Some(table) = &self.rate {
            if table.check(client, now_ms) == Decision::Exceeded {
                return self.over(DropReason::RateLimit);
            }
        }
        if let (Some(table), Some(message)) = (&self.any, message) {
            if asks_for_any(message) && table.check(client, now_ms) == Decision::Exceeded {
                return self.over(DropReason::AnyLimit);
            }
        }
        if let Some(table) = &self.bytes {
            if table.within_budget(client, now_ms) == Decision::Exceeded {
                return self.over(DropReason::ByteLimit);
            }
        }
        Verdict::Admit
    }

    /// An answer of `bytes` to `client` leaves at `now_ms`: charged to its `bytelimit` budget.
    pub fn charge_answer(&self, client: IpAddr, bytes: usize, now_ms: u64) {
        if let Some(table) = &self.bytes {
            table.charge(client, u32::try_from(bytes).unwrap_or(u32::MAX), now_ms);
        }
    }

    fn over(&self, reason: DropReason) -> Verdict {
        Verdict::Refuse {
            reason,
            action: self.over_limit,
        }
    }
}

/// Whether a DNS query's (single) question is of type ANY; false for anything malformed.
pub fn asks_for_any(message: &[u8]) -> bool {
    dns::question_end(message)
        .ok()
        .and_then(|end| message.get(end.checked_sub(4)?..end.checked_sub(2)?))
        .is_some_and(|qtype| qtype == QTYPE_ANY)
}

/// Writes into `out` the answer that sends a client over its limit to TCP: its query's header
/// and question with QR and TC set, RD kept, everything else cleared, no records (RFC 1035
/// 4.1.1; RFC 7766 says a client retries a truncated answer over TCP). `None` for anything
/// that is not a well-formed standard query, or too long for `out`: those are only dropped.
pub fn truncated_answer(query: &[u8], out: &mut [u8]) -> Option<usize> {
    let info = dns::classify_query(query).ok()?;
    let header = query.get(..dns::HEADER_LEN)?;
    if (header[2] >> 3) & 0xf != 0 {
        return None;
    }
    let answer = out.get_mut(..info.question_end)?;
    answer.copy_from_slice(query.get(..info.question_end)?);
    // QR, opcode QUERY, AA clear, TC, RD as asked; RA, Z, AD, CD, RCODE clear.
    answer[2] = 0x80 | 0x02 | (header[2] & 0x01);
    answer[3] = 0;
    answer[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    Some(info.question_end)
}

/// What `show stats` and the metrics say of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUsage {
    pub server: u32,
    pub kind: LimitKind,
    /// Client prefixes with a bucket now.
    pub entries: usize,
    pub capacity: usize,
    pub memory_bytes: usize,
    /// Buckets that went to a new prefix by replacing another's.
    pub replaced: u64,
}

/// A plane's guards by server id, and the tables behind them.
#[derive(Debug)]
pub struct Guards {
    guards: HashMap<u32, Arc<ServerGuard>>,
    tables: HashMap<(u32, LimitKind), Arc<RateTable>>,
    started: Instant,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            guards: HashMap::new(),
            tables: HashMap::new(),
            started: Instant::now(),
        }
    }
}

impl Guards {
    /// The origin of the tables' clock for a plane without one of its own (DSR): the tables
    /// outlive every snapshot, so their times must count from one instant.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Brings the guards of `servers` (the ids the plane serves) in line with `config`: tables
    /// of servers that keep a limit (and of an unchanged size) are kept, the others built or
    /// dropped. `sees_answers`: the plane relays answers (the proxy), so `bytelimit` applies.
    pub fn refresh(
        &mut self,
        config: &Config,
        servers: impl IntoIterator<Item = u32>,
        sees_answers: bool,
    ) {
        let buckets = config.settings.rate_table as usize;
        let mut tables = HashMap::new();
        let mut guards = HashMap::new();
        for server in servers.into_iter().filter_map(|id| config.servers.get(&id)) {
            let policy = &server.protection;
            if !policy.is_active() {
                continue;
            }
            let mut table = |kind: LimitKind, rate: Option<Rate>| {
                let limit = policy.limit(rate?);
                let table = match self.tables.remove(&(server.id, kind)) {
                    Some(kept) if kept.memory_bytes() == RateTable::memory_for(buckets) => {
                        kept.set_limit(limit);
                        kept
                    }
                    _ => Arc::new(RateTable::new(
                        buckets,
                        limit,
                        (
                            super::sessions::random_seed(),
                            super::sessions::random_seed(),
                        ),
                    )),
                };
                tables.insert((server.id, kind), table.clone());
                Some(table)
            };
            let guard = ServerGuard {
                acl: Acl::new(&policy.acl),
                rate: table(LimitKind::Rate, policy.ratelimit),
                any: table(LimitKind::Any, policy.anylimit),
                bytes: table(LimitKind::Bytes, policy.bytelimit.filter(|_| sees_answers)),
                over_limit: policy.over_limit,
            };
            guards.insert(server.id, Arc::new(guard));
        }
        self.tables = tables;
        self.guards = guards;
    }

    /// The guard of `server`, if it has any check.
    pub fn get(&self, server: u32) -> Option<Arc<ServerGuard>> {
        self.guards.get(&server).cloned()
    }

    /// Every table's use, by server and kind.
    pub fn usage(&self) -> Vec<TableUsage> {
        let mut usage: Vec<TableUsage> = self
            .tables
            .iter()
            .map(|(&(server, kind), table)| TableUsage {
                server,
                kind,
                entries: table.len(),
                capacity: table.capacity(),
                memory_bytes: table.memory_bytes(),
                replaced: table.counters().replaced,
            })
            .collect();
        usage.sort_by_key(|u| (u.server, u.kind as u8));
        usage
    }
}

#[cfg(test)]
mod tests;
