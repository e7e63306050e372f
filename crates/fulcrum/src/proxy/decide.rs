//! The proxy's per-query decisions, apart from its sockets: what to do with one datagram from
//! a client ([`on_query`]), one datagram from a target ([`on_answer`]), one TCP connection
//! ([`on_connection`]) and one TCP message ([`check_query`]). The UDP worker and the TCP
//! runtime only carry the verdicts out (send, count, close, and record an answer's response
//! time in the target's histogram).
//!
//! Contract: pure apart from the state passed in and updated: the session table (through the
//! core's stick-or-pick rule, at the `now` the caller read), the worker's [`Pick`], its
//! upstream socket pools' draw (which socket a query leaves from, [`Upstreams::draw`]) and its
//! tables of outstanding queries (an ID is allocated per forwarded query, stamped with the
//! caller's time in microseconds and the socket it leaves from, and taken back by the answer
//! only when it arrives on that socket, [`Outstanding::answer`]; the response time is the
//! caller's time then minus the stamp). No clock, no socket, no allocation; every malformed or unwanted datagram is a
//! [`DropReason`], never a panic.

use std::net::{IpAddr, SocketAddr};

use fulcrum_core::balance::Pick;
use fulcrum_core::stats::DropReason;
use fulcrum_wire::dns;

use super::outstanding::{Outstanding, Pending, Refused};
use super::snapshot::{ServerEntry, Transport};
use crate::plane::sessions::Sessions;

/// Maps the header view's verdict to the counter it is dropped under.
pub fn query_drop_reason(error: dns::Error) -> DropReason {
    match error {
        dns::Error::Truncated => DropReason::Runt,
        dns::Error::WrongDirection => DropReason::NotQuery,
        dns::Error::BadCounts => DropReason::BadCounts,
        dns::Error::BadQuestion | dns::Error::BadOpcode => DropReason::Malformed,
    }
}

/// A message from a client is a query the targets take, or the reason it is dropped.
pub fn check_query(message: &[u8]) -> Result<dns::QueryInfo, DropReason> {
    dns::classify_query(message).map_err(query_drop_reason)
}

/// One datagram as a listener received it.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    pub data: &'a [u8],
    /// The sender (`None`: the kernel gave none).
    pub source: Option<SocketAddr>,
    /// The address it was sent to (wildcard listeners with packet info only).
    pub local: Option<IpAddr>,
    /// Longer than the receive buffer: cut by the kernel.
    pub truncated: bool,
}

/// The clock of one batch: microseconds for the outstanding queries (their timeout and the
/// response-time histogram), seconds for sessions; both counted from the worker's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub us: u64,
    pub secs: u32,
}

impl Now {
    /// The batch's clock from its one read, in microseconds since the worker's start (the
    /// session table counts whole seconds from the same start).
    pub fn from_micros(us: u64) -> Now {
        Now {
            us,
            secs: u32::try_from(us / 1_000_000).unwrap_or(u32::MAX),
        }
    }
}

/// What to do with a client's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryVerdict {
    /// Send it to `upstream` (index into the snapshot's upstreams) from socket `via` of that
    /// upstream's pool with its ID set to `wire_id`, counted as forwarded on `target` (index
    /// into the server's targets).
    Forward {
        target: usize,
        upstream: usize,
        via: u16,
        wire_id: u16,
    },
    /// Count it on the server under `reason` (and on `target` too when given) and drop it.
    Drop {
        reason: DropReason,
        target: Option<usize>,
    },
}

impl QueryVerdict {
    fn drop(reason: DropReason) -> QueryVerdict {
        QueryVerdict::Drop {
            reason,
            target: None,
        }
    }
}

/// The worker's upstreams (index as in the snapshot): per upstream a pool of sockets and one
/// table of outstanding queries.
pub trait Upstreams {
    /// Draws the socket of `upstream`'s pool a query leaves from, with the upstream's table of
    /// outstanding queries. `None`: no such upstream, or no socket of it open.
    fn draw(&mut self, upstream: usize) -> Option<(u16, &mut Outstanding)>;
}

/// Decides a query that listener `listener` of `server` received at `now`: checked, a target
/// chosen by the server's method and the session table, a socket of its pool drawn and an ID
/// allocated towards it.
pub fn on_query<U: Upstreams + ?Sized>(
    server: &ServerEntry,
    listener: u16,
    datagram: &Datagram<'_>,
    now: Now,
    sessions: &Sessions,
    pick: &mut Pick,
    upstreams: &mut U,
) -> QueryVerdict {
    let (Some(client), false) = (datagram.source, datagram.truncated) else {
        return QueryVerdict::drop(DropReason::Malformed);
    };
    let info = match check_query(datagram.data) {
        Ok(info) => info,
        Err(reason) => return QueryVerdict::drop(reason),
    };
    let Some(target) = server.choose(client.ip(), Transport::Udp, now.secs, sessions, pick) else {
        return QueryVerdict::drop(DropReason::NoTarget);
    };
    let upstream = server.targets[target].upstream;
    let Some((via, table)) = upstreams.draw(upstream) else {
        return QueryVerdict::drop(DropReason::NoTarget);
    };
    let question = datagram
        .data
        .get(dns::HEADER_LEN..info.question_end)
        .unwrap_or(&[]);
    let pending = Pending {
        client,
        local: datagram.local,
        client_id: info.id,
        server: server.id,
        listener,
        fingerprint: dns::question_fingerprint(question),
        sent_us: now.us,
        via,
    };
    match table.insert(pending) {
        Some(wire_id) => QueryVerdict::Forward {
            target,
            upstream,
            via,
            wire_id,
        },
        None => QueryVerdict::Drop {
            reason: DropReason::Overload,
            target: Some(target),
        },
    }
}

/// A listener as [`on_answer`] sees it.
pub trait ListenerView {
    /// The server it listens for.
    fn server_id(&self) -> u32;
    /// It listens on a wildcard: answers leave from the address the query was sent to.
    fn answers_from_queried_address(&self) -> bool;
}

impl ListenerView for (u32, bool) {
    fn server_id(&self) -> u32 {
        self.0
    }

    fn answers_from_queried_address(&self) -> bool {
        self.1
    }
}

/// What to do with a target's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerVerdict {
    /// Send it from listener `listener` (index into the worker's listeners) to `client`, with
    /// `source` as its source address when given, its ID set back to `client_id`; the target
    /// took `response_us` microseconds to answer (for its response-time histogram).
    Answer {
        listener: usize,
        client: SocketAddr,
        source: Option<IpAddr>,
        client_id: u16,
        response_us: u64,
    },
    /// Count it on the target under this reason and drop it (its query, if any, still waits).
    Drop(DropReason),
    /// Its query's server is gone (reconfigured away while the query was out): forget it.
    ServerGone,
}

impl AnswerVerdict {
    /// The answer took its query off the table (the socket it left on has one fewer in flight).
    pub fn settled(&self) -> bool {
        matches!(
            self,
            AnswerVerdict::Answer { .. } | AnswerVerdict::ServerGone
        )
    }
}

/// Decides an answer that arrived at `now_us` (microseconds, the worker's clock) on socket
/// `via` of the upstream whose outstanding queries are `table`. An answer on another socket of
/// the pool than its query left from is refused like an unknown ID: an off-path forger must
/// guess the port as well as the ID.
pub fn on_answer<L: ListenerView>(
    data: &[u8],
    via: u16,
    now_us: u64,
    table: &mut Outstanding,
    listeners: &[L],
) -> AnswerVerdict {
    let pending = match table.answer(data, via) {
        Ok(pending) => pending,
        Err(Refused::Malformed(e)) => return AnswerVerdict::Drop(query_drop_reason(e)),
        Err(Refused::UnknownId | Refused::QuestionMismatch | Refused::WrongSocket) => {
            return AnswerVerdict::Drop(DropReason::UnknownId)
        }
    };
    let response_us = now_us.saturating_sub(pending.sent_us);
    let at = usize::from(pending.listener);
    let listener = match listeners.get(at) {
        Some(l) if l.server_id() == pending.server => at,
        _ => match listeners
            .iter()
            .position(|l| l.server_id() == pending.server)
        {
            Some(at) => at,
            None => return AnswerVerdict::ServerGone,
        },
    };
    let source = if listeners[listener].answers_from_queried_address() {
        pending.local
    } else {
        None
    };
    AnswerVerdict::Answer {
        listener,
        client: pending.client,
        source,
        client_id: pending.client_id,
        response_us,
    }
}

/// Decides where a new TCP connection from `client` goes (index into the server's targets):
/// the same rule as a UDP query, over the TCP choosers. `None`: no target can take it.
pub fn on_connection(
    server: &ServerEntry,
    client: IpAddr,
    now: u32,
    sessions: &Sessions,
    pick: &mut Pick,
) -> Option<usize> {
    server.choose(client, Transport::Tcp, now, sessions, pick)
}

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod tests;
