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
