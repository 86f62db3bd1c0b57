import { SocketAddress } from "node:net";
import t from "tap";
import { macToNumber, writeMacNumber } from "../../src/addr/address";
import {
  addressLength,
  formatIp,
  ipEquals,
  ipFromMeta,
  ipv4,
  ipv6,
  PackedAddresses,
  packAddressText,
  packIps,
  packIpv4,
  parseIp,
  readIp,
  v4Of,
  writeIp,
} from "../../src/addr/ip";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

t.test("IPv4 stays its number; text only at the edge", async (t) => {
  const a = parseIp("198.51.100.1");
  t.same(a, { family: 4, v4: 0xc6336401 });
  t.equal(formatIp(ipv4(0xc6336401)), "198.51.100.1");
  t.equal(formatIp(ipv4(0)), "0.0.0.0");
  t.equal(formatIp(ipv4(0xffffffff)), "255.255.255.255");
  t.equal(v4Of(a), 0xc6336401);
  t.equal(v4Of(parseIp("2001:db8::1")), null);
  t.equal(v4Of(null), null);
  t.throws(() => ipv4(-1), TypeError);
  t.throws(() => ipv4(2 ** 32), TypeError);
  t.throws(() => ipv4(1.5), TypeError);
  // as strict as ipv4ToInt: no leading zeros, no short forms
  t.equal(parseIp("01.2.3.4"), null);
  t.equal(parseIp("1.2.3"), null);
  t.equal(parseIp("nope"), null);
  t.equal(parseIp(""), null);
});

t.test("IPv6 is 16 bytes, parsed and formatted as Node and inet_ntop write it", async (t) => {
  const cases = [
    "2001:db8::1",
    "::1",
    "::",
    "fe80::1:2",
    "2001:db8:0:0:1:0:0:1",
    "2001:db8:1:2:3:4:5:6",
    "::ffff:198.51.100.7",
    "::198.51.100.7",
    "::2",
    "::1:0:0:0:1",
    "2001:db8::198.51.100.7",
    "1::",
    "2001:0db8:0000:0000:0000:ff00:0042:8329",
  ];
  for (const text of cases) {
    const a = parseIp(text);
    if (a === null || a.family !== 6) {
      t.fail(`${text} did not parse as IPv6`);
      continue;
    }
    t.equal(a.bytes.length, 16, text);
    // Node's own parser (SocketAddress) as the oracle for the bytes and the canonical text
    const canonical = new SocketAddress({ address: text, family: "ipv6" }).address;
    const back = parseIp(canonical);
    t.ok(back !== null && ipEquals(a, back), `${text} and ${canonical} are one address`);
    t.equal(formatIp(a), canonical, `${text} formats as ${canonical}`);
  }
  t.equal(hex((parseIp("2001:db8::1") as { bytes: Uint8Array }).bytes), "20010db8000000000000000000000001");
  t.equal(formatIp(ipv6(new Uint8Array(16))), "::");
  t.equal(parseIp("fe80::1%eth0"), null, "a zone is not an address");
  t.equal(parseIp("2001:db8::1::2"), null);
  t.equal(parseIp("12345::"), null);
  t.throws(() => ipv6(new Uint8Array(4)), TypeError);
});

t.test("read and write in network order, either family", async (t) => {
  const buf = Buffer.alloc(24);
  t.equal(writeIp(ipv4(0xc6336401), buf, 2), 6);
  t.equal(hex(buf.subarray(2, 6)), "c6336401");
  t.same(readIp(buf, 2, 4), { family: 4, v4: 0xc6336401 });
  const v6 = parseIp("2001:db8::7")!;
  t.equal(writeIp(v6, buf, 8), 24);
  t.ok(ipEquals(readIp(buf, 8, 16), v6));
  t.throws(() => readIp(buf, 0, 8), TypeError);
  t.throws(() => readIp(buf, 20, 16), RangeError);
  t.throws(() => writeIp(v6, buf, 9), RangeError);
  t.equal(addressLength(4), 4);
  t.equal(addressLength(6), 16);
  t.notOk(ipEquals(ipv4(1), v6));
  t.notOk(ipEquals(v6, ipv4(1)));
});

t.test("packed destinations for the native send: 4 bytes per IPv4 address, 16 per IPv6", async (t) => {
  t.equal(hex(packIpv4([0xc6336401, 0xcb007102])), "c6336401cb007102");
  t.throws(() => packIpv4([-1]), TypeError);
  t.equal(hex(packAddressText(["198.51.100.1", "203.0.113.2"])), "c6336401cb007102");
  t.equal(packAddressText(["2001:db8::1", "::1"]).length, 32);
  t.equal(packAddressText([]).length, 0);
  t.throws(() => packAddressText(["198.51.100.1", "2001:db8::1"]), /IPv6 address in a list of IPv4/);
  t.throws(() => packAddressText(["bad"]), /invalid IP address "bad"/);
  t.equal(packIps(6, [parseIp("2001:db8::1")!]).length, 16);

  const list = new PackedAddresses(4, 3);
  t.equal(list.capacity, 3);
  list.setV4(0, 1);
  list.setV4(1, 0xffffffff);
  list.set(2, ipv4(0xc6336401));
  t.equal(hex(list.view(2)), "00000001ffffffff");
  t.equal(list.view(3), list.buffer, "a full batch is the buffer itself");
  t.equal(hex(list.slice(1, 3)), "ffffffffc6336401");
  t.throws(() => list.set(0, parseIp("::1")!), TypeError);
  const six = new PackedAddresses(6, 2);
  t.throws(() => six.setV4(0, 1), TypeError);
  six.set(1, parseIp("2001:db8::2")!);
  t.equal(hex(six.view(2).subarray(16)), "20010db8000000000000000000000002");
});

t.test("a received packet's source from the batch metadata", async (t) => {
  t.same(ipFromMeta(0xc6336401, Buffer.alloc(0), 4), { family: 4, v4: 0xc6336401 });
  const data = Buffer.concat([Buffer.from("payload"), packAddressText(["2001:db8::9"])]);
  t.equal(formatIp(ipFromMeta(7, data, 6)), "2001:db8::9");
});

t.test("a MAC held as a number is written back as its 6 bytes", async (t) => {
  const mac = Buffer.from("6e1f520a913c", "hex");
  const out = Buffer.alloc(8);
  writeMacNumber(macToNumber(mac), out, 1);
  t.equal(hex(out), "006e1f520a913c00");
  writeMacNumber(macToNumber(Buffer.alloc(6, 0xff)), out, 2);
  t.equal(hex(out.subarray(2)), "ffffffffffff");
  t.throws(() => writeMacNumber(0, out, 3), RangeError);
});
