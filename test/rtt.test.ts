// Round-trip times from the kernel's send and receive timestamps, on one direct veth between two lab namespaces,
// over 20 samples per path: ARP (a packet socket, sent from a worker thread as the ARP probe sends) and ICMP echo
// (a raw socket, sent from the JS thread as ping sends). Runs as root.
//
// The oracle for each exchange is a packet capture on both ends (tcpdump): the requester's capture stamps the
// request before the driver takes it and the reply when it is queued, as the kernel stamps it for us, so it bounds
// wireprobe's RTT from above; the responder's capture stamps the request's arrival and the reply before its driver
// takes it, so its turnaround bounds wireprobe's RTT from below. Every sample must lie between the two.
//
// The peers' own figures measure other intervals, which the medians printed here show: iputils ping times from
// just before its sendmsg() (user space) to the reply's receive stamp, so its RTT also holds its own send path
// (tens of µs on a loaded VM) and bounds the wire's round trip from above; arping times from after its write()
// returned to when it read the reply, and on a veth the reply is queued before write() returns, so its figure is
// its own wake-up, not a round trip. wireprobe is checked against iputils as an upper bound (1.5x or 20 µs
// allowed) and its arping and iputils medians are reported.
import t, { type Test } from "tap";
import { ipv4ToInt, parseMac } from "../src/addr/address";
import type { Host } from "../src/lab";
import { META_STRIDE, type NativeInetSocket, type NativePacketSocket, native } from "../src/native/binding";
import { readArpReply, writeArpRequestFrame } from "../src/packet/arp";
import { internetChecksum } from "../src/packet/checksum";
import { type CapturedPacket, startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";
import { parseArping } from "./helpers/oracles";

const A_IP = "198.51.100.1";
const B_IP = "198.51.100.2";
const IF = "rtt0";
const PEER_IF = "rtt1";
const SAMPLES = 20;
const GAP_MS = 50;
/** "within 1.5x (or 20 µs)" of iputils, as an upper bound */
const FACTOR = 1.5;
const SLACK_MS = 0.02;
const OUR_ICMP_ID = 0x5750;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

const arpOp = (f: Buffer) => (f.length >= 42 && f.readUInt16BE(12) === 0x0806 ? f.readUInt16BE(20) : 0);
/** "sender>target" IPv4 addresses of an ARP frame */
const arpIps = (f: Buffer) => `${f.subarray(28, 32).join(".")}>${f.subarray(38, 42).join(".")}`;

/** "id/seq" of an ICMP echo request (type 8) or reply (type 0) frame, else null */
function icmpEcho(f: Buffer, type: number): string | null {
  if (f.length < 34 || f.readUInt16BE(12) !== 0x0800 || f[23] !== 1) return null;
  const icmp = 14 + (f[14]! & 15) * 4;
  if (f[icmp] !== type) return null;
  return `${f.readUInt16BE(icmp + 4)}/${f.readUInt16BE(icmp + 6)}`;
}

interface Lab {
  a: Host;
  b: Host;
  mac: Buffer;
  ifindex: number;
}

async function build(t: Test): Promise<Lab> {
  const lab = await withLab(t, "rtt");
  const a = await lab.host("a");
  const b = await lab.host("b");
  await a.link(b, { ifname: IF, address: `${A_IP}/24` }, { ifname: PEER_IF, address: `${B_IP}/24` });
  // Resolve the neighbour once, so no sample waits for ARP.
  await a.exec("ping", ["-n", "-c", "1", "-W", "2", B_IP]);
  const link = native.listLinks(a.nsPath).find((l) => l.name === IF)!;
  return { a, b, mac: parseMac(link.mac!), ifindex: link.index };
}

/** The TX timestamps a socket delivers, by id. */
function collectStamps(socket: NativePacketSocket | NativeInetSocket, options?: { kernelIds?: boolean }) {
  const stamps = new Map<number, number>();
  const on = socket.startTxTimestamps((ids, times, count) => {
    for (let k = 0; k < count; k++) stamps.set(ids[k]!, times[k]!);
  }, options);
  return { on, stamps };
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

t.test("TX timestamps: the ids of each send, and the times its frames left", async (t) => {
  const { a, mac, ifindex } = await build(t);
  for (const kernelIds of [false, true]) {
    const socket = new native.PacketSocket({ ifindex, protocol: 0, netns: a.nsPath });
    t.teardown(() => socket.close());
    const { on, stamps } = collectStamps(socket, { kernelIds });
    t.equal(on, true, `kernelIds ${kernelIds}: the kernel takes SO_TIMESTAMPING`);
    const frames = Buffer.alloc(42 * 50);
    for (let k = 0; k < 50; k++) writeArpRequestFrame(frames, 42 * k, mac, ipv4ToInt(A_IP), ipv4ToInt(B_IP));
    const batches: Array<{ first: number; count: number; before: number; done: number; reported: number }> =
      [];
    for (const count of [50, 1, 7]) {
      const before = native.monotonicMs();
      const { first, done, reported } = await new Promise<{ first: number; done: number; reported: number }>(
        (resolve, reject) => {
          const first = native.sendFramesAsync(
            socket.fd,
            frames,
            42,
            count,
            (err, sent, doneMs, firstTxId) => {
              if (err || sent !== count) reject(err ?? new Error(`sent ${sent} of ${count}`));
              else resolve({ first, done: doneMs, reported: firstTxId });
            },
          );
        },
      );
      batches.push({ first, count, before, done, reported });
    }
    socket.send([frames.subarray(0, 42), frames.subarray(42, 84)]);
    const syncFirst = socket.lastSendTxId;
    t.same(
      batches.map((b) => [b.first, b.reported]),
      [
        [0, 0],
        [50, 50],
        [51, 51],
      ],
      `kernelIds ${kernelIds}: ids are the packets handed to the socket before, known at the call`,
    );
    t.equal(syncFirst, 58, "send() reports its first id too");
    await until("the last timestamp", () => (stamps.has(59) ? true : undefined));
    for (const b of batches) {
      const first = stamps.get(b.first)!;
      const last = stamps.get(b.first + b.count - 1)!;
      t.ok(
        first >= b.before && last >= first && last <= b.done,
        `batch at ${b.first}: left between the call and its end`,
      );
    }
    const ids = [...stamps.keys()].sort((x, y) => x - y);
    if (kernelIds) t.equal(ids.length, 60, "the kernel's counter: every packet is stamped");
    else t.same(ids, [0, 49, 50, 51, 57, 58, 59], "ids per message: the first and last of each send only");
  }
  const dgram = new native.InetSocket({ type: "dgram", protocol: 17, netns: a.nsPath, bindAddress: A_IP });
  t.teardown(() => dgram.close());
  const { on, stamps } = collectStamps(dgram);
  t.equal(on, true, "a UDP socket takes it too");
  dgram.send([Buffer.from("a"), Buffer.from("b")], [B_IP, B_IP], [9, 9]);
  t.equal(dgram.lastSendTxId, 0);
  await until("the UDP socket's timestamps", () => (stamps.has(1) ? true : undefined));
  t.ok(stamps.get(1)! >= stamps.get(0)!, "in order");
});

interface Exchange {
  /** a request's key, or null for another frame */
  request(frame: Buffer): string | null;
  /** the key of the request a reply answers, or null */
  reply(frame: Buffer): string | null;
}

/** Per exchange, in request order: request → reply time in a capture, ms. NaN for a request without a reply. */
function exchangeTimes(packets: CapturedPacket[], exchange: Exchange): number[] {
  const sentAt = new Map<string, number>();
  const order: string[] = [];
  const times = new Map<string, number>();
  for (const p of packets) {
    const q = exchange.request(p.data);
    if (q !== null) {
      if (!sentAt.has(q)) order.push(q);
      sentAt.set(q, p.timestampMs);
      continue;
    }
    const r = exchange.reply(p.data);
    if (r !== null && sentAt.has(r) && !times.has(r)) times.set(r, p.timestampMs - sentAt.get(r)!);
  }
  return order.map((q) => times.get(q) ?? Number.NaN);
}

/** pcap timestamps are whole microseconds, and the kernel's and the capture's clocks are read differently */
const BOUND_SLACK_MS = 0.002;

function checkPath(
  t: Test,
  path: string,
  m: { ours: number[]; requester: number[]; responder: number[]; peer: string; peerRtts: number[] },
): void {
  t.comment(
    `${path} medians over ${SAMPLES}: wireprobe ${us(median(m.ours))}, ${m.peer} ${us(median(m.peerRtts))}; ` +
      `captures: requester ${us(median(m.requester))}, responder turnaround ${us(median(m.responder))}`,
  );
  t.equal(m.ours.length, SAMPLES, `${path}: ${SAMPLES} samples`);
  t.ok(
    m.ours.every((r) => r > 0),
    `${path}: every RTT > 0 (${m.ours.map(us).join(", ")})`,
  );
  t.equal(m.requester.length, SAMPLES, `${path}: the requester's capture holds every exchange`);
  t.equal(m.responder.length, SAMPLES, `${path}: the responder's capture holds every exchange`);
  const outside = m.ours
    .map((rtt, i) => ({ i, rtt, low: m.responder[i]!, high: m.requester[i]! }))
    .filter(({ rtt, low, high }) => !(rtt >= low - BOUND_SLACK_MS && rtt <= high + BOUND_SLACK_MS));
  t.same(
    outside.map(({ i, rtt, low, high }) => `#${i}: ${us(low)} <= ${us(rtt)} <= ${us(high)}`),
    [],
    `${path}: each RTT lies between the responder's turnaround and the requester's capture of the same exchange`,
  );
  t.equal(m.peerRtts.length, SAMPLES, `${path}: ${m.peer} answered every request`);
}

t.test("ARP: wireprobe's RTT against the captured exchanges and arping", async (t) => {
  const { a, b, mac, ifindex } = await build(t);
  const socket = new native.PacketSocket({ ifindex, protocol: 0x0806, netns: a.nsPath });
  t.teardown(() => socket.close());
  const { on, stamps } = collectStamps(socket);
  t.equal(on, true, "TX timestamps on");
  const replies: number[] = [];
  socket.startReceive((data, meta, count) => {
    for (let p = 0; p < count; p++) {
      const reply = readArpReply(data, meta[p * META_STRIDE]!, meta[p * META_STRIDE + 1]!);
      if (reply?.senderIp === ipv4ToInt(B_IP)) replies.push(meta[p * META_STRIDE + 2]!);
    }
  });

  const arping = await a.exec("arping", ["-c", String(SAMPLES), "-W", String(GAP_MS / 1000), "-i", IF, B_IP]);
  const peerRtts = parseArping(arping.stdout)?.rttsMs ?? [];

  const filter = "arp";
  const requester = await startCapture(a, IF, filter);
  const responder = await startCapture(b, PEER_IF, filter);
  const frame = Buffer.alloc(42);
  writeArpRequestFrame(frame, 0, mac, ipv4ToInt(A_IP), ipv4ToInt(B_IP));
  const ours: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const before = replies.length;
    // As the ARP probe sends: from a worker thread, the TX id known at the call.
    const id = native.sendFramesAsync(socket.fd, frame, 42, 1, () => {});
    const rx = await until("the ARP reply", () => replies[before]);
    const tx = await until("the request's TX timestamp", () => stamps.get(id));
    ours.push(rx - tx);
    await sleep(GAP_MS);
  }
  // Only the broadcast who-has from A for B and B's replies to A: not the kernels' own unicast probes.
  let n = 0;
  const arp: Exchange = {
    request: (f) =>
      arpOp(f) === 1 && f.readUInt32BE(0) === 0xffffffff && arpIps(f) === `${A_IP}>${B_IP}` ? `${n++}` : null,
    reply: (f) => (arpOp(f) === 2 && arpIps(f) === `${B_IP}>${A_IP}` ? `${n - 1}` : null),
  };
  const requesterTimes = exchangeTimes(await requester.stop(), arp);
  n = 0;
  const responderTimes = exchangeTimes(await responder.stop(), arp);
  checkPath(t, "ARP", {
    ours,
    requester: requesterTimes,
    responder: responderTimes,
    peer: "arping",
    peerRtts,
  });
});

t.test("ICMP echo: wireprobe's RTT against the captured exchanges and iputils ping", async (t) => {
  const { a, b } = await build(t);
  const socket = new native.InetSocket({ type: "raw", protocol: 1, netns: a.nsPath });
  t.teardown(() => socket.close());
  const { on, stamps } = collectStamps(socket);
  t.equal(on, true, "TX timestamps on");
  const replies = new Map<number, number>();
  socket.startReceive((data, meta, count) => {
    for (let p = 0; p < count; p++) {
      const at = meta[p * META_STRIDE]!;
      const icmp = at + (data[at]! & 15) * 4;
      if (data[icmp] === 0 && data.readUInt16BE(icmp + 4) === OUR_ICMP_ID)
        replies.set(data.readUInt16BE(icmp + 6), meta[p * META_STRIDE + 2]!);
    }
  });

  const ping = await a.exec("ping", ["-n", "-c", String(SAMPLES), "-i", String(GAP_MS / 1000), B_IP]);
  const peerRtts = [...ping.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));

  const filter = `icmp and icmp[4:2] = ${OUR_ICMP_ID}`;
  const requester = await startCapture(a, IF, filter);
  const responder = await startCapture(b, PEER_IF, filter);
  const ours: number[] = [];
  for (let seq = 0; seq < SAMPLES; seq++) {
    const echo = Buffer.alloc(64);
    echo[0] = 8;
    echo.writeUInt16BE(OUR_ICMP_ID, 4);
    echo.writeUInt16BE(seq, 6);
    echo.writeUInt16BE(internetChecksum(echo), 2);
    // As the ping probe sends: from the JS thread.
    socket.send([echo], [B_IP]);
    const id = socket.lastSendTxId;
    const rx = await until("the echo reply", () => replies.get(seq));
    const tx = await until("the request's TX timestamp", () => stamps.get(id));
    ours.push(rx - tx);
    await sleep(GAP_MS);
  }
  const echo: Exchange = { request: (f) => icmpEcho(f, 8), reply: (f) => icmpEcho(f, 0) };
  const requesterTimes = exchangeTimes(await requester.stop(), echo);
  const responderTimes = exchangeTimes(await responder.stop(), echo);
  checkPath(t, "ICMP", {
    ours,
    requester: requesterTimes,
    responder: responderTimes,
    peer: "iputils ping",
    peerRtts,
  });
  t.ok(
    median(ours) <= median(peerRtts) * FACTOR + SLACK_MS,
    "the median is not above iputils' (whose interval holds the wire's round trip), 1.5x or 20 µs allowed",
  );
});
