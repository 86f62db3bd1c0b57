// Oracles: established tools run inside a lab namespace, whose verdicts the probes are checked against.

import type { Host } from "../../src/lab";

export interface ArpingResult {
  /** at least one ARP reply arrived */
  replied: boolean;
  /** every distinct MAC that replied, lower case, in order of arrival */
  macs: string[];
  /** requests sent and replies received, from arping's statistics */
  sent: number;
  received: number;
  /** round-trip times of the replies, milliseconds */
  rttsMs: number[];
}

const TIME_UNIT_MS: Record<string, number> = { usec: 0.001, msec: 1, sec: 1000 };

/**
 * Parses the output of Thomas Habets' arping 2.x (Debian's `arping` package, /usr/sbin/arping), e.g.
 *
 *   ARPING 198.51.100.12
 *   42 bytes from d6:71:b3:aa:58:90 (198.51.100.12): index=0 time=9.354 usec
 *   Timeout
 *
 *   --- 198.51.100.12 statistics ---
 *   2 packets transmitted, 1 packets received,  50% unanswered (0 extra)
 *
 * Returns null when there is no statistics line (arping failed before probing).
 */
export function parseArping(stdout: string): ArpingResult | null {
  const macs: string[] = [];
  const rttsMs: number[] = [];
  for (const m of stdout.matchAll(
    /^\d+ bytes from ([0-9a-f]{2}(?::[0-9a-f]{2}){5}) \(([\d.]+)\): index=\d+ time=([\d.]+) (usec|msec|sec)\b/gim,
  )) {
    const mac = m[1]!.toLowerCase();
    if (!macs.includes(mac)) macs.push(mac);
    rttsMs.push(Number(m[3]) * (TIME_UNIT_MS[m[4]!.toLowerCase()] ?? Number.NaN));
  }
  const stats = /^(\d+) packets transmitted, (\d+) packets received/m.exec(stdout);
  if (!stats) return null;
  const received = Number(stats[2]);
  return { replied: received > 0 || macs.length > 0, macs, sent: Number(stats[1]), received, rttsMs };
}

/**
 * ARP-pings `target` from `host` out of `ifname` with the system arping
 * (`arping -c COUNT -w TIMEOUT -i IF TARGET`; note Habets' arping takes the interface with -i, not
 * iputils' -I). Throws when arping fails to run (unknown interface, ...).
 */
export async function arpingOracle(
  host: Host,
  ifname: string,
  target: string,
  options: { count?: number; timeoutS?: number } = {},
): Promise<ArpingResult> {
  const count = options.count ?? 2;
  const timeoutS = options.timeoutS ?? count + 1;
  const args = ["-c", String(count), "-w", String(timeoutS), "-i", ifname, target];
  const r = await host.exec("arping", args, { reject: false, timeoutMs: (timeoutS + 10) * 1000 });
  const parsed = parseArping(r.stdout);
  if (!parsed || (r.code !== 0 && r.code !== 1)) {
    throw new Error(
      `arping ${args.join(" ")} in ${host.ns} failed (${r.signal ?? `exit ${r.code}`}): ${(r.stderr || r.stdout).trim()}`,
    );
  }
  return parsed;
}

export interface PingResult {
  /** at least one echo reply arrived */
  ok: boolean;
  sent: number;
  received: number;
  /** TTL of the first reply (64 minus the routers on the way, for Linux targets), null without reply */
  ttl: number | null;
}

/**
 * ICMP-pings `target` from `host` with iputils ping (`ping -n -c COUNT -W TIMEOUT TARGET`). Never throws
 * for an unanswered or unroutable ping; throws when ping cannot run.
 */
export async function pingOracle(
  host: Host,
  target: string,
  options: { count?: number; timeoutS?: number } = {},
): Promise<PingResult> {
  const count = options.count ?? 1;
  const timeoutS = options.timeoutS ?? 2;
  const args = ["-n", "-c", String(count), "-W", String(timeoutS), target];
  if (count > 1) args.unshift("-i", "0.2");
  const r = await host.exec("ping", args, { reject: false, timeoutMs: (count * timeoutS + 10) * 1000 });
  const stats = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!stats && /Network is unreachable|No route to host/i.test(r.stderr)) {
    return { ok: false, sent: 0, received: 0, ttl: null }; // no route: nothing was sent
  }
  if (!stats) {
    throw new Error(
      `ping ${args.join(" ")} in ${host.ns} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`,
    );
  }
  const ttl = /\bttl=(\d+)/.exec(r.stdout);
  const received = Number(stats[2]);
  return { ok: received > 0, sent: Number(stats[1]), received, ttl: ttl ? Number(ttl[1]) : null };
}
