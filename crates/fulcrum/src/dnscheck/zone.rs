//! Zone mode: the script's `dns_verify` for one zone (masters first, then every server). See
//! the parent module for the rules; docs/dns-check.md for the quirks kept on purpose.

use hickory_proto::rr::{RData, RecordType};

use super::{
    lookup_at, numify, query_options, Failure, Options, FAILCOUNT_MASTERS, FAILCOUNT_SERIAL,
};
use fulcrum_dnsprobe::type_name;

fn empty_answer_note(errorstring: &str) -> &'static str {
    if errorstring == "NOERROR" {
        "    Empty answer received.  (No zone on server?)\n"
    } else {
        ""
    }
}

/// Inserts or overwrites like a Perl hash, remembering first-insertion order.
fn hash_set<V>(hash: &mut Vec<(String, V)>, key: &str, value: V) {
    match hash.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => hash.push((key.to_string(), value)),
    }
}

/// The script's `dns_verify`. Perl iterates its hashes in a random order; this uses the order
/// the masters were given, which is one of the orders Perl may pick.
pub(super) async fn verify_zone(
    zone: &str,
    options: &Options,
    stdout: &mut String,
) -> Option<Failure> {
    let opts = query_options(options, false, options.tcp);
    let mut error_count = 0usize;
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut serials: Vec<(String, u32)> = Vec::new();
    for master in &options.masters {
        let lookup = lookup_at(master, zone, RecordType::SOA, &opts).await;
        let error = match &lookup.reply {
            None => format!(
                "SOA query for {zone} from {master} failed {}\n{}",
                lookup.errorstring,
                empty_answer_note(&lookup.errorstring)
            ),
            Some(reply) if !reply.authoritative() => {
                format!("{master} is not authoritative for {zone}\n")
            }
            Some(reply) if reply.answers().len() != 1 => {
                format!("Too many answers for SOA query to {master} for {zone}\n")
            }
            Some(reply) => match reply.answers()[0].data() {
                RData::SOA(soa) => {
                    hash_set(&mut serials, master, soa.serial());
                    continue;
                }
                _ => {
                    // The script calls printf here where it meant sprintf: the message goes to
                    // stdout at once and the stored "error" is printf's return value, 1.
                    let found = type_name(reply.answers()[0].record_type());
                    stdout.push_str(&format!(
                        "Query for SOA for {zone} from {master} failed: return type = {found}\n"
                    ));
                    "1".to_string()
                }
            },
        };
        error_count += 1;
        hash_set(&mut errors, master, error.clone());
        if options.failsingle {
            return Some(Failure {
                bad_servers: master.clone(),
                summary: String::new(),
                reason: error,
                failcount: FAILCOUNT_MASTERS,
            });
        }
    }
    if error_count == options.masters.len() {
        // `return ("", values %errors, 251)`, assigned to three variables: with two or more
        // failing masters the "count" is the second message, as a number.
        let values: Vec<&String> = errors.iter().map(|(_, v)| v).collect();
        let failcount = match values.get(1) {
            Some(second) => numify(second),
            None => FAILCOUNT_MASTERS,
        };
        return Some(Failure {
            bad_servers: String::new(),
            summary: String::new(),
            reason: values.first().map(|v| v.to_string()).unwrap_or_default(),
            failcount,
        });
    }
    let mut max: Option<(String, u32)> = None;
    let mut min: Option<(String, u32)> = None;
    for (key, serial) in &serials {
        // `$serials{$key} > $maxvalue` with `$maxvalue` undef compares with 0.
        if *serial > max.as_ref().map_or(0, |m| m.1) {
            max = Some((key.clone(), *serial));
        }
        if min.as_ref().is_none_or(|m| *serial < m.1) {
            min = Some((key.clone(), *serial));
        }
    }
    let max_value = max.as_ref().map_or(0, |m| m.1);
    let min_value = min.as_ref().map_or(0, |m| m.1);
    let spread = (f64::from(max_value) - f64::from(min_value)).abs();
    if spread > options.serial_threshold {
        let min_key = min.as_ref().map_or("", |m| m.0.as_str());
        let min_text = min.as_ref().map(|m| m.1.to_string()).unwrap_or_default();
        let max_text = max.as_ref().map(|m| m.1.to_string()).unwrap_or_default();
        return Some(Failure {
            bad_servers: min_key.to_string(),
            summary: String::new(),
            reason: format!(
                "\nQuery to {min_key} about {zone} failed\nSerial number = {min_text}, should have been {max_text}\n"
            ),
            failcount: FAILCOUNT_SERIAL,
        });
    }
    if max_value == 0 {
        return Some(Failure {
            bad_servers: String::new(),
            summary: String::new(),
            reason: format!("\nNo SOA Serial found for {zone}!?!?"),
            failcount: FAILCOUNT_SERIAL,
        });
    }
    let reference = max_value;

    let mut failed: Vec<&str> = Vec::new();
    let mut result = String::new();
    for server in &options.servers {
        let lookup = lookup_at(server, zone, RecordType::SOA, &opts).await;
        let Some(reply) = &lookup.reply else {
            failed.push(server);
            result.push_str(&format!(
                "\nSOA query for {zone} from {server} failed {}\n{}",
                lookup.errorstring,
                empty_answer_note(&lookup.errorstring)
            ));
            continue;
        };
        let answers = reply.answers();
        let first_serial = answers.first().and_then(|r| match r.data() {
            RData::SOA(soa) => Some(soa.serial()),
            _ => None,
        });
        let within = first_serial.is_some_and(|serial| {
            (f64::from(serial) - f64::from(reference)).abs() <= options.serial_threshold
        });
        if reply.authoritative() && answers.len() == 1 && within {
            continue;
        }
        failed.push(server);
        result.push_str(&format!(
            "\nQuery to {server} about {zone} failed\nAuthoritative = {}\nAnswer count = {}\nAnswer Type = {}\nSerial number = {}, should have been {reference}\n",
            if reply.authoritative() { "yes" } else { "no" },
            answers.len(),
            answers.first().map(|r| type_name(r.record_type())).unwrap_or_default(),
            first_serial.map(|s| s.to_string()).unwrap_or_default(),
        ));
    }
    if failed.is_empty() {
        return None;
    }
    Some(Failure {
        bad_servers: failed.join(" "),
        summary: String::new(),
        failcount: failed.len() as f64,
        reason: result,
    })
}
