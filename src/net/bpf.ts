// Classic BPF programs, assembled in JS and attached by the addon (SO_ATTACH_FILTER), so the kernel drops
// everything that is not an answer to our probes before it reaches user space.

// Opcodes from linux/filter.h.
const BPF_LD = 0x00;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_H = 0x08;
const BPF_B = 0x10;
const BPF_W = 0x00;
const BPF_ABS = 0x20;
const BPF_JEQ = 0x10;
const BPF_K = 0x00;

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const ld = {
  byte: (offset: number): BpfInstruction => ({ code: BPF_LD | BPF_B | BPF_ABS, jt: 0, jf: 0, k: offset }),
  half: (offset: number): BpfInstruction => ({ code: BPF_LD | BPF_H | BPF_ABS, jt: 0, jf: 0, k: offset }),
  word: (offset: number): BpfInstruction => ({ code: BPF_LD | BPF_W | BPF_ABS, jt: 0, jf: 0, k: offset }),
};

/** if A == k, skip jt instructions, else skip jf */
export function jeq(k: number, jt: number, jf: number): BpfInstruction {
  return { code: BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k: k >>> 0 };
}

export function ret(k: number): BpfInstruction {
  return { code: BPF_RET | BPF_K, jt: 0, jf: 0, k };
}

// Indexed loads and the IPv4 header-length idiom, for headers after a variable-length IPv4 header.
const BPF_LDX = 0x01;
const BPF_IND = 0x40;
const BPF_MSH = 0xa0;
const BPF_JSET = 0x40;
const BPF_JGE = 0x30;

/** loads at X + offset (X usually holds the IPv4 header length, see ldxIpHeaderLength) */
export const ldInd = {
  byte: (offset: number): BpfInstruction => ({ code: BPF_LD | BPF_B | BPF_IND, jt: 0, jf: 0, k: offset }),
  half: (offset: number): BpfInstruction => ({ code: BPF_LD | BPF_H | BPF_IND, jt: 0, jf: 0, k: offset }),
  word: (offset: number): BpfInstruction => ({ code: BPF_LD | BPF_W | BPF_IND, jt: 0, jf: 0, k: offset }),
};

/** X = 4 * (byte at offset & 0x0f): the IHL of the IPv4 header at `offset`, in bytes */
export function ldxIpHeaderLength(offset: number): BpfInstruction {
  return { code: BPF_LDX | BPF_B | BPF_MSH, jt: 0, jf: 0, k: offset };
}

/** if A & k != 0, skip jt instructions, else skip jf */
export function jset(k: number, jt: number, jf: number): BpfInstruction {
  return { code: BPF_JMP | BPF_JSET | BPF_K, jt, jf, k: k >>> 0 };
}

/** if A >= k (unsigned), skip jt instructions, else skip jf */
export function jge(k: number, jt: number, jf: number): BpfInstruction {
  return { code: BPF_JMP | BPF_JGE | BPF_K, jt, jf, k: k >>> 0 };
}

/**
 * The answers a TCP SYN scan waits for, and nothing else: IPv4 to `ourIp`, either TCP to one of the source
 * ports [firstPort, firstPort + portCount) (first fragments only), or an ICMP destination-unreachable or
 * time-exceeded that quotes a TCP packet from `ourIp`. `linkHeaderLength` is 14 on an Ethernet packet socket
 * (the ethertype must be IPv4) and 0 on a raw IPv4 socket, whose packets start with the IPv4 header.
 */
export function tcpScanReplyFilter(
  ourIp: number,
  firstPort: number,
  portCount: number,
  linkHeaderLength: 14 | 0,
  /** only packets received on this interface (for raw sockets, which cannot be bound to the loopback) */
  ifindex?: number,
): Buffer {
  return scanReplyFilter(6, ourIp, firstPort, portCount, linkHeaderLength, ifindex);
}

/** tcpScanReplyFilter for a transport protocol: 6 (TCP) or 17 (UDP: the UDP scan's answers and errors). */
export function scanReplyFilter(
  protocol: 6 | 17,
  ourIp: number,
  firstPort: number,
  portCount: number,
  linkHeaderLength: 14 | 0,
  ifindex?: number,
): Buffer {
  const l = linkHeaderLength;
  const lastPort = firstPort + portCount - 1;
  // Jumps name their targets; resolve() turns the names into the skip counts BPF wants.
  type Jump = readonly [BpfInstruction, string | 0, string | 0];
  const ethernet: Array<BpfInstruction | Jump> = [ld.half(12), [jeq(0x0800, 0, 0), 0, "drop"]];
  // SKF_AD_OFF + SKF_AD_IFINDEX: the ancillary load of the receiving interface's index
  const onInterface: Array<BpfInstruction | Jump> = [
    ld.word(0xfffff000 + 8),
    [jeq(ifindex ?? 0, 0, 0), 0, "drop"],
  ];
  const program: Array<BpfInstruction | Jump | string> = [
    ...(ifindex === undefined ? [] : onInterface),
    ...(l === 14 ? ethernet : []),
    ld.byte(l), // version and IHL: 0x45..0x4f
    [jge(0x45, 0, 0), 0, "drop"],
    [jge(0x50, 0, 0), "drop", 0],
    ld.word(l + 16), // IPv4 destination
    [jeq(ourIp, 0, 0), 0, "drop"],
    ld.byte(l + 9), // IPv4 protocol
    [jeq(protocol, 0, 0), 0, "not-tcp"],
    ld.half(l + 6),
    [jset(0x1fff, 0, 0), "drop", 0], // a later fragment carries no TCP header
    ldxIpHeaderLength(l),
    ldInd.half(l + 2), // TCP destination port
    [jge(firstPort, 0, 0), 0, "drop"],
    [jge(lastPort + 1, 0, 0), "drop", "accept"],
    "not-tcp",
    [jeq(1, 0, 0), 0, "drop"],
    ldxIpHeaderLength(l),
    ldInd.byte(l), // ICMP type
    [jeq(3, 0, 0), "icmp-error", 0],
    [jeq(11, 0, 0), 0, "drop"],
    "icmp-error",
    ldInd.byte(l + 8 + 9), // quoted IPv4 protocol
    [jeq(protocol, 0, 0), 0, "drop"],
    ldInd.word(l + 8 + 12), // quoted IPv4 source
    [jeq(ourIp, 0, 0), "accept", "drop"],
    "accept",
    ret(0xffff),
    "drop",
    ret(0),
  ];
  return assemble(resolveLabels(program));
}

/** Replaces label names in jumps by skip counts; a string entry marks the position of that label. */
function resolveLabels(
  items: ReadonlyArray<BpfInstruction | readonly [BpfInstruction, string | 0, string | 0] | string>,
): BpfInstruction[] {
  const labels = new Map<string, number>();
  let pc = 0;
  for (const item of items) {
    if (typeof item === "string") labels.set(item, pc);
    else pc++;
  }
  const out: BpfInstruction[] = [];
  for (const item of items) {
    if (typeof item === "string") continue;
    if (!Array.isArray(item)) {
      out.push(item as BpfInstruction);
      continue;
    }
    const [ins, t, f] = item as readonly [BpfInstruction, string | 0, string | 0];
    const here = out.length;
    const skip = (target: string | 0): number => {
      if (target === 0) return 0;
      const at = labels.get(target);
      if (at === undefined || at <= here || at - here - 1 > 255) throw new Error(`bad BPF label ${target}`);
      return at - here - 1;
    };
    out.push({ ...ins, jt: skip(t), jf: skip(f) });
  }
  return out;
}

/** struct sock_filter[] in host byte order (little-endian on the machines we build for). */
export function assemble(program: readonly BpfInstruction[]): Buffer {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/**
 * Accepts Ethernet ARP replies for IPv4 addressed to `ourIp` (the sender address we probe from), and
 * drops everything else in the kernel. With `ourIp` null any IPv4 ARP reply passes.
 */
export function arpReplyFilter(ourIp: number | null): Buffer {
  const accept = ret(0xffff);
  const drop = ret(0);
  // Offsets: 12 ethertype, 16 protocol type, 20 opcode, 38 target protocol address.
  if (ourIp === null) {
    return assemble([
      ld.half(12),
      jeq(0x0806, 0, 5),
      ld.half(16),
      jeq(0x0800, 0, 3),
      ld.half(20),
      jeq(2, 0, 1),
      accept,
      drop,
    ]);
  }
  return assemble([
    ld.half(12),
    jeq(0x0806, 0, 7),
    ld.half(16),
    jeq(0x0800, 0, 5),
    ld.half(20),
    jeq(2, 0, 3),
    ld.word(38),
    jeq(ourIp, 0, 1),
    accept,
    drop,
  ]);
}

/**
 * Accepts Ethernet IPv6 neighbour advertisements (ICMPv6 type 136 right after the IPv6 header) addressed to
 * `ourIp` (16 bytes: the source of our solicitations), and drops everything else in the kernel. With `ourIp`
 * null any advertisement passes. The hop limit (255, RFC 4861 7.1.2) is checked by the reader, which has the
 * whole packet anyway.
 */
export function neighborAdvertisementFilter(ourIp: Uint8Array | null): Buffer {
  // Offsets: 12 ethertype, 20 next header, 38 destination address, 54 ICMPv6 type.
  type Jump = readonly [BpfInstruction, string | 0, string | 0];
  const destination: Array<BpfInstruction | Jump> = [];
  if (ourIp !== null) {
    if (ourIp.length !== 16) throw new RangeError(`an IPv6 address is 16 bytes, got ${ourIp.length}`);
    const view = new DataView(ourIp.buffer, ourIp.byteOffset, 16);
    for (let w = 0; w < 4; w++)
      destination.push(ld.word(38 + w * 4), [jeq(view.getUint32(w * 4), 0, 0), 0, "drop"]);
  }
  return assemble(
    resolveLabels([
      ld.half(12),
      [jeq(0x86dd, 0, 0), 0, "drop"],
      ld.byte(20),
      [jeq(58, 0, 0), 0, "drop"],
      ld.byte(54),
      [jeq(136, 0, 0), 0, "drop"],
      ...destination,
      ret(0xffff),
      "drop",
      ret(0),
    ]),
  );
}

/**
 * The IPv6 answers of a TCP SYN scan on an Ethernet packet socket: IPv6 to `ourIp` (16 bytes), either TCP (right
 * after the IPv6 header) to one of the source ports [firstPort, firstPort + portCount), or an ICMPv6
 * destination-unreachable or parameter-problem that quotes a TCP packet from `ourIp` (the errors nmap -6 -sS
 * reads: it skips time exceeded and packet too big).
 */
export function tcp6ScanReplyFilter(ourIp: Uint8Array, firstPort: number, portCount: number): Buffer {
  return scan6ReplyFilter(6, ourIp, firstPort, portCount);
}

/**
 * tcp6ScanReplyFilter for a transport protocol: 6 (TCP) or 17 (UDP: datagrams to our ports, and the same
 * ICMPv6 errors, destination-unreachable and parameter-problem, quoting a UDP packet from `ourIp`).
 */
export function scan6ReplyFilter(
  protocol: 6 | 17,
  ourIp: Uint8Array,
  firstPort: number,
  portCount: number,
): Buffer {
  if (ourIp.length !== 16) throw new RangeError(`an IPv6 address is 16 bytes, got ${ourIp.length}`);
  type Jump = readonly [BpfInstruction, string | 0, string | 0];
  const view = new DataView(ourIp.buffer, ourIp.byteOffset, 16);
  const matchOurs = (at: number): Array<BpfInstruction | Jump> =>
    [0, 1, 2, 3].flatMap((w) => [ld.word(at + w * 4), [jeq(view.getUint32(w * 4), 0, 0), 0, "drop"] as Jump]);
  // Offsets: 12 ethertype, 20 next header, 38 destination, 54 TCP/UDP or ICMPv6 header; the ICMPv6 error
  // quotes the probe's IPv6 header at 62 (next header 68, source 70) and its transport header at 102.
  return assemble(
    resolveLabels([
      ld.half(12),
      [jeq(0x86dd, 0, 0), 0, "drop"],
      ...matchOurs(38),
      ld.byte(20),
      [jeq(protocol, 0, 0), 0, "not-transport"],
      ld.half(54 + 2),
      [jge(firstPort, 0, 0), 0, "drop"],
      [jge(firstPort + portCount, 0, 0), "drop", "accept"],
      "not-transport",
      [jeq(58, 0, 0), 0, "drop"],
      ld.byte(54),
      [jeq(1, 0, 0), "icmp-error", 0],
      [jeq(4, 0, 0), 0, "drop"],
      "icmp-error",
      ld.byte(68),
      [jeq(protocol, 0, 0), 0, "drop"],
      ...matchOurs(70),
      "accept",
      ret(0xffff),
      "drop",
      ret(0),
    ]),
  );
}
