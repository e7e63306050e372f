use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

#[test]
fn insert_then_lookup_refreshes() {
    let mut table = SessionTable::new(100);
    table.insert(1, v4(7), 2, 100, 600);
    assert_eq!(table.lookup(1, v4(7), 150), Some(2));
    assert_eq!(table.peek(1, v4(7)).map(|r| r.last_seen), Some(150));
    assert_eq!(table.lookup(2, v4(7), 150), None);
    assert_eq!(table.count_on(2), 1);
}
