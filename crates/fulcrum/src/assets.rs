//! `fulcrum assets DIR` (hidden): writes what the package ships beside the binary, generated from
//! the same command-line definition the binary parses, so they cannot drift apart: the man pages
//! `fulcrum.8` and `fulcrum-SUBCOMMAND.8` (clap_mangen) under `DIR/man8`, and shell completions
//! (clap_complete) as `DIR/completions/fulcrum` (bash), `_fulcrum` (zsh), `fulcrum.fish`.

use std::fs;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

#[derive(clap::Args)]
pub struct Args {
    /// The directory to write `man8/` and `completions/` into.
    dir: PathBuf,
}

pub fn main(args: Args, command: clap::Command) -> u8 {
    match write_all(&args.dir, command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fulcrum assets: {e}");
            1
        }
    }
}

fn write_all(dir: &Path, command: clap::Command) -> std::io::Result<()> {
    let mut command = command;
    command.build();
    let man = dir.join("man8");
    fs::create_dir_all(&man)?;
    write_page(&man, "fulcrum", &command)?;
    let shown = command.get_subcommands().filter(|s| !s.is_hide_set());
    for sub in shown {
        let name = format!("fulcrum-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        write_page(&man, &name, &sub)?;
    }
    let completions = dir.join("completions");
    fs::create_dir_all(&completions)?;
    for (shell, file) in [
        (Shell::Bash, "fulcrum"),
        (Shell::Zsh, "_fulcrum"),
        (Shell::Fish, "fulcrum.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut command, "fulcrum", &mut out);
        fs::write(completions.join(file), out)?;
    }
    Ok(())
}

fn write_page(dir: &Path, name: &str, command: &clap::Command) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .section("8")
        .source(format!("fulcrum {}", crate::VERSION))
        .manual("System Manager's Manual")
        .render(&mut out)?;
    fs::write(dir.join(format!("{name}.8")), out)
}
