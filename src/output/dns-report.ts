import type { DnsConsistencyRecord, DnsRecord, SummaryRecord } from "../records";
import { summaryLine } from "./arp-report";
import { formatTable } from "./table";

function ipKey(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** Reasons that are not ICMP errors but this host's route to the server refusing it (its type). */
const ROUTE_TYPES = new Set(["blackhole", "prohibit", "unreachable", "broadcast"]);

/** What a record says, in the words an operator reads. */
export function describeDns(r: DnsRecord): string {
  switch (r.status) {
    case "ok": {
      const list = r.answers.length > 0 ? r.answers.join(", ") : "(no records)";
      return r.truncated ? `${list} (UDP answer truncated, answered over TCP)` : list;
    }
    case "refused":
      return r.reason === "connection-refused"
        ? "connection refused: nothing listens on TCP"
        : `nothing listens (ICMP ${r.reason}${r.from ? ` from ${r.from}` : ""})`;
    case "unreachable":
      if (r.reason === "no-route") return "no route to the server";
      if (r.from === null && r.reason !== null && ROUTE_TYPES.has(r.reason)) {
        return r.reason === "broadcast" ? "a broadcast address: not sent" : `${r.reason} route to the server`;
      }
      return `unreachable (${r.from ? `ICMP ${r.reason} from ${r.from}` : r.reason})`;
    case "timeout":
      return r.error ?? `no answer (${r.attempts} ${r.attempts === 1 ? "query" : "queries"})`;
    case "error":
      return r.error ?? "bad answer";
  }
}

const groupKey = (r: { name: string; qtype: string; transport: string }) =>
  `${r.name}\u0000${r.qtype}\u0000${r.transport}`;

/** The human report: one row per record, then what disagrees, then the summary. */
export function formatDnsReport(
  records: readonly DnsRecord[],
  consistency: readonly DnsConsistencyRecord[],
  summary: SummaryRecord | undefined,
): string {
  const order = new Map<string, number>();
  for (const r of records) if (!order.has(groupKey(r))) order.set(groupKey(r), order.size);
  const sorted = [...records].sort(
    (a, b) => order.get(groupKey(a))! - order.get(groupKey(b))! || ipKey(a.server) - ipKey(b.server),
  );
  const showPort = records.some((r) => r.port !== 53);
  const rows = sorted.map((r) => [
    r.name,
    r.qtype,
    showPort ? `${r.server}:${r.port}` : r.server,
    r.transport,
    r.status,
    r.rcode ?? "-",
    r.rttMs === null ? "-" : `${r.rttMs.toFixed(3)} ms`,
    describeDns(r),
  ]);
  const out: string[] = [];
  if (rows.length > 0) {
    out.push(formatTable(["NAME", "TYPE", "SERVER", "PROTO", "STATUS", "RCODE", "RTT", "ANSWER"], rows));
  }
  const findings = [...consistencyFindings(consistency), ...transportFindings(sorted)];
  if (findings.length > 0) out.push("", ...findings);
  if (summary) out.push("", summaryLine(summary));
  return out.join("\n");
}

function answerText(c: DnsConsistencyRecord, server: string): string {
  if (c.statuses[server] !== "ok") return c.statuses[server] ?? "?";
  const answers = c.answers[server] ?? [];
  const rcode = c.rcodes[server] ?? "";
  const list = answers.length > 0 ? answers.join(", ") : "no records";
  return rcode === "NOERROR" ? list : `${rcode}${answers.length > 0 ? `: ${list}` : ""}`;
}

function consistencyFindings(consistency: readonly DnsConsistencyRecord[]): string[] {
  const lines: string[] = [];
  for (const c of consistency) {
    if (c.consistent) continue;
    const what = `${c.name} ${c.qtype} (${c.transport})`;
    if (c.odd.length === 0) {
      lines.push(`${what}: no server answered, nothing to compare`);
      continue;
    }
    const servers = Object.keys(c.statuses);
    const reference = servers.filter((s) => !c.odd.includes(s));
    const odd = c.odd.map((s) => `${s} (${answerText(c, s)})`).join(", ");
    const agreed = reference.length > 0 ? answerText(c, reference[0]!) : "";
    lines.push(
      `${what}: servers disagree: odd one${c.odd.length > 1 ? "s" : ""} out: ${odd}; ` +
        `${reference.join(", ")} ${reference.length > 1 ? "answer" : "answers"} ${agreed}`,
    );
  }
  return lines;
}

/** With --both: servers that answer over one transport only, or differently over the two. */
function transportFindings(records: readonly DnsRecord[]): string[] {
  const byQuestion = new Map<string, { udp?: DnsRecord; tcp?: DnsRecord }>();
  for (const r of records) {
    const key = `${r.server}\u0000${r.port}\u0000${r.name}\u0000${r.qtype}`;
    const entry = byQuestion.get(key) ?? {};
    entry[r.transport] = r;
    byQuestion.set(key, entry);
  }
  const lines: string[] = [];
  for (const { udp, tcp } of byQuestion.values()) {
    if (!udp || !tcp) continue;
    const what = `${udp.server} for ${udp.name} ${udp.qtype}`;
    if (udp.status === "ok" && tcp.status !== "ok") {
      lines.push(`${what}: answers over UDP only (TCP: ${tcp.status}, ${describeDns(tcp)})`);
    } else if (tcp.status === "ok" && udp.status !== "ok") {
      lines.push(`${what}: answers over TCP only (UDP: ${udp.status}, ${describeDns(udp)})`);
    } else if (
      udp.status === "ok" &&
      (udp.rcode !== tcp.rcode || udp.answers.join("\n") !== tcp.answers.join("\n"))
    ) {
      lines.push(`${what}: answers differently over UDP (${describeDns(udp)}) and TCP (${describeDns(tcp)})`);
    }
  }
  return lines;
}
