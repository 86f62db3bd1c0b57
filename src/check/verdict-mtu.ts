import { UsageError } from "../errors";
import type { MtuRecord, VerdictEvidence, VerdictRecord } from "../records";
import { type Family, familyOf } from "./nodes";
import {
  assemble,
  familiesOf,
  incompleteDetail,
  inFamily,
  list,
  NodeIndex,
  type Outcome,
  rerunFix,
  summariseList,
  type VerdictExpectation,
} from "./verdicts";

// The mtu verdict of `wireprobe check`, from mtu records alone (no I/O): every probed path carries the MTU the
// cluster expects, and no path swallows bigger packets without a word. An overlay on a path whose MTU nobody
// lowered is the case it is for: ping works, TCP handshakes work, big responses hang. The fix names the CNI MTU
// that fits: the smallest path MTU measured, less the overlay's overhead when the user says which overlay.

/**
 * What an overlay adds to each packet, over an IPv4 and an IPv6 underlay (outer headers, bytes).
 *
 * @example
 * ```ts
 * import { OVERLAY_OVERHEAD } from "wireprobe";
 *
 * const podMtu = 1500 - OVERLAY_OVERHEAD.vxlan!.ipv4; // 1450
 * ```
 */
export const OVERLAY_OVERHEAD: Readonly<Record<string, OverlayOverhead>> = {
  // outer IP + UDP 8 + VXLAN 8 + inner Ethernet 14
  vxlan: { ipv4: 50, ipv6: 70 },
  // the same without options (Geneve's own header is 8 bytes)
  geneve: { ipv4: 50, ipv6: 70 },
  // IP in IP (calico IPIP; IPv6 underlay: ip6tnl)
  ipip: { ipv4: 20, ipv6: 40 },
  // outer IP + GRE 4
  gre: { ipv4: 24, ipv6: 44 },
  // outer IP + UDP 8 + WireGuard 32
  wireguard: { ipv4: 60, ipv6: 80 },
};

/**
 * The bytes an overlay adds, by the family of the underlay.
 *
 * @example
 * ```ts
 * import type { OverlayOverhead } from "wireprobe";
 *
 * const geneveWithOptions: OverlayOverhead = { ipv4: 58, ipv6: 78 };
 * ```
 */
export interface OverlayOverhead {
  /** over an IPv4 underlay */
  ipv4: number;
  /** over an IPv6 underlay */
  ipv6: number;
}

/**
 * An overlay by name, or its overhead in bytes (see {@link parseOverlay}).
 *
 * @example
 * ```ts
 * import type { Overlay } from "wireprobe";
 *
 * const ipsec: Overlay = { name: "IPsec ESP", ipv4: 73, ipv6: 93 };
 * ```
 */
export interface Overlay extends OverlayOverhead {
  /** its name, as the fix says it ("vxlan", or "a 58-byte overlay") */
  name: string;
}

/**
 * `--overlay vxlan` (a name of {@link OVERLAY_OVERHEAD}) or `--overlay 58` (bytes, either underlay); anything
 * else is a UsageError.
 *
 * @example
 * ```ts
 * import { parseOverlay } from "wireprobe";
 *
 * console.log(parseOverlay("wireguard").ipv6); // 80
 * console.log(parseOverlay(58).ipv4); // 58
 * ```
 */
export function parseOverlay(value: string | number): Overlay {
  const text = String(value).trim().toLowerCase();
  const known = OVERLAY_OVERHEAD[text];
  if (known) return { name: text, ...known };
  if (/^[0-9]+$/.test(text) && Number(text) >= 0 && Number(text) <= 1000) {
    const n = Number(text);
    return { name: `a ${n}-byte overlay`, ipv4: n, ipv6: n };
  }
  throw new UsageError(
    `unknown overlay "${value}" (${Object.keys(OVERLAY_OVERHEAD).join(", ")}, or its overhead in bytes)`,
  );
}

/**
 * What {@link mtuVerdict} should have seen, and what it judges against.
 *
 * @example
 * ```ts
 * import { type MtuExpectation, parseOverlay } from "wireprobe";
 *
 * const expected: MtuExpectation = {
 *   targets: ["198.51.100.11", "198.51.100.12"],
 *   expectMtu: 1450,
 *   overlay: parseOverlay("vxlan"),
 * };
 * ```
 */
export interface MtuExpectation extends VerdictExpectation {
  /** every address whose path MTU was to be probed; one without an mtu record was not probed */
  targets?: readonly string[];
  /** the path MTU every path must carry (--expect-mtu); without it only black holes and silence fail */
  expectMtu?: number | null;
  /** the overlay the CNI uses: the fix subtracts its overhead from the smallest path MTU */
  overlay?: Overlay | null;
}

function finding(r: MtuRecord): string {
  const iface = r.interface !== null ? ` (${r.interface} ${r.interfaceMtu})` : "";
  const told =
    r.reportedBy !== null
      ? r.reportedMtu !== null
        ? `${r.reportedBy} announces mtu ${r.reportedMtu}`
        : `${r.reportedBy} says too big`
      : null;
  const range = r.pathMtu !== null && r.ceiling !== null ? `${r.pathMtu + 1}-${r.ceiling}` : "";
  switch (r.state) {
    case "ok":
      return `path MTU ${r.pathMtu}${iface}`;
    case "reduced":
      return `path MTU ${r.pathMtu}${iface}: ${told ?? "too big"} (path MTU discovery works)`;
    case "black-hole":
      return `BLACK HOLE: path MTU ${r.pathMtu}${iface}, ${range}-byte packets ${r.boundary === "error" ? `meet ${r.reason}${r.from ? ` from ${r.from}` : ""}` : "vanish"} without a frag-needed${told ? ` (${told})` : ""}`;
    case "below-expected":
      return `path MTU ${r.pathMtu}${iface}, below the expected ${r.expectedMtu}${told ? `: ${told}` : ""}`;
    case "no-reply":
      return "no echo reply, not even to the smallest size: its path MTU cannot be measured";
    case "unreachable":
      return `unreachable (${r.reason}${r.from ? ` from ${r.from}` : ""})`;
    case "incomplete":
      return r.pathMtu !== null ? `interrupted: at least ${r.pathMtu} gets through` : "interrupted";
    case "local":
      return "this host's own address";
  }
}

function mtuOutcome(
  records: readonly MtuRecord[],
  expectedTargets: readonly string[] | undefined,
  expected: MtuExpectation,
  nodes: NodeIndex,
): Outcome {
  const aborted = expected.aborted === true;
  const expect = expected.expectMtu ?? null;
  const seen = new Set(records.map((r) => r.target));
  const notProbed = (expectedTargets ?? []).filter((a) => !seen.has(a));
  const unfinished = records.filter((r) => r.state === "incomplete");
  const complete = !aborted && notProbed.length === 0 && unfinished.length === 0;
  const evidence: VerdictEvidence[] = records.map((r) => nodes.evidence(r.target, r.target, finding(r)));
  const paths = records.filter((r) => r.state !== "local" && r.state !== "incomplete");
  const measured = paths.filter((r) => r.pathMtu !== null);
  const holes = paths.filter((r) => r.blackHole);
  const low = paths.filter((r) => expect !== null && r.pathMtu !== null && r.pathMtu < expect);
  const silent = paths.filter((r) => r.pathMtu === null);
  const label = (r: MtuRecord) => nodes.label(r.target);
  const problems: string[] = [];
  if (holes.length > 0) {
    const worst = [...holes].sort((x, y) => x.pathMtu! - y.pathMtu!);
    const silentOnes = worst.filter((r) => r.boundary !== "error");
    const refused = worst.filter((r) => r.boundary === "error");
    const above = (r: MtuRecord) => `above ${r.pathMtu} bytes to ${label(r)}`;
    if (silentOnes.length > 0)
      problems.push(
        `Black hole${silentOnes.length > 1 ? "s" : ""}: packets ${list(silentOnes.map(above))} vanish without a fragmentation-needed / packet-too-big error.`,
      );
    if (refused.length > 0)
      problems.push(
        `Packets ${list(refused.map((r) => `${above(r)} meet only ${r.reason}${r.from ? ` from ${r.from}` : ""}`))}, never a fragmentation-needed / packet-too-big error.`,
      );
    problems.push(
      "Ping and TCP handshakes work, full-size packets and big responses hang, and path MTU discovery cannot help.",
    );
  }
  const lowOnly = low.filter((r) => !r.blackHole);
  if (lowOnly.length > 0) {
    problems.push(
      `Below the expected ${expect}: ${list(lowOnly.map((r) => `${label(r)} carries ${r.pathMtu}`))}${lowOnly.every((r) => r.reportedBy !== null) ? " (the routers say so: TCP adapts, after a lost packet; tunnels and UDP do not)" : ""}.`,
    );
  } else if (expect !== null && low.length > 0) {
    problems.push(
      `The black-holed path${low.length > 1 ? "s carry" : " carries"} less than the expected ${expect} too.`,
    );
  }
  if (silent.length > 0) {
    problems.push(
      `${list(silent.map((r) => `${label(r)} (${r.state}${r.reason ? `: ${r.reason}` : ""})`))} did not answer ICMP echo, so ${silent.length === 1 ? "its" : "their"} path MTU could not be measured.`,
    );
  }
  const ok = complete && problems.length === 0;
  const smallest = measured.reduce<MtuRecord | null>(
    (m, r) => (m === null || r.pathMtu! < m.pathMtu! ? r : m),
    null,
  );
  const count = nodes.count(paths.map((r) => r.target));
  if (ok) {
    const reduced = paths.filter((r) => r.state === "reduced");
    const least = smallest ? ` (the smallest: ${smallest.pathMtu} to ${label(smallest)})` : "";
    const head =
      expect !== null
        ? `The path MTU to all ${count} probed address(es) is at least the expected ${expect}${least}, with no black hole.`
        : `No black hole on the paths to the ${count} probed address(es)${least}.`;
    const pmtud =
      reduced.length > 0
        ? ` ${summariseList(reduced.map(label))} carr${reduced.length === 1 ? "ies" : "y"} less than ${reduced.length === 1 ? "its" : "their"} interface's MTU, and the routers say so: path MTU discovery works there.`
        : "";
    return { ok, complete, detail: head + pmtud, evidence, fix: null, notProbed };
  }
  return {
    ok,
    complete,
    detail: complete
      ? problems.join(" ")
      : incompleteDetail(
          aborted,
          records.length - unfinished.length,
          expectedTargets?.length ?? records.length,
          "path(s)",
          [...notProbed, ...unfinished.map((r) => r.target)],
          problems,
        ),
    evidence,
    fix:
      problems.length === 0
        ? rerunFix(aborted)
        : mtuFix(holes, low, silent, smallest, expected.overlay ?? null, label),
    notProbed,
  };
}

/** The CNI MTU that fits the smallest path measured (less the overlay's overhead), and what else to do. */
function mtuFix(
  holes: readonly MtuRecord[],
  low: readonly MtuRecord[],
  silent: readonly MtuRecord[],
  smallest: MtuRecord | null,
  overlay: Overlay | null,
  label: (r: MtuRecord) => string,
): string {
  const parts: string[] = [];
  if (smallest !== null && (holes.length > 0 || low.length > 0)) {
    const path = smallest.pathMtu!;
    const family: Family = familyOf(smallest.target);
    if (overlay !== null) {
      const overhead = overlay[family];
      parts.push(
        `Lower the CNI MTU to ${path - overhead}: the smallest path MTU, ${path} to ${label(smallest)}, less ${overhead} bytes of ${overlay.name} over ${family === "ipv4" ? "IPv4" : "IPv6"}.`,
      );
    } else {
      parts.push(
        `Lower the CNI MTU to ${path}, the smallest path MTU (to ${label(smallest)}), less the overlay's overhead if the CNI encapsulates (vxlan ${OVERLAY_OVERHEAD.vxlan!.ipv4}, ipip ${OVERLAY_OVERHEAD.ipip!.ipv4}, wireguard ${OVERLAY_OVERHEAD.wireguard!.ipv4} over IPv4: --overlay says which), or raise the MTU of the links on the way.`,
      );
    }
  }
  if (holes.length > 0) {
    parts.push(
      "Let ICMP fragmentation-needed (type 3 code 4) and ICMPv6 packet-too-big (type 2) through the firewalls between the nodes, and give both ends of every link the same MTU, so that hosts learn a smaller path MTU instead of losing the packets.",
    );
  }
  if (silent.length > 0) parts.push("Allow ICMP echo to the nodes, or their path MTU cannot be checked.");
  return parts.join(" ");
}

/**
 * mtu: every probed path (node addresses, other targets) carries at least `expected.expectMtu` (when given),
 * without a black hole, and answers echo. Per family: the paths to addresses of that family. An address of
 * `expected.targets` without an mtu record, an `incomplete` record or `expected.aborted` makes the verdict
 * incomplete (not ok, named in `notProbed`).
 *
 * @example
 * ```ts
 * import { type MtuRecord, mtuVerdict, parseOverlay } from "wireprobe";
 *
 * declare const records: MtuRecord[]; // e.g. read back from a saved NDJSON run
 * const verdict = mtuVerdict(records, { expectMtu: 1450, overlay: parseOverlay("vxlan") });
 * if (!verdict.ok) console.log(verdict.detail, verdict.fix);
 * ```
 */
export function mtuVerdict(records: readonly MtuRecord[], expected: MtuExpectation = {}): VerdictRecord {
  const nodes = new NodeIndex(expected.cluster);
  const whole = mtuOutcome(records, expected.targets, expected, nodes);
  const families = familiesOf([...records.map((r) => r.target), ...(expected.targets ?? [])]);
  const per = families.map((f): [Family, Outcome] => {
    if (families.length === 1) return [f, whole];
    const mine = inFamily(f);
    return [
      f,
      mtuOutcome(
        records.filter((r) => mine(r.target)),
        expected.targets?.filter(mine),
        expected,
        nodes,
      ),
    ];
  });
  return assemble("mtu", whole, per);
}
