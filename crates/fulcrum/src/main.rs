//! `fulcrum`: a high-availability load balancer for DNS. One binary, one subcommand per role.

use clap::{Parser, Subcommand};

mod agent;
mod check;
mod daemon;
#[cfg(feature = "demo")]
mod demo;
mod dnscheck;
mod dsr;
mod health;
mod proxy;
mod shell;
mod sync;
mod vrrp;

#[derive(Parser)]
#[command(
    name = "fulcrum",
    version,
    about = "High-availability load balancer for DNS"
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
    };
    std::process::ExitCode::from(code)
}
