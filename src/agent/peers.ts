import { type Stats, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { type IpAddress, parseIp } from "../addr/ip";
import { familyOf, groupNodeWords, type NodeInput, parseNodes } from "../check/nodes";
import { UsageError } from "../errors";
import type { PeerSource, RefusalReason } from "./metrics";

// The agent's peers: the node addresses each round probes, from three sources (--nodes, fixed; --nodes-file,
// re-read when it changes; --peers-dns, looked up each round). Every address passes the same gate: special
// addresses (loopback, multicast, unspecified, link-local, IPv4-mapped, broadcast) are refused always,
// addresses outside --peer-networks when that is given, and beyond --max-peers addresses the list is cut.
// Each refusal has a reason (a metric label) and a one-line detail (the log). Pure functions except
// NodesFile, which reads its file.

/** The default --max-peers: addresses, both families counted. */
export const DEFAULT_MAX_PEERS = 2048;

/** The largest --nodes-file the agent reads: 1 MiB. */
export const MAX_NODES_FILE_BYTES = 1 << 20;

/** One peer address, from one source. */
export interface PeerEntry {
  /** the node's name (NAME=ADDR), null for a node known by its address */
  name: string | null;
  /** the address, canonical (IPv6 in RFC 5952 form) */
  address: string;
}

/** An address (or a line of the node file) not used, and why. */
export interface Refusal {
  source: PeerSource;
  reason: RefusalReason;
  /** one line for the log: what was refused and why */
  detail: string;
}

/** A CIDR of --peer-networks. */
export interface Network {
  /** as written (canonical) */
  text: string;
  family: 4 | 6;
  /** the prefix's bits: a 32-bit number for IPv4, a bigint of 128 bits for IPv6 */
  base: bigint;
  bits: number;
}

const toBig = (ip: IpAddress): bigint =>
  ip.family === 4 ? BigInt(ip.v4) : ip.bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);

/** --peer-networks: CIDRs (a bare address is its /32 or /128). UsageError for anything else. */
export function parseNetworks(list: readonly string[]): Network[] {
  return list.map((text) => {
    const slash = text.indexOf("/");
    const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
    const width = ip?.family === 6 ? 128 : 32;
    const bitsText = slash < 0 ? String(width) : text.slice(slash + 1);
    const bits = Number(bitsText);
    if (ip === null || !/^[0-9]{1,3}$/.test(bitsText) || bits > width)
      throw new UsageError(`--peer-networks: "${text}" is not a CIDR (198.51.100.0/24, 2001:db8::/64)`);
    const shift = BigInt(width - bits);
    return { text, family: ip.family, base: (toBig(ip) >> shift) << shift, bits };
  });
}

function inNetwork(ip: IpAddress, n: Network): boolean {
  if (ip.family !== n.family) return false;
  const shift = BigInt((n.family === 4 ? 32 : 128) - n.bits);
  return (toBig(ip) >> shift) << shift === n.base;
}

/** Why an address is never a peer (loopback, multicast, ...), null when it may be one. */
export function specialAddress(address: string): string | null {
  const ip = parseIp(address);
  if (ip === null) return "not an address";
  if (ip.family === 4) {
    const a = ip.v4 >>> 24;
    if (ip.v4 === 0) return "unspecified";
    if (ip.v4 === 0xffffffff) return "broadcast";
    if (a === 127) return "loopback";
    if (a >= 224 && a < 240) return "multicast";
    if (ip.v4 >>> 16 === 0xa9fe) return "link-local";
    return null;
  }
  const b = ip.bytes;
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (zeros(0, 16)) return "unspecified";
  if (zeros(0, 15) && b[15] === 1) return "loopback";
  if (b[0] === 0xff) return "multicast";
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return "link-local";
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return "IPv4-mapped";
  return null;
}

/** The entries of node specs (one --nodes value, or one file line); UsageError when they do not parse. */
export function specEntries(specs: readonly string[]): PeerEntry[] {
  return parseNodes(specs).flatMap((n) =>
    [n.ipv4, n.ipv6].filter((a): a is string => a !== null).map((address) => ({ name: n.name, address })),
  );
}

/** The entries of --nodes values (comma-separated words each): UsageError for a bad one (exit 2). */
export function nodesOptionEntries(values: readonly string[]): PeerEntry[] {
  return values.flatMap((v) =>
    specEntries(
      groupNodeWords(
        v
          .split(",")
          .map((w) => w.trim())
          .filter((w) => w !== ""),
      ),
    ),
  );
}

/** The entries of a node list file (check's -iL format); a line that does not parse is refused, "malformed". */
export function nodesFileEntries(text: string): { entries: PeerEntry[]; refusals: Refusal[] } {
  const entries: PeerEntry[] = [];
  const refusals: Refusal[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const hash = line.indexOf("#");
    const words = (hash >= 0 ? line.slice(0, hash) : line).split(/\s+/).filter((w) => w !== "");
    if (words.length === 0) return;
    try {
      entries.push(...specEntries(groupNodeWords(words)));
    } catch (err) {
      refusals.push({
        source: "file",
        reason: "malformed",
        detail: `line ${i + 1}: ${(err as Error).message}`,
      });
    }
  });
  return { entries, refusals };
}

/** The options of {@link selectPeers}. */
export interface PeerGate {
  /** at most this many addresses (default 2048) */
  maxPeers?: number;
  /** when given, only addresses inside one of these */
  networks?: readonly Network[] | null;
}

/** The peers a round uses: the nodes for check(), the addresses by source, and what was refused. */
export interface PeerSelection {
  /** for CheckOptions.nodes */
  nodes: NodeInput[];
  /** every address in use, in order, with its source */
  used: Array<PeerEntry & { source: PeerSource }>;
  /** addresses in use, by source */
  counts: Record<PeerSource, number>;
  refusals: Refusal[];
}

/**
 * The peers of the sources, in the order given (nodes, file, dns): each address once (its first source
 * keeps it), special addresses and those outside `networks` refused, the rest cut at `maxPeers`.
 */
export function selectPeers(
  sources: ReadonlyArray<{ source: PeerSource; entries: readonly PeerEntry[] }>,
  gate: PeerGate = {},
): PeerSelection {
  const max = gate.maxPeers ?? DEFAULT_MAX_PEERS;
  const networks = gate.networks ?? null;
  const counts: Record<PeerSource, number> = { nodes: 0, file: 0, dns: 0 };
  const refusals: Refusal[] = [];
  const used: PeerSelection["used"] = [];
  const seen = new Set<string>();
  // name → family → address: a named node has one address of each family (parseNodes' rule), across sources.
  const named = new Map<string, Set<string>>();
  const capped = new Map<PeerSource, number>();
  for (const { source, entries } of sources) {
    for (const e of entries) {
      if (seen.has(e.address)) continue;
      const special = specialAddress(e.address);
      if (special !== null) {
        refusals.push({ source, reason: "bad-address", detail: `${e.address}: ${special}` });
        continue;
      }
      const ip = parseIp(e.address)!;
      if (networks !== null && !networks.some((n) => inNetwork(ip, n))) {
        refusals.push({
          source,
          reason: "outside-networks",
          detail: `${e.address}: outside --peer-networks ${networks.map((n) => n.text).join(",")}`,
        });
        continue;
      }
      if (e.name !== null) {
        const families = named.get(e.name) ?? new Set<string>();
        if (families.has(familyOf(e.address))) {
          refusals.push({
            source,
            reason: "malformed",
            detail: `${e.name}=${e.address}: node ${e.name} has another ${familyOf(e.address)} address already`,
          });
          continue;
        }
        families.add(familyOf(e.address));
        named.set(e.name, families);
      }
      seen.add(e.address);
      if (used.length >= max) {
        capped.set(source, (capped.get(source) ?? 0) + 1);
        continue;
      }
      used.push({ ...e, source });
      counts[source]++;
    }
  }
  for (const [source, n] of capped) {
    for (let i = 0; i < n; i++) refusals.push({ source, reason: "cap", detail: `beyond --max-peers ${max}` });
  }
  const byName = new Map<string, string[]>();
  const nodes: NodeInput[] = [];
  for (const u of used) {
    if (u.name === null) nodes.push({ addresses: [u.address] });
    else {
      let addresses = byName.get(u.name);
      if (!addresses) {
        addresses = [];
        byName.set(u.name, addresses);
        nodes.push({ name: u.name, addresses });
      }
      addresses.push(u.address);
    }
  }
  return { nodes, used, counts, refusals };
}

/**
 * Refusals summed up for the log: one line per source and reason ("dns cap: 62 addresses beyond
 * --max-peers 2", "file malformed: line 3: ...").
 */
export function summarizeRefusals(refusals: readonly Refusal[]): string[] {
  const groups = new Map<string, Refusal[]>();
  for (const r of refusals) {
    const key = `${r.source} ${r.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups].map(([key, rs]) => {
    const details = [...new Set(rs.map((r) => r.detail))];
    const shown = details.slice(0, 5).join("; ");
    return `peers refused (${key}): ${rs.length} - ${shown}${details.length > 5 ? `; ... ${details.length - 5} more` : ""}`;
  });
}

/** The node list file of --nodes-file, read again when it changes (inode, size or mtime). */
export class NodesFile {
  #signature: string | null = null;
  #entries: PeerEntry[] = [];
  #refusals: Refusal[] = [];

  constructor(readonly path: string) {}

  /**
   * The file's entries: read again when it changed since the last read. `error`: why it could not be read
   * (the last good entries are kept); `refusals`: its refused lines (or its size), `changed` when it was read.
   */
  async read(): Promise<{
    entries: PeerEntry[];
    refusals: Refusal[];
    error: string | null;
    changed: boolean;
  }> {
    let st: Stats;
    try {
      st = statSync(this.path);
    } catch (err) {
      return this.#keep(`cannot read ${this.path}: ${(err as Error).message}`);
    }
    const signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (signature === this.#signature)
      return { entries: this.#entries, refusals: this.#refusals, error: null, changed: false };
    if (st.size > MAX_NODES_FILE_BYTES) {
      // Kept: the last good list; the refusal stands until the file changes.
      this.#signature = signature;
      this.#refusals = [
        {
          source: "file",
          reason: "too-large",
          detail: `${this.path}: ${st.size} bytes, more than ${MAX_NODES_FILE_BYTES} (1 MiB); the last good list is kept`,
        },
      ];
      return { entries: this.#entries, refusals: this.#refusals, error: null, changed: true };
    }
    let text: string;
    try {
      const fh = await open(this.path, "r");
      try {
        // Never more than the cap, even when the file grew since the stat.
        const buf = Buffer.alloc(MAX_NODES_FILE_BYTES + 1);
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        if (bytesRead > MAX_NODES_FILE_BYTES) return this.#keep(`${this.path} grew beyond 1 MiB while read`);
        text = buf.subarray(0, bytesRead).toString("utf8");
      } finally {
        await fh.close();
      }
    } catch (err) {
      return this.#keep(`cannot read ${this.path}: ${(err as Error).message}`);
    }
    const parsed = nodesFileEntries(text);
    this.#signature = signature;
    this.#entries = parsed.entries;
    this.#refusals = parsed.refusals;
    return { ...parsed, error: null, changed: true };
  }

  #keep(error: string) {
    // Read again next round whatever the file looks like then.
    this.#signature = null;
    return { entries: this.#entries, refusals: this.#refusals, error, changed: false };
  }
}
