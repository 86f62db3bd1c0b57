// A slow link for lab hosts, without netem (this kernel has no sch_netem): the host's interface is a veth to
// a relay namespace, and a relay process there (Python, AF_PACKET sockets, standard library only) copies
// frames between that veth and a port of the segment, holding the ones the host sends for `delayMs`. The
// host itself stays an ordinary kernel stack: its SYN-ACKs, RSTs, ARP replies and ICMP errors are the
// kernel's, only later. Frames towards the host pass at once (their checksums completed).

import type { Host, Interface, Lab, Segment } from "../../src/lab";

// The host's kernel leaves TCP checksums to the "hardware" on a veth (CHECKSUM_PARTIAL), so a frame read
// from a packet socket carries only the pseudo-header sum: the relay completes it before sending it on, in
// both directions (the other hosts' kernels do the same: a kernel TCP client's SYN towards the host too), for
// TCP and UDP over IPv4, and over IPv6 without extension headers.
const RELAY = `
import heapq, select, socket, struct, sys, time
inner, outer, delay = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000
def open_on(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((ifname, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    mreq = struct.pack("iHH8s", socket.if_nametoindex(ifname), 1, 0, b"")
    s.setsockopt(263, 1, mreq)  # SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC
    return s
def csum(data):
    if len(data) % 2: data += b"\\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16: total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff
def complete6(frame):
    if len(frame) < 54: return frame
    nh = frame[20]
    plen = struct.unpack("!H", frame[18:20])[0]
    if nh not in (6, 17): return frame
    seg = bytearray(frame[54:54 + plen])
    at = 16 if nh == 6 else 6
    if len(seg) < at + 2: return frame
    seg[at:at + 2] = b"\\0\\0"
    pseudo = frame[22:54] + struct.pack("!I3xB", len(seg), nh)
    c = csum(pseudo + bytes(seg))
    seg[at:at + 2] = struct.pack("!H", c if c or nh == 6 else 0xffff)
    return frame[:54] + bytes(seg) + frame[54 + plen:]
def complete(frame):
    if frame[12:14] == b"\\x86\\xdd": return complete6(frame)
    if len(frame) < 34 or frame[12:14] != b"\\x08\\x00": return frame
    ihl = (frame[14] & 15) * 4
    total = struct.unpack("!H", frame[16:18])[0]
    proto = frame[23]
    if proto not in (6, 17) or struct.unpack("!H", frame[20:22])[0] & 0x1fff: return frame
    seg = bytearray(frame[14 + ihl:14 + total])
    at = 16 if proto == 6 else 6
    if len(seg) < at + 2: return frame
    seg[at:at + 2] = b"\\0\\0"
    pseudo = frame[26:34] + struct.pack("!BBH", 0, proto, len(seg))
    seg[at:at + 2] = struct.pack("!H", csum(pseudo + bytes(seg)))
    return frame[:14 + ihl] + bytes(seg) + frame[14 + total:]
a, b = open_on(inner), open_on(outer)
held = []
print("ready", flush=True)
while True:
    wait = max(0.0, held[0][0] - time.monotonic()) if held else None
    ready, _, _ = select.select([a, b], [], [], wait)
    for s in ready:
        frame, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING: continue
        if s is a: heapq.heappush(held, (time.monotonic() + delay, id(frame), complete(frame)))
        else: a.send(complete(frame))
    now = time.monotonic()
    while held and held[0][0] <= now: b.send(heapq.heappop(held)[2])
`;

export interface DelayedConnectOptions {
  /** the host's interface name (default eth0) and address(es) */
  ifname?: string;
  address: string | readonly string[];
  /** how long every frame the host sends is held, ms */
  delayMs: number;
}

/**
 * Plugs `host` into `segment` through a relay host `${host.name}-dly` that delays everything the host sends
 * by `delayMs`. Resolves once the relay runs.
 */
export async function connectDelayed(
  lab: Lab,
  host: Host,
  segment: Segment,
  options: DelayedConnectOptions,
): Promise<Interface> {
  const relay = await lab.host(`${host.name}-dly`);
  const [iface] = await host.link(
    relay,
    { ifname: options.ifname ?? "eth0", address: options.address },
    { ifname: "inner" },
  );
  await relay.connect(segment, { ifname: "outer" });
  const child = relay.spawn("python3", ["-u", "-c", RELAY, "inner", "outer", String(options.delayMs)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the relay in ${relay.ns} did not start`)), 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the relay in ${relay.ns} exited (${code})`));
    });
    child.stdout!.once("data", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return iface;
}
