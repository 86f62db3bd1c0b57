// IPv6 address text: parsing (RFC 4291 2.2 forms), RFC 5952 output, prefixes, ranges, solicited-node groups.
// Oracles: the RFC 5952 examples (sections 2 and 4, written out below), and Python's socket.inet_pton (glibc)
// and ipaddress.IPv6Address(...).compressed, run once over thousands of generated addresses.

import { spawnSync } from "node:child_process";
import t from "tap";
import {
  addToIpv6,
  bigIntToIpv6,
  checkBlockSize,
  compareIpv6,
  explainIpv6,
  formatIpv6,
  ipv6ToBigInt,
  isIpv4Mapped,
  isLinkLocal,
  isMulticast,
  isUnspecified,
  isValidIpv6,
  multicastMac,
  parseIpv6,
  parseIpv6Into,
  parseIpv6Prefix,
  parseIpv6Range,
  prefixSize,
  solicitedNodeAddress,
  toIpv6Bytes,
} from "../../src/addr/ipv6";

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const fmt = (s: string): string => formatIpv6(parseIpv6(s).bytes);

t.test("RFC 5952 section 4 and section 2 examples", async (t) => {
  const table: Array<[string, string, string]> = [
    // 4.1: no leading zeros
    ["2001:0db8::0001", "2001:db8::1", "4.1 leading zeros dropped"],
    ["2001:db8::0:1", "2001:db8::1", "4.1 zero group folded into ::"],
    // 4.2.1: longest possible compression
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1", "4.2.1 use :: to the full"],
    ["2001:db8::0:0:2:1", "2001:db8::2:1", "4.2.1 partial :: completed"],
    // 4.2.2: a single 16-bit 0 field is not shortened
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", "4.2.2 single 0 group kept"],
    ["2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1", "4.2.2 :: for one group expanded"],
    // 4.2.3: the longest run; the first on a tie
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1", "4.2.3 longest run compressed"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "4.2.3 leftmost of equal runs"],
    // 4.3: lowercase
    ["2001:DB8::1", "2001:db8::1", "4.3 lowercase"],
    ["2001:db8:AAAA:bbbb:CCCC:dddd:EEEE:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", "4.3 mixed case"],
    // section 2.1-2.3: many texts, one address
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "2.2 a"],
    ["2001:0db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "2.2 b"],
    ["2001:db8::1:0:0:1", "2001:db8::1:0:0:1", "2.2 c"],
    ["2001:db8::0:1:0:0:1", "2001:db8::1:0:0:1", "2.2 d"],
    ["2001:0db8::1:0:0:1", "2001:db8::1:0:0:1", "2.2 e"],
    ["2001:db8:0:0:1::1", "2001:db8::1:0:0:1", "2.2 f"],
    ["2001:db8:0000:0:1::1", "2001:db8::1:0:0:1", "2.2 g"],
    ["2001:DB8:0:0:1::1", "2001:db8::1:0:0:1", "2.2 h"],
    ["2001:db8:aaaa:bbbb:cccc:dddd::1", "2001:db8:aaaa:bbbb:cccc:dddd:0:1", "2.2 :: for one group"],
    ["2001:db8:0:0:0::1", "2001:db8::1", "2.2 i"],
    ["2001:db8:0:0::1", "2001:db8::1", "2.2 j"],
    ["2001:db8:0::1", "2001:db8::1", "2.2 k"],
    ["2001:db8::1", "2001:db8::1", "2.2 l"],
    // section 5: IPv4-mapped addresses keep the dotted quad
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1", "5 mapped"],
    ["0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1", "5 mapped from hex"],
    // ends of the range
    ["::", "::", "unspecified"],
    ["0:0:0:0:0:0:0:0", "::", "unspecified, long"],
    ["::1", "::1", "loopback"],
    ["1::", "1::", "trailing run"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "all ones"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3", "later longer run wins"],
    ["0:0:1:0:0:0:0:0", "0:0:1::", "trailing longer run wins"],
    ["fe80::1%eth0", "fe80::1", "zone dropped from the address"],
  ];
  for (const [input, want, why] of table) t.equal(fmt(input), want, `${input} -> ${want} (${why})`);
});

t.test("parse: zone index, IPv4-mapped flag, dotted tails", async (t) => {
  const z = parseIpv6("fe80::1%eth0");
  t.equal(z.zone, "eth0");
  t.equal(hexOf(z.bytes), "fe800000000000000000000000000001");
  t.equal(parseIpv6("fe80::1%2").zone, "2", "numeric zone");
  t.equal(parseIpv6("2001:db8::1").zone, null);
  const m = parseIpv6("::ffff:198.51.100.1");
  t.ok(m.ipv4Mapped, "mapped flagged");
  t.ok(m.dottedTail);
  t.equal(hexOf(m.bytes), "00000000000000000000ffffc6336401");
  t.ok(parseIpv6("::FFFF:c633:6401").ipv4Mapped, "mapped without a dotted tail is flagged too");
  const nat64 = parseIpv6("64:ff9b::192.0.2.33");
  t.notOk(nat64.ipv4Mapped, "NAT64 prefix is not mapped");
  t.equal(hexOf(nat64.bytes), "0064ff9b0000000000000000c0000221");
  t.equal(hexOf(parseIpv6("1:2:3:4:5:6:1.2.3.4").bytes), "00010002000300040005000601020304");
  t.throws(() => toIpv6Bytes("fe80::1%eth0"), /zone index is not allowed/);
  const into = Buffer.alloc(20, 0xaa);
  t.ok(parseIpv6Into("2001:db8::2", into, 2));
  t.equal(
    into.toString("hex"),
    "aaaa20010db8000000000000000000000002aaaa",
    "written in place, neighbours kept",
  );
  t.notOk(parseIpv6Into("2001:db8::g", into, 2));
  t.notOk(parseIpv6Into("::1", into, 5), "no room");
});

t.test("parse errors: one line, saying why", async (t) => {
  const cases: Array<[string, RegExp]> = [
    ["", /empty/],
    [":", /single ":"|expected/],
    [":::", /only once/],
    ["1:2:3:4:5:6:7", /expected 8 groups, got 7/],
    ["1:2:3:4:5:6:7:8:9", /expected 8 groups, got 9/],
    ["1::2::3", /only once/],
    ["1:::2", /only once/],
    [":1::2", /starts with a single ":"/],
    ["1::2:", /ends with a single ":"/],
    ["12345::", /more than 4 hex digits/],
    ["2001:db8::g", /"g" is not a hex digit/],
    ["2001:db8:: 1", /" " is not a hex digit/],
    [" ::1", /" " is not a hex digit/],
    ["::1.2.3", /embedded invalid IPv4 address "1\.2\.3"/],
    ["::1.2.3.256", /greater than 255/],
    ["::01.2.3.4", /leading zero/],
    ["::1.2.3.4:5", /dotted IPv4 part may only end/],
    ["1:2:3:4:5:6:7:1.2.3.4", /expected 8 groups, got 9/],
    ["1::2:3:4:5:6:7:8", /stands for no group/],
    ["fe80::1%", /zone index/],
    ["fe80::1%a b", /zone index/],
    ["fe80::1%a%b", /zone index/],
    ["2001:db8::/64", /prefix length is not allowed/],
    ["-1::", /"-" is not a hex digit/],
    ["+1::", /"\+" is not a hex digit/],
  ];
  for (const [input, why] of cases) {
    t.equal(isValidIpv6(input), false, `${JSON.stringify(input)} refused`);
    try {
      parseIpv6(input);
      t.fail(`${input}: no throw`);
    } catch (err) {
      t.ok(err instanceof TypeError, `${JSON.stringify(input)}: TypeError`);
      const msg = (err as Error).message;
      t.match(msg, why, `${JSON.stringify(input)}: ${msg}`);
      t.notMatch(msg, /\n/, "one line");
      t.ok(msg.startsWith(`invalid IPv6 address "${input}"`), "names the input");
    }
  }
  t.match(explainIpv6(42 as unknown as string), /expected a string, got number/);
  t.throws(() => parseIpv6(null as unknown as string), TypeError);
});

t.test("prefixes: host bits cleared as for IPv4 CIDRs and in nmap", async (t) => {
  const p = parseIpv6Prefix("2001:db8::5/126");
  t.equal(formatIpv6(p.first), "2001:db8::4", "nmap -6 -sL 2001:db8::5/126 lists ::4..::7");
  t.equal(formatIpv6(p.last), "2001:db8::7");
  t.equal(p.size, 4n);
  t.equal(p.prefixLength, 126);
  const b = parseIpv6Prefix("2001:db8:0:0:ffff:ffff:ffff:ffff/120");
  t.equal(formatIpv6(b.first), "2001:db8::ffff:ffff:ffff:ff00");
  t.equal(formatIpv6(b.last), "2001:db8::ffff:ffff:ffff:ffff");
  t.equal(parseIpv6Prefix("2001:db8::/120").size, 256n);
  const odd = parseIpv6Prefix("2001:db8:abcd:ef12::/29");
  t.equal(formatIpv6(odd.first), "2001:db8::", "a length inside a byte");
  t.equal(formatIpv6(odd.last), "2001:dbf:ffff:ffff:ffff:ffff:ffff:ffff");
  t.equal(parseIpv6Prefix("::/0").size, 1n << 128n);
  t.equal(formatIpv6(parseIpv6Prefix("2001:db8::1/128").first), "2001:db8::1");
  t.equal(parseIpv6Prefix("fe80::1%eth0/64").zone, "eth0", "zone kept for the caller to judge");
  t.equal(prefixSize(64), 1n << 64n);
  t.equal(prefixSize(112), 65536n);
  const big = parseIpv6Prefix("2001:db8::/64");
  t.throws(() => checkBlockSize("2001:db8::/64", big, 65536), {
    name: "TypeError",
    message:
      'IPv6 target "2001:db8::/64" is too large: a /64 holds 18446744073709551616 addresses, more than the cap of 65536',
  });
  t.doesNotThrow(() => checkBlockSize("2001:db8::/112", parseIpv6Prefix("2001:db8::/112"), 65536));
  t.doesNotThrow(() => checkBlockSize("2001:db8::/64", big, 1n << 64n), "an explicit cap lets it through");
  for (const [bad, why] of [
    ["2001:db8::", /expected address\/length/],
    ["2001:db8::/129", /"129" is not a number 0\.\.128/],
    ["2001:db8::/064", /"064" is not a number/],
    ["2001:db8::/", /"" is not a number/],
    ["2001:db8::/-1", /"-1" is not a number/],
    ["2001:db8::g/64", /invalid IPv6 prefix "2001:db8::g\/64": invalid IPv6 address "2001:db8::g"/],
  ] as const) {
    t.throws(() => parseIpv6Prefix(bad), why, bad);
  }
});

t.test("ranges in the last group (wireprobe's own: nmap takes no IPv6 ranges)", async (t) => {
  const r = parseIpv6Range("2001:db8::1-ff");
  t.equal(formatIpv6(r.first), "2001:db8::1");
  t.equal(formatIpv6(r.last), "2001:db8::ff");
  t.equal(r.size, 255n);
  t.equal(r.prefixLength, null);
  t.equal(parseIpv6Range("2001:db8::a:0-FFFF").size, 65536n, "a whole group");
  t.equal(parseIpv6Range("2001:db8::5-5").size, 1n);
  for (const [bad, why] of [
    ["2001:db8::1", /expected address-lastgroup/],
    ["2001:db8::10-1", /runs backwards/],
    ["2001:db8::1-10000", /not 1 to 4 hex digits/],
    ["2001:db8::1-", /not 1 to 4 hex digits/],
    ["2001:db8::1-1:2", /not 1 to 4 hex digits/],
    ["::ffff:1.2.3.4-9", /dotted quad/],
    ["fe80::1%eth0-5", /zone index is not allowed/],
    ["2001:db8::x-5", /invalid IPv6 address "2001:db8::x"/],
  ] as const) {
    t.throws(() => parseIpv6Range(bad), why, bad);
  }
});

t.test("solicited-node group, its MAC, and address classes", async (t) => {
  // RFC 4291 2.7.1 example form: 4037::01:800:200E:8C6C -> FF02::1:FF0E:8C6C
  const target = parseIpv6("4037::01:800:200E:8C6C").bytes;
  const sn = solicitedNodeAddress(target);
  t.equal(formatIpv6(sn), "ff02::1:ff0e:8c6c");
  t.equal(Buffer.from(multicastMac(sn)).toString("hex"), "3333ff0e8c6c", "33:33:ff:0e:8c:6c (RFC 2464 7)");
  t.equal(Buffer.from(multicastMac(parseIpv6("ff02::1").bytes)).toString("hex"), "333300000001", "all-nodes");
  t.ok(isLinkLocal(parseIpv6("fe80::1").bytes));
  t.ok(isLinkLocal(parseIpv6("febf:ffff::1").bytes), "fe80::/10 upper end");
  t.notOk(isLinkLocal(parseIpv6("fec0::1").bytes), "site-local is not link-local");
  t.notOk(isLinkLocal(parseIpv6("2001:db8::1").bytes));
  t.ok(isMulticast(sn));
  t.ok(isUnspecified(parseIpv6("::").bytes));
  t.notOk(isUnspecified(parseIpv6("::1").bytes));
  t.ok(isIpv4Mapped(parseIpv6("::ffff:0.0.0.0").bytes));
  t.notOk(isIpv4Mapped(parseIpv6("::fffe:0.0.0.0").bytes));
});

t.test("BigInt conversion, in-place stepping, comparison", async (t) => {
  const a = parseIpv6("2001:db8::ffff:ffff").bytes;
  t.equal(ipv6ToBigInt(a), 0x20010db80000000000000000ffffffffn);
  t.equal(formatIpv6(bigIntToIpv6(0x20010db80000000000000000ffffffffn)), "2001:db8::ffff:ffff");
  t.throws(() => bigIntToIpv6(1n << 128n), RangeError);
  const b = new Uint8Array(a);
  t.ok(addToIpv6(b, 1));
  t.equal(formatIpv6(b), "2001:db8::1:0:0", "carry across groups");
  t.ok(addToIpv6(b, 2 ** 53 - 1));
  t.equal(ipv6ToBigInt(b), 0x20010db80000000000000000ffffffffn + 1n + 2n ** 53n - 1n);
  const top = parseIpv6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").bytes;
  t.notOk(addToIpv6(top, 1), "overflow reported");
  t.ok(compareIpv6(parseIpv6("::1").bytes, parseIpv6("::2").bytes) < 0);
  t.equal(compareIpv6(parseIpv6("::1").bytes, parseIpv6("0::0:1").bytes), 0);
});

t.test("agrees with glibc inet_pton and Python's ipaddress over generated addresses", async (t) => {
  // Addresses with many zero groups, so that runs, ties and single zeros are all common.
  let seed = 0x6d2b79f5;
  const rnd = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const samples: Uint8Array[] = [];
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(16);
    for (let g = 0; g < 8; g++) {
      const r = rnd();
      const v = r < 0.55 ? 0 : r < 0.7 ? Math.floor(rnd() * 16) : Math.floor(rnd() * 65536);
      b[g * 2] = v >>> 8;
      b[g * 2 + 1] = v & 255;
    }
    // keep ::ffff:0:0/96 out of the comparison: RFC 5952 section 5 writes it dotted, ipaddress does not
    if (isIpv4Mapped(b)) b[0] = 0x20;
    samples.push(b);
  }
  // Texts the parser must accept: our output, the full form, uppercase, and zero-padded groups.
  const texts: string[] = [];
  for (const b of samples) {
    const groups = Array.from({ length: 8 }, (_, g) => ((b[g * 2]! << 8) | b[g * 2 + 1]!).toString(16));
    texts.push(
      formatIpv6(b),
      groups.join(":"),
      formatIpv6(b).toUpperCase(),
      groups.map((g) => g.padStart(4, "0")).join(":"),
    );
  }
  const tricky = [
    "1::2:3:4:5:6:7",
    "::1.2.3.4",
    "::ffff:1.2.3.4",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6::1.2.3.4",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::1.2.3.04",
    "::1.2.3.4.5",
    "::00000",
    "0::0::0",
    ":::1",
    "1:",
    ":1",
    "::",
    "::0.0.0.0",
    "fffff::",
    "::ffff:1.2.3",
    "g::",
  ];
  const script = [
    "import sys, socket, ipaddress",
    "hexes, texts = sys.stdin.read().split('\\n--\\n')",
    "out = []",
    "for h in hexes.split():",
    "    out.append(ipaddress.IPv6Address(bytes.fromhex(h)).compressed)",
    "out.append('--')",
    "for s in texts.split('\\n'):",
    "    try: out.append(socket.inet_pton(socket.AF_INET6, s).hex())",
    "    except OSError: out.append('invalid')",
    "print('\\n'.join(out))",
  ].join("\n");
  const allTexts = [...texts, ...tricky];
  const input = `${samples.map(hexOf).join("\n")}\n--\n${allTexts.join("\n")}`;
  const r = spawnSync("python3", ["-c", script], { input, encoding: "utf8", maxBuffer: 64 << 20 });
  t.equal(r.status, 0, `python3 ran: ${r.stderr}`);
  const [formatted, parsed] = r.stdout.trim().split("\n--\n") as [string, string];
  const want = formatted.split("\n");
  let formatMismatch = 0;
  samples.forEach((b, i) => {
    if (formatIpv6(b) !== want[i] && formatMismatch++ < 5)
      t.fail(`${hexOf(b)}: ${formatIpv6(b)} vs ${want[i]}`);
  });
  t.equal(formatMismatch, 0, `formatIpv6 equals ipaddress .compressed for ${samples.length} addresses`);
  const pton = parsed.split("\n");
  let parseMismatch = 0;
  allTexts.forEach((s, i) => {
    const ours = isValidIpv6(s) ? hexOf(parseIpv6(s).bytes) : "invalid";
    if (ours !== pton[i] && parseMismatch++ < 5) t.fail(`${s}: ours ${ours}, inet_pton ${pton[i]}`);
  });
  t.equal(
    parseMismatch,
    0,
    `parseIpv6 equals inet_pton for ${allTexts.length} texts (accepts and refuses alike)`,
  );
});
