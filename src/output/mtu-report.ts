import type { MtuRecord, SummaryRecord } from "../records";
import { byAddress, summaryLine } from "./arp-report";
import { formatTable } from "./table";

// The human report of `wireprobe mtu`: one row per target, sorted by address, a note that says in words what
// the path does with packets too big for it, then the summary.

/** Reasons that are this host's routes refusing the target, not ICMP errors. */
const ROUTE_NOTES: Readonly<Record<string, string>> = {
  "no-route": "no route",
  blackhole: "blackhole route",
  prohibit: "prohibit route",
  unreachable: "unreachable route",
  broadcast: "broadcast address",
};

const announced = (r: MtuRecord) =>
  r.reportedBy === null
    ? ""
    : r.reportedMtu !== null
      ? `${r.reportedBy} announced mtu ${r.reportedMtu}`
      : `${r.reportedBy} said too big (no mtu)`;

/** What the path does with bigger packets, in words. */
export function mtuNote(r: MtuRecord): string {
  const parts: string[] = [];
  const above = r.pathMtu !== null && r.ceiling !== null ? `${r.pathMtu + 1}-${r.ceiling} bytes` : "";
  switch (r.state) {
    case "local":
      return "this host's own address";
    case "no-reply":
      return "no answer, not even to the smallest size";
    case "unreachable": {
      const route = r.from === null && r.reason !== null ? ROUTE_NOTES[r.reason] : undefined;
      return route ?? `${r.reason}${r.from ? ` from ${r.from}` : ""}`;
    }
    case "incomplete":
      return r.pathMtu !== null ? `interrupted: at least ${r.pathMtu} gets through` : "interrupted";
  }
  if (r.blackHole) {
    parts.push(
      r.boundary === "error"
        ? `BLACK HOLE: ${above} meet ${r.reason}${r.from ? ` from ${r.from}` : ""}, no frag-needed`
        : `BLACK HOLE: ${above} vanish without an ICMP error`,
    );
    if (r.reportedBy !== null) parts.push(announced(r));
  } else if (r.pathMtu !== null && r.ceiling !== null && r.pathMtu < r.ceiling) {
    parts.push(r.reportedBy !== null ? announced(r) : "too big: refused by this host");
  }
  if (r.expectedMtu !== null && r.pathMtu !== null && r.pathMtu < r.expectedMtu)
    parts.push(`below the expected ${r.expectedMtu}`);
  if (r.ignoredErrors > 0) parts.push(`${r.ignoredErrors} ICMP message(s) not believed`);
  return parts.join("; ");
}

export function formatMtuReport(records: readonly MtuRecord[], summary: SummaryRecord | undefined): string {
  const sorted = [...records].sort((a, b) => byAddress(a.target, b.target));
  const rows = sorted.map((r) => [
    r.target,
    r.state,
    r.pathMtu === null ? "-" : String(r.pathMtu),
    r.interface === null ? "-" : `${r.interface} ${r.interfaceMtu}`,
    r.rttMs === null ? "-" : `${r.rttMs.toFixed(3)} ms`,
    mtuNote(r),
  ]);
  const out: string[] = [];
  if (rows.length > 0)
    out.push(formatTable(["TARGET", "STATE", "PATH MTU", "INTERFACE", "RTT", "NOTE"], rows));
  if (summary) out.push("", summaryLine(summary));
  return out.join("\n");
}
