//! `fulcrum daemon` (being written).

#[derive(clap::Args)]
pub struct Args {}

pub fn main(_args: Args) -> u8 {
    eprintln!("fulcrum daemon: not built yet");
    2
}
