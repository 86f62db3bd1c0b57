import type { PingRecord, SummaryRecord } from "../records";
import { summaryLine } from "./arp-report";
import { formatTable } from "./table";

/** Above this many targets the table lists only the targets that replied. */
export const PING_FULL_TABLE_LIMIT = 256;

function ipKey(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** Reasons that are not ICMP errors but this host's routes refusing the target, as the note says them. */
const ROUTE_NOTES: Readonly<Record<string, string>> = {
  "no-route": "no route",
  blackhole: "blackhole route",
  prohibit: "prohibit route",
  unreachable: "unreachable route",
  broadcast: "broadcast address",
};

function note(r: PingRecord): string {
  const extra: string[] = [];
  if (r.state === "unreachable") {
    const route = r.from === null && r.reason !== null ? ROUTE_NOTES[r.reason] : undefined;
    extra.push(route ?? `${r.reason}${r.from ? ` from ${r.from}` : ""}`);
  }
  if (r.state === "reply" && r.errors > 0) extra.push(`${r.errors} ICMP error(s)`);
  if (r.duplicates > 0) extra.push(`${r.duplicates} duplicate(s)`);
  return extra.join("; ");
}

/** The human report: a table sorted by address, then the summary. */
export function formatPingReport(
  records: readonly PingRecord[],
  summary: SummaryRecord | undefined,
  all: boolean,
): string {
  const sorted = [...records].sort((a, b) => ipKey(a.target) - ipKey(b.target));
  const full = all || sorted.length <= PING_FULL_TABLE_LIMIT;
  const shown = full ? sorted : sorted.filter((r) => r.state === "reply");
  const rows = shown.map((r) => [
    r.target,
    r.state,
    `${r.received}/${r.sent}`,
    r.sent > 0 ? `${Math.round((100 * (r.sent - r.received)) / r.sent)}%` : "-",
    r.rttMs ? `${r.rttMs.min.toFixed(3)}/${r.rttMs.avg.toFixed(3)}/${r.rttMs.max.toFixed(3)} ms` : "-",
    note(r),
  ]);
  const out: string[] = [];
  if (rows.length > 0)
    out.push(formatTable(["TARGET", "STATE", "RECV", "LOSS", "RTT MIN/AVG/MAX", "NOTE"], rows));
  if (!full)
    out.push(`(${sorted.length - shown.length} targets without a reply not listed; --all lists them)`);
  if (summary) out.push("", summaryLine(summary));
  return out.join("\n");
}
