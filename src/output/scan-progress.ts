import type { ScanProgress } from "../engine/probe-run";

// The one-line progress display on a terminal's stderr: phase, probes sent of the total, send rate, answers
// and the time left at the current rate. Redrawn in place; callers only start it when stderr is a TTY.

export function progressLine(p: ScanProgress, elapsedMs: number, rate: number): string {
  if (p.phase === "resolving") return "scan: resolving targets";
  if (p.phase === "arp") return "scan: finding next hops (ARP)";
  const total = p.probesTotal;
  const pct = total > 0 ? (100 * p.probesSent) / total : 100;
  const left = total - p.probesSent;
  const eta = rate > 0 && left > 0 ? ` ETA ${formatSeconds(left / rate)}` : "";
  const waiting = p.phase === "waiting" ? ", waiting for late answers" : "";
  return `scan: ${p.probesSent}/${total} probes (${pct.toFixed(1)}%), ${Math.round(rate)} pps, ${p.answered} answers${p.retransmissions ? `, ${p.retransmissions} retries` : ""}${waiting}${eta} [${formatSeconds(elapsedMs / 1000)}]`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** Redraws the progress line every `everyMs` until stopped; stop() clears it. */
export function startProgress(
  out: NodeJS.WritableStream,
  read: () => ScanProgress,
  everyMs = 500,
): { stop(): void } {
  const started = performance.now();
  let lastSent = 0;
  let lastAt = started;
  let rate = 0;
  const draw = () => {
    const p = read();
    const now = performance.now();
    const sent = p.probesSent + p.retransmissions;
    if (now > lastAt) rate = (rate + ((sent - lastSent) * 1000) / (now - lastAt)) / (rate === 0 ? 1 : 2);
    lastSent = sent;
    lastAt = now;
    out.write(`\r\x1b[K${progressLine(p, now - started, rate)}`);
  };
  const timer = setInterval(draw, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      out.write("\r\x1b[K");
    },
  };
}
