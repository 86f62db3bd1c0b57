// A forger of path MTU errors for the lab (not a test itself). Run inside the victim's namespace, whose kernel
// ignores echo requests (net.ipv4.icmp_echo_ignore_all, net.ipv6.icmp.echo_ignore_all):
//
//   node mtu-forger.ts IFNAME CLIENT VICTIM CLIENT6 VICTIM6
//
// It answers every echo request from CLIENT to VICTIM (and from CLIENT6 to VICTIM6) on IFNAME, of any size:
// every request gets through. But before its echo reply (5 ms before: the worst order for the prober) it sends
// CLIENT errors that must not be believed:
//
//   IPv4 (fragmentation needed):
//     mtu 68, quoting the request exactly        an MTU below what already got through
//     mtu 2000, quoting it exactly                an MTU not below the packet's own size
//     mtu 576, another ICMP identifier            a packet the prober did not send
//     mtu 576, the quoted length 8 bytes more     another packet than the one sent
//     mtu 576, the payload's first bytes flipped  another run's packet
//     mtu 0, quoting it exactly (above 1000 bytes) a legacy router's "too big" for a packet that did get
//                                                  through: the reply comes after it and must win
//   IPv6 (packet too big):
//     mtu 1000, quoting exactly                   below IPv6's minimum MTU (1280)
//     mtu 1300, another identifier                a packet the prober did not send
//
// It prints "ready" once listening, and a line per request it answered.

const REPLY_AFTER_MS = 5;

import { packAddressText } from "../../src/addr/ip";
import { native } from "../../src/native/binding";
import { internetChecksum } from "../../src/packet/checksum";

const [ifname = "eth0", client = "", victim = "", client6 = "", victim6 = ""] = process.argv.slice(2);
const ETH_P_ALL = 0x0003;
const OUTGOING = 4;

const link = native.listLinks().find((l) => l.name === ifname);
if (!link) throw new Error(`no interface ${ifname}`);
const sniffer = new native.PacketSocket({ ifindex: link.index, protocol: ETH_P_ALL });
const icmp4 = new native.InetSocket({ type: "raw", family: 4, protocol: 1 });
const icmp6 = new native.InetSocket({ type: "raw", family: 6, protocol: 58 });
const to4 = packAddressText([client]);
const to6 = client6 === "" ? null : packAddressText([client6]);

const ipv4Text = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
function ipv6Text(b: Uint8Array, o: number): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[o + i]! << 8) | b[o + i + 1]!).toString(16));
  return words.join(":");
}
const normal6 = (a: string) => ipv6Text(packAddressText([a]), 0);

/** A frag-needed to the client quoting `quote` (an IPv4 header and what follows), announcing `mtu`. */
function fragNeeded(quote: Buffer, mtu: number): Buffer {
  const msg = Buffer.alloc(8 + quote.length);
  msg[0] = 3;
  msg[1] = 4;
  msg.writeUInt16BE(mtu, 6);
  quote.copy(msg, 8);
  msg.writeUInt16BE(internetChecksum(msg, 0, msg.length), 2);
  return msg;
}

/** A packet-too-big to the client quoting `quote` (an IPv6 header and what follows); the kernel sums it. */
function packetTooBig(quote: Buffer, mtu: number): Buffer {
  const msg = Buffer.alloc(8 + quote.length);
  msg[0] = 2;
  msg.writeUInt32BE(mtu, 4);
  quote.copy(msg, 8);
  return msg;
}

function onIpv4(frame: Buffer, o: number): void {
  const ihl = (frame[o]! & 0x0f) * 4;
  if (frame[o + 9] !== 1 || frame[o + ihl] !== 8) return;
  if (ipv4Text(frame, o + 12) !== client || ipv4Text(frame, o + 16) !== victim) return;
  const total = frame.readUInt16BE(o + 2);
  const exact = Buffer.from(frame.subarray(o, o + Math.min(total, 548)));
  const variant = (change: (q: Buffer) => void) => {
    const q = Buffer.from(exact);
    change(q);
    return q;
  };
  const errors = [
    fragNeeded(exact, 68),
    fragNeeded(exact, 2000),
    fragNeeded(
      variant((q) => q.writeUInt16BE(q.readUInt16BE(ihl + 4) ^ 0xffff, ihl + 4)),
      576,
    ),
    fragNeeded(
      variant((q) => q.writeUInt16BE(total + 8, 2)),
      576,
    ),
    fragNeeded(
      variant((q) => {
        for (let i = ihl + 8; i < ihl + 16 && i < q.length; i++) q[i] = q[i]! ^ 0xff;
      }),
      576,
    ),
  ];
  if (total > 1000) errors.push(fragNeeded(exact, 0));
  icmp4.send(errors, Buffer.concat(errors.map(() => to4)));
  // The real answer: the request's ICMP message as an echo reply.
  const reply = Buffer.from(frame.subarray(o + ihl, o + total));
  reply[0] = 0;
  reply.writeUInt16BE(0, 2);
  reply.writeUInt16BE(internetChecksum(reply, 0, reply.length), 2);
  setTimeout(() => icmp4.send([reply], to4), REPLY_AFTER_MS);
  process.stdout.write(`forged ${errors.length} for ${total} bytes\n`);
}

function onIpv6(frame: Buffer, o: number): void {
  if (to6 === null || frame[o + 6] !== 58 || frame[o + 40] !== 128) return;
  if (ipv6Text(frame, o + 8) !== normal6(client6) || ipv6Text(frame, o + 24) !== normal6(victim6)) return;
  const total = 40 + frame.readUInt16BE(o + 4);
  const exact = Buffer.from(frame.subarray(o, o + Math.min(total, 1232)));
  const other = Buffer.from(exact);
  other.writeUInt16BE(other.readUInt16BE(44) ^ 0xffff, 44);
  const errors = [packetTooBig(exact, 1000), packetTooBig(other, 1300)];
  icmp6.send(errors, Buffer.concat(errors.map(() => to6)));
  const reply = Buffer.from(frame.subarray(o + 40, o + total));
  reply[0] = 129;
  reply.writeUInt16BE(0, 2);
  setTimeout(() => icmp6.send([reply], to6), REPLY_AFTER_MS);
  process.stdout.write(`forged ${errors.length} for ${total} bytes (IPv6)\n`);
}

sniffer.startReceive((data, meta, count) => {
  for (let p = 0; p < count; p++) {
    const offset = meta[p * 5]!;
    if (meta[p * 5 + 3] === OUTGOING) continue;
    const type = data.readUInt16BE(offset + 12);
    const frame = data.subarray(0, offset + meta[p * 5 + 1]!);
    try {
      if (type === 0x0800) onIpv4(frame, offset + 14);
      else if (type === 0x86dd) onIpv6(frame, offset + 14);
    } catch (err) {
      process.stderr.write(`forger: ${(err as Error).message}\n`);
    }
  }
});
process.stdout.write("ready\n");
