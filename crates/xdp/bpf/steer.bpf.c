// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
//
// The XDP program of Fulcrum's AF_XDP DSR plane (crates/xdp/src/program.rs loads it).
//
// Contract: a frame goes to the AF_XDP socket of the queue it arrived on exactly when it is an
// unfragmented IPv4 UDP or TCP datagram to an address in `vips`, sent to the plane's virtual MAC
// (`virtual_mac[0]`): the hot path of the DSR plane, which the kernel would only drop (the MAC
// is not its own). Everything else passes to the kernel untouched: ARP, VRRP, ICMP, IPv6,
// fragments and frames to any other address or MAC, which the AF_PACKET side of the plane
// still sees beside the kernel (its copy semantics are what ARP answers, VRRP, session sync
// and the DSR-path probes rely on; fragments need the fanout group's reassembly). A queue
// without a socket in `xsks` passes too (bpf_redirect_map's fallback action).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
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

// The plane's virtual MAC in the low 48 bits (first byte on the wire highest); 0: none yet.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} virtual_mac SEC(".maps");

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

SEC("xdp")
int fulcrum_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    __u32 zero = 0;
    __u64 *vmac = bpf_map_lookup_elem(&virtual_mac, &zero);
    if (!vmac || *vmac == 0 || mac_of(eth->h_dest) != *vmac)
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
        return XDP_PASS;
    if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
        return XDP_PASS;
    // More-fragments or an offset: the AF_PACKET fanout group reassembles those.
    if (ip->frag_off & bpf_htons(0x3fff))
        return XDP_PASS;
    __u32 daddr = ip->daddr;
    if (!bpf_map_lookup_elem(&vips, &daddr))
        return XDP_PASS;
    return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
