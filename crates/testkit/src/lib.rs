//! The one place the integration tests of `crates/fulcrum/tests` take their support from: the
//! real `fulcrum` binary of this build, the real `fulcrum control` client, daemons killed by PID
//! on drop (also on panic), real peers (Bind9, keepalived, `dig`) and the seed's labs built on
//! `netlab`. A dev-dependency of the `fulcrum` package only, never linked into the daemon.
//! Nothing here is a mock: every helper drives a real process.
//!
//! The API, by module (each module's doc says more):
//!
//! | module | what |
//! | --- | --- |
//! | crate root | [`fulcrum`] (the binary under test), [`fixture`], [`repo_root`], [`free_port`] |
//! | [`process`] | [`process::KillOnDrop`] (a child killed by PID on drop), [`process::wait_exit`], [`process::expect_exit`], [`process::within`], [`process::read`], [`process::wait_for_log`], [`process::write_executable`], [`process::require_tools`], [`process::require_root`], [`process::require_on_path`] |
//! | [`control`] | the real `fulcrum control`: [`control::show`] (one command's JSON document, typed: how tests read state), [`control::control_json`], [`control::control`] (an `Output`), [`control::control_text`] (stdout, whatever happened), [`control::control_ok`] (stdout, panics on failure), [`control::stdout`], [`control::stderr`] |
//! | [`show`] | reading `show` answers: the JSON documents re-exported from `fulcrum_control::show` ([`show::TargetsDoc`], [`show::SessionsDoc`], [`show::VrrpDoc`], [`show::SyncDoc`], ...), [`show::target_row`], [`show::operational_in`], [`show::wait_operational`], [`show::target_counts`], [`show::sessions`], [`show::vrrp_state`]; from text, for tests of what an operator reads: [`show::number_after`], [`show::value_of`], [`show::has_positioned_error`] |
//! | [`daemon`] | [`daemon::Daemon`]: `fulcrum run` on loopback (or in a [`netlab::bind9::LoopbackNetns`]) with its config, socket and log: `start`/`start_with` (a file and socket the test chose), `with_config`/`with_config_in` (a text), `show` (one JSON document, typed), `control` (one line, must succeed), `control_all`, `control_output`, `operational`, `wait_for`, `sessions`, `wait_for_log`, `terminate`; [`daemon::spawn_run`] for a start expected to fail; [`daemon::loopback_config`], [`daemon::setup`] |
//! | [`dns`] | [`dns::loopback_bind9`] (a Bind9 on 127.0.0.1 whose TXT names it), [`dns::zone_server`] (records of your own, in a lab namespace or not), [`dns::dig_instance`] |
//! | [`health`] | [`health::two_target_config`], [`health::recorder`] (an alert script), [`health::DOWN_WITHIN`] |
//! | [`netns`] | [`netns::run_in`] and [`netns::spawn_in`]: code of the test on a thread inside a lab namespace |
//! | [`vrrp`] | VRRP labs: [`vrrp::Link`] (a switch), [`vrrp::Fulcrum`] and [`vrrp::Keepalived`] in a node's namespace, [`vrrp::Group`], [`vrrp::holds_vip`] |
//! | [`vrrp_states`] | [`vrrp_states::state_of`] and [`vrrp_states::watch`]: no moment with two masters |
//! | [`plane`] | [`plane::Plane`] and [`per_plane!`]: every DSR test once on `AF_PACKET`, once on AF_XDP |
//! | [`seed_dsr`] | one `fulcrum run` in the seed lab's ns0a ([`seed_dsr::Balancer`]), the seed's agents, `dig` from the client ([`seed_dsr::ask`], [`seed_dsr::dig_vip`]) |
//! | [`seed_dsr6`] | `dig -6` through the IPv6 VIP of the dual-stack seed lab ([`seed_dsr6::ask6`]) |
//! | [`cluster`] | the seed's two-node cluster ([`cluster::Cluster`], dual-stack with [`cluster::Cluster::new_dual_stack`], [`cluster::Node`]) and a bounded DNS load ([`cluster::load::Load`]) |
//! | [`chromium`] | a real headless Chromium on a loopback page: [`chromium::dump_dom`], [`chromium::screenshot`] |
//! | [`package`] | the .deb: building it, a systemd notify listener, the installed daemon run as its unit |
//!
//! Adding a test: take what exists here (`use testkit::...`) and keep in the test file only what
//! is that test's own; a helper a second test file needs comes here instead of being copied,
//! with its contract in its doc comment. A crate rather than a `tests/common` module tree: it is
//! compiled once instead of into every test binary, needs no `allow(dead_code)` for the parts a
//! binary does not use, and clippy and rustdoc check its API like any other crate's.
//!
//! Names of namespaces and links stay unique per test: every lab takes the test's own tag
//! (`netlab::Lab::new(tag)` adds the process id), so test binaries run side by side.
//!
//! Binary location: Cargo builds the package's binaries before its integration tests and puts
//! them one directory above the test executables (`target/<profile>/deps/..`); [`fulcrum`]
//! takes `CARGO_BIN_EXE_fulcrum` from the environment when it is set and that path otherwise.

pub mod bird;
pub mod chromium;
pub mod cluster;
pub mod control;
pub mod daemon;
pub mod dns;
pub mod health;
pub mod netns;
pub mod package;
pub mod plane;
pub mod process;
pub mod scrape;
pub mod seed_dsr;
pub mod seed_dsr6;
pub mod show;
pub mod vrrp;
pub mod vrrp_states;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The path of the `fulcrum` binary of this build (see the crate doc for how it is found).
pub fn fulcrum() -> &'static str {
    static BINARY: OnceLock<String> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Ok(path) = std::env::var("CARGO_BIN_EXE_fulcrum") {
            return path;
        }
        let test = std::env::current_exe().expect("the test executable's path");
        let mut dir = test.parent().expect("the test executable's directory");
        if dir.ends_with("deps") {
            dir = dir.parent().expect("the profile directory");
        }
        let binary = dir.join(format!("fulcrum{}", std::env::consts::EXE_SUFFIX));
        assert!(
            binary.is_file(),
            "{} is missing: run the tests with `cargo test -p fulcrum`, which builds it",
            binary.display()
        );
        binary
            .to_str()
            .expect("the target directory's path is UTF-8")
            .to_string()
    })
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tests/fixtures/NAME` (the seed's configurations and the like).
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port on loopback");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}
