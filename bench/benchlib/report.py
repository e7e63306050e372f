"""Conditions, per-round tables and the summary (medians across rounds, ratios, goals).

Contract: pure formatting over the result dicts built by measure.run_phases (plus "case",
"spread", or "error" for a case that did not run); a missing figure prints as "-". Ratios are
computed per round (cases of one round ran back to back, under the same background load) and
summarized by their median.
"""

import datetime
import math
import os
import platform
import statistics
import subprocess


def _first_line(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "?"


def _loadavg():
    try:
        with open("/proc/loadavg", encoding="ascii") as loadavg:
            return loadavg.read().split()[:3]
    except OSError:
        return ["?"]


def json_safe(value):
    """NaN (a figure that could not be taken) becomes null, so the JSON is strict."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def conditions(args):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            cpu = next((l.split(":", 1)[1].strip() for l in info if l.startswith("model name")), "?")
    except OSError:
        pass
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "loadavg_at_start": _loadavg(),
        "nsd": _first_line(["nsd", "-v"]),
        "dnsdist": _first_line(["dnsdist", "--version"]),
        "dnsperf": _first_line(["sh", "-c", "dnsperf -h 2>&1 | grep -i '^version'"]),
        "fulcrum_commit": _first_line([
            "git", "-C", repo, "describe", "--always", "--dirty=+uncommitted"]),
        "rounds": args.rounds, "duration_s": args.duration, "rate_qps": args.rate,
        "dnsperf_clients": args.clients, "dnsperf_threads": args.threads,
        "dnsperf_outstanding": args.outstanding, "nsd_server_count": args.nsd_servers,
        "dnsdist_listeners": args.dnsdist_listeners, "dnsdist_mmsg": args.dnsdist_mmsg,
        "cases": args.cases, "nice": args.nice, "backends": getattr(args, "backends", "nsd"),
        "pdns": _first_line(["pdns_server", "--version"])
        if getattr(args, "backends", "nsd") == "pdns" else None,
    }


def conditions_text(c):
    return (
        f"proxy benchmark {c['date_utc']} UTC, kernel {c['kernel']}, {c['cpus']} CPUs "
        f"({c['cpu_model']}), load at start {' '.join(c['loadavg_at_start'])}\n"
        f"  {c['nsd']}; {c['dnsdist']}; dnsperf {c['dnsperf']}; fulcrum @ {c['fulcrum_commit']}\n"
        f"  {c['rounds']} rounds x {','.join(c['cases'])}; each phase {c['duration_s']} s; "
        f"dnsperf -c {c['dnsperf_clients']} -T {c['dnsperf_threads']} "
        f"-q {c['dnsperf_outstanding']}; fixed rate {c['rate_qps']} qps; "
        f"NSD server-count {c['nsd_server_count']}; dnsdist listeners "
        f"{c['dnsdist_listeners']}, recvmmsg vector {c['dnsdist_mmsg']}; nice {c['nice']}"
        + (f"\n  backends: {c.get('pdns')}" if c.get("backends") == "pdns" else "")
    )


def _get(row, *path):
    value = row
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return float("nan")
        value = value[key]
    return value


def _fmt(value, digits=1):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


COLUMNS = [
    # header, path, digits
    ("sat QPS", ("saturation", "qps"), 0),
    ("sat lost", ("saturation", "lost"), 0),
    ("proxy us/q", ("saturation", "cpu_us_per_query", "proxy"), 2),
    ("nsd us/q", ("saturation", "cpu_us_per_query", "backends"), 2),
    ("mean us", ("fixed_rate", "mean_us"), 0),
    ("p99 us", ("fixed_rate", "p99_us"), 0),
    ("rate lost", ("fixed_rate", "lost"), 0),
    ("proxy us/q@rate", ("fixed_rate", "cpu_us_per_query", "proxy"), 2),
    ("nsd us/q@rate", ("fixed_rate", "cpu_us_per_query", "backends"), 2),
    ("others@sat", ("saturation", "other_cores"), 2),
    ("others@rate", ("fixed_rate", "other_cores"), 2),
]


def _table(title, rows):
    header = ["case"] + [c[0] for c in COLUMNS]
    lines = [[row["case"]] + [_fmt(_get(row, *path), d) for _, path, d in COLUMNS] for row in rows]
    widths = [max(len(str(r[i])) for r in [header] + lines) for i in range(len(header))]
    out = [title]
    for r in [header] + lines:
        out.append("  " + "  ".join(str(v).rjust(w) if i else str(v).ljust(w)
                                    for i, (v, w) in enumerate(zip(r, widths))))
    return out


def round_table(round_no, rows):
    ok = [r for r in rows if "error" not in r]
    out = _table(f"round {round_no}:", ok)
    for row in rows:
        if "error" in row:
            out.append(f"  {row['case']}: not measured: {row['error']}")
        elif row.get("spread"):
            spread = ", ".join(f"{k} {v}" for k, v in row["spread"].items())
            out.append(f"  {row['case']} check: {spread}")
    return "\n".join(out)


def _median(values):
    values = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def _ratio(a, b):
    if any(isinstance(v, float) and math.isnan(v) for v in (a, b)) or not b:
        return float("nan")
    return a / b


RATIOS = [
    # name, function of {case: row} -> float
    ("fulcrum/dnsdist CPU per query (saturation)", lambda c: _ratio(
        _get(c.get("fulcrum"), "saturation", "cpu_us_per_query", "proxy"),
        _get(c.get("dnsdist"), "saturation", "cpu_us_per_query", "proxy"))),
    ("fulcrum/dnsdist CPU per query (fixed rate)", lambda c: _ratio(
        _get(c.get("fulcrum"), "fixed_rate", "cpu_us_per_query", "proxy"),
        _get(c.get("dnsdist"), "fixed_rate", "cpu_us_per_query", "proxy"))),
    ("fulcrum/dnsdist QPS", lambda c: _ratio(
        _get(c.get("fulcrum"), "saturation", "qps"), _get(c.get("dnsdist"), "saturation", "qps"))),
    ("fulcrum/direct QPS", lambda c: _ratio(
        _get(c.get("fulcrum"), "saturation", "qps"), _get(c.get("direct"), "saturation", "qps"))),
    ("dnsdist/direct QPS", lambda c: _ratio(
        _get(c.get("dnsdist"), "saturation", "qps"), _get(c.get("direct"), "saturation", "qps"))),
    ("fulcrum added p99 us", lambda c: _get(c.get("fulcrum"), "fixed_rate", "p99_us")
        - _get(c.get("direct"), "fixed_rate", "p99_us")),
    ("dnsdist added p99 us", lambda c: _get(c.get("dnsdist"), "fixed_rate", "p99_us")
        - _get(c.get("direct"), "fixed_rate", "p99_us")),
    ("proxyprotocol/plain fulcrum CPU per query (sat.)", lambda c: _ratio(
        _get(c.get("fulcrum-proxyprotocol"), "saturation", "cpu_us_per_query", "proxy"),
        _get(c.get("fulcrum"), "saturation", "cpu_us_per_query", "proxy"))),
    ("proxyprotocol/plain fulcrum CPU per query (rate)", lambda c: _ratio(
        _get(c.get("fulcrum-proxyprotocol"), "fixed_rate", "cpu_us_per_query", "proxy"),
        _get(c.get("fulcrum"), "fixed_rate", "cpu_us_per_query", "proxy"))),
]


def summarize(rounds):
    cases = []
    for rows in rounds:
        for row in rows:
            if row["case"] not in cases:
                cases.append(row["case"])
    medians = {}
    for case in cases:
        rows = [r for rs in rounds for r in rs if r["case"] == case and "error" not in r]
        medians[case] = {"case": case, "rounds_measured": len(rows)}
        for _, path, _ in COLUMNS:
            node = medians[case]
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = _median([_get(r, *path) for r in rows])
    ratios = {}
    for name, fn in RATIOS:
        per_round = []
        for rows in rounds:
            by_case = {r["case"]: r for r in rows if "error" not in r}
            per_round.append(fn(by_case))
        ratios[name] = {"median": _median(per_round), "per_round": per_round}
    return {"medians": medians, "ratios": ratios}


def _goal(value, ok):
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return "met" if ok else "MISSED"


def summary_text(summary):
    rows = list(summary["medians"].values())
    out = _table(f"summary (medians across rounds):", rows)
    out.append("ratios (median of per-round values; per round in brackets):")
    for name, r in summary["ratios"].items():
        digits = 0 if name.endswith("us") else 2
        per_round = ", ".join(_fmt(v, digits) for v in r["per_round"])
        out.append(f"  {name:<45} {_fmt(r['median'], digits):>8}   [{per_round}]")
    ratios = {k: v["median"] for k, v in summary["ratios"].items()}
    cpu = ratios["fulcrum/dnsdist CPU per query (saturation)"]
    qps = ratios["fulcrum/direct QPS"]
    added_f, added_d = ratios["fulcrum added p99 us"], ratios["dnsdist added p99 us"]
    out.append("goals (issue 3):")
    out.append(f"  fulcrum CPU/query <= 0.5 x dnsdist (saturation): {_goal(cpu, cpu <= 0.5)}")
    out.append(f"  fulcrum QPS >= 0.9 x direct:                     {_goal(qps, qps >= 0.9)}")
    out.append(f"  fulcrum added p99 < dnsdist added p99:           "
               f"{_goal(added_f + added_d, added_f < added_d)}")
    return "\n".join(out)
