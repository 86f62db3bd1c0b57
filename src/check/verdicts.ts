import type {
  ArpRecord,
  DnsConsistencyRecord,
  DnsRecord,
  HostRecord,
  PingRecord,
  PortRecord,
  VerdictEvidence,
  VerdictRecord,
} from "../records";

// The three conclusions of `wireprobe check`, computed from probe records alone (no I/O), so they can be
// tested against hand-made records and recomputed from a saved NDJSON run.
//
// A record that never came is not a pass: each verdict compares what arrived with what was expected (the
// nodes, the ports, the servers × names) and, when something is missing or its probe was interrupted, says
// so (complete: false, ok: false, notProbed) instead of judging the part that arrived as if it were the whole.

const list = (xs: readonly string[]) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;

/** The first few of a long list, then how many more: detail strings stay readable for a /20. */
export function summariseList(xs: readonly string[], first = 5): string {
  if (xs.length <= first + 1) return list(xs);
  return `${xs.slice(0, first).join(", ")} and ${xs.length - first} more`;
}

/** What a verdict should have seen, beyond the records it is given. */
export interface VerdictExpectation {
  /**
   * the probe behind the records was interrupted (its summary has `aborted: true`): the verdict is
   * incomplete even when every expected record is there (a wait for answers was cut short)
   */
  aborted?: boolean;
}

export interface HostGwExpectation extends VerdictExpectation {
  /** every node of the cluster (this node included); a node without an arp record was not probed */
  nodes?: readonly string[];
}

export interface DnsExpectation extends VerdictExpectation {
  /** every server that should have been asked (default: the servers in the records) */
  servers?: readonly string[];
  /** every name, as sent (default: the names in the records) */
  names?: readonly string[];
  /** every outside address that should have been pinged */
  external?: readonly string[];
}

const rerunFix = (aborted: boolean) =>
  aborted
    ? "Run the check again and let it finish: this verdict rests on the work done before the interruption."
    : "Run the check again: some of what it should have probed got no record, so this verdict rests on part of the work only.";

/** The detail of an incomplete verdict: how much was done, what was not, and what was found so far. */
function incompleteDetail(
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

/**
 * host-gw: every peer node is on-link and answers ARP. With `expected.nodes`, a node without an arp record
 * makes the verdict incomplete (not ok, named in `notProbed`); so does `expected.aborted`.
 */
export function hostGwVerdict(
  arpRecords: readonly ArpRecord[],
  expected: HostGwExpectation = {},
): VerdictRecord {
  const aborted = expected.aborted === true;
  const seen = new Set(arpRecords.map((r) => r.target));
  const notProbed = (expected.nodes ?? []).filter((n) => !seen.has(n));
  const complete = !aborted && notProbed.length === 0;
  const peers = arpRecords.filter((r) => r.state !== "local");
  const evidence: VerdictEvidence[] = [];
  const offLink: ArpRecord[] = [];
  const silent: ArpRecord[] = [];
  const conflicts: ArpRecord[] = [];
  for (const r of peers) {
    if (r.state === "not-on-link") {
      offLink.push(r);
      evidence.push({
        subject: r.target,
        finding: r.gateway
          ? `not-on-link: the kernel routes it via ${r.gateway}`
          : "not-on-link: no route to it",
      });
    } else if (r.state === "no-reply") {
      silent.push(r);
      evidence.push({
        subject: r.target,
        finding: `on-link via ${r.interface} but no ARP reply (${aborted ? "before the interruption" : "down, or not there"})`,
      });
    } else if (r.conflict) {
      conflicts.push(r);
      evidence.push({ subject: r.target, finding: `address conflict: ${r.macs.join(", ")} all answer` });
    } else {
      evidence.push({
        subject: r.target,
        finding: `on-link, ARP reply from ${r.mac} in ${r.rttMs?.toFixed(3)} ms`,
      });
    }
  }
  const ok = complete && offLink.length === 0 && silent.length === 0 && conflicts.length === 0;
  if (ok) {
    return {
      type: "verdict",
      check: "host-gw",
      ok,
      detail: `All ${peers.length} peer node(s) are on this node's layer-2 segment and answer ARP: flannel host-gw can route to every one of them.`,
      evidence,
      fix: null,
      complete,
      notProbed,
    };
  }
  const parts: string[] = [];
  if (offLink.length > 0) {
    const gws = [...new Set(offLink.map((r) => r.gateway).filter((g): g is string => g !== null))];
    parts.push(
      `${list(offLink.map((r) => r.target))} ${offLink.length === 1 ? "is" : "are"} not on-link (the kernel routes ${offLink.length === 1 ? "it" : "them"} ${gws.length > 0 ? `via ${list(gws)}` : "nowhere"}): \`ip route add POD_CIDR via PEER\` fails with "Network is unreachable", so flannel host-gw cannot route to ${offLink.length === 1 ? "it" : "them"}.`,
    );
  }
  if (silent.length > 0) {
    parts.push(
      aborted
        ? `${summariseList(silent.map((r) => r.target))} gave no ARP reply before the interruption.`
        : `${list(silent.map((r) => r.target))} should be on this segment but do${silent.length === 1 ? "es" : ""} not answer ARP.`,
    );
  }
  if (conflicts.length > 0) parts.push(`Address conflict on ${list(conflicts.map((r) => r.target))}.`);
  const total = expected.nodes?.length ?? arpRecords.length;
  return {
    type: "verdict",
    check: "host-gw",
    ok,
    detail: complete
      ? parts.join(" ")
      : incompleteDetail(aborted, total - notProbed.length, total, "node(s)", notProbed, parts),
    evidence,
    fix:
      offLink.length > 0
        ? "Put all nodes on one layer-2 segment, or use a backend that crosses routers: flannel vxlan, or calico with IPIP/VXLAN or BGP."
        : conflicts.length > 0 || (complete && silent.length > 0)
          ? "Check that the silent nodes are up and on this segment (VLAN, bridge, cabling); resolve duplicate addresses."
          : rerunFix(aborted),
    complete,
    notProbed,
  };
}

/**
 * nodeport: every nodePort answers open on every node. A node × port pair with neither a port record nor a
 * down host record was not probed: the verdict is then incomplete (not ok, named in `notProbed`), never
 * "no answer"; so it is with `expected.aborted`.
 */
export function nodePortVerdict(
  ports: readonly number[],
  portRecords: readonly PortRecord[],
  hostRecords: readonly HostRecord[],
  nodes: readonly string[],
  expected: VerdictExpectation = {},
): VerdictRecord {
  const aborted = expected.aborted === true;
  const evidence: VerdictEvidence[] = [];
  const problems: string[] = [];
  const down = new Set(hostRecords.filter((h) => h.state === "down").map((h) => h.target));
  for (const d of down)
    evidence.push({ subject: d, finding: `down: ${hostRecords.find((h) => h.target === d)?.reason}` });
  const byPort = new Map(
    ports.map((port) => [
      port,
      new Map(portRecords.filter((p) => p.port === port).map((p) => [p.target, p] as const)),
    ]),
  );
  // Not probed: a node when none of its ports got a record, else node:port.
  const notProbed: string[] = [];
  let probed = 0;
  for (const n of nodes) {
    if (down.has(n)) {
      probed += ports.length;
      continue;
    }
    const missing = ports.filter((port) => !byPort.get(port)?.has(n));
    probed += ports.length - missing.length;
    if (missing.length === ports.length) notProbed.push(n);
    else for (const port of missing) notProbed.push(`${n}:${port}`);
  }
  const complete = !aborted && notProbed.length === 0;
  for (const port of ports) {
    const byNode = byPort.get(port)!;
    const open = nodes.filter((n) => byNode.get(n)?.state === "open");
    const notOpen = nodes.filter((n) => !down.has(n) && byNode.has(n) && byNode.get(n)?.state !== "open");
    for (const n of nodes) {
      const r = byNode.get(n);
      if (r) evidence.push({ subject: `${n}:${port}`, finding: `${r.state} (${r.reason})` });
    }
    if (!complete) {
      // Only what was seen: whether it answers elsewhere is not known yet.
      if (notOpen.length > 0)
        problems.push(
          `nodePort ${port} is not open on ${summariseList(notOpen.map((n) => `${n} (${byNode.get(n)?.state})`))}${open.length > 0 ? `, but open on ${summariseList(open)}` : ""}.`,
        );
      continue;
    }
    if (notOpen.length === 0 && down.size === 0) continue;
    if (open.length > 0) {
      problems.push(
        `nodePort ${port} answers only on ${list(open)}${notOpen.length > 0 ? `, not on ${list(notOpen.map((n) => `${n} (${byNode.get(n)?.state})`))}` : ""}: it answers only where its pod runs, so the container network or kube-proxy is not forwarding across nodes, and an ingress whose upstreams are pod IPs will time out.`,
      );
    } else if (notOpen.length > 0) {
      problems.push(
        `nodePort ${port} answers on no node (${list(notOpen.map((n) => `${n} ${byNode.get(n)?.state}`))}): no service listens there, or kube-proxy is not running.`,
      );
    }
  }
  if (down.size > 0)
    problems.push(`${list([...down])} did not answer ARP (down), so no port there could be checked.`);
  const ok = complete && problems.length === 0;
  const total = nodes.length * ports.length;
  return {
    type: "verdict",
    check: "nodeport",
    ok,
    detail: ok
      ? `nodePort${ports.length > 1 ? "s" : ""} ${ports.join(", ")} answer open on all ${nodes.length} node(s).`
      : complete
        ? problems.join(" ")
        : incompleteDetail(aborted, probed, total, "node:port pair(s)", notProbed, problems),
    evidence,
    fix: ok
      ? null
      : problems.length === 0
        ? rerunFix(aborted)
        : "Make the container network forward between nodes (check the CNI, flannel/calico routes, and that kube-proxy runs on every node with the same mode), or use externalTrafficPolicy: Local only with a load balancer that health-checks nodes.",
    complete,
    notProbed,
  };
}

/**
 * dns: every server answers every name, all servers agree; external pings tell "network up, DNS down".
 * A server × name of `expected` without a dns record, or an `expected.external` address without a ping
 * (sent), makes the verdict incomplete (not ok, named in `notProbed`); so does `expected.aborted`.
 */
export function dnsVerdict(
  dnsRecords: readonly DnsRecord[],
  consistency: readonly DnsConsistencyRecord[],
  pings: readonly PingRecord[],
  expected: DnsExpectation = {},
): VerdictRecord {
  const aborted = expected.aborted === true;
  const evidence: VerdictEvidence[] = [];
  const failures = dnsRecords.filter((r) => r.status !== "ok" || r.rcode !== "NOERROR");
  for (const r of dnsRecords) {
    const what =
      r.status === "ok"
        ? `${r.rcode}${r.answers.length > 0 ? ` ${r.answers.join(" ")}` : ""}`
        : `${r.status}${r.reason ? ` (${r.reason}${r.from ? ` from ${r.from}` : ""})` : ""}${r.error ? `: ${r.error}` : ""}`;
    evidence.push({ subject: `${r.server} ${r.name}`, finding: `${r.transport}: ${what}` });
  }
  for (const p of pings) {
    evidence.push({ subject: p.target, finding: `ping ${p.state}${p.reason ? ` (${p.reason})` : ""}` });
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
    const odd = c.odd.filter((s) => c.statuses[s] === "ok");
    if (odd.length === 0) continue;
    problems.push(
      `The servers disagree on ${c.name} ${c.qtype}: ${list(odd.map(describe))} but ${list(reference.map(describe))}; kubelet's --cluster-dns servers must serve the same records, or lookups break at random.`,
    );
  }
  const ok = complete && problems.length === 0 && dnsRecords.length > 0;
  const total = wantServers.length * wantNames.length;
  return {
    type: "verdict",
    check: "dns",
    ok,
    detail: ok
      ? `All ${servers.length} DNS server(s) answer every name, and they agree.`
      : complete
        ? problems.join(" ") || "No DNS server was asked."
        : incompleteDetail(aborted, probed, total, "server × name question(s)", notProbed, problems),
    evidence,
    fix: ok
      ? null
      : !complete && problems.length === 0
        ? rerunFix(aborted)
        : "Make every --cluster-dns server reachable from the pods (pod network, kube-proxy rules for the DNS service) and serve the same records from each (same CoreDNS configuration and upstreams).",
    complete,
    notProbed,
  };
}

function statusOf(records: readonly DnsRecord[], server: string): string {
  const r = records.find((x) => x.server === server && x.status !== "ok");
  if (!r) return "no answer";
  return `${r.status}${r.reason ? `: ${r.reason}` : ""}`;
}
