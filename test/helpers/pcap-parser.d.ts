// Types for the untyped npm package pcap-parser 0.2 (libpcap 2.4 file reader), as far as the tests use it.

declare module "pcap-parser" {
  import type { EventEmitter } from "node:events";
  import type { Readable } from "node:stream";

  export interface GlobalHeader {
    magicNumber: number;
    majorVersion: number;
    minorVersion: number;
    gmtOffset: number;
    timestampAccuracy: number;
    snapshotLength: number;
    /** 1 = Ethernet */
    linkLayerType: number;
  }

  export interface PacketHeader {
    timestampSeconds: number;
    timestampMicroseconds: number;
    capturedLength: number;
    originalLength: number;
  }

  export interface Packet {
    header: PacketHeader;
    data: Buffer;
  }

  export interface Parser extends EventEmitter {
    on(event: "globalHeader", listener: (header: GlobalHeader) => void): this;
    on(event: "packetHeader", listener: (header: PacketHeader) => void): this;
    on(event: "packetData", listener: (data: Buffer) => void): this;
    on(event: "packet", listener: (packet: Packet) => void): this;
    on(event: "end", listener: () => void): this;
    on(event: "error", listener: (err: Error) => void): this;
  }

  /** Parses a pcap file (path) or stream; events follow. */
  export function parse(input: string | Readable): Parser;
}
