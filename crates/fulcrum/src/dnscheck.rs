//! `fulcrum dns-check` (being written). Takes its arguments raw: dns.monitor's options are
//! single-dash long options (`-zone`), which Getopt::Long accepts and clap does not.

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn main(_args: Args) -> u8 {
    eprintln!("fulcrum dns-check: not built yet");
    2
}
