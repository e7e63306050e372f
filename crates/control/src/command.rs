//! The command table: every command the control shell accepts, how a line is parsed into a
//! [`Command`], the `help` text, and tab completion. The daemon's dispatcher and the shell's
//! completer both read this one table, so they cannot disagree.
//!
//! A line whose first word is a configuration keyword (`target`, `disable`, `set`, ...) is a
//! [`Command::Statement`]: the daemon applies it with the configuration language itself, which
//! judges its arguments. Any other unknown first word is [`Command::Invalid`], answered with the
//! seed's `ERROR: invalid command (try help)`.

/// What the daemon answers to a line it does not know (the seed's Step 9, byte for byte).
pub const INVALID_COMMAND: &str = "ERROR: invalid command (try help)";

/// One shell command: the words that name it, its argument synopsis and one line of help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub words: &'static [&'static str],
    pub args: &'static str,
    pub help: &'static str,
}

const fn spec(
    words: &'static [&'static str],
    args: &'static str,
    help: &'static str,
) -> CommandSpec {
    CommandSpec { words, args, help }
}

/// The shell's own commands (configuration statements come on top, see [`STATEMENT_KEYWORDS`]).
pub const COMMANDS: &[CommandSpec] = &[
    spec(&["help"], "", "this list"),
    spec(
        &["show", "version"],
        "",
        "Fulcrum's version and the daemon's PID",
    ),
    spec(
        &["show", "license"],
        "",
        "licence status (none is needed) and the kept serial",
    ),
    spec(
        &["show", "config"],
        "",
        "the running configuration in canonical form",
    ),
    spec(&["show", "servers"], "", "servers with state and counters"),
    spec(&["show", "targets"], "", "targets with state and counters"),
    spec(
        &["show", "target"],
        "N",
        "one target: state, counters and health checks",
    ),
    spec(&["show", "networks"], "", "networks with state"),
    spec(
        &["show", "sessions"],
        "[N|all]",
        "the session table, newest first (first N, default 20)",
    ),
    spec(
        &["show", "vrrp"],
        "",
        "VRRP state, master, timers and counters",
    ),
    spec(
        &["show", "sync"],
        "",
        "session sync: peer, role, counters, resync state",
    ),
    spec(
        &["show", "announce"],
        "",
        "VIPs announced to the local routing daemon, and why the others are not",
    ),
    spec(
        &["show", "tcp"],
        "",
        "TCP proxy: open connections, caps, timeouts, descriptors, counters",
    ),
    spec(
        &["show", "stats"],
        "",
        "bytes per target, drops by reason per plane, DSR plane events, sync and VRRP counters",
    ),
    spec(
        &["save"],
        "",
        "write the running configuration to its file (the old one kept as FILE.bak)",
    ),
    spec(
        &["reload"],
        "",
        "reread the configuration file; on errors keep the running one",
    ),
    spec(&["quit"], "", "leave the shell"),
    spec(&["exit"], "", "leave the shell"),
];

/// Nouns after `register`, `unregister`, `enable` and `disable`.
use fulcrum_config::keywords::NOUNS as STATE_NOUNS;
/// Names after `set` (completion only; the configuration language judges them).
use fulcrum_config::keywords::SETTINGS as SETTING_NAMES;
/// First words of configuration statements, applied live: the configuration language's own
/// list, so the shell cannot disagree with the parser.
pub use fulcrum_config::keywords::STATEMENTS as STATEMENT_KEYWORDS;
const STATE_VERBS: &[&str] = &["register", "unregister", "enable", "disable"];

/// Default number of sessions `show sessions` lists (the same as the session renderer's default).
pub const DEFAULT_SESSIONS_SHOWN: usize = 20;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Blank line or a `//` comment: nothing to do.
    Empty,
    Help,
    ShowVersion,
    ShowLicense,
    ShowConfig,
    ShowServers,
    ShowTargets,
    /// `show target N`.
    ShowTarget(u32),
    ShowNetworks,
    /// `None`: all sessions.
    ShowSessions(Option<usize>),
    ShowVrrp,
    ShowSync,
    /// `show tcp`.
    ShowTcp,
    /// `show announce`.
    ShowAnnounce,
    /// `show stats`.
    ShowStats,
    Save,
    Reload,
    Quit,
    /// A configuration statement, to be applied live (the trimmed line).
    Statement(String),
    /// A known command with wrong arguments; the message says what was expected.
    BadArguments(String),
    /// Not a command at all.
    Invalid,
}

impl Command {
    /// Whether the command only reads (what a monitoring user on the read-only socket may run).
    pub fn is_read_only(&self) -> bool {
        // Exhaustive on purpose: a new command must be classified here.
        match self {
            Command::Empty
            | Command::Help
            | Command::ShowVersion
            | Command::ShowLicense
            | Command::ShowConfig
            | Command::ShowServers
            | Command::ShowTargets
            | Command::ShowTarget(_)
            | Command::ShowNetworks
            | Command::ShowSessions(_)
            | Command::ShowVrrp
            | Command::ShowSync
            | Command::ShowTcp
            | Command::ShowAnnounce
            | Command::ShowStats
            | Command::Quit
            | Command::BadArguments(_)
            | Command::Invalid => true,
            Command::Save | Command::Reload | Command::Statement(_) => false,
        }
    }
}

/// Parses one command line.
pub fn parse_command(line: &str) -> Command {
    let line = line.trim();
    if line.is_empty() || line.starts_with("//") {
        return Command::Empty;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let (first, rest) = match words.split_first() {
        Some((first, rest)) => (*first, rest),
        None => return Command::Empty,
    };
    match first {
        "help" => Command::Help,
        "save" => no_arguments("save", rest, Command::Save),
        "reload" => no_arguments("reload", rest, Command::Reload),
        "quit" | "exit" => no_arguments(first, rest, Command::Quit),
        "show" => parse_show(rest),
        _ if STATEMENT_KEYWORDS.contains(&first) => Command::Statement(line.to_string()),
        _ => Command::Invalid,
    }
}

fn no_arguments(name: &str, rest: &[&str], command: Command) -> Command {
    match rest.first() {
        None => command,
        Some(extra) => {
            Command::BadArguments(format!("{name}: expected no arguments, found \"{extra}\""))
        }
    }
}

fn parse_show(rest: &[&str]) -> Command {
    let what = match rest.first() {
        Some(what) => *what,
        None => return Command::BadArguments(format!("show: expected {}", show_choices())),
    };
    let args = &rest[1..];
    let name = format!("show {what}");
    match what {
        "version" => no_arguments(&name, args, Command::ShowVersion),
        "license" | "licence" => no_arguments(&name, args, Command::ShowLicense),
        "config" => no_arguments(&name, args, Command::ShowConfig),
        "servers" => no_arguments(&name, args, Command::ShowServers),
        "target" => parse_show_target(args),
        "targets" => no_arguments(&name, args, Command::ShowTargets),
        "networks" => no_arguments(&name, args, Command::ShowNetworks),
        "sessions" => parse_show_sessions(args),
        "vrrp" => no_arguments(&name, args, Command::ShowVrrp),
        "sync" => no_arguments(&name, args, Command::ShowSync),
        "tcp" => no_arguments(&name, args, Command::ShowTcp),
        "announce" => no_arguments(&name, args, Command::ShowAnnounce),
        "stats" => no_arguments(&name, args, Command::ShowStats),
        other => Command::BadArguments(format!(
            "show: expected {}, found \"{other}\"",
            show_choices()
        )),
    }
}

fn parse_show_target(args: &[&str]) -> Command {
    let expected = "show target: expected a target number";
    match args {
        [] => Command::BadArguments(expected.to_string()),
        [id] => match id.parse::<u32>() {
            Ok(id) => Command::ShowTarget(id),
            Err(_) => Command::BadArguments(format!("{expected}, found \"{id}\"")),
        },
        [_, extra, ..] => Command::BadArguments(format!(
            "show target: expected one argument, found \"{extra}\""
        )),
    }
}

fn parse_show_sessions(args: &[&str]) -> Command {
    let expected = "show sessions: expected a number or \"all\"";
    match args {
        [] => Command::ShowSessions(Some(DEFAULT_SESSIONS_SHOWN)),
        ["all"] => Command::ShowSessions(None),
        [n] => match n.parse::<usize>() {
            Ok(n) => Command::ShowSessions(Some(n)),
            Err(_) => Command::BadArguments(format!("{expected}, found \"{n}\"")),
        },
        [_, extra, ..] => Command::BadArguments(format!(
            "show sessions: expected at most one argument, found \"{extra}\""
        )),
    }
}

fn show_choices() -> String {
    let names: Vec<&str> = COMMANDS
        .iter()
        .filter(|c| c.words.first() == Some(&"show"))
        .filter_map(|c| c.words.get(1).copied())
        .collect();
    format!("one of {}", names.join(", "))
}

/// The `help` text: one line per command, then the configuration statements.
pub fn help_text() -> String {
    let mut out = String::from("commands:\n");
    for command in COMMANDS {
        let name = if command.args.is_empty() {
            command.words.join(" ")
        } else {
            format!("{} {}", command.words.join(" "), command.args)
        };
        out.push_str(&format!("  {name:<22} {}\n", command.help));
    }
    out.push_str("configuration statements, applied live (see `show config` for the syntax):\n");
    out.push_str(&format!("  {}\n", STATEMENT_KEYWORDS.join(" ")));
    out.push_str(
        "  e.g. \"disable target 2\", \"target 3 { ipaddr 10.0.0.3 }\", \"register target 3\"\n",
    );
    out
}

/// Every phrase the completer knows, as word sequences.
fn phrases() -> Vec<Vec<&'static str>> {
    let mut all: Vec<Vec<&'static str>> = COMMANDS.iter().map(|c| c.words.to_vec()).collect();
    for keyword in STATEMENT_KEYWORDS {
        if STATE_VERBS.contains(keyword) {
            all.extend(STATE_NOUNS.iter().map(|noun| vec![*keyword, *noun]));
        } else if *keyword == "set" {
            all.extend(SETTING_NAMES.iter().map(|name| vec!["set", *name]));
        } else {
            all.push(vec![*keyword]);
        }
    }
    all.push(vec!["show", "sessions", "all"]);
    all
}

/// Where the word being typed at the end of `line` starts: the byte just past the last
/// whitespace character (of whatever width: U+3000 takes three bytes), or 0.
pub fn partial_word_start(line: &str) -> usize {
    line.char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(at, c)| at + c.len_utf8())
}

/// Tab completion: the candidates for the word being typed at the end of `line` (everything after
/// the last space), sorted and unique. Each candidate is a whole word.
pub fn complete(line: &str) -> Vec<&'static str> {
    let start = partial_word_start(line);
    let (done, partial) = line.split_at(start);
    let done: Vec<&str> = done.split_whitespace().collect();
    let mut found: Vec<&'static str> = phrases()
        .into_iter()
        .filter(|phrase| phrase.len() > done.len() && phrase[..done.len()] == done[..])
        .map(|phrase| phrase[done.len()])
        .filter(|word| word.starts_with(partial))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shell_commands() {
        let table = [
            ("help", Command::Help),
            ("  show   version ", Command::ShowVersion),
            ("show license", Command::ShowLicense),
            ("show config", Command::ShowConfig),
            ("show servers", Command::ShowServers),
            ("show targets", Command::ShowTargets),
            ("show networks", Command::ShowNetworks),
            ("show target 2", Command::ShowTarget(2)),
            ("show sessions", Command::ShowSessions(Some(20))),
            ("show sessions 3", Command::ShowSessions(Some(3))),
            ("show sessions all", Command::ShowSessions(None)),
            ("show vrrp", Command::ShowVrrp),
            ("show sync", Command::ShowSync),
            ("show tcp", Command::ShowTcp),
            ("show announce", Command::ShowAnnounce),
            ("show stats", Command::ShowStats),
            ("save", Command::Save),
            ("reload", Command::Reload),
            ("quit", Command::Quit),
            ("exit", Command::Quit),
            ("", Command::Empty),
            ("// a comment", Command::Empty),
            ("shown sessions", Command::Invalid),
            ("frobnicate", Command::Invalid),
        ];
        for (line, expected) in table {
            assert_eq!(parse_command(line), expected, "{line:?}");
        }
    }

    #[test]
    fn configuration_statements_pass_through_trimmed() {
        for line in [
            "disable target 2",
            "target 3 { ipaddr 127.0.0.3 }",
            "register targets 1,2",
            "set sessiontimeout 30",
        ] {
            assert_eq!(
                parse_command(&format!(" {line} ")),
                Command::Statement(line.to_string())
            );
        }
    }

    #[test]
    fn wrong_arguments_say_what_was_expected() {
        let table = [
            ("show", "show: expected one of version, license, config, servers, targets, target, networks, sessions, vrrp, sync, announce, tcp, stats"),
            ("show vips", "show: expected one of version, license, config, servers, targets, target, networks, sessions, vrrp, sync, announce, tcp, stats, found \"vips\""),
            ("show sessions many", "show sessions: expected a number or \"all\", found \"many\""),
            ("show sessions 1 2", "show sessions: expected at most one argument, found \"2\""),
            ("save now", "save: expected no arguments, found \"now\""),
            ("show target", "show target: expected a target number"),
            ("show target x", "show target: expected a target number, found \"x\""),
            ("show target 1 2", "show target: expected one argument, found \"2\""),
            ("show version 2", "show version: expected no arguments, found \"2\""),
        ];
        for (line, message) in table {
            assert_eq!(
                parse_command(line),
                Command::BadArguments(message.into()),
                "{line:?}"
            );
        }
    }

    #[test]
    fn completes_from_the_table() {
        assert_eq!(complete("sh"), ["show"]);
        assert_eq!(complete("show s"), ["servers", "sessions", "stats", "sync"]);
        assert_eq!(complete("show t"), ["target", "targets", "tcp"]);
        assert_eq!(complete("show sessions "), ["all"]);
        assert_eq!(complete("disable t"), ["target", "targets"]);
        assert_eq!(complete("set s"), ["sessiontimeout", "synckey"]);
        assert!(complete("").contains(&"help"));
        assert!(complete("").contains(&"target"));
        assert!(complete("nothing ").is_empty());
    }

    #[test]
    fn completes_after_wide_whitespace() {
        // U+3000 (ideographic space) and U+00A0 are whitespace of three and two bytes.
        assert_eq!(
            complete("show\u{3000}s"),
            ["servers", "sessions", "stats", "sync"]
        );
        assert_eq!(complete("show\u{a0}"), complete("show "));
        assert_eq!(partial_word_start("show\u{3000}s"), "show\u{3000}".len());
        assert_eq!(partial_word_start("sh"), 0);
        assert_eq!(partial_word_start("\u{3000}"), 3);
    }

    #[test]
    fn help_lists_every_command() {
        let help = help_text();
        for command in COMMANDS {
            assert!(
                help.contains(&command.words.join(" ")),
                "{:?}",
                command.words
            );
        }
    }
}
