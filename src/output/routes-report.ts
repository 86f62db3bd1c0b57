import { routesVerdict } from "../check/verdict-routes";
import type { RouteRecord, SummaryRecord } from "../records";
import { summaryLine } from "./arp-report";
import { formatTable } from "./table";

// The human report of `wireprobe routes`: a row per gateway route (in the order of `ip route show table all`,
// IPv4 then IPv6), or, for a large table, the routes that are not ok and a row per gateway; then what the routes
// verdict of `check --routes` would say, with its fix, and the summary line.

/** Above this many routes the table lists only those that are not ok, and the gateways. */
export const FULL_ROUTES_LIMIT = 256;

const destinationText = (r: RouteRecord) =>
  r.destination === "0.0.0.0/0" || r.destination === "::/0" ? "default" : r.destination;

function note(r: RouteRecord): string {
  const parts: string[] = [];
  if (r.multipath) parts.push(`nexthop${r.weight !== null && r.weight !== 1 ? ` weight ${r.weight}` : ""}`);
  if (r.onlink) parts.push("onlink");
  if (r.state !== "ok" && r.reason) parts.push(r.reason);
  if (r.staleNeighbour)
    parts.push(`kernel neighbour entry ${r.neighbour?.mac} (${r.neighbour?.state}) is stale`);
  return parts.join("; ");
}

function routeRow(r: RouteRecord): string[] {
  return [
    r.tableName,
    destinationText(r),
    r.gateway,
    r.interface ?? "-",
    r.state,
    r.macs.length > 0 ? r.macs.join(",") : "-",
    note(r),
  ];
}

/** A row per gateway (and interface): its state and how many routes go through it. */
function gatewayRows(records: readonly RouteRecord[]): string[][] {
  // Counted, not collected: a table of 50,000 routes via a few gateways.
  const by = new Map<string, { r: RouteRecord; n: number }>();
  for (const r of records) {
    const key = `${r.interface ?? ""}/${r.gateway}/${r.state}`;
    const g = by.get(key);
    if (g) g.n++;
    else by.set(key, { r, n: 1 });
  }
  return [...by.values()].map(({ r, n }) => [
    r.gateway,
    r.interface ?? "-",
    r.state,
    r.macs.length > 0 ? r.macs.join(",") : "-",
    String(n),
  ]);
}

export function formatRoutesReport(
  records: readonly RouteRecord[],
  summary: SummaryRecord | undefined,
  all: boolean,
): string {
  const out: string[] = [];
  const full = all || records.length <= FULL_ROUTES_LIMIT;
  const head = ["TABLE", "DESTINATION", "GATEWAY", "DEV", "STATE", "MAC", "NOTE"];
  if (records.length === 0) out.push("No route with a gateway in the tables read.");
  else if (full) out.push(formatTable(head, records.map(routeRow)));
  else {
    const notOk = records.filter((r) => r.state !== "ok" || r.staleNeighbour);
    if (notOk.length > 0) out.push(formatTable(head, notOk.map(routeRow)), "");
    out.push(
      formatTable(["GATEWAY", "DEV", "STATE", "MAC", "ROUTES"], gatewayRows(records)),
      `(${records.length - notOk.length} ok routes not listed one by one; --all lists them)`,
    );
  }
  if (records.length > 0) {
    const v = routesVerdict(records, { aborted: summary?.aborted === true });
    out.push("", `${v.ok ? "ok" : v.complete ? "FAIL" : "INCOMPLETE"}: ${v.detail}`);
    if (v.fix) out.push(`fix: ${v.fix}`);
  }
  if (summary) out.push("", summaryLine(summary).replace(/target\(s\)/, "gateway route(s)"));
  return out.join("\n");
}
