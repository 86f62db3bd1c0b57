import type {
  ArpRecord,
  DnsConsistencyRecord,
  DnsRecord,
  HostRecord,
  PingRecord,
  PortRecord,
  VerdictEvidence,
  VerdictFamily,
  VerdictRecord,
} from "../records";
import {
  type ClusterNode,
  endpointLabel,
  FAMILIES,
  type Family,
  familyName,
  familyOf,
  type NodePort,
  type NodePortSpec,
  type NotScanned,
  nodeAddresses,
  nodeLabel,
  nodePortLabel,
  normalizeNodePorts,
} from "./nodes";
import { DNS_FIX, type DnsRaceInput, withRace } from "./verdict-dnsrace";

// The three conclusions of `wireprobe check`, computed from probe records alone (no I/O), so they can be
// tested against hand-made records and recomputed from a saved NDJSON run.
//
// A record that never came is not a pass: each verdict compares what arrived with what was expected (the
// nodes, the ports, the servers × names) and, when something is missing or its probe was interrupted, says
// so (complete: false, ok: false, notProbed) instead of judging the part that arrived as if it were the whole.
//
// Each verdict is drawn per address family too (`families`): over IPv4 from the IPv4 records, over IPv6 from the
// IPv6 ones. A verdict is ok only when every family is, so a dual-stack node counts as adjacent, or as
// answering a nodePort, only when both of its addresses do. With two families the detail and the fix say which
// family each finding is about, and a node that passes over one family but not the other is named as such.

export const list = (xs: readonly string[]) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;

/** The first few of a long list, then how many more: detail strings stay readable for a /20. */
export function summariseList(xs: readonly string[], first = 5): string {
  if (xs.length <= first + 1) return list(xs);
  return `${xs.slice(0, first).join(", ")} and ${xs.length - first} more`;
}

/**
 * What a verdict should have seen, beyond the records it is given: the part every verdict takes (see
 * {@link HostGwExpectation}, {@link NodePortExpectation} and {@link DnsExpectation}).
 *
 * @example
 * ```ts
 * import { type VerdictExpectation, parseNodes } from "wireprobe";
 *
 * const expected: VerdictExpectation = {
 *   cluster: parseNodes(["node1=198.51.100.11", "node2=198.51.100.12"]),
 *   aborted: false,
 * };
 * ```
 */
export interface VerdictExpectation {
  /**
   * the probe behind the records was interrupted (its summary has `aborted: true`): the verdict is
   * incomplete even when every expected record is there (a wait for answers was cut short)
   */
  aborted?: boolean;
  /**
   * the cluster's nodes with their names and both addresses: the prose names them ("node4 (203.0.113.14)"),
   * the evidence carries the name (`node`), and a dual-stack node that passes over one family only is said so
   */
  cluster?: readonly ClusterNode[];
}

/**
 * What {@link hostGwVerdict} should have seen: every node address (an address without an arp record makes the
 * verdict incomplete).
 *
 * @example
 * ```ts
 * import { type ArpRecord, type HostGwExpectation, hostGwVerdict } from "wireprobe";
 *
 * declare const arpRecords: ArpRecord[]; // e.g. read back from a saved NDJSON run
 * const expected: HostGwExpectation = { nodes: ["198.51.100.11", "198.51.100.12", "198.51.100.13"] };
 * console.log(hostGwVerdict(arpRecords, expected).complete);
 * ```
 */
export interface HostGwExpectation extends VerdictExpectation {
  /**
   * every node address of the cluster (this node's included); an address without an arp record was not
   * probed. Default: the addresses of `cluster`, when given.
   */
  nodes?: readonly string[];
}

/**
 * What {@link nodePortVerdict} should have seen, beyond its node addresses and ports: the pairs no probe could
 * check.
 *
 * @example
 * ```ts
 * import { type HostRecord, type NodePortExpectation, type PortRecord, nodePortVerdict } from "wireprobe";
 *
 * declare const ports: PortRecord[];
 * declare const hosts: HostRecord[];
 * const expected: NodePortExpectation = { aborted: false, notScanned: [] };
 * const verdict = nodePortVerdict([30000], ports, hosts, ["198.51.100.11", "198.51.100.12"], expected);
 * ```
 */
export interface NodePortExpectation extends VerdictExpectation {
  /**
   * node address × nodePort pairs no probe could check (this host's own IPv6 address for a UDP nodePort): left
   * out of the expectation, named in the detail and the evidence
   */
  notScanned?: readonly NotScanned[];
}

/**
 * What {@link dnsVerdict} should have seen: the servers, the names and the outside addresses (a pair without a
 * record makes the verdict incomplete).
 *
 * @example
 * ```ts
 * import { type DnsConsistencyRecord, type DnsExpectation, type DnsRecord, dnsVerdict } from "wireprobe";
 *
 * declare const dns: DnsRecord[];
 * declare const consistency: DnsConsistencyRecord[];
 * const expected: DnsExpectation = {
 *   servers: ["198.51.100.53", "198.51.100.54"],
 *   names: ["kubernetes.default.svc.cluster.local"],
 * };
 * const verdict = dnsVerdict(dns, consistency, [], expected);
 * ```
 */
export interface DnsExpectation extends VerdictExpectation {
  /** every server that should have been asked (default: the servers in the records) */
  servers?: readonly string[];
  /** every name, as sent (default: the names in the records) */
  names?: readonly string[];
  /** every outside address that should have been pinged */
  external?: readonly string[];
}

export const rerunFix = (aborted: boolean) =>
  aborted
    ? "Run the check again and let it finish: this verdict rests on the work done before the interruption."
    : "Run the check again: some of what it should have probed got no record, so this verdict rests on part of the work only.";

/** The detail of an incomplete verdict: how much was done, what was not, and what was found so far. */
export function incompleteDetail(
  aborted: boolean,
  done: number,
  total: number,
  unit: string,
  notProbed: readonly string[],
  findings: readonly string[],
): string {
  const head = aborted ? "Interrupted" : "Incomplete";
  const progress =
    notProbed.length > 0
      ? `${done} of ${total} ${unit} probed, not probed: ${summariseList(notProbed)}`
      : `all ${total} ${unit} probed, but the wait for their answers was cut short`;
  const sofar = findings.length > 0 ? `So far: ${findings.join(" ")}` : "Nothing wrong found so far.";
  return `${head}: ${progress}. Not final. ${sofar}`;
}

/** The cluster's nodes by address: names for the prose, and each address's twin of the other family. */
export class NodeIndex {
  readonly #by = new Map<string, ClusterNode>();

  constructor(cluster: readonly ClusterNode[] = []) {
    for (const n of cluster) for (const a of nodeAddresses(n)) this.#by.set(a, n);
  }

  label(address: string): string {
    return nodeLabel(this.#by.get(address), address);
  }

  /** the nodes these addresses belong to, each once (a dual-stack node's two addresses are one node) */
  count(addresses: Iterable<string>): number {
    const seen = new Set<ClusterNode | string>();
    for (const a of addresses) seen.add(this.#by.get(a) ?? a);
    return seen.size;
  }

  /** the node's name, for named nodes */
  name(address: string): string | null {
    return this.#by.get(address)?.name ?? null;
  }

  /** the same node's address of the other family, null for a single-stack node */
  twin(address: string): string | null {
    const n = this.#by.get(address);
    if (!n) return null;
    return familyOf(address) === "ipv4" ? n.ipv6 : n.ipv4;
  }

  /** the evidence finding about `address`, with its family and node name */
  evidence(subject: string, address: string, finding: string): VerdictEvidence {
    const node = this.name(address);
    return { subject, finding, family: familyOf(address), ...(node ? { node } : {}) };
  }
}

/** The families among these addresses, IPv4 first. */
export function familiesOf(addresses: Iterable<string>): Family[] {
  const seen = new Set<Family>();
  for (const a of addresses) seen.add(familyOf(a));
  return FAMILIES.filter((f) => seen.has(f));
}

export const inFamily = (f: Family | null) => (address: string) => f === null || familyOf(address) === f;

/** One verdict drawn over some records: the whole check's, or one family's. */
export interface Outcome {
  ok: boolean;
  complete: boolean;
  detail: string;
  fix: string | null;
  evidence: VerdictEvidence[];
  notProbed: string[];
}

/**
 * The verdict record: the whole's evidence and completeness, and with more than one family, ok only when each
 * family is, the detail family by family and the fix naming the families it is for.
 */
export function assemble(
  check: VerdictRecord["check"],
  whole: Outcome,
  per: Array<[Family, Outcome]>,
): VerdictRecord {
  const families: VerdictFamily[] = per.map(([family, o]) => ({
    family,
    ok: o.ok,
    complete: o.complete,
    detail: o.detail,
  }));
  const base = {
    type: "verdict" as const,
    check,
    evidence: whole.evidence,
    complete: whole.complete,
    notProbed: whole.notProbed,
    families,
  };
  if (per.length <= 1) return { ...base, ok: whole.ok, detail: whole.detail, fix: whole.fix };
  const ok = whole.ok && per.every(([, o]) => o.ok);
  const failing = per.filter(([, o]) => !o.ok && o.fix !== null);
  // All well: one sentence over everything; otherwise each family's findings, named.
  const detail =
    !ok && per.some(([, o]) => !o.ok)
      ? per.map(([f, o]) => `${familyName(f)}: ${o.detail}`).join(" ")
      : whole.detail;
  let fix: string | null = null;
  if (!ok) {
    if (failing.length === 0) fix = whole.fix;
    else if (failing.every(([, o]) => o.fix === failing[0]![1].fix))
      fix = `${list(failing.map(([f]) => familyName(f)))}: ${failing[0]![1].fix}`;
    else fix = failing.map(([f, o]) => `${familyName(f)}: ${o.fix}`).join(" ");
  }
  return { ...base, ok, detail, fix };
}

/** "ARP", "NDP" or "ARP/NDP": what the addresses are asked with. */
function neighbourWord(families: readonly Family[]): string {
  if (families.length === 1) return families[0] === "ipv6" ? "NDP" : "ARP";
  return "ARP/NDP";
}

const recordWord = (r: ArpRecord) => (r.protocol === "ndp" ? "NDP" : "ARP");

function hostGwOutcome(
  arpRecords: readonly ArpRecord[],
  expectedNodes: readonly string[] | undefined,
  aborted: boolean,
  nodes: NodeIndex,
  all: readonly ArpRecord[],
): Outcome {
  const seen = new Set(arpRecords.map((r) => r.target));
  const notProbed = (expectedNodes ?? []).filter((n) => !seen.has(n));
  const complete = !aborted && notProbed.length === 0;
  const families = familiesOf([...seen, ...(expectedNodes ?? [])]);
  const word = neighbourWord(families);
  const routeAdd = families.length === 1 && families[0] === "ipv6" ? "ip -6 route add" : "ip route add";
  const peers = arpRecords.filter((r) => r.state !== "local");
  const evidence: VerdictEvidence[] = [];
  const offLink: ArpRecord[] = [];
  const silent: ArpRecord[] = [];
  const conflicts: ArpRecord[] = [];
  const say = (r: ArpRecord, finding: string) => evidence.push(nodes.evidence(r.target, r.target, finding));
  for (const r of arpRecords) {
    if (r.state === "local") continue;
    if (r.state === "not-on-link") {
      offLink.push(r);
      say(
        r,
        r.gateway ? `not-on-link: the kernel routes it via ${r.gateway}` : "not-on-link: no route to it",
      );
    } else if (r.state === "no-reply") {
      silent.push(r);
      say(
        r,
        `on-link via ${r.interface} but no ${recordWord(r)} reply (${aborted ? "before the interruption" : "down, or not there"})`,
      );
    } else if (r.conflict) {
      conflicts.push(r);
      say(r, `address conflict: ${r.macs.join(", ")} all answer`);
    } else {
      say(r, `on-link, ${recordWord(r)} reply from ${r.mac} in ${r.rttMs?.toFixed(3)} ms`);
    }
  }
  const ok = complete && offLink.length === 0 && silent.length === 0 && conflicts.length === 0;
  if (ok) {
    return {
      ok,
      complete,
      detail: `All ${nodes.count(peers.map((r) => r.target))} peer node(s) are on this node's layer-2 segment and answer ${word}: flannel host-gw can route to every one of them.`,
      evidence,
      fix: null,
      notProbed,
    };
  }
  const label = (r: ArpRecord) => nodes.label(r.target);
  const parts: string[] = [];
  if (offLink.length > 0) {
    const gws = [...new Set(offLink.map((r) => r.gateway).filter((g): g is string => g !== null))];
    const one = offLink.length === 1;
    parts.push(
      `${list(offLink.map(label))} ${one ? "is" : "are"} not on-link (the kernel routes ${one ? "it" : "them"} ${gws.length > 0 ? `via ${list(gws)}` : "nowhere"}): \`${routeAdd} POD_CIDR via PEER\` fails with "Network is unreachable", so flannel host-gw cannot route to ${one ? "it" : "them"}.`,
    );
  }
  if (silent.length > 0) {
    parts.push(
      aborted
        ? `${summariseList(silent.map(label))} gave no ${word} reply before the interruption.`
        : `${list(silent.map(label))} should be on this segment but do${silent.length === 1 ? "es" : ""} not answer ${word}.`,
    );
  }
  if (conflicts.length > 0) parts.push(`Address conflict on ${list(conflicts.map(label))}.`);
  // A dual-stack node whose other address is adjacent: it passes over one family only, which is not enough.
  const adjacent = (a: string) =>
    all.some((r) => r.target === a && (r.state === "local" || (r.state === "reply" && !r.conflict)));
  const halfway = [...offLink, ...silent, ...conflicts].filter((r) => {
    const twin = nodes.twin(r.target);
    return twin !== null && adjacent(twin);
  });
  if (halfway.length > 0) {
    const other = familyName(familyOf(nodes.twin(halfway[0]!.target)!));
    const names = halfway.map((r) => nodes.name(r.target) ?? r.target);
    parts.push(
      `${list(names)} ${names.length === 1 ? "is" : "are"} on this node's segment over ${other} only: a dual-stack node is adjacent only if both of its addresses are (host-gw routes each family's pod CIDR via the node's address of that family).`,
    );
  }
  const total = expectedNodes?.length ?? arpRecords.length;
  const crossFix =
    word === "NDP"
      ? "Put the nodes' IPv6 addresses on one layer-2 segment (one VLAN and prefix), or use a backend that crosses routers: flannel vxlan, or calico with VXLAN or BGP."
      : "Put all nodes on one layer-2 segment, or use a backend that crosses routers: flannel vxlan, or calico with IPIP/VXLAN or BGP.";
  return {
    ok,
    complete,
    detail: complete
      ? parts.join(" ")
      : incompleteDetail(aborted, total - notProbed.length, total, "node(s)", notProbed, parts),
    evidence,
    fix:
      offLink.length > 0
        ? crossFix
        : conflicts.length > 0 || (complete && silent.length > 0)
          ? "Check that the silent nodes are up and on this segment (VLAN, bridge, cabling); resolve duplicate addresses."
          : rerunFix(aborted),
    notProbed,
  };
}

/**
 * host-gw: every peer node is on-link and answers ARP (IPv4) or NDP (IPv6); a dual-stack node over both
 * families. With `expected.nodes` (or `expected.cluster`), a node address without an arp record makes the
 * verdict incomplete (not ok, named in `notProbed`); so does `expected.aborted`. A plain function of records:
 * a saved NDJSON run can be judged again.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { type ArpRecord, type WireprobeRecord, hostGwVerdict } from "wireprobe";
 *
 * // a run saved with `wireprobe arp --json ... > arp.ndjson`
 * const records = readFileSync("arp.ndjson", "utf8").trim().split("\n").map((l) => JSON.parse(l) as WireprobeRecord);
 * const arpRecords = records.filter((r): r is ArpRecord => r.type === "arp");
 * const verdict = hostGwVerdict(arpRecords, { nodes: ["198.51.100.11", "198.51.100.12"] });
 * if (!verdict.ok) console.log(verdict.detail, verdict.fix);
 * ```
 */
export function hostGwVerdict(
  arpRecords: readonly ArpRecord[],
  expected: HostGwExpectation = {},
): VerdictRecord {
  const aborted = expected.aborted === true;
  const nodes = new NodeIndex(expected.cluster);
  const expectedNodes = expected.nodes ?? expected.cluster?.flatMap(nodeAddresses);
  const whole = hostGwOutcome(arpRecords, expectedNodes, aborted, nodes, arpRecords);
  const families = familiesOf([...arpRecords.map((r) => r.target), ...(expectedNodes ?? [])]);
  const per = families.map((f): [Family, Outcome] => {
    if (families.length === 1) return [f, whole];
    const mine = inFamily(f);
    return [
      f,
      hostGwOutcome(
        arpRecords.filter((r) => mine(r.target)),
        expectedNodes?.filter(mine),
        aborted,
        nodes,
        arpRecords,
      ),
    ];
  });
  return assemble("host-gw", whole, per);
}

const portKey = (port: number, protocol: string) => `${port}/${protocol}`;

function downWhy(h: HostRecord): string {
  if (h.reason === "no-arp-reply") return "did not answer ARP (down)";
  if (h.reason === "no-ndp-reply") return "did not answer NDP (down)";
  return `is unreachable (${h.reason})`;
}

function nodePortOutcome(
  ports: readonly NodePort[],
  portRecords: readonly PortRecord[],
  hostRecords: readonly HostRecord[],
  addresses: readonly string[],
  aborted: boolean,
  nodes: NodeIndex,
  all: readonly PortRecord[],
  notScanned: readonly NotScanned[],
): Outcome {
  const evidence: VerdictEvidence[] = [];
  const problems: string[] = [];
  const skipped = notScanned.filter((x) => addresses.includes(x.target));
  const isSkipped = (p: NodePort, a: string) =>
    skipped.some((x) => x.target === a && x.port === p.port && x.protocol === p.protocol);
  const applies = (p: NodePort, a: string) =>
    (p.family === null || familyOf(a) === p.family) && !isSkipped(p, a);
  const nodesFor = (p: NodePort) => addresses.filter((a) => applies(p, a));
  const downHosts = hostRecords.filter((h) => h.state === "down" && addresses.includes(h.target));
  const down = new Set(downHosts.map((h) => h.target));
  for (const h of downHosts) evidence.push(nodes.evidence(h.target, h.target, `down: ${h.reason}`));
  const byPort = new Map(
    ports.map((p) => [
      portKey(p.port, p.protocol),
      new Map(
        portRecords
          .filter((r) => r.port === p.port && r.protocol === p.protocol)
          .map((r) => [r.target, r] as const),
      ),
    ]),
  );
  const recordOf = (p: NodePort, a: string) => byPort.get(portKey(p.port, p.protocol))?.get(a);
  // Not probed: a node when none of its nodePorts got a record, else node:port.
  const notProbed: string[] = [];
  let probed = 0;
  let total = 0;
  for (const n of addresses) {
    const mine = ports.filter((p) => applies(p, n));
    total += mine.length;
    if (down.has(n)) {
      probed += mine.length;
      continue;
    }
    const missing = mine.filter((p) => !recordOf(p, n));
    probed += mine.length - missing.length;
    if (missing.length > 0 && missing.length === mine.length) notProbed.push(n);
    else for (const p of missing) notProbed.push(endpointLabel(n, p));
  }
  const complete = !aborted && notProbed.length === 0;
  const label = (a: string) => nodes.label(a);
  // "198.51.100.13 (filtered)", "node3 (198.51.100.13, filtered)"
  const stated = (p: NodePort) => (a: string) => {
    const name = nodes.name(a);
    const state = recordOf(p, a)?.state;
    return name ? `${name} (${a}, ${state})` : `${a} (${state})`;
  };
  for (const p of ports) {
    const on = nodesFor(p);
    const open = on.filter((n) => recordOf(p, n)?.state === "open");
    const notOpen = on.filter((n) => !down.has(n) && recordOf(p, n) && recordOf(p, n)?.state !== "open");
    for (const n of on) {
      const r = recordOf(p, n);
      if (r) evidence.push(nodes.evidence(endpointLabel(n, p), n, `${r.state} (${r.reason})`));
    }
    const name = nodePortLabel(p);
    if (!complete) {
      // Only what was seen: whether it answers elsewhere is not known yet.
      if (notOpen.length > 0)
        problems.push(
          `nodePort ${name} is not open on ${summariseList(notOpen.map(stated(p)))}${open.length > 0 ? `, but open on ${summariseList(open.map(label))}` : ""}.`,
        );
      continue;
    }
    const downHere = on.filter((n) => down.has(n));
    if (notOpen.length === 0 && downHere.length === 0) continue;
    if (open.length > 0) {
      problems.push(
        `nodePort ${name} answers only on ${list(open.map(label))}${notOpen.length > 0 ? `, not on ${list(notOpen.map(stated(p)))}` : ""}: it answers only where its pod runs, so the container network or kube-proxy is not forwarding across nodes, and an ingress whose upstreams are pod IPs will time out.`,
      );
    } else if (
      notOpen.length > 0 &&
      p.protocol === "udp" &&
      notOpen.every((n) => recordOf(p, n)?.state === "open|filtered")
    ) {
      problems.push(
        `nodePort ${name} got no answer on any node (${list(notOpen.map(stated(p)))}): a firewall drops it everywhere, or its service does not answer wireprobe's probe (an empty datagram, or a request for well-known ports); no node said closed.`,
      );
    } else if (notOpen.length > 0) {
      problems.push(
        `nodePort ${name} answers on no node (${list(notOpen.map((n) => `${label(n)} ${recordOf(p, n)?.state}`))}): no service listens there, or kube-proxy is not running.`,
      );
    }
    // A dual-stack node that answers over its other family: kube-proxy's rules of this family, or a SingleStack
    // Service (whose nodePort answers on its own family only).
    const halfway = notOpen.filter((n) => {
      const twin = nodes.twin(n);
      return (
        twin !== null &&
        all.some(
          (r) => r.target === twin && r.port === p.port && r.protocol === p.protocol && r.state === "open",
        )
      );
    });
    if (halfway.length > 0) {
      const here = familyOf(halfway[0]!);
      const there: Family = here === "ipv4" ? "ipv6" : "ipv4";
      const names = halfway.map((n) => nodes.name(n) ?? n);
      problems.push(
        `${list(names)} answer${names.length === 1 ? "s" : ""} nodePort ${p.port}${p.protocol === "udp" ? "/udp" : ""} over ${familyName(there)} but not over ${familyName(here)}: kube-proxy does not forward it over ${familyName(here)} there, or the Service is SingleStack (its nodePort answers on its own family only: check it with --node-port ${p.port}/${p.protocol}/${there}).`,
      );
    }
  }
  if (down.size > 0) {
    const reasons = new Map<string, string[]>();
    for (const h of downHosts) reasons.set(downWhy(h), [...(reasons.get(downWhy(h)) ?? []), label(h.target)]);
    for (const [why, who] of reasons)
      problems.push(`${list(who)} ${why}, so no port there could be checked.`);
  }
  const ok = complete && problems.length === 0;
  const names = ports.map(nodePortLabel);
  // Pairs no probe could check: never a failure, never hidden.
  for (const x of skipped)
    evidence.push(nodes.evidence(endpointLabel(x.target, x), x.target, `not scanned: ${x.reason}`));
  const reasons = [...new Set(skipped.map((x) => x.reason))];
  const caveat =
    skipped.length > 0
      ? ` Not scanned: ${summariseList(skipped.map((x) => endpointLabel(x.target, x)))} (${reasons.join("; ")}).`
      : "";
  return {
    ok,
    complete,
    detail: `${
      ok
        ? `nodePort${ports.length > 1 ? "s" : ""} ${names.join(", ")} answer${ports.length > 1 ? "" : "s"} open on all ${nodes.count(addresses)} node(s)${skipped.length > 0 ? " where they were scanned" : ""}.`
        : complete
          ? problems.join(" ")
          : incompleteDetail(aborted, probed, total, "node:port pair(s)", notProbed, problems)
    }${caveat}`,
    evidence,
    fix: ok
      ? null
      : problems.length === 0
        ? rerunFix(aborted)
        : "Make the container network forward between nodes (check the CNI, flannel/calico routes, and that kube-proxy runs on every node with the same mode), or use externalTrafficPolicy: Local only with a load balancer that health-checks nodes.",
    notProbed,
  };
}

/**
 * nodeport: every nodePort answers open on every node address of its families (TCP: SYN-ACK; UDP: a UDP
 * answer). `ports` are numbers (TCP), "30053/udp"-style strings or NodePortSpecs; `nodes` the node addresses.
 * A node × port pair with neither a port record nor a down host record was not probed: the verdict is then
 * incomplete (not ok, named in `notProbed`), never "no answer"; so it is with `expected.aborted`.
 *
 * @example
 * ```ts
 * import { type HostRecord, type PortRecord, nodePortVerdict, scan } from "wireprobe";
 *
 * const nodes = ["198.51.100.11", "198.51.100.12"];
 * const ports: PortRecord[] = [];
 * const hosts: HostRecord[] = [];
 * const run = scan(nodes, { ports: [30000], netns: "node1" });
 * for await (const r of run) {
 *   if (r.type === "port") ports.push(r);
 *   else hosts.push(r);
 * }
 * const verdict = nodePortVerdict([30000], ports, hosts, nodes, { aborted: run.summary?.aborted === true });
 * console.log(verdict.ok, verdict.detail);
 * ```
 */
export function nodePortVerdict(
  ports: readonly (number | string | NodePortSpec)[],
  portRecords: readonly PortRecord[],
  hostRecords: readonly HostRecord[],
  nodes: readonly string[],
  expected: NodePortExpectation = {},
): VerdictRecord {
  const aborted = expected.aborted === true;
  const index = new NodeIndex(expected.cluster);
  const specs = normalizeNodePorts(ports);
  const notScanned = expected.notScanned ?? [];
  const whole = nodePortOutcome(
    specs,
    portRecords,
    hostRecords,
    nodes,
    aborted,
    index,
    portRecords,
    notScanned,
  );
  const families = familiesOf(nodes).filter((f) => specs.some((p) => p.family === null || p.family === f));
  const per = families.map((f): [Family, Outcome] => {
    if (families.length === 1) return [f, whole];
    const mine = inFamily(f);
    return [
      f,
      nodePortOutcome(
        specs.filter((p) => p.family === null || p.family === f),
        portRecords.filter((r) => mine(r.target)),
        hostRecords.filter((h) => mine(h.target)),
        nodes.filter(mine),
        aborted,
        index,
        portRecords,
        notScanned,
      ),
    ];
  });
  return assemble("nodeport", whole, per);
}

function dnsOutcome(
  dnsRecords: readonly DnsRecord[],
  consistency: readonly DnsConsistencyRecord[],
  pings: readonly PingRecord[],
  expected: DnsExpectation,
  family: Family | null,
): Outcome {
  const aborted = expected.aborted === true;
  const mine = inFamily(family);
  const evidence: VerdictEvidence[] = [];
  const failures = dnsRecords.filter((r) => r.status !== "ok" || r.rcode !== "NOERROR");
  for (const r of dnsRecords) {
    const what =
      r.status === "ok"
        ? `${r.rcode}${r.answers.length > 0 ? ` ${r.answers.join(" ")}` : ""}`
        : `${r.status}${r.reason ? ` (${r.reason}${r.from ? ` from ${r.from}` : ""})` : ""}${r.error ? `: ${r.error}` : ""}`;
    evidence.push({
      subject: `${r.server} ${r.name}`,
      finding: `${r.transport}: ${what}`,
      family: familyOf(r.server),
    });
  }
  for (const p of pings) {
    evidence.push({
      subject: p.target,
      finding: `ping ${p.state}${p.reason ? ` (${p.reason})` : ""}`,
      family: familyOf(p.target),
    });
  }
  const servers = [...new Set(dnsRecords.map((r) => r.server))];
  // Not probed: a server when none of its names was asked, else "server name"; then unpinged addresses.
  const wantServers = expected.servers ?? servers;
  const wantNames = expected.names ?? [...new Set(dnsRecords.map((r) => r.name))];
  const asked = new Set(dnsRecords.map((r) => `${r.server} ${r.name}`));
  const notProbed: string[] = [];
  let probed = 0;
  for (const s of wantServers) {
    const missing = wantNames.filter((n) => !asked.has(`${s} ${n}`));
    probed += wantNames.length - missing.length;
    if (missing.length === wantNames.length && wantNames.length > 0) notProbed.push(s);
    else for (const n of missing) notProbed.push(`${s} ${n}`);
  }
  const pinged = new Set(pings.filter((p) => p.sent > 0).map((p) => p.target));
  notProbed.push(...(expected.external ?? []).filter((x) => !pinged.has(x)));
  const complete = !aborted && notProbed.length === 0;

  const inconsistent = consistency.filter((c) => !c.consistent);
  const problems: string[] = [];
  const unanswered = servers.filter((s) =>
    dnsRecords.filter((r) => r.server === s).every((r) => r.status !== "ok"),
  );
  const externalUp = pings.some((p) => p.state === "reply");
  if (complete && unanswered.length === servers.length && servers.length > 0) {
    problems.push(
      `No DNS server answers (${list(unanswered.map((s) => `${s} ${statusOf(dnsRecords, s)}`))})${externalUp ? ", while the outside world still answers ping: the network is up, the path to the cluster DNS is not (pod network, kube-proxy or the DNS pods)" : ""}.`,
    );
  } else {
    for (const s of unanswered) problems.push(`${s} does not answer DNS (${statusOf(dnsRecords, s)}).`);
    const failedNames = failures.filter((r) => !unanswered.includes(r.server));
    for (const r of failedNames) {
      problems.push(
        r.status === "ok"
          ? `${r.server} answers ${r.rcode} for ${r.name}.`
          : `${r.server} gives ${r.status} for ${r.name}${r.reason ? ` (${r.reason})` : ""}.`,
      );
    }
  }
  for (const c of inconsistent) {
    const answered = Object.keys(c.answers);
    if (answered.length < 2) continue;
    const describe = (s: string) =>
      `${s} ${c.statuses[s] === "ok" ? `${c.rcodes[s]}${(c.answers[s] ?? []).length > 0 ? ` ${(c.answers[s] ?? []).join(" ")}` : ""}` : c.statuses[s]}`;
    const reference = Object.keys(c.statuses).filter((s) => !c.odd.includes(s) && c.statuses[s] === "ok");
    // One family's verdict names its own odd servers (against the reference, of whichever family).
    const odd = c.odd.filter((s) => c.statuses[s] === "ok" && mine(s));
    if (odd.length === 0) continue;
    problems.push(
      `The servers disagree on ${c.name} ${c.qtype}: ${list(odd.map(describe))} but ${list(reference.map(describe))}; kubelet's --cluster-dns servers must serve the same records, or lookups break at random.`,
    );
  }
  const ok = complete && problems.length === 0 && dnsRecords.length > 0;
  const total = wantServers.length * wantNames.length;
  return {
    ok,
    complete,
    detail: ok
      ? `All ${servers.length} DNS server(s) answer every name, and they agree.`
      : complete
        ? problems.join(" ") || "No DNS server was asked."
        : incompleteDetail(aborted, probed, total, "server × name question(s)", notProbed, problems),
    evidence,
    fix: ok ? null : !complete && problems.length === 0 ? rerunFix(aborted) : DNS_FIX,
    notProbed,
  };
}

/**
 * dns: every server answers every name, all servers agree; external pings tell "network up, DNS down". Per
 * family: the servers at addresses of that family (with the outside addresses of that family). A server ×
 * name of `expected` without a dns record, or an `expected.external` address without a ping (sent), makes the
 * verdict incomplete (not ok, named in `notProbed`); so does `expected.aborted`. With `race` (check
 * --dns-race), also no server loses a query of glibc's A/AAAA pairs (see verdict-dnsrace.ts).
 *
 * @example
 * ```ts
 * import { type DnsConsistencyRecord, type DnsRecord, dns, dnsVerdict } from "wireprobe";
 *
 * const servers = ["198.51.100.53", "198.51.100.54"];
 * const names = ["kubernetes.default.svc.cluster.local"];
 * const answers: DnsRecord[] = [];
 * const consistency: DnsConsistencyRecord[] = [];
 * for await (const r of dns(names, { servers, netns: "node1" })) {
 *   if (r.type === "dns") answers.push(r);
 *   else consistency.push(r);
 * }
 * const verdict = dnsVerdict(answers, consistency, [], { servers, names });
 * console.log(verdict.ok ? "DNS ok" : `${verdict.detail}\n${verdict.fix}`);
 * ```
 */
export function dnsVerdict(
  dnsRecords: readonly DnsRecord[],
  consistency: readonly DnsConsistencyRecord[],
  pings: readonly PingRecord[],
  expected: DnsExpectation = {},
  race?: DnsRaceInput,
): VerdictRecord {
  const whole = withRace(dnsOutcome(dnsRecords, consistency, pings, expected, null), race, null);
  const servers = expected.servers ?? [...new Set(dnsRecords.map((r) => r.server))];
  const families = familiesOf(servers);
  const per = families.map((f): [Family, Outcome] => {
    if (families.length === 1) return [f, whole];
    const mine = inFamily(f);
    return [
      f,
      withRace(
        dnsOutcome(
          dnsRecords.filter((r) => mine(r.server)),
          consistency,
          pings.filter((p) => mine(p.target)),
          {
            ...expected,
            servers: servers.filter(mine),
            ...(expected.external ? { external: expected.external.filter(mine) } : {}),
          },
          f,
        ),
        race,
        f,
      ),
    ];
  });
  return assemble("dns", whole, per);
}

function statusOf(records: readonly DnsRecord[], server: string): string {
  const r = records.find((x) => x.server === server && x.status !== "ok");
  if (!r) return "no answer";
  return `${r.status}${r.reason ? `: ${r.reason}` : ""}`;
}
