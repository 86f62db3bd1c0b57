import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors";

// The names iproute2 gives routing tables (`table main`, `table 100`, a name from rt_tables) and route protocols
// (`proto static`, `proto bird`), so records and reports say what `ip route` says. iproute2 reads its own files
// from /etc/iproute2 and, since 6.x, its defaults from /usr/share/iproute2 (or /usr/lib/iproute2); a name in
// /etc wins, as it does for ip.

/** RT_TABLE_*: the tables every kernel has. */
export const TABLE_MAIN = 254;
export const TABLE_LOCAL = 255;
export const TABLE_DEFAULT = 253;

const BUILTIN_TABLES: ReadonlyArray<readonly [number, string]> = [
  [TABLE_LOCAL, "local"],
  [TABLE_MAIN, "main"],
  [TABLE_DEFAULT, "default"],
];

/** RTPROT_*, as /etc/iproute2/rt_protos of iproute2 6.1 names them. */
const BUILTIN_PROTOCOLS: ReadonlyArray<readonly [number, string]> = [
  [0, "unspec"],
  [1, "redirect"],
  [2, "kernel"],
  [3, "boot"],
  [4, "static"],
  [8, "gated"],
  [9, "ra"],
  [10, "mrt"],
  [11, "zebra"],
  [12, "bird"],
  [13, "dnrouted"],
  [14, "xorp"],
  [15, "ntk"],
  [16, "dhcp"],
  [18, "keepalived"],
  [42, "babel"],
  [99, "openr"],
  [186, "bgp"],
  [187, "isis"],
  [188, "ospf"],
  [189, "rip"],
  [192, "eigrp"],
];

const CONFIG_DIRS = ["/usr/lib/iproute2", "/usr/share/iproute2", "/etc/iproute2"];

/** "NUMBER NAME" lines of one iproute2 file (decimal or 0x hex, '#' comments); nothing when it is absent. */
function readPairs(file: string): Array<[number, string]> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: Array<[number, string]> = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const m = /^(0x[0-9a-f]+|\d+)\s+([^\s]+)$/i.exec(line);
    if (!m) continue;
    const n = Number(m[1]);
    if (Number.isSafeInteger(n) && n >= 0 && n <= 0xffffffff) out.push([n, m[2]!]);
  }
  return out;
}

/** A file and the `*.conf` files of its `.d` directory, as iproute2 reads them (the directory in name order). */
function readConfig(dir: string, base: string): Array<[number, string]> {
  const out = readPairs(join(dir, base));
  let extra: string[] = [];
  try {
    extra = readdirSync(join(dir, `${base}.d`)).filter((f) => f.endsWith(".conf"));
  } catch {
    // no such directory
  }
  for (const f of extra.sort()) out.push(...readPairs(join(dir, `${base}.d`, f)));
  return out;
}

/** Numbers ↔ names of one kind (tables or protocols): the built-ins, then the files, later files winning. */
class NameMap {
  readonly byNumber = new Map<number, string>();
  readonly byName = new Map<string, number>();

  constructor(builtin: ReadonlyArray<readonly [number, string]>, base: string, dirs: readonly string[]) {
    const add = ([n, name]: readonly [number, string]) => {
      this.byNumber.set(n, name);
      this.byName.set(name, n);
    };
    builtin.forEach(add);
    for (const dir of dirs) readConfig(dir, base).forEach(add);
  }
}

/** The table and protocol names of this host's iproute2 configuration. */
export class RouteNames {
  readonly #tables: NameMap;
  readonly #protocols: NameMap;

  /** `dirs`: where the iproute2 files are (default: /usr/lib, /usr/share, then /etc/iproute2). */
  constructor(dirs: readonly string[] = CONFIG_DIRS) {
    this.#tables = new NameMap(BUILTIN_TABLES, "rt_tables", dirs);
    this.#protocols = new NameMap(BUILTIN_PROTOCOLS, "rt_protos", dirs);
  }

  /** "main", "local", "default", a name from rt_tables, or the number as text (as `ip route` prints it). */
  tableName(table: number): string {
    return this.#tables.byNumber.get(table) ?? String(table);
  }

  /** "kernel", "static", "bird", ... or the number as text. */
  protocolName(protocol: number): string {
    return this.#protocols.byNumber.get(protocol) ?? String(protocol);
  }

  /**
   * The table a user named: "all", a number (1 to 2^32 - 1; 0 is every table, as for `ip route show table 0`),
   * or a name (main, local, default, or one from rt_tables). A UsageError for anything else.
   */
  parseTable(spec: string): number | "all" {
    const s = spec.trim();
    if (s === "all") return "all";
    if (/^(0x[0-9a-f]+|\d+)$/i.test(s)) {
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n > 0xffffffff)
        throw new UsageError(`routing table ${spec} is out of range (0 to 4294967295)`);
      return n === 0 ? "all" : n;
    }
    const n = this.#tables.byName.get(s);
    if (n === undefined) {
      throw new UsageError(
        `unknown routing table "${spec}" (main, local, default, all, a number, or a name from rt_tables)`,
      );
    }
    return n;
  }
}
