import { type Ipv4Address, type Ipv6Address, parseIp } from "../addr/ip";
import { compareIpv6 } from "../addr/ipv6";
import type { ArpRecord, SummaryRecord } from "../records";
import { formatTable } from "./table";

/** Above this many targets the table lists only the addresses that answered. */
export const FULL_TABLE_LIMIT = 256;

/** IPv4 addresses first, then IPv6 ones, each in numeric order. */
export function byAddress(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (x === null || y === null || x.family !== y.family) return (x?.family ?? 0) - (y?.family ?? 0);
  return x.family === 4 ? x.v4 - (y as Ipv4Address).v4 : compareIpv6(x.bytes, (y as Ipv6Address).bytes);
}

function note(r: ArpRecord): string {
  if (r.conflict) return `ADDRESS CONFLICT: ${r.macs.length} MACs answer (${r.macs.join(", ")})`;
  if (r.state === "not-on-link") {
    if (r.gateway) return `routed via ${r.gateway}: not on this segment`;
    // With -i the record names the pinned interface: the target may well be on another one's segment.
    return r.interface
      ? `no route through ${r.interface}: not on its segment`
      : "no route: not on any connected segment";
  }
  if (r.state === "local") return "this host's own address";
  return "";
}

/** The human report: a table sorted by address, notes that explain what a state means, a summary line. */
export function formatArpReport(
  records: ArpRecord[],
  summary: SummaryRecord | undefined,
  all: boolean,
): string {
  const sorted = [...records].sort((a, b) => byAddress(a.target, b.target));
  const full = all || sorted.length <= FULL_TABLE_LIMIT;
  const shown = full ? sorted : sorted.filter((r) => r.state === "reply");
  const rows = shown.map((r) => [
    r.target,
    r.interface ?? "-",
    r.state,
    r.mac ?? "-",
    r.rttMs === null ? "-" : `${r.rttMs.toFixed(3)} ms`,
    note(r),
  ]);
  const out: string[] = [];
  if (rows.length > 0) out.push(formatTable(["TARGET", "INTERFACE", "STATE", "MAC", "RTT", "NOTE"], rows));
  if (!full)
    out.push(`(${sorted.length - shown.length} targets without a reply not listed; --all lists them)`);
  const offLink = sorted.filter((r) => r.state === "not-on-link");
  if (offLink.length > 0) {
    const gws = [...new Set(offLink.map((r) => r.gateway).filter((g): g is string => g !== null))];
    out.push(
      "",
      `${offLink.length} target(s) are not on-link: the kernel ${gws.length > 0 ? `routes them via ${gws.join(", ")}` : "has no route to them"}.`,
      'A next hop must be on-link: `ip route add POD_CIDR via TARGET` fails with "Network is unreachable",',
      "so flannel host-gw cannot route to these peers (use flannel vxlan, or calico with IPIP/VXLAN or BGP).",
    );
  }
  const conflicts = sorted.filter((r) => r.conflict);
  if (conflicts.length > 0) {
    out.push(
      "",
      `${conflicts.length} address conflict(s): more than one host answers for ${conflicts.map((r) => r.target).join(", ")}.`,
    );
  }
  if (summary) out.push("", summaryLine(summary));
  return out.join("\n");
}

export function summaryLine(s: SummaryRecord): string {
  const parts = Object.entries(s.states)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`);
  const secs = (s.durationMs / 1000).toFixed(2);
  const dropped = s.packetsDropped > 0 ? `, ${s.packetsDropped} dropped by the kernel` : "";
  const aborted = s.aborted ? " (interrupted)" : "";
  return `${s.command}: ${s.targets} target(s): ${parts.join(", ") || "none"}; ${s.packetsSent} sent, ${s.packetsReceived} received${dropped} in ${secs} s${aborted}`;
}
