#!/usr/bin/env python3
"""Proxy benchmark driver: direct vs dnsdist vs Fulcrum, in alternating rounds.

Contract: run inside a network namespace that has only `lo` (bench/proxy.sh creates it and removes
it, with every process in it, on exit). This script writes its configs into --workdir, starts two
NSD backends (127.0.0.2:53, 127.0.0.3:53), checks them with dig, then for each round and each case
starts the proxy under test (dnsdist on 127.0.0.1:5301, Fulcrum on 127.0.0.1:5300), checks it
answers and spreads queries over both backends, and measures with dnsperf:
  (1) QPS at saturation (fixed duration, fixed outstanding queries);
  (2) mean and p99 latency at a fixed rate, from dnsperf -v per-query times;
  (3) CPU time (utime+stime from /proc, process and descendants) per answered query, for the
      proxy and for the backends, in both phases.
Each proxy runs only while it is measured. A case that cannot start is reported as such for that
round; the other cases still run. Every process it starts is stopped by PID before it exits.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the checkout clean (run as root)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import daemons, measure, report  # noqa: E402

CASES = ("direct", "dnsdist", "fulcrum", "fulcrum-scraped", "fulcrum-proxyprotocol")
# Run unless --cases says otherwise; `fulcrum-scraped` (Fulcrum with its metrics listener on and
# scraped every second) and `fulcrum-proxyprotocol` (targets with `proxyprotocol enable`, in front
# of two more PowerDNS backends that take the header; needs `--backends pdns`) are asked for by
# name.
DEFAULT_CASES = ("direct", "dnsdist", "fulcrum")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/proxy.sh",
        description="Direct vs dnsdist vs Fulcrum with dnsperf, in alternating rounds.",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of all cases (default 3)")
    p.add_argument("--duration", type=int, default=10, help="seconds per dnsperf phase (default 10)")
    p.add_argument("--rate", type=int, default=20000, help="fixed-rate phase qps (default 20000)")
    p.add_argument("--clients", type=int, default=2, help="dnsperf -c (default 2)")
    p.add_argument("--threads", type=int, default=2, help="dnsperf -T (default 2)")
    p.add_argument("--outstanding", type=int, default=100, help="dnsperf -q (default 100)")
    p.add_argument(
        "--cases",
        default=",".join(DEFAULT_CASES),
        help="comma-separated subset of direct,dnsdist,fulcrum,fulcrum-scraped (default "
             "direct,dnsdist,fulcrum, in that order; fulcrum-scraped: metrics on, scraped "
             "every second)",
    )
    p.add_argument("--nsd-servers", type=int, default=1, help="NSD server-count per backend")
    p.add_argument("--backends", choices=("nsd", "pdns"), default="nsd",
                   help="backend software (default nsd; pdns: PowerDNS Authoritative with the "
                        "bind backend, needed by the fulcrum-proxyprotocol case)")
    p.add_argument("--dnsdist-listeners", type=int, default=1,
                   help="dnsdist listener threads on the port (SO_REUSEPORT); default 1 (stock)")
    p.add_argument("--dnsdist-mmsg", type=int, default=1,
                   help="dnsdist setUDPMultipleMessagesVectorSize; default 1 (stock: no recvmmsg)")
    p.add_argument("--nice", type=int, default=0,
                   help="niceness for the driver and everything it starts, e.g. -10 to keep "
                        "background builds on a shared machine from skewing figures (default 0)")
    p.add_argument("--json", help="also write all figures to this file (JSON)")
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--fulcrum-bin", default="", help=argparse.SUPPRESS)
    p.add_argument("--netns", default="", help=argparse.SUPPRESS)
    p.add_argument("--validate-only", action="store_true", help=argparse.SUPPRESS)
    # Handled by the wrapper; accepted here so one argument list serves both.
    p.add_argument("--no-build", action="store_true", help="do not build target/release/fulcrum")
    p.add_argument("--keep-workdir", action="store_true", help="keep configs and logs after the run")
    args = p.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        p.error(f"--cases: unknown {unknown}; choose from {','.join(CASES)}")
    args.cases = cases
    if "fulcrum-proxyprotocol" in cases and args.backends != "pdns":
        p.error("--cases fulcrum-proxyprotocol needs --backends pdns (NSD 4.6 takes no PROXY "
                "header)")
    for name in ("rounds", "duration", "rate", "clients", "threads", "outstanding", "nsd_servers",
                 "dnsdist_listeners", "dnsdist_mmsg"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if not -20 <= args.nice <= 19:
        p.error("--nice must be in -20..19")
    if args.rounds > 20 or args.duration > 120:
        p.error("bounded on purpose: --rounds <= 20, --duration <= 120")
    if not args.workdir and not args.validate_only:
        p.error("run through bench/proxy.sh (it creates the namespace and the work dir)")
    return args


def on_sigterm(_signum, _frame):
    raise SystemExit(143)


def run_case(case, round_no, args, supervisor, backends, queries, proxied=None):
    """Starts the proxy for `case` (if any), measures it, stops it. Returns a result dict.
    `proxied`: the backends that take the PROXY header (the fulcrum-proxyprotocol case)."""
    started = None
    scraper = None
    try:
        if case == "direct":
            address, port = backends[0].address, 53
            proxy_pid = None
        elif case == "dnsdist":
            started = daemons.start_dnsdist(
                supervisor, args.workdir, round_no, backends,
                listeners=args.dnsdist_listeners, mmsg=args.dnsdist_mmsg)
            address, port, proxy_pid = daemons.DNSDIST_ADDRESS, daemons.DNSDIST_PORT, started.pid
        else:
            if not args.fulcrum_bin or not os.access(args.fulcrum_bin, os.X_OK):
                return {"case": case, "error": "no fulcrum binary (release build failed?)"}
            metrics = daemons.FULCRUM_METRICS if case == "fulcrum-scraped" else None
            if case == "fulcrum-proxyprotocol":
                backends = proxied
            started = daemons.start_fulcrum(
                supervisor, args.workdir, round_no, args.fulcrum_bin, metrics=metrics,
                backends=[b.address for b in backends],
                proxy_protocol=case == "fulcrum-proxyprotocol")
            address, port, proxy_pid = daemons.FULCRUM_ADDRESS, daemons.FULCRUM_PORT, started.pid
            if metrics:
                scraper = measure.Scraper(f"http://{metrics}/metrics", interval_s=1.0)
        if started is not None:
            spread = daemons.wait_until_balanced(started, address, port, backends)
        else:
            spread = {}
        cpu_pids = {"backends": [b.pid for b in backends]}
        if proxy_pid is not None:
            cpu_pids["proxy"] = [proxy_pid]
        if scraper is not None:
            scraper.start()
        result = measure.run_phases(args, address, port, queries, cpu_pids)
        if scraper is not None:
            result["scrapes"] = scraper.stop()
            if not result["scrapes"]["ok"] or result["scrapes"]["failed"]:
                raise RuntimeError(f"metrics scrapes failed: {result['scrapes']}")
        result["case"] = case
        result["spread"] = spread
        return result
    except (daemons.StartError, RuntimeError, subprocess.TimeoutExpired) as err:
        return {"case": case, "error": str(err)}
    finally:
        if scraper is not None:
            scraper.stop()
        if started is not None:
            supervisor.stop(started)


def main(argv):
    args = parse_args(argv)
    if args.validate_only:  # the wrapper checks the options before building anything
        return 0
    signal.signal(signal.SIGTERM, on_sigterm)
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by every process started
    supervisor = daemons.Supervisor()
    results = {"conditions": report.conditions(args), "rounds": []}
    try:
        print(report.conditions_text(results["conditions"]), flush=True)
        if any(c.startswith("fulcrum") for c in args.cases) and args.fulcrum_bin \
                and os.access(args.fulcrum_bin, os.X_OK):
            # One binary for the whole run, even if target/ is rebuilt meanwhile.
            copy = os.path.join(args.workdir, "fulcrum")
            shutil.copy2(args.fulcrum_bin, copy)
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.stat(copy).st_mtime))
            results["conditions"]["fulcrum_binary_built"] = stamp
            print(f"  fulcrum binary: {args.fulcrum_bin}, built {stamp}", flush=True)
            args.fulcrum_bin = copy
        queries = daemons.write_query_file(args.workdir)
        proxied = None
        if args.backends == "pdns":
            backends = daemons.start_pdns_backends(
                supervisor, args.workdir, daemons.BACKEND_ADDRESSES, proxy_protocol=False)
            if "fulcrum-proxyprotocol" in args.cases:
                proxied = daemons.start_pdns_backends(
                    supervisor, args.workdir, daemons.PROXIED_BACKEND_ADDRESSES,
                    proxy_protocol=True)
        else:
            backends = daemons.start_backends(supervisor, args.workdir, args.nsd_servers)
        for round_no in range(1, args.rounds + 1):
            rows = []
            for case in args.cases:
                print(f"round {round_no}: {case} ...", flush=True)
                rows.append(run_case(case, round_no, args, supervisor, backends, queries,
                                     proxied))
            results["rounds"].append(rows)
            print(report.round_table(round_no, rows), flush=True)
        summary = report.summarize(results["rounds"])
        results["summary"] = summary
        print(report.summary_text(summary), flush=True)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(report.json_safe(results), out, indent=2)
            print(f"figures written to {args.json}")
        return 0
    except daemons.StartError as err:
        print(f"proxy_bench: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("proxy_bench: interrupted", file=sys.stderr)
        return 130
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
