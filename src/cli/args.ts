import { IPV6_CAP_DEFAULT } from "../addr/target-set";
import { UsageError } from "../errors";

// A small, strict option parser: unknown options and missing values are usage errors (exit 2), never
// guessed at. Values come as "--name VALUE", "--name=VALUE", "-x VALUE" or glued to a one-letter option,
// "-xVALUE", as getopt (and so ping, dig and nmap) reads them. It stays dependency-free so the CLI starts fast.

export interface OptionSpec {
  /** long name without dashes, e.g. "timeout" */
  name: string;
  /** extra spellings, with dashes, e.g. ["-i"] or ["-Pn"] */
  aliases?: string[];
  kind: "flag" | "string" | "integer" | "number";
  /** for integer/number: inclusive bounds */
  min?: number;
  max?: number;
  /** may be given several times; values are collected into an array */
  repeat?: boolean;
  help: string;
  /** shown in help as the value's name */
  valueName?: string;
}

export type ParsedValue = boolean | string | number | string[] | number[];

export interface ParsedArgs {
  options: Map<string, ParsedValue>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) {
    byName.set(`--${s.name}`, s);
    for (const a of s.aliases ?? []) byName.set(a, s);
  }
  const ambiguous = new Set<string>();
  for (const spelling of byName.keys()) {
    if (!spelling.startsWith("--") && spelling.length > 2) ambiguous.add(spelling.slice(0, 2));
  }
  const options = new Map<string, ParsedValue>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    let key = eq > 0 ? arg.slice(0, eq) : arg;
    let spec = byName.get(key);
    let glued: string | undefined;
    if (!spec && !arg.startsWith("--") && arg.length > 2) {
      // A value glued to a one-letter option, as getopt reads it: "-c1" is "-c 1", "-p22,80" is "-p 22,80".
      // Not where longer single-dash options share the letter (scan's -i and -iL): "-iR" is no interface.
      const short = byName.get(arg.slice(0, 2));
      if (short && short.kind !== "flag" && !ambiguous.has(arg.slice(0, 2))) {
        key = arg.slice(0, 2);
        spec = short;
        glued = arg.slice(2);
      }
    }
    if (!spec) throw new UsageError(`unknown option ${key} (see --help)`);
    let raw: string | undefined;
    if (spec.kind === "flag") {
      if (eq > 0) throw new UsageError(`option ${key} takes no value`);
      options.set(spec.name, true);
      continue;
    }
    if (glued !== undefined) raw = glued;
    else if (eq > 0) raw = arg.slice(eq + 1);
    else {
      raw = argv[++i];
      if (raw === undefined) throw new UsageError(`option ${key} needs a value`);
    }
    const value = convert(spec, key, raw);
    if (spec.repeat) {
      const list = (options.get(spec.name) as Array<string | number> | undefined) ?? [];
      list.push(value);
      options.set(spec.name, list as ParsedValue);
    } else {
      options.set(spec.name, value);
    }
  }
  return { options, positionals };
}

function convert(spec: OptionSpec, key: string, raw: string): string | number {
  if (spec.kind === "string") {
    if (raw === "") throw new UsageError(`option ${key} needs a non-empty value`);
    return raw;
  }
  const isInt = spec.kind === "integer";
  const ok = isInt ? /^[0-9]+$/.test(raw) : /^[0-9]+(\.[0-9]+)?$/.test(raw);
  const n = Number(raw);
  if (!ok || !Number.isFinite(n)) {
    throw new UsageError(`option ${key} needs ${isInt ? "a whole number" : "a number"}, got "${raw}"`);
  }
  if (spec.min !== undefined && n < spec.min)
    throw new UsageError(`option ${key} must be at least ${spec.min}`);
  if (spec.max !== undefined && n > spec.max)
    throw new UsageError(`option ${key} must be at most ${spec.max}`);
  return n;
}

/** The namespace option every probing command takes. */
export const NETNS_OPTION: OptionSpec = {
  name: "netns",
  kind: "string",
  valueName: "NS",
  help: "run inside a network namespace: a name from `ip netns` or a path (/proc/PID/ns/net)",
};

/** --ipv6-cap N of the commands that take targets; `where` adds where else it applies ("; also in -iL"). */
export function ipv6CapOption(where = ""): OptionSpec {
  return {
    name: "ipv6-cap",
    kind: "integer",
    min: 1,
    max: 2 ** 40,
    valueName: "N",
    help: `accept IPv6 prefixes and ranges of up to N addresses (default ${IPV6_CAP_DEFAULT}, a /112${where})`,
  };
}

/** Every command takes it; main answers it before the command runs. */
export const HELP_OPTION: OptionSpec = {
  name: "help",
  aliases: ["-h"],
  kind: "flag",
  help: "show this help",
};

/** Help text for a command's options (and -h, --help), aligned. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const all: OptionSpec[] = [
    ...specs,
    { name: "help", aliases: ["-h"], kind: "flag", help: "show this help" },
  ];
  const rows = all.map((s) => {
    const names = [...(s.aliases ?? []), `--${s.name}`].join(", ");
    const value = s.kind === "flag" ? "" : ` ${s.valueName ?? s.kind.toUpperCase()}`;
    return [`  ${names}${value}`, s.help] as const;
  });
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([l, r]) => l.padEnd(width) + r).join("\n");
}

export function getString(args: ParsedArgs, name: string): string | undefined {
  return args.options.get(name) as string | undefined;
}

export function getNumber(args: ParsedArgs, name: string): number | undefined {
  return args.options.get(name) as number | undefined;
}

export function getFlag(args: ParsedArgs, name: string): boolean {
  return args.options.get(name) === true;
}
