import { formatIp, parseIp } from "../addr/ip";
import { isIpv4Mapped } from "../addr/ipv6";
import { UsageError } from "../errors";
import { type Family, familyOf, MAX_NODES, type NodeInput, type NodePortSpec } from "./nodes";

// kubectl's JSON as check's input: `kubectl get nodes -o json` gives the nodes (name and InternalIP per
// family), `kubectl get svc -A -o json` the nodePorts (with protocol and, for a single-family Service, family)
// and the cluster DNS Service's ClusterIPs. Pure functions over parsed JSON: the CLI reads the files, the
// library takes text or the objects a Kubernetes client returns (same field names).
//
// Accepted shapes: kubectl's `{"kind": "List", "items": [...]}` (each item with its own kind), the API's
// NodeList / ServiceList (items without kind), and a single Node / Service (`kubectl get node NAME -o json`).
// Anything else is refused with one line naming the input and what is wrong: an input that is not what the user
// thinks it is must not become a check of nothing.

/**
 * How the kubectl readers report: the input's name in error messages, and the notices (what was skipped).
 *
 * @example
 * ```ts
 * import { type KubectlReadOptions, nodesFromKubectl } from "wireprobe";
 *
 * const options: KubectlReadOptions = { source: "nodes.json", onNotice: (m) => console.error(m) };
 * const nodes = nodesFromKubectl('{"apiVersion": "v1", "kind": "List", "items": []}', options);
 * ```
 */
export interface KubectlReadOptions {
  /** names the input in error messages and notices (default "the kubectl JSON") */
  source?: string;
  /** called with a one-line notice: nodes without an InternalIP, SCTP ports, no kube-dns Service, ... */
  onNotice?: (message: string) => void;
}

/**
 * What `kubectl get svc -A -o json` gives a check: its nodePorts and the cluster DNS servers.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { type KubeServices, check, servicesFromKubectl } from "wireprobe";
 *
 * // kubectl get svc -A -o json > services.json
 * const services: KubeServices = servicesFromKubectl(readFileSync("services.json", "utf8"), { source: "services.json" });
 * const run = check({ nodes: ["198.51.100.11-14"], nodePorts: services.nodePorts, dnsServers: services.dnsServers });
 * ```
 */
export interface KubeServices {
  /** every nodePort of a NodePort or LoadBalancer Service, TCP or UDP, with its family when single-family */
  nodePorts: NodePortSpec[];
  /** the cluster DNS Service's ClusterIPs (both families when dual-stack); empty when none was found */
  dnsServers: string[];
  /** which Service the DNS servers came from ("kube-system/kube-dns"), null when none */
  dnsService: string | null;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A few names of a long list, for a notice: "a, b, c and 7 more". */
function someNames(names: readonly string[], shown = 5): string {
  if (names.length <= shown) return names.join(", ");
  return `${names.slice(0, shown).join(", ")} and ${names.length - shown} more`;
}

/** The input's text parsed, or its object as it is; UsageError naming the source when it is not JSON. */
function parseInput(input: unknown, source: string): unknown {
  if (typeof input !== "string") return input;
  try {
    return JSON.parse(input) as unknown;
  } catch (err) {
    const yaml = /^\s*(apiVersion|kind|items):/m.test(input) ? " (YAML? use kubectl ... -o json)" : "";
    const why = (err as Error).message.split("\n")[0];
    throw new UsageError(`${source}: not JSON${yaml}: ${why}`);
  }
}

/**
 * The objects of kind `kind` in a kubectl List, the API's `<kind>List`, or the single object. Items of a List
 * must be of `kind` (an API list's items carry no kind: taken as they are).
 */
function itemsOf(doc: unknown, kind: "Node" | "Service", command: string, source: string): Json[] {
  const wrong = (what: string) =>
    new UsageError(`${source}: ${what}, not a ${kind} list (the output of ${command})`);
  if (!isObject(doc)) throw wrong(Array.isArray(doc) ? "a JSON array" : `a JSON ${typeof doc}`);
  const docKind = doc.kind;
  if (docKind === kind) return [doc];
  if (docKind !== "List" && docKind !== `${kind}List`) {
    throw wrong(typeof docKind === "string" ? `kind ${docKind}` : "no kind");
  }
  if (!Array.isArray(doc.items)) throw new UsageError(`${source}: a ${docKind} without an items array`);
  return doc.items.map((item, i) => {
    if (!isObject(item)) throw new UsageError(`${source}: item ${i + 1} is not an object`);
    if (item.kind !== undefined && item.kind !== kind) {
      throw new UsageError(
        `${source}: item ${i + 1} is a ${String(item.kind)}, not a ${kind} (the output of ${command})`,
      );
    }
    return item;
  });
}

/** metadata.name (and namespace) of an item, for messages: "item 3" when it has none. */
function itemName(item: Json, index: number, withNamespace: boolean): string {
  const meta = isObject(item.metadata) ? item.metadata : {};
  const name = typeof meta.name === "string" && meta.name !== "" ? meta.name : null;
  if (name === null) return `item ${index + 1}`;
  return withNamespace && typeof meta.namespace === "string" ? `${meta.namespace}/${name}` : name;
}

/** One address in canonical text; UsageError naming where it was found when it is no single address. */
function address(value: unknown, where: string, source: string): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const ip = typeof value === "string" && !value.includes("%") ? parseIp(value) : null;
  if (ip === null) throw new UsageError(`${source}: ${where} "${text}" is not an IPv4 or IPv6 address`);
  if (ip.family === 6 && isIpv4Mapped(ip.bytes)) {
    throw new UsageError(`${source}: ${where} "${text}" is an IPv4-mapped IPv6 address`);
  }
  return formatIp(ip);
}

/**
 * The nodes of `kubectl get nodes -o json` (a List of Node, the API's NodeList, or one Node): each node's
 * name and its InternalIP addresses, one per family (a dual-stack node has two). A node without an InternalIP
 * is skipped (a notice says which); a node with two InternalIPs of one family keeps the first, as Kubernetes
 * takes a node's first address of each family as its node IP (a notice says so). UsageError (naming `source`)
 * for input that is not JSON, not a node list, a node without a name or with an InternalIP that is not an
 * address, an address on two nodes, or more than 4096 nodes (check's cap).
 *
 * @param json the text kubectl printed, or the object parsed from it (or a client library's NodeList)
 *
 * @example
 * ```ts
 * import { execFileSync } from "node:child_process";
 * import { check, nodesFromKubectl } from "wireprobe";
 *
 * const nodes = nodesFromKubectl(execFileSync("kubectl", ["get", "nodes", "-o", "json"], { encoding: "utf8" }), {
 *   onNotice: (m) => console.error(m),
 * });
 * // e.g. [{ name: "node1", addresses: ["198.51.100.11", "2001:db8::11"] }, ...]
 * for await (const r of check({ nodes, netns: "node1" })) if (r.type === "verdict") console.log(r.check, r.ok);
 * ```
 */
export function nodesFromKubectl(json: unknown, options: KubectlReadOptions = {}): NodeInput[] {
  const source = options.source ?? "the kubectl JSON";
  const items = itemsOf(parseInput(json, source), "Node", "kubectl get nodes -o json", source);
  const nodes: NodeInput[] = [];
  const without: string[] = [];
  const extra: string[] = [];
  const owner = new Map<string, string>();
  const names = new Set<string>();
  for (const [i, item] of items.entries()) {
    const meta = isObject(item.metadata) ? item.metadata : {};
    if (typeof meta.name !== "string" || meta.name === "")
      throw new UsageError(`${source}: node ${i + 1} has no metadata.name`);
    const name = meta.name;
    if (names.has(name)) throw new UsageError(`${source}: node ${name} is listed twice`);
    names.add(name);
    const status = item.status;
    const list = isObject(status) ? status.addresses : undefined;
    if (list !== undefined && !Array.isArray(list))
      throw new UsageError(`${source}: node ${name}: status.addresses is not a list`);
    const byFamily = new Map<Family, string>();
    for (const entry of list ?? []) {
      if (!isObject(entry) || typeof entry.type !== "string")
        throw new UsageError(`${source}: node ${name}: a status.addresses entry without a type`);
      if (entry.type !== "InternalIP") continue;
      const a = address(entry.address, `node ${name}: InternalIP`, source);
      const family = familyOf(a);
      const had = byFamily.get(family);
      if (had === undefined) byFamily.set(family, a);
      else if (had !== a) extra.push(`${name} (${a})`);
    }
    if (byFamily.size === 0) {
      without.push(name);
      continue;
    }
    const addresses = [byFamily.get("ipv4"), byFamily.get("ipv6")].filter((a): a is string => !!a);
    for (const a of addresses) {
      const other = owner.get(a);
      if (other !== undefined)
        throw new UsageError(`${source}: ${a} is the InternalIP of ${other} and ${name}`);
      owner.set(a, name);
    }
    nodes.push({ name, addresses });
  }
  if (nodes.length > MAX_NODES) {
    throw new UsageError(
      `${source}: ${nodes.length} nodes with an InternalIP; check takes at most ${MAX_NODES} (select fewer: kubectl get nodes -l LABEL)`,
    );
  }
  if (without.length > 0) {
    options.onNotice?.(
      `${source}: ${without.length} node${without.length === 1 ? "" : "s"} without an InternalIP skipped: ${someNames(without)}`,
    );
  }
  if (extra.length > 0) {
    options.onNotice?.(
      `${source}: a node has at most one address per family here; the first InternalIP of each family is taken, not ${someNames(extra)}`,
    );
  }
  return nodes;
}

// The cluster DNS Service as kubeadm, kops, k3s and the CoreDNS addon name it: kube-system/kube-dns, else a
// Service of kube-system labelled k8s-app=kube-dns (RKE2's rke2-coredns-rke2-coredns). The name wins over the
// label because NodeLocal DNSCache adds kube-system/kube-dns-upstream with the same label: another VIP of the
// same pods, not what kubelet's --cluster-dns names.
const DNS_NAMESPACE = "kube-system";
const DNS_NAME = "kube-dns";

const PROTOCOLS: Record<string, "tcp" | "udp" | null> = { TCP: "tcp", UDP: "udp", SCTP: null };

/**
 * The nodePorts and cluster DNS servers of `kubectl get svc -A -o json` (a List of Service, the API's
 * ServiceList, or one Service).
 *
 * nodePorts: every port with a `nodePort` of a Service of type NodePort or LoadBalancer (ClusterIP,
 * ExternalName and headless Services have none), with its protocol (TCP or UDP; SCTP is skipped with a
 * notice: no probe speaks it); a Service of one family (`spec.ipFamilies` with one entry: SingleStack, or
 * PreferDualStack in a single-stack cluster) gives its nodePort that family only (kube-proxy opens it on that
 * family's node addresses only), a dual-stack one every family.
 *
 * DNS servers: the ClusterIPs (`spec.clusterIPs`, both families when dual-stack) of kube-system/kube-dns, else
 * of the kube-system Services labelled `k8s-app=kube-dns`; none found (or headless): empty, with a notice.
 *
 * UsageError (naming `source`) for input that is not JSON or not a Service list, a nodePort out of range
 * (1-65535), an unknown protocol or IP family, or a ClusterIP that is not an address.
 *
 * @param json the text kubectl printed, or the object parsed from it (or a client library's ServiceList)
 *
 * @example
 * ```ts
 * import { execFileSync } from "node:child_process";
 * import { check, servicesFromKubectl } from "wireprobe";
 *
 * const { nodePorts, dnsServers } = servicesFromKubectl(
 *   execFileSync("kubectl", ["get", "svc", "-A", "-o", "json"], { encoding: "utf8" }),
 * );
 * // e.g. nodePorts [{ port: 30000, protocol: "tcp", family: null }, { port: 30053, protocol: "udp", family: "ipv4" }]
 * // dnsServers ["198.18.53.10", "2001:db8:53::10"]
 * const run = check({ nodes: ["198.51.100.11-14"], nodePorts, dnsServers, netns: "node1" });
 * ```
 */
export function servicesFromKubectl(json: unknown, options: KubectlReadOptions = {}): KubeServices {
  const source = options.source ?? "the kubectl JSON";
  const items = itemsOf(parseInput(json, source), "Service", "kubectl get svc -A -o json", source);
  const nodePorts: NodePortSpec[] = [];
  const sctp: string[] = [];
  const named: Json[] = [];
  const labelled: Json[] = [];
  const serviceNames = new Map<Json, string>();
  for (const [i, item] of items.entries()) {
    const name = itemName(item, i, true);
    serviceNames.set(item, name);
    const meta = isObject(item.metadata) ? item.metadata : {};
    const spec = isObject(item.spec) ? item.spec : {};
    if (meta.namespace === DNS_NAMESPACE) {
      if (meta.name === DNS_NAME) named.push(item);
      else if (isObject(meta.labels) && meta.labels["k8s-app"] === DNS_NAME) labelled.push(item);
    }
    // The API's default type is ClusterIP; only these two open a port on every node.
    const type = spec.type ?? "ClusterIP";
    if (type !== "NodePort" && type !== "LoadBalancer") continue;
    const family = serviceFamily(spec.ipFamilies, name, source);
    if (spec.ports !== undefined && !Array.isArray(spec.ports))
      throw new UsageError(`${source}: Service ${name}: spec.ports is not a list`);
    for (const port of (spec.ports ?? []) as unknown[]) {
      if (!isObject(port)) throw new UsageError(`${source}: Service ${name}: a port that is not an object`);
      // allocateLoadBalancerNodePorts: false leaves a LoadBalancer's ports without one
      if (port.nodePort === undefined || port.nodePort === null) continue;
      const label = `Service ${name} port ${typeof port.name === "string" ? `"${port.name}"` : String(port.port)}`;
      const n = port.nodePort;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) {
        throw new UsageError(`${source}: ${label}: nodePort ${JSON.stringify(n)} is out of range (1-65535)`);
      }
      const proto = port.protocol ?? "TCP";
      const protocol = typeof proto === "string" ? PROTOCOLS[proto] : undefined;
      if (protocol === undefined)
        throw new UsageError(
          `${source}: ${label}: unknown protocol ${JSON.stringify(proto)} (TCP, UDP or SCTP)`,
        );
      if (protocol === null) {
        sctp.push(`${name} ${n}/SCTP`);
        continue;
      }
      nodePorts.push({ port: n, protocol, family });
    }
  }
  if (sctp.length > 0) {
    options.onNotice?.(`${source}: SCTP nodePorts are not checked (no SCTP probe): ${someNames(sctp)}`);
  }
  const dns = named.length > 0 ? named : labelled;
  const dnsServers: string[] = [];
  const used: string[] = [];
  for (const svc of dns) {
    const name = serviceNames.get(svc)!;
    const spec = isObject(svc.spec) ? svc.spec : {};
    const ips = Array.isArray(spec.clusterIPs) ? (spec.clusterIPs as unknown[]) : [spec.clusterIP];
    if (ips.length === 0 || ips[0] === undefined || ips[0] === "" || ips[0] === "None") {
      options.onNotice?.(`${source}: the DNS Service ${name} has no ClusterIP (headless): not asked`);
      continue;
    }
    for (const ip of ips) {
      const a = address(ip, `Service ${name}: ClusterIP`, source);
      if (!dnsServers.includes(a)) dnsServers.push(a);
    }
    used.push(name);
  }
  if (dns.length === 0) {
    options.onNotice?.(
      `${source}: no cluster DNS Service (${DNS_NAMESPACE}/${DNS_NAME}, or k8s-app=${DNS_NAME} in ${DNS_NAMESPACE})`,
    );
  }
  return { nodePorts, dnsServers, dnsService: used.length > 0 ? used.join(", ") : null };
}

/** A Service's one family ("ipv4", "ipv6"), or null when it has both (or says none: a cluster before 1.20). */
function serviceFamily(value: unknown, name: string, source: string): Family | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.length > 2)
    throw new UsageError(`${source}: Service ${name}: spec.ipFamilies is not a list of IPv4 and IPv6`);
  const families = value.map((f) => {
    if (f === "IPv4") return "ipv4";
    if (f === "IPv6") return "ipv6";
    throw new UsageError(`${source}: Service ${name}: unknown IP family ${JSON.stringify(f)} (IPv4 or IPv6)`);
  });
  return families.length === 1 ? families[0]! : null;
}
