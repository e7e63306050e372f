//! `fulcrum`: a high-availability load balancer for DNS. One binary, one subcommand per role:
//! this file parses the command line and hands each subcommand to its entry point in the
//! library ([`fulcrum::commands`]).

use clap::{CommandFactory, Parser, Subcommand};
use fulcrum::commands;
use fulcrum::VERSION;

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
    Check(commands::CheckArgs),
    /// Run the balancer in the foreground.
    Run(commands::RunArgs),
    /// Connect to a running balancer's control shell.
    Control(commands::ControlArgs),
    /// Answer agent health checks on UDP (the bngagent role).
    Agent(commands::AgentArgs),
    /// Check DNS servers' SOA for a zone, as mon's dns.monitor does.
    #[command(name = "dns-check", disable_help_flag = true)]
    DnsCheck(commands::DnsCheckArgs),
    /// Build a demo cluster in network namespaces and show it live.
    #[cfg(feature = "demo")]
    Demo(commands::DemoArgs),
    /// Write the man pages and shell completions into a directory (for packaging).
    #[command(hide = true)]
    Assets(commands::AssetsArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => commands::check(args),
        Command::Run(args) => commands::run(args),
        Command::Control(args) => commands::control(args),
        Command::Agent(args) => commands::agent(args),
        Command::DnsCheck(args) => commands::dns_check(args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => commands::demo(args),
        Command::Assets(args) => commands::assets(args, Cli::command()),
    };
    std::process::ExitCode::from(code)
}
