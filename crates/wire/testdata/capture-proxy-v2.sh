#!/bin/bash
# How the PROXY protocol v2 golden bytes of crates/wire (proxy_v2_*.hex) were taken: dnsdist
# (Debian package, `useProxyProtocol=true`) in front of a python3 listener that records what
# reaches the backend, all on loopback. Queries for golden.example from dig over UDP and TCP,
# to dnsdist on 127.0.0.1 and on ::1; each recorded datagram or stream start whose question is
# golden.example is written as hex (the PROXY header and the DNS message after it).
# Run as any user; needs dnsdist, dig (dnsutils), python3.
set -eu
OUT=${1:-/tmp/proxy-v2}
mkdir -p "$OUT"
FRONT=$((20000 + RANDOM % 20000)); BACK=$((FRONT + 1))
python3 - "$BACK" "$OUT" <<'PY' &
import socket, sys, threading, time
port, out = int(sys.argv[1]), sys.argv[2]
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", port))
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", port)); tcp.listen(8)
seen = {"udp": 0, "tcp": 0}
def keep(kind, data):
    if b"\x06golden\x07example" in data:
        seen[kind] += 1
        open(f"{out}/{kind}{seen[kind]}.hex", "w").write(data.hex() + "\n")
def serve_tcp():
    while True:
        conn, _ = tcp.accept(); conn.settimeout(1)
        data = b""
        try:
            while len(data) < 4096:
                chunk = conn.recv(4096)
                if not chunk: break
                data += chunk
        except socket.timeout: pass
        keep("tcp", data); conn.close()
threading.Thread(target=serve_tcp, daemon=True).start()
udp.settimeout(1); end = time.time() + 20
while time.time() < end:
    try: data, _ = udp.recvfrom(4096)
    except socket.timeout: continue
    keep("udp", data)
PY
LISTENER=$!
CONF=$(mktemp); trap 'kill $DNSDIST $LISTENER 2>/dev/null; rm -f $CONF' EXIT
cat > "$CONF" <<LUA
setLocal("127.0.0.1:$FRONT")
addLocal("[::1]:$FRONT")
newServer({address="127.0.0.1:$BACK", useProxyProtocol=true, checkInterval=3600}):setUp()
LUA
dnsdist --supervised --disable-syslog -C "$CONF" >/dev/null 2>&1 &
DNSDIST=$!
sleep 1
for server in 127.0.0.1 ::1; do
  dig +tries=1 +time=1 -p $FRONT @$server golden.example A >/dev/null || true
  dig +tries=1 +time=1 +tcp -p $FRONT @$server golden.example A >/dev/null || true
done
sleep 1
# Kept as testdata/proxy_v2_{udp4,udp6,tcp4,tcp6}.hex: the first udp/tcp file of each family.
ls "$OUT"
