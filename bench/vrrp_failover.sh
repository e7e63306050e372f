#!/usr/bin/env bash
# VRRP failover benchmark: time from the death of the master (SIGKILL, and its
# switch port taken down at the same moment) to the first answer from the new master at the
# VIP, and the queries lost meanwhile, for Fulcrum and for keepalived at the same settings.
#
#   sudo bench/vrrp_failover.sh [--trials 10] [--settings 2:1000,3:100,3:20]
#                               [--impls fulcrum,keepalived] [--rate 1000] [--load-seconds 20]
#                               [--families 4] [--fulcrum PATH]
#
# --settings is a list of VERSION:ADVERT_MS. The lab, in fresh namespaces (no link to the host):
# a bridge "sw" and three namespaces on it, nodes a (10.235.210.45) and b (.46) and a client
# (.100), all in 10.235.210.0/24; the VIP is 10.235.210.1, VRID 7, both nodes priority 200.
# On each node a tiny UDP DNS responder (Python, sets QR on the query) answers: behind Fulcrum on
# 127.0.0.1:5353 (Fulcrum in proxy mode holds the VIP in its kernel while master and forwards
# VIP:53 there), or on 0.0.0.0:53 for keepalived (which holds the VIP itself). The client sends
# --rate queries/s to VIP:53 and matches replies by id. Per trial: both nodes run, one is master;
# after a random delay in [0, advert) (a random phase of the advert cycle) its switch port goes
# down and its daemon gets SIGKILL; the outage is from that moment to the first reply to a query sent after it, and the
# lost queries are those sent from then on to the first reply that got no reply within 1 s. The dead
# node then comes back (port up, a stale keepalived VIP removed, daemon restarted as backup) and
# the roles alternate. Everything is bounded: --trials per setting, 10 s per failover at most.
# Then, per setting, the false-takeover check: dnsperf saturates the VIP for --load-seconds (0:
# skip) while both nodes run, and the transitions each node made meanwhile are counted (a
# takeover without a death is a false one). Namespaces and processes are removed on exit, Ctrl-C
# included.
#
# --families 6 (or 4,6) measures the IPv6 instances (VRRP v3, RFC 5798; give only version-3
# settings): the nodes also carry fd00:1::45 and ::46, the client fd00:1::200 (unique-local,
# inside the lab only), the IPv6 VIP is fd00:1::100 and the client queries it. Fulcrum runs a
# dual-stack block (a server on each VIP, so both instances run, as in the keepalived IPv6
# interop test) and is read through the `family ipv6` block of `show vrrp`; keepalived runs an
# IPv6 instance only (`version 3`, `virtual_ipaddress { fd00:1::100/64 }`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
trials=10
settings="2:1000,3:100,3:20"
impls="fulcrum,keepalived"
rate=1000
load_seconds=20
families=4
fulcrum=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --trials) trials="$2"; shift 2 ;;
        --settings) settings="$2"; shift 2 ;;
        --impls) impls="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --load-seconds) load_seconds="$2"; shift 2 ;;
        --families) families="$2"; shift 2 ;;
        --fulcrum) fulcrum="$2"; shift 2 ;;
        -h | --help) sed -n '2,/^set -e/{/^set -e/d;p}' "$0"; exit 0 ;;
        *) echo "vrrp_failover.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

die() { echo "vrrp_failover.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces): run it with sudo"
for pair in ip:iproute2 python3:python3 keepalived:keepalived; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${pair%%:*} ]] ||
        die "missing tool '${pair%%:*}': apt-get install ${pair#*:}"
done
if [[ -z "$fulcrum" ]]; then
    for candidate in "$repo/target/release/fulcrum" "$repo/target/debug/fulcrum"; do
        [[ -x "$candidate" && ( -z "$fulcrum" || "$candidate" -nt "$fulcrum" ) ]] && fulcrum="$candidate"
    done
fi
[[ -x "$fulcrum" ]] || die "no fulcrum binary: cargo build -p fulcrum (or pass --fulcrum PATH)"

tag="vrrpbench-$$"
work="$(mktemp -d /tmp/fulcrum-vrrpbench.XXXXXX)"
# One binary for the whole run: a rebuild of target/ mid-run cannot mix binaries.
cp "$fulcrum" "$work/fulcrum"
echo "vrrp_failover.sh: using $fulcrum (copied to $work/fulcrum)" >&2
namespaces=("$tag-sw" "$tag-a" "$tag-b" "$tag-c")
cleanup() {
    for ns in "${namespaces[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    done
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

for ns in "${namespaces[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "$tag-sw" link add br0 type bridge
ip -n "$tag-sw" link set br0 up
for node in a:10.235.210.45 b:10.235.210.46 c:10.235.210.100; do
    name="${node%%:*}"
    ip -n "$tag-sw" link add "p$name" type veth peer name eth0 netns "$tag-$name"
    ip -n "$tag-sw" link set "p$name" master br0 up
    ip -n "$tag-$name" addr add "${node#*:}/24" dev eth0
    ip -n "$tag-$name" link set eth0 up
done
[[ "$families" =~ ^(4|6|4,6|6,4)$ ]] || die "--families takes 4, 6 or 4,6"
if [[ "$families" == *6* ]]; then
    for node in a:45 b:46 c:200; do
        ip -n "$tag-${node%%:*}" addr add "fd00:1::${node#*:}/64" dev eth0
    done
    # Both daemons send from the link-local address: wait until its duplicate address
    # detection is over (bounded).
    for i in $(seq 100); do
        tentative=0
        for name in a b c; do
            ip -n "$tag-$name" -6 addr show dev eth0 | grep -q tentative && tentative=1
        done
        [[ $tentative -eq 0 ]] && break
        sleep 0.1
    done
fi

[[ "$load_seconds" =~ ^[0-9]+$ && "$load_seconds" -le 120 ]] || die "--load-seconds takes 0 to 120"
if [[ "$load_seconds" -gt 0 ]]; then
    command -v dnsperf >/dev/null 2>&1 || die "missing tool 'dnsperf': apt-get install dnsperf"
fi

ip netns exec "$tag-c" python3 - "$work" "$tag" "$trials" "$settings" "$impls" "$rate" "$load_seconds" "$families" <<'PY'
import os, random, signal, socket, statistics, struct, subprocess, sys, threading, time

work, tag, trials, settings, impls, rate, load_seconds, families = sys.argv[1:9]
trials, rate, load_seconds = int(trials), int(rate), int(load_seconds)
FULCRUM = os.path.join(work, "fulcrum")
VIPS = {4: ("10.235.210.1", "32"), 6: ("fd00:1::100", "64")}
VIP = VIPS[4][0]
NODES = {"a": "10.235.210.45", "b": "10.235.210.46"}

RESPONDER = r'''
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    q, peer = s.recvfrom(4096)
    if len(q) >= 12:
        s.sendto(q[:2] + bytes([q[2] | 0x80, q[3]]) + q[4:], peer)
'''

def sh(*argv):
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def popen(ns, argv, log):
    out = open(log, "ab")
    return subprocess.Popen(["ip", "netns", "exec", f"{tag}-{ns}", *argv],
                            stdin=subprocess.DEVNULL, stdout=out, stderr=out)

class Node:
    def __init__(self, impl, name, version, advert_ms, family):
        self.impl, self.name, self.version, self.advert_ms = impl, name, version, advert_ms
        self.family = family
        self.vip, self.vip_prefix = VIPS[family]
        self.dir = os.path.join(work, f"{impl}-ipv{family}-v{version}-{advert_ms}-{name}")
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "log")
        self.proc = None
        self.responder = None

    def start(self):
        if self.responder is None:
            if self.impl == "fulcrum":
                addr, port = ("127.0.0.1" if self.family == 4 else "::1"), "5353"
            else:
                addr, port = ("0.0.0.0" if self.family == 4 else "::"), "53"
            self.responder = popen(self.name, ["python3", "-c", RESPONDER, addr, port], self.log + ".responder")
        if self.impl == "fulcrum":
            conf = os.path.join(self.dir, "fulcrum.conf")
            with open(conf, "w") as f:
                f.write(f"hostname {self.name}\ninterface eth0\n"
                        f"vrrp {{\nvrid 7\npriority 200\nnetwork 1\nversion {self.version}\nadvert {self.advert_ms}ms\n}}\n"
                        f"network 1 {{\naddr 10.235.210.0\nmask 255.255.255.0\nreal {NODES[self.name]}\ninterface eth0\n}}\n"
                        "register network 1\nenable network 1\n"
                        f"server 1 {{\nipaddr {VIP}\nport 53\nprotocol udp\ntargets 1\n}}\n"
                        "register server 1\nenable server 1\n"
                        "target 1 {\nipaddr 127.0.0.1\nport 5353\n}\nregister target 1\nenable target 1\n")
                if self.family == 6:
                    f.write(f"server 2 {{\nipaddr {self.vip}\nport 53\nprotocol udp\ntargets 2\n}}\n"
                            "register server 2\nenable server 2\n"
                            "target 2 {\nipaddr ::1\nport 5353\n}\nregister target 2\nenable target 2\n")
            self.socket = os.path.join(self.dir, "ctl.sock")
            self.proc = popen(self.name, [FULCRUM, "run", "-c", conf, "--socket", self.socket], self.log)
        else:
            conf = os.path.join(self.dir, "keepalived.conf")
            with open(conf, "w") as f:
                f.write(f"global_defs {{\n  router_id {self.name}\n}}\n"
                        f"vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n"
                        f"  priority 200\n  advert_int {self.advert_ms / 1000}\n  version {self.version}\n"
                        f"  virtual_ipaddress {{\n    {self.vip}/{self.vip_prefix}\n  }}\n}}\n")
            self.vrrp_pid = os.path.join(self.dir, "vrrp.pid")
            if os.path.exists(self.vrrp_pid):
                os.remove(self.vrrp_pid)
            self.log_mark = os.path.getsize(self.log) if os.path.exists(self.log) else 0
            self.proc = popen(self.name, ["keepalived", "-n", "-l", "-D", "--vrrp", "-f", conf,
                                          "-p", os.path.join(self.dir, "keepalived.pid"), "-r", self.vrrp_pid], self.log)

    def show_vrrp(self):
        """Fulcrum's `show vrrp` block of this node's family."""
        out = subprocess.run([FULCRUM, "control", "--socket", self.socket, "-e", "show vrrp"],
                             capture_output=True, text=True).stdout
        if self.family == 6:
            out = out.partition("\n\nfamily ipv6\n")[2]
        return out

    def state(self):
        if self.impl == "fulcrum":
            out = self.show_vrrp()
            for line in out.splitlines():
                if line.startswith("state "):
                    return line[6:]
            return ""
        with open(self.log, errors="replace") as f:
            f.seek(self.log_mark)
            text = f.read()
        m, b = text.rfind("Entering MASTER STATE"), text.rfind("Entering BACKUP STATE")
        return "MASTER" if m > b else ("BACKUP" if b >= 0 else "")

    def transitions(self):
        """How many state changes the node has made (Fulcrum: show vrrp; keepalived: its log)."""
        if self.impl == "fulcrum":
            out = self.show_vrrp()
            for line in out.splitlines():
                if line.startswith("transitions "):
                    return int(line.split()[1])
            return -1
        with open(self.log, errors="replace") as f:
            f.seek(self.log_mark)
            text = f.read()
        return text.count("Entering MASTER STATE") + text.count("Entering BACKUP STATE")

    def crash(self):
        """Takes the node off the link and kills its daemon; returns the moment of the cut."""
        sh("ip", "-n", f"{tag}-sw", "link", "set", f"p{self.name}", "down")
        t0 = time.monotonic()
        if self.impl == "keepalived":
            try:
                with open(self.vrrp_pid) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.proc.kill()
        self.proc.wait()
        return t0

    def revive(self):
        sh("ip", "-n", f"{tag}-{self.name}", "addr", "del", f"{self.vip}/{self.vip_prefix}", "dev", "eth0")
        sh("ip", "-n", f"{tag}-sw", "link", "set", f"p{self.name}", "up")
        self.start()

    def stop(self):
        for p in (self.proc, self.responder):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if self.impl == "keepalived":
            try:
                with open(self.vrrp_pid) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        sh("ip", "-n", f"{tag}-{self.name}", "addr", "del", f"{self.vip}/{self.vip_prefix}", "dev", "eth0")

def wait_until(cond, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False

class Load:
    """Queries VIP:53 at `rate`/s from one thread; another matches replies by id. After
    `watch(t0)` the receiver notes when the first reply to a query sent after t0 arrives (kept
    cheap: the sender must not stall while the main thread waits)."""
    def __init__(self, family):
        self.vip = VIPS[family][0]
        self.s = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.s.settimeout(0.05)
        self.sent, self.got, self.stop_flag, self.next = {}, {}, False, 0
        self.t0, self.first = float("inf"), None

    def watch(self, t0):
        self.first = None
        self.t0 = t0

    def run(self):
        threading.Thread(target=self.receive, daemon=True).start()
        gap, t = 1.0 / rate, time.monotonic()
        while not self.stop_flag:
            qid = self.next & 0xFFFF
            self.next += 1
            q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x05bench\x04test\x00\x00\x10\x00\x01"
            self.got.pop(qid, None)
            self.sent[qid] = time.monotonic()
            try:
                self.s.sendto(q, (self.vip, 53))
            except OSError:
                pass
            t += gap
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.05:
                t = time.monotonic()  # fell behind (a stall): do not burst to catch up

    def receive(self):
        while not self.stop_flag:
            try:
                r = self.s.recv(4096)
            except OSError:
                continue
            now = time.monotonic()
            if len(r) >= 2:
                qid = struct.unpack(">H", r[:2])[0]
                self.got.setdefault(qid, now)
                if self.first is None and self.sent.get(qid, 0.0) > self.t0:
                    self.first = now

    def window(self, start, end):
        """(sent, unanswered) among queries sent in [start, end]."""
        sent = lost = 0
        for qid, t in list(self.sent.items()):
            if start <= t <= end:
                sent += 1
                if qid not in self.got:
                    lost += 1
        return sent, lost

def trial_series(impl, version, advert_ms, family):
    nodes = {n: Node(impl, n, version, advert_ms, family) for n in NODES}
    advert = advert_ms / 1000.0
    mdi = 3 * advert + (56 / 256) * (1.0 if version == 2 else advert)
    results = []
    false_takeovers = None
    load = Load(family)
    try:
        nodes["a"].start()
        if not wait_until(lambda: nodes["a"].state() == "MASTER", mdi + 5):
            sys.exit(f"{impl}: node a never became MASTER; see {nodes['a'].log}")
        nodes["b"].start()
        if not wait_until(lambda: nodes["b"].state() == "BACKUP", 5):
            sys.exit(f"{impl}: node b never became BACKUP; see {nodes['b'].log}")
        threading.Thread(target=load.run, daemon=True).start()
        time.sleep(max(1.0, 3 * advert))
        master, backup = "a", "b"
        for n in range(trials):
            time.sleep(random.uniform(0, advert))
            cut = time.monotonic()
            load.watch(cut)  # a lower bound; crash() returns the exact moment
            t0 = nodes[master].crash()
            load.watch(t0)
            ok = wait_until(lambda: load.first is not None, 10)
            first = load.first
            time.sleep(1.1)  # let replies to queries sent just before `first` arrive
            if not ok or first is None:
                results.append((None, None))
                print(f"  {impl} v{version} {advert_ms} ms trial {n + 1}: no answer within 10 s", flush=True)
            else:
                outage = first - t0
                sent, lost = load.window(t0, first)
                results.append((outage, lost))
                print(f"  {impl} v{version} {advert_ms} ms trial {n + 1}: outage {outage * 1000:.0f} ms, "
                      f"{lost} of {sent} queries lost, new master {backup} is {nodes[backup].state()}", flush=True)
            nodes[master].revive()
            if not wait_until(lambda: nodes[master].state() == "BACKUP", 5):
                print(f"  {impl}: revived node {master} is {nodes[master].state()!r}", flush=True)
            time.sleep(max(0.5, 3 * advert))
            master, backup = backup, master
        if load_seconds > 0:
            false_takeovers = full_load_check(impl, version, advert_ms, nodes, VIPS[family][0])
    finally:
        load.stop_flag = True
        for node in nodes.values():
            node.stop()
    return results, false_takeovers

def full_load_check(impl, version, advert_ms, nodes, vip):
    """Saturates the VIP with dnsperf while both nodes run; returns the transitions made."""
    queries = os.path.join(work, "queries.txt")
    with open(queries, "w") as f:
        f.write("bench.test TXT\nbench.test A\n")
    before = {n: node.transitions() for n, node in nodes.items()}
    out = subprocess.run(["dnsperf", "-s", vip, "-d", queries, "-l", str(load_seconds), "-c", "4",
                          "-T", "2", "-q", "200", "-t", "1"], capture_output=True, text=True,
                         timeout=load_seconds + 30).stdout
    after = {n: node.transitions() for n, node in nodes.items()}
    qps = next((l.split()[-1] for l in out.splitlines() if "Queries per second" in l), "?")
    made = sum(after[n] - before[n] for n in nodes)
    print(f"  {impl} v{version} {advert_ms} ms full load: {qps} qps for {load_seconds} s, "
          f"transitions meanwhile {made} (a: {before['a']}->{after['a']}, b: {before['b']}->{after['b']})",
          flush=True)
    return made

summary = []
for family, setting in [(int(f), s) for f in families.split(",") for s in settings.split(",")]:
    version, advert_ms = (int(x) for x in setting.split(":"))
    if family == 6 and version != 3:
        sys.exit(f"IPv6 runs VRRP version 3 only: drop {setting} from --settings")
    for impl in impls.split(","):
        res, false_takeovers = trial_series(impl, version, advert_ms, family)
        if family == 6:
            impl += " (IPv6)"
        outages = [o for o, _ in res if o is not None]
        losts = [l for o, l in res if o is not None]
        failed = sum(1 for o, _ in res if o is None)
        if outages:
            summary.append((impl, version, advert_ms, statistics.median(outages) * 1000, min(outages) * 1000,
                            max(outages) * 1000, statistics.median(losts), len(outages), failed,
                            false_takeovers))
        else:
            summary.append((impl, version, advert_ms, None, None, None, None, 0, failed, false_takeovers))

print("\n| implementation | version | advert | median outage | min - max | median queries lost | trials (no answer) | transitions under full load |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for impl, version, advert_ms, med, lo, hi, lost, n, failed, false_takeovers in summary:
    ft = "-" if false_takeovers is None else str(false_takeovers)
    if med is None:
        print(f"| {impl} | {version} | {advert_ms} ms | - | - | - | 0 ({failed}) | {ft} |")
    else:
        print(f"| {impl} | {version} | {advert_ms} ms | {med:.0f} ms | {lo:.0f} - {hi:.0f} ms | {lost:.0f} | {n} ({failed}) | {ft} |")
PY
