import { intToIpv4 } from "../addr/address";
import { formatIpv6 } from "../addr/ipv6";
import { TargetSet } from "../addr/target-set";
import { UsageError } from "../errors";

// The cluster's nodes as `wireprobe check` sees them: a node has an address of one family or of both (a
// dual-stack node), and maybe a name. Kubernetes lists a node the same way (`kubectl get nodes -o json`: its
// name and an InternalIP per family), so a node list from the API maps onto this one to one.
//
// In text (--nodes, -iL, the library's strings) a node is an address, prefix or range (each address its own
// node, as before), or `NAME=ADDR`: entries with the same NAME are one node, so
// `node1=198.51.100.11,node1=2001:db8::11` is one dual-stack node. The CLI also reads
// `node1=198.51.100.11,2001:db8::11` (bare addresses after NAME= up to the next NAME= in one --nodes value or one
// line of a -iL file belong to that node): see groupNodeWords.

/**
 * An address family as the check names it: a nodePort's `family`, a verdict's per-family result.
 *
 * @example
 * ```ts
 * import { type Family, parseNodePort } from "wireprobe";
 *
 * const family: Family | null = parseNodePort("30000/tcp/ipv6").family; // "ipv6"
 * ```
 */
export type Family = "ipv4" | "ipv6";

export const FAMILIES: readonly Family[] = ["ipv4", "ipv6"];

/** "IPv4" or "IPv6", for prose. */
export const familyName = (f: Family): string => (f === "ipv4" ? "IPv4" : "IPv6");

/** The family of an address in text form (an IPv6 address has a colon, an IPv4 one never). */
export const familyOf = (address: string): Family => (address.includes(":") ? "ipv6" : "ipv4");

/**
 * One node of the cluster, with an address of one family or of both (a dual-stack node).
 *
 * @example
 * ```ts
 * import { type ClusterNode, parseNodes } from "wireprobe";
 *
 * const [node1]: ClusterNode[] = parseNodes(["node1=198.51.100.11", "node1=2001:db8::11"]);
 * console.log(node1); // { name: "node1", ipv4: "198.51.100.11", ipv6: "2001:db8::11" }
 * ```
 */
export interface ClusterNode {
  /** the name it was given (NAME=ADDR, or the library's `name`), null when it is known by its address */
  name: string | null;
  /** its IPv4 address, null when it has none */
  ipv4: string | null;
  /** its IPv6 address in RFC 5952 form, null when it has none */
  ipv6: string | null;
}

/**
 * A node as the library also takes it: a name and its addresses, as an API lists them (InternalIP per family).
 *
 * @example
 * ```ts
 * import { type NodeInput, check } from "wireprobe";
 *
 * // e.g. from `kubectl get nodes -o json`: each node's name and InternalIP addresses
 * const nodes: NodeInput[] = [
 *   { name: "node1", addresses: ["198.51.100.11", "2001:db8::11"] },
 *   { name: "node2", addresses: ["198.51.100.12", "2001:db8::12"] },
 * ];
 * for await (const r of check({ nodes, nodePorts: [30000], netns: "node1" })) console.log(r);
 * ```
 */
export interface NodeInput {
  /** the node's name (default: none, the node is known by its address) */
  name?: string;
  /** one address per family at most */
  addresses: readonly string[];
}

export const MAX_NODES = 4096;

// Kubernetes node names are DNS subdomain names; upper case is let through (a hand-typed list), '=' and ','
// and ':' never are (they would be read as the separator or an IPv6 address).
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$/;

/** The addresses of a node, one per family present. */
export function nodeAddresses(n: ClusterNode): string[] {
  return [n.ipv4, n.ipv6].filter((a): a is string => a !== null);
}

/** How a node is written in prose: "node4 (203.0.113.14)", or the address of an unnamed node. */
export function nodeLabel(n: ClusterNode | undefined, address: string): string {
  return n?.name ? `${n.name} (${address})` : address;
}

/** One address, in canonical form; a prefix or range is refused (a named node has single addresses). */
function singleAddress(text: string, node: string): string {
  const set = TargetSet.parse([text], { ipv6Cap: MAX_NODES, capHint: "a named node takes single addresses" });
  if (set.size !== 1) {
    throw new UsageError(
      `invalid node "${node}=${text}": a named node takes single addresses, not a prefix or range`,
    );
  }
  if (set.size4 === 1) return intToIpv4(set.at(0));
  const bytes = new Uint8Array(16);
  set.ipv6Into(0, bytes);
  return formatIpv6(bytes);
}

/**
 * Groups the words of one --nodes value or one -iL line: a bare address after `NAME=ADDR` belongs to that
 * node, written `NAME=ADDR` so that parseNodes sees the grouping. Words before the first NAME= stay as they are.
 */
export function groupNodeWords(words: readonly string[]): string[] {
  let current: string | null = null;
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq >= 0) {
      current = w.slice(0, eq);
      return w;
    }
    return current === null ? w : `${current}=${w}`;
  });
}

/**
 * The node specs of a node list file (-iL): words separated by whitespace, '#' starting a comment, each line
 * grouped as groupNodeWords groups a --nodes value, so that a line `node1=198.51.100.11 2001:db8::11` (what
 * `kubectl get nodes -o jsonpath` prints with a name and the InternalIPs) is one dual-stack node.
 */
export function nodeListSpecs(text: string): string[] {
  return text.split(/\r?\n/).flatMap((line) => {
    const hash = line.indexOf("#");
    const words = (hash >= 0 ? line.slice(0, hash) : line).split(/\s+/).filter((w) => w !== "");
    return groupNodeWords(words);
  });
}

/**
 * The nodes of these specs: an address, prefix or range (each address its own node), `NAME=ADDR` (the same
 * NAME again adds the node's other family), or a NodeInput. An address named and also given bare belongs to
 * the named node. UsageError for a bad address, two addresses of one family on one node, an address on two
 * named nodes, or more than MAX_NODES nodes.
 *
 * @example
 * ```ts
 * import { parseNodes } from "wireprobe";
 *
 * const nodes = parseNodes(["node1=198.51.100.11", "node1=2001:db8::11", "198.51.100.12-13", { name: "node4", addresses: ["198.51.100.14"] }]);
 * console.log(nodes.length); // 4: node1 (dual-stack), 198.51.100.12, 198.51.100.13, node4
 * ```
 */
export function parseNodes(specs: readonly (string | NodeInput)[]): ClusterNode[] {
  const named = new Map<string, ClusterNode>();
  const owner = new Map<string, string>();
  const add = (name: string, text: string) => {
    if (!NAME.test(name)) {
      throw new UsageError(
        `invalid node name "${name}": letters, digits, '.', '_' and '-' (a Kubernetes node name)`,
      );
    }
    const address = singleAddress(text.trim(), name);
    const family = familyOf(address);
    const node = named.get(name) ?? { name, ipv4: null, ipv6: null };
    named.set(name, node);
    const had = node[family];
    if (had === address) return;
    if (had !== null) {
      throw new UsageError(
        `node ${name} has two ${familyName(family)} addresses (${had} and ${address}): a node has at most one of each family (the addresses after ${name}= up to the next NAME= are ${name}'s)`,
      );
    }
    const other = owner.get(address);
    if (other !== undefined && other !== name)
      throw new UsageError(`${address} is given for two nodes, ${other} and ${name}`);
    owner.set(address, name);
    node[family] = address;
  };
  // The specs in order: a named node where its name first appears, bare addresses one node each.
  type Item = { name: string } | { bare: string };
  const items: Item[] = [];
  for (const spec of specs) {
    if (typeof spec !== "string") {
      if (spec.name === undefined) for (const a of spec.addresses) items.push({ bare: a });
      else {
        for (const a of spec.addresses) add(spec.name, a);
        items.push({ name: spec.name });
      }
      continue;
    }
    const eq = spec.indexOf("=");
    if (eq < 0) items.push({ bare: spec });
    else {
      const name = spec.slice(0, eq).trim();
      add(name, spec.slice(eq + 1));
      items.push({ name });
    }
  }
  const nodes: ClusterNode[] = [];
  const seen = new Set<string>();
  const bytes = new Uint8Array(16);
  const tooMany = (n: number) => new UsageError(`too many nodes (${n}); check takes at most ${MAX_NODES}`);
  for (const item of items) {
    if ("name" in item) {
      if (seen.has(`=${item.name}`)) continue;
      seen.add(`=${item.name}`);
      nodes.push(named.get(item.name)!);
      continue;
    }
    const set = TargetSet.parse([item.bare], {
      ipv6Cap: MAX_NODES,
      capHint: `check takes at most ${MAX_NODES} nodes`,
    });
    if (set.size + nodes.length > MAX_NODES) throw tooMany(set.size + nodes.length);
    for (let i = 0; i < set.size; i++) {
      let address: string;
      if (i < set.size4) address = intToIpv4(set.at(i));
      else {
        set.ipv6Into(i, bytes);
        address = formatIpv6(bytes);
      }
      if (owner.has(address) || seen.has(address)) continue;
      seen.add(address);
      const v6 = familyOf(address) === "ipv6";
      nodes.push({ name: null, ipv4: v6 ? null : address, ipv6: v6 ? address : null });
    }
  }
  if (nodes.length > MAX_NODES) throw tooMany(nodes.length);
  return nodes;
}

/**
 * A nodePort to check: a port, its protocol, and the families it must answer on (default both).
 *
 * @example
 * ```ts
 * import { type NodePortSpec, check } from "wireprobe";
 *
 * const dnsNodePort: NodePortSpec = { port: 30053, protocol: "udp", family: "ipv4" };
 * const run = check({ nodes: ["198.51.100.11-14"], nodePorts: [30000, dnsNodePort], netns: "node1" });
 * ```
 */
export interface NodePortSpec {
  /** the port number */
  port: number;
  /** default tcp */
  protocol?: "tcp" | "udp";
  /**
   * only on the nodes' addresses of this family: a SingleStack Service's nodePort answers only on its family
   * (default, or null: every address of every node)
   */
  family?: Family | null;
}

/**
 * A nodePort with its defaults filled in; `family` null: every family.
 *
 * @example
 * ```ts
 * import { type NodePort, parseNodePort } from "wireprobe";
 *
 * const p: NodePort = parseNodePort("30053/UDP");
 * console.log(p); // { port: 30053, protocol: "udp", family: null }
 * ```
 */
export interface NodePort {
  /** the port number */
  port: number;
  /** tcp or udp */
  protocol: "tcp" | "udp";
  /** the only family it must answer on, or null: every family */
  family: Family | null;
}

/**
 * A nodePort from its text: "30000", "30053/udp", "30000/tcp/ipv6", "30000/ipv4" (case-insensitive, as kubectl
 * prints 30000/TCP). UsageError for anything else.
 *
 * @example
 * ```ts
 * import { parseNodePort } from "wireprobe";
 *
 * parseNodePort("30000"); // { port: 30000, protocol: "tcp", family: null }
 * parseNodePort("30053/udp/ipv6"); // { port: 30053, protocol: "udp", family: "ipv6" }
 * ```
 */
export function parseNodePort(text: string): NodePort {
  const m = /^([0-9]{1,5})(?:\/(tcp|udp))?(?:\/(ipv4|ipv6))?$/i.exec(text.trim());
  const port = m ? Number(m[1]) : Number.NaN;
  if (!m || port < 1 || port > 65535) {
    throw new UsageError(
      `invalid port "${text}": a nodePort is PORT[/tcp|/udp][/ipv4|/ipv6], PORT from 1 to 65535 (e.g. 30000, 30053/udp, 30000/tcp/ipv6)`,
    );
  }
  return {
    port,
    protocol: (m[2]?.toLowerCase() ?? "tcp") as "tcp" | "udp",
    family: (m[3]?.toLowerCase() ?? null) as Family | null,
  };
}

/**
 * The nodePorts of these specs, one per port and protocol, in the order given: the same port and protocol
 * twice is one nodePort, on every family if either said so.
 */
export function normalizeNodePorts(specs: readonly (number | string | NodePortSpec)[]): NodePort[] {
  const out = new Map<string, NodePort>();
  for (const s of specs) {
    let p: NodePort;
    if (typeof s === "string") p = parseNodePort(s);
    else if (typeof s === "number") p = { port: s, protocol: "tcp", family: null };
    else p = { port: s.port, protocol: s.protocol ?? "tcp", family: s.family ?? null };
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)
      throw new UsageError(`invalid nodePort ${p.port}`);
    if (p.protocol !== "tcp" && p.protocol !== "udp")
      throw new UsageError(`invalid nodePort protocol "${p.protocol}": tcp or udp`);
    if (p.family !== null && p.family !== "ipv4" && p.family !== "ipv6")
      throw new UsageError(`invalid nodePort family "${p.family}": ipv4 or ipv6`);
    const key = `${p.port}/${p.protocol}`;
    const had = out.get(key);
    if (had === undefined) out.set(key, p);
    else if (had.family !== p.family) had.family = null;
  }
  return [...out.values()];
}

/**
 * A node address × nodePort pair that no probe can check, and why (said in the verdict, never a failure).
 *
 * @example
 * ```ts
 * import { check } from "wireprobe";
 *
 * const run = check({ nodes: ["2001:db8::11", "2001:db8::12"], nodePorts: ["30053/udp"], netns: "node1" });
 * for await (const _ of run) {
 *   // records
 * }
 * for (const n of run.result?.notScanned ?? []) console.log(`${n.target}:${n.port}/${n.protocol}: ${n.reason}`);
 * ```
 */
export interface NotScanned {
  /** the node address */
  target: string;
  /** the nodePort */
  port: number;
  /** its protocol */
  protocol: "tcp" | "udp";
  /** why no probe can check it */
  reason: string;
}

/** How a nodePort is written: "30000" (TCP), "30053/udp", and the family when it has one ("30000/ipv6"). */
export function nodePortLabel(p: NodePort): string {
  return `${p.port}${p.protocol === "udp" ? "/udp" : ""}${p.family ? `/${p.family}` : ""}`;
}

/** The evidence subject of a node address and port: "198.51.100.11:30000", "[2001:db8::11]:30053/udp". */
export function endpointLabel(address: string, p: { port: number; protocol: "tcp" | "udp" }): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return `${host}:${p.port}${p.protocol === "udp" ? "/udp" : ""}`;
}
