// nmap's knowledge of TCP and UDP ports, from its nmap-services file (nmap-services-tcp.ts and -udp.ts hold the facts): the
// order --top-ports takes ports in, and the service names the nmap output formats print. Parsed once, on
// first use, into a port-indexed table.

interface ServiceTable {
  /** 1-65535 in --top-ports order: the listed ports by open-frequency, then every other port ascending */
  order: Uint16Array;
  /** service name per port, undefined where nmap-services does not list the port */
  names: Array<string | undefined>;
}

export type PortProtocol = "tcp" | "udp";

let table: ServiceTable | null = null;
let udpTable: ServiceTable | null = null;

// The two tables are 270 KB of source: each is required when first needed, so a TCP scan never compiles the
// UDP one, and a command that prints no service name compiles neither.
function load(protocol: PortProtocol = "tcp"): ServiceTable {
  if (protocol === "udp") {
    udpTable ??= parse(
      (require("./nmap-services-udp") as typeof import("./nmap-services-udp")).NMAP_SERVICES_UDP,
    );
    return udpTable;
  }
  table ??= parse(tcpText());
  return table;
}

const tcpText = (): string =>
  (require("./nmap-services-tcp") as typeof import("./nmap-services-tcp")).NMAP_SERVICES_TCP;

function parse(text: string): ServiceTable {
  const order = new Uint16Array(65535);
  const names = new Array<string | undefined>(65536);
  const listed = new Uint8Array(65536);
  let k = 0;
  for (const token of text.split(/\s+/)) {
    if (token === "") continue;
    const slash = token.indexOf("/");
    const port = Number(slash < 0 ? token : token.slice(0, slash));
    names[port] = slash < 0 ? "unknown" : token.slice(slash + 1);
    listed[port] = 1;
    order[k++] = port;
  }
  for (let p = 1; p <= 65535; p++) if (listed[p] === 0) order[k++] = p;
  return { order, names };
}

/**
 * Every port 1-65535 in the order --top-ports takes them: the ports nmap-services lists, most often found
 * open first (ties by port number, as nmap sorts), then the ports it does not list, ascending.
 */
export function topPortOrder(protocol: PortProtocol = "tcp"): Uint16Array {
  return load(protocol).order;
}

/** Names looked up before the table was needed: a scan's report names a handful of ports. */
const looked = new Map<number, string | null>();
/** Lookups answered by searching the text before the whole table is parsed instead. */
const MAX_LOOKUPS = 32;

/** nmap's name for a port ("unknown" for some it lists), or null when nmap-services does not list it. */
export function serviceName(port: number, protocol: PortProtocol = "tcp"): string | null {
  if (protocol === "udp") return load("udp").names[port] ?? null;
  if (table !== null || looked.size >= MAX_LOOKUPS) return load().names[port] ?? null;
  let name = looked.get(port);
  if (name === undefined) {
    name = findService(port);
    looked.set(port, name);
  }
  return name;
}

/** One port's name, found in the text ("PORT/NAME" or a bare "PORT" token) without parsing all of it. */
function findService(port: number): string | null {
  const text = tcpText();
  const digits = String(port);
  for (let at = text.indexOf(digits); at >= 0; at = text.indexOf(digits, at + 1)) {
    const before = at === 0 ? 32 : text.charCodeAt(at - 1);
    if (before !== 32 && before !== 10) continue;
    const next = at + digits.length;
    const after = next < text.length ? text.charCodeAt(next) : 32;
    if (after === 47) {
      let end = next + 1;
      while (end < text.length && text.charCodeAt(end) > 32) end++;
      return text.slice(next + 1, end);
    }
    if (after <= 32) return "unknown";
  }
  return null;
}

/**
 * The TCP ports whose nmap service name matches `pattern`, ascending: an exact name ("http": 80 and 8008, as
 * in nmap), or a mask with nmap's wildcards, `*` (any run) and `?` (one character). Case-sensitive, as nmap.
 */
export function portsForService(pattern: string, protocol: PortProtocol = "tcp"): number[] {
  const mask = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  const { names } = load(protocol);
  const ports: number[] = [];
  for (let p = 1; p <= 65535; p++) {
    const name = names[p];
    if (name !== undefined && mask.test(name)) ports.push(p);
  }
  return ports;
}
