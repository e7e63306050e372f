//! A small authoritative DNS responder for the demo's targets when Bind9 is not installed.
//!
//! It serves one zone over UDP and TCP: the SOA (so Fulcrum's `dns` check and `dig SOA` work),
//! an NS and an A record, and `whoami.ZONE TXT "NODE"` naming the node that answered, which is
//! what the demo's clients ask to show stickiness. Anything else in the zone is NXDOMAIN, and
//! names outside it are REFUSED, as an authoritative-only server answers.

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// What one responder serves.
#[derive(Clone, Debug)]
pub struct Zone {
    pub origin: Name,
    pub node: String,
    pub address: Ipv4Addr,
    pub serial: u32,
}

impl Zone {
    pub fn new(origin: &str, node: &str, address: Ipv4Addr, serial: u32) -> anyhow::Result<Zone> {
        Ok(Zone {
            origin: Name::from_str(origin)?.to_lowercase(),
            node: node.to_string(),
            address,
            serial,
        })
    }

    /// The answer to one query message; `None` for what must not be answered (responses).
    pub fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        if request.message_type() != MessageType::Query {
            return None;
        }
        let mut reply = Message::new();
        reply
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(request.op_code())
            .set_recursion_desired(request.recursion_desired());
        let Some(question) = request.queries().first().cloned() else {
            reply.set_response_code(ResponseCode::FormErr);
            return reply.to_vec().ok();
        };
        reply.add_query(question.clone());
        if request.op_code() != OpCode::Query || request.queries().len() != 1 {
            reply.set_response_code(ResponseCode::NotImp);
            return reply.to_vec().ok();
        }
        let name = question.name().to_lowercase();
        if !self.origin.zone_of(&name) {
            reply.set_response_code(ResponseCode::Refused);
            return reply.to_vec().ok();
        }
        reply.set_authoritative(true);
        let records = self.records(&name);
        if records.is_empty() {
            reply.set_response_code(ResponseCode::NXDomain);
        }
        let wanted = question.query_type();
        reply.add_answers(
            records
                .into_iter()
                .filter(|r| wanted == RecordType::ANY || r.record_type() == wanted),
        );
        if reply.answers().is_empty() {
            reply.add_name_server(self.soa());
        }
        reply.to_vec().ok()
    }

    fn soa(&self) -> Record {
        let mname = self.child("ns1");
        let rname = self.child("hostmaster");
        let soa = SOA::new(mname, rname, self.serial, 3600, 600, 86400, 60);
        Record::from_rdata(self.origin.clone(), 60, RData::SOA(soa))
    }

    fn child(&self, label: &str) -> Name {
        Name::from_str(label)
            .ok()
            .and_then(|l| l.append_domain(&self.origin).ok())
            .unwrap_or_else(|| self.origin.clone())
    }

    /// Every record at `name` (empty when the name does not exist).
    fn records(&self, name: &Name) -> Vec<Record> {
        let ttl = 60;
        if *name == self.origin {
            let ns = RData::NS(NS(self.child("ns1")));
            return vec![
                self.soa(),
                Record::from_rdata(name.clone(), ttl, ns),
                Record::from_rdata(name.clone(), ttl, RData::A(A(self.address))),
            ];
        }
        if *name == self.child("ns1") {
            return vec![Record::from_rdata(
                name.clone(),
                ttl,
                RData::A(A(self.address)),
            )];
        }
        if *name == self.child("whoami") {
            let txt = RData::TXT(TXT::new(vec![self.node.clone()]));
            return vec![Record::from_rdata(name.clone(), 0, txt)];
        }
        Vec::new()
    }
}

/// Serves `zone` on the given sockets (made and bound by the caller, possibly inside another
/// network namespace) over UDP and TCP until the task is aborted, which closes every socket.
pub async fn serve(
    zone: Zone,
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
) -> anyhow::Result<()> {
    udp.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    let udp = UdpSocket::from_std(udp)?;
    let tcp = TcpListener::from_std(tcp)?;
    // Owned by this task: aborting it drops the set, which aborts every connection.
    let mut connections = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            received = udp.recv_from(&mut buf) => {
                let (len, peer) = received?;
                if let Some(reply) = zone.answer(&buf[..len]) {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
            accepted = tcp.accept() => {
                // A failed accept (out of descriptors) loses that one connection only.
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve_tcp(zone.clone(), stream));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Answers length-prefixed queries on one TCP connection until the client closes it.
async fn serve_tcp(zone: Zone, mut stream: tokio::net::TcpStream) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(reply) = zone.answer(&query) else {
            return;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = reply_len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn ask(zone: &Zone, name: &str, kind: RecordType) -> Message {
        let mut query = Message::new();
        query
            .set_id(4242)
            .add_query(Query::query(Name::from_str(name).expect("test name"), kind));
        let bytes = query.to_vec().expect("encode");
        let reply = zone.answer(&bytes).expect("an answer");
        Message::from_vec(&reply).expect("decode")
    }

    fn zone() -> Zone {
        Zone::new("demo.fulcrum.", "ns0a", Ipv4Addr::new(127, 0, 0, 43), 7).expect("zone")
    }

    #[test]
    fn whoami_names_the_node() {
        let reply = ask(&zone(), "WhoAmI.demo.fulcrum.", RecordType::TXT);
        assert_eq!(reply.id(), 4242);
        assert!(reply.authoritative());
        assert_eq!(reply.answers().len(), 1);
        match reply.answers()[0].data() {
            RData::TXT(txt) => assert_eq!(txt.txt_data(), [b"ns0a".to_vec().into_boxed_slice()]),
            other => panic!("expected TXT, got {other:?}"),
        }
    }

    #[test]
    fn soa_carries_the_serial() {
        let reply = ask(&zone(), "demo.fulcrum.", RecordType::SOA);
        match reply.answers()[0].data() {
            RData::SOA(soa) => assert_eq!(soa.serial(), 7),
            other => panic!("expected SOA, got {other:?}"),
        }
    }

    #[test]
    fn outside_the_zone_is_refused_and_missing_names_are_nxdomain() {
        let zone = zone();
        assert_eq!(
            ask(&zone, "example.com.", RecordType::A).response_code(),
            ResponseCode::Refused
        );
        let missing = ask(&zone, "nope.demo.fulcrum.", RecordType::A);
        assert_eq!(missing.response_code(), ResponseCode::NXDomain);
        assert_eq!(missing.name_servers().len(), 1);
    }

    #[test]
    fn garbage_and_responses_get_no_answer() {
        let zone = zone();
        assert!(zone.answer(&[1, 2, 3]).is_none());
        let mut response = Message::new();
        response.set_message_type(MessageType::Response);
        let bytes = response.to_vec().expect("encode");
        assert!(zone.answer(&bytes).is_none());
    }
}
