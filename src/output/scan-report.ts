import { serviceName } from "../addr/top-ports";
import { outcomeReason, outcomeState } from "../port-outcomes";
import type { SummaryRecord } from "../records";
import { ignoredStates, PatternCache, type ScanStore, type StoredHost, stateCounts } from "./scan-store";

// The human report of a scan, laid out like nmap's normal output: per host a table of the ports worth
// listing, the collapsed states as "Not shown: 997 closed tcp ports (reset)", down hosts in one line each,
// and a closing summary of what was sent and received, so a user sees how complete a fast scan was.

export function* scanReport(
  store: ScanStore,
  summary: SummaryRecord | undefined,
  openOnly: boolean,
): IterableIterator<string> {
  let shown = 0;
  const bodies = new PatternCache((host) => bodyOf(host, store, openOnly));
  for (const host of store.hosts()) {
    const name = host.hostname === undefined ? host.address : `${host.hostname} (${host.address})`;
    if (host.down !== null) {
      if (!openOnly) yield `Host ${name} is down (${host.down})\n\n`;
      continue;
    }
    const body = bodies.get(host);
    if (body === "") continue;
    shown++;
    yield `Scan report for ${name}\n${body}`;
  }
  for (const u of store.unresolved) yield `Failed to resolve "${u.name}"\n`;
  if (openOnly && shown === 0) yield "No open ports found.\n\n";
  if (summary) yield `${summaryLine(summary)}\n`;
}

/** A scanned host's lines after its "Scan report for" line; "" when --open leaves the host out. */
function bodyOf(host: StoredHost, store: ScanStore, openOnly: boolean): string {
  const ports = store.allPorts;
  if (openOnly && stateCounts(host, ports.length).open === 0) return "";
  const ignored = ignoredStates(host, ports, openOnly, store.tcpCount);
  const rows: string[][] = [];
  for (let pi = 0; pi < ports.length; pi++) {
    const code = host.outcome(pi);
    if (code === 0) continue;
    const state = outcomeState(code);
    if (ignored.some((ig) => ig.state === state)) continue;
    const protocol = store.protocolOf(pi);
    rows.push([
      `${ports[pi]}/${protocol}`,
      state,
      serviceName(ports[pi]!, protocol) ?? "unknown",
      outcomeReason(code),
    ]);
  }
  const lines: string[] = [];
  for (const ig of ignored) {
    const protocols = [ig.reasons.size > 0 ? "tcp" : "", ig.udpReasons.size > 0 ? "udp" : ""].filter(Boolean);
    const all = [...ig.reasons, ...ig.udpReasons];
    const reasons =
      all.length === 1 ? all[0]![0] : all.map(([reason, list]) => `${list.length} ${reason}`).join(", ");
    lines.push(
      `Not shown: ${ig.count} ${ig.state} ${protocols.join(" and ")} port${ig.count === 1 ? "" : "s"} (${reasons})`,
    );
  }
  if (rows.length > 0) lines.push(portTable(rows));
  return lines.length === 0 ? "\n" : `${lines.join("\n")}\n\n`;
}

export function summaryLine(s: SummaryRecord): string {
  const states = Object.entries(s.states)
    .map(([state, n]) => `${n} ${state}`)
    .join(", ");
  const down = s.hostsDown ? `, ${s.hostsDown} down` : "";
  const retries = s.retransmissions ? ` (${s.retransmissions} retransmitted)` : "";
  const lost = [
    s.packetsDropped ? `${s.packetsDropped} dropped by the kernel` : "",
    s.packetsIgnored ? `${s.packetsIgnored} ignored` : "",
  ]
    .filter(Boolean)
    .join(", ");
  const interrupted = s.aborted ? " -- interrupted, results incomplete" : "";
  const n = s.mayBeRateLimited ?? 0;
  const limited = n
    ? `\n${n} open|filtered UDP port${n === 1 ? "" : "s"} of hosts that sent port unreachables may be closed: ICMP rate limit (rescan them with more --retries)`
    : "";
  return (
    `scan (${s.method ?? "syn"}${s.shard === undefined ? "" : `, shard ${s.shard}`}): ${s.targets} target${s.targets === 1 ? "" : "s"}${down}, ${s.ports} port${s.ports === 1 ? "" : "s"} each: ${states}; ` +
    `${s.packetsSent} probes sent${retries}, ${s.packetsReceived} answers${lost ? ` (${lost})` : ""} in ${(s.durationMs / 1000).toFixed(2)} s${interrupted}${limited}`
  );
}

/** PORT STATE SERVICE REASON, aligned (formatTable's layout, without its generality: it runs per host). */
function portTable(rows: string[][]): string {
  let w0 = 4;
  let w1 = 5;
  let w2 = 7;
  for (const r of rows) {
    if (r[0]!.length > w0) w0 = r[0]!.length;
    if (r[1]!.length > w1) w1 = r[1]!.length;
    if (r[2]!.length > w2) w2 = r[2]!.length;
  }
  let out = `${"PORT".padEnd(w0)}  ${"STATE".padEnd(w1)}  ${"SERVICE".padEnd(w2)}  REASON`;
  for (const r of rows) out += `\n${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r[2]!.padEnd(w2)}  ${r[3]}`;
  return out;
}
