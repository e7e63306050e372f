#!/usr/bin/env bash
# Session-sync resync benchmark: how long a restarted peer takes to receive the
# whole session table (goal: one million sessions in under 2 s).
#
#   sudo bench/sync_resync.sh [--sessions 1000000] [--trials 3] [--fulcrum PATH] [--keep-workdir]
#
# In a fresh network namespace holding only `lo` (nothing can leave it): two `fulcrum run`
# daemons, A on 127.0.0.1 (sync on 127.0.10.1:10439) and B (127.0.10.2), each naming the other
# as `syncpeer` (no vrrp: both are sync peers, and a restarted B asks A for the full table as a
# restarted backup does). A serves 127.0.0.1:5300 with `method session` over two targets that
# are silent UDP sockets (a session is made when a query is forwarded; no answer is needed).
# A raw-socket generator sends one DNS query from each of --sessions distinct source addresses
# (127.64.0.0 upwards, over lo) at a bounded rate until A's `show sessions` counts them all
# (at most 3 passes). Then per trial: B is SIGKILLed and started again; the figures are the
# receiver's own log line (`full table received (N sessions in M ms)`, first chunk to last), the
# wall time from B's start to its `show sync` saying `resync in sync`, B's CPU time by then, and
# the sessions B's `show sessions` counts afterwards. Everything is bounded and
# removed on exit, Ctrl-C included.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
sessions=1000000
trials=3
fulcrum=""
keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sessions) sessions="$2"; shift 2 ;;
        --trials) trials="$2"; shift 2 ;;
        --fulcrum) fulcrum="$2"; shift 2 ;;
        --keep-workdir) keep=1; shift ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "sync_resync.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

die() { echo "sync_resync.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (a network namespace, a raw socket): run it with sudo"
[[ "$sessions" =~ ^[0-9]+$ && "$sessions" -ge 1 && "$sessions" -le 4000000 ]] ||
    die "--sessions takes 1 to 4000000"
[[ "$trials" =~ ^[0-9]+$ && "$trials" -ge 1 && "$trials" -le 20 ]] || die "--trials takes 1 to 20"
command -v ip >/dev/null || die "missing tool 'ip': apt-get install iproute2"
command -v python3 >/dev/null || die "missing tool 'python3': apt-get install python3"
if [[ -z "$fulcrum" ]]; then
    for candidate in "$repo/target/release/fulcrum" "$repo/target/debug/fulcrum"; do
        [[ -x "$candidate" && ( -z "$fulcrum" || "$candidate" -nt "$fulcrum" ) ]] && fulcrum="$candidate"
    done
fi
[[ -x "$fulcrum" ]] || die "no fulcrum binary: cargo build --release -p fulcrum (or pass --fulcrum PATH)"

ns="fulcrum-resync-$$"
work="$(mktemp -d /tmp/fulcrum-resync.XXXXXX)"
cp "$fulcrum" "$work/fulcrum"
cleanup() {
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    if [[ $keep = 1 ]]; then echo "sync_resync.sh: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
echo "sync_resync.sh: $fulcrum, $sessions sessions, $trials trials, namespace $ns" >&2

ip netns exec "$ns" python3 - "$work" "$sessions" "$trials" <<'PY'
import os, re, socket, statistics, struct, subprocess, sys, time

work, sessions, trials = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
FULCRUM = os.path.join(work, "fulcrum")

# Two silent targets: bound sockets that never read.
targets = []
for port in (5301, 5302):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    targets.append(s)

def config(me, peer, vip_port):
    return (f"hostname RESYNC{me[-1]}\n"
            f"network 1 {{\nname \"resync bench\"\nreal {me}\nsyncpeer {peer}\n}}\n"
            "register network 1\nenable network 1\n"
            f"server 1 {{\nipaddr 127.0.0.1\nport {vip_port}\nprotocol udp\nmethod session\ntargets 1,2\n}}\n"
            "register server 1\nenable server 1\n"
            "target 1 {\nipaddr 127.0.0.1\nport 5301\n}\n"
            "target 2 {\nipaddr 127.0.0.1\nport 5302\n}\n"
            "register targets 1,2\nenable targets 1,2\n")

class Daemon:
    def __init__(self, name, me, peer, vip_port):
        self.name = name
        self.conf = os.path.join(work, f"{name}.conf")
        with open(self.conf, "w") as f:
            f.write(config(me, peer, vip_port))
        self.socket = os.path.join(work, f"{name}.sock")
        self.log = os.path.join(work, f"{name}.log")
        self.proc = None

    def start(self):
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        out = open(self.log, "w")
        self.proc = subprocess.Popen([FULCRUM, "run", "-c", self.conf, "--socket", self.socket],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        started = time.monotonic()
        deadline = started + 20
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{self.name} did not start:\n" + open(self.log).read())
            time.sleep(0.005)
        return started

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def sync(self):
        return subprocess.run([FULCRUM, "control", "--socket", self.socket, "-e", "show sync"],
                              capture_output=True, text=True, timeout=30).stdout

    def count(self):
        out = subprocess.run([FULCRUM, "control", "--socket", self.socket, "-e", "show sessions 1"],
                             capture_output=True, text=True, timeout=30).stdout
        m = re.match(r"(\d+) sessions", out)
        return int(m.group(1)) if m else 0

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data)//2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

QUERY = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x01a\x04test\x00\x00\x10\x00\x01"

def fill(vip_port, n, rate=150_000):
    """One query from each of n source addresses, paced at `rate` per second."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    udp_len = 8 + len(QUERY)
    base = struct.unpack("!I", socket.inet_aton("127.64.0.0"))[0]
    dst = socket.inet_aton("127.0.0.1")
    started = time.monotonic()
    for i in range(n):
        src = struct.pack("!I", base + i)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, i & 0xFFFF, 0, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        udp = struct.pack("!HHHH", 1024 + i % 60000, vip_port, udp_len, 0)
        raw.sendto(ip + udp + QUERY, ("127.0.0.1", 0))
        if i % 1000 == 999:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

a = Daemon("a", "127.0.10.1", "127.0.10.2", 5300)
b = Daemon("b", "127.0.10.2", "127.0.10.1", 5310)
a.start()
b.start()
t0 = time.monotonic()
for attempt in range(3):
    fill(5300, sessions)
    time.sleep(1)
    have = a.count()
    if have >= sessions:
        break
print(f"A holds {have} sessions after {attempt + 1} pass(es), {time.monotonic() - t0:.1f} s", file=sys.stderr)

results = []
for trial in range(1, trials + 1):
    b.kill()
    time.sleep(0.5)
    started = b.start()
    deadline = started + 60
    # `show sync` is cheap; `show sessions` sorts the whole table, so it is asked once at the end.
    while "resync in sync" not in b.sync() and time.monotonic() < deadline:
        time.sleep(0.01)
    wall = time.monotonic() - started
    with open(f"/proc/{b.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    n = b.count()
    log = open(b.log).read()
    os.rename(b.log, f"{b.log}.{trial}")
    m = re.search(r"full table received \((\d+) sessions in (\d+) ms\)", log)
    got, ms = (int(m.group(1)), int(m.group(2))) if m else (n, -1)
    results.append((wall, ms, got, n, cpu))
    print(f"trial {trial}: B counts {n} of {have} sessions {wall:.2f} s after its start; "
          f"receiver log: {got} sessions in {ms} ms; B used {cpu:.2f} s of CPU", file=sys.stderr)
b.kill()
a.kill()

print()
print(f"## Session resync to a restarted peer ({have} sessions, {trials} trials)")
print()
print("| trial | start to in sync | first to last chunk (receiver's log) | sessions received | receiver's CPU (start included) |")
print("| ---: | ---: | ---: | ---: | ---: |")
for i, (wall, ms, got, n, cpu) in enumerate(results, 1):
    print(f"| {i} | {wall:.2f} s | {ms} ms | {got} | {cpu:.2f} s |")
print()
print(f"median: {statistics.median(r[0] for r in results):.2f} s from start to in sync, "
      f"{statistics.median(r[1] for r in results):.0f} ms first to last chunk "
      f"({have / max(statistics.median(r[1] for r in results), 1) * 1000:,.0f} sessions/s), "
      f"{statistics.median(r[4] for r in results):.2f} s of the receiver's CPU")
PY
