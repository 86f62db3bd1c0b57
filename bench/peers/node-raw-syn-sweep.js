#!/usr/bin/env node
// The peer for bench/scan-sweep.js: a SYN sweep written the way a Node user would write one today, with
// npm's raw-socket to send (a raw IPv4 socket: the kernel adds the IP header and routes) and cap (libpcap)
// to capture the answers. One SYN per address, then a fixed wait for late answers; no retries.
//
//   node bench/peers/node-raw-syn-sweep.js --interface eth0 --cidr 198.18.0.0/16 --port 80 [--wait 1000]
//
// Prints one JSON line: {"found": N, "sent": N, "ms": N}. Run it inside the prober's namespace.
"use strict";
const os = require("node:os");
const raw = require("raw-socket");
const { Cap, decoders } = require("cap");

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const IFACE = opt("interface", "eth0");
const CIDR = opt("cidr", "198.18.0.0/16");
const PORT = Number(opt("port", "80"));
const WAIT_MS = Number(opt("wait", "1000"));
const SPORT = 40000 + Math.floor(Math.random() * 20000);

const ipToInt = (s) => s.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const intToIp = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");

const source = os.networkInterfaces()[IFACE]?.find((a) => a.family === "IPv4")?.address;
if (!source) throw new Error(`no IPv4 address on ${IFACE}`);
const [base, bits] = CIDR.split("/");
const first = ipToInt(base);
const count = 2 ** (32 - Number(bits));

// Capture: every TCP answer to our source port.
const cap = new Cap();
const capBuffer = Buffer.alloc(65535);
const linkType = cap.open(Cap.findDevice(source), `tcp and dst port ${SPORT}`, 64 * 1024 * 1024, capBuffer);
if (cap.setMinBytes) cap.setMinBytes(0);
const found = new Set();
cap.on("packet", () => {
  if (linkType !== "ETHERNET") return;
  const eth = decoders.Ethernet(capBuffer);
  if (eth.info.type !== decoders.PROTOCOL.ETHERNET.IPV4) return;
  const ip = decoders.IPV4(capBuffer, eth.offset);
  if (ip.info.protocol !== decoders.PROTOCOL.IP.TCP) return;
  const tcp = decoders.TCP(capBuffer, ip.offset);
  // SYN-ACK (open) or RST (closed): the address answered
  if (tcp.info.flags & 0x12 || tcp.info.flags & 0x04) found.add(ip.info.srcaddr);
});

// Send: a TCP SYN header per address, checksummed over the pseudo-header, through a raw socket.
const socket = raw.createSocket({ protocol: raw.Protocol.TCP });
socket.on("error", (err) => {
  console.error(err);
  process.exit(1);
});
function synHeader(dst) {
  const tcp = Buffer.alloc(24);
  tcp.writeUInt16BE(SPORT, 0);
  tcp.writeUInt16BE(PORT, 2);
  tcp.writeUInt32BE(Math.floor(Math.random() * 2 ** 32), 4);
  tcp.writeUInt8(6 << 4, 12);
  tcp.writeUInt8(0x02, 13);
  tcp.writeUInt16BE(1024, 14);
  tcp.writeUInt32BE(0x020405b4, 20); // MSS 1460
  const pseudo = Buffer.alloc(12);
  pseudo.writeUInt32BE(ipToInt(source), 0);
  pseudo.writeUInt32BE(dst, 4);
  pseudo.writeUInt8(6, 9);
  pseudo.writeUInt16BE(tcp.length, 10);
  raw.writeChecksum(tcp, 16, raw.createChecksum(pseudo, tcp));
  return tcp;
}

const started = process.hrtime.bigint();
let sent = 0;
let pending = 0;
for (let i = 0; i < count; i++) {
  const dst = first + i;
  pending++;
  socket.send(synHeader(dst), 0, 24, intToIp(dst), null, (err) => {
    if (err) console.error(err.message);
    else sent++;
    if (--pending === 0) setTimeout(finish, WAIT_MS);
  });
}

function finish() {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  cap.close();
  socket.close();
  process.stdout.write(`${JSON.stringify({ found: found.size, sent, ms: Math.round(ms) })}\n`);
}
