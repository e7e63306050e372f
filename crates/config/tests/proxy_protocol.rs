//! `proxyprotocol enable|disable` on a target: parsed, printed by `show config`, changed live
//! by a shell statement, and refused on a DSR target at the statement that makes the pair.

use fulcrum_config::ast::Kind;
use fulcrum_config::{apply, diff, parse, print, Change};

const BASE: &str = "server 1 {\nipaddr 10.0.0.9\ntargets 1,2\n}\n\
                    target 1 {\nipaddr 10.0.0.1\nproxyprotocol enable\n}\n\
                    target 2 {\nipaddr 10.0.0.2\n}\n";

fn positions(text: &str, base: &fulcrum_core::model::Config) -> Vec<String> {
    match apply(base, "shell", text) {
        Ok(_) => vec!["(applied)".to_string()],
        Err(d) => {
            d.0.iter()
                .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
                .collect()
        }
    }
}

#[test]
fn parsed_printed_and_read_back() {
    let config = parse("t.conf", BASE).expect("valid");
    assert!(config.targets[&1].proxy_protocol);
    assert!(!config.targets[&2].proxy_protocol);
    let printed = print(&config, "now");
    assert!(
        printed.contains("target 1 {\nipaddr 10.0.0.1\nproxyprotocol enable\n}"),
        "{printed}"
    );
    assert!(
        !printed.contains("target 2 {\nipaddr 10.0.0.2\nproxyprotocol"),
        "{printed}"
    );
    assert_eq!(parse("printed", &printed).expect("reparses"), config);
}

#[test]
fn switched_live_by_a_shell_statement() {
    let base = parse("t.conf", BASE).expect("valid");
    let on = apply(&base, "shell", "target 2 { proxyprotocol enable }").expect("applies");
    assert!(on.targets[&2].proxy_protocol);
    assert_eq!(diff(&base, &on), vec![Change::Changed(Kind::Target, 2)]);
    let off = apply(&on, "shell", "target 1 { proxyprotocol disable }").expect("applies");
    assert!(!off.targets[&1].proxy_protocol);
}

#[test]
fn refused_on_a_dsr_target_where_the_pair_is_made() {
    let base = parse("t.conf", BASE).expect("valid");
    assert_eq!(
        positions("target 1 {\n  dsr enable\n}", &base),
        vec!["2:3: proxyprotocol enable on target 1, which is a DSR target"]
    );
    let dsr = apply(
        &base,
        "shell",
        "target 1 { proxyprotocol disable dsr enable }",
    )
    .expect("ok");
    assert_eq!(
        positions("target 1 { proxyprotocol enable }", &dsr),
        vec!["1:12: proxyprotocol enable on target 1, which is a DSR target"]
    );
}
