//! `fulcrum check` (being written).

#[derive(clap::Args)]
pub struct Args {}

pub fn main(_args: Args) -> u8 {
    eprintln!("fulcrum check: not built yet");
    2
}
