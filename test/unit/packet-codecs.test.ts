// Known-good vectors and round trips for every packet codec. The hex vectors were built independently
// (a few lines of Python struct packing) and their checksums confirmed by `tcpdump -vvv` ("cksum ...
// (correct)", "udp sum ok"); nothing was sent on any network.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import {
  address,
  arp,
  checksum,
  DecodeError,
  decodeFrame,
  ethernet,
  icmp,
  ipv4,
  tcp,
  udp,
} from "../../src/packet";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

function throwsDecode(t: Test, fn: () => unknown, layer: string, code: string, msg: string): void {
  try {
    fn();
    t.fail(`${msg}: did not throw`);
  } catch (err) {
    t.ok(err instanceof DecodeError, `${msg}: DecodeError`);
    if (err instanceof DecodeError) t.match({ layer: err.layer, code: err.code }, { layer, code }, msg);
  }
}

// who-has 198.51.100.2 tell 198.51.100.1, from 02:00:00:00:00:01 (RFC 826 layout)
const ARP_REQUEST = hex(
  "ffffffffffff 020000000001 0806" + "0001 0800 06 04 0001 020000000001 c6336401 000000000000 c6336402",
);
// 198.51.100.2 is-at 02:00:00:00:00:02
const ARP_REPLY = hex(
  "020000000001 020000000002 0806" + "0001 0800 06 04 0002 020000000002 c6336402 020000000001 c6336401",
);
// 192.0.2.1:40000 > 198.51.100.2:80 SYN seq 0x01020304 win 1024 <mss 1460>, id 0x1234, ttl 64:
// IPv4 checksum 0x7c61, TCP checksum 0x0759 (tcpdump: "cksum 0x0759 (correct)")
const SYN_PACKET = hex(
  "4500002c 1234 0000 40 06 7c61 c0000201 c6336402" +
    "9c40 0050 01020304 00000000 60 02 0400 0759 0000 020405b4",
);
// 192.0.2.1 > 198.51.100.2 ICMP echo request id 0x1234 seq 1 "wireprobe" (odd length on purpose)
const ECHO_PACKET = hex(
  "45000025 4242 0000 40 01 4c5f c0000201 c6336402" + "08 00 b726 1234 0001 7769726570726f6265",
);
// 192.0.2.1:53000 > 192.0.2.53:53 "hello", DF, id 7 (tcpdump: "udp sum ok")
const UDP_PACKET = hex("45000021 0007 4000 40 11 b68e c0000201 c0000235" + "cf08 0035 000d 688d 68656c6c6f");

t.test("address: ipv4ToInt / intToIpv4 / isValidIpv4", async (t) => {
  t.equal(address.ipv4ToInt("0.0.0.0"), 0);
  t.equal(address.ipv4ToInt("255.255.255.255"), 0xffffffff);
  t.equal(address.ipv4ToInt("192.0.2.1"), 0xc0000201);
  t.equal(address.ipv4ToInt("10.0.0.0"), 0x0a000000);
  t.equal(address.ipv4ToInt("198.51.100.200"), 0xc63364c8);
  for (const n of [0, 1, 0x7fffffff, 0x80000000, 0xc0000201, 0xffffffff]) {
    t.equal(address.ipv4ToInt(address.intToIpv4(n)), n, `round trip ${n}`);
  }
  t.equal(address.intToIpv4(0xc0000201), "192.0.2.1");
  const invalid = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.256",
    "1.2.3.1000",
    "01.2.3.4",
    "1.2.3.00",
    "1.2.3.010",
    "1..2.3",
    ".1.2.3",
    "1.2.3.4.",
    " 1.2.3.4",
    "1.2.3.4 ",
    "+1.2.3.4",
    "-1.2.3.4",
    "a.b.c.d",
    "1.2.3.0x1",
    "\uff11.2.3.4",
    "1.2.3.4\n",
    "192.168.1",
    "0x7f.0.0.1",
  ];
  for (const s of invalid) {
    t.throws(() => address.ipv4ToInt(s), TypeError, `rejects ${JSON.stringify(s)}`);
    t.equal(address.isValidIpv4(s), false, `isValidIpv4 ${JSON.stringify(s)}`);
  }
  t.throws(() => address.ipv4ToInt("01.2.3.4"), /leading zero/);
  t.throws(() => address.ipv4ToInt("1.2.3.256"), /greater than 255/);
  t.throws(() => address.ipv4ToInt("1.2.3"), /4 dot-separated/);
  t.throws(() => address.ipv4ToInt(123 as unknown as string), TypeError);
  t.equal(address.isValidIpv4("192.0.2.1"), true);
  t.equal(address.isValidIpv4(null), false);
  for (const n of [-1, 0x100000000, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => address.intToIpv4(n), TypeError, `intToIpv4 rejects ${n}`);
  }
  t.equal(address.toIpv4Int("192.0.2.1"), 0xc0000201);
  t.equal(address.toIpv4Int(5), 5);
  t.throws(() => address.toIpv4Int(-5), TypeError);
});

t.test("address: MAC helpers", async (t) => {
  t.same([...address.parseMac("aa:bb:cc:dd:ee:ff")], [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
  t.same([...address.parseMac("AA-BB-CC-0d-0E-f0")], [0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0xf0]);
  const into = Buffer.alloc(10, 0x11);
  t.equal(address.parseMac("02:00:00:00:00:01", into, 2), into);
  t.equal(into.toString("hex"), "11110200000000011111");
  for (const s of [
    "",
    "aa:bb:cc:dd:ee",
    "aa:bb:cc:dd:ee:ff:00",
    "aa:bb-cc:dd:ee:ff",
    "aa:bb:cc:dd:ee:fg",
    "aabb.ccdd.eeff",
    "a:b:c:d:e:f",
    "aa bb cc dd ee ff",
    "aa::bb:cc:dd:eeff",
  ]) {
    t.throws(() => address.parseMac(s), TypeError, `rejects ${JSON.stringify(s)}`);
    t.equal(address.isValidMac(s), false);
  }
  const untouched = Buffer.alloc(6, 0x22);
  t.throws(() => address.parseMac("aa:bb:cc:dd:ee:zz", untouched));
  t.equal(untouched.toString("hex"), "222222222222", "buffer left untouched on error");
  t.throws(() => address.parseMac("aa:bb:cc:dd:ee:ff", Buffer.alloc(5)), RangeError);
  t.equal(address.isValidMac("aa-bb-cc-dd-ee-ff"), true);
  t.equal(address.macToString(hex("00AABBCCDDEEFF"), 1), "aa:bb:cc:dd:ee:ff");
  t.equal(address.macToString(address.BROADCAST_MAC), "ff:ff:ff:ff:ff:ff");
  t.equal(address.macToString(address.ZERO_MAC), "00:00:00:00:00:00");
  t.throws(() => address.macToString(Buffer.alloc(6), 1), RangeError);
  t.equal(address.macToNumber(hex("ffffffffffff")), 0xffffffffffff);
  t.equal(address.macToNumber(hex("00020000000001"), 1), 0x020000000001);
  t.throws(() => address.macToNumber(Buffer.alloc(3)), RangeError);
});

t.test("checksum", async (t) => {
  // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2 (after the end-around carry).
  const rfc = hex("0001f203f4f5f6f7");
  t.equal(checksum.finishChecksum(checksum.sumWords(rfc, 0, 8)), ~0xddf2 & 0xffff);
  t.equal(checksum.internetChecksum(rfc), 0x220d);
  // An odd byte is the high half of a zero-padded word.
  t.equal(checksum.internetChecksum(hex("ff")), 0x00ff);
  t.equal(checksum.internetChecksum(hex("00")), 0xffff);
  t.equal(checksum.internetChecksum(Buffer.alloc(0)), 0xffff);
  t.equal(checksum.finishChecksum(0x1fffe), 0);
  // 2^32 is congruent to 1 modulo 0xffff, so 3 * 2^32 + 5 folds like 3 + 5.
  t.equal(checksum.finishChecksum(3 * 2 ** 32 + 5), ~8 & 0xffff, "folds past 32 bits");
  // Over a region that holds its own correct checksum, the result is 0.
  t.equal(checksum.internetChecksum(SYN_PACKET, 0, 20), 0);
  t.equal(
    checksum.transportChecksum(
      SYN_PACKET,
      20,
      24,
      address.ipv4ToInt("192.0.2.1"),
      address.ipv4ToInt("198.51.100.2"),
      6,
    ),
    0,
  );
  t.throws(() => checksum.sumWords(rfc, 4, 8), RangeError);
  t.throws(() => checksum.internetChecksum(rfc, -1, 2), RangeError);
  // A large buffer agrees with a straightforward reference.
  const big = Buffer.alloc(100001);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 0xff;
  let ref = 0;
  for (let i = 0; i < big.length; i += 2) {
    ref += (big[i] << 8) + (i + 1 < big.length ? big[i + 1] : 0);
    ref = (ref & 0xffff) + (ref >>> 16);
  }
  t.equal(checksum.internetChecksum(big), ~ref & 0xffff);
});

t.test("ethernet", async (t) => {
  const fields = { dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:00:01", ethertype: ethernet.ETHERTYPE_ARP };
  const enc = ethernet.encode(fields);
  t.equal(enc.toString("hex"), ARP_REQUEST.subarray(0, 14).toString("hex"));
  t.equal(ethernet.encodingLength(fields), 14);
  const dec = ethernet.decode(ARP_REQUEST);
  t.match(dec, { ...fields, vlan: null, headerLength: 14, payloadOffset: 14, payloadLength: 28 });
  t.same(ethernet.encode(dec), enc, "decode -> encode round trip");

  const tagged = {
    dst: "02:00:00:00:00:02",
    src: address.parseMac("02:00:00:00:00:01"),
    ethertype: ethernet.ETHERTYPE_IPV4,
    vlan: { id: 100, priority: 5, dropEligible: true },
  };
  t.equal(ethernet.encodingLength(tagged), 18);
  const buf = Buffer.alloc(40, 0xee);
  ethernet.encode(tagged, buf, 3);
  t.equal(buf.subarray(3, 21).toString("hex"), "020000000002020000000001" + "8100" + "b064" + "0800");
  const d = ethernet.decode(buf, 3, 37);
  t.match(d, {
    dst: "02:00:00:00:00:02",
    src: "02:00:00:00:00:01",
    ethertype: 0x0800,
    vlan: { id: 100, priority: 5, dropEligible: true },
    headerLength: 18,
    payloadOffset: 21,
    payloadLength: 19,
  });
  throwsDecode(t, () => ethernet.decode(Buffer.alloc(13)), "ethernet", "truncated", "13 bytes");
  throwsDecode(t, () => ethernet.decode(buf.subarray(3, 20)), "ethernet", "truncated", "cut VLAN tag");
  throwsDecode(t, () => ethernet.decode(buf, 30, 20), "ethernet", "bad-argument", "range past buffer");
  throwsDecode(t, () => ethernet.decode(buf, -1), "ethernet", "bad-argument", "negative offset");
  t.throws(() => ethernet.encode({ ...fields, ethertype: 0x10000 }), RangeError);
  t.throws(() => ethernet.encode({ ...fields, vlan: { id: 4096 } }), RangeError);
  t.throws(() => ethernet.encode(fields, Buffer.alloc(13)), RangeError);
});

t.test("arp: vectors and round trips", async (t) => {
  const req = decodeFrame(ARP_REQUEST, { linkType: "ethernet" });
  t.same(req.arp, {
    op: arp.OP_REQUEST,
    senderMac: "02:00:00:00:00:01",
    senderIp: "198.51.100.1",
    targetMac: "00:00:00:00:00:00",
    targetIp: "198.51.100.2",
  });
  const rep = arp.decode(ARP_REPLY, 14);
  t.same(rep, {
    op: arp.OP_REPLY,
    senderMac: "02:00:00:00:00:02",
    senderIp: "198.51.100.2",
    targetMac: "02:00:00:00:00:01",
    targetIp: "198.51.100.1",
  });
  t.equal(arp.encode(rep).toString("hex"), ARP_REPLY.subarray(14).toString("hex"), "decode -> encode");
  t.same(arp.decode(arp.encode(rep)), rep, "encode -> decode");
  const numeric = arp.encode({
    op: 1,
    senderMac: address.parseMac("02:00:00:00:00:01"),
    senderIp: 0xc6336401,
    targetMac: address.ZERO_MAC,
    targetIp: 0xc6336402,
  });
  t.equal(numeric.toString("hex"), ARP_REQUEST.subarray(14).toString("hex"), "numeric IPs and Buffer MACs");
  t.equal(arp.encodingLength(), 28);

  const noisy = Buffer.from(ARP_REPLY);
  noisy[14] = 6; // htype IEEE 802
  throwsDecode(t, () => arp.decode(noisy, 14), "arp", "unsupported", "htype 6");
  throwsDecode(t, () => arp.decode(ARP_REPLY, 14, 27), "arp", "truncated", "27 bytes");
  throwsDecode(t, () => arp.decode(ARP_REPLY, 14, 7), "arp", "truncated", "7 bytes");
});

t.test("arp: sweep fast path", async (t) => {
  const buf = Buffer.alloc(64, 0xee);
  const srcMac = address.parseMac("02:00:00:00:00:01");
  const n = arp.writeArpRequestFrame(buf, 5, srcMac, 0xc6336401, 0xc6336402);
  t.equal(n, 42);
  t.equal(buf.subarray(5, 47).toString("hex"), ARP_REQUEST.toString("hex"), "matches the reference request");
  t.equal(buf[4], 0xee, "nothing written before");
  t.equal(buf[47], 0xee, "nothing written after");
  t.throws(() => arp.writeArpRequestFrame(buf, 30, srcMac, 1, 2), RangeError);
  t.throws(() => arp.writeArpRequestFrame(buf, 0, Buffer.alloc(5), 1, 2), RangeError);
  t.throws(() => arp.writeArpRequestFrame(buf, 0, srcMac, -1, 2), RangeError);

  const view = arp.readArpReply(ARP_REPLY, 0, ARP_REPLY.length);
  t.ok(view);
  if (view) {
    t.equal(view.senderIp, 0xc6336402);
    t.equal(view.targetIp, 0xc6336401);
    t.equal(address.macToString(ARP_REPLY, view.senderMacOffset), "02:00:00:00:00:02");
    t.equal(address.macToString(ARP_REPLY, view.targetMacOffset), "02:00:00:00:00:01");
    t.equal(address.macToString(ARP_REPLY, view.etherSrcOffset), "02:00:00:00:00:02");
  }
  // Minimum-size Ethernet frame: padded to 60 bytes, at an offset in a larger buffer, with a reused object.
  const padded = Buffer.alloc(80, 0);
  ARP_REPLY.copy(padded, 10);
  const out = { senderIp: 0, senderMacOffset: 0, targetIp: 0, targetMacOffset: 0, etherSrcOffset: 0 };
  t.equal(arp.readArpReply(padded, 10, 60, out), out, "fills the given object");
  t.equal(out.senderMacOffset, 10 + 14 + 8);
  // 802.1Q-tagged reply.
  const tagged = Buffer.concat([ARP_REPLY.subarray(0, 12), hex("8100 0064 0806"), ARP_REPLY.subarray(14)]);
  t.equal(arp.readArpReply(tagged, 0, tagged.length)?.senderIp, 0xc6336402, "VLAN-tagged reply");
  t.equal(arp.readArpReply(tagged, 0, tagged.length - 1), null, "tagged, one byte short");

  t.equal(arp.readArpReply(ARP_REQUEST, 0, 42), null, "a request is not a reply");
  t.equal(arp.readArpReply(ARP_REPLY, 0, 41), null, "one byte short");
  t.equal(arp.readArpReply(ARP_REPLY, 1, 42), null, "range past the buffer");
  t.equal(arp.readArpReply(ARP_REPLY, -1, 10), null, "negative offset");
  t.equal(arp.readArpReply(SYN_PACKET, 0, SYN_PACKET.length), null, "not ARP");
  const bad = Buffer.from(ARP_REPLY);
  bad[19] = 8; // hlen
  t.equal(arp.readArpReply(bad, 0, bad.length), null, "hlen 8");
});

t.test("ipv4: classic checksum example and round trips", async (t) => {
  // 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7: by hand, the words other than the checksum sum to
  // 4500+0073+0000+4000+4011+c0a8+0001+c0a8+00c7 = 0x2479c; folded 0x479e; complement 0xb861.
  const words = [0x4500, 0x0073, 0x0000, 0x4000, 0x4011, 0xc0a8, 0x0001, 0xc0a8, 0x00c7];
  const sum = words.reduce((a, b) => a + b, 0);
  t.equal(sum, 0x2479c);
  t.equal(~((sum & 0xffff) + (sum >>> 16)) & 0xffff, 0xb861);
  const header = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
  const packet = Buffer.concat([header, Buffer.alloc(0x73 - 20, 0x5a)]);
  const d = ipv4.decode(packet);
  t.match(d, {
    version: 4,
    headerLength: 20,
    tos: 0,
    totalLength: 0x73,
    id: 0,
    flags: ipv4.FLAG_DF,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: 64,
    protocol: ipv4.PROTOCOL_UDP,
    checksum: 0xb861,
    src: "192.168.0.1",
    dst: "192.168.0.199",
    srcInt: 0xc0a80001,
    dstInt: 0xc0a800c7,
    payloadOffset: 20,
    payloadLength: 0x73 - 20,
    truncated: false,
  });
  t.equal(d.options.length, 0);
  const enc = ipv4.encode({
    protocol: 17,
    src: "192.168.0.1",
    dst: "192.168.0.199",
    dontFragment: true,
    payloadLength: 0x73 - 20,
  });
  t.equal(enc.toString("hex"), header.toString("hex"), "encode computes 0xb861");
  t.equal(ipv4.encode(d).toString("hex"), header.toString("hex"), "decode -> encode");

  // Options: 3 bytes given, padded to 4 (IHL 6); fragment fields; Ethernet-style trailing padding ignored.
  const fields = {
    tos: 0xb8,
    id: 0xbeef,
    moreFragments: true,
    fragmentOffset: 185,
    ttl: 1,
    protocol: 6,
    src: 0x0a000001,
    dst: "10.0.0.2",
    options: hex("940400"),
    payloadLength: 8,
  };
  t.equal(ipv4.encodingLength(fields), 24);
  const withOpts = Buffer.alloc(24 + 8 + 10, 0x77);
  ipv4.encode(fields, withOpts, 0);
  const o = ipv4.decode(withOpts);
  t.match(o, {
    headerLength: 24,
    totalLength: 32,
    tos: 0xb8,
    id: 0xbeef,
    flags: ipv4.FLAG_MF,
    moreFragments: true,
    dontFragment: false,
    fragmentOffset: 185,
    ttl: 1,
    protocol: 6,
    src: "10.0.0.1",
    dst: "10.0.0.2",
    payloadOffset: 24,
    payloadLength: 8,
  });
  t.equal(o.options.toString("hex"), "94040000");
  t.same(ipv4.encode(o), withOpts.subarray(0, 24), "round trip with options");
  t.throws(() => ipv4.encode({ ...fields, options: Buffer.alloc(41) }), RangeError);
  t.throws(() => ipv4.encode({ ...fields, payloadLength: 65535 }), RangeError);
  t.throws(() => ipv4.encode({ ...fields, src: "10.0.0.256" }), TypeError);

  throwsDecode(t, () => ipv4.decode(header.subarray(0, 19)), "ipv4", "truncated", "19 bytes");
  const v6 = Buffer.from(packet);
  v6[0] = 0x65;
  throwsDecode(t, () => ipv4.decode(v6), "ipv4", "bad-version", "version 6");
  const ihl4 = Buffer.from(packet);
  ihl4[0] = 0x44;
  throwsDecode(t, () => ipv4.decode(ihl4), "ipv4", "bad-length", "IHL 4");
  const ihl15 = Buffer.from(header);
  ihl15[0] = 0x4f;
  throwsDecode(t, () => ipv4.decode(ihl15), "ipv4", "truncated", "IHL 15 in 20 bytes");
  const short = Buffer.from(packet);
  short.writeUInt16BE(19, 2);
  throwsDecode(
    t,
    () => ipv4.decode(short, 0, undefined, { verifyChecksum: false }),
    "ipv4",
    "bad-length",
    "total 19",
  );
  throwsDecode(t, () => ipv4.decode(packet.subarray(0, 60)), "ipv4", "truncated", "total > present");
  const cut = ipv4.decode(packet.subarray(0, 60), 0, undefined, { allowTruncated: true });
  t.match(cut, { truncated: true, payloadLength: 40, totalLength: 0x73 });
  const corrupt = Buffer.from(packet);
  corrupt[8] = 63;
  throwsDecode(t, () => ipv4.decode(corrupt), "ipv4", "bad-checksum", "ttl changed");
  t.equal(ipv4.decode(corrupt, 0, undefined, { verifyChecksum: false }).ttl, 63, "verifyChecksum: false");
});

t.test("icmp: echo vector and round trip", async (t) => {
  const f = decodeFrame(ECHO_PACKET, { linkType: "ipv4" });
  t.match(f.ipv4, { checksum: 0x4c5f, protocol: 1, id: 0x4242, totalLength: 37 });
  t.match(f.icmp, {
    kind: "echo-request",
    type: 8,
    code: 0,
    checksum: 0xb726,
    id: 0x1234,
    seq: 1,
    payloadOffset: 28,
    payloadLength: 9,
  });
  t.same(f.payload, { offset: 28, length: 9 });
  const payload = Buffer.from("wireprobe");
  const enc = icmp.encode({ kind: "echo-request", id: 0x1234, seq: 1, payload });
  t.equal(enc.toString("hex"), ECHO_PACKET.subarray(20).toString("hex"), "encode matches the reference");
  t.equal(icmp.encodingLength({ kind: "echo-request", id: 1, seq: 1, payload }), 17);
  const reply = icmp.encode({ kind: "echo-reply", id: 0xffff, seq: 0xfffe });
  const r = icmp.decode(reply);
  t.match(r, { kind: "echo-reply", type: 0, id: 0xffff, seq: 0xfffe, payloadLength: 0 });
  if (f.icmp) {
    const again = icmp.encode({ ...f.icmp, payload: ECHO_PACKET.subarray(28) } as icmp.IcmpFields);
    t.same(again, ECHO_PACKET.subarray(20), "decode -> encode");
  }
  const bad = Buffer.from(ECHO_PACKET.subarray(20));
  bad[bad.length - 1] ^= 1;
  throwsDecode(t, () => icmp.decode(bad), "icmp", "bad-checksum", "flipped data bit");
  t.equal(icmp.decode(bad, 0, undefined, { verifyChecksum: false }).kind, "echo-request");
  throwsDecode(t, () => icmp.decode(enc, 0, 7), "icmp", "truncated", "7 bytes");
  const other = icmp.decode(icmp.encode({ kind: "other", type: 13, code: 0, rest: 0xdeadbeef }));
  t.match(other, { kind: "other", type: 13, rest: 0xdeadbeef });
});

t.test("icmp: errors quote the probe", async (t) => {
  // Port unreachable for the UDP datagram: the quote is its IPv4 header + the first 8 bytes.
  const quotedUdp = UDP_PACKET.subarray(0, 28);
  const unreach = icmp.encode({ kind: "destination-unreachable", code: "port-unreach", payload: quotedUdp });
  const u = icmp.decode(unreach);
  t.equal(u.kind, "destination-unreachable");
  if (u.kind === "destination-unreachable") {
    t.match(u, { type: 3, code: 3, codeName: "port-unreach", mtu: 0, payloadOffset: 8, payloadLength: 28 });
    t.match(u.original, {
      srcPort: 53000,
      dstPort: 53,
      tcpSeq: null,
      icmpId: null,
      transportOffset: 28,
      transportLength: 8,
    });
    // Its total length says 33 but only 28 bytes are quoted.
    t.match(u.original.ipv4, { src: "192.0.2.1", dst: "192.0.2.53", protocol: 17, id: 7, truncated: true });
  }
  // Time exceeded for the SYN, quoted with only 8 bytes of TCP (its total length says 44).
  const te = icmp.encode({
    kind: "time-exceeded",
    code: "ttl-exceeded",
    payload: SYN_PACKET.subarray(0, 28),
  });
  const x = icmp.decode(te);
  if (x.kind !== "time-exceeded") throw new Error("expected time-exceeded");
  t.match(x, { code: 0, codeName: "ttl-exceeded" });
  t.match(x.original, { srcPort: 40000, dstPort: 80, tcpSeq: 0x01020304, transportLength: 8 });
  t.match(x.original.ipv4, { truncated: true, totalLength: 44, id: 0x1234 });
  // Host unreachable for the ping, with frag-needed style MTU on a different code.
  const fn = icmp.decode(
    icmp.encode({
      kind: "destination-unreachable",
      code: 4,
      mtu: 1400,
      payload: ECHO_PACKET.subarray(0, 28),
    }),
  );
  if (fn.kind !== "destination-unreachable") throw new Error("expected destination-unreachable");
  t.match(fn, { codeName: "frag-needed", mtu: 1400 });
  t.match(fn.original, { icmpType: 8, icmpId: 0x1234, icmpSeq: 1, srcPort: null });
  for (const [name, code] of Object.entries(icmp.UNREACH_CODES)) t.equal(icmp.unreachCodeName(code), name);
  t.equal(icmp.unreachCodeName(9), "net-prohibited");
  t.equal(icmp.unreachCodeName(10), "host-prohibited");
  t.equal(icmp.unreachCodeName(13), "admin-prohibited");
  t.equal(icmp.unreachCodeName(99), "code-99");
  t.equal(icmp.timeExceededCodeName(1), "reassembly-timeout");
  // RFC 4884: the length byte bounds the quote; extension bytes after it are not the datagram's.
  const ext = Buffer.concat([SYN_PACKET.subarray(0, 28), Buffer.alloc(100), hex("20000000")]);
  const withExt = icmp.encode({ kind: "time-exceeded", code: 0, payload: ext });
  withExt[5] = 32; // 128 bytes of quote
  withExt.writeUInt16BE(0, 2);
  withExt.writeUInt16BE(checksum.internetChecksum(withExt), 2);
  const e = icmp.decode(withExt);
  if (e.kind !== "time-exceeded") throw new Error("expected time-exceeded");
  t.equal(e.original.transportLength, 24, "quote bounded by the RFC 4884 length (128 - 20 header)");
  t.equal(e.payloadLength, 132);

  throwsDecode(
    t,
    () => icmp.decode(icmp.encode({ kind: "time-exceeded", code: 0, payload: SYN_PACKET.subarray(0, 19) })),
    "icmp",
    "truncated",
    "quote shorter than an IPv4 header",
  );
  const garbage = Buffer.from(SYN_PACKET.subarray(0, 28));
  garbage[0] = 0x60;
  throwsDecode(
    t,
    () => icmp.decode(icmp.encode({ kind: "destination-unreachable", code: 1, payload: garbage })),
    "icmp",
    "bad-version",
    "quote is not IPv4",
  );
  t.throws(
    () => icmp.encode({ kind: "destination-unreachable", code: "nope" as "port-unreach" }),
    RangeError,
  );
});

t.test("tcp: SYN vector, options and round trips", async (t) => {
  const src = address.ipv4ToInt("192.0.2.1");
  const dst = address.ipv4ToInt("198.51.100.2");
  const buf = Buffer.alloc(64, 0xee);
  const n = tcp.writeSynPacket(buf, 2, {
    srcIp: src,
    dstIp: dst,
    srcPort: 40000,
    dstPort: 80,
    seq: 0x01020304,
    ipId: 0x1234,
  });
  t.equal(n, 44);
  t.equal(tcp.synPacketLength(), 44);
  t.equal(
    buf.subarray(2, 46).toString("hex"),
    SYN_PACKET.toString("hex"),
    "matches the tcpdump-verified SYN",
  );
  t.equal(buf[1], 0xee);
  t.equal(buf[46], 0xee);

  const f = decodeFrame(SYN_PACKET, { linkType: "ipv4" });
  t.match(f.tcp, {
    srcPort: 40000,
    dstPort: 80,
    seq: 0x01020304,
    ackNumber: 0,
    headerLength: 24,
    flags: tcp.FLAG_SYN,
    syn: true,
    ack: false,
    rst: false,
    fin: false,
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    window: 1024,
    checksum: 0x0759,
    urgentPointer: 0,
    payloadOffset: 44,
    payloadLength: 0,
  });
  t.same(f.tcp?.options, [{ kind: "mss", value: 1460 }]);
  const seg = tcp.encode(
    {
      srcPort: 40000,
      dstPort: 80,
      seq: 0x01020304,
      syn: true,
      window: 1024,
      options: [{ kind: "mss", value: 1460 }],
    },
    undefined,
    0,
    { src: "192.0.2.1", dst: "198.51.100.2" },
  );
  t.equal(seg.toString("hex"), SYN_PACKET.subarray(20).toString("hex"), "encode computes 0x0759");

  // A SYN-ACK with the usual Linux options, a payload and every flag representation.
  const options: tcp.TcpOption[] = [
    { kind: "mss", value: 1400 },
    { kind: "sack-permitted" },
    { kind: "timestamps", value: 0xdeadbeef, echo: 1 },
    { kind: "nop" },
    { kind: "window-scale", shift: 7 },
    { kind: "unknown", type: 30, data: hex("abcd") },
  ];
  const fields: tcp.TcpFields = {
    srcPort: 80,
    dstPort: 40000,
    seq: 0xfffffff0,
    ackNumber: 0x01020305,
    flags: tcp.FLAG_SYN,
    ack: true,
    ece: true,
    window: 65160,
    options,
    payload: Buffer.from("abc"),
  };
  t.equal(tcp.optionsLength(options), 24);
  t.equal(tcp.encodingLength(fields), 20 + 24 + 3);
  const ip = { src: dst, dst: src };
  const enc = tcp.encode(fields, undefined, 0, ip);
  const d = tcp.decode(enc, 0, enc.length, { srcIp: dst, dstIp: src });
  t.match(d, {
    flags: 0x52,
    syn: true,
    ack: true,
    ece: true,
    headerLength: 44,
    payloadOffset: 44,
    payloadLength: 3,
  });
  t.same(d.options.slice(0, 5), options.slice(0, 5));
  t.same(d.options[5], { kind: "unknown", type: 30, data: hex("abcd") });
  t.equal(d.options.length, 6);
  t.same(
    tcp.decodeOptions(tcp.encodeOptions([{ kind: "mss", value: 1 }, { kind: "nop" }])),
    [{ kind: "mss", value: 1 }, { kind: "nop" }, { kind: "eol" }],
    "padding shows as end-of-options",
  );
  t.same(tcp.encode({ ...d, payload: enc.subarray(44) }, undefined, 0, ip), enc, "decode -> encode");
  t.same(tcp.encode({ ...d, payload: enc.subarray(44) }), enc, "without addresses the checksum is copied");
  t.same(tcp.decodeOptions(tcp.encodeOptions([{ kind: "mss", value: 536 }])), [{ kind: "mss", value: 536 }]);
  t.same(tcp.decodeOptions(hex("0203ff01")), [
    { kind: "unknown", type: 2, data: hex("ff") },
    { kind: "nop" },
  ]);

  const syn = tcp.encodeOptions([{ kind: "mss", value: 1460 }, { kind: "sack-permitted" }, { kind: "nop" }]);
  t.equal(syn.length, 8);
  const n2 = tcp.writeSynPacket(buf, 0, {
    srcIp: src,
    dstIp: dst,
    srcPort: 1,
    dstPort: 2,
    seq: 3,
    options: syn,
    dontFragment: true,
    ttl: 42,
    window: 2048,
  });
  t.equal(n2, 48);
  const f2 = decodeFrame(buf.subarray(0, n2), { linkType: "ipv4" });
  t.match(f2.ipv4, { dontFragment: true, ttl: 42, totalLength: 48 });
  t.match(f2.tcp, { window: 2048, headerLength: 28, syn: true });
  t.equal(
    tcp.writeSynPacket(buf, 0, {
      srcIp: src,
      dstIp: dst,
      srcPort: 1,
      dstPort: 2,
      seq: 3,
      options: Buffer.alloc(0),
    }),
    40,
  );
  t.throws(
    () =>
      tcp.writeSynPacket(buf, 0, {
        srcIp: src,
        dstIp: dst,
        srcPort: 1,
        dstPort: 2,
        seq: 3,
        options: Buffer.alloc(3),
      }),
    RangeError,
  );
  t.throws(
    () => tcp.writeSynPacket(buf, 30, { srcIp: src, dstIp: dst, srcPort: 1, dstPort: 2, seq: 3 }),
    RangeError,
  );
  t.throws(
    () => tcp.writeSynPacket(buf, 0, { srcIp: src, dstIp: dst, srcPort: 70000, dstPort: 2, seq: 3 }),
    RangeError,
  );
  t.throws(
    () => tcp.writeSynPacket(buf, 0, { srcIp: -1, dstIp: dst, srcPort: 1, dstPort: 2, seq: 3 }),
    RangeError,
  );

  throwsDecode(t, () => tcp.decode(enc, 0, 19), "tcp", "truncated", "19 bytes");
  const off4 = Buffer.from(enc);
  off4[12] = 0x40;
  throwsDecode(t, () => tcp.decode(off4), "tcp", "bad-length", "data offset 4");
  throwsDecode(t, () => tcp.decode(enc, 0, 40), "tcp", "truncated", "options cut");
  throwsDecode(
    t,
    () => tcp.decode(enc, 0, enc.length, { srcIp: dst, dstIp: src + 1 }),
    "tcp",
    "bad-checksum",
    "another destination address",
  );
  t.equal(tcp.decode(enc, 0, enc.length, { srcIp: dst, dstIp: src + 1, verifyChecksum: false }).srcPort, 80);
  throwsDecode(t, () => tcp.decodeOptions(hex("02050000")), "tcp", "bad-option", "length past the end");
  throwsDecode(t, () => tcp.decodeOptions(hex("0201")), "tcp", "bad-option", "length 1");
  throwsDecode(t, () => tcp.decodeOptions(hex("02")), "tcp", "bad-option", "no length byte");
  t.throws(() => tcp.encodeOptions([{ kind: "unknown", type: 99, data: Buffer.alloc(39) }]), RangeError);
});

t.test("udp: vector and round trips", async (t) => {
  const f = decodeFrame(UDP_PACKET, { linkType: "ipv4" });
  t.match(f.ipv4, { dontFragment: true, checksum: 0xb68e });
  t.same(f.udp, {
    srcPort: 53000,
    dstPort: 53,
    length: 13,
    checksum: 0x688d,
    payloadOffset: 28,
    payloadLength: 5,
  });
  t.same(f.payload, { offset: 28, length: 5 });
  const ip = { src: "192.0.2.1", dst: "192.0.2.53" };
  const enc = udp.encode({ srcPort: 53000, dstPort: 53, payload: Buffer.from("hello") }, undefined, 0, ip);
  t.equal(enc.toString("hex"), UDP_PACKET.subarray(20).toString("hex"), "encode computes 0x688d");
  t.equal(udp.encodingLength({ srcPort: 1, dstPort: 2, payload: Buffer.from("hello") }), 13);
  if (f.udp) t.same(udp.encode({ ...f.udp, payload: Buffer.from("hello") }), enc, "decode -> encode");

  // A datagram whose computed checksum is 0 goes out as 0xffff (0 would mean "no checksum").
  let zeroCase: Buffer | null = null;
  for (let w = 0; w < 0x10000 && !zeroCase; w++) {
    const p = Buffer.from([w >>> 8, w & 0xff]);
    const probe = udp.encode({ srcPort: 1, dstPort: 2, payload: p }, undefined, 0, ip);
    if (probe.readUInt16BE(6) === 0xffff) zeroCase = probe;
  }
  t.ok(zeroCase, "found a payload whose checksum computes to 0");
  if (zeroCase) {
    const s = address.ipv4ToInt(ip.src);
    const d = address.ipv4ToInt(ip.dst);
    t.equal(udp.decode(zeroCase, 0, undefined, { srcIp: s, dstIp: d }).checksum, 0xffff, "0xffff verifies");
  }
  const none = udp.encode({ srcPort: 1, dstPort: 2, payload: Buffer.from("x") });
  t.equal(none.readUInt16BE(6), 0);
  t.equal(
    udp.decode(none, 0, undefined, { srcIp: 1, dstIp: 2 }).payloadLength,
    1,
    "checksum 0 is not verified",
  );

  const padded = Buffer.concat([enc, Buffer.alloc(6)]);
  t.match(
    udp.decode(padded),
    { length: 13, payloadLength: 5 },
    "bytes past the length field are not payload",
  );
  const lengthSeven = Buffer.from(enc);
  lengthSeven.writeUInt16BE(7, 4);
  throwsDecode(t, () => udp.decode(lengthSeven), "udp", "bad-length", "length 7");
  throwsDecode(t, () => udp.decode(enc, 0, 12), "udp", "truncated", "length 13 in 12 bytes");
  throwsDecode(t, () => udp.decode(enc, 0, 7), "udp", "truncated", "7 bytes");
  const wrong = Buffer.from(enc);
  wrong[9] ^= 0x40;
  throwsDecode(
    t,
    () =>
      udp.decode(wrong, 0, undefined, { srcIp: address.ipv4ToInt(ip.src), dstIp: address.ipv4ToInt(ip.dst) }),
    "udp",
    "bad-checksum",
    "changed payload",
  );
});

t.test("decodeFrame", async (t) => {
  const mac1 = "02:00:00:00:00:01";
  const mac2 = "02:00:00:00:00:02";
  const ethSyn = Buffer.concat([
    ethernet.encode({ dst: mac2, src: mac1, ethertype: 0x0800 }),
    SYN_PACKET,
    Buffer.alloc(2),
  ]);
  const f = decodeFrame(ethSyn, { linkType: "ethernet" });
  t.match(f, {
    linkType: "ethernet",
    ethernet: { ethertype: 0x0800, payloadLength: 46 },
    ipv4: { payloadOffset: 34 },
  });
  t.ok(f.tcp?.syn);
  t.same(f.payload, { offset: 58, length: 0 }, "Ethernet padding is not payload");
  t.equal(f.arp, undefined);

  const arpFrame = decodeFrame(Buffer.concat([ARP_REPLY, Buffer.alloc(18)]), { linkType: "ethernet" });
  t.equal(arpFrame.arp?.senderMac, mac2);
  t.same(arpFrame.payload, { offset: 42, length: 0 });

  const vlanUdp = Buffer.concat([
    ethernet.encode({ dst: mac2, src: mac1, ethertype: 0x0800, vlan: { id: 7 } }),
    UDP_PACKET,
  ]);
  const v = decodeFrame(vlanUdp, { linkType: "ethernet" });
  t.match(v, {
    ethernet: { vlan: { id: 7 }, headerLength: 18 },
    udp: { dstPort: 53 },
    payload: { offset: 46, length: 5 },
  });

  const v6 = Buffer.concat([
    ethernet.encode({ dst: mac2, src: mac1, ethertype: ethernet.ETHERTYPE_IPV6 }),
    Buffer.alloc(40),
  ]);
  const six = decodeFrame(v6, { linkType: "ethernet" });
  t.same(six.payload, { offset: 14, length: 40 }, "unknown ethertype: its payload");
  t.equal(six.ipv4, undefined);

  const frag = Buffer.from(UDP_PACKET);
  frag.writeUInt16BE(0x2000, 6); // MF, not DF
  frag.writeUInt16BE(0, 10);
  frag.writeUInt16BE(checksum.internetChecksum(frag, 0, 20), 10);
  const fr = decodeFrame(frag, { linkType: "ipv4" });
  t.equal(fr.udp, undefined, "first fragment: transport left undecoded");
  t.same(fr.payload, { offset: 20, length: 13 });

  const gre = Buffer.from(UDP_PACKET);
  gre[9] = 47;
  const g = decodeFrame(gre, { linkType: "ipv4", verifyChecksums: false });
  t.same(g.payload, { offset: 20, length: 13 }, "unknown protocol: IP payload");
  throwsDecode(t, () => decodeFrame(gre, { linkType: "ipv4" }), "ipv4", "bad-checksum", "protocol changed");

  const badTcp = Buffer.from(SYN_PACKET);
  badTcp[43] ^= 1;
  throwsDecode(t, () => decodeFrame(badTcp, { linkType: "ipv4" }), "tcp", "bad-checksum", "TCP checksum");
  t.equal(decodeFrame(badTcp, { linkType: "ipv4", verifyChecksums: false }).tcp?.options.length, 1);

  const big = Buffer.alloc(200, 0xee);
  ECHO_PACKET.copy(big, 50);
  const w = decodeFrame(big, { linkType: "ipv4", offset: 50, length: ECHO_PACKET.length });
  t.same(w.payload, { offset: 78, length: 9 }, "offsets index the whole buffer");

  throwsDecode(
    t,
    () => decodeFrame(SYN_PACKET, { linkType: "ppp" as "ipv4" }),
    "frame",
    "bad-argument",
    "link type",
  );
  throwsDecode(
    t,
    () => decodeFrame("nope" as unknown as Buffer, { linkType: "ipv4" }),
    "frame",
    "bad-argument",
    "string",
  );
  throwsDecode(
    t,
    () => decodeFrame(SYN_PACKET, undefined as unknown as { linkType: "ipv4" }),
    "frame",
    "bad-argument",
    "no options",
  );
  throwsDecode(
    t,
    () => decodeFrame(SYN_PACKET, { linkType: "ipv4", offset: 1 }),
    "ipv4",
    "bad-version",
    "offset 1",
  );
  throwsDecode(
    t,
    () => decodeFrame(Buffer.alloc(0), { linkType: "ethernet" }),
    "ethernet",
    "truncated",
    "empty",
  );
  const uint8 = new Uint8Array(SYN_PACKET);
  t.equal(decodeFrame(uint8 as Buffer, { linkType: "ipv4" }).tcp?.dstPort, 80, "plain Uint8Array input");
});

const tcpdump = spawnSync("tcpdump", ["--version"], { encoding: "utf8" });
const hasTcpdump = !tcpdump.error && tcpdump.status === 0;

t.test(
  "tcpdump agrees with the encoders",
  { skip: hasTcpdump ? false : "tcpdump is not installed" },
  async (t) => {
    const mac1 = "02:00:00:00:00:01";
    const mac2 = "02:00:00:00:00:02";
    const eth = (type: number) => ethernet.encode({ dst: mac2, src: mac1, ethertype: type });
    const src = address.ipv4ToInt("192.0.2.1");
    const dst = address.ipv4ToInt("198.51.100.2");
    const frames: Buffer[] = [];
    const req = Buffer.alloc(42);
    arp.writeArpRequestFrame(req, 0, address.parseMac(mac1), address.ipv4ToInt("198.51.100.1"), dst);
    frames.push(req);
    for (let i = 0; i < 4; i++) {
      const syn = Buffer.alloc(14 + 60);
      eth(0x0800).copy(syn);
      const opts =
        i % 2
          ? tcp.encodeOptions([
              { kind: "mss", value: 1460 },
              { kind: "sack-permitted" },
              { kind: "timestamps", value: i, echo: 0 },
              { kind: "nop" },
              { kind: "window-scale", shift: 7 },
            ])
          : undefined;
      const n = tcp.writeSynPacket(syn, 14, {
        srcIp: src,
        dstIp: dst,
        srcPort: 40000 + i * 999,
        dstPort: 1 + i * 20000,
        seq: (0x9e3779b9 * (i + 1)) >>> 0,
        ipId: i * 4000,
        ttl: 37 + i,
        options: opts,
      });
      frames.push(syn.subarray(0, 14 + n));
    }
    const payload = Buffer.from("odd-length payload!");
    const u = udp.encode({ srcPort: 5353, dstPort: 33434, payload }, undefined, 0, { src, dst });
    frames.push(
      Buffer.concat([
        eth(0x0800),
        ipv4.encode({ protocol: 17, src, dst, ttl: 1, id: 99, payloadLength: u.length }),
        u,
      ]),
    );
    const e = icmp.encode({ kind: "echo-request", id: 77, seq: 3, payload });
    frames.push(
      Buffer.concat([eth(0x0800), ipv4.encode({ protocol: 1, src, dst, payloadLength: e.length }), e]),
    );
    const ts = tcp.encode(
      {
        srcPort: 80,
        dstPort: 40000,
        seq: 5,
        ackNumber: 6,
        syn: true,
        ack: true,
        options: [{ kind: "mss", value: 1400 }],
        payload,
      },
      undefined,
      0,
      { src: dst, dst: src },
    );
    frames.push(
      Buffer.concat([
        eth(0x0800),
        ipv4.encode({ protocol: 6, src: dst, dst: src, dontFragment: true, payloadLength: ts.length }),
        ts,
      ]),
    );

    const parts: Buffer[] = [Buffer.from("d4c3b2a1020004000000000000000000ffff000001000000", "hex")];
    for (const fr of frames) {
      const rec = Buffer.alloc(16);
      rec.writeUInt32LE(fr.length, 8);
      rec.writeUInt32LE(fr.length, 12);
      parts.push(rec, fr);
    }
    const dir = mkdtempSync(join(tmpdir(), "wireprobe-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "frames.pcap");
    writeFileSync(file, Buffer.concat(parts));
    const r = spawnSync("tcpdump", ["-vvv", "-nn", "-r", file], { encoding: "utf8" });
    t.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    t.equal((out.match(/\(correct\)/g) ?? []).length, 5, "5 TCP checksums correct");
    t.match(out, /udp sum ok/);
    t.match(out, /Request who-has 198\.51\.100\.2 tell 198\.51\.100\.1/);
    t.match(out, /ICMP echo request, id 77, seq 3/);
    t.notMatch(out, /bad cksum|wrong|incorrect/i, "no bad checksum anywhere");
  },
);
