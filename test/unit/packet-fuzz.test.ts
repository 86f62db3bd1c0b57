// Fuzzes decodeFrame and every individual decoder with random bytes and mutated valid frames, and the scans'
// answer readers (syn and udp: the shared header walk and quoted-probe reader of ip-view.ts and quote.ts).
// Properties checked for every call:
//   1. it returns or throws a DecodeError (never a RangeError, TypeError, ... and never code "internal");
//   2. it reads nothing outside [offset, offset + length): each frame is decoded twice, once in place inside a
//      larger buffer whose other bytes are a random sentinel, once from a subarray holding just the frame
//      (where indexing past the end yields undefined); both must give identical results;
//   3. every offset it returns (payload, quoted transport, MAC offsets) lies inside the frame, and every
//      Buffer view it returns points into the frame;
//   4. it does not write to its input.
// Reproduce a failure with the printed seed: WIREPROBE_FUZZ_SEED=<seed> (and WIREPROBE_FUZZ_FRAMES=<count>).

import t from "tap";
import {
  address,
  arp,
  checksum,
  DecodeError,
  decodeFrame,
  ethernet,
  icmp,
  icmpv6,
  ipv4,
  ipv6,
  ndp,
  tcp,
  udp,
} from "../../src/packet";
import { Answer, Answer6, readAnswer, readAnswer6 } from "../../src/probes/syn/answer";
import { readUdpAnswer, UdpAnswer } from "../../src/probes/udp/answer";

const SEED = Number(process.env.WIREPROBE_FUZZ_SEED ?? 0x5eed2024) >>> 0;
const FRAMES = Number(process.env.WIREPROBE_FUZZ_FRAMES ?? 100_000);
const MAX_FAILURES = 20;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const random = mulberry32(SEED);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

type LinkType = "ethernet" | "ipv4" | "ipv6";
type FieldKind = "u8" | "u16" | "hi4" | "lo4";

interface Template {
  name: string;
  linkType: LinkType;
  bytes: Buffer;
  /** where the ARP packet / IPv4 header / transport header start (for the per-layer decoders and fix-ups) */
  arp: number;
  ip: number;
  l4: number;
  /** length-like fields to set to 0 / small / huge values */
  lengths: Array<{ at: number; kind: FieldKind }>;
  /** an IPv6 packet starts at `ip` */
  v6?: boolean;
}

// ---- valid frames of each kind, built with the encoders ------------------------------------------------

const MAC_A = "02:00:00:00:00:01";
const MAC_B = "02:00:00:00:00:02";
const IP_A = address.ipv4ToInt("192.0.2.1");
const IP_B = address.ipv4ToInt("198.51.100.2");

function eth(type: number, vlan = false): Buffer {
  return ethernet.encode({
    dst: MAC_B,
    src: MAC_A,
    ethertype: type,
    vlan: vlan ? { id: 42, priority: 3 } : null,
  });
}

function ipPacket(protocol: number, l4: Buffer, extra: Partial<ipv4.Ipv4Fields> = {}): Buffer {
  return Buffer.concat([
    ipv4.encode({ protocol, src: IP_A, dst: IP_B, payloadLength: l4.length, ...extra }),
    l4,
  ]);
}

function synPacket(): Buffer {
  const b = Buffer.alloc(64);
  const n = tcp.writeSynPacket(b, 0, {
    srcIp: IP_A,
    dstIp: IP_B,
    srcPort: 40000,
    dstPort: 443,
    seq: 0xabcdef01,
  });
  return b.subarray(0, n);
}

function synAck(): Buffer {
  const seg = tcp.encode(
    {
      srcPort: 443,
      dstPort: 40000,
      seq: 7,
      ackNumber: 0xabcdef02,
      syn: true,
      ack: true,
      options: [
        { kind: "mss", value: 1460 },
        { kind: "sack-permitted" },
        { kind: "timestamps", value: 1, echo: 2 },
        { kind: "nop" },
        { kind: "window-scale", shift: 7 },
      ],
      payload: Buffer.from("hello, scanner"),
    },
    undefined,
    0,
    { src: IP_B, dst: IP_A },
  );
  return Buffer.concat([ipv4.encode({ protocol: 6, src: IP_B, dst: IP_A, payloadLength: seg.length }), seg]);
}

function udpPacket(payload: Buffer, ipOptions?: Buffer): Buffer {
  const d = udp.encode({ srcPort: 5353, dstPort: 33434, payload }, undefined, 0, { src: IP_A, dst: IP_B });
  return ipPacket(17, d, ipOptions ? { options: ipOptions } : {});
}

function icmpPacket(fields: icmp.IcmpFields): Buffer {
  return ipPacket(1, icmp.encode(fields));
}

function template(
  name: string,
  linkType: LinkType,
  bytes: Buffer,
  layout: { arp?: number; ip?: number },
  extraLengths: Array<{ at: number; kind: FieldKind }> = [],
): Template {
  const ip = layout.ip ?? 14;
  const ihl = bytes.length > ip ? (bytes[ip] & 0x0f) * 4 : 20;
  const l4 = ip + ihl;
  const lengths: Template["lengths"] = [...extraLengths];
  if (layout.arp !== undefined) {
    lengths.push({ at: layout.arp + 4, kind: "u8" }, { at: layout.arp + 5, kind: "u8" });
  } else if (linkType === "ipv4" || bytes.readUInt16BE(ip - 2) === ethernet.ETHERTYPE_IPV4) {
    lengths.push({ at: ip, kind: "lo4" }, { at: ip + 2, kind: "u16" });
    const protocol = bytes[ip + 9];
    if (protocol === 6) lengths.push({ at: l4 + 12, kind: "hi4" });
    if (protocol === 17) lengths.push({ at: l4 + 4, kind: "u16" });
    if (protocol === 1 && (bytes[l4] === 3 || bytes[l4] === 11)) {
      lengths.push({ at: l4 + 5, kind: "u8" }, { at: l4 + 8, kind: "lo4" }, { at: l4 + 10, kind: "u16" });
    }
  }
  return {
    name,
    linkType,
    bytes,
    arp: layout.arp ?? 14,
    ip,
    l4,
    lengths: lengths.filter((f) => f.at < bytes.length),
  };
}

function buildTemplates(): Template[] {
  const arpReq = Buffer.alloc(42);
  arp.writeArpRequestFrame(arpReq, 0, address.parseMac(MAC_A), IP_A, IP_B);
  const arpReply = Buffer.concat([
    eth(0x0806),
    arp.encode({ op: 2, senderMac: MAC_B, senderIp: IP_B, targetMac: MAC_A, targetIp: IP_A }),
    Buffer.alloc(18),
  ]);
  const arpVlan = Buffer.concat([
    eth(0x0806, true),
    arp.encode({ op: 2, senderMac: MAC_B, senderIp: IP_B, targetMac: MAC_A, targetIp: IP_A }),
  ]);
  const syn = synPacket();
  const sa = synAck();
  const udpSmall = udpPacket(Buffer.from("odd payload"));
  const udpOpts = udpPacket(Buffer.from("dns?"), Buffer.from([0x94, 0x04, 0, 0, 1, 1, 1, 0]));
  const echo = icmpPacket({ kind: "echo-request", id: 0x77, seq: 9, payload: Buffer.alloc(32, 0x61) });
  const portUnreach = icmpPacket({
    kind: "destination-unreachable",
    code: 3,
    payload: udpSmall.subarray(0, 28),
  });
  const ttlExceeded = icmpPacket({ kind: "time-exceeded", code: 0, payload: syn });
  const hostUnreach = icmpPacket({ kind: "destination-unreachable", code: 1, payload: echo.subarray(0, 28) });
  const withExt = icmp.encode({
    kind: "destination-unreachable",
    code: 4,
    mtu: 1400,
    payload: Buffer.concat([
      syn,
      Buffer.alloc(128 - syn.length),
      Buffer.from("20000008000101020000000a", "hex"),
    ]),
  });
  withExt[5] = 32;
  withExt.writeUInt16BE(0, 2);
  withExt.writeUInt16BE(checksum.internetChecksum(withExt), 2);
  const fragNeeded = ipPacket(1, withExt);
  const fragment = udpPacket(Buffer.alloc(40, 0x33));
  fragment[6] = 0x20; // MF
  fragment.writeUInt16BE(0, 10);
  fragment.writeUInt16BE(checksum.internetChecksum(fragment, 0, 20), 10);
  const gre = ipPacket(47, Buffer.alloc(24, 0x47));
  const rst = ipPacket(
    6,
    tcp.encode(
      { srcPort: 443, dstPort: 40000, seq: 0, ackNumber: 1, rst: true, ack: true, window: 0 },
      undefined,
      0,
      {
        src: IP_A,
        dst: IP_B,
      },
    ),
  );
  const saOptionLengths = [21, 25, 27, 31].map((d) => ({ at: 14 + 20 + d, kind: "u8" as const }));

  const ipTemplates: Array<[string, Buffer, Array<{ at: number; kind: FieldKind }>]> = [
    ["tcp-syn", syn, []],
    ["tcp-synack-options", sa, saOptionLengths],
    ["tcp-rst", rst, []],
    ["udp", udpSmall, []],
    ["udp-ip-options", udpOpts, []],
    ["icmp-echo", echo, []],
    ["icmp-port-unreach", portUnreach, []],
    ["icmp-ttl-exceeded", ttlExceeded, []],
    ["icmp-host-unreach-echo", hostUnreach, []],
    ["icmp-frag-needed-rfc4884", fragNeeded, []],
    ["ipv4-fragment", fragment, []],
    ["ipv4-gre", gre, []],
  ];
  const out: Template[] = [
    template("arp-request", "ethernet", arpReq, { arp: 14 }),
    template("arp-reply-padded", "ethernet", arpReply, { arp: 14 }),
    template("arp-reply-vlan", "ethernet", arpVlan, { arp: 18 }),
    template("ipv6-unknown", "ethernet", Buffer.concat([eth(0x86dd), Buffer.alloc(40, 0x60)]), {}),
    template("ieee802.3-length", "ethernet", Buffer.concat([eth(0x0026), Buffer.alloc(38, 0x42)]), {}),
  ];
  for (const [name, pkt, extra] of ipTemplates) {
    out.push(template(`eth-${name}`, "ethernet", Buffer.concat([eth(0x0800), pkt]), { ip: 14 }, extra));
    out.push(
      template(
        `raw-${name}`,
        "ipv4",
        pkt,
        { ip: 0 },
        extra.map((f) => ({ at: f.at - 14, kind: f.kind })),
      ),
    );
  }
  out.push(template("eth-vlan-udp", "ethernet", Buffer.concat([eth(0x0800, true), udpSmall]), { ip: 18 }));
  out.push(template("eth-vlan-tcp-synack", "ethernet", Buffer.concat([eth(0x0800, true), sa]), { ip: 18 }));
  out.push(...buildIpv6Templates());
  return out;
}

// IPv6 addresses (2001:db8::1, 2001:db8::2) and a router on the way (2001:db8:ffff::fe).
const IP6_A = Buffer.from("20010db8000000000000000000000001", "hex");
const IP6_B = Buffer.from("20010db8000000000000000000000002", "hex");
const IP6_R = Buffer.from("20010db8ffff000000000000000000fe", "hex");

function ip6Packet(nh: number, upper: Buffer, src = IP6_A, dst = IP6_B, ext = Buffer.alloc(0)): Buffer {
  return Buffer.concat([
    ipv6.encode({ nextHeader: nh, src, dst, payloadLength: ext.length + upper.length }),
    ext,
    upper,
  ]);
}

function buildIpv6Templates(): Template[] {
  const syn = Buffer.alloc(64);
  tcp.writeSyn6Packet(syn, 0, { src: IP6_A, dst: IP6_B, srcPort: 40000, dstPort: 443, seq: 0xabcdef01 });
  const dgram = Buffer.alloc(48 + 11);
  udp.writeUdp6Packet(dgram, 0, {
    src: IP6_A,
    dst: IP6_B,
    srcPort: 5353,
    dstPort: 53,
    payload: Buffer.from("odd payload"),
  });
  const ns = Buffer.alloc(ndp.SOLICITATION_FRAME_LENGTH);
  ndp.writeNeighborSolicitationFrame(ns, 0, address.parseMac(MAC_A), IP6_A, IP6_B);
  const na = ip6Packet(
    58,
    ndp.encode(
      {
        kind: "neighbor-advertisement",
        target: IP6_B,
        solicited: true,
        override: true,
        targetLinkLayer: MAC_B,
      },
      undefined,
      0,
      { src: IP6_B, dst: IP6_A },
    ),
    IP6_B,
    IP6_A,
  );
  // Hop limit 255, as RFC 4861 requires of a neighbour advertisement (readNeighborAdvertisement checks it).
  na[7] = 255;
  const icmp6 = (fields: icmpv6.Icmpv6Fields, src = IP6_B): Buffer =>
    ip6Packet(58, icmpv6.encode(fields, undefined, 0, { src, dst: IP6_A }), src, IP6_A);
  const echo = icmp6({ kind: "echo-request", id: 0x77, seq: 9, payload: Buffer.alloc(32, 0x61) });
  const portUnreach = icmp6({ kind: "destination-unreachable", code: 4, payload: dgram });
  const tooBig = icmp6({ kind: "packet-too-big", mtu: 1280, payload: syn });
  const hopLimit = icmp6({ kind: "time-exceeded", code: 0, payload: echo }, IP6_R);
  const withExt = icmpv6.encode({
    kind: "destination-unreachable",
    code: 1,
    payload: Buffer.concat([
      syn,
      Buffer.alloc(128 - syn.length),
      Buffer.from("20000008000101020000000a", "hex"),
    ]),
  });
  withExt[4] = 16;
  withExt.writeUInt16BE(0, 2);
  withExt.writeUInt16BE(checksum.transportChecksum6(withExt, 0, withExt.length, IP6_R, IP6_A, 58), 2);
  const rfc4884 = ip6Packet(58, withExt, IP6_R, IP6_A);
  // hop-by-hop (router alert) and destination options in front of the UDP datagram
  const chainExt = Buffer.from("3c0005020000010011000104" + "00000000", "hex");
  const chain = ip6Packet(0, dgram.subarray(40), IP6_A, IP6_B, chainExt);
  const fragment = ip6Packet(44, dgram.subarray(40), IP6_A, IP6_B, Buffer.from("1100000112345678", "hex"));

  const v6 = (name: string, pkt: Buffer, l4Extra = 0): Array<[string, Buffer, number]> => [
    [name, pkt, l4Extra],
  ];
  const list: Array<[string, Buffer, number]> = [
    ...v6("ipv6-tcp-syn", syn.subarray(0, 64)),
    ...v6("ipv6-udp", dgram),
    ...v6("ipv6-ndp-na", na),
    ...v6("ipv6-icmp-echo", echo),
    ...v6("ipv6-icmp-port-unreach", portUnreach),
    ...v6("ipv6-icmp-too-big", tooBig),
    ...v6("ipv6-icmp-hop-limit", hopLimit),
    ...v6("ipv6-icmp-rfc4884", rfc4884),
    ...v6("ipv6-ext-chain-udp", chain, 16),
    ...v6("ipv6-fragment", fragment, 8),
  ];
  const out: Template[] = [];
  const make = (name: string, linkType: LinkType, bytes: Buffer, ip: number, l4Extra: number): Template => {
    const l4 = ip + 40 + l4Extra;
    const nh = bytes[ip + 6];
    const lengths: Template["lengths"] = [{ at: ip + 4, kind: "u16" }];
    if (l4Extra > 0 && nh !== 44) lengths.push({ at: ip + 41, kind: "u8" }, { at: ip + 49, kind: "u8" });
    const proto = l4Extra > 0 ? 17 : nh;
    if (proto === 17) lengths.push({ at: l4 + 4, kind: "u16" });
    if (proto === 6) lengths.push({ at: l4 + 12, kind: "hi4" });
    if (proto === 58) {
      const type = bytes[l4];
      if (type === 136 || type === 135) lengths.push({ at: l4 + 25, kind: "u8" });
      if (type === 1 || type === 3) lengths.push({ at: l4 + 4, kind: "u8" }, { at: l4 + 12, kind: "u16" });
      if (type === 2) lengths.push({ at: l4 + 12, kind: "u16" });
    }
    return {
      name,
      linkType,
      bytes,
      arp: ip,
      ip,
      l4,
      lengths: lengths.filter((f) => f.at < bytes.length),
      v6: true,
    };
  };
  out.push(make("eth-ipv6-ndp-ns", "ethernet", ns, 14, 0));
  for (const [name, pkt, extra] of list) {
    out.push(make(`eth-${name}`, "ethernet", Buffer.concat([eth(0x86dd), pkt]), 14, extra));
    out.push(make(`raw-${name}`, "ipv6", pkt, 0, extra));
  }
  out.push(make("eth-vlan-ipv6-udp", "ethernet", Buffer.concat([eth(0x86dd, true), dgram]), 18, 0));
  return out;
}

/** Recomputes the upper-layer checksum of an IPv6 frame whose fixed header leads straight to it. */
function fixChecksums6(f: Buffer, tpl: Template): void {
  const ip = tpl.ip;
  if (f.length < ip + 40 || f[ip] >>> 4 !== 6) return;
  const l4 = ip + 40;
  const n = Math.min(f.readUInt16BE(ip + 4), f.length - l4);
  const src = f.subarray(ip + 8, ip + 24);
  const dst = f.subarray(ip + 24, ip + 40);
  const at = { 58: 2, 6: 16, 17: 6 }[f[ip + 6] as 58 | 6 | 17];
  if (at === undefined || n < at + 2) return;
  let len = n;
  if (f[ip + 6] === 17) {
    len = f.readUInt16BE(l4 + 4);
    if (len < 8 || len > n) return;
  }
  f.writeUInt16BE(0, l4 + at);
  const sum = checksum.transportChecksum6(f, l4, len, src, dst, f[ip + 6]);
  f.writeUInt16BE(f[ip + 6] === 17 && sum === 0 ? 0xffff : sum, l4 + at);
}

// ---- mutations -------------------------------------------------------------------------------------------

/** Recomputes the IPv4 header and transport checksums where the (mutated) structure still allows it. */
function fixChecksums(f: Buffer, tpl: Template): void {
  const ip = tpl.ip;
  if (f.length < ip + 20 || f[ip] >>> 4 !== 4) return;
  const ihl = (f[ip] & 0x0f) * 4;
  if (ihl < 20 || ip + ihl > f.length) return;
  f.writeUInt16BE(0, ip + 10);
  f.writeUInt16BE(checksum.internetChecksum(f, ip, ihl), ip + 10);
  const total = Math.min(f.readUInt16BE(ip + 2), f.length - ip);
  const l4 = ip + ihl;
  const n = total - ihl;
  if (n <= 0) return;
  const src = f.readUInt32BE(ip + 12);
  const dst = f.readUInt32BE(ip + 16);
  switch (f[ip + 9]) {
    case 1:
      if (n >= 8) {
        f.writeUInt16BE(0, l4 + 2);
        f.writeUInt16BE(checksum.internetChecksum(f, l4, n), l4 + 2);
      }
      break;
    case 6:
      if (n >= 20) {
        f.writeUInt16BE(0, l4 + 16);
        f.writeUInt16BE(checksum.transportChecksum(f, l4, n, src, dst, 6), l4 + 16);
      }
      break;
    case 17:
      if (n >= 8) {
        const len = f.readUInt16BE(l4 + 4);
        if (len >= 8 && len <= n) {
          f.writeUInt16BE(0, l4 + 6);
          f.writeUInt16BE(checksum.transportChecksum(f, l4, len, src, dst, 17) || 0xffff, l4 + 6);
        }
      }
      break;
  }
}

function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}

function randomLength(): number {
  // Most boundaries sit in the first hundred bytes; still cover up to a jumbo-free MTU and a bit more.
  return random() < 0.6 ? int(100) : int(1601);
}

/** Header-length boundaries: zero, below/at/above the 8-byte UDP/ICMP and 20-byte IPv4/TCP minimums. */
const SMALL_LENGTHS = [0, 1, 7, 8, 9, 19, 20, 21, 27, 28];

function setLengthField(f: Buffer, field: { at: number; kind: FieldKind }): void {
  const { at, kind } = field;
  switch (kind) {
    case "u8":
      f[at] = pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 40, 128, 255, int(256)]);
      break;
    case "u16":
      if (at + 1 < f.length) {
        const cur = f.readUInt16BE(at);
        const value = pick([
          ...SMALL_LENGTHS,
          int(64),
          cur - 1,
          cur + 1,
          f.length,
          0x8000,
          0xffff,
          int(65536),
        ]);
        f.writeUInt16BE(value & 0xffff, at);
      }
      break;
    case "hi4":
      f[at] = (f[at] & 0x0f) | (pick([0, 1, 4, 5, 6, 15, int(16)]) << 4);
      break;
    case "lo4":
      f[at] = (f[at] & 0xf0) | pick([0, 1, 4, 5, 6, 15, int(16)]);
      break;
  }
}

interface Case {
  gen: string;
  tpl: Template | null;
  linkType: LinkType;
  frame: Buffer;
}

function makeCase(templates: readonly Template[]): Case {
  const r = random();
  if (r < 0.2) {
    return {
      gen: "random",
      tpl: null,
      linkType: pick(["ethernet", "ipv4", "ipv6"] as const),
      frame: randomBytes(randomLength()),
    };
  }
  const tpl = pick(templates);
  const f = Buffer.from(tpl.bytes);
  let gen: string;
  let frame = f;
  if (r < 0.3) {
    // Valid headers in front of garbage: reaches the inner decoders far more often than pure noise.
    gen = "random-tail";
    const keep = Math.min(f.length, tpl.l4 + int(24));
    frame = Buffer.concat([f.subarray(0, keep), randomBytes(int(200))]);
    // Make the IPv4 total length cover the garbage so that the transport decoders get to read it.
    if (!tpl.name.includes("arp") && frame.length >= tpl.ip + 4 && frame[tpl.ip] >>> 4 === 4) {
      frame.writeUInt16BE(Math.min(0xffff, frame.length - tpl.ip), tpl.ip + 2);
    }
    if (tpl.v6 && frame.length >= tpl.ip + 40) {
      frame.writeUInt16BE(Math.min(0xffff, frame.length - tpl.ip - 40), tpl.ip + 4);
    }
  } else if (r < 0.6) {
    gen = "bit-flips";
    const flips = 1 + int(4);
    for (let i = 0; i < flips && f.length > 0; i++) f[int(f.length)] ^= 1 << int(8);
  } else if (r < 0.85 && tpl.lengths.length > 0) {
    gen = "length-field";
    setLengthField(f, pick(tpl.lengths));
    if (random() < 0.3) setLengthField(f, pick(tpl.lengths));
  } else {
    gen = pick(["overwrite", "cut", "extend"] as const);
    if (gen === "overwrite" && f.length > 0) f[int(f.length)] = int(256);
    if (gen === "cut") frame = f.subarray(0, int(f.length + 1));
    if (gen === "extend") frame = Buffer.concat([f, randomBytes(1 + int(64))]);
  }
  if (random() < 0.5) {
    gen += "+fixed";
    if (tpl.v6) fixChecksums6(frame, tpl);
    else fixChecksums(frame, tpl);
  }
  return { gen, tpl, linkType: tpl.linkType, frame };
}

// ---- the harness -----------------------------------------------------------------------------------------

interface Outcome {
  ok: boolean;
  value: unknown;
  err: unknown;
}

function run(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn(), err: null };
  } catch (err) {
    return { ok: false, value: undefined, err };
  }
}

class Violation extends Error {}

function isPosition(key: string): boolean {
  // fragmentOffset is a header field (in 8-byte units), not a position in the buffer.
  return key === "offset" || (key.endsWith("Offset") && key !== "fragmentOffset");
}

function partnerLength(key: string, parent: Record<string, unknown>): number {
  const v = parent[key === "offset" ? "length" : `${key.slice(0, -6)}Length`];
  return typeof v === "number" ? v : 6; // bare offsets (readArpReply) point at MAC addresses
}

/**
 * Compares the in-place result `a` with the alone result `b` (whose positions are `base` lower) and checks
 * that every position and Buffer view of both lies inside the frame, which sits at arena[base, end).
 * Throws Violation on the first difference. Walks both at once to allocate nothing on the common path.
 */
function compare(
  a: unknown,
  b: unknown,
  base: number,
  end: number,
  arena: Buffer,
  path: string,
  key: string,
  pa: Record<string, unknown> | null,
  pb: Record<string, unknown> | null,
): void {
  if (typeof a === "number" && pa && pb && isPosition(key)) {
    const la = partnerLength(key, pa);
    if (!Number.isInteger(a) || la < 0 || a < base || a + la > end) {
      throw new Violation(`${path}: [${a}, ${a + la}) outside the frame [${base}, ${end})`);
    }
    if (typeof b !== "number" || a - base !== b)
      throw new Violation(`${path}: ${a} - ${base} in place, ${String(b)} alone`);
    return;
  }
  if (a === null || typeof a !== "object") {
    if (a !== b) throw new Violation(`${path}: ${String(a)} in place, ${String(b)} alone`);
    return;
  }
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) throw new Violation(`${path}: views differ`);
    for (const v of [a, b]) {
      const start = v.byteOffset - arena.byteOffset;
      if (v.buffer !== arena.buffer || start < base || start + v.length > end) {
        throw new Violation(
          `${path}: view [${start}, ${start + v.length}) outside the frame [${base}, ${end})`,
        );
      }
    }
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Violation(`${path}: view bytes differ`);
    return;
  }
  if (typeof b !== "object" || b === null || Array.isArray(a) !== Array.isArray(b)) {
    throw new Violation(`${path}: shapes differ`);
  }
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  let na = 0;
  let nb = 0;
  for (const k in oa) {
    na++;
    compare(oa[k], ob[k], base, end, arena, `${path}.${k}`, k, oa, ob);
  }
  for (const _ in ob) nb++;
  if (na !== nb) throw new Violation(`${path}: ${na} keys in place, ${nb} alone`);
}

type Decoder = (buf: Buffer, offset: number, length: number) => unknown;

function decodersFor(c: Case): Array<[string, Decoder]> {
  const tpl = c.tpl;
  const arpAt = tpl ? tpl.arp : pick([0, 14, 18]);
  const ipAt = tpl ? tpl.ip : pick([0, 14, 18]);
  const l4At = tpl ? tpl.l4 : pick([0, 20, 34, 38]);
  const verify = random() < 0.5;
  const allowTruncated = random() < 0.5;
  const srcIp = c.frame.length >= ipAt + 20 ? c.frame.readUInt32BE(ipAt + 12) : IP_A;
  const dstIp = c.frame.length >= ipAt + 20 ? c.frame.readUInt32BE(ipAt + 16) : IP_B;
  const srcIp6 = c.frame.length >= ipAt + 40 ? Buffer.from(c.frame.subarray(ipAt + 8, ipAt + 24)) : IP6_A;
  const dstIp6 = c.frame.length >= ipAt + 40 ? Buffer.from(c.frame.subarray(ipAt + 24, ipAt + 40)) : IP6_B;
  const l4At6 = tpl ? tpl.l4 : pick([0, 40, 54, 58]);
  const at = (layerAt: number, fn: Decoder): Decoder => {
    // The layer decoders get the frame from their layer's start; a too-short frame gives them length 0.
    return (buf, offset, length) => {
      const skip = Math.min(layerAt, length);
      return fn(buf, offset + skip, length - skip);
    };
  };
  return [
    ["decodeFrame", (b, o, l) => decodeFrame(b, { linkType: c.linkType, offset: o, length: l })],
    [
      "decodeFrame(no-verify)",
      (b, o, l) => decodeFrame(b, { linkType: c.linkType, offset: o, length: l, verifyChecksums: false }),
    ],
    ["ethernet.decode", (b, o, l) => ethernet.decode(b, o, l)],
    ["arp.decode", at(arpAt, (b, o, l) => arp.decode(b, o, l))],
    ["arp.readArpReply", (b, o, l) => arp.readArpReply(b, o, l)],
    ["ndp.readNeighborAdvertisement", (b, o, l) => ndp.readNeighborAdvertisement(b, o, l)],
    [
      "syn.readAnswer6",
      (b, o, l) => {
        const answer = new Answer6();
        return readAnswer6(b, o, l, answer) ? answer : null;
      },
    ],
    [
      "syn.readAnswer",
      (b, o, l) => {
        const answer = new Answer();
        return readAnswer(b, o, l, c.linkType === "ipv4" ? 0 : 14, answer) ? answer : null;
      },
    ],
    [
      "udp.readUdpAnswer",
      (b, o, l) => {
        const answer = new UdpAnswer();
        return readUdpAnswer(b, o, l, c.linkType === "ipv4" ? 0 : 14, answer) ? answer : null;
      },
    ],
    ["ipv4.decode", at(ipAt, (b, o, l) => ipv4.decode(b, o, l, { verifyChecksum: verify, allowTruncated }))],
    ["icmp.decode", at(l4At, (b, o, l) => icmp.decode(b, o, l, { verifyChecksum: verify }))],
    ["tcp.decode", at(l4At, (b, o, l) => tcp.decode(b, o, l, { srcIp, dstIp, verifyChecksum: verify }))],
    ["udp.decode", at(l4At, (b, o, l) => udp.decode(b, o, l, { srcIp, dstIp, verifyChecksum: verify }))],
    [
      "decodeFrame(ipv6)",
      (b, o, l) =>
        decodeFrame(b, { linkType: c.linkType, offset: o, length: l, ipv6: true, verifyChecksums: verify }),
    ],
    ["ipv6.decode", at(ipAt, (b, o, l) => ipv6.decode(b, o, l, { allowTruncated }))],
    [
      "icmpv6.decode",
      at(l4At6, (b, o, l) => icmpv6.decode(b, o, l, { src: srcIp6, dst: dstIp6, verifyChecksum: verify })),
    ],
    [
      "ndp.decode",
      at(l4At6, (b, o, l) => ndp.decode(b, o, l, { src: srcIp6, dst: dstIp6, verifyChecksum: verify })),
    ],
    [
      "udp.decode(ipv6)",
      at(l4At6, (b, o, l) => udp.decode(b, o, l, { srcIp6, dstIp6, verifyChecksum: verify })),
    ],
    [
      "tcp.decode(ipv6)",
      at(l4At6, (b, o, l) => tcp.decode(b, o, l, { srcIp6, dstIp6, verifyChecksum: verify })),
    ],
  ];
}

function describe(o: Outcome): string {
  if (o.ok) return `ok ${JSON.stringify(o.value)}`;
  const e = o.err;
  if (e instanceof DecodeError) return `DecodeError ${e.layer}/${e.code}`;
  return `NOT a DecodeError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
}

t.test("decoders survive random and mutated frames", async (t) => {
  const templates = buildTemplates();
  const arena = Buffer.alloc(4096);
  const failures: string[] = [];
  const outcomes = new Map<string, number>();
  const deep = {
    arp: 0,
    ipv4: 0,
    tcp: 0,
    udp: 0,
    echo: 0,
    unreachable: 0,
    timeExceeded: 0,
    arpReplies: 0,
    advertisements: 0,
    synAnswers6: 0,
    synErrors: 0,
    udpAnswers: 0,
    udpErrors: 0,
    udpErrors6: 0,
    ipv6: 0,
    tcp6: 0,
    udp6: 0,
    echo6: 0,
    unreachable6: 0,
    tooBig6: 0,
    timeExceeded6: 0,
    ndp: 0,
  };
  const count = (k: string): void => {
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  };
  let frames = 0;
  let calls = 0;

  const check = (c: Case, index: number): void => {
    frames++;
    const { frame } = c;
    const len = frame.length;
    const sentinel = int(256);
    const base = 1 + int(64);
    arena.fill(sentinel, 0, base + len + 64);
    frame.copy(arena, base);
    const view = arena.subarray(base, base + len);
    for (const [name, fn] of decodersFor(c)) {
      calls++;
      const inPlace = run(() => fn(arena, base, len));
      const alone = run(() => fn(view, 0, len));
      let problem: string | null = null;
      try {
        for (const o of [inPlace, alone]) {
          if (!o.ok && (!(o.err instanceof DecodeError) || o.err.code === "internal")) {
            problem = describe(o);
            break;
          }
        }
        if (!problem) {
          if (inPlace.ok !== alone.ok) {
            problem = `in place: ${describe(inPlace)}; alone: ${describe(alone)}`;
          } else if (inPlace.ok && alone.ok) {
            compare(inPlace.value, alone.value, base, base + len, arena, name, "", null, null);
          } else if (!inPlace.ok && !alone.ok) {
            const e1 = inPlace.err as DecodeError;
            const e2 = alone.err as DecodeError;
            if (e1.layer !== e2.layer || e1.code !== e2.code) {
              problem = `errors differ: in place ${e1.layer}/${e1.code}, alone ${e2.layer}/${e2.code}`;
            }
          }
        }
      } catch (err) {
        if (!(err instanceof Violation)) throw err;
        problem = err.message;
      }
      if (
        !arena.subarray(base, base + len).equals(frame) ||
        arena[base - 1] !== sentinel ||
        arena[base + len] !== sentinel
      ) {
        problem = `${problem ?? ""} decoder wrote to its input`;
        arena.fill(sentinel, 0, base + len + 64);
        frame.copy(arena, base);
      }
      if (problem && failures.length < MAX_FAILURES) {
        failures.push(
          `#${index} ${c.gen} ${c.tpl?.name ?? "-"} ${c.linkType} ${name}: ${problem}\n  frame ${frame.toString("hex")}`,
        );
      }
      if (name === "decodeFrame") {
        count(
          inPlace.ok
            ? "decodeFrame ok"
            : `decodeFrame ${(inPlace.err as DecodeError).layer}/${(inPlace.err as DecodeError).code}`,
        );
        if (inPlace.ok) {
          const f = inPlace.value as ReturnType<typeof decodeFrame>;
          if (f.arp) deep.arp++;
          if (f.ipv4) deep.ipv4++;
          if (f.tcp) deep.tcp++;
          if (f.udp) deep.udp++;
          if (f.icmp?.kind === "echo-request" || f.icmp?.kind === "echo-reply") deep.echo++;
          if (f.icmp?.kind === "destination-unreachable") deep.unreachable++;
          if (f.icmp?.kind === "time-exceeded") deep.timeExceeded++;
        }
      }
      if (name === "decodeFrame(ipv6)" && inPlace.ok) {
        const f = inPlace.value as ReturnType<typeof decodeFrame>;
        if (f.ipv6) {
          deep.ipv6++;
          if (f.tcp) deep.tcp6++;
          if (f.udp) deep.udp6++;
          if (f.ndp) deep.ndp++;
          if (f.icmpv6?.kind === "echo-request" || f.icmpv6?.kind === "echo-reply") deep.echo6++;
          if (f.icmpv6?.kind === "destination-unreachable") deep.unreachable6++;
          if (f.icmpv6?.kind === "packet-too-big") deep.tooBig6++;
          if (f.icmpv6?.kind === "time-exceeded") deep.timeExceeded6++;
        }
      }
      if (name === "arp.readArpReply" && inPlace.ok && inPlace.value !== null) deep.arpReplies++;
      if (name === "ndp.readNeighborAdvertisement" && inPlace.ok && inPlace.value !== null)
        deep.advertisements++;
      if (name === "syn.readAnswer6" && inPlace.ok && inPlace.value !== null) deep.synAnswers6++;
      if (name === "syn.readAnswer" && inPlace.ok && inPlace.value !== null) {
        if (!(inPlace.value as Answer).tcp) deep.synErrors++;
      }
      if (name === "udp.readUdpAnswer" && inPlace.ok && inPlace.value !== null) {
        const a = inPlace.value as UdpAnswer;
        if (a.echoed < 0) deep.udpAnswers++;
        else if (a.family === 4) deep.udpErrors++;
        else deep.udpErrors6++;
      }
    }
  };

  const started = Date.now();
  let index = 0;
  // Truncation at every position of every valid frame (and the untouched frame itself).
  for (const tpl of templates) {
    for (let n = 0; n <= tpl.bytes.length; n++) {
      check({ gen: "truncate", tpl, linkType: tpl.linkType, frame: tpl.bytes.subarray(0, n) }, index++);
    }
  }
  while (frames < FRAMES) check(makeCase(templates), index++);
  const ms = Date.now() - started;

  t.comment(`seed ${SEED} (0x${SEED.toString(16)}): ${frames} frames, ${calls} decoder calls, ${ms} ms`);
  t.comment(`templates: ${templates.length}; decodeFrame fully decoded: ${JSON.stringify(deep)}`);
  t.comment(
    `decodeFrame outcomes: ${[...outcomes.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  for (const f of failures) t.comment(f);
  t.equal(failures.length, 0, "every decoder returned or threw DecodeError, and stayed inside the frame");
  t.ok(frames >= FRAMES, `fed ${frames} frames to decodeFrame and every decoder`);
  // The fuzzing must reach every layer, not just bounce off the first length check.
  for (const [k, v] of Object.entries(deep)) t.ok(v > 100, `${k} decoded ${v} times`);
});
