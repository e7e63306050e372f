//! Fulcrum's AF_XDP data path: the XDP program that steers the DSR plane's VIP frames to
//! AF_XDP sockets ([`program`]), and those sockets with their UMEM and rings ([`xsk`]). With
//! `sys`, the only crate with `unsafe`; the DSR plane (`fulcrum::dsr::xsk`) drives both.
//!
//! The sockets are a small module on `libc` rather than a crate: `xsk-rs` wraps libxdp and
//! libbpf built from their C sources, which a fresh Debian 12 with crates.io alone cannot be
//! relied on to build the same way; what the plane needs (one UMEM per socket, batched rings,
//! need-wakeup) is a few hundred lines against the kernel's stable ABI.

pub mod program;
pub mod xsk;

/// The receive queues of `interface` (`/sys/class/net/NAME/queues/rx-*`); 1 when unknown.
pub fn rx_queues(interface: &str) -> u32 {
    let dir = format!("/sys/class/net/{interface}/queues");
    let count = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(0);
    u32::try_from(count).unwrap_or(u32::MAX).max(1)
}
