//! `show stats`: the counters the tables leave out, from the same [`Snapshot`] a metrics scrape
//! renders (so the shell, `/metrics` and the status page cannot disagree): per target the bytes
//! each way beside queries, responses and timeouts; drops by reason for each plane that runs
//! (reasons with a count only, `none` when a plane dropped nothing); the DSR plane's frame
//! events; the rate-limit tables' use; VRRP's and sync's counters; the session tables' totals. Counts are totals since the
//! daemon started.

use fulcrum_metrics::Snapshot;

/// The text `show stats` prints.
pub fn show_stats(snapshot: &Snapshot) -> String {
    let mut out = String::from("targets\n");
    out.push_str("tgt   queries responses timeouts   bytes-sent bytes-received sessions\n");
    out.push_str("--- --------- --------- -------- ------------ -------------- --------\n");
    for t in &snapshot.targets {
        out.push_str(&format!(
            "{:<3} {:>9} {:>9} {:>8} {:>12} {:>14} {:>8}\n",
            t.target,
            t.queries,
            t.responses,
            t.timeouts,
            t.bytes_sent,
            t.bytes_received,
            t.sessions
        ));
    }
    out.push_str(&format!(
        "sessions: {} created, {} expired\n",
        snapshot.sessions_created, snapshot.sessions_expired
    ));
    out.push_str("drops\n");
    for plane in planes(snapshot) {
        // A reason both sources of a plane name is summed, as in the metrics.
        let mut reasons: Vec<(&str, u64)> = Vec::new();
        for d in snapshot.drops.iter().filter(|d| d.plane == plane) {
            match reasons.iter_mut().find(|(r, _)| *r == d.reason) {
                Some((_, n)) => *n += d.count,
                None => reasons.push((&d.reason, d.count)),
            }
        }
        let counted: Vec<String> = reasons
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let list = if counted.is_empty() {
            "none".to_string()
        } else {
            counted.join(", ")
        };
        out.push_str(&format!("  {plane:<5} {list}\n"));
    }
    if !snapshot.rate_tables.is_empty() {
        out.push_str("rate limits\n");
        for t in &snapshot.rate_tables {
            out.push_str(&format!(
                "  {:<5} server {} {}: {} of {} buckets used, {} bytes, {} replaced\n",
                t.plane, t.server, t.limit, t.entries, t.capacity, t.memory_bytes, t.replaced
            ));
        }
    }
    if snapshot.dsr_frames.is_empty() {
        out.push_str("dsr plane: not running\n");
    } else {
        out.push_str("dsr plane\n");
        for (event, n) in &snapshot.dsr_frames {
            out.push_str(&format!("  {event:<20} {n}\n"));
        }
    }
    match &snapshot.vrrp {
        None => out.push_str("vrrp: not running\n"),
        Some(v) => out.push_str(&format!(
            "vrrp: vrid {} {}, master {}, {} transitions, adverts {} sent, {} received\n",
            v.vrid,
            v.state.name(),
            v.master.as_deref().unwrap_or("unknown"),
            v.transitions,
            v.adverts_sent,
            v.adverts_received
        )),
    }
    match &snapshot.sync {
        None => out.push_str("sync: not running\n"),
        Some(s) => out.push_str(&format!(
            "sync: {}, datagrams {} sent, {} received, {} events applied, {} full resyncs\n",
            if s.in_sync { "in sync" } else { "not in sync" },
            s.datagrams_sent,
            s.datagrams_received,
            s.events_applied,
            s.full_resyncs
        )),
    }
    out
}

/// The planes with drop reasons in the snapshot, in the order they first appear.
fn planes(snapshot: &Snapshot) -> Vec<&'static str> {
    let mut planes = Vec::new();
    for d in &snapshot.drops {
        if !planes.contains(&d.plane) {
            planes.push(d.plane);
        }
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_metrics::{DropSample, SyncSample, TargetSample, VrrpSample, VrrpState};

    fn drop_sample(plane: &'static str, reason: &str, count: u64) -> DropSample {
        DropSample {
            plane,
            reason: reason.into(),
            count,
        }
    }

    #[test]
    fn every_part_is_shown_and_reasons_are_summed_per_plane() {
        let snapshot = Snapshot {
            targets: vec![TargetSample {
                target: 2,
                queries: 10,
                responses: 9,
                timeouts: 1,
                bytes_sent: 330,
                bytes_received: 990,
                sessions: 4,
                ..TargetSample::default()
            }],
            drops: vec![
                drop_sample("proxy", "runt", 5),
                drop_sample("proxy", "overload", 0),
                drop_sample("dsr", "no-target", 1),
                drop_sample("dsr", "no-target", 2),
                drop_sample("vrrp", "bad-ttl", 0),
            ],
            vrrp: Some(VrrpSample {
                vrid: 7,
                state: VrrpState::Master,
                master: Some("10.0.0.1".into()),
                transitions: 1,
                adverts_sent: 30,
                adverts_received: 0,
            }),
            sync: Some(SyncSample {
                in_sync: true,
                datagrams_sent: 3,
                ..SyncSample::default()
            }),
            dsr_frames: vec![("frames-in".into(), 12)],
            rate_tables: vec![fulcrum_metrics::RateTableSample {
                plane: "proxy",
                server: 1,
                limit: "ratelimit",
                entries: 1024,
                capacity: 1024,
                memory_bytes: 24_648,
                replaced: 98_978,
            }],
            ..Snapshot::default()
        };
        let text = show_stats(&snapshot);
        assert!(
            text.contains(
                "\n2          10         9        1          330            990        4\n"
            ),
            "{text}"
        );
        assert!(text.contains("\n  proxy runt 5\n"), "{text}");
        assert!(text.contains("\n  dsr   no-target 3\n"), "{text}");
        assert!(text.contains("\n  vrrp  none\n"), "{text}");
        assert!(text.contains("\n  frames-in            12\n"), "{text}");
        assert!(
            text.contains(
                "\nrate limits\n  proxy server 1 ratelimit: 1024 of 1024 buckets used, 24648 bytes, \
                 98978 replaced\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "vrrp: vrid 7 master, master 10.0.0.1, 1 transitions, adverts 30 sent, 0 received\n"
        ));
        assert!(text.contains("sync: in sync, datagrams 3 sent, 0 received,"));
    }

    #[test]
    fn planes_that_do_not_run_say_so() {
        let text = show_stats(&Snapshot::default());
        assert!(text.contains("dsr plane: not running\n"), "{text}");
        assert!(text.contains("vrrp: not running\n"), "{text}");
        assert!(text.contains("sync: not running\n"), "{text}");
    }
}
