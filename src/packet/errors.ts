/** The layer whose bytes a decoder refused. "frame" is decodeFrame itself (bad arguments, internal faults). */
export type DecodeLayer =
  | "ethernet"
  | "arp"
  | "ipv4"
  | "icmp"
  | "tcp"
  | "udp"
  | "frame"
  | "ipv6"
  | "icmpv6"
  | "ndp";

/**
 * Why a decoder refused its input.
 * - truncated: fewer bytes than the header, or than a length field promises
 * - bad-length: a length field contradicts itself or the header (e.g. IPv4 total length < header length)
 * - bad-version: IPv4 version nibble is not 4 (IPv6: not 6)
 * - bad-checksum: checksum verification was asked for and failed
 * - bad-option: a TCP option runs past the header or has an impossible length
 * - unsupported: well formed, but not a kind this decoder handles (e.g. ARP for non-Ethernet hardware)
 * - bad-argument: the offset/length/options given to the decoder do not describe bytes inside the buffer
 * - internal: a bug in a decoder, caught by decodeFrame so that it still only throws DecodeError
 */
export type DecodeErrorCode =
  | "truncated"
  | "bad-length"
  | "bad-version"
  | "bad-checksum"
  | "bad-option"
  | "unsupported"
  | "bad-argument"
  | "internal";

/**
 * The only error type the packet decoders throw; anything else escaping a decoder is a bug.
 * It carries no stack trace: it reports bad input, not a fault in the program, and a receive loop rejects
 * junk at line rate; capturing the stack made each rejection about three times as expensive.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * try {
 *   packet.decodeFrame(Buffer.alloc(10), { linkType: "ethernet" });
 * } catch (err) {
 *   if (!(err instanceof packet.DecodeError)) throw err;
 *   console.log(err.layer, err.code, err.message); // ethernet truncated ethernet: header needs 14 bytes, have 10
 * }
 * ```
 */
export class DecodeError extends Error {
  /** the layer whose bytes were refused */
  readonly layer: DecodeLayer;
  /** why (see DecodeErrorCode) */
  readonly code: DecodeErrorCode;

  /**
   * @param layer the layer whose bytes were refused
   * @param code why
   * @param message what was wrong, in words (the layer is put before it)
   * @param options `cause`: an error it came from
   */
  constructor(layer: DecodeLayer, code: DecodeErrorCode, message: string, options?: { cause?: unknown }) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(`${layer}: ${message}`, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.layer = layer;
    this.code = code;
  }
}

// On the prototype rather than per instance: one property fewer to create per rejected packet.
Object.defineProperty(DecodeError.prototype, "name", {
  value: "DecodeError",
  writable: true,
  configurable: true,
});
