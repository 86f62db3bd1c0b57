// Query names and types as the user gives them, checked before anything is sent.

import { isIPv6 } from "node:net";
import { isValidIpv4 } from "../../addr/address";
import { UsageError } from "../../errors";

/** The record types the probe asks for. */
export const QTYPES = ["A", "AAAA", "CNAME", "SRV", "PTR", "MX", "TXT", "NS", "SOA"] as const;
export type QType = (typeof QTYPES)[number];

/** "a,aaaa" or ["A", "MX"] → checked, upper-case, duplicates removed. */
export function parseQTypes(spec: string | readonly string[]): QType[] {
  const list = (typeof spec === "string" ? [spec] : spec).flatMap((s) => s.split(","));
  const out: QType[] = [];
  for (const raw of list) {
    const t = raw.trim().toUpperCase();
    if (!(QTYPES as readonly string[]).includes(t)) {
      throw new UsageError(`unknown record type "${raw}" (one of ${QTYPES.join(", ")})`);
    }
    if (!out.includes(t as QType)) out.push(t as QType);
  }
  if (out.length === 0) throw new UsageError("no record type given");
  return out;
}

/**
 * The name to send: as given, without a trailing dot (names are absolute, as dig takes them: no search
 * list). For PTR, an IPv4 or IPv6 address becomes its reverse name, like `dig -x`.
 */
export function queryName(input: string, qtype: QType): string {
  if (qtype === "PTR") {
    if (isValidIpv4(input)) return `${input.split(".").reverse().join(".")}.in-addr.arpa`;
    if (isIPv6(input)) return ipv6ReverseName(input);
  }
  return checkName(input);
}

function checkName(input: string): string {
  if (input === ".") return ".";
  const name = input.endsWith(".") ? input.slice(0, -1) : input;
  if (name === "") throw new UsageError("empty name");
  // Presentation-format escapes (\. \DDD) are not supported: names go on the wire label by label.
  if (name.includes("\\")) throw new UsageError(`name "${input}": escapes are not supported`);
  if (Buffer.byteLength(name) > 253) throw new UsageError(`name "${input}" is longer than 253 bytes`);
  for (const label of name.split(".")) {
    if (label === "") throw new UsageError(`name "${input}" has an empty label`);
    if (Buffer.byteLength(label) > 63) throw new UsageError(`name "${input}" has a label over 63 bytes`);
  }
  return name;
}

function ipv6ReverseName(address: string): string {
  const [head = "", tail = ""] = address.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  let words = [...groups(head)];
  const tailWords = groups(tail);
  // An embedded IPv4 tail (::ffff:198.51.100.1) is two words.
  const last = tailWords.length > 0 ? tailWords[tailWords.length - 1]! : words[words.length - 1];
  const expandV4 = (list: string[]) => {
    const v4 = list[list.length - 1];
    if (v4 === undefined || !v4.includes(".")) return list;
    const o = v4.split(".").map(Number);
    return [...list.slice(0, -1), ((o[0]! << 8) | o[1]!).toString(16), ((o[2]! << 8) | o[3]!).toString(16)];
  };
  if (last?.includes(".")) {
    if (tailWords.length > 0) tailWords.splice(0, tailWords.length, ...expandV4(tailWords));
    else words = expandV4(words);
  }
  const fill = address.includes("::") ? 8 - words.length - tailWords.length : 0;
  const all = [...words, ...Array<string>(fill).fill("0"), ...tailWords];
  const nibbles = all.map((w) => w.padStart(4, "0")).join("");
  return `${[...nibbles.toLowerCase()].reverse().join(".")}.ip6.arpa`;
}
