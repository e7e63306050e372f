//! `fulcrum`: a high-availability load balancer for DNS. One binary, one subcommand per role.

use clap::{CommandFactory, Parser, Subcommand};

mod agent;
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

#[derive(Parser)]
#[command(
    name = "fulcrum",
    version = VERSION,
    about = "High-availability load balancer for DNS",
    long_about = "High-availability load balancer for DNS: balances queries to DNS servers \
        (proxy or direct server return) with sticky sessions, checks their health, shares a \
        virtual address between two nodes with VRRP and syncs the sessions to the backup.\n\n\
        Files: /etc/fulcrum/fulcrum.conf (the configuration, see fulcrum.conf(5); `save` keeps \
        the previous one as fulcrum.conf.bak), /run/fulcrum/fulcrum.sock (the control socket).\n\n\
        Signals to `fulcrum run`: SIGHUP rereads the configuration, SIGTERM and SIGINT stop.\n\n\
        Under systemd (fulcrum.service, Type=notify) it reports READY=1 once its data planes, \
        health checks and VRRP run, a STATUS= summary, and WATCHDOG=1 while every worker makes \
        progress; with JOURNAL_STREAM set its log lines carry syslog priorities."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a configuration file and print a one-line summary.
    Check(check::Args),
    /// Run the balancer in the foreground.
    Run(daemon::Args),
    /// Connect to a running balancer's control shell.
    Control(shell::Args),
    /// Answer agent health checks on UDP (the bngagent role).
    Agent(agent::Args),
    /// Check DNS servers' SOA for a zone, as mon's dns.monitor does.
    #[command(name = "dns-check", disable_help_flag = true)]
    DnsCheck(dnscheck::Args),
    /// Build a demo cluster in network namespaces and show it live.
    #[cfg(feature = "demo")]
    Demo(demo::Args),
    /// Write the man pages and shell completions into a directory (for packaging).
    #[command(hide = true)]
    Assets(assets::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => check::main(args),
        Command::Run(args) => daemon::main(args),
        Command::Control(args) => shell::main(args),
        Command::Agent(args) => agent::main(args),
        Command::DnsCheck(args) => dnscheck::main(args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::main(args),
        Command::Assets(args) => assets::main(args, Cli::command()),
    };
    std::process::ExitCode::from(code)
}
