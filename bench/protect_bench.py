#!/usr/bin/env python3
"""Protection benchmark driver: Fulcrum's access list and rate limits beside dnsdist's
MaxQPSIPRule, in alternating rounds.

Contract: run inside a network namespace that has only `lo` (bench/protect.sh creates it and
removes it, with every process in it, on exit). Two NSD backends (127.0.0.2, 127.0.0.3); the
proxy under test on 127.0.0.1 (Fulcrum :5300, dnsdist :5301), one at a time, each started for
its case and stopped after it. Per round and proxy:
  (1) CPU per query at a fixed dnsperf rate with protection off and on (Fulcrum: `deny all`,
      `allow 127.0.0.0/8,198.18.0.0/15`, `ratelimit 500000,1000000`, far above the load, so every
      query runs the whole check and none is refused; dnsdist: `MaxQPSIPRule` with `DropAction`,
      same limit; the order of off and on alternates between rounds);
  (2) with a per-client limit of --limit qps (burst 2x), a legitimate dnsperf client on
      127.0.0.10 at --legit-rate: its QPS, loss and p99 alone, during a flood from one address
      (127.0.0.20, --flood-rate datagrams a second, fire and forget), and during a flood from
      random forged sources in 198.18.0.0/15 (a raw socket, one new source per datagram), with
      the proxy's CPU cores used in each phase.
Every load is bounded in rate and time (--duration seconds a phase, at most 60). Medians over the
rounds are printed at the end; every process started is stopped by PID.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the checkout clean (run as root)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import daemons, measure, report  # noqa: E402

LEGIT = "127.0.0.10"
FLOODER = "127.0.0.20"
FORGED_NET = 0xC6120000  # 198.18.0.0/15
# The CPU phase's "on" limit: far above the load, so every query runs the whole check and none
# is refused (its burst, twice it, is Fulcrum's largest).
LIMIT_NEVER_HIT = 500_000
PROXIES = ("fulcrum", "dnsdist")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/protect.sh", description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=8, help="seconds per phase (default 8)")
    p.add_argument("--rate", type=int, default=10000, help="CPU phase dnsperf qps (default 10000)")
    p.add_argument("--limit", type=int, default=1000, help="per-client qps limit (default 1000)")
    p.add_argument("--legit-rate", type=int, default=500, help="legitimate client qps (default 500)")
    p.add_argument("--flood-rate", type=int, default=20000, help="flood datagrams/s (default 20000)")
    p.add_argument("--proxies", default=",".join(PROXIES))
    p.add_argument("--json")
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--fulcrum-bin", default="", help=argparse.SUPPRESS)
    p.add_argument("--validate-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--keep-workdir", action="store_true")
    args = p.parse_args(argv)
    args.proxies = [x for x in args.proxies.split(",") if x]
    if any(x not in PROXIES for x in args.proxies) or not args.proxies:
        p.error(f"--proxies: choose from {','.join(PROXIES)}")
    if args.rounds > 20 or args.duration > 60 or args.flood_rate > 200000:
        p.error("bounded on purpose: --rounds <= 20, --duration <= 60, --flood-rate <= 200000")
    if min(args.rounds, args.duration, args.rate, args.limit, args.legit_rate, args.flood_rate) < 1:
        p.error("every number must be at least 1")
    if args.legit_rate >= args.limit:
        p.error("--legit-rate must be below --limit (the legitimate client stays within it)")
    if not args.workdir and not args.validate_only:
        p.error("run through bench/protect.sh (it creates the namespace and the work dir)")
    return args


FULCRUM_CONF = """hostname BENCH
server 1 {{
  ipaddr {address}
  port {port}
  method rr
  targets 1,2
{protection}}}
register server 1
enable server 1
target 1 {{
  ipaddr 127.0.0.2
  port 53
}}
target 2 {{
  ipaddr 127.0.0.3
  port 53
}}
register targets 1,2
enable targets 1,2
"""

DNSDIST_CONF = """-- dnsdist for the protection benchmark (generated): no packet cache, round robin.
setSecurityPollSuffix('')
setLocal('{address}:{port}')
addACL('198.18.0.0/15')
{servers}
setServerPolicy(roundrobin)
{rule}
"""


def start(proxy, supervisor, args, tag, limit):
    """The proxy with a per-client limit of `limit` qps (None: protection off)."""
    if proxy == "fulcrum":
        protection = ""
        if limit is not None:
            protection = (f"  deny all\n  allow 127.0.0.0/8,198.18.0.0/15\n"
                          f"  ratelimit {limit},{2 * limit}\n")
        conf = os.path.join(args.workdir, f"fulcrum-{tag}.conf")
        with open(conf, "w", encoding="utf-8") as out:
            out.write(FULCRUM_CONF.format(address=daemons.FULCRUM_ADDRESS,
                                          port=daemons.FULCRUM_PORT, protection=protection))
        started = supervisor.start(
            "fulcrum",
            [args.fulcrum_bin, "run", "-c", conf, "--socket",
             os.path.join(args.workdir, f"fulcrum-{tag}.sock")],
            os.path.join(args.workdir, f"fulcrum-{tag}.log"))
        return started, daemons.FULCRUM_ADDRESS, daemons.FULCRUM_PORT
    servers = "\n".join(
        f"newServer({{address='{a}:53', checkName='{daemons.ZONE}.', checkType='SOA', "
        f"checkInterval=1}})" for a in daemons.BACKEND_ADDRESSES)
    rule = "" if limit is None else f"addAction(MaxQPSIPRule({limit}, 32, 64, {2 * limit}), DropAction())"
    conf = os.path.join(args.workdir, f"dnsdist-{tag}.conf")
    with open(conf, "w", encoding="utf-8") as out:
        out.write(DNSDIST_CONF.format(address=daemons.DNSDIST_ADDRESS, port=daemons.DNSDIST_PORT,
                                      servers=servers, rule=rule))
    started = supervisor.start(
        "dnsdist", ["dnsdist", "-C", conf, "--supervised", "--disable-syslog"],
        os.path.join(args.workdir, f"dnsdist-{tag}.log"))
    return started, daemons.DNSDIST_ADDRESS, daemons.DNSDIST_PORT


def query(qid):
    return (qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
            + b"\x03www\x05bench\x04test\x00\x00\x01\x00\x01")


def checksum(header):
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def forged(source, address, port, qid):
    payload = query(qid)
    udp = (40000).to_bytes(2, "big") + port.to_bytes(2, "big") + (8 + len(payload)).to_bytes(2, "big") + b"\0\0"
    ip = bytearray(b"\x45\x00" + (20 + len(udp) + len(payload)).to_bytes(2, "big")
                   + b"\0\0\0\0\x40\x11\0\0" + source.to_bytes(4, "big")
                   + socket.inet_aton(address))
    ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
    return bytes(ip) + udp + payload


def flood(kind, address, port, rate, seconds, stop):
    """Sends `rate` datagrams a second for `seconds` at most (or until `stop`), in 10 ms slices.
    Returns how many were sent."""
    if kind == "one-address":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((FLOODER, 0))
        packets = [query(i) for i in range(256)]
        send = lambda n: sock.sendto(packets[n & 0xFF], (address, port))  # noqa: E731
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        # A full-period walk of the /15: a new source for each of 131072 datagrams.
        send = lambda n: sock.sendto(  # noqa: E731
            forged(FORGED_NET | ((n * 40503 + 12345) & 0x1FFFF), address, port, n & 0xFFFF),
            (address, port))
    sent, started, per_slice = 0, time.monotonic(), max(1, rate // 100)
    while not stop.is_set() and time.monotonic() - started < seconds:
        for _ in range(per_slice):
            try:
                send(sent)
            except OSError:
                pass
            sent += 1
        due = started + sent / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    sock.close()
    return sent


def legit_phase(args, address, port, queries, proxy_pid, flood_kind=None):
    """The legitimate client at --legit-rate for --duration, alone or beside a flood."""
    stop, result = threading.Event(), {}
    flooder = None
    if flood_kind:
        flooder = threading.Thread(target=lambda: result.__setitem__(
            "flood_sent", flood(flood_kind, address, port, args.flood_rate, args.duration + 2, stop)))
        flooder.start()
        time.sleep(0.5)
    before, t0 = measure.cpu_snapshot({"proxy": [proxy_pid]}), time.monotonic()
    argv = ["dnsperf", "-s", address, "-p", str(port), "-a", LEGIT, "-d", queries,
            "-l", str(args.duration), "-Q", str(args.legit_rate), "-c", "1", "-q", "50",
            "-t", "1", "-v"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 30)
    after, elapsed = measure.cpu_snapshot({"proxy": [proxy_pid]}), time.monotonic() - t0
    stop.set()
    if flooder:
        flooder.join()
    if done.returncode != 0:
        raise RuntimeError(f"dnsperf failed: {done.stderr.strip()[-300:]}")
    times = measure.latencies_us(done.stdout)
    result.update({
        "qps": measure.stat_value(done.stdout, "Queries per second"),
        "lost": measure.stat_value(done.stdout, "Queries lost"),
        "p99_us": measure.percentile(times, 0.99),
        "proxy_cores": (after["proxy"] - before["proxy"]) / measure.CLOCK_TICKS / elapsed,
    })
    return result


def run_proxy(proxy, round_no, args, supervisor, queries):
    rows = {}
    # Alternate the order between rounds so that neither state always runs first.
    states = [("off", None), ("on", LIMIT_NEVER_HIT)]
    if round_no % 2 == 0:
        states.reverse()
    for state, limit in states:
        started, address, port = start(proxy, supervisor, args, f"r{round_no}-{state}", limit)
        try:
            daemons.wait_for_answer(started, address, port)
            measure.dnsperf(args, address, port, queries, measure.WARMUP_S)
            phase = measure.phase(args, address, port, queries, {"proxy": [started.pid]},
                                  rate=args.rate)
            rows[f"cpu_{state}"] = {"cpu_us_per_query": phase["cpu_us_per_query"]["proxy"],
                                    "qps": phase["qps"], "p99_us": phase["p99_us"]}
        finally:
            supervisor.stop(started)
    started, address, port = start(proxy, supervisor, args, f"r{round_no}-limit", args.limit)
    try:
        daemons.wait_for_answer(started, address, port)
        for kind in (None, "one-address", "random-sources"):
            rows[kind or "alone"] = legit_phase(args, address, port, queries, started.pid, kind)
    finally:
        supervisor.stop(started)
    return rows


def median(values):
    values = sorted(v for v in values if v == v)
    return values[len(values) // 2] if values else float("nan")


def summary(rounds, proxies):
    out = []
    for proxy in proxies:
        rows = [r[proxy] for r in rounds if proxy in r and "error" not in r[proxy]]
        if not rows:
            out.append(f"{proxy}: no round completed")
            continue
        off = median([r["cpu_off"]["cpu_us_per_query"] for r in rows])
        on = median([r["cpu_on"]["cpu_us_per_query"] for r in rows])
        out.append(f"{proxy}: CPU per query at the fixed rate: off {off:.2f} us, on {on:.2f} us "
                   f"({(on / off - 1) * 100:+.1f} %)")
        for phase in ("alone", "one-address", "random-sources"):
            qps = median([r[phase]["qps"] for r in rows])
            p99 = median([r[phase]["p99_us"] for r in rows])
            lost = median([r[phase]["lost"] for r in rows])
            cores = median([r[phase]["proxy_cores"] for r in rows])
            sent = median([r[phase].get("flood_sent", 0) for r in rows])
            out.append(f"  legit client {phase:<15} qps {qps:8.1f}  lost {lost:5.0f}  p99 "
                       f"{p99:8.0f} us  proxy {cores:4.2f} cores  flood sent {sent:.0f}")
    return "\n".join(out)


def main(argv):
    args = parse_args(argv)
    if args.validate_only:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(143)))
    args.clients, args.threads, args.outstanding = 2, 2, 100  # for measure.phase
    supervisor = daemons.Supervisor()
    results = {"conditions": {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                              "args": {k: v for k, v in vars(args).items() if k != "workdir"},
                              "loadavg": report._loadavg()},
               "rounds": []}
    try:
        print(f"protection benchmark {results['conditions']['date_utc']} UTC, "
              f"load {' '.join(results['conditions']['loadavg'])}", flush=True)
        queries = daemons.write_query_file(args.workdir)
        daemons.start_backends(supervisor, args.workdir, 1)
        for round_no in range(1, args.rounds + 1):
            row = {}
            for proxy in args.proxies:
                print(f"round {round_no}: {proxy} ...", flush=True)
                try:
                    row[proxy] = run_proxy(proxy, round_no, args, supervisor, queries)
                except (daemons.StartError, RuntimeError, subprocess.TimeoutExpired) as err:
                    row[proxy] = {"error": str(err)}
                print(json.dumps(report.json_safe(row[proxy])), flush=True)
            results["rounds"].append(row)
        text = summary(results["rounds"], args.proxies)
        print(f"medians over {args.rounds} rounds:\n{text}", flush=True)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(report.json_safe(results), out, indent=2)
        return 0
    except daemons.StartError as err:
        print(f"protect_bench: {err}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
