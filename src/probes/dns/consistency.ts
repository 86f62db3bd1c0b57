// Do the servers agree? kubelet's --cluster-dns servers "MUST serve the same set of records": one verdict
// per name, type and transport over the records of every server.

import type { DnsConsistencyRecord, DnsRecord } from "../../records";

/** What a server said, reduced to what must be equal: status, and for answers the rcode and answer set. */
function signature(r: DnsRecord): string {
  return r.status === "ok" ? `ok\u0000${r.rcode}\u0000${r.answers.join("\u0000")}` : r.status;
}

/**
 * The verdict over one record per server (in the order the servers were given). Servers agree when all
 * answered (status ok) with the same rcode and answer set. The reference is the largest group of servers
 * that answered alike, ties going to the group of the server listed first; every other server is odd,
 * including those that did not answer. When nobody answered there is nothing to agree on: inconsistent,
 * with no odd server.
 */
export function consistencyOf(records: readonly DnsRecord[]): DnsConsistencyRecord {
  const first = records[0]!;
  const groups = new Map<string, string[]>();
  const answers: Record<string, string[]> = {};
  const rcodes: Record<string, string | null> = {};
  const statuses: Record<string, DnsRecord["status"]> = {};
  for (const r of records) {
    if (r.status === "ok") {
      const sig = signature(r);
      groups.set(sig, [...(groups.get(sig) ?? []), r.server]);
      answers[r.server] = r.answers;
    }
    rcodes[r.server] = r.rcode;
    statuses[r.server] = r.status;
  }
  // Map iteration follows insertion order, so on a tie the group met first (first server) wins.
  let reference: string[] = [];
  for (const members of groups.values()) if (members.length > reference.length) reference = members;
  const consistent = groups.size === 1 && records.every((r) => r.status === "ok");
  const odd =
    consistent || groups.size === 0 ? [] : records.map((r) => r.server).filter((s) => !reference.includes(s));
  return {
    type: "dns-consistency",
    name: first.name,
    qtype: first.qtype,
    transport: first.transport,
    consistent,
    answers,
    rcodes,
    statuses,
    odd,
  };
}
