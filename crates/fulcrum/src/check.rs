//! `fulcrum check [-c FILE]` (default `/etc/fulcrum/fulcrum.conf`): parses and validates a configuration file without running anything.
//! Exit 0 and `FILE: ok: SUMMARY` on stdout for a valid file, with a warning on stderr for each
//! statement that is accepted and ignored (`FILE:LINE:COL: warning: ...`); exit 1 with every
//! error on stderr otherwise (an unreadable file included). With `--host`, a valid file is then
//! checked against the host it runs on ([`crate::hostcheck`]), which decides the exit code.
//! A valid file that runs session sync without `set synckey` gets a `FILE: warning: ...` too
//! (it stays valid: the seed's own configuration is one).

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file to check.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = crate::DEFAULT_CONFIG)]
    config: PathBuf,
    /// Also check this host: interfaces, VIP on lo, ARP sysctls, capabilities, free ports.
    #[arg(long)]
    host: bool,
}

pub fn main(args: Args) -> u8 {
    let name = args.config.display().to_string();
    let text = match std::fs::read_to_string(&args.config) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("fulcrum check: cannot read {name}: {e}");
            return 1;
        }
    };
    match fulcrum_config::load(&name, &text) {
        Ok(loaded) => {
            eprint!("{}", loaded.warnings);
            for warning in warnings(&loaded.config) {
                eprintln!("{name}: warning: {warning}");
            }
            println!("{name}: ok: {}", loaded.config.summary());
            if args.host {
                crate::hostcheck::run(&loaded.config)
            } else {
                0
            }
        }
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            let count = diagnostics.0.len();
            eprintln!("{name}: {count} error{}", if count == 1 { "" } else { "s" });
            1
        }
    }
}

/// What a valid configuration does that an operator should know about.
fn warnings(config: &fulcrum_core::model::Config) -> Vec<String> {
    let mut out = Vec::new();
    let syncpeer = config
        .networks
        .values()
        .any(|n| n.registered && n.enabled && !n.syncpeers.is_empty());
    let sync_runs = syncpeer || config.vrrp.is_some();
    if sync_runs && config.settings.sync_key.is_none() {
        out.push(
            "session sync runs without `set synckey`: a host on the segment that sees the sync \
             traffic reads every client address and, spoofing the peer's address, can inject or \
             remove sessions (see docs/sync.md and docs/security.md)"
                .to_string(),
        );
        if !syncpeer {
            out.push(
                "no `syncpeer`: the master takes as its sync peer any host on the segment that \
                 answers a cookie round trip, and sends it every client address"
                    .to_string(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_without_a_key_is_warned_about_and_with_one_not() {
        let base = "network 1 {\n  real 10.0.0.1\n  syncpeer 10.0.0.2\n}\n\
                    register network 1\nenable network 1\n";
        let config = fulcrum_config::parse("t", base).expect("valid");
        let found = warnings(&config);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("without `set synckey`"), "{found:?}");
        let keyed = format!("set synckey \"k\"\n{base}");
        let config = fulcrum_config::parse("t", &keyed).expect("valid");
        assert!(warnings(&config).is_empty());
        let no_sync = "network 1 {\n  real 10.0.0.1\n}\nregister network 1\nenable network 1\n";
        let config = fulcrum_config::parse("t", no_sync).expect("valid");
        assert!(warnings(&config).is_empty());
    }
}
