//! An interface's receive offloads, read with the ethtool ioctl (`SIOCETHTOOL`): whether the
//! kernel (GRO) or the NIC (LRO) merges a flow's TCP segments into one larger packet before a
//! packet socket sees it. The DSR plane forwards what it receives frame by frame, so a merged
//! frame larger than the link's MTU cannot leave as it came (the host check warns).

use std::io;
use std::os::fd::AsRawFd;

/// `ETHTOOL_GGRO` (linux/ethtool.h): get generic receive offload.
const ETHTOOL_GGRO: u32 = 0x2b;
/// `ETHTOOL_GFLAGS`: get the flags word, whose `ETH_FLAG_LRO` bit is large receive offload.
const ETHTOOL_GFLAGS: u32 = 0x25;
const ETH_FLAG_LRO: u32 = 1 << 15;

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// What merges segments on an interface's receive path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiveOffload {
    /// Generic receive offload (the kernel).
    pub gro: bool,
    /// Large receive offload (the NIC).
    pub lro: bool,
}

/// The receive offloads of `ifname`. An interface whose driver has no flags word reports
/// LRO off (veth, for one).
pub fn receive_offload(ifname: &str) -> io::Result<ReceiveOffload> {
    let (fd, request) = crate::ifreq::socket_and_request(ifname)?;
    let get = |cmd: u32| -> io::Result<u32> {
        let mut value = EthtoolValue { cmd, data: 0 };
        let mut req = request;
        req.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
        // SAFETY: SIOCETHTOOL reads ifr_name and the command `ifru_data` points to, and writes
        // the command's `ethtool_value` there; `value` outlives the call.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("SIOCETHTOOL {ifname}: {e}"),
            ));
        }
        Ok(value.data)
    };
    let gro = get(ETHTOOL_GGRO)? != 0;
    let lro = match get(ETHTOOL_GFLAGS) {
        Ok(flags) => flags & ETH_FLAG_LRO != 0,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => false,
        Err(e) => return Err(e),
    };
    Ok(ReceiveOffload { gro, lro })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_is_an_error_and_a_bad_name_too() {
        assert!(receive_offload("no-such-if0").is_err());
        assert!(receive_offload("").is_err());
        assert!(receive_offload("a-name-far-too-long-for-ifnamsiz").is_err());
    }

    #[test]
    fn loopback_answers() {
        // `lo` exists in every namespace; whatever its settings, the call succeeds.
        assert!(receive_offload("lo").is_ok());
    }
}
