//! The seed's cluster made dual-stack ([`Cluster::new_dual_stack`]): the same lab, nodes and
//! agents as [`Cluster::new`], with unique-local IPv6 added inside the lab
//! (`netlab::seed6`), Bind9 on both families with both VIPs on both nodes' `lo`, and each node's
//! seed configuration given the network's IPv6 prefix, its own `real6` (`::45` on ns0a, `::46` on
//! ns0b, as `real`) and server 2 on the IPv6 VIP over both nodes' IPv6 addresses (targets 3 and
//! 4, DSR, `method session`, checks of their own: `ping 2,4` and `tcpopen 53,2,4`).

use std::net::Ipv6Addr;

use netlab::seed6::{NS0A_ADDR6, NS0B_ADDR6, VIP6};

use super::Cluster;
use crate::plane::Plane;

/// The IPv6 statements a node's seed configuration gains (`real6` ends like its `real`).
fn ipv6_config(seed: &str, real6: Ipv6Addr) -> String {
    let real = if real6.segments()[7] == 0x45 {
        "real 10.235.210.45\n"
    } else {
        "real 10.235.210.46\n"
    };
    seed.replace(
        real,
        &format!("{real}addr6 fd00:10:235:210::\nmask6 64\nreal6 {real6}\n"),
    )
    .replace(
        "// end of configuration",
        &format!(
            "server 2 {{\nipaddr {VIP6}\nport 53\nmethod session\ntargets 3,4\n}}\n\
             register server 2\nenable server 2\n\
             target 3 {{\nipaddr {NS0A_ADDR6}\nport 53\nping 2,4\ntcpopen 53,2,4\ndsr enable\n}}\n\
             target 4 {{\nipaddr {NS0B_ADDR6}\nport 53\nping 2,4\ntcpopen 53,2,4\ndsr enable\n}}\n\
             register targets 3,4\nenable targets 3,4\n"
        ),
    )
}

impl Cluster {
    /// [`Cluster::new`], dual-stack (see the module doc); no Fulcrum runs yet.
    pub fn new_dual_stack(tag: &str) -> Cluster {
        Cluster::new_dual_stack_on(tag, Plane::AfPacket)
    }

    /// [`Cluster::new_dual_stack`] with both nodes' DSR interface on `plane`.
    pub fn new_dual_stack_on(tag: &str, plane: Plane) -> Cluster {
        let mut c = Cluster::new_on(tag, plane);
        c.seed.add_ipv6().expect("add IPv6 to the seed topology");
        // The IPv4-only pair gives way to one listening on both families.
        c._bind9.ns0a.stop();
        c._bind9.ns0b.stop();
        c._bind9 = c
            .seed
            .start_bind9_dual()
            .expect("start Bind9 on both families");
        for (node, real6) in [(&c.a, 0x45), (&c.b, 0x46)] {
            let seed = std::fs::read_to_string(&node.conf).expect("read the seed configuration");
            let real6 = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, real6);
            std::fs::write(&node.conf, ipv6_config(&seed, real6))
                .expect("write the dual-stack configuration");
        }
        c
    }
}
