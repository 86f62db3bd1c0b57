import type { PackedAddresses } from "../../addr/ip";
import type { SendBatch, SendResult } from "../../engine/engine";
import { kernelDrops } from "../../engine/summary";
import { EnvironmentError, environmentErrorFrom } from "../../errors";
import { type BatchCallback, native } from "../../native/binding";
import type {
  NativeError,
  NativeInetSocket,
  NativePacketSocket,
  TxTimestampCallback,
} from "../../native/types";
import { scan6ReplyFilter, scanReplyFilter } from "../../net/bpf";
import type { Channel } from "../scan/route-plan";

// The sockets of one channel. Ethernet: one packet socket bound to the interface sends whole frames and
// receives, through the kernel filter, only answers to our source port(s) and ICMP errors about our probes
// (TCP for the SYN scan, UDP for the UDP scan).
// IP: a raw socket with IP_HDRINCL sends (the kernel routes), a raw TCP (UDP) socket receives the answers and a
// raw ICMP socket the errors, each filtered to the channel's interface so no answer is read twice.

/** Big receive buffers: a fast sweep's answers arrive in bursts, and every one dropped is a retry. */
const RCVBUF = 32 * 1024 * 1024;
const SNDBUF = 4 * 1024 * 1024;

export interface ChannelIo {
  readonly channel: Channel;
  /** 14 for Ethernet frames, 0 for IPv4 packets */
  readonly linkHeaderLength: 14 | 0;
  /** Sends the first `count` buffers (for ip channels to the first `count` destinations); returns how many went out. */
  send(buffers: Buffer[], count: number, destinations: PackedAddresses): number;
  /** The TX id of the first packet of the last send(); NaN without kernel send timestamps. */
  readonly lastSendTxId: number;
  /**
   * Ethernet only: sends `count` frames of `frameLength` bytes from `data` on a worker thread (data may be
   * reused at once); `done` gets how many went out, when the last did and the first one's TX id. Returns that
   * id, known now (NaN without kernel send timestamps).
   */
  sendAsync?(
    data: Buffer,
    frameLength: number,
    count: number,
    done: (error: NativeError | null, sent: number, doneMs: number, firstTxId: number) => void,
  ): number;
  /**
   * Kernel send timestamps of the sending socket, to `callback` (before the answers read after them); false
   * when the kernel refuses them. Call before startReceive.
   */
  startTxTimestamps(callback: TxTimestampCallback): boolean;
  /** Delivers answers to `callback`; a receive error (the socket is unusable) goes to `onError`. */
  startReceive(callback: BatchCallback, onError: (error: NativeError) => void): void;
  /** answers the kernel dropped for us since the last call */
  drops(): number;
  close(): void;
}

export function openChannel(
  channel: Channel,
  netns: string | undefined,
  firstPort: number,
  portCount: number,
  /** the transport probed: 6 (TCP, the SYN scan) or 17 (UDP) */
  protocol: 6 | 17 = 6,
): ChannelIo {
  const ns = netns === undefined ? {} : { netns };
  const what = `opening a socket on ${channel.link.name}`;
  if (channel.kind === "ethernet") {
    let socket: NativePacketSocket;
    try {
      socket = new native.PacketSocket({
        ifindex: channel.link.index,
        protocol: channel.family === 4 ? 0x0800 : 0x86dd,
        filter:
          channel.family === 4
            ? scanReplyFilter(protocol, channel.sourceIp, firstPort, portCount, 14)
            : scan6ReplyFilter(protocol, channel.source6!, firstPort, portCount),
        rcvbuf: RCVBUF,
        sndbuf: SNDBUF,
        ...ns,
      });
    } catch (err) {
      throw environmentErrorFrom(err, what);
    }
    return {
      channel,
      linkHeaderLength: 14,
      send: (buffers, count) => socket.send(count === buffers.length ? buffers : buffers.slice(0, count)),
      get lastSendTxId() {
        return socket.lastSendTxId;
      },
      sendAsync: (data, frameLength, count, done) =>
        native.sendFramesAsync(socket.fd, data, frameLength, count, done),
      // One socket sends and receives: the addon reads its timestamps before the answers of the same wake-up.
      startTxTimestamps: (callback) => socket.startTxTimestamps(callback),
      startReceive: (callback, onError) => socket.startReceive(callback, onError),
      drops: () => kernelDrops(socket),
      close: () => socket.close(),
    };
  }
  // Raw sockets bound to the loopback never see the kernel's answers to its own addresses (their incoming
  // interface is the address's device), and a sending socket bound to it gets no answer at all: so the
  // receiving sockets are unbound and the filter picks the interface, and only a real link binds the sender.
  const loopback = channel.link.hwType === 772;
  const filter = scanReplyFilter(protocol, channel.sourceIp, firstPort, portCount, 0, channel.link.index);
  const sockets: NativeInetSocket[] = [];
  try {
    sockets.push(
      new native.InetSocket({
        type: "raw",
        protocol: 255,
        hdrincl: true,
        ...(loopback ? {} : { device: channel.link.name }),
        sndbuf: SNDBUF,
        ...ns,
      }),
    );
    for (const p of [protocol, 1]) {
      sockets.push(new native.InetSocket({ type: "raw", protocol: p, filter, rcvbuf: RCVBUF, ...ns }));
    }
  } catch (err) {
    for (const s of sockets) s.close();
    throw environmentErrorFrom(err, what);
  }
  const [sender, tcp, icmp] = sockets as [NativeInetSocket, NativeInetSocket, NativeInetSocket];
  let stamping = false;
  return {
    channel,
    linkHeaderLength: 0,
    send: (buffers, count, destinations) =>
      sender.send(count === buffers.length ? buffers : buffers.slice(0, count), destinations.view(count)),
    get lastSendTxId() {
      return sender.lastSendTxId;
    },
    startTxTimestamps: (callback) => {
      stamping = sender.startTxTimestamps(callback);
      return stamping;
    },
    startReceive: (callback, onError) => {
      // The answers come in on other sockets than the sender's: its timestamps are read first, so an answer
      // never finds its probe's batch without the kernel's send time (one syscall per wake-up, not per answer).
      const receive: BatchCallback = stamping
        ? (data, meta, count) => {
            sender.readTxTimestamps();
            callback(data, meta, count);
          }
        : callback;
      tcp.startReceive(receive, onError);
      icmp.startReceive(receive, onError);
    },
    drops: () => kernelDrops(tcp, icmp),
    close: () => {
      for (const s of sockets) s.close();
    },
  };
}

/** One channel's send buffers: a batch's frames are written into the arena, then sent in one call. */
export interface Outbox {
  io: ChannelIo;
  /** the frames of one batch, back to back, frameLength bytes each */
  arena: Buffer;
  frameLength: number;
  /** views of the arena, one per frame, each as long as its packet (for the synchronous send) */
  buffers: Buffer[];
  /** ip channels: each frame's destination, packed for the raw socket */
  destinations: PackedAddresses;
}

/**
 * Hands the first `count` frames of the outbox to the kernel: Ethernet frames on a worker thread (which copies
 * them, so the next batch is built meanwhile), IP packets right here. A send the kernel refuses fails the scan,
 * which could not give true answers.
 */
export function sendOutbox(
  outbox: Outbox,
  count: number,
  batch: SendBatch,
): SendResult | Promise<SendResult> {
  const io = outbox.io;
  const startMs = native.monotonicMs();
  if (io.sendAsync) {
    const sendAsync = io.sendAsync;
    return new Promise((resolve, reject) => {
      // The TX id is known now: answers that beat the send's completion are timed by the kernel already.
      batch.firstTxId = sendAsync(outbox.arena, outbox.frameLength, count, (err, sent, doneMs, firstTxId) => {
        if (err) reject(sendError(io, err.message, err));
        else if (sent < count) reject(sendError(io, "the interface queue stays full", { code: "ENOBUFS" }));
        else resolve({ sent, startMs, endMs: doneMs, firstTxId });
      });
    });
  }
  let sent: number;
  try {
    sent = io.send(outbox.buffers, count, outbox.destinations);
  } catch (err) {
    throw sendError(io, (err as Error).message, err);
  }
  return { sent, startMs, endMs: native.monotonicMs(), firstTxId: io.lastSendTxId };
}

function sendError(io: ChannelIo, message: string, cause?: unknown): Error {
  // The interface refused the probes: the environment's failure (exit 3), as in every probe.
  const code = (cause as { code?: string } | undefined)?.code;
  return new EnvironmentError(`sending on ${io.channel.link.name}: ${message}`, code, { cause });
}
