import type { CheckResult } from "../check/check";
import { type ClusterNode, familyName, familyOf, type NodePort } from "../check/nodes";
import { routeText } from "../check/verdict-routes";
import { summariseList } from "../check/verdicts";
import type { ArpRecord, DnsRecord, RouteRecord, VerdictFamily, VerdictRecord } from "../records";
import { byAddress } from "./arp-report";
import { formatRaceTable } from "./dns-race-report";
import { mtuNote } from "./mtu-report";
import { formatTable } from "./table";

// The human report of `wireprobe check`: verdicts first, then a node-by-check matrix and the DNS servers'
// answers side by side, then what to fix. Meant to be read in ten seconds. An interrupted or incomplete
// check says so on its first and last lines and names what was not probed; it never says "all verdicts ok".
// A check over both address families gives each verdict per family (a line each) and the node matrix a row
// per node address.

const NOT_PROBED = "not probed";

function arpCell(r: ArpRecord | undefined): string {
  if (!r) return NOT_PROBED;
  if (r.state === "reply") return r.conflict ? `CONFLICT ${r.macs.join(",")}` : `reply ${r.mac}`;
  if (r.state === "not-on-link")
    return r.gateway ? `not-on-link (via ${r.gateway})` : "not-on-link (no route)";
  return r.state;
}

function dnsCell(r: DnsRecord | undefined): string {
  if (!r) return "not asked";
  if (r.status !== "ok") return `${r.status}${r.reason ? ` (${r.reason})` : ""}`;
  return r.rcode === "NOERROR" ? r.answers.join(" ") || "NOERROR (empty)" : (r.rcode ?? "?");
}

/** ok, FAIL, or INCOMPLETE: a verdict drawn from part of the work is neither a pass nor a failure. */
function tag(v: VerdictRecord | VerdictFamily): string {
  if (v.ok) return "ok";
  return v.complete === false ? "INCOMPLETE" : "FAIL";
}

/** The verdict lines: one per verdict, or with two families one per family under the verdict's tag. */
function verdictLines(verdicts: readonly VerdictRecord[]): string[] {
  const width = Math.max(...verdicts.map((v) => v.check.length));
  const tagWidth = Math.max(4, ...verdicts.map((v) => tag(v).length));
  const perFamily = verdicts.some((v) => (v.families?.length ?? 0) > 1);
  if (!perFamily)
    return verdicts.map((v) => `  ${tag(v).padEnd(tagWidth)}  ${v.check.padEnd(width)}  ${v.detail}`);
  const famTagWidth = Math.max(4, ...verdicts.flatMap((v) => (v.families ?? []).map((f) => tag(f).length)));
  const out: string[] = [];
  for (const v of verdicts) {
    const head = `  ${tag(v).padEnd(tagWidth)}  ${v.check.padEnd(width)}  `;
    const families = v.families ?? [];
    if (families.length === 0) out.push(`${head}${v.detail}`);
    families.forEach((f, i) => {
      const lead = i === 0 ? head : " ".repeat(head.length);
      out.push(`${lead}${familyName(f.family)}  ${tag(f).padEnd(famTagWidth)}  ${f.detail}`);
    });
  }
  return out;
}

/** The layer-2 column's name: what the node addresses were asked with. */
function neighbourHeader(addresses: readonly string[]): string {
  const v4 = addresses.some((a) => familyOf(a) === "ipv4");
  const v6 = addresses.some((a) => familyOf(a) === "ipv6");
  return `${v4 && v6 ? "ARP/NDP" : v6 ? "NDP" : "ARP"} (layer 2)`;
}

export function formatCheckReport(input: CheckResult): string {
  const out: string[] = [];
  const downNodes = new Map(input.hosts.map((h) => [h.target, h.reason]));
  const width = Math.max(...input.verdicts.map((v) => v.check.length));
  const incomplete = input.verdicts.filter((v) => v.complete === false);
  if (incomplete.length > 0) {
    out.push(
      `check ${input.aborted ? "INTERRUPTED" : "INCOMPLETE"}: results incomplete, verdicts not final`,
      "",
    );
  } else if (input.aborted) {
    out.push("check INTERRUPTED after every probe had finished: the verdicts are final", "");
  }
  out.push("VERDICTS", ...verdictLines(input.verdicts));
  const unprobed = input.verdicts.filter((v) => (v.notProbed ?? []).length > 0);
  if (unprobed.length > 0) {
    out.push("", "NOT PROBED");
    for (const v of unprobed)
      out.push(`  ${v.check.padEnd(width)}  ${v.notProbed.length}: ${summariseList(v.notProbed)}`);
  }

  if (input.nodes.length > 0) out.push("", nodeTable(input, downNodes));

  const servers = [...new Set([...(input.dnsServers ?? []), ...input.dns.map((r) => r.server)])];
  const names = [...new Set([...(input.dnsNames ?? []), ...input.dns.map((r) => r.name)])];
  if (servers.length > 0) {
    const rows = servers.map((s) => [
      s,
      ...names.map((n) => dnsCell(input.dns.find((r) => r.server === s && r.name === n))),
    ]);
    out.push("", formatTable(["DNS SERVER", ...names], rows));
  }
  if (input.dnsRace && input.dnsRace.length > 0) out.push("", formatRaceTable(input.dnsRace));
  if (input.pings.length > 0) {
    const rows = input.pings.map((p) => [
      p.target,
      p.state === "reply" && p.rttMs
        ? `reply (${p.rttMs.avg.toFixed(3)} ms)`
        : `${p.state}${p.reason ? ` (${p.reason})` : ""}`,
    ]);
    out.push("", formatTable(["EXTERNAL", "PING"], rows));
  }
  if (input.routes) out.push("", routesSection(input.routes));

  if (input.mtu && input.mtu.length > 0) {
    const rows = [...input.mtu]
      .sort((a, b) => byAddress(a.target, b.target))
      .map((r) => [r.target, r.state, r.pathMtu === null ? "-" : String(r.pathMtu), mtuNote(r)]);
    out.push("", formatTable(["PATH MTU TO", "STATE", "MTU", "NOTE"], rows));
  }

  const fixes = input.verdicts.filter((v) => !v.ok && v.fix);
  if (fixes.length > 0) {
    out.push("", "FIX");
    for (const v of fixes) out.push(`  ${v.check}: ${v.fix}`);
  }
  const failed = input.verdicts.filter((v) => !v.ok && v.complete !== false).length;
  const total = input.verdicts.length;
  let last: string;
  if (incomplete.length > 0) {
    last = `check: ${input.aborted ? "interrupted, " : ""}${incomplete.length} of ${total} verdicts incomplete${failed > 0 ? `, ${failed} failed` : ""}`;
  } else if (failed > 0) last = `check: ${failed} of ${total} verdicts failed`;
  else
    last = input.aborted
      ? "check: interrupted, but every verdict was complete and ok"
      : "check: all verdicts ok";
  out.push("", last);
  return out.join("\n");
}

/**
 * The node matrix: a row per node address, its layer-2 answer and each nodePort's state. With named or
 * dual-stack nodes, a NODE column with the name (on the node's first row) and an ADDRESS column.
 */
function nodeTable(input: CheckResult, downNodes: ReadonlyMap<string, string>): string {
  const ports: NodePort[] =
    input.nodePortSpecs ?? input.nodePorts.map((port) => ({ port, protocol: "tcp", family: null }));
  const cluster: ClusterNode[] =
    input.clusterNodes ??
    input.nodes.map((a) => ({
      name: null,
      ipv4: familyOf(a) === "ipv4" ? a : null,
      ipv6: familyOf(a) === "ipv6" ? a : null,
    }));
  const grouped = cluster.some((n) => n.name !== null || (n.ipv4 !== null && n.ipv6 !== null));
  const portCell = (address: string, p: NodePort) => {
    if (p.family !== null && familyOf(address) !== p.family) return "-";
    if (input.notScanned?.some((x) => x.target === address && x.port === p.port && x.protocol === p.protocol))
      return "not scanned";
    if (downNodes.has(address)) return `down (${downNodes.get(address)})`;
    const r = input.ports.find((x) => x.target === address && x.port === p.port && x.protocol === p.protocol);
    return r ? `${r.state} (${r.reason})` : NOT_PROBED;
  };
  const cells = (address: string) => [
    arpCell(input.arp.find((r) => r.target === address)),
    ...ports.map((p) => portCell(address, p)),
  ];
  const portHeads = ports.map((p) => `${p.port}/${p.protocol}${p.family ? `/${p.family}` : ""}`);
  const header = [neighbourHeader(input.nodes), ...portHeads];
  if (!grouped)
    return formatTable(
      ["NODE", ...header],
      input.nodes.map((a) => [a, ...cells(a)]),
    );
  const rows = cluster.flatMap((n) =>
    [n.ipv4, n.ipv6]
      .filter((a): a is string => a !== null)
      .map((a, i) => [i === 0 ? (n.name ?? "") : "", a, ...cells(a)]),
  );
  return formatTable(["NODE", "ADDRESS", ...header], rows);
}

/** --routes: the gateway routes that are not ok (each with its answer), or one line when all are. */
function routesSection(routes: readonly RouteRecord[]): string {
  const notOk = routes.filter((r) => r.state !== "ok" || r.staleNeighbour);
  const gateways = new Set(routes.map((r) => `${r.interface}/${r.gateway}`)).size;
  const head = `GATEWAY ROUTES: ${routes.length} route(s) via ${gateways} gateway(s)`;
  if (notOk.length === 0) return `${head}, every gateway answers`;
  const rows = notOk.map((r) => [
    routeText(r),
    r.state,
    r.macs.length > 0 ? r.macs.join(",") : "-",
    [r.reason, r.staleNeighbour ? `kernel neighbour entry ${r.neighbour?.mac} (${r.neighbour?.state})` : null]
      .filter((x) => x)
      .join("; "),
  ]);
  return `${head}\n${formatTable(["ROUTE", "STATE", "MAC", "NOTE"], rows)}`;
}
