// A hostile DNS server for the lab (not a test itself): it answers every query badly, in the way the first
// label of the question names. Run inside a lab namespace:
//
//   node dns-hostile.ts ADDRESS OTHER_ADDRESS
//
// It listens on ADDRESS:53 (UDP and TCP), and sends some answers from ADDRESS:5353 or OTHER_ADDRESS:53
// instead. It prints "ready" once listening. Behaviours, by first label:
//
//   ok            a correct answer (A 198.51.100.200): the control case
//   no-edns       FORMERR without OPT (twice) to a query with EDNS; a plain query gets the right answer
//   wrong-id      the right answer with another ID
//   wrong-q       right ID, answer for another name
//   wrong-type    right ID, answer for the same name with type AAAA
//   qr0           the query sent back (QR=0)
//   opcode        right ID and question, opcode 2 (STATUS)
//   garbage       random bytes, the first two the query's ID
//   short         5 bytes
//   cut           the right answer cut in the middle of its answer section, TC clear
//   bad-pointer   a name compression pointer that points forward (a loop in naive parsers)
//   other-port    the right answer, from port 5353
//   other-addr    the right answer, from OTHER_ADDRESS
//   flood         3000 bad packets (all of the above kinds) and no good one
//   flood-then-ok 3000 bad packets, then the right answer
//   bad-then-ok   a wrong-question answer, then the right one
//   tc            TC=1 and no answers over UDP; over TCP the right answer
//   tc-garbage    TC=1 with a garbage body after the question; over TCP the right answer
//   tcp-garbage   TC=1 over UDP; over TCP a frame whose length says more than is sent, then close
//   tcp-wrong-id  TC=1 over UDP; over TCP an answer with another ID
//   silent        nothing

import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import * as net from "node:net";
import * as dnsPacket from "dns-packet";

const [address = "0.0.0.0", otherAddress = address] = process.argv.slice(2);
const GOOD_ANSWER = "198.51.100.200";

interface Query {
  id: number;
  name: string;
  type: dnsPacket.RecordType;
  mode: string;
  edns: boolean;
}

function parse(msg: Buffer): Query | null {
  try {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question || q.id === undefined) return null;
    return {
      id: q.id,
      name: question.name,
      type: question.type,
      mode: question.name.split(".")[0] ?? "",
      edns: (q.additionals ?? []).some((r) => r.type === "OPT"),
    };
  } catch {
    return null;
  }
}

function answer(
  q: Query,
  overrides: { id?: number; name?: string; type?: dnsPacket.RecordType; flags?: number } = {},
) {
  const name = overrides.name ?? q.name;
  const type = overrides.type ?? q.type;
  return dnsPacket.encode({
    type: "response",
    id: overrides.id ?? q.id,
    flags: overrides.flags ?? dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [{ name, type, class: "IN" }],
    answers:
      type === "A"
        ? [{ name, type: "A", ttl: 60, data: GOOD_ANSWER }]
        : type === "AAAA"
          ? [{ name, type: "AAAA", ttl: 60, data: "2001:db8::200" }]
          : [],
  } as dnsPacket.Packet);
}

function truncatedAnswer(q: Query): Buffer {
  const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | dnsPacket.TRUNCATED_RESPONSE;
  return dnsPacket.encode({
    type: "response",
    id: q.id,
    flags,
    questions: [{ name: q.name, type: q.type, class: "IN" }],
  } as dnsPacket.Packet);
}

function garbage(q: Query): Buffer {
  const b = randomBytes(12 + Math.floor(Math.random() * 200));
  b.writeUInt16BE(q.id, 0);
  return b;
}

function cut(q: Query): Buffer {
  const full = answer(q);
  return full.subarray(0, full.length - 7);
}

function badPointer(q: Query): Buffer {
  // Header with one question whose name is a pointer to itself / forward.
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  header.writeUInt16BE(0x8180, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(1, 6);
  return Buffer.concat([
    header,
    Buffer.from([0xc0, 12, 0, 1, 0, 1, 0xc0, 30, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]),
  ]);
}

function badPackets(q: Query, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 8) {
      case 0:
        out.push(answer(q, { id: (q.id + 1 + i) & 0xffff }));
        break;
      case 1:
        out.push(answer(q, { name: `x${i}.${q.name}` }));
        break;
      case 2:
        out.push(garbage(q));
        break;
      case 3:
        out.push(Buffer.from([1, 2, 3, 4, 5]));
        break;
      case 4:
        out.push(cut(q));
        break;
      case 5:
        out.push(badPointer(q));
        break;
      case 6:
        out.push(answer(q, { type: "AAAA" }));
        break;
      default:
        out.push(randomBytes(1 + (i % 512)));
    }
  }
  return out;
}

const udp = dgram.createSocket("udp4");
const udpOtherPort = dgram.createSocket("udp4");
const udpOtherAddr = dgram.createSocket("udp4");

async function sendAll(sock: dgram.Socket, packets: Buffer[], port: number, host: string): Promise<void> {
  for (let i = 0; i < packets.length; i++) {
    sock.send(packets[i]!, port, host);
    // Let the socket drain now and then, so the flood is a flood rather than a local ENOBUFS.
    if (i % 200 === 199) await new Promise((r) => setImmediate(r));
  }
}

udp.on("message", (msg, rinfo) => {
  const q = parse(msg);
  if (!q) return;
  const reply = (b: Buffer) => udp.send(b, rinfo.port, rinfo.address);
  switch (q.mode) {
    case "ok":
      reply(answer(q));
      return;
    case "no-edns":
      // An old server: FORMERR (and no OPT) for a query with EDNS, twice; a plain query gets its answer.
      if (q.edns) {
        const formerr = answer(q, { flags: 0x8001 });
        reply(formerr);
        reply(formerr);
      } else reply(answer(q));
      return;
    case "wrong-id":
      reply(answer(q, { id: (q.id + 1) & 0xffff }));
      return;
    case "wrong-q":
      reply(answer(q, { name: `other.${q.name}` }));
      return;
    case "wrong-type":
      reply(answer(q, { type: q.type === "AAAA" ? "A" : "AAAA" }));
      return;
    case "qr0":
      reply(msg);
      return;
    case "opcode": {
      const b = answer(q);
      b.writeUInt16BE((b.readUInt16BE(2) & ~0x7800) | (2 << 11), 2);
      reply(b);
      return;
    }
    case "garbage":
      reply(garbage(q));
      return;
    case "short":
      reply(Buffer.from([q.id >> 8, q.id & 255, 0x81, 0x80, 0]));
      return;
    case "cut":
      reply(cut(q));
      return;
    case "bad-pointer":
      reply(badPointer(q));
      return;
    case "other-port":
      udpOtherPort.send(answer(q), rinfo.port, rinfo.address);
      return;
    case "other-addr":
      udpOtherAddr.send(answer(q), rinfo.port, rinfo.address);
      return;
    case "flood":
      void sendAll(udp, badPackets(q, 3000), rinfo.port, rinfo.address);
      return;
    case "flood-then-ok":
      void sendAll(udp, [...badPackets(q, 3000), answer(q)], rinfo.port, rinfo.address);
      return;
    case "bad-then-ok":
      reply(answer(q, { name: `other.${q.name}` }));
      reply(answer(q));
      return;
    case "tc":
    case "tcp-garbage":
    case "tcp-wrong-id":
      reply(truncatedAnswer(q));
      return;
    case "tc-garbage":
      reply(Buffer.concat([truncatedAnswer(q), randomBytes(40)]));
      return;
    default:
      return;
  }
});

const tcp = net.createServer((conn) => {
  let buffered = Buffer.alloc(0);
  conn.on("error", () => {});
  conn.on("data", (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
    const q = parse(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
    if (!q) {
      conn.destroy();
      return;
    }
    const frame = (b: Buffer) => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(b.length);
      return Buffer.concat([len, b]);
    };
    switch (q.mode) {
      case "tcp-garbage": {
        const f = frame(answer(q));
        f.writeUInt16BE(f.length + 100, 0);
        conn.end(f);
        return;
      }
      case "tcp-wrong-id":
        conn.end(frame(answer(q, { id: (q.id + 1) & 0xffff })));
        return;
      case "silent":
        return;
      default:
        conn.end(frame(answer(q)));
    }
  });
});

let pending = 4;
const ready = () => {
  if (--pending === 0) process.stdout.write("ready\n");
};
udp.bind(53, address, ready);
udpOtherPort.bind(5353, address, ready);
udpOtherAddr.bind(53, otherAddress, ready);
tcp.listen(53, address, ready);
