"""Start, check and stop the processes under test: two NSD backends, dnsdist, Fulcrum.

Contract: every process is started through a Supervisor, in its own session (so Ctrl-C reaches
the driver, which then stops them in order), with its output in a log file in the work dir, and is
stopped by PID (SIGTERM, then SIGKILL after a grace period). Readiness is checked with dig against
the address under test only; a process that does not answer in time raises StartError naming its
log.
"""

import os
import subprocess
import time

ZONE = "bench.test"
BACKEND_ADDRESSES = ("127.0.0.2", "127.0.0.3")
# PowerDNS backends that take the PROXY protocol from Fulcrum (127.0.0.1), for the
# `fulcrum-proxyprotocol` case; checked with dig from PROBE_SOURCE, which needs no header.
PROXIED_BACKEND_ADDRESSES = ("127.0.0.4", "127.0.0.5")
PROBE_SOURCE = "127.0.0.9"
DNSDIST_ADDRESS, DNSDIST_PORT = "127.0.0.1", 5301
FULCRUM_ADDRESS, FULCRUM_PORT = "127.0.0.1", 5300
READY_TIMEOUT_S = 10.0
STOP_GRACE_S = 3.0


class StartError(Exception):
    """A process did not start or did not answer as expected."""


class Started:
    def __init__(self, name, popen, log_path):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.log_path = log_path

    def log_tail(self, lines=8):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                tail = "".join(log.readlines()[-lines:]).rstrip()
        except OSError:
            tail = ""
        return (tail or "(empty log)") + "\n  (--keep-workdir keeps the logs)"


class Backend(Started):
    def __init__(self, name, popen, log_path, address):
        super().__init__(name, popen, log_path)
        self.address = address


class Supervisor:
    """Owns every process this run starts; stops them by PID."""

    def __init__(self):
        self.running = []

    def start(self, name, argv, log_path, cls=Started, **extra):
        log = open(log_path, "wb")
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            raise StartError(f"{name}: cannot run {argv[0]}: {err}") from err
        finally:
            log.close()
        started = cls(name, popen, log_path, **extra)
        self.running.append(started)
        return started

    def stop(self, started):
        if started not in self.running:
            return
        self.running.remove(started)
        if started.popen.poll() is None:
            started.popen.terminate()
            try:
                started.popen.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                started.popen.kill()
                started.popen.wait(timeout=STOP_GRACE_S)

    def stop_all(self):
        for started in list(reversed(self.running)):
            try:
                self.stop(started)
            except (OSError, subprocess.TimeoutExpired):
                pass


def dig(address, port, qtype="TXT", name=ZONE, tcp=False, source=None):
    """One dig query with a short timeout; returns the +short answer text or None."""
    argv = ["dig", f"@{address}", "-p", str(port), "+short", "+time=1", "+tries=1", name, qtype]
    if tcp:
        argv.insert(1, "+tcp")
    if source:
        argv[1:1] = ["-b", source]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return None
    out = done.stdout.strip()
    if done.returncode != 0 or not out or out.startswith(";;"):
        return None
    return out


def wait_for_answer(started, address, port, expect=None, source=None):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if started.popen.poll() is not None:
            raise StartError(
                f"{started.name} exited with status {started.popen.returncode}; "
                f"log {started.log_path}:\n{started.log_tail()}"
            )
        answer = dig(address, port, source=source)
        if answer is not None and (expect is None or expect in answer):
            return answer
        time.sleep(0.2)
    raise StartError(
        f"{started.name} gave no answer on {address}:{port} within {READY_TIMEOUT_S:.0f} s; "
        f"log {started.log_path}:\n{started.log_tail()}"
    )


def write_query_file(workdir):
    path = os.path.join(workdir, "queries.txt")
    names = [
        f"www.{ZONE} A", f"mail.{ZONE} A", f"{ZONE} SOA", f"{ZONE} NS",
        f"ns1.{ZONE} A", f"api.{ZONE} AAAA", f"{ZONE} MX", f"{ZONE} TXT",
    ]
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(names) + "\n")
    return path


ZONE_TEMPLATE = """$ORIGIN {zone}.
$TTL 300
@     IN SOA ns1 hostmaster 1 3600 600 86400 300
@     IN NS  ns1
@     IN MX  10 mail
@     IN TXT "{instance}"
ns1   IN A   {address}
www   IN A   192.0.2.1
mail  IN A   192.0.2.2
api   IN AAAA 2001:db8::1
"""

NSD_TEMPLATE = """# NSD backend {instance} for the proxy benchmark (generated).
server:
  ip-address: {address}@53
  server-count: {servers}
  reuseport: yes
  database: ""
  zonelistfile: "{dir}/zone.list"
  xfrdfile: "{dir}/xfrd.state"
  xfrdir: "{dir}"
  zonesdir: "{dir}"
  pidfile: "{dir}/nsd.pid"
  logfile: "{dir}/nsd.log"
  username: ""
  chroot: ""
  verbosity: 1
  tcp-count: 1000
  # Debian's default limits each /24 to 200 qps: off for load tests.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: {zone}
  zonefile: "{dir}/{zone}.zone"
"""


def start_backends(supervisor, workdir, servers):
    """Two NSD instances, each with its own dir; checked over UDP and TCP with dig."""
    backends = []
    for index, address in enumerate(BACKEND_ADDRESSES, start=1):
        instance = f"nsd{index}"
        nsd_dir = os.path.join(workdir, instance)
        os.makedirs(nsd_dir, exist_ok=True)
        with open(os.path.join(nsd_dir, f"{ZONE}.zone"), "w", encoding="utf-8") as out:
            out.write(ZONE_TEMPLATE.format(zone=ZONE, instance=instance, address=address))
        conf = os.path.join(nsd_dir, "nsd.conf")
        with open(conf, "w", encoding="utf-8") as out:
            out.write(NSD_TEMPLATE.format(
                instance=instance, address=address, servers=servers, dir=nsd_dir, zone=ZONE))
        check = subprocess.run(["nsd-checkconf", conf], capture_output=True, text=True)
        if check.returncode != 0:
            raise StartError(f"nsd-checkconf {conf}: {check.stderr.strip()}")
        backend = supervisor.start(
            instance, ["nsd", "-d", "-c", conf], os.path.join(nsd_dir, "stdout.log"),
            cls=Backend, address=address)
        wait_for_answer(backend, address, 53, expect=instance)
        if dig(address, 53, tcp=True) is None:
            raise StartError(f"{instance} answers UDP but not TCP on {address}:53")
        backends.append(backend)
    return backends


PDNS_TEMPLATE = """# PowerDNS backend {instance} for the proxy benchmark (generated).
launch=bind
bind-config={dir}/named.conf
local-address={address}:53
{proxy_from}
reuseport=yes
loglevel=3
security-poll-suffix=
daemon=no
guardian=no
disable-syslog=yes
write-pid=no
socket-dir={dir}
"""


def start_pdns_backends(supervisor, workdir, addresses, proxy_protocol):
    """Two PowerDNS Authoritative instances (bind backend) serving the same zone as the NSD
    ones, with `proxy-protocol-from=127.0.0.1` when `proxy_protocol` (then they drop queries
    from Fulcrum's address that lack the header); checked over UDP and TCP with dig."""
    backends = []
    for index, address in enumerate(addresses, start=1):
        instance = f"pdns{'pp' if proxy_protocol else ''}{index}"
        pdns_dir = os.path.join(workdir, instance)
        os.makedirs(pdns_dir, exist_ok=True)
        zone_file = os.path.join(pdns_dir, f"{ZONE}.zone")
        with open(zone_file, "w", encoding="utf-8") as out:
            out.write(ZONE_TEMPLATE.format(zone=ZONE, instance=instance, address=address))
        with open(os.path.join(pdns_dir, "named.conf"), "w", encoding="utf-8") as out:
            out.write(f'zone "{ZONE}" {{ type master; file "{zone_file}"; }};\n')
        with open(os.path.join(pdns_dir, "pdns.conf"), "w", encoding="utf-8") as out:
            out.write(PDNS_TEMPLATE.format(
                instance=instance, address=address, dir=pdns_dir,
                proxy_from="proxy-protocol-from=127.0.0.1" if proxy_protocol else ""))
        backend = supervisor.start(
            instance, ["pdns_server", f"--config-dir={pdns_dir}"],
            os.path.join(pdns_dir, "stdout.log"), cls=Backend, address=address)
        wait_for_answer(backend, address, 53, expect=instance, source=PROBE_SOURCE)
        if dig(address, 53, tcp=True, source=PROBE_SOURCE) is None:
            raise StartError(f"{instance} answers UDP but not TCP on {address}:53")
        backends.append(backend)
    return backends


DNSDIST_TEMPLATE = """-- dnsdist for the proxy benchmark (generated): no packet cache, round robin, no console.
setSecurityPollSuffix('')
{listeners}
{servers}
setServerPolicy(roundrobin)
{tuning}
"""


def dnsdist_listeners(count):
    """One UDP+TCP listener thread per entry; several share the port with SO_REUSEPORT."""
    if count == 1:
        return f"setLocal('{DNSDIST_ADDRESS}:{DNSDIST_PORT}')"
    first = f"setLocal('{DNSDIST_ADDRESS}:{DNSDIST_PORT}', {{reusePort=true}})"
    more = f"addLocal('{DNSDIST_ADDRESS}:{DNSDIST_PORT}', {{reusePort=true}})"
    return "\n".join([first] + [more] * (count - 1))


def start_dnsdist(supervisor, workdir, round_no, backends, listeners=1, mmsg=1):
    servers = "\n".join(
        f"newServer({{address='{b.address}:53', name='{b.name}', checkName='{ZONE}.', "
        f"checkType='SOA', checkInterval=1}})"
        for b in backends
    )
    conf = os.path.join(workdir, "dnsdist.conf")
    with open(conf, "w", encoding="utf-8") as out:
        out.write(DNSDIST_TEMPLATE.format(
            listeners=dnsdist_listeners(listeners), servers=servers,
            tuning=f"setUDPMultipleMessagesVectorSize({mmsg})" if mmsg > 1 else ""))
    return supervisor.start(
        "dnsdist",
        ["dnsdist", "-C", conf, "--supervised", "--disable-syslog"],
        os.path.join(workdir, f"dnsdist-round{round_no}.log"),
    )


# Where the `fulcrum-scraped` case serves its metrics (inside the benchmark's namespace).
FULCRUM_METRICS = "127.0.0.1:9153"

FULCRUM_TEMPLATE = """hostname BENCH
server 1 {{
  ipaddr {address}
  port {port}
  method rr
  targets 1,2
}}
register server 1
enable server 1
{targets}
register targets 1,2
enable targets 1,2
"""


def start_fulcrum(supervisor, workdir, round_no, binary, metrics=None, backends=None,
                  proxy_protocol=False):
    """`metrics`: an ADDR:PORT for `--metrics`, or None for no metrics listener. `backends`:
    the targets' addresses (default BACKEND_ADDRESSES); `proxy_protocol`: the targets have
    `proxyprotocol enable`."""
    option = "\n  proxyprotocol enable" if proxy_protocol else ""
    targets = "\n".join(
        f"target {i} {{\n  ipaddr {address}\n  port 53{option}\n}}"
        for i, address in enumerate(backends or BACKEND_ADDRESSES, start=1)
    )
    conf = os.path.join(workdir, "fulcrum.conf")
    with open(conf, "w", encoding="utf-8") as out:
        out.write(FULCRUM_TEMPLATE.format(
            address=FULCRUM_ADDRESS, port=FULCRUM_PORT, targets=targets))
        # Extra statements to compare settings (`FULCRUM_BENCH_SET="set upstreamsockets 1"`).
        extra = os.environ.get("FULCRUM_BENCH_SET", "")
        if extra:
            out.write(extra + "\n")
    socket_path = os.path.join(workdir, f"fulcrum-round{round_no}.sock")
    return supervisor.start(
        "fulcrum",
        [binary, "run", "-c", conf, "--socket", socket_path]
        + (["--metrics", metrics] if metrics else []),
        os.path.join(workdir, f"fulcrum-round{round_no}.log"),
    )


def wait_until_balanced(started, address, port, backends, probes=12):
    """Waits until the proxy answers, then checks UDP answers come from both backends and TCP
    answers. Returns {instance: answers over `probes` UDP queries, "tcp": "ok"|"FAILED"}."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    names = [b.name for b in backends]
    while True:
        wait_for_answer(started, address, port)
        spread = dict.fromkeys(names, 0)
        for _ in range(probes):
            answer = dig(address, port) or ""
            for name in names:
                if f'"{name}"' in answer:
                    spread[name] += 1
        if all(spread.values()):
            break
        # dnsdist marks backends up one health check at a time: give it a moment.
        if time.monotonic() > deadline:
            raise StartError(
                f"{started.name} on {address}:{port} did not use both backends: {spread}")
        time.sleep(0.5)
    # Recorded, not required: the load is UDP only.
    spread["tcp"] = "ok" if dig(address, port, tcp=True) is not None else "FAILED"
    return spread
