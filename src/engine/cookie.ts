import { randomBytes } from "./random";

// The validation cookie a SYN carries in its sequence number, so an answer can be tied to its probe with no
// per-probe state: a keyed hash of the four-tuple (zmap, masscan). The hash is HalfSipHash-2-4 (Aumasson and
// Bernstein's 32-bit SipHash variant, as in the Linux kernel's hsiphash) with a random 64-bit key per scan:
// a keyed PRF, so a host that did not see the probe cannot forge an answer that validates, and two scans in
// one process never accept each other's answers. It works on 32-bit words, which JavaScript does natively.

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/**
 * HalfSipHash-2-4 with a 32-bit result over a message of whole 32-bit words (little-endian words, as the
 * reference reads bytes), for the test vectors. `key` is 8 bytes.
 */
export function halfSipHash(key: Uint8Array, message: Uint8Array): number {
  const k0 = key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24) | 0;
  const k1 = key[4]! | (key[5]! << 8) | (key[6]! << 16) | (key[7]! << 24) | 0;
  let v0 = k0;
  let v1 = k1;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  const round = () => {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  };
  const len = message.length;
  const whole = len - (len % 4);
  for (let i = 0; i < whole; i += 4) {
    const m = message[i]! | (message[i + 1]! << 8) | (message[i + 2]! << 16) | (message[i + 3]! << 24);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  let b = (len & 0xff) << 24;
  for (let i = whole; i < len; i++) b |= message[i]! << ((i - whole) * 8);
  v3 ^= b;
  round();
  round();
  v0 ^= b;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return (v1 ^ v3) >>> 0;
}

/** The per-scan cookie function: cookie(srcIp, dstIp, srcPort, dstPort) -> unsigned 32-bit. */
export class CookieJar {
  private readonly k0: number;
  private readonly k1: number;

  constructor(key: Uint8Array = randomBytes(8)) {
    if (key.length !== 8) throw new RangeError("cookie key must be 8 bytes");
    this.k0 = key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24) | 0;
    this.k1 = key[4]! | (key[5]! << 8) | (key[6]! << 16) | (key[7]! << 24) | 0;
  }

  /**
   * HalfSipHash-2-4 of the 12-byte message (srcIp, dstIp, srcPort << 16 | dstPort) as three words, unrolled:
   * it runs once per probe and once per answer, so it allocates nothing and calls nothing.
   */
  cookie(srcIp: number, dstIp: number, srcPort: number, dstPort: number): number {
    let v0 = this.k0;
    let v1 = this.k1;
    let v2 = 0x6c796765 ^ v0;
    let v3 = 0x74656462 ^ v1;
    let m = srcIp | 0;
    for (let w = 0; w < 4; w++) {
      if (w === 1) m = dstIp | 0;
      else if (w === 2) m = (srcPort << 16) | dstPort;
      else if (w === 3) m = 12 << 24; // the length block: 12 bytes, no tail
      v3 ^= m;
      for (let r = 0; r < 2; r++) {
        v0 = (v0 + v1) | 0;
        v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0;
        v0 = (v0 << 16) | (v0 >>> 16);
        v2 = (v2 + v3) | 0;
        v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
        v0 = (v0 + v3) | 0;
        v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
        v2 = (v2 + v1) | 0;
        v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2;
        v2 = (v2 << 16) | (v2 >>> 16);
      }
      v0 ^= m;
    }
    v2 ^= 0xff;
    for (let r = 0; r < 4; r++) {
      v0 = (v0 + v1) | 0;
      v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
      v0 = (v0 + v3) | 0;
      v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
      v2 = (v2 + v1) | 0;
      v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2;
      v2 = (v2 << 16) | (v2 >>> 16);
    }
    return (v1 ^ v3) >>> 0;
  }
}
