import { readFileSync } from "node:fs";
import { splitTargetList } from "../addr/resolve";
import { UsageError } from "../errors";

// Small helpers every command shares for turning options into probe options.

/** Targets or names from a file, one or more per line, '#' comments; "-" reads standard input. */
export function readList(file: string, what: string): string[] {
  try {
    return splitTargetList(readFileSync(file === "-" ? 0 : file, "utf8"));
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/** Repeated and comma-separated option values ("--dns a,b --dns c") as one flat list. */
export function commaList(values: unknown): string[] {
  if (values === undefined) return [];
  const list = Array.isArray(values) ? values : [values];
  return list
    .flatMap((v) => String(v).split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/** `{ key: value }` when the value is given, `{}` otherwise, for exactOptional-friendly option objects. */
export function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
