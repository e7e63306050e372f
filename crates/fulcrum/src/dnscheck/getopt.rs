//! dns.monitor's command line, parsed as Perl's Getopt::Long 2.52 parses it with its default
//! configuration: options start with `--`, `-` or `+`; names are case-insensitive and may be
//! abbreviated to any unique prefix; a value follows as `-opt value` or `-opt=value` (a
//! mandatory string value takes the next argument whatever it looks like); options and servers
//! may be mixed (permute); `--` ends the options. With `POSIXLY_CORRECT` set in the environment,
//! as in Getopt::Long: no `+`, no abbreviations, no `-opt=value` for single-dash options, and the
//! first server ends the options. Every problem is collected, as Getopt::Long warns about each
//! one before failing.
//!
//! Also here: [`numify`], Perl's string-to-number conversion, which the script applies to
//! `-serial_threshold` (declared as a string) and, through a bug, to error messages.

/// How an option takes its value, as declared in dns.monitor's `GetOptions` call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `name` (no value; sets 1).
    Flag,
    /// `name=s` (the last one wins).
    Text,
    /// `name=s@` (each one appends).
    List,
    /// `name=i`.
    Integer,
}

/// The declarations, sorted by name as Getopt::Long sorts them for abbreviation lookup.
const OPTIONS: [(&str, Kind); 11] = [
    ("caching_only", Kind::Flag),
    ("debug", Kind::Flag),
    ("failsingle", Kind::Flag),
    ("master", Kind::List),
    ("query", Kind::List),
    ("retransmit", Kind::Integer),
    ("retry", Kind::Integer),
    ("serial_threshold", Kind::Text),
    ("tcp", Kind::Flag),
    ("timeout", Kind::Integer),
    ("zone", Kind::List),
];

/// The parsed command line, with the script's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub masters: Vec<String>,
    pub zones: Vec<String>,
    pub queries: Vec<String>,
    /// `-serial_threshold`, already converted as Perl does when comparing (`"10x"` is 10).
    pub serial_threshold: f64,
    pub caching_only: bool,
    pub tcp: bool,
    pub retry: i64,
    pub retransmit: i64,
    /// `None` when not given (the script passes `undef` to Net::DNS).
    pub timeout: Option<i64>,
    pub debug: bool,
    pub failsingle: bool,
    /// The positional arguments: the servers to check.
    pub servers: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            masters: Vec::new(),
            zones: Vec::new(),
            queries: Vec::new(),
            serial_threshold: 0.0,
            caching_only: false,
            tcp: false,
            retry: 2,
            retransmit: 5,
            timeout: None,
            debug: false,
            failsingle: false,
            servers: Vec::new(),
        }
    }
}

/// Parses `args` (without the program name). `Err` holds Getopt::Long's warnings, one a line.
pub fn parse(args: &[String], posixly_correct: bool) -> Result<Options, Vec<String>> {
    let prefixes: &[&str] = if posixly_correct {
        &["--", "-"]
    } else {
        &["--", "-", "+"]
    };
    let mut options = Options::default();
    let mut warnings = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            options.servers.extend(rest.by_ref().cloned());
            break;
        }
        let Some(starter) = prefixes.iter().find(|p| arg.starts_with(**p)) else {
            if posixly_correct {
                // REQUIRE_ORDER: the first non-option ends option processing.
                options.servers.push(arg.clone());
                options.servers.extend(rest.by_ref().cloned());
                break;
            }
            options.servers.push(arg.clone());
            continue;
        };
        if arg == "-" {
            options.servers.push(arg.clone());
            continue;
        }
        let body = &arg[starter.len()..];
        // `name=value`, for `--` always and for `-`/`+` too unless POSIXLY_CORRECT (getopt_compat).
        let split_allowed = *starter == "--" || !posixly_correct;
        let (name, inline_value) = match body.get(1..).and_then(|tail| tail.find('=')) {
            Some(at) if split_allowed => (&body[..at + 1], Some(&body[at + 2..])),
            _ => (body, None),
        };
        let (canonical, kind) = match lookup(name, !posixly_correct) {
            Ok(found) => found,
            Err(warning) => {
                warnings.push(if name.is_empty() {
                    format!("Missing option after {starter}")
                } else {
                    warning
                });
                continue;
            }
        };
        if kind == Kind::Flag {
            if inline_value.is_some() {
                warnings.push(format!("Option {canonical} does not take an argument"));
                continue;
            }
            set_flag(&mut options, canonical);
            continue;
        }
        let value = match inline_value {
            Some("") => None,
            Some(value) => Some(value.to_string()),
            None => rest.next().cloned(),
        };
        let Some(value) = value else {
            warnings.push(format!("Option {canonical} requires an argument"));
            continue;
        };
        match kind {
            Kind::Integer => match parse_integer(&value) {
                Some(number) => set_integer(&mut options, canonical, number),
                None => warnings.push(format!(
                    "Value \"{value}\" invalid for option {canonical} (number expected)"
                )),
            },
            Kind::List => match canonical {
                "master" => options.masters.push(value),
                "zone" => options.zones.push(value),
                _ => options.queries.push(value),
            },
            Kind::Text => options.serial_threshold = numify(&value),
            Kind::Flag => {}
        }
    }
    if warnings.is_empty() {
        Ok(options)
    } else {
        Err(warnings)
    }
}

/// Finds the declaration for `name`: exact (case-insensitive) or, with `abbreviations`, the one
/// declaration it is a prefix of.
fn lookup(name: &str, abbreviations: bool) -> Result<(&'static str, Kind), String> {
    let lower = name.to_lowercase();
    if let Some((canonical, kind)) = OPTIONS.iter().find(|(n, _)| *n == lower) {
        return Ok((canonical, *kind));
    }
    if abbreviations && !lower.is_empty() {
        let hits: Vec<&(&str, Kind)> = OPTIONS
            .iter()
            .filter(|(n, _)| n.starts_with(&lower))
            .collect();
        match hits.as_slice() {
            [(canonical, kind)] => return Ok((canonical, *kind)),
            [] => {}
            many => {
                let names: Vec<&str> = many.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "Option {lower} is ambiguous ({})",
                    names.join(", ")
                ));
            }
        }
        return Err(format!("Unknown option: {lower}"));
    }
    Err(format!(
        "Unknown option: {}",
        if abbreviations { &lower } else { name }
    ))
}

fn set_flag(options: &mut Options, canonical: &str) {
    match canonical {
        "caching_only" => options.caching_only = true,
        "tcp" => options.tcp = true,
        "debug" => options.debug = true,
        _ => options.failsingle = true,
    }
}

fn set_integer(options: &mut Options, canonical: &str, number: i64) {
    match canonical {
        "retry" => options.retry = number,
        "retransmit" => options.retransmit = number,
        _ => options.timeout = Some(number),
    }
}

/// Getopt::Long's integer: `[-+]?_*[0-9][0-9_]*`, underscores removed. Saturates instead of
/// turning into a float as Perl would past 2^63.
fn parse_integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = digits.trim_start_matches('_');
    if !digits.starts_with(|c: char| c.is_ascii_digit())
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars().filter(|c| *c != '_') {
        let digit = i64::from(c as u8 - b'0');
        value = value.saturating_mul(10).saturating_add(digit);
    }
    Some(if negative { -value } else { value })
}

/// Perl's numeric value of a string: leading white space, an optional sign, then the longest
/// decimal number (`12`, `1.5`, `.5`, `1e3`) or `Inf`/`Infinity`/`NaN`; anything else counts as
/// 0 (`"127.0.1.2 is not"` is 127; `"SOA query"` is 0; `"0x10"` is 0).
pub fn numify(text: &str) -> f64 {
    let text = text.trim_start();
    let (sign, body) = match text.as_bytes().first() {
        Some(b'-') => (-1.0, &text[1..]),
        Some(b'+') => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("inf") {
        return sign * f64::INFINITY;
    }
    if lower.starts_with("nan") {
        return f64::NAN;
    }
    let bytes = body.as_bytes();
    let mut end = 0;
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let whole = digits(0);
    end += whole;
    let mut fraction = 0;
    if bytes.get(end) == Some(&b'.') {
        fraction = digits(end + 1);
        if whole > 0 || fraction > 0 {
            end += 1 + fraction;
        }
    }
    if whole == 0 && fraction == 0 {
        return 0.0;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut at = end + 1;
        if matches!(bytes.get(at), Some(b'-' | b'+')) {
            at += 1;
        }
        let exponent = digits(at);
        if exponent > 0 {
            end = at + exponent;
        }
    }
    sign * body[..end].parse::<f64>().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn ok(text: &str) -> Options {
        match parse(&args(text), false) {
            Ok(options) => options,
            Err(warnings) => panic!("{text}: {warnings:?}"),
        }
    }

    fn err(text: &str) -> Vec<String> {
        match parse(&args(text), false) {
            Ok(options) => panic!("{text}: accepted as {options:?}"),
            Err(warnings) => warnings,
        }
    }

    #[test]
    fn single_and_double_dash_abbreviations_and_case() {
        let o = ok("-zone a --ZONE=b +z c -m 1.2.3.4 -master=5.6.7.8 -seri 3 -fail -tc -ti 4 s1");
        assert_eq!(o.zones, ["a", "b", "c"]);
        assert_eq!(o.masters, ["1.2.3.4", "5.6.7.8"]);
        assert_eq!(o.serial_threshold, 3.0);
        assert!(o.failsingle && o.tcp);
        assert_eq!(o.timeout, Some(4));
        assert_eq!(o.servers, ["s1"]);
    }

    #[test]
    fn servers_may_come_before_options_and_after_double_dash() {
        let o = ok("s1 -zone z s2 -master m -- -s3");
        assert_eq!(o.servers, ["s1", "s2", "-s3"]);
        assert_eq!(o.zones, ["z"]);
    }

    #[test]
    fn a_mandatory_string_takes_the_next_argument_whatever_it_is() {
        let o = ok("-zone -tcp s1");
        assert_eq!(o.zones, ["-tcp"]);
        assert!(!o.tcp);
    }

    #[test]
    fn debug_is_a_flag_so_its_number_becomes_a_server() {
        let o = ok("-debug 2 -zone z -master m");
        assert!(o.debug);
        assert_eq!(o.servers, ["2"]);
    }

    #[test]
    fn errors_are_collected_as_getopt_long_words_them() {
        assert_eq!(err("-t x"), ["Option t is ambiguous (tcp, timeout)"]);
        assert_eq!(
            err("-re 1 x"),
            ["Option re is ambiguous (retransmit, retry)"]
        );
        assert_eq!(err("-port 5 x"), ["Unknown option: port"]);
        assert_eq!(
            err("-retry x y"),
            ["Value \"x\" invalid for option retry (number expected)"]
        );
        assert_eq!(err("-tcp=1 x"), ["Option tcp does not take an argument"]);
        assert_eq!(err("x -zone"), ["Option zone requires an argument"]);
        assert_eq!(err("-zone= x"), ["Option zone requires an argument"]);
        assert_eq!(err("+ x"), ["Missing option after +"]);
        assert_eq!(err("-bogus -tcp=2 x").len(), 2);
    }

    #[test]
    fn integers_follow_getopt_long() {
        let o = ok("-retry +3 -retransmit=-1 -timeout 1_0 s");
        assert_eq!((o.retry, o.retransmit, o.timeout), (3, -1, Some(10)));
        assert!(parse(&args("-retry 1.5 s"), false).is_err());
    }

    #[test]
    fn posixly_correct_stops_at_the_first_server() {
        let parsed = parse(&args("-zone z s1 -tcp"), true);
        let Ok(o) = parsed else { panic!("{parsed:?}") };
        assert_eq!(o.servers, ["s1", "-tcp"]);
        assert!(!o.tcp);
        assert!(parse(&args("-zo z s1"), true).is_err());
        assert!(parse(&args("+zone z s1"), true).is_ok_and(|o| o.servers == ["+zone", "z", "s1"]));
    }

    #[test]
    fn numify_is_perls() {
        for (text, value) in [
            ("10", 10.0),
            ("  -2.5x", -2.5),
            ("127.0.1.2 is not authoritative", 127.0),
            ("SOA query for x", 0.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e", 1.0),
            ("0x10", 0.0),
            ("", 0.0),
            ("-", 0.0),
            ("Inf", f64::INFINITY),
        ] {
            assert_eq!(numify(text), value, "{text:?}");
        }
        assert!(numify("nan").is_nan());
    }
}
