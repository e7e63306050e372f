//! `fulcrum dns-check` against the real thing: every scenario runs both mon's
//! `/usr/lib/mon/mon.d/dns.monitor` and `fulcrum dns-check` with the same arguments against the
//! same real Bind9 servers, and requires the same exit code and the same output (the first line
//! lists the failing servers). dns.monitor has no port option, so each test gets its own network
//! namespace whose `lo` carries 127.0.1.x addresses, one Bind9 on port 53 per address; both tools
//! run inside it. Needs root, bind9, mon and libnet-dns-perl.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use netlab::bind9::{Bind9, Bind9Options, LoopbackNetns, Zone};
use testkit::fulcrum;

const DNS_MONITOR: &str = "/usr/lib/mon/mon.d/dns.monitor";
const ZONE: &str = "balanceng.net";

/// 127.0.1.`octet`.
fn addr(octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, octet))
}

fn ip(octet: u8) -> String {
    addr(octet).to_string()
}

/// The primary master and two up-to-date servers; 9 is an address where nothing listens.
const MASTER: u8 = 1;
const GOOD_A: u8 = 2;
const GOOD_B: u8 = 3;
const STALE: u8 = 4;
const OTHER_ZONE_ONLY: u8 = 5;
const DOWN: u8 = 9;

/// One namespace with the servers a scenario needs. Servers stop before the namespace goes.
struct Lab {
    servers: Vec<Bind9>,
    netns: LoopbackNetns,
    /// Run both tools with POSIXLY_CORRECT set (Getopt::Long's strict mode).
    posixly_correct: bool,
}

impl Lab {
    /// Starts a Bind9 on 127.0.1.`octet` for each `(octet, zones)`.
    fn new(servers: &[(u8, Vec<Zone>)]) -> Lab {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        for tool in [DNS_MONITOR, "/usr/sbin/named"] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: install the Debian packages mon, libnet-dns-perl and bind9"
            );
        }
        let name = format!(
            "dnschk-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut addrs: Vec<IpAddr> = servers.iter().map(|(octet, _)| addr(*octet)).collect();
        addrs.push(addr(DOWN));
        let netns = match LoopbackNetns::create(&name, &addrs) {
            Ok(netns) => netns,
            Err(e) => panic!("creating namespace {name}: {e}"),
        };
        let mut started = Vec::new();
        for (octet, zones) in servers {
            let options = Bind9Options {
                listen: vec![addr(*octet)],
                port: 53,
                zones: zones.clone(),
                netns: Some(name.clone()),
                extra_options: String::new(),
            };
            match Bind9::start(options) {
                Ok(named) => started.push(named),
                Err(e) => panic!("starting Bind9 on {}: {e}", addr(*octet)),
            }
        }
        Lab {
            servers: started,
            netns,
            posixly_correct: false,
        }
    }

    /// The usual cast: master, two good servers, a stale one (serial 99), one serving only
    /// `other.net`.
    fn standard() -> Lab {
        Lab::new(&[
            (MASTER, vec![zone(100), other_zone()]),
            (GOOD_A, vec![zone(100)]),
            (GOOD_B, vec![zone(100), other_zone()]),
            (STALE, vec![zone(99)]),
            (OTHER_ZONE_ONLY, vec![other_zone()]),
        ])
    }

    fn run(&self, program: &str, args: &[String]) -> Output {
        let mut cmd = self.netns.command(program);
        if program == fulcrum() {
            cmd.arg("dns-check");
        }
        if self.posixly_correct {
            cmd.env("POSIXLY_CORRECT", "1");
        } else {
            cmd.env_remove("POSIXLY_CORRECT");
        }
        match cmd.args(args).output() {
            Ok(output) => output,
            Err(e) => panic!("running {program}: {e}"),
        }
    }

    /// Runs both tools with `args` (plus short timeouts) and requires the same verdict.
    /// Returns the exit code and stdout they agree on.
    fn compare(&self, args: &str) -> (i32, String) {
        // One try of two seconds: a loaded machine still answers in time; a dead server costs
        // dns.monitor two seconds.
        let mut full: Vec<String> = vec![
            "-retry".into(),
            "1".into(),
            "-retransmit".into(),
            "2".into(),
        ];
        full.extend(args.split_whitespace().map(String::from));
        let theirs = self.run(DNS_MONITOR, &full);
        let ours = self.run(fulcrum(), &full);
        let text = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "exit codes differ for `{args}`\n dns.monitor stdout:\n{}\n stderr:\n{}\n fulcrum stdout:\n{}\n stderr:\n{}",
            text(&theirs),
            String::from_utf8_lossy(&theirs.stderr),
            text(&ours),
            String::from_utf8_lossy(&ours.stderr),
        );
        let first_line = |o: &Output| text(o).lines().next().unwrap_or("").to_string();
        assert_eq!(
            first_line(&ours),
            first_line(&theirs),
            "failing servers differ for `{args}`"
        );
        assert_eq!(text(&ours), text(&theirs), "details differ for `{args}`");
        (theirs.status.code().unwrap_or(-1), text(&theirs))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for server in &mut self.servers {
            server.stop();
        }
    }
}

fn zone(serial: u32) -> Zone {
    Zone::primary(
        ZONE,
        serial,
        &[
            "www IN A 192.0.2.10",
            "www2 IN A 192.0.2.10",
            "www3 IN A 192.0.2.11",
            "alias IN CNAME target.elsewhere.test.",
        ],
    )
}

fn other_zone() -> Zone {
    Zone::primary("other.net", 5, &[])
}

fn args(text: &str) -> String {
    // `M`, `A`, `B`, `S`, `O`, `D` stand for the servers' addresses (also after `=`).
    let server = |word: &str| match word {
        "M" => ip(MASTER),
        "A" => ip(GOOD_A),
        "B" => ip(GOOD_B),
        "S" => ip(STALE),
        "O" => ip(OTHER_ZONE_ONLY),
        "D" => ip(DOWN),
        other => other.to_string(),
    };
    text.split_whitespace()
        .map(|word| match word.split_once('=') {
            Some((option, value)) => format!("{option}={}", server(value)),
            None => server(word),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn all_good() {
    let lab = Lab::standard();
    let (code, out) = lab.compare(&args("-zone balanceng.net -master M M A B"));
    assert_eq!((code, out.as_str()), (0, ""));
    // The seed's shape: the master also listed as the server.
    assert_eq!(lab.compare(&args("-zone balanceng.net -master M M")).0, 0);
    assert_eq!(
        lab.compare(&args("--zone=balanceng.net --master=M -tcp A B"))
            .0,
        0
    );
}

#[test]
fn serial_mismatch() {
    let lab = Lab::standard();
    let (code, out) = lab.compare(&args("-zone balanceng.net -master M A S B"));
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!("{}(balanceng.net) \n", ip(STALE))),
        "{out}"
    );
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master M -tcp S")).0,
        1
    );
}

#[test]
fn serial_threshold() {
    let lab = Lab::standard();
    assert_eq!(
        lab.compare(&args(
            "-zone balanceng.net -master M -serial_threshold 1 S A"
        ))
        .0,
        0
    );
    assert_eq!(
        lab.compare(&args(
            "-zone balanceng.net -master M -serial_threshold 0 S A"
        ))
        .0,
        1
    );
    // Perl's numeric conversion of the string option: "1x" is 1, "x" is 0.
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master M -serial_th 1x S"))
            .0,
        0
    );
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master M -serial_threshold x S"))
            .0,
        1
    );
}

#[test]
fn server_down() {
    let lab = Lab::standard();
    let (code, out) = lab.compare(&args("-zone balanceng.net -master M A D B"));
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!("{}(balanceng.net) \n", ip(DOWN))),
        "{out}"
    );
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master M -tcp -timeout 2 D A"))
            .0,
        1
    );
    assert_eq!(lab.compare(&args("-zone balanceng.net -master M D S")).0, 2);
}

#[test]
fn server_not_authoritative() {
    let lab = Lab::standard();
    // O does not serve the zone (REFUSED); A does not serve other.net.
    assert_eq!(lab.compare(&args("-zone balanceng.net -master M O A")).0, 1);
    assert_eq!(lab.compare(&args("-zone other.net -master M A B")).0, 1);
    // A name inside the zone rather than its apex: NOERROR, empty answer.
    assert_eq!(
        lab.compare(&args("-zone www.balanceng.net -master M A")).0,
        251
    );
}

#[test]
fn master_down() {
    let lab = Lab::standard();
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master D A B")).0,
        251
    );
    // One master of two down: the other one's serial is used.
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master D -master M A B"))
            .0,
        0
    );
    // -failsingle: any failing master fails the zone.
    assert_eq!(
        lab.compare(&args(
            "-zone balanceng.net -master M -master D -failsingle A"
        ))
        .0,
        251
    );
    // Every master down with two masters: the script's return list puts the second error
    // message where the count goes, "SOA query ..." counts as 0, and the script exits 0.
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master D -master O A"))
            .0,
        0
    );
    // A master answering with one CNAME: the script's printf-for-sprintf bug prints the
    // message at once and stores 1 as the error.
    let (code, out) = lab.compare(&args("-zone alias.balanceng.net -master M A"));
    assert_eq!(code, 251);
    assert!(out.contains("return type = CNAME"), "{out}");
    // A master that does not serve the zone is a failing master.
    assert_eq!(lab.compare(&args("-zone balanceng.net -master O A")).0, 251);
    // A master name that does not resolve.
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master no-such-host.invalid A"))
            .0,
        251
    );
}

#[test]
fn two_masters_disagreeing() {
    let lab = Lab::standard();
    let (code, out) = lab.compare(&args("-zone balanceng.net -master M -master S A"));
    assert_eq!(code, 252);
    assert!(
        out.starts_with(&format!("{}(balanceng.net) \n", ip(STALE))),
        "{out}"
    );
    assert_eq!(
        lab.compare(&args(
            "-zone balanceng.net -master M -master S -serial_threshold 1 A S"
        ))
        .0,
        0
    );
}

#[test]
fn several_zones_report_the_worst() {
    let lab = Lab::standard();
    // balanceng.net fails on S and D, other.net on A: exit 2, the detail lines as the script
    // prints them (its flattened server list included).
    let (code, _) = lab.compare(&args("-zone balanceng.net -zone other.net -master M S D A"));
    assert_eq!(code, 3);
    assert_eq!(
        lab.compare(&args("-z balanceng.net -z other.net -m M B")).0,
        0
    );
}

#[test]
fn caching_only_mode() {
    let lab = Lab::standard();
    assert_eq!(
        lab.compare(&args("-caching_only -query www.balanceng.net M A"))
            .0,
        0
    );
    assert_eq!(
        lab.compare(&args("-caching_only -query www.balanceng.net:A D O M"))
            .0,
        2
    );
    assert_eq!(
        lab.compare(&args(
            "-caching_only -query www.balanceng.net:A:www2.balanceng.net M"
        ))
        .0,
        0
    );
    assert_eq!(
        lab.compare(&args(
            "-caching_only -query www.balanceng.net:A:www3.balanceng.net M A"
        ))
        .0,
        2
    );
    assert_eq!(
        lab.compare(&args(
            "-caching_only -query balanceng.net:SOA -query nothing.balanceng.net M"
        ))
        .0,
        1
    );
}

#[test]
fn bad_options_exit_255() {
    let lab = Lab::new(&[]);
    for bad in [
        "",
        "-zone balanceng.net M",
        "-master M M",
        "-zone z -master M",
        "-t -zone z -master M M",
        "-bogus -zone z -master M M",
        "-retry x -zone z -master M M",
        "-caching_only M",
    ] {
        assert_eq!(lab.compare(&args(bad)).0, 255, "{bad}");
    }
}

#[test]
fn posixly_correct_parsing() {
    let mut lab = Lab::new(&[(MASTER, vec![zone(100)])]);
    lab.posixly_correct = true;
    // No abbreviations, no `+`.
    assert_eq!(lab.compare(&args("-z balanceng.net -master M M")).0, 255);
    assert_eq!(lab.compare(&args("+zone balanceng.net -master M M")).0, 255);
    // The first server ends the options: `-tcp` is then a server name, which does not resolve.
    assert_eq!(
        lab.compare(&args("-zone balanceng.net -master M M -tcp")).0,
        1
    );
    assert_eq!(lab.compare(&args("-zone balanceng.net --master=M M")).0, 0);
}
