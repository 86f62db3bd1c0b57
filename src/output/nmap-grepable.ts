import { serviceName } from "../addr/top-ports";
import { outcomeState } from "../port-outcomes";
import { ctime, doneSentence, type ScanReportMeta, shardNote } from "./nmap-meta";
import { ignoredStates, PatternCache, type ScanStore, type StoredHost, stateCounts } from "./scan-store";

// nmap's grepable output (-oG): one "Status" line and one "Ports" line per host, tab-separated fields, each
// port as port/state/protocol/owner/service/rpc/version/, so `grep Ports | grep open` and the awk and cut
// one-liners written for nmap's work unchanged. Down hosts get "Status: Down" (nmap prints that with -v),
// except with --open, where nmap lists only hosts with an open port (down hosts still count in the last line).

/** Characters that would break the field structure of a line are replaced, as nmap does. */
function field(text: string): string {
  return text.replace(/[\t\n/,]/g, "_");
}

export function* nmapGrepable(store: ScanStore, meta: ScanReportMeta): IterableIterator<string> {
  yield `# wireprobe ${meta.version} scan initiated ${ctime(meta.start)} as: ${meta.args.replace(/\n/g, " ")}\n`;
  const note = shardNote(meta);
  if (note !== "") yield `# ${note}\n`;
  let up = 0;
  let down = 0;
  const portsField = new PatternCache((host) => portsOf(host, store, meta));
  for (const host of store.hosts()) {
    const who = `Host: ${host.address} (${host.hostname === undefined ? "" : field(host.hostname)})`;
    if (host.down !== null) {
      down++;
      if (!meta.openOnly) yield `${who}\tStatus: Down\n`;
      continue;
    }
    up++;
    const ports = portsField.get(host);
    if (ports === "") continue;
    yield `${who}\tStatus: Up\n${who}\tPorts: ${ports}\n`;
  }
  const summary = meta.summary;
  const complete = summary !== undefined && summary.aborted !== true;
  const seconds = (meta.end.getTime() - meta.start.getTime()) / 1000;
  yield `# wireprobe ${complete ? "done" : "interrupted"} at ${ctime(meta.end)} -- ${doneSentence(up + down, up, seconds)}\n`;
}

/** What follows "Ports: " for a host that is up; "" when --open leaves the host out. */
function portsOf(host: StoredHost, store: ScanStore, meta: ScanReportMeta): string {
  const ports = store.allPorts;
  const counts = stateCounts(host, ports.length);
  if (meta.openOnly && counts.open === 0) return "";
  const ignored = ignoredStates(host, ports, meta.openOnly, store.tcpCount);
  const listed: string[] = [];
  for (let pi = 0; pi < ports.length; pi++) {
    const code = host.outcome(pi);
    if (code === 0) continue;
    const state = outcomeState(code);
    if (ignored.some((ig) => ig.state === state)) continue;
    const port = ports[pi]!;
    const protocol = store.protocolOf(pi);
    listed.push(`${port}/${state}/${protocol}//${serviceName(port, protocol) ?? "unknown"}///`);
  }
  const first = ignored[0];
  const rest = first === undefined ? "" : `\tIgnored State: ${first.state} (${first.count})`;
  return `${listed.join(", ")}${rest}`;
}
