//! The two DSR data planes a DSR test runs against: `AF_PACKET` (`access raw`, the default) and
//! AF_XDP (`access xdp`). [`per_plane!`](crate::per_plane) declares a test once and runs it
//! once per plane (`NAME::afpacket`, `NAME::afxdp`); the test turns its configuration into the
//! plane's with [`Plane::config`] and, once the daemon runs, makes sure it got the plane it
//! asked for with [`Plane::assert_running`] (an AF_XDP run that silently fell back to
//! `AF_PACKET` would test nothing new).

use std::path::Path;
use std::time::Duration;

/// Which DSR plane a test run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    AfPacket,
    AfXdp,
}

/// The log line of a started AF_XDP path (`fulcrum::dsr::xsk`).
pub const XDP_STARTED: &str = "dsr: AF_XDP on ";
/// A stopping AF_XDP worker's log line, followed by the frames it handled.
pub const XDP_WORKER_STOPPED: &str = "stopped after frames: ";
/// The log line of the fallback.
pub const XDP_UNAVAILABLE: &str = "AF_XDP unavailable on ";

impl Plane {
    /// `config` with its top-level short-form `interface NAME` declarations (the seed's `interface eth1`)
    /// in the plane's access mode: unchanged for `AF_PACKET`, `interface 1 { name eth1 access
    /// xdp }` for AF_XDP (the short form takes numbers 1, 2, ... in order).
    pub fn config(self, config: &str) -> String {
        if self == Plane::AfPacket {
            return config.to_string();
        }
        let mut next = 1;
        let mut depth = 0usize;
        let mut out = String::new();
        for line in config.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let top_level = depth == 0;
            depth += line.matches('{').count();
            depth = depth.saturating_sub(line.matches('}').count());
            match words.as_slice() {
                ["interface", name]
                    if top_level && !name.starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    out.push_str(&format!(
                        "interface {next} {{\nname {name}\naccess xdp\n}}\n"
                    ));
                    next += 1;
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Waits until the daemon writing `log` runs the DSR plane this run asked for: for AF_XDP,
    /// the AF_XDP path started (and never fell back).
    pub fn assert_running(self, log: &Path) {
        if self == Plane::AfPacket {
            return;
        }
        let text = crate::process::wait_for_log(log, XDP_STARTED, Duration::from_secs(20));
        assert!(
            !text.contains(XDP_UNAVAILABLE),
            "the AF_XDP plane fell back to AF_PACKET:\n{text}"
        );
    }
}

impl Plane {
    /// For AF_XDP: the log of a stopped daemon shows that its AF_XDP workers handled frames
    /// (the hot path did not quietly stay on `AF_PACKET`).
    pub fn assert_carried(self, log_text: &str) {
        if self == Plane::AfPacket {
            return;
        }
        let carried: u64 = log_text
            .lines()
            .filter_map(|line| {
                let (_, rest) = line.split_once(XDP_WORKER_STOPPED)?;
                rest.split_whitespace().next()?.parse::<u64>().ok()
            })
            .sum();
        assert!(carried > 0, "no frame came through AF_XDP:\n{log_text}");
    }
}

/// `per_plane! { fn name(plane) { body } }`: a module `name` with the tests `afpacket` and
/// `afxdp`, each running `body` with `plane` set.
#[macro_export]
macro_rules! per_plane {
    ($(#[$meta:meta])* fn $name:ident($plane:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($plane: $crate::plane::Plane) $body

            #[test]
            fn afpacket() {
                run($crate::plane::Plane::AfPacket)
            }

            #[test]
            fn afxdp() {
                run($crate::plane::Plane::AfXdp)
            }
        }
    };
}
