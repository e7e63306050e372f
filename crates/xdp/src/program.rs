//! Loading and attaching the XDP program (`bpf/steer.bpf.c`, compiled by clang in `build.rs`)
//! with `aya`, and the plane's side of its maps.
//!
//! Why `aya`: a pure-Rust loader from crates.io, so a fresh Debian 12 builds Fulcrum with
//! nothing beyond clang and libbpf-dev's headers for the program itself, and no C library to
//! link (libbpf-rs would build or link libbpf and libelf; xsk-rs builds libxdp from source).
//!
//! Contract: [`SteerProgram::attach`] loads the program and attaches it to one interface
//! through a BPF link, in native (driver) mode where the driver has it and in generic (SKB)
//! mode otherwise; the link goes away with the value (and with the process, also on SIGKILL:
//! links are file descriptors, nothing is pinned). An interface that already has an XDP
//! program is refused (`EBUSY`), never taken over. The maps start empty: no VIP, no MAC, no
//! socket, no own MAC, so until the plane fills them every frame passes to the kernel untouched.
//! [`SteerProgram::set_own_mac`] makes frames routed to the interface's own MAC for a VIP the
//! plane's (the program rewrites their destination to the virtual MAC of their family: see
//! `bpf/steer.bpf.c`); the plane sets it on active-active nodes, with or without sockets.
//!
//! Native mode on veth (the test lab's links): the kernel's veth driver runs XDP in its NAPI
//! poll for what its peer transmits, and redirecting to an AF_XDP socket needs nothing on the
//! peer; only `XDP_TX` and redirects into a veth need an XDP program (or GRO) on the peer, which
//! this program does not do. So the plane attaches natively on veth and needs no change to the
//! lab's other hosts; the sockets run in copy mode there (veth has no zero-copy).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};

use aya::maps::{Array, HashMap, MapData, XskMap};
use aya::programs::{Xdp, XdpFlags};
use aya::Ebpf;
use aya::Pod;

/// The program as `build.rs` compiled it; empty when clang was missing at build time. Aligned:
/// the ELF parser reads its headers in place.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/steer.bpf.o"));

/// How the program runs on the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver's receive path, before any skb exists.
    Native,
    /// After the skb is built (`XDP_FLAGS_SKB_MODE`): every driver has it, at a higher cost.
    Generic,
}

impl std::fmt::Display for AttachMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic (skb)",
        })
    }
}

/// The attached program and its maps.
pub struct SteerProgram {
    vips: HashMap<MapData, u32, u8>,
    vips6: HashMap<MapData, [u8; 16], u8>,
    virtual_mac: Array<MapData, u64>,
    own_mac: Array<MapData, u64>,
    xsks: XskMap<MapData>,
    installed: BTreeSet<Ipv4Addr>,
    installed6: BTreeSet<Ipv6Addr>,
    mode: AttachMode,
    /// Holds the program and its link: dropping it detaches.
    _ebpf: Ebpf,
}

/// An error with its causes (`aya` keeps the kernel's errno in the source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(&format!(": {more}"));
        }
        cause = inner.source();
    }
    text
}

/// Whether this build carries the XDP program at all.
pub fn compiled() -> bool {
    !OBJECT.is_empty()
}

/// Whether AF_XDP can run here, short of attaching to an interface: the kernel has AF_XDP
/// sockets and this process may open one, and the kernel loads the program (BPF support, the
/// capability to load it, the verifier's consent). Nothing stays loaded.
pub fn probe() -> Result<(), String> {
    if !compiled() {
        return Err("this build has no XDP program (clang was missing when it was built)".into());
    }
    crate::xsk::probe_socket().map_err(|e| format!("no AF_XDP socket: {}", chain(&e)))?;
    load().map(drop)
}

/// Whether the kernel loads the program here (BPF support, the capability, the verifier's
/// consent), without AF_XDP sockets: what an active-active node's routed frames need. Nothing
/// stays loaded.
pub fn probe_program() -> Result<(), String> {
    load().map(drop)
}

/// The program loaded into the kernel (verified, not attached), with its maps created.
fn load() -> Result<Ebpf, String> {
    if !compiled() {
        return Err("this build has no XDP program (clang was missing when it was built)".into());
    }
    let mut ebpf =
        Ebpf::load(OBJECT).map_err(|e| format!("loading the XDP program: {}", chain(&e)))?;
    program(&mut ebpf)?
        .load()
        .map_err(|e| format!("the kernel refused the XDP program: {}", chain(&e)))?;
    Ok(ebpf)
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, String> {
    ebpf.program_mut("fulcrum_steer")
        .ok_or("the XDP object has no program fulcrum_steer")?
        .try_into()
        .map_err(|e| format!("fulcrum_steer is not an XDP program: {}", chain(&e)))
}

impl SteerProgram {
    /// Loads the program and attaches it to `ifindex`. Errors say what failed, for the log
    /// line that explains the fallback to AF_PACKET.
    pub fn attach(ifindex: u32) -> Result<SteerProgram, String> {
        let mut ebpf = load()?;
        let program = program(&mut ebpf)?;
        let mode = match program.attach_to_if_index(ifindex, XdpFlags::DRV_MODE) {
            Ok(_) => AttachMode::Native,
            Err(native) => match program.attach_to_if_index(ifindex, XdpFlags::SKB_MODE) {
                Ok(_) => AttachMode::Generic,
                Err(generic) => {
                    return Err(format!(
                        "attaching XDP failed in native mode ({}) and in generic mode ({})",
                        chain(&native),
                        chain(&generic)
                    ))
                }
            },
        };
        let mut map = |name: &str| {
            ebpf.take_map(name)
                .ok_or(format!("the XDP object has no map {name}"))
        };
        let vips =
            HashMap::try_from(map("vips")?).map_err(|e| format!("map vips: {}", chain(&e)))?;
        let vips6 =
            HashMap::try_from(map("vips6")?).map_err(|e| format!("map vips6: {}", chain(&e)))?;
        let virtual_mac = Array::try_from(map("virtual_mac")?)
            .map_err(|e| format!("map virtual_mac: {}", chain(&e)))?;
        let own_mac =
            Array::try_from(map("own_mac")?).map_err(|e| format!("map own_mac: {}", chain(&e)))?;
        let xsks =
            XskMap::try_from(map("xsks")?).map_err(|e| format!("map xsks: {}", chain(&e)))?;
        Ok(SteerProgram {
            vips,
            vips6,
            virtual_mac,
            own_mac,
            xsks,
            installed: BTreeSet::new(),
            installed6: BTreeSet::new(),
            mode,
            _ebpf: ebpf,
        })
    }

    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// Steers frames of queue `queue` to `socket`.
    pub fn register(&mut self, queue: u32, socket: &impl AsFd) -> Result<(), String> {
        self.xsks
            .set(queue, socket.as_fd().as_raw_fd(), 0)
            .map_err(|e| {
                format!(
                    "registering the AF_XDP socket of queue {queue}: {}",
                    chain(&e)
                )
            })
    }

    /// Makes `vips` the IPv4 addresses steered to the sockets, and taken when routed to the own
    /// MAC (changes only what differs).
    pub fn set_vips(&mut self, vips: &BTreeSet<Ipv4Addr>) -> Result<(), String> {
        follow_set(&mut self.vips, &mut self.installed, vips, |a| {
            u32::from_ne_bytes(a.octets())
        })
    }

    /// Makes `vips` the IPv6 addresses taken when routed to the own MAC.
    pub fn set_vips6(&mut self, vips: &BTreeSet<Ipv6Addr>) -> Result<(), String> {
        follow_set(&mut self.vips6, &mut self.installed6, vips, |a| a.octets())
    }

    /// The virtual MACs of the plane, IPv4 then IPv6 (`None`: steer nothing of that family).
    pub fn set_virtual_macs(&mut self, macs: [Option<[u8; 6]>; 2]) -> Result<(), String> {
        for (index, mac) in (0u32..).zip(macs) {
            self.virtual_mac
                .set(index, mac_value(mac), 0)
                .map_err(|e| format!("setting a virtual MAC in the XDP map: {}", chain(&e)))?;
        }
        Ok(())
    }

    /// The interface's own MAC while frames routed to it for a VIP are the plane's (an
    /// active-active node); `None`: the kernel's, as on a VRRP pair.
    pub fn set_own_mac(&mut self, mac: Option<[u8; 6]>) -> Result<(), String> {
        self.own_mac
            .set(0, mac_value(mac), 0)
            .map_err(|e| format!("setting the own MAC in the XDP map: {}", chain(&e)))
    }
}

/// A MAC as the program's maps hold it: the low 48 bits, first byte on the wire highest.
fn mac_value(mac: Option<[u8; 6]>) -> u64 {
    mac.map_or(0, |m| {
        m.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
    })
}

/// Makes the keys of `map` the `wanted` addresses, with `installed` its mirror (changes only
/// what differs).
fn follow_set<A: Ord + Copy + std::fmt::Display, K: Pod>(
    map: &mut HashMap<MapData, K, u8>,
    installed: &mut BTreeSet<A>,
    wanted: &BTreeSet<A>,
    key: impl Fn(A) -> K,
) -> Result<(), String> {
    for gone in installed.difference(wanted).copied().collect::<Vec<_>>() {
        // Already absent is fine: the wanted state holds.
        let _ = map.remove(&key(gone));
        installed.remove(&gone);
    }
    for new in wanted.difference(installed).copied().collect::<Vec<_>>() {
        map.insert(key(new), 1, 0)
            .map_err(|e| format!("adding VIP {new} to the XDP map: {}", chain(&e)))?;
        installed.insert(new);
    }
    Ok(())
}
