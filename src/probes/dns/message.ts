// DNS messages on the wire (dns-packet does the encoding): the query we send, and the strict check that an
// answer really answers it. Nothing that arrives is trusted: every failure is a value, never a throw.

import * as dnsPacket from "dns-packet";
import { formatRecordData, rcodeName } from "./format";
import type { QType } from "./names";

/** The UDP payload size we advertise with EDNS (the DNS flag day 2020 value, as dig and resolvers use). */
export const EDNS_UDP_SIZE = 1232;
const HEADER_LENGTH = 12;
const OPCODE_QUERY = 0;
const FORMERR = 1;

/** A query: recursion desired, one question, an EDNS OPT record unless `edns` is false. */
export function encodeQuery(id: number, name: string, qtype: QType, edns: boolean): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: qtype, name, class: "IN" }],
    ...(edns ? { additionals: [{ type: "OPT", name: ".", udpPayloadSize: EDNS_UDP_SIZE, flags: 0 }] } : {}),
  } as dnsPacket.Packet);
}

/** The ID of a message (the first two bytes), or -1 when it is shorter than a DNS header. */
export function peekId(buf: Buffer, offset: number, length: number): number {
  return length >= HEADER_LENGTH ? buf.readUInt16BE(offset) : -1;
}

export interface Expected {
  id: number;
  name: string;
  qtype: QType;
}

export type AnswerCheck =
  /** a response to our question */
  | {
      kind: "answer";
      rcode: string;
      /** TC: the answer did not fit (UDP); ask again over TCP */
      truncated: boolean;
      answers: string[];
      flags: string[];
      /** the response carries an OPT record (the server speaks EDNS) */
      edns: boolean;
      /** FORMERR without OPT to a query with OPT: a server that does not know EDNS */
      ednsRejected: boolean;
    }
  /** a DNS message that is not a response to our question, or not a DNS message at all: says why */
  | { kind: "bad"; error: string };

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [0x8000, "qr"],
  [0x0400, "aa"],
  [0x0200, "tc"],
  [0x0100, "rd"],
  [0x0080, "ra"],
  [0x0020, "ad"],
  [0x0010, "cd"],
];

function sameName(a: string, b: string): boolean {
  const strip = (s: string) => (s.endsWith(".") && s !== "." ? s.slice(0, -1) : s).toLowerCase();
  return strip(a) === strip(b);
}

/**
 * Checks a message against the query it claims to answer: ID, QR set, opcode QUERY, exactly our question
 * (name case-insensitively, type, class IN), and a body that decodes. The ID is the caller's to have
 * matched already; checking it again costs nothing.
 */
export function checkAnswer(message: Buffer, expected: Expected, sentEdns: boolean): AnswerCheck {
  if (message.length < HEADER_LENGTH) {
    return { kind: "bad", error: `malformed answer: ${message.length} bytes, shorter than a DNS header` };
  }
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  if (id !== expected.id) return { kind: "bad", error: `answer with ID ${id}, expected ${expected.id}` };
  if ((flags & 0x8000) === 0) return { kind: "bad", error: "a query (QR=0) instead of an answer" };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== OPCODE_QUERY)
    return { kind: "bad", error: `answer with opcode ${opcode}, expected 0 (QUERY)` };
  const truncated = (flags & 0x0200) !== 0;
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(message);
    // dns-packet reads some records past the end without a throw (an AAAA cut in its address comes back as
    // a shorter address): a message whose records claim more bytes than it has is cut short.
    if (dnsPacket.decode.bytes > message.length) {
      throw new Error(
        `cut short: its records need ${dnsPacket.decode.bytes} bytes, it has ${message.length}`,
      );
    }
  } catch (err) {
    // A truncated answer may be cut anywhere; its header and question are all a retry over TCP needs.
    const partial = truncated ? decodeHeaderAndQuestion(message) : null;
    if (partial === null) return { kind: "bad", error: `malformed answer: ${(err as Error).message}` };
    decoded = partial;
  }
  const questions = decoded.questions ?? [];
  const rcodeNumber = flags & 0xf;
  const opt = (decoded.additionals ?? []).find((r) => r.type === "OPT");
  const extended = opt && "extendedRcode" in opt ? opt.extendedRcode : 0;
  const rcode = rcodeName((extended << 4) | rcodeNumber);
  if (questions.length === 0 && rcodeNumber !== 0) {
    // FORMERR / NOTIMP / REFUSED answers may leave the question out (RFC 1035 allows it): the ID and
    // the server's address and port tie it to our query.
  } else if (questions.length !== 1) {
    return { kind: "bad", error: `answer with ${questions.length} questions, expected 1` };
  } else {
    const q = questions[0]!;
    if (!sameName(q.name, expected.name) || q.type !== expected.qtype || (q.class ?? "IN") !== "IN") {
      return {
        kind: "bad",
        error: `answer for another question (${q.name} ${q.class ?? "IN"} ${q.type}, asked ${expected.name} IN ${expected.qtype})`,
      };
    }
  }
  const answers: string[] = [];
  try {
    for (const rr of decoded.answers ?? []) answers.push(formatRecordData(rr));
  } catch (err) {
    return { kind: "bad", error: `malformed record in the answer: ${(err as Error).message}` };
  }
  answers.sort();
  return {
    kind: "answer",
    rcode,
    truncated,
    answers: truncated ? [] : answers,
    flags: FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n),
    edns: opt !== undefined,
    ednsRejected: sentEdns && opt === undefined && rcodeNumber === FORMERR,
  };
}

/** Header and question of a message whose other sections do not decode (zeroed counts), or null. */
function decodeHeaderAndQuestion(message: Buffer): dnsPacket.DecodedPacket | null {
  const copy = Buffer.from(message);
  copy.fill(0, 6, HEADER_LENGTH);
  try {
    return dnsPacket.decode(copy);
  } catch {
    return null;
  }
}
