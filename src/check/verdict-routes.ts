import type { RouteRecord, VerdictEvidence, VerdictFamily, VerdictRecord } from "../records";
import { FAMILIES, type Family, familyName } from "./nodes";
import { summariseList } from "./verdicts";

// The routes verdict of `check --routes`: every route with a gateway goes to a gateway that is on-link on the
// route's interface and answers ARP (NDP) from one MAC. Drawn from route records alone (no I/O), like the
// other verdicts, so it can be tested on hand-made records and recomputed from a saved NDJSON run.
//
// What fails: a gateway that does not answer (the peer moved, died or was renumbered: traffic for the route's
// destination vanishes), one not on-link (the route outlived the prefix that made it valid), one answered by
// several MACs (an address conflict), and a permanent neighbour entry holding a MAC the gateway no longer
// answers from. What does not: a gateway the kernel itself never asks (a permanent or noarp neighbour entry,
// as VXLAN overlays install: its silence is expected), a route over a link without ARP/NDP (a tunnel), and a
// dynamic neighbour entry that is behind (the kernel learns it again within seconds): those are evidence only.

/**
 * What {@link routesVerdict} should know beyond its records: whether the routes probe ran to the end.
 *
 * @example
 * ```ts
 * import { type RouteRecord, type RoutesExpectation, routesVerdict } from "wireprobe";
 *
 * declare const records: RouteRecord[]; // e.g. read back from a saved NDJSON run
 * const expected: RoutesExpectation = { aborted: true }; // the run's summary said `aborted`
 * console.log(routesVerdict(records, expected).complete); // false
 * ```
 */
export interface RoutesExpectation {
  /** the routes probe was interrupted (its summary says `aborted`): the verdict is incomplete, never ok */
  aborted?: boolean;
}

const list = (xs: readonly string[]) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;

const familyOfRoute = (r: RouteRecord): Family => r.family;

/** "1 route", "3 routes" */
const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
/** "goes" for one, "go" for more */
const goes = (n: number) => (n === 1 ? "goes" : "go");

/** The route as `ip route` writes it: "198.18.4.0/24 via 198.51.100.99 dev eth0 table 100 onlink". */
export function routeText(r: RouteRecord): string {
  const dst = r.destination === "0.0.0.0/0" || r.destination === "::/0" ? "default" : r.destination;
  const inet6 = r.family === "ipv4" && r.gateway.includes(":") ? "inet6 " : "";
  return `${dst} via ${inet6}${r.gateway}${r.interface ? ` dev ${r.interface}` : ""}${r.table !== 254 ? ` table ${r.tableName}` : ""}${r.onlink ? " onlink" : ""}`;
}

/** The kernel never asks for this gateway: a permanent or noarp neighbour entry stands in for its answer. */
function pinnedNeighbour(r: RouteRecord): boolean {
  const state = r.neighbour?.state ?? "";
  return /\b(permanent|noarp)\b/.test(state);
}

const interrupted = (r: RouteRecord) => r.state === "not-probed" && /^interrupted/.test(r.reason ?? "");
const silentButPinned = (r: RouteRecord) => r.state === "no-reply" && pinnedNeighbour(r);
const failing = (r: RouteRecord) =>
  (r.state === "no-reply" && !pinnedNeighbour(r)) ||
  r.state === "not-on-link" ||
  r.state === "conflict" ||
  (r.staleNeighbour && pinnedNeighbour(r));

/** A multipath route's identity: its next hops' records share it. */
const routeKey = (r: RouteRecord) => `${r.family} ${r.table} ${r.destination} ${r.metric}`;

/**
 * `ip route del ...` for a route with one next hop; for a multipath route's failing next hops, a replace with
 * the others (`siblings`: the multipath records by routeKey).
 */
function fixCommand(
  r: RouteRecord,
  siblings: ReadonlyMap<string, readonly RouteRecord[]>,
  bad: ReadonlySet<RouteRecord>,
): string {
  const ip = r.family === "ipv6" ? "ip -6 route" : "ip route";
  const defaultMetric = r.family === "ipv6" ? 1024 : 0;
  const metric = r.metric !== defaultMetric ? ` metric ${r.metric}` : "";
  const table = r.table !== 254 ? ` table ${r.tableName}` : "";
  const dst = r.destination === "0.0.0.0/0" || r.destination === "::/0" ? "default" : r.destination;
  if (r.multipath) {
    const keep = (siblings.get(routeKey(r)) ?? []).filter((x) => !bad.has(x));
    if (keep.length > 0) {
      const hops = keep
        .map((x) => {
          const inet6 = x.family === "ipv4" && x.gateway.includes(":") ? "inet6 " : "";
          return `nexthop via ${inet6}${x.gateway}${x.interface ? ` dev ${x.interface}` : ""}${x.weight !== null && x.weight !== 1 ? ` weight ${x.weight}` : ""}${x.onlink ? " onlink" : ""}`;
        })
        .join(" ");
      return `${ip} replace ${dst}${table}${metric} ${hops}`;
    }
    return `${ip} del ${dst}${table}${metric}`;
  }
  const inet6 = r.family === "ipv4" && r.gateway.includes(":") ? "inet6 " : "";
  return `${ip} del ${dst} via ${inet6}${r.gateway}${r.interface ? ` dev ${r.interface}` : ""}${table}${metric}`;
}

/** `xs` grouped by `key`, each group in order (a table of 50,000 routes: no copying per element). */
function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const g = out.get(k);
    if (g) g.push(x);
    else out.set(k, [x]);
  }
  return out;
}

/** One verdict drawn over some records: the whole check's, or one family's. */
interface Outcome {
  ok: boolean;
  complete: boolean;
  detail: string;
  fix: string | null;
  evidence: VerdictEvidence[];
  notProbed: string[];
}

const gatewayKey = (r: RouteRecord) => `${r.interface ?? ""}/${r.gateway}`;

function routesOutcome(records: readonly RouteRecord[], aborted: boolean): Outcome {
  const evidence: VerdictEvidence[] = [];
  const say = (subject: string, r: RouteRecord, finding: string) =>
    evidence.push({ subject, finding, family: familyOfRoute(r) });
  const notProbed = records.filter(interrupted).map(routeText);
  const complete = !aborted && notProbed.length === 0;
  const silent = records.filter((r) => r.state === "no-reply" && !pinnedNeighbour(r));
  const offLink = records.filter((r) => r.state === "not-on-link");
  const conflicts = records.filter((r) => r.state === "conflict");
  const stalePinned = records.filter((r) => r.staleNeighbour && pinnedNeighbour(r));
  const noArp = records.filter((r) => r.state === "not-probed" && !interrupted(r));
  const pinnedSilent = records.filter(silentButPinned);
  const bad = new Set(records.filter(failing));

  for (const r of records) {
    if (r.state === "ok" || interrupted(r)) continue;
    const neighbour = r.neighbour
      ? ` (kernel neighbour entry: ${r.neighbour.mac ?? "no MAC"}, ${r.neighbour.state})`
      : "";
    if (silentButPinned(r))
      say(
        routeText(r),
        r,
        `no ${r.probe.toUpperCase()} reply, not judged: the kernel never asks for it either${neighbour}`,
      );
    else say(routeText(r), r, `${r.state}: ${r.reason ?? ""}${r.state === "no-reply" ? neighbour : ""}`);
  }
  for (const r of records.filter((x) => x.staleNeighbour)) {
    say(
      `${r.gateway}${r.interface ? ` dev ${r.interface}` : ""}`,
      r,
      `the kernel's ${r.neighbour?.state} neighbour entry says ${r.neighbour?.mac}, but ${list(r.macs)} answer${r.macs.length === 1 ? "s" : ""}${pinnedNeighbour(r) ? ": the kernel never learns it again" : " (the kernel learns it again within seconds)"}`,
    );
  }
  // What answered: a line per gateway, with the routes through it.
  const answering = groupBy(
    records.filter((x) => x.state === "ok"),
    gatewayKey,
  );
  for (const rs of answering.values()) {
    const r = rs[0]!;
    say(
      `${r.gateway}${r.interface ? ` dev ${r.interface}` : ""}`,
      r,
      `${r.probe.toUpperCase()} reply from ${r.macs[0]}${r.rttMs === null ? "" : ` in ${r.rttMs.toFixed(3)} ms`}, gateway of ${count(rs.length, "route")}: ${summariseList(rs.map((x) => x.destination))}`,
    );
  }

  const parts: string[] = [];
  const routesList = (rs: readonly RouteRecord[], why: (r: RouteRecord) => string) =>
    summariseList(
      rs.map((r) => `${routeText(r)} (${why(r)})`),
      4,
    );
  if (silent.length > 0) {
    const multipath = silent.some((r) => r.multipath);
    // The reason adds something only when it says why (the link is down or has no carrier, the gateway is ours).
    const silentList = summariseList(
      silent.map((r) => {
        const link = /(\S+ is down|\S+ has no carrier|the gateway is this host's own address)/.exec(
          r.reason ?? "",
        )?.[1];
        return `${routeText(r)}${link ? ` (${link})` : ""}`;
      }),
      4,
    );
    parts.push(
      aborted
        ? `${count(silent.length, "route")} got no ${wordOf(silent)} reply from ${silent.length === 1 ? "its" : "their"} gateway before the interruption: ${silentList}.`
        : `${count(silent.length, "route")} ${goes(silent.length)} via a gateway that does not answer ${wordOf(silent)}: ${silentList}. Traffic to ${silent.length === 1 ? "that destination" : "those destinations"} is dropped${multipath ? " (for a multipath route, the flows hashed to the silent next hop)" : ""}: the peer moved, died or changed its address, and the route stayed.`,
    );
  }
  if (offLink.length > 0)
    parts.push(
      `${count(offLink.length, "route")} ${goes(offLink.length)} via a gateway that is not on-link on the route's interface: ${routesList(offLink, (r) => r.reason ?? "")}. The kernel refuses such a route when it is added (without \`onlink\`), so the prefix that made it valid is gone: the node was renumbered, and the route stayed.`,
    );
  if (conflicts.length > 0)
    parts.push(
      `Address conflict on the gateway of ${routesList(conflicts, (r) => r.macs.join(", "))}: more than one host answers for it, so traffic goes to whichever answered last.`,
    );
  if (stalePinned.length > 0)
    parts.push(
      `The kernel holds a ${list([...new Set(stalePinned.map((r) => r.neighbour?.state ?? ""))])} neighbour entry with a MAC the gateway no longer answers from, for ${list([...new Set(stalePinned.map((r) => `${r.gateway} (${r.neighbour?.mac}; answers from ${r.macs.join(", ")})`))])}: traffic goes to the old MAC and is lost.`,
    );
  const caveats: string[] = [];
  if (noArp.length > 0)
    caveats.push(
      `${count(noArp.length, "route")} over links without ARP/NDP not probed (${list([...new Set(noArp.map((r) => r.interface ?? "no interface"))])}).`,
    );
  if (pinnedSilent.length > 0)
    caveats.push(
      `${count(pinnedSilent.length, "route")} ${goes(pinnedSilent.length)} via gateways the kernel never asks for (permanent or noarp neighbour entries, as VXLAN overlays install: ${list([...new Set(pinnedSilent.map((r) => r.interface ?? ""))])}); their silence is expected and not judged.`,
    );
  const ok = complete && bad.size === 0;
  const gateways = new Set(records.map(gatewayKey)).size;
  const judged = records.length - noArp.length - pinnedSilent.length - notProbed.length;
  let detail: string;
  if (!complete) {
    const head = aborted ? "Interrupted" : "Incomplete";
    const progress =
      notProbed.length > 0
        ? `${records.length - notProbed.length} of ${records.length} gateway route(s) probed, not probed: ${summariseList(notProbed)}`
        : `all ${records.length} gateway route(s) probed, but the wait for their answers was cut short`;
    detail = `${head}: ${progress}. Not final. ${parts.length > 0 ? `So far: ${parts.join(" ")}` : "Nothing wrong found so far."}`;
  } else if (ok) {
    detail =
      records.length === 0
        ? "No route in the tables read has a gateway: nothing to check."
        : judged === 1
          ? `The gateway route goes via a gateway that is on-link and answers ${wordOf(records)} from one MAC.`
          : `All ${judged} gateway routes go via a gateway that is on-link and answers ${wordOf(records)} from one MAC (${count(gateways, "gateway")}).`;
  } else detail = parts.join(" ");
  if (caveats.length > 0) detail = `${detail} ${caveats.join(" ")}`;

  let fix: string | null = null;
  if (!ok) {
    const fixes: string[] = [];
    // A gateway silent before an interruption may still have answered: only final findings get a command.
    const removable = [...(complete ? silent : []), ...offLink];
    if (removable.length > 0) {
      const siblings = groupBy(
        records.filter((x) => x.multipath),
        routeKey,
      );
      const commands = [...new Set(removable.map((r) => fixCommand(r, siblings, bad)))];
      const shown = commands.slice(0, 5).map((c) => `\`${c}\``);
      fixes.push(
        `Delete the stale route${commands.length === 1 ? "" : "s"} or fix the peer${commands.length === 1 ? "" : "s"} (bring the peer back at its address, or let the CNI re-sync its routes): ${shown.join("; ")}${commands.length > 5 ? `; and ${commands.length - 5} more` : ""}.${offLink.length > 0 ? " A peer that really sits on this segment outside the interface's prefix needs the route re-added with `onlink`." : ""}`,
      );
    }
    if (conflicts.length > 0)
      fixes.push(
        `Find the host that also claims ${list([...new Set(conflicts.map((r) => r.gateway))])} (the MACs above; \`arping -D\`) and renumber it.`,
      );
    if (stalePinned.length > 0)
      fixes.push(
        `Replace the neighbour entr${stalePinned.length === 1 ? "y" : "ies"} with the MAC that answers, or delete ${stalePinned.length === 1 ? "it" : "them"} so the kernel learns it: ${[...new Set(stalePinned.map((r) => `\`ip neigh del ${r.gateway} dev ${r.interface}\``))].join("; ")}.`,
      );
    if (fixes.length === 0)
      fixes.push(
        aborted
          ? "Run the check again and let it finish: this verdict rests on the work done before the interruption."
          : "Run the check again: some routes' gateways got no answer record, so this verdict rests on part of the work only.",
      );
    fix = fixes.join(" ");
  }
  return { ok, complete, detail, fix, evidence, notProbed };
}

/** "ARP", "NDP" or "ARP/NDP": what these routes' gateways are asked with. */
function wordOf(records: readonly RouteRecord[]): string {
  const arp = records.some((r) => r.probe === "arp");
  const ndp = records.some((r) => r.probe === "ndp");
  return arp && ndp ? "ARP/NDP" : ndp ? "NDP" : "ARP";
}

/**
 * routes: every route with a gateway (each next hop of a multipath route) goes via a gateway that is on-link on
 * the route's interface and answers ARP/NDP from one MAC; a permanent neighbour entry must hold the MAC that
 * answers. Per family: the routes of that family (an IPv4 route via an IPv6 gateway is an IPv4 route). With
 * `expected.aborted`, or a route whose gateway was not asked before an interruption, incomplete (never ok).
 * A plain function of records: a saved NDJSON run can be judged again.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { type RouteRecord, type WireprobeRecord, routesVerdict } from "wireprobe";
 *
 * // a run saved with `wireprobe routes --json > routes.ndjson`
 * const records = readFileSync("routes.ndjson", "utf8").trim().split("\n").map((l) => JSON.parse(l) as WireprobeRecord);
 * const routeRecords = records.filter((r): r is RouteRecord => r.type === "route");
 * const verdict = routesVerdict(routeRecords);
 * if (!verdict.ok) console.log(verdict.detail, verdict.fix); // e.g. `ip route del 198.18.4.0/24 via 198.51.100.14 dev eth0`
 * ```
 */
export function routesVerdict(
  records: readonly RouteRecord[],
  expected: RoutesExpectation = {},
): VerdictRecord {
  const aborted = expected.aborted === true;
  const whole = routesOutcome(records, aborted);
  const families = FAMILIES.filter((f) => records.some((r) => r.family === f));
  const per = families.map((f): [Family, Outcome] =>
    families.length === 1
      ? [f, whole]
      : [
          f,
          routesOutcome(
            records.filter((r) => r.family === f),
            aborted,
          ),
        ],
  );
  const familyRecords: VerdictFamily[] = per.map(([family, o]) => ({
    family,
    ok: o.ok,
    complete: o.complete,
    detail: o.detail,
  }));
  const base = {
    type: "verdict" as const,
    check: "routes" as const,
    evidence: whole.evidence,
    complete: whole.complete,
    notProbed: whole.notProbed,
    families: familyRecords,
  };
  if (per.length <= 1) return { ...base, ok: whole.ok, detail: whole.detail, fix: whole.fix };
  // Two families: the detail family by family when something is wrong; one fix over both (its commands say
  // their family: `ip route` or `ip -6 route`).
  const detail = whole.ok ? whole.detail : per.map(([f, o]) => `${familyName(f)}: ${o.detail}`).join(" ");
  return { ...base, ok: whole.ok, detail, fix: whole.fix };
}
