#!/usr/bin/env bash
# Health-check loss benchmark: under a steady UDP query load through Fulcrum,
# how many queries are lost between killing one target's Bind9 and Fulcrum marking it down, for
# the seed's `5,12` check settings and for `1,3`.
#
#   sudo bench/health_loss.sh [--rate 2000] [--duration 30] [--kill-at 5] [--settings 5,12,1,3]
#                             [--fulcrum PATH]
#
# Everything runs in a fresh network namespace holding only `lo`: two named on 127.0.0.1 (ports
# 5301, 5302), `fulcrum run` with server 127.0.0.1:5300 (method session) in front of them, both
# targets checked with `tcpopen PORT,I,T` and `dns bench.test,I,T`. A Python load generator sends
# --rate queries/s for --duration s from 32 client addresses (127.0.1.1-32) in turn, kills
# target 1's named at --kill-at s, and matches every reply to its query. Reported per setting:
# the detection time (kill to Fulcrum's `target 1 ... down` log line), queries sent in that
# window and how many of them were lost, and queries lost after it (should be 0: sessions move
# at once). The namespace and every process are removed on exit, Ctrl-C included.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
rate=2000
duration=30
kill_at=5
settings="5,12,1,3"
fulcrum=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rate) rate="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --kill-at) kill_at="$2"; shift 2 ;;
        --settings) settings="$2"; shift 2 ;;
        --fulcrum) fulcrum="$2"; shift 2 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "health_loss.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

die() { echo "health_loss.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces): run it with sudo"
for pair in ip:iproute2 named:bind9 python3:python3; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${pair%%:*} ]] ||
        die "missing tool '${pair%%:*}': apt-get install ${pair#*:}"
done
if [[ -z "$fulcrum" ]]; then
    # The newer of the release and debug builds (a stale one may predate the health checks).
    for candidate in "$repo/target/release/fulcrum" "$repo/target/debug/fulcrum"; do
        [[ -x "$candidate" && ( -z "$fulcrum" || "$candidate" -nt "$fulcrum" ) ]] && fulcrum="$candidate"
    done
fi
echo "health_loss.sh: using $fulcrum" >&2
[[ -x "$fulcrum" ]] || die "no fulcrum binary: cargo build -p fulcrum (or pass --fulcrum PATH)"

ns="fulcrum-healthloss-$$"
work="$(mktemp -d /tmp/fulcrum-healthloss.XXXXXX)"
cleanup() {
    # Every process we started runs inside the namespace: kill them by PID.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up

IFS=, read -r -a numbers <<<"$settings"
for ((i = 0; i + 1 < ${#numbers[@]}; i += 2)); do
    interval="${numbers[$i]}"
    timeout="${numbers[$((i + 1))]}"
    ip netns exec "$ns" python3 - "$fulcrum" "$work/run-$interval-$timeout" "$interval" "$timeout" \
        "$rate" "$duration" "$kill_at" <<'PY'
import os, select, signal, socket, struct, subprocess, sys, time
from datetime import datetime

fulcrum, work, interval, timeout, rate, duration, kill_at = sys.argv[1:8]
interval, timeout, rate, duration, kill_at = int(interval), int(timeout), int(rate), float(duration), float(kill_at)
os.makedirs(work)
ZONE = "bench.test"
children = []

def named(name, port):
    d = os.path.join(work, name)
    os.makedirs(d)
    with open(os.path.join(d, "zone"), "w") as f:
        f.write(f"$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\n"
                f"ns1 IN A 127.0.0.1\n@ IN TXT \"{name}\"\n")
    with open(os.path.join(d, "named.conf"), "w") as f:
        f.write(f'options {{ directory "{d}"; pid-file "{d}/named.pid"; session-keyfile "{d}/s.key";\n'
                f'  listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; recursion no;\n'
                f'  notify no; dnssec-validation no; }};\n'
                f'zone "{ZONE}" {{ type master; file "{d}/zone"; }};\n')
    log = open(os.path.join(d, "named.log"), "w")
    p = subprocess.Popen(["/usr/sbin/named", "-g", "-4", "-n", "1", "-c", f"{d}/named.conf"],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    children.append(p)
    return p

def query(qid, name=ZONE):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 16, 1)

def answers(port, tries=100):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    for _ in range(tries):
        try:
            s.sendto(query(1), ("127.0.0.1", port))
            s.recvfrom(1500)
            return True
        except OSError:
            time.sleep(0.05)
    return False

try:
    a, b = named("inst-a", 5301), named("inst-b", 5302)
    for port in (5301, 5302):
        if not answers(port):
            sys.exit(f"named on port {port} did not start: see {work}")
    checks = lambda port: f"  tcpopen {port},{interval},{timeout}\n  dns {ZONE},{interval},{timeout}\n"
    conf = (f"server 1 {{\n  ipaddr 127.0.0.1\n  port 5300\n  method session\n  targets 1,2\n}}\n"
            f"register server 1\nenable server 1\n"
            f"target 1 {{\n  ipaddr 127.0.0.1\n  port 5301\n{checks(5301)}}}\n"
            f"target 2 {{\n  ipaddr 127.0.0.1\n  port 5302\n{checks(5302)}}}\n"
            f"register targets 1,2\nenable targets 1,2\n")
    with open(os.path.join(work, "fulcrum.conf"), "w") as f:
        f.write(conf)
    flog_path = os.path.join(work, "fulcrum.log")
    flog = open(flog_path, "w")
    env = dict(os.environ, NO_COLOR="1")
    fl = subprocess.Popen([fulcrum, "run", "-c", os.path.join(work, "fulcrum.conf"), "--socket",
                           os.path.join(work, "fulcrum.sock")], stdin=subprocess.DEVNULL,
                          stdout=flog, stderr=flog, env=env)
    children.append(fl)
    if not answers(5300):
        sys.exit(f"fulcrum did not answer: see {flog_path}")
    time.sleep(max(interval, 1) + 0.5)  # first probes done, both targets up

    sockets = []
    for i in range(1, 33):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind((f"127.0.1.{i}", 0))
        s.setblocking(False)
        sockets.append(s)
    sent = {}      # (socket index, id) -> send time (monotonic)
    answered = {}  # (socket index, id) -> which instance
    killed = None
    start = time.monotonic()
    wall_start = time.time()
    n = 0
    total = int(rate * duration)
    def drain(wait):
        readable, _, _ = select.select(sockets, [], [], wait)
        for s in readable:
            idx = sockets.index(s)
            while True:
                try:
                    data, _ = s.recvfrom(1500)
                except BlockingIOError:
                    break
                if len(data) >= 12:
                    qid = struct.unpack(">H", data[:2])[0]
                    answered[(idx, qid)] = b"inst-b" in data and "b" or "a"
    while n < total:
        now = time.monotonic() - start
        if killed is None and now >= kill_at:
            a.kill()
            killed = time.time()
        due = int(now * rate) + 1
        while n < min(due, total):
            idx = n % len(sockets)
            qid = (n // len(sockets)) & 0xFFFF
            try:
                sockets[idx].sendto(query(qid), ("127.0.0.1", 5300))
            except OSError:
                pass
            sent[(idx, qid)] = time.time()
            n += 1
        drain(0.0005)
    end = time.monotonic() + 3  # the proxy's UDP timeout is 2 s
    while time.monotonic() < end:
        drain(0.05)

    # Fulcrum's own view: queries, responses, timeouts, drops of server 1 and the targets.
    shown = subprocess.run([fulcrum, "control", "--socket", os.path.join(work, "fulcrum.sock"),
                            "-e", "show targets"], capture_output=True, text=True).stdout
    rows = [l.split() for l in shown.splitlines() if l[:2] in ("1 ", "2 ")]
    counters = "; ".join(f"target {r[0]} queries {r[-5]} responses {r[-4]} timeouts {r[-3]} "
                         f"drops {r[-2]}" for r in rows if len(r) >= 14)
    # When Fulcrum marked target 1 down: its log line's timestamp.
    down = None
    for line in open(flog_path):
        if "target 1 (" in line and ") down: " in line:
            stamp = line.split()[0]
            down = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            reason = line.split(") down: ", 1)[1].strip()
            break
    if down is None:
        sys.exit(f"target 1 never went down: see {flog_path}")
    window = [k for k, t in sent.items() if killed <= t < down]
    after = [k for k, t in sent.items() if t >= down]
    before = [k for k, t in sent.items() if t < killed]
    lost_window = sum(1 for k in window if k not in answered)
    lost_after = sum(1 for k in after if k not in answered)
    lost_before = sum(1 for k in before if k not in answered)
    # Losses after the down mark: how long after it, and whether the client had been on the
    # killed instance (its session must move) or on the other one.
    on_a = {idx for (idx, _), who in answered.items() if who == "a"}
    late = sorted(sent[k] - down for k in after if k not in answered)
    late_a = sum(1 for k in after if k not in answered and k[0] in on_a)
    late_info = (f" (clients that were on target 1: {late_a}; last one {1000 * late[-1]:.0f} ms "
                 f"after the mark)" if late else "")
    print(f"settings {interval},{timeout}: rate {rate}/s for {duration:.0f} s, {len(sent)} queries; "
          f"target 1 killed at {killed - wall_start:.1f} s, down after {down - killed:.2f} s ({reason}); "
          f"in that window {len(window)} sent, {lost_window} lost "
          f"({100.0 * lost_window / max(len(window), 1):.1f} %); lost before the kill {lost_before}, "
          f"after the down mark {lost_after}{late_info}\n  fulcrum: {counters}")
finally:
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()
PY
done
