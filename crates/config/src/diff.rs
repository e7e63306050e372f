//! What changed between two configurations, thing by thing, so that a reload or a live command
//! can be logged one line per change (`target 2 disabled`) and a driver can restart only what
//! changed. Changes come in a stable order: global parts, interfaces, networks, servers, targets,
//! each in id order; registration and enabling are reported apart from other edits.

use std::collections::BTreeMap;
use std::fmt;

use fulcrum_core::model::{Config, Network, Server, Target};

use crate::ast::Kind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `hostname`, `license`, `settings`, `modules`, `vrrp` or `gateway` differs.
    Global(&'static str),
    Added(Kind, u32),
    Removed(Kind, u32),
    /// Options other than registration and enabling differ.
    Changed(Kind, u32),
    Registered(Kind, u32, bool),
    Enabled(Kind, u32, bool),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Global(what) => write!(f, "{what} changed"),
            Change::Added(kind, id) => write!(f, "{} {id} added", kind.noun()),
            Change::Removed(kind, id) => write!(f, "{} {id} removed", kind.noun()),
            Change::Changed(kind, id) => write!(f, "{} {id} changed", kind.noun()),
            Change::Registered(kind, id, on) => {
                let verb = if *on { "registered" } else { "unregistered" };
                write!(f, "{} {id} {verb}", kind.noun())
            }
            Change::Enabled(kind, id, on) => {
                let verb = if *on { "enabled" } else { "disabled" };
                write!(f, "{} {id} {verb}", kind.noun())
            }
        }
    }
}

/// Registration flags of a thing, and the thing with them cleared (to compare the rest).
trait Flagged: Clone + PartialEq {
    fn flags(&self) -> (bool, bool);
    fn without_flags(&self) -> Self;
}

macro_rules! flagged {
    ($t:ty) => {
        impl Flagged for $t {
            fn flags(&self) -> (bool, bool) {
                (self.registered, self.enabled)
            }
            fn without_flags(&self) -> Self {
                let mut copy = self.clone();
                copy.registered = false;
                copy.enabled = false;
                copy
            }
        }
    };
}
flagged!(Network);
flagged!(Server);
flagged!(Target);

fn things<T: Flagged>(
    kind: Kind,
    old: &BTreeMap<u32, T>,
    new: &BTreeMap<u32, T>,
    changes: &mut Vec<Change>,
) {
    for (id, before) in old {
        let Some(after) = new.get(id) else {
            changes.push(Change::Removed(kind, *id));
            continue;
        };
        if before.without_flags() != after.without_flags() {
            changes.push(Change::Changed(kind, *id));
        }
        let ((reg_before, en_before), (reg_after, en_after)) = (before.flags(), after.flags());
        if reg_before != reg_after {
            changes.push(Change::Registered(kind, *id, reg_after));
        }
        if en_before != en_after {
            changes.push(Change::Enabled(kind, *id, en_after));
        }
    }
    for (id, after) in new {
        if old.contains_key(id) {
            continue;
        }
        changes.push(Change::Added(kind, *id));
        let (registered, enabled) = after.flags();
        if registered {
            changes.push(Change::Registered(kind, *id, true));
        }
        if enabled {
            changes.push(Change::Enabled(kind, *id, true));
        }
    }
}

/// Every change from `old` to `new`; empty when they are equal.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut changes = Vec::new();
    let globals = [
        ("hostname", old.hostname != new.hostname),
        ("license", old.license != new.license),
        ("settings", old.settings != new.settings),
        ("modules", old.modules != new.modules),
        ("vrrp", old.vrrp != new.vrrp),
        ("announce", old.announce != new.announce),
        ("gateway", old.gateway != new.gateway),
    ];
    changes.extend(
        globals
            .into_iter()
            .filter(|(_, differs)| *differs)
            .map(|(what, _)| Change::Global(what)),
    );
    for (id, before) in &old.interfaces {
        match new.interfaces.get(id) {
            None => changes.push(Change::Removed(Kind::Interface, *id)),
            Some(after) if after != before => changes.push(Change::Changed(Kind::Interface, *id)),
            Some(_) => {}
        }
    }
    for id in new.interfaces.keys() {
        if !old.interfaces.contains_key(id) {
            changes.push(Change::Added(Kind::Interface, *id));
        }
    }
    things(Kind::Network, &old.networks, &new.networks, &mut changes);
    things(Kind::Server, &old.servers, &new.servers, &mut changes);
    things(Kind::Target, &old.targets, &new.targets, &mut changes);
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "target 1 { ipaddr 10.0.0.1 }\ntarget 2 { ipaddr 10.0.0.2 }\n\
        server 1 { ipaddr 10.0.0.9 targets 1,2 }\nregister targets 1,2\nenable targets 1,2\n";

    fn changes(live: &str) -> Vec<String> {
        let old = crate::parse("base.conf", BASE).unwrap();
        let new = crate::apply(&old, "<shell>", live).unwrap();
        diff(&old, &new).iter().map(Change::to_string).collect()
    }

    #[test]
    fn equal_configurations_have_no_changes() {
        assert!(changes("").is_empty());
        assert!(changes("enable target 1").is_empty());
    }

    #[test]
    fn each_kind_of_change_is_named() {
        assert_eq!(changes("disable target 2"), ["target 2 disabled"]);
        assert_eq!(
            changes("unregister target 1"),
            ["target 1 unregistered", "target 1 disabled"]
        );
        assert_eq!(
            changes("target 3 { ipaddr 10.0.0.3 } register target 3 set failopen 1"),
            ["settings changed", "target 3 added", "target 3 registered"]
        );
        assert_eq!(
            changes("target 1 { weight 5 } server 1 { targets 2 }"),
            ["server 1 changed", "target 1 changed"]
        );
        assert_eq!(changes("interface eth0"), ["interface 1 added"]);
    }

    #[test]
    fn removals_are_reported() {
        let old = crate::parse("base.conf", BASE).unwrap();
        let mut new = old.clone();
        new.targets.remove(&2);
        assert_eq!(diff(&old, &new), [Change::Removed(Kind::Target, 2)]);
    }
}
