//! Caching-only mode: the script's `dns_test` for one `-query NAME[:TYPE[:OTHER]]` against
//! every server (with recursion desired, always over UDP as the script does).

use std::str::FromStr as _;

use hickory_proto::rr::RecordType;

use super::{lookup_at, query_options, Failure, Options};

/// Perl truth for a string: defined, not empty, not "0".
fn perl_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// The script's `dns_test` for one `-query NAME[:TYPE[:OTHER]]`. `Err` where the script dies.
pub(super) async fn caching_test(spec: &str, options: &Options) -> Result<Option<Failure>, String> {
    // `split /:/` drops trailing empty fields.
    let mut parts: Vec<&str> = spec.split(':').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    let name = parts.first().copied().unwrap_or("");
    let type_text = match parts.get(1).copied() {
        None | Some("") => "A",
        Some(given) => given,
    };
    let other = parts.get(2).copied();
    let record_type = RecordType::from_str(&type_text.to_ascii_uppercase())
        .map_err(|_| format!("unknown query type {type_text} in -query {spec}"))?;
    // Net::DNS `query`: `my $name = shift || '.'`.
    let query_name = if perl_true(Some(name)) { name } else { "." };
    // The caching-only resolver neither sets `usevc` nor clears recursion.
    let opts = query_options(options, true, false);

    let mut failed: Vec<&str> = Vec::new();
    let mut summary = String::new();
    let mut result = String::new();
    for server in &options.servers {
        let lookup = lookup_at(server, query_name, record_type, &opts).await;
        let Some(reply) = &lookup.reply else {
            failed.push(server);
            result.push_str(&format!(
                "\n{type_text} query for {name} from {server} failed {}\n",
                lookup.errorstring
            ));
            summary.push_str(&format!("{name}@{server} "));
            continue;
        };
        let Some(other) = other.filter(|o| perl_true(Some(o))) else {
            continue;
        };
        let other_lookup = lookup_at(server, other, record_type, &opts).await;
        let Some(other_reply) = &other_lookup.reply else {
            return Err(format!(
                "{type_text} query for {other} from {server} failed {} (dns.monitor dies here)",
                other_lookup.errorstring
            ));
        };
        let matched = reply.answers().iter().any(|mine| {
            other_reply
                .answers()
                .iter()
                .any(|theirs| mine.data().to_string() == theirs.data().to_string())
        });
        if !matched {
            failed.push(server);
            result.push_str(&format!(
                "Query {name}:{type_text} failed to match {other}\n"
            ));
        }
    }
    if failed.is_empty() {
        return Ok(None);
    }
    Ok(Some(Failure {
        bad_servers: failed.join(" "),
        summary,
        failcount: failed.len() as f64,
        reason: result,
    }))
}
