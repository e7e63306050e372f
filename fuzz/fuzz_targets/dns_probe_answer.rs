//! Fuzzes the answer rules of the DNS probe (`fulcrum_dnsprobe::answer`): what the `dns` health
//! check and `dns-check` accept as the reply to their query (`accept_reply`), what the
//! `dsr-path` probe accepts on the DSR interface (`accept_path_answer`), and the SOA verdict on
//! a reply. The datagram is read once with its ID as is and once with the ID of the probe's
//! query written in (the fuzzer cannot guess a drawn ID). Checked, beyond "no panic":
//! - an accepted reply is a response (QR set) with the probe's ID, as the header bytes say;
//! - a path answer is accepted exactly when the reply is and its question section is the
//!   probe's one question, and the name it returns is the RCODE of the header's low bits
//!   (the extended RCODE of an OPT record aside);
//! - the SOA verdict passes only an authoritative reply (AA in the header) with one answer
//!   record, an SOA, and the serial it returns is that record's.
//!
//! Run: `cargo +nightly fuzz run dns_probe_answer fuzz/seeds/dns_probe_answer`.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use fulcrum_dnsprobe::answer::{accept_path_answer, accept_reply, encode_query, soa_verdict, Sent};
use fulcrum_dnsprobe::rcode_name;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use libfuzzer_sys::fuzz_target;

const ID: u16 = 0x5eed;

fn sent() -> &'static Sent {
    static SENT: OnceLock<Sent> = OnceLock::new();
    SENT.get_or_init(|| {
        encode_query(ID, "balanceng.net", RecordType::SOA, false)
            .expect("a query")
            .0
    })
}

fn check(datagram: &[u8]) {
    let sent = sent();
    let reply = accept_reply(datagram, ID);
    if reply.is_some() {
        assert!(datagram.len() >= 12);
        assert_eq!(u16::from_be_bytes([datagram[0], datagram[1]]), ID);
        assert_ne!(datagram[2] & 0x80, 0, "QR set");
    }
    let path = accept_path_answer(datagram, sent);
    match (&reply, &path) {
        (None, Some(_)) => panic!("a path answer that is not a reply"),
        (Some(reply), path) => {
            let ours = reply.queries() == [sent.query.clone()];
            assert_eq!(ours, path.is_some());
            if let Some(name) = path {
                if reply.extensions().is_none() {
                    let low = ResponseCode::from_low(datagram[3] & 0x0f);
                    assert_eq!(*name, rcode_name(low));
                }
            }
        }
        (None, None) => {}
    }
    if let Some(reply) = reply {
        if let Ok(soa) = soa_verdict(&reply, Duration::ZERO) {
            assert_ne!(datagram[2] & 0x04, 0, "AA set");
            assert_eq!(reply.answers().len(), 1);
            match reply.answers()[0].data() {
                RData::SOA(record) => assert_eq!(record.serial(), soa.serial),
                other => panic!("an SOA verdict on {other:?}"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 2 {
        let mut ours = data.to_vec();
        ours[..2].copy_from_slice(&ID.to_be_bytes());
        check(&ours);
    }
});
