//! A server block's protection options onto its [`Policy`].
//!
//! Contract: `allow` and `deny` may repeat, and a block that names either gives the server's
//! whole access list in the order written (a live `server 1 { deny 192.0.2.0/24 }` replaces
//! the list; `allow all` alone empties it in effect); the other options change only what they
//! name, like every server option. `rateaction tc` and `bytelimit` on a server with DSR targets
//! warn: the DSR plane builds no answers (so it drops) and never sees them (so it cannot count
//! their bytes).

use fulcrum_core::model::Config;
use fulcrum_core::protect::{Action, OverLimit, Policy, Rule};

use super::Origins;
use crate::ast::{Kind, Opt, ServerOpt};
use crate::diag::Error;

/// The options that may be given more than once in one block.
pub(super) const REPEATED: &[&str] = &["allow", "deny"];

pub(super) fn lower(policy: &mut Policy, opts: &[Opt<ServerOpt>]) {
    if opts.iter().any(|o| REPEATED.contains(&o.keyword)) {
        policy.acl.clear();
    }
    for opt in opts {
        match &opt.value {
            ServerOpt::Allow(prefixes) => policy.acl.extend(prefixes.iter().map(|&prefix| Rule {
                action: Action::Allow,
                prefix,
            })),
            ServerOpt::Deny(prefixes) => policy.acl.extend(prefixes.iter().map(|&prefix| Rule {
                action: Action::Deny,
                prefix,
            })),
            ServerOpt::RateLimit(rate) => policy.ratelimit = *rate,
            ServerOpt::AnyLimit(rate) => policy.anylimit = *rate,
            ServerOpt::ByteLimit(rate) => policy.bytelimit = *rate,
            ServerOpt::RatePrefix(v4, v6) => {
                policy.v4_prefix = *v4;
                policy.v6_prefix = *v6;
            }
            ServerOpt::RateAction(action) => policy.over_limit = *action,
            _ => {}
        }
    }
}

/// A warning for each `rateaction tc` and `bytelimit` this text wrote on a server with a
/// `dsr enable` target.
pub(crate) fn warnings(config: &Config, origins: &Origins) -> Vec<Error> {
    let mut warnings = Vec::new();
    for (id, server) in &config.servers {
        let dsr = server
            .targets
            .iter()
            .filter_map(|t| config.targets.get(t))
            .any(|t| t.dsr);
        if !dsr {
            continue;
        }
        let written = |keyword| origins.block_opts.get(&(Kind::Server, *id, keyword));
        if let (OverLimit::Truncate, Some(span)) =
            (server.protection.over_limit, written("rateaction"))
        {
            warnings.push(Error::new(
                *span,
                format!(
                    "rateaction tc of server {id} acts as drop for its DSR targets: the DSR plane \
                     forwards frames and builds no answers"
                ),
            ));
        }
        if let (Some(_), Some(span)) = (server.protection.bytelimit, written("bytelimit")) {
            warnings.push(Error::new(
                *span,
                format!(
                    "bytelimit of server {id} does not apply to its DSR targets: their answers \
                     go straight to the client, never through Fulcrum"
                ),
            ));
        }
    }
    warnings
}
