//! `fulcrum check --host -c FILE`, run on the node itself: checks what only the host can tell
//! about running that configuration here, and prints one line per finding (`ok: ...`,
//! `warning: ...`, `error: ...`, each saying what to do), then a count. Exit 1 if any finding is
//! an error, else 0 (warnings only included).
//!
//! Three parts: [`facts`] (plain data about a host), [`gather`] (reads them from this process's
//! network namespace, /proc and sockets) and [`evaluate`] (the pure judgement, tested with
//! tables). What is checked is listed in `evaluate`'s contract and in `docs/deploy.md`.

mod dsr_plane;
mod evaluate;
mod facts;
mod finding;
mod gather;
#[cfg(test)]
mod tests;

use fulcrum_core::model::Config;

use evaluate::Level;

/// Checks this host for `config` and prints the findings; returns the exit code.
pub fn run(config: &Config) -> u8 {
    let facts = gather::gather(&gather::Tries {
        udp_ports: evaluate::udp_ports_to_try(config),
        freebind: evaluate::freebind_to_try(config),
        af_xdp: evaluate::af_xdp_to_try(config),
        xdp_program: dsr_plane::routed_dsr(config),
        offloads_of: dsr_plane::dsr_interfaces(config),
    });
    let findings = evaluate::evaluate(config, &facts);
    for finding in &findings {
        println!("{finding}");
    }
    let count = |level| findings.iter().filter(|f| f.level == level).count();
    let (errors, warnings) = (count(Level::Error), count(Level::Warning));
    println!(
        "host check: {errors} error{}, {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    u8::from(errors > 0)
}
