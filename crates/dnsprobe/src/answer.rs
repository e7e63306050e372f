//! Encoding a probe's query and judging what comes back, with no I/O: the rules both probes
//! apply to every datagram they receive.
//!
//! Contract: [`encode_query`] builds a one-question query with the caller's ID (the caller draws
//! it at random). [`accept_reply`] is Net::DNS's `_accept_reply` as `dns-check` and the `dns`
//! health check use it: any parseable response with our ID. [`accept_path_answer`] is the
//! stricter rule of the `dsr-path` probe, which waits on a shared interface: a response with our
//! ID and exactly our question; its RCODE's name is returned, whatever it is. [`soa_verdict`]
//! is the per-server rule of `dns.monitor`'s zone check on a reply. None of them panics on any
//! input.

use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// A query as sent, to compare answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub id: u16,
    pub query: Query,
}

/// A server's SOA for a zone that passed the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoaInfo {
    pub serial: u32,
    pub rtt: Duration,
}

/// Why a server failed the SOA check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    /// No usable reply, or one with no answer (`errorstring` says which: `query timed out`,
    /// `REFUSED`, `NOERROR` for an empty answer...).
    #[error("SOA query failed: {errorstring}")]
    NoAnswer { errorstring: String },
    /// A reply with answers that is not exactly one authoritative SOA.
    #[error(
        "bad SOA answer: authoritative {authoritative}, {answer_count} answers, first {}",
        first_type.as_deref().unwrap_or("none")
    )]
    BadAnswer {
        authoritative: bool,
        answer_count: usize,
        first_type: Option<String>,
        /// The first answer's serial, when it is an SOA.
        first_serial: Option<u32>,
    },
}

impl CheckFailure {
    /// One line for logs and `show targets`.
    pub fn summary(&self) -> String {
        self.to_string()
    }
}

/// The query for `name` (made fully qualified) and `record_type` with `id`, and its bytes.
pub fn encode_query(
    id: u16,
    name: &str,
    record_type: RecordType,
    recursion_desired: bool,
) -> Result<(Sent, Vec<u8>), String> {
    let mut fqdn = Name::from_ascii(name).map_err(|e| format!("invalid name {name}: {e}"))?;
    fqdn.set_fqdn(true);
    let query = Query::query(fqdn, record_type);
    let mut message = Message::new();
    message
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(recursion_desired)
        .add_query(query.clone());
    let packet = message
        .to_vec()
        .map_err(|e| format!("cannot encode query for {name}: {e}"))?;
    Ok((Sent { id, query }, packet))
}

/// The reply to query `id` (Net::DNS `_accept_reply`: a response with our ID), parsed.
pub fn accept_reply(buffer: &[u8], id: u16) -> Option<Message> {
    let message = Message::from_vec(buffer).ok()?;
    (message.message_type() == MessageType::Response && message.id() == id).then_some(message)
}

/// The RCODE's name if `payload` is a response to `sent`: our ID and exactly our question.
pub fn accept_path_answer(payload: &[u8], sent: &Sent) -> Option<String> {
    let message = accept_reply(payload, sent.id)?;
    (message.queries() == std::slice::from_ref(&sent.query))
        .then(|| rcode_name(message.response_code()))
}

/// `dns.monitor`'s per-server check of a reply with answers: exactly one answer, an SOA, and
/// the AA bit.
pub fn soa_verdict(reply: &Message, rtt: Duration) -> Result<SoaInfo, CheckFailure> {
    let answers = reply.answers();
    let first_serial = answers.first().and_then(|record| match record.data() {
        RData::SOA(soa) => Some(soa.serial()),
        _ => None,
    });
    match (reply.authoritative(), answers.len(), first_serial) {
        (true, 1, Some(serial)) => Ok(SoaInfo { serial, rtt }),
        (authoritative, answer_count, first_serial) => Err(CheckFailure::BadAnswer {
            authoritative,
            answer_count,
            first_type: answers.first().map(|r| type_name(r.record_type())),
            first_serial,
        }),
    }
}

/// Net::DNS's name for a record type (`A`, `SOA`, `TYPE65280`).
pub fn type_name(record_type: RecordType) -> String {
    match record_type {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

/// Net::DNS's name for an RCODE.
pub fn rcode_name(code: ResponseCode) -> String {
    match u16::from(code) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_response_to_our_query_is_a_path_answer() {
        let (sent, packet) = encode_query(0x4242, "balanceng.net", RecordType::SOA, false).unwrap();
        let query = Message::from_vec(&packet).unwrap();
        assert!(!query.recursion_desired());
        assert_eq!(
            accept_path_answer(&packet, &sent),
            None,
            "our own query is not an answer"
        );
        let mut response = query.clone();
        response.set_message_type(MessageType::Response);
        let bytes = response.to_vec().unwrap();
        assert_eq!(
            accept_path_answer(&bytes, &sent).as_deref(),
            Some("NOERROR")
        );
        response.set_response_code(ResponseCode::Refused);
        let bytes = response.to_vec().unwrap();
        assert_eq!(
            accept_path_answer(&bytes, &sent).as_deref(),
            Some("REFUSED"),
            "any RCODE proves the path"
        );
        let mut other_id = response.clone();
        other_id.set_id(sent.id.wrapping_add(1));
        assert_eq!(accept_path_answer(&other_id.to_vec().unwrap(), &sent), None);
        let (other, _) = encode_query(0x4242, "example.net", RecordType::SOA, false).unwrap();
        assert_eq!(
            accept_path_answer(&response.to_vec().unwrap(), &other),
            None,
            "same ID, other question"
        );
        assert!(
            accept_reply(&response.to_vec().unwrap(), other.id).is_some(),
            "dns-check's rule looks at the ID alone"
        );
        assert_eq!(accept_path_answer(b"\x00\x01garbage", &sent), None);
        assert_eq!(accept_path_answer(b"", &sent), None);
    }

    #[test]
    fn the_root_zone_builds_a_query() {
        let (sent, _) = encode_query(1, ".", RecordType::SOA, false).unwrap();
        assert!(sent.query.name().is_root());
    }
}
