//! `fulcrum check -c FILE`: parses and validates a configuration file without running anything.
//! Exit 0 and `FILE: ok: SUMMARY` on stdout for a valid file, with a warning on stderr for each
//! statement that is accepted and ignored (`FILE:LINE:COL: warning: ...`); exit 1 with every
//! error on stderr otherwise (an unreadable file included). With `--host`, a valid file is then
//! checked against the host it runs on ([`crate::hostcheck`]), which decides the exit code.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file to check.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
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
