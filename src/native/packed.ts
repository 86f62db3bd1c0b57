import { setImmediate as nextTurn } from "node:timers/promises";
import { ipv6, parseIp } from "../addr/ip";
import type { PackedRoutes, RouteEntry, RouteNextHop } from "./types";

// A route dump comes from the addon packed (PackedRoutes) and its objects are made here: made through N-API they
// cost the event loop several times as much. The asynchronous dump makes them a slice at a time, between turns of
// the event loop, so that a table of tens of thousands of routes holds up no timer or socket for long.

/** Numbers per route in PackedRoutes.numbers. */
const ROUTE_NUMBERS = 10;
/** The next hops of every route that is not multipath: one shared empty list, no allocation per route. */
const NO_NEXTHOPS: readonly RouteNextHop[] = Object.freeze([]);

/** The next hops of a multipath route from their packed text ("GATEWAY,IFINDEX,FLAGS,WEIGHT ..."). */
function nextHops(text: string): readonly RouteNextHop[] {
  if (text === "") return NO_NEXTHOPS;
  return text.split(" ").map((hop) => {
    const [gateway = "", ifindex, flags, weight] = hop.split(",");
    return {
      gateway: gateway || null,
      ifindex: Number(ifindex),
      flags: Number(flags),
      weight: Number(weight),
    };
  });
}
/** Routes made per turn of the event loop by unpackRoutesAsync. */
const SLICE = 1024;

class RouteUnpacker {
  readonly out: RouteEntry[];
  private next = 0;
  private pos = 0;
  // The previous route's strings: most routes share their type, gateway and source, and a shared string costs
  // no allocation.
  private type = "";
  private gateway = "";
  private prefsrc = "";

  constructor(private readonly packed: PackedRoutes) {
    this.out = new Array(packed.count);
  }

  /** Makes up to `n` more routes; true once all are made. */
  step(n: number): boolean {
    const { count, numbers } = this.packed;
    const end = Math.min(count, this.next + n);
    for (let i = this.next; i < end; i++) {
      this.type = this.field(this.type);
      const dst = this.field("");
      this.gateway = this.field(this.gateway);
      this.prefsrc = this.field(this.prefsrc);
      const hops = this.field("");
      const k = i * ROUTE_NUMBERS;
      this.out[i] = {
        type: this.type,
        table: numbers[k]!,
        protocol: numbers[k + 1]!,
        scope: numbers[k + 2]!,
        dst,
        dstLength: numbers[k + 3]!,
        gateway: this.gateway || null,
        prefsrc: this.prefsrc || null,
        ifindex: numbers[k + 4]!,
        priority: numbers[k + 5]!,
        multipath: numbers[k + 6] === 1,
        dstIp:
          this.packed.family === 6
            ? (parseIp(dst) ?? ipv6(new Uint8Array(16)))
            : { family: 4, v4: numbers[k + 7]! },
        flags: numbers[k + 8]!,
        nhid: numbers[k + 9]!,
        nexthops: nextHops(hops),
      };
    }
    this.next = end;
    return end === count;
  }

  /** The next string of the packed text: `previous` again when it is the same. */
  private field(previous: string): string {
    const { strings } = this.packed;
    const end = strings.indexOf("\n", this.pos);
    const start = this.pos;
    this.pos = end + 1;
    if (end - start === previous.length && strings.startsWith(previous, start)) return previous;
    return strings.slice(start, end);
  }
}

/** The RouteEntry objects of a packed dump. */
export function unpackRoutes(packed: PackedRoutes): RouteEntry[] {
  const u = new RouteUnpacker(packed);
  u.step(packed.count);
  return u.out;
}

/** As unpackRoutes, a slice of routes per turn of the event loop. */
export async function unpackRoutesAsync(packed: PackedRoutes): Promise<RouteEntry[]> {
  const u = new RouteUnpacker(packed);
  while (!u.step(SLICE)) await nextTurn();
  return u.out;
}
