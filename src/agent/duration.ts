import { UsageError } from "../errors";

// Durations as the agent's options take them: a whole number and a unit (`500ms`, `30s`, `2m`, `1h`), so a
// DaemonSet's arguments read as they mean. A bare number is refused: "30" could be seconds or milliseconds.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds of a duration written `NUMBER UNIT` with unit ms, s, m or h (`500ms`, `30s`, `1.5m`, `2m`).
 * UsageError (naming `option`) for anything else, and for a duration outside [minMs, maxMs].
 *
 * @example
 * ```ts
 * import { parseDuration } from "wireprobe";
 *
 * parseDuration("30s"); // 30000
 * parseDuration("500ms"); // 500
 * ```
 */
export function parseDuration(
  text: string,
  option = "duration",
  { minMs = 1, maxMs = 24 * 3_600_000 }: { minMs?: number; maxMs?: number } = {},
): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new UsageError(`${option} needs a duration such as 500ms, 30s or 2m, got "${text}"`);
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  if (ms < minMs) throw new UsageError(`${option} must be at least ${formatDuration(minMs)}`);
  if (ms > maxMs) throw new UsageError(`${option} must be at most ${formatDuration(maxMs)}`);
  return ms;
}

/** A duration in the unit that writes it shortest without a fraction: 1500 → "1500ms", 30000 → "30s". */
export function formatDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
