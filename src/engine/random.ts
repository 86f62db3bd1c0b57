import { closeSync, openSync, readSync } from "node:fs";

// Random numbers for keys, source ports and file names, read from the kernel's pool (/dev/urandom, where
// OpenSSL gets its seed too). node:crypto takes about 10 ms to load, as long as a small scan's whole setup,
// and these few bytes are all the probes need of it.

/** `n` random bytes from the kernel. */
export function randomBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  const fd = openSync("/dev/urandom", "r");
  try {
    for (let got = 0; got < n; ) got += readSync(fd, out, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** A random whole number with min <= n < max (max - min up to 2^32; the bias of 48 random bits is nil). */
export function randomInt(min: number, max: number): number {
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min || max - min > 2 ** 32)
    throw new RangeError(`bad random range ${min}..${max}`);
  return min + (randomBytes(6).readUIntBE(0, 6) % (max - min));
}
