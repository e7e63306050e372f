//! `fulcrum dns-check`: mon's `dns.monitor` (Debian 12, mon 1.3.x, Net::DNS 1.36) re-done with
//! the same options, output and exit codes, following what the Perl code does rather than what
//! its manual says. docs/dns-check.md lists the script's quirks kept on purpose.
//!
//! Zone mode (`-zone Z... -master M... SERVER...`): each master is asked for the zone's SOA;
//! a master fails on no answer, no AA bit, more than one answer, or a non-SOA answer. If every
//! master fails the zone fails with 251 (`-failsingle`: the first failing master does); if the
//! masters' serials differ by more than `-serial_threshold`, the lowest master fails with 252.
//! Then every server must answer authoritatively with exactly one SOA whose serial is within the
//! threshold of the highest master serial. The first output line lists `FAILED(zone) ` per
//! failing zone, the detail follows, and the exit code is the largest count of failing servers
//! in one zone (or 251/252). Caching mode (`-caching_only -query NAME[:TYPE[:OTHER]]...`): each
//! server must answer each query (with recursion), and when OTHER is given, share one record
//! with OTHER's answer. Bad options exit 255 (Perl's `exit -1`).

mod caching;
mod getopt;
mod zone;

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::RecordType;

use fulcrum_dnsprobe::query;
use fulcrum_dnsprobe::{Lookup, QueryOptions};
pub use getopt::{numify, Options};

/// Perl's `exit -1`.
const EXIT_USAGE: u8 = 255;
/// Every master failed (or `-failsingle` and one did).
const FAILCOUNT_MASTERS: f64 = 251.0;
/// The masters disagree beyond the threshold, or have no serial.
const FAILCOUNT_SERIAL: f64 = 252.0;

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

const USAGE: &str = "Usage: fulcrum dns-check -zone zone [-zone zone ...]
                   -master master
                   [-serial_threshold num]
                   server [server ...]
   or: fulcrum dns-check -caching_only
                   -query record[:type] [-query record[:type] ...]
                   server [server ...]
Optional Arguments for either mode:
       -retry num
       -retransmit num
       -timeout num
       -debug num
";

pub fn main(args: Args) -> u8 {
    let posixly_correct = std::env::var_os("POSIXLY_CORRECT").is_some();
    let options = match getopt::parse(&args.args, posixly_correct) {
        Ok(options) => options,
        Err(warnings) => {
            for warning in warnings {
                eprintln!("{warning}");
            }
            eprintln!("Problems with Options, sorry");
            return EXIT_USAGE;
        }
    };
    if let Err(problem) = check_required(&options) {
        eprintln!("dns-check: {problem}");
        eprint!("{USAGE}");
        return EXIT_USAGE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("dns-check: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let report = runtime.block_on(run(&options));
    let mut stdout = std::io::stdout().lock();
    // A closed stdout must not turn a result into a panic; the exit code still tells.
    let _ = stdout.write_all(report.stdout.as_bytes());
    let _ = stdout.flush();
    if let Some(fatal) = &report.fatal {
        eprintln!("dns-check: {fatal}");
    }
    report.exit_code
}

/// The script's checks after option parsing, in its order.
fn check_required(options: &Options) -> Result<(), &'static str> {
    if options.servers.is_empty() {
        return Err("at least one server must be specified");
    }
    if options.caching_only {
        if options.queries.is_empty() {
            return Err("At least one query must be specified");
        }
    } else {
        if options.masters.is_empty() {
            return Err("The zone master server must be specified");
        }
        if options.zones.is_empty() {
            return Err("At least one zone must be specified");
        }
    }
    Ok(())
}

/// What the script would print and return.
#[derive(Debug, Default)]
pub struct Report {
    pub stdout: String,
    pub exit_code: u8,
    /// Where the script would die (caching mode, OTHER unanswered): printed on stderr.
    pub fatal: Option<String>,
}

/// One failing zone or query: the script's `($bad_servers, $reason, $failcount)`.
struct Failure {
    bad_servers: String,
    summary: String,
    reason: String,
    /// A number as Perl sees it (an error message converted, through a script bug).
    failcount: f64,
}

/// Runs the checks the options ask for.
pub async fn run(options: &Options) -> Report {
    let mut report = Report::default();
    let mut failures: Vec<(String, Failure)> = Vec::new();
    let mut err_cnt = 0.0_f64;
    if options.caching_only {
        for spec in &options.queries {
            match caching::caching_test(spec, options).await {
                Ok(None) => {}
                Ok(Some(failure)) => {
                    if failure.failcount > err_cnt {
                        err_cnt = failure.failcount;
                    }
                    failures.push((spec.clone(), failure));
                }
                Err(fatal) => {
                    report.fatal = Some(fatal);
                    report.exit_code = EXIT_USAGE;
                    return report;
                }
            }
        }
        if err_cnt > 0.0 {
            let summary: String = failures
                .iter()
                .map(|(_, f)| format!("{} ", f.summary))
                .collect();
            report.stdout.push_str(&format!("{summary}\n"));
            for (_, failure) in &failures {
                push_lines(&mut report.stdout, &failure.reason);
                report.stdout.push('\n');
            }
        }
    } else {
        for zone in &options.zones {
            if let Some(failure) = zone::verify_zone(zone, options, &mut report.stdout).await {
                if failure.failcount > err_cnt {
                    err_cnt = failure.failcount;
                }
                failures.push((zone.clone(), failure));
            }
        }
        if err_cnt > 0.0 {
            let summary: String = failures
                .iter()
                .map(|(zone, f)| format!("{}({zone}) ", f.bad_servers))
                .collect();
            report.stdout.push_str(&format!("{summary}\n"));
            // The script splits every zone's failed servers into one flat list and then prints
            // the i-th *server* for the i-th zone; kept, as it is what mon users see.
            let joined: Vec<&str> = failures
                .iter()
                .map(|(_, f)| f.bad_servers.as_str())
                .collect();
            let joined = joined.join(" ");
            let flat: Vec<&str> = joined.split_whitespace().collect();
            for (index, (zone, failure)) in failures.iter().enumerate() {
                let servers = flat.get(index).copied().unwrap_or("");
                report
                    .stdout
                    .push_str(&format!("Zone '{zone}': failed servers: {servers}\n"));
                push_lines(&mut report.stdout, &failure.reason);
                report.stdout.push('\n');
            }
        }
    }
    report.exit_code = perl_exit_code(err_cnt);
    report
}

/// `print "$line\n" foreach split("\n", $text)`: leading empty lines kept, trailing ones dropped.
fn push_lines(out: &mut String, text: &str) {
    let mut lines: Vec<&str> = text.split('\n').collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
}

/// Perl's `exit $n` for a numeric `$n`: truncated to an integer, then the low 8 bits.
fn perl_exit_code(value: f64) -> u8 {
    let whole = value.trunc();
    let clamped = whole.clamp(i64::MIN as f64, i64::MAX as f64) as i64;
    (clamped & 0xff) as u8
}

/// A server argument: an address (port 53), or a name looked up by the system resolver.
async fn resolve(server: &str) -> Option<SocketAddr> {
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    tokio::net::lookup_host((server, 53)).await.ok()?.next()
}

async fn lookup_at(
    server: &str,
    name: &str,
    record_type: RecordType,
    opts: &QueryOptions,
) -> Lookup {
    match resolve(server).await {
        Some(addr) => query::query(addr, name, record_type, opts).await,
        None => Lookup {
            reply: None,
            errorstring: "no nameservers".into(),
            rtt: Duration::ZERO,
        },
    }
}

fn query_options(options: &Options, recursion_desired: bool, tcp: bool) -> QueryOptions {
    QueryOptions {
        tcp,
        retry: options.retry,
        retransmit: options.retransmit,
        udp_wait: None,
        tcp_timeout: options
            .timeout
            .filter(|t| *t > 0)
            .map(|t| Duration::from_secs(t.unsigned_abs())),
        recursion_desired,
        source: None,
        proxy_local: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_as_perl_computes_them() {
        assert_eq!(perl_exit_code(0.0), 0);
        assert_eq!(perl_exit_code(3.0), 3);
        assert_eq!(perl_exit_code(251.0), 251);
        assert_eq!(perl_exit_code(127.9), 127);
        assert_eq!(perl_exit_code(-1.0), 255);
        assert_eq!(perl_exit_code(256.0), 0);
    }

    #[test]
    fn lines_split_as_perl_splits_them() {
        let mut out = String::new();
        push_lines(&mut out, "\nQuery to a failed\nSerial = 1\n\n");
        assert_eq!(out, "\nQuery to a failed\nSerial = 1\n");
        let mut out = String::new();
        push_lines(&mut out, "");
        assert_eq!(out, "");
    }

    #[test]
    fn required_options_in_the_scripts_order() {
        let mut options = Options::default();
        assert_eq!(
            check_required(&options),
            Err("at least one server must be specified")
        );
        options.servers.push("127.0.0.1".into());
        assert_eq!(
            check_required(&options),
            Err("The zone master server must be specified")
        );
        options.masters.push("127.0.0.1".into());
        assert_eq!(
            check_required(&options),
            Err("At least one zone must be specified")
        );
        options.zones.push("z".into());
        assert_eq!(check_required(&options), Ok(()));
        options.caching_only = true;
        assert_eq!(
            check_required(&options),
            Err("At least one query must be specified")
        );
    }
}
