//! `fulcrum check [-c FILE]` (default `/etc/fulcrum/fulcrum.conf`): parses and validates a configuration file without running anything.
//! Exit 0 and `FILE: ok: SUMMARY` on stdout for a valid file; exit 1 with every error on stderr
//! otherwise (an unreadable file included).

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file to check.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = crate::DEFAULT_CONFIG)]
    config: PathBuf,
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
    match fulcrum_config::parse(&name, &text) {
        Ok(config) => {
            println!("{name}: ok: {}", config.summary());
            0
        }
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            let count = diagnostics.0.len();
            eprintln!("{name}: {count} error{}", if count == 1 { "" } else { "s" });
            1
        }
    }
}
