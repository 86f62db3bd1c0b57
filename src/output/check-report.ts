import type { CheckResult } from "../check/check";
import type { ArpRecord, DnsRecord } from "../records";
import { formatTable } from "./table";

// The human report of `wireprobe check`: verdicts first, then a node-by-check matrix and the DNS servers'
// answers side by side, then what to fix. Meant to be read in ten seconds.

function arpCell(r: ArpRecord | undefined): string {
  if (!r) return "-";
  if (r.state === "reply") return r.conflict ? `CONFLICT ${r.macs.join(",")}` : `reply ${r.mac}`;
  if (r.state === "not-on-link")
    return r.gateway ? `not-on-link (via ${r.gateway})` : "not-on-link (no route)";
  return r.state;
}

function dnsCell(r: DnsRecord | undefined): string {
  if (!r) return "-";
  if (r.status !== "ok") return `${r.status}${r.reason ? ` (${r.reason})` : ""}`;
  return r.rcode === "NOERROR" ? r.answers.join(" ") || "NOERROR (empty)" : (r.rcode ?? "?");
}

export function formatCheckReport(input: CheckResult): string {
  const out: string[] = [];
  const downNodes = new Map(input.hosts.map((h) => [h.target, h.reason]));
  const width = Math.max(...input.verdicts.map((v) => v.check.length));
  out.push("VERDICTS");
  for (const v of input.verdicts)
    out.push(`  ${v.ok ? "ok  " : "FAIL"}  ${v.check.padEnd(width)}  ${v.detail}`);

  if (input.nodes.length > 0) {
    const header = ["NODE", "ARP (layer 2)", ...input.nodePorts.map((p) => `${p}/tcp`)];
    const rows = input.nodes.map((n) => [
      n,
      arpCell(input.arp.find((r) => r.target === n)),
      ...input.nodePorts.map((p) => {
        if (downNodes.has(n)) return `down (${downNodes.get(n)})`;
        const r = input.ports.find((x) => x.target === n && x.port === p);
        return r ? `${r.state} (${r.reason})` : "-";
      }),
    ]);
    out.push("", formatTable(header, rows));
  }

  const servers = [...new Set(input.dns.map((r) => r.server))];
  const names = [...new Set(input.dns.map((r) => r.name))];
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
  const failed = input.verdicts.filter((v) => !v.ok).length;
  out.push(
    "",
    failed === 0 ? "check: all verdicts ok" : `check: ${failed} of ${input.verdicts.length} verdicts failed`,
  );
  return out.join("\n");
}
