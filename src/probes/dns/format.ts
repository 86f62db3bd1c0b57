// Resource records in the presentation format dig prints with +short, so answers compare equal to dig's.

import * as dnsPacket from "dns-packet";

type Answer = dnsPacket.Answer;

/** rcode names as dig prints them in "status:" (16 and up only come with EDNS). */
const RCODES = [
  "NOERROR",
  "FORMERR",
  "SERVFAIL",
  "NXDOMAIN",
  "NOTIMP",
  "REFUSED",
  "YXDOMAIN",
  "YXRRSET",
  "NXRRSET",
  "NOTAUTH",
  "NOTZONE",
];

export function rcodeName(rcode: number): string {
  if (rcode === 16) return "BADVERS";
  return RCODES[rcode] ?? `RESERVED${rcode}`;
}

/** Characters dig escapes with a backslash inside a name. */
const NAME_SPECIALS = new Set([".", ";", "\\", "(", ")", "@", "$", '"']);

function escapeByte(b: number): string {
  return `\\${String(b).padStart(3, "0")}`;
}

function escapeLabel(label: string): string {
  let out = "";
  for (const b of Buffer.from(label, "utf8")) {
    const c = String.fromCharCode(b);
    if (b <= 0x20 || b >= 0x7f) out += escapeByte(b);
    else if (NAME_SPECIALS.has(c)) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/**
 * An absolute name as dig prints it: trailing dot, special characters and non-printable bytes escaped.
 * dns-packet hands names over with labels joined by "."; for mailbox names (SOA rname) it marks a dot
 * inside the first label as "\.".
 */
export function formatName(name: string, mailbox = false): string {
  if (name === "." || name === "") return ".";
  const labels = mailbox ? splitMailbox(name) : name.split(".");
  return `${labels.map(escapeLabel).join(".")}.`;
}

function splitMailbox(name: string): string[] {
  const labels: string[] = [];
  let current = "";
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === "\\" && name[i + 1] === ".") {
      current += ".";
      i++;
    } else if (c === ".") {
      labels.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  labels.push(current);
  return labels;
}

/** One character-string of a TXT record, quoted and escaped as dig does. */
function formatCharacterString(bytes: Buffer): string {
  let out = '"';
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b < 0x20 || b >= 0x7f) out += escapeByte(b);
    else out += String.fromCharCode(b);
  }
  return `${out}"`;
}

function toBuffer(s: string | Buffer): Buffer {
  return typeof s === "string" ? Buffer.from(s, "utf8") : s;
}

/** An IPv6 address the way BIND's inet_ntop writes it (RFC 5952, with IPv4-mapped/compatible tails). */
export function formatIpv6(text: string): string {
  const words = parseIpv6(text);
  if (words === null) return text;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const v4Tail =
    bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff)) && words[6] !== 0;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += i === 0 ? "::" : ":";
      i += bestLen - 1;
      continue;
    }
    if (v4Tail && i === 6) {
      out += `${words[6]! >> 8}.${words[6]! & 255}.${words[7]! >> 8}.${words[7]! & 255}`;
      break;
    }
    out += words[i]!.toString(16);
    if (i < 7) out += ":";
  }
  return out;
}

function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const part = (s: string | undefined) => (s ? s.split(":").map((w) => Number.parseInt(w, 16)) : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const words = [...head, ...Array<number>(fill).fill(0), ...tail];
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) return null;
  return words;
}

interface AnswerCodec {
  encode(answer: Answer): Buffer;
}

/** RFC 3597 generic form (`\# LENGTH HEX`), as dig prints types it has no format for. */
function formatGeneric(rr: Answer): string {
  let rdata: Buffer;
  const data = "data" in rr ? rr.data : undefined;
  if (Buffer.isBuffer(data)) {
    rdata = data;
  } else {
    // Known to dns-packet but not formatted here: re-encode and cut the rdata out of the record.
    const whole = (dnsPacket as unknown as { answer: AnswerCodec }).answer.encode(rr);
    let i = 0;
    while (i < whole.length && whole[i] !== 0) i += whole[i]! + 1;
    // owner name, then type, class, TTL and rdlength (10 bytes)
    rdata = whole.subarray(i + 1 + 10);
  }
  return rdata.length === 0 ? "\\# 0" : `\\# ${rdata.length} ${rdata.toString("hex").toUpperCase()}`;
}

/** The record's data as `dig +short` prints it. */
export function formatRecordData(rr: Answer): string {
  switch (rr.type) {
    case "A":
      return rr.data;
    case "AAAA":
      return formatIpv6(rr.data);
    case "CNAME":
    case "DNAME":
    case "NS":
    case "PTR":
      return formatName(rr.data);
    case "MX":
      return `${rr.data.preference ?? 0} ${formatName(rr.data.exchange)}`;
    case "SRV":
      return `${rr.data.priority ?? 0} ${rr.data.weight ?? 0} ${rr.data.port} ${formatName(rr.data.target)}`;
    case "TXT": {
      const parts = Array.isArray(rr.data) ? rr.data : [rr.data];
      return parts.map((p) => formatCharacterString(toBuffer(p))).join(" ");
    }
    case "SOA": {
      const d = rr.data;
      return [
        formatName(d.mname),
        formatName(d.rname, true),
        d.serial ?? 0,
        d.refresh ?? 0,
        d.retry ?? 0,
        d.expire ?? 0,
        d.minimum ?? 0,
      ].join(" ");
    }
    case "CAA":
      return `${rr.data.flags ?? 0} ${rr.data.tag} ${formatCharacterString(Buffer.from(rr.data.value))}`;
    default:
      return formatGeneric(rr);
  }
}
