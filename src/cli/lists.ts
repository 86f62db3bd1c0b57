import { createReadStream, readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
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

/** What readInput takes at most: a 4096-node `kubectl get nodes -o json` (images and all) is about 100 MB. */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;

/**
 * A whole input file as text, "-" standard input, refused (UsageError, one line naming `what`) beyond `cap`
 * bytes before more is read. A UTF-8 byte order mark is dropped and a UTF-16 one decoded (what Windows
 * PowerShell's `>` writes).
 */
export async function readInput(file: string, what: string, cap = MAX_INPUT_BYTES): Promise<string> {
  const tooLarge = () =>
    new UsageError(`${what}: larger than ${Math.round(cap / 1024 / 1024)} MiB, more than it can hold`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    if (file !== "-") {
      const st = await stat(file);
      if (st.isFile() && st.size > cap) throw tooLarge();
    }
    const stream = file === "-" ? process.stdin : createReadStream(file);
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > cap) throw tooLarge();
        chunks.push(chunk);
      }
    } finally {
      if (stream !== process.stdin) (stream as ReturnType<typeof createReadStream>).destroy();
      else process.stdin.pause();
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${what}: ${(err as Error).message}`);
  }
  const data = Buffer.concat(chunks);
  if (data[0] === 0xff && data[1] === 0xfe) return data.subarray(2).toString("utf16le");
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) return data.subarray(3).toString("utf8");
  return data.toString("utf8");
}
