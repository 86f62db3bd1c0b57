// Byte helpers shared by the codecs; not re-exported from the package.
// Plain indexing instead of Buffer#readUInt16BE & co: those re-validate the offset on every call and
// measured about 5x slower in the checksum loop; our callers have already checked the bounds once.

import { DecodeError, type DecodeLayer } from "./errors";

export function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

export function u32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

export function w16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

export function w32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

/**
 * Validates a decoder's (offset, length) arguments and returns the end offset. Indexing a typed array past
 * its end yields undefined (read as 0), not an exception, so every decoder must know its real end up front.
 */
export function decodeRange(
  layer: DecodeLayer,
  buf: unknown,
  offset: number,
  length: number | undefined,
): number {
  if (!(buf instanceof Uint8Array)) throw new DecodeError(layer, "bad-argument", "input is not a Buffer");
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > buf.length) {
    throw new DecodeError(layer, "bad-argument", `offset ${offset} is outside the ${buf.length}-byte buffer`);
  }
  const len = length === undefined ? buf.length - offset : length;
  if (!Number.isSafeInteger(len) || len < 0 || offset + len > buf.length) {
    throw new DecodeError(
      layer,
      "bad-argument",
      `length ${len} at offset ${offset} runs past the ${buf.length}-byte buffer`,
    );
  }
  return offset + len;
}

/** Checks an encoder's target range; encoders throw RangeError (caller bug), decoders DecodeError (bad data). */
export function encodeTarget(what: string, buf: Buffer | undefined, offset: number, needed: number): Buffer {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${what}: bad offset ${offset}`);
  const target = buf ?? Buffer.alloc(offset + needed);
  if (offset + needed > target.length) {
    throw new RangeError(`${what}: needs ${needed} bytes at offset ${offset}, buffer has ${target.length}`);
  }
  return target;
}

export function checkUint(what: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`${what} must be an integer 0..${max}, got ${v}`);
  return v;
}
