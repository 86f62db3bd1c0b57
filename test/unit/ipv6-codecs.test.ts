// IPv6, ICMPv6 and NDP codecs, the IPv6 SYN/UDP writers and IPv6 frame decoding.
// Oracles: (1) tcpdump -vv reading a pcap of our frames (no network involved): it must decode each as we
// meant it and report every ICMPv6, UDP and TCP checksum as correct; (2) the checksums are also recomputed
// by a separate, deliberately naive RFC 8200 8.1 pseudo-header sum in this file; (3) addresses are checked
// against their hex bytes as inet_pton gives them (python3 -c "socket.inet_pton(socket.AF_INET6, ...)").

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import {
  address,
  checksum,
  DecodeError,
  decodeFrame,
  ethernet,
  icmpv6,
  ipv6,
  ipv6Address,
  ndp,
  tcp,
  udp,
} from "../../src/packet";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const MAC_A = "02:00:00:00:00:01";
const MAC_B = "02:00:00:00:00:02";
// inet_pton(AF_INET6, "2001:db8::1") and "2001:db8::2", "2001:db8:ffff::fe"
const IP_A = hex("20010db8000000000000000000000001");
const IP_B = hex("20010db8000000000000000000000002");
const ROUTER = hex("20010db8ffff000000000000000000fe");

function throwsDecode(t: Test, fn: () => unknown, layer: string, code: string, msg: string): void {
  try {
    fn();
    t.fail(`${msg}: did not throw`);
  } catch (err) {
    t.ok(err instanceof DecodeError, `${msg}: DecodeError`);
    if (err instanceof DecodeError) t.match({ layer: err.layer, code: err.code }, { layer, code }, msg);
  }
}

/** RFC 8200 8.1 written out field by field, independent of src/packet/checksum.ts. */
function naiveChecksum6(src: Uint8Array, dst: Uint8Array, nh: number, upper: Uint8Array): number {
  const bytes: number[] = [...src, ...dst];
  const len = upper.length;
  bytes.push((len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, 0, 0, 0, nh);
  bytes.push(...upper);
  if (bytes.length % 2) bytes.push(0);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += bytes[i]! * 256 + bytes[i + 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

/** The checksum field at `at` of `upper`, recomputed with the field zeroed. */
function recompute(src: Uint8Array, dst: Uint8Array, nh: number, upper: Uint8Array, at: number): number {
  const copy = Buffer.from(upper);
  copy.writeUInt16BE(0, at);
  return naiveChecksum6(src, dst, nh, copy);
}

function eth(dst = MAC_B, src = MAC_A): Buffer {
  return ethernet.encode({ dst, src, ethertype: ethernet.ETHERTYPE_IPV6 });
}

function packet(nh: number, upper: Buffer, src = IP_A, dst = IP_B, hopLimit = 64): Buffer {
  return Buffer.concat([
    ipv6.encode({ nextHeader: nh, src, dst, hopLimit, payloadLength: upper.length }),
    upper,
  ]);
}

function syn6(): Buffer {
  const b = Buffer.alloc(14 + 64);
  eth().copy(b);
  const n = tcp.writeSyn6Packet(b, 14, {
    src: IP_A,
    dst: IP_B,
    srcPort: 40000,
    dstPort: 443,
    seq: 0x9e3779b9,
  });
  return b.subarray(0, 14 + n);
}

function udp6(payload = Buffer.from("odd-length dns?")): Buffer {
  const b = Buffer.alloc(14 + 48 + payload.length);
  eth().copy(b);
  const n = udp.writeUdp6Packet(b, 14, { src: IP_A, dst: IP_B, srcPort: 5353, dstPort: 53, payload });
  return b.subarray(0, 14 + n);
}

function nsFrame(): Buffer {
  const b = Buffer.alloc(ndp.SOLICITATION_FRAME_LENGTH);
  const n = ndp.writeNeighborSolicitationFrame(b, 0, address.parseMac(MAC_A), IP_A, IP_B);
  return b.subarray(0, n);
}

function naFrame(): Buffer {
  const m = ndp.encode(
    { kind: "neighbor-advertisement", target: IP_B, solicited: true, override: true, targetLinkLayer: MAC_B },
    undefined,
    0,
    { src: IP_B, dst: IP_A },
  );
  return Buffer.concat([eth(MAC_A, MAC_B), packet(58, m, IP_B, IP_A, 255)]);
}

function icmpFrame(fields: icmpv6.Icmpv6Fields, src = IP_B, dst = IP_A): Buffer {
  return Buffer.concat([
    eth(MAC_A, MAC_B),
    packet(58, icmpv6.encode(fields, undefined, 0, { src, dst }), src, dst),
  ]);
}

t.test("neighbour solicitation frame: every byte", async (t) => {
  const f = nsFrame();
  t.equal(f.length, 86);
  const want = hex(
    // Ethernet: 33:33:ff + the target's low 24 bits, from MAC_A, IPv6
    "3333ff000002 020000000001 86dd" +
      // IPv6: version 6, payload 32, ICMPv6, hop limit 255, 2001:db8::1 > ff02::1:ff00:2
      "60000000 0020 3a ff 20010db8000000000000000000000001 ff0200000000000000000001ff000002" +
      // NS: type 135, code 0, checksum (below), reserved, target 2001:db8::2, SLLA option = MAC_A
      "87 00 0000 00000000 20010db8000000000000000000000002 01 01 020000000001",
  );
  const sum = recompute(f.subarray(22, 38), f.subarray(38, 54), 58, f.subarray(54), 2);
  want.writeUInt16BE(sum, 56);
  t.equal(
    f.toString("hex"),
    want.toString("hex"),
    `bytes as laid out by hand, checksum 0x${sum.toString(16)}`,
  );
  const d = decodeFrame(f, { linkType: "ethernet", ipv6: true });
  t.match(d, {
    ethernet: { dst: "33:33:ff:00:00:02", src: MAC_A },
    ipv6: { src: "2001:db8::1", dst: "ff02::1:ff00:2", hopLimit: 255, protocol: 58 },
    ndp: { kind: "neighbor-solicitation", target: "2001:db8::2", linkLayerAddress: MAC_A },
  });
  t.throws(
    () => ndp.writeNeighborSolicitationFrame(Buffer.alloc(85), 0, Buffer.alloc(6), IP_A, IP_B),
    RangeError,
  );
  t.throws(
    () => ndp.writeNeighborSolicitationFrame(Buffer.alloc(86), 0, Buffer.alloc(5), IP_A, IP_B),
    RangeError,
  );
  t.throws(
    () => ndp.writeNeighborSolicitationFrame(Buffer.alloc(86), 0, Buffer.alloc(6), IP_A, Buffer.alloc(4)),
    RangeError,
  );
});

t.test("checksums equal the independent pseudo-header sum", async (t) => {
  const s = syn6();
  t.equal(s.readUInt16BE(14 + 40 + 16), recompute(IP_A, IP_B, 6, s.subarray(54), 16), "TCP SYN over IPv6");
  t.equal(s.length, 14 + 64);
  t.equal(s.subarray(14).toString("hex").slice(0, 16), "6000000000180640", "payload length 24, TCP, hop 64");
  const u = udp6();
  t.equal(
    u.readUInt16BE(14 + 40 + 6),
    recompute(IP_A, IP_B, 17, u.subarray(54), 6),
    "UDP over IPv6 (odd length)",
  );
  const na = naFrame();
  t.equal(na.readUInt16BE(56), recompute(IP_B, IP_A, 58, na.subarray(54), 2), "NA");
  const e = icmpFrame({ kind: "echo-request", id: 7, seq: 1, payload: Buffer.from("abc") });
  t.equal(e.readUInt16BE(56), recompute(IP_B, IP_A, 58, e.subarray(54), 2), "echo");
  // The library's own function gives 0 over a correct message, as for IPv4.
  t.equal(checksum.transportChecksum6(e, 54, e.length - 54, IP_B, IP_A, 58), 0);
  // A large length exercises the 32-bit upper-layer length of the pseudo-header.
  const big = Buffer.alloc(70000, 0xab);
  t.equal(
    checksum.transportChecksum6(big, 0, big.length, IP_A, IP_B, 17),
    naiveChecksum6(IP_A, IP_B, 17, big),
  );
});

t.test("tcpdump -vv decodes every frame as meant and finds every checksum correct", async (t) => {
  const quotedUdp = udp6().subarray(14);
  const quotedSyn = syn6().subarray(14);
  const quotedEcho = icmpFrame({ kind: "echo-request", id: 0x1234, seq: 9 }, IP_A, IP_B).subarray(14);
  const frames: Array<[Buffer, RegExp]> = [
    [
      nsFrame(),
      /2001:db8::1 > ff02::1:ff00:2: \[icmp6 sum ok\] ICMP6, neighbor solicitation, length 32, who has 2001:db8::2\s+source link-address option \(1\), length 8 \(1\): 02:00:00:00:00:01/,
    ],
    [
      naFrame(),
      /2001:db8::2 > 2001:db8::1: \[icmp6 sum ok\] ICMP6, neighbor advertisement, length 32, tgt is 2001:db8::2, Flags \[solicited, override\]\s+destination link-address option \(2\), length 8 \(1\): 02:00:00:00:00:02/,
    ],
    [
      syn6(),
      /2001:db8::1\.40000 > 2001:db8::2\.443: Flags \[S\], cksum 0x[0-9a-f]+ \(correct\), seq 2654435769, win 1024, options \[mss 1440\]/,
    ],
    [udp6(), /2001:db8::1\.5353 > 2001:db8::2\.53: \[udp sum ok\]/],
    [
      icmpFrame({ kind: "echo-request", id: 77, seq: 3, payload: Buffer.from("ping!") }),
      /\[icmp6 sum ok\] ICMP6, echo request, id 77, seq 3/,
    ],
    [icmpFrame({ kind: "echo-reply", id: 77, seq: 3 }), /\[icmp6 sum ok\] ICMP6, echo reply, id 77, seq 3/],
    [
      icmpFrame({ kind: "destination-unreachable", code: "port-unreachable", payload: quotedUdp }),
      /\[icmp6 sum ok\] ICMP6, destination unreachable, unreachable port, 2001:db8::2 udp port 53/,
    ],
    [
      icmpFrame({ kind: "destination-unreachable", code: "admin-prohibited", payload: quotedSyn }),
      /\[icmp6 sum ok\] ICMP6, destination unreachable, +unreachable prohibited 2001:db8::2/,
    ],
    [
      icmpFrame({ kind: "packet-too-big", mtu: 1280, payload: quotedSyn }),
      /\[icmp6 sum ok\] ICMP6, packet too big, mtu 1280/,
    ],
    [
      icmpFrame({ kind: "time-exceeded", code: "hop-limit-exceeded", payload: quotedEcho }, ROUTER),
      /2001:db8:ffff::fe > 2001:db8::1: \[icmp6 sum ok\] ICMP6, time exceeded in-transit for 2001:db8::2/,
    ],
  ];
  const parts: Buffer[] = [Buffer.from("d4c3b2a1020004000000000000000000ffff000001000000", "hex")];
  for (const [fr] of frames) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(fr.length, 8);
    rec.writeUInt32LE(fr.length, 12);
    parts.push(rec, fr);
  }
  const dir = mkdtempSync(join(tmpdir(), "wireprobe-v6-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "v6.pcap");
  writeFileSync(file, Buffer.concat(parts));
  const r = spawnSync("tcpdump", ["-vv", "-nn", "-r", file], { encoding: "utf8" });
  t.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  // tcpdump prints each packet as a line starting with its timestamp; continuation lines are indented.
  const records = out.split(/\n(?=\d\d:\d\d:\d\d)/);
  t.equal(records.length, frames.length, "one record per frame");
  frames.forEach(([, re], i) => {
    t.match(records[i] ?? "", re, `frame ${i}`);
  });
  t.notMatch(out, /bad|wrong|incorrect/i, "no bad checksum anywhere");
  // Every frame also decodes with checksums verified.
  for (const [fr] of frames) t.doesNotThrow(() => decodeFrame(fr, { linkType: "ethernet", ipv6: true }));
});

t.test("ICMPv6 errors: the quoted packet is decoded far enough to match a probe", async (t) => {
  const quotedUdp = udp6().subarray(14);
  const pu = decodeFrame(icmpFrame({ kind: "destination-unreachable", code: 4, payload: quotedUdp }), {
    linkType: "ethernet",
    ipv6: true,
  });
  t.match(pu.icmpv6, {
    kind: "destination-unreachable",
    code: 4,
    codeName: "port-unreachable",
    original: { ipv6: { src: "2001:db8::1", dst: "2001:db8::2", protocol: 17 }, srcPort: 5353, dstPort: 53 },
  });
  const quotedSyn = syn6().subarray(14, 14 + 48); // cut as a router may: header + 8 bytes of TCP
  const ptb = decodeFrame(icmpFrame({ kind: "packet-too-big", mtu: 1280, payload: quotedSyn }), {
    linkType: "ethernet",
    ipv6: true,
  });
  t.match(ptb.icmpv6, {
    kind: "packet-too-big",
    mtu: 1280,
    original: { ipv6: { truncated: true }, srcPort: 40000, dstPort: 443, tcpSeq: 0x9e3779b9 },
  });
  const echo = icmpFrame({ kind: "echo-request", id: 0x1234, seq: 9 }, IP_A, IP_B).subarray(14);
  const te = decodeFrame(icmpFrame({ kind: "time-exceeded", code: 0, payload: echo }, ROUTER), {
    linkType: "ethernet",
    ipv6: true,
  });
  t.match(te.icmpv6, {
    kind: "time-exceeded",
    codeName: "hop-limit-exceeded",
    original: { icmpType: 128, icmpId: 0x1234, icmpSeq: 9 },
  });
  const pp = icmpv6.decode(icmpv6.encode({ kind: "parameter-problem", code: 1, pointer: 40, payload: echo }));
  t.match(pp, { kind: "parameter-problem", pointer: 40, original: { icmpType: 128 } });
  for (const [code, name] of Object.entries(icmpv6.UNREACH_CODES))
    t.equal(icmpv6.unreachCodeName(name), code);
  t.equal(icmpv6.unreachCodeName(99), "code-99");
  t.equal(icmpv6.timeExceededCodeName(1), "reassembly-timeout");
  throwsDecode(
    t,
    () =>
      icmpv6.decode(
        icmpv6.encode({ kind: "destination-unreachable", code: 0, payload: Buffer.alloc(39, 0x60) }),
      ),
    "icmpv6",
    "truncated",
    "an error quoting less than an IPv6 header",
  );
  t.throws(() => icmpv6.encode({ kind: "time-exceeded", code: "nope" as "hop-limit-exceeded" }), RangeError);
});

t.test("NDP: advertisement flags, options, refusals", async (t) => {
  const m = ndp.encode(
    { kind: "neighbor-advertisement", target: "2001:db8::2", router: true, targetLinkLayer: MAC_B },
    undefined,
    0,
    { src: IP_B, dst: IP_A },
  );
  const d = ndp.decode(m, 0, m.length, { src: IP_B, dst: IP_A });
  t.match(d, {
    kind: "neighbor-advertisement",
    router: true,
    solicited: false,
    override: false,
    target: "2001:db8::2",
    linkLayerAddress: MAC_B,
  });
  t.equal(d.options.length, 1);
  const bare = ndp.encode({ kind: "neighbor-solicitation", target: IP_B });
  t.equal(bare.length, 24);
  t.equal(ndp.decode(bare).linkLayerAddress, null, "no option, no MAC");
  throwsDecode(
    t,
    () => ndp.decode(m, 0, m.length, { src: IP_A, dst: IP_A }),
    "ndp",
    "bad-checksum",
    "wrong pseudo-header",
  );
  const zeroLen = Buffer.from(m);
  zeroLen[25] = 0;
  throwsDecode(t, () => ndp.decode(zeroLen), "ndp", "bad-option", "option length 0 (RFC 4861 must discard)");
  const long = Buffer.from(m);
  long[25] = 2;
  throwsDecode(t, () => ndp.decode(long), "ndp", "bad-option", "option past the end");
  const code = Buffer.from(m);
  code[1] = 1;
  throwsDecode(t, () => ndp.decode(code), "ndp", "unsupported", "code 1");
  const echo = icmpv6.encode({ kind: "echo-request", id: 1, seq: 1, payload: Buffer.alloc(16) });
  throwsDecode(t, () => ndp.decode(echo), "ndp", "unsupported", "not NS/NA");
  throwsDecode(t, () => ndp.decode(m.subarray(0, 23)), "ndp", "truncated", "23 bytes");
  // A mismatched link-layer option (source LLA in an advertisement) is kept but not taken as the MAC.
  const other = ndp.encode({ kind: "neighbor-solicitation", target: IP_B, sourceLinkLayer: MAC_A });
  other[0] = 136;
  t.equal(ndp.decode(other).linkLayerAddress, null);
});

t.test("IPv6 header: fields, extension headers, refusals", async (t) => {
  const h = ipv6.encode({
    trafficClass: 0xb8,
    flowLabel: 0xabcde,
    nextHeader: 17,
    hopLimit: 3,
    src: "2001:db8::1",
    dst: IP_B,
    payloadLength: 0,
  });
  t.equal(h.toString("hex").slice(0, 16), "6b8abcde00001103");
  t.match(ipv6.decode(h), {
    version: 6,
    trafficClass: 0xb8,
    flowLabel: 0xabcde,
    hopLimit: 3,
    src: "2001:db8::1",
    dst: "2001:db8::2",
  });
  t.throws(() => ipv6.encode({ nextHeader: 17, src: "::ffff:1.2.3.4x", dst: IP_B }), TypeError);
  t.throws(() => ipv6.encode({ nextHeader: 17, src: IP_A, dst: IP_B, flowLabel: 1 << 20 }), RangeError);
  t.throws(() => ipv6.encode({ nextHeader: 17, src: IP_A, dst: Buffer.alloc(4) }), TypeError);

  // hop-by-hop (router alert) + destination options + UDP: the UDP datagram is found and verified behind them
  const u = udp6().subarray(54);
  const hbh = hex("3c00 0502 0000 0100"); // next: dest options, len 0, router alert, PadN
  const dopt = hex("11 00 01 04 00000000"); // next: UDP, len 0, PadN(4)
  const chain = Buffer.concat([
    eth(),
    ipv6.encode({ nextHeader: 0, src: IP_A, dst: IP_B, payloadLength: 16 + u.length }),
    hbh,
    dopt,
    u,
  ]);
  const d = decodeFrame(chain, { linkType: "ethernet", ipv6: true });
  t.match(d.ipv6, {
    nextHeader: 0,
    protocol: 17,
    extensionHeaders: [
      { type: 0, length: 8 },
      { type: 60, length: 8 },
    ],
  });
  t.match(d.udp, { srcPort: 5353, dstPort: 53 });
  // a fragment header: reported, the fragment is not decoded further (its checksum spans the whole datagram)
  const frag = hex("11 00 0001 12345678"); // next UDP, offset 0, M
  const fr = Buffer.concat([
    ipv6.encode({ nextHeader: 44, src: IP_A, dst: IP_B, payloadLength: 8 + u.length }),
    frag,
    u,
  ]);
  const df = decodeFrame(fr, { linkType: "ipv6" });
  t.match(df.ipv6, { protocol: 17, moreFragments: true, fragmentOffset: 0, fragmentId: 0x12345678 });
  t.equal(df.udp, undefined);
  t.same(df.payload, { offset: 48, length: u.length });

  throwsDecode(t, () => ipv6.decode(h.subarray(0, 39)), "ipv6", "truncated", "39 bytes");
  const v4 = Buffer.from(h);
  v4[0] = 0x45;
  throwsDecode(t, () => ipv6.decode(v4), "ipv6", "bad-version", "version 4");
  const long = Buffer.from(h);
  long.writeUInt16BE(1, 4);
  throwsDecode(t, () => ipv6.decode(long), "ipv6", "truncated", "payload length past the end");
  t.equal(ipv6.decode(long, 0, 40, { allowTruncated: true }).truncated, true);
  const jumbo = ipv6.encode({ nextHeader: 0, src: IP_A, dst: IP_B });
  throwsDecode(
    t,
    () => ipv6.decode(Buffer.concat([jumbo, Buffer.alloc(8)])),
    "ipv6",
    "unsupported",
    "jumbogram",
  );
  const badExt = Buffer.concat([
    ipv6.encode({ nextHeader: 60, src: IP_A, dst: IP_B, payloadLength: 8 }),
    hex("11 01 0000 00000000"),
  ]);
  throwsDecode(
    t,
    () => ipv6.decode(badExt),
    "ipv6",
    "bad-length",
    "extension header longer than the payload",
  );
  const loop: Buffer[] = [ipv6.encode({ nextHeader: 60, src: IP_A, dst: IP_B, payloadLength: 80 })];
  for (let i = 0; i < 10; i++) loop.push(hex("3c00 0106 00000000"));
  throwsDecode(
    t,
    () => ipv6.decode(Buffer.concat(loop)),
    "ipv6",
    "unsupported",
    "a chain of 10 extension headers",
  );
});

t.test("UDP and TCP over IPv6: checksum verified, a zero UDP checksum refused", async (t) => {
  const f = udp6();
  t.match(udp.decode(f, 54, f.length - 54, { srcIp6: IP_A, dstIp6: IP_B }), {
    srcPort: 5353,
    length: 8 + 15,
  });
  throwsDecode(
    t,
    () => udp.decode(f, 54, f.length - 54, { srcIp6: IP_A, dstIp6: ROUTER }),
    "udp",
    "bad-checksum",
    "wrong address",
  );
  const zero = Buffer.from(f);
  zero.writeUInt16BE(0, 60);
  throwsDecode(
    t,
    () => udp.decode(zero, 54, zero.length - 54, { srcIp6: IP_A, dstIp6: IP_B }),
    "udp",
    "bad-checksum",
    "zero over IPv6 (RFC 8200 8.1)",
  );
  throwsDecode(
    t,
    () => decodeFrame(zero, { linkType: "ethernet", ipv6: true }),
    "udp",
    "bad-checksum",
    "frame too",
  );
  t.ok(
    decodeFrame(zero, { linkType: "ethernet", ipv6: true, verifyChecksums: false }).udp,
    "unless verification is off",
  );
  const s = syn6();
  t.match(tcp.decode(s, 54, s.length - 54, { srcIp6: IP_A, dstIp6: IP_B }), {
    syn: true,
    seq: 0x9e3779b9,
    options: [{ kind: "mss", value: 1440 }],
  });
  const bad = Buffer.from(s);
  bad[70] ^= 1;
  throwsDecode(
    t,
    () => decodeFrame(bad, { linkType: "ethernet", ipv6: true }),
    "tcp",
    "bad-checksum",
    "flipped bit",
  );
  // a computed 0 is sent as 0xffff: find a payload whose sum is 0
  let zeroSum: Buffer | null = null;
  for (let v = 0; v < 0x10000 && !zeroSum; v++) {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(v);
    const b = Buffer.alloc(50);
    udp.writeUdp6Packet(b, 0, { src: IP_A, dst: IP_B, srcPort: 1, dstPort: 2, payload: p });
    if (b.readUInt16BE(46) === 0xffff) zeroSum = b;
  }
  t.ok(zeroSum, "a datagram whose checksum computes to 0 exists");
  if (zeroSum)
    t.equal(
      naiveChecksum6(
        IP_A,
        IP_B,
        17,
        Buffer.concat([zeroSum.subarray(40, 46), Buffer.alloc(2), zeroSum.subarray(48)]),
      ),
      0,
    );
  t.throws(
    () => tcp.writeSyn6Packet(Buffer.alloc(63), 0, { src: IP_A, dst: IP_B, srcPort: 1, dstPort: 2, seq: 0 }),
    RangeError,
  );
  t.throws(
    () =>
      tcp.writeSyn6Packet(Buffer.alloc(64), 0, {
        src: IP_A,
        dst: IP_B,
        srcPort: 1,
        dstPort: 2,
        seq: 0,
        hopLimit: 256,
      }),
    RangeError,
  );
  t.throws(
    () =>
      udp.writeUdp6Packet(Buffer.alloc(64), 0, { src: IP_A, dst: Buffer.alloc(4), srcPort: 1, dstPort: 2 }),
    RangeError,
  );
  t.equal(tcp.syn6PacketLength(), 64);
  t.equal(udp.udp6PacketLength(Buffer.alloc(3)), 51);
});

t.test("IPv6 frame decoding is opt-in: without it an 0x86dd frame is reported as before", async (t) => {
  const f = nsFrame();
  const before = decodeFrame(f, { linkType: "ethernet" });
  t.same(before.payload, { offset: 14, length: 72 });
  t.equal(before.ipv6, undefined);
  t.equal(before.ndp, undefined);
  throwsDecode(
    t,
    () => decodeFrame(f, { linkType: "bogus" as "ipv6" }),
    "frame",
    "bad-argument",
    "unknown link type",
  );
  t.equal(
    ipv6Address.formatIpv6(decodeFrame(f, { linkType: "ethernet", ipv6: true }).ndp!.targetBytes),
    "2001:db8::2",
  );
});

t.test(
  "readNeighborAdvertisement: a valid advertisement frame, and the RFC 4861 7.1.2 refusals",
  async (t) => {
    const message = ndp.encode(
      {
        kind: "neighbor-advertisement",
        target: IP_B,
        solicited: true,
        override: true,
        targetLinkLayer: MAC_B,
      },
      undefined,
      0,
      { src: IP_B, dst: IP_A },
    );
    const frame = Buffer.alloc(14 + 40 + message.length);
    address.parseMac(MAC_A, frame, 0);
    address.parseMac("02:00:00:00:00:09", frame, 6);
    frame.writeUInt16BE(0x86dd, 12);
    ipv6.writeHeader(frame, 14, message.length, 58, 255, IP_B, IP_A);
    message.copy(frame, 54);
    const view = ndp.readNeighborAdvertisement(frame, 0, frame.length);
    t.ok(view, "a valid advertisement is read");
    t.equal(view!.targetOffset, 62);
    t.equal(address.macToString(frame, view!.macOffset), MAC_B, "the MAC of the target link-layer option");
    t.match(view, { hasTargetLinkLayer: true, solicited: true, override: true, router: false });
    const changed = (at: number, value: number): Buffer => {
      const f = Buffer.from(frame);
      f[at] = value;
      return f;
    };
    t.equal(ndp.readNeighborAdvertisement(changed(21, 254), 0, frame.length), null, "hop limit 254: routed");
    t.equal(
      ndp.readNeighborAdvertisement(changed(56, frame[56]! ^ 1), 0, frame.length),
      null,
      "bad checksum",
    );
    t.equal(ndp.readNeighborAdvertisement(changed(55, 1), 0, frame.length), null, "code 1");
    t.equal(ndp.readNeighborAdvertisement(changed(54, 135), 0, frame.length), null, "a solicitation");
    t.equal(ndp.readNeighborAdvertisement(frame, 0, frame.length - 1), null, "truncated");
    t.equal(ndp.readNeighborAdvertisement(frame, 0, 70), null, "shorter than an advertisement");
    // Without the option the Ethernet source names the MAC.
    const bare = ndp.encode({ kind: "neighbor-advertisement", target: IP_B }, undefined, 0, {
      src: IP_B,
      dst: IP_A,
    });
    const f2 = Buffer.alloc(14 + 40 + bare.length);
    frame.copy(f2, 0, 0, 14);
    ipv6.writeHeader(f2, 14, bare.length, 58, 255, IP_B, IP_A);
    bare.copy(f2, 54);
    const v2 = ndp.readNeighborAdvertisement(f2, 0, f2.length)!;
    t.equal(address.macToString(f2, v2.macOffset), "02:00:00:00:00:09");
    t.equal(v2.hasTargetLinkLayer, false);
  },
);
