// Packet capture in a lab namespace with tcpdump, read back with pcap-parser.

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pcap from "pcap-parser";
import type { Host } from "../../src/lab";

/** One captured frame. */
export interface CapturedPacket {
  /** capture time, milliseconds since the epoch (microsecond resolution) */
  timestampMs: number;
  /** the frame as captured (Ethernet header first on lab interfaces) */
  data: Buffer;
  /** the frame's length on the wire */
  originalLength: number;
}

export interface Capture {
  /** the tcpdump process (tracked by the lab, so lab.destroy() ends it too) */
  readonly process: ChildProcess;
  /** the pcap file being written (deleted by stop) */
  readonly file: string;
  /**
   * Waits `graceMs` (default 150) so frames in flight reach tcpdump, stops it with SIGINT, waits for it to
   * exit, and resolves with the frames it wrote, in order. Deletes the file. Rejects when tcpdump failed.
   */
  stop(options?: { graceMs?: number }): Promise<CapturedPacket[]>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Starts `tcpdump -i IF -U -w FILE -s 0 --immediate-mode -Z root FILTER` inside `host`'s namespace and
 * resolves once tcpdump reports "listening on" (so nothing sent afterwards is missed).
 *
 * @param bpfFilter a tcpdump filter expression such as "arp or icmp"; "" captures everything
 */
export async function startCapture(
  host: Host,
  ifname: string,
  bpfFilter = "",
  options: { startTimeoutMs?: number } = {},
): Promise<Capture> {
  const dir = mkdtempSync(join(tmpdir(), "wp-capture-"));
  const file = join(dir, "capture.pcap");
  // -Z root: stay root, otherwise tcpdump drops to its own user before opening the file in our 0700 dir
  const args = ["-i", ifname, "-U", "-w", file, "-s", "0", "--immediate-mode", "-Z", "root"];
  if (bpfFilter.trim()) args.push(bpfFilter);
  const child = host.spawn("tcpdump", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (err) => {
      stderr += `${err.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`tcpdump on ${ifname} in ${host.ns} did not start listening: ${stderr.trim()}`));
      }, options.startTimeoutMs ?? 10_000);
      child.stderr?.on("data", (chunk: string) => {
        stderr += chunk;
        if (/listening on/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(
            `tcpdump on ${ifname} in ${host.ns} exited (${signal ?? `code ${code}`}) before listening: ${stderr.trim()}`,
          ),
        );
      });
    });
  } catch (err) {
    cleanup();
    throw err;
  }

  let stopped: Promise<CapturedPacket[]> | null = null;
  const stop = async (stopOptions: { graceMs?: number } = {}): Promise<CapturedPacket[]> => {
    try {
      await sleep(stopOptions.graceMs ?? 150);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      const { code, signal } = await exited;
      clearTimeout(killer);
      if (code !== 0) {
        throw new Error(
          `tcpdump on ${ifname} in ${host.ns} failed (${signal ?? `code ${code}`}): ${stderr.trim()}`,
        );
      }
      return await readPcap(file);
    } finally {
      cleanup();
    }
  };
  return {
    process: child,
    file,
    stop: (o) => {
      stopped ??= stop(o);
      return stopped;
    },
  };
}

/** Reads every frame of a pcap file (libpcap 2.4, microsecond timestamps, as tcpdump -w writes). */
export function readPcap(file: string): Promise<CapturedPacket[]> {
  return new Promise((resolve, reject) => {
    const packets: CapturedPacket[] = [];
    const parser = pcap.parse(file);
    parser.on("packet", (p) =>
      packets.push({
        timestampMs: p.header.timestampSeconds * 1000 + p.header.timestampMicroseconds / 1000,
        data: Buffer.from(p.data),
        originalLength: p.header.originalLength,
      }),
    );
    parser.on("error", reject);
    parser.on("end", () => resolve(packets));
  });
}
