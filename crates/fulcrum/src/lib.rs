//! The `fulcrum` library: every role of the binary (the daemon with its data planes, drivers and
//! control socket, the control shell, the agent, `dns-check`, the configuration check, the demo)
//! as private modules. Contract: the one public surface is [`commands`], each role's parsed
//! arguments and its entry point returning the process exit code, plus
//! [`commands::run_until`], the daemon as an `async` call that ends when a future does (so a
//! test runs two complete daemons in one process); `main.rs` only parses the command line and
//! dispatches to them. Nothing else is exported, so the modules' insides stay
//! free to change and dead code is still found.

mod agent;
mod announce;
mod assets;
mod check;
mod daemon;
#[cfg(feature = "demo")]
mod demo;
mod dnscheck;
mod dsr;
mod health;
mod hostcheck;
mod limits;
mod link;
mod logging;
mod loglimit;
mod plane;
mod proxy;
mod scripts;
mod service;
mod shell;
mod sync;
mod vrrp;

/// The release and the git commit it was built from (`unknown` outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("FULCRUM_GIT_COMMIT"),
    ")"
);

/// Where `run` and `check` read the configuration unless `-c` says otherwise (the package's).
pub const DEFAULT_CONFIG: &str = "/etc/fulcrum/fulcrum.conf";

/// Each subcommand's arguments (a `clap::Args`) and entry point, which returns the exit code.
pub mod commands {
    pub use crate::agent::{main as agent, Args as AgentArgs};
    pub use crate::assets::{main as assets, Args as AssetsArgs};
    pub use crate::check::{main as check, Args as CheckArgs};
    pub use crate::daemon::{main as run, run_until, Args as RunArgs};
    #[cfg(feature = "demo")]
    pub use crate::demo::{main as demo, Args as DemoArgs};
    pub use crate::dnscheck::{main as dns_check, Args as DnsCheckArgs};
    pub use crate::shell::{main as control, Args as ControlArgs};
}
