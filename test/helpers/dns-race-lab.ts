// The lab of the 5-second DNS race: a pod, a node that DNATs a DNS Service VIP to two dnsmasq backends as
// kube-proxy does (nftables, numgen random mod 2), and the race, which this kernel never shows on its own.
//
//   segment pods: pod 198.51.100.10 / 2001:db8:1::10, node eth0 .1 / ::1 (the pod's default routes)
//   segment svc:  node eth1 203.0.113.1 / 2001:db8:2::1, dnsa .53 / ::53, dnsb .54 / ::54
//   Service VIPs: 198.18.0.10 and 2001:db8:53::10 (udp/53), DNATed by the node to dnsa or dnsb at random
//
// The real race needs the two packets of one tuple in conntrack on two CPUs at once, each picking its own
// backend, the second dropped at confirm (insert_failed). On this kernel it does not happen: a pair sent by
// one sendmmsg into a veth is processed by one CPU in order (0 clashes in /proc/net/stat/nf_conntrack over
// 4000 same-socket pairs, with RPS on), and since Linux 5.6 a UDP clash with another DNAT choice is inserted
// rather than dropped ("clashres"). So `startRace` adds what the race does, in nftables on the node, before the
// DNAT: the second packet of a tuple (pod address and source port to the VIP's port 53) within WINDOW_MS of
// its first is dropped half of the time (numgen random mod 2: the chance that two racing packets pick
// different backends, the one case the kernel could not resolve). Pairs to a server go 10 ms apart, so a
// source port used again by a later socket is outside the window. Its counter is the oracle: every packet it
// drops is a query the probe must count lost.
//
// (A rule on conntrack's own view, "ct state new ct original packets > 1", drops too little here: the whole
// path of the A, to dnsmasq, runs inside the pod's sendmmsg, so the A's answer often passes the node before
// the AAAA does, and the entry is no longer new.)

import type { Host, Lab } from "../../src/lab";
import { type Dnsmasq, startDnsmasq } from "./dns-lab";

export const VIP4 = "198.18.0.10";
export const VIP6 = "2001:db8:53::10";
export const BACKENDS4 = ["203.0.113.53", "203.0.113.54"] as const;
export const BACKENDS6 = ["2001:db8:2::53", "2001:db8:2::54"] as const;
/** the name the backends serve, A and AAAA */
export const NAME = "kubernetes.default.svc.cluster.local";
export const NAME_A = "198.18.0.1";
export const NAME_AAAA = "2001:db8:53::1";
export const POD4 = "198.51.100.10";
/** how long after a tuple's first packet the race rule drops its second, ms */
export const WINDOW_MS = 5;

export interface RaceLab {
  pod: Host;
  node: Host;
  backends: Dnsmasq[];
}

const SERVICE = `table inet wpsvc {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr ${VIP4} udp dport 53 dnat ip to numgen random mod 2 map { 0 : ${BACKENDS4[0]}, 1 : ${BACKENDS4[1]} }
    ip6 daddr ${VIP6} udp dport 53 dnat ip6 to numgen random mod 2 map { 0 : ${BACKENDS6[0]}, 1 : ${BACKENDS6[1]} }
  }
}
`;

const RACE = `table inet wprace {
  set seen4 { type ipv4_addr . inet_service; flags dynamic, timeout; timeout ${WINDOW_MS}ms; }
  set seen6 { type ipv6_addr . inet_service; flags dynamic, timeout; timeout ${WINDOW_MS}ms; }
  chain prerouting {
    type filter hook prerouting priority mangle;
    ip daddr ${VIP4} udp dport 53 ip saddr . udp sport @seen4 numgen random mod 2 1 counter drop
    ip daddr ${VIP4} udp dport 53 add @seen4 { ip saddr . udp sport }
    ip6 daddr ${VIP6} udp dport 53 ip6 saddr . udp sport @seen6 numgen random mod 2 1 counter drop
    ip6 daddr ${VIP6} udp dport 53 add @seen6 { ip6 saddr . udp sport }
  }
}
`;

/** Builds the pod, the node with the Service's DNAT, and the two backends (each answering NAME, A and AAAA). */
export async function buildRaceLab(lab: Lab): Promise<RaceLab> {
  const pods = await lab.segment("pods");
  const svc = await lab.segment("svc");
  const node = await lab.router("node", [
    [pods, ["198.51.100.1/24", "2001:db8:1::1/64"]],
    [svc, ["203.0.113.1/24", "2001:db8:2::1/64"]],
  ]);
  await node.sysctl("net.ipv6.conf.all.forwarding", "1");
  const pod = await lab.host("pod");
  await pod.connect(pods, { address: [`${POD4}/24`, "2001:db8:1::10/64"] });
  await pod.route(["default", "via", "198.51.100.1"]);
  await pod.ip(["-6", "route", "add", "default", "via", "2001:db8:1::1"]);
  const backends: Dnsmasq[] = [];
  for (const [i, name] of ["dnsa", "dnsb"].entries()) {
    const h = await lab.host(name);
    await h.connect(svc, { address: [`${BACKENDS4[i]}/24`, `${BACKENDS6[i]}/64`] });
    await h.route(["default", "via", "203.0.113.1"]);
    await h.ip(["-6", "route", "add", "default", "via", "2001:db8:2::1"]);
    backends.push(
      await startDnsmasq(h, BACKENDS4[i]!, [
        `--listen-address=${BACKENDS6[i]}`,
        `--host-record=${NAME},${NAME_A},${NAME_AAAA}`,
      ]),
    );
  }
  await node.nft(SERVICE);
  for (const h of [pod, node]) await h.waitForLink("eth0");
  return { pod, node, backends };
}

/** Adds the race's drop rule on the node (see the top of this file). */
export async function startRace(node: Host): Promise<void> {
  await node.nft(RACE);
}

/** Removes it: the healthy Service. */
export async function stopRace(node: Host): Promise<void> {
  await node.exec("nft", ["delete", "table", "inet", "wprace"]);
}

/** Packets the race rule dropped so far (its counter, from `nft -j list table inet wprace`). */
export async function raceDrops(node: Host): Promise<number> {
  const { stdout } = await node.exec("nft", ["-j", "list", "table", "inet", "wprace"]);
  const rules = (
    JSON.parse(stdout) as { nftables: Array<{ rule?: { expr: Array<Record<string, unknown>> } }> }
  ).nftables;
  let packets = 0;
  for (const r of rules) {
    for (const e of r.rule?.expr ?? []) {
      const counter = e.counter as { packets: number } | undefined;
      if (counter) packets += counter.packets;
    }
  }
  return packets;
}

/** The node's conntrack statistics summed over CPUs: clashres, insert_failed, drop (hex columns). */
export async function conntrackStats(node: Host): Promise<Record<string, number>> {
  const { stdout } = await node.exec("cat", ["/proc/net/stat/nf_conntrack"]);
  const [head, ...lines] = stdout.trim().split("\n");
  const names = head!.trim().split(/\s+/);
  const sums: Record<string, number> = {};
  for (const line of lines) {
    line
      .trim()
      .split(/\s+/)
      .forEach((v, i) => {
        const name = names[i]!;
        sums[name] = name === "entries" ? Number.parseInt(v, 16) : (sums[name] ?? 0) + Number.parseInt(v, 16);
      });
  }
  return sums;
}
