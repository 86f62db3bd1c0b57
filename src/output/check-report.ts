import type { CheckResult } from "../check/check";
import { summariseList } from "../check/verdicts";
import type { ArpRecord, DnsRecord, VerdictRecord } from "../records";
import { formatTable } from "./table";

// The human report of `wireprobe check`: verdicts first, then a node-by-check matrix and the DNS servers'
// answers side by side, then what to fix. Meant to be read in ten seconds. An interrupted or incomplete
// check says so on its first and last lines and names what was not probed; it never says "all verdicts ok".

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
function tag(v: VerdictRecord): string {
  if (v.ok) return "ok";
  return v.complete === false ? "INCOMPLETE" : "FAIL";
}

export function formatCheckReport(input: CheckResult): string {
  const out: string[] = [];
  const downNodes = new Map(input.hosts.map((h) => [h.target, h.reason]));
  const width = Math.max(...input.verdicts.map((v) => v.check.length));
  const incomplete = input.verdicts.filter((v) => v.complete === false);
  const tagWidth = Math.max(4, ...input.verdicts.map((v) => tag(v).length));
  if (incomplete.length > 0) {
    out.push(
      `check ${input.aborted ? "INTERRUPTED" : "INCOMPLETE"}: results incomplete, verdicts not final`,
      "",
    );
  } else if (input.aborted) {
    out.push("check INTERRUPTED after every probe had finished: the verdicts are final", "");
  }
  out.push("VERDICTS");
  for (const v of input.verdicts)
    out.push(`  ${tag(v).padEnd(tagWidth)}  ${v.check.padEnd(width)}  ${v.detail}`);
  const unprobed = input.verdicts.filter((v) => (v.notProbed ?? []).length > 0);
  if (unprobed.length > 0) {
    out.push("", "NOT PROBED");
    for (const v of unprobed)
      out.push(`  ${v.check.padEnd(width)}  ${v.notProbed.length}: ${summariseList(v.notProbed)}`);
  }

  if (input.nodes.length > 0) {
    const header = ["NODE", "ARP (layer 2)", ...input.nodePorts.map((p) => `${p}/tcp`)];
    const rows = input.nodes.map((n) => [
      n,
      arpCell(input.arp.find((r) => r.target === n)),
      ...input.nodePorts.map((p) => {
        if (downNodes.has(n)) return `down (${downNodes.get(n)})`;
        const r = input.ports.find((x) => x.target === n && x.port === p);
        return r ? `${r.state} (${r.reason})` : NOT_PROBED;
      }),
    ]);
    out.push("", formatTable(header, rows));
  }

  const servers = [...new Set([...(input.dnsServers ?? []), ...input.dns.map((r) => r.server)])];
  const names = [...new Set([...(input.dnsNames ?? []), ...input.dns.map((r) => r.name)])];
  if (servers.length > 0) {
    const rows = servers.map((s) => [
      s,
      ...names.map((n) => dnsCell(input.dns.find((r) => r.server === s && r.name === n))),
    ]);
    out.push("", formatTable(["DNS SERVER", ...names], rows));
  }
  if (input.pings.length > 0) {
    const rows = input.pings.map((p) => [
      p.target,
      p.state === "reply" && p.rttMs
        ? `reply (${p.rttMs.avg.toFixed(3)} ms)`
        : `${p.state}${p.reason ? ` (${p.reason})` : ""}`,
    ]);
    out.push("", formatTable(["EXTERNAL", "PING"], rows));
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
