import { formatP } from "../check/verdict-dnsrace";
import type { DnsRacePairs, DnsRaceRecord, SummaryRecord } from "../records";
import { summaryLine } from "./arp-report";
import { formatTable } from "./table";

// The human report of `wireprobe dns --race`: a row per server and kind of pair, then what each server's
// numbers mean.

const lostPairs = (k: DnsRacePairs) => k.lostA + k.lostAAAA + k.lostBoth;

/** Whether a race record shows something wrong: a lost query of either kind, or pairs that could not be sent. */
export function raceLost(r: DnsRaceRecord): boolean {
  return r.race || lostPairs(r.sameSocket) > 0 || lostPairs(r.separateSockets) > 0 || r.unsent > 0;
}

/** Which queries a kind's lost pairs lost: "all AAAA", "A 2, AAAA 5", "both 3". */
export function lostWhich(k: DnsRacePairs): string {
  const parts: string[] = [];
  if (k.lostA > 0) parts.push(`A ${k.lostA}`);
  if (k.lostAAAA > 0) parts.push(`AAAA ${k.lostAAAA}`);
  if (k.lostBoth > 0) parts.push(`both ${k.lostBoth}`);
  if (parts.length === 1) return `all ${parts[0]!.split(" ")[0]}`;
  return parts.join(", ");
}

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;

/** What a server's race record says, in one line. */
export function describeRace(r: DnsRaceRecord): string {
  const same = r.sameSocket;
  const sep = r.separateSockets;
  const lostSame = lostPairs(same);
  const lostSep = lostPairs(sep);
  const counts = `${lostSame} of ${same.sent} same-socket pairs lost a query${lostSame > 0 ? ` (${lostWhich(same)})` : ""}, ${lostSep} of ${sep.sent} separate-socket pairs${lostSep > 0 ? ` (${lostWhich(sep)})` : ""}`;
  const notes: string[] = [];
  if (r.unsent > 0) notes.push(`${r.unsent} pair(s) not sent: ${r.error}`);
  else if (r.error !== null) notes.push(r.error);
  const bad = same.badAnswers + sep.badAnswers;
  if (bad > 0) notes.push(`${bad} datagram(s) from the server answered neither query (ignored)`);
  const tail = notes.length > 0 ? ` (${notes.join("; ")})` : "";
  if (r.race) {
    return `RACE: ${counts} (p = ${formatP(r.pValue)}): the two queries of one socket race through conntrack/DNAT and one is dropped, so glibc lookups wait the 5-second timeout. Fix: options single-request-reopen (resolv.conf, or the pod's dnsConfig) or NodeLocal DNSCache${tail}`;
  }
  if (same.sent + sep.sent > 0 && same.answered + sep.answered === 0 && lostSame + lostSep > 0) {
    const none = same.lostBoth + sep.lostBoth === same.sent + sep.sent;
    if (none) return `no answers at all: the server does not answer these queries (see wireprobe dns)${tail}`;
  }
  if (lostSame + lostSep === 0) {
    return `no loss: all ${same.sent + sep.sent} pairs answered${tail}`;
  }
  const why =
    lostSame > lostSep
      ? `more in the same-socket pairs, but not enough to tell the race from random loss (p = ${formatP(r.pValue)}; run more pairs)`
      : "no more in the same-socket pairs than in the control: random loss (a lossy path or an overloaded server), not the race";
  return `loss: ${counts}; ${why}. Each lost query is a lookup that waits the resolver's timeout${tail}`;
}

/** The report: the table, one finding per server, the summary. */
export function formatDnsRaceReport(
  records: readonly DnsRaceRecord[],
  summary: SummaryRecord | undefined,
): string {
  const out: string[] = [];
  if (records.length > 0) {
    const r0 = records[0]!;
    out.push(
      `A/AAAA pairs for ${r0.name}, ${r0.pairs} of each kind per server: same socket as glibc sends them (one sendmmsg, A then AAAA), separate sockets as the control; lost = no answer in ${r0.timeoutMs} ms`,
      "",
    );
    const showPort = records.some((r) => r.port !== 53);
    const rows: string[][] = [];
    for (const r of records) {
      const server = showPort ? `${r.server}:${r.port}` : r.server;
      for (const [label, k] of [
        ["same socket", r.sameSocket],
        ["separate sockets", r.separateSockets],
      ] as const) {
        rows.push([
          label === "same socket" ? server : "",
          label,
          String(k.sent),
          String(k.answered),
          String(k.lostA),
          String(k.lostAAAA),
          String(k.lostBoth),
          percent(k.lossRate),
        ]);
      }
    }
    out.push(
      formatTable(["SERVER", "PAIRS", "SENT", "ANSWERED", "LOST A", "LOST AAAA", "LOST BOTH", "LOSS"], rows),
      "",
    );
    for (const r of records) out.push(`${r.server}: ${describeRace(r)}`);
  }
  if (summary) out.push("", summaryLine(summary));
  return out.join("\n");
}

/** check's table of the race: a row per server, each kind's lost pairs, and whether it is the race. */
export function formatRaceTable(records: readonly DnsRaceRecord[]): string {
  const cell = (k: DnsRacePairs) => {
    const lost = lostPairs(k);
    return `${lost}/${k.sent} lost${lost > 0 ? ` (${lostWhich(k)})` : ""}`;
  };
  const rows = records.map((r) => [
    r.server,
    cell(r.sameSocket),
    cell(r.separateSockets),
    r.race
      ? `RACE (p = ${formatP(r.pValue)})`
      : lostPairs(r.sameSocket) + lostPairs(r.separateSockets) > 0
        ? `loss (p = ${formatP(r.pValue)})`
        : "no",
  ]);
  return formatTable(["DNS RACE", "SAME SOCKET (glibc)", "SEPARATE SOCKETS", "RACE"], rows);
}
