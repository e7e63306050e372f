"""dnsperf phases and CPU accounting.

Contract: run_phases() runs a short warm-up, then (1) a saturation phase and (2) a fixed-rate
phase with per-query times (dnsperf -v), each bounded by --duration, and samples utime+stime of
each named process tree from /proc before and after each phase, plus dnsperf's own CPU and the
CPU the rest of the machine used meanwhile ("other_cores": background noise on a shared host;
softirq time is reported apart as "softirq_cores" since it is mostly our own packets). CPU is reported in microseconds
per answered query ("Queries completed"). Latency percentiles use the nearest-rank method over
answered queries; lost queries are counted separately.
"""

import math
import os
import re
import resource
import subprocess
import threading
import time
import urllib.request

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARMUP_S = 1


def read_stat(pid):
    """(ppid, cpu ticks incl. reaped children) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = text[text.rfind(")") + 2:].split()
    if len(fields) < 15:
        return None
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ppid, utime + stime + cutime + cstime


def tree_ticks(roots):
    """Sum of CPU ticks of the processes `roots` and all their descendants."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    children = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def system_ticks():
    """(busy outside softirq, softirq) ticks of all CPUs since boot, from /proc/stat. Softirq is
    kept apart: with loopback traffic it is mostly this benchmark's own packet processing, which
    the kernel does not charge to any process."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(f) for f in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + steal, softirq


def children_ticks():
    """CPU of this driver's reaped children (the dnsperf runs), in ticks."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * CLOCK_TICKS


def cpu_snapshot(cpu_pids):
    snapshot = {name: tree_ticks(pids) for name, pids in cpu_pids.items()}
    snapshot["dnsperf"] = children_ticks()
    snapshot["system"], snapshot["softirq"] = system_ticks()
    return snapshot


def dnsperf(args, address, port, queries, duration, rate=None, verbose=False):
    argv = [
        "dnsperf", "-s", address, "-p", str(port), "-d", queries, "-l", str(duration),
        "-c", str(args.clients), "-T", str(args.threads), "-q", str(args.outstanding),
        "-t", "2",
    ]
    if rate is not None:
        argv += ["-Q", str(rate)]
    if verbose:
        argv.append("-v")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    if done.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout


def stat_value(output, label):
    match = re.search(rf"^\s*{re.escape(label)}:\s+([0-9.]+)", output, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latencies_us(output):
    """Per-query times from dnsperf -v lines '> RCODE name type seconds' ('> T ...' = lost)."""
    times = []
    for line in output.splitlines():
        if line.startswith("> ") and not line.startswith("> T "):
            try:
                times.append(float(line.rsplit(None, 1)[1]) * 1e6)
            except (IndexError, ValueError):
                continue
    times.sort()
    return times


def phase(args, address, port, queries, cpu_pids, rate=None):
    before, started = cpu_snapshot(cpu_pids), time.monotonic()
    output = dnsperf(args, address, port, queries, args.duration, rate=rate, verbose=rate is not None)
    after, elapsed = cpu_snapshot(cpu_pids), time.monotonic() - started
    completed, lost = stat_value(output, "Queries completed"), stat_value(output, "Queries lost")
    result = {
        "qps": stat_value(output, "Queries per second"),
        "completed": 0 if math.isnan(completed) else int(completed),
        "lost": 0 if math.isnan(lost) else int(lost),
        "cpu_us_per_query": {},
    }
    delta = {name: (after[name] - before[name]) / CLOCK_TICKS for name in after}
    for name in list(cpu_pids) + ["dnsperf"]:
        result["cpu_us_per_query"][name] = (
            delta[name] * 1e6 / result["completed"] if result["completed"] else float("nan"))
    # Background load from outside the benchmark (other users of the machine), in cores.
    ours = sum(delta[name] for name in list(cpu_pids) + ["dnsperf"])
    result["other_cores"] = max(0.0, delta["system"] - ours) / elapsed if elapsed > 0 else 0.0
    result["softirq_cores"] = delta["softirq"] / elapsed if elapsed > 0 else 0.0
    if rate is not None:
        times = latencies_us(output)
        result["mean_us"] = sum(times) / len(times) if times else float("nan")
        result["p50_us"] = percentile(times, 0.50)
        result["p99_us"] = percentile(times, 0.99)
        result["p999_us"] = percentile(times, 0.999)
    return result


def run_phases(args, address, port, queries, cpu_pids):
    # Warm-up: caches, socket buffers, CPU frequency; not measured.
    dnsperf(args, address, port, queries, WARMUP_S)
    return {
        "saturation": phase(args, address, port, queries, cpu_pids),
        "fixed_rate": phase(args, address, port, queries, cpu_pids, rate=args.rate),
    }


class Scraper:
    """GETs `url` every `interval_s` on a thread of its own, as Prometheus would, while a case
    is measured; `stop` ends it and returns {"ok": n, "failed": n, "bytes": last body size}."""

    def __init__(self, url, interval_s=1.0):
        self.url, self.interval_s = url, interval_s
        self.counts = {"ok": 0, "failed": 0, "bytes": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as reply:
                    body = reply.read()
                self.counts["ok"] += 1
                self.counts["bytes"] = len(body)
            except OSError:
                self.counts["failed"] += 1
            self._stop.wait(self.interval_s)

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        return dict(self.counts)
