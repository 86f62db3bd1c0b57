import type { DnsRacePairs, DnsRaceRecord, VerdictEvidence } from "../records";
import { type Family, familyOf } from "./nodes";

// The 5-second DNS race's part of the dns verdict (`check --dns-race N`), from `dns-race` records alone (no
// I/O). The race is judged per server: a server whose same-socket A/AAAA pairs (as glibc sends a lookup's
// queries) lose a query significantly more often than the separate-socket control fails with the race's fix;
// a server that loses queries of either kind otherwise fails too (each lost query is a lookup that waits the
// resolver's timeout), with the loss's. Without race records the dns verdict is exactly what it was.

/**
 * What {@link dnsVerdict} needs to judge the 5-second DNS race (its `race` argument, `check --dns-race`): the
 * `dns-race` records of {@link dnsRace}.
 *
 * @example
 * ```ts
 * import { type DnsRaceInput, type DnsRaceRecord, type DnsRecord, dns, dnsRace, dnsVerdict } from "wireprobe";
 *
 * const servers = ["198.18.0.10", "2001:db8:53::10"];
 * const name = "kubernetes.default.svc.cluster.local";
 * const answers: DnsRecord[] = [];
 * for await (const r of dns([name], { servers, netns: "pod" })) if (r.type === "dns") answers.push(r);
 * const raced: DnsRaceRecord[] = [];
 * const run = dnsRace(name, { pairs: 50, servers, netns: "pod" });
 * for await (const r of run) raced.push(r);
 * const race: DnsRaceInput = { records: raced, servers, aborted: run.summary?.aborted === true };
 * const verdict = dnsVerdict(answers, [], [], { servers, names: [name] }, race);
 * if (!verdict.ok) console.log(verdict.detail, verdict.fix);
 * ```
 */
export interface DnsRaceInput {
  /** the race's records, one per server */
  records: readonly DnsRaceRecord[];
  /** every server that should have been raced (default: the servers in the records) */
  servers?: readonly string[];
  /** the race's run was interrupted: the verdict is incomplete */
  aborted?: boolean;
}

/** The parts of a verdict the race adds to (the shape of verdicts.ts's per-family outcome). */
export interface OutcomeParts {
  ok: boolean;
  complete: boolean;
  detail: string;
  fix: string | null;
  evidence: VerdictEvidence[];
  notProbed: string[];
}

export const RACE_FIX =
  "Use single-request-reopen (options single-request-reopen in resolv.conf, or dnsConfig.options in the pod spec) so a lookup's AAAA query leaves from a new socket when its answer is lost, or NodeLocal DNSCache so pods' DNS queries do not cross conntrack/DNAT to the DNS Service.";
export const LOSS_FIX =
  "Find where DNS queries are lost: conntrack -S (insert_failed, drop) on the nodes, the DNS pods' CPU limits and logs, the path between this node and them; race more pairs (--dns-race 1000) to tell the race from random loss.";
const RERUN_FIX = "Run the check again and let the A/AAAA race finish.";
/** the dns verdict's fix for servers that do not answer (verdicts.ts): a server silent to the race gets it too */
export const DNS_FIX =
  "Make every --cluster-dns server reachable from the pods (pod network, kube-proxy rules for the DNS service) and serve the same records from each (same CoreDNS configuration and upstreams).";

const lostOf = (k: DnsRacePairs) => k.lostA + k.lostAAAA + k.lostBoth;

/** A record's p-value for people: "0.0274", "3.66e-6". */
export function formatP(p: number): string {
  return p !== 0 && p < 0.001 ? p.toExponential(2).replace(/\.?0+e/, "e") : String(p);
}

function which(k: DnsRacePairs): string {
  const parts: string[] = [];
  if (k.lostA > 0) parts.push(`A ${k.lostA}`);
  if (k.lostAAAA > 0) parts.push(`AAAA ${k.lostAAAA}`);
  if (k.lostBoth > 0) parts.push(`both ${k.lostBoth}`);
  return parts.length === 1 ? `all ${parts[0]!.split(" ")[0]}` : parts.join(", ");
}

/** "23/50 lost (all AAAA)" */
function kindText(k: DnsRacePairs): string {
  const lost = lostOf(k);
  return `${lost}/${k.sent} lost${lost > 0 ? ` (${which(k)})` : ""}`;
}

/** The race's own findings over the servers of `family` (null: all). */
export function dnsRaceOutcome(input: DnsRaceInput, family: Family | null): OutcomeParts {
  const { fixes: _fixes, ...parts } = raceOutcome(input, family);
  return parts;
}

/** dnsRaceOutcome with its fixes one by one, so the dns verdict can leave out the one it already gives. */
function raceOutcome(input: DnsRaceInput, family: Family | null): OutcomeParts & { fixes: string[] } {
  const mine = (s: string) => family === null || familyOf(s) === family;
  const records = input.records.filter((r) => mine(r.server));
  const wanted = (input.servers ?? [...new Set(input.records.map((r) => r.server))]).filter(mine);
  const raced = new Set(records.map((r) => r.server));
  const notProbed = wanted.filter((s) => !raced.has(s)).map((s) => `${s} race`);
  const aborted = input.aborted === true;
  const complete = !aborted && notProbed.length === 0;
  const evidence: VerdictEvidence[] = [];
  const problems: string[] = [];
  let raceFound = false;
  let lossFound = false;
  let silentFound = false;
  for (const r of records) {
    const same = r.sameSocket;
    const sep = r.separateSockets;
    evidence.push({
      subject: `${r.server} ${r.name}`,
      finding: `A/AAAA race: same socket ${kindText(same)}, separate sockets ${kindText(sep)}: ${r.race ? "the race" : "no race"} (p = ${formatP(r.pValue)})${r.unsent > 0 ? `; ${r.unsent} pair(s) not sent: ${r.error}` : r.error ? `; ${r.error}` : ""}`,
      family: familyOf(r.server),
    });
    if (r.race) {
      raceFound = true;
      problems.push(
        `${r.server} loses one query of glibc's A/AAAA lookups: ${lostOf(same)} of ${same.sent} pairs sent from one socket, as glibc sends them, lost a query (${which(same)}), and ${lostOf(sep)} of ${sep.sent} pairs sent from two sockets (p = ${formatP(r.pValue)}). This is the 5-second DNS race (kubernetes/kubernetes#56903): the two packets of one socket reach conntrack/DNAT together on the way to the DNS Service and one is dropped, so such a lookup waits the resolver's 5-second timeout.`,
      );
    } else if (lostOf(same) + lostOf(sep) > 0) {
      const none =
        same.answered + sep.answered === 0 && same.lostBoth + sep.lostBoth === same.sent + sep.sent;
      // A server that answers nothing at all is not losing queries: it is down or unreachable.
      if (none) silentFound = true;
      else lossFound = true;
      problems.push(
        none
          ? `${r.server} answered none of the A/AAAA race's queries for ${r.name}.`
          : `${r.server} loses DNS queries: ${lostOf(same)} of ${same.sent} same-socket and ${lostOf(sep)} of ${sep.sent} separate-socket A/AAAA pairs lost a query (p = ${formatP(r.pValue)}), ${lostOf(same) > lostOf(sep) ? "more from one socket but too few to tell the race from random loss" : "no more from one socket than from two: random loss, not the race"}; each lost query is a lookup that waits the resolver's timeout.`,
      );
    }
    if (r.unsent > 0) {
      lossFound = true;
      problems.push(`${r.server}: ${r.unsent} A/AAAA pair(s) could not be sent (${r.error}).`);
    }
  }
  const ok = complete && problems.length === 0;
  const pairs = records[0]?.pairs ?? 0;
  let detail: string;
  if (ok) {
    detail = `No A/AAAA race: ${records.length === 1 ? "the server" : `each of the ${records.length} servers`} answered all ${pairs} pairs sent as glibc sends them (one socket) and all ${pairs} sent from two sockets.`;
  } else if (complete) {
    detail = problems.join(" ");
  } else {
    const head = aborted ? "The A/AAAA race was interrupted" : "The A/AAAA race is incomplete";
    const missing =
      notProbed.length > 0 ? `: not raced: ${notProbed.map((s) => s.replace(/ race$/, "")).join(", ")}` : "";
    detail = `${head}${missing}. Not final.${problems.length > 0 ? ` So far: ${problems.join(" ")}` : ""}`;
  }
  const fixes: string[] = [];
  if (raceFound) fixes.push(RACE_FIX);
  if (lossFound) fixes.push(LOSS_FIX);
  if (silentFound) fixes.push(DNS_FIX);
  if (!complete && fixes.length === 0) fixes.push(RERUN_FIX);
  return { ok, complete, detail, fix: fixes.length > 0 ? fixes.join(" ") : null, evidence, notProbed, fixes };
}

/**
 * The dns verdict's outcome with the race's findings added (`race` undefined: `base` itself, unchanged): ok
 * only when both are, the race's detail after the dns detail, its evidence and not-probed after the dns ones,
 * and its fix after the dns fix.
 */
export function withRace<T extends OutcomeParts>(
  base: T,
  race: DnsRaceInput | undefined,
  family: Family | null,
): T {
  if (race === undefined) return base;
  const r = raceOutcome(race, family);
  // A silent server gets DNS_FIX from both: said once (the dns verdict's fix may hold it among others).
  const fixes = [
    ...(base.fix === null ? [] : [base.fix]),
    ...r.fixes.filter((f) => base.fix === null || !base.fix.includes(f)),
  ];
  const ok = base.ok && r.ok;
  return {
    ...base,
    ok,
    complete: base.complete && r.complete,
    detail: `${base.detail} ${r.detail}`,
    fix: ok ? null : fixes.length > 0 ? [...new Set(fixes)].join(" ") : null,
    evidence: [...base.evidence, ...r.evidence],
    notProbed: [...base.notProbed, ...r.notProbed],
  };
}
