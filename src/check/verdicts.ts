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

const list = (xs: readonly string[]) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;

/** host-gw: every peer node is on-link and answers ARP. */
export function hostGwVerdict(arpRecords: readonly ArpRecord[]): VerdictRecord {
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
        finding: `on-link via ${r.interface} but no ARP reply (down, or not there)`,
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
  const ok = offLink.length === 0 && silent.length === 0 && conflicts.length === 0;
  if (ok) {
    return {
      type: "verdict",
      check: "host-gw",
      ok,
      detail: `All ${peers.length} peer node(s) are on this node's layer-2 segment and answer ARP: flannel host-gw can route to every one of them.`,
      evidence,
      fix: null,
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
      `${list(silent.map((r) => r.target))} should be on this segment but do${silent.length === 1 ? "es" : ""} not answer ARP.`,
    );
  }
  if (conflicts.length > 0) parts.push(`Address conflict on ${list(conflicts.map((r) => r.target))}.`);
  return {
    type: "verdict",
    check: "host-gw",
    ok,
    detail: parts.join(" "),
    evidence,
    fix:
      offLink.length > 0
        ? "Put all nodes on one layer-2 segment, or use a backend that crosses routers: flannel vxlan, or calico with IPIP/VXLAN or BGP."
        : "Check that the silent nodes are up and on this segment (VLAN, bridge, cabling); resolve duplicate addresses.",
  };
}

/** nodeport: every nodePort answers open on every node. */
export function nodePortVerdict(
  ports: readonly number[],
  portRecords: readonly PortRecord[],
  hostRecords: readonly HostRecord[],
  nodes: readonly string[],
): VerdictRecord {
  const evidence: VerdictEvidence[] = [];
  const problems: string[] = [];
  const down = new Set(hostRecords.filter((h) => h.state === "down").map((h) => h.target));
  for (const d of down)
    evidence.push({ subject: d, finding: `down: ${hostRecords.find((h) => h.target === d)?.reason}` });
  for (const port of ports) {
    const byNode = new Map(portRecords.filter((p) => p.port === port).map((p) => [p.target, p]));
    const open = nodes.filter((n) => byNode.get(n)?.state === "open");
    const notOpen = nodes.filter((n) => !down.has(n) && byNode.get(n)?.state !== "open");
    for (const n of nodes) {
      const r = byNode.get(n);
      if (r) evidence.push({ subject: `${n}:${port}`, finding: `${r.state} (${r.reason})` });
    }
    if (notOpen.length === 0 && down.size === 0) continue;
    if (open.length > 0) {
      problems.push(
        `nodePort ${port} answers only on ${list(open)}${notOpen.length > 0 ? `, not on ${list(notOpen.map((n) => `${n} (${byNode.get(n)?.state ?? "no answer"})`))}` : ""}: it answers only where its pod runs, so the container network or kube-proxy is not forwarding across nodes, and an ingress whose upstreams are pod IPs will time out.`,
      );
    } else if (notOpen.length > 0) {
      problems.push(
        `nodePort ${port} answers on no node (${list(notOpen.map((n) => `${n} ${byNode.get(n)?.state ?? "no answer"}`))}): no service listens there, or kube-proxy is not running.`,
      );
    }
  }
  if (down.size > 0)
    problems.push(`${list([...down])} did not answer ARP (down), so no port there could be checked.`);
  const ok = problems.length === 0;
  return {
    type: "verdict",
    check: "nodeport",
    ok,
    detail: ok
      ? `nodePort${ports.length > 1 ? "s" : ""} ${ports.join(", ")} answer open on all ${nodes.length} node(s).`
      : problems.join(" "),
    evidence,
    fix: ok
      ? null
      : "Make the container network forward between nodes (check the CNI, flannel/calico routes, and that kube-proxy runs on every node with the same mode), or use externalTrafficPolicy: Local only with a load balancer that health-checks nodes.",
  };
}

/** dns: every server answers every name, all servers agree; external pings tell "network up, DNS down". */
export function dnsVerdict(
  dnsRecords: readonly DnsRecord[],
  consistency: readonly DnsConsistencyRecord[],
  pings: readonly PingRecord[],
): VerdictRecord {
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
  const inconsistent = consistency.filter((c) => !c.consistent);
  const problems: string[] = [];
  const servers = [...new Set(dnsRecords.map((r) => r.server))];
  const unanswered = servers.filter((s) =>
    dnsRecords.filter((r) => r.server === s).every((r) => r.status !== "ok"),
  );
  const externalUp = pings.some((p) => p.state === "reply");
  if (unanswered.length === servers.length && servers.length > 0) {
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
  const ok = problems.length === 0 && dnsRecords.length > 0;
  return {
    type: "verdict",
    check: "dns",
    ok,
    detail: ok
      ? `All ${servers.length} DNS server(s) answer every name, and they agree.`
      : problems.join(" ") || "No DNS server was asked.",
    evidence,
    fix: ok
      ? null
      : "Make every --cluster-dns server reachable from the pods (pod network, kube-proxy rules for the DNS service) and serve the same records from each (same CoreDNS configuration and upstreams).",
  };
}

function statusOf(records: readonly DnsRecord[], server: string): string {
  const r = records.find((x) => x.server === server && x.status !== "ok");
  if (!r) return "no answer";
  return `${r.status}${r.reason ? `: ${r.reason}` : ""}`;
}
