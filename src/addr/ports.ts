import { UsageError } from "../errors";
import { type PortProtocol, portsForService, topPortOrder } from "./top-ports";

// Port lists as nmap spells them: "22,80,8000-8100", "-" (1-65535), "-1024" (1-1024), "60000-" (to 65535),
// service names from nmap-services ("ssh,http", "http*"), an optional "T:" protocol prefix. The result is
// ascending and without duplicates, in a Uint16Array so a full 65,535-port list costs 128 KiB and no objects.

function bad(spec: string, why: string): UsageError {
  return new UsageError(`invalid port list "${spec}": ${why}`);
}

function parsePort(text: string, spec: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw bad(spec, `"${text}" is not a port number`);
  const n = Number(text);
  if (n > 65535) throw bad(spec, `port ${n} is larger than 65535`);
  return n;
}

/**
 * Parses an nmap-style TCP port list. Port 0 is scanned only when named explicitly (as in nmap: "-" and
 * open-ended ranges start at 1). An element that starts with a letter, `*` or `?` is a service name or mask,
 * standing for every TCP port nmap-services gives that name, as nmap reads it. UDP ("U:") and SCTP ("S:")
 * sections are refused: this is a TCP scan.
 */
export function parsePorts(spec: string): Uint16Array {
  const lists = parsePortLists(spec, ["tcp"]);
  return lists.tcp;
}

/** A port list per protocol. */
export interface PortLists {
  tcp: Uint16Array;
  udp: Uint16Array;
}

/**
 * Parses an nmap-style port list for the protocols scanned: "T:" and "U:" prefixes start a section of TCP
 * or UDP ports that lasts until the next prefix, as in nmap ("T:80,443,U:53,161"); elements before any
 * prefix are for every protocol scanned. Service names are looked up per protocol. A section for a protocol
 * that is not scanned is refused (nmap ignores it with a warning), and so is a scanned protocol left
 * without ports.
 */
export function parsePortLists(spec: string, protocols: readonly PortProtocol[]): PortLists {
  const text = spec.trim();
  if (text === "") throw bad(spec, "empty");
  const seen = { tcp: new Uint8Array(65536), udp: new Uint8Array(65536) };
  const counts = { tcp: 0, udp: 0 };
  let section: readonly PortProtocol[] = protocols;
  const add = (proto: PortProtocol, p: number) => {
    if (seen[proto][p] === 0) {
      seen[proto][p] = 1;
      counts[proto]++;
    }
  };
  for (const raw of text.split(",")) {
    let part = raw.trim();
    if (part === "") throw bad(spec, "empty element");
    const prefix = /^([A-Za-z]):/.exec(part);
    if (prefix) {
      const letter = prefix[1]!.toUpperCase();
      const proto: PortProtocol | null = letter === "T" ? "tcp" : letter === "U" ? "udp" : null;
      if (proto === null || !protocols.includes(proto)) {
        const only =
          protocols.length === 1 ? `only ${protocols[0]!.toUpperCase()} ports` : "TCP and UDP ports";
        const hint = letter === "U" ? " (UDP needs -sU)" : letter === "T" ? " (TCP needs -sS or -sT)" : "";
        const prefixes = protocols.map((p) => `${p[0]!.toUpperCase()}:`).join(", ");
        throw bad(spec, `"${part}": ${only} (${prefixes}) can be scanned${hint}`);
      }
      section = [proto];
      part = part.slice(2);
      if (part === "") continue;
    }
    if (/^[A-Za-z*?]/.test(part)) {
      let found = 0;
      for (const proto of section) {
        const named = portsForService(part, proto);
        found += named.length;
        for (const p of named) add(proto, p);
      }
      if (found === 0) throw bad(spec, `unknown service name "${part}"`);
      continue;
    }
    let lo: number;
    let hi: number;
    const dash = part.indexOf("-");
    if (dash < 0) {
      lo = hi = parsePort(part, spec);
    } else {
      lo = dash === 0 ? 1 : parsePort(part.slice(0, dash), spec);
      hi = dash === part.length - 1 ? 65535 : parsePort(part.slice(dash + 1), spec);
      if (lo > hi) throw bad(spec, `range ${part} runs backwards`);
    }
    for (const proto of section) for (let p = lo; p <= hi; p++) add(proto, p);
  }
  const list = (proto: PortProtocol): Uint16Array => {
    const ports = new Uint16Array(counts[proto]);
    let k = 0;
    const s = seen[proto];
    for (let p = 0; p < 65536; p++) if (s[p] === 1) ports[k++] = p;
    return ports;
  };
  for (const proto of protocols) {
    if (counts[proto] === 0) throw bad(spec, `no ${proto.toUpperCase()} ports`);
  }
  return { tcp: list("tcp"), udp: list("udp") };
}

/**
 * The `n` most frequently open ports (nmap's --top-ports), ascending. Up to the 8,366 ports nmap-services
 * lists this is exactly nmap's set; beyond, where nmap stops, the unlisted ports follow in numeric order,
 * so `n` ports are always `n` ports and 65535 is all of them.
 */
export function topPorts(n = 1000, protocol: PortProtocol = "tcp"): Uint16Array {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError("--top-ports must be 1..65535");
  return topPortOrder(protocol).slice(0, n).sort();
}

/** Ascending ports → nmap's compact list ("1,3-4,6-7"), as in its XML scaninfo and extrareasons. */
export function formatPortList(ports: ArrayLike<number>): string {
  const out: string[] = [];
  let i = 0;
  while (i < ports.length) {
    const start = ports[i]!;
    let end = start;
    while (i + 1 < ports.length && ports[i + 1] === end + 1) end = ports[++i]!;
    out.push(start === end ? `${start}` : `${start}-${end}`);
    i++;
  }
  return out.join(",");
}
