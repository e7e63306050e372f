#!/bin/bash
# How the IPv6 golden bytes of crates/wire were taken (run as root; needs iproute2, iputils ping,
# tcpdump, python3, keepalived). Everything happens inside namespaces this script creates (names
# v6w<PID>*), with no link to the host's interfaces; all are removed on exit.
#   a <-> r <-> b: a (fd00:1::a), a forwarding router r (fd00:1::1 | fd00:2::1, MTU 1280 towards
#   b) and b (fd00:2::b). Captured on a's link (out/a.pcap): the kernel's MLDv2 report with a
#   Hop-by-Hop header, its Neighbor Solicitation and the Advertisement back, `ping -6` echo
#   request/reply, Packet Too Big and Time Exceeded from r, the two fragments of a 2000-byte ping,
#   and a Port Unreachable for UDP to port 9.
#   k <-> q: keepalived's `version 3` IPv6 instance (VRID 7, VIP fd00:1::100) in k, captured in q
#   (out/k.pcap): its adverts to ff02::12, its unsolicited Neighbor Advertisements, the
#   priority-0 advert when stopped.
# The frames were pasted into the tests (`*.hex` here, or arrays in the test modules).
set -u
P=v6w$$
A=${P}a; R=${P}r; B=${P}b; K=${P}k; Q=${P}q
OUT=/tmp/ipv6wire/out; mkdir -p $OUT
cleanup() {
  for ns in $A $R $B $K $Q; do
    for pid in $(ip netns pids $ns 2>/dev/null); do kill $pid 2>/dev/null; done
  done
  sleep 0.5
  for ns in $A $R $B $K $Q; do
    for pid in $(ip netns pids $ns 2>/dev/null); do kill -9 $pid 2>/dev/null; done
    ip netns del $ns 2>/dev/null
  done
}
trap cleanup EXIT
for ns in $A $R $B $K $Q; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add va$$ netns $A type veth peer name vr$$ netns $R
ip -n $A link set va$$ name eth0; ip -n $R link set vr$$ name eth0
ip link add vb$$ netns $B type veth peer name vs$$ netns $R
ip -n $B link set vb$$ name eth0; ip -n $R link set vs$$ name eth1
ip -n $A link set eth0 address 02:00:00:00:00:0a
ip -n $R link set eth0 address 02:00:00:00:00:01
ip -n $R link set eth1 address 02:00:00:00:00:02
ip -n $B link set eth0 address 02:00:00:00:00:0b
ip -n $R link set eth1 mtu 1280; ip -n $B link set eth0 mtu 1280
for ns in $A $R $B; do ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.autoconf=0 net.ipv6.conf.default.autoconf=0; done
ip netns exec $R sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n $A addr add fd00:1::a/64 dev eth0 nodad
ip -n $R addr add fd00:1::1/64 dev eth0 nodad
ip -n $R addr add fd00:2::1/64 dev eth1 nodad
ip -n $B addr add fd00:2::b/64 dev eth0 nodad
for ns in $A $R $B; do ip -n $ns link set eth0 up; done; ip -n $R link set eth1 up
ip -n $A route add default via fd00:1::1
ip -n $B route add default via fd00:2::1
sleep 2
ip netns exec $A tcpdump -i eth0 -U -w $OUT/a.pcap -s 0 ip6 2>/dev/null &
TD=$!
sleep 1.5
ip netns exec $A ping -6 -c1 -s 4 -p 6162 fd00:1::1           # echo + NS/NA
ip netns exec $A ping -6 -c1 -s 1400 -M do fd00:2::b          # packet too big from R
ip netns exec $A ping -6 -c1 -t 1 fd00:2::b                   # time exceeded from R
ip netns exec $A ping -6 -c1 -s 2000 fd00:1::1                # fragments
ip netns exec $A python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("fd00:1::a", 40000)); s.sendto(b"abcd", ("fd00:1::1", 9))'  # port unreachable
sleep 1
kill $TD; wait $TD 2>/dev/null

# keepalived's IPv6 VRRPv3 instance
ip link add vk$$ netns $K type veth peer name vq$$ netns $Q
ip -n $K link set vk$$ name eth0; ip -n $Q link set vq$$ name eth0
ip -n $K link set eth0 address 02:00:00:00:00:43
ip -n $Q link set eth0 address 02:00:00:00:00:44
for ns in $K $Q; do ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0; ip -n $ns link set eth0 up; done
ip -n $K addr add fd00:1::43/64 dev eth0 nodad
sleep 2
cat > $OUT/ka.conf <<KA
global_defs {
  router_id fulcrumtest
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 7
  priority 100
  advert_int 1
  version 3
  virtual_ipaddress {
    fd00:1::100/64
  }
}
KA
ip netns exec $Q tcpdump -i eth0 -U -w $OUT/k.pcap -s 0 ip6 2>/dev/null &
TD=$!
sleep 1.5
ip netns exec $K keepalived -n -l -D --vrrp -f $OUT/ka.conf -p $OUT/ka.pid -r $OUT/vrrp.pid > $OUT/ka.log 2>&1 &
KP=$!
sleep 6
kill -TERM $KP; sleep 2
kill $TD; wait $TD 2>/dev/null
