//! `show target N`: one target's health detail, one fact per line, printed after the target's
//! `show targets` row (which carries the per-check lines). The DSR plane's path-probe counters
//! come from the caller, which holds the daemon's planes.

use fulcrum_core::health::TargetStatus;
use fulcrum_core::model::Config;

use crate::dsr::path::PathTotals;

/// The detail text, or an error line when the target does not exist.
pub fn target_detail(
    config: &Config,
    id: u32,
    status: Option<&TargetStatus>,
    dsr_path: Option<PathTotals>,
    foreign_icmp: u64,
    alerts_not_run: u64,
) -> Result<String, String> {
    let Some(target) = config.targets.get(&id) else {
        return Err(format!("ERROR: no target {id} (try show targets)"));
    };
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    let mut out = format!("target {id}\n");
    out.push_str(&format!(
        "  address      {}\n",
        super::endpoint(config, target)
    ));
    out.push_str(&format!("  registered   {}\n", yes_no(target.registered)));
    out.push_str(&format!("  enabled      {}\n", yes_no(target.enabled)));
    out.push_str(&format!(
        "  proxyprotocol {}\n",
        yes_no(target.proxy_protocol)
    ));
    let operational = status.is_some_and(|s| s.operational);
    out.push_str(&format!("  operational  {}\n", yes_no(operational)));
    let script = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    out.push_str(&format!("  alert        {}\n", script(&target.alert)));
    out.push_str(&format!("  upalert      {}\n", script(&target.upalert)));
    // The per-check lines are printed under the target's row just before this detail.
    match status {
        Some(status) if !status.checks.is_empty() => {
            out.push_str(&format!("  checks       {}\n", status.checks.len()));
            for check in &status.checks {
                if let Some(value) = check.agent_value {
                    out.push_str(&format!("  agent value  {value}\n"));
                }
            }
        }
        Some(_) => out.push_str("  checks       none (operational while enabled)\n"),
        None => out.push_str("  checks       not probed (target not registered)\n"),
    }
    out.push_str(&format!(
        "  foreign ICMP ignored by ping probes (all targets): {foreign_icmp}\n"
    ));
    out.push_str(&format!(
        "  alert scripts not run, queue full (all targets): {alerts_not_run}\n"
    ));
    if let Some(path) = dsr_path {
        out.push_str(&format!(
            "  dsr-path probes (all targets): {} sent, {} answered, {} foreign or late answers ignored\n",
            path.sent, path.answers, path.ignored
        ));
    }
    Ok(out)
}
