//! Statements applied live on top of a running configuration, as typed in the control shell.

use std::net::IpAddr;

use fulcrum_config::apply;
use fulcrum_core::model::{Config, VrrpVersion};

const NS0A: &str = include_str!("../../../tests/fixtures/ns0a.conf");

fn base() -> Config {
    fulcrum_config::parse("ns0a.conf", NS0A).unwrap()
}

fn errors(base: &Config, text: &str) -> Vec<String> {
    apply(base, "<shell>", text)
        .unwrap_err()
        .0
        .into_iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect()
}

#[test]
fn disable_and_enable_a_target() {
    let base = base();
    let disabled = apply(&base, "<shell>", "disable target 2").unwrap();
    assert!(!disabled.targets[&2].enabled);
    assert!(disabled.targets[&2].registered);
    let mut expected = base.clone();
    expected.targets.get_mut(&2).unwrap().enabled = false;
    assert_eq!(disabled, expected);
    let enabled = apply(&disabled, "<shell>", "enable target 2").unwrap();
    assert_eq!(enabled, base);
}

#[test]
fn add_register_and_enable_a_target() {
    let base = base();
    let added = apply(&base, "<shell>", "target 3 { ipaddr 127.0.0.3 port 53 }").unwrap();
    let target = &added.targets[&3];
    assert_eq!(target.ipaddr, "127.0.0.3".parse::<IpAddr>().unwrap());
    assert_eq!(target.port, Some(53));
    assert!(!target.registered && !target.enabled);
    let registered = apply(&added, "<shell>", "register target 3").unwrap();
    assert!(registered.targets[&3].registered);
    let enabled = apply(&registered, "<shell>", "enable targets 3").unwrap();
    assert!(enabled.targets[&3].enabled);
    let used = apply(&enabled, "<shell>", "server 1 { targets 1-3 }").unwrap();
    assert_eq!(used.servers[&1].targets, vec![1, 2, 3]);
    assert_eq!(used.servers[&1].method, base.servers[&1].method);
}

#[test]
fn a_block_for_an_existing_id_changes_only_what_it_names() {
    let base = base();
    let changed = apply(&base, "<shell>", "target 1 {\nport 5353\nweight 3\n}").unwrap();
    let mut expected = base.clone();
    let target = expected.targets.get_mut(&1).unwrap();
    target.port = Some(5353);
    target.weight = 3;
    assert_eq!(changed, expected);
}

#[test]
fn settings_apply_live() {
    let changed = apply(&base(), "<shell>", "set sessiontimeout 300").unwrap();
    assert_eq!(changed.settings.session_timeout, 300);
    let block = apply(&changed, "<shell>", "set { failopen 1 maxsessions 1000 }").unwrap();
    assert!(block.settings.failopen);
    assert_eq!(block.settings.max_sessions, 1000);
    assert_eq!(block.settings.session_timeout, 300);
}

#[test]
fn unregister_also_disables() {
    let changed = apply(&base(), "<shell>", "unregister target 1").unwrap();
    assert!(!changed.targets[&1].registered && !changed.targets[&1].enabled);
}

#[test]
fn the_same_id_twice_in_one_text_is_an_error_but_not_across_texts() {
    let base = base();
    assert_eq!(
        errors(&base, "target 1 { port 54 } target 1 { port 55 }"),
        vec!["1:22: target 1 is defined twice"]
    );
    let once = apply(&base, "<shell>", "target 1 { port 54 }").unwrap();
    let twice = apply(&once, "<shell>", "target 1 { port 55 }").unwrap();
    assert_eq!(twice.targets[&1].port, Some(55));
}

#[test]
fn errors_change_nothing_and_are_all_reported() {
    let base = base();
    assert_eq!(
        errors(&base, "enable target 3"),
        vec!["1:15: cannot enable target 3: it is not defined"]
    );
    assert_eq!(
        errors(&base, "register targets 1-9"),
        vec!["1:18: cannot register target 3: it is not defined"]
    );
    assert_eq!(
        errors(&base, "server 1 { targets 1,4 }\ntarget 5 { port 1 }"),
        vec![
            "1:22: server 1 uses target 4, which is not defined",
            "2:1: target 5 has no ipaddr",
        ]
    );
    assert_eq!(
        errors(&base, "disable tagret 2"),
        vec![
            "1:9: found \"tagret\", expected what to disable (network, server, target, interface)"
        ]
    );
}

#[test]
fn vrrp_changes_are_checked_against_the_merged_result() {
    let base = base();
    assert_eq!(
        errors(&base, "vrrp { advert 100ms }"),
        vec!["1:8: VRRP version 2 needs an advert of whole seconds from 1s to 255s, found 100ms"]
    );
    let v3 = apply(&base, "<shell>", "vrrp { version 3 advert 100ms }").unwrap();
    let vrrp = v3.vrrp.as_ref().unwrap();
    assert_eq!(
        (vrrp.version, vrrp.advert_ms, vrrp.vrid),
        (VrrpVersion::V3, 100, 7)
    );
}

#[test]
fn a_known_interface_name_is_not_declared_again() {
    let base = base();
    assert_eq!(apply(&base, "<shell>", "interface eth1").unwrap(), base);
    let more = apply(&base, "<shell>", "interface eth2").unwrap();
    assert_eq!(more.interfaces[&2].name, "eth2");
}

#[test]
fn empty_and_comment_only_texts_change_nothing() {
    let base = base();
    assert_eq!(apply(&base, "<shell>", "").unwrap(), base);
    assert_eq!(apply(&base, "<shell>", "  // nothing\n").unwrap(), base);
}
