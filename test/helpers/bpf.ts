// A classic BPF interpreter for the instructions our kernel filters use (src/net/bpf.ts), for unit tests that
// run a filter over hand-made frames.

/** Runs `program` (struct sock_filter[], as assemble() makes it) over `packet`; returns the bytes kept. */
export function runBpf(program: Buffer, packet: Buffer, ifindex = 2): number {
  let a = 0;
  let x = 0;
  const load = (offset: number, size: number): number | null => {
    if (offset >= 0xfffff000) return offset === 0xfffff008 ? ifindex : null;
    if (offset + size > packet.length) return null;
    return size === 4
      ? packet.readUInt32BE(offset)
      : size === 2
        ? packet.readUInt16BE(offset)
        : packet[offset]!;
  };
  for (let pc = 0; pc < program.length / 8; pc++) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program[pc * 8 + 2]!;
    const jf = program[pc * 8 + 3]!;
    const k = program.readUInt32LE(pc * 8 + 4);
    const size = (code & 0x18) === 0x00 ? 4 : (code & 0x18) === 0x08 ? 2 : 1;
    const cls = code & 0x07;
    if (cls === 0x00) {
      // ld: absolute (0x20) or indexed (0x40)
      const v = load((code & 0xe0) === 0x40 ? x + k : k, size);
      if (v === null) return 0;
      a = v;
    } else if (cls === 0x01 && (code & 0xe0) === 0xa0) {
      // ldx msh
      const v = load(k, 1);
      if (v === null) return 0;
      x = (v & 0x0f) * 4;
    } else if (cls === 0x05) {
      const op = code & 0xf0;
      const cond = op === 0x10 ? a === k : op === 0x30 ? a >>> 0 >= k : op === 0x40 ? (a & k) !== 0 : null;
      if (cond === null) throw new Error(`jump ${code.toString(16)} not interpreted`);
      pc += cond ? jt : jf;
    } else if (cls === 0x06) {
      return k;
    } else {
      throw new Error(`opcode ${code.toString(16)} not interpreted`);
    }
  }
  throw new Error("fell off the program");
}
