import { formatPortList } from "../addr/ports";
import { serviceName } from "../addr/top-ports";
import { outcomeReason, outcomeState } from "../port-outcomes";
import { ctime, doneSentence, nmapDownReason, type ScanReportMeta, shardNote } from "./nmap-meta";
import { ignoredStates, type ScanStore, stateCounts } from "./scan-store";
import { escapeXml as xmlEscape } from "./xml";

// nmap's XML output (-oX), element for element as nmap 7.9x writes it (nmaprun, scaninfo, host with status,
// address, hostnames, ports with extraports and port/state/service, runstats), so tools that read nmap XML
// read ours. Down hosts are listed as nmap does with -v, but not with --open, where nmap lists only hosts
// with an open port (runstats still count every host). An interrupted scan still gets a complete document
// whose runstats say exit="error".

/** The whole document, written in pieces (one per host) so a large scan is never one giant string. */
export function* nmapXml(store: ScanStore, meta: ScanReportMeta): IterableIterator<string> {
  const start = Math.floor(meta.start.getTime() / 1000);
  const end = Math.floor(meta.end.getTime() / 1000);
  const args = xmlEscape(meta.args);
  yield '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n';
  yield `<!-- wireprobe ${meta.version} scan initiated ${ctime(meta.start)} as: ${args} -->\n`;
  // a comment, not an attribute: nmap's DTD has no place for it, and readers of nmap XML skip comments
  const note = shardNote(meta);
  if (note !== "") yield `<!-- ${xmlEscape(note)} -->\n`;
  yield `<nmaprun scanner="wireprobe" args="${args}" start="${start}" startstr="${ctime(meta.start)}" version="${xmlEscape(meta.version)}" xmloutputversion="1.05">\n`;
  const udpPorts = meta.udpPorts ?? new Uint16Array(0);
  if (meta.ports.length > 0 || udpPorts.length === 0)
    yield `<scaninfo type="${meta.method}" protocol="tcp" numservices="${meta.ports.length}" services="${formatPortList(meta.ports)}"/>\n`;
  if (udpPorts.length > 0)
    yield `<scaninfo type="udp" protocol="udp" numservices="${udpPorts.length}" services="${formatPortList(udpPorts)}"/>\n`;
  const ports = store.allPorts;
  yield '<verbose level="0"/>\n<debugging level="0"/>\n';
  let up = 0;
  let down = 0;
  for (const host of store.hosts()) {
    const names =
      host.hostname === undefined
        ? "<hostnames>\n</hostnames>\n"
        : `<hostnames>\n<hostname name="${xmlEscape(host.hostname)}" type="user"/>\n</hostnames>\n`;
    const address = `<address addr="${host.address}" addrtype="${host.address.includes(":") ? "ipv6" : "ipv4"}"/>\n`;
    if (host.down !== null) {
      down++;
      if (meta.openOnly) continue;
      yield `<host><status state="down" reason="${nmapDownReason(host.down)}" reason_ttl="0"/>\n${address}${names}</host>\n`;
      continue;
    }
    const counts = stateCounts(host, ports.length);
    if (meta.openOnly && counts.open === 0) {
      up++;
      continue;
    }
    up++;
    const parts: string[] = [
      `<host starttime="${start}" endtime="${end}"><status state="up" reason="user-set" reason_ttl="0"/>\n`,
      address,
      names,
      "<ports>",
    ];
    const ignored = ignoredStates(host, ports, meta.openOnly, store.tcpCount);
    for (const ig of ignored) {
      parts.push(`<extraports state="${ig.state}" count="${ig.count}">\n`);
      for (const [proto, reasons] of [
        ["tcp", ig.reasons],
        ["udp", ig.udpReasons],
      ] as const) {
        for (const [reason, list] of reasons) {
          parts.push(
            `<extrareasons reason="${reason}" count="${list.length}" proto="${proto}" ports="${formatPortList(list)}"/>\n`,
          );
        }
      }
      parts.push("</extraports>\n");
    }
    for (let pi = 0; pi < ports.length; pi++) {
      const code = host.outcome(pi);
      if (code === 0) continue;
      const state = outcomeState(code);
      if (ignored.some((ig) => ig.state === state)) continue;
      const port = ports[pi]!;
      const protocol = store.protocolOf(pi);
      const ttl = outcomeReason(code) === "no-response" ? 0 : host.ttl;
      parts.push(
        `<port protocol="${protocol}" portid="${port}"><state state="${state}" reason="${outcomeReason(code)}" reason_ttl="${ttl}"/><service name="${serviceName(port, protocol) ?? "unknown"}" method="table" conf="3"/></port>\n`,
      );
    }
    parts.push("</ports>\n</host>\n");
    yield parts.join("");
  }
  const summary = meta.summary;
  const complete = summary !== undefined && summary.aborted !== true;
  const elapsed = ((meta.end.getTime() - meta.start.getTime()) / 1000).toFixed(2);
  const total = up + down;
  const sentence = `wireprobe ${complete ? "done" : "interrupted"} at ${ctime(meta.end)}; ${doneSentence(total, up, Number(elapsed))}`;
  yield `<runstats><finished time="${end}" timestr="${ctime(meta.end)}" summary="${xmlEscape(sentence)}" elapsed="${elapsed}" exit="${complete ? "success" : "error"}"${complete ? "" : ' errormsg="interrupted"'}/><hosts up="${up}" down="${down}" total="${total}"/>\n</runstats>\n</nmaprun>\n`;
}
