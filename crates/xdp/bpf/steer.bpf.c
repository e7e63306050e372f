// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
//
// The XDP program of Fulcrum's DSR plane (crates/xdp/src/program.rs loads it).
//
// Contract: a frame goes to the AF_XDP socket of the queue it arrived on exactly when it is an
// unfragmented IPv4 UDP or TCP datagram to an address in `vips`, sent to the plane's virtual MAC
// (`virtual_mac[0]`): the hot path of the DSR plane, which the kernel would only drop (the MAC
// is not its own). Everything else passes to the kernel: ARP, VRRP, ICMP, IPv6, fragments and
// frames to any other address or MAC, which the AF_PACKET side of the plane still sees beside
// the kernel (its copy semantics are what ARP answers, VRRP, session sync and the DSR-path
// probes rely on; fragments need the fanout group's reassembly). A queue without a socket in
// `xsks` passes too (bpf_redirect_map's fallback action), so the program also serves a plane
// with no AF_XDP socket at all.
//
// Routed frames (active-active nodes, `own_mac` set): a router sends a VIP's frames to the
// node's own MAC (its BGP next hop), which the kernel would take as its own and answer from
// the VIP it holds. A frame to `own_mac` for an address in `vips` (IPv4, any protocol) or
// `vips6` (IPv6) has its destination MAC rewritten to the virtual MAC of its family first:
// from there on it is a frame of the plane like any other (steered as above, or passed), and
// the kernel, which builds its skb after this program, drops its copy as PACKET_OTHERHOST.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_VIPS 4096
#define MAX_QUEUES 64

// VIP (network byte order) -> 1.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_VIPS);
    __type(key, __u32);
    __type(value, __u8);
} vips SEC(".maps");

// IPv6 VIP (16 bytes as on the wire) -> 1: only routed frames are looked up here.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_VIPS);
    __type(key, struct in6_addr);
    __type(value, __u8);
} vips6 SEC(".maps");

// The plane's virtual MACs in the low 48 bits (first byte on the wire highest): [0] IPv4,
// [1] IPv6; 0: none yet.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} virtual_mac SEC(".maps");

// The interface's own MAC, as above, while routed frames are the plane's; 0: they are not.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} own_mac SEC(".maps");

// Receive queue -> AF_XDP socket.
struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xsks SEC(".maps");

static __always_inline __u64 mac_of(const unsigned char *m)
{
    return ((__u64)m[0] << 40) | ((__u64)m[1] << 32) | ((__u64)m[2] << 24) |
           ((__u64)m[3] << 16) | ((__u64)m[4] << 8) | (__u64)m[5];
}

static __always_inline void set_mac(unsigned char *m, __u64 mac)
{
    m[0] = mac >> 40;
    m[1] = mac >> 32;
    m[2] = mac >> 24;
    m[3] = mac >> 16;
    m[4] = mac >> 8;
    m[5] = mac;
}

static __always_inline __u64 map_mac(void *map, __u32 index)
{
    __u64 *mac = bpf_map_lookup_elem(map, &index);
    return mac ? *mac : 0;
}

// Whether the frame was sent to the interface's own MAC while routed frames are the plane's.
static __always_inline int routed(const struct ethhdr *eth)
{
    __u64 own = map_mac(&own_mac, 0);
    return own != 0 && mac_of(eth->h_dest) == own;
}

static __always_inline int ipv6_frame(struct ethhdr *eth, void *data_end)
{
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end || !routed(eth))
        return XDP_PASS;
    __u64 vmac = map_mac(&virtual_mac, 1);
    if (vmac != 0 && bpf_map_lookup_elem(&vips6, &ip6->daddr))
        set_mac(eth->h_dest, vmac);
    return XDP_PASS;
}

SEC("xdp")
int fulcrum_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_PASS;
    if (eth->h_proto == bpf_htons(ETH_P_IPV6))
        return ipv6_frame(eth, data_end);
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
        return XDP_PASS;
    __u64 vmac = map_mac(&virtual_mac, 0);
    if (vmac == 0)
        return XDP_PASS;
    __u32 daddr = ip->daddr;
    // The pair's frames (to the virtual MAC) pay no lookup of the own MAC.
    if (mac_of(eth->h_dest) != vmac) {
        if (!routed(eth) || !bpf_map_lookup_elem(&vips, &daddr))
            return XDP_PASS;
        set_mac(eth->h_dest, vmac);
    }
    if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
        return XDP_PASS;
    // More-fragments or an offset: the AF_PACKET fanout group reassembles those.
    if (ip->frag_off & bpf_htons(0x3fff))
        return XDP_PASS;
    if (!bpf_map_lookup_elem(&vips, &daddr))
        return XDP_PASS;
    return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
